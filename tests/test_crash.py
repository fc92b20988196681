"""A real daemon killed with SIGKILL in the middle of jobs loses nothing."""

import os

from twisted.internet import defer, reactor, task
from twisted.trial.unittest import TestCase

from tests.helpers import (
    WRITER,
    basic_auth,
    daemon_pem,
    https_client,
    short_socket_path,
    start_twistd,
    write_users,
)

FINAL = ("success", "error", "canceled")
JOBS = 100


class CrashTests(TestCase):
    timeout = 180

    @defer.inlineCallbacks
    def start(self):
        daemon = yield start_twistd(
            self, "ganeti-rapi",
            ["--data-dir", self.data_dir, "-p", "0", "--node-port", "0", "-b", "127.0.0.1",
             "--no-access-log", "--control-socket", self.control_socket],
        )
        return daemon

    @defer.inlineCallbacks
    def wait_final(self, client, url, job_id, seconds=60):
        for _ in range(int(seconds * 10)):
            response = yield client.get("%s/2/jobs/%d" % (url, job_id))
            self.assertEqual(response.code, 200)
            job = yield response.json()
            if job["status"] in FINAL:
                return job
            yield task.deferLater(reactor, 0.1, lambda: None)
        self.fail("job %d did not finish: %r" % (job_id, job))

    @defer.inlineCallbacks
    def test_sigkill_during_jobs(self):
        """Every accepted job survives a SIGKILL and ends; the config is intact."""
        self.data_dir = os.path.abspath(self.mktemp())
        self.control_socket = short_socket_path(self)
        write_users(self.data_dir)
        daemon = yield self.start()
        client = https_client(daemon_pem(self.data_dir))
        url = "https://localhost:%d" % daemon.port
        headers = {b"authorization": basic_auth(*WRITER)}
        # Jobs on one group queue up behind each other's lock.  The daemon is
        # killed once half of the submissions were answered, so it dies with
        # submissions in flight and accepted jobs unfinished.
        job_ids = []
        half = defer.Deferred()

        def answered(response):
            if response.code == 200:
                d = response.json()
                d.addCallback(accepted)
                return d

        def accepted(job_id):
            job_ids.append(job_id)
            if len(job_ids) == JOBS // 2 and not half.called:
                half.callback(None)

        submissions = []
        for i in range(JOBS):
            d = client.put("%s/2/groups/default/tags?tag=t%d" % (url, i), headers=headers)
            d.addCallback(answered)
            d.addErrback(lambda failure: None)  # in flight when the daemon died
            submissions.append(d)
        yield half
        yield daemon.kill()
        yield defer.gatherResults(submissions)
        self.assertGreaterEqual(len(job_ids), JOBS // 2)
        for job_id in job_ids:
            # Accepted means on disk, whatever happened afterwards.
            self.assertTrue(
                os.path.exists(os.path.join(self.data_dir, "queue", "job-%d.json" % job_id))
            )

        daemon = yield self.start()
        url = "https://localhost:%d" % daemon.port
        client = https_client(daemon_pem(self.data_dir))
        jobs = []
        for job_id in job_ids:
            jobs.append((yield self.wait_final(client, url, job_id)))
        statuses = {job["status"] for job in jobs}
        self.assertTrue(statuses <= {"success", "error"}, statuses)
        for job in jobs:
            if job["status"] == "error":
                self.assertIn("daemon stopped", job["opresult"][0][1][0])
        response = yield client.get(url + "/2/groups/default/tags")
        tags = set((yield response.json()))
        succeeded = {job["ops"][0]["tags"][0] for job in jobs if job["status"] == "success"}
        self.assertTrue(succeeded <= tags, (succeeded, tags))
        self.assertGreater(len(succeeded), 0)
        self.assertEqual(len(jobs), len(job_ids))
        # A new job after the restart gets a new id and runs.
        response = yield client.put(url + "/2/tags?tag=after", headers=headers)
        new_id = yield response.json()
        self.assertGreater(new_id, max(job_ids))
        self.assertEqual((yield self.wait_final(client, url, new_id))["status"], "success")
