# -*- test-case-name: tests.test_web_groups -*-
"""C{/2/groups} and everything below C{/2/groups/[group_name]}."""

from twisted.internet import defer

from ganeti_rapi.web.base import ApiResource
from ganeti_rapi.web.names import parse_name
from ganeti_rapi.web.submit import OpcodeResource, apply_renames, body_object, depends_only
from ganeti_rapi.web.tags import TagsResource

#: Fields of a group in bulk listings and single GETs (Ganeti's G_FIELDS).
GROUP_FIELDS = [
    "alloc_policy", "name", "node_cnt", "node_list", "ipolicy", "custom_ipolicy",
    "diskparams", "custom_diskparams", "ndparams", "custom_ndparams",
    "ctime", "mtime", "uuid", "serial_no", "tags",
]


def one(rows):
    """The single row a name lookup returns."""
    return rows[0]


class GroupsResource(OpcodeResource):
    """C{/2/groups}: list node groups (GET) or create one (POST)."""

    rlib2_name = "groups"

    def get(self, call):
        cluster = self.context.cluster
        if call.flag("bulk"):
            return cluster.query("group", GROUP_FIELDS)
        d = defer.maybeDeferred(cluster.list_names, "group")
        d.addCallback(
            lambda names: [{"name": n, "uri": "/2/groups/%s" % n} for n in names]
        )
        return d

    def post(self, call):
        params = apply_renames(body_object(call), {"name": "group_name"})
        return self.submit(self.opcode(call, "OP_GROUP_ADD", params, dry_run=True))

    def getChild(self, path, request):
        name = parse_name(path)
        if name is None:
            return ApiResource.getChild(self, path, request)
        return GroupResource(self.context, name)


class GroupResource(OpcodeResource):
    """C{/2/groups/[group_name]}: a group's fields (GET) or its removal (DELETE)."""

    rlib2_name = "groups_name"

    def __init__(self, context, name):
        OpcodeResource.__init__(self, context)
        self.name = name
        self.putChild(b"rename", GroupRenameResource(context, name))
        self.putChild(b"modify", GroupModifyResource(context, name))
        self.putChild(b"assign-nodes", GroupAssignNodesResource(context, name))
        self.putChild(
            b"tags", TagsResource(context, "nodegroup", name, "groups_name_tags")
        )

    def get(self, call):
        d = defer.maybeDeferred(
            self.context.cluster.query, "group", GROUP_FIELDS, [self.name]
        )
        return d.addCallback(one)

    def delete(self, call):
        static = {"group_name": self.name}
        return self.submit(
            self.opcode(call, "OP_GROUP_REMOVE", depends_only(call), static, dry_run=True)
        )


class _GroupOpcodeResource(OpcodeResource):
    def __init__(self, context, name):
        OpcodeResource.__init__(self, context)
        self.name = name


class GroupRenameResource(_GroupOpcodeResource):
    """C{/2/groups/[group_name]/rename}: PUT C{{"new_name"}}."""

    rlib2_name = "groups_name_rename"

    def put(self, call):
        static = {"group_name": self.name}
        return self.submit(
            self.opcode(call, "OP_GROUP_RENAME", body_object(call), static, dry_run=True)
        )


class GroupModifyResource(_GroupOpcodeResource):
    """C{/2/groups/[group_name]/modify}: PUT group parameters."""

    rlib2_name = "groups_name_modify"

    RENAMES = {
        "custom_ndparams": "ndparams",
        "custom_ipolicy": "ipolicy",
        "custom_diskparams": "diskparams",
    }

    def put(self, call):
        params = apply_renames(body_object(call), self.RENAMES)
        static = {"group_name": self.name}
        return self.submit(self.opcode(call, "OP_GROUP_SET_PARAMS", params, static))


class GroupAssignNodesResource(_GroupOpcodeResource):
    """C{/2/groups/[group_name]/assign-nodes}: PUT C{{"nodes": [...]}}."""

    rlib2_name = "groups_name_assign_nodes"

    def put(self, call):
        static = {"group_name": self.name, "force": call.flag("force")}
        return self.submit(
            self.opcode(
                call, "OP_GROUP_ASSIGN_NODES", body_object(call), static, dry_run=True
            )
        )
