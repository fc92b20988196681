"""The whole instance lifecycle on a real master and three real node daemons.

Separate processes on 127.0.0.1: C{twistd ganeti-rapi} and three
C{twistd ganeti-noded} joined with C{ganeti-rapi-admin}, real HTTPS and
mutual TLS, the fake hypervisor's state files and real disk images in each
node's own directories.  The three node daemons share one directory as
their shared file storage, as hosts mounting one file system would.
"""

import os

from twisted.internet import defer, threads
from twisted.trial.unittest import TestCase

from tests.cluster import RealCluster, FINAL

MIB = 1024 * 1024


def same_bytes(first, second):
    """Whether two files hold the same bytes (it blocks: run it in a thread)."""
    with open(first, "rb") as a, open(second, "rb") as b:
        while True:
            block = a.read(16 * MIB)
            if block != b.read(16 * MIB):
                return False
            if not block:
                return True


def create_body(name, **extra):
    body = {
        "__version__": 1, "mode": "create", "name": name, "os": "ganeti-rapi-noop",
        "disk_template": "file", "disks": [{"size": 1024}], "nics": [{}],
        "beparams": {"maxmem": 128, "minmem": 128},
    }
    body.update(extra)
    return body


class LifecycleIntegrationTests(RealCluster, TestCase):
    timeout = 600

    @defer.inlineCallbacks
    def setUp(self):
        base = os.path.abspath(self.mktemp())
        self.shared = os.path.join(base, "shared")
        os.makedirs(self.shared)
        yield self.start_cluster(base, 3, ["--shared-file-storage-dir", self.shared])
        # The master's own node hosts nothing here: the three nodes do.
        code, info = yield self.api("GET", "/2/info", user=None)
        yield self.ok_job("POST", "/2/nodes/%s/modify" % info["master"], {"vm_capable": False})
        yield self.ok_job("PUT", "/2/modify", {
            "enabled_disk_templates": ["file", "sharedfile", "diskless"],
            "shared_file_storage_dir": self.shared,
        })

    @defer.inlineCallbacks
    def wait_job(self, job_id):
        """The job once it has finished (long poll, as clients do)."""
        info = None
        while True:
            code, change = yield self.api("GET", "/2/jobs/%d/wait" % job_id, {
                "fields": ["status"], "previous_job_info": info,
                "previous_log_serial": 10 ** 9})
            self.assertEqual(code, 200, change)
            if change is not None:
                info = change["job_info"]
                if info[0] in FINAL:
                    break
        code, job = yield self.api("GET", "/2/jobs/%d" % job_id)
        return job

    @defer.inlineCallbacks
    def ok_job(self, method, path, body=None):
        job = yield self.run_job(method, path, body)
        self.assertEqual(job["status"], "success", job)
        return job["opresult"][-1]

    @defer.inlineCallbacks
    def error_job(self, method, path, body, classification):
        job = yield self.run_job(method, path, body)
        self.assertEqual(job["status"], "error", job)
        self.assertEqual(job["opresult"][0][1][1], classification, job)

    @defer.inlineCallbacks
    def instance(self, name):
        code, instance = yield self.api("GET", "/2/instances/%s" % name, user=None)
        self.assertEqual(code, 200, instance)
        return instance

    def node_file(self, index, *parts):
        return os.path.join(self.node_dirs[index], *parts)

    @defer.inlineCallbacks
    def test_lifecycle(self):
        """Create, run, change, grow, export, import, move, evacuate and delete
        instances."""
        # Creation: on a named node, by the built-in allocator, by hail.
        nodes = yield self.ok_job("POST", "/2/instances", create_body("web1", pnode="node1"))
        self.assertEqual(nodes, ["node1"])
        disk = self.node_file(0, "file-storage", "web1", "disk0")
        self.assertEqual(os.stat(disk).st_size, 1024 * MIB)
        web1 = yield self.instance("web1")
        self.assertEqual((web1["status"], web1["oper_state"], web1["pnode"]),
                         ("running", True, "node1"))
        nodes = yield self.ok_job("POST", "/2/instances", create_body(
            "web2", disk_template="diskless", disks=[], iallocator="builtin"))
        self.assertIn(nodes[0], ["node1", "node2", "node3"])
        nodes = yield self.ok_job("POST", "/2/instances", create_body(
            "db1", disk_template="sharedfile", iallocator="hail"))
        self.assertIn(nodes[0], ["node1", "node2", "node3"])
        self.assertTrue(os.path.exists(os.path.join(self.shared, "db1", "disk0")))

        # Power.
        yield self.ok_job("PUT", "/2/instances/web1/shutdown")
        web1 = yield self.instance("web1")
        self.assertEqual((web1["oper_state"], web1["status"]), (False, "ADMIN_down"))
        self.assertEqual(os.listdir(self.node_file(0, "node", "fake-hv")), [])
        yield self.ok_job("PUT", "/2/instances/web1/startup")
        self.assertTrue((yield self.instance("web1"))["oper_state"])
        yield self.ok_job("POST", "/2/instances/web1/reboot?type=full")
        self.assertTrue((yield self.instance("web1"))["oper_state"])

        # Reinstall, rename, modify, tags (on the stopped instance).
        yield self.ok_job("PUT", "/2/instances/web1/shutdown")
        job = yield self.run_job("POST", "/2/instances/web1/reinstall", {"start": False})
        self.assertEqual(job["status"], "success", job)
        logs = os.listdir(self.node_file(0, "node", "os-logs"))
        self.assertTrue(any(name.startswith("add-") for name in logs), logs)
        yield self.ok_job("PUT", "/2/instances/web1/rename", {"new_name": "web9"})
        changes = yield self.ok_job("PUT", "/2/instances/web9/modify",
                                    {"beparams": {"maxmem": 256}})
        self.assertIn(["be/maxmem", 256], changes)
        yield self.ok_job("PUT", "/2/instances/web9/tags?tag=prod")
        web9 = yield self.instance("web9")
        self.assertEqual((web9["beparams"]["maxmem"], web9["tags"]), (256, ["prod"]))

        # Grow the file disk and see the file grow; export it to node2.
        yield self.ok_job("POST", "/2/instances/web9/disk/0/grow", {"amount": 512})
        self.assertEqual(os.stat(disk).st_size, 1536 * MIB)
        with open(disk, "r+b") as f:
            f.write(b"lifecycle: first bytes")
            f.seek(1300 * MIB)
            f.write(b"lifecycle: in the grown part")
        yield self.ok_job("PUT", "/2/instances/web9/export", {"target_node": "node2"})
        export = self.node_file(1, "node", "export", "web9")
        self.assertEqual(sorted(os.listdir(export)), ["config.ini", "disk0.snap"])
        self.assertEqual(os.stat(os.path.join(export, "disk0.snap")).st_size, 1536 * MIB)

        # Import the export as a new instance on node3 (the export found
        # without src_node): the image travels from node2, the new disk holds
        # the exported bytes; deleting the instance leaves no file behind.
        job = yield self.run_job("POST", "/2/instances", {
            "__version__": 1, "mode": "import", "name": "imp1", "pnode": "node3",
            "src_path": "web9", "disks": [], "nics": []})
        self.assertEqual((job["status"], job["opresult"]), ("success", [["node3"]]), job)
        self.assertTrue(any("Copied the image of disk 0 from node2 to node3" in entry[3]
                            for entry in job["oplog"][0]), job["oplog"])
        imported = self.node_file(2, "file-storage", "imp1", "disk0")
        self.assertEqual(os.stat(imported).st_size, 1536 * MIB)
        self.assertTrue((yield threads.deferToThread(same_bytes, imported, disk)))
        imp1 = yield self.instance("imp1")
        self.assertEqual((imp1["pnode"], imp1["oper_state"], imp1["os"], imp1["disk.sizes"]),
                         ("node3", True, "ganeti-rapi-noop", [1536]))
        self.assertEqual(os.listdir(self.node_file(2, "node", "export")), [])
        yield self.ok_job("DELETE", "/2/instances/imp1")
        leftovers = [f for root, dirs, files in os.walk(self.node_file(2, "file-storage"))
                     for f in files]
        self.assertEqual(leftovers, [])
        self.assertNotIn("imp1", os.listdir(self.node_file(2, "node", "fake-hv")))

        # Migrate and fail over the shared-file instance between nodes.
        db1 = yield self.instance("db1")
        others = [n for n in ("node1", "node2", "node3") if n != db1["pnode"]]
        yield self.ok_job("PUT", "/2/instances/db1/migrate", {"target_node": others[0]})
        db1 = yield self.instance("db1")
        self.assertEqual((db1["pnode"], db1["oper_state"]), (others[0], True))
        yield self.ok_job("PUT", "/2/instances/db1/failover", {"target_node": others[1]})
        db1 = yield self.instance("db1")
        self.assertEqual((db1["pnode"], db1["oper_state"]), (others[1], True))

        # Evacuate the node holding db1: it moves, and the node is empty.
        result = yield self.ok_job("POST", "/2/nodes/%s/evacuate" % others[1],
                                   {"mode": "primary-only", "iallocator": "builtin"})
        for ok, job_id in result["jobs"]:
            self.assertTrue(ok)
            child = yield self.wait_job(job_id)
            self.assertEqual(child["status"], "success", child)
        db1 = yield self.instance("db1")
        self.assertNotEqual(db1["pnode"], others[1])
        code, node = yield self.api("GET", "/2/nodes/%s" % others[1], user=None)
        self.assertEqual(node["pinst_list"], [])

        # Ganeti's error classes.
        yield self.error_job("POST", "/2/instances", create_body("web2"), "already_exists")
        yield self.error_job("POST", "/2/instances", create_body("x", pnode="nosuch"),
                             "unknown_entity")
        yield self.error_job("POST", "/2/instances", create_body(
            "huge", beparams={"maxmem": 100000000, "minmem": 128}),
            "insufficient_resources")
        yield self.error_job("PUT", "/2/instances/web9/migrate", {}, "wrong_state")
        yield self.error_job("POST", "/2/instances", create_body(
            "bad", disk_template="diskless"), "wrong_input")

        # Many jobs on different instances at once.
        submitted = []
        for i in range(6):
            code, job_id = yield self.api("POST", "/2/instances", create_body(
                "many%d" % i, disk_template="diskless", disks=[]))
            self.assertEqual(code, 200, job_id)
            submitted.append(job_id)
        for job_id in submitted:
            job = yield self.wait_job(job_id)
            self.assertEqual(job["status"], "success", job)

        # Deleting every instance leaves no file behind on any node.
        code, instances = yield self.api("GET", "/2/instances", user=None)
        for entry in instances:
            yield self.ok_job("DELETE", "/2/instances/%s" % entry["id"])
        code, instances = yield self.api("GET", "/2/instances", user=None)
        self.assertEqual(instances, [])
        for index in range(3):
            for sub in (("node", "fake-hv"), ("file-storage",)):
                path = self.node_file(index, *sub)
                leftovers = []
                for root, dirs, files in os.walk(path):
                    leftovers += [f for f in files if not f.startswith(".")]
                self.assertEqual(leftovers, [], path)
        leftovers = [f for root, dirs, files in os.walk(self.shared) for f in files]
        self.assertEqual(leftovers, [])
