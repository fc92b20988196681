# -*- test-case-name: tests.test_config -*-
"""The configuration object model: cluster, node groups, nodes, instances, networks.

Attribute names are the keys of Ganeti's ``config.data`` so the file reads
like Ganeti's and the query layer can hand values out under the names
clients know.  Every top-level object carries Ganeti's common fields:
C{uuid}, C{ctime}, C{mtime} (float seconds), C{serial_no} and C{tags} (a set
in memory, a sorted list on disk).

Parameter dictionaries (C{beparams}, C{hvparams}, C{ndparams}, ...) on
groups, nodes and instances hold only what was set on that object; the
cluster's dictionaries hold the complete defaults.

Objects are plain mutable Python objects owned by the
L{ConfigStore<ganeti_rapi.engine.config.ConfigStore>}; change names through
its C{rename_*} methods (it keeps a name index) and call its C{touch} after
changing anything else, then C{save}.

C{from_dict} checks the type of every known field and raises C{ValueError}
naming the field when one is wrong; keys it does not know are kept and
written back unchanged, so a file written by a newer version survives a
round trip through an older one.
"""

import math
import uuid as _uuid


def new_uuid():
    """A fresh random UUID as a string, the form Ganeti stores."""
    return str(_uuid.uuid4())


def copy_json(value):
    """A deep copy of a JSON-like value (dicts, lists, scalars).

    Much cheaper than C{copy.deepcopy} for the parameter dictionaries that
    make up most of the configuration.
    """
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [copy_json(v) for v in value]
    return value


# -- Field types ---------------------------------------------------------------
#
# A field type is (check, description); check(value) tells whether a value
# read from a file is acceptable.


def _is_str(v):
    return isinstance(v, str)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v):
    return (
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    )


def _is_bool(v):
    return isinstance(v, bool)


def _is_dict(v):
    return isinstance(v, dict)


def _is_list(v):
    return isinstance(v, list)


def _maybe(check):
    return lambda v: v is None or check(v)


def _list_of(check):
    return lambda v: isinstance(v, list) and all(check(i) for i in v)


def _dict_of(check):
    return lambda v: isinstance(v, dict) and all(
        isinstance(k, str) and check(i) for k, i in v.items()
    )


STR = (_is_str, "a string")
MAYBE_STR = (_maybe(_is_str), "a string or null")
INT = (_is_int, "an integer")
MAYBE_INT = (_maybe(_is_int), "an integer or null")
NUMBER = (_is_number, "a number")
BOOL = (_is_bool, "a boolean")
DICT = (_is_dict, "an object")
DICT_OF_DICT = (_dict_of(_is_dict), "an object of objects")
LIST = (_is_list, "a list")
MAYBE_LIST = (_maybe(_is_list), "a list or null")
STR_LIST = (_list_of(_is_str), "a list of strings")
ANY = (lambda v: True, "any value")


class Field:
    """One attribute of a configuration object.

    @ivar default: the default value, or a zero-argument callable making it;
        dicts, lists and sets are copied for every object.
    @ivar kind: a C{(check, description)} pair used when loading.
    """

    __slots__ = ("name", "kind", "default")

    def __init__(self, name, kind=ANY, default=None):
        self.name = name
        self.kind = kind
        self.default = default

    def make_default(self):
        if callable(self.default):
            return self.default()
        if isinstance(self.default, (dict, list)):
            return copy_json(self.default)
        if isinstance(self.default, set):
            return set(self.default)
        return self.default


class ConfigObject:
    """Base of the configuration objects: fields, dict round trip, equality."""

    #: The L{Field}s of the class, in serialization order.
    FIELDS = ()

    def __init__(self, **kwargs):
        names = self.field_names()
        unknown = set(kwargs) - names
        if unknown:
            raise TypeError(
                "%s has no field(s) %s"
                % (type(self).__name__, ", ".join(sorted(unknown)))
            )
        for field in self.FIELDS:
            if field.name in kwargs:
                setattr(self, field.name, kwargs[field.name])
            else:
                setattr(self, field.name, field.make_default())
        #: Keys read from a file that this version does not know.
        self.extra = {}

    @classmethod
    def field_names(cls):
        names = cls.__dict__.get("_field_names")
        if names is None:
            names = frozenset(f.name for f in cls.FIELDS)
            cls._field_names = names
        return names

    def to_dict(self):
        """This object as a JSON-serializable dict (an independent copy)."""
        result = copy_json(self.extra)
        for field in self.FIELDS:
            result[field.name] = self._encode_field(
                field.name, getattr(self, field.name)
            )
        return result

    def _encode_field(self, name, value):
        if isinstance(value, ConfigObject):
            return value.to_dict()
        if isinstance(value, (set, frozenset)):
            return sorted(value)
        if isinstance(value, list) and value and isinstance(value[0], ConfigObject):
            return [v.to_dict() for v in value]
        return copy_json(value)

    def json_tree(self):
        """What L{to_dict} gives, without copying: for encoding at once.

        The result shares this object's own dicts and lists, so it must be
        encoded right away and never kept or changed.  Writing a large
        configuration spends most of its time copying otherwise.  A class
        that encodes its fields its own way gets a copy (L{to_dict}).
        """
        if type(self)._encode_field not in _PLAIN_ENCODERS:
            return self.to_dict()
        result = dict(self.extra) if self.extra else {}
        for field in self.FIELDS:
            value = getattr(self, field.name)
            if isinstance(value, ConfigObject):
                value = value.json_tree()
            elif isinstance(value, (set, frozenset)):
                value = sorted(value)
            elif isinstance(value, list) and value and isinstance(value[0], ConfigObject):
                value = [v.json_tree() for v in value]
            result[field.name] = value
        return result

    @classmethod
    def from_dict(cls, data, where=None):
        """Build an object from C{data} as read from a file.

        @param where: how to name the object in error messages.
        @raise ValueError: naming the field, if a field has the wrong type.
        """
        where = where or cls.__name__
        if not isinstance(data, dict):
            raise ValueError("%s: expected an object, got %s" % (where, _kind(data)))
        kwargs = {}
        for field in cls.FIELDS:
            if field.name not in data:
                continue
            value = data[field.name]
            check, description = field.kind
            if not check(value):
                raise ValueError(
                    "%s.%s: expected %s, got %s"
                    % (where, field.name, description, _kind(value))
                )
            kwargs[field.name] = cls._decode_field(
                field.name, value, "%s.%s" % (where, field.name)
            )
        obj = cls(**kwargs)
        obj.extra = {k: v for k, v in data.items() if k not in cls.field_names()}
        return obj

    @classmethod
    def _decode_field(cls, name, value, where):
        return copy_json(value)

    def copy(self):
        """An independent copy of this object."""
        return type(self).from_dict(self.to_dict())

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __ne__(self, other):
        result = self.__eq__(other)
        if result is NotImplemented:
            return result
        return not result

    __hash__ = None

    def __repr__(self):
        ident = getattr(self, "name", None) or getattr(self, "uuid", None)
        return "<%s %r>" % (type(self).__name__, ident)


def _kind(value):
    """How to describe the type of C{value} in an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class TaggableObject(ConfigObject):
    """A top-level object: uuid, timestamps, serial number and tags."""

    COMMON_FIELDS = (
        Field("uuid", STR, new_uuid),
        Field("ctime", NUMBER, 0.0),
        Field("mtime", NUMBER, 0.0),
        Field("serial_no", INT, 1),
        Field("tags", STR_LIST, set),
    )

    @classmethod
    def _decode_field(cls, name, value, where):
        if name == "tags":
            return set(value)
        return ConfigObject._decode_field(name, value, where)


class Disk(ConfigObject):
    """One disk of an instance.

    C{dev_type} is the disk template that made it, C{size} is in MiB,
    C{mode} is C{"rw"} or C{"ro"}, C{nodes} lists the uuids of the nodes
    holding it, C{logical_id} is the storage-specific identifier.
    """

    FIELDS = (
        Field("uuid", STR, new_uuid),
        Field("name", MAYBE_STR, None),
        Field("dev_type", STR, "diskless"),
        Field("size", INT, 0),
        Field("mode", STR, "rw"),
        Field("spindles", MAYBE_INT, None),
        Field("iv_name", STR, ""),
        Field("logical_id", MAYBE_LIST, None),
        Field("params", DICT, dict),
        Field("nodes", STR_LIST, list),
    )


class Nic(ConfigObject):
    """One network interface of an instance.

    C{nicparams} holds the NIC's own C{mode}, C{link} and C{vlan} (missing
    keys come from the cluster's C{nicparams["default"]}); C{network} is the
    uuid of the network it is connected to, or None.
    """

    FIELDS = (
        Field("uuid", STR, new_uuid),
        Field("name", MAYBE_STR, None),
        Field("mac", STR, ""),
        Field("ip", MAYBE_STR, None),
        Field("network", MAYBE_STR, None),
        Field("nicparams", DICT, dict),
    )


class ClusterInfo(TaggableObject):
    """The cluster-wide settings: Ganeti's C{cluster} section."""

    FIELDS = TaggableObject.COMMON_FIELDS + (
        Field("cluster_name", STR, ""),
        Field("master_node", STR, ""),
        Field("default_hypervisor", STR, "fake"),
        Field("enabled_hypervisors", STR_LIST, list),
        Field("hvparams", DICT_OF_DICT, dict),
        Field("os_hvp", DICT_OF_DICT, dict),
        Field("beparams", DICT_OF_DICT, dict),
        Field("nicparams", DICT_OF_DICT, dict),
        Field("ndparams", DICT, dict),
        Field("diskparams", DICT_OF_DICT, dict),
        Field("ipolicy", DICT, dict),
        Field("osparams", DICT_OF_DICT, dict),
        Field("osparams_private_cluster", DICT_OF_DICT, dict),
        Field("hv_state", DICT, dict),
        Field("disk_state", DICT, dict),
        Field("candidate_pool_size", INT, 10),
        Field("max_running_jobs", INT, 20),
        Field("max_tracked_jobs", INT, 25),
        Field("mac_prefix", STR, "aa:00:00"),
        Field("master_netdev", STR, ""),
        Field("master_netmask", INT, 32),
        Field("volume_group_name", MAYBE_STR, None),
        Field("drbd_usermode_helper", MAYBE_STR, None),
        Field("file_storage_dir", STR, ""),
        Field("shared_file_storage_dir", STR, ""),
        Field("gluster_storage_dir", STR, ""),
        Field("maintain_node_health", BOOL, False),
        Field("uid_pool", LIST, list),
        Field("default_iallocator", STR, ""),
        Field("default_iallocator_params", DICT, dict),
        Field("reserved_lvs", STR_LIST, list),
        Field("primary_ip_family", INT, 2),
        Field("prealloc_wipe_disks", BOOL, False),
        Field("hidden_os", STR_LIST, list),
        Field("blacklisted_os", STR_LIST, list),
        Field("enabled_disk_templates", STR_LIST, list),
        Field("install_image", STR, ""),
        Field("instance_communication_network", STR, ""),
        Field("zeroing_image", STR, ""),
        Field("compression_tools", STR_LIST, list),
        Field("enabled_user_shutdown", BOOL, False),
        Field("enabled_data_collectors", DICT, dict),
        Field("data_collector_interval", DICT, dict),
        Field("modify_ssh_setup", BOOL, False),
        Field("ssh_key_type", STR, "rsa"),
        Field("ssh_key_bits", INT, 2048),
        Field("use_external_mip_script", BOOL, False),
        Field("highest_used_port", INT, 10999),
        Field("tcpudp_port_pool", LIST, list),
    )


class NodeGroup(TaggableObject):
    """A node group.

    C{networks} maps a connected network's uuid to its NIC parameters
    (C{mode}, C{link}, C{vlan}).
    """

    FIELDS = TaggableObject.COMMON_FIELDS + (
        Field("name", STR, ""),
        Field("alloc_policy", STR, "preferred"),
        Field("ndparams", DICT, dict),
        Field("diskparams", DICT_OF_DICT, dict),
        Field("ipolicy", DICT, dict),
        Field("hv_state", DICT, dict),
        Field("disk_state", DICT, dict),
        Field("networks", DICT_OF_DICT, dict),
    )


class Node(TaggableObject):
    """A node: a machine running the node daemon.

    C{group} is the uuid of its node group; C{rpc_port} is the port of its
    node daemon and C{cert_digest} the digest of that daemon's certificate
    (None until known).
    """

    FIELDS = TaggableObject.COMMON_FIELDS + (
        Field("name", STR, ""),
        Field("primary_ip", STR, ""),
        Field("secondary_ip", STR, ""),
        Field("group", STR, ""),
        Field("offline", BOOL, False),
        Field("drained", BOOL, False),
        Field("master_candidate", BOOL, False),
        Field("master_capable", BOOL, True),
        Field("vm_capable", BOOL, True),
        Field("ndparams", DICT, dict),
        Field("powered", BOOL, True),
        Field("hv_state", DICT, dict),
        Field("disk_state", DICT, dict),
        Field("rpc_port", INT, 1811),
        Field("cert_digest", MAYBE_STR, None),
    )


class Instance(TaggableObject):
    """An instance (a virtual machine).

    C{primary_node} and C{secondary_nodes} are node uuids; C{disks} and
    C{nics} are lists of L{Disk} and L{Nic}.
    """

    FIELDS = TaggableObject.COMMON_FIELDS + (
        Field("name", STR, ""),
        Field("primary_node", STR, ""),
        Field("secondary_nodes", STR_LIST, list),
        Field("os", STR, ""),
        Field("hypervisor", STR, "fake"),
        Field("admin_state", STR, "down"),
        Field("admin_state_source", STR, "admin"),
        Field("disk_template", STR, "diskless"),
        Field("disks", LIST, list),
        Field("disks_active", BOOL, False),
        Field("nics", LIST, list),
        Field("beparams", DICT, dict),
        Field("hvparams", DICT, dict),
        Field("osparams", DICT, dict),
        Field("osparams_private", DICT, dict),
        Field("network_port", MAYBE_INT, None),
    )

    @classmethod
    def _decode_field(cls, name, value, where):
        if name == "disks":
            return [
                Disk.from_dict(d, "%s[%d]" % (where, i)) for i, d in enumerate(value)
            ]
        if name == "nics":
            return [
                Nic.from_dict(n, "%s[%d]" % (where, i)) for i, n in enumerate(value)
            ]
        return TaggableObject._decode_field(name, value, where)

    def _encode_field(self, name, value):
        if name in ("disks", "nics"):
            return [v.to_dict() for v in value]
        return TaggableObject._encode_field(self, name, value)

    @property
    def all_nodes(self):
        """The primary node's uuid followed by the secondaries'."""
        return [self.primary_node] + [
            n for n in self.secondary_nodes if n != self.primary_node
        ]


#: The field encoders L{ConfigObject.json_tree} knows to follow (those
#: whose result it gives without copying).
_PLAIN_ENCODERS = (ConfigObject._encode_field, Instance._encode_field)


class Network(TaggableObject):
    """An IP network instances' NICs can be connected to.

    C{reservations} and C{ext_reservations} are Ganeti's bitmaps as strings
    of C{0}/C{1}, one character per address of C{network} (None when not
    yet computed).
    """

    FIELDS = TaggableObject.COMMON_FIELDS + (
        Field("name", STR, ""),
        Field("network", STR, ""),
        Field("gateway", MAYBE_STR, None),
        Field("network6", MAYBE_STR, None),
        Field("gateway6", MAYBE_STR, None),
        Field("mac_prefix", MAYBE_STR, None),
        Field("reservations", MAYBE_STR, None),
        Field("ext_reservations", MAYBE_STR, None),
    )


class FilterRule(ConfigObject):
    """A job filter rule (Ganeti 2.13+): which queued jobs run, wait or go.

    C{watermark} is the highest job id when the rule was added or replaced;
    C{priority} orders the rules (lowest first, then watermark, then uuid);
    C{predicates} are C{[name, filter expression]} lists; C{action} is
    C{ACCEPT}, C{PAUSE}, C{REJECT}, C{CONTINUE} or C{["RATE_LIMIT", n]};
    C{reason_trail} is a list of C{[source, reason, timestamp]}.  See
    L{ganeti_rapi.engine.filters}.
    """

    FIELDS = (
        Field("uuid", STR, new_uuid),
        Field("watermark", INT, 0),
        Field("priority", INT, 0),
        Field("predicates", LIST, list),
        Field("action", ANY, "CONTINUE"),
        Field("reason_trail", LIST, list),
    )
