"""Tests for L{ganeti_rapi.engine.config} and the object model it stores."""

import json
import os
import stat

from twisted.internet import defer, task
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from ganeti_rapi.engine import config, defaults, objects
from ganeti_rapi.engine.errors import (
    ECODE_EXISTS,
    ECODE_NOENT,
    ECODE_STATE,
    OpPrereqError,
    TagError,
)

DIGEST = "sha256:" + "ab" * 32


def sync_runner(f, *args):
    """Run the "threaded" work at once, as the tests' stand-in for a thread."""
    return defer.maybeDeferred(f, *args)


class ControlledRunner:
    """A run_in_thread whose calls wait until the test lets them run."""

    def __init__(self):
        self.calls = []
        self.ran = 0

    def __call__(self, f, *args):
        d = defer.Deferred()
        self.calls.append((f, args, d))
        return d

    def run_next(self):
        """Run the oldest pending call and fire its Deferred."""
        f, args, d = self.calls.pop(0)
        self.ran += 1
        try:
            result = f(*args)
        except Exception:
            d.errback(Failure())
        else:
            d.callback(result)

    def fail_next(self, exc):
        """Fail the oldest pending call without running it."""
        _, _, d = self.calls.pop(0)
        d.errback(exc)


class ConfigTestMixin:
    """A fresh data directory, a clock and a default cluster."""

    def setUp(self):
        self.directory = self.mktemp()
        os.makedirs(self.directory)
        self.path = os.path.join(self.directory, config.CONFIG_FILE)
        self.clock = task.Clock()
        self.clock.advance(1000)

    def make_store(self, runner=sync_runner):
        return config.ConfigStore(self.path, self.clock, run_in_thread=runner)

    def create(self, runner=sync_runner):
        store = self.make_store(runner)
        store.create_default(
            cluster_name="cluster.example.com",
            node_name="node1.example.com",
            node_ip="192.0.2.10",
            rpc_port=1811,
            node_cert_digest=DIGEST,
            file_storage_dir="/srv/ganeti/file-storage",
        )
        return store

    def read_file(self):
        with open(self.path, "rb") as f:
            return f.read()

    def read_document(self):
        return json.loads(self.read_file())

    def group_names(self):
        """The names of the node groups in the file."""
        return [g["name"] for g in self.read_document()["nodegroups"].values()]


class DefaultClusterTests(ConfigTestMixin, SynchronousTestCase):
    """L{config.ConfigStore.create_default}: the embedded single-node cluster."""

    def test_one_default_group(self):
        """The cluster has exactly one node group, named default."""
        store = self.create()
        [group] = store.groups()
        self.assertEqual(group.name, "default")
        self.assertEqual(group.alloc_policy, "preferred")
        self.assertIs(store.group_by_name("default"), group)

    def test_node_is_master(self):
        """The local node is the master, a candidate, master and VM capable."""
        store = self.create()
        [node] = store.nodes()
        self.assertEqual(store.cluster.master_node, node.uuid)
        self.assertIs(store.master_node(), node)
        self.assertEqual(node.name, "node1.example.com")
        self.assertEqual(node.primary_ip, "192.0.2.10")
        self.assertEqual(node.secondary_ip, "192.0.2.10")
        self.assertTrue(node.master_candidate)
        self.assertTrue(node.master_capable)
        self.assertTrue(node.vm_capable)
        self.assertFalse(node.offline)
        self.assertFalse(node.drained)
        self.assertEqual(node.rpc_port, 1811)
        self.assertEqual(node.cert_digest, DIGEST)
        self.assertEqual(node.group, store.groups()[0].uuid)

    def test_hypervisors_and_templates(self):
        """The fake hypervisor and the file and diskless templates are enabled."""
        cluster = self.create().cluster
        self.assertEqual(cluster.cluster_name, "cluster.example.com")
        self.assertEqual(cluster.enabled_hypervisors, ["fake"])
        self.assertEqual(cluster.default_hypervisor, "fake")
        self.assertEqual(cluster.enabled_disk_templates, ["file", "diskless"])
        self.assertEqual(cluster.file_storage_dir, "/srv/ganeti/file-storage")

    def test_default_parameters(self):
        """Ganeti's default parameter dictionaries are in place."""
        cluster = self.create().cluster
        self.assertEqual(
            cluster.beparams,
            {
                "default": {
                    "maxmem": 128,
                    "minmem": 128,
                    "vcpus": 1,
                    "auto_balance": True,
                    "always_failover": False,
                    "spindle_use": 1,
                }
            },
        )
        self.assertEqual(cluster.hvparams["fake"], {"migration_mode": "live"})
        self.assertEqual(cluster.hvparams["kvm"]["migration_port"], 8102)
        self.assertEqual(
            cluster.nicparams,
            {"default": {"mode": "bridged", "link": "xen-br0", "vlan": ""}},
        )
        self.assertEqual(cluster.ndparams["ssh_port"], 22)
        self.assertEqual(cluster.ndparams["ovs_name"], "switch1")
        self.assertEqual(cluster.ipolicy["vcpu-ratio"], 4.0)
        self.assertEqual(cluster.ipolicy["spindle-ratio"], 32.0)
        self.assertEqual(cluster.ipolicy["minmax"][0]["max"]["memory-size"], 32768)
        self.assertEqual(cluster.ipolicy["disk-templates"], ["file", "diskless"])
        self.assertEqual(cluster.diskparams["drbd"]["resync-rate"], 61440)
        self.assertEqual(cluster.diskparams["plain"], {"stripes": 1})
        self.assertEqual(cluster.candidate_pool_size, 10)
        self.assertEqual(cluster.max_running_jobs, 20)
        self.assertEqual(cluster.primary_ip_family, 2)

    def test_defaults_not_shared(self):
        """The cluster's dictionaries are copies: changing them leaves the defaults."""
        cluster = self.create().cluster
        cluster.beparams["default"]["maxmem"] = 4096
        cluster.ipolicy["minmax"][0]["max"]["memory-size"] = 1
        self.assertEqual(defaults.BEPARAMS["maxmem"], 128)
        self.assertEqual(defaults.IPOLICY["minmax"][0]["max"]["memory-size"], 32768)

    def test_common_fields(self):
        """Objects carry uuids, timestamps from the clock and serial number 1."""
        store = self.create()
        for obj in [store.cluster] + store.groups() + store.nodes():
            self.assertEqual(len(obj.uuid), 36)
            self.assertEqual(obj.ctime, 1000.0)
            self.assertEqual(obj.mtime, 1000.0)
            self.assertEqual(obj.serial_no, 1)
            self.assertEqual(obj.tags, set())
        self.assertEqual(store.serial_no, 1)

    def test_written_file(self):
        """The file is Ganeti-shaped, indented JSON with mode 0640."""
        store = self.create()
        raw = self.read_file()
        # Indented, one key per line, so an administrator can read and diff it.
        self.assertRegex(raw, rb'\n +"cluster": \{\n')
        document = json.loads(raw)
        self.assertEqual(
            sorted(document),
            sorted(
                [
                    "version",
                    "cluster",
                    "nodegroups",
                    "nodes",
                    "instances",
                    "networks",
                    "filters",
                    "serial_no",
                    "ctime",
                    "mtime",
                ]
            ),
        )
        self.assertEqual(document["filters"], {})
        self.assertEqual(document["version"], config.CONFIG_VERSION)
        self.assertEqual(document["serial_no"], 1)
        self.assertEqual(list(document["nodes"]), [store.nodes()[0].uuid])
        self.assertEqual(document["instances"], {})
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o640)

    def test_ipv6_node(self):
        """An IPv6 node address makes an IPv6 cluster."""
        store = self.make_store()
        store.create_default("c", "n1", "2001:db8::1", 1811, None, "/srv")
        self.assertEqual(store.cluster.primary_ip_family, 10)
        self.assertEqual(store.cluster.master_netmask, 128)

    def test_never_over_existing_file(self):
        """create_default refuses to replace an existing file, even a corrupt one."""
        with open(self.path, "wb") as f:
            f.write(b"garbage")
        self.assertRaises(FileExistsError, self.create)
        self.assertEqual(self.read_file(), b"garbage")


class LoadTests(ConfigTestMixin, SynchronousTestCase):
    """L{config.ConfigStore.load}."""

    def test_missing(self):
        """A missing file raises ConfigMissing and creates nothing."""
        store = self.make_store()
        e = self.assertRaises(config.ConfigMissing, store.load)
        self.assertIn(self.path, str(e))
        self.assertFalse(os.path.exists(self.path))
        self.assertFalse(store.loaded)

    def assert_corrupt(self, data):
        with open(self.path, "wb") as f:
            f.write(data)
        store = self.make_store()
        e = self.assertRaises(config.ConfigCorrupt, store.load)
        self.assertIn(self.path, str(e))
        self.assertEqual(self.read_file(), data)
        self.assertFalse(store.loaded)
        return e

    def test_not_json(self):
        """A file that is not JSON raises ConfigCorrupt and stays untouched."""
        e = self.assert_corrupt(b'{"version": 3010000, "cluster": ')
        self.assertIn("not valid JSON", str(e))

    def test_empty(self):
        """An empty file is corrupt."""
        self.assert_corrupt(b"")

    def test_not_utf8(self):
        """Bytes that are not UTF-8 are corrupt."""
        self.assert_corrupt(b"\xff\xfe\x00")

    def test_not_an_object(self):
        """A JSON list is corrupt."""
        self.assert_corrupt(b"[1, 2]\n")

    def test_wrong_version(self):
        """A file of another format version is refused."""
        self.create()
        document = self.read_document()
        document["version"] = 2160000
        e = self.assert_corrupt(json.dumps(document).encode())
        self.assertIn("version mismatch", str(e))

    def test_bad_field_type(self):
        """A field of the wrong type is named in the message."""
        store = self.create()
        document = self.read_document()
        node_uuid = store.nodes()[0].uuid
        document["nodes"][node_uuid]["offline"] = "no"
        e = self.assert_corrupt(json.dumps(document).encode())
        self.assertIn("nodes[%s].offline" % node_uuid, str(e))

    def test_dangling_group(self):
        """A node in a group that does not exist makes the file invalid."""
        self.create()
        document = self.read_document()
        document["nodegroups"] = {}
        e = self.assert_corrupt(json.dumps(document).encode())
        self.assertIn("unknown group", str(e))

    def test_missing_master(self):
        """A master node that is not a node makes the file invalid."""
        self.create()
        document = self.read_document()
        document["cluster"]["master_node"] = "nope"
        self.assert_corrupt(json.dumps(document).encode())

    def test_uuid_key_mismatch(self):
        """An object whose uuid differs from its key makes the file invalid."""
        store = self.create()
        document = self.read_document()
        group_uuid = store.groups()[0].uuid
        document["nodegroups"][group_uuid]["uuid"] = "other"
        self.assert_corrupt(json.dumps(document).encode())

    def test_unreadable(self):
        """A file that cannot be read (here: a directory) is ConfigCorrupt."""
        os.makedirs(self.path)
        store = self.make_store()
        e = self.assertRaises(config.ConfigCorrupt, store.load)
        self.assertIn(self.path, str(e))
        self.assertTrue(os.path.isdir(self.path))

    def test_reload_equals_saved(self):
        """Loading the file gives back exactly what was saved."""
        store = self.create()
        group = store.add_group(objects.NodeGroup(name="g2", tags={"b", "a"}))
        node = store.add_node(
            objects.Node(
                name="node2.example.com", primary_ip="192.0.2.11", group=group.uuid
            )
        )
        instance = objects.Instance(
            name="inst1.example.com",
            primary_node=node.uuid,
            os="noop",
            disk_template="file",
            disks=[objects.Disk(dev_type="file", size=1024, nodes=[node.uuid])],
            nics=[objects.Nic(mac="aa:00:00:11:22:33", nicparams={"link": "br0"})],
            beparams={"maxmem": 256},
            network_port=store.allocate_port(),
        )
        store.add_instance(instance)
        store.add_network(objects.Network(name="net1", network="192.0.2.0/24"))
        self.successResultOf(store.save())

        again = self.make_store()
        again.load()
        self.assertEqual(again.to_dict(), store.to_dict())
        self.assertEqual(again.serial_no, store.serial_no)
        loaded = again.instance_by_name("inst1.example.com")
        self.assertEqual(loaded, instance)
        self.assertIsInstance(loaded.disks[0], objects.Disk)
        self.assertIsInstance(loaded.nics[0], objects.Nic)
        self.assertEqual(again.group_by_name("g2").tags, {"a", "b"})
        written = self.read_document()["nodegroups"][group.uuid]
        self.assertEqual(written["tags"], ["a", "b"])

    def test_unknown_keys_kept(self):
        """Keys this version does not know survive a load and a save."""
        store = self.create()
        document = self.read_document()
        document["future_section"] = {"x": 1}
        document["nodes"][store.nodes()[0].uuid]["future_flag"] = True
        with open(self.path, "w") as f:
            json.dump(document, f)
        again = self.make_store()
        again.load()
        self.successResultOf(again.save())
        written = self.read_document()
        self.assertEqual(written["future_section"], {"x": 1})
        self.assertIs(written["nodes"][store.nodes()[0].uuid]["future_flag"], True)

    def test_missing_fields_defaulted(self):
        """Fields absent from an older file get their defaults."""
        store = self.create()
        document = self.read_document()
        del document["nodes"][store.nodes()[0].uuid]["cert_digest"]
        del document["cluster"]["zeroing_image"]
        with open(self.path, "w") as f:
            json.dump(document, f)
        again = self.make_store()
        again.load()
        self.assertIsNone(again.nodes()[0].cert_digest)
        self.assertEqual(again.cluster.zeroing_image, "")


class SaveTests(ConfigTestMixin, SynchronousTestCase):
    """L{config.ConfigStore.save}: durable, atomic, coalesced writes."""

    def test_save_durable(self):
        """After the save fires, the file holds the change and a bumped serial."""
        store = self.create()
        store.add_group(objects.NodeGroup(name="g2"))
        self.clock.advance(5)
        result = self.successResultOf(store.save())
        self.assertEqual(result, 2)
        self.assertEqual(store.serial_no, 2)
        self.assertEqual(store.durable_serial_no, 2)
        document = self.read_document()
        self.assertEqual(document["serial_no"], 2)
        self.assertEqual(document["mtime"], 1005.0)
        self.assertEqual(document["ctime"], 1000.0)
        self.assertIn("g2", self.group_names())
        self.assertEqual(document, store.to_dict())

    def test_no_temporary_files_left(self):
        """A write leaves only the configuration file in the directory."""
        store = self.create()
        self.successResultOf(store.save())
        self.assertEqual(os.listdir(self.directory), [config.CONFIG_FILE])
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o640)

    def test_write_runs_through_runner(self):
        """The blocking write goes through run_in_thread, not the caller."""
        runner = ControlledRunner()
        store = self.create(runner)
        before = self.read_file()
        store.add_group(objects.NodeGroup(name="g2"))
        d = store.save()
        self.assertNoResult(d)
        self.assertEqual(self.read_file(), before)
        runner.run_next()
        self.assertEqual(self.successResultOf(d), 2)
        self.assertNotEqual(self.read_file(), before)

    def test_failed_write_keeps_old_file(self):
        """A failed write fails the save, leaves the old file, and a retry works."""
        runner = ControlledRunner()
        store = self.create(runner)
        before = self.read_file()
        store.add_group(objects.NodeGroup(name="g2"))
        d = store.save()
        runner.fail_next(OSError(28, "No space left on device"))
        self.failureResultOf(d, OSError)
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
        self.assertEqual(self.read_file(), before)
        self.assertEqual(store.durable_serial_no, 1)
        d = store.save()
        runner.run_next()
        self.successResultOf(d)
        self.assertIn("g2", self.group_names())

    def test_coalesced_saves(self):
        """Three saves during a pending write are covered by one more write."""
        runner = ControlledRunner()
        store = self.create(runner)
        fired = []

        def on_fire(serial_no, name):
            # Whenever a save fires, the file must hold that save's change.
            fired.append((name, serial_no, name in self.group_names()))

        store.add_group(objects.NodeGroup(name="g0"))
        first = store.save()
        first.addCallback(on_fire, "g0")
        later = []
        for name in ["g1", "g2", "g3"]:
            store.add_group(objects.NodeGroup(name=name))
            d = store.save()
            d.addCallback(on_fire, name)
            later.append(d)
        self.assertEqual(len(runner.calls), 1)

        runner.run_next()
        self.assertEqual(fired, [("g0", 2, True)])
        for d in later:
            self.assertNoResult(d)
        self.assertEqual(len(runner.calls), 1)

        runner.run_next()
        self.assertEqual(
            fired,
            [("g0", 2, True), ("g1", 3, True), ("g2", 3, True), ("g3", 3, True)],
        )
        self.assertEqual(runner.calls, [])
        self.assertEqual(runner.ran, 2)
        self.assertEqual(self.read_document()["serial_no"], 3)

    def test_change_after_write_started(self):
        """A change made while a write runs is not reported durable by that write."""
        runner = ControlledRunner()
        store = self.create(runner)
        first = store.save()
        store.add_group(objects.NodeGroup(name="late"))
        second = store.save()
        runner.run_next()
        self.successResultOf(first)
        self.assertNotIn("late", self.group_names())
        self.assertNoResult(second)
        runner.run_next()
        self.successResultOf(second)
        self.assertIn("late", self.group_names())

    def test_save_from_callback(self):
        """A save started from another save's callback gets its own write."""
        runner = ControlledRunner()
        store = self.create(runner)
        results = []

        def again(_):
            store.add_group(objects.NodeGroup(name="from-callback"))
            results.append(store.save())

        store.save().addCallback(again)
        runner.run_next()
        self.assertEqual(len(results), 1)
        self.assertEqual(len(runner.calls), 1)
        runner.run_next()
        self.successResultOf(results[0])
        self.assertIn("from-callback", self.group_names())

    def test_listeners(self):
        """Listeners get the serial number and the bytes of every durable write."""
        runner = ControlledRunner()
        store = self.create(runner)
        calls = []
        store.add_listener(lambda serial_no, data: calls.append((serial_no, data)))
        d = store.save()
        self.assertEqual(calls, [])
        runner.run_next()
        self.successResultOf(d)
        self.assertEqual(calls, [(2, self.read_file())])

    def test_listener_not_called_on_failure(self):
        """A failed write does not reach the listeners."""
        runner = ControlledRunner()
        store = self.create(runner)
        calls = []
        store.add_listener(lambda *args: calls.append(args))
        d = store.save()
        runner.fail_next(OSError(5, "I/O error"))
        self.failureResultOf(d, OSError)
        self.flushLoggedErrors(OSError)
        self.assertEqual(calls, [])

    def test_failing_listener(self):
        """A listener that raises is logged; the save still succeeds."""
        store = self.create()
        calls = []

        def bad(serial_no, data):
            raise ZeroDivisionError()

        store.add_listener(bad)
        store.add_listener(lambda *args: calls.append(args[0]))
        self.successResultOf(store.save())
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertEqual(calls, [2])

    def test_remove_listener(self):
        """A removed listener is not called any more."""
        store = self.create()
        calls = []
        listener = lambda *args: calls.append(args)  # noqa: E731
        store.add_listener(listener)
        store.remove_listener(listener)
        self.successResultOf(store.save())
        self.assertEqual(calls, [])

    def test_default_runner_is_lazy(self):
        """Without run_in_thread the store uses deferToThread, imported lazily."""
        store = config.ConfigStore(self.path, self.clock)
        self.assertIs(store._run_in_thread, config._defer_to_thread)


class LookupTests(ConfigTestMixin, SynchronousTestCase):
    """Lookups by uuid and name, and the raising find_* variants."""

    def setUp(self):
        ConfigTestMixin.setUp(self)
        self.store = self.create()
        self.node = self.store.nodes()[0]
        self.group = self.store.groups()[0]

    def test_missing_lookups_none(self):
        """Lookups of things that do not exist return None."""
        store = self.store
        self.assertIsNone(store.group_by_name("nope"))
        self.assertIsNone(store.group("nope"))
        self.assertIsNone(store.node_by_name("nope"))
        self.assertIsNone(store.node("nope"))
        self.assertIsNone(store.instance_by_name("nope"))
        self.assertIsNone(store.instance("nope"))
        self.assertIsNone(store.network_by_name("nope"))
        self.assertIsNone(store.network("nope"))

    def test_find_unknown(self):
        """find_* raise OpPrereqError unknown_entity with Ganeti's messages."""
        cases = [
            (self.store.find_group, "Group 'x' not known"),
            (self.store.find_node, "Node 'x' not known"),
            (self.store.find_instance, "Instance 'x' not known"),
            (self.store.find_network, "Network 'x' not known"),
        ]
        for find, message in cases:
            e = self.assertRaises(OpPrereqError, find, "x")
            self.assertEqual(e.args, (message, ECODE_NOENT))
            self.assertEqual(e.encode(), ["OpPrereqError", [message, "unknown_entity"]])

    def test_find_by_name_and_uuid(self):
        """find_group and find_node accept names and uuids."""
        self.assertIs(self.store.find_group("default"), self.group)
        self.assertIs(self.store.find_group(self.group.uuid), self.group)
        self.assertIs(self.store.find_node("node1.example.com"), self.node)
        self.assertIs(self.store.find_node(self.node.uuid), self.node)

    def test_find_node_short_name(self):
        """A unique leading name component finds a node, as in Ganeti."""
        self.assertIs(self.store.find_node("node1"), self.node)
        self.assertIs(self.store.find_node("node1.example"), self.node)
        self.assertRaises(OpPrereqError, self.store.find_node, "node")

    def test_find_short_name_ambiguous(self):
        """An abbreviation matching two names finds nothing."""
        self.store.add_node(
            objects.Node(name="node1.other.org", group=self.group.uuid)
        )
        self.assertRaises(OpPrereqError, self.store.find_node, "node1")
        self.assertIs(self.store.find_node("node1.example.com"), self.node)

    def test_nodes_in_group(self):
        """nodes_in_group lists a group's members."""
        self.assertEqual(self.store.nodes_in_group(self.group.uuid), [self.node])
        self.assertEqual(self.store.nodes_in_group("other"), [])

    def test_lists_are_copies(self):
        """The lists returned may be kept while the configuration changes."""
        groups = self.store.groups()
        self.store.add_group(objects.NodeGroup(name="g2"))
        self.assertEqual(len(groups), 1)
        self.assertEqual(len(self.store.groups()), 2)


class MutationTests(ConfigTestMixin, SynchronousTestCase):
    """Adding, removing, renaming, tagging."""

    def setUp(self):
        ConfigTestMixin.setUp(self)
        self.store = self.create()
        self.node = self.store.nodes()[0]
        self.group = self.store.groups()[0]
        self.clock.advance(10)

    def test_add_group_sets_metadata(self):
        """A new group gets ctime, mtime, serial 1, and bumps the cluster serial."""
        group = self.store.add_group(objects.NodeGroup(name="g2", ctime=5, serial_no=9))
        self.assertEqual(
            (group.ctime, group.mtime, group.serial_no), (1010.0, 1010.0, 1)
        )
        self.assertIs(self.store.group(group.uuid), group)
        self.assertEqual(self.store.cluster.serial_no, 2)

    def test_duplicate_group_name(self):
        """A second group with a taken name is refused with already_exists."""
        e = self.assertRaises(
            OpPrereqError, self.store.add_group, objects.NodeGroup(name="default")
        )
        self.assertEqual(e.classification, ECODE_EXISTS)
        self.assertIn("'default'", e.args[0])
        self.assertEqual(len(self.store.groups()), 1)

    def test_duplicate_node_and_instance_names(self):
        """Node, instance and network names are unique too."""
        e = self.assertRaises(
            OpPrereqError,
            self.store.add_node,
            objects.Node(name="node1.example.com", group=self.group.uuid),
        )
        self.assertEqual(e.classification, ECODE_EXISTS)
        self.store.add_instance(
            objects.Instance(name="i1", primary_node=self.node.uuid)
        )
        e = self.assertRaises(
            OpPrereqError,
            self.store.add_instance,
            objects.Instance(name="i1", primary_node=self.node.uuid),
        )
        self.assertEqual(e.classification, ECODE_EXISTS)
        self.store.add_network(objects.Network(name="n", network="10.0.0.0/8"))
        e = self.assertRaises(
            OpPrereqError, self.store.add_network, objects.Network(name="n")
        )
        self.assertEqual(e.classification, ECODE_EXISTS)

    def test_add_node_unknown_group(self):
        """A node in an unknown group is refused."""
        e = self.assertRaises(
            OpPrereqError, self.store.add_node, objects.Node(name="n2", group="nope")
        )
        self.assertEqual(e.classification, ECODE_NOENT)
        self.assertIsNone(self.store.node_by_name("n2"))

    def test_add_instance_unknown_node(self):
        """An instance on an unknown node is refused."""
        e = self.assertRaises(
            OpPrereqError,
            self.store.add_instance,
            objects.Instance(name="i1", primary_node="nope"),
        )
        self.assertEqual(e.classification, ECODE_NOENT)

    def test_remove_group(self):
        """An empty group can be removed; a group with nodes cannot."""
        group = self.store.add_group(objects.NodeGroup(name="g2"))
        self.store.remove_group(group.uuid)
        self.assertIsNone(self.store.group_by_name("g2"))
        e = self.assertRaises(OpPrereqError, self.store.remove_group, self.group.uuid)
        self.assertEqual(e.classification, ECODE_STATE)
        self.assertIn("node1.example.com", e.args[0])
        e = self.assertRaises(OpPrereqError, self.store.remove_group, "nope")
        self.assertEqual(e.classification, ECODE_NOENT)

    def test_rename_group(self):
        """Renaming updates name lookups and bumps the group's serial."""
        group = self.store.add_group(objects.NodeGroup(name="g2"))
        self.store.rename_group(group.uuid, "g3")
        self.assertIsNone(self.store.group_by_name("g2"))
        self.assertIs(self.store.group_by_name("g3"), group)
        self.assertEqual(group.serial_no, 2)
        e = self.assertRaises(
            OpPrereqError, self.store.rename_group, group.uuid, "default"
        )
        self.assertEqual(e.classification, ECODE_EXISTS)
        self.store.rename_group(group.uuid, "g3")

    def test_stale_name_index(self):
        """A name changed directly on the object is still found by the new name."""
        group = self.store.add_group(objects.NodeGroup(name="g2"))
        group.name = "renamed"
        self.assertIs(self.store.group_by_name("renamed"), group)
        self.assertIsNone(self.store.group_by_name("g2"))

    def test_remove_node(self):
        """A node without instances can go; the master and used nodes cannot."""
        node = self.store.add_node(objects.Node(name="n2", group=self.group.uuid))
        self.store.add_instance(
            objects.Instance(name="i1", primary_node=node.uuid)
        )
        e = self.assertRaises(OpPrereqError, self.store.remove_node, node.uuid)
        self.assertEqual(e.classification, ECODE_STATE)
        self.store.remove_instance(self.store.instance_by_name("i1").uuid)
        self.store.remove_node(node.uuid)
        self.assertIsNone(self.store.node_by_name("n2"))
        e = self.assertRaises(OpPrereqError, self.store.remove_node, self.node.uuid)
        self.assertEqual(e.classification, ECODE_STATE)

    def test_set_node_group(self):
        """A node moves between groups."""
        group = self.store.add_group(objects.NodeGroup(name="g2"))
        self.store.set_node_group(self.node.uuid, group.uuid)
        self.assertEqual(self.node.group, group.uuid)
        self.assertEqual(self.store.nodes_in_group(self.group.uuid), [])

    def test_rename_instance(self):
        """Instances can be renamed, not onto another instance's name."""
        a = self.store.add_instance(
            objects.Instance(name="a", primary_node=self.node.uuid)
        )
        self.store.add_instance(
            objects.Instance(name="b", primary_node=self.node.uuid)
        )
        self.store.rename_instance(a.uuid, "c")
        self.assertIs(self.store.instance_by_name("c"), a)
        self.assertRaises(OpPrereqError, self.store.rename_instance, a.uuid, "b")

    def test_networks(self):
        """Networks are added, renamed and removed with their group connections."""
        net = self.store.add_network(
            objects.Network(name="net1", network="10.0.0.0/24")
        )
        self.group.networks[net.uuid] = {"mode": "bridged", "link": "br0", "vlan": ""}
        self.store.rename_network(net.uuid, "net2")
        self.assertIs(self.store.find_network("net2"), net)
        self.store.remove_network(net.uuid)
        self.assertEqual(self.group.networks, {})
        self.assertIsNone(self.store.network_by_name("net2"))

    def test_touch(self):
        """touch bumps the serial number and sets mtime from the clock."""
        self.clock.advance(5)
        self.store.touch(self.node)
        self.assertEqual(self.node.serial_no, 2)
        self.assertEqual(self.node.mtime, 1015.0)
        self.assertEqual(self.node.ctime, 1000.0)

    def test_tags(self):
        """Tags are set, added and removed with Ganeti's checks."""
        self.store.set_tags(self.node, ["b", "a"])
        self.assertEqual(self.node.tags, {"a", "b"})
        self.assertEqual(self.node.to_dict()["tags"], ["a", "b"])
        self.store.add_tags(self.node, ["c"])
        self.assertEqual(self.node.tags, {"a", "b", "c"})
        self.store.remove_tags(self.node, ["a"])
        self.assertEqual(self.node.tags, {"b", "c"})
        self.assertEqual(self.node.serial_no, 4)
        self.assertRaises(TagError, self.store.set_tags, self.node, ["bad tag"])
        self.assertRaises(
            TagError, self.store.add_tags, self.store.cluster, ["x" * 129]
        )
        self.assertEqual(self.node.tags, {"b", "c"})

    def test_remove_missing_tags(self):
        """Removing a tag that is not there removes nothing and says which."""
        self.store.set_tags(self.group, ["a"])
        e = self.assertRaises(
            OpPrereqError, self.store.remove_tags, self.group, ["a", "z"]
        )
        self.assertEqual(e.args, ("Tag(s) 'z' not found", ECODE_NOENT))
        self.assertEqual(self.group.tags, {"a"})

    def test_invalid_tags_on_add(self):
        """An object with invalid tags is not added."""
        self.assertRaises(
            TagError, self.store.add_group, objects.NodeGroup(name="g", tags={"a b"})
        )

    def test_allocate_port(self):
        """Ports count up from 11000 and come back when an instance goes."""
        self.assertEqual(self.store.allocate_port(), 11000)
        port = self.store.allocate_port()
        self.assertEqual(port, 11001)
        inst = self.store.add_instance(
            objects.Instance(name="i", primary_node=self.node.uuid, network_port=port)
        )
        self.store.remove_instance(inst.uuid)
        self.assertEqual(self.store.allocate_port(), 11001)
        self.assertEqual(self.store.allocate_port(), 11002)


class ObjectTests(SynchronousTestCase):
    """The object model's own behaviour."""

    def test_round_trip(self):
        """to_dict and from_dict are inverse, nested disks and NICs included."""
        inst = objects.Instance(
            name="i1",
            primary_node="n",
            tags={"x"},
            disks=[objects.Disk(size=10)],
            nics=[objects.Nic(mac="aa:00:00:00:00:01")],
        )
        again = objects.Instance.from_dict(inst.to_dict())
        self.assertEqual(again, inst)
        self.assertEqual(again.disks[0].size, 10)

    def test_to_dict_is_a_copy(self):
        """Changing to_dict's result leaves the object alone."""
        node = objects.Node(name="n", ndparams={"ssh_port": 22})
        data = node.to_dict()
        data["ndparams"]["ssh_port"] = 2222
        self.assertEqual(node.ndparams, {"ssh_port": 22})

    def test_defaults_not_shared(self):
        """Two objects never share a default dict or set."""
        a, b = objects.NodeGroup(), objects.NodeGroup()
        a.ndparams["x"] = 1
        a.tags.add("t")
        self.assertEqual(b.ndparams, {})
        self.assertEqual(b.tags, set())
        self.assertNotEqual(a.uuid, b.uuid)

    def test_unknown_constructor_field(self):
        """The constructor refuses fields the class does not have."""
        self.assertRaises(TypeError, objects.Node, colour="red")

    def test_field_names(self):
        """Objects use Ganeti's field names."""
        self.assertTrue(
            {"name", "primary_ip", "secondary_ip", "group", "offline", "drained",
             "master_candidate", "master_capable", "vm_capable", "ndparams",
             "powered", "rpc_port", "cert_digest", "uuid", "ctime", "mtime",
             "serial_no", "tags"} <= objects.Node.field_names()
        )
        self.assertTrue(
            {"name", "primary_node", "secondary_nodes", "os", "hypervisor",
             "admin_state", "admin_state_source", "disk_template", "disks",
             "nics", "beparams", "hvparams", "osparams", "network_port"}
            <= objects.Instance.field_names()
        )
        self.assertTrue(
            {"name", "alloc_policy", "ndparams", "diskparams", "ipolicy",
             "hv_state", "disk_state", "networks"} <= objects.NodeGroup.field_names()
        )
        self.assertTrue(
            {"name", "network", "gateway", "network6", "gateway6", "mac_prefix",
             "reservations"} <= objects.Network.field_names()
        )
        self.assertEqual(objects.Node().rpc_port, 1811)

    def test_bad_nested_disk(self):
        """A malformed disk inside an instance is reported with its position."""
        data = objects.Instance(name="i").to_dict()
        data["disks"] = [{"size": 1}, {"size": "big"}]
        e = self.assertRaises(ValueError, objects.Instance.from_dict, data, "inst")
        self.assertIn("inst.disks[1].size", str(e))

    def test_tags_must_be_strings(self):
        """Tags read from a file must be a list of strings."""
        data = objects.NodeGroup(name="g").to_dict()
        data["tags"] = ["a", 1]
        self.assertRaises(ValueError, objects.NodeGroup.from_dict, data)


class SerializeWithoutCopyTests(ConfigTestMixin, SynchronousTestCase):
    """L{config.ConfigStore.serialize} encodes the objects without copying
    them first, and writes exactly what the copied document would give."""

    def populated(self):
        store = self.create()
        node = store.master_node()
        store.add_tags(store.cluster, ["c1", "c0"])
        for index in range(3):
            disk = objects.Disk(dev_type="file", size=1024 * (index + 1),
                                logical_id=["loop", "i%d/disk0" % index])
            disk.nodes = [node.uuid]
            store.add_instance(objects.Instance(
                name="inst%d.example.com" % index,
                primary_node=node.uuid,
                disk_template="file",
                disks=[disk],
                nics=[objects.Nic(mac="aa:00:00:00:00:0%d" % index, nicparams={"link": "br0"})],
                beparams={"maxmem": 256},
                tags={"b", "a"},
            ))
        store.instances()[0].extra["from_a_newer_version"] = {"x": [1, 2]}
        return store

    def test_same_bytes(self):
        """The file's bytes equal the encoding of the copied document."""
        from ganeti_rapi import jsonutil

        store = self.populated()
        expected = jsonutil.dumps_text(store.to_dict(), indent=1).encode("utf-8")
        self.assertEqual(store.serialize(), expected)

    def test_objects_unchanged(self):
        """Serializing leaves the objects as they were (tags stay sets)."""
        store = self.populated()
        before = store.to_dict()
        store.serialize()
        self.assertEqual(store.to_dict(), before)
        self.assertIsInstance(store.instances()[0].tags, set)

    def test_json_tree_equals_to_dict(self):
        """Every object's shared tree has the content of its copy."""
        store = self.populated()
        for obj in [store.cluster] + store.groups() + store.nodes() + store.instances():
            self.assertEqual(obj.json_tree(), obj.to_dict())

    def test_own_encoding_copied(self):
        """A class encoding a field its own way gets its to_dict."""

        class Odd(objects.ConfigObject):
            FIELDS = (objects.Field("value", objects.ANY, 0),)

            def _encode_field(self, name, value):
                return value * 2

        self.assertEqual(Odd(value=2).json_tree(), {"value": 4})

    def test_collector_on_again(self):
        """The garbage collector is on again after a serialization."""
        import gc

        store = self.populated()
        store.serialize()
        self.assertTrue(gc.isenabled())
