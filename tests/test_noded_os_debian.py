"""Debian's ganeti-os-noop package, run unchanged by the node daemon.

These tests need the package installed (C{apt-get install ganeti-os-noop},
which puts it in /usr/share/ganeti/os/noop); without it they fail saying
so rather than being skipped.
"""

import os

from twisted.internet import defer, reactor
from twisted.trial.unittest import TestCase

from ganeti_rapi.noded.procedures import NodeProcedures
from ganeti_rapi.noded.testing import sample_instance

NOOP_PATH = "/usr/share/ganeti/os/noop"
MIB = 1024 * 1024


class DebianNoopTests(TestCase):
    """The noop OS definition from Debian, found on the default search path."""

    def setUp(self):
        if not os.path.isdir(NOOP_PATH):
            self.fail(
                f"{NOOP_PATH} is missing: install Debian's ganeti-os-noop package "
                "(apt-get install ganeti-os-noop)"
            )
        self.data_dir = os.path.abspath(self.mktemp())
        # The default search path, which includes /usr/share/ganeti/os.
        self.node = NodeProcedures(self.data_dir, reactor=reactor, os_script_timeout=60)
        self.storage_dir = os.path.join(self.data_dir, "file-storage")

    def instance(self):
        disk = {"dev_type": "file", "logical_id": ["loop", "inst/disk0"], "mode": "rw",
                "uuid": "d0", "size": 2}
        disk1 = dict(disk, logical_id=["loop", "inst/disk1"], uuid="d1")
        return sample_instance(os="noop", disks=[disk, disk1])

    @defer.inlineCallbacks
    def test_diagnosed_valid(self):
        """The noop definition is listed as valid with its API versions."""
        found = {o["name"]: o for o in (yield self.node.rpc_os_diagnose())}
        noop = found["noop"]
        self.assertEqual(noop["path"], NOOP_PATH)
        self.assertTrue(noop["status"], noop["diagnose"])
        self.assertIn(10, noop["api_versions"])
        self.assertEqual((noop["variants"], noop["parameters"]), ([], []))

    @defer.inlineCallbacks
    def test_create_and_rename(self):
        """Its create and rename scripts run and succeed."""
        yield self.node.rpc_blockdev_create_file(path="inst/disk0", size_mib=2)
        yield self.node.rpc_blockdev_create_file(path="inst/disk1", size_mib=2)
        result = yield self.node.rpc_os_create(instance=self.instance())
        self.assertTrue(os.path.isfile(result["log_file"]))
        result = yield self.node.rpc_os_rename(instance=self.instance(), old_name="old")
        self.assertIn("rename-noop-", result["log_file"])

    @defer.inlineCallbacks
    def test_export_import(self):
        """Its export and import scripts copy a disk's bytes through an export file."""
        yield self.node.rpc_blockdev_create_file(path="inst/disk0", size_mib=2)
        yield self.node.rpc_blockdev_create_file(path="inst/disk1", size_mib=2)
        data = os.urandom(2 * MIB)
        with open(os.path.join(self.storage_dir, "inst", "disk0"), "r+b") as f:
            f.write(data)
        exported = yield self.node.rpc_os_export(
            instance=self.instance(), disk_index=0, destination_path="inst/disk0.dump"
        )
        self.assertEqual(exported["size_bytes"], 2 * MIB)
        yield self.node.rpc_os_import(
            instance=self.instance(), disk_index=1, source_path="inst/disk0.dump"
        )
        with open(os.path.join(self.storage_dir, "inst", "disk1"), "rb") as f:
            self.assertEqual(f.read(), data)
