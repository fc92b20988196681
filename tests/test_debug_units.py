"""C{OP_TEST_DELAY}: a job that sleeps (L{ganeti_rapi.engine.units.debug})."""

from twisted.internet import task
from twisted.trial.unittest import SynchronousTestCase

from ganeti_rapi.engine import opcodes
from ganeti_rapi.engine.master import open_engine
from tests.helpers import sync_runner


class TestDelayTests(SynchronousTestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(1800000000)
        self.engine = open_engine(self.mktemp(), self.clock, run_in_thread=sync_runner)
        self.engine.processor.start()

    def submit(self, **params):
        op = opcodes.make_opcode("OP_TEST_DELAY", params)
        return self.engine.queue.get_live(
            self.successResultOf(self.engine.processor.submit([op]))
        )

    def test_sleeps(self):
        """The job runs for its duration, then succeeds with no result."""
        job = self.submit(duration=5)
        self.assertEqual(job.status, "running")
        self.clock.advance(4.9)
        self.assertEqual(job.status, "running")
        self.clock.advance(0.1)
        self.assertEqual(job.status, "success")
        self.assertEqual(job.opresult, [None])

    def test_repeat(self):
        """With repeat=N it sleeps N+1 times and logs each iteration."""
        job = self.submit(duration=1, repeat=2)
        self.clock.pump([1, 1])
        self.assertEqual(job.status, "running")
        self.clock.advance(1)
        self.assertEqual(job.status, "success")
        self.assertEqual(
            [entry[3] for entry in job.log_entries()],
            ["Test delay iteration 0/2", "Test delay iteration 1/2",
             "Test delay iteration 2/2"],
        )

    def test_on_nodes_refused(self):
        """Sleeping on nodes is not supported: the job fails with wrong_input."""
        job = self.submit(duration=1, on_nodes=["node1"])
        self.assertEqual(job.status, "error")
        self.assertEqual(job.opresult[0][0], "OpPrereqError")
        self.assertEqual(job.opresult[0][1][1], "wrong_input")

    def test_negative_duration_refused(self):
        """A negative duration fails the job."""
        job = self.submit(duration=-1)
        self.assertEqual(job.status, "error")
        self.assertEqual(job.opresult[0][0], "OpPrereqError")

    def test_no_locks(self):
        """The sleeping job holds no lock: a tag job on the cluster runs meanwhile."""
        delay = self.submit(duration=60)
        tags = opcodes.make_opcode(
            "OP_TAGS_SET", {}, {"kind": "cluster", "name": None, "tags": ["t"]}
        )
        job_id = self.successResultOf(self.engine.processor.submit([tags]))
        self.assertEqual(self.engine.queue.get_live(job_id).status, "success")
        self.assertEqual(delay.status, "running")
        self.clock.advance(60)
