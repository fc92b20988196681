"""Instance exports: prepare, export to a node, remove, and the export query.

The OS export scripts (the bundled C{ganeti-rapi-noop}'s, which copy the
disk with C{dd}) run for real, so these tests use the real reactor; node
daemons' procedures run in-process (L{LocalNodes}) and every byte of an
export travels from node to node through their procedures.
"""

import os

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase, TestCase

from ganeti_rapi.engine.exports import export_config, parse_config
from ganeti_rapi.noded import errors
from ganeti_rapi.noded.procedures import NodeProcedures
from ganeti_rapi.noded.testing import make_os, run_synchronously
from tests.helpers import EngineFixture, instance_body, local_nodes
from tests.test_disk_templates import (
    MIB,
    TemplateCluster,
    finished_job,
    install_provider,
)

#: A marker written into disk images, to find it again in exports.
MARKER = b"ganeti-rapi export marker"


class ExportTestCase(TemplateCluster, TestCase):
    timeout = 120

    def setUp(self):
        self.make_cluster()
        job = self.create("web1", pnode="node1", disks=[{"size": 8}])
        self.assertEqual(job["status"], "success", job)
        self.disk = os.path.join(self.storage("node1"), "web1", "disk0")
        with open(self.disk, "r+b") as f:
            f.seek(5 * MIB)
            f.write(MARKER)

    def export_dir(self, node):
        return os.path.join(self.node(node).exports.export_dir)

    def exported(self, node, name="web1"):
        """The files of an export on C{node}, C{{name: path}}."""
        directory = os.path.join(self.export_dir(node), name)
        return {f: os.path.join(directory, f) for f in sorted(os.listdir(directory))}

    def export(self, body, name="web1"):
        return finished_job(self.api, "PUT", "/2/instances/%s/export" % name, body)

    def running(self, node):
        return self.successResultOf(self.node(node).rpc_instance_list())

    def assert_no_staging(self):
        for node in ("node1", "node2"):
            directory = self.export_dir(node)
            if os.path.isdir(directory):
                self.assertEqual([n for n in os.listdir(directory) if "." in n], [])


class LocalExportTests(ExportTestCase):
    @defer.inlineCallbacks
    def test_export_to_other_node(self):
        """The image and config.ini reach the target; the instance runs again."""
        self.assertEqual(self.running("node1"), ["web1"])
        job = yield self.export({"target_node": "node2"})
        self.assertEqual((job["status"], job["opresult"]), ("success", [[True, [True]]]),
                         job)
        self.assertEqual(job["summary"], ["BACKUP_EXPORT(web1)"])
        files = self.exported("node2")
        self.assertEqual(sorted(files), ["config.ini", "disk0.snap"])
        st = os.stat(files["disk0.snap"])
        self.assertEqual(st.st_size, 8 * MIB)
        # Chunks of zeros travelled as holes.
        self.assertLess(st.st_blocks * 512, 8 * MIB)
        with open(files["disk0.snap"], "rb") as f:
            f.seek(5 * MIB)
            self.assertEqual(f.read(len(MARKER)), MARKER)
        with open(files["config.ini"]) as f:
            config = parse_config(f.read())
        instance = self.config_instance("web1")
        self.assertEqual(config["export"]["os"], "ganeti-rapi-noop")
        self.assertEqual(config["export"]["source"], "node1")
        self.assertEqual(config["export"]["version"], "0")
        self.assertEqual(config["export"]["compression"], "none")
        expected = {
            "name": "web1", "disk_template": "file", "hypervisor": "fake",
            "maxmem": "128", "minmem": "128", "memory": "128", "disk_count": "1",
            "disk0_size": "8", "disk0_dump": "disk0.snap", "disk0_ivname": "disk/0",
            "nic_count": "1", "nic0_mac": instance.nics[0].mac,
        }
        self.assertEqual({k: config["instance"][k] for k in expected}, expected)
        self.assertEqual(config["backend"]["maxmem"], "128")
        self.assertIn("hypervisor", config)
        self.assertIn("os", config)
        self.assertFalse(os.path.exists(os.path.join(self.export_dir("node1"), "web1")))
        self.assert_no_staging()
        self.assertEqual(self.running("node1"), ["web1"])
        self.assertEqual(self.successResultOf(self.node("node2").rpc_export_list()),
                         ["web1"])

    @defer.inlineCallbacks
    def test_export_to_primary(self):
        """Exporting to the primary node itself copies nothing between nodes."""
        job = yield self.export({"target_node": "node1", "shutdown": False})
        self.assertEqual(job["status"], "success", job)
        files = self.exported("node1")
        self.assertEqual(os.stat(files["disk0.snap"]).st_size, 8 * MIB)
        self.assertEqual(self.running("node1"), ["web1"])
        self.assert_no_staging()

    @defer.inlineCallbacks
    def test_one_export_per_instance(self):
        """A new export replaces the one on another node, as in Ganeti."""
        self.assertEqual((yield self.export({"target_node": "node2"}))["status"], "success")
        self.assertEqual((yield self.export({"target_node": "node1"}))["status"], "success")
        self.assertEqual(self.successResultOf(self.node("node2").rpc_export_list()), [])
        self.assertEqual(self.successResultOf(self.node("node1").rpc_export_list()),
                         ["web1"])

    @defer.inlineCallbacks
    def test_export_and_remove_instance(self):
        """remove_instance removes the instance and its disks after the export."""
        job = yield self.export({"target_node": "node2", "remove_instance": True})
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(self.api.request("GET", "/2/instances/web1")[0], 404)
        self.assertFalse(os.path.exists(self.disk))
        self.assertEqual(self.running("node1"), [])
        self.assertIn("disk0.snap", self.exported("node2"))

    @defer.inlineCallbacks
    def test_stopped_instance_stays_stopped(self):
        """An instance that was not running is not started by the export."""
        self.api.run_job("PUT", "/2/instances/web1/shutdown")
        job = yield self.export({"target_node": "node2"})
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(self.running("node1"), [])

    @defer.inlineCallbacks
    def test_diskless(self):
        """A diskless instance exports its description only."""
        self.create("bare", disk_template="diskless", disks=[], pnode="node2")
        job = yield self.export({"target_node": "node1"}, name="bare")
        self.assertEqual((job["status"], job["opresult"]), ("success", [[True, []]]), job)
        with open(self.exported("node1", "bare")["config.ini"]) as f:
            self.assertEqual(parse_config(f.read())["instance"]["disk_count"], "0")

    @defer.inlineCallbacks
    def test_failed_export_restarts_and_cleans_up(self):
        """A failing OS export script fails the job; nothing is left half-made."""
        make_os(os.path.join(self.node("node1").data_dir.join("os")), "broken",
                scripts={"export": "#!/bin/sh\necho disk unreadable >&2\nexit 3\n"})
        self.create("web2", pnode="node1", os="broken")
        job = yield self.export({"target_node": "node2"}, name="web2")
        self.assertEqual(job["status"], "error")
        self.assertEqual(job["opresult"][0],
                         ["OpExecError", ["Export failed, errors in disk export: disk(s) 0"]])
        self.assertEqual(self.running("node1"), ["web1", "web2"])
        self.assertFalse(os.path.exists(os.path.join(self.export_dir("node2"), "web2")))
        self.assert_no_staging()

    @defer.inlineCallbacks
    def test_export_ext_instance(self):
        """An ext volume is attached on the primary and exported like any disk."""
        install_provider(self.node("node1"))
        body = instance_body("ext1", pnode="node1", disk_template="ext",
                             disks=[{"size": 4, "provider": "testfiles"}])
        job = yield finished_job(self.api, "POST", "/2/instances", body)
        self.assertEqual(job["status"], "success", job)
        job = yield self.export({"target_node": "node2"}, name="ext1")
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(os.stat(self.exported("node2", "ext1")["disk0.snap"]).st_size,
                         4 * MIB)


class ExportErrorTests(ExportTestCase):
    @defer.inlineCallbacks
    def test_prepare(self):
        """prepare-export: local needs nothing, remote is not supported."""
        job = yield finished_job(self.api, "PUT", "/2/instances/web1/prepare-export?mode=local")
        self.assertEqual((job["status"], job["opresult"]), ("success", [None]))
        job = yield finished_job(self.api, "PUT",
                                 "/2/instances/web1/prepare-export?mode=remote")
        self.api.assert_job_error(job, "wrong_input", "Remote exports are not supported")

    @defer.inlineCallbacks
    def test_errors(self):
        """Ganeti's classifications for remote mode, bad targets and bad options."""
        cases = [
            ({"target_node": ["x"], "mode": "remote"}, "wrong_input", "Remote exports"),
            ({"target_node": "nosuch"}, "unknown_entity", "nosuch"),
            ({"target_node": "node2", "compress": "gzip"}, "wrong_input", "gzip"),
            ({"target_node": "node2", "shutdown": False, "remove_instance": True},
             "wrong_state", "without shutting it down"),
            ({"target_node": "node2", "zero_free_space": True}, "wrong_input", "Zeroing"),
        ]
        for body, classification, part in cases:
            job = yield self.export(body)
            self.api.assert_job_error(job, classification, part)
        self.api.engine.config.node_by_name("node2").offline = True
        job = yield self.export({"target_node": "node2"})
        self.api.assert_job_error(job, "wrong_state", "offline node node2")
        self.assertEqual(self.running("node1"), ["web1"])

    @defer.inlineCallbacks
    def test_instance_without_os(self):
        """Disks are exported by the OS's export script; no OS, no export."""
        self.create("bare", os=None, pnode="node1")
        job = yield self.export({"target_node": "node2"}, name="bare")
        self.api.assert_job_error(job, "wrong_state", "has no OS")


class RemoveAndQueryTests(ExportTestCase):
    @defer.inlineCallbacks
    def test_remove(self):
        """DELETE …/export removes the export wherever it is."""
        yield self.export({"target_node": "node2"})
        job = yield finished_job(self.api, "DELETE", "/2/instances/web1/export")
        self.assertEqual((job["status"], job["opresult"]), ("success", [None]), job)
        self.assertFalse(os.path.exists(os.path.join(self.export_dir("node2"), "web1")))

    @defer.inlineCallbacks
    def test_remove_of_removed_instance(self):
        """The export of an instance that no longer exists is found by its name."""
        yield self.export({"target_node": "node2", "remove_instance": True})
        job = yield finished_job(self.api, "DELETE", "/2/instances/web1/export")
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(self.successResultOf(self.node("node2").rpc_export_list()), [])
        job = yield finished_job(self.api, "DELETE", "/2/instances/web1/export")
        self.assertEqual(job["status"], "success", job)
        messages = [entry[3] for entry in job["oplog"][0]]
        self.assertTrue(any("Export not found" in m for m in messages), messages)

    @defer.inlineCallbacks
    def test_query(self):
        """/2/query/export lists (node, export) rows; a silent node is unavailable."""
        yield self.export({"target_node": "node2"})
        answer = self.api.ok("GET", "/2/query/export?fields=node,export")
        self.assertEqual([f["name"] for f in answer["fields"]], ["node", "export"])
        # Nodes without exports have no rows.
        self.assertEqual(answer["data"], [[[0, "node2"], [0, "web1"]]])
        self.nodes.down.add("node1")
        answer = self.api.ok("PUT", "/2/query/export",
                             {"fields": ["node", "export"], "qfilter": ["=", "node", "node1"]})
        self.assertEqual(answer["data"], [[[0, "node1"], [3, None]]])
        fields = self.api.ok("GET", "/2/query/export/fields", user=None)
        self.assertEqual(sorted(f["name"] for f in fields["fields"]), ["export", "node"])


class ExportProcedureTests(SynchronousTestCase):
    """The node's export procedures on their own."""

    def setUp(self):
        self.node = NodeProcedures(os.path.abspath(self.mktemp()),
                                   run_in_thread=run_synchronously)

    def call(self, procedure, /, **kwargs):
        return self.successResultOf(getattr(self.node, "rpc_" + procedure)(**kwargs))

    def fails(self, error, procedure, /, **kwargs):
        failure = self.failureResultOf(getattr(self.node, "rpc_" + procedure)(**kwargs))
        failure.trap(error)
        return failure.value

    def test_receive_finalize_list_remove(self):
        """Chunks in order make a file; finalizing publishes the export."""
        import base64

        content = base64.b64encode(b"abc").decode("ascii")
        self.call("export_receive", instance_name="i1", name="disk0.snap", offset=0,
                  content_b64=content)
        self.call("export_receive", instance_name="i1", name="disk0.snap", offset=3,
                  hole_bytes=MIB)
        self.assertEqual(self.call("export_list"), [])
        info = self.call("export_finalize", instance_name="i1", config="[export]\n")
        self.assertEqual(info["files"], {"config.ini": 9, "disk0.snap": 3 + MIB})
        self.assertEqual(self.call("export_list"), ["i1"])
        self.assertEqual(self.call("export_info", instance_name="i1")["config"], "[export]\n")
        piece = self.call("export_read", path="i1/disk0.snap", offset=0, length=3)
        self.assertEqual(base64.b64decode(piece["content_b64"]), b"abc")
        piece = self.call("export_read", path="i1/disk0.snap", offset=3, length=MIB)
        self.assertEqual((piece["hole"], piece["eof"]), (True, True))
        self.assertEqual(self.call("export_remove", instance_name="i1"), {"removed": True})
        self.assertEqual(self.call("export_list"), [])

    def test_refusals(self):
        """Out-of-order chunks, unsafe names and paths are refused."""
        self.fails(errors.StorageError, "export_receive", instance_name="i1",
                   name="d", offset=5, content_b64="")
        self.call("export_receive", instance_name="i1", name="d", offset=0, content_b64="")
        self.fails(errors.StorageError, "export_receive", instance_name="i1",
                   name="d", offset=5, content_b64="")
        self.fails(errors.InvalidArgument, "export_receive", instance_name="i1",
                   name="../d", offset=0)
        self.fails(errors.InvalidArgument, "export_receive", instance_name="i1",
                   name="config.ini", offset=0)
        self.fails(errors.InvalidArgument, "export_receive", instance_name="i1",
                   name="d", offset=0, content_b64="not base64!")
        self.fails(errors.InvalidArgument, "export_read", path="../../etc/passwd")
        self.fails(errors.StorageError, "export_read", path="i1.new")
        self.fails(errors.InvalidArgument, "export_remove", instance_name="../x")
        self.fails(errors.InvalidArgument, "export_finalize", instance_name="i2", config=3)
        self.fails(errors.StorageError, "export_info", instance_name="i2")


class ConfigTests(SynchronousTestCase):
    """config.ini as Ganeti lays it out."""

    def test_sections_and_keys(self):
        nodes = local_nodes(self, [os.uname().nodename])
        api = EngineFixture(self, nodes=nodes)
        job = api.run_job("POST", "/2/instances", instance_body(
            "web1", disks=[{"size": 8, "name": "root"}],
            nics=[{"mode": "routed", "link": "br9", "ip": "192.0.2.7"}],
            tags=["b", "a"], osparams={"colour": "blue"}))
        self.assertEqual(job["status"], "success", job)
        config = api.engine.config
        text = export_config(config, config.instance_by_name("web1"), 1700000000.5, "src")
        parsed = parse_config(text)
        self.assertEqual(list(parsed),
                         ["export", "instance", "hypervisor", "backend", "os", "os_private"])
        self.assertEqual(parsed["export"], {"version": "0", "timestamp": "1700000000",
                                            "source": "src", "os": "ganeti-rapi-noop",
                                            "compression": "none"})
        instance = parsed["instance"]
        self.assertEqual((instance["tags"], instance["nic0_ip"], instance["nic0_mode"],
                          instance["nic0_link"], instance["disk0_name"]),
                         ("a b", "192.0.2.7", "routed", "br9", "root"))
        self.assertEqual(parsed["os"], {"colour": "blue"})
        self.assertIn("vcpus", parsed["backend"])
