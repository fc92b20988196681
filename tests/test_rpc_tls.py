"""Node RPC: the resource tree, pinned mutual TLS, and the client's typed errors.

The resource tree is exercised in memory through treq's C{StubTreq}; TLS
and the client run over real loopback sockets on 127.0.0.1 (port 0), with
every connection on both sides closed before a test ends.
"""

import ganeti_rapi
from OpenSSL import SSL
from treq.client import HTTPClient
from treq.content import content
from treq.testing import StubTreq
from twisted.internet import defer, error, reactor, ssl
from twisted.internet.endpoints import (
    HostnameEndpoint,
    TCP4ClientEndpoint,
    TCP4ServerEndpoint,
    TCP6ClientEndpoint,
)
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.logger import globalLogPublisher
from twisted.protocols.policies import WrappingFactory
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web import resource, server
from twisted.web.client import (
    Agent,
    HTTPConnectionPool,
    ResponseFailed,
    ResponseNeverReceived,
    URI,
)
from twisted.web.iweb import IPolicyForHTTPS
from zope.interface import implementer

from ganeti_rapi import jsonutil
from ganeti_rapi.noded.procedures import NodeProcedures
from ganeti_rapi.rpc import errors
from ganeti_rapi.rpc.client import NodeEndpoints, NodeRpcClient
from ganeti_rapi.rpc.server import make_site, make_tls_site_factory
from ganeti_rapi.rpc.tls import (
    ClusterClientPolicy,
    normalise_digest,
    server_creator,
)
from tests.helpers import keypair

VERSION = {"protocol": 1, "software_version": ganeti_rapi.__version__}


class DiskFull(errors.ProcedureError):
    """An expected failure a procedure reports."""


class RecordingProcedures(NodeProcedures):
    """The real procedures plus a few for tests, recording every call."""

    def __init__(self, data_dir):
        NodeProcedures.__init__(self, data_dir)
        self.calls = []
        self.hang_cancelled = defer.Deferred()
        self.later = None

    def rpc_version(self):
        self.calls.append("version")
        return NodeProcedures.rpc_version(self)

    def rpc_echo(self, **kwargs):
        self.calls.append("echo")
        return kwargs

    def rpc_add(self, a, b=0):
        self.calls.append("add")
        return a + b

    def rpc_disk_full(self):
        self.calls.append("disk_full")
        raise DiskFull("no space left in /srv/ganeti")

    def rpc_broken(self):
        self.calls.append("broken")
        raise KeyError("missing")

    def rpc_not_json(self):
        self.calls.append("not_json")
        return object()

    def rpc_later(self):
        self.calls.append("later")
        self.later = defer.Deferred()
        return self.later

    def rpc_hang(self):
        self.calls.append("hang")
        return defer.Deferred(lambda d: self.hang_cancelled.callback(None))


class ResourceTests(SynchronousTestCase):
    """The node RPC resource tree, in memory."""

    def setUp(self):
        self.procedures = RecordingProcedures(self.mktemp())
        self.treq = StubTreq(make_site(self.procedures).resource)

    def request(self, method, path, body=b""):
        response = self.successResultOf(
            self.treq.request(method, "https://node" + path, data=body)
        )
        data = self.successResultOf(self.treq.content(response))
        return response, jsonutil.loads(data)

    def test_empty_body_means_no_arguments(self):
        """A POST with an empty body calls the procedure without arguments."""
        response, answer = self.request("POST", "/version")
        self.assertEqual(response.code, 200)
        self.assertEqual(answer, {"success": True, "result": VERSION})
        self.assertEqual(
            response.headers.getRawHeaders(b"content-type"), [b"application/json"]
        )

    def test_arguments_from_body(self):
        """The JSON object in the body is passed as keyword arguments."""
        response, answer = self.request("POST", "/add", b'{"a": 2, "b": 40}')
        self.assertEqual(answer, {"success": True, "result": 42})

    def test_deferred_result(self):
        """A procedure may answer later through a Deferred."""
        d = self.treq.post("https://node/later", data=b"")
        self.assertNoResult(d)
        self.procedures.later.callback(["done"])
        self.treq.flush()
        response = self.successResultOf(d)
        answer = jsonutil.loads(self.successResultOf(self.treq.content(response)))
        self.assertEqual(answer, {"success": True, "result": ["done"]})

    def test_procedure_error(self):
        """An exception from a procedure is answered as success false with its class name."""
        response, answer = self.request("POST", "/disk_full")
        self.assertEqual(response.code, 200)
        self.assertEqual(
            answer,
            {
                "success": False,
                "error": {"type": "DiskFull", "message": "no space left in /srv/ganeti"},
            },
        )

    def test_unexpected_error_logged(self):
        """An unexpected exception is answered the same way and logged with its traceback."""
        response, answer = self.request("POST", "/broken")
        self.assertEqual(answer["error"]["type"], "KeyError")
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)

    def test_unencodable_result(self):
        """A result that is not JSON gives a 500 error answer."""
        response, answer = self.request("POST", "/not_json")
        self.assertEqual(response.code, 500)
        self.assertEqual(answer["error"]["type"], "InternalError")
        self.assertTrue(self.flushLoggedErrors())

    def test_unknown_procedure(self):
        """An unknown procedure is a 404 JSON error."""
        response, answer = self.request("POST", "/reboot_everything")
        self.assertEqual(response.code, 404)
        self.assertEqual(answer["success"], False)
        self.assertEqual(answer["error"]["type"], "UnknownProcedure")

    def test_invalid_names_not_looked_up(self):
        """Names outside [a-z][a-z0-9_]* are 404 without reaching any attribute."""
        for path in ("/Version", "/_version", "/__init__", "/version%0A", "/v-1", "/"):
            response, answer = self.request("POST", path)
            self.assertEqual((path, response.code), (path, 404))
            self.assertEqual(answer["error"]["type"], "UnknownProcedure")
        self.assertEqual(self.procedures.calls, [])

    def test_extra_path_segments(self):
        """A path below a procedure is a 404 and the procedure does not run."""
        response, answer = self.request("POST", "/version/extra")
        self.assertEqual(response.code, 404)
        self.assertEqual(self.procedures.calls, [])

    def test_method_not_allowed(self):
        """Anything but POST is a 405 JSON error naming POST as allowed."""
        response, answer = self.request("GET", "/version")
        self.assertEqual(response.code, 405)
        self.assertEqual(answer["error"]["type"], "MethodNotAllowed")
        self.assertEqual(response.headers.getRawHeaders(b"allow"), [b"POST"])
        self.assertEqual(self.procedures.calls, [])

    def test_bad_json(self):
        """A body that is not JSON is a 400 JSON error."""
        response, answer = self.request("POST", "/version", b"{nope")
        self.assertEqual(response.code, 400)
        self.assertEqual(answer["error"]["type"], "BadRequest")

    def test_body_not_an_object(self):
        """A JSON body that is not an object is a 400 JSON error."""
        response, answer = self.request("POST", "/echo", b"[1, 2]")
        self.assertEqual(response.code, 400)
        self.assertEqual(self.procedures.calls, [])

    def test_bad_arguments(self):
        """Arguments the procedure does not take are a 400 and it does not run."""
        response, answer = self.request("POST", "/add", b'{"c": 1}')
        self.assertEqual(response.code, 400)
        self.assertIn("add", answer["error"]["message"])
        self.assertEqual(self.procedures.calls, [])


class EndpointTests(SynchronousTestCase):
    """Node addresses are connected to directly; names are still resolved."""

    def endpoint(self, url):
        policy = ClusterClientPolicy(keypair(), [keypair().digest()])
        return NodeEndpoints(reactor, policy).endpointForURI(URI.fromBytes(url))

    def test_addresses_and_names(self):
        """An IPv4 or IPv6 address gets a plain TCP endpoint, a name HostnameEndpoint."""
        for url, kind, host in (
            (b"https://192.0.2.7:1811/", TCP4ClientEndpoint, "192.0.2.7"),
            (b"https://[2001:db8::7]:1811/", TCP6ClientEndpoint, "2001:db8::7"),
            (b"https://node1.example.com:1811/", HostnameEndpoint, None),
        ):
            wrapped = self.endpoint(url)._wrappedEndpoint
            self.assertIsInstance(wrapped, kind)
            if host is not None:
                self.assertEqual((wrapped._host, wrapped._port), (host, 1811))


class DigestTests(SynchronousTestCase):
    """Digest normalisation and the refusal to pin nothing."""

    def test_colons_and_case(self):
        """Colon-separated upper-case digests equal certs.cert_digest's form."""
        digest = keypair("cluster").digest()
        spelled = ":".join(digest[i : i + 2] for i in range(0, 64, 2)).upper()
        self.assertEqual(normalise_digest(spelled.encode("ascii")), digest)

    def test_not_a_digest(self):
        """Anything but 64 hex digits is rejected."""
        self.assertRaises(ValueError, normalise_digest, "abc")
        self.assertRaises(ValueError, normalise_digest, "z" * 64)

    def test_empty_pin_set(self):
        """Neither side can be built to accept no certificate at all."""
        self.assertRaises(ValueError, server_creator, keypair("cluster"), set())
        self.assertRaises(ValueError, ClusterClientPolicy, keypair("cluster"), [])


@implementer(IOpenSSLClientConnectionCreator)
class _AnonymousCreator:
    def __init__(self):
        options = ssl.CertificateOptions(raiseMinimumTo=ssl.TLSVersion.TLSv1_2)
        self._context = options.getContext()

    def clientConnectionForTLS(self, tlsProtocol):
        connection = SSL.Connection(self._context, None)
        connection.set_app_data(tlsProtocol)
        return connection


@implementer(IPolicyForHTTPS)
class AnonymousPolicy:
    """TLS without a client certificate, trusting any server."""

    def __init__(self):
        self._creator = _AnonymousCreator()

    def creatorForNetloc(self, hostname, port):
        return self._creator


class ConnectionTracker(WrappingFactory):
    """Counts a server's open connections and can close them all."""

    def __init__(self, wrapped):
        WrappingFactory.__init__(self, wrapped)
        self._waiters = []
        self.accepted = 0

    def registerProtocol(self, p):
        WrappingFactory.registerProtocol(self, p)
        self.accepted += 1

    def unregisterProtocol(self, p):
        WrappingFactory.unregisterProtocol(self, p)
        if not self.protocols:
            waiters, self._waiters = self._waiters, []
            for d in waiters:
                d.callback(None)

    def close_all(self):
        if not self.protocols:
            return defer.succeed(None)
        d = defer.Deferred()
        self._waiters.append(d)
        for p in list(self.protocols):
            p.transport.abortConnection()
        return d


class LoopbackTests(TestCase):
    """Real mutual TLS between NodeRpcClient and the node RPC server."""

    def setUp(self):
        self.cluster = keypair("cluster")
        self.stranger = keypair("stranger")
        self.procedures = RecordingProcedures(self.mktemp())

    @defer.inlineCallbacks
    def serve(self, server_pair=None, site=None):
        """Serve on 127.0.0.1 (port 0) accepting the cluster certificate; the port."""
        server_pair = server_pair or self.cluster
        site = site or make_site(self.procedures)
        creator = server_creator(server_pair, {self.cluster.digest()})
        tracker = ConnectionTracker(make_tls_site_factory(site, creator, reactor))
        endpoint = TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
        port = yield endpoint.listen(tracker)
        self.tracker = tracker

        @defer.inlineCallbacks
        def stop():
            yield port.stopListening()
            yield tracker.close_all()

        self.addCleanup(stop)
        return port.getHost().port

    def client(self, pair=None, **kwargs):
        """A NodeRpcClient closed at cleanup (before the server stops)."""
        client = NodeRpcClient(reactor, pair or self.cluster, **kwargs)
        self.addCleanup(client.close)
        return client

    @defer.inlineCallbacks
    def dead_port(self):
        """A loopback port nobody listens on."""
        port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            server.Site(resource.Resource())
        )
        number = port.getHost().port
        yield port.stopListening()
        return number

    @defer.inlineCallbacks
    def test_cluster_certificate_accepted(self):
        """A client presenting the cluster certificate gets the version answer."""
        port = yield self.serve()
        result = yield self.client().call("127.0.0.1", port, "version")
        self.assertEqual(result, VERSION)

    @defer.inlineCallbacks
    def test_connections_not_logged(self):
        """A new connection to a node logs nothing of the client's factory
        (twisted.web's pool would log "Starting factory" for each)."""
        port = yield self.serve()
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        yield self.client().call("127.0.0.1", port, "version")
        factories = [e for e in events if "factory" in str(e.get("log_format", "")).lower()
                     and "HTTP11ClientFactory" in repr(e.get("factory"))]
        self.assertEqual(factories, [])

    @defer.inlineCallbacks
    def test_keep_alive(self):
        """Successive calls to one node reuse one connection."""
        port = yield self.serve()
        client = self.client()
        first = yield client.call("127.0.0.1", port, "add", a=1, b=2)
        second = yield client.call("127.0.0.1", port, "echo", host="h", port=1)
        self.assertEqual((first, second), (3, {"host": "h", "port": 1}))
        self.assertEqual(self.procedures.calls, ["add", "echo"])
        self.assertEqual(self.tracker.accepted, 1)

    @defer.inlineCallbacks
    def test_stranger_client_refused(self):
        """A client presenting another certificate is refused and nothing runs."""
        port = yield self.serve()
        client = self.client(self.stranger, expected_digests={self.cluster.digest()})
        e = yield self.assertFailure(
            client.call("127.0.0.1", port, "version"), errors.NodeUnreachable
        )
        self.assertEqual(e.address, ("127.0.0.1", port))
        self.assertEqual(self.procedures.calls, [])

    @defer.inlineCallbacks
    def test_client_without_certificate_refused(self):
        """A client presenting no certificate is refused and nothing runs."""
        port = yield self.serve()
        pool = HTTPConnectionPool(reactor, persistent=False)
        http = HTTPClient(Agent(reactor, contextFactory=AnonymousPolicy(), pool=pool))
        d = http.post(f"https://127.0.0.1:{port}/version", data=b"")
        d.addCallback(content)
        yield self.assertFailure(
            d, ResponseNeverReceived, ResponseFailed, SSL.Error, error.ConnectionLost
        )
        self.assertEqual(self.procedures.calls, [])

    @defer.inlineCallbacks
    def test_unpinned_server_refused(self):
        """The client refuses a server whose certificate digest is not pinned."""
        port = yield self.serve(server_pair=self.stranger)
        e = yield self.assertFailure(
            self.client().call("127.0.0.1", port, "version"), errors.NodeUnreachable
        )
        self.assertIn("TLS", str(e))
        self.assertEqual(self.procedures.calls, [])

    @defer.inlineCallbacks
    def test_server_pinned_explicitly(self):
        """A client pinning a node's own certificate accepts that node."""
        port = yield self.serve(server_pair=self.stranger)
        client = self.client(expected_digests=[self.stranger.digest()])
        result = yield client.call("127.0.0.1", port, "version")
        self.assertEqual(result, VERSION)

    @defer.inlineCallbacks
    def test_unknown_procedure(self):
        """An unknown procedure fails with NodeProcedureError of type UnknownProcedure."""
        port = yield self.serve()
        e = yield self.assertFailure(
            self.client().call("127.0.0.1", port, "no_such_thing"),
            errors.NodeProcedureError,
        )
        self.assertEqual((e.remote_type, e.status), ("UnknownProcedure", 404))
        self.assertEqual(e.procedure, "no_such_thing")

    @defer.inlineCallbacks
    def test_remote_error(self):
        """A failing procedure gives NodeProcedureError with the remote type and message."""
        port = yield self.serve()
        e = yield self.assertFailure(
            self.client().call("127.0.0.1", port, "disk_full"),
            errors.NodeProcedureError,
        )
        self.assertEqual(e.remote_type, "DiskFull")
        self.assertEqual(e.remote_message, "no space left in /srv/ganeti")
        self.assertEqual((e.host, e.port, e.status), ("127.0.0.1", port, 200))

    @defer.inlineCallbacks
    def test_bad_answer(self):
        """An answer that is not node RPC JSON fails with NodeProtocolError."""

        class Garbage(resource.Resource):
            isLeaf = True

            def render_POST(self, request):
                return b"<html>surprise</html>"

        port = yield self.serve(site=server.Site(Garbage()))
        e = yield self.assertFailure(
            self.client().call("127.0.0.1", port, "version"), errors.NodeProtocolError
        )
        self.assertEqual(e.address, ("127.0.0.1", port))

    @defer.inlineCallbacks
    def test_timeout(self):
        """A node that never answers fails with NodeTimeout and its work is cancelled."""
        port = yield self.serve()
        client = self.client(timeout=0.2)
        e = yield self.assertFailure(
            client.call("127.0.0.1", port, "hang"), errors.NodeTimeout
        )
        self.assertEqual(e.address, ("127.0.0.1", port))
        yield self.procedures.hang_cancelled

    @defer.inlineCallbacks
    def test_connection_refused(self):
        """A port nobody listens on fails with NodeUnreachable."""
        port = yield self.dead_port()
        e = yield self.assertFailure(
            self.client().call("127.0.0.1", port, "version"), errors.NodeUnreachable
        )
        self.assertEqual(e.address, ("127.0.0.1", port))

    @defer.inlineCallbacks
    def test_call_many(self):
        """call_many answers for a live and a dead node at once, without failing."""
        good = yield self.serve()
        dead = yield self.dead_port()
        results = yield self.client().call_many(
            [("127.0.0.1", good), ("127.0.0.1", dead)], "version"
        )
        self.assertEqual(set(results), {("127.0.0.1", good), ("127.0.0.1", dead)})
        self.assertEqual(results[("127.0.0.1", good)], (True, VERSION))
        ok, e = results[("127.0.0.1", dead)]
        self.assertFalse(ok)
        self.assertIsInstance(e, errors.NodeUnreachable)
        self.assertEqual(e.address, ("127.0.0.1", dead))

    def test_bad_procedure_name(self):
        """The client refuses to send a name the server would not accept."""
        client = NodeRpcClient(reactor, self.cluster)
        self.failureResultOf(client.call("127.0.0.1", 1, "../etc"), ValueError)
