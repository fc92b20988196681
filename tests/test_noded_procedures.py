"""Node procedures through the node RPC server, the tap's options, and a real daemon."""

import base64
import os

from treq.testing import StubTreq
from twisted.internet import defer, reactor
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase, TestCase

from ganeti_rapi import jsonutil, noded_tap
from ganeti_rapi.noded import osapi
from ganeti_rapi.noded.procedures import NodeProcedures
from ganeti_rapi.noded.testing import make_os, run_synchronously, sample_instance
from ganeti_rapi.rpc.client import NodeRpcClient
from ganeti_rapi.rpc.server import make_site
from tests.helpers import keypair, start_twistd, write_keypair


class WireTests(SynchronousTestCase):
    """Procedures called as POST /<name> through the RPC resource tree, in memory."""

    def setUp(self):
        self.data_dir = os.path.abspath(self.mktemp())
        self.node = NodeProcedures(self.data_dir, run_in_thread=run_synchronously)
        self.treq = StubTreq(make_site(self.node).resource)

    def post(self, procedure, body):
        response = self.successResultOf(
            self.treq.post("https://node/" + procedure, data=jsonutil.dumps(body))
        )
        return response.code, jsonutil.loads(self.successResultOf(self.treq.content(response)))

    def test_node_info(self):
        """node_info answers success with the node's figures."""
        code, answer = self.post("node_info", {})
        self.assertEqual(code, 200)
        self.assertTrue(answer["success"])
        self.assertEqual(answer["result"]["hv_name"], "fake")
        self.assertGreater(answer["result"]["mtotal"], 0)

    def test_instance_lifecycle(self):
        """Instances start, list and stop over the wire."""
        instance = sample_instance()
        self.assertEqual(self.post("instance_start", {"instance": instance}),
                         (200, {"success": True, "result": None}))
        self.assertEqual(self.post("instance_list", {"hypervisors": ["fake"]})[1]["result"],
                         [instance["name"]])
        self.post("instance_shutdown", {"instance": instance, "timeout": 10})
        self.assertEqual(self.post("instance_list", {})[1]["result"], [])

    def test_typed_errors(self):
        """Expected failures are answered with their error class name."""
        code, answer = self.post("instance_start", {"instance": sample_instance("../x")})
        self.assertEqual(code, 200)
        self.assertEqual(answer["error"]["type"], "InvalidArgument")
        code, answer = self.post("storage_repair", {"storage_type": "file", "name": "x"})
        self.assertEqual(answer["error"]["type"], "StorageError")
        code, answer = self.post("upload_file", {"name": "passwd", "content_b64": ""})
        self.assertEqual(answer["error"]["type"], "FileUploadError")

    def test_bad_arguments(self):
        """Arguments a procedure does not take are refused with 400 before it runs."""
        code, answer = self.post("blockdev_create_file", {"path": "d", "size": 1})
        self.assertEqual(code, 400)
        self.assertEqual(answer["error"]["type"], "BadRequest")
        self.assertFalse(os.path.exists(os.path.join(self.data_dir, "file-storage", "d")))

    def test_every_procedure_documented(self):
        """Every procedure is named in doc/node-rpc.rst."""
        doc = os.path.join(os.path.dirname(os.path.dirname(__file__)), "doc", "node-rpc.rst")
        with open(doc) as f:
            text = f.read()
        names = [n[4:] for n in dir(self.node) if n.startswith("rpc_")]
        self.assertGreater(len(names), 30)
        for name in names:
            self.assertTrue(
                f"``{name}``" in text or f"``{name}(" in text, f"{name} is not documented"
            )


class OptionsTests(SynchronousTestCase):
    """The node daemon's storage and OS options."""

    def parse(self, *argv):
        options = noded_tap.Options()
        options.parseOptions(list(argv))
        return options

    def test_defaults(self):
        """Without options the defaults of NodeProcedures apply."""
        options = self.parse()
        self.assertIsNone(options["file-storage-dir"])
        self.assertIsNone(options["os-search-path"])
        self.assertEqual(options["os-script-timeout"], osapi.DEFAULT_SCRIPT_TIMEOUT)

    def test_values(self):
        """The search path is split on colons; the storage directory and timeout are kept."""
        options = self.parse(
            "--file-storage-dir", "/srv/ganeti/file-storage",
            "--os-search-path", "/srv/os::/usr/share/ganeti/os",
            "--os-script-timeout", "90",
        )
        self.assertEqual(options["file-storage-dir"], "/srv/ganeti/file-storage")
        self.assertEqual(options["os-search-path"], ["/srv/os", "/usr/share/ganeti/os"])
        self.assertEqual(options["os-script-timeout"], 90.0)

    def test_bad_values(self):
        """An empty search path or a non-positive timeout is a usage error."""
        self.assertRaises(usage.UsageError, self.parse, "--os-search-path", ":")
        self.assertRaises(usage.UsageError, self.parse, "--os-script-timeout", "0")


class DaemonTests(TestCase):
    """A real twistd ganeti-noded on 127.0.0.1 serving the new procedures."""

    @defer.inlineCallbacks
    def test_procedures_over_tls(self):
        """The daemon answers node_info, os_diagnose and file disk calls with its options applied."""
        base = os.path.abspath(self.mktemp())
        data_dir = os.path.join(base, "data")
        os_dir = os.path.join(base, "os")
        storage = os.path.join(base, "storage")
        make_os(os_dir, "daemon-os")
        cluster = keypair("cluster")
        write_keypair(os.path.join(data_dir, "server.pem"), cluster)
        daemon = yield start_twistd(
            self,
            "ganeti-noded",
            [
                "--data-dir", data_dir,
                "--listen", "tcp:0:interface=127.0.0.1",
                "--file-storage-dir", storage,
                "--os-search-path", os_dir,
                "--os-script-timeout", "30",
            ],
        )
        client = NodeRpcClient(reactor, cluster, timeout=30)
        self.addCleanup(client.close)

        def call(procedure, **kwargs):
            return client.call("127.0.0.1", daemon.port, procedure, **kwargs)

        info = yield call("node_info")
        self.assertEqual(info["storage"][0]["name"], storage)
        self.assertGreater(info["mtotal"], 0)
        found = yield call("os_diagnose")
        self.assertEqual([o["name"] for o in found], ["daemon-os"])
        created = yield call("blockdev_create_file", path="i/d0", size_mib=3)
        self.assertEqual(created["path"], os.path.join(storage, "i", "d0"))
        self.assertEqual(os.path.getsize(created["path"]), 3 * 1024 * 1024)
        result = yield call(
            "os_create", instance=sample_instance(
                os="daemon-os",
                disks=[{"dev_type": "file", "logical_id": ["loop", "i/d0"]}],
            )
        )
        self.assertTrue(os.path.isfile(result["log_file"]))
        uploaded = yield call(
            "upload_file", name="known_hosts",
            content_b64=base64.b64encode(b"node1 ssh-ed25519 AAAA\n").decode(), mode=0o644,
        )
        self.assertEqual(uploaded["size"], 23)
