"""Node groups through the real tree into the real engine."""

from twisted.trial.unittest import SynchronousTestCase

from tests.helpers import READER, EngineFixture


class GroupTests(SynchronousTestCase):
    def setUp(self):
        self.api = EngineFixture(self)

    def test_default_group(self):
        """The embedded default has one group, default, holding the master node."""
        self.assertEqual(
            self.api.ok("GET", "/2/groups", user=None),
            [{"name": "default", "uri": "/2/groups/default"}],
        )
        group = self.api.ok("GET", "/2/groups/default", user=None)
        self.assertEqual(group["node_cnt"], 1)
        self.assertEqual(group["alloc_policy"], "preferred")
        self.assertEqual(
            sorted(group),
            sorted(["alloc_policy", "name", "node_cnt", "node_list", "ipolicy",
                    "custom_ipolicy", "diskparams", "custom_diskparams", "ndparams",
                    "custom_ndparams", "ctime", "mtime", "uuid", "serial_no", "tags"]),
        )

    def test_lifecycle(self):
        """Create, rename, modify, tag and delete a group, following each job."""
        job = self.api.run_job("POST", "/2/groups", {"group_name": "g1", "alloc_policy": None})
        self.assertEqual((job["status"], job["opresult"]), ("success", [None]))
        self.assertEqual(job["summary"], ["GROUP_ADD(g1)"])
        job = self.api.run_job("PUT", "/2/groups/g1/rename", {"new_name": "g2"})
        self.assertEqual(job["opresult"], ["g2"])
        self.assertEqual(self.api.request("GET", "/2/groups/g1")[0], 404)
        job = self.api.run_job(
            "PUT", "/2/groups/g2/modify",
            {"alloc_policy": "last_resort", "custom_ndparams": {"spindle_count": 2}},
        )
        self.assertEqual(
            job["opresult"],
            [[["alloc_policy", "last_resort"], ["ndparams", {"spindle_count": 2}]]],
        )
        group = self.api.ok("GET", "/2/groups/g2")
        self.assertEqual(group["alloc_policy"], "last_resort")
        self.assertEqual(group["custom_ndparams"], {"spindle_count": 2})
        self.assertEqual(group["ndparams"]["spindle_count"], 2)
        self.assertEqual(self.api.run_job("PUT", "/2/groups/g2/tags?tag=a&tag=b")["status"],
                         "success")
        self.assertEqual(self.api.ok("GET", "/2/groups/g2/tags"), ["a", "b"])
        self.api.run_job("DELETE", "/2/groups/g2/tags?tag=a")
        self.assertEqual(self.api.ok("GET", "/2/groups/g2/tags"), ["b"])
        self.assertEqual(self.api.run_job("DELETE", "/2/groups/g2")["status"], "success")
        self.assertEqual([g["name"] for g in self.api.ok("GET", "/2/groups")], ["default"])

    def test_old_name_parameter(self):
        """The 2010 body key name still creates a group; both names is a 400."""
        self.assertEqual(self.api.run_job("POST", "/2/groups", {"name": "old"})["status"],
                         "success")
        code, body = self.api.request("POST", "/2/groups", {"name": "a", "group_name": "b"})
        self.assertEqual(code, 400)

    def test_duplicate(self):
        """Adding an existing group fails the job with already_exists."""
        job = self.api.run_job("POST", "/2/groups", {"group_name": "default"})
        self.api.assert_job_error(job, "already_exists")

    def test_unknown(self):
        """An unknown group is a 404 on GET and unknown_entity in a job."""
        code, body = self.api.request("GET", "/2/groups/nosuch", user=None)
        self.assertEqual(code, 404)
        self.assertEqual(self.api.request("GET", "/2/groups/nosuch/tags")[0], 404)
        job = self.api.run_job("PUT", "/2/groups/nosuch/rename", {"new_name": "x"})
        self.api.assert_job_error(job, "unknown_entity")

    def test_remove_with_nodes(self):
        """Deleting a group that still has nodes fails with wrong_state."""
        self.api.run_job("POST", "/2/groups", {"group_name": "spare"})
        job = self.api.run_job("DELETE", "/2/groups/default")
        self.api.assert_job_error(job, "wrong_state", "not empty")

    def test_assign_nodes(self):
        """assign-nodes moves the node; the emptied group can then go."""
        self.api.run_job("POST", "/2/groups", {"group_name": "g1"})
        node = self.api.ok("GET", "/2/groups/default")["node_list"][0]
        job = self.api.run_job("PUT", "/2/groups/g1/assign-nodes", {"nodes": [node]})
        self.assertEqual(job["status"], "success")
        self.assertEqual(self.api.ok("GET", "/2/groups/g1")["node_list"], [node])
        self.assertEqual(self.api.run_job("DELETE", "/2/groups/default")["status"], "success")
        job = self.api.run_job("PUT", "/2/groups/g1/assign-nodes", {"nodes": ["nosuch"]})
        self.api.assert_job_error(job, "unknown_entity")

    def test_dry_run(self):
        """A dry run checks and succeeds but leaves no trace."""
        serial = self.api.engine.config.serial_no
        job = self.api.run_job("POST", "/2/groups?dry-run=1", {"group_name": "dry"})
        self.assertEqual(job["status"], "success")
        self.assertTrue(job["ops"][0]["dry_run"])
        self.assertEqual(self.api.request("GET", "/2/groups/dry")[0], 404)
        self.assertEqual(self.api.engine.config.serial_no, serial)
        job = self.api.run_job("POST", "/2/groups?dry-run=1", {"group_name": "default"})
        self.api.assert_job_error(job, "already_exists")

    def test_bulk(self):
        """bulk=1 lists every field of every group."""
        groups = self.api.ok("GET", "/2/groups?bulk=1", user=None)
        self.assertEqual([g["name"] for g in groups], ["default"])
        self.assertIn("ipolicy", groups[0])

    def test_bad_bodies(self):
        """Unknown parameters, wrong types and non-object bodies are 400s."""
        for body in [{"group_name": "x", "bogus": 1}, {"group_name": 5}, ["x"], "x",
                     {"alloc_policy": "preferred"}, {"group_name": "x", "alloc_policy": "no"}]:
            code, result = self.api.request("POST", "/2/groups", body)
            self.assertEqual(code, 400, (body, result))
        code, _ = self.api.request("POST", "/2/groups", {"group_name": "x", "reason": []})
        self.assertEqual(code, 400)
        code, _ = self.api.request("PUT", "/2/groups/default/rename", {})
        self.assertEqual(code, 400)

    def test_write_access(self):
        """Creating a group needs the write option."""
        self.assertEqual(self.api.request("POST", "/2/groups", {"group_name": "x"},
                                          user=None)[0], 401)
        self.assertEqual(self.api.request("POST", "/2/groups", {"group_name": "x"},
                                          user=READER)[0], 403)

    def test_reason_trail(self):
        """The opcode's reason names the client's reason and the resource."""
        job = self.api.run_job("POST", "/2/groups?reason=testing", {"group_name": "r"})
        reason = job["ops"][0]["reason"]
        self.assertEqual(reason[0][:2], ["gnt:user", "testing"])
        self.assertEqual(reason[1][:2], ["gnt:library:rlib2:groups", ""])
