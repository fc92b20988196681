"""Migrate, failover, node migrate and evacuate, and external allocators.

The engine and the real node procedures run in-process (L{LocalNodes}):
the fake hypervisors' state files really move between the nodes' data
directories.  The allocator tests at the end run real programs with the
real reactor: a small script, and htools' C{hail} from Debian's
C{ganeti-htools}.
"""

import json
import os

from twisted.internet import defer, reactor, task
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase

from ganeti_rapi.engine import iallocator
from ganeti_rapi.engine.errors import OpExecError, OpPrereqError
from ganeti_rapi.engine.master import open_engine
from ganeti_rapi.engine.objects import Node
from tests.cluster import FINAL, RealCluster, wait_job
from tests.helpers import instance_body, local_cluster, local_nodes


def diskless(name, **extra):
    """The body creating a diskless instance of 256 MiB (at least 128)."""
    body = instance_body(name, disk_template="diskless", disks=[],
                         beparams={"maxmem": 256, "minmem": 128})
    body.update(extra)
    return body


def add_nodes(config, names):
    group = config.node(config.cluster.master_node).group
    for name in names:
        config.add_node(Node(name=name, primary_ip="127.0.0.1", group=group))


class MigrationTestCase(SynchronousTestCase):
    """A master and node1..node4; node3 has 100 MiB of memory free, node4 200 MiB."""

    def setUp(self):
        self.nodes = local_nodes(self, [os.uname().nodename, "node1", "node2"])
        for name, available in (("node3", 100), ("node4", 200)):
            small = local_nodes(self, [name], available_mib=available)
            self.nodes.procedures.update(small.procedures)
        self.api = local_cluster(self, ["node1", "node2", "node3", "node4"], self.nodes)
        self.master = self.api.master

    # helpers

    def running(self, node):
        return self.successResultOf(self.nodes.procedures[node].rpc_instance_list())

    def state_file(self, node, name):
        hv = self.nodes.procedures[node].hypervisors.get("fake")
        return os.path.join(hv.state_dir, name)

    def instance(self, name):
        return self.api.ok("GET", "/2/instances/%s" % name, user=None)

    def create(self, name, **extra):
        job = self.api.run_job("POST", "/2/instances", diskless(name, **extra))
        self.assertEqual(job["status"], "success", job)
        return job

    def settle(self, job_ids):
        """Run the clock until every job in C{job_ids} is final; the jobs."""
        for _ in range(50):
            self.api.clock.advance(0)
            jobs = [self.api.job(i) for i in job_ids]
            if all(j["status"] in FINAL for j in jobs):
                return jobs
            self.api.clock.advance(1)
        self.fail("jobs %s did not finish" % (job_ids,))

    def primaries(self, node):
        config = self.api.engine.config
        uuid = config.node_by_name(node).uuid
        return sorted(i.name for i in config.instances_on_node(uuid, primary_only=True))


class MigrateTests(MigrationTestCase):
    def setUp(self):
        MigrationTestCase.setUp(self)
        self.create("web1", pnode="node1")

    def test_migrate(self):
        """The running state moves from node1 to node2 and node2 becomes primary."""
        with open(self.state_file("node1", "web1")) as f:
            before = f.read()
        job = self.api.run_job("PUT", "/2/instances/web1/migrate", {"target_node": "node2"})
        self.assertEqual((job["status"], job["opresult"]), ("success", [None]), job)
        self.assertEqual(job["summary"], ["INSTANCE_MIGRATE(web1)"])
        self.assertEqual((self.running("node1"), self.running("node2")), ([], ["web1"]))
        self.assertFalse(os.path.exists(self.state_file("node1", "web1")))
        with open(self.state_file("node2", "web1")) as f:
            self.assertEqual(f.read(), before)
        # Nothing is left set aside on the source.
        stash = os.path.join(os.path.dirname(self.state_file("node1", "web1")), ".migrated")
        self.assertEqual(os.listdir(stash) if os.path.isdir(stash) else [], [])
        instance = self.instance("web1")
        self.assertEqual((instance["pnode"], instance["status"], instance["oper_ram"]),
                         ("node2", "running", 256))
        messages = [entry[3] for entry in job["oplog"][0]]
        self.assertIn("* memory transfer complete", messages)
        # And back, non-live.
        job = self.api.run_job("PUT", "/2/instances/web1/migrate",
                               {"target_node": "node1", "mode": "non-live"})
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(self.instance("web1")["pnode"], "node1")
        self.assertEqual(self.running("node1"), ["web1"])

    def test_migrate_with_builtin_allocator(self):
        """Without a target the built-in allocator picks a node other than the primary."""
        job = self.api.run_job("PUT", "/2/instances/web1/migrate", {"iallocator": "builtin"})
        self.assertEqual(job["status"], "success", job)
        pnode = self.instance("web1")["pnode"]
        self.assertIn(pnode, [self.master, "node2", "node4"])
        self.assertEqual(self.running(pnode), ["web1"])
        self.assertEqual(self.running("node1"), [])

    def test_failover(self):
        """Failover stops the instance on node1 and starts it on node2."""
        job = self.api.run_job("PUT", "/2/instances/web1/failover", {"target_node": "node2"})
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(job["summary"], ["INSTANCE_FAILOVER(web1)"])
        self.assertEqual((self.running("node1"), self.running("node2")), ([], ["web1"]))
        self.assertEqual(self.instance("web1")["pnode"], "node2")

    def test_failover_stopped(self):
        """A stopped instance fails over without being started."""
        self.api.run_job("PUT", "/2/instances/web1/shutdown")
        job = self.api.run_job("PUT", "/2/instances/web1/failover", {"target_node": "node2"})
        self.assertEqual(job["status"], "success", job)
        instance = self.instance("web1")
        self.assertEqual((instance["pnode"], instance["status"]), ("node2", "ADMIN_down"))
        self.assertEqual((self.running("node1"), self.running("node2")), ([], []))

    def test_migrate_stopped(self):
        """Migrating a stopped instance is wrong_state; allow_failover fails it over."""
        self.api.run_job("PUT", "/2/instances/web1/shutdown")
        job = self.api.run_job("PUT", "/2/instances/web1/migrate", {"target_node": "node2"})
        self.api.assert_job_error(job, "wrong_state", "Can't migrate, please use failover")
        self.assertIn("not running", job["opresult"][0][1][0])
        self.assertEqual(self.instance("web1")["pnode"], "node1")
        job = self.api.run_job("PUT", "/2/instances/web1/migrate",
                               {"target_node": "node2", "allow_failover": True})
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(self.instance("web1")["pnode"], "node2")
        self.assertEqual(self.running("node2"), [])

    def test_not_enough_memory(self):
        """A target without the instance's minimum memory: insufficient_resources."""
        job = self.api.run_job("PUT", "/2/instances/web1/migrate", {"target_node": "node3"})
        self.api.assert_job_error(job, "insufficient_resources", "node3")
        job = self.api.run_job("PUT", "/2/instances/web1/failover", {"target_node": "node3"})
        self.api.assert_job_error(job, "insufficient_resources", "node3")
        self.assertEqual(self.running("node1"), ["web1"])

    def test_shrink_to_fit(self):
        """A target with less than the instance's memory but its minimum: the
        instance shrinks, unless runtime changes are not allowed."""
        job = self.api.run_job("PUT", "/2/instances/web1/migrate",
                               {"target_node": "node4", "allow_runtime_changes": False})
        self.assertEqual(job["status"], "error", job)
        self.assertIn("Memory ballooning not allowed", job["opresult"][0][1][0])
        self.assertEqual(self.running("node1"), ["web1"])
        job = self.api.run_job("PUT", "/2/instances/web1/migrate", {"target_node": "node4"})
        self.assertEqual(job["status"], "success", job)
        instance = self.instance("web1")
        self.assertEqual((instance["pnode"], instance["oper_ram"]), ("node4", 200))

    def test_bad_targets(self):
        """Its own primary, an offline or drained node, both target and allocator."""
        job = self.api.run_job("PUT", "/2/instances/web1/migrate", {"target_node": "node1"})
        self.api.assert_job_error(job, "wrong_state", "to its primary")
        job = self.api.run_job("PUT", "/2/instances/web1/migrate", {"target_node": "nosuch"})
        self.api.assert_job_error(job, "unknown_entity")
        job = self.api.run_job("PUT", "/2/instances/web1/migrate",
                               {"target_node": "node2", "iallocator": "hail"})
        self.api.assert_job_error(job, "wrong_input")
        job = self.api.run_job("PUT", "/2/instances/web1/migrate",
                               {"target_node": "node2", "live": True, "mode": "live"})
        self.api.assert_job_error(job, "wrong_input")
        for bad in ("../bin/sh", "/usr/bin/id", "a b"):
            job = self.api.run_job("PUT", "/2/instances/web1/migrate", {"iallocator": bad})
            self.api.assert_job_error(job, "wrong_input", "allocator")
        self.api.run_job("PUT", "/2/nodes/node2/role", "drained")
        job = self.api.run_job("PUT", "/2/instances/web1/migrate", {"target_node": "node2"})
        self.api.assert_job_error(job, "wrong_state", "drained")
        self.assertEqual(self.running("node1"), ["web1"])

    def test_rollback(self):
        """A failing transfer is rolled back: the instance runs on the source only."""
        procedures = self.nodes.procedures["node1"]

        def broken(instance, target, live):
            raise RuntimeError("link down")

        procedures.rpc_instance_migrate = broken
        job = self.api.run_job("PUT", "/2/instances/web1/migrate", {"target_node": "node2"})
        self.assertEqual(job["status"], "error", job)
        error_class, args = job["opresult"][0]
        self.assertEqual(error_class, "OpExecError")
        self.assertIn("Could not migrate instance web1", args[0])
        self.assertIn("link down", args[0])
        self.assertEqual((self.running("node1"), self.running("node2")), (["web1"], []))
        self.assertEqual(self.instance("web1")["pnode"], "node1")

    def test_accept_refused(self):
        """A target that already runs the name refuses it; nothing moves."""
        hv = self.nodes.procedures["node2"].hypervisors.get("fake")
        os.makedirs(hv.state_dir, exist_ok=True)
        with open(self.state_file("node2", "web1"), "w") as f:
            f.write("0\n128\n1\n")
        job = self.api.run_job("PUT", "/2/instances/web1/migrate", {"target_node": "node2"})
        self.assertEqual(job["status"], "error", job)
        self.assertIn("Could not pre-migrate instance web1", job["opresult"][0][1][0])
        self.assertEqual(self.running("node1"), ["web1"])
        self.assertEqual(self.instance("web1")["pnode"], "node1")

    def test_cleanup(self):
        """After an interrupted migration, cleanup records where the instance runs."""
        config = self.api.engine.config
        from ganeti_rapi.engine.units.instances import instance_wire

        wire = instance_wire(config, config.find_instance("web1"))
        node1, node2 = self.nodes.procedures["node1"], self.nodes.procedures["node2"]
        info = self.successResultOf(node1.rpc_migration_info(wire))
        self.successResultOf(node2.rpc_accept_instance(wire, info, "127.0.0.1"))
        self.successResultOf(node1.rpc_instance_migrate(wire, "127.0.0.1", True))
        # The master "crashed" here: node2 runs it, the config says node1.
        self.assertEqual((self.running("node1"), self.running("node2")), ([], ["web1"]))
        job = self.api.run_job("PUT", "/2/instances/web1/migrate", {"cleanup": True})
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(self.instance("web1")["pnode"], "node2")
        stash = os.path.join(os.path.dirname(self.state_file("node1", "web1")), ".migrated")
        self.assertEqual(os.listdir(stash), [])
        # Where it already is, a cleanup changes nothing.
        job = self.api.run_job("PUT", "/2/instances/web1/migrate", {"cleanup": True})
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(self.instance("web1")["pnode"], "node2")

    def test_dry_run_changes_nothing(self):
        """A dry run succeeds and leaves the instance where it runs."""
        job = self.api.run_job("PUT", "/2/instances/web1/migrate",
                               {"target_node": "node2", "dry_run": True})
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(self.running("node1"), ["web1"])


class FileTemplateTests(MigrationTestCase):
    def test_file_template_refused(self):
        """Disks local to one node: Ganeti's wrong_state "does not allow ..."."""
        job = self.api.run_job("POST", "/2/instances", diskless(
            "files", disk_template="file", disks=[{"size": 16}], pnode="node1"))
        self.assertEqual(job["status"], "success", job)
        job = self.api.run_job("PUT", "/2/instances/files/migrate", {"target_node": "node2"})
        self.api.assert_job_error(
            job, "wrong_state", "Instance's disk layout 'file' does not allow migrations")
        job = self.api.run_job("PUT", "/2/instances/files/failover", {"target_node": "node2"})
        self.api.assert_job_error(
            job, "wrong_state", "Instance's disk layout 'file' does not allow failovers")
        self.assertEqual(self.running("node1"), ["files"])


class SharedFileTests(SynchronousTestCase):
    """sharedfile disks live in a directory every node mounts: they move freely."""

    def setUp(self):
        base = os.path.abspath(self.mktemp())
        self.shared = os.path.join(base, "shared")
        os.makedirs(self.shared)
        self.nodes = local_nodes(self, [os.uname().nodename, "node1", "node2"],
                                 shared_file_storage_dir=self.shared)
        # node3 has not mounted the shared directory.
        unmounted = local_nodes(self, ["node3"],
                                shared_file_storage_dir=os.path.join(base, "unmounted"))
        self.nodes.procedures.update(unmounted.procedures)
        self.api = local_cluster(self, ["node1", "node2", "node3"], self.nodes)
        config = self.api.engine.config
        config.cluster.enabled_disk_templates.append("sharedfile")
        config.cluster.shared_file_storage_dir = self.shared
        self.successResultOf(config.save())

    def running(self, node):
        return self.successResultOf(self.nodes.procedures[node].rpc_instance_list())

    def test_migrate_and_failover(self):
        """A sharedfile instance migrates to node2 and fails over back to node1."""
        job = self.api.run_job("POST", "/2/instances", diskless(
            "shared1", disk_template="sharedfile", disks=[{"size": 16}], pnode="node1"))
        self.assertEqual(job["status"], "success", job)
        disk = os.path.join(self.shared, "shared1", "disk0")
        self.assertTrue(os.path.exists(disk))
        job = self.api.run_job("PUT", "/2/instances/shared1/migrate", {"target_node": "node2"})
        self.assertEqual(job["status"], "success", job)
        self.assertEqual((self.running("node1"), self.running("node2")), ([], ["shared1"]))
        config = self.api.engine.config
        instance = config.find_instance("shared1")
        node2 = config.node_by_name("node2").uuid
        self.assertEqual((instance.primary_node, instance.disks[0].nodes), (node2, [node2]))
        job = self.api.run_job("PUT", "/2/instances/shared1/failover", {"target_node": "node1"})
        self.assertEqual(job["status"], "success", job)
        self.assertEqual((self.running("node1"), self.running("node2")), (["shared1"], []))
        self.assertTrue(os.path.exists(disk))

    def test_target_without_the_directory(self):
        """A node that has not mounted the shared directory cannot take the instance."""
        job = self.api.run_job("POST", "/2/instances", diskless(
            "shared1", disk_template="sharedfile", disks=[{"size": 16}], pnode="node1"))
        self.assertEqual(job["status"], "success", job)
        job = self.api.run_job("PUT", "/2/instances/shared1/migrate", {"target_node": "node3"})
        self.api.assert_job_error(job, "wrong_state", "cannot be used on node node3")
        self.assertIn("shared file storage directory", job["opresult"][0][1][0])
        self.assertEqual(self.running("node1"), ["shared1"])


class NodeTests(MigrationTestCase):
    """Node migrate and evacuate: their child jobs really move the instances."""

    def test_node_migrate(self):
        """Every primary of node1 is migrated away; node1 ends empty."""
        for name in ("a1", "a2", "a3"):
            self.create(name, pnode="node1")
        job = self.api.run_job("POST", "/2/nodes/node1/migrate", {"target_node": "node2"})
        self.assertEqual(job["status"], "success", job)
        children = job["opresult"][0]["jobs"]
        self.assertEqual([ok for ok, _ in children], [True] * 3)
        jobs = self.settle([job_id for _, job_id in children])
        self.assertEqual([j["status"] for j in jobs], ["success"] * 3, jobs)
        self.assertEqual(self.primaries("node1"), [])
        self.assertEqual(self.primaries("node2"), ["a1", "a2", "a3"])
        self.assertEqual((self.running("node1"), self.running("node2")),
                         ([], ["a1", "a2", "a3"]))

    def test_node_migrate_builtin(self):
        """Without a target each instance goes where the built-in allocator says."""
        for name in ("b1", "b2"):
            self.create(name, pnode="node1")
        job = self.api.run_job("POST", "/2/nodes/node1/migrate", {})
        jobs = self.settle([job_id for _, job_id in job["opresult"][0]["jobs"]])
        self.assertEqual([j["status"] for j in jobs], ["success"] * 2, jobs)
        self.assertEqual(self.primaries("node1"), [])
        self.assertEqual(self.running("node1"), [])

    def test_evacuate(self):
        """Running and stopped primaries leave; a file-template one cannot."""
        self.create("up1", pnode="node1")
        self.create("down1", pnode="node1", start=False)
        job = self.api.run_job("POST", "/2/nodes/node1/evacuate",
                               {"mode": "primary-only", "remote_node": "node2"})
        self.assertEqual(job["status"], "success", job)
        jobs = self.settle([job_id for _, job_id in job["opresult"][0]["jobs"]])
        self.assertEqual([j["status"] for j in jobs], ["success"] * 2, jobs)
        self.assertEqual(self.primaries("node1"), [])
        self.assertEqual(self.running("node2"), ["up1"])
        self.assertEqual(self.instance("down1")["status"], "ADMIN_down")

        job = self.api.run_job("POST", "/2/instances", diskless(
            "files", disk_template="file", disks=[{"size": 16}], pnode="node2"))
        self.assertEqual(job["status"], "success", job)
        job = self.api.run_job("POST", "/2/nodes/node2/evacuate",
                               {"mode": "all", "iallocator": "builtin"})
        jobs = self.settle([job_id for _, job_id in job["opresult"][0]["jobs"]])
        by_name = {j["ops"][0]["instance_name"]: j for j in jobs}
        self.assertEqual(by_name["up1"]["status"], "success")
        self.assertEqual(by_name["down1"]["status"], "success")
        self.api.assert_job_error(by_name["files"], "wrong_state", "does not allow")
        self.assertEqual(self.primaries("node2"), ["files"])


class StubRunner:
    """Stands in for external allocator programs: answers, and keeps what it got."""

    def __init__(self, answer):
        self.answer = answer
        self.documents = []

    def run(self, name, document, args=()):
        self.documents.append((name, document))
        answer = self.answer(document) if callable(self.answer) else self.answer
        return defer.succeed(json.dumps(answer).encode("utf-8"))


class ProtocolTests(MigrationTestCase):
    """What the engine sends an external allocator, and what it makes of answers."""

    def use(self, answer):
        runner = StubRunner(answer)
        self.api.engine.processor.environment.iallocators = runner
        return runner

    def test_allocate(self):
        """The allocate request describes the instance and every node; the answer places it."""
        runner = self.use({"success": True, "info": "fine", "result": ["node2"]})
        job = self.api.run_job("POST", "/2/instances", diskless("new1", iallocator="myalloc"))
        self.assertEqual((job["status"], job["opresult"]), ("success", [["node2"]]), job)
        name, document = runner.documents[0]
        self.assertEqual(name, "myalloc")
        request = document["request"]
        self.assertEqual(
            (request["type"], request["name"], request["memory"], request["required_nodes"],
             request["disk_template"], request["disk_space_total"]),
            ("allocate", "new1", 256, 1, "diskless", 0),
        )
        self.assertEqual(sorted(document["nodes"]),
                         sorted([self.master, "node1", "node2", "node3", "node4"]))
        node3 = document["nodes"]["node3"]
        self.assertLessEqual(node3["free_memory"], 100)
        for key in ("total_memory", "reserved_memory", "total_disk", "free_disk",
                    "total_cpus", "group", "ndparams", "offline", "drained"):
            self.assertIn(key, node3)
        self.assertIn("exclusive_storage", node3["ndparams"])
        group = document["nodegroups"][node3["group"]]
        self.assertEqual(group["name"], "default")
        self.assertIn("minmax", group["ipolicy"])
        self.assertEqual(self.running("node2"), ["new1"])

    def test_allocator_fails(self):
        """success false: insufficient_resources with the allocator's own words."""
        self.use({"success": False, "info": "No valid allocation solutions", "result": []})
        job = self.api.run_job("POST", "/2/instances", diskless("new1", iallocator="myalloc"))
        self.api.assert_job_error(job, "insufficient_resources",
                                  "No valid allocation solutions")
        self.assertEqual(self.api.request("GET", "/2/instances/new1")[0], 404)

    def test_bad_answers(self):
        """Answers outside the protocol fail the job with OpExecError."""
        for answer in ({"success": True, "info": "", "result": ["nosuch"]},
                       {"success": True, "info": ""},
                       ["node1"],
                       {"success": True, "info": "", "result": ["node1", "node2"]}):
            self.use(answer)
            job = self.api.run_job("POST", "/2/instances",
                                   diskless("new1", iallocator="myalloc"))
            self.assertEqual(job["status"], "error", (answer, job))
            self.assertEqual(job["opresult"][0][0], "OpExecError", (answer, job))

    def test_relocate(self):
        """Migrate with an allocator sends relocate from the primary, and moves there."""
        self.create("web1", pnode="node1")
        runner = self.use({"success": True, "info": "", "result": ["node2"]})
        job = self.api.run_job("PUT", "/2/instances/web1/migrate", {"iallocator": "myalloc"})
        self.assertEqual(job["status"], "success", job)
        request = runner.documents[0][1]["request"]
        self.assertEqual(
            (request["type"], request["name"], request["relocate_from"],
             request["required_nodes"]),
            ("relocate", "web1", ["node1"], 1),
        )
        instance = runner.documents[0][1]["instances"]["web1"]
        self.assertEqual((instance["nodes"], instance["memory"], instance["admin_state"]),
                         (["node1"], 256, "up"))
        self.assertEqual(self.instance("web1")["pnode"], "node2")
        self.assertEqual(self.running("node2"), ["web1"])

    def test_multi_allocate(self):
        """multi-allocate: one request for several instances; placed and failed."""
        from ganeti_rapi.engine.objects import Instance

        runner = self.use({"success": True, "info": "",
                           "result": [[["m1", ["node1"]]], ["m2"]]})
        env = self.api.engine.processor.environment
        probes = [Instance(name=n, disk_template="diskless", beparams={"maxmem": 128})
                  for n in ("m1", "m2")]
        placed, failed = self.successResultOf(iallocator.multi_allocate(env, "myalloc", probes))
        self.assertEqual(({k: [n.name for n in v] for k, v in placed.items()}, failed),
                         ({"m1": ["node1"]}, ["m2"]))
        request = runner.documents[0][1]["request"]
        self.assertEqual((request["type"], [i["name"] for i in request["instances"]]),
                         ("multi-allocate", ["m1", "m2"]))

    def test_default_allocator(self):
        """The cluster's default_iallocator is used when the opcode names none."""
        self.create("web1", pnode="node1")
        job = self.api.run_job("PUT", "/2/modify", {"default_iallocator": "myalloc"})
        self.assertEqual(job["status"], "success", job)
        runner = self.use({"success": False, "info": "full", "result": []})
        job = self.api.run_job("PUT", "/2/instances/web1/failover", {})
        self.api.assert_job_error(job, "insufficient_resources", "full")
        self.assertEqual(runner.documents[0][0], "myalloc")

    def test_no_process_spawning(self):
        """A master that cannot spawn programs says so (a test engine with a Clock)."""
        job = self.api.run_job("POST", "/2/instances", diskless("new1", iallocator="myalloc"))
        self.api.assert_job_error(job, "environment_error")


# -- real programs -----------------------------------------------------------------


SCRIPT = """#!/bin/sh
# A tiny allocator: keeps its input and answers what $ANSWER holds.
cp "$1" "%(keep)s"
echo "$1" > "%(keep)s.path"
cat "%(answer)s"
"""


class RunnerTests(TestCase):
    """L{iallocator.AllocatorRunner} with real processes and the real reactor."""

    def setUp(self):
        self.dir = os.path.abspath(self.mktemp())
        os.makedirs(self.dir)
        self.keep = os.path.join(self.dir, "input.json")
        self.answer = os.path.join(self.dir, "answer.json")
        self.runner = iallocator.AllocatorRunner(reactor, search_path=[self.dir], timeout=10)

    def script(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o755)

    @defer.inlineCallbacks
    def test_run(self):
        """The input goes in a file given as the argument, removed afterwards."""
        self.script("keeper", SCRIPT % {"keep": self.keep, "answer": self.answer})
        with open(self.answer, "w") as f:
            f.write('{"success": true, "info": "ok", "result": ["n1"]}')
        output = yield self.runner.run("keeper", {"request": {"type": "allocate"}})
        self.assertEqual(iallocator.parse_output("keeper", output), (True, "ok", ["n1"]))
        with open(self.keep) as f:
            self.assertEqual(json.load(f), {"request": {"type": "allocate"}})
        with open(self.keep + ".path") as f:
            self.assertFalse(os.path.exists(f.read().strip()))

    @defer.inlineCallbacks
    def test_failures(self):
        """Unknown names, failing programs and programs running too long."""
        try:
            yield self.runner.run("nosuch", {})
        except OpPrereqError as e:
            self.assertEqual(e.args[1], "wrong_input")
        else:
            self.fail("an unknown allocator ran")
        for bad in ("../keeper", "/bin/true", ""):
            try:
                yield self.runner.run(bad, {})
            except OpPrereqError as e:
                self.assertEqual(e.args[1], "wrong_input")
            else:
                self.fail("allocator %r ran" % bad)
        self.script("broken", "#!/bin/sh\necho 'no data' >&2\nexit 3\n")
        e = yield self.assertFailure(self.runner.run("broken", {}), OpExecError)
        self.assertIn("no data", e.args[0])
        self.script("slow", "#!/bin/sh\nexec sleep 30\n")
        self.runner.timeout = 0.5
        e = yield self.assertFailure(self.runner.run("slow", {}), OpExecError)
        self.assertIn("did not finish", e.args[0])

    def test_path_only_for_htools(self):
        """C{$PATH} is searched for hail only, never for arbitrary names."""
        bin_dir = os.path.join(self.dir, "bin")
        os.makedirs(bin_dir)
        for name in ("hail", "reboot"):
            path = os.path.join(bin_dir, name)
            with open(path, "w") as f:
                f.write("#!/bin/sh\n")
            os.chmod(path, 0o755)
        environ = {"PATH": bin_dir}
        self.assertEqual(iallocator.find_program("hail", [], environ=environ),
                         os.path.join(bin_dir, "hail"))
        self.assertIsNone(iallocator.find_program("reboot", [], environ=environ))


def hail_installed():
    """Whether hail is installed, looked for without the code under test."""
    import shutil

    return shutil.which("hail") is not None or any(
        os.access(os.path.join(d, "hail"), os.X_OK) for d in iallocator.SEARCH_PATH
    )


def skip_without_hail():
    if not hail_installed():
        raise SkipTest("htools' hail is not installed (Debian package ganeti-htools)")


class HailTests(TestCase):
    """htools' hail places and relocates instances of the real engine.

    The engine runs on the real reactor (hail is a real process); the node
    procedures run in-process.
    """

    timeout = 120

    def setUp(self):
        skip_without_hail()
        master = os.uname().nodename
        self.nodes = local_nodes(self, [master, "node1", "node2"])
        data_dir = os.path.abspath(self.mktemp())
        os.makedirs(data_dir)
        self.engine = open_engine(data_dir, reactor, node_runner=self.nodes)
        config = self.engine.config
        name = config.node(config.cluster.master_node).name
        if name not in self.nodes.procedures:
            self.nodes.procedures[name] = self.nodes.procedures[master]
        add_nodes(config, ["node1", "node2"])
        self.engine.service.startService()
        self.addCleanup(self.engine.service.stopService)
        return config.save()

    @defer.inlineCallbacks
    def run_job(self, op_id, params, static=None):
        cluster = self.engine.cluster
        job_id = yield cluster.submit([(op_id, params, static or {})])
        for _ in range(1200):
            job = yield cluster.job(job_id, ["status", "opresult", "oplog"])
            if job["status"] in FINAL:
                return job
            yield task.deferLater(reactor, 0.05, lambda: None)
        self.fail("job %s did not finish" % job_id)

    @defer.inlineCallbacks
    def test_hail(self):
        """hail chooses the node of a new instance, then where it migrates to."""
        from ganeti_rapi.web.instances import create_request

        self.assertIsNotNone(iallocator.find_program("hail"))
        params = create_request(diskless("hailed", iallocator="hail"))
        job = yield self.run_job("OP_INSTANCE_CREATE", params)
        self.assertEqual(job["status"], "success", job)
        (pnode,) = job["opresult"][0]
        config = self.engine.config
        self.assertIsNotNone(config.node_by_name(pnode))
        self.assertIn("hail", " ".join(entry[3] for entry in job["oplog"][0]))
        instance = config.find_instance("hailed")
        self.assertEqual(config.node(instance.primary_node).name, pnode)
        running = yield self.nodes.procedures[pnode].rpc_instance_list()
        self.assertEqual(running, ["hailed"])

        job = yield self.run_job("OP_INSTANCE_MIGRATE",
                                 {"instance_name": "hailed", "iallocator": "hail"})
        self.assertEqual(job["status"], "success", job)
        target = config.node(config.find_instance("hailed").primary_node).name
        self.assertNotEqual(target, pnode)
        running = yield self.nodes.procedures[target].rpc_instance_list()
        self.assertEqual(running, ["hailed"])

        # Several at once.
        from ganeti_rapi.engine.objects import Instance

        probes = [Instance(name=n, disk_template="diskless", os="noop",
                           beparams={"maxmem": 128, "minmem": 128}) for n in ("m1", "m2")]
        placed, failed = yield iallocator.multi_allocate(
            self.engine.processor.environment, "hail", probes)
        self.assertEqual((sorted(placed), failed), (["m1", "m2"], []))

        # More memory than any node has: hail says no.
        params = create_request(diskless("huge", iallocator="hail",
                                         beparams={"maxmem": 30000, "minmem": 30000}))
        job = yield self.run_job("OP_INSTANCE_CREATE", params)
        self.assertEqual(job["status"], "error", job)
        self.assertEqual(job["opresult"][0][1][1], "insufficient_resources", job)
        self.assertIn("hail", job["opresult"][0][1][0])



class DaemonTests(RealCluster, TestCase):
    """A real master and two real node daemons: hail run by the master
    daemon, and instances migrated and failed over through node RPC."""

    timeout = 300

    def state_file(self, index, name):
        return os.path.join(self.node_dirs[index], "node", "fake-hv", name)

    def setUp(self):
        skip_without_hail()
        return self.start_cluster(os.path.abspath(self.mktemp()), 2)

    @defer.inlineCallbacks
    def test_daemons(self):
        """hail places an instance; migrate, failover and node migrate move them."""
        job = yield self.run_job("POST", "/2/instances", diskless("hailed", iallocator="hail"))
        self.assertEqual(job["status"], "success", job)
        self.assertIn("iallocator 'hail': Request successful",
                      " ".join(entry[3] for entry in job["oplog"][0]))

        job = yield self.run_job("POST", "/2/instances", diskless("web1", pnode="node1"))
        self.assertEqual(job["status"], "success", job)
        self.assertTrue(os.path.exists(self.state_file(0, "web1")))
        job = yield self.run_job("PUT", "/2/instances/web1/migrate", {"target_node": "node2"})
        self.assertEqual(job["status"], "success", job)
        self.assertFalse(os.path.exists(self.state_file(0, "web1")))
        self.assertTrue(os.path.exists(self.state_file(1, "web1")))
        job = yield self.run_job("PUT", "/2/instances/web1/failover", {"target_node": "node1"})
        self.assertEqual(job["status"], "success", job)
        self.assertEqual((os.path.exists(self.state_file(0, "web1")),
                          os.path.exists(self.state_file(1, "web1"))), (True, False))

        job = yield self.run_job("POST", "/2/nodes/node1/migrate", {"target_node": "node2"})
        self.assertEqual(job["status"], "success", job)
        for ok, child in job["opresult"][0]["jobs"]:
            self.assertTrue(ok, child)
            done = yield wait_job(self, child)
            self.assertEqual(done["status"], "success", done)
        code, instance = yield self.api("GET", "/2/instances/web1")
        self.assertEqual((instance["pnode"], instance["status"]), ("node2", "running"))
        self.assertTrue(os.path.exists(self.state_file(1, "web1")))
