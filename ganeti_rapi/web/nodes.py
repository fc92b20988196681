# -*- test-case-name: tests.test_web_nodes -*-
"""C{/2/nodes} and everything below C{/2/nodes/[node_name]}."""

from twisted.internet import defer

from ganeti_rapi import errors
from ganeti_rapi.web.base import WRITE, ApiResource
from ganeti_rapi.web.names import parse_name
from ganeti_rapi.web.submit import (
    OpcodeResource,
    body_object,
    body_string,
    depends_only,
)
from ganeti_rapi.web.tags import TagsResource

#: Fields of a node in bulk listings and single GETs (Ganeti's N_FIELDS).
NODE_FIELDS = [
    "name", "offline", "master_candidate", "drained", "dtotal", "dfree", "sptotal",
    "spfree", "mtotal", "mnode", "mfree", "pinst_cnt", "sinst_cnt", "ctotal", "cnos",
    "cnodes", "csockets", "pip", "sip", "role", "pinst_list", "sinst_list",
    "master_capable", "vm_capable", "ndparams", "group.uuid",
    "ctime", "mtime", "uuid", "serial_no", "tags",
]

#: Long role names of C{.../role}, by the one-letter code of the C{role} field.
ROLE_NAMES = {
    "M": "master",
    "C": "master-candidate",
    "R": "regular",
    "D": "drained",
    "O": "offline",
}

#: The OP_NODE_SET_PARAMS flags (master_candidate, offline, drained) that
#: set each role, as Ganeti's RAPI maps them; None leaves a flag alone.
ROLE_FLAGS = {
    "regular": (False, False, False),
    "master-candidate": (True, None, None),
    "drained": (None, None, True),
    "offline": (None, True, None),
}


def one(rows):
    """The single row a name lookup returns."""
    return rows[0]


class NodesResource(ApiResource):
    """C{/2/nodes}: every node, as C{{"id", "uri"}} or in bulk."""

    def get(self, call):
        cluster = self.context.cluster
        if call.flag("bulk"):
            return cluster.query("node", NODE_FIELDS)
        d = defer.maybeDeferred(cluster.list_names, "node")
        d.addCallback(
            lambda names: [{"id": n, "uri": "/2/nodes/%s" % n} for n in names]
        )
        return d

    def getChild(self, path, request):
        name = parse_name(path)
        if name is None:
            return ApiResource.getChild(self, path, request)
        return NodeResource(self.context, name)


class NodeResource(ApiResource):
    """C{/2/nodes/[node_name]}: a node's fields, plus C{secondary_ip}."""

    def __init__(self, context, name):
        ApiResource.__init__(self, context)
        self.name = name
        self.putChild(b"role", NodeRoleResource(context, name))
        self.putChild(b"evacuate", NodeEvacuateResource(context, name))
        self.putChild(b"migrate", NodeMigrateResource(context, name))
        self.putChild(b"modify", NodeModifyResource(context, name))
        self.putChild(b"powercycle", NodePowercycleResource(context, name))
        self.putChild(b"storage", NodeStorageResource(context, name))
        self.putChild(b"tags", TagsResource(context, "node", name, "nodes_name_tags"))

    def get(self, call):
        d = defer.maybeDeferred(
            self.context.cluster.query, "node", NODE_FIELDS, [self.name]
        )
        d.addCallback(one)
        d.addCallback(_with_secondary_ip)
        return d


def _with_secondary_ip(node):
    node = dict(node)
    node["secondary_ip"] = node.get("sip")
    return node


class _NodeOpcodeResource(OpcodeResource):
    def __init__(self, context, name):
        OpcodeResource.__init__(self, context)
        self.name = name

    def node_static(self, **extra):
        static = {"node_name": self.name}
        static.update(extra)
        return static


class NodeRoleResource(_NodeOpcodeResource):
    """C{/2/nodes/[node_name]/role}: the role's long name (GET) or a new role (PUT).

    The PUT body is a bare JSON string; C{master} cannot be set this way.
    """

    rlib2_name = "nodes_name_role"

    def get(self, call):
        d = defer.maybeDeferred(
            self.context.cluster.query, "node", ["role"], [self.name]
        )
        d.addCallback(lambda rows: ROLE_NAMES[rows[0]["role"]])
        return d

    def put(self, call):
        role = body_string(call)
        flags = ROLE_FLAGS.get(role)
        if flags is None:
            raise errors.BadRequest("Can't set '%s' role" % (role,))
        candidate, offline, drained = flags
        static = self.node_static(
            master_candidate=candidate,
            offline=offline,
            drained=drained,
            force=call.flag("force"),
            auto_promote=call.flag("auto-promote"),
        )
        return self.submit(self.opcode(call, "OP_NODE_SET_PARAMS", None, static))


class NodeEvacuateResource(_NodeOpcodeResource):
    """C{/2/nodes/[node_name]/evacuate}: POST C{OP_NODE_EVACUATE} parameters.

    Without a body, the 2010 query parameters C{iallocator}, C{remote_node}
    and C{early_release} still ask for the secondary instances to move.
    """

    rlib2_name = "nodes_name_evacuate"

    LEGACY_ARGS = ("iallocator", "remote_node", "early_release")

    def post(self, call):
        if call.body is None and any(call.has_arg(a) for a in self.LEGACY_ARGS):
            params = {
                "mode": "secondary-only",
                "iallocator": call.string_arg("iallocator"),
                "remote_node": call.string_arg("remote_node"),
                "early_release": call.flag("early_release"),
            }
        else:
            params = body_object(call)
        return self.submit(
            self.opcode(
                call, "OP_NODE_EVACUATE", params, self.node_static(), dry_run=True
            )
        )


class NodeMigrateResource(_NodeOpcodeResource):
    """C{/2/nodes/[node_name]/migrate}: POST C{OP_NODE_MIGRATE} parameters.

    Any query parameter at all selects the 2010 form: the body is ignored
    and only C{live} (an integer flag) or C{mode} are read.
    """

    rlib2_name = "nodes_name_migrate"

    def post(self, call):
        if call.has_query():
            if call.has_arg("live") and call.has_arg("mode"):
                raise errors.BadRequest("Only one of 'live' and 'mode' should be used")
            mode = call.string_arg("mode")
            if call.has_arg("live"):
                mode = "live" if call.flag("live") else "non-live"
            params = {"mode": mode}
        else:
            params = body_object(call)
        return self.submit(
            self.opcode(call, "OP_NODE_MIGRATE", params, self.node_static())
        )


class NodeModifyResource(_NodeOpcodeResource):
    """C{/2/nodes/[node_name]/modify}: POST C{OP_NODE_SET_PARAMS} parameters."""

    rlib2_name = "nodes_name_modify"

    def post(self, call):
        return self.submit(
            self.opcode(call, "OP_NODE_SET_PARAMS", body_object(call), self.node_static())
        )


class NodePowercycleResource(_NodeOpcodeResource):
    """C{/2/nodes/[node_name]/powercycle}: POST, with C{?force} for the master."""

    rlib2_name = "nodes_name_powercycle"

    def post(self, call):
        static = self.node_static(force=call.flag("force"))
        return self.submit(
            self.opcode(call, "OP_NODE_POWERCYCLE", body_object(call), static)
        )


def _split_fields(text):
    return [f.strip() for f in text.split(",") if f.strip()]


class NodeStorageResource(_NodeOpcodeResource):
    """C{/2/nodes/[node_name]/storage}: GET (write access) lists storage units.

    C{?output_fields=a,b} is required, C{?storage_type=} optional; the
    answer is the id of a job whose result holds the rows.
    """

    rlib2_name = "nodes_name_storage"
    get_access = WRITE

    def __init__(self, context, name):
        _NodeOpcodeResource.__init__(self, context, name)
        self.putChild(b"modify", NodeStorageModifyResource(context, name))
        self.putChild(b"repair", NodeStorageRepairResource(context, name))

    def get(self, call):
        output_fields = _split_fields(call.string_arg("output_fields") or "")
        if not output_fields:
            raise errors.BadRequest("Missing the required 'output_fields' parameter")
        static = {
            "nodes": [self.name],
            "storage_type": call.string_arg("storage_type"),
            "output_fields": output_fields,
        }
        return self.submit(
            self.opcode(call, "OP_NODE_QUERY_STORAGE", depends_only(call), static)
        )


def _storage_unit(call):
    name = call.string_arg("name")
    if not name:
        raise errors.BadRequest("Missing the required 'name' parameter")
    return {"storage_type": call.string_arg("storage_type"), "name": name}


class NodeStorageModifyResource(_NodeOpcodeResource):
    """C{.../storage/modify}: PUT C{?storage_type&name[&allocatable=0|1]}."""

    rlib2_name = "nodes_name_storage_modify"

    def put(self, call):
        static = self.node_static(**_storage_unit(call))
        changes = {}
        if call.has_arg("allocatable"):
            changes["allocatable"] = call.flag("allocatable")
        static["changes"] = changes
        return self.submit(
            self.opcode(call, "OP_NODE_MODIFY_STORAGE", depends_only(call), static)
        )


class NodeStorageRepairResource(_NodeOpcodeResource):
    """C{.../storage/repair}: PUT C{?storage_type&name}."""

    rlib2_name = "nodes_name_storage_repair"

    def put(self, call):
        static = self.node_static(**_storage_unit(call))
        return self.submit(
            self.opcode(call, "OP_REPAIR_NODE_STORAGE", depends_only(call), static)
        )
