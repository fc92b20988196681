"""/2/query/[resource] and its fields, through the real tree and engine."""

from twisted.trial.unittest import SynchronousTestCase

from tests.helpers import READER, EngineFixture


class QueryTests(SynchronousTestCase):
    def setUp(self):
        self.api = EngineFixture(self)
        self.api.run_job("POST", "/2/groups", {"group_name": "g1"})
        self.api.run_job("PUT", "/2/groups/g1/tags?tag=blue")

    def test_get(self):
        """GET with fields answers descriptors and [status, value] cells."""
        result = self.api.ok("GET", "/2/query/group?fields=name,%20node_cnt", user=READER)
        self.assertEqual([f["name"] for f in result["fields"]], ["name", "node_cnt"])
        self.assertEqual(result["fields"][0]["kind"], "text")
        self.assertEqual(result["data"], [[[0, "default"], [0, 1]], [[0, "g1"], [0, 0]]])

    def test_unknown_field(self):
        """An unknown field is described as unknown and its cells have status 1."""
        result = self.api.ok("GET", "/2/query/group?fields=name,bogus", user=READER)
        self.assertEqual(result["fields"][1]["kind"], "unknown")
        self.assertEqual(result["data"][0][1], [1, None])

    def test_put_filter(self):
        """PUT takes fields and a filter (qfilter, or the older filter key)."""
        for key in ("qfilter", "filter"):
            result = self.api.ok(
                "PUT", "/2/query/group",
                {"fields": ["name"], key: ["=[]", "tags", "blue"]}, user=READER,
            )
            self.assertEqual(result["data"], [[[0, "g1"]]])
        result = self.api.ok(
            "PUT", "/2/query/group",
            {"fields": ["name"], "qfilter": ["|", ["=", "name", "default"],
                                             ["=~", "name", "^g"]]},
        )
        self.assertEqual(len(result["data"]), 2)
        result = self.api.ok(
            "PUT", "/2/query/group",
            {"fields": ["name"], "qfilter": ["!", ["?", "node_cnt"]]},
        )
        self.assertEqual(result["data"], [[[0, "g1"]]])

    def test_nodes_and_jobs(self):
        """Nodes and jobs are queryable too; live node data is unavailable here."""
        result = self.api.ok("GET", "/2/query/node?fields=name,role,mfree", user=READER)
        self.assertEqual(result["data"][0][1], [0, "M"])
        self.assertEqual(result["data"][0][2][0], 3)
        result = self.api.ok("GET", "/2/query/job?fields=id,status", user=READER)
        self.assertEqual(result["data"][0], [[0, 1], [0, "success"]])

    def test_fields(self):
        """/fields describes every field, or those asked for, anonymously."""
        result = self.api.ok("GET", "/2/query/group/fields", user=None)
        names = [f["name"] for f in result["fields"]]
        self.assertEqual(names, sorted(names))
        self.assertIn("alloc_policy", names)
        result = self.api.ok("GET", "/2/query/node/fields?fields=name,bogus", user=None)
        self.assertEqual([f["kind"] for f in result["fields"]], ["text", "unknown"])

    def test_errors(self):
        """Missing fields and bad filters are 400s; unknown resources 404s."""
        self.assertEqual(self.api.request("GET", "/2/query/group")[0], 400)
        self.assertEqual(self.api.request("PUT", "/2/query/group", {"qfilter": None})[0], 400)
        self.assertEqual(self.api.request("PUT", "/2/query/group", ["name"])[0], 400)
        for qfilter in [["nosuchop", "name"], ["=", "bogus", 1], "x", ["=~", "name", "("]]:
            self.assertEqual(
                self.api.request("PUT", "/2/query/group",
                                 {"fields": ["name"], "qfilter": qfilter})[0],
                400, qfilter,
            )
        self.assertEqual(self.api.request("GET", "/2/query/nosuch?fields=name")[0], 404)
        self.assertEqual(self.api.request("GET", "/2/query")[0], 404)

    def test_access(self):
        """Queries need the read or write option; anonymous gets 401."""
        self.assertEqual(self.api.request("GET", "/2/query/group?fields=name",
                                          user=None)[0], 401)
        self.assertEqual(self.api.request("GET", "/2/query/group?fields=name",
                                          user=("plain", "ppass"))[0], 403)
