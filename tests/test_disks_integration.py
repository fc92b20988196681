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

from tests.helpers import (
    daemon_pem,
    https_client,
    short_socket_path,
    start_twistd,
    write_users,
)
from tests import test_cluster_integration as cluster_tests

MIB = 1024 * 1024

#: Bigger than one transfer chunk (4 MiB), so the export takes several calls.
DISK_MIB = 10


class DisksIntegrationTests(TestCase):
    timeout = 300

    # The master and nodes are driven as in the cluster integration tests.
    admin = cluster_tests.ClusterIntegrationTests.admin
    api = cluster_tests.ClusterIntegrationTests.api
    run_job = cluster_tests.ClusterIntegrationTests.run_job

    def start_node(self, index, port):
        return start_twistd(
            self, "ganeti-noded",
            ["--data-dir", self.node_dirs[index],
             "--listen", "tcp:%d:interface=127.0.0.1" % port,
             "--shared-file-storage-dir", self.shared],
        )

    @defer.inlineCallbacks
    def setUp(self):
        base = os.path.abspath(self.mktemp())
        self.master_dir = os.path.join(base, "master")
        self.node_dirs = [os.path.join(base, "node%d" % i) for i in (1, 2)]
        self.shared = os.path.join(base, "shared")
        os.makedirs(self.shared)
        write_users(self.master_dir)
        self.control = short_socket_path(self)
        self.master = yield start_twistd(
            self, "ganeti-rapi",
            ["--data-dir", self.master_dir, "-p", "0", "-b", "127.0.0.1", "--node-port", "0",
             "--control-socket", self.control, "--no-access-log"],
        )
        self.client = https_client(daemon_pem(self.master_dir))
        self.url = "https://localhost:%d" % self.master.port
        exported = os.path.join(base, "cluster.pem")
        yield self.admin("cluster-cert", "export", exported)
        for index, data_dir in enumerate(self.node_dirs):
            port = cluster_tests.free_port()
            yield self.admin("cluster-cert", "import", exported, data_dir=data_dir)
            yield self.start_node(index, port)
            yield self.admin("node", "--control-socket", self.control, "add",
                             "node%d" % (index + 1), "--ip", "127.0.0.1", "--port", str(port))
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
