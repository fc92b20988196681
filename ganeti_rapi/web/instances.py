# -*- test-case-name: tests.test_web_instances -*-
"""C{/2/instances}, C{/2/instances-multi-alloc} and everything below
C{/2/instances/[instance_name]}.

Creation bodies are normalised before the opcode sees them, because the
clients in use send what Ganeti's own command line would accept: sizes as
unit strings (C{"20G"}), counts as numeric strings from HTML forms
(C{"2"}), and C{null} for every optional parameter they leave unset.
"""

import math
import re
from fractions import Fraction

from twisted.internet import defer

from ganeti_rapi import errors
from ganeti_rapi.web.base import READ_OR_WRITE, ApiResource, NotFoundResource
from ganeti_rapi.web.names import parse_name, parse_number
from ganeti_rapi.web.submit import (
    OpcodeResource,
    apply_renames,
    body_object,
    depends_only,
)
from ganeti_rapi.web.tags import TagsResource

#: Fields of an instance in bulk listings and single GETs (Ganeti's I_FIELDS).
#: The engine's C{beparams} already carries C{memory}, a copy of C{maxmem}.
INSTANCE_FIELDS = [
    "name", "admin_state", "os", "pnode", "snodes", "disk_template",
    "nic.ips", "nic.macs", "nic.modes", "nic.uuids", "nic.names", "nic.links",
    "nic.networks", "nic.networks.names", "nic.bridges", "network_port",
    "disk.sizes", "disk.spindles", "disk_usage", "disk.uuids", "disk.names",
    "beparams", "hvparams", "oper_state", "oper_ram", "oper_vcpus", "status",
    "custom_hvparams", "custom_beparams", "custom_nicparams", "custom_osparams",
    "ctime", "mtime", "uuid", "serial_no", "tags",
]

#: Old body names of OP_INSTANCE_CREATE parameters.
CREATE_RENAMES = {"name": "instance_name", "os": "os_type"}

#: Old body names of OP_INSTANCE_SET_PARAMS parameters.
MODIFY_RENAMES = {"custom_beparams": "beparams", "custom_hvparams": "hvparams"}

#: Backend parameters holding a size in MiB, and those holding a count.
BE_SIZES = ("maxmem", "minmem", "memory")
BE_COUNTS = ("vcpus", "spindle_use")

#: The value that resets a parameter to its default in modifications.
VALUE_DEFAULT = "default"

_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*\Z")
_COUNT = re.compile(r"\s*[0-9]+\s*\Z")
_UNITS = {
    "": 1, "m": 1, "mb": 1, "mib": 1,
    "g": 1024, "gb": 1024, "gib": 1024,
    "t": 1024 * 1024, "tb": 1024 * 1024, "tib": 1024 * 1024,
}


# -- Normalising what clients send ----------------------------------------------


def parse_size(value, name):
    """A size in whole MiB from a number (MiB) or a string like C{"20G"}.

    Strings are a decimal number with an optional unit, case-insensitive:
    C{M}/C{MB}/C{MiB} (the default), C{G}/C{GB}/C{GiB}, C{T}/C{TB}/C{TiB};
    fractions are rounded up to the next MiB (C{"1.5G"} is 1536).

    @param name: the parameter, for the error message.
    @raise errors.BadRequest: C{value} is not a non-negative size.
    """
    if isinstance(value, bool):
        raise _bad_size(name, value)
    if isinstance(value, int):
        if value < 0:
            raise _bad_size(name, value)
        return value
    if isinstance(value, float):
        if not math.isfinite(value) or value < 0:
            raise _bad_size(name, value)
        return math.ceil(value)
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match is not None:
            number, unit = match.groups()
            factor = _UNITS.get(unit.lower())
            if factor is not None:
                return math.ceil(Fraction(number) * factor)
    raise _bad_size(name, value)


def _bad_size(name, value):
    return errors.BadRequest(
        "Invalid size for parameter '%s': %s (expected MiB, or a number with"
        " the unit M, G or T)" % (name, _show(value))
    )


def _show(value, limit=40):
    """A short rendering of a client's value for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_count(value, name):
    """An integer from a number or a numeric string (C{"2"} from a form).

    @raise errors.BadRequest: a string that is not a whole number.
    """
    if isinstance(value, str):
        if not _COUNT.match(value):
            raise errors.BadRequest(
                "Invalid value for parameter '%s': %s (expected an integer)"
                % (name, _show(value))
            )
        return int(value)
    return value


def normalize_beparams(beparams, name="beparams"):
    """Backend parameters with sizes in MiB and counts as integers.

    C{null} and C{"default"} (which reset a value in modifications) and
    any parameter not named in L{BE_SIZES} or L{BE_COUNTS} are kept.
    Anything but a dict is returned unchanged, for the opcode to refuse.
    """
    if not isinstance(beparams, dict):
        return beparams
    result = dict(beparams)
    for key, value in beparams.items():
        if value is None or value == VALUE_DEFAULT:
            continue
        where = "%s.%s" % (name, key)
        if key in BE_SIZES:
            result[key] = parse_size(value, where)
        elif key in BE_COUNTS:
            result[key] = parse_count(value, where)
    return result


def normalize_disk(disk, name):
    """One disk definition with C{size} in MiB and C{spindles} an integer."""
    if not isinstance(disk, dict):
        return disk
    disk = dict(disk)
    if disk.get("size") is not None:
        disk["size"] = parse_size(disk["size"], name + ".size")
    if disk.get("spindles") is not None:
        disk["spindles"] = parse_count(disk["spindles"], name + ".spindles")
    return disk


def normalize_create(params):
    """The parameters of one instance creation, as real clients send them,
    made fit for C{OP_INSTANCE_CREATE}.

    Top-level C{null} values are dropped (the opcode's defaults apply),
    the old names C{name} and C{os} are renamed, disk sizes and the memory
    backend parameters become integer MiB and numeric strings of counts
    integers.  C{params} is not changed.

    @raise errors.BadRequest: both an old and a new name, or a size that
        cannot be read.
    """
    params = {k: v for k, v in params.items() if v is not None}
    params = apply_renames(params, CREATE_RENAMES)
    disks = params.get("disks")
    if isinstance(disks, list):
        params["disks"] = [
            normalize_disk(disk, "disks[%d]" % i) for i, disk in enumerate(disks)
        ]
    if "beparams" in params:
        params["beparams"] = normalize_beparams(params["beparams"])
    return params


def normalize_modify(params):
    """C{OP_INSTANCE_SET_PARAMS} parameters with renames and sizes in MiB.

    Sizes are read in C{disks} modifications (C{[op, params]} or C{[op,
    identifier, params]}), C{beparams} and C{runtime_mem}.
    """
    params = apply_renames(dict(params), MODIFY_RENAMES)
    disks = params.get("disks")
    if isinstance(disks, list):
        changed = []
        for i, mod in enumerate(disks):
            if isinstance(mod, list) and mod and isinstance(mod[-1], dict):
                mod = mod[:-1] + [normalize_disk(mod[-1], "disks[%d]" % i)]
            changed.append(mod)
        params["disks"] = changed
    if "beparams" in params:
        params["beparams"] = normalize_beparams(params["beparams"])
    if params.get("runtime_mem") is not None:
        params["runtime_mem"] = parse_size(params["runtime_mem"], "runtime_mem")
    return params


def create_request(body):
    """The parameters of a version 1 creation request (C{POST /2/instances}).

    @param body: the request body, a dict.
    @raise errors.BadRequest: another request version, or any problem of
        L{normalize_create}.
    """
    version = body.get("__version__", 0)
    # Python equality, as Ganeti compares: 1.0 and true are version 1 too.
    if version == 0:
        raise errors.BadRequest("request version 0 is no longer supported")
    if version != 1:
        raise errors.BadRequest("Unsupported request data version")
    params = dict(body)
    del params["__version__"]
    hvparams = params.get("hvparams")
    if isinstance(hvparams, dict) and isinstance(hvparams.get("usb_devices"), str):
        hvparams = dict(hvparams)
        hvparams["usb_devices"] = hvparams["usb_devices"].replace(" ", ",")
        params["hvparams"] = hvparams
    return normalize_create(params)


# -- /2/instances and /2/instances-multi-alloc ---------------------------------------


class InstancesResource(OpcodeResource):
    """C{/2/instances}: list instances (GET) or create one (POST)."""

    rlib2_name = "instances"

    def get(self, call):
        cluster = self.context.cluster
        if call.flag("bulk"):
            return cluster.query("instance", INSTANCE_FIELDS)
        d = defer.maybeDeferred(cluster.list_names, "instance")
        d.addCallback(
            lambda names: [{"id": n, "uri": "/2/instances/%s" % n} for n in names]
        )
        return d

    def post(self, call):
        params = create_request(body_object(call))
        return self.submit(
            self.opcode(call, "OP_INSTANCE_CREATE", params, dry_run=True)
        )

    def getChild(self, path, request):
        name = parse_name(path)
        if name is None:
            return ApiResource.getChild(self, path, request)
        return InstanceResource(self.context, name)


class InstancesMultiAllocResource(OpcodeResource):
    """C{/2/instances-multi-alloc}: POST C{{"instances": [creation bodies], ...}}.

    Each instance takes the parameters of C{POST /2/instances} (without
    C{__version__}), normalised the same way.
    """

    rlib2_name = "instances_multi_alloc"

    def post(self, call):
        params = body_object(call)
        if params.get("instances") is None:
            raise errors.BadRequest(
                "Request is missing required 'instances' field in body"
            )
        instances = params["instances"]
        if isinstance(instances, list):
            normalized = []
            for i, instance in enumerate(instances):
                if not isinstance(instance, dict):
                    raise errors.BadRequest(
                        "instances[%d]: an instance must be an object" % (i,)
                    )
                normalized.append(normalize_create(instance))
            params["instances"] = normalized
        params = {k: v for k, v in params.items() if v is not None}
        return self.submit(
            self.opcode(call, "OP_INSTANCE_MULTI_ALLOC", params, dry_run=True)
        )


# -- /2/instances/[instance_name] --------------------------------------------------


def one(rows):
    """The single row a name lookup returns."""
    return rows[0]


class InstanceResource(OpcodeResource):
    """C{/2/instances/[instance_name]}: its fields (GET) or its removal (DELETE)."""

    rlib2_name = "instances_name"

    def __init__(self, context, name):
        OpcodeResource.__init__(self, context)
        self.name = name
        for segment, cls in [
            (b"info", InstanceInfoResource),
            (b"reboot", InstanceRebootResource),
            (b"shutdown", InstanceShutdownResource),
            (b"startup", InstanceStartupResource),
            (b"reinstall", InstanceReinstallResource),
            (b"replace-disks", InstanceReplaceDisksResource),
            (b"activate-disks", InstanceActivateDisksResource),
            (b"deactivate-disks", InstanceDeactivateDisksResource),
            (b"recreate-disks", InstanceRecreateDisksResource),
            (b"disk", InstanceDisksResource),
            (b"prepare-export", InstancePrepareExportResource),
            (b"export", InstanceExportResource),
            (b"migrate", InstanceMigrateResource),
            (b"failover", InstanceFailoverResource),
            (b"rename", InstanceRenameResource),
            (b"modify", InstanceModifyResource),
            (b"console", InstanceConsoleResource),
        ]:
            self.putChild(segment, cls(context, name))
        self.putChild(
            b"tags", TagsResource(context, "instance", name, "instances_name_tags")
        )

    def get(self, call):
        d = defer.maybeDeferred(
            self.context.cluster.query, "instance", INSTANCE_FIELDS, [self.name]
        )
        return d.addCallback(one)

    def delete(self, call):
        static = {"instance_name": self.name, "ignore_failures": False}
        return self.submit(
            self.opcode(call, "OP_INSTANCE_REMOVE", body_object(call), static, dry_run=True)
        )


class _InstanceOpcodeResource(OpcodeResource):
    def __init__(self, context, name):
        OpcodeResource.__init__(self, context)
        self.name = name

    def instance_static(self, **extra):
        static = {"instance_name": self.name}
        static.update(extra)
        return static


class InstanceInfoResource(_InstanceOpcodeResource):
    """C{.../info}: GET (anonymous, as in Ganeti) submits
    C{OP_INSTANCE_QUERY_DATA}; C{?static=1} for configuration data only."""

    rlib2_name = "instances_name_info"

    def get(self, call):
        static = {"instances": [self.name], "static": call.flag("static")}
        return self.submit(
            self.opcode(call, "OP_INSTANCE_QUERY_DATA", depends_only(call), static)
        )


class InstanceRebootResource(_InstanceOpcodeResource):
    """C{.../reboot}: POST, C{?type=soft|hard|full} (default hard),
    C{?ignore_secondaries}, C{?dry-run}; other parameters from the body."""

    rlib2_name = "instances_name_reboot"

    def post(self, call):
        static = self.instance_static(
            reboot_type=call.string_arg("type", "hard"),
            ignore_secondaries=call.flag("ignore_secondaries"),
        )
        return self.submit(
            self.opcode(call, "OP_INSTANCE_REBOOT", body_object(call), static, dry_run=True)
        )


class InstanceShutdownResource(_InstanceOpcodeResource):
    """C{.../shutdown}: PUT, C{?no_remember}, C{?dry-run}; body parameters
    such as C{timeout}."""

    rlib2_name = "instances_name_shutdown"

    def put(self, call):
        static = self.instance_static(no_remember=call.flag("no_remember"))
        return self.submit(
            self.opcode(
                call, "OP_INSTANCE_SHUTDOWN", body_object(call), static, dry_run=True
            )
        )


class InstanceStartupResource(_InstanceOpcodeResource):
    """C{.../startup}: PUT, C{?force}, C{?no_remember}, C{?dry-run}; the body
    is ignored but for C{depends}."""

    rlib2_name = "instances_name_startup"

    def put(self, call):
        static = self.instance_static(
            force=call.flag("force"), no_remember=call.flag("no_remember")
        )
        return self.submit(
            self.opcode(
                call, "OP_INSTANCE_STARTUP", depends_only(call), static, dry_run=True
            )
        )


class InstanceReinstallResource(_InstanceOpcodeResource):
    """C{.../reinstall}: POST C{{"os"?, "start": true, "osparams"?}}.

    Without a body, the 2010 query parameters C{os} and C{nostartup} are
    read; a body together with any query parameter is a 400.  The job
    shuts the instance down, reinstalls it and, if C{start}, starts it.
    As in Ganeti, other body keys are ignored.
    """

    rlib2_name = "instances_name_reinstall"

    def post(self, call):
        body = call.body
        if body:
            if call.has_query():
                raise errors.BadRequest("Can't combine query and body parameters")
        elif call.has_query():
            body = {
                "os": call.string_arg("os"),
                "start": not call.flag("nostartup"),
            }
        else:
            body = {}
        if not isinstance(body, dict):
            raise errors.BadRequest("Invalid body contents, not a dictionary")
        start = body.get("start", True)
        if not isinstance(start, bool):
            raise errors.BadRequest(
                "Invalid value for parameter 'start': %s (expected a boolean)"
                % (_show(start),)
            )
        reinstall = {"os_type": body.get("os"), "osparams": body.get("osparams")}
        ops = [
            self.opcode(call, "OP_INSTANCE_SHUTDOWN", None, self.instance_static()),
            self.opcode(call, "OP_INSTANCE_REINSTALL", reinstall, self.instance_static()),
        ]
        if start:
            ops.append(
                self.opcode(
                    call, "OP_INSTANCE_STARTUP", None, self.instance_static(force=False)
                )
            )
        return self.submit(*ops)


class InstanceReplaceDisksResource(_InstanceOpcodeResource):
    """C{.../replace-disks}: POST C{OP_INSTANCE_REPLACE_DISKS} parameters.

    Without a body, the 2010 query parameters C{mode}, C{remote_node},
    C{disks} and C{iallocator} are read.  C{disks} may be a list of indices
    or a comma-separated string of them.
    """

    rlib2_name = "instances_name_replace_disks"

    LEGACY_ARGS = ("mode", "remote_node", "disks", "iallocator")

    def post(self, call):
        if call.body:
            params = body_object(call)
        elif call.has_query():
            params = {name: call.string_arg(name) for name in self.LEGACY_ARGS}
        else:
            params = {}
        if "disks" in params:
            raw = params.pop("disks")
            if raw:
                params["disks"] = _disk_indices(raw)
        return self.submit(
            self.opcode(
                call, "OP_INSTANCE_REPLACE_DISKS", params, self.instance_static()
            )
        )


def _disk_indices(raw):
    """Disk indices from a list of integers or a string like C{"0,2"}."""
    if isinstance(raw, list) and all(
        isinstance(i, int) and not isinstance(i, bool) for i in raw
    ):
        return raw
    if isinstance(raw, str):
        try:
            return [int(part) for part in raw.split(",")]
        except ValueError:
            pass
    raise errors.BadRequest("Invalid disk index passed: %s" % (_show(raw),))


class InstanceActivateDisksResource(_InstanceOpcodeResource):
    """C{.../activate-disks}: PUT, C{?ignore_size}; the body is ignored."""

    rlib2_name = "instances_name_activate_disks"

    def put(self, call):
        static = self.instance_static(ignore_size=call.flag("ignore_size"))
        return self.submit(
            self.opcode(call, "OP_INSTANCE_ACTIVATE_DISKS", depends_only(call), static)
        )


class InstanceDeactivateDisksResource(_InstanceOpcodeResource):
    """C{.../deactivate-disks}: PUT, C{?force}; the body is ignored."""

    rlib2_name = "instances_name_deactivate_disks"

    def put(self, call):
        static = self.instance_static(force=call.flag("force"))
        return self.submit(
            self.opcode(call, "OP_INSTANCE_DEACTIVATE_DISKS", depends_only(call), static)
        )


class InstanceRecreateDisksResource(_InstanceOpcodeResource):
    """C{.../recreate-disks}: POST C{disks}, C{nodes}, C{iallocator}."""

    rlib2_name = "instances_name_recreate_disks"

    def post(self, call):
        return self.submit(
            self.opcode(
                call, "OP_INSTANCE_RECREATE_DISKS", body_object(call),
                self.instance_static(),
            )
        )


class InstanceDisksResource(NotFoundResource):
    """C{.../disk}: only a path step; C{.../disk/[disk_index]/grow} lives below."""

    def __init__(self, context, name):
        NotFoundResource.__init__(self, context)
        self.name = name

    def getChild(self, path, request):
        index = parse_number(path)
        if index is None:
            return NotFoundResource(self.context)
        disk = NotFoundResource(self.context)
        disk.putChild(b"grow", InstanceDiskGrowResource(self.context, self.name, index))
        return disk


class InstanceDiskGrowResource(_InstanceOpcodeResource):
    """C{.../disk/[disk_index]/grow}: POST C{amount} (MiB, or a unit string),
    C{wait_for_sync}, C{absolute}, C{ignore_ipolicy}."""

    rlib2_name = "instances_name_disk_grow"

    def __init__(self, context, name, index):
        _InstanceOpcodeResource.__init__(self, context, name)
        self.index = index

    def post(self, call):
        params = body_object(call)
        if params.get("amount") is not None:
            params["amount"] = parse_size(params["amount"], "amount")
        static = self.instance_static(disk=self.index)
        return self.submit(self.opcode(call, "OP_INSTANCE_GROW_DISK", params, static))


class InstancePrepareExportResource(_InstanceOpcodeResource):
    """C{.../prepare-export}: PUT C{?mode=local|remote} (required)."""

    rlib2_name = "instances_name_prepare_export"

    def put(self, call):
        mode = call.string_arg("mode")
        if mode is None:
            raise errors.BadRequest("Missing the required 'mode' parameter")
        static = self.instance_static(mode=mode)
        return self.submit(
            self.opcode(call, "OP_BACKUP_PREPARE", depends_only(call), static)
        )


class InstanceExportResource(_InstanceOpcodeResource):
    """C{.../export}: PUT C{OP_BACKUP_EXPORT} parameters (C{destination} is
    the old name of C{target_node}; C{mode} defaults to C{local}), DELETE
    C{OP_BACKUP_REMOVE}."""

    rlib2_name = "instances_name_export"

    def put(self, call):
        params = apply_renames(body_object(call), {"destination": "target_node"})
        if params.get("mode") is None:
            params["mode"] = "local"
        return self.submit(
            self.opcode(call, "OP_BACKUP_EXPORT", params, self.instance_static())
        )

    def delete(self, call):
        return self.submit(
            self.opcode(call, "OP_BACKUP_REMOVE", body_object(call), self.instance_static())
        )


class _InstanceBodyResource(_InstanceOpcodeResource):
    """A PUT whose body holds the parameters of C{op_id}."""

    op_id = None

    def put(self, call):
        return self.submit(
            self.opcode(call, self.op_id, body_object(call), self.instance_static())
        )


class InstanceMigrateResource(_InstanceBodyResource):
    """C{.../migrate}: PUT C{OP_INSTANCE_MIGRATE} parameters."""

    rlib2_name = "instances_name_migrate"
    op_id = "OP_INSTANCE_MIGRATE"


class InstanceFailoverResource(_InstanceBodyResource):
    """C{.../failover}: PUT C{OP_INSTANCE_FAILOVER} parameters."""

    rlib2_name = "instances_name_failover"
    op_id = "OP_INSTANCE_FAILOVER"


class InstanceRenameResource(_InstanceBodyResource):
    """C{.../rename}: PUT C{{"new_name", "ip_check"?, "name_check"?}}."""

    rlib2_name = "instances_name_rename"
    op_id = "OP_INSTANCE_RENAME"


class InstanceModifyResource(_InstanceOpcodeResource):
    """C{.../modify}: PUT C{OP_INSTANCE_SET_PARAMS} parameters
    (C{custom_beparams} and C{custom_hvparams} are old names)."""

    rlib2_name = "instances_name_modify"

    def put(self, call):
        params = normalize_modify(body_object(call))
        return self.submit(
            self.opcode(call, "OP_INSTANCE_SET_PARAMS", params, self.instance_static())
        )


class InstanceConsoleResource(ApiResource):
    """C{.../console}: GET (read or write access) how to reach the console;
    503 while the instance is not running."""

    rlib2_name = "instances_name_console"
    get_access = READ_OR_WRITE

    def __init__(self, context, name):
        ApiResource.__init__(self, context)
        self.name = name

    def get(self, call):
        return defer.maybeDeferred(self.context.cluster.instance_console, self.name)
