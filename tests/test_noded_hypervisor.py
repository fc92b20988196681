"""The fake hypervisor and the instance procedures of the node daemon."""

import os

from twisted.trial.unittest import SynchronousTestCase

from ganeti_rapi.noded import errors
from ganeti_rapi.noded.hypervisor.base import BaseHypervisor
from ganeti_rapi.noded.hypervisor.fake import CONSOLE_MESSAGE
from ganeti_rapi.noded.procedures import NodeProcedures
from ganeti_rapi.noded.testing import (
    run_synchronously,
    sample_instance,
    write_host_files,
)


class FakeHypervisorTests(SynchronousTestCase):
    """Instances of the fake hypervisor on one node, with synchronous file work."""

    def setUp(self):
        base = os.path.abspath(self.mktemp())
        self.host = write_host_files(
            os.path.join(base, "host"), total_mib=4096, available_mib=3072
        )
        self.data_dir = os.path.join(base, "data")
        self.node = NodeProcedures(
            self.data_dir, run_in_thread=run_synchronously, host_files=self.host
        )
        self.state_dir = os.path.join(self.data_dir, "node", "fake-hv")

    def call(self, procedure, /, **kwargs):
        return self.successResultOf(getattr(self.node, "rpc_" + procedure)(**kwargs))

    def fails(self, error, procedure, /, **kwargs):
        failure = self.failureResultOf(getattr(self.node, "rpc_" + procedure)(**kwargs))
        failure.trap(error)
        return failure.value

    def test_start_writes_state_file(self):
        """Starting writes <data-dir>/node/fake-hv/<name> with id, memory and vCPUs."""
        self.call("instance_start", instance=sample_instance())
        with open(os.path.join(self.state_dir, "inst1.example.com")) as f:
            self.assertEqual(f.read(), "0\n256\n2\n")

    def test_powercycle_stops_instances(self):
        """A power cycle of a fake node stops every instance and says which."""
        self.call("instance_start", instance=sample_instance())
        message = self.call("node_powercycle", hypervisor="fake")
        self.assertIn("inst1.example.com", message)
        self.assertEqual(self.call("instance_list"), [])
        self.assertIn("0 instance", self.call("node_powercycle"))

    def test_list_and_info(self):
        """A started instance is listed and described; others are not."""
        self.assertEqual(self.call("instance_list"), [])
        self.call("instance_start", instance=sample_instance())
        self.call("instance_start", instance=sample_instance("a-first"))
        self.assertEqual(
            self.call("instance_list", hypervisors=["fake"]),
            ["a-first", "inst1.example.com"],
        )
        info = self.call("instance_info", name="inst1.example.com", hypervisor="fake")
        self.assertEqual(
            info,
            {
                "name": "inst1.example.com",
                "id": 0,
                "memory": 256,
                "vcpus": 2,
                "state": "running",
                "time": 0,
                "hypervisor": "fake",
            },
        )
        self.assertIsNone(self.call("instance_info", name="other"))
        everything = self.call("all_instances_info", hypervisors=["fake"])
        self.assertEqual(sorted(everything), ["a-first", "inst1.example.com"])
        self.assertEqual(everything["inst1.example.com"], info)

    def test_start_is_idempotent_stop_too(self):
        """Starting a running instance or stopping a stopped one succeeds and changes nothing."""
        instance = sample_instance()
        self.call("instance_start", instance=instance)
        self.call("instance_start", instance=dict(instance, beparams={"maxmem": 512}))
        self.assertEqual(self.call("instance_info", name=instance["name"])["memory"], 256)
        self.assertIsNone(self.call("instance_shutdown", instance=instance, timeout=5))
        self.assertEqual(self.call("instance_list"), [])
        self.assertIsNone(self.call("instance_shutdown", instance=instance))

    def test_hypervisor_itself_is_strict(self):
        """The hypervisor object refuses a second start and a stop of a stopped instance."""
        hv = self.node.hypervisors.get("fake")
        instance = sample_instance()
        self.successResultOf(hv.start_instance(instance, [], False))
        self.failureResultOf(hv.start_instance(instance, [], False), errors.HypervisorError)
        self.successResultOf(hv.stop_instance(instance["name"]))
        failure = self.failureResultOf(
            hv.stop_instance(instance["name"]), errors.HypervisorError
        )
        self.assertIn("not running", str(failure.value))

    def test_memory_limited_by_free(self):
        """Start memory is max memory, or what is free if less, but at least min memory."""
        big = sample_instance("big", beparams={"maxmem": 8192, "minmem": 1024, "vcpus": 1})
        self.call("instance_start", instance=big)
        self.assertEqual(self.call("instance_info", name="big")["memory"], 3072)
        huge = sample_instance("huge", beparams={"maxmem": 8192, "minmem": 1024})
        error = self.fails(errors.HypervisorError, "instance_start", instance=huge)
        self.assertIn("not enough memory", str(error))
        self.assertEqual(self.call("instance_list"), ["big"])

    def test_node_memory_accounts_for_instances(self):
        """Free memory of the hypervisor drops by the memory of running fake instances."""
        before = self.successResultOf(self.node.hypervisors.get("fake").node_info())
        self.assertEqual(
            (before["memory_total"], before["memory_free"], before["memory_dom0"]),
            (4096, 3072, 1024),
        )
        self.assertEqual(before["cpu_total"], 2)
        self.call("instance_start", instance=sample_instance())
        info = self.call("node_info")
        self.assertEqual((info["mtotal"], info["mfree"], info["mnode"]), (4096, 2816, 1024))
        self.assertEqual((info["hv_memory_total"], info["hv_memory_free"]), (4096, 2816))

    def test_reboot(self):
        """Soft and hard reboots keep the instance running; rebooting a stopped one fails."""
        instance = sample_instance()
        error = self.fails(
            errors.HypervisorError, "instance_reboot", instance=instance, reboot_type="soft"
        )
        self.assertIn("not running", str(error))
        self.call("instance_start", instance=instance)
        for reboot_type in ("soft", "hard", "full"):
            self.assertIsNone(
                self.call("instance_reboot", instance=instance, reboot_type=reboot_type)
            )
            self.assertEqual(self.call("instance_list"), [instance["name"]])
        self.fails(
            errors.InvalidArgument, "instance_reboot", instance=instance, reboot_type="warm"
        )

    def test_console(self):
        """The console of a fake instance is a message saying none is available."""
        self.assertEqual(
            self.call("instance_console_info", instance=sample_instance()),
            {"instance": "inst1.example.com", "kind": "message", "message": CONSOLE_MESSAGE},
        )

    def test_bad_names_refused_before_any_path(self):
        """Instance names with path separators, leading dots or odd characters are refused."""
        for name in ("../escape", "a/b", ".hidden", "..", "", "with space", 7):
            self.fails(errors.InvalidArgument, "instance_start", instance=sample_instance(name))
            self.fails(errors.InvalidArgument, "instance_info", name=name)
        self.assertFalse(os.path.exists(os.path.join(self.data_dir, "node", "escape")))

    def test_unknown_hypervisor(self):
        """An instance of a hypervisor this node lacks is refused, naming the ones it has."""
        error = self.fails(
            errors.InvalidArgument, "instance_start",
            instance=sample_instance(hypervisor="xen-pvm"),
        )
        self.assertIn("fake", str(error))
        self.fails(errors.InvalidArgument, "instance_list", hypervisors=["xen-pvm"])

    def test_migratable(self):
        """An instance is migratable when it runs here, and not otherwise."""
        instance = sample_instance()
        self.fails(errors.HypervisorError, "instance_migratable", instance=instance)
        self.call("instance_start", instance=instance)
        self.assertTrue(self.call("instance_migratable", instance=instance))

    def test_interface_documented(self):
        """The base class leaves every operation to the hypervisor implementation."""
        base = BaseHypervisor()
        self.assertRaises(NotImplementedError, base.list_instances)
        self.assertRaises(NotImplementedError, base.node_info)
        self.assertRaises(NotImplementedError, base.get_console, {})


class MigrationTests(SynchronousTestCase):
    """Migrating fake instances between two nodes with their own data directories."""

    def setUp(self):
        base = os.path.abspath(self.mktemp())
        host = write_host_files(os.path.join(base, "host"))
        self.nodes = {}
        for name in ("source", "target"):
            data_dir = os.path.join(base, name)
            self.nodes[name] = NodeProcedures(
                data_dir, run_in_thread=run_synchronously, host_files=host
            )
        self.instance = sample_instance()
        self.call("source", "instance_start", instance=self.instance)

    def state_file(self, node):
        return os.path.join(
            self.nodes[node].data_dir.path, "node", "fake-hv", self.instance["name"]
        )

    def call(self, node, procedure, /, **kwargs):
        return self.successResultOf(getattr(self.nodes[node], "rpc_" + procedure)(**kwargs))

    def running(self):
        return {n: self.call(n, "instance_list") != [] for n in self.nodes}

    def test_successful_migration_moves_state(self):
        """Accept, migrate and finalize move the running state from source to target."""
        info = self.call("source", "migration_info", instance=self.instance)
        self.assertEqual(info, {"memory": 256, "vcpus": 2})
        self.call("target", "accept_instance", instance=self.instance, info=info,
                  target="192.0.2.2")
        self.assertTrue(os.path.exists(self.state_file("target")))
        self.call("source", "instance_migrate", instance=self.instance,
                  target="192.0.2.2", live=True)
        self.assertFalse(os.path.exists(self.state_file("source")))
        self.assertEqual(
            self.call("source", "instance_get_migration_status", instance=self.instance),
            {"status": "completed"},
        )
        self.call("target", "finalize_migration_dst", instance=self.instance, info=info,
                  success=True)
        self.call("source", "finalize_migration_src", instance=self.instance,
                  success=True, live=True)
        self.assertEqual(self.running(), {"source": False, "target": True})
        with open(self.state_file("target")) as f:
            self.assertEqual(f.read(), "0\n256\n2\n")

    def test_failed_migration_rolls_back(self):
        """A failed migration leaves the instance running on the source only."""
        info = self.call("source", "migration_info", instance=self.instance)
        self.call("target", "accept_instance", instance=self.instance, info=info,
                  target="192.0.2.2")
        self.call("source", "instance_migrate", instance=self.instance,
                  target="192.0.2.2", live=False)
        self.call("target", "finalize_migration_dst", instance=self.instance, info=info,
                  success=False)
        self.call("source", "finalize_migration_src", instance=self.instance,
                  success=False, live=False)
        self.assertEqual(self.running(), {"source": True, "target": False})

    def test_finalize_alone_completes(self):
        """Finalize calls alone (without accept and migrate effects) still move the state."""
        info = self.call("source", "migration_info", instance=self.instance)
        self.call("target", "finalize_migration_dst", instance=self.instance, info=info,
                  success=True)
        self.call("source", "finalize_migration_src", instance=self.instance,
                  success=True, live=True)
        self.assertEqual(self.running(), {"source": False, "target": True})

    def test_accept_refused_when_running(self):
        """A target already running the instance refuses to accept it."""
        self.call("target", "instance_start", instance=self.instance)
        failure = self.failureResultOf(
            self.nodes["target"].rpc_accept_instance(
                instance=self.instance, info={}, target="t"
            ),
            errors.HypervisorError,
        )
        self.assertIn("already running", str(failure.value))

    def test_migrate_stopped_refused(self):
        """Migrating or asking migration info of a stopped instance fails."""
        self.call("source", "instance_shutdown", instance=self.instance)
        self.failureResultOf(
            self.nodes["source"].rpc_migration_info(instance=self.instance),
            errors.HypervisorError,
        )
        self.failureResultOf(
            self.nodes["source"].rpc_instance_migrate(
                instance=self.instance, target="t", live=True
            ),
            errors.HypervisorError,
        )
