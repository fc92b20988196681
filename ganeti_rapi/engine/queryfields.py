# -*- test-case-name: tests.test_query -*-
"""The fields of each queryable resource, named as Ganeti names them.

Parameters shown "filled" (C{ndparams}, C{ipolicy}, C{diskparams},
C{beparams}, C{hvparams}) are the cluster's defaults overlaid with the
group's and the object's own; the C{custom_*} fields show only the object's
own values.
"""

from ganeti_rapi.engine.params import fill_dict, fill_nested
from ganeti_rapi.engine.query import (
    QFT_BOOL,
    QFT_NUMBER,
    QFT_OTHER,
    QFT_TEXT,
    QFT_TIMESTAMP,
    QFT_UNIT,
    RS_OFFLINE,
    RS_UNAVAIL,
    Field,
    Resource,
    Unavailable,
    attribute,
    common_fields,
)


class QueryContext:
    """What field getters read: the configuration, the jobs, live node data.

    @ivar live_nodes: C{{node uuid: {live field: value}}} gathered from the
        node daemons for this query, or L{None} when none was asked for.
    @ivar live_instances: C{{node uuid: {instance name: info}}} of the
        nodes that answered, or L{None} when none was asked for.
    """

    def __init__(self, config, queue=None, live_nodes=None, live_instances=None):
        self.config = config
        self.queue = queue
        self.live_nodes = live_nodes
        self.live_instances = live_instances
        self._by_node = None

    def _node_index(self):
        """C{({node: primary instances}, {node: secondary instances})}, made
        once per query: a listing of every node then reads each node's
        instances instead of scanning all instances for each node."""
        if self._by_node is None:
            primary, secondary = {}, {}
            for instance in self.config.instances():
                pnode = instance.primary_node
                primary.setdefault(pnode, []).append(instance)
                for snode in set(instance.secondary_nodes):
                    if snode != pnode:
                        secondary.setdefault(snode, []).append(instance)
            self._by_node = (primary, secondary)
        return self._by_node

    def primary_instances(self, node_uuid):
        """The instances whose primary node is C{node_uuid}."""
        return self._node_index()[0].get(node_uuid, [])

    def secondary_instances(self, node_uuid):
        """The instances with C{node_uuid} as a secondary (and not primary) node."""
        return self._node_index()[1].get(node_uuid, [])


# -- groups -----------------------------------------------------------------


def _group_nodes(ctx, group):
    return sorted(n.name for n in ctx.config.nodes_in_group(group.uuid))


def _group_instances(ctx, group):
    names = set()
    for node in ctx.config.nodes_in_group(group.uuid):
        names.update(i.name for i in ctx.primary_instances(node.uuid))
    return sorted(names)


GROUP_FIELDS = common_fields("Group") + [
    Field("name", "Group", QFT_TEXT, "Group name", attribute("name")),
    Field("alloc_policy", "AllocPolicy", QFT_TEXT, "Allocation policy for group",
          attribute("alloc_policy")),
    Field("node_cnt", "Nodes", QFT_NUMBER, "Number of nodes",
          lambda ctx, g: len(ctx.config.nodes_in_group(g.uuid))),
    Field("node_list", "NodeList", QFT_OTHER, "List of nodes", _group_nodes),
    Field("pinst_cnt", "Instances", QFT_NUMBER, "Number of primary instances",
          lambda ctx, g: len(_group_instances(ctx, g))),
    Field("pinst_list", "InstanceList", QFT_OTHER, "List of primary instances",
          _group_instances),
    Field("ipolicy", "InstancePolicy", QFT_OTHER, "Instance policy limitations (merged)",
          lambda ctx, g: fill_dict(ctx.config.cluster.ipolicy, g.ipolicy)),
    Field("custom_ipolicy", "CustomInstancePolicy", QFT_OTHER,
          "Custom instance policy limitations", attribute("ipolicy")),
    Field("ndparams", "NDParams", QFT_OTHER, "Node parameters",
          lambda ctx, g: fill_dict(ctx.config.cluster.ndparams, g.ndparams)),
    Field("custom_ndparams", "CustomNDParams", QFT_OTHER, "Custom node parameters",
          attribute("ndparams")),
    Field("diskparams", "DiskParameters", QFT_OTHER, "Disk parameters (merged)",
          lambda ctx, g: fill_nested(ctx.config.cluster.diskparams, g.diskparams)),
    Field("custom_diskparams", "CustomDiskParameters", QFT_OTHER,
          "Custom disk parameters", attribute("diskparams")),
    Field("networks", "Networks", QFT_OTHER, "Node group networks",
          lambda ctx, g: sorted(
              ctx.config.network(uuid).name for uuid in g.networks
              if ctx.config.network(uuid) is not None)),
]

GROUPS = Resource(
    "group",
    GROUP_FIELDS,
    lambda ctx: sorted(((g.name, g) for g in ctx.config.groups()), key=lambda p: p[0]),
    lambda ctx, name: ctx.config.group_by_name(name),
)


# -- nodes ------------------------------------------------------------------


def role_of(node):
    """A node's role letter from its flags (the master counts as C{C})."""
    if node.master_candidate:
        return "C"
    if node.drained:
        return "D"
    if node.offline:
        return "O"
    return "R"


def node_role(config, node):
    """Ganeti's one-letter node role: M, C, D, O or R."""
    if config.cluster.master_node == node.uuid:
        return "M"
    return role_of(node)


def _live(name):
    """A getter for a live field the node daemon reports."""

    def getter(ctx, node):
        if node.offline:
            raise Unavailable(RS_OFFLINE)
        data = (ctx.live_nodes or {}).get(node.uuid)
        if data is None or data.get(name) is None:
            raise Unavailable(RS_UNAVAIL)
        return data[name]

    return getter


def _node_instances(primary):
    def getter(ctx, node):
        if primary:
            instances = ctx.primary_instances(node.uuid)
        else:
            instances = ctx.secondary_instances(node.uuid)
        return sorted(i.name for i in instances)

    return getter


def _node_instance_count(primary):
    def getter(ctx, node):
        if primary:
            return len(ctx.primary_instances(node.uuid))
        return len(ctx.secondary_instances(node.uuid))

    return getter


def _node_group(ctx, node):
    group = ctx.config.group(node.group)
    return group.name if group is not None else None


def _node_ndparams(ctx, node):
    group = ctx.config.group(node.group)
    filled = fill_dict(ctx.config.cluster.ndparams, group.ndparams if group else None)
    return fill_dict(filled, node.ndparams)


NODE_FIELDS = common_fields("Node") + [
    Field("name", "Node", QFT_TEXT, "Node name", attribute("name")),
    Field("pip", "PrimaryIP", QFT_TEXT, "Primary IP address", attribute("primary_ip")),
    Field("sip", "SecondaryIP", QFT_TEXT, "Secondary IP address", attribute("secondary_ip")),
    Field("offline", "Offline", QFT_BOOL, "Whether node is marked offline", attribute("offline")),
    Field("drained", "Drained", QFT_BOOL, "Whether node is drained", attribute("drained")),
    Field("master_candidate", "MasterC", QFT_BOOL,
          "Whether node is a master candidate", attribute("master_candidate")),
    Field("master_capable", "MasterCapable", QFT_BOOL,
          "Whether node can become a master candidate", attribute("master_capable")),
    Field("vm_capable", "VMCapable", QFT_BOOL,
          "Whether node can host instances", attribute("vm_capable")),
    Field("powered", "Powered", QFT_BOOL, "Whether node is thought to be powered on",
          attribute("powered")),
    Field("master", "IsMaster", QFT_BOOL, "Whether node is master",
          lambda ctx, n: ctx.config.cluster.master_node == n.uuid),
    Field("role", "Role", QFT_TEXT, "Node role (M, C, D, O or R)",
          lambda ctx, n: node_role(ctx.config, n)),
    Field("group", "Group", QFT_TEXT, "Node group", _node_group),
    Field("group.uuid", "GroupUUID", QFT_TEXT, "UUID of node group", attribute("group")),
    Field("ndparams", "NodeParameters", QFT_OTHER, "Merged node parameters",
          _node_ndparams),
    Field("custom_ndparams", "CustomNodeParameters", QFT_OTHER, "Custom node parameters",
          attribute("ndparams")),
    Field("pinst_list", "PriInstances", QFT_OTHER,
          "List of instances with this node as primary", _node_instances(True)),
    Field("sinst_list", "SecInstances", QFT_OTHER,
          "List of instances with this node as secondary", _node_instances(False)),
    Field("pinst_cnt", "NPrimaries", QFT_NUMBER,
          "Number of instances with this node as primary", _node_instance_count(True)),
    Field("sinst_cnt", "NSecondaries", QFT_NUMBER,
          "Number of instances with this node as secondary", _node_instance_count(False)),
    Field("mtotal", "MTotal", QFT_UNIT, "Total amount of memory of physical machine",
          _live("mtotal")),
    Field("mnode", "MNode", QFT_UNIT, "Amount of memory used by node", _live("mnode")),
    Field("mfree", "MFree", QFT_UNIT, "Memory available for instance allocations",
          _live("mfree")),
    Field("dtotal", "DTotal", QFT_UNIT, "Total disk space in storage", _live("dtotal")),
    Field("dfree", "DFree", QFT_UNIT, "Available disk space in storage", _live("dfree")),
    Field("sptotal", "SpindleTotal", QFT_NUMBER, "Total spindles", _live("sptotal")),
    Field("spfree", "SpindleFree", QFT_NUMBER, "Available spindles", _live("spfree")),
    Field("ctotal", "CTotal", QFT_NUMBER, "Number of logical processors",
          _live("ctotal")),
    Field("cnos", "CNOs", QFT_NUMBER, "Number of logical processors used by the node OS",
          _live("cnos")),
    Field("cnodes", "CNodes", QFT_NUMBER, "Number of NUMA domains", _live("cnodes")),
    Field("csockets", "CSockets", QFT_NUMBER, "Number of physical CPU sockets",
          _live("csockets")),
    Field("bootid", "BootID", QFT_TEXT, "Random UUID renewed for each system reboot",
          _live("bootid")),
]

NODES = Resource(
    "node",
    NODE_FIELDS,
    lambda ctx: sorted(((n.name, n) for n in ctx.config.nodes()), key=lambda p: p[0]),
    lambda ctx, name: ctx.config.node_by_name(name),
)


# -- jobs -------------------------------------------------------------------

JOB_FIELD_DOCS = [
    ("id", "ID", QFT_NUMBER, "Job ID"),
    ("status", "Status", QFT_TEXT, "Job status"),
    ("priority", "Priority", QFT_NUMBER, "Current job priority"),
    ("archived", "Archived", QFT_BOOL, "Whether job is archived"),
    ("ops", "OpCodes", QFT_OTHER, "List of all opcodes"),
    ("opresult", "OpCode_result", QFT_OTHER, "List of opcodes results"),
    ("opstatus", "OpCode_status", QFT_OTHER, "List of opcodes status"),
    ("oplog", "OpCode_log", QFT_OTHER, "List of opcode output logs"),
    ("opstart", "OpCode_start", QFT_OTHER, "List of opcode start timestamps"),
    ("opexec", "OpCode_exec", QFT_OTHER, "List of opcode execution start timestamps"),
    ("opend", "OpCode_end", QFT_OTHER, "List of opcode end timestamps"),
    ("oppriority", "OpCode_prio", QFT_OTHER, "List of opcode priorities"),
    ("summary", "Summary", QFT_OTHER, "List of per-opcode summaries"),
    ("received_ts", "Received", QFT_OTHER, "Timestamp of when job was received"),
    ("start_ts", "Start", QFT_OTHER, "Timestamp of job start"),
    ("end_ts", "End", QFT_OTHER, "Timestamp of job end"),
]


def _job_field(name):
    return lambda ctx, job: job.field(name)


JOB_FIELDS = [
    Field(name, title, kind, doc, _job_field(name))
    for name, title, kind, doc in JOB_FIELD_DOCS
]

JOBS = Resource(
    "job",
    JOB_FIELDS,
    lambda ctx: [(job.id, job) for job in ctx.queue.live_jobs()],
    lambda ctx, job_id: ctx.queue.get_live(job_id),
)


from ganeti_rapi.engine.instancefields import INSTANCES  # noqa: E402
from ganeti_rapi.engine.exports import EXPORTS  # noqa: E402
from ganeti_rapi.engine.filters import FILTERS  # noqa: E402
from ganeti_rapi.engine.networkfields import NETWORKS  # noqa: E402

RESOURCES = {
    r.name: r for r in (GROUPS, NODES, JOBS, INSTANCES, EXPORTS, NETWORKS, FILTERS)
}
