"""Changing instances through the real tree, engine and node procedures:
modify, reinstall, disk activation, console and multi-allocation.

As in L{tests.test_instances}, node procedures run in-process
(L{LocalNodes}) with real fake hypervisors and real sparse disk files.  OS
scripts are real processes, so the test that runs one is a L{TestCase} on
the real reactor; the others create instances without installing an OS.
"""

import os

from twisted.internet import defer, reactor, task
from twisted.trial.unittest import TestCase

from ganeti_rapi.noded.errors import HypervisorError
from tests.helpers import READER
from tests.test_instances import InstanceTestCase, create_body

MODIFY = "/2/instances/%s/modify"


class ChangeTestCase(InstanceTestCase):
    def setUp(self):
        InstanceTestCase.setUp(self)
        job = self.create("web1", pnode="node1")
        self.assertEqual(job["status"], "success", job)

    def modify(self, name, body):
        return self.api.run_job("PUT", MODIFY % name, body)

    def changes(self, name, body):
        """A modification that must succeed; its list of changes."""
        job = self.modify(name, body)
        self.assertEqual(job["status"], "success", job)
        return job["opresult"][0]

    def stop(self, name):
        job = self.api.run_job("PUT", "/2/instances/%s/shutdown" % name)
        self.assertEqual(job["status"], "success", job)

    def submit(self, op_id, **params):
        """Run one opcode through the cluster (what the RAPI resources do)."""
        job_id = self.successResultOf(self.api.engine.cluster.submit([(op_id, params, None)]))
        self.api.clock.advance(0)
        return self.api.job(job_id)

    def disk_file(self, node, name, index):
        return os.path.join(self.storage(node), name, "disk%d" % index)

    def config_instance(self, name):
        return self.api.engine.config.instance_by_name(name)


class ParameterTests(ChangeTestCase):
    def test_beparams(self):
        """Backend parameters merge; "default" removes; memory sets both bounds."""
        self.assertEqual(self.changes("web1", {"beparams": {"maxmem": 512, "vcpus": 2}}),
                         [["be/maxmem", 512], ["be/vcpus", 2]])
        instance = self.instance("web1")
        self.assertEqual(instance["custom_beparams"],
                         {"maxmem": 512, "minmem": 128, "vcpus": 2})
        self.assertEqual(instance["beparams"]["vcpus"], 2)
        self.changes("web1", {"beparams": {"vcpus": "default"}})
        self.assertEqual(self.instance("web1")["custom_beparams"],
                         {"maxmem": 512, "minmem": 128})
        # The old name and a size with a unit, as clients send them.
        self.assertEqual(self.changes("web1", {"custom_beparams": {"memory": "1G"}}),
                         [["be/memory", 1024]])
        self.assertEqual(self.instance("web1")["custom_beparams"],
                         {"maxmem": 1024, "minmem": 1024})

    def test_beparams_errors(self):
        """Bounds, unknown keys and types are wrong_input; memory that no longer
        fits the primary node is insufficient_resources unless forced."""
        self.api.assert_job_error(
            self.modify("web1", {"beparams": {"minmem": 1024}}), "wrong_input", "Minimum"
        )
        self.api.assert_job_error(
            self.modify("web1", {"beparams": {"frobs": 1}}), "wrong_input", "frobs"
        )
        self.api.assert_job_error(
            self.modify("web1", {"beparams": {"auto_balance": 1}}), "wrong_input"
        )
        self.api.assert_job_error(
            self.modify("web1", {"beparams": {"maxmem": 100000}}), "insufficient_resources"
        )
        self.assertEqual(
            self.changes("web1", {"beparams": {"maxmem": 100000}, "force": True}),
            [["be/maxmem", 100000]],
        )

    def test_hvparams(self):
        """Hypervisor parameters merge; cluster-wide and unknown ones are refused."""
        self.assertEqual(self.changes("web1", {"custom_hvparams": {"kernel_args": "quiet"}}),
                         [["hv/kernel_args", "quiet"]])
        instance = self.instance("web1")
        self.assertEqual(instance["custom_hvparams"], {"kernel_args": "quiet"})
        self.assertEqual(instance["hvparams"]["kernel_args"], "quiet")
        self.changes("web1", {"hvparams": {"kernel_args": "default"}})
        self.assertEqual(self.instance("web1")["custom_hvparams"], {})
        for hvparams in ({"migration_mode": "non-live"}, {"nosuch": 1},
                         {"acpi": "yes"}):
            self.api.assert_job_error(self.modify("web1", {"hvparams": hvparams}),
                                      "wrong_input")

    def test_osparams(self):
        """OS parameters merge; an OS that does not know them refuses them."""
        self.create("bare", os=None, pnode="node2")
        self.assertEqual(self.changes("bare", {"osparams": {"colour": "blue", "n": "1"}}),
                         [["os/colour", "blue"], ["os/n", "1"]])
        self.changes("bare", {"osparams": {"n": "default"}})
        self.assertEqual(self.instance("bare")["custom_osparams"], {"colour": "blue"})
        # ganeti-rapi-noop lists no parameters, so the node refuses any.
        self.api.assert_job_error(
            self.modify("web1", {"osparams": {"colour": "blue"}}), "wrong_input", "colour"
        )
        self.assertEqual(self.instance("web1")["custom_osparams"], {})

    def test_os_name(self):
        """The OS is checked on the primary node before it is recorded."""
        self.create("bare", os=None, pnode="node2")
        self.api.assert_job_error(self.modify("bare", {"os_name": "nosuch-os"}),
                                  "wrong_input", "nosuch-os")
        job = self.modify("bare", {"os_name": "ganeti-rapi-noop"})
        self.assertEqual(job["status"], "success", job)
        self.assertIn("reinstall", str(job["oplog"]))
        self.assertEqual(self.instance("bare")["os"], "ganeti-rapi-noop")

    def test_offline(self):
        """Offline needs a stopped instance; online again makes it down."""
        self.api.assert_job_error(self.modify("web1", {"offline": True}), "wrong_state")
        self.stop("web1")
        self.assertEqual(self.changes("web1", {"offline": True}),
                         [["admin_state", "offline"]])
        self.assertEqual(self.instance("web1")["status"], "ADMIN_offline")
        job = self.api.run_job("PUT", "/2/instances/web1/startup")
        self.api.assert_job_error(job, "wrong_state", "offline")
        self.assertEqual(self.changes("web1", {"offline": False}),
                         [["admin_state", "down"]])
        self.assertEqual(self.instance("web1")["status"], "ADMIN_down")

    def test_runtime_mem(self):
        """Runtime memory needs a running instance and the memory bounds."""
        self.assertEqual(self.changes("web1", {"runtime_mem": 200}),
                         [["runtime_memory", 200]])
        self.api.assert_job_error(self.modify("web1", {"runtime_mem": 1024}),
                                  "wrong_input", "between 128 and 256")
        self.stop("web1")
        self.api.assert_job_error(self.modify("web1", {"runtime_mem": 200}),
                                  "wrong_state", "not running")

    def test_node_down(self):
        """Configuration changes need no answer from the primary node; the
        memory check is then only a warning."""
        self.nodes.down.add("node1")
        job = self.modify("web1", {"beparams": {"maxmem": 512}, "nics": [["add", {}]]})
        self.assertEqual(job["status"], "success", job)
        self.assertIn("WARNING", str(job["oplog"]))
        self.nodes.down.discard("node1")
        self.assertEqual(self.instance("web1")["custom_beparams"]["maxmem"], 512)

    def test_nothing_or_unsupported(self):
        """No change, a disk template conversion, a new primary: wrong_input."""
        self.api.assert_job_error(self.modify("web1", {}), "wrong_input")
        self.api.assert_job_error(self.modify("web1", {"beparams": {}}), "wrong_input")
        self.api.assert_job_error(self.modify("web1", {"disk_template": "diskless"}),
                                  "wrong_input", "not supported")
        self.api.assert_job_error(self.modify("web1", {"pnode": "node2"}), "wrong_input")
        self.api.assert_job_error(self.modify("nosuch", {"beparams": {"vcpus": 2}}),
                                  "unknown_entity")


class NicTests(ChangeTestCase):
    def test_add_modify_remove(self):
        """NICs are added with a fresh MAC, modified by index or name, removed."""
        result = self.changes("web1", {"nics": [["add", {"link": "br1"}]]})
        self.assertEqual(len(result), 1)
        key, description = result[0]
        self.assertEqual(key, "nic.1")
        macs = self.instance("web1")["nic.macs"]
        self.assertEqual(len(macs), 2)
        self.assertNotEqual(macs[0], macs[1])
        self.assertTrue(macs[1].startswith("aa:00:00:"))
        self.assertEqual(
            description,
            "add:mac=%s,ip=None,mode=bridged,link=br1,network=None" % macs[1],
        )
        self.assertEqual(self.instance("web1")["nic.links"], ["xen-br0", "br1"])

        # The old form: an index and the parameters to change.
        self.assertEqual(self.changes("web1", {"nics": [[1, {"ip": "192.0.2.5"}]]}),
                         [["nic.ip/1", "192.0.2.5"]])
        result = self.changes("web1", {"nics": [["modify", 1, {"mac": "generate"}]]})
        self.assertEqual(result[0][0], "nic.mac/1")
        self.assertNotIn(result[0][1], macs)
        self.assertEqual(self.instance("web1")["nic.macs"][1], result[0][1])
        result = self.changes("web1", {"nics": [["modify", 0, {"mode": "routed",
                                                               "ip": "192.0.2.9"}]]})
        self.assertIn(["nic.mode/0", "routed"], result)
        self.assertIn(["nic.ip/0", "192.0.2.9"], result)

        # The new form: insert at the front with a name, remove by name.
        self.changes("web1", {"nics": [["add", 0, {"name": "front",
                                                   "mac": "AA:00:00:12:34:56"}]]})
        instance = self.instance("web1")
        self.assertEqual(instance["nic.names"][0], "front")
        self.assertEqual(instance["nic.macs"][0], "aa:00:00:12:34:56")
        self.assertEqual(self.changes("web1", {"nics": [["remove", "front", {}]]}),
                         [["NIC/0", "remove"]])
        self.assertEqual(self.changes("web1", {"nics": [["remove", {}]]}),
                         [["NIC/1", "remove"]])
        self.assertEqual(len(self.instance("web1")["nic.macs"]), 1)

    def test_errors(self):
        """Bad forms, indices, parameters and duplicate MACs are refused."""
        mac = self.instance("web1")["nic.macs"][0]
        cases = [
            ([["frob", 0, {}]], "wrong_input"),
            ([[5, {"ip": "192.0.2.1"}]], "wrong_input"),
            ([["remove", "nosuch", {}]], "wrong_input"),
            ([["remove", {"ip": "192.0.2.1"}]], "wrong_input"),
            ([["add", {"colour": "red"}]], "wrong_input"),
            ([["add", {"ip": "not-an-ip"}]], "wrong_input"),
            ([["add", {"mode": "routed"}]], "wrong_input"),
            ([["add", {}], ["remove", {}]], "wrong_input"),
            ([["add", {"mac": mac}]], "resource_not_unique"),
            ([[0, {"mac": "auto"}]], "wrong_input"),
            ([["add", 3, {}]], "wrong_input"),
        ]
        for nics, classification in cases:
            self.api.assert_job_error(self.modify("web1", {"nics": nics}),
                                      classification)
        self.assertEqual(self.instance("web1")["nic.macs"], [mac])

    def test_running_instance(self):
        """NIC changes of a running instance are recorded for its next start."""
        job = self.modify("web1", {"nics": [["add", {}]]})
        self.assertEqual(job["status"], "success", job)
        self.assertIn("next started", str(job["oplog"]))


class DiskTests(ChangeTestCase):
    def test_add_and_remove(self):
        """A disk added is a new file on the primary node; a removed one is deleted."""
        self.api.assert_job_error(self.modify("web1", {"disks": [["add", {"size": 32}]]}),
                                  "wrong_state", "running")
        self.assertFalse(os.path.exists(self.disk_file("node1", "web1", 1)))
        self.stop("web1")
        self.assertEqual(self.changes("web1", {"disks": [["add", {"size": 32}]]}),
                         [["disk/1", "add:size=32,mode=rw"]])
        path = self.disk_file("node1", "web1", 1)
        self.assertEqual(os.stat(path).st_size, 32 * 1024 * 1024)
        self.assertEqual(self.instance("web1")["disk.sizes"], [64, 32])
        disk = self.config_instance("web1").disks[1]
        self.assertEqual((disk.iv_name, disk.logical_id), ("disk/1", ["loop", "web1/disk1"]))

        # Removing the first disk renumbers the other; a new disk then gets a
        # file name no disk of the instance uses.
        self.assertEqual(self.changes("web1", {"disks": [["remove", 0, {}]]}),
                         [["disk/0", "remove"]])
        self.assertFalse(os.path.exists(self.disk_file("node1", "web1", 0)))
        self.assertTrue(os.path.exists(path))
        self.changes("web1", {"disks": [["add", -1, {"size": 16, "mode": "ro",
                                                     "name": "scratch"}]]})
        instance = self.instance("web1")
        self.assertEqual((instance["disk.sizes"], instance["disk.names"]),
                         ([32, 16], [None, "scratch"]))
        disks = self.config_instance("web1").disks
        self.assertEqual([d.logical_id[1] for d in disks], ["web1/disk1", "web1/disk2"])
        self.assertEqual([d.iv_name for d in disks], ["disk/0", "disk/1"])
        self.assertEqual(os.stat(self.disk_file("node1", "web1", 2)).st_size,
                         16 * 1024 * 1024)

        # The instance starts with its new disks.
        job = self.api.run_job("PUT", "/2/instances/web1/startup")
        self.assertEqual(job["status"], "success", job)

    def test_modify(self):
        """A disk's name and mode can change; its size cannot."""
        self.assertEqual(self.changes("web1", {"disks": [[0, {"name": "root"}]]}),
                         [["disk.name/0", "root"]])
        self.assertEqual(self.changes("web1", {"disks": [["modify", "root",
                                                          {"mode": "ro"}]]}),
                         [["disk.mode/0", "ro"]])
        self.api.assert_job_error(self.modify("web1", {"disks": [[0, {"size": 128}]]}),
                                  "wrong_input", "grow-disk")

    def test_errors(self):
        """The last disk stays; diskless instances take none; sizes are checked."""
        self.stop("web1")
        self.api.assert_job_error(self.modify("web1", {"disks": [["remove", {}]]}),
                                  "wrong_input", "last disk")
        for params in ({}, {"size": 0}, {"size": 8, "vg": "xenvg"}, {"size": 8,
                                                                     "mode": "rx"}):
            self.api.assert_job_error(self.modify("web1", {"disks": [["add", params]]}),
                                      "wrong_input")
        self.create("quiet", disk_template="diskless", disks=[], start=False,
                    pnode="node2")
        self.api.assert_job_error(self.modify("quiet", {"disks": [["add", {"size": 8}]]}),
                                  "wrong_input", "diskless")
        self.assertEqual(os.listdir(os.path.join(self.storage("node1"), "web1")),
                         ["disk0"])


class HotplugTests(ChangeTestCase):
    """OP_INSTANCE_SET_PARAMS's hotplug and hotplug_if_possible on running web1.

    The fake hypervisor of the in-process nodes cannot hot-plug; where a test
    needs one that can, node1's fake hypervisor is given hot-plug methods
    that record what they are asked.
    """

    def oplog(self, job):
        return str(job["oplog"])

    def can_hotplug(self, fail=()):
        """node1's hypervisor hot-plugs from now on (except device types in C{fail})."""
        hv = self.nodes.procedures["node1"].hypervisors.get("fake")
        self.calls = []

        def supported(instance):
            self.calls.append(("supported", instance["name"]))
            return defer.succeed(True)

        def plug(instance, action, dev_type, device, seq=None, block_device=None):
            disk_file = None
            if dev_type == "disk":
                disk_file = os.path.exists(os.path.join(self.storage("node1"),
                                                        device["logical_id"][1]))
            self.calls.append((action, dev_type, device["uuid"], seq, disk_file,
                               len(instance["disks"]), len(instance["nics"])))
            if dev_type in fail:
                return defer.fail(HypervisorError("QEMU says no"))
            return defer.succeed({"id": "hot%s-1" % dev_type, "slot": 5})

        self.patch(hv, "hotplug_supported", supported)
        self.patch(hv, "hotplug_device", plug)

    def test_defaulted_on_a_hypervisor_that_cannot(self):
        """hotplug not given: the fake hypervisor's answer is a warning and the NIC
        change waits for the next start; disks of a running instance stay refused."""
        job = self.modify("web1", {"nics": [["add", {}]]})
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(len(job["opresult"][0]), 1)
        log = self.oplog(job)
        self.assertIn("Hotplug is not supported by the fake hypervisor", log)
        self.assertIn("without hot-plugging", log)
        self.assertIn("next started", log)
        self.assertEqual(len(self.instance("web1")["nic.macs"]), 2)
        self.api.assert_job_error(self.modify("web1", {"disks": [["add", {"size": 32}]]}),
                                  "wrong_state", "running")

    def test_explicit_hotplug_on_a_hypervisor_that_cannot(self):
        """hotplug: true that cannot be done is wrong_state (Ganeti's check), even
        with hotplug_if_possible; nothing changes."""
        for body in ({"hotplug": True}, {"hotplug": True, "hotplug_if_possible": True}):
            job = self.modify("web1", dict(body, nics=[["add", {}]]))
            self.api.assert_job_error(job, "wrong_state", "Hotplug is not possible")
            self.assertIn("fake hypervisor", job["opresult"][0][1][0])
        self.assertEqual(len(self.instance("web1")["nic.macs"]), 1)

    def test_if_possible_and_off(self):
        """hotplug_if_possible goes on without hot-plug where it cannot; hotplug:
        false does not even ask."""
        job = self.modify("web1", {"nics": [["add", {}]], "hotplug": False,
                                   "hotplug_if_possible": True})
        self.assertEqual(job["status"], "success", job)
        self.assertIn("Hotplug is not supported", self.oplog(job))
        job = self.modify("web1", {"nics": [["add", {}]], "hotplug": False})
        self.assertEqual(job["status"], "success", job)
        self.assertNotIn("Hotplug", self.oplog(job))
        self.assertIn("next started", self.oplog(job))

    def test_stopped_instance(self):
        """A stopped instance has nothing to hot-plug into: hotplug: true is fine."""
        self.stop("web1")
        job = self.modify("web1", {"nics": [["add", {}]], "hotplug": True})
        self.assertEqual(job["status"], "success", job)
        self.assertNotIn("otplug", self.oplog(job))

    def test_nics_hot_plugged(self):
        """NICs added, changed and removed on a hypervisor that can are hot-plugged,
        each reported after its change as Ganeti does."""
        self.can_hotplug()
        result = self.changes("web1", {"nics": [["add", {"link": "br1"}]]})
        self.assertEqual(result[1], ["nic.1", "hotplug:done"])
        self.assertTrue(result[0][1].startswith("add:mac="))
        nic_uuid = self.config_instance("web1").nics[1].uuid
        self.assertEqual(self.calls, [("supported", "web1"),
                                      ("add", "nic", nic_uuid, 1, None, 1, 2)])
        del self.calls[:]
        job = self.modify("web1", {"nics": [[1, {"ip": "192.0.2.5"}]]})
        self.assertEqual(job["opresult"][0], [["nic.ip/1", "192.0.2.5"],
                                              ["nic/1", "hotplug:done"]])
        self.assertIn("Hot-plugged NIC 1", self.oplog(job))
        self.assertNotIn("next started", self.oplog(job))
        # A name is the configuration's only: nothing to plug.
        self.assertEqual(self.changes("web1", {"nics": [[1, {"name": "n1"}]]}),
                         [["nic.name/1", "n1"]])
        self.assertEqual(self.changes("web1", {"nics": [["remove", "n1", {}]]}),
                         [["NIC/1", "remove"], ["NIC/1", "hotplug:done"]])
        self.assertEqual([c[:4] for c in self.calls if c[0] != "supported"],
                         [("modify", "nic", nic_uuid, 1), ("remove", "nic", nic_uuid, 1)])
        # Added and removed in one request: never plugged in.
        del self.calls[:]
        self.changes("web1", {"nics": [["add", -1, {}], ["remove", -1, {}]]})
        self.assertEqual([c for c in self.calls if c[0] != "supported"], [])

    def test_disks_hot_plugged(self):
        """A running instance gets and loses disks by hot-plug: the new file exists
        when it is plugged in, the removed one still exists when it is unplugged."""
        self.can_hotplug()
        self.assertEqual(self.changes("web1", {"disks": [["add", {"size": 32}]]}),
                         [["disk/1", "add:size=32,mode=rw"], ["disk/1", "hotplug:done"]])
        disk = self.config_instance("web1").disks[1]
        self.assertEqual(self.calls[-1], ("add", "disk", disk.uuid, 1, True, 2, 1))
        self.assertEqual(self.changes("web1", {"disks": [["remove", 1, {}]]}),
                         [["disk/1", "remove"], ["disk/1", "hotplug:done"]])
        self.assertEqual(self.calls[-1], ("remove", "disk", disk.uuid, 1, True, 1, 1))
        self.assertFalse(os.path.exists(self.disk_file("node1", "web1", 1)))

    def test_failure_is_reported(self):
        """A device the node cannot plug is hotplug:failed with a warning; the
        configuration changes all the same, as in Ganeti."""
        self.can_hotplug(fail=("disk",))
        job = self.modify("web1", {"disks": [["add", {"size": 16}]],
                                   "nics": [["add", {}]]})
        self.assertEqual(job["status"], "success", job)
        result = job["opresult"][0]
        self.assertEqual([result[0][0], result[1]], ["disk/1", ["disk/1", "hotplug:failed"]])
        self.assertEqual(result[3], ["nic.1", "hotplug:done"])
        self.assertIn("WARNING: could not hot-plug disk 1", self.oplog(job))
        self.assertIn("QEMU says no", self.oplog(job))
        instance = self.instance("web1")
        self.assertEqual((len(instance["disk.sizes"]), len(instance["nic.macs"])), (2, 2))
        # Disks first, then NICs.
        self.assertEqual([c[1] for c in self.calls if c[0] != "supported"], ["disk", "nic"])


class ReinstallTests(ChangeTestCase):
    def test_running(self):
        """OP_INSTANCE_REINSTALL of a running instance is wrong_state."""
        job = self.submit("OP_INSTANCE_REINSTALL", instance_name="web1")
        self.api.assert_job_error(job, "wrong_state", "cannot reinstall")

    def test_prerequisites(self):
        """No OS, an unknown OS, a diskless instance: wrong_input."""
        self.create("bare", os=None, pnode="node2", start=False)
        job = self.submit("OP_INSTANCE_REINSTALL", instance_name="bare")
        self.api.assert_job_error(job, "wrong_input", "no OS")
        job = self.submit("OP_INSTANCE_REINSTALL", instance_name="bare",
                          os_type="nosuch-os")
        self.api.assert_job_error(job, "wrong_input", "nosuch-os")
        self.create("quiet", disk_template="diskless", disks=[], start=False,
                    pnode="node2")
        job = self.submit("OP_INSTANCE_REINSTALL", instance_name="quiet")
        self.api.assert_job_error(job, "wrong_input", "no disks")

    def test_resource_stops_first(self):
        """The reinstall resource's job shuts down before reinstalling; a failing
        reinstall leaves the instance stopped."""
        self.create("bare", os=None, pnode="node2")
        job = self.api.run_job("POST", "/2/instances/bare/reinstall", {"os": "nosuch"})
        self.assertEqual(job["status"], "error")
        self.assertEqual(job["opstatus"], ["success", "error", "error"])
        self.assertEqual(self.instance("bare")["status"], "ADMIN_down")


class DiskActivationTests(ChangeTestCase):
    def test_activate_and_deactivate(self):
        """Activation answers where the disk files are; deactivating a running
        instance's disks needs force."""
        job = self.api.run_job("PUT", "/2/instances/web1/activate-disks")
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(job["opresult"][0],
                         [["node1", "disk/0", self.disk_file("node1", "web1", 0)]])
        self.assertTrue(self.config_instance("web1").disks_active)
        job = self.api.run_job("PUT", "/2/instances/web1/deactivate-disks")
        self.api.assert_job_error(job, "wrong_state", "cannot shutdown disks")
        self.assertTrue(self.config_instance("web1").disks_active)
        job = self.api.run_job("PUT", "/2/instances/web1/deactivate-disks?force=1")
        self.assertEqual((job["status"], job["opresult"]), ("success", [None]))
        self.assertFalse(self.config_instance("web1").disks_active)
        self.stop("web1")
        self.api.run_job("PUT", "/2/instances/web1/activate-disks")
        job = self.api.run_job("PUT", "/2/instances/web1/deactivate-disks")
        self.assertEqual(job["status"], "success", job)
        self.assertFalse(self.config_instance("web1").disks_active)

    def test_diskless_and_missing(self):
        """A diskless instance has nothing to activate; a missing file fails."""
        self.create("quiet", disk_template="diskless", disks=[], start=False,
                    pnode="node2")
        job = self.api.run_job("PUT", "/2/instances/quiet/activate-disks")
        self.assertEqual((job["status"], job["opresult"]), ("success", [[]]))
        os.unlink(self.disk_file("node1", "web1", 0))
        job = self.api.run_job("PUT", "/2/instances/web1/activate-disks")
        self.assertEqual(job["status"], "error")
        self.assertEqual(job["opresult"][0][0], "OpExecError")
        self.assertIn("missing", job["opresult"][0][1][0])
        self.assertFalse(self.config_instance("web1").disks_active)


class ConsoleTests(ChangeTestCase):
    def test_console(self):
        """A running instance's console object; 503 once stopped; 404 if unknown."""
        console = self.api.ok("GET", "/2/instances/web1/console", user=READER)
        self.assertEqual(console, {"instance": "web1", "kind": "message",
                                   "message": "Console not available for fake hypervisor"})
        self.stop("web1")
        code, body = self.api.request("GET", "/2/instances/web1/console", user=READER)
        self.assertEqual(code, 503)
        self.assertIn("web1 is not running", body["message"])
        code, _ = self.api.request("GET", "/2/instances/nosuch/console", user=READER)
        self.assertEqual(code, 404)

    def test_node_down(self):
        """An instance whose node does not answer has no console: 503."""
        self.nodes.down.add("node1")
        code, body = self.api.request("GET", "/2/instances/web1/console", user=READER)
        self.assertEqual(code, 503, body)


def alloc_body(name, **extra):
    body = create_body(name, **extra)
    del body["__version__"]
    return body


class MultiAllocTests(InstanceTestCase):
    PATH = "/2/instances-multi-alloc"

    def test_places_and_creates(self):
        """Each instance gets a job of its own on a node the earlier ones left
        room on, and every job succeeds."""
        big = {"maxmem": 4096, "minmem": 4096}
        body = {"instances": [alloc_body("vm%d" % i, beparams=big) for i in range(3)]}
        job = self.api.run_job("POST", self.PATH, body)
        self.assertEqual(job["status"], "success", job)
        result = job["opresult"][0]
        self.assertEqual(result["allocatable"], ["vm0", "vm1", "vm2"])
        self.assertEqual(result["failed"], [])
        self.assertEqual([ok for ok, _ in result["jobs"]], [True] * 3)
        self.api.clock.advance(0)
        for (_, job_id), name in zip(result["jobs"], result["allocatable"]):
            child = self.api.job(job_id)
            self.assertEqual(child["status"], "success", child)
            self.assertEqual(child["summary"], ["INSTANCE_CREATE(%s)" % name])
            self.assertEqual(child["ops"][0]["pnode"], self.instance(name)["pnode"])
        # 4 GiB each on nodes with 6 GiB free: one instance per node.
        pnodes = sorted(self.instance("vm%d" % i)["pnode"] for i in range(3))
        self.assertEqual(pnodes, sorted([self.master, "node1", "node2"]))

    def test_dry_run(self):
        """A dry run says what would be placed and submits nothing."""
        body = {"instances": [alloc_body("vm1"), alloc_body("vm2")]}
        job = self.api.run_job("POST", self.PATH + "?dry-run=1", body)
        self.assertEqual(job["opresult"][0],
                         {"jobs": [], "allocatable": ["vm1", "vm2"], "failed": []})
        self.assertEqual(self.api.ok("GET", "/2/instances"), [])

    def test_too_big(self):
        """Without opportunistic locking one instance that fits nowhere fails
        the whole request; with it the others are created."""
        huge = {"maxmem": 100000, "minmem": 128}
        instances = [alloc_body("small"), alloc_body("huge", beparams=huge)]
        job = self.api.run_job("POST", self.PATH, {"instances": instances})
        self.api.assert_job_error(job, "insufficient_resources", "huge")
        self.assertEqual(self.api.ok("GET", "/2/instances"), [])
        job = self.api.run_job("POST", self.PATH, {"instances": instances,
                                                    "opportunistic_locking": True})
        self.assertEqual(job["status"], "success", job)
        result = job["opresult"][0]
        self.assertEqual((result["allocatable"], result["failed"]), (["small"], ["huge"]))
        self.api.clock.advance(0)
        self.assertEqual(self.api.job(result["jobs"][0][1])["status"], "success")
        self.assertEqual([i["id"] for i in self.api.ok("GET", "/2/instances")], ["small"])

    def test_named_nodes(self):
        """Instances that all name their node are created there as given."""
        body = {"instances": [alloc_body("a", pnode="node2"), alloc_body("b", pnode="node2")]}
        job = self.api.run_job("POST", self.PATH, body)
        self.assertEqual(job["status"], "success", job)
        self.api.clock.advance(0)
        self.assertEqual([self.instance(n)["pnode"] for n in "ab"], ["node2", "node2"])

    def test_errors(self):
        """Requests that cannot be placed as a whole fail naming the instance;
        nothing is created."""
        self.create("web1", pnode="node1")
        cases = [
            ([alloc_body("a"), alloc_body("a")], "wrong_input", "duplicate"),
            ([alloc_body("a", disk_template="sharedfile")], "wrong_state",
             "Instance 'a'"),
            ([alloc_body("a", beparams={"maxmem": 64, "minmem": 128})], "wrong_input",
             "Instance 'a'"),
            ([alloc_body("web1")], "already_exists", "web1"),
            ([alloc_body("a", pnode="node1"), alloc_body("b")], "wrong_input", "pnode"),
            ([alloc_body("a", iallocator="hail")], "wrong_input", "iallocator"),
            ([], "wrong_input", None),
        ]
        for instances, classification, part in cases:
            job = self.api.run_job("POST", self.PATH, {"instances": instances})
            self.api.assert_job_error(job, classification, part)
        job = self.api.run_job("POST", self.PATH, {"instances": [alloc_body("a")],
                                                    "iallocator": "hail"})
        self.api.assert_job_error(job, "wrong_input", "hail")
        # Parameters no creation takes are a 400 before any job exists.
        code, _ = self.api.request("POST", self.PATH,
                                   {"instances": [alloc_body("a", colour="red")]})
        self.assertEqual(code, 400)
        self.assertEqual([i["id"] for i in self.api.ok("GET", "/2/instances")], ["web1"])

    def test_invalid_instance_in_queue(self):
        """An instance the unit cannot read as a creation (a job written by other
        means than the RAPI) fails the job with wrong_input naming it."""
        op = {"OP_ID": "OP_INSTANCE_MULTI_ALLOC", "dry_run": False, "debug_level": 0,
              "priority": 0, "depends": None, "comment": None, "reason": [],
              "opportunistic_locking": False, "iallocator": None,
              "instances": [{"instance_name": "a", "mode": "create", "disks": [],
                             "nics": [], "colour": "red"}]}
        job_id = self.successResultOf(self.api.engine.processor.submit([op]))
        self.api.clock.advance(0)
        self.api.assert_job_error(self.api.job(job_id), "wrong_input", "Instance 'a'")


class ReinstallScriptTests(TestCase):
    """A reinstall that runs the bundled OS's create script for real.

    The engine's time is a Clock, but OS scripts are processes on the real
    reactor, so the job is polled until it ends.
    """

    timeout = 120

    # InstanceTestCase's set-up and helpers, on the real reactor.
    setUp = InstanceTestCase.setUp
    storage = InstanceTestCase.storage
    instance = InstanceTestCase.instance
    create = InstanceTestCase.create

    @defer.inlineCallbacks
    def finished(self, job_id):
        for _ in range(1200):
            self.api.clock.advance(0)
            job = self.api.job(job_id)
            if job["status"] in ("success", "error", "canceled"):
                return job
            yield task.deferLater(reactor, 0.05, lambda: None)
        self.fail("job %d did not finish" % job_id)

    @defer.inlineCallbacks
    def test_reinstall_runs_create_script(self):
        """POST …/reinstall stops the instance, runs create with
        INSTANCE_REINSTALL=1, logs the log file, and starts it again."""
        self.assertEqual(self.create("web1", pnode="node1")["status"], "success")
        job_id = self.api.ok("POST", "/2/instances/web1/reinstall", {})
        job = yield self.finished(job_id)
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(job["summary"], ["INSTANCE_SHUTDOWN(web1)",
                                          "INSTANCE_REINSTALL(web1)",
                                          "INSTANCE_STARTUP(web1)"])
        messages = [entry[3] for entry in job["oplog"][1]]
        logs = [m.split(": ", 1)[1] for m in messages
                if m.startswith("OS installation log: ")]
        self.assertEqual(len(logs), 1, messages)
        with open(logs[0]) as f:
            text = f.read()
        self.assertIn("ganeti-rapi-noop: create for instance web1", text)
        self.assertIn("INSTANCE_REINSTALL=1", text)
        self.assertIn("DISK_0_PATH=%s" % os.path.join(self.storage("node1"), "web1",
                                                      "disk0"), text)
        self.assertEqual(self.instance("web1")["status"], "running")
