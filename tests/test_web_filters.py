"""Job filter rules: C{/2/filters} through the real tree, and what the
job processor does with them."""

import json
import os

from twisted.trial.unittest import SynchronousTestCase

from ganeti_rapi.engine import filters, queue
from ganeti_rapi.engine.objects import FilterRule
from ganeti_rapi.engine.processor import JobProcessor
from tests.helpers import READER, EngineFixture
from tests.test_processor import ProcessorTestCase, slow, unit_factory
from tests.test_queue import make_op

FILTER_FIELDS = ["watermark", "priority", "predicates", "action", "reason_trail", "uuid"]

REASON = [["gnt:client", "", 1700000000000000000]]


class FilterResourceTests(SynchronousTestCase):
    def setUp(self):
        self.api = EngineFixture(self)

    def add(self, **body):
        body.setdefault("reason", REASON)
        return self.api.ok("POST", "/2/filters", body)

    def rule(self, uuid):
        return self.api.ok("GET", "/2/filters/%s" % uuid, user=None)

    def group_job(self, name, query=""):
        """Submit a group creation; the job id (not run any further)."""
        job_id = self.api.ok("POST", "/2/groups" + query, {"group_name": name})
        self.api.clock.advance(0)
        return job_id

    def status(self, job_id):
        return self.api.job(job_id)["status"]

    def test_empty(self):
        """A new cluster has no filter rules."""
        self.assertEqual(self.api.ok("GET", "/2/filters", user=None), [])
        self.assertEqual(self.api.ok("GET", "/2/filters?bulk=1", user=None), [])

    def test_add_get_replace_delete(self):
        """POST answers the new UUID; GET shows the rule; PUT replaces it with
        a new watermark; DELETE answers null."""
        self.group_job("g1")
        uuid = self.add(priority=3, predicates=[["opcode", ["=", "OP_ID", "OP_X"]]],
                        action="ACCEPT")
        self.assertIsInstance(uuid, str)
        self.assertEqual(self.api.ok("GET", "/2/filters", user=None),
                         [{"uuid": uuid, "uri": "/2/filters/%s" % uuid}])
        rule = self.rule(uuid)
        self.assertEqual(sorted(rule), sorted(FILTER_FIELDS))
        self.assertEqual(rule, {
            "uuid": uuid, "watermark": 1, "priority": 3,
            "predicates": [["opcode", ["=", "OP_ID", "OP_X"]]], "action": "ACCEPT",
            "reason_trail": REASON,
        })
        self.assertEqual(self.api.ok("GET", "/2/filters?bulk=1", user=None), [rule])
        self.group_job("g2")
        answer = self.api.ok("PUT", "/2/filters/%s" % uuid,
                             {"priority": 1, "predicates": [], "action": ["RATE_LIMIT", 2],
                              "reason": []})
        self.assertEqual(answer, uuid)
        self.assertEqual(self.rule(uuid), {
            "uuid": uuid, "watermark": 2, "priority": 1, "predicates": [],
            "action": ["RATE_LIMIT", 2], "reason_trail": [],
        })
        self.assertIsNone(self.api.ok("DELETE", "/2/filters/%s" % uuid, {}))
        self.assertEqual(self.api.request("GET", "/2/filters/%s" % uuid)[0], 404)
        self.assertEqual(self.api.request("DELETE", "/2/filters/%s" % uuid)[0], 404)
        self.assertEqual(self.api.ok("GET", "/2/filters"), [])

    def test_defaults_and_put_creates(self):
        """Missing keys take their defaults; PUT of an unknown UUID creates it."""
        uuid = self.api.ok("POST", "/2/filters", {})
        self.assertEqual(self.rule(uuid), {
            "uuid": uuid, "watermark": 0, "priority": 0, "predicates": [],
            "action": "CONTINUE", "reason_trail": [],
        })
        new = "0f3a9c5e-1b2d-4e6f-8a7b-9c0d1e2f3a4b"
        self.assertEqual(self.api.ok("PUT", "/2/filters/%s" % new, {"action": "PAUSE"}),
                         new)
        self.assertEqual(self.rule(new)["action"], "PAUSE")
        self.assertEqual(sorted(f["uuid"] for f in self.api.ok("GET", "/2/filters")),
                         sorted([uuid, new]))

    def test_bad_bodies(self):
        """Unknown keys, wrong types and malformed actions, predicates or
        reason trails are 400s, and nothing is stored."""
        for body in [
            ["x"],
            "x",
            {"bogus": 1},
            {"priority": "1"},
            {"priority": True},
            {"priority": -1},
            {"predicates": "x"},
            {"predicates": ["x"]},
            {"predicates": [["nosuch", ["=", "id", 1]]]},
            {"predicates": [["jobid"]]},
            {"predicates": [["jobid", "x"]]},
            {"predicates": [["jobid", ["<>", "id", 1]]]},
            {"predicates": [["jobid", ["=", "id"]]]},
            {"predicates": [["reason", ["=~", "reason", "("]]]},
            {"action": "DROP"},
            {"action": ["RATE_LIMIT", 0]},
            {"action": ["RATE_LIMIT", "2"]},
            {"action": ["RATE_LIMIT"]},
            {"reason": "x"},
            {"reason": [["a", "b"]]},
            {"reason": [["a", "b", "c"]]},
        ]:
            code, result = self.api.request("POST", "/2/filters", body)
            self.assertEqual(code, 400, (body, result))
            code, result = self.api.request("PUT", "/2/filters/some-uuid", body)
            self.assertEqual(code, 400, (body, result))
        self.assertEqual(self.api.ok("GET", "/2/filters"), [])

    def test_access(self):
        """Reading is anonymous; adding, replacing and deleting need write."""
        uuid = self.add()
        self.assertEqual(self.api.request("GET", "/2/filters/%s" % uuid, user=None)[0],
                         200)
        for method, path in [("POST", "/2/filters"), ("PUT", "/2/filters/%s" % uuid),
                             ("DELETE", "/2/filters/%s" % uuid)]:
            self.assertEqual(self.api.request(method, path, {}, user=None)[0], 401)
            self.assertEqual(self.api.request(method, path, {}, user=READER)[0], 403)
        self.assertEqual(self.api.request("GET", "/2/filters/bad%20uuid")[0], 404)
        self.assertEqual(self.api.request("POST", "/2/filters/%s" % uuid, {})[0], 501)

    def test_persisted(self):
        """Rules are stored in the configuration file and survive a restart."""
        uuid = self.add(priority=2, action="REJECT",
                        predicates=[["jobid", [">", "id", "watermark"]]])
        with open(os.path.join(self.api.data_dir, "config.data")) as f:
            document = json.load(f)
        self.assertEqual(list(document["filters"]), [uuid])
        self.assertEqual(document["filters"][uuid]["action"], "REJECT")
        again = EngineFixture(self, data_dir=self.api.data_dir)
        self.assertEqual(again.ok("GET", "/2/filters/%s" % uuid), self.rule(uuid))

    def test_query(self):
        """/2/query/filter serves the same fields."""
        uuid = self.add(priority=4)
        cells = self.api.ok("GET", "/2/query/filter?fields=uuid,priority,action",
                            user=READER)
        self.assertEqual(cells["data"], [[[0, uuid], [0, 4], [0, "CONTINUE"]]])

    def test_reject(self):
        """A REJECT rule cancels the jobs it applies to, queued ones included;
        other jobs run."""
        uuid = self.add(action="REJECT",
                        predicates=[["opcode", ["=", "OP_ID", "OP_GROUP_ADD"]]])
        job_id = self.group_job("g1")
        job = self.api.job(job_id)
        self.assertEqual(job["status"], "canceled")
        self.assertEqual(job["opresult"], ["Job rejected by filter rule %s" % uuid])
        self.assertEqual(self.api.request("GET", "/2/groups/g1")[0], 404)
        tag_job = self.api.run_job("PUT", "/2/tags?tag=still-runs")
        self.assertEqual(tag_job["status"], "success")
        # A paused job is canceled once a REJECT rule applies to it.
        pause = self.add(action="PAUSE", priority=5)
        paused = self.api.ok("PUT", "/2/tags?tag=paused")
        self.api.clock.advance(0)
        self.assertEqual(self.status(paused), "queued")
        self.add(action="REJECT", priority=1,
                 predicates=[["opcode", ["=[]", "tags", "paused"]]])
        self.assertEqual(self.status(paused), "canceled")
        self.api.ok("DELETE", "/2/filters/%s" % pause)

    def test_pause(self):
        """A PAUSE rule keeps jobs queued until it goes; they run then."""
        uuid = self.add(action="PAUSE", predicates=[["jobid", [">", "id", "watermark"]]])
        job_id = self.group_job("g1")
        self.assertEqual(self.status(job_id), "queued")
        self.assertEqual(self.api.engine.processor.running_ids, [])
        self.api.ok("PUT", "/2/filters/%s" % uuid, {"action": "CONTINUE"})
        self.api.clock.advance(0)
        self.assertEqual(self.status(job_id), "success")
        self.assertEqual(self.api.ok("GET", "/2/groups/g1")["name"], "g1")

    def test_pause_delete(self):
        """Deleting the PAUSE rule lets the held jobs run; a held job can be
        canceled meanwhile."""
        uuid = self.add(action="PAUSE")
        first, second = self.group_job("g1"), self.group_job("g2")
        self.assertEqual(self.api.ok("DELETE", "/2/jobs/%d" % second),
                         [True, "Job %d canceled" % second])
        self.api.ok("DELETE", "/2/filters/%s" % uuid)
        self.api.clock.advance(0)
        self.assertEqual((self.status(first), self.status(second)),
                         ("success", "canceled"))

    def test_accept_before_pause(self):
        """Rules are tried by priority: an ACCEPT for a maintenance reason
        lets those jobs through a general PAUSE; CONTINUE rules are skipped."""
        self.add(priority=0, action="CONTINUE")
        self.add(priority=1, action="ACCEPT",
                 predicates=[["reason", ["=~", "reason", "^maintenance"]]])
        self.add(priority=2, action="PAUSE")
        held = self.group_job("g1")
        through = self.group_job("g2", "?reason=maintenance+42")
        self.assertEqual((self.status(held), self.status(through)),
                         ("queued", "success"))

    def test_jobid_watermark(self):
        """A rule on job ids compares with its watermark: jobs queued before
        the rule was added are not affected by C{id > watermark}."""
        self.add(action="PAUSE")
        old = self.group_job("old")
        self.assertEqual(self.status(old), "queued")
        uuid = self.api.ok("GET", "/2/filters")[0]["uuid"]
        self.api.ok("PUT", "/2/filters/%s" % uuid,
                    {"action": "PAUSE",
                     "predicates": [["jobid", [">", "id", "watermark"]]]})
        self.api.clock.advance(0)
        new = self.group_job("new")
        self.assertEqual((self.status(old), self.status(new)), ("success", "queued"))


class RuleTests(SynchronousTestCase):
    """Which rule applies to a job."""

    def job(self, job_id=7, **params):
        return queue.Job(job_id, [make_op("OP_GROUP_ADD", group_name="g1",
                                          ndparams={"spindle_count": 2}, **params)])

    def applies(self, predicates, job, watermark=5):
        rule = FilterRule(predicates=predicates, action="PAUSE", watermark=watermark)
        return filters.applying_rule([rule], job) is rule

    def test_predicates(self):
        """jobid, opcode (with nested fields) and reason predicates."""
        job = self.job(reason=[["gnt:user", "maintenance", 12]])
        for predicates, expected in [
            ([], True),
            ([["jobid", ["==", "id", 7]]], True),
            ([["jobid", [">", "id", "watermark"]]], True),
            ([["jobid", ["<=", "id", "watermark"]]], False),
            ([["jobid", ["==", "name", 7]]], False),
            ([["jobid", ["==", "id", "seven"]]], False),
            ([["opcode", ["=", "OP_ID", "OP_GROUP_ADD"]]], True),
            ([["opcode", ["=", "ndparams.spindle_count", 2]]], True),
            ([["opcode", ["=", "ndparams.nosuch", 2]]], False),
            ([["opcode", ["!", ["=", "group_name", "g2"]]]], True),
            ([["opcode", ["&", ["=~", "group_name", "^g"], ["?", "ndparams"]]]], True),
            ([["opcode", ["<", "group_name", 3]]], False),
            ([["reason", ["=", "source", "gnt:user"]]], True),
            ([["reason", [">", "timestamp", 20]]], False),
            ([["reason", ["|", [">", "timestamp", 20], ["=~", "reason", "main"]]]], True),
            ([["jobid", ["==", "id", 7]], ["reason", ["=", "reason", "x"]]], False),
        ]:
            self.assertEqual(self.applies(predicates, job), expected, predicates)

    def test_order(self):
        """Priority, then watermark, then uuid; CONTINUE never applies."""
        rules = [
            FilterRule(uuid="b", priority=1, watermark=0, action="REJECT"),
            FilterRule(uuid="a", priority=1, watermark=0, action="PAUSE"),
            FilterRule(uuid="c", priority=1, watermark=-1, action="ACCEPT"),
            FilterRule(uuid="z", priority=0, watermark=9, action="CONTINUE"),
        ]
        ordered = filters.ordered(rules)
        self.assertEqual([r.uuid for r in ordered], ["z", "c", "a", "b"])
        self.assertEqual(filters.applying_rule(ordered, self.job()).uuid, "c")


class RateLimitTests(ProcessorTestCase):
    """RATE_LIMIT in the processor, with units that run until released."""

    def open_queue(self, *args, **kwargs):
        ProcessorTestCase.open_queue(self, *args, **kwargs)
        self.rules = []
        self.processor = JobProcessor(
            self.queue, self.locks, unit_factory, self.env, self.clock,
            max_running=self.max_running, filter_rules=lambda: self.rules,
        )

    def test_rate_limit(self):
        """At most n jobs the rule applies to run at once; others are not held."""
        self.rules = [FilterRule(uuid="r", action=["RATE_LIMIT", 2],
                                 predicates=[["opcode", ["=", "OP_ID", "OP_SLOW"]]])]
        ids = [self.submit(slow("n%d" % i)) for i in range(4)]
        quick = self.submit(make_op("OP_QUICK"))
        self.assertEqual(self.status(quick), queue.JOB_STATUS_SUCCESS)
        self.assertEqual(self.processor.running_ids, ids[:2])
        self.assertEqual([self.status(i) for i in ids[2:]], ["queued", "queued"])
        self.env.open("n0")
        self.assertEqual(self.processor.running_ids, [ids[1], ids[2]])
        self.rules = []
        self.processor.reschedule()
        self.assertEqual(self.processor.running_ids, ids[1:])
        for name in ("n1", "n2", "n3"):
            self.env.open(name)
        self.assertEqual([self.status(i) for i in ids], ["success"] * 4)

    def test_no_rules(self):
        """Without rules every job runs as before."""
        ids = [self.submit(slow("n%d" % i)) for i in range(3)]
        self.assertEqual(self.processor.running_ids, ids)
