# -*- test-case-name: tests.test_web_instances -*-
"""The fields of instances, named as Ganeti names them (its C{I_FIELDS} and more).

Live fields (C{oper_state}, C{oper_ram}, C{oper_vcpus}, C{status}) come
from the hypervisors of the nodes, gathered once per query into
C{context.live_instances}; an instance whose primary node did not answer
shows them as unavailable (C{null} in listings), and its C{status} says why
(C{ERROR_nodedown}, C{ERROR_nodeoffline}), as Ganeti's does.
"""

from ganeti_rapi.engine.params import (
    instance_beparams,
    instance_hvparams,
    instance_osparams,
    nic_param,
)
from ganeti_rapi.engine.query import (
    QFT_BOOL,
    QFT_NUMBER,
    QFT_OTHER,
    QFT_TEXT,
    QFT_UNIT,
    RS_NODATA,
    RS_OFFLINE,
    RS_UNAVAIL,
    Field,
    Resource,
    Unavailable,
    attribute,
    common_fields,
)

#: The instance fields that need the nodes.
LIVE_INSTANCE_FIELDS = frozenset(["oper_state", "oper_ram", "oper_vcpus", "status"])


def _node_name(ctx, uuid):
    node = ctx.config.node(uuid)
    return node.name if node is not None else None


def _live_info(ctx, instance):
    """The primary node's info for C{instance} (None if not running there).

    @raise Unavailable: the primary node is offline or did not answer.
    """
    node = ctx.config.node(instance.primary_node)
    if node is None or node.offline:
        raise Unavailable(RS_OFFLINE)
    if ctx.live_instances is None or node.uuid not in ctx.live_instances:
        raise Unavailable(RS_UNAVAIL)
    return ctx.live_instances[node.uuid].get(instance.name)


def _running_elsewhere(ctx, instance):
    for uuid, infos in (ctx.live_instances or {}).items():
        if uuid != instance.primary_node and instance.name in infos:
            return True
    return False


def instance_status(ctx, instance):
    """Ganeti's instance status string."""
    node = ctx.config.node(instance.primary_node)
    if node is not None and node.offline:
        return "ERROR_nodeoffline"
    try:
        info = _live_info(ctx, instance)
    except Unavailable:
        return "ERROR_nodedown"
    if info is not None:
        return "running" if instance.admin_state == "up" else "ERROR_up"
    if _running_elsewhere(ctx, instance):
        return "ERROR_wrongnode"
    if instance.admin_state == "up":
        return "ERROR_down"
    if instance.admin_state == "offline":
        return "ADMIN_offline"
    if instance.admin_state_source == "user":
        return "USER_down"
    return "ADMIN_down"


def _oper(key):
    """A getter for a value the hypervisor reports of a running instance."""

    def getter(ctx, instance):
        info = _live_info(ctx, instance)
        if info is None:
            raise Unavailable(RS_NODATA)
        return info.get(key)

    return getter


def _oper_state(ctx, instance):
    return _live_info(ctx, instance) is not None


def _beparams_with_memory(ctx, instance):
    """Filled backend parameters plus C{memory} (= C{maxmem}), which
    htools and web managers read first."""
    filled = instance_beparams(ctx.config.cluster, instance)
    if "maxmem" in filled:
        filled["memory"] = filled["maxmem"]
    return filled


def _nic_list(getter):
    return lambda ctx, instance: [getter(ctx, nic) for nic in instance.nics]


def _nic_mode(ctx, nic):
    return nic_param(ctx.config.cluster, nic, "mode")


def _nic_link(ctx, nic):
    return nic_param(ctx.config.cluster, nic, "link")


def _nic_bridge(ctx, nic):
    cluster = ctx.config.cluster
    if nic_param(cluster, nic, "mode") != "bridged":
        return None
    return nic_param(cluster, nic, "link")


def _nic_network_name(ctx, nic):
    if not nic.network:
        return None
    network = ctx.config.network(nic.network)
    return network.name if network is not None else None


def _disk_list(key):
    return lambda ctx, instance: [getattr(disk, key) for disk in instance.disks]


def _disk_usage(ctx, instance):
    if instance.disk_template == "diskless":
        return 0
    return sum(disk.size for disk in instance.disks)


INSTANCE_FIELDS = common_fields("Instance") + [
    Field("name", "Instance", QFT_TEXT, "Instance name", attribute("name")),
    Field("os", "OS", QFT_TEXT, "Operating system", attribute("os")),
    Field("hypervisor", "Hypervisor", QFT_TEXT, "Hypervisor name", attribute("hypervisor")),
    Field("pnode", "Primary_node", QFT_TEXT, "Primary node",
          lambda ctx, i: _node_name(ctx, i.primary_node)),
    Field("pnode.group", "PrimaryNodeGroup", QFT_TEXT, "Primary node's group",
          lambda ctx, i: (ctx.config.group(ctx.config.node(i.primary_node).group).name
                          if ctx.config.node(i.primary_node) else None)),
    Field("snodes", "Secondary_Nodes", QFT_OTHER, "Secondary nodes",
          lambda ctx, i: [_node_name(ctx, n) for n in i.secondary_nodes]),
    Field("admin_state", "InstanceState", QFT_TEXT,
          "Desired state of the instance (up, down or offline)", attribute("admin_state")),
    Field("admin_state_source", "InstanceStateSource", QFT_TEXT,
          "Who last set the desired state", attribute("admin_state_source")),
    Field("admin_up", "Autostart", QFT_BOOL, "Whether the instance should run",
          lambda ctx, i: i.admin_state == "up"),
    Field("disk_template", "Disk_template", QFT_TEXT, "Instance disk template",
          attribute("disk_template")),
    Field("disks_active", "DisksActive", QFT_BOOL, "Whether the disks are active",
          attribute("disks_active")),
    Field("network_port", "Network_port", QFT_OTHER, "Instance network port",
          attribute("network_port")),
    Field("beparams", "BackendParameters", QFT_OTHER, "Backend parameters (merged)",
          _beparams_with_memory),
    Field("custom_beparams", "CustomBackendParameters", QFT_OTHER,
          "Custom backend parameters", attribute("beparams")),
    Field("hvparams", "HypervisorParameters", QFT_OTHER, "Hypervisor parameters (merged)",
          lambda ctx, i: instance_hvparams(ctx.config.cluster, i)),
    Field("custom_hvparams", "CustomHypervisorParameters", QFT_OTHER,
          "Custom hypervisor parameters", attribute("hvparams")),
    Field("osparams", "OpSysParameters", QFT_OTHER, "Operating system parameters (merged)",
          lambda ctx, i: instance_osparams(ctx.config.cluster, i)),
    Field("custom_osparams", "CustomOpSysParameters", QFT_OTHER,
          "Custom operating system parameters", attribute("osparams")),
    Field("custom_nicparams", "CustomNicParameters", QFT_OTHER,
          "Custom network interface parameters",
          lambda ctx, i: [dict(nic.nicparams) for nic in i.nics]),
    Field("nic.ips", "NIC_IPs", QFT_OTHER, "List of IP addresses",
          _nic_list(lambda ctx, nic: nic.ip)),
    Field("nic.macs", "NIC_MACs", QFT_OTHER, "List of MAC addresses",
          _nic_list(lambda ctx, nic: nic.mac)),
    Field("nic.uuids", "NIC_UUIDs", QFT_OTHER, "List of network interface UUIDs",
          _nic_list(lambda ctx, nic: nic.uuid)),
    Field("nic.names", "NIC_Names", QFT_OTHER, "List of network interface names",
          _nic_list(lambda ctx, nic: nic.name)),
    Field("nic.modes", "NIC_modes", QFT_OTHER, "List of network interface modes",
          _nic_list(_nic_mode)),
    Field("nic.links", "NIC_links", QFT_OTHER, "List of network interface links",
          _nic_list(_nic_link)),
    Field("nic.bridges", "NIC_bridges", QFT_OTHER,
          "List of bridges (null for NICs not in bridged mode)", _nic_list(_nic_bridge)),
    Field("nic.networks", "NIC_networks", QFT_OTHER, "List of network UUIDs",
          _nic_list(lambda ctx, nic: nic.network)),
    Field("nic.networks.names", "NIC_networks_names", QFT_OTHER, "List of network names",
          _nic_list(_nic_network_name)),
    Field("nic.count", "NICs", QFT_NUMBER, "Number of network interfaces",
          lambda ctx, i: len(i.nics)),
    Field("disk.sizes", "Disk_sizes", QFT_OTHER, "List of disk sizes (MiB)",
          _disk_list("size")),
    Field("disk.spindles", "Disk_spindles", QFT_OTHER, "List of disk spindles",
          _disk_list("spindles")),
    Field("disk.uuids", "Disk_UUIDs", QFT_OTHER, "List of disk UUIDs", _disk_list("uuid")),
    Field("disk.names", "Disk_names", QFT_OTHER, "List of disk names", _disk_list("name")),
    Field("disk.count", "Disks", QFT_NUMBER, "Number of disks",
          lambda ctx, i: len(i.disks)),
    Field("disk_usage", "DiskUsage", QFT_UNIT, "Total disk space used (MiB)", _disk_usage),
    Field("oper_state", "Running", QFT_BOOL, "Whether the instance runs on its primary",
          _oper_state),
    Field("oper_ram", "Memory", QFT_UNIT, "Memory of the running instance (MiB)",
          _oper("memory")),
    Field("oper_vcpus", "VCPUs", QFT_NUMBER, "vCPUs of the running instance",
          _oper("vcpus")),
    Field("status", "Status", QFT_TEXT,
          "Instance status (running, ADMIN_down, ERROR_down, ERROR_nodedown, ...)",
          instance_status),
]

INSTANCES = Resource(
    "instance",
    INSTANCE_FIELDS,
    lambda ctx: sorted(((i.name, i) for i in ctx.config.instances()), key=lambda p: p[0]),
    lambda ctx, name: ctx.config.instance_by_name(name),
)
