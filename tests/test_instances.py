"""The instance lifecycle through the real tree, engine and node procedures.

The node daemons' procedures run in-process (L{LocalNodes}): real fake
hypervisors and real sparse disk files in temporary directories, without the
TLS transport, which the integration tests exercise.
"""

import os

from twisted.trial.unittest import SynchronousTestCase

from ganeti_rapi.engine import noderpc
from ganeti_rapi.engine.objects import Node
from tests.helpers import EngineFixture, local_nodes


def create_body(name, **extra):
    body = {
        "__version__": 1,
        "mode": "create",
        "name": name,
        "os": "ganeti-rapi-noop",
        "no_install": True,
        "disk_template": "file",
        "disks": [{"size": 64}],
        "nics": [{}],
        "beparams": {"maxmem": 256, "minmem": 128},
    }
    body.update(extra)
    return body


class InstanceTestCase(SynchronousTestCase):
    def setUp(self):
        master = os.uname().nodename
        self.nodes = local_nodes(self, [master, "node1", "node2"])
        self.api = EngineFixture(self, nodes=self.nodes)
        config = self.api.engine.config
        self.master = config.node(config.cluster.master_node).name
        if self.master not in self.nodes.procedures:
            self.nodes.procedures[self.master] = self.nodes.procedures[master]
        group = config.node(config.cluster.master_node).group
        for name in ("node1", "node2"):
            config.add_node(Node(name=name, primary_ip="127.0.0.1", group=group))
        self.successResultOf(config.save())

    def storage(self, node):
        return self.nodes.procedures[node].storage.file_storage_dir

    def running(self, node):
        return self.successResultOf(self.nodes.procedures[node].rpc_instance_list())

    def instance(self, name):
        return self.api.ok("GET", "/2/instances/%s" % name, user=None)

    def create(self, name, **extra):
        return self.api.run_job("POST", "/2/instances", create_body(name, **extra))


class CreateTests(InstanceTestCase):
    def test_create_on_named_node(self):
        """An instance created on node1 has its disk there and runs there."""
        job = self.create("web1", pnode="node1")
        self.assertEqual((job["status"], job["opresult"]), ("success", [["node1"]]), job)
        self.assertEqual(job["summary"], ["INSTANCE_CREATE(web1)"])
        path = os.path.join(self.storage("node1"), "web1", "disk0")
        self.assertEqual(os.stat(path).st_size, 64 * 1024 * 1024)
        self.assertLess(os.stat(path).st_blocks * 512, 1024 * 1024)
        self.assertEqual(self.running("node1"), ["web1"])
        instance = self.instance("web1")
        self.assertEqual(
            (instance["status"], instance["oper_state"], instance["pnode"],
             instance["admin_state"], instance["disk.sizes"], instance["oper_ram"]),
            ("running", True, "node1", "up", [64], 256),
        )
        self.assertEqual(instance["beparams"]["memory"], 256)
        self.assertTrue(instance["nic.macs"][0].startswith("aa:00:00:"))

    def test_allocator(self):
        """Without a node the built-in allocator places the instance."""
        job = self.create("web1")
        self.assertEqual(job["status"], "success", job)
        node = job["opresult"][0][0]
        self.assertIn(node, [self.master, "node1", "node2"])
        self.assertEqual(self.instance("web1")["pnode"], node)

    def test_diskless_not_started(self):
        """A diskless instance created with start false stays down."""
        job = self.create("quiet", disk_template="diskless", disks=[], start=False,
                          pnode="node2")
        self.assertEqual(job["status"], "success", job)
        instance = self.instance("quiet")
        self.assertEqual((instance["status"], instance["oper_state"]),
                         ("ADMIN_down", False))
        self.assertEqual(self.running("node2"), [])

    def test_dry_run(self):
        """A dry run answers the chosen nodes and creates nothing."""
        job_id = self.api.ok("POST", "/2/instances?dry-run=1", create_body("dry", pnode="node2"))
        self.api.clock.advance(0)
        job = self.api.job(job_id)
        self.assertEqual(job["opresult"], [["node2"]])
        self.assertEqual(self.api.request("GET", "/2/instances/dry")[0], 404)
        self.assertFalse(os.path.exists(os.path.join(self.storage("node2"), "dry")))

    def test_errors(self):
        """Ganeti's error classes: exists, unknown node, memory, input, state."""
        self.create("web1", pnode="node1")
        self.api.assert_job_error(self.create("web1"), "already_exists")
        self.api.assert_job_error(self.create("x", pnode="nosuch"), "unknown_entity")
        job = self.create("huge", beparams={"maxmem": 100000000, "minmem": 128})
        self.api.assert_job_error(job, "insufficient_resources")
        job = self.create("huge2", beparams={"maxmem": 100000000, "minmem": 128},
                          pnode="node1")
        self.api.assert_job_error(job, "insufficient_resources")
        self.api.assert_job_error(self.create("nos", os=None, no_install=False),
                                  "wrong_input")
        job = self.create("bad", disk_template="sharedfile")
        self.api.assert_job_error(job, "wrong_state")
        self.assertEqual([i["id"] for i in self.api.ok("GET", "/2/instances")], ["web1"])

    def test_unknown_os(self):
        """An OS that no node has fails the job with wrong_input."""
        job = self.create("os1", os="nosuch-os", no_install=False, pnode="node1")
        self.api.assert_job_error(job, "wrong_input", "nosuch-os")

    def test_many_at_once(self):
        """Jobs on different instances run side by side."""
        ids = [
            self.api.ok("POST", "/2/instances", create_body("vm%d" % i, pnode="node1"))
            for i in range(5)
        ]
        self.api.clock.advance(0)
        self.assertEqual([self.api.job(i)["status"] for i in ids], ["success"] * 5)
        self.assertEqual(self.running("node1"), ["vm%d" % i for i in range(5)])


class LifecycleTests(InstanceTestCase):
    def setUp(self):
        InstanceTestCase.setUp(self)
        self.assertEqual(self.create("web1", pnode="node1")["status"], "success")

    def test_shutdown_and_startup(self):
        """Shutdown and startup change the live and the desired state."""
        self.assertEqual(self.api.run_job("PUT", "/2/instances/web1/shutdown")["status"],
                         "success")
        instance = self.instance("web1")
        self.assertEqual((instance["oper_state"], instance["admin_state"], instance["status"]),
                         (False, "down", "ADMIN_down"))
        self.assertEqual(self.running("node1"), [])
        self.assertEqual(self.api.run_job("PUT", "/2/instances/web1/startup")["status"],
                         "success")
        instance = self.instance("web1")
        self.assertEqual((instance["oper_state"], instance["status"]), (True, "running"))

    def test_no_remember(self):
        """no_remember stops the instance but keeps the desired state up."""
        self.api.run_job("PUT", "/2/instances/web1/shutdown?no_remember=1")
        self.assertEqual(self.instance("web1")["status"], "ERROR_down")

    def test_reboot(self):
        """Every reboot type leaves the instance running; a stopped one is started."""
        for reboot_type in ("soft", "hard", "full"):
            job = self.api.run_job("POST", "/2/instances/web1/reboot?type=" + reboot_type)
            self.assertEqual(job["status"], "success", job)
            self.assertTrue(self.instance("web1")["oper_state"])
        self.api.run_job("PUT", "/2/instances/web1/shutdown")
        self.api.run_job("POST", "/2/instances/web1/reboot")
        self.assertEqual(self.instance("web1")["status"], "running")

    def test_shutdown_waits_longer_than_the_guest(self):
        """A call that may wait for a clean shutdown outlasts that wait on node RPC.

        A guest ignoring its power button is stopped the hard way when the
        shutdown timeout ends; the RPC timeout leaves room for that.
        """
        allowance = noderpc.HARD_STOP_ALLOWANCE
        self.api.run_job("PUT", "/2/instances/web1/shutdown", {"timeout": 300})
        self.api.run_job("PUT", "/2/instances/web1/startup")
        self.api.run_job("POST", "/2/instances/web1/reboot?type=full")
        self.api.run_job("DELETE", "/2/instances/web1")
        waits = [(procedure, timeout) for _, procedure, timeout in self.nodes.timeouts
                 if procedure == "instance_shutdown"]
        self.assertEqual(waits, [("instance_shutdown", 300 + allowance),
                                 ("instance_shutdown", 120 + allowance),
                                 ("instance_shutdown", 120 + allowance)])

    def test_rename(self):
        """A running instance cannot be renamed; a stopped one can.

        (An instance without an OS, so no rename script runs here; the
        integration tests run the OS's rename script for real.)
        """
        self.create("bare", os=None, pnode="node2")
        job = self.api.run_job("PUT", "/2/instances/bare/rename", {"new_name": "web2"})
        self.api.assert_job_error(job, "wrong_state")
        self.api.run_job("PUT", "/2/instances/bare/shutdown")
        job = self.api.run_job("PUT", "/2/instances/bare/rename", {"new_name": "web1"})
        self.api.assert_job_error(job, "already_exists")
        job = self.api.run_job("PUT", "/2/instances/bare/rename", {"new_name": "web2"})
        self.assertEqual((job["status"], job["opresult"]), ("success", ["web2"]))
        self.assertEqual(self.api.request("GET", "/2/instances/bare")[0], 404)
        self.assertEqual(self.instance("web2")["disk.sizes"], [64])

    def test_info(self):
        """…/info runs a job describing the instance, live or static."""
        job = self.api.run_job("GET", "/2/instances/web1/info")
        data = job["opresult"][0]["web1"]
        self.assertEqual((data["run_state"], data["config_state"], data["pnode"]),
                         ("up", "up", "node1"))
        job = self.api.run_job("GET", "/2/instances/web1/info?static=1")
        self.assertIsNone(job["opresult"][0]["web1"]["run_state"])

    def test_remove(self):
        """Removing stops the instance and deletes every file it had."""
        job = self.api.run_job("DELETE", "/2/instances/web1")
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(self.api.request("GET", "/2/instances/web1")[0], 404)
        self.assertEqual(self.running("node1"), [])
        self.assertEqual(os.listdir(os.path.join(self.storage("node1"), "web1")), [])

    def test_tags(self):
        """Instance tags round-trip."""
        self.api.run_job("PUT", "/2/instances/web1/tags?tag=prod")
        self.assertEqual(self.api.ok("GET", "/2/instances/web1/tags"), ["prod"])
        self.assertEqual(self.instance("web1")["tags"], ["prod"])

    def test_node_down(self):
        """With its node unreachable the instance shows ERROR_nodedown and jobs fail."""
        self.nodes.down.add("node1")
        instance = self.instance("web1")
        self.assertEqual((instance["status"], instance["oper_state"]),
                         ("ERROR_nodedown", None))
        job = self.api.run_job("PUT", "/2/instances/web1/shutdown")
        self.api.assert_job_error(job, "environment_error")
