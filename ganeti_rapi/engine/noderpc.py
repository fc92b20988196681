# -*- test-case-name: tests.test_nodes_cluster -*-
"""How the engine reaches node daemons: by node object, not by address.

L{NodeRunner} looks a node's address up in the configuration, skips nodes
marked offline, and turns transport failures into Ganeti errors a unit can
let through: a node that cannot be reached fails an opcode with
C{OpPrereqError(..., "environment_error")}, a procedure that failed on the
node with C{OpExecError}.

L{SharedFanOut} lets the listings that wait for live data at the same time
share one round of calls to every node.
"""

from twisted.internet import defer
from twisted.python.failure import Failure

from ganeti_rapi import jsonutil
from ganeti_rapi.engine.errors import ECODE_ENVIRON, ECODE_STATE, OpExecError, OpPrereqError
from ganeti_rapi.rpc.errors import NodeProcedureError, NodeRpcError

#: Seconds a live-data query waits for the slowest node.
LIVE_DATA_TIMEOUT = 10

#: What a node may take beyond an instance's shutdown timeout: the hard
#: stop that follows a guest ignoring its power button.
HARD_STOP_ALLOWANCE = 60


def shutdown_rpc_timeout(shutdown_timeout):
    """The RPC timeout of a call that may wait C{shutdown_timeout} seconds
    for a clean shutdown (the default RPC timeout is shorter than Ganeti's
    default shutdown timeout)."""
    return shutdown_timeout + HARD_STOP_ALLOWANCE


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


class Gathering:
    """The answers of one fan-out, as the queries that shared it see them.

    @ivar outcomes: C{{node uuid: (ok, result or exception)}}, as
        L{NodeRunner.call_nodes} gives.
    @ivar memo: what the queries sharing this fan-out may share besides:
        answers computed from it, by whatever key says they are the same
        answer.  It lives only while the queries are answered, all in one
        go (nothing else runs meanwhile, the configuration cannot change),
        and is emptied right after.
    """

    __slots__ = ("outcomes", "memo")

    def __init__(self, outcomes):
        self.outcomes = outcomes
        self.memo = {}


class _Round:
    __slots__ = ("nodes", "waiters")

    def __init__(self, nodes):
        self.nodes = nodes
        self.waiters = []


class SharedFanOut:
    """Fan-outs for live data, shared by the queries waiting at the same time.

    A query that asks every node for live data (a bulk listing) joins the
    next fan-out of the same call: it starts one if none is under way;
    if one is (it began before the query came), the query waits for it to
    end and then shares the fan-out that starts right after, with every
    query that came meanwhile.  So no query is answered with data gathered
    before it was made, and however many queries come at once, one fan-out
    of a call is under way and at most one more waits: a hundred clients
    listing instances together cost two rounds of node calls, not a hundred
    (and not a hundred TLS connections to each node beyond the two the
    connection pool keeps).

    @param runner: a L{NodeRunner} (or anything with its C{call_nodes}).
    """

    def __init__(self, runner):
        self.runner = runner
        self._running = {}  # key -> the _Round under way
        self._next = {}  # key -> the _Round waiting for it

    def gather(self, nodes, procedure, timeout=None, /, **kwargs):
        """A Deferred of a L{Gathering} of C{procedure} on C{nodes}.

        Cancelling it only drops this query: the fan-out goes on for the
        others that share it.
        """
        nodes = list(nodes)
        key = (procedure, tuple(n.uuid for n in nodes), timeout, _kwargs_key(kwargs))
        d = defer.Deferred(lambda d: self._forget(key, d))
        if key in self._running:
            waiting = self._next.get(key)
            if waiting is None:
                waiting = self._next[key] = _Round(nodes)
            waiting.waiters.append(d)
        else:
            round_ = _Round(nodes)
            round_.waiters.append(d)
            self._start(key, round_, procedure, timeout, kwargs)
        return d

    def _forget(self, key, d):
        for rounds in (self._running, self._next):
            round_ = rounds.get(key)
            if round_ is not None and d in round_.waiters:
                round_.waiters.remove(d)

    def _start(self, key, round_, procedure, timeout, kwargs):
        self._running[key] = round_
        d = self.runner.call_nodes(round_.nodes, procedure, timeout, **kwargs)
        d.addBoth(self._finished, key, round_, procedure, timeout, kwargs)

    def _finished(self, outcomes, key, round_, procedure, timeout, kwargs):
        del self._running[key]
        waiting = self._next.pop(key, None)
        if waiting is not None and waiting.waiters:
            self._start(key, waiting, procedure, timeout, kwargs)
        if isinstance(outcomes, Failure):
            for d in list(round_.waiters):
                d.errback(outcomes)
            return None
        gathering = Gathering(outcomes)
        for d in list(round_.waiters):
            d.callback(gathering)
        if gathering is not None:
            gathering.memo.clear()
        return None


def _kwargs_key(kwargs):
    """The arguments of a call as something hashable (their JSON text)."""
    try:
        return jsonutil.dumps(kwargs)
    except (TypeError, ValueError):
        return repr(sorted(kwargs.items()))
