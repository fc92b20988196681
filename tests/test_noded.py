"""The ganeti-noded tap: options, start-up checks, and a real twistd process."""

import os
import sys

import ganeti_rapi
from twisted.application import service
from twisted.internet import defer, reactor, utils
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase, TestCase

from ganeti_rapi import constants, noded_tap, paths
from ganeti_rapi.listening import ListeningService
from ganeti_rapi.noded.procedures import NodeProcedures
from ganeti_rapi.rpc import errors
from ganeti_rapi.rpc.client import NodeRpcClient
from tests import helpers
from tests.helpers import keypair, start_twistd, write_keypair


def parse(*argv):
    options = noded_tap.Options()
    options.parseOptions(list(argv))
    return options


class OptionsTests(SynchronousTestCase):
    """Command-line options of twistd ganeti-noded."""

    def test_defaults(self):
        """Without options the daemon listens on 0.0.0.0:1811 with the default data dir."""
        options = parse()
        self.assertEqual(options["port"], constants.DEFAULT_NODED_PORT)
        self.assertEqual(options["bind"], "0.0.0.0")
        self.assertEqual(options["data-dir"], paths.default_data_dir())
        self.assertEqual(options["listen"], ["tcp:1811:interface=0.0.0.0"])

    def test_port_and_bind(self):
        """-p and -b make the listening endpoint."""
        options = parse("-p", "1900", "-b", "127.0.0.1", "--data-dir", "/srv/d")
        self.assertEqual(options["listen"], ["tcp:1900:interface=127.0.0.1"])
        self.assertEqual(options["data-dir"], "/srv/d")

    def test_ipv6_bind(self):
        """An IPv6 bind address gives a tcp6 endpoint with its colons escaped."""
        options = parse("--bind", "::1")
        self.assertEqual(options["listen"], ["tcp6:1811:interface=\\:\\:1"])

    def test_listen_overrides(self):
        """Repeated --listen descriptions replace -p and -b."""
        options = parse(
            "-p", "1900",
            "--listen", "tcp:0:interface=127.0.0.1",
            "--listen", "unix:/run/noded.sock",
        )
        self.assertEqual(
            options["listen"], ["tcp:0:interface=127.0.0.1", "unix:/run/noded.sock"]
        )

    def test_tls_listen_rejected(self):
        """A TLS endpoint description is refused, as TLS is added by the daemon."""
        self.assertRaises(usage.UsageError, parse, "--listen", "ssl:1811")

    def test_bad_port(self):
        """A port outside 0-65535 or not a number is a usage error."""
        self.assertRaises(usage.UsageError, parse, "-p", "70000")
        self.assertRaises(usage.UsageError, parse, "-p", "many")


class MakeServiceTests(SynchronousTestCase):
    """makeService and its start-up checks."""

    def test_missing_certificate(self):
        """Without server.pem, start-up fails naming the path and the need to join."""
        data_dir = self.mktemp()
        os.makedirs(data_dir)
        options = parse("--data-dir", data_dir)
        e = self.assertRaises(noded_tap.StartupError, noded_tap.makeService, options)
        self.assertIsInstance(e, SystemExit)
        message = str(e)
        self.assertIn(os.path.join(os.path.abspath(data_dir), "server.pem"), message)
        self.assertIn("joined to a cluster", message)

    def test_unreadable_certificate(self):
        """A server.pem that is not a key pair fails start-up with its path."""
        data_dir = self.mktemp()
        os.makedirs(data_dir)
        path = os.path.join(data_dir, "server.pem")
        with open(path, "wb") as f:
            f.write(b"not a certificate\n")
        e = self.assertRaises(
            noded_tap.StartupError,
            noded_tap.makeService,
            parse("--data-dir", data_dir),
        )
        self.assertIn(os.path.abspath(path), str(e))

    def test_services(self):
        """Each --listen description becomes one https listening service."""
        data_dir = self.mktemp()
        write_keypair(os.path.join(data_dir, "server.pem"), keypair("cluster"))
        options = parse(
            "--data-dir", data_dir,
            "--listen", "tcp:0:interface=127.0.0.1",
            "--listen", "tcp:0:interface=127.0.0.2",
        )
        top = noded_tap.makeService(options)
        self.assertIsInstance(top, service.MultiService)
        children = list(top)
        self.assertEqual(len(children), 2)
        for child in children:
            self.assertIsInstance(child, ListeningService)
            self.assertEqual((child.daemon, child.scheme), ("ganeti-noded", "https"))

    def test_plugin(self):
        """The twistd plugin names the tap module and the ganeti-noded command."""
        from twisted.plugins import ganeti_noded_plugin

        maker = ganeti_noded_plugin.ganeti_noded
        self.assertEqual(maker.tapname, "ganeti-noded")
        self.assertEqual(maker.module, "ganeti_rapi.noded_tap")
        self.assertIs(maker.options, noded_tap.Options)

    def test_version_procedure(self):
        """The version procedure reports protocol 1 and the software version."""
        self.assertEqual(
            NodeProcedures(self.mktemp()).rpc_version(),
            {"protocol": 1, "software_version": ganeti_rapi.__version__},
        )


class DaemonTests(TestCase):
    """A real twistd ganeti-noded process on 127.0.0.1."""

    @defer.inlineCallbacks
    def test_plugin_import_is_light(self):
        """Importing the plugin module loads neither the reactor nor OpenSSL."""
        out = yield utils.getProcessOutput(
            sys.executable,
            [
                "-c",
                "import sys, twisted.plugins.ganeti_noded_plugin;"
                "print(sorted(m for m in ('twisted.internet.reactor', 'OpenSSL')"
                " if m in sys.modules))",
            ],
            env=helpers.subprocess_env(),
            path=helpers.REPO_ROOT,
        )
        self.assertEqual(out.strip(), b"[]")

    @defer.inlineCallbacks
    def test_serves_cluster_and_refuses_stranger(self):
        """The daemon answers version for the cluster certificate and refuses a stranger."""
        data_dir = os.path.abspath(self.mktemp())
        cluster = keypair("cluster")
        write_keypair(os.path.join(data_dir, "server.pem"), cluster)
        daemon = yield start_twistd(
            self,
            "ganeti-noded",
            ["--data-dir", data_dir, "--listen", "tcp:0:interface=127.0.0.1"],
        )
        self.assertTrue(daemon.url.startswith("https://127.0.0.1:"), daemon.url)

        member = NodeRpcClient(reactor, cluster, timeout=20)
        self.addCleanup(member.close)
        result = yield member.call("127.0.0.1", daemon.port, "version")
        self.assertEqual(
            result, {"protocol": 1, "software_version": ganeti_rapi.__version__}
        )

        stranger = NodeRpcClient(
            reactor, keypair("stranger"), expected_digests={cluster.digest()},
            timeout=20,
        )
        self.addCleanup(stranger.close)
        e = yield self.assertFailure(
            stranger.call("127.0.0.1", daemon.port, "version"), errors.NodeUnreachable
        )
        self.assertEqual(e.address, ("127.0.0.1", daemon.port))

    @defer.inlineCallbacks
    def test_exits_without_certificate(self):
        """Without a cluster certificate twistd exits non-zero saying why."""
        data_dir = os.path.abspath(self.mktemp())
        os.makedirs(data_dir)
        daemon = helpers.TwistdProcess(
            "ganeti-noded",
            ["--data-dir", data_dir, "--listen", "tcp:0:interface=127.0.0.1"],
        )
        self.addCleanup(daemon.stop)
        e = yield self.assertFailure(daemon.start(timeout=60), RuntimeError)
        self.assertIn("joined to a cluster", str(e))
        self.assertIn("server.pem", str(e))
        code = yield daemon.proto.ended
        self.assertNotEqual(code, 0)
