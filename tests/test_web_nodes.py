"""Nodes and OS definitions through the real tree into the real engine.

No node daemon runs here: L{FakeNodes} answers node procedures from a
table (the integration tests run real node daemons).
"""

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from ganeti_rapi.engine.objects import Instance, Node
from ganeti_rapi.web.base import ApiContext, ApiRequest, Gate
from ganeti_rapi.web.os import OsResource
from tests.helpers import READER, EngineFixture, FakeNodes

NODE_FIELDS = [
    "name", "offline", "master_candidate", "drained", "dtotal", "dfree", "sptotal",
    "spfree", "mtotal", "mnode", "mfree", "pinst_cnt", "sinst_cnt", "ctotal", "cnos",
    "cnodes", "csockets", "pip", "sip", "role", "pinst_list", "sinst_list",
    "master_capable", "vm_capable", "ndparams", "group.uuid",
    "ctime", "mtime", "uuid", "serial_no", "tags",
]

N2, N3, N4, N5 = (
    "node2.example.com", "node3.example.com", "node4.example.com", "node5.example.com"
)


def os_entry(name, status=True, variants=(), parameters=(), diagnose=""):
    """One OS definition as a node daemon's os_diagnose lists it."""
    return {
        "name": name,
        "path": "/srv/ganeti/os/%s" % name,
        "status": status,
        "diagnose": diagnose,
        "variants": list(variants),
        "parameters": [list(p) for p in parameters],
        "api_versions": [20, 15],
    }


class NodeTestCase(SynchronousTestCase):
    """A cluster of the master, a candidate, a regular, a drained and an
    offline node, with a candidate pool of two."""

    def setUp(self):
        self.nodes = FakeNodes()
        self.api = EngineFixture(self, nodes=self.nodes)
        config = self.api.engine.config
        self.config = config
        self.master = config.master_node()
        group = self.master.group
        for i, (name, flags) in enumerate([
            (N2, {"master_candidate": True}),
            (N3, {}),
            (N4, {"drained": True}),
            (N5, {"offline": True}),
        ]):
            ip = "192.0.2.%d" % (i + 2)
            config.add_node(
                Node(name=name, primary_ip=ip, secondary_ip=ip, group=group, **flags)
            )
        config.cluster.candidate_pool_size = 2
        self.saved()

    def saved(self):
        """Write the configuration the test changed."""
        d = self.config.save()
        self.api.clock.advance(0)
        self.successResultOf(d)

    def node(self, name):
        return self.config.node_by_name(name)

    def calls(self, *procedures):
        """The node calls of C{procedures} made so far, in order."""
        return [c for c in self.nodes.calls if c[1] in procedures]

    def finish(self, d):
        """The result of a request that waits for a job."""
        for _ in range(10):
            self.api.clock.advance(0)
            self.api.client.flush()
            if d.called:
                break
        return self.successResultOf(d)

    def get_slow(self, path, user=None):
        """C{(status, body)} of a GET that waits for a job (/2/os)."""
        import json

        response = self.finish(self.api.start("GET", path, user=user))
        content = self.finish(response.content())
        return response.code, json.loads(content)


class NodeListTests(NodeTestCase):
    def test_list(self):
        """The plain list has id and uri per node, sorted, for anyone."""
        nodes = self.api.ok("GET", "/2/nodes", user=None)
        names = sorted([self.master.name, N2, N3, N4, N5])
        self.assertEqual(nodes, [{"id": n, "uri": "/2/nodes/%s" % n} for n in names])

    def test_bulk(self):
        """bulk=1 gives Ganeti's node fields with one-letter roles."""
        nodes = self.api.ok("GET", "/2/nodes?bulk=1", user=None)
        self.assertEqual(len(nodes), 5)
        for node in nodes:
            self.assertEqual(sorted(node), sorted(NODE_FIELDS))
        roles = {n["name"]: n["role"] for n in nodes}
        self.assertEqual(
            roles, {self.master.name: "M", N2: "C", N3: "R", N4: "D", N5: "O"}
        )

    def test_single(self):
        """A node's GET has the bulk fields plus secondary_ip, a copy of sip."""
        self.nodes.answer("node_info", {"mtotal": 2048, "mfree": 1024}, node=N3)
        node = self.api.ok("GET", "/2/nodes/%s" % N3, user=None)
        self.assertEqual(sorted(node), sorted(NODE_FIELDS + ["secondary_ip"]))
        self.assertEqual(node["secondary_ip"], node["sip"])
        self.assertEqual(node["sip"], "192.0.2.3")
        self.assertEqual(node["mtotal"], 2048)
        self.assertIsNone(node["dtotal"])
        self.assertEqual(node["group.uuid"], self.master.group)

    def test_offline_live_fields(self):
        """Live fields of an offline node are null and it is never asked."""
        node = self.api.ok("GET", "/2/nodes/%s" % N5)
        self.assertIsNone(node["mtotal"])
        self.assertNotIn(N5, [call[0] for call in self.nodes.calls])

    def test_unknown(self):
        """An unknown or malformed node name is a 404 on every GET."""
        for path in ["/2/nodes/nosuch", "/2/nodes/nosuch/role", "/2/nodes/nosuch/tags",
                     "/2/nodes/a%20b", "/2/nodes/%s/" % N3]:
            self.assertEqual(self.api.request("GET", path, user=None)[0], 404, path)

    def test_unknown_in_jobs(self):
        """Jobs naming an unknown node fail with unknown_entity."""
        job = self.api.run_job("POST", "/2/nodes/nosuch/modify", {"vm_capable": False})
        self.api.assert_job_error(job, "unknown_entity")
        job = self.api.run_job("PUT", "/2/nodes/nosuch/role", "regular")
        self.api.assert_job_error(job, "unknown_entity")
        job = self.api.run_job("GET", "/2/nodes/nosuch/storage?output_fields=name")
        self.api.assert_job_error(job, "unknown_entity")

    def test_tags(self):
        """Node tags are added, listed and removed through the node's tags."""
        job = self.api.run_job("PUT", "/2/nodes/%s/tags?tag=web&tag=db" % N3)
        self.assertEqual(job["status"], "success")
        self.assertEqual(job["ops"][0]["reason"][-1][0], "gnt:library:rlib2:nodes_name_tags")
        self.assertEqual(self.api.ok("GET", "/2/nodes/%s/tags" % N3, user=None), ["db", "web"])
        self.api.run_job("DELETE", "/2/nodes/%s/tags?tag=web" % N3)
        self.assertEqual(self.api.ok("GET", "/2/nodes/%s/tags" % N3), ["db"])
        self.assertEqual(self.api.ok("GET", "/2/nodes/%s" % N3)["tags"], ["db"])

    def test_features(self):
        """Node evacuation and migration are now listed as features."""
        features = self.api.ok("GET", "/2/features", user=None)
        self.assertIn("node-evac-res1", features)
        self.assertIn("node-migrate-reqv1", features)


class RoleTests(NodeTestCase):
    def role(self, name):
        return self.api.ok("GET", "/2/nodes/%s/role" % name, user=None)

    def set_role(self, name, role, query=""):
        return self.api.run_job("PUT", "/2/nodes/%s/role%s" % (name, query), role)

    def test_get(self):
        """The role resource answers the long name of each role."""
        self.assertEqual(self.role(self.master.name), "master")
        self.assertEqual(self.role(N2), "master-candidate")
        self.assertEqual(self.role(N3), "regular")
        self.assertEqual(self.role(N4), "drained")
        self.assertEqual(self.role(N5), "offline")

    def test_flags_per_role(self):
        """Each role is sent as Ganeti's OP_NODE_SET_PARAMS flags."""
        expected = {
            "regular": (False, False, False),
            "master-candidate": (True, None, None),
            "drained": (None, None, True),
            "offline": (None, True, None),
        }
        for role, flags in expected.items():
            job = self.set_role(N3, role, "?force=1&auto-promote=1&dry-run=1")
            op = job["ops"][0]
            self.assertEqual(
                (op["master_candidate"], op["offline"], op["drained"]), flags, role
            )
            self.assertTrue(op["force"])
            self.assertTrue(op["auto_promote"])
            self.assertFalse(op["dry_run"], "role PUT does not honour dry-run")
            self.assertEqual(op["reason"][-1][0], "gnt:library:rlib2:nodes_name_role")

    def test_drain_and_offline(self):
        """A regular node can be drained, then set offline; one role at a time."""
        job = self.set_role(N3, "drained")
        self.assertEqual(job["opresult"], [[["drained", True]]])
        self.assertEqual(self.role(N3), "drained")
        job = self.set_role(N3, "offline")
        self.assertEqual(job["opresult"], [[["drained", False], ["offline", True]]])
        self.assertEqual(self.role(N3), "offline")

    def test_back_to_regular(self):
        """A drained node set regular is regular when candidates suffice."""
        job = self.set_role(N4, "regular")
        self.assertEqual(job["opresult"], [[["drained", False]]])
        self.assertEqual(self.role(N4), "regular")

    def test_back_as_candidate(self):
        """A node coming back from offline promotes itself if candidates are missing."""
        self.config.cluster.candidate_pool_size = 10
        self.saved()
        job = self.set_role(N5, "regular")
        self.assertEqual(
            job["opresult"], [[["master_candidate", True], ["offline", False]]]
        )
        self.assertEqual(self.role(N5), "master-candidate")

    def test_offline_to_candidate(self):
        """Promoting an offline node brings it online as a candidate."""
        job = self.set_role(N5, "master-candidate")
        self.assertEqual(
            job["opresult"], [[["master_candidate", True], ["offline", False]]]
        )
        node = self.node(N5)
        self.assertEqual((node.master_candidate, node.offline), (True, False))

    def test_demotion_needs_auto_promote(self):
        """Demoting a needed candidate without auto-promote fails with wrong_state."""
        job = self.set_role(N2, "regular")
        self.api.assert_job_error(
            job, "wrong_state", "Not enough master candidates (desired 2, new value will be 1)"
        )
        self.assertTrue(self.node(N2).master_candidate)

    def test_auto_promote(self):
        """With auto-promote, another eligible node becomes a candidate."""
        job = self.set_role(N2, "drained", "?auto-promote=1")
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(
            job["opresult"], [[["master_candidate", False], ["drained", True]]]
        )
        self.assertEqual(self.role(N2), "drained")
        self.assertEqual(self.role(N3), "master-candidate")
        self.assertIn("Promoted node %s" % N3, job["oplog"][0][0][3])

    def test_spare_candidate(self):
        """A candidate beyond the pool size is demoted without auto-promote."""
        self.node(N3).master_candidate = True
        self.saved()
        job = self.set_role(N2, "offline")
        self.assertEqual(
            job["opresult"], [[["master_candidate", False], ["offline", True]]]
        )

    def test_master(self):
        """The master's role cannot be changed through this opcode."""
        for role in ("regular", "drained", "offline"):
            job = self.set_role(self.master.name, role)
            self.api.assert_job_error(
                job, "wrong_input", "The master role can be changed only via master-failover"
            )
        self.assertEqual(self.role(self.master.name), "master")

    def test_bad_roles(self):
        """Setting 'master' or an unknown role, or a non-string body, is a 400."""
        for role in ("master", "bogus"):
            code, body = self.api.request("PUT", "/2/nodes/%s/role" % N3, role)
            self.assertEqual(code, 400)
            self.assertEqual(body["message"], "Can&#x27;t set &#x27;%s&#x27; role" % role)
        for body in ({"role": "regular"}, ["regular"], 1, None):
            code, result = self.api.request("PUT", "/2/nodes/%s/role" % N3, body)
            self.assertEqual(code, 400, body)
            self.assertIn("but &#x27;str&#x27; is expected", result["message"])

    def test_not_master_capable(self):
        """A node that is not master capable cannot become a candidate."""
        self.node(N3).master_capable = False
        self.saved()
        job = self.set_role(N3, "master-candidate")
        self.api.assert_job_error(job, "wrong_state", "not master capable")

    def test_access(self):
        """Reading a role is anonymous; setting one needs write."""
        path = "/2/nodes/%s/role" % N3
        self.assertEqual(self.api.request("PUT", path, "drained", user=None)[0], 401)
        self.assertEqual(self.api.request("PUT", path, "drained", user=READER)[0], 403)


class ModifyTests(NodeTestCase):
    def test_modify(self):
        """modify changes vm_capable and merges ndparams; the result lists both."""
        job = self.api.run_job(
            "POST", "/2/nodes/%s/modify" % N3,
            {"vm_capable": False, "ndparams": {"spindle_count": 2}},
        )
        self.assertEqual(
            job["opresult"],
            [[["vm_capable", False], ["ndparams", {"spindle_count": 2}]]],
        )
        self.assertEqual(job["ops"][0]["reason"][-1][0], "gnt:library:rlib2:nodes_name_modify")
        node = self.api.ok("GET", "/2/nodes/%s" % N3)
        self.assertFalse(node["vm_capable"])
        self.assertEqual(node["ndparams"]["spindle_count"], 2)
        self.assertIn("oob_program", node["ndparams"])
        job = self.api.run_job(
            "POST", "/2/nodes/%s/modify" % N3, {"ndparams": {"spindle_count": "default"}}
        )
        self.assertEqual(job["opresult"], [[["ndparams", {}]]])

    def test_several_states(self):
        """Setting two role flags at once fails with wrong_input."""
        job = self.api.run_job(
            "POST", "/2/nodes/%s/modify" % N3, {"offline": True, "drained": True}
        )
        self.api.assert_job_error(job, "wrong_input", "more than one state")

    def test_no_change(self):
        """A modify without any parameter fails with wrong_input."""
        job = self.api.run_job("POST", "/2/nodes/%s/modify" % N3, {})
        self.api.assert_job_error(job, "wrong_input")

    def test_master_capable_demotes(self):
        """Unsetting master_capable demotes a candidate, under the same rule."""
        self.node(N3).master_candidate = True
        self.saved()
        job = self.api.run_job(
            "POST", "/2/nodes/%s/modify" % N2, {"master_capable": False}
        )
        self.assertEqual(
            job["opresult"], [[["master_capable", False], ["master_candidate", False]]]
        )
        self.node(N4).drained = False
        self.saved()
        job = self.api.run_job(
            "POST", "/2/nodes/%s/modify" % N3, {"master_capable": False}
        )
        self.api.assert_job_error(job, "wrong_state", "Not enough master candidates")

    def test_secondary_ip(self):
        """The secondary IP must be an address no other node uses."""
        path = "/2/nodes/%s/modify" % N3
        job = self.api.run_job("POST", path, {"secondary_ip": "198.51.100.3"})
        self.assertEqual(job["opresult"], [[["secondary_ip", "198.51.100.3"]]])
        self.assertEqual(self.api.ok("GET", "/2/nodes/%s" % N3)["secondary_ip"], "198.51.100.3")
        job = self.api.run_job("POST", path, {"secondary_ip": "not-an-ip"})
        self.api.assert_job_error(job, "wrong_input")
        job = self.api.run_job("POST", path, {"secondary_ip": "192.0.2.2"})
        self.api.assert_job_error(job, "resource_not_unique")

    def test_bad_bodies(self):
        """The node name may not be in the body; unknown parameters are 400s."""
        path = "/2/nodes/%s/modify" % N3
        for body in ({"node_name": N2}, {"bogus": 1}, {"offline": 1}, ["x"]):
            self.assertEqual(self.api.request("POST", path, body)[0], 400, body)


class PowercycleTests(NodeTestCase):
    def test_master_needs_force(self):
        """Power-cycling the master without force fails with wrong_input."""
        job = self.api.run_job("POST", "/2/nodes/%s/powercycle" % self.master.name)
        self.api.assert_job_error(job, "wrong_input", "force")
        self.assertEqual(self.calls("node_powercycle"), [])

    def test_powercycle(self):
        """The node daemon's answer is the job's result."""
        self.nodes.answer("node_powercycle", "Rebooting now", node=self.master.name)
        job = self.api.run_job("POST", "/2/nodes/%s/powercycle?force=1" % self.master.name)
        self.assertEqual(job["opresult"], ["Rebooting now"])
        self.assertEqual(
            self.calls("node_powercycle"),
            [(self.master.name, "node_powercycle", {"hypervisor": "fake"})],
        )
        self.assertEqual(
            job["ops"][0]["reason"][-1][0], "gnt:library:rlib2:nodes_name_powercycle"
        )

    def test_without_procedure(self):
        """A node daemon lacking the procedure fails the job with OpExecError."""
        job = self.api.run_job("POST", "/2/nodes/%s/powercycle" % N3)
        self.assertEqual(job["status"], "error")
        self.assertEqual(job["opresult"][0][0], "OpExecError")
        self.assertIn("node_powercycle", job["opresult"][0][1][0])

    def test_offline(self):
        """An offline node cannot be power-cycled through its daemon."""
        job = self.api.run_job("POST", "/2/nodes/%s/powercycle" % N5)
        self.api.assert_job_error(job, "wrong_state", "offline")


class StorageTests(NodeTestCase):
    UNIT = {"name": "/srv/storage", "size": 100, "used": 40, "free": 60,
            "allocatable": True}

    def list_units(self, node, storage_type, name_or_path, fields):
        default = "/srv/file-storage" if storage_type == "file" else "xenvg"
        return [[dict(self.UNIT, name=name_or_path or default)[f] for f in fields]]

    def test_access(self):
        """Listing storage needs write access, even though it is a GET."""
        path = "/2/nodes/%s/storage?output_fields=name" % N3
        self.assertEqual(self.api.request("GET", path, user=None)[0], 401)
        self.assertEqual(self.api.request("GET", path, user=READER)[0], 403)

    def test_output_fields_required(self):
        """Without output_fields the request is a 400."""
        for query in ("", "?storage_type=file", "?output_fields="):
            code, body = self.api.request("GET", "/2/nodes/%s/storage%s" % (N3, query))
            self.assertEqual(code, 400, query)
        self.assertIn("output_fields", body["message"])

    def test_list(self):
        """The job's result holds a row per unit in output_fields order."""
        self.nodes.answer("storage_list", self.list_units)
        job = self.api.run_job(
            "GET", "/2/nodes/%s/storage?output_fields=node,name,free,type" % N3
        )
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(job["opresult"], [[[N3, "/srv/file-storage", 60, "file"]]])
        op = job["ops"][0]
        self.assertEqual(
            (op["nodes"], op["storage_type"], op["output_fields"]),
            ([N3], None, ["node", "name", "free", "type"]),
        )
        self.assertEqual(op["reason"][-1][0], "gnt:library:rlib2:nodes_name_storage")
        self.assertEqual(
            self.calls("storage_list"),
            [(N3, "storage_list", {"storage_type": "file", "name_or_path": None,
                                   "fields": ["name", "free"]})],
        )

    def test_list_lvm(self):
        """An LVM listing passes the storage type; the opcode's name narrows it."""
        self.nodes.answer("storage_list", self.list_units)
        job = self.api.run_job(
            "GET", "/2/nodes/%s/storage?storage_type=lvm-vg&output_fields=size" % N3
        )
        self.assertEqual(job["opresult"], [[[100]]])
        self.assertEqual(self.calls("storage_list")[0][2]["storage_type"], "lvm-vg")
        d = self.api.engine.cluster.submit([(
            "OP_NODE_QUERY_STORAGE", {},
            {"output_fields": ["name"], "storage_type": "lvm-vg", "nodes": [N3],
             "name": "vg2"},
        )])
        self.api.clock.advance(0)
        self.assertEqual(self.api.job(self.successResultOf(d))["opresult"], [[["vg2"]]])
        self.assertEqual(self.calls("storage_list")[1][2]["name_or_path"], "vg2")

    def test_failed_node(self):
        """A node that cannot list its storage fails the job when it is the only one."""
        self.nodes.answer("storage_list", RuntimeError("vgs not found"))
        job = self.api.run_job("GET", "/2/nodes/%s/storage?output_fields=name" % N3)
        self.assertEqual(job["status"], "error")
        self.assertEqual(job["opresult"][0][0], "OpExecError")
        self.assertIn("vgs not found", job["opresult"][0][1][0])

    def test_some_nodes_failed(self):
        """Among several nodes, one that fails is left out with a warning."""
        self.nodes.answer("storage_list", self.list_units)
        self.nodes.answer("storage_list", RuntimeError("vgs not found"), node=N3)
        d = self.api.engine.cluster.submit([(
            "OP_NODE_QUERY_STORAGE", {}, {"output_fields": ["node", "size"]}
        )])
        self.api.clock.advance(0)
        job = self.api.job(self.successResultOf(d))
        self.assertEqual(
            sorted(job["opresult"][0]), sorted([[N2, 100], [N4, 100], [self.master.name, 100]])
        )
        self.assertIn("vgs not found", job["oplog"][0][0][3])

    def test_bad_type_and_fields(self):
        """Unsupported storage types and unknown fields fail with wrong_input."""
        job = self.api.run_job(
            "GET", "/2/nodes/%s/storage?storage_type=rados&output_fields=name" % N3
        )
        self.api.assert_job_error(job, "wrong_input")
        job = self.api.run_job("GET", "/2/nodes/%s/storage?output_fields=bogus" % N3)
        self.api.assert_job_error(job, "wrong_input", "bogus")
        code, _ = self.api.request(
            "GET", "/2/nodes/%s/storage?storage_type=nosuch&output_fields=name" % N3
        )
        self.assertEqual(code, 400)

    def test_modify(self):
        """Only lvm-pv's allocatable can be modified; it reaches the node as a bool."""
        base = "/2/nodes/%s/storage/modify" % N3
        job = self.api.run_job("PUT", base + "?storage_type=file&name=x&allocatable=0")
        self.api.assert_job_error(job, "wrong_input", "lvm-pv (allocatable)")
        self.assertEqual(self.calls("storage_modify"), [])
        self.nodes.answer("storage_modify", None)
        job = self.api.run_job(
            "PUT", base + "?storage_type=lvm-pv&name=/dev/sdb1&allocatable=0"
        )
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(job["ops"][0]["changes"], {"allocatable": False})
        self.assertEqual(
            self.calls("storage_modify"),
            [(N3, "storage_modify", {"storage_type": "lvm-pv", "name": "/dev/sdb1",
                                     "changes": {"allocatable": False}})],
        )
        job = self.api.run_job("PUT", base + "?storage_type=lvm-pv&name=/dev/sdb1")
        self.assertEqual(job["ops"][0]["changes"], {})

    def test_modify_needs_name_and_type(self):
        """storage/modify and storage/repair without a name or a type are 400s."""
        for resource in ("modify", "repair"):
            base = "/2/nodes/%s/storage/%s" % (N3, resource)
            self.assertEqual(self.api.request("PUT", base + "?storage_type=lvm-vg")[0], 400)
            self.assertEqual(self.api.request("PUT", base + "?name=xenvg")[0], 400)
            self.assertEqual(
                self.api.request("PUT", base + "?storage_type=lvm-vg&name=x", user=READER)[0],
                403,
            )

    def test_repair(self):
        """Only lvm-vg units can be repaired."""
        base = "/2/nodes/%s/storage/repair" % N3
        job = self.api.run_job("PUT", base + "?storage_type=file&name=x")
        self.api.assert_job_error(job, "wrong_input", "repaired")
        self.nodes.answer("storage_repair", None)
        job = self.api.run_job("PUT", base + "?storage_type=lvm-vg&name=xenvg")
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(
            self.calls("storage_repair"),
            [(N3, "storage_repair", {"storage_type": "lvm-vg", "name": "xenvg"})],
        )
        self.assertEqual(
            job["ops"][0]["reason"][-1][0], "gnt:library:rlib2:nodes_name_storage_repair"
        )


class EvacuateMigrateTests(NodeTestCase):
    def add_instances(self):
        """inst1 runs on node3; inst2 runs on the master with node3 as secondary."""
        n3 = self.node(N3)
        self.config.add_instance(Instance(name="inst1", primary_node=n3.uuid))
        self.config.add_instance(Instance(
            name="inst2", primary_node=self.master.uuid, secondary_nodes=[n3.uuid],
            disk_template="drbd",
        ))
        self.saved()
        submitted = []

        def submit_jobs(jobs):
            submitted.extend(jobs)
            return defer.succeed([[True, 100 + i] for i in range(len(jobs))])

        self.api.engine.processor.environment.submit_jobs = submit_jobs
        return submitted

    def test_evacuate_nothing(self):
        """Evacuating a node without instances submits no jobs."""
        job = self.api.run_job("POST", "/2/nodes/%s/evacuate" % N3, {"mode": "all"})
        self.assertEqual(job["opresult"], [{"jobs": []}])
        self.assertEqual(
            job["ops"][0]["reason"][-1][0], "gnt:library:rlib2:nodes_name_evacuate"
        )

    def test_evacuate_mode_required(self):
        """The body must name a mode, as OP_NODE_EVACUATE requires."""
        self.assertEqual(self.api.request("POST", "/2/nodes/%s/evacuate" % N3, {})[0], 400)

    def test_evacuate(self):
        """Primaries are migrated (with failover) and secondaries replaced, one job each."""
        submitted = self.add_instances()
        job = self.api.run_job(
            "POST", "/2/nodes/%s/evacuate" % N3,
            {"mode": "all", "remote_node": N2, "early_release": True},
        )
        self.assertEqual(job["opresult"], [{"jobs": [[True, 100], [True, 101]]}])
        (migrate,), (replace,) = submitted
        self.assertEqual(
            (migrate["OP_ID"], migrate["instance_name"], migrate["target_node"],
             migrate["allow_failover"]),
            ("OP_INSTANCE_MIGRATE", "inst1", N2, True),
        )
        self.assertEqual(
            (replace["OP_ID"], replace["instance_name"], replace["mode"],
             replace["remote_node"], replace["early_release"]),
            ("OP_INSTANCE_REPLACE_DISKS", "inst2", "replace_new_secondary", N2, True),
        )
        self.assertEqual(migrate["reason"], job["ops"][0]["reason"])

    def test_evacuate_needs_target(self):
        """Instances to move need a remote node or an iallocator."""
        self.add_instances()
        job = self.api.run_job("POST", "/2/nodes/%s/evacuate" % N3, {"mode": "primary-only"})
        self.api.assert_job_error(job, "wrong_input", "iallocator")
        job = self.api.run_job(
            "POST", "/2/nodes/%s/evacuate" % N3, {"mode": "all", "remote_node": N3}
        )
        self.api.assert_job_error(job, "wrong_input")

    def test_evacuate_dry_run(self):
        """A dry run checks but submits nothing."""
        submitted = self.add_instances()
        job = self.api.run_job(
            "POST", "/2/nodes/%s/evacuate?dry-run=1" % N3, {"mode": "all", "iallocator": "hail"}
        )
        self.assertEqual(job["status"], "success")
        self.assertTrue(job["ops"][0]["dry_run"])
        self.assertEqual(submitted, [])

    def test_evacuate_legacy(self):
        """Without a body, the 2010 query parameters evacuate secondaries."""
        submitted = self.add_instances()
        job = self.api.run_job(
            "POST", "/2/nodes/%s/evacuate?remote_node=%s&early_release=1" % (N3, N2)
        )
        op = job["ops"][0]
        self.assertEqual(
            (op["mode"], op["remote_node"], op["early_release"], op["iallocator"]),
            ("secondary-only", N2, True, None),
        )
        self.assertEqual([ops[0]["instance_name"] for ops in submitted], ["inst2"])

    def test_migrate(self):
        """Migrating a node submits one migration per primary instance."""
        submitted = self.add_instances()
        job = self.api.run_job(
            "POST", "/2/nodes/%s/migrate" % N3, {"mode": "non-live", "target_node": N2}
        )
        self.assertEqual(job["opresult"], [{"jobs": [[True, 100]]}])
        (op,), = submitted
        self.assertEqual(
            (op["OP_ID"], op["instance_name"], op["mode"], op["target_node"]),
            ("OP_INSTANCE_MIGRATE", "inst1", "non-live", N2),
        )
        self.assertEqual(
            job["ops"][0]["reason"][-1][0], "gnt:library:rlib2:nodes_name_migrate"
        )
        job = self.api.run_job("POST", "/2/nodes/%s/migrate" % N4, {})
        self.assertEqual(job["opresult"], [{"jobs": []}])

    def test_migrate_legacy(self):
        """Any query argument selects the old form: live or mode, body ignored."""
        path = "/2/nodes/%s/migrate" % N3
        code, body = self.api.request("POST", path + "?live=1&mode=live")
        self.assertEqual(code, 400)
        job = self.api.run_job("POST", path + "?live=0", {"mode": "live"})
        self.assertEqual(job["ops"][0]["mode"], "non-live")
        job = self.api.run_job("POST", path + "?live=1")
        self.assertEqual(job["ops"][0]["mode"], "live")
        job = self.api.run_job("POST", path + "?reason=maint", {"target_node": N2})
        op = job["ops"][0]
        self.assertEqual((op["mode"], op["target_node"]), (None, None))
        self.assertEqual(self.api.request("POST", path + "?live=yes")[0], 400)
        self.assertEqual(self.api.request("POST", path + "?mode=fast")[0], 400)


class OsTests(NodeTestCase):
    def setUp(self):
        NodeTestCase.setUp(self)
        listing = [
            os_entry("debootstrap", variants=["default", "minimal"],
                     parameters=[("dhcp", "Use DHCP"), ("mirror", "Mirror URL")]),
            os_entry("noop"),
            os_entry("broken", status=False, diagnose="create script missing"),
            os_entry("secret"),
        ]
        self.nodes.answer("os_diagnose", listing)
        partial = [dict(listing[0], variants=["default"], parameters=[["dhcp", "Use DHCP"]]),
                   listing[1], listing[2], listing[3]]
        self.nodes.answer("os_diagnose", partial, node=N2)
        self.nodes.answer("os_diagnose", RuntimeError("disk on fire"), node=N4)
        self.config.cluster.hidden_os = ["secret"]
        self.saved()

    def test_list(self):
        """Valid OSes are listed by name, with variants spelled out, for anyone."""
        code, names = self.get_slow("/2/os")
        self.assertEqual(code, 200, names)
        self.assertEqual(names, ["debootstrap+default", "noop"])
        asked = sorted(name for name, _, _ in self.calls("os_diagnose"))
        self.assertEqual(asked, sorted([self.master.name, N2, N3, N4]))

    def test_bulk(self):
        """bulk=1 lists objects for every OS, hidden and invalid ones included."""
        code, oses = self.get_slow("/2/os?bulk=1")
        self.assertEqual(code, 200, oses)
        by_name = {o["name"]: o for o in oses}
        self.assertEqual(sorted(by_name), ["broken", "debootstrap", "noop", "secret"])
        for info in oses:
            self.assertEqual(
                sorted(info),
                sorted(["name", "valid", "variants", "parameters", "api_versions",
                        "blacklisted", "hidden"]),
            )
        deb = by_name["debootstrap"]
        self.assertEqual(
            (deb["valid"], deb["variants"], deb["api_versions"], deb["hidden"]),
            (True, ["default"], [20, 15], False),
        )
        self.assertEqual(deb["parameters"], [{"name": "dhcp", "description": "Use DHCP"}])
        self.assertFalse(by_name["broken"]["valid"])
        self.assertTrue(by_name["secret"]["hidden"])

    def test_node_status(self):
        """The opcode reports every node, including one that did not answer."""
        spec = self.api.engine.cluster.submit([(
            "OP_OS_DIAGNOSE", {}, {"output_fields": ["name", "valid", "node_status"]}
        )])
        self.api.clock.advance(0)
        job = self.api.job(self.successResultOf(spec))
        rows = {row[0]: row for row in job["opresult"][0]}
        status = rows["noop"][2]
        self.assertEqual(sorted(status), sorted([self.master.name, N2, N3, N4]))
        self.assertEqual(status[N2][0][:3], ["/srv/ganeti/os/noop", True, ""])
        self.assertIn("disk on fire", status[N4][0][2])
        self.assertTrue(rows["noop"][1])

    def test_without_nodes(self):
        """With no node reachable the job fails and the request is a 500."""
        self.nodes.answers.clear()
        self.nodes.answer("os_diagnose", RuntimeError("no OS here"))
        code, body = self.get_slow("/2/os")
        self.assertEqual(code, 500)
        self.assertIn("no OS here", body["message"])


class FakeCluster:
    """Just enough of ICluster for C{/2/os}: one job that never ends."""

    def __init__(self):
        self.waits = []
        self.waits_canceled = 0
        self.canceled = []

    def submit(self, specs):
        return defer.succeed(7)

    def wait_for_job_change(self, job_id, fields, info, serial):
        d = defer.Deferred(self._wait_canceled)
        self.waits.append(d)
        return d

    def _wait_canceled(self, d):
        self.waits_canceled += 1

    def cancel_job(self, job_id):
        self.canceled.append(job_id)
        return defer.succeed([True, "Job %d canceled" % job_id])


class OsWaitTests(SynchronousTestCase):
    def setUp(self):
        self.cluster = FakeCluster()
        self.resource = OsResource(ApiContext(Gate(None), self.cluster))

    def call(self):
        return ApiRequest(None, None, None, {})

    def test_cancel(self):
        """A client leaving cancels the wait and the job."""
        d = self.resource.get(self.call())
        self.assertEqual(len(self.cluster.waits), 1)
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)
        self.assertEqual(self.cluster.waits_canceled, 1)
        self.assertEqual(self.cluster.canceled, [7])

    def test_cancel_before_submitted(self):
        """A client leaving before the job id is known still cancels the job."""
        submitted = defer.Deferred()
        self.cluster.submit = lambda specs: submitted
        d = self.resource.get(self.call())
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)
        self.assertEqual(self.cluster.canceled, [])
        submitted.callback(8)
        self.assertEqual(self.cluster.canceled, [8])
        self.assertEqual(self.cluster.waits, [])

    def test_follows_changes(self):
        """The request waits through intermediate states to the final one."""
        d = self.resource.get(self.call())
        self.cluster.waits[0].callback(
            {"job_info": ["running", [None]], "log_entries": [[1, [0, 0], "message", "x"]]}
        )
        self.assertNoResult(d)
        self.cluster.waits[1].callback(
            {"job_info": ["success", [[["lenny", ["a", "b"], True]]]], "log_entries": []}
        )
        self.assertEqual(self.successResultOf(d), ["lenny+a", "lenny+b"])

    def test_not_a_list(self):
        """A result that is not a list is a 502."""
        from ganeti_rapi import errors

        d = self.resource.get(self.call())
        self.cluster.waits[0].callback({"job_info": ["success", ["junk"]], "log_entries": []})
        self.failureResultOf(d, errors.BadGateway)

    def test_failed_job(self):
        """A failed job is a 500 carrying the job's error."""
        from ganeti_rapi import errors

        d = self.resource.get(self.call())
        self.cluster.waits[0].callback({
            "job_info": ["error", [["OpPrereqError", ["Nothing to see", "wrong_input"]]]],
            "log_entries": [],
        })
        failure = self.failureResultOf(d, errors.InternalServerError)
        self.assertIn("Nothing to see", failure.value.message)
