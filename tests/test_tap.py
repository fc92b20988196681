"""C{twistd ganeti-rapi}: options, wiring, and real listening ports."""

import os
import stat

import treq
from OpenSSL import SSL
from twisted.internet import defer, protocol, reactor, ssl
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import Agent, HTTPConnectionPool

from ganeti_rapi import certs, constants, endpoints, paths, tap
from ganeti_rapi.listening import ListeningService
from tests.helpers import (
    https_client,
    keypair,
    short_socket_path,
    start_twistd,
    write_keypair,
)


def parse(*argv):
    options = tap.Options()
    options.parseOptions(list(argv))
    return options


class OptionsTests(SynchronousTestCase):
    def test_defaults(self):
        """Without options: HTTPS on 5080 on all addresses, with our own certificate."""
        data_dir = self.mktemp()
        options = parse("--data-dir", data_dir)
        cert = os.path.join(os.path.abspath(data_dir), "rapi.pem")
        self.assertEqual(
            options["listen"],
            ["ssl:5080:interface=0.0.0.0:privateKey=%s:certKey=%s" % (cert, cert)],
        )
        self.assertTrue(options["generate-cert"])
        self.assertEqual(
            options["users-file"], os.path.join(os.path.abspath(data_dir), "rapi", "users")
        )
        self.assertFalse(options["require-authentication"])

    def test_default_data_dir(self):
        """The data directory is the system one for root, XDG's for others."""
        self.assertEqual(paths.default_data_dir({}, uid=0), "/var/lib/ganeti-rapi")
        self.assertEqual(
            paths.default_data_dir({"XDG_DATA_HOME": "/x"}, uid=1000), "/x/ganeti-rapi"
        )
        self.assertEqual(
            paths.default_data_dir({"HOME": "/home/u"}, uid=1000),
            "/home/u/.local/share/ganeti-rapi",
        )

    def test_legacy_flags(self):
        """-p, -b, -K, -C and --ssl-chain compose one escaped ssl: endpoint."""
        options = parse("-p", "5081", "-b", "::1", "-K", "/k:ey.pem", "-C", "/c.pem",
                        "--ssl-chain", "/chain.pem", "--data-dir", self.mktemp())
        self.assertEqual(
            options["listen"],
            ["ssl:5081:interface=\\:\\:1:privateKey=/k\\:ey.pem:certKey=/c.pem"
             ":extraCertChain=/chain.pem"],
        )
        self.assertFalse(options["generate-cert"])

    def test_no_ssl(self):
        """--no-ssl gives a plain TCP endpoint."""
        options = parse("--no-ssl", "-p", "8080", "-b", "127.0.0.1", "--data-dir", "d")
        self.assertEqual(options["listen"], ["tcp:8080:interface=127.0.0.1"])

    def test_no_ssl_with_key(self):
        """--no-ssl with TLS files is a contradiction."""
        self.assertRaises(usage.UsageError, parse, "--no-ssl", "-K", "/k.pem")

    def test_listen_overrides(self):
        """Repeated --listen options replace the legacy flags."""
        options = parse("-p", "1", "--listen", "tcp:1234", "--listen", "unix:/tmp/s",
                        "--data-dir", "d")
        self.assertEqual(options["listen"], ["tcp:1234", "unix:/tmp/s"])

    def test_bad_port(self):
        """A port out of range is a usage error."""
        self.assertRaises(usage.UsageError, parse, "-p", "70000")
        self.assertRaises(usage.UsageError, parse, "-p", "many")

    def test_split_description(self):
        """Endpoint descriptions split with backslash escapes."""
        self.assertEqual(
            endpoints.split_description("ssl:5080:interface=\\:\\:1:privateKey=/a\\=b"),
            ("ssl", ["5080"], {"interface": "::1", "privateKey": "/a=b"}),
        )


class MakeServiceTests(SynchronousTestCase):
    def test_first_start(self):
        """makeService creates the data directory and a private certificate once."""
        data_dir = self.mktemp()
        top = tap.makeService(parse("--data-dir", data_dir, "-p", "0", "--node-port", "0",
                                    "--control-socket", short_socket_path(self)))
        cert = os.path.join(data_dir, "rapi.pem")
        self.assertEqual(stat.S_IMODE(os.stat(cert).st_mode), 0o600)
        first = certs.load(cert).digest()
        tap.makeService(parse("--data-dir", data_dir, "-p", "0", "--node-port", "0",
                              "--control-socket", short_socket_path(self)))
        self.assertEqual(certs.load(cert).digest(), first)
        listeners = [s for s in top if isinstance(s, ListeningService)]
        self.assertEqual(
            sorted((s.daemon, s.scheme) for s in listeners),
            [("ganeti-rapi", "https"), ("ganeti-rapi control", "control")],
        )
        san = certs.load(cert).cert.extensions.get_extension_for_class(
            certs.x509.SubjectAlternativeName
        )
        self.assertIn("localhost", san.value.get_values_for_type(certs.x509.DNSName))
        # Clients see an RSA key; only our own daemons see the cluster
        # certificate, whose handshakes ECDSA makes cheap.
        self.assertIsInstance(certs.load(cert).key, certs.rsa.RSAPrivateKey)
        cluster = certs.load(os.path.join(data_dir, "server.pem"))
        self.assertIsInstance(cluster.key, certs.ec.EllipticCurvePrivateKey)


class _Probe(protocol.Protocol):
    def __init__(self):
        self.data = b""
        self.closed = defer.Deferred()

    def dataReceived(self, data):
        self.data += data

    def connectionLost(self, reason):
        self.closed.callback(self.data)


class ListeningTests(TestCase):
    """Real sockets on 127.0.0.1: TLS really is on by default."""

    @defer.inlineCallbacks
    def start(self, *argv):
        self.data_dir = self.mktemp()
        top = tap.makeService(
            parse("--data-dir", self.data_dir, "-p", "0", "--node-port", "0", "-b", "127.0.0.1",
                  "--control-socket", short_socket_path(self), *argv)
        )
        yield top.startService()
        self.addCleanup(top.stopService)
        listener = [
            s for s in top if isinstance(s, ListeningService) and s.daemon == "ganeti-rapi"
        ][0]
        self.port = listener.port.getHost().port

    def client(self, pem=None):
        if pem is None:
            pool = HTTPConnectionPool(reactor, persistent=False)
            return treq.client.HTTPClient(Agent(reactor, pool=pool))
        return https_client(pem)

    @defer.inlineCallbacks
    def test_tls_by_default(self):
        """The default daemon answers over TLS with its generated certificate."""
        yield self.start()
        with open(os.path.join(self.data_dir, "rapi.pem"), "rb") as f:
            pem = f.read()
        response = yield self.client(pem).get("https://localhost:%d/version" % self.port)
        self.assertEqual((yield response.json()), constants.RAPI_VERSION)

    @defer.inlineCallbacks
    def test_plain_http_to_tls_port(self):
        """Plain HTTP sent to the TLS port gets no HTTP answer."""
        yield self.start()
        probe = _Probe()
        yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", self.port), probe)
        probe.transport.write(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
        data = yield probe.closed
        self.assertFalse(data.startswith(b"HTTP/"))

    @defer.inlineCallbacks
    def test_old_tls_refused(self):
        """A client limited to TLS 1.1 cannot connect."""
        yield self.start()

        class OldTLS(ssl.ClientContextFactory):
            def getContext(self):
                context = SSL.Context(SSL.TLS_METHOD)
                context.set_cipher_list(b"DEFAULT:@SECLEVEL=0")
                context.set_min_proto_version(SSL.TLS1_VERSION)
                context.set_max_proto_version(SSL.TLS1_1_VERSION)
                return context

        probe = _Probe()
        yield connectProtocol(
            endpoints.endpoints.SSL4ClientEndpoint(reactor, "127.0.0.1", self.port, OldTLS()),
            probe,
        )
        probe.transport.write(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
        data = yield probe.closed
        self.assertEqual(data, b"")

    @defer.inlineCallbacks
    def test_idle_connection_closed(self):
        """A connection that sends nothing is closed after --idle-timeout seconds."""
        yield self.start("--no-ssl", "--idle-timeout", "1")
        probe = _Probe()
        yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", self.port), probe)
        started = reactor.seconds()
        timer = reactor.callLater(10, probe.transport.loseConnection)
        yield probe.closed
        self.assertTrue(timer.active(), "the server did not close the idle connection")
        timer.cancel()
        self.assertLess(reactor.seconds() - started, 5)

    @defer.inlineCallbacks
    def test_no_ssl(self):
        """--no-ssl serves plain HTTP and makes no certificate."""
        yield self.start("--no-ssl")
        response = yield self.client().get("http://127.0.0.1:%d/version" % self.port)
        self.assertEqual((yield response.json()), 2)
        self.assertFalse(os.path.exists(os.path.join(self.data_dir, "rapi.pem")))

    @defer.inlineCallbacks
    def test_operator_certificate(self):
        """-K names an existing key and certificate; nothing is generated."""
        key_file = os.path.abspath(self.mktemp())
        pair = keypair("operator")
        write_keypair(key_file, pair)
        yield self.start("-K", key_file)
        response = yield self.client(pair.cert_pem()).get(
            "https://localhost:%d/version" % self.port
        )
        self.assertEqual(response.code, 200)
        self.assertFalse(os.path.exists(os.path.join(self.data_dir, "rapi.pem")))


class TwistdTests(TestCase):
    """One real C{twistd -n ganeti-rapi} process."""

    timeout = 120

    @defer.inlineCallbacks
    def test_real_daemon(self):
        """twistd runs the plugin; it answers over TLS and refuses anonymous writes."""
        data_dir = os.path.abspath(self.mktemp())
        daemon = yield start_twistd(
            self, "ganeti-rapi", ["--data-dir", data_dir, "-p", "0", "--node-port", "0",
                                  "-b", "127.0.0.1", "--control-socket", short_socket_path(self)]
        )
        self.assertTrue(daemon.url.startswith("https://127.0.0.1:"))
        with open(os.path.join(data_dir, "rapi.pem"), "rb") as f:
            pem = f.read()
        client = https_client(pem)
        url = "https://localhost:%d" % daemon.port
        response = yield client.get(url + "/version")
        self.assertEqual((yield response.json()), 2)
        response = yield client.get(url + "/2/nothing")
        self.assertEqual(response.code, 404)
        self.assertEqual((yield response.json())["explain"], "Nothing matches the given URI")
        ended = yield daemon.stop()
        self.assertEqual(ended, (None, 15))
        self.assertIn("Server Shut Down.", daemon.output)
        self.assertIn("ganeti-rapi-admin --data-dir", daemon.output)
