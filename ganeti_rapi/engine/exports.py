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
import re

from ganeti_rapi.engine import defaults
from ganeti_rapi.engine.errors import ECODE_ENVIRON, ECODE_INVAL, OpPrereqError
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

#: The name of an export: the name of the instance it was made of, as node
#: daemons accept it (word characters, dots and dashes, not starting with
#: a dot, so never C{.} or C{..}).
EXPORT_NAME = re.compile(r"[\w-][\w.-]*", re.ASCII)


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


def _value(text):
    """A value of C{config.ini}, L{None} for the C{None} (or empty) Ganeti writes."""
    if text is None or text.strip() == "" or text.strip().lower() == "none":
        return None
    return text.strip()


_TRUE = frozenset(["true", "1", "yes", "on"])
_FALSE = frozenset(["false", "0", "no", "off", ""])


def _typed(text, default):
    """C{text} as a value of the type of C{default}; L{ValueError} if it is none."""
    if isinstance(default, bool):
        if text.strip().lower() in _TRUE:
            return True
        if text.strip().lower() in _FALSE:
            return False
        raise ValueError(text)
    if isinstance(default, int):
        return int(text)
    if isinstance(default, float):
        return float(text)
    return text


class ExportDescription:
    """What the C{config.ini} of an export says, read as an import needs it.

    @param text: the text of C{config.ini}.
    @raise OpPrereqError: C{environment_error} for a text that is not an
        export's description, or one of another export version.
    """

    def __init__(self, text):
        try:
            sections = parse_config(text)
        except configparser.Error as e:
            raise OpPrereqError("Corrupted export config: %s" % (e,), ECODE_ENVIRON) from None
        if "export" not in sections or "instance" not in sections:
            raise OpPrereqError("Corrupted export config: no [export] or [instance]"
                                " section", ECODE_ENVIRON)
        version = sections["export"].get("version")
        if version != str(EXPORT_VERSION):
            raise OpPrereqError("Wrong export version %s (wanted %d)"
                                % (version, EXPORT_VERSION), ECODE_ENVIRON)
        self.sections = sections
        self.instance = sections["instance"]

    def get(self, key, section="instance"):
        """A value of the description (L{None} when missing or C{None})."""
        return _value(self.sections.get(section, {}).get(key))

    def _int(self, key):
        value = self.get(key)
        try:
            return None if value is None else int(value)
        except ValueError:
            raise OpPrereqError("Corrupted export config: %s is %r, not a number"
                                % (key, value), ECODE_ENVIRON) from None

    @property
    def name(self):
        """The name of the instance exported."""
        return self.get("name")

    @property
    def os(self):
        return self.get("os", "export")

    @property
    def tags(self):
        return (self.get("tags") or "").split()

    def disk_count(self):
        """How many disks the instance had."""
        count = self._int("disk_count")
        if count is None:
            count = 0
            while count < defaults.MAX_DISKS and self.get("disk%d_size" % count) is not None:
                count += 1
        return count

    def disks(self):
        """The disks as a creation request gives them: C{[{"size", "name"}]}."""
        result = []
        for index in range(self.disk_count()):
            size = self._int("disk%d_size" % index)
            if size is None:
                break
            disk = {"size": size}
            if self.get("disk%d_name" % index) is not None:
                disk["name"] = self.get("disk%d_name" % index)
            result.append(disk)
        return result

    def images(self):
        """The file name of each disk's image in the export (L{None}: no image)."""
        return [self.get("disk%d_dump" % index) for index in range(self.disk_count())]

    def nics(self):
        """The NICs as a creation request gives them.

        A NIC on a network names it (and takes mode and link from it);
        the others carry their mode, link and VLAN.  C{mac} is the exported
        NIC's.
        """
        count = self._int("nic_count")
        result = []
        for index in range(defaults.MAX_NICS if count is None else count):
            if self.get("nic%d_mac" % index) is None:
                break
            spec = {}
            for key in ("mac", "ip", "name"):
                value = self.get("nic%d_%s" % (index, key))
                if value is not None:
                    spec[key] = value
            network = self.get("nic%d_network" % index)
            if network is not None:
                spec["network"] = network
            else:
                for key in NIC_PARAMETERS:
                    value = self.get("nic%d_%s" % (index, key))
                    if value is not None:
                        spec[key] = value
            result.append(spec)
        return result

    def params(self, section, known):
        """The parameters of C{section} that C{known} (C{{name: default}}) has,
        typed like their defaults.

        @raise OpPrereqError: C{wrong_input} for a value of the wrong type.
        """
        result = {}
        for key, text in sorted(self.sections.get(section, {}).items()):
            if key not in known:
                continue
            try:
                result[key] = _typed(text, known[key])
            except ValueError:
                raise OpPrereqError(
                    "The export's %s parameter '%s' has an invalid value %r"
                    % (section, key, text), ECODE_INVAL,
                ) from None
        return result

    def backend(self):
        """The backend parameters (from C{[backend]}, or old exports' C{[instance]})."""
        if "backend" in self.sections:
            params = self.params("backend", defaults.BEPARAMS)
            memory = self.sections["backend"].get("memory")
        else:
            params = self.params("instance", defaults.BEPARAMS)
            memory = self.instance.get("memory")
        if memory is not None:
            # The old single memory size, for what the export lacks.
            try:
                memory = int(memory)
            except ValueError:
                raise OpPrereqError("The export's memory %r is not a number" % memory,
                                    ECODE_INVAL) from None
            params.setdefault("maxmem", memory)
            params.setdefault("minmem", memory)
        return params

    def hypervisor_params(self, hypervisor):
        """The hypervisor parameters of C{hypervisor} (cluster-wide ones left out)."""
        known = {k: v for k, v in defaults.HVPARAMS.get(hypervisor, {}).items()
                 if k not in HV_GLOBALS}
        return self.params("hypervisor", known)

    def section(self, name):
        """The values of a section as they are (OS parameters are strings)."""
        return dict(self.sections.get(name, {}))


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
