"""A real master and three real node daemons on 127.0.0.1, joined and driven.

Everything here is a separate process: C{twistd ganeti-rapi}, three
C{twistd ganeti-noded}, and C{ganeti-rapi-admin} for the joining steps,
talking real HTTPS and real mutual TLS.
"""

import os

from twisted.internet import defer, reactor, task
from twisted.trial.unittest import TestCase

from ganeti_rapi import certs
from ganeti_rapi.rpc.client import NodeRpcClient
from ganeti_rapi.rpc.errors import NodeRpcError
from tests import cluster
from tests.cluster import RealCluster, free_port
from tests.helpers import keypair, start_twistd, write_keypair

#: The states a job ends in (the lifecycle and kvm integration tests read it here).
FINAL = cluster.FINAL
LIVE = ("mtotal", "mfree", "dtotal", "dfree", "ctotal")


class ClusterIntegrationTests(RealCluster, TestCase):
    timeout = 300

    def setUp(self):
        return self.start_cluster(os.path.abspath(self.mktemp()), 3)

    @defer.inlineCallbacks
    def test_cluster(self):
        """Join, list with live data, change roles, query storage, lose and regain a node."""
        code, nodes = yield self.api("GET", "/2/nodes?bulk=1", user=None)
        self.assertEqual(code, 200)
        by_name = {n["name"]: n for n in nodes}
        self.assertEqual(len(nodes), 4)
        for name in ("node1", "node2", "node3"):
            node = by_name[name]
            for field in LIVE:
                self.assertIsInstance(node[field], int, (name, field))
            self.assertGreater(node["mtotal"], 0)
            self.assertGreater(node["dtotal"], 0)
            self.assertEqual(node["pip"], "127.0.0.1")
        master = [n for n in nodes if n["role"] == "M"]
        self.assertEqual(len(master), 1)
        self.assertIsInstance(master[0]["mfree"], int)
        self.assertEqual(by_name["node1"]["role"], "C")

        # Master candidates hold a copy of the configuration.
        copy = os.path.join(self.node_dirs[0], "node", "files", "config.data")
        for _ in range(100):
            if os.path.exists(copy):
                break
            yield task.deferLater(reactor, 0.05, lambda: None)
        with open(copy) as f:
            self.assertIn("node3", f.read())

        # Roles.
        job = yield self.run_job("PUT", "/2/nodes/node2/role", "drained")
        self.assertEqual(job["status"], "success", job)
        code, role = yield self.api("GET", "/2/nodes/node2/role", user=None)
        self.assertEqual(role, "drained")
        code, node = yield self.api("GET", "/2/nodes/node2", user=None)
        self.assertEqual((node["drained"], node["master_candidate"]), (True, False))
        job = yield self.run_job("PUT", "/2/nodes/node2/role", "master-candidate")
        self.assertEqual(job["status"], "success", job)
        code, node = yield self.api("GET", "/2/nodes/node2", user=None)
        self.assertEqual((node["drained"], node["master_candidate"], node["role"]),
                         (False, True, "C"))

        # Storage.
        job = yield self.run_job(
            "GET", "/2/nodes/node1/storage?storage_type=file&output_fields=name,size,free"
        )
        self.assertEqual(job["status"], "success", job)
        rows = job["opresult"][0]
        self.assertEqual(len(rows[0]), 3)
        self.assertGreater(rows[0][1], 0)

        # A node daemon goes away: listings still answer, jobs on it fail.
        yield self.nodes[2].stop()
        code, nodes = yield self.api("GET", "/2/nodes?bulk=1", user=None)
        self.assertEqual(code, 200)
        node3 = [n for n in nodes if n["name"] == "node3"][0]
        self.assertEqual([node3[f] for f in LIVE], [None] * len(LIVE))
        node1 = [n for n in nodes if n["name"] == "node1"][0]
        self.assertIsInstance(node1["mtotal"], int)
        job = yield self.run_job(
            "GET", "/2/nodes/node3/storage?storage_type=file&output_fields=name,free"
        )
        self.assertEqual(job["status"], "error")
        self.assertEqual(job["opresult"][0][0], "OpPrereqError")
        self.assertEqual(job["opresult"][0][1][1], "environment_error")

        # It comes back on the same port.
        self.nodes[2] = yield self.start_node(2, self.ports[2])
        code, node3 = yield self.api("GET", "/2/nodes/node3", user=None)
        self.assertIsInstance(node3["mtotal"], int)

    @defer.inlineCallbacks
    def test_certificates(self):
        """A stranger certificate reaches no node; a node without the cluster's cannot join."""
        stranger = NodeRpcClient(reactor, keypair("stranger"), timeout=10)
        self.addCleanup(stranger.close)
        for port in self.ports:
            for procedure in ("version", "node_info", "os_diagnose"):
                try:
                    yield stranger.call("127.0.0.1", port, procedure)
                except NodeRpcError:
                    pass
                else:
                    self.fail("a stranger called %s on port %d" % (procedure, port))

        # A node daemon holding another certificate is refused by the master.
        rogue_dir = os.path.join(os.path.dirname(self.master_dir), "rogue")
        write_keypair(os.path.join(rogue_dir, "server.pem"), keypair("rogue"))
        rogue_port = free_port()
        yield start_twistd(
            self, "ganeti-noded",
            ["--data-dir", rogue_dir, "--listen", "tcp:%d:interface=127.0.0.1" % rogue_port],
        )
        output = yield self.admin("node", "--control-socket", self.control, "add", "rogue",
                                  "--ip", "127.0.0.1", "--port", str(rogue_port), expect=1)
        self.assertIn("environment_error", output)
        code, _ = yield self.api("GET", "/2/nodes/rogue", user=None)
        self.assertEqual(code, 404)

        # Removing a node, and the master cannot be removed.
        yield self.admin("node", "--control-socket", self.control, "remove", "node3")
        code, _ = yield self.api("GET", "/2/nodes/node3", user=None)
        self.assertEqual(code, 404)
        listing = yield self.admin("node", "--control-socket", self.control, "list")
        self.assertNotIn("node3", listing)
        self.assertEqual(certs.load(os.path.join(self.node_dirs[0], "server.pem")).digest(),
                         certs.load(os.path.join(self.master_dir, "server.pem")).digest())
