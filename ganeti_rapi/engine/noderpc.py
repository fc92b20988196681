# -*- test-case-name: tests.test_nodes_cluster -*-
"""How the engine reaches node daemons: by node object, not by address.

L{NodeRunner} looks a node's address up in the configuration, skips nodes
marked offline, and turns transport failures into Ganeti errors a unit can
let through: a node that cannot be reached fails an opcode with
C{OpPrereqError(..., "environment_error")}, a procedure that failed on the
node with C{OpExecError}.
"""

from twisted.internet import defer

from ganeti_rapi.engine.errors import ECODE_ENVIRON, ECODE_STATE, OpExecError, OpPrereqError
from ganeti_rapi.rpc.errors import NodeProcedureError, NodeRpcError

#: Seconds a live-data query waits for the slowest node.
LIVE_DATA_TIMEOUT = 10


class NodeOffline(Exception):
    """The node is marked offline; nothing was sent to it."""


class NodeRunner:
    """Calls procedures on the nodes of a configuration.

    @param client: a L{ganeti_rapi.rpc.client.NodeRpcClient}.
    @param config: the L{ConfigStore}.
    @param overrides: C{{node uuid: (host, port)}} replacing configured
        addresses, for a node daemon running inside the master process on a
        port chosen at start-up.
    """

    def __init__(self, client, config, overrides=None):
        self.client = client
        self.config = config
        self.overrides = dict(overrides or {})

    def address(self, node):
        """C{(host, port)} of C{node}'s daemon."""
        if node.uuid in self.overrides:
            return self.overrides[node.uuid]
        return (node.primary_ip, node.rpc_port)

    def call(self, node, procedure, timeout=None, /, **kwargs):
        """Call C{procedure} on C{node}; a Deferred of its result.

        Fails with L{NodeOffline} for an offline node, with the client's
        L{NodeRpcError}s otherwise.
        """
        if node.offline:
            return defer.fail(NodeOffline("Node '%s' is offline" % node.name))
        host, port = self.address(node)
        if timeout is None:
            return self.client.call(host, port, procedure, **kwargs)
        return self.client.call_within(timeout, host, port, procedure, **kwargs)

    def call_nodes(self, nodes, procedure, timeout=None, /, **kwargs):
        """Call C{procedure} on every node at once.

        @return: a Deferred of C{{node uuid: (ok, result or exception)}};
            it never fails as a whole.
        """
        calls = []
        for node in nodes:
            d = self.call(node, procedure, timeout, **kwargs)
            d.addCallbacks(
                lambda result, uuid=node.uuid: (uuid, (True, result)),
                lambda failure, uuid=node.uuid: (uuid, (False, failure.value)),
            )
            calls.append(d)
        d = defer.gatherResults(calls)
        d.addCallback(dict)
        return d

    def run(self, node, procedure, timeout=None, /, **kwargs):
        """Like L{call}, with failures turned into Ganeti errors for units."""
        d = self.call(node, procedure, timeout, **kwargs)
        d.addErrback(self._classify, node, procedure)
        return d

    @staticmethod
    def _classify(failure, node, procedure):
        value = failure.value
        if isinstance(value, NodeOffline):
            raise OpPrereqError(str(value), ECODE_STATE)
        if isinstance(value, NodeProcedureError):
            raise OpExecError(
                "Node '%s' failed %s: %s" % (node.name, procedure, value.remote_message)
            )
        if isinstance(value, NodeRpcError):
            raise OpPrereqError(
                "Cannot reach node '%s' (%s)" % (node.name, value), ECODE_ENVIRON
            )
        return failure
