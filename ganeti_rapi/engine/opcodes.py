# -*- test-case-name: tests.test_opcodes -*-
"""Opcodes: typed, validated parameter sets, one definition per C{OP_ID}.

An opcode travels as a plain dict, C{{"OP_ID": "OP_GROUP_ADD",
"group_name": "g1", ...}}, holding every parameter including defaults; that
is also how it is stored in a job and shown in a job's C{ops}.  The
parameters, their types and defaults are Ganeti's (``OpCodes.hs`` and
``OpParams.hs``), so a body that Ganeti's RAPI accepts is accepted here and
the other way round.

L{make_opcode} turns a request body into such a dict the way Ganeti's RAPI
does: values fixed by the URL win and may not be repeated in the body,
unknown keys are refused, every parameter is type-checked (booleans must be
JSON booleans, integers are accepted where a float is expected), and
defaults are filled in.  Any problem raises L{OpcodeValidationError}, which
the web layer answers with 400.
"""

import ipaddress
import json
import math

from ganeti_rapi.engine import defaults
from ganeti_rapi.engine.errors import OpcodeValidationError

#: Opcode priorities: the range a job may hold, and what may be submitted.
OP_PRIO_HIGHEST = -20
OP_PRIO_LOWEST = 19
OP_PRIO_HIGH = -10
OP_PRIO_NORMAL = 0
OP_PRIO_LOW = 10
OP_PRIO_DEFAULT = OP_PRIO_NORMAL
OP_PRIO_SUBMIT_VALID = (OP_PRIO_HIGH, OP_PRIO_NORMAL, OP_PRIO_LOW)

#: Finalized job statuses a dependency may wait for.
JOBS_FINALIZED = ("canceled", "success", "error")

#: Default timeout, in seconds, of opcodes that shut an instance down.
DEFAULT_SHUTDOWN_TIMEOUT = 120


# -- Validators ------------------------------------------------------------------


class Validator:
    """A type check for one parameter value.

    Calling it tells whether a value is acceptable; C{description} says
    what is expected, for error messages; C{normalize} turns an accepted
    value into the stored form (an int given for a float becomes a float).
    """

    __slots__ = ("_check", "description", "_normalize")

    def __init__(self, check, description, normalize=None):
        self._check = check
        self.description = description
        self._normalize = normalize

    def __call__(self, value):
        return bool(self._check(value))

    def normalize(self, value):
        if self._normalize is None:
            return value
        return self._normalize(value)

    def __repr__(self):
        return "<Validator %s>" % (self.description,)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


t_any = Validator(lambda v: True, "any value")
t_none = Validator(lambda v: v is None, "null")
t_bool = Validator(lambda v: isinstance(v, bool), "a boolean")
t_int = Validator(_is_int, "an integer")
t_non_negative_int = Validator(
    lambda v: _is_int(v) and v >= 0, "a non-negative integer"
)
t_positive_int = Validator(lambda v: _is_int(v) and v > 0, "a positive integer")
t_float = Validator(
    lambda v: isinstance(v, (int, float))
    and not isinstance(v, bool)
    and math.isfinite(v),
    "a number",
    float,
)
t_str = Validator(lambda v: isinstance(v, str), "a string")
t_non_empty_str = Validator(
    lambda v: isinstance(v, str) and v != "", "a non-empty string"
)
t_list = Validator(lambda v: isinstance(v, list), "a list")
t_dict = Validator(lambda v: isinstance(v, dict), "an object")


def t_int_range(low, high):
    """An integer from C{low} to C{high} inclusive."""
    return Validator(
        lambda v: _is_int(v) and low <= v <= high,
        "an integer from %d to %d" % (low, high),
    )


def t_maybe(t):
    """C{t} or null."""
    return Validator(
        lambda v: v is None or t(v),
        "%s or null" % t.description,
        lambda v: None if v is None else t.normalize(v),
    )


def t_or(*ts):
    """A value accepted by any of C{ts} (the first that accepts normalizes)."""

    def check(v):
        return any(t(v) for t in ts)

    def normalize(v):
        for t in ts:
            if t(v):
                return t.normalize(v)
        return v

    return Validator(check, " or ".join(t.description for t in ts), normalize)


def t_one_of(*values):
    """One of C{values}, of the same type (C{True} is not C{1})."""

    def check(v):
        return any(type(v) is type(a) and v == a for a in values)

    return Validator(
        check, "one of %s" % ", ".join(json.dumps(a) for a in values)
    )


def t_list_of(t):
    """A list whose every element C{t} accepts."""
    return Validator(
        lambda v: isinstance(v, list) and all(t(i) for i in v),
        "a list of (%s)" % t.description,
        lambda v: [t.normalize(i) for i in v],
    )


def t_dict_of(t_key, t_value):
    """An object whose keys C{t_key} and values C{t_value} accept."""
    return Validator(
        lambda v: isinstance(v, dict)
        and all(t_key(k) and t_value(i) for k, i in v.items()),
        "an object of %s to (%s)" % (t_key.description, t_value.description),
        lambda v: {k: t_value.normalize(i) for k, i in v.items()},
    )


def t_tuple_of(*ts):
    """A list of exactly C{len(ts)} elements, each accepted by its C{t}."""
    return Validator(
        lambda v: isinstance(v, list)
        and len(v) == len(ts)
        and all(t(i) for t, i in zip(ts, v)),
        "a list [%s]" % ", ".join(t.description for t in ts),
        lambda v: [t.normalize(i) for t, i in zip(ts, v)],
    )


def _ip_check(parse, need_prefix):
    def check(v):
        if not isinstance(v, str) or ("/" in v) != need_prefix:
            return False
        try:
            parse(v)
        except ValueError:
            return False
        return True

    return check


t_ipv4 = Validator(_ip_check(ipaddress.IPv4Address, False), "an IPv4 address")
t_ipv6 = Validator(_ip_check(ipaddress.IPv6Address, False), "an IPv6 address")
t_ipv4_network = Validator(
    _ip_check(lambda v: ipaddress.IPv4Network(v, strict=False), True),
    "an IPv4 network (a.b.c.d/n)",
)
t_ipv6_network = Validator(
    _ip_check(lambda v: ipaddress.IPv6Network(v, strict=False), True),
    "an IPv6 network",
)

t_obj_of_obj = t_dict_of(t_str, t_dict)
t_str_list = t_list_of(t_str)
t_tags = t_list_of(t_str)
t_hypervisor = t_one_of(*defaults.HYPER_TYPES)
t_disk_template = t_one_of(*defaults.DISK_TEMPLATES)
t_storage_type = t_one_of(*defaults.STORAGE_TYPES)
t_nic_mode = t_one_of(*defaults.NIC_MODES)
t_alloc_policy = t_one_of(*defaults.ALLOC_POLICIES)
t_tag_kind = t_one_of(*defaults.TAG_KINDS)
t_file_driver = t_one_of("loop", "blktap", "blktap2")
t_migration_mode = t_one_of("live", "non-live")
t_uid_range_list = t_list_of(t_tuple_of(t_int, t_int))
t_os_mod_list = t_list_of(t_tuple_of(t_one_of("add", "remove"), t_str))
t_query_resource = t_one_of(
    "cluster", "export", "group", "instance", "network", "node", "os"
)

#: A job dependency: [job id (>= 0, or negative = relative), [statuses]].
t_job_dependency = t_tuple_of(
    t_or(t_int, Validator(lambda v: isinstance(v, str) and v.isdigit(), "digits")),
    t_list_of(t_one_of(*JOBS_FINALIZED)),
)

#: A reason trail entry: [source, reason, timestamp in nanoseconds].
t_reason_trail = t_list_of(t_tuple_of(t_str, t_str, t_int))

#: Disk or NIC modifications of OP_INSTANCE_SET_PARAMS: [op, params] or
#: [op, identifier, params], where op is add/modify/remove or an index.
t_set_params_mods = t_list_of(
    Validator(
        lambda v: isinstance(v, list)
        and len(v) in (2, 3)
        and isinstance(v[-1], dict)
        and (isinstance(v[0], str) or _is_int(v[0])),
        "[operation, parameters] or [operation, identifier, parameters]",
    )
)

#: Disks of OP_INSTANCE_RECREATE_DISKS: indices or [index, parameters].
t_recreate_disks = t_list_of(
    t_or(t_non_negative_int, t_tuple_of(t_non_negative_int, t_dict))
)


# -- Parameters and opcode definitions ---------------------------------------------


class _Required:
    def __repr__(self):
        return "REQUIRED"


#: Default of a parameter that must be given.
REQUIRED = _Required()


class Param:
    """One opcode parameter: name, validator, default (or L{REQUIRED}), doc."""

    __slots__ = ("name", "validator", "default", "doc")

    def __init__(self, name, validator, default=REQUIRED, doc=""):
        self.name = name
        self.validator = validator
        self.default = default
        self.doc = doc

    @property
    def required(self):
        return self.default is REQUIRED

    def with_default(self, default):
        """This parameter with another default."""
        return Param(self.name, self.validator, default, self.doc)

    def __repr__(self):
        return "<Param %s default=%r>" % (self.name, self.default)


def _opt(name, validator, doc=""):
    """An optional parameter: null allowed, null by default."""
    return Param(name, t_maybe(validator), None, doc)


class OpcodeDef:
    """The definition of one opcode.

    @ivar op_id: e.g. C{"OP_GROUP_ADD"}.
    @ivar own_params: the opcode's own L{Param}s.
    @ivar params: own parameters followed by the L{COMMON_PARAMS}.
    @ivar dsc_field: the parameter shown in the job summary, or None.
    """

    def __init__(self, op_id, params, dsc_field=None, doc=""):
        self.op_id = op_id
        self.own_params = tuple(params)
        self.params = self.own_params + COMMON_PARAMS
        self.by_name = {p.name: p for p in self.params}
        if len(self.by_name) != len(self.params):
            raise ValueError("duplicate parameter in %s" % op_id)
        if dsc_field is not None and dsc_field not in self.by_name:
            raise ValueError("%s: unknown summary field %s" % (op_id, dsc_field))
        self.dsc_field = dsc_field
        self.doc = doc

    @property
    def param_names(self):
        return frozenset(self.by_name)

    def __repr__(self):
        return "<OpcodeDef %s>" % (self.op_id,)


#: Parameters every opcode accepts (Ganeti's base C{OpCode}).
COMMON_PARAMS = (
    Param("dry_run", t_maybe(t_bool), False, "Run checks only, change nothing"),
    Param(
        "debug_level", t_maybe(t_non_negative_int), 0, "Debug level (0 = none)"
    ),
    Param(
        "priority",
        t_int_range(OP_PRIO_HIGHEST, OP_PRIO_LOWEST),
        OP_PRIO_DEFAULT,
        "Opcode priority; -10, 0 or 10 when submitted",
    ),
    Param(
        "depends",
        t_maybe(t_list_of(t_job_dependency)),
        None,
        "Jobs this one waits for: [[job id, [final statuses]], ...]",
    ),
    Param("comment", t_maybe(t_str), None, "Free-form comment"),
    Param("reason", t_reason_trail, [], "Reason trail"),
)

# Parameters shared by many opcodes.
_p_instance_name = Param("instance_name", t_str, REQUIRED, "Instance name")
_p_instance_uuid = _opt("instance_uuid", t_str, "Instance UUID")
_p_node_name = Param("node_name", t_str, REQUIRED, "Node name")
_p_node_uuid = _opt("node_uuid", t_str, "Node UUID")
_p_group_name = Param("group_name", t_str, REQUIRED, "Node group name")
_p_network_name = Param("network_name", t_str, REQUIRED, "Network name")
_p_new_name = Param("new_name", t_str, REQUIRED, "New name")
_p_force = Param("force", t_bool, False, "Whether to force the operation")
_p_shutdown_timeout = Param(
    "shutdown_timeout",
    t_non_negative_int,
    DEFAULT_SHUTDOWN_TIMEOUT,
    "Seconds to wait for an instance to shut down",
)
_p_ignore_ipolicy = Param(
    "ignore_ipolicy", t_bool, False, "Whether to ignore instance policy violations"
)
_p_iallocator = _opt("iallocator", t_str, "Instance allocator to use")
_p_early_release = Param(
    "early_release", t_bool, False, "Release locks as early as possible"
)
_p_wait_for_sync = Param(
    "wait_for_sync", t_bool, True, "Whether to wait for disks to synchronize"
)
_p_use_locking = Param("use_locking", t_bool, False, "Whether to use locking")
_p_tag_kind = Param("kind", t_tag_kind, REQUIRED, "Kind of the tagged object")
_p_tag_name = _opt("name", t_str, "Name of the tagged object (not for cluster)")
_p_tags_req = Param("tags", t_tags, REQUIRED, "Tags")
_p_conflicts_check = Param(
    "conflicts_check", t_bool, True, "Check for conflicting IP addresses"
)
_p_target_node = _opt("target_node", t_str, "Target node")
_p_target_node_uuid = _opt("target_node_uuid", t_str, "Target node UUID")
_p_remote_node = _opt("remote_node", t_str, "New secondary node")
_p_remote_node_uuid = _opt("remote_node_uuid", t_str, "New secondary node UUID")
_p_migration_mode = _opt("mode", t_migration_mode, "Migration mode")
_p_live = _opt("live", t_bool, "Live migration (deprecated; use mode)")
_p_allow_runtime_changes = Param(
    "allow_runtime_changes", t_bool, True, "Allow runtime changes (e.g. memory)"
)
_p_cleanup = Param("cleanup", t_bool, False, "Clean up a failed migration")
_p_hvparams_obj = Param("hvparams", t_dict, {}, "Hypervisor parameters")
_p_beparams_obj = Param("beparams", t_dict, {}, "Backend parameters")
_p_osparams_obj = Param("osparams", t_dict, {}, "OS parameters")
_p_osparams_private = _opt("osparams_private", t_dict, "Private OS parameters")
_p_osparams_secret = _opt("osparams_secret", t_dict, "Secret OS parameters")
_p_force_variant = Param(
    "force_variant", t_bool, False, "Accept an unknown OS variant"
)
_p_compress = Param("compress", t_str, "none", "Compression tool for transfers")
_p_ndparams = _opt("ndparams", t_dict, "Node parameters")
_p_diskparams = _opt("diskparams", t_obj_of_obj, "Disk parameters per template")
_p_hv_state = _opt("hv_state", t_dict, "Hypervisor state")
_p_disk_state = _opt("disk_state", t_dict, "Disk state")
_p_ipolicy = _opt("ipolicy", t_dict, "Instance policy")
_p_alloc_policy = _opt("alloc_policy", t_alloc_policy, "Allocation policy")
_p_storage_type_req = Param("storage_type", t_storage_type, REQUIRED, "Storage type")
_p_storage_name = _opt("name", t_str, "Storage unit name")
_p_output_fields = Param("output_fields", t_str_list, REQUIRED, "Fields to return")
_p_gateway = _opt("gateway", t_ipv4, "IPv4 gateway")
_p_network6 = _opt("network6", t_ipv6_network, "IPv6 network")
_p_gateway6 = _opt("gateway6", t_ipv6, "IPv6 gateway")
_p_mac_prefix = _opt("mac_prefix", t_str, "MAC prefix of the network")
_p_add_reserved_ips = _opt(
    "add_reserved_ips", t_list_of(t_ipv4), "Addresses to reserve"
)


def _opcodes():
    """All opcode definitions, from Ganeti's newest opcode list."""
    P, O = Param, _opt
    return [
        # -- Cluster ---------------------------------------------------------
        OpcodeDef(
            "OP_CLUSTER_REDIST_CONF",
            [],
            doc="Copy the configuration to all master candidates",
        ),
        OpcodeDef(
            "OP_CLUSTER_SET_PARAMS",
            [
                _p_force,
                _p_hv_state,
                _p_disk_state,
                O("vg_name", t_str, "Volume group name"),
                O("enabled_hypervisors", t_list_of(t_hypervisor), "Hypervisors"),
                O("hvparams", t_obj_of_obj, "Hypervisor parameters"),
                O("beparams", t_dict, "Backend parameters"),
                O("os_hvp", t_obj_of_obj, "Per-OS hypervisor parameters"),
                O("osparams", t_obj_of_obj, "Per-OS parameters"),
                O(
                    "osparams_private_cluster",
                    t_obj_of_obj,
                    "Per-OS private parameters",
                ),
                O("diskparams", t_obj_of_obj, "Disk parameters per template"),
                O("candidate_pool_size", t_positive_int, "Master candidates"),
                O("max_running_jobs", t_positive_int, "Jobs running at once"),
                O("max_tracked_jobs", t_positive_int, "Jobs tracked at once"),
                O("uid_pool", t_uid_range_list, "User-id pool"),
                O("add_uids", t_uid_range_list, "User-id ranges to add"),
                O("remove_uids", t_uid_range_list, "User-id ranges to remove"),
                O("maintain_node_health", t_bool, "Maintain node health"),
                O("prealloc_wipe_disks", t_bool, "Wipe disks before use"),
                O("nicparams", t_dict, "NIC parameters"),
                _p_ndparams,
                _p_ipolicy,
                O("drbd_helper", t_str, "DRBD usermode helper"),
                O("default_iallocator", t_str, "Default instance allocator"),
                O("default_iallocator_params", t_dict, "Allocator parameters"),
                O("mac_prefix", t_str, "MAC prefix"),
                O("master_netdev", t_str, "Master network device"),
                O("master_netmask", t_non_negative_int, "Master netmask"),
                O("reserved_lvs", t_str_list, "Reserved logical volumes"),
                O("hidden_os", t_os_mod_list, "[[add|remove, os], ...]"),
                O("blacklisted_os", t_os_mod_list, "[[add|remove, os], ...]"),
                O("use_external_mip_script", t_bool, "External master IP script"),
                O(
                    "enabled_disk_templates",
                    t_list_of(t_disk_template),
                    "Enabled disk templates",
                ),
                O("modify_etc_hosts", t_bool, "Maintain /etc/hosts"),
                O("file_storage_dir", t_str, "File storage directory"),
                O("shared_file_storage_dir", t_str, "Shared file storage directory"),
                O("gluster_storage_dir", t_str, "Gluster storage directory"),
                O("install_image", t_str, "Installation image"),
                O("instance_communication_network", t_str, "Network name"),
                O("zeroing_image", t_str, "Zeroing image"),
                O("compression_tools", t_str_list, "Compression tools"),
                O("enabled_user_shutdown", t_bool, "Allow user shutdown"),
                O(
                    "enabled_data_collectors",
                    t_dict_of(t_str, t_bool),
                    "Data collectors to enable or disable",
                ),
                O(
                    "data_collector_interval",
                    t_dict_of(t_str, t_int),
                    "Data collector intervals (microseconds)",
                ),
            ],
            doc="Change cluster parameters",
        ),
        # -- OS and tags --------------------------------------------------------
        OpcodeDef(
            "OP_OS_DIAGNOSE",
            [_p_output_fields, P("names", t_str_list, [], "OS names")],
            doc="Query the OS definitions",
        ),
        OpcodeDef(
            "OP_TAGS_GET",
            [_p_tag_kind, _p_use_locking, _p_tag_name],
            dsc_field="name",
            doc="Return an object's tags",
        ),
        OpcodeDef(
            "OP_TAGS_SET",
            [_p_tag_kind, _p_tags_req, _p_tag_name],
            doc="Add tags to an object",
        ),
        OpcodeDef(
            "OP_TAGS_DEL",
            [_p_tag_kind, _p_tags_req, _p_tag_name],
            doc="Remove tags from an object",
        ),
        # -- Instances ------------------------------------------------------------
        OpcodeDef(
            "OP_INSTANCE_CREATE",
            [
                _p_instance_name,
                _p_force_variant,
                _p_wait_for_sync,
                P("name_check", t_bool, False, "Check the name resolves"),
                _p_ignore_ipolicy,
                P("opportunistic_locking", t_bool, False, "Lock only free nodes"),
                _p_beparams_obj,
                P("disks", t_list_of(t_dict), REQUIRED, "Disk definitions"),
                O("disk_template", t_disk_template, "Disk template"),
                O("group_name", t_str, "Node group to allocate in"),
                O("file_driver", t_file_driver, "File driver"),
                O("file_storage_dir", t_str, "Directory for file disks"),
                _p_hvparams_obj,
                O("hypervisor", t_hypervisor, "Hypervisor"),
                _p_iallocator,
                P("identify_defaults", t_bool, False, "Drop values equal to defaults"),
                P("ip_check", t_bool, False, "Check the IP is not in use"),
                _p_conflicts_check,
                P(
                    "mode",
                    t_one_of("create", "import", "remote-import"),
                    REQUIRED,
                    "Creation mode",
                ),
                P("nics", t_list_of(t_dict), REQUIRED, "NIC definitions"),
                O("no_install", t_bool, "Do not run the OS installation"),
                _p_osparams_obj,
                _p_osparams_private,
                _p_osparams_secret,
                O("os_type", t_str, "Operating system"),
                O("pnode", t_str, "Primary node"),
                O("pnode_uuid", t_str, "Primary node UUID"),
                O("snode", t_str, "Secondary node"),
                O("snode_uuid", t_str, "Secondary node UUID"),
                O("source_handshake", t_list, "Remote import handshake"),
                O("source_instance_name", t_str, "Remote import source name"),
                P(
                    "source_shutdown_timeout",
                    t_non_negative_int,
                    DEFAULT_SHUTDOWN_TIMEOUT,
                    "Remote import source shutdown timeout",
                ),
                O("source_x509_ca", t_str, "Remote import source CA"),
                O("src_node", t_str, "Import source node"),
                O("src_node_uuid", t_str, "Import source node UUID"),
                O("src_path", t_str, "Import source path"),
                _p_compress,
                P("start", t_bool, True, "Start the instance after creation"),
                P("forthcoming", t_bool, False, "Only reserve resources"),
                P("commit", t_bool, False, "Commit a forthcoming instance"),
                P("tags", t_tags, [], "Instance tags"),
                P(
                    "instance_communication",
                    t_bool,
                    False,
                    "Enable instance communication",
                ),
                O("helper_startup_timeout", t_int, "Helper VM startup timeout"),
                O("helper_shutdown_timeout", t_int, "Helper VM shutdown timeout"),
            ],
            dsc_field="instance_name",
            doc="Create an instance",
        ),
        OpcodeDef(
            "OP_INSTANCE_MULTI_ALLOC",
            [
                P("opportunistic_locking", t_bool, False, "Lock only free nodes"),
                _p_iallocator,
                P("instances", t_list, [], "OP_INSTANCE_CREATE opcodes"),
            ],
            doc="Allocate several instances at once",
        ),
        OpcodeDef(
            "OP_INSTANCE_REMOVE",
            [
                _p_instance_name,
                _p_instance_uuid,
                _p_shutdown_timeout,
                P("ignore_failures", t_bool, False, "Continue on failures"),
            ],
            dsc_field="instance_name",
            doc="Remove an instance",
        ),
        OpcodeDef(
            "OP_INSTANCE_QUERY_DATA",
            [
                _p_use_locking,
                P("instances", t_str_list, [], "Instance names (all if empty)"),
                P("static", t_bool, False, "Configuration data only, no live data"),
            ],
            doc="Detailed instance information",
        ),
        OpcodeDef(
            "OP_INSTANCE_REBOOT",
            [
                _p_instance_name,
                _p_instance_uuid,
                _p_shutdown_timeout,
                P("ignore_secondaries", t_bool, False, "Ignore secondary nodes"),
                P(
                    "reboot_type",
                    t_one_of("soft", "hard", "full"),
                    REQUIRED,
                    "Kind of reboot",
                ),
            ],
            dsc_field="instance_name",
            doc="Reboot an instance",
        ),
        OpcodeDef(
            "OP_INSTANCE_STARTUP",
            [
                _p_instance_name,
                _p_instance_uuid,
                _p_force,
                P("ignore_offline_nodes", t_bool, False, "Ignore offline nodes"),
                _p_hvparams_obj,
                _p_beparams_obj,
                P("no_remember", t_bool, False, "Do not record the new state"),
                P("startup_paused", t_bool, False, "Start paused"),
                _p_shutdown_timeout,
            ],
            dsc_field="instance_name",
            doc="Start an instance",
        ),
        OpcodeDef(
            "OP_INSTANCE_SHUTDOWN",
            [
                _p_instance_name,
                _p_instance_uuid,
                _p_force,
                P("ignore_offline_nodes", t_bool, False, "Ignore offline nodes"),
                P(
                    "timeout",
                    t_non_negative_int,
                    DEFAULT_SHUTDOWN_TIMEOUT,
                    "Seconds to wait for the shutdown",
                ),
                P("no_remember", t_bool, False, "Do not record the new state"),
                O(
                    "admin_state_source",
                    t_one_of(*defaults.ADMIN_STATE_SOURCES),
                    "Who shuts the instance down",
                ),
            ],
            dsc_field="instance_name",
            doc="Shut an instance down",
        ),
        OpcodeDef(
            "OP_INSTANCE_REINSTALL",
            [
                _p_instance_name,
                _p_instance_uuid,
                _p_force_variant,
                O("os_type", t_str, "New operating system"),
                O("osparams", t_dict, "OS parameters"),
                _p_osparams_private,
                _p_osparams_secret,
            ],
            dsc_field="instance_name",
            doc="Reinstall an instance's OS",
        ),
        OpcodeDef(
            "OP_INSTANCE_REPLACE_DISKS",
            [
                _p_instance_name,
                _p_instance_uuid,
                _p_early_release,
                _p_ignore_ipolicy,
                P(
                    "mode",
                    t_one_of(
                        "replace_on_primary",
                        "replace_on_secondary",
                        "replace_new_secondary",
                        "replace_auto",
                    ),
                    REQUIRED,
                    "Replacement mode",
                ),
                P("disks", t_list_of(t_non_negative_int), [], "Disk indices"),
                _p_remote_node,
                _p_remote_node_uuid,
                _p_iallocator,
            ],
            dsc_field="instance_name",
            doc="Replace an instance's disks",
        ),
        OpcodeDef(
            "OP_INSTANCE_ACTIVATE_DISKS",
            [
                _p_instance_name,
                _p_instance_uuid,
                P("ignore_size", t_bool, False, "Ignore recorded disk sizes"),
                P("wait_for_sync", t_bool, False, "Wait for disks to sync"),
            ],
            dsc_field="instance_name",
            doc="Activate an instance's disks",
        ),
        OpcodeDef(
            "OP_INSTANCE_DEACTIVATE_DISKS",
            [_p_instance_name, _p_instance_uuid, _p_force],
            dsc_field="instance_name",
            doc="Deactivate an instance's disks",
        ),
        OpcodeDef(
            "OP_INSTANCE_RECREATE_DISKS",
            [
                _p_instance_name,
                _p_instance_uuid,
                P("disks", t_recreate_disks, [], "Disks to recreate"),
                P("nodes", t_str_list, [], "New nodes"),
                O("node_uuids", t_str_list, "New node UUIDs"),
                _p_iallocator,
            ],
            dsc_field="instance_name",
            doc="Recreate an instance's disks",
        ),
        OpcodeDef(
            "OP_INSTANCE_GROW_DISK",
            [
                _p_instance_name,
                _p_instance_uuid,
                _p_wait_for_sync,
                P("disk", t_non_negative_int, REQUIRED, "Disk index"),
                P("amount", t_non_negative_int, REQUIRED, "Amount (MiB)"),
                P("absolute", t_bool, False, "Amount is the new size"),
                _p_ignore_ipolicy,
            ],
            dsc_field="instance_name",
            doc="Grow a disk of an instance",
        ),
        OpcodeDef(
            "OP_BACKUP_PREPARE",
            [
                _p_instance_name,
                _p_instance_uuid,
                P("mode", t_one_of("local", "remote"), REQUIRED, "Export mode"),
            ],
            dsc_field="instance_name",
            doc="Prepare an instance export",
        ),
        OpcodeDef(
            "OP_BACKUP_EXPORT",
            [
                _p_instance_name,
                _p_instance_uuid,
                _p_compress,
                _p_shutdown_timeout,
                P(
                    "target_node",
                    t_or(t_str, t_list),
                    REQUIRED,
                    "Target node, or a list for remote exports",
                ),
                O("target_node_uuid", t_str, "Target node UUID"),
                P("shutdown", t_bool, True, "Shut the instance down first"),
                P("remove_instance", t_bool, False, "Remove the instance after"),
                P(
                    "ignore_remove_failures",
                    t_bool,
                    False,
                    "Ignore failures removing the instance",
                ),
                P("mode", t_one_of("local", "remote"), REQUIRED, "Export mode"),
                O("x509_key_name", t_list, "X509 key name (remote)"),
                O("destination_x509_ca", t_str, "Destination CA (remote)"),
                P("zero_free_space", t_bool, False, "Zero free space first"),
                O("zeroing_timeout_fixed", t_int, "Fixed zeroing timeout"),
                O("zeroing_timeout_per_mib", t_float, "Zeroing timeout per MiB"),
                P("long_sleep", t_bool, False, "Allow long sleeps"),
            ],
            dsc_field="instance_name",
            doc="Export an instance",
        ),
        OpcodeDef(
            "OP_BACKUP_REMOVE",
            [_p_instance_name, _p_instance_uuid],
            dsc_field="instance_name",
            doc="Remove an instance's export",
        ),
        OpcodeDef(
            "OP_INSTANCE_MIGRATE",
            [
                _p_instance_name,
                _p_instance_uuid,
                _p_migration_mode,
                _p_live,
                _p_target_node,
                _p_target_node_uuid,
                _p_allow_runtime_changes,
                _p_ignore_ipolicy,
                _p_cleanup,
                _p_iallocator,
                P("allow_failover", t_bool, False, "Fail over if migration fails"),
                P("ignore_hvversions", t_bool, False, "Ignore hypervisor versions"),
            ],
            dsc_field="instance_name",
            doc="Migrate an instance",
        ),
        OpcodeDef(
            "OP_INSTANCE_FAILOVER",
            [
                _p_instance_name,
                _p_instance_uuid,
                _p_shutdown_timeout,
                P("ignore_consistency", t_bool, False, "Ignore disk consistency"),
                _p_target_node,
                _p_target_node_uuid,
                _p_ignore_ipolicy,
                _p_cleanup,
                _p_iallocator,
            ],
            dsc_field="instance_name",
            doc="Fail an instance over",
        ),
        OpcodeDef(
            "OP_INSTANCE_RENAME",
            [
                _p_instance_name,
                _p_instance_uuid,
                _p_new_name,
                P("name_check", t_bool, False, "Check the name resolves"),
                P("ip_check", t_bool, False, "Check the IP is not in use"),
            ],
            doc="Rename an instance",
        ),
        OpcodeDef(
            "OP_INSTANCE_SET_PARAMS",
            [
                _p_instance_name,
                _p_instance_uuid,
                _p_force,
                _p_force_variant,
                _p_ignore_ipolicy,
                P("nics", t_set_params_mods, [], "NIC modifications"),
                P("disks", t_set_params_mods, [], "Disk modifications"),
                _p_beparams_obj,
                O("runtime_mem", t_positive_int, "Memory to balloon to (MiB)"),
                _p_hvparams_obj,
                O("disk_template", t_disk_template, "New disk template"),
                P("ext_params", t_dict, {}, "ext template parameters"),
                O("file_driver", t_file_driver, "File driver"),
                O("file_storage_dir", t_str, "Directory for file disks"),
                O("pnode", t_str, "New primary node"),
                O("pnode_uuid", t_str, "New primary node UUID"),
                _p_remote_node,
                _p_remote_node_uuid,
                _p_iallocator,
                O("os_name", t_str, "New operating system"),
                _p_osparams_obj,
                _p_osparams_private,
                _p_wait_for_sync,
                O("offline", t_bool, "Mark offline or online"),
                _p_conflicts_check,
                # Ganeti's default is true; null (not given) is kept apart
                # from an explicit true: see units.hotplug's check_hotplug.
                O("hotplug", t_bool, "Hot-plug NIC and disk changes (default: true)"),
                P("hotplug_if_possible", t_bool, False,
                  "Hot-plug NIC and disk changes if the hypervisor can"),
                O("instance_communication", t_bool, "Instance communication"),
            ],
            dsc_field="instance_name",
            doc="Change an instance's parameters",
        ),
        OpcodeDef(
            "OP_INSTANCE_CONSOLE",
            [_p_instance_name, _p_instance_uuid],
            dsc_field="instance_name",
            doc="How to reach an instance's console",
        ),
        # -- Nodes ------------------------------------------------------------------
        OpcodeDef(
            "OP_NODE_POWERCYCLE",
            [_p_node_name, _p_node_uuid, _p_force],
            dsc_field="node_name",
            doc="Power-cycle a node",
        ),
        OpcodeDef(
            "OP_NODE_SET_PARAMS",
            [
                _p_node_name,
                _p_node_uuid,
                _p_force,
                _p_hv_state,
                _p_disk_state,
                O("master_candidate", t_bool, "Master candidate flag"),
                O("offline", t_bool, "Offline flag"),
                O("drained", t_bool, "Drained flag"),
                P("auto_promote", t_bool, False, "Promote other nodes if needed"),
                O("master_capable", t_bool, "Master capable flag"),
                O("vm_capable", t_bool, "VM capable flag"),
                O("secondary_ip", t_str, "New secondary IP"),
                _p_ndparams,
                O("powered", t_bool, "Powered flag"),
            ],
            dsc_field="node_name",
            doc="Change a node's parameters",
        ),
        OpcodeDef(
            "OP_NODE_EVACUATE",
            [
                _p_early_release,
                _p_node_name,
                _p_node_uuid,
                _p_remote_node,
                _p_remote_node_uuid,
                _p_iallocator,
                P(
                    "mode",
                    t_one_of("primary-only", "secondary-only", "all"),
                    REQUIRED,
                    "Which instances to evacuate",
                ),
                O("ignore_soft_errors", t_bool, "Ignore soft allocator errors"),
            ],
            dsc_field="node_name",
            doc="Move instances off a node",
        ),
        OpcodeDef(
            "OP_NODE_MIGRATE",
            [
                _p_node_name,
                _p_node_uuid,
                _p_migration_mode,
                _p_live,
                _p_target_node,
                _p_target_node_uuid,
                _p_allow_runtime_changes,
                _p_ignore_ipolicy,
                _p_iallocator,
            ],
            dsc_field="node_name",
            doc="Migrate all primary instances off a node",
        ),
        OpcodeDef(
            "OP_NODE_QUERY_STORAGE",
            [
                _p_output_fields,
                O("storage_type", t_storage_type, "Storage type"),
                P("nodes", t_str_list, [], "Node names (all if empty)"),
                _p_storage_name,
            ],
            doc="Query storage units",
        ),
        OpcodeDef(
            "OP_NODE_MODIFY_STORAGE",
            [
                _p_node_name,
                _p_node_uuid,
                _p_storage_type_req,
                _p_storage_name,
                P("changes", t_dict, REQUIRED, "Changes to make"),
            ],
            dsc_field="node_name",
            doc="Modify a storage unit",
        ),
        OpcodeDef(
            "OP_REPAIR_NODE_STORAGE",
            [
                _p_node_name,
                _p_node_uuid,
                _p_storage_type_req,
                _p_storage_name,
                P("ignore_consistency", t_bool, False, "Ignore consistency"),
            ],
            dsc_field="node_name",
            doc="Repair a storage unit",
        ),
        # -- Node groups ----------------------------------------------------------
        OpcodeDef(
            "OP_GROUP_ADD",
            [
                _p_group_name,
                _p_alloc_policy,
                _p_ndparams,
                _p_diskparams,
                _p_hv_state,
                _p_disk_state,
                _p_ipolicy,
            ],
            dsc_field="group_name",
            doc="Add a node group",
        ),
        OpcodeDef(
            "OP_GROUP_REMOVE",
            [_p_group_name],
            dsc_field="group_name",
            doc="Remove an empty node group",
        ),
        OpcodeDef(
            "OP_GROUP_SET_PARAMS",
            [
                _p_group_name,
                _p_alloc_policy,
                _p_ndparams,
                _p_diskparams,
                _p_hv_state,
                _p_disk_state,
                _p_ipolicy,
            ],
            dsc_field="group_name",
            doc="Change a node group's parameters",
        ),
        OpcodeDef(
            "OP_GROUP_RENAME",
            [_p_group_name, _p_new_name],
            doc="Rename a node group",
        ),
        OpcodeDef(
            "OP_GROUP_ASSIGN_NODES",
            [
                _p_group_name,
                _p_force,
                P("nodes", t_str_list, REQUIRED, "Node names"),
                O("node_uuids", t_str_list, "Node UUIDs"),
            ],
            dsc_field="group_name",
            doc="Move nodes into a node group",
        ),
        # -- Networks -------------------------------------------------------------
        OpcodeDef(
            "OP_NETWORK_ADD",
            [
                _p_network_name,
                P("network", t_ipv4_network, REQUIRED, "IPv4 network"),
                _p_gateway,
                _p_network6,
                _p_gateway6,
                _p_mac_prefix,
                _p_add_reserved_ips,
                _p_conflicts_check,
                P("tags", t_tags, [], "Network tags"),
            ],
            dsc_field="network_name",
            doc="Add a network",
        ),
        OpcodeDef(
            "OP_NETWORK_REMOVE",
            [_p_network_name, _p_force],
            dsc_field="network_name",
            doc="Remove a network",
        ),
        OpcodeDef(
            "OP_NETWORK_CONNECT",
            [
                _p_group_name,
                _p_network_name,
                P("network_mode", t_nic_mode, REQUIRED, "NIC mode"),
                P("network_link", t_str, REQUIRED, "NIC link"),
                P("network_vlan", t_str, "", "VLAN"),
                _p_conflicts_check,
            ],
            dsc_field="network_name",
            doc="Connect a network to a node group",
        ),
        OpcodeDef(
            "OP_NETWORK_DISCONNECT",
            [_p_group_name, _p_network_name],
            dsc_field="network_name",
            doc="Disconnect a network from a node group",
        ),
        OpcodeDef(
            "OP_NETWORK_SET_PARAMS",
            [
                _p_network_name,
                _p_gateway,
                _p_network6,
                _p_gateway6,
                _p_mac_prefix,
                _p_add_reserved_ips,
                O("remove_reserved_ips", t_list_of(t_ipv4), "Addresses to release"),
            ],
            dsc_field="network_name",
            doc="Change a network's parameters",
        ),
        OpcodeDef(
            "OP_NETWORK_RENAME",
            [_p_network_name, _p_new_name],
            doc="Rename a network",
        ),
        # -- Queries ----------------------------------------------------------------
        OpcodeDef(
            "OP_QUERY",
            [
                P("what", t_query_resource, REQUIRED, "Resource to query"),
                _p_use_locking,
                P("fields", t_str_list, REQUIRED, "Fields to return"),
                O("qfilter", t_list, "Query filter"),
            ],
            dsc_field="what",
            doc="Query a resource",
        ),
        OpcodeDef(
            "OP_QUERY_FIELDS",
            [
                P("what", t_query_resource, REQUIRED, "Resource to query"),
                O("fields", t_str_list, "Fields to describe (all if null)"),
            ],
            dsc_field="what",
            doc="Describe the fields of a resource",
        ),
        # -- Testing (not reachable through the RAPI) ------------------------------
        OpcodeDef(
            "OP_NODE_ADD",
            [
                _p_node_name,
                _opt("primary_ip", t_str, "Primary IP address"),
                _opt("secondary_ip", t_str, "Secondary IP address"),
                Param("readd", t_bool, False, "Whether the node is re-added"),
                _opt("group", t_str, "Node group of the new node"),
                _opt("master_capable", t_bool, "Whether it may become master candidate"),
                _opt("vm_capable", t_bool, "Whether it may host instances"),
                _p_ndparams,
                _p_hv_state,
                _p_disk_state,
                Param(
                    "rpc_port",
                    t_int_range(1, 65535),
                    1811,
                    "Port of the node daemon (not in Ganeti, where it is fixed)",
                ),
            ],
            dsc_field="node_name",
            doc="Add a node to the cluster (not reachable through the RAPI)",
        ),
        OpcodeDef(
            "OP_NODE_REMOVE",
            [_p_node_name, _opt("node_uuid", t_str, "Node UUID")],
            dsc_field="node_name",
            doc="Remove a node from the cluster (not reachable through the RAPI)",
        ),
        OpcodeDef(
            "OP_TEST_DELAY",
            [
                P("duration", t_float, REQUIRED, "Seconds to sleep"),
                P("on_master", t_bool, True, "Sleep on the master"),
                P("on_nodes", t_str_list, [], "Nodes to sleep on"),
                O("on_node_uuids", t_str_list, "UUIDs of nodes to sleep on"),
                P("repeat", t_non_negative_int, 0, "Repetitions"),
                P("interruptible", t_bool, False, "Whether it can be interrupted"),
                P("no_locks", t_bool, True, "Run without locks"),
            ],
            doc="Sleep for a while (job queue tests)",
        ),
    ]


#: All opcode definitions by OP_ID.
OPCODES = {op.op_id: op for op in _opcodes()}


def opcode_def(op_id):
    """The L{OpcodeDef} of C{op_id}.

    @raise OpcodeValidationError: if there is no such opcode.
    """
    try:
        return OPCODES[op_id]
    except (KeyError, TypeError):
        raise OpcodeValidationError("Unknown opcode %s" % (_show(op_id),)) from None


# -- Building opcodes ---------------------------------------------------------------


def _show(value, limit=80):
    """A short JSON rendering of C{value} for error messages."""
    try:
        text = json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def _body_type(value):
    for cls, name in ((dict, "dict"), (list, "list"), (str, "str"), (bool, "bool")):
        if isinstance(value, cls):
            return name
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return type(value).__name__


def _copy_default(value):
    if isinstance(value, dict):
        return {k: _copy_default(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_default(v) for v in value]
    return value


def apply_renames(params, renames):
    """C{params} with old parameter names replaced by new ones.

    @param renames: C{{old: new}}, e.g. C{{"name": "instance_name"}}.
    @return: a new dict (C{params} is not changed); None counts as C{{}}.
    @raise OpcodeValidationError: if a body gives both the old and the new
        name of a parameter.
    """
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise OpcodeValidationError(
            "Body contents: Type is '%s', but 'dict' is expected" % _body_type(params)
        )
    result = dict(params)
    for old, new in renames.items():
        if old in result:
            if new in result:
                raise OpcodeValidationError(
                    "Parameter '%s' was renamed to '%s', but both are given"
                    % (old, new)
                )
            result[new] = result.pop(old)
    return result


def make_opcode(op_id, params, static=None):
    """A complete, validated opcode dict from request parameters.

    @param params: the body's parameters (a dict, or None for none).
    @param static: values fixed by the URL or query string; the body may
        not contain them.
    @return: C{{"OP_ID": op_id, <every parameter>: <value or default>}}.
    @raise OpcodeValidationError: if the body is not an object, overwrites a
        static value, has unknown keys, lacks a required parameter or has a
        value of the wrong type.
    """
    definition = opcode_def(op_id)
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise OpcodeValidationError(
            "Body contents: Type is '%s', but 'dict' is expected" % _body_type(params)
        )
    static = static or {}
    overwritten = sorted(set(params) & set(static))
    if overwritten:
        raise OpcodeValidationError(
            "Can't overwrite static parameters: %s" % ", ".join(overwritten)
        )
    values = dict(params)
    values.update(static)
    unknown = sorted(k for k in values if k not in definition.by_name)
    if unknown:
        raise OpcodeValidationError(
            "Invalid body parameters: %s doesn't support the parameter(s) %s"
            % (op_id, ", ".join("'%s'" % k for k in unknown))
        )
    op = {"OP_ID": op_id}
    for param in definition.params:
        value = values.get(param.name)
        if value is None:
            if param.required:
                if not param.validator(None):
                    raise OpcodeValidationError(
                        "Invalid body parameters: Required parameter '%s.%s' is missing"
                        % (op_id, param.name)
                    )
            else:
                value = _copy_default(param.default)
        if not param.validator(value):
            raise OpcodeValidationError(
                "Invalid body parameters: Parameter '%s.%s' fails validation:"
                " expected %s, got %s"
                % (op_id, param.name, param.validator.description, _show(value))
            )
        op[param.name] = param.validator.normalize(value)
    if op["priority"] not in OP_PRIO_SUBMIT_VALID:
        raise OpcodeValidationError(
            "Invalid body parameters: Parameter '%s.priority' fails validation:"
            " expected one of %s, got %s"
            % (
                op_id,
                ", ".join(str(p) for p in OP_PRIO_SUBMIT_VALID),
                _show(op["priority"]),
            )
        )
    return op


def summarize(op):
    """The job-summary text of opcode dict C{op}.

    C{OP_ID} without its C{OP_} prefix, followed by the summary field's
    value in parentheses when the opcode has one and it is set: e.g.
    C{GROUP_ADD(g1)}, C{TAGS_SET}, C{CLUSTER_REDIST_CONF}.  List values are
    joined with commas.
    """
    op_id = op.get("OP_ID", "")
    text = op_id[3:] if op_id.startswith("OP_") else op_id
    definition = OPCODES.get(op_id)
    if definition is None or definition.dsc_field is None:
        return text
    value = op.get(definition.dsc_field)
    if value is None:
        return text
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    return "%s(%s)" % (text, value)
