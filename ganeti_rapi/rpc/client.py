# -*- test-case-name: tests.test_rpc_tls -*-
"""The master's side of node RPC: calls to node daemons over pinned mutual TLS.

L{NodeRpcClient.call} posts one procedure call to one node and fires with
the procedure's result, or fails with a L{ganeti_rapi.rpc.errors.NodeRpcError}
subclass naming the node.  L{NodeRpcClient.call_many} fans one call out to
many nodes at once and never fails as a whole: a listing that combines live
data from every node needs the answers of the nodes that are up, whatever
the others do.

Connections are kept alive in an C{HTTPConnectionPool}; a full TLS
handshake costs far more than a request.  Requests go straight to
twisted.web's C{Agent} with the body as bytes: the layers a general HTTP
client adds (URL parsing with IDNA, cookies, redirects, content decoding,
a body producer scheduled on a cooperator) cost more than the request
itself, which a fan-out to a thousand nodes pays a thousand times.  For
the same reason a node's address, an IP address in Ganeti, is connected
to directly (L{NodeEndpoints}), not through the name resolution and
address racing of C{HostnameEndpoint}, which the first listing of a big
cluster would otherwise pay once per node.
"""

import ipaddress
import re

from OpenSSL import SSL
from twisted.internet import defer, error, protocol
from twisted.internet.endpoints import (
    HostnameEndpoint,
    TCP4ClientEndpoint,
    TCP6ClientEndpoint,
    wrapClientTLS,
)
from twisted.web.client import (
    Agent,
    HTTPConnectionPool,
    RequestNotSent,
    RequestTransmissionFailed,
    ResponseDone,
    ResponseFailed,
    ResponseNeverReceived,
    _HTTP11ClientFactory,
)
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgentEndpointFactory, IBodyProducer
from zope.interface import implementer

from ganeti_rapi import jsonutil
from ganeti_rapi.rpc import errors
from ganeti_rapi.rpc.tls import ClusterClientPolicy

#: What a procedure name must look like (the server checks the same).
_PROCEDURE_NAME = re.compile(r"[a-z][a-z0-9_]*")

#: Seconds a call may take, connection and TLS handshake included.
DEFAULT_TIMEOUT = 30

_HEADERS = {b"Content-Type": [b"application/json"], b"Accept": [b"application/json"]}


class _QuietClientFactory(_HTTP11ClientFactory):
    noisy = False


class NodeConnectionPool(HTTPConnectionPool):
    """A persistent pool whose new connections are not logged one by one.

    twisted.web's pool logs "Starting factory" for every connection it
    opens; a master's first listing of a thousand nodes would log a
    thousand such lines.  The factory class is a private attribute of the
    pool, the same in every Twisted release we support.
    """

    _factory = _QuietClientFactory


@implementer(IAgentEndpointFactory)
class NodeEndpoints:
    """Where C{Agent} connects for a node's URL: straight to an IP address.

    A host name (allowed, though Ganeti records nodes by address) still
    goes through C{HostnameEndpoint}.  Either way TLS is the policy's.
    """

    def __init__(self, reactor, policy, connect_timeout=DEFAULT_TIMEOUT):
        self._reactor = reactor
        self._policy = policy
        self._connect_timeout = connect_timeout

    def endpointForURI(self, uri):
        host = uri.host.decode("ascii")
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            endpoint = HostnameEndpoint(self._reactor, uri.host, uri.port,
                                        timeout=self._connect_timeout)
        else:
            kind = TCP4ClientEndpoint if address.version == 4 else TCP6ClientEndpoint
            endpoint = kind(self._reactor, str(address), uri.port,
                            timeout=self._connect_timeout)
        return wrapClientTLS(self._policy.creatorForNetloc(uri.host, uri.port), endpoint)


@implementer(IBodyProducer)
class _Body:
    """A request body already in memory, written at once."""

    def __init__(self, data):
        self._data = data
        self.length = len(data)

    def startProducing(self, consumer):
        consumer.write(self._data)
        return defer.succeed(None)

    def pauseProducing(self):
        pass

    def resumeProducing(self):
        pass

    def stopProducing(self):
        pass


class _Collector(protocol.Protocol):
    """Collects a response body; C{done} fires with the bytes."""

    def __init__(self):
        self._parts = []
        self.done = defer.Deferred(self._cancel)

    def _cancel(self, d):
        if self.transport is not None:
            self.transport.stopProducing()

    def dataReceived(self, data):
        self._parts.append(data)

    def connectionLost(self, reason=protocol.connectionDone):
        if reason.check(ResponseDone, PotentialDataLoss):
            self.done.callback(b"".join(self._parts))
        elif not self.done.called:
            self.done.errback(reason)


def _read_body(response):
    collector = _Collector()
    response.deliverBody(collector)
    return collector.done


def _url(host, port, procedure):
    host = str(host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"https://{host}:{int(port)}/{procedure}".encode("ascii")


def _reasons(failure):
    """The underlying failures of an C{Agent} failure (or the failure itself)."""
    reasons = getattr(failure.value, "reasons", None)
    if reasons:
        return list(reasons)
    return [failure]


def _describe(failure):
    parts = []
    for reason in _reasons(failure):
        value = reason.value
        if isinstance(value, SSL.Error):
            parts.append(f"TLS failed: {value}")
        else:
            parts.append(str(value) or type(value).__name__)
    return "; ".join(parts)


class NodeRpcClient:
    """Calls node daemon procedures.

    @param reactor: provides C{IReactorTCP} and C{IReactorTime}.
    @param cluster_keypair: the cluster L{ganeti_rapi.certs.KeyPair},
        presented as client certificate.
    @param expected_digests: server certificate digests accepted; by default
        only the cluster certificate's own.
    @param timeout: seconds per call, from connecting to the parsed answer.
    @param pool: an C{HTTPConnectionPool}; a persistent L{NodeConnectionPool}
        by default.
    """

    def __init__(
        self,
        reactor,
        cluster_keypair,
        expected_digests=None,
        timeout=DEFAULT_TIMEOUT,
        pool=None,
    ):
        if expected_digests is None:
            expected_digests = {cluster_keypair.digest()}
        self._reactor = reactor
        self.timeout = timeout
        self.policy = ClusterClientPolicy(cluster_keypair, expected_digests)
        self.pool = pool if pool is not None else NodeConnectionPool(reactor)
        self._agent = Agent.usingEndpointFactory(
            reactor, NodeEndpoints(reactor, self.policy), pool=self.pool)

    def call(self, host, port, procedure, /, **kwargs):
        """Call C{procedure} on the node daemon at C{host}:C{port}.

        @param kwargs: the procedure's keyword arguments (JSON values).
        @return: a Deferred firing with the procedure's result, or failing
            with a L{errors.NodeRpcError} subclass (or with C{ValueError}/
            C{TypeError} for a bad procedure name or unencodable arguments).
        """
        return self.call_within(self.timeout, host, port, procedure, **kwargs)

    def call_within(self, timeout, host, port, procedure, /, **kwargs):
        """L{call} with its own time limit (OS scripts take minutes, live
        data must come back in seconds)."""
        if not isinstance(procedure, str) or not _PROCEDURE_NAME.fullmatch(procedure):
            return defer.fail(ValueError(f"not a procedure name: {procedure!r}"))
        try:
            body = jsonutil.dumps(kwargs)
        except Exception:
            return defer.fail()

        d = self._agent.request(
            b"POST", _url(host, port, procedure), Headers(_HEADERS), _Body(body)
        )
        d.addCallback(self._read_answer, host, port, procedure)
        d.addTimeout(
            timeout,
            self._reactor,
            onTimeoutCancel=lambda result, limit: self._timed_out(
                result, host, port, procedure, limit
            ),
        )
        d.addErrback(self._translate_failure, host, port, procedure)
        return d

    def _timed_out(self, result, host, port, procedure, limit):
        # Whatever cancelling the request gave (the Agent wraps the
        # CancelledError its own way), the call ran out of time.
        raise errors.NodeTimeout(
            host, port, procedure, f"no answer within {limit} seconds"
        )

    def _read_answer(self, response, host, port, procedure):
        d = _read_body(response)
        d.addCallback(self._parse_answer, response.code, host, port, procedure)
        return d

    def _parse_answer(self, data, status, host, port, procedure):
        def protocol_error(message):
            return errors.NodeProtocolError(host, port, procedure, message)

        try:
            answer = jsonutil.loads(data)
        except jsonutil.JSONDecodeError:
            raise protocol_error(f"HTTP {status} with a body that is not JSON")
        if not isinstance(answer, dict) or not isinstance(answer.get("success"), bool):
            raise protocol_error(f"HTTP {status} with no success flag in the answer")
        if answer["success"]:
            if status != 200:
                raise protocol_error(f"HTTP {status} with a successful answer")
            if "result" not in answer:
                raise protocol_error("successful answer without a result")
            return answer["result"]
        remote = answer.get("error")
        if (
            not isinstance(remote, dict)
            or not isinstance(remote.get("type"), str)
            or not isinstance(remote.get("message"), str)
        ):
            raise protocol_error(f"HTTP {status} with a malformed error")
        raise errors.NodeProcedureError(
            host, port, procedure, remote["type"], remote["message"], status
        )

    def _translate_failure(self, failure, host, port, procedure):
        if failure.check(errors.NodeRpcError, defer.CancelledError):
            return failure
        if failure.check(defer.TimeoutError, error.TimeoutError):
            raise errors.NodeTimeout(
                host, port, procedure, f"no answer within {self.timeout} seconds"
            )
        if failure.check(
            error.ConnectError,
            error.ConnectionLost,
            error.ConnectionDone,
            SSL.Error,
            ResponseNeverReceived,
            ResponseFailed,
            RequestTransmissionFailed,
            RequestNotSent,
        ):
            raise errors.NodeUnreachable(host, port, procedure, _describe(failure))
        raise errors.NodeRpcError(
            host, port, procedure, f"unexpected failure: {failure.getErrorMessage()}"
        ) from failure.value

    def call_many(self, targets, procedure, /, **kwargs):
        """Call C{procedure} on every C{(host, port)} in C{targets} at once.

        @return: a Deferred firing with a dict mapping each C{(host, port)}
            to C{(True, result)} or C{(False, exception)}; it never fails.
        """
        targets = list(dict.fromkeys((host, port) for host, port in targets))
        calls = []
        for host, port in targets:
            d = self.call(host, port, procedure, **kwargs)
            d.addCallbacks(lambda result: (True, result), lambda f: (False, f.value))
            calls.append(d)
        d = defer.gatherResults(calls)
        d.addCallback(lambda outcomes: dict(zip(targets, outcomes)))
        return d

    def close(self):
        """Close the pool's kept-alive connections; a Deferred fires when done."""
        return self.pool.closeCachedConnections()
