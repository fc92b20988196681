"""Tests for L{ganeti_rapi.engine.processor}, which runs the queued jobs."""

import os

from twisted.internet import defer, task
from twisted.trial.unittest import SynchronousTestCase

from ganeti_rapi.engine import errors, queue
from ganeti_rapi.engine.locks import LEVEL_CLUSTER, LEVEL_NODE, LockManager
from ganeti_rapi.engine.processor import AfterSave, JobProcessor, LogicalUnit
from ganeti_rapi.engine.queue import JobQueue

from tests.test_queue import HeldRunner, make_op, read_json, run_now


class Environment:
    """What the test units share: gates the test opens, and a call record."""

    def __init__(self):
        self.gates = {}
        self.calls = []

    def gate(self, name):
        if name not in self.gates:
            self.gates[name] = defer.Deferred()
        return self.gates[name]

    def open(self, name, result=None):
        self.gate(name).callback(result)


class QuickUnit(LogicalUnit):
    """Answers C{op["result"]} at once, locking nothing."""

    def execute(self):
        self.env.calls.append(("execute", self.env.job_id, self.op["OP_ID"]))
        return self.op.get("result", "done")


class SlowUnit(LogicalUnit):
    """Locks node C{op["name"]} and finishes when the test opens its gate."""

    def lock_requests(self):
        requests = [(LEVEL_NODE, self.op["name"], not self.op.get("shared"))]
        if self.op.get("cluster"):
            requests.append((LEVEL_CLUSTER, "BGL", False))
        return requests

    def execute(self):
        self.env.calls.append(("execute", self.env.job_id, self.op["name"]))
        return self.env.gate(self.op["name"])


class CoroutineUnit(SlowUnit):
    """Like L{SlowUnit}, written with coroutines."""

    async def check(self):
        self.env.calls.append(("check", self.env.job_id, self.op["name"]))

    async def execute(self):
        value = await self.env.gate(self.op["name"])
        return ["coroutine", value]


class PrereqFailUnit(LogicalUnit):
    """Fails its prerequisite check."""

    def check(self):
        raise errors.OpPrereqError("Group 'x' not known", errors.ECODE_NOENT)

    def execute(self):
        self.env.calls.append(("execute", self.env.job_id, "prereq"))


class CrashUnit(LogicalUnit):
    """Has a bug."""

    def lock_requests(self):
        return [(LEVEL_NODE, "n1", True)]

    def execute(self):
        return 1 / 0


class DryRunUnit(LogicalUnit):
    """Records which of its methods run."""

    def check(self):
        self.env.calls.append(("check", self.env.job_id, "dry"))
        if self.op.get("fail_check"):
            raise errors.OpPrereqError("bad", errors.ECODE_INVAL)

    def execute(self):
        self.env.calls.append(("execute", self.env.job_id, "dry"))
        return "executed"

    def dry_run_result(self):
        return "dry result"


class FeedbackUnit(LogicalUnit):
    """Logs a message, then waits for its gate."""

    def execute(self):
        self.env.feedback("step one")
        return self.env.gate("feedback")


class UnencodableUnit(LogicalUnit):
    """Returns a result that is not JSON."""

    def execute(self):
        return object()


class PrepareUnit(SlowUnit):
    """Learns the node it locks in C{prepare}, from the gate C{"prepare"}
    (an exception there fails the opcode)."""

    @defer.inlineCallbacks
    def prepare(self):
        self.env.calls.append(("prepare", self.env.job_id, None))
        node = yield self.env.gate("prepare")
        self.op = dict(self.op, name=node)

    def lock_requests(self):
        self.env.calls.append(("lock_requests", self.env.job_id, self.op["name"]))
        return SlowUnit.lock_requests(self)


UNITS = {
    "OP_PREPARE": PrepareUnit,
    "OP_QUICK": QuickUnit,
    "OP_SLOW": SlowUnit,
    "OP_COROUTINE": CoroutineUnit,
    "OP_PREREQ_FAIL": PrereqFailUnit,
    "OP_CRASH": CrashUnit,
    "OP_DRY": DryRunUnit,
    "OP_FEEDBACK": FeedbackUnit,
    "OP_UNENCODABLE": UnencodableUnit,
}


def unit_factory(op, env):
    return UNITS[op["OP_ID"]](op, env)


def slow(name, **params):
    return make_op("OP_SLOW", name=name, **params)


class ProcessorTestCase(SynchronousTestCase):
    max_running = 20

    def setUp(self):
        self.directory = os.path.abspath(self.mktemp())
        self.clock = task.Clock()
        self.clock.advance(500)
        self.env = Environment()
        self.open_queue()
        self.processor.start()

    def open_queue(self, run_in_thread=run_now):
        self.queue = JobQueue(self.directory, self.clock, run_in_thread=run_in_thread)
        self.queue.open()
        self.locks = LockManager()
        self.processor = JobProcessor(
            self.queue,
            self.locks,
            unit_factory,
            self.env,
            self.clock,
            max_running=self.max_running,
        )

    def submit(self, *ops):
        return self.successResultOf(self.processor.submit(list(ops)))

    def job(self, job_id):
        return self.queue.get_live(job_id)

    def status(self, job_id):
        return self.job(job_id).status

    def cancel(self, job_id):
        return self.successResultOf(self.processor.cancel(job_id))

    def executed(self):
        return [call for call in self.env.calls if call[0] == "execute"]


class RunTests(ProcessorTestCase):
    """Running jobs and their opcodes."""

    def test_quick_job(self):
        """A job runs to success with its results and timestamps recorded."""
        job_id = self.submit(make_op("OP_QUICK", result=[1, 2]), make_op("OP_QUICK"))
        job = self.job(job_id)
        self.assertEqual(job.status, queue.JOB_STATUS_SUCCESS)
        self.assertEqual(job.opresult, [[1, 2], "done"])
        self.assertEqual(job.start_ts, [500, 0])
        self.assertEqual(job.end_ts, [500, 0])
        for name in ("opstart", "opexec", "opend"):
            self.assertEqual(job.field(name), [[500, 0], [500, 0]])
        stored = read_json(self.queue.job_path(job_id))
        self.assertEqual(stored["opstatus"], ["success", "success"])
        self.assertEqual(stored["end_ts"], [500, 0])
        self.assertEqual(self.processor.running_ids, [])

    def test_opcode_timestamps(self):
        """Waiting, running and end times are taken when each step happens."""
        job_id = self.submit(slow("n1"))
        self.clock.advance(2)
        self.env.open("n1")
        job = self.job(job_id)
        self.assertEqual(job.opstart, [[500, 0]])
        self.assertEqual(job.opexec, [[500, 0]])
        self.assertEqual(job.opend, [[502, 0]])
        self.assertEqual(job.end_ts, [502, 0])

    def test_different_names_run_concurrently(self):
        """Jobs locking different nodes run at the same time."""
        first = self.submit(slow("n1"))
        second = self.submit(slow("n2"))
        self.assertEqual(self.status(first), queue.JOB_STATUS_RUNNING)
        self.assertEqual(self.status(second), queue.JOB_STATUS_RUNNING)
        self.assertEqual(self.processor.running_ids, [first, second])
        self.env.open("n2", "two")
        self.env.open("n1", "one")
        self.assertEqual(self.job(first).opresult, ["one"])
        self.assertEqual(self.job(second).opresult, ["two"])
        self.assertEqual(self.locks.snapshot(), [])

    def test_same_name_serializes(self):
        """A job needing a lock held by another job waits for it."""
        first = self.submit(slow("n1"))
        second = self.submit(slow("n1"))
        self.assertEqual(self.status(first), queue.JOB_STATUS_RUNNING)
        self.assertEqual(self.status(second), queue.JOB_STATUS_WAITING)
        self.assertEqual(
            read_json(self.queue.job_path(second))["opstatus"], ["waiting"]
        )
        self.assertEqual(self.executed(), [("execute", first, "n1")])
        self.env.gates.pop("n1").callback("first")
        self.assertEqual(self.status(first), queue.JOB_STATUS_SUCCESS)
        self.assertEqual(self.status(second), queue.JOB_STATUS_RUNNING)
        self.env.open("n1", "second")
        self.assertEqual(self.job(second).opresult, ["second"])

    def test_shared_locks_run_together(self):
        """Jobs sharing a lock run at the same time."""
        first = self.submit(slow("n1", shared=True))
        second = self.submit(slow("n1", shared=True))
        self.assertEqual(self.status(first), queue.JOB_STATUS_RUNNING)
        self.assertEqual(self.status(second), queue.JOB_STATUS_RUNNING)
        self.env.open("n1")

    def test_opcodes_run_in_order(self):
        """The opcodes of a job run one after the other."""
        job_id = self.submit(slow("a"), slow("b"))
        self.assertEqual(self.job(job_id).opstatus, ["running", "queued"])
        self.env.open("a")
        self.assertEqual(self.job(job_id).opstatus, ["success", "running"])
        self.env.open("b")
        self.assertEqual(self.executed(), [("execute", 1, "a"), ("execute", 1, "b")])

    def test_locks_held_only_while_opcode_runs(self):
        """An opcode's locks are released when it finishes."""
        self.submit(slow("a"), slow("b"))
        self.assertEqual(self.locks.holders(LEVEL_NODE, "a"), [1])
        self.env.open("a")
        self.assertFalse(self.locks.is_held(LEVEL_NODE, "a"))
        self.assertEqual(self.locks.holders(LEVEL_NODE, "b"), [1])

    def test_max_running(self):
        """Beyond max_running jobs stay queued until a slot frees up."""
        self.processor.max_running = 1
        first = self.submit(slow("n1"))
        second = self.submit(slow("n2"))
        self.assertEqual(self.status(second), queue.JOB_STATUS_QUEUED)
        self.assertEqual(self.processor.scheduled_ids, [second])
        self.env.open("n1")
        self.assertEqual(self.status(first), queue.JOB_STATUS_SUCCESS)
        self.assertEqual(self.status(second), queue.JOB_STATUS_RUNNING)
        self.env.open("n2")

    def test_priority_order(self):
        """Among queued jobs the higher priority starts first."""
        self.processor.max_running = 1
        self.submit(slow("n1"))
        low = self.submit(make_op("OP_QUICK", priority=10))
        normal = self.submit(make_op("OP_QUICK"))
        high = self.submit(make_op("OP_QUICK", priority=-10))
        self.env.open("n1")
        self.assertEqual(
            [call[1] for call in self.executed()[1:]], [high, normal, low]
        )

    def test_coroutine_unit(self):
        """Units may be written with coroutines."""
        job_id = self.submit(make_op("OP_COROUTINE", name="c"))
        self.assertEqual(self.env.calls, [("check", job_id, "c")])
        self.env.open("c", 5)
        self.assertEqual(self.job(job_id).opresult, [["coroutine", 5]])

    def test_many_synchronous_jobs(self):
        """Many jobs that finish at once do not exhaust the stack."""
        # Skip the disk writes: this test is about the scheduler only.
        self.open_queue(run_in_thread=lambda f, *args: defer.succeed(None))
        self.processor.max_running = 1
        self.processor.start()
        self.submit(slow("n1"))
        for _ in range(300):
            self.submit(make_op("OP_QUICK"))
        self.env.open("n1")
        self.assertEqual(len(self.executed()), 301)
        self.assertEqual(self.processor.running_ids, [])

    def test_depends_ignored(self):
        """Opcodes with dependencies run (dependencies are not enforced yet)."""
        job_id = self.submit(make_op("OP_QUICK", depends=[[-1, ["success"]]]))
        self.assertEqual(self.status(job_id), queue.JOB_STATUS_SUCCESS)

    def test_environment_reachable(self):
        """Units see the processor's environment through env."""
        seen = []

        class Probe(LogicalUnit):
            def execute(self):
                seen.append((self.env.environment, self.env.gates, self.env.op_index))

        UNITS["OP_PROBE"] = Probe
        self.addCleanup(UNITS.pop, "OP_PROBE")
        self.submit(make_op("OP_QUICK"), make_op("OP_PROBE"))
        self.assertEqual(seen, [(self.env, self.env.gates, 1)])


class ErrorTests(ProcessorTestCase):
    """Opcodes that fail."""

    def test_error_marks_the_rest(self):
        """A failed opcode fails the job; the later opcodes fail as preceded."""
        job_id = self.submit(
            make_op("OP_PREREQ_FAIL"), make_op("OP_QUICK"), make_op("OP_QUICK")
        )
        job = self.job(job_id)
        self.assertEqual(job.status, queue.JOB_STATUS_ERROR)
        self.assertEqual(job.opstatus, ["error", "error", "error"])
        self.assertEqual(
            job.opresult,
            [
                ["OpPrereqError", ["Group 'x' not known", "unknown_entity"]],
                ["OpExecError", ["Preceding opcode failed"]],
                ["OpExecError", ["Preceding opcode failed"]],
            ],
        )
        self.assertEqual(self.executed(), [])
        self.assertIsNotNone(job.end_ts)
        self.assertEqual(read_json(self.queue.job_path(job_id))["opstatus"][2], "error")

    def test_later_opcode_fails(self):
        """Opcodes before the failed one keep their success."""
        job_id = self.submit(
            make_op("OP_QUICK"), make_op("OP_PREREQ_FAIL"), make_op("OP_QUICK")
        )
        self.assertEqual(self.job(job_id).opstatus, ["success", "error", "error"])
        self.assertEqual(self.job(job_id).opresult[0], "done")

    def test_plain_exception_is_op_exec_error(self):
        """A bug in a unit is logged and fails its opcode as OpExecError."""
        job_id = self.submit(make_op("OP_CRASH"))
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        job = self.job(job_id)
        self.assertEqual(job.opstatus, ["error"])
        self.assertEqual(job.opresult, [["OpExecError", ["division by zero"]]])
        self.assertFalse(self.locks.is_held(LEVEL_NODE, "n1"))

    def test_failed_deferred(self):
        """A unit whose Deferred fails with an engine error fails its opcode."""
        job_id = self.submit(slow("n1"))
        self.env.gate("n1").errback(errors.OpExecError("disk gone"))
        self.assertEqual(self.job(job_id).opresult, [["OpExecError", ["disk gone"]]])
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_unknown_opcode(self):
        """An opcode without a unit fails as a wrong-input prerequisite error."""
        job_id = self.submit(make_op("OP_NOPE"))
        self.assertEqual(
            self.job(job_id).opresult,
            [["OpPrereqError", ["Opcode OP_NOPE is not supported", "wrong_input"]]],
        )

    def test_unencodable_result(self):
        """A result that cannot be stored fails the opcode."""
        job_id = self.submit(make_op("OP_UNENCODABLE"))
        job = self.job(job_id)
        self.assertEqual(job.opstatus, ["error"])
        self.assertEqual(job.opresult[0][0], "OpExecError")


class DryRunTests(ProcessorTestCase):
    """Dry runs."""

    def test_dry_run_checks_without_executing(self):
        """A dry run calls check and answers dry_run_result, never execute."""
        job_id = self.submit(make_op("OP_DRY", dry_run=True))
        self.assertEqual(self.env.calls, [("check", job_id, "dry")])
        self.assertEqual(self.job(job_id).opresult, ["dry result"])
        self.assertEqual(self.status(job_id), queue.JOB_STATUS_SUCCESS)

    def test_dry_run_failed_check(self):
        """A dry run whose check fails is an error."""
        job_id = self.submit(make_op("OP_DRY", dry_run=True, fail_check=True))
        self.assertEqual(
            self.job(job_id).opresult, [["OpPrereqError", ["bad", "wrong_input"]]]
        )

    def test_real_run_executes(self):
        """Without dry_run the unit executes after its check."""
        job_id = self.submit(make_op("OP_DRY"))
        self.assertEqual(
            self.env.calls, [("check", job_id, "dry"), ("execute", job_id, "dry")]
        )


class FeedbackTests(ProcessorTestCase):
    """Units logging into their job."""

    def test_feedback_in_oplog(self):
        """feedback() adds a message entry to the opcode's log and wakes watchers."""
        job_id = self.submit(make_op("OP_QUICK"), make_op("OP_FEEDBACK"))
        d = self.queue.wait_for_change(job_id, ["status"], ["running"], 1)
        self.assertNoResult(d)
        self.queue.append_log(self.job(job_id), 1, "more")
        self.assertEqual(self.successResultOf(d)["log_entries"][0][3], "more")
        self.assertEqual(
            self.job(job_id).oplog,
            [
                [],
                [
                    [1, [500, 0], "message", "step one"],
                    [2, [500, 0], "message", "more"],
                ],
            ],
        )
        self.env.open("feedback")
        self.assertEqual(
            read_json(self.queue.job_path(job_id))["oplog"][1][0][3], "step one"
        )

    def test_watcher_sees_progress(self):
        """A watcher sees each step of a job: waiting, running, success."""
        first = self.submit(slow("n1"))
        job_id = self.submit(slow("n1"))
        seen = [self.status(job_id)]
        d = self.queue.wait_for_change(job_id, ["status"], seen[-1:], None)
        self.env.gates.pop("n1").callback(None)
        seen.append(self.successResultOf(d)["job_info"][0])
        d = self.queue.wait_for_change(job_id, ["status"], seen[-1:], None)
        self.assertNoResult(d)
        self.env.open("n1")
        seen.append(self.successResultOf(d)["job_info"][0])
        self.assertEqual(seen, ["waiting", "running", "success"])
        self.assertEqual(self.status(first), "success")


class CancelTests(ProcessorTestCase):
    """Canceling jobs."""

    def test_cancel_queued(self):
        """A job still queued is canceled at once and never runs."""
        self.processor.max_running = 1
        self.submit(slow("n1"))
        job_id = self.submit(make_op("OP_QUICK"), make_op("OP_QUICK"))
        self.assertEqual(self.cancel(job_id), [True, "Job 2 canceled"])
        job = self.job(job_id)
        self.assertEqual(job.status, queue.JOB_STATUS_CANCELED)
        self.assertEqual(job.opresult, ["Job canceled by request"] * 2)
        self.assertIsNotNone(job.end_ts)
        stored = read_json(self.queue.job_path(job_id))
        self.assertEqual(stored["opstatus"], ["canceled"] * 2)
        self.env.open("n1")
        self.assertEqual(self.executed(), [("execute", 1, "n1")])
        self.assertEqual(self.processor.scheduled_ids, [])

    def test_cancel_queued_not_started_processor(self):
        """A queued job can be canceled while no processor runs."""
        self.processor.stop()
        job_id = self.submit(make_op("OP_QUICK"))
        self.assertEqual(self.cancel(job_id), [True, "Job 1 canceled"])
        self.processor.start()
        self.assertEqual(self.executed(), [])

    def test_cancel_waiting_for_locks(self):
        """A job waiting for locks is canceled: canceling briefly, then canceled."""
        first = self.submit(slow("n1"))
        job_id = self.submit(slow("n1", cluster=True), make_op("OP_QUICK"))
        self.assertEqual(self.status(job_id), queue.JOB_STATUS_WAITING)
        # The cluster level comes first, so the job already holds that lock.
        self.assertEqual(self.locks.holders(LEVEL_CLUSTER, "BGL"), [job_id])
        watched = self.queue.wait_for_change(job_id, ["status"], ["waiting"], None)
        self.assertEqual(self.cancel(job_id), [True, "Job 2 will be canceled"])
        self.assertEqual(self.successResultOf(watched)["job_info"], ["canceling"])
        job = self.job(job_id)
        self.assertEqual(job.status, queue.JOB_STATUS_CANCELED)
        self.assertEqual(job.opstatus, ["canceled", "canceled"])
        self.assertEqual(job.opresult, ["Job canceled by request"] * 2)
        self.assertIsNotNone(job.end_ts)
        self.assertFalse(self.locks.is_held(LEVEL_CLUSTER, "BGL"))
        self.assertEqual(
            [entry["pending"] for entry in self.locks.snapshot()], [[]]
        )
        self.assertEqual(self.processor.running_ids, [first])
        self.env.open("n1")
        self.assertEqual(self.executed(), [("execute", first, "n1")])
        self.assertEqual(self.locks.snapshot(), [])

    def test_cancel_during_waiting_write(self):
        """A cancel that arrives while "waiting" is being written still cancels."""
        runner = HeldRunner()
        self.open_queue(run_in_thread=runner)
        self.processor.start()
        d = self.processor.submit([slow("n1")])
        runner.run_one()  # the new job
        job_id = self.successResultOf(d)
        self.assertEqual(self.status(job_id), queue.JOB_STATUS_WAITING)
        self.assertEqual(len(runner.calls), 1)  # the "waiting" write
        answer = self.processor.cancel(job_id)
        runner.run_all()
        self.assertEqual(self.successResultOf(answer), [True, "Job 1 will be canceled"])
        self.assertEqual(self.status(job_id), queue.JOB_STATUS_CANCELED)
        self.assertEqual(self.executed(), [])
        stored = read_json(self.queue.job_path(job_id))
        self.assertEqual(stored["opstatus"], ["canceled"])

    def test_prepare_before_locks(self):
        """C{prepare} runs before the locks are asked for, with the job
        waiting and holding none; what it finds decides the locks."""
        job_id = self.submit(make_op("OP_PREPARE", name=None))
        self.assertEqual(self.status(job_id), queue.JOB_STATUS_WAITING)
        self.assertEqual(self.env.calls, [("prepare", job_id, None)])
        self.assertEqual(self.locks.snapshot(), [])
        self.env.open("prepare", "n7")
        self.assertEqual(self.env.calls[1:], [("lock_requests", job_id, "n7"),
                                              ("execute", job_id, "n7")])
        self.assertEqual(self.locks.holders(LEVEL_NODE, "n7"), [job_id])
        self.env.open("n7", "ok")
        self.assertEqual(self.job(job_id).opresult, ["ok"])

    def test_prepare_fails(self):
        """An error in C{prepare} fails the opcode before any lock is taken."""
        job_id = self.submit(make_op("OP_PREPARE", name=None))
        self.env.gate("prepare").errback(
            errors.OpPrereqError("cannot resolve", errors.ECODE_RESOLVER))
        job = self.job(job_id)
        self.assertEqual(job.status, queue.JOB_STATUS_ERROR)
        self.assertEqual(job.opresult,
                         [["OpPrereqError", ["cannot resolve", "resolver_error"]]])
        self.assertEqual([c[0] for c in self.env.calls], ["prepare"])

    def test_cancel_during_prepare(self):
        """A job canceled while it prepares is canceled once C{prepare} ends,
        without asking for its locks."""
        job_id = self.submit(make_op("OP_PREPARE", name=None))
        self.assertEqual(self.cancel(job_id), [True, "Job %d will be canceled" % job_id])
        self.env.open("prepare", "n1")
        self.assertEqual(self.status(job_id), queue.JOB_STATUS_CANCELED)
        self.assertEqual([c[0] for c in self.env.calls], ["prepare"])
        self.assertEqual(self.locks.snapshot(), [])

    def test_cancel_running_refused(self):
        """A running job is not canceled."""
        job_id = self.submit(slow("n1"))
        self.assertEqual(
            self.cancel(job_id), [False, "Job 1 is no longer waiting in the queue"]
        )
        self.env.open("n1")
        self.assertEqual(self.status(job_id), queue.JOB_STATUS_SUCCESS)

    def test_cancel_twice(self):
        """A second cancel of a canceled job is refused."""
        job_id = self.submit(make_op("OP_QUICK"))
        self.assertEqual(
            self.cancel(job_id), [False, "Job 1 is no longer waiting in the queue"]
        )

    def test_cancel_unknown(self):
        """Canceling an unknown job says it was not found."""
        self.assertEqual(self.cancel(42), [False, "Job 42 not found"])

    def test_cancel_archived(self):
        """An archived job is no longer waiting."""
        job_id = self.submit(make_op("OP_QUICK"))
        self.successResultOf(self.queue.archive_finished(0))
        self.assertEqual(
            self.cancel(job_id), [False, "Job 1 is no longer waiting in the queue"]
        )


class LifecycleTests(ProcessorTestCase):
    """Starting, stopping, and restarting after a crash."""

    def test_start_runs_jobs_already_queued(self):
        """start() runs the jobs the queue holds."""
        self.processor.stop()
        job_id = self.successResultOf(self.queue.submit([make_op("OP_QUICK")]))
        self.assertEqual(self.status(job_id), queue.JOB_STATUS_QUEUED)
        self.processor.start()
        self.assertEqual(self.status(job_id), queue.JOB_STATUS_SUCCESS)

    def test_stop_starts_nothing_new(self):
        """After stop() new jobs stay queued; running ones go on."""
        running = self.submit(slow("n1"))
        self.processor.stop()
        queued = self.submit(make_op("OP_QUICK"))
        self.env.open("n1")
        self.assertEqual(self.status(running), queue.JOB_STATUS_SUCCESS)
        self.assertEqual(self.status(queued), queue.JOB_STATUS_QUEUED)

    def test_service(self):
        """As a service, the processor runs jobs between start and stop."""
        self.processor.stop()
        job_id = self.successResultOf(self.queue.submit([make_op("OP_QUICK")]))
        self.processor.startService()
        self.assertTrue(self.processor.running)
        self.assertEqual(self.status(job_id), queue.JOB_STATUS_SUCCESS)
        self.processor.stopService()
        self.assertFalse(self.processor.running)
        later = self.submit(make_op("OP_QUICK"))
        self.assertEqual(self.status(later), queue.JOB_STATUS_QUEUED)

    def test_restart_after_crash(self):
        """After a restart the running job has failed and the queued one runs."""
        self.processor.max_running = 1
        running = self.submit(slow("n1"), make_op("OP_QUICK"))
        queued = self.submit(make_op("OP_QUICK"))
        self.assertEqual(self.status(queued), queue.JOB_STATUS_QUEUED)
        # The daemon dies here; a new one opens the same directory.
        self.clock.advance(30)
        self.open_queue()
        job = self.job(running)
        self.assertEqual(job.opstatus, ["error", "error"])
        self.assertEqual(job.opresult[0], queue.INTERRUPTED_RESULT)
        self.assertEqual(job.end_ts, [530, 0])
        self.processor.start()
        self.assertEqual(self.status(queued), queue.JOB_STATUS_SUCCESS)

    def test_resume_half_done_job(self):
        """A queued job whose first opcodes succeeded runs only the rest."""
        self.processor.stop()
        job_id = self.successResultOf(
            self.queue.submit([make_op("OP_QUICK", result="a"), make_op("OP_QUICK")])
        )
        job = self.job(job_id)
        job.opstatus[0] = queue.JOB_STATUS_SUCCESS
        job.opresult[0] = "earlier"
        self.processor.start()
        self.assertEqual(job.opresult, ["earlier", "done"])
        self.assertEqual(len(self.executed()), 1)

    def test_id_returned_after_job_durable(self):
        """processor.submit fires only once the job is written."""
        runner = HeldRunner()
        self.open_queue(run_in_thread=runner)
        self.processor.start()
        d = self.processor.submit([make_op("OP_QUICK")])
        self.assertNoResult(d)
        runner.run_one()
        self.assertEqual(self.successResultOf(d), 1)
        runner.run_all()
        self.assertEqual(self.status(1), queue.JOB_STATUS_SUCCESS)


class SavingUnit(LogicalUnit):
    """Locks node C{op["name"]}, then ends with an L{AfterSave} whose save
    is the test's gate C{"save"}."""

    def lock_requests(self):
        return [(LEVEL_NODE, self.op["name"], True)]

    def execute(self):
        self.env.calls.append(("execute", self.env.job_id, "saving"))
        return AfterSave(self.env.gate("save"), "saved")


class DurabilityTests(ProcessorTestCase):
    """What is on disk before an opcode runs, and when locks are let go."""

    def setUp(self):
        ProcessorTestCase.setUp(self)
        UNITS["OP_SAVING"] = SavingUnit
        self.addCleanup(UNITS.pop, "OP_SAVING")

    def held(self):
        runner = HeldRunner()
        self.open_queue(run_in_thread=runner)
        self.processor.start()
        return runner

    def test_waiting_on_disk_before_execute(self):
        """An opcode runs only once its job is on disk as "waiting", never
        while the disk still says "queued" (a restart would run it again)."""
        runner = self.held()
        d = self.processor.submit([slow("n1")])
        runner.run_one()  # the new job
        job_id = self.successResultOf(d)
        self.assertEqual(self.executed(), [])
        self.assertEqual(read_json(self.queue.job_path(job_id))["opstatus"], ["queued"])
        runner.run_one()  # "waiting"
        self.assertEqual(self.executed(), [("execute", job_id, "n1")])
        self.assertEqual(read_json(self.queue.job_path(job_id))["opstatus"], ["waiting"])

    def test_running_not_awaited(self):
        """The opcode does not wait for its "running" state to reach the disk;
        watchers see it at once, and the disk gets it too."""
        runner = self.held()
        d = self.processor.submit([slow("n1")])
        runner.run_one()
        job_id = self.successResultOf(d)
        runner.run_one()
        self.assertEqual(self.status(job_id), queue.JOB_STATUS_RUNNING)
        self.assertEqual(len(runner.calls), 1)  # the "running" write, pending
        self.assertEqual(self.executed(), [("execute", job_id, "n1")])
        runner.run_all()
        self.assertEqual(read_json(self.queue.job_path(job_id))["opstatus"], ["running"])
        self.env.open("n1")
        runner.run_all()
        self.assertEqual(read_json(self.queue.job_path(job_id))["opstatus"], ["success"])

    def test_restart_with_running_not_on_disk(self):
        """A daemon stopped while an opcode runs whose "running" state never
        reached the disk: at restart the job ends in error, it does not run
        again."""
        runner = self.held()
        d = self.processor.submit([slow("n1")])
        runner.run_one()
        job_id = self.successResultOf(d)
        runner.run_one()
        self.assertEqual(len(self.executed()), 1)
        # The daemon dies with the "running" write still pending.
        self.open_queue()
        job = self.job(job_id)
        self.assertEqual(job.opstatus, ["error"])
        self.assertEqual(job.opresult[0], queue.INTERRUPTED_RESULT)
        self.processor.start()
        self.assertEqual(len(self.executed()), 1)

    def test_after_save_releases_locks_first(self):
        """A unit answering AfterSave lets go of its locks at once; its job
        succeeds only when the save is on disk."""
        first = self.submit(make_op("OP_SAVING", name="n1"))
        second = self.submit(slow("n1"))
        self.assertEqual(self.locks.holders(LEVEL_NODE, "n1"), [second])
        self.assertEqual(self.status(second), queue.JOB_STATUS_RUNNING)
        self.assertEqual(self.status(first), queue.JOB_STATUS_RUNNING)
        self.env.open("save")
        self.assertEqual(self.status(first), queue.JOB_STATUS_SUCCESS)
        self.assertEqual(self.job(first).opresult, ["saved"])
        self.env.open("n1")
        self.assertEqual(self.status(second), queue.JOB_STATUS_SUCCESS)

    def test_after_save_failure(self):
        """A save that fails fails the opcode, after its locks were released."""
        job_id = self.submit(make_op("OP_SAVING", name="n1"))
        self.assertFalse(self.locks.is_held(LEVEL_NODE, "n1"))
        self.env.gate("save").errback(errors.ConfigurationError("disk full"))
        job = self.job(job_id)
        self.assertEqual(job.status, queue.JOB_STATUS_ERROR)
        self.assertEqual(job.opresult[0][0], "ConfigurationError")
