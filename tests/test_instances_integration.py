"""An instance's life on a real single-node cluster: C{twistd ganeti-rapi}
with its node daemon inside, real HTTPS, real OS scripts.

The instance uses the bundled C{ganeti-rapi-noop} OS, so creating it runs
the OS's C{create} script and reinstalling it runs that script again with
C{INSTANCE_REINSTALL=1}.
"""

import os

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from tests.cluster import RealCluster
from tests.helpers import (
    READER,
    daemon_pem,
    https_client,
    short_socket_path,
    start_twistd,
    write_users,
)


class InstanceIntegrationTests(RealCluster, TestCase):
    timeout = 300

    @defer.inlineCallbacks
    def setUp(self):
        self.data_dir = os.path.abspath(self.mktemp())
        write_users(self.data_dir)
        self.master = yield start_twistd(
            self, "ganeti-rapi",
            ["--data-dir", self.data_dir, "-p", "0", "-b", "127.0.0.1", "--node-port", "0",
             "--control-socket", short_socket_path(self), "--no-access-log"],
        )
        self.client = https_client(daemon_pem(self.data_dir))
        self.url = "https://localhost:%d" % self.master.port

    @defer.inlineCallbacks
    def ok_job(self, method, path, body=None):
        job = yield self.run_job(method, path, body)
        self.assertEqual(job["status"], "success", job)
        return job

    @staticmethod
    def log_files(job, index):
        """The OS log files an opcode's log names."""
        prefix = "OS installation log: "
        return [entry[3][len(prefix):] for entry in job["oplog"][index]
                if entry[3].startswith(prefix)]

    @defer.inlineCallbacks
    def test_lifecycle(self):
        """Create with the OS installed, console, modify, reinstall, activate
        disks, stop, remove."""
        storage = os.path.join(self.data_dir, "file-storage")
        job = yield self.ok_job("POST", "/2/instances", {
            "__version__": 1, "mode": "create", "name": "web1",
            "os": "ganeti-rapi-noop", "disk_template": "file",
            "disks": [{"size": 64}], "nics": [{}],
            "beparams": {"maxmem": 128, "minmem": 128},
        })
        (created_log,) = self.log_files(job, 0)
        self.assertTrue(os.path.exists(created_log))

        code, console = yield self.api("GET", "/2/instances/web1/console", user=READER)
        self.assertEqual(code, 200, console)
        self.assertEqual((console["instance"], console["kind"]), ("web1", "message"))

        job = yield self.ok_job("PUT", "/2/instances/web1/modify",
                                {"beparams": {"vcpus": 2}, "nics": [["add", {}]]})
        changes = job["opresult"][0]
        self.assertEqual(changes[0][0], "nic.1")
        self.assertEqual(changes[1], ["be/vcpus", 2])

        # Reinstall: stop, run the create script again, start.
        job = yield self.ok_job("POST", "/2/instances/web1/reinstall", {})
        self.assertEqual(job["opstatus"], ["success"] * 3)
        (reinstall_log,) = self.log_files(job, 1)
        self.assertNotEqual(reinstall_log, created_log)
        self.assertTrue(reinstall_log.startswith(os.path.join(self.data_dir, "node")))
        with open(reinstall_log) as f:
            text = f.read()
        self.assertIn("INSTANCE_REINSTALL=1", text)
        self.assertIn("NIC_COUNT=2", text)
        code, instance = yield self.api("GET", "/2/instances/web1")
        self.assertEqual(instance["status"], "running")

        # Disks: a new one while stopped, and where activation finds them.
        yield self.ok_job("PUT", "/2/instances/web1/shutdown")
        code, body = yield self.api("GET", "/2/instances/web1/console", user=READER)
        self.assertEqual(code, 503, body)
        yield self.ok_job("PUT", "/2/instances/web1/modify",
                          {"disks": [["add", {"size": 16}]]})
        job = yield self.ok_job("PUT", "/2/instances/web1/activate-disks")
        node = instance["pnode"]
        self.assertEqual(job["opresult"][0], [
            [node, "disk/0", os.path.join(storage, "web1", "disk0")],
            [node, "disk/1", os.path.join(storage, "web1", "disk1")],
        ])
        yield self.ok_job("PUT", "/2/instances/web1/deactivate-disks")

        yield self.ok_job("DELETE", "/2/instances/web1")
        code, _ = yield self.api("GET", "/2/instances/web1")
        self.assertEqual(code, 404)
        self.assertEqual(os.listdir(os.path.join(storage, "web1")), [])
