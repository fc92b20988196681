"""node_info: host facts from /proc and /sys, disk space, and the hypervisor's memory."""

import os
import re
import socket

from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.internet import defer

from ganeti_rapi.noded import errors, nodeinfo
from ganeti_rapi.noded.procedures import NodeProcedures
from ganeti_rapi.noded.testing import run_synchronously, write_host_files

KEYS = {
    "name", "mtotal", "mfree", "mnode", "ctotal", "cnodes", "csockets", "cnos",
    "dtotal", "dfree", "sptotal", "spfree", "bootid", "hv_name", "hv_memory_total",
    "hv_memory_free", "storage",
}


class ReaderTests(SynchronousTestCase):
    """The parsers of /proc/meminfo, /proc/cpuinfo and /sys/devices/system/node."""

    def test_memory_with_mem_available(self):
        """MemAvailable is the free memory where the kernel reports it."""
        files = write_host_files(self.mktemp(), total_mib=8192, available_mib=5000)
        meminfo = nodeinfo.read_meminfo(files.meminfo)
        self.assertEqual(meminfo["HugePages_Total"], 0)
        self.assertEqual(nodeinfo.memory_mib(meminfo), (8192, 5000))

    def test_memory_without_mem_available(self):
        """Without MemAvailable, free memory is MemFree + Buffers + Cached."""
        files = write_host_files(
            self.mktemp(), total_mib=8192, available_mib=6000, mem_available=False
        )
        meminfo = nodeinfo.read_meminfo(files.meminfo)
        self.assertNotIn("MemAvailable", meminfo)
        self.assertEqual(nodeinfo.memory_mib(meminfo), (8192, 6000))

    def test_cpu_layout(self):
        """Sockets are distinct physical ids and NUMA nodes the node<N> entries."""
        files = write_host_files(self.mktemp(), sockets=2, numa_nodes=3)
        self.assertEqual(nodeinfo.cpu_sockets(files.cpuinfo), 2)
        self.assertEqual(nodeinfo.numa_nodes(files.numa_dir), 3)

    def test_defaults_when_missing(self):
        """Missing files give one socket, one NUMA node and no boot id."""
        missing = os.path.abspath(self.mktemp())
        self.assertEqual(nodeinfo.cpu_sockets(missing), 1)
        self.assertEqual(nodeinfo.numa_nodes(missing), 1)
        self.assertIsNone(nodeinfo.read_boot_id(missing))

    def test_boot_id(self):
        """The boot id is the file's content without the newline."""
        files = write_host_files(self.mktemp(), boot_id="abc-123")
        self.assertEqual(nodeinfo.read_boot_id(files.boot_id), "abc-123")


class NodeInfoTests(SynchronousTestCase):
    """The node_info procedure, with synchronous file work."""

    def node(self, **kwargs):
        return NodeProcedures(
            os.path.abspath(self.mktemp()), run_in_thread=run_synchronously, **kwargs
        )

    def test_from_fake_host(self):
        """Memory, CPU layout and boot id come from the host files given."""
        files = write_host_files(
            self.mktemp(), total_mib=4096, available_mib=3000, sockets=2, numa_nodes=2,
            boot_id="boot-1",
        )
        info = self.successResultOf(self.node(host_files=files).rpc_node_info())
        self.assertEqual(set(info), KEYS)
        expected = {
            "name": socket.gethostname(),
            "mtotal": 4096, "mfree": 3000, "mnode": 1096,
            "ctotal": os.cpu_count(), "cnodes": 2, "csockets": 2, "cnos": 1,
            "sptotal": 0, "spfree": 0, "bootid": "boot-1",
            "hv_name": "fake", "hv_memory_total": 4096, "hv_memory_free": 3000,
        }
        self.assertEqual({k: info[k] for k in expected}, expected)

    def test_from_real_host(self):
        """On this machine every number is a positive integer and the boot id a UUID."""
        node = self.node()
        info = self.successResultOf(node.rpc_node_info(hypervisor="fake"))
        for key in ("mtotal", "mfree", "mnode", "ctotal", "cnodes", "csockets", "cnos",
                    "dtotal", "hv_memory_total", "hv_memory_free"):
            self.assertIsInstance(info[key], int, key)
            self.assertGreater(info[key], 0, key)
        self.assertIsInstance(info["dfree"], int)
        self.assertLessEqual(info["mfree"], info["mtotal"])
        self.assertLessEqual(info["dfree"], info["dtotal"])
        self.assertRegex(info["bootid"], re.compile(r"^[0-9a-f-]{36}$"))
        self.assertEqual(
            info["storage"],
            [{"type": "file", "name": node.storage.file_storage_dir,
              "storage_size": info["dtotal"], "storage_free": info["dfree"]}],
        )

    def test_storage_units(self):
        """Each storage unit asked for is reported; one that fails carries its error."""
        node = self.node(which=lambda name: None)
        info = self.successResultOf(
            node.rpc_node_info(storage_units=[["lvm-vg", "xenvg", []], ["file", None]])
        )
        lvm, file_unit = info["storage"]
        self.assertEqual(lvm["error"], "LVM tools (vgs/pvs) are not installed on this node")
        self.assertEqual((info["dtotal"], info["dfree"]), (None, None))
        self.assertGreater(file_unit["storage_size"], 0)

    def test_bad_arguments(self):
        """Unknown hypervisors and malformed storage units are refused."""
        node = self.node()
        self.failureResultOf(node.rpc_node_info(hypervisor="xen-pvm"), errors.InvalidArgument)
        for units in ("file", [["tape", "x"]], [[]], [["file", 3]]):
            self.failureResultOf(node.rpc_node_info(storage_units=units),
                                 errors.InvalidArgument)


class ThreadedNodeInfoTests(TestCase):
    """node_info with the default thread runner."""

    @defer.inlineCallbacks
    def test_threaded(self):
        """With the reactor's thread pool node_info gives the same shape."""
        info = yield NodeProcedures(os.path.abspath(self.mktemp())).rpc_node_info()
        self.assertEqual(set(info), KEYS)
