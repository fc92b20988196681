# -*- test-case-name: tests.test_exports -*-
"""Instance exports: the C{config.ini} describing one, and the C{export} query.

C{config.ini} follows Ganeti's layout and key names, so tools reading
Ganeti's exports read ours: an C{[export]} section (C{version},
C{timestamp}, C{source}, C{os}, C{compression}), an C{[instance]} section
(C{name}, C{maxmem}, C{minmem}, C{memory}, C{vcpus}, C{disk_template},
C{hypervisor}, C{tags}, C{nic<N>_mac}/C{_ip}/C{_network}/C{_name}/
C{_mode}/C{_link}/C{_vlan}, C{nic_count}, C{disk<N>_ivname}/C{_dump}/
C{_size}/C{_name}, C{disk_count}), and the instance's parameters in
C{[hypervisor]}, C{[backend]}, C{[os]} and C{[os_private]}.  Parameters
are written filled (cluster defaults applied), as Ganeti's nodes see them.
"""

import configparser
import io

from ganeti_rapi.engine.params import (
    instance_beparams,
    instance_hvparams,
    instance_osparams,
    nic_params,
)
from ganeti_rapi.engine.query import (
    QFT_TEXT,
    RS_OFFLINE,
    RS_UNAVAIL,
    Field,
    Resource,
    Unavailable,
)

#: Ganeti's C{EXPORT_VERSION}.
EXPORT_VERSION = 0

#: Hypervisor parameters that are cluster-wide, left out of exports
#: (Ganeti's C{HVC_GLOBALS}).
HV_GLOBALS = frozenset(["migration_port", "migration_bandwidth", "migration_mode",
                        "xen_cmd"])

#: The NIC parameters written per NIC.
NIC_PARAMETERS = ("mode", "link", "vlan")


def dump_name(index):
    """The file name of disk C{index}'s image in an export."""
    return "disk%d.snap" % index


def export_config(config, instance, timestamp, source_node, dumps=None):
    """The text of C{config.ini} for an export of C{instance}.

    @param timestamp: seconds since the epoch.
    @param source_node: the name of the node the disks were exported on.
    @param dumps: file names of the disk images, by index (L{dump_name}).
    """
    cluster = config.cluster
    beparams = instance_beparams(cluster, instance)
    parser = configparser.RawConfigParser()
    parser.optionxform = str

    parser.add_section("export")
    section = parser["export"]
    section["version"] = str(EXPORT_VERSION)
    section["timestamp"] = "%d" % int(timestamp)
    section["source"] = source_node
    section["os"] = instance.os
    section["compression"] = "none"

    parser.add_section("instance")
    section = parser["instance"]
    section["name"] = instance.name
    section["maxmem"] = "%d" % beparams.get("maxmem", 0)
    section["minmem"] = "%d" % beparams.get("minmem", 0)
    # The old single memory size, for readers of older exports.
    section["memory"] = "%d" % beparams.get("maxmem", 0)
    section["vcpus"] = "%d" % beparams.get("vcpus", 1)
    section["disk_template"] = instance.disk_template
    section["hypervisor"] = instance.hypervisor
    section["tags"] = " ".join(sorted(instance.tags))
    for index, nic in enumerate(instance.nics):
        section["nic%d_mac" % index] = "%s" % nic.mac
        section["nic%d_ip" % index] = "%s" % nic.ip
        section["nic%d_network" % index] = "%s" % nic.network
        section["nic%d_name" % index] = "%s" % nic.name
        filled = nic_params(cluster, nic)
        for param in NIC_PARAMETERS:
            section["nic%d_%s" % (index, param)] = "%s" % filled.get(param)
    section["nic_count"] = "%d" % len(instance.nics)
    dumps = dumps or [dump_name(i) for i in range(len(instance.disks))]
    for index, disk in enumerate(instance.disks):
        section["disk%d_ivname" % index] = disk.iv_name
        section["disk%d_dump" % index] = dumps[index]
        section["disk%d_size" % index] = "%d" % disk.size
        section["disk%d_name" % index] = "%s" % disk.name
    section["disk_count"] = "%d" % len(instance.disks)

    for name, values in (
        ("hypervisor", {k: v for k, v in instance_hvparams(cluster, instance).items()
                        if k not in HV_GLOBALS}),
        ("backend", beparams),
        ("os", instance_osparams(cluster, instance)),
        ("os_private", dict(instance.osparams_private)),
    ):
        parser.add_section(name)
        for key in sorted(values):
            parser[name][key] = "%s" % (values[key],)

    out = io.StringIO()
    parser.write(out)
    return out.getvalue()


def parse_config(text):
    """C{{section: {key: value}}} of a C{config.ini} text."""
    parser = configparser.RawConfigParser()
    parser.optionxform = str
    parser.read_string(text)
    return {name: dict(parser[name]) for name in parser.sections()}


# -- the "export" query resource -------------------------------------------------


def _export_items(ctx):
    """C{(node name, export name or None)} rows; None where the node did not tell."""
    rows = []
    for node_name, exports in sorted((getattr(ctx, "live_exports", None) or {}).items()):
        if isinstance(exports, list):
            rows.extend(((node_name, name), (node_name, name)) for name in sorted(exports))
        else:
            rows.append(((node_name, None), (node_name, exports)))
    return rows


def _export_name(ctx, item):
    node_name, value = item
    if not isinstance(value, str):
        raise Unavailable(value if value in (RS_OFFLINE, RS_UNAVAIL) else RS_UNAVAIL)
    return value


EXPORT_FIELDS = [
    Field("node", "Node", QFT_TEXT, "Node name", lambda ctx, item: item[0]),
    Field("export", "Export", QFT_TEXT, "Export name", _export_name),
]

#: C{/2/query/export}: one row per export per node; a node that does not
#: answer has one row whose C{export} is unavailable (status 3, or 4 when
#: the node is offline).
EXPORTS = Resource(
    "export",
    EXPORT_FIELDS,
    _export_items,
    lambda ctx, name: dict(_export_items(ctx)).get(name),
)


def gather_exports(config, nodes, timeout=None):
    """C{{node name: [export names] or RS_OFFLINE or RS_UNAVAIL}} from every node.

    @param nodes: the engine's node runner.
    """
    members = list(config.nodes())
    online = [n for n in members if not n.offline]
    d = nodes.call_nodes(online, "export_list", timeout)

    def gathered(outcomes):
        result = {}
        for node in members:
            if node.offline:
                result[node.name] = RS_OFFLINE
                continue
            ok, value = outcomes.get(node.uuid, (False, None))
            result[node.name] = sorted(value) if ok and isinstance(value, list) else RS_UNAVAIL
        return result

    d.addCallback(gathered)
    return d
