# -*- test-case-name: tests.test_web_networks -*-
"""C{/2/networks} and everything below C{/2/networks/[network_name]}."""

from twisted.internet import defer

from ganeti_rapi.web.base import ApiResource
from ganeti_rapi.web.names import parse_name
from ganeti_rapi.web.submit import OpcodeResource, apply_renames, body_object
from ganeti_rapi.web.tags import TagsResource

#: Fields of a network in bulk listings and single GETs (Ganeti's NET_FIELDS).
NETWORK_FIELDS = [
    "name", "network", "gateway", "network6", "gateway6", "mac_prefix",
    "free_count", "reserved_count", "map", "group_list", "inst_list",
    "external_reservations", "ctime", "mtime", "uuid", "serial_no", "tags",
]


class NetworksResource(OpcodeResource):
    """C{/2/networks}: list networks (GET) or create one (POST)."""

    rlib2_name = "networks"

    def get(self, call):
        cluster = self.context.cluster
        if call.flag("bulk"):
            return cluster.query("network", NETWORK_FIELDS)
        d = defer.maybeDeferred(cluster.list_names, "network")
        d.addCallback(
            lambda names: [{"name": n, "uri": "/2/networks/%s" % n} for n in names]
        )
        return d

    def post(self, call):
        params = apply_renames(body_object(call), {"name": "network_name"})
        return self.submit(self.opcode(call, "OP_NETWORK_ADD", params, dry_run=True))

    def getChild(self, path, request):
        name = parse_name(path)
        if name is None:
            return ApiResource.getChild(self, path, request)
        return NetworkResource(self.context, name)


class NetworkResource(OpcodeResource):
    """C{/2/networks/[network_name]}: a network's fields (GET) or its removal (DELETE)."""

    rlib2_name = "networks_name"

    def __init__(self, context, name):
        OpcodeResource.__init__(self, context)
        self.name = name
        for segment, child in (
            (b"connect", NetworkConnectResource),
            (b"disconnect", NetworkDisconnectResource),
            (b"modify", NetworkModifyResource),
            (b"rename", NetworkRenameResource),
        ):
            self.putChild(segment, child(context, name))
        self.putChild(
            b"tags", TagsResource(context, "network", name, "networks_name_tags")
        )

    def get(self, call):
        d = defer.maybeDeferred(
            self.context.cluster.query, "network", NETWORK_FIELDS, [self.name]
        )
        return d.addCallback(lambda rows: rows[0])

    def delete(self, call):
        static = {"network_name": self.name}
        return self.submit(
            self.opcode(call, "OP_NETWORK_REMOVE", body_object(call), static,
                        dry_run=True)
        )


class _NetworkOpcodeResource(OpcodeResource):
    """A PUT on one network: the body's parameters, the name from the URL."""

    op_id = None
    dry_run = True

    def __init__(self, context, name):
        OpcodeResource.__init__(self, context)
        self.name = name

    def put(self, call):
        static = {"network_name": self.name}
        return self.submit(
            self.opcode(call, self.op_id, body_object(call), static, dry_run=self.dry_run)
        )


class NetworkConnectResource(_NetworkOpcodeResource):
    """C{/2/networks/[network_name]/connect}: PUT C{{"group_name", "network_mode",
    "network_link", "network_vlan", "conflicts_check"}}."""

    rlib2_name = "networks_name_connect"
    op_id = "OP_NETWORK_CONNECT"


class NetworkDisconnectResource(_NetworkOpcodeResource):
    """C{/2/networks/[network_name]/disconnect}: PUT C{{"group_name"}}."""

    rlib2_name = "networks_name_disconnect"
    op_id = "OP_NETWORK_DISCONNECT"


class NetworkModifyResource(_NetworkOpcodeResource):
    """C{/2/networks/[network_name]/modify}: PUT network parameters (no C{?dry-run})."""

    rlib2_name = "networks_name_modify"
    op_id = "OP_NETWORK_SET_PARAMS"
    dry_run = False


class NetworkRenameResource(_NetworkOpcodeResource):
    """C{/2/networks/[network_name]/rename}: PUT C{{"new_name"}} (Ganeti 3.1)."""

    rlib2_name = "networks_name_rename"
    op_id = "OP_NETWORK_RENAME"
