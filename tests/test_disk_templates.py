"""Disk templates through the real tree, engine and node procedures.

Instances of the file, sharedfile, blockdev and ext templates are created,
grown, recreated and removed with real files (sparse where they can be)
in temporary directories; node daemons' procedures run in-process
(L{LocalNodes}).  The ext tests run the shipped test provider's scripts
(C{tests/extstorage/testfiles}) for real, so they use the real reactor.
"""

import os
import shutil
import subprocess

from twisted.internet import defer, reactor, task
from twisted.python import usage
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase

from ganeti_rapi import noded_tap
from ganeti_rapi.engine import disktemplates
from tests.helpers import EngineFixture, instance_body, local_cluster, local_nodes

MIB = 1024 * 1024

#: The ExtStorage provider the tests ship, built on plain files.
TEST_PROVIDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "extstorage",
                             "testfiles")

ALL_TEMPLATES = ["file", "sharedfile", "blockdev", "ext", "diskless"]


class TemplateCluster:
    """A master and two nodes, every working disk template enabled.

    Every node daemon sees the same shared file storage directory, as
    nodes mounting one file system would, and may adopt devices from
    C{self.adopt_dir}.
    """

    def make_cluster(self):
        base = os.path.abspath(self.mktemp())
        self.shared = os.path.join(base, "shared")
        self.adopt_dir = os.path.join(base, "adopt")
        os.makedirs(self.shared)
        os.makedirs(self.adopt_dir)
        self.api = local_cluster(self, ["node1", "node2"],
                                 shared_file_storage_dir=self.shared,
                                 adoptable_roots=[self.adopt_dir])
        self.nodes = self.api.nodes
        job = self.api.run_job("PUT", "/2/modify", {
            "enabled_disk_templates": ALL_TEMPLATES,
            "shared_file_storage_dir": self.shared,
        })
        self.assertEqual(job["status"], "success", job)

    def node(self, name):
        return self.nodes.procedures[name]

    def storage(self, name):
        return self.node(name).storage.file_storage_dir

    def config_instance(self, name):
        return self.api.engine.config.instance_by_name(name)

    def instance(self, name):
        return self.api.ok("GET", "/2/instances/%s" % name, user=None)

    def create(self, name, **extra):
        return self.api.run_job("POST", "/2/instances", instance_body(name, **extra))

    def disk_info(self, node, instance_name, index=0):
        disk = self.config_instance(instance_name).disks[index]
        return self.successResultOf(self.node(node).rpc_blockdev_info(disk=disk.to_dict()))


class FileTemplateTests(TemplateCluster, SynchronousTestCase):
    def setUp(self):
        self.make_cluster()

    def test_file_create_remove(self):
        """A file disk is a sparse file on the primary node, gone after removal."""
        job = self.create("web1", pnode="node1")
        self.assertEqual(job["status"], "success", job)
        path = os.path.join(self.storage("node1"), "web1", "disk0")
        st = os.stat(path)
        self.assertEqual(st.st_size, 16 * MIB)
        self.assertLess(st.st_blocks * 512, MIB)
        self.assertEqual(self.config_instance("web1").disks[0].logical_id,
                         ["loop", "web1/disk0"])
        self.assertFalse(os.path.exists(os.path.join(self.storage("node2"), "web1")))
        job = self.api.run_job("DELETE", "/2/instances/web1")
        self.assertEqual(job["status"], "success", job)
        self.assertFalse(os.path.exists(path))

    def test_file_driver(self):
        """The creation request's file_driver goes into the logical id."""
        job = self.create("web1", pnode="node1", file_driver="blktap")
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(self.config_instance("web1").disks[0].logical_id[0], "blktap")

    def test_sharedfile_seen_by_every_node(self):
        """A sharedfile disk lives in the shared directory, which both nodes see."""
        job = self.create("shared1", pnode="node1", disk_template="sharedfile",
                          disks=[{"size": 16}, {"size": 8}])
        self.assertEqual(job["status"], "success", job)
        path = os.path.join(self.shared, "shared1", "disk0")
        self.assertEqual(self.config_instance("shared1").disks[0].logical_id,
                         ["loop", path])
        st = os.stat(path)
        self.assertEqual(st.st_size, 16 * MIB)
        self.assertLess(st.st_blocks * 512, MIB)
        for node in ("node1", "node2"):
            info = self.disk_info(node, "shared1")
            self.assertEqual((info["path"], info["exists"], info["size"]), (path, True, 16))
        self.assertEqual(self.disk_info("node2", "shared1", 1)["size"], 8)
        # Nothing was counted against node1's own file storage.
        self.assertFalse(os.path.exists(os.path.join(self.storage("node1"), "shared1")))
        self.api.run_job("DELETE", "/2/instances/shared1")
        self.assertEqual(os.listdir(os.path.join(self.shared, "shared1")), [])
        self.assertFalse(self.disk_info_of_removed(path))

    def disk_info_of_removed(self, path):
        disk = {"dev_type": "sharedfile", "logical_id": ["loop", path]}
        return self.successResultOf(self.node("node2").rpc_blockdev_info(disk=disk))["exists"]

    def test_sharedfile_without_mount(self):
        """A node whose shared directory is missing refuses instead of making one."""
        shutil.rmtree(self.shared)
        job = self.create("shared1", pnode="node1", disk_template="sharedfile")
        self.assertEqual(job["status"], "error")
        self.assertEqual(job["opresult"][0][0], "OpExecError")
        self.assertIn("does not exist on this node", job["opresult"][0][1][0])
        self.assertFalse(os.path.exists(self.shared))
        self.assertEqual(self.api.request("GET", "/2/instances/shared1")[0], 404)

    def test_sharedfile_outside_node_directory(self):
        """A cluster directory the node does not share fails clearly."""
        self.api.engine.config.cluster.shared_file_storage_dir = "/elsewhere"
        job = self.create("shared1", pnode="node1", disk_template="sharedfile")
        self.assertEqual(job["status"], "error")
        self.assertIn("not inside the shared file storage directory",
                      job["opresult"][0][1][0])

    def test_template_errors(self):
        """Template-specific keys in the wrong template are wrong_input."""
        self.api.assert_job_error(
            self.create("x", disks=[{"size": 8, "adopt": "/dev/disk/x"}]),
            "wrong_input", "Disk adoption is not supported for the 'file' disk template")
        self.api.assert_job_error(
            self.create("x", disks=[{"size": 8, "provider": "p"}]),
            "wrong_input", "only valid for the ext disk template")
        self.api.assert_job_error(self.create("x", disk_template="diskless"),
                                  "wrong_input", "takes no disks")
        self.api.assert_job_error(self.create("x", disk_template="ext"),
                                  "wrong_input", "Missing provider for template 'ext'")


class UnavailableTemplateTests(SynchronousTestCase):
    """Templates this cluster cannot offer are refused, clearly."""

    def setUp(self):
        self.nodes = local_nodes(self, [os.uname().nodename])
        self.api = EngineFixture(self, nodes=self.nodes)

    def test_plain_and_drbd_refused(self):
        """plain, drbd, rbd and gluster cannot be enabled: environment_error."""
        for template, part in (("plain", "device-mapper"), ("drbd", "drbd kernel module"),
                               ("rbd", "Ceph"), ("gluster", "Gluster")):
            job = self.api.run_job("PUT", "/2/modify",
                                   {"enabled_disk_templates": [template, "file"]})
            self.api.assert_job_error(job, "environment_error", part)
        self.assertEqual(self.api.engine.config.cluster.enabled_disk_templates,
                         ["file", "diskless"])

    def test_creating_with_disabled_template(self):
        """A template that is not enabled fails creation with wrong_state."""
        job = self.api.run_job("POST", "/2/instances",
                               instance_body("x", disk_template="plain"))
        self.api.assert_job_error(job, "wrong_state", "not enabled")

    def test_sharedfile_needs_directory(self):
        """sharedfile cannot be enabled without a shared directory, nor it unset."""
        job = self.api.run_job("PUT", "/2/modify",
                               {"enabled_disk_templates": ["file", "sharedfile"]})
        self.api.assert_job_error(job, "wrong_input", "shared_file_storage_dir")
        job = self.api.run_job("PUT", "/2/modify", {"shared_file_storage_dir": "relative"})
        self.api.assert_job_error(job, "wrong_input", "absolute")
        job = self.api.run_job("PUT", "/2/modify", {
            "enabled_disk_templates": ["file", "sharedfile", "blockdev", "ext"],
            "shared_file_storage_dir": "/srv/shared"})
        self.assertEqual(job["status"], "success", job)
        job = self.api.run_job("PUT", "/2/modify", {"shared_file_storage_dir": ""})
        self.api.assert_job_error(job, "wrong_input", "needs a shared file storage")


class BlockDevTests(TemplateCluster, SynchronousTestCase):
    def setUp(self):
        self.make_cluster()

    def device_file(self, name, mib):
        path = os.path.join(self.adopt_dir, name)
        with open(path, "wb") as f:
            f.truncate(mib * MIB)
        return path

    def test_adopt_regular_file(self):
        """An existing file under an adoptable root is adopted with its size, and kept."""
        path = self.device_file("vol0", 24)
        job = self.create("blk1", pnode="node1", disk_template="blockdev",
                          disks=[{"adopt": path}])
        self.assertEqual(job["status"], "success", job)
        disk = self.config_instance("blk1").disks[0]
        self.assertEqual((disk.logical_id, disk.size), (["manual", path], 24))
        self.assertEqual(self.instance("blk1")["disk.sizes"], [24])
        self.assertEqual(self.disk_info("node1", "blk1")["size"], 24)
        job = self.api.run_job("DELETE", "/2/instances/blk1")
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(os.stat(path).st_size, 24 * MIB)

    def test_adopt_loop_device(self):
        """A real loop device, reached through a link as under /dev/disk/by-id."""
        if os.geteuid() != 0 or not shutil.which("losetup"):
            raise SkipTest("loop devices need root and losetup")
        backing = os.path.abspath(self.mktemp())
        with open(backing, "wb") as f:
            f.truncate(12 * MIB)
        try:
            device = subprocess.run(["losetup", "-f", "--show", backing], check=True,
                                    capture_output=True, text=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError) as e:
            raise SkipTest("no loop device available here: %s" % e)
        self.addCleanup(subprocess.run, ["losetup", "-d", device], check=False)
        link = os.path.join(self.adopt_dir, "by-id-test")
        os.symlink(device, link)
        job = self.create("loop1", pnode="node1", disk_template="blockdev",
                          disks=[{"adopt": link}])
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(self.config_instance("loop1").disks[0].size, 12)
        self.assertEqual(self.disk_info("node1", "loop1")["kind"], "block")
        self.api.assert_job_error(
            self.api.run_job("POST", "/2/instances/loop1/disk/0/grow", {"amount": 4}),
            "wrong_input", "does not support growing")
        self.assertEqual(self.api.run_job("DELETE", "/2/instances/loop1")["status"],
                         "success")
        # The device was released, not destroyed.
        self.assertTrue(os.path.exists(device))

    def test_adoption_errors(self):
        """Missing, refused, duplicate and busy devices are prerequisite errors."""
        path = self.device_file("vol0", 8)
        blk = {"disk_template": "blockdev", "pnode": "node1"}
        self.api.assert_job_error(
            self.create("b", disks=[{"adopt": os.path.join(self.adopt_dir, "none")}], **blk),
            "wrong_input", "Missing block device(s)")
        self.api.assert_job_error(
            self.create("b", disks=[{"adopt": "/etc/hostname"}], **blk),
            "wrong_input", "cannot be adopted")
        self.api.assert_job_error(self.create("b", disks=[{"size": 8}], **blk),
                                  "wrong_input", "requires disk adoption")
        self.api.assert_job_error(
            self.create("b", disks=[{"adopt": path}, {"adopt": path}], **blk),
            "wrong_input", "Duplicate")
        self.api.assert_job_error(
            self.create("b", disk_template="blockdev", disks=[{"adopt": path}]),
            "wrong_input", "pnode")
        self.assertEqual(self.create("b1", disks=[{"adopt": path}], **blk)["status"],
                         "success")
        self.api.assert_job_error(self.create("b2", disks=[{"adopt": path}], **blk),
                                  "resource_not_unique", "already used by instance b1")

    def test_replace_disks_refused(self):
        """Without a mirror there is nothing to replace: wrong_input, as in Ganeti."""
        path = self.device_file("vol0", 8)
        self.create("blk1", pnode="node1", disk_template="blockdev", disks=[{"adopt": path}])
        job = self.api.run_job("POST", "/2/instances/blk1/replace-disks",
                               {"mode": "replace_on_primary"})
        self.api.assert_job_error(job, "wrong_input",
                                  "Can only run replace disks for DRBD8-based instances")

    def test_recreate_refused(self):
        """Adopted devices cannot be recreated."""
        path = self.device_file("vol0", 8)
        self.create("blk1", pnode="node1", disk_template="blockdev", disks=[{"adopt": path}],
                    start=False)
        job = self.api.run_job("POST", "/2/instances/blk1/recreate-disks", {})
        self.api.assert_job_error(job, "wrong_input", "adopted")


class GrowTests(TemplateCluster, SynchronousTestCase):
    def setUp(self):
        self.make_cluster()
        self.assertEqual(self.create("web1", pnode="node1")["status"], "success")
        self.path = os.path.join(self.storage("node1"), "web1", "disk0")

    def grow(self, body, index=0, name="web1"):
        return self.api.run_job("POST", "/2/instances/%s/disk/%d/grow" % (name, index), body)

    def test_grow_file(self):
        """Growing a file disk lengthens the file and records the new size."""
        job = self.grow({"amount": 48})
        self.assertEqual((job["status"], job["opresult"]), ("success", [None]), job)
        self.assertEqual(job["summary"], ["INSTANCE_GROW_DISK(web1)"])
        st = os.stat(self.path)
        self.assertEqual(st.st_size, 64 * MIB)
        self.assertLess(st.st_blocks * 512, MIB)
        self.assertEqual(self.instance("web1")["disk.sizes"], [64])
        job = self.grow({"amount": "128M", "absolute": True})
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(os.stat(self.path).st_size, 128 * MIB)
        self.assertEqual(self.instance("web1")["disk.sizes"], [128])

    def test_grow_to_same_size(self):
        """An absolute size equal to the current one changes nothing."""
        job = self.grow({"amount": 16, "absolute": True})
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(os.stat(self.path).st_size, 16 * MIB)

    def test_grow_errors(self):
        """Shrinking, a bad index and too little space are refused as Ganeti does."""
        self.api.assert_job_error(self.grow({"amount": 8, "absolute": True}),
                                  "wrong_state", "smaller than current disk size")
        self.api.assert_job_error(self.grow({"amount": 8}, index=3), "wrong_input",
                                  "Invalid disk index")
        self.api.assert_job_error(self.grow({"amount": 2 ** 40}), "insufficient_resources")
        self.assertEqual(os.stat(self.path).st_size, 16 * MIB)
        self.assertEqual(self.api.request("POST", "/2/instances/web1/disk/0/grow", {})[0],
                         400)

    def test_grow_sharedfile(self):
        """A sharedfile disk grows in the shared directory."""
        self.create("shared1", pnode="node2", disk_template="sharedfile")
        self.assertEqual(self.grow({"amount": 16}, name="shared1")["status"], "success")
        self.assertEqual(os.stat(os.path.join(self.shared, "shared1", "disk0")).st_size,
                         32 * MIB)

    def test_grow_diskless(self):
        """A diskless instance has no disk to grow."""
        self.create("bare", disk_template="diskless", disks=[], pnode="node2")
        self.api.assert_job_error(self.grow({"amount": 8}, name="bare"), "wrong_input",
                                  "Invalid disk index")


class RecreateTests(TemplateCluster, SynchronousTestCase):
    def setUp(self):
        self.make_cluster()
        job = self.create("web1", pnode="node1", disks=[{"size": 16}, {"size": 8}])
        self.assertEqual(job["status"], "success")
        self.paths = [os.path.join(self.storage("node1"), "web1", "disk%d" % i)
                      for i in range(2)]

    def recreate(self, body=None):
        return self.api.run_job("POST", "/2/instances/web1/recreate-disks", body or {})

    def stop(self):
        self.assertEqual(self.api.run_job("PUT", "/2/instances/web1/shutdown")["status"],
                         "success")

    def test_recreate_missing(self):
        """A lost disk file is made again, empty, at its recorded size."""
        self.stop()
        with open(self.paths[1], "r+b") as f:
            f.write(b"old data")
        os.unlink(self.paths[1])
        job = self.recreate({"disks": [1]})
        self.assertEqual((job["status"], job["opresult"]), ("success", [None]), job)
        self.assertEqual(os.stat(self.paths[1]).st_size, 8 * MIB)
        with open(self.paths[1], "rb") as f:
            self.assertEqual(f.read(8), bytes(8))

    def test_recreate_with_new_size(self):
        """[index, {"size": ...}] recreates a disk with another size."""
        self.stop()
        os.unlink(self.paths[0])
        job = self.recreate({"disks": [[0, {"size": 32}]]})
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(os.stat(self.paths[0]).st_size, 32 * MIB)
        self.assertEqual(self.instance("web1")["disk.sizes"], [32, 8])

    def test_recreate_on_other_node(self):
        """With nodes, every disk is made on the new node, which becomes primary."""
        self.stop()
        job = self.recreate({"nodes": ["node2"]})
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(self.instance("web1")["pnode"], "node2")
        for index, size in enumerate((16, 8)):
            path = os.path.join(self.storage("node2"), "web1", "disk%d" % index)
            self.assertEqual(os.stat(path).st_size, size * MIB)

    def test_recreate_errors(self):
        """Running, marked up, existing disks and bad arguments are refused."""
        self.api.assert_job_error(self.recreate(), "wrong_state", "marked to be up")
        self.api.run_job("PUT", "/2/instances/web1/shutdown?no_remember=1")
        self.api.assert_job_error(self.recreate(), "wrong_state", "marked to be up")
        self.stop()
        self.api.assert_job_error(self.recreate(), "wrong_state", "still exists")
        self.api.assert_job_error(self.recreate({"disks": [5]}), "wrong_input",
                                  "Invalid disk index")
        self.api.assert_job_error(self.recreate({"disks": [[0, {"vg": "x"}]]}),
                                  "wrong_input", "unmodifiable")
        self.api.assert_job_error(self.recreate({"disks": [0], "nodes": ["node2"]}),
                                  "wrong_input", "partially")
        self.api.assert_job_error(self.recreate({"nodes": ["node1", "node2"]}),
                                  "wrong_input", "new node list has 2 nodes")
        self.api.assert_job_error(self.recreate({"nodes": ["nosuch"]}), "unknown_entity")

    def test_recreate_diskless(self):
        """A diskless instance has no disks to recreate."""
        self.create("bare", disk_template="diskless", disks=[], pnode="node2", start=False)
        job = self.api.run_job("POST", "/2/instances/bare/recreate-disks", {})
        self.api.assert_job_error(job, "wrong_input", "has no disks")


class ReplaceDisksTests(TemplateCluster, SynchronousTestCase):
    def setUp(self):
        self.make_cluster()
        self.create("web1", pnode="node1")

    def replace(self, body):
        return self.api.run_job("POST", "/2/instances/web1/replace-disks", body)

    def test_file_has_no_mirror(self):
        """replace-disks on a file instance fails with Ganeti's wrong_input."""
        for mode in ("replace_on_primary", "replace_on_secondary", "replace_auto"):
            self.api.assert_job_error(
                self.replace({"mode": mode}), "wrong_input",
                "Can only run replace disks for DRBD8-based instances")
        self.api.assert_job_error(
            self.replace({"mode": "replace_new_secondary", "remote_node": "node2"}),
            "wrong_input", "Can only run replace disks for DRBD8-based instances")

    def test_argument_checks(self):
        """Ganeti's checks of mode, remote node and allocator come first."""
        self.api.assert_job_error(self.replace({"mode": "replace_new_secondary"}),
                                  "wrong_input", "either an iallocator")
        self.api.assert_job_error(
            self.replace({"mode": "replace_on_primary", "remote_node": "node2"}),
            "wrong_input", "only be used when changing the secondary")


class DriverTests(SynchronousTestCase):
    """The driver table other units read."""

    def test_flags(self):
        """Which templates are supported, growable, shared and on node storage."""
        self.assertEqual(disktemplates.SUPPORTED,
                         frozenset(["diskless", "file", "sharedfile", "blockdev", "ext"]))
        growable = {t for t, d in disktemplates.DRIVERS.items() if d.growable}
        self.assertEqual(growable, {"file", "sharedfile", "ext"})
        shared = {t for t, d in disktemplates.DRIVERS.items() if d.shared}
        self.assertEqual(shared, {"diskless", "sharedfile", "blockdev", "ext"})
        self.assertTrue(disktemplates.uses_node_storage("file"))
        self.assertFalse(disktemplates.uses_node_storage("sharedfile"))
        self.assertFalse(disktemplates.uses_node_storage("plain"))


class NodeOptionTests(SynchronousTestCase):
    """The node daemon's options for the templates."""

    def parse(self, *args):
        options = noded_tap.Options()
        options.parseOptions(["--data-dir", "/tmp/x"] + list(args))
        return options

    def test_options(self):
        """The template options are parsed into paths and lists of paths."""
        options = self.parse("--shared-file-storage-dir", "/srv/shared",
                             "--adoptable-blockdev-roots", "/dev/disk:/srv/adopt",
                             "--extstorage-search-path", "/srv/es:/opt/es")
        self.assertEqual(options["shared-file-storage-dir"], "/srv/shared")
        self.assertEqual(options["adoptable-blockdev-roots"], ["/dev/disk", "/srv/adopt"])
        self.assertEqual(options["extstorage-search-path"], ["/srv/es", "/opt/es"])
        defaults = self.parse()
        self.assertIsNone(defaults["adoptable-blockdev-roots"])

    def test_relative_refused(self):
        """Relative directories are refused."""
        for option in ("--shared-file-storage-dir", "--adoptable-blockdev-roots",
                       "--extstorage-search-path"):
            self.assertRaises(usage.UsageError, self.parse, option, "relative/dir")


# -- ext, with the test provider's scripts run for real ---------------------------------


@defer.inlineCallbacks
def finished_job(api, method, path, body=None, timeout=30.0):
    """Submit a job and wait on the real reactor until it has finished."""
    job_id = api.ok(method, path, body)
    api.clock.advance(0)
    for _ in range(int(timeout / 0.02)):
        job = api.job(job_id)
        if job["status"] in ("success", "error", "canceled"):
            return job
        yield task.deferLater(reactor, 0.02, lambda: None)
    raise AssertionError("job %d did not finish: %r" % (job_id, job))


def install_provider(procedures, name="testfiles"):
    """Copy the test provider into a node's own ExtStorage directory."""
    target = os.path.join(procedures.extstorage.search_path[-1], name)
    shutil.copytree(TEST_PROVIDER, target)
    return target


class ExtTests(TemplateCluster, TestCase):
    timeout = 60

    def setUp(self):
        self.make_cluster()
        self.providers = {name: install_provider(self.node(name))
                          for name in ("node1", "node2")}

    def calls(self, node="node1"):
        with open(os.path.join(self.providers[node], "calls.log")) as f:
            return f.read().splitlines()

    def create_ext(self, name, disks=None, **extra):
        body = instance_body(name, pnode="node1", disk_template="ext",
                             disks=disks or [{"size": 8, "provider": "testfiles",
                                              "sparse": "yes"}])
        body.update(extra)
        return finished_job(self.api, "POST", "/2/instances", body)

    @defer.inlineCallbacks
    def test_create_grow_remove(self):
        """The provider's scripts create, describe, grow and remove the volume."""
        job = yield self.create_ext("ext1")
        self.assertEqual(job["status"], "success", job)
        disk = self.config_instance("ext1").disks[0]
        provider, volume = disk.logical_id
        self.assertEqual(provider, "testfiles")
        self.assertEqual(volume, "%s.disk0" % disk.uuid)
        self.assertEqual(disk.params, {"sparse": "yes"})
        path = os.path.join(self.providers["node1"], "volumes", volume)
        self.assertEqual(os.stat(path).st_size, 8 * MIB)
        with open(path + ".info") as f:
            self.assertEqual(f.read(), "originstname+ext1\n")
        calls = self.calls()
        self.assertEqual([c.split()[0] for c in calls],
                         ["verify", "verify", "create", "setinfo", "attach", "attach"])
        create = [c for c in calls if c.startswith("create")][0]
        for part in ("VOL_NAME=%s" % volume, "VOL_SIZE=8", "EXTP_SPARSE=yes",
                     "VOL_UUID=%s" % disk.uuid):
            self.assertIn(part, create)

        job = yield finished_job(self.api, "POST", "/2/instances/ext1/disk/0/grow",
                                 {"amount": 8})
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(os.stat(path).st_size, 16 * MIB)
        self.assertIn("VOL_SIZE=8 VOL_NEW_SIZE=16", self.calls()[-1])
        self.assertEqual(self.instance("ext1")["disk.sizes"], [16])

        job = yield finished_job(self.api, "DELETE", "/2/instances/ext1")
        self.assertEqual(job["status"], "success", job)
        self.assertFalse(os.path.exists(path))
        self.assertTrue(self.calls()[-1].startswith("remove"))

    @defer.inlineCallbacks
    def test_parameters_checked(self):
        """The provider's verify script and parameter list refuse bad parameters."""
        job = yield self.create_ext("e", [{"size": 8, "provider": "testfiles",
                                           "sparse": "maybe"}])
        self.api.assert_job_error(job, "wrong_input", "sparse must be yes or no")
        job = yield self.create_ext("e", [{"size": 8, "provider": "testfiles",
                                           "colour": "red"}])
        self.api.assert_job_error(job, "wrong_input", "no parameter(s) colour")
        job = yield self.create_ext("e", [{"size": 8, "provider": "nosuch"}])
        self.api.assert_job_error(job, "wrong_input", "'nosuch' not found")
        self.assertEqual(self.api.ok("GET", "/2/instances"), [])

    @defer.inlineCallbacks
    def test_volumes_on_shared_directory(self):
        """With its volumes on a shared directory, both nodes reach the volume."""
        shared_volumes = os.path.join(self.shared, "ext-volumes")
        job = yield self.create_ext("ext2", [{"size": 4, "provider": "testfiles",
                                              "volumes": shared_volumes}])
        self.assertEqual(job["status"], "success", job)
        disk = self.config_instance("ext2").disks[0].to_dict()
        info = yield self.node("node2").rpc_blockdev_info(disk=disk)
        self.assertEqual(info["path"], os.path.join(shared_volumes, disk["logical_id"][1]))

    @defer.inlineCallbacks
    def test_unattached_volume_fails_clearly(self):
        """A volume the provider no longer has fails the start with its message."""
        job = yield self.create_ext("ext3", start=False)
        self.assertEqual(job["status"], "success", job)
        volumes = os.path.join(self.providers["node1"], "volumes")
        for name in os.listdir(volumes):
            os.unlink(os.path.join(volumes, name))
        job = yield finished_job(self.api, "PUT", "/2/instances/ext3/startup")
        self.assertEqual(job["status"], "error")
        self.assertIn("no volume", job["opresult"][0][1][0])
