# -*- test-case-name: tests.test_web_cluster -*-
"""The built-in cluster: L{ICluster} on top of the engine's parts.

This is the one object the web layer talks to.  It reads through the query
layer, builds opcodes (validated before anything is queued) and hands them
to the job processor, and turns engine failures into the few exceptions of
L{ganeti_rapi.interfaces}.
"""

import platform

from twisted.internet import defer
from zope.interface import implementer

from ganeti_rapi.engine import filters, opcodes, units
from ganeti_rapi.engine.errors import JobQueueError, OpcodeValidationError, OpPrereqError
from ganeti_rapi.engine.exports import gather_exports
from ganeti_rapi.engine.hostnames import NameChecks
from ganeti_rapi.engine.instancefields import LIVE_INSTANCE_FIELDS
from ganeti_rapi import jsonutil
from ganeti_rapi.engine.noderpc import LIVE_DATA_TIMEOUT, NodeOffline, SharedFanOut
from ganeti_rapi.engine.queryfields import JOB_FIELDS, RESOURCES, QueryContext
from ganeti_rapi.engine.units.instances import instance_wire
from ganeti_rapi.engine.units.tags import find_taggable
from ganeti_rapi.interfaces import (
    ClusterUnavailable,
    EntityNotFound,
    ICluster,
    InvalidRequest,
)
from ganeti_rapi.rpc.errors import NodeRpcError

#: The Ganeti release whose RAPI this server implements.  Clients compare
#: C{software_version} with Ganeti releases to decide what to send.
GANETI_API_VERSION = "3.1.0"
CONFIG_VERSION = 3010000
OS_API_VERSION = 20
EXPORT_VERSION = 0

#: Optional RAPI features, and the opcode whose unit makes each real.
FEATURE_OPCODES = {
    "instance-create-reqv1": "OP_INSTANCE_CREATE",
    "instance-reinstall-reqv1": "OP_INSTANCE_REINSTALL",
    "node-migrate-reqv1": "OP_NODE_MIGRATE",
    "node-evac-res1": "OP_NODE_EVACUATE",
}

_JOB_FIELD_NAMES = frozenset(f.name for f in JOB_FIELDS)

#: C{/2/info}'s architecture pair, computed once: C{platform.architecture()}
#: runs the C{file} program, far too slow (and blocking) for every request.
ARCHITECTURE = (platform.architecture()[0], platform.machine())


#: Node fields that come from the node daemons, not the configuration.
LIVE_NODE_FIELDS = frozenset(
    ["mtotal", "mnode", "mfree", "dtotal", "dfree", "sptotal", "spfree", "ctotal",
     "cnos", "cnodes", "csockets", "bootid"]
)


#: Per resource, the fields that make a query ask the nodes.
LIVE_FIELDS = {"node": LIVE_NODE_FIELDS, "instance": LIVE_INSTANCE_FIELDS}


class EngineEnvironment:
    """What logical units reach: configuration, clock, and the nodes.

    @ivar nodes: a L{NodeRunner}, or L{None} where no node can be reached.
    @ivar hostnames: the L{NameChecks} of new instance names (C{name_check},
        C{ip_check}): the system resolver and port 1811 unless given.
    """

    def __init__(self, config, clock, nodes=None, hostnames=None):
        self.config = config
        self.clock = clock
        self.nodes = nodes
        self.hostnames = hostnames if hostnames is not None else NameChecks()


@implementer(ICluster)
class EngineCluster:
    """The cluster as the built-in engine runs it.

    @ivar config: the L{ConfigStore}.
    @ivar queue: the L{JobQueue}.
    @ivar processor: the L{JobProcessor}.
    """

    def __init__(self, config, queue, processor, clock, nodes=None):
        self.config = config
        self.queue = queue
        self.processor = processor
        self.clock = clock
        self.nodes = nodes
        #: Live-data fan-outs, shared by the listings that wait together.
        self.fanout = SharedFanOut(nodes) if nodes is not None else None

    # -- reading

    def features(self):
        return {
            feature for feature, op_id in FEATURE_OPCODES.items() if units.supported(op_id)
        }

    def info(self):
        cluster = self.config.cluster
        master = self.config.node(cluster.master_node)
        info = {
            "software_version": GANETI_API_VERSION,
            "protocol_version": CONFIG_VERSION,
            "config_version": CONFIG_VERSION,
            "os_api_version": OS_API_VERSION,
            "export_version": EXPORT_VERSION,
            "vcs_version": "ganeti-rapi %s" % _version(),
            "architecture": list(ARCHITECTURE),
            "name": cluster.cluster_name,
            "master": master.name if master is not None else None,
            "default_hypervisor": cluster.default_hypervisor,
            "enabled_hypervisors": list(cluster.enabled_hypervisors),
            "hvparams": {
                hv: dict(cluster.hvparams.get(hv, {})) for hv in cluster.enabled_hypervisors
            },
            "os_hvp": cluster.os_hvp,
            "beparams": cluster.beparams,
            "osparams": cluster.osparams,
            "ipolicy": cluster.ipolicy,
            "nicparams": cluster.nicparams,
            "ndparams": cluster.ndparams,
            "diskparams": cluster.diskparams,
            "primary_ip_version": 6 if cluster.primary_ip_family == 10 else 4,
            "tags": sorted(cluster.tags),
        }
        for key in (
            "candidate_pool_size", "max_running_jobs", "max_tracked_jobs", "mac_prefix",
            "master_netdev", "master_netmask", "use_external_mip_script",
            "volume_group_name", "drbd_usermode_helper", "file_storage_dir",
            "shared_file_storage_dir", "gluster_storage_dir", "maintain_node_health",
            "ctime", "mtime", "uuid", "uid_pool", "default_iallocator",
            "default_iallocator_params", "reserved_lvs", "prealloc_wipe_disks",
            "hidden_os", "blacklisted_os", "enabled_disk_templates", "install_image",
            "instance_communication_network", "zeroing_image", "compression_tools",
            "enabled_user_shutdown", "enabled_data_collectors",
            "data_collector_interval", "modify_ssh_setup", "ssh_key_type",
            "ssh_key_bits",
        ):
            info[key] = getattr(cluster, key)
        info["vg_name"] = info["volume_group_name"]
        info["drbd_helper"] = info["drbd_usermode_helper"]
        return info

    def _resource(self, name):
        resource = RESOURCES.get(name)
        if resource is None:
            raise EntityNotFound("Resource '%s' cannot be queried" % (name,))
        return resource

    def _context(self, live_nodes=None):
        return QueryContext(self.config, self.queue, live_nodes)

    def _with_live_data(self, resource, fields, qfilter, names, answer, key=None):
        """Call C{answer(context)}, first asking the nodes for live data
        when the query needs it (a Deferred then).

        Queries waiting for the same live data share one fan-out (see
        L{SharedFanOut}); those of them with the same C{key} (not L{None})
        share the answer too, computed once from that data.
        """
        if resource == "export":
            return self._with_export_data(answer)
        live = LIVE_FIELDS.get(resource)
        if live is None or self.nodes is None:
            return answer(self._context())
        if not (live.intersection(fields) or qfilter is not None):
            return answer(self._context())
        if resource == "node":
            return self._with_node_data(names, answer, key)
        return self._with_instance_data(answer, key)

    def _with_export_data(self, answer):
        """Exports exist only on the nodes: ask every node for its list."""
        context = self._context()
        if self.nodes is None:
            context.live_exports = {}
            return answer(context)
        d = gather_exports(self.config, self.nodes, LIVE_DATA_TIMEOUT)

        def gathered(live):
            context.live_exports = live
            return answer(context)

        d.addCallback(gathered)
        return d

    def _with_node_data(self, names, answer, key=None):
        if names is not None:
            nodes = [self.config.node_by_name(n) for n in names]
            if None in nodes:
                return answer(self._context())  # raises the right 404
        else:
            nodes = self.config.nodes()
        d = self.fanout.gather(nodes, "node_info", LIVE_DATA_TIMEOUT)

        def gathered(gathering):
            live = _shared(gathering, "live node fields",
                           lambda: _live_fields(gathering.outcomes))
            return _shared(gathering, key, lambda: answer(self._context(live)))

        d.addCallback(gathered)
        return d

    def _with_instance_data(self, answer, key=None):
        nodes = [n for n in self.config.nodes() if n.vm_capable and not n.offline]
        hypervisors = list(self.config.cluster.enabled_hypervisors)
        d = self.fanout.gather(
            nodes, "all_instances_info", LIVE_DATA_TIMEOUT, hypervisors=hypervisors
        )

        def instances(outcomes):
            return {
                uuid: result for uuid, (ok, result) in outcomes.items()
                if ok and isinstance(result, dict)
            }

        def gathered(gathering):
            live = _shared(gathering, "live instances",
                           lambda: instances(gathering.outcomes))
            return _shared(gathering, key, lambda: answer(
                QueryContext(self.config, self.queue, live_instances=live)))

        d.addCallback(gathered)
        return d

    def query(self, resource, fields, names=None, qfilter=None):
        res = self._resource(resource)
        return self._with_live_data(
            resource, fields, qfilter, names,
            lambda ctx: res.rows(ctx, fields, names, qfilter),
            _answer_key("rows", resource, fields, names, qfilter),
        )

    def query_cells(self, resource, fields, qfilter=None):
        res = self._resource(resource)
        return self._with_live_data(
            resource, fields, qfilter, None, lambda ctx: res.cells(ctx, fields, qfilter),
            _answer_key("cells", resource, fields, None, qfilter),
        )

    def query_fields(self, resource, fields=None):
        return self._resource(resource).field_descriptions(fields)

    def list_names(self, resource):
        res = self._resource(resource)
        return [name for name, _ in res.items(self._context())]

    def get_tags(self, kind, name=None):
        try:
            obj = find_taggable(self.config, kind, name)
        except OpPrereqError as e:
            raise EntityNotFound(e.args[0])
        return sorted(obj.tags)

    def instance_console(self, name):
        """The console of a running instance, as its primary node describes it.

        @raise EntityNotFound: no such instance.
        @raise ClusterUnavailable: it does not run, or its node cannot be asked.
        """
        try:
            instance = self.config.find_instance(name)
        except OpPrereqError as e:
            raise EntityNotFound(e.args[0])
        if self.nodes is None:
            raise ClusterUnavailable("This master cannot reach node daemons")
        node = self.config.node(instance.primary_node)
        wire = instance_wire(self.config, instance)

        def running(info):
            if info is None:
                raise ClusterUnavailable("Instance %s is not running" % instance.name)
            return self.nodes.call(node, "instance_console_info", LIVE_DATA_TIMEOUT,
                                   instance=wire)

        def unreachable(failure):
            failure.trap(NodeRpcError, NodeOffline)
            raise ClusterUnavailable(
                "Instance %s is not reachable: %s" % (instance.name, failure.value)
            )

        d = self.nodes.call(node, "instance_info", LIVE_DATA_TIMEOUT,
                            name=instance.name, hypervisor=instance.hypervisor)
        d.addCallback(running)
        d.addErrback(unreachable)
        d.addCallback(lambda console: {k: v for k, v in console.items() if v is not None})
        return d

    # -- jobs

    def submit(self, specs):
        ops = [opcodes.make_opcode(op_id, params, static) for op_id, params, static in specs]
        for op in ops:
            if op["OP_ID"] == "OP_INSTANCE_MULTI_ALLOC":
                # Each instance is a creation request of its own; a bad one is
                # a 400 now, as in Ganeti, not a failed job later.
                op["instances"] = [
                    _create_request(i, index) for index, i in enumerate(op["instances"])
                ]
        d = self.processor.submit(ops)
        d.addErrback(self._queue_refused)
        return d

    @staticmethod
    def _queue_refused(failure):
        failure.trap(JobQueueError)
        raise ClusterUnavailable(str(failure.value.args[0]) if failure.value.args else "")

    def job(self, job_id, fields):
        self._check_job_fields(fields)
        d = self.queue.get(job_id)
        d.addCallback(
            lambda job: None if job is None else {f: job.field(f) for f in fields}
        )
        return d

    def wait_for_job_change(self, job_id, fields, previous_job_info, previous_log_serial):
        self._check_job_fields(fields)
        return self.queue.wait_for_change(
            job_id, fields, previous_job_info, previous_log_serial
        )

    def cancel_job(self, job_id):
        return defer.maybeDeferred(self.processor.cancel, job_id)

    # -- job filter rules

    def replace_filter(self, uuid, priority, predicates, action, reason):
        rule = filters.make_rule(
            uuid, self.queue.last_job_id, priority, predicates, action, reason
        )
        self.config.set_filter(rule)
        return self._filters_saved(rule.uuid)

    def delete_filter(self, uuid):
        if self.config.filter_rule(uuid) is None:
            raise EntityNotFound("Filter rule '%s' not known" % (uuid,))
        self.config.remove_filter(uuid)
        return self._filters_saved(None)

    def _filters_saved(self, answer):
        """Save the configuration, then let the processor apply the rules."""
        d = self.config.save()

        def saved(_):
            self.processor.reschedule()
            return answer

        d.addCallback(saved)
        return d

    @staticmethod
    def _check_job_fields(fields):
        unknown = [f for f in fields if f not in _JOB_FIELD_NAMES]
        if unknown:
            raise InvalidRequest("Unknown job fields: %s" % ", ".join(unknown))


def _create_request(instance, index):
    if not isinstance(instance, dict):
        raise OpcodeValidationError("instances[%d] is not an object" % index)
    params = {k: v for k, v in instance.items() if k != "OP_ID"}
    try:
        return opcodes.make_opcode("OP_INSTANCE_CREATE", params)
    except OpcodeValidationError as e:
        raise OpcodeValidationError("instances[%d]: %s" % (index, e))


def _answer_key(kind, resource, fields, names, qfilter):
    """What makes two queries the same answer, or L{None} (not shared).

    Only whole listings are shared: their rows are handed out as they are
    (nobody changes them after the query), while the answer for named
    objects may be edited by its caller.
    """
    if names is not None:
        return None
    try:
        return (kind, resource, tuple(fields), jsonutil.dumps(qfilter))
    except (TypeError, ValueError):
        return None


def _shared(gathering, key, compute):
    """C{compute()}, or what it gave for C{key} earlier in this gathering."""
    if key is None:
        return compute()
    try:
        return gathering.memo[key]
    except KeyError:
        value = gathering.memo[key] = compute()
        return value


def _live_fields(outcomes):
    """C{{node uuid: live fields}} from C{node_info} answers; failures omitted."""
    live = {}
    for uuid, (ok, result) in outcomes.items():
        if ok and isinstance(result, dict):
            live[uuid] = {k: result.get(k) for k in LIVE_NODE_FIELDS}
    return live


def _version():
    import ganeti_rapi

    return ganeti_rapi.__version__
