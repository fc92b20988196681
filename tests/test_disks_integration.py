"""Disk templates and exports with a real master and two real node daemons.

Everything runs as separate processes talking real HTTPS and mutual TLS:
the two node daemons share one directory as their shared file storage
(as two hosts mounting one file system would), and an export's image
travels from one daemon to the other through the master in chunks.
"""

import configparser
import os

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from tests.cluster import RealCluster

MIB = 1024 * 1024

#: Bigger than one transfer chunk (4 MiB), so the export takes several calls.
DISK_MIB = 10


class DisksIntegrationTests(RealCluster, TestCase):
    timeout = 300

    @defer.inlineCallbacks
    def setUp(self):
        base = os.path.abspath(self.mktemp())
        self.shared = os.path.join(base, "shared")
        os.makedirs(self.shared)
        yield self.start_cluster(base, 2, ["--shared-file-storage-dir", self.shared])
        job = yield self.run_job("PUT", "/2/modify", {
            "enabled_disk_templates": ["file", "sharedfile", "diskless"],
            "shared_file_storage_dir": self.shared,
        })
        self.assertEqual(job["status"], "success", job)

    @defer.inlineCallbacks
    def test_sharedfile_grow_export(self):
        """Create on node1, grow, export to node2, remove the export."""
        job = yield self.run_job("POST", "/2/instances", {
            "__version__": 1, "mode": "create", "name": "web1", "os": "ganeti-rapi-noop",
            "disk_template": "sharedfile", "disks": [{"size": DISK_MIB - 2}],
            "nics": [{}], "beparams": {"maxmem": 128, "minmem": 128}, "pnode": "node1",
        })
        self.assertEqual(job["status"], "success", job)
        image = os.path.join(self.shared, "web1", "disk0")
        self.assertEqual(os.stat(image).st_size, (DISK_MIB - 2) * MIB)

        job = yield self.run_job("POST", "/2/instances/web1/disk/0/grow", {"amount": 2})
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(os.stat(image).st_size, DISK_MIB * MIB)
        with open(image, "r+b") as f:
            f.seek(DISK_MIB * MIB - 5)
            f.write(b"tail!")

        job = yield self.run_job("PUT", "/2/instances/web1/export", {"target_node": "node2"})
        self.assertEqual((job["status"], job["opresult"]), ("success", [[True, [True]]]),
                         job)
        export = os.path.join(self.node_dirs[1], "node", "export", "web1")
        with open(os.path.join(export, "disk0.snap"), "rb") as f:
            data = f.read()
        self.assertEqual(len(data), DISK_MIB * MIB)
        self.assertTrue(data.endswith(b"tail!"))
        parser = configparser.RawConfigParser()
        parser.read(os.path.join(export, "config.ini"))
        self.assertEqual(parser.get("instance", "disk_template"), "sharedfile")
        self.assertEqual(parser.get("instance", "disk0_size"), str(DISK_MIB))
        code, answer = yield self.api("GET", "/2/query/export?fields=node,export")
        self.assertEqual(code, 200, answer)
        self.assertEqual(answer["data"], [[[0, "node2"], [0, "web1"]]])

        job = yield self.run_job("DELETE", "/2/instances/web1/export")
        self.assertEqual(job["status"], "success", job)
        self.assertFalse(os.path.exists(export))
