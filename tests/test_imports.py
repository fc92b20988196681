"""Instance creation from an export (mode C{import}) through the real engine.

As in L{tests.test_exports}, the bundled C{ganeti-rapi-noop} OS's export and
import scripts run for real (they copy the disk with C{dd}) on the real
reactor, and node daemons' procedures run in-process: an image on another
node travels to the new primary through their procedures, chunk by chunk.
"""

import hashlib
import os

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from ganeti_rapi.engine.errors import OpPrereqError
from ganeti_rapi.engine.exports import ExportDescription, export_config
from ganeti_rapi.engine.units.imports import export_name
from ganeti_rapi.noded.testing import make_os
from tests.helpers import EngineFixture, instance_body, local_nodes
from tests.test_disk_templates import MIB, finished_job
from tests.test_exports import MARKER, ExportTestCase


def import_body(name, **extra):
    """A version 1 creation body importing an export; the rest from the export."""
    body = {"__version__": 1, "mode": "import", "name": name, "disks": [], "nics": []}
    body.update(extra)
    return body


def digest(path):
    """The SHA-256 of a file's bytes, and its size."""
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(MIB), b""):
            sha.update(block)
    return sha.hexdigest(), os.path.getsize(path)


class ImportTestCase(ExportTestCase):
    """web1 (8 MiB file disk with a marker at 5 MiB) on node1, exported to node2."""

    @defer.inlineCallbacks
    def setUp(self):
        ExportTestCase.setUp(self)
        job = yield self.export({"target_node": "node2"})
        self.assertEqual(job["status"], "success", job)

    def import_(self, name, **extra):
        return finished_job(self.api, "POST", "/2/instances", import_body(name, **extra))

    def disk_file(self, node, name, index=0):
        return os.path.join(self.storage(node), name, "disk%d" % index)

    def messages(self, job):
        return [entry[3] for entry in job["oplog"][0]]

    def assert_nothing_of(self, name):
        """No trace of instance C{name}: configuration, disks, staging, running."""
        self.assertIsNone(self.config_instance(name))
        for node in ("node1", "node2"):
            files = [f for _, _, names in os.walk(os.path.join(self.storage(node), name))
                     for f in names]
            self.assertEqual(files, [])
            self.assertNotIn(name, self.running(node))
        self.assert_no_staging()


class ImportTests(ImportTestCase):
    @defer.inlineCallbacks
    def test_import_on_other_node(self):
        """The image travels from the export's node to the new primary; the
        new disk holds the exported bytes exactly, and the instance runs."""
        job = yield self.import_("web2", pnode="node1", src_node="node2", src_path="web1")
        self.assertEqual((job["status"], job["opresult"]), ("success", [["node1"]]), job)
        self.assertEqual(job["summary"], ["INSTANCE_CREATE(web2)"])
        new = self.disk_file("node1", "web2")
        self.assertEqual(digest(new), digest(self.disk))
        self.assertEqual(digest(new),
                         digest(os.path.join(self.export_dir("node2"), "web1", "disk0.snap")))
        with open(new, "rb") as f:
            f.seek(5 * MIB)
            self.assertEqual(f.read(len(MARKER)), MARKER)
        self.assertEqual(sorted(self.running("node1")), ["web1", "web2"])
        messages = self.messages(job)
        for part in ("Copied the image of disk 0 from node2 to node1 (%d bytes)" % (8 * MIB),
                     "Importing disk 0", "OS import log of disk 0",
                     "OS rename script"):
            self.assertTrue(any(part in m for m in messages), (part, messages))
        # The copy on node1 is gone; the export on node2 stays.
        self.assert_no_staging()
        self.assertEqual(os.listdir(self.export_dir("node1")), [])
        self.assertEqual(self.successResultOf(self.node("node2").rpc_export_list()),
                         ["web1"])
        logs = os.listdir(self.node("node1").data_dir.join("node", "os-logs"))
        self.assertTrue(any(n.startswith("import-ganeti-rapi-noop-web2") for n in logs), logs)

    @defer.inlineCallbacks
    def test_import_on_export_node(self):
        """On the node holding the export, the import script reads it in place."""
        job = yield self.import_("web2", pnode="node2", src_node="node2", src_path="web1",
                                 start=False)
        self.assertEqual((job["status"], job["opresult"]), ("success", [["node2"]]), job)
        self.assertEqual(digest(self.disk_file("node2", "web2")), digest(self.disk))
        self.assertFalse(any("Copied" in m for m in self.messages(job)))
        self.assertEqual(self.running("node2"), [])
        self.assertEqual(self.instance("web2")["admin_state"], "down")
        self.assert_no_staging()

    @defer.inlineCallbacks
    def test_defaults_from_export(self):
        """OS, template, disks, NICs, hypervisor, parameters and tags come from
        config.ini; the new instance gets a MAC address of its own."""
        job = yield finished_job(self.api, "POST", "/2/instances", instance_body(
            "web3", pnode="node1", disks=[{"size": 4, "name": "root"}, {"size": 2}],
            nics=[{"mode": "routed", "link": "br7", "ip": "192.0.2.9", "name": "eth0"}],
            beparams={"maxmem": 192, "minmem": 64, "vcpus": 2},
            osparams={"colour": "blue"}, tags=["db", "prod"], no_install=False))
        self.assertEqual(job["status"], "success", job)
        for index in range(2):
            with open(self.disk_file("node1", "web3", index), "r+b") as f:
                f.seek(MIB + index)
                f.write(MARKER)
        job = yield self.export({"target_node": "node2"}, name="web3")
        self.assertEqual(job["status"], "success", job)
        job = yield self.import_("copy3", pnode="node1", src_path="web3")
        self.assertEqual(job["status"], "success", job)
        original, copy = self.config_instance("web3"), self.config_instance("copy3")
        self.assertEqual(
            (copy.os, copy.disk_template, copy.hypervisor, sorted(copy.tags)),
            ("ganeti-rapi-noop", "file", "fake", ["db", "prod"]),
        )
        self.assertEqual([(d.size, d.name) for d in copy.disks], [(4, "root"), (2, None)])
        self.assertEqual(len(copy.nics), 1)
        nic = copy.nics[0]
        self.assertEqual((nic.ip, nic.name, nic.nicparams["mode"], nic.nicparams["link"]),
                         ("192.0.2.9", "eth0", "routed", "br7"))
        self.assertNotEqual(nic.mac, original.nics[0].mac)
        self.assertEqual({k: copy.beparams[k] for k in ("maxmem", "minmem", "vcpus")},
                         {"maxmem": 192, "minmem": 64, "vcpus": 2})
        self.assertIs(copy.beparams["auto_balance"], True)
        self.assertEqual(copy.osparams, {"colour": "blue"})
        for index in range(2):
            self.assertEqual(digest(self.disk_file("node1", "copy3", index)),
                             digest(self.disk_file("node1", "web3", index)))

    @defer.inlineCallbacks
    def test_request_overrides_export(self):
        """What the request gives wins over config.ini: disks, NICs, parameters."""
        job = yield self.import_(
            "web2", pnode="node1", src_node="node2", src_path="web1",
            disks=[{"size": 12}], nics=[{"mode": "routed", "link": "br5"}],
            beparams={"memory": 256}, tags=["new"], start=False,
        )
        self.assertEqual(job["status"], "success", job)
        copy = self.config_instance("web2")
        self.assertEqual([d.size for d in copy.disks], [12])
        self.assertEqual(copy.nics[0].nicparams, {"mode": "routed", "link": "br5"})
        self.assertEqual((copy.beparams["maxmem"], copy.beparams["minmem"]), (256, 256))
        self.assertEqual(copy.tags, {"new"})
        new = self.disk_file("node1", "web2")
        self.assertEqual(os.path.getsize(new), 12 * MIB)
        with open(new, "rb") as f:
            f.seek(5 * MIB)
            self.assertEqual(f.read(len(MARKER)), MARKER)

    @defer.inlineCallbacks
    def test_same_name_keeps_mac(self):
        """Imported under its old name (the original gone), the instance keeps
        the exported MAC address, as in Ganeti."""
        mac = self.config_instance("web1").nics[0].mac
        job = yield finished_job(self.api, "DELETE", "/2/instances/web1")
        self.assertEqual(job["status"], "success", job)
        # Without src_path, the export of the instance's own name (Ganeti's default).
        job = yield self.import_("web1", pnode="node1")
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(self.config_instance("web1").nics[0].mac, mac)
        self.assertEqual(digest(self.disk_file("node1", "web1"))[1], 8 * MIB)

    @defer.inlineCallbacks
    def test_search_without_src_node(self):
        """Without src_node, every online node's exports are searched."""
        job = yield self.import_("web2", iallocator="builtin", src_path="web1")
        self.assertEqual(job["status"], "success", job)
        pnode = job["opresult"][0][0]
        config = self.api.engine.config
        self.assertIn(pnode, ["node1", "node2", config.node(config.cluster.master_node).name])
        with open(self.disk_file(pnode, "web2"), "rb") as f:
            f.seek(5 * MIB)
            self.assertEqual(f.read(len(MARKER)), MARKER)

    @defer.inlineCallbacks
    def test_absolute_src_path(self):
        """The absolute path of the export's directory on src_node names it too."""
        path = os.path.join(self.export_dir("node2"), "web1")
        job = yield self.import_("web2", pnode="node1", src_node="node2", src_path=path)
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(digest(self.disk_file("node1", "web2")), digest(self.disk))

    @defer.inlineCallbacks
    def test_dry_run(self):
        """A dry run answers the primary node and makes nothing."""
        job = yield finished_job(self.api, "POST", "/2/instances?dry-run=1",
                                 import_body("web2", pnode="node1", src_path="web1"))
        self.assertEqual((job["status"], job["opresult"]), ("success", [["node1"]]), job)
        self.assert_nothing_of("web2")

    @defer.inlineCallbacks
    def test_failed_import_cleans_up(self):
        """A failing OS import script fails the job and removes the new
        instance, its disks and the image copied to its primary."""
        make_os(self.node("node1").data_dir.join("os"), "broken",
                scripts={"export": "#!/bin/sh\nexec dd if=\"$EXPORT_DEVICE\" bs=1048576\n",
                         "import": "#!/bin/sh\necho disk unwritable >&2\nexit 4\n"})
        self.assertEqual(self.create("web2", pnode="node1", os="broken")["status"], "success")
        job = yield self.export({"target_node": "node2"}, name="web2")
        self.assertEqual(job["status"], "success", job)
        job = yield self.import_("web3", pnode="node1", src_path="web2")
        self.assertEqual(job["status"], "error", job)
        self.assertEqual(job["opresult"][0][0], "OpExecError")
        self.assertIn("os_import", job["opresult"][0][1][0])
        self.assert_nothing_of("web3")
        self.assertEqual(os.listdir(self.export_dir("node1")), [])


class ImportErrorTests(ImportTestCase):
    @defer.inlineCallbacks
    def test_unknown_export(self):
        """An export found nowhere, or not on src_node, is wrong_input."""
        job = yield self.import_("web2", pnode="node1", src_path="nosuch")
        self.api.assert_job_error(job, "wrong_input", "No export found for relative path nosuch")
        job = yield self.import_("web2", pnode="node1")
        self.api.assert_job_error(job, "wrong_input", "No export found for relative path web2")
        job = yield self.import_("web2", pnode="node1", src_node="node1", src_path="web1")
        self.api.assert_job_error(job, "wrong_input", "No export of web1 found on node node1")
        job = yield self.import_("web2", pnode="node1", src_node="nosuch", src_path="web1")
        self.api.assert_job_error(job, "unknown_entity", "nosuch")
        self.assert_nothing_of("web2")

    @defer.inlineCallbacks
    def test_invalid_src_path(self):
        """No path leaving the export directory, nor an unnormalised one, is used."""
        exports = self.export_dir("node2")
        for src_path in ("../x", "..", "web1/../web1", "a/b", ".hidden", "",
                         exports + "/../web1", exports + "//web1", "/etc/passwd",
                         exports + "/web1/", "web1\0"):
            job = yield self.import_("web2", pnode="node1", src_node="node2",
                                     src_path=src_path)
            self.api.assert_job_error(job, "wrong_input")
        job = yield self.import_("web2", pnode="node1", src_path="../x")
        self.api.assert_job_error(job, "wrong_input", "Invalid export path '../x'")
        job = yield self.import_("web2", pnode="node1", src_path=exports + "/web1")
        self.api.assert_job_error(job, "wrong_input", "requires a source node")
        self.assert_nothing_of("web2")

    @defer.inlineCallbacks
    def test_disks_smaller_than_images(self):
        """Fewer or smaller disks than the export's are wrong_input."""
        job = yield self.import_("web2", pnode="node1", src_path="web1", disks=[{"size": 4}])
        self.api.assert_job_error(job, "wrong_input", "smaller than its image")
        job = yield self.import_("web2", pnode="node1", src_path="web1",
                                 disk_template="diskless")
        self.api.assert_job_error(job, "wrong_input", "takes no disks")
        self.assertEqual(self.create("web3", pnode="node1", disks=[{"size": 2}] * 2)["status"],
                         "success")
        job = yield self.export({"target_node": "node2"}, name="web3")
        self.assertEqual(job["status"], "success", job)
        job = yield self.import_("web2", pnode="node1", src_path="web3", disks=[{"size": 2}])
        self.api.assert_job_error(job, "wrong_input",
                                  "Not enough disks to import. (instance: 1, export: 2)")
        self.assert_nothing_of("web2")

    @defer.inlineCallbacks
    def test_refusals(self):
        """An existing name, remote imports and adoption are refused."""
        job = yield self.import_("web1", pnode="node1", src_path="web1")
        self.api.assert_job_error(job, "already_exists")
        job = yield self.import_("web2", pnode="node1", src_path="web1", mode="remote-import")
        self.api.assert_job_error(job, "wrong_input", "Remote imports")
        job = yield self.import_("web2", pnode="node1", src_path="web1",
                                 disk_template="blockdev",
                                 disks=[{"adopt": os.path.join(self.adopt_dir, "x")}])
        self.api.assert_job_error(job, "wrong_input", "Disk adoption not allowed")
        body = import_body("web2", pnode="node1", src_path="web1")
        del body["__version__"]
        job = yield finished_job(self.api, "POST", "/2/instances-multi-alloc",
                                 {"instances": [body]})
        self.api.assert_job_error(job, "wrong_input", "mode 'import' is not possible here")
        self.assert_nothing_of("web2")


class ExportDescriptionTests(SynchronousTestCase):
    """Reading config.ini for an import."""

    def test_round_trip(self):
        """What export_config writes, ExportDescription reads back typed."""
        nodes = local_nodes(self, [os.uname().nodename])
        api = EngineFixture(self, nodes=nodes)
        job = api.run_job("POST", "/2/instances", instance_body(
            "web1", disks=[{"size": 8, "name": "root"}, {"size": 4}],
            nics=[{"mode": "routed", "link": "br9", "ip": "192.0.2.7"}, {}],
            tags=["b", "a"], beparams={"maxmem": 256, "minmem": 128, "vcpus": 3}))
        self.assertEqual(job["status"], "success", job)
        config = api.engine.config
        instance = config.instance_by_name("web1")
        export = ExportDescription(export_config(config, instance, 1700000000, "src"))
        self.assertEqual((export.name, export.os, export.tags, export.disk_count()),
                         ("web1", "ganeti-rapi-noop", ["a", "b"], 2))
        self.assertEqual(export.disks(), [{"size": 8, "name": "root"}, {"size": 4}])
        self.assertEqual(export.images(), ["disk0.snap", "disk1.snap"])
        nics = export.nics()
        self.assertEqual(nics[0], {"mac": instance.nics[0].mac, "ip": "192.0.2.7",
                                   "mode": "routed", "link": "br9"})
        self.assertEqual(nics[1], {"mac": instance.nics[1].mac, "mode": "bridged",
                                   "link": "xen-br0"})
        backend = export.backend()
        self.assertEqual((backend["maxmem"], backend["vcpus"], backend["auto_balance"]),
                         (256, 3, True))
        self.assertEqual(export.hypervisor_params("kvm"), {})

    def test_corrupt_and_old(self):
        """A text that is no export description, or another version, is refused."""
        for text, part in (("junk", "Corrupted"), ("[instance]\n", "Corrupted"),
                           ("[export]\nversion = 1\n[instance]\n", "Wrong export version")):
            e = self.assertRaises(OpPrereqError, ExportDescription, text)
            self.assertIn(part, e.args[0])
            self.assertEqual(e.classification, "environment_error")
        export = ExportDescription("[export]\nversion = 0\n[instance]\n"
                                   "[backend]\nvcpus = many\n")
        e = self.assertRaises(OpPrereqError, export.backend)
        self.assertEqual(e.classification, "wrong_input")

    def test_export_name(self):
        """Names and absolute normalised paths name exports; nothing else does."""
        self.assertEqual(export_name("web1.example.com"), "web1.example.com")
        self.assertEqual(export_name("/var/lib/x/export/web1"), "web1")
        for bad in (None, 3, "", "..", ".", "../x", "a/b", ".x", "/a/../b", "/a//b",
                    "/a/b/", "/", "a\0", "/a/./b"):
            self.assertIsNone(export_name(bad), bad)
