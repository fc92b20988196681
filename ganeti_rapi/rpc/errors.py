# -*- test-case-name: tests.test_rpc_tls -*-
"""Typed failures of node RPC, shared by the client and the node side.

The master sees only L{NodeRpcError} subclasses from
L{ganeti_rapi.rpc.client.NodeRpcClient}, each naming the node it was
talking to, so a caller can tell "the node is down" (L{NodeUnreachable},
L{NodeTimeout}) from "the node refused the work" (L{NodeProcedureError})
from "the node speaks something else" (L{NodeProtocolError}).

L{ProcedureError} is the node side's counterpart: procedures raise it (or a
subclass) for expected failures, which are answered without a traceback in
the node daemon's log.
"""


class NodeRpcError(Exception):
    """A node RPC call failed.

    @ivar host: the node's address as given to the client.
    @ivar port: the node daemon's TCP port.
    @ivar procedure: the procedure called, or L{None}.
    @ivar message: what went wrong, in words.
    """

    def __init__(self, host, port, procedure, message):
        Exception.__init__(self, host, port, procedure, message)
        self.host = host
        self.port = port
        self.procedure = procedure
        self.message = message

    @property
    def address(self):
        """C{(host, port)} of the node, as the key L{call_many} uses."""
        return (self.host, self.port)

    def __str__(self):
        where = format_address(self.host, self.port)
        if self.procedure:
            return f"{where} ({self.procedure}): {self.message}"
        return f"{where}: {self.message}"


class NodeUnreachable(NodeRpcError):
    """No answer could be had: connection refused or lost, or TLS failed.

    A node whose certificate is not the pinned one, or which refuses our
    certificate, is unreachable in this sense too.
    """


class NodeTimeout(NodeRpcError):
    """The node did not answer within the call's timeout."""


class NodeProtocolError(NodeRpcError):
    """The node answered, but not in the node RPC wire format."""


class NodeProcedureError(NodeRpcError):
    """The node answered C{success: false}.

    @ivar remote_type: the error class name the node reported, e.g.
        C{"UnknownProcedure"} for a procedure the node does not have.
    @ivar remote_message: the node's error message.
    @ivar status: the HTTP status of the answer (200 when the procedure
        itself failed, 4xx when the request was refused before it ran).
    """

    def __init__(self, host, port, procedure, remote_type, remote_message, status=200):
        NodeRpcError.__init__(
            self, host, port, procedure, f"{remote_type}: {remote_message}"
        )
        self.remote_type = remote_type
        self.remote_message = remote_message
        self.status = status


class ProcedureError(Exception):
    """Raised by a node procedure for an expected failure.

    The node answers C{success: false} with the class name and message, as
    for any exception, but logs it as a warning rather than with a traceback.
    """


def format_address(host, port):
    """C{host:port}, with brackets around an IPv6 address."""
    if ":" in str(host):
        return f"[{host}]:{port}"
    return f"{host}:{port}"
