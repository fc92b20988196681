"""Jobs through the HTTP API: lifecycle, locks, cancel and the long poll."""

import os

from twisted.trial.unittest import SynchronousTestCase

from ganeti_rapi.engine import locks
from tests.helpers import READER, EngineFixture

WAIT_BODY = {"fields": ["status"], "previous_job_info": None, "previous_log_serial": None}


class JobFixtureMixin:
    max_running = 20

    def setUp(self):
        self.api = EngineFixture(self, max_running=self.max_running)
        for name in ("g1", "g2"):
            self.api.run_job("POST", "/2/groups", {"group_name": name})

    def hold(self, *group_names):
        """Hold group locks as a slow opcode would; returns the lock set."""
        d = self.api.engine.locks.acquire(
            [(locks.LEVEL_GROUP, name, True) for name in group_names]
        )
        return self.successResultOf(d)

    def tag(self, group, tag):
        return self.api.ok("PUT", "/2/groups/%s/tags?tag=%s" % (group, tag))

    def status(self, job_id):
        return self.api.job(job_id)["status"]


class JobLifecycleTests(JobFixtureMixin, SynchronousTestCase):
    def test_job_object(self):
        """A finished job carries Ganeti's ten fields."""
        job = self.api.job(self.tag("g1", "x"))
        self.assertEqual(
            sorted(job),
            sorted(["id", "ops", "status", "summary", "opstatus", "received_ts",
                    "start_ts", "end_ts", "oplog", "opresult"]),
        )
        self.assertEqual(job["status"], "success")
        self.assertEqual(job["opstatus"], ["success"])
        self.assertEqual(job["ops"][0]["OP_ID"], "OP_TAGS_SET")
        self.assertEqual(job["summary"], ["TAGS_SET"])
        self.assertEqual(len(job["received_ts"]), 2)

    def test_listing(self):
        """/2/jobs lists ids and URIs, and in bulk the bulk fields."""
        jobs = self.api.ok("GET", "/2/jobs", user=None)
        self.assertEqual(jobs[0], {"id": 1, "uri": "/2/jobs/1"})
        self.assertEqual([j["id"] for j in jobs], sorted(j["id"] for j in jobs))
        bulk = self.api.ok("GET", "/2/jobs?bulk=1", user=None)
        self.assertEqual(
            sorted(bulk[0]),
            sorted(["id", "ops", "status", "summary", "opstatus", "received_ts",
                    "start_ts", "end_ts"]),
        )

    def test_unknown_job(self):
        """An unknown or malformed job id is a 404."""
        self.assertEqual(self.api.request("GET", "/2/jobs/999")[0], 404)
        self.assertEqual(self.api.request("GET", "/2/jobs/abc")[0], 404)
        self.assertEqual(self.api.request("DELETE", "/2/jobs/999")[1],
                         [False, "Job 999 not found"])

    def test_accepted_job_is_on_disk(self):
        """The id is answered only once the job file exists."""
        job_id = self.tag("g1", "durable")
        self.assertTrue(os.path.exists(self.api.engine.queue.job_path(job_id)))


class ConcurrencyTests(JobFixtureMixin, SynchronousTestCase):
    def test_different_groups_run_concurrently(self):
        """A job on g2 finishes while a job on g1 waits for g1's lock."""
        held = self.hold("g1")
        first = self.tag("g1", "a")
        second = self.tag("g2", "b")
        self.assertEqual(self.status(first), "waiting")
        self.assertEqual(self.status(second), "success")
        held.release()
        self.api.clock.advance(0)
        self.assertEqual(self.status(first), "success")

    def test_same_group_serializes(self):
        """Two jobs on one group run one after the other."""
        held = self.hold("g1")
        first = self.tag("g1", "a")
        second = self.tag("g1", "b")
        self.assertEqual((self.status(first), self.status(second)), ("waiting", "waiting"))
        held.release()
        self.api.clock.advance(0)
        one, two = self.api.job(first), self.api.job(second)
        self.assertEqual((one["status"], two["status"]), ("success", "success"))
        self.assertLessEqual(one["end_ts"], two["start_ts"] if two["start_ts"] > one["start_ts"]
                             else two["end_ts"])
        self.assertEqual(self.api.ok("GET", "/2/groups/g1/tags"), ["a", "b"])


class CancelTests(JobFixtureMixin, SynchronousTestCase):
    max_running = 1

    def test_cancel_waiting(self):
        """A job waiting for locks is canceled and never runs."""
        held = self.hold("g1")
        job_id = self.tag("g1", "never")
        self.assertEqual(self.status(job_id), "waiting")
        answer = self.api.ok("DELETE", "/2/jobs/%d" % job_id)
        self.assertEqual(answer[0], True)
        held.release()
        self.api.clock.advance(0)
        job = self.api.job(job_id)
        self.assertEqual(job["status"], "canceled")
        self.assertEqual(self.api.ok("GET", "/2/groups/g1/tags"), [])

    def test_cancel_queued(self):
        """A queued job (behind a running one) is canceled at once."""
        held = self.hold("g1")
        blocking = self.tag("g1", "first")
        queued = self.tag("g2", "second")
        self.assertEqual(self.status(queued), "queued")
        self.assertEqual(self.api.ok("DELETE", "/2/jobs/%d" % queued),
                         [True, "Job %d canceled" % queued])
        self.assertEqual(self.status(queued), "canceled")
        held.release()
        self.api.clock.advance(0)
        self.assertEqual(self.status(blocking), "success")
        self.assertEqual(self.api.ok("GET", "/2/groups/g2/tags"), [])

    def test_cancel_finished(self):
        """A finished job cannot be canceled."""
        job_id = self.tag("g1", "done")
        self.assertEqual(self.api.ok("DELETE", "/2/jobs/%d" % job_id),
                         [False, "Job %d is no longer waiting in the queue" % job_id])

    def test_cancel_needs_write(self):
        """Canceling needs the write option."""
        job_id = self.tag("g1", "x")
        self.assertEqual(self.api.request("DELETE", "/2/jobs/%d" % job_id, user=READER)[0],
                         403)


class WaitTests(JobFixtureMixin, SynchronousTestCase):
    def test_change(self):
        """A wait answers on the first change of the watched fields."""
        held = self.hold("g1")
        job_id = self.tag("g1", "x")
        body = dict(WAIT_BODY, previous_job_info=["waiting"])
        d = self.api.start("GET", "/2/jobs/%d/wait" % job_id, body)
        self.assertNoResult(d)
        held.release()
        self.api.clock.advance(0)
        self.api.client.flush()
        response = self.successResultOf(d)
        answer = self.successResultOf(response.json())
        self.assertEqual(answer["job_info"], ["running"])
        self.assertEqual(answer["log_entries"], [])
        body["previous_job_info"] = ["running"]
        self.assertEqual(
            self.api.ok("GET", "/2/jobs/%d/wait" % job_id, body)["job_info"], ["success"]
        )

    def test_immediate(self):
        """Values that differ from the previous ones answer at once."""
        job_id = self.tag("g1", "x")
        self.assertEqual(self.api.ok("GET", "/2/jobs/%d/wait" % job_id, WAIT_BODY),
                         {"job_info": ["success"], "log_entries": []})

    def test_timeout(self):
        """Nothing changing for 10 seconds answers null."""
        held = self.hold("g1")
        job_id = self.tag("g1", "x")
        body = dict(WAIT_BODY, previous_job_info=["waiting"])
        d = self.api.start("GET", "/2/jobs/%d/wait" % job_id, body)
        self.api.clock.advance(9.9)
        self.api.client.flush()
        self.assertNoResult(d)
        self.api.clock.advance(0.2)
        self.api.client.flush()
        response = self.successResultOf(d)
        self.assertEqual(response.code, 200)
        self.assertIsNone(self.successResultOf(response.json()))
        self.assertEqual(self.api.engine.queue.watcher_count(job_id), 0)
        held.release()

    def test_disconnect(self):
        """A client that leaves takes its watcher with it."""
        held = self.hold("g1")
        job_id = self.tag("g1", "x")
        body = dict(WAIT_BODY, previous_job_info=["waiting"])
        d = self.api.start("GET", "/2/jobs/%d/wait" % job_id, body)
        self.assertEqual(self.api.engine.queue.watcher_count(job_id), 1)
        d.cancel()
        self.api.client.flush()
        self.failureResultOf(d)
        self.assertEqual(self.api.engine.queue.watcher_count(job_id), 0)
        timeouts = [c for c in self.api.clock.getDelayedCalls()
                    if c.getTime() <= self.api.clock.seconds() + 10]
        self.assertEqual(timeouts, [])
        held.release()

    def test_bad_requests(self):
        """Wrong bodies are 400s, unknown jobs 404, and waiting needs write."""
        job_id = self.tag("g1", "x")
        path = "/2/jobs/%d/wait" % job_id
        for body in [{}, {"fields": "status"}, {"fields": ["status"], "previous_job_info": 1},
                     {"fields": ["status"], "previous_log_serial": "x"}, ["status"],
                     {"fields": ["nosuchfield"]}]:
            self.assertEqual(self.api.request("GET", path, body)[0], 400, body)
        self.assertEqual(self.api.request("GET", path)[0], 400)
        self.assertEqual(self.api.request("GET", "/2/jobs/999/wait", WAIT_BODY)[0], 404)
        self.assertEqual(self.api.request("GET", path, WAIT_BODY, user=READER)[0], 403)
        self.assertEqual(self.api.request("GET", path, WAIT_BODY, user=None)[0], 401)
