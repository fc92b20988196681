"""Tests for L{ganeti_rapi.engine.queue}, the durable job queue."""

import os

from twisted.internet import defer, task
from twisted.trial.unittest import SynchronousTestCase

from ganeti_rapi import jsonutil
from ganeti_rapi.engine import errors, queue
from ganeti_rapi.engine.queue import (
    JOB_STATUS_CANCELED,
    JOB_STATUS_CANCELING,
    JOB_STATUS_ERROR,
    JOB_STATUS_QUEUED,
    JOB_STATUS_RUNNING,
    JOB_STATUS_SUCCESS,
    JOB_STATUS_WAITING,
    ArchiverService,
    Job,
    JobQueue,
)

START = 1000000.5


def run_now(f, *args):
    """A C{run_in_thread} that runs C{f} at once, in the calling thread."""
    return defer.maybeDeferred(f, *args)


class HeldRunner:
    """A C{run_in_thread} that keeps every call until the test lets it run."""

    def __init__(self):
        self.calls = []

    def __call__(self, f, *args):
        d = defer.Deferred()
        self.calls.append((f, args, d))
        return d

    def run_one(self):
        f, args, d = self.calls.pop(0)
        try:
            result = f(*args)
        except Exception:
            d.errback()
        else:
            d.callback(result)

    def run_all(self):
        while self.calls:
            self.run_one()


def make_op(op_id="OP_TEST_DELAY", **params):
    op = {
        "OP_ID": op_id,
        "dry_run": False,
        "priority": 0,
        "depends": None,
        "comment": None,
        "debug_level": 0,
        "reason": [],
    }
    op.update(params)
    return op


def read_json(path):
    with open(path, "rb") as f:
        return jsonutil.loads(f.read())


class QueueTestCase(SynchronousTestCase):
    def setUp(self):
        self.directory = os.path.abspath(self.mktemp())
        self.clock = task.Clock()
        self.clock.advance(START)
        self.queue = self.make_queue()

    def make_queue(self, run_in_thread=run_now, **kwargs):
        jq = JobQueue(self.directory, self.clock, run_in_thread=run_in_thread, **kwargs)
        jq.open()
        return jq

    def submit(self, *ops, jq=None):
        jq = jq or self.queue
        return self.successResultOf(jq.submit(list(ops) or [make_op()]))

    def job(self, job_id, jq=None):
        return (jq or self.queue).get_live(job_id)


class SubmitTests(QueueTestCase):
    """Submitting jobs."""

    def test_job_on_disk_when_id_fires(self):
        """When the id is returned the job file holds the queued job."""
        job_id = self.submit(make_op("OP_TAGS_SET", tags=["a"]))
        self.assertEqual(job_id, 1)
        data = read_json(self.queue.job_path(1))
        self.assertEqual(data["id"], 1)
        self.assertEqual(data["ops"][0]["tags"], ["a"])
        self.assertEqual(data["opstatus"], [JOB_STATUS_QUEUED])
        self.assertEqual(data["received_ts"], [1000000, 500000])
        self.assertEqual(read_json(self.queue.serial_path), 1)

    def test_id_not_returned_before_write(self):
        """The id does not fire while the write is still going on."""
        runner = HeldRunner()
        jq = self.make_queue(run_in_thread=runner)
        d = jq.submit([make_op()])
        self.assertNoResult(d)
        self.assertFalse(os.path.exists(jq.job_path(1)))
        self.assertIsNone(jq.get_live(1))
        runner.run_all()
        self.assertEqual(self.successResultOf(d), 1)
        self.assertTrue(os.path.exists(jq.job_path(1)))
        self.assertEqual(jq.get_live(1).id, 1)

    def test_concurrent_submits_distinct_ids(self):
        """Submits in flight together get distinct ids, each durable when returned."""
        runner = HeldRunner()
        jq = self.make_queue(run_in_thread=runner)
        first = jq.submit([make_op()])
        second = jq.submit([make_op()])
        self.assertEqual(len(runner.calls), 2)
        runner.run_one()
        self.assertEqual(self.successResultOf(first), 1)
        self.assertNoResult(second)
        self.assertFalse(os.path.exists(jq.job_path(2)))
        runner.run_one()
        self.assertEqual(self.successResultOf(second), 2)
        self.assertTrue(os.path.exists(jq.job_path(2)))
        self.assertEqual(read_json(jq.serial_path), 2)

    def test_serial_never_goes_back(self):
        """Writes finishing out of order leave the highest id in the serial file."""
        runner = HeldRunner()
        jq = self.make_queue(run_in_thread=runner)
        first = jq.submit([make_op()])
        second = jq.submit([make_op()])
        second_call = runner.calls.pop(1)
        f, args, d = second_call
        d.callback(f(*args))
        runner.run_all()
        self.assertEqual(
            (self.successResultOf(first), self.successResultOf(second)), (1, 2)
        )
        self.assertEqual(read_json(jq.serial_path), 2)

    def test_ids_increase(self):
        """Job ids are allocated in increasing order."""
        self.assertEqual([self.submit() for _ in range(3)], [1, 2, 3])
        self.assertEqual(self.queue.list_ids(), [1, 2, 3])

    def test_ids_survive_reopen(self):
        """A reopened queue continues after the last id."""
        self.submit()
        self.submit()
        jq = self.make_queue()
        self.assertEqual(jq.list_ids(), [1, 2])
        self.assertEqual(self.submit(jq=jq), 3)

    def test_lost_serial_does_not_reuse_ids(self):
        """Without the serial file the ids continue after the highest job."""
        self.submit()
        self.submit()
        os.unlink(self.queue.serial_path)
        self.assertEqual(self.submit(jq=self.make_queue()), 3)

    def test_serial_ahead_of_jobs(self):
        """Ids continue after the serial file's value when it is the highest."""
        self.submit()
        with open(self.queue.serial_path, "w") as f:
            f.write("41\n")
        self.assertEqual(self.submit(jq=self.make_queue()), 42)

    def test_drained(self):
        """A drained queue refuses jobs until it is undrained."""
        self.queue.set_drained(True)
        self.assertTrue(self.queue.drained)
        self.failureResultOf(self.queue.submit([make_op()]), errors.JobQueueDrainError)
        self.queue.set_drained(False)
        self.assertEqual(self.submit(), 1)

    def test_full(self):
        """The queue refuses jobs beyond max_jobs live ones, in-flight ones included."""
        runner = HeldRunner()
        jq = self.make_queue(run_in_thread=runner, max_jobs=2)
        jq.submit([make_op()])
        jq.submit([make_op()])
        self.failureResultOf(jq.submit([make_op()]), errors.JobQueueFull)
        runner.run_all()
        self.failureResultOf(jq.submit([make_op()]), errors.JobQueueFull)

    def test_empty_job_refused(self):
        """A job without opcodes is refused as invalid."""
        self.failureResultOf(self.queue.submit([]), errors.OpcodeValidationError)

    def test_write_error_fails_submit(self):
        """A failed write fails the submit and leaves no live job."""

        def broken(f, *args):
            return defer.fail(OSError(28, "No space left on device"))

        jq = self.make_queue(run_in_thread=broken)
        self.failureResultOf(jq.submit([make_op()]), OSError)
        self.assertEqual(jq.list_ids(), [])
        self.assertEqual(jq.pending_jobs(), [])

    def test_pending_jobs(self):
        """pending_jobs lists the queued jobs by id."""
        for _ in range(3):
            self.submit()
        job = self.job(2)
        job.opstatus = [JOB_STATUS_SUCCESS]
        self.assertEqual([j.id for j in self.queue.pending_jobs()], [1, 3])


class JobModelTests(SynchronousTestCase):
    """The L{Job} model."""

    def test_status_derivation(self):
        """The job status follows the opcode statuses as Ganeti derives it."""
        table = [
            ([], JOB_STATUS_SUCCESS),
            (["queued", "queued"], JOB_STATUS_QUEUED),
            (["success", "queued"], JOB_STATUS_QUEUED),
            (["success", "success"], JOB_STATUS_SUCCESS),
            (["waiting", "queued"], JOB_STATUS_WAITING),
            (["success", "running", "queued"], JOB_STATUS_RUNNING),
            (["running", "waiting"], JOB_STATUS_WAITING),
            (["success", "error", "error"], JOB_STATUS_ERROR),
            (["running", "error"], JOB_STATUS_ERROR),
            (["canceling", "canceling"], JOB_STATUS_CANCELING),
            (["waiting", "canceled"], JOB_STATUS_CANCELED),
            (["canceled", "error"], JOB_STATUS_CANCELED),
            (["error", "canceled"], JOB_STATUS_ERROR),
        ]
        for opstatus, expected in table:
            self.assertEqual(
                (opstatus, queue.derive_status(opstatus)), (opstatus, expected)
            )

    def test_status_sets(self):
        """The pending and finalized sets are Ganeti's."""
        self.assertEqual(queue.PENDING, {"queued", "waiting", "canceling"})
        self.assertEqual(queue.FINALIZED, {"canceled", "success", "error"})

    def test_fields(self):
        """Every job field has its value; summary uses the summarize function."""
        ops = [make_op("OP_GROUP_ADD", group_name="g1", priority=-10), make_op()]
        job = Job(
            7,
            ops,
            received_ts=[1, 2],
            summarize=lambda op: op["OP_ID"] + "!",
        )
        self.assertEqual(job.field("id"), 7)
        self.assertEqual(job.field("status"), JOB_STATUS_QUEUED)
        self.assertEqual(job.field("ops"), ops)
        self.assertEqual(job.field("opstatus"), ["queued", "queued"])
        self.assertEqual(job.field("opresult"), [None, None])
        self.assertEqual(job.field("oplog"), [[], []])
        self.assertEqual(job.field("summary"), ["OP_GROUP_ADD!", "OP_TEST_DELAY!"])
        self.assertEqual(job.field("received_ts"), [1, 2])
        self.assertIsNone(job.field("start_ts"))
        self.assertIsNone(job.field("end_ts"))
        self.assertEqual(job.field("priority"), -10)
        self.assertEqual(job.field("oppriority"), [-10, 0])
        self.assertIs(job.field("archived"), False)
        for name in ("opstart", "opexec", "opend"):
            self.assertEqual(job.field(name), [None, None])
        self.assertEqual(sorted(queue.JOB_FIELDS), sorted(set(queue.JOB_FIELDS)))
        for name in queue.JOB_FIELDS:
            job.field(name)

    def test_unknown_field(self):
        """An unknown field raises KeyError."""
        self.assertRaises(KeyError, Job(1, [make_op()]).field, "nosuchfield")

    def test_default_summary(self):
        """The default summary is the OP_ID without its prefix."""
        job = Job(1, [make_op("OP_TAGS_SET")])
        self.assertEqual(job.field("summary"), ["TAGS_SET"])

    def test_field_values_are_copies(self):
        """Changing a returned field value does not change the job."""
        job = Job(1, [make_op()])
        job.field("opstatus").append("x")
        job.field("ops")[0]["OP_ID"] = "OP_OTHER"
        self.assertEqual(job.opstatus, ["queued"])
        self.assertEqual(job.ops[0]["OP_ID"], "OP_TEST_DELAY")

    def test_dict_round_trip(self):
        """from_dict restores what to_dict stored, log serial included."""
        job = Job(3, [make_op(), make_op()], received_ts=[5, 6])
        job.opstatus = ["success", "running"]
        job.opresult = [["a"], None]
        job.add_log(0, [7, 0], "one")
        job.add_log(1, [8, 0], "two")
        job.start_ts = [6, 0]
        copy = Job.from_dict(jsonutil.loads(jsonutil.dumps(job.to_dict())))
        self.assertEqual(copy.to_dict(), job.to_dict())
        self.assertEqual(copy.log_serial, 2)
        self.assertFalse(copy.archived)

    def test_from_dict_rejects_inconsistent(self):
        """A stored job whose per-opcode lists do not match its opcodes is refused."""
        data = Job(3, [make_op()]).to_dict()
        data["opstatus"] = []
        self.assertRaises(ValueError, Job.from_dict, data)
        data = Job(3, [make_op()]).to_dict()
        data["opstatus"] = ["bogus"]
        self.assertRaises(ValueError, Job.from_dict, data)
        data = Job(3, [make_op()]).to_dict()
        data["end_ts"] = "yesterday"
        self.assertRaises(ValueError, Job.from_dict, data)
        data = Job(3, [make_op()]).to_dict()
        data["oplog"] = [[[1, [2, 3], "message"]]]
        self.assertRaises(ValueError, Job.from_dict, data)
        data["oplog"] = [7]
        self.assertRaises(ValueError, Job.from_dict, data)
        self.assertRaises(ValueError, Job.from_dict, [])
        self.assertRaises(ValueError, Job.from_dict, {"id": 1})

    def test_timestamp(self):
        """Timestamps are split into whole seconds and microseconds."""
        self.assertEqual(queue.timestamp(12.25), [12, 250000])
        self.assertEqual(queue.timestamp(12.9999999), [13, 0])
        self.assertEqual(queue.timestamp_seconds([12, 250000]), 12.25)

    def test_mark_unfinished(self):
        """mark_unfinished changes only opcodes that have not finished."""
        job = Job(1, [make_op(), make_op(), make_op()])
        job.opstatus = ["success", "running", "queued"]
        job.mark_unfinished("error", ["OpExecError", ["x"]])
        self.assertEqual(job.opstatus, ["success", "error", "error"])
        failed = ["OpExecError", ["x"]]
        self.assertEqual(job.opresult, [None, failed, failed])


class LogTests(QueueTestCase):
    """Log entries of jobs."""

    def test_serials_across_opcodes(self):
        """Log serials count from 1 across the opcodes of a job."""
        job = self.job(self.submit(make_op(), make_op()))
        self.queue.append_log(job, 0, "first")
        self.clock.advance(1.25)
        self.queue.append_log(job, 1, "second")
        self.queue.append_log(job, 0, {"x": 1}, log_type="remote-import")
        self.assertEqual(
            job.field("oplog"),
            [
                [
                    [1, [1000000, 500000], "message", "first"],
                    [3, [1000001, 750000], "remote-import", {"x": 1}],
                ],
                [[2, [1000001, 750000], "message", "second"]],
            ],
        )

    def test_log_saved_and_reloaded(self):
        """append_log saves the job; a reopened queue continues the serials."""
        job = self.job(self.submit())
        self.successResultOf(self.queue.append_log(job, 0, "hello"))
        self.assertEqual(read_json(self.queue.job_path(1))["oplog"][0][0][3], "hello")
        jq = self.make_queue()
        job = self.job(1, jq)
        jq.append_log(job, 0, "again")
        self.assertEqual([e[0] for e in job.log_entries()], [1, 2])


class SaveTests(QueueTestCase):
    """Writing changed jobs."""

    def test_save_writes(self):
        """save writes the job's current state."""
        job = self.job(self.submit())
        job.opstatus[0] = JOB_STATUS_RUNNING
        self.successResultOf(self.queue.save(job))
        self.assertEqual(read_json(self.queue.job_path(1))["opstatus"], ["running"])

    def test_saves_during_write_coalesce(self):
        """Saves during a write give one more write, of the newest state."""
        runner = HeldRunner()
        jq = self.make_queue(run_in_thread=runner)
        d = jq.submit([make_op()])
        runner.run_all()
        job = jq.get_live(self.successResultOf(d))
        job.opstatus[0] = JOB_STATUS_WAITING
        first = jq.save(job)
        job.opstatus[0] = JOB_STATUS_RUNNING
        second = jq.save(job)
        job.opstatus[0] = JOB_STATUS_SUCCESS
        third = jq.save(job)
        self.assertEqual(len(runner.calls), 1)
        runner.run_one()
        self.successResultOf(first)
        self.assertNoResult(second)
        self.assertEqual(read_json(jq.job_path(1))["opstatus"], ["waiting"])
        self.assertEqual(len(runner.calls), 1)
        runner.run_one()
        self.successResultOf(second)
        self.successResultOf(third)
        self.assertEqual(read_json(jq.job_path(1))["opstatus"], ["success"])
        self.assertEqual(runner.calls, [])

    def test_write_error_logged(self):
        """A failed write is logged and the save still fires."""
        job = self.job(self.submit())
        self.queue._run_in_thread = lambda f, *a: defer.fail(OSError(5, "I/O error"))
        self.assertIsNone(self.successResultOf(self.queue.save(job)))
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
        self.queue._run_in_thread = run_now
        self.successResultOf(self.queue.save(job))


class WaitTests(QueueTestCase):
    """wait_for_change."""

    def setUp(self):
        QueueTestCase.setUp(self)
        self.job_id = self.submit(make_op(), make_op())
        self.job = self.job(self.job_id)

    def wait(self, fields=("status",), info=("queued",), serial=None):
        return self.queue.wait_for_change(
            self.job_id, list(fields), None if info is None else list(info), serial
        )

    def test_immediate_without_previous(self):
        """Without previous info the current values are returned at once."""
        change = self.successResultOf(self.wait(("id", "status"), None))
        self.assertEqual(change, {"job_info": [1, "queued"], "log_entries": []})

    def test_immediate_when_different(self):
        """Values differing from the previous ones are returned at once."""
        change = self.successResultOf(self.wait(info=("running",)))
        self.assertEqual(change["job_info"], ["queued"])

    def test_waits_until_change(self):
        """A watcher fires when a save changes one of its fields."""
        d = self.wait()
        self.assertNoResult(d)
        self.assertEqual(self.queue.watcher_count(self.job_id), 1)
        self.job.opstatus[0] = JOB_STATUS_WAITING
        self.queue.save(self.job)
        self.assertEqual(
            self.successResultOf(d), {"job_info": ["waiting"], "log_entries": []}
        )
        self.assertEqual(self.queue.watcher_count(), 0)

    def test_unrelated_change_keeps_waiting(self):
        """A save that changes none of the watched fields does not answer."""
        d = self.wait(("status",), ("queued",), 0)
        self.job.opresult[0] = "x"
        self.queue.save(self.job)
        self.assertNoResult(d)
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)

    def test_new_log_entries(self):
        """New log entries answer, and only those after the previous serial."""
        self.queue.append_log(self.job, 0, "old")
        d = self.wait(serial=1)
        self.assertNoResult(d)
        self.queue.append_log(self.job, 1, "new")
        change = self.successResultOf(d)
        self.assertEqual(change["job_info"], ["queued"])
        self.assertEqual(
            change["log_entries"], [[2, [1000000, 500000], "message", "new"]]
        )

    def test_all_log_entries_without_serial(self):
        """Without a previous serial every log entry is returned."""
        self.queue.append_log(self.job, 0, "one")
        self.queue.append_log(self.job, 1, "two")
        change = self.successResultOf(self.wait(serial=None))
        self.assertEqual([e[3] for e in change["log_entries"]], ["one", "two"])

    def test_finalized_answers_immediately(self):
        """A finished job answers at once even when nothing differs."""
        self.job.opstatus = [JOB_STATUS_SUCCESS, JOB_STATUS_SUCCESS]
        change = self.successResultOf(self.wait(info=("success",), serial=0))
        self.assertEqual(change, {"job_info": ["success"], "log_entries": []})

    def test_canceling_ends_wait(self):
        """A job turning canceling wakes its watchers."""
        self.job.opstatus = [JOB_STATUS_WAITING, JOB_STATUS_QUEUED]
        d = self.wait(info=("waiting",), serial=0)
        self.assertNoResult(d)
        self.job.mark_unfinished(JOB_STATUS_CANCELING, None)
        self.queue.save(self.job)
        self.assertEqual(self.successResultOf(d)["job_info"], ["canceling"])
        # And canceling itself is an answer, not a reason to wait.
        self.successResultOf(self.wait(info=("canceling",), serial=0))

    def test_unknown_job(self):
        """An unknown job answers None."""
        self.assertIsNone(
            self.successResultOf(self.queue.wait_for_change(99, ["status"], None, None))
        )

    def test_unknown_field(self):
        """An unknown field fails the wait with KeyError."""
        self.failureResultOf(self.wait(fields=("bogus",)), KeyError)

    def test_cancel_removes_watcher(self):
        """Cancelling a wait forgets its watcher."""
        d = self.wait()
        other = self.wait()
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)
        self.assertEqual(self.queue.watcher_count(self.job_id), 1)
        other.cancel()
        self.failureResultOf(other, defer.CancelledError)
        self.assertEqual(self.queue._watchers, {})

    def test_fan_out(self):
        """One save answers every watcher of the job."""
        waits = [self.wait() for _ in range(3)]
        self.job.opstatus[0] = JOB_STATUS_WAITING
        self.queue.save(self.job)
        for d in waits:
            self.assertEqual(self.successResultOf(d)["job_info"], ["waiting"])
        self.assertEqual(self.queue.watcher_count(), 0)

    def test_archived_job(self):
        """An archived job answers at once."""
        self.job.opstatus = [JOB_STATUS_SUCCESS, JOB_STATUS_SUCCESS]
        self.job.end_ts = self.queue.now()
        self.queue.save(self.job)
        self.assertEqual(self.successResultOf(self.queue.archive_finished(0)), 1)
        change = self.successResultOf(self.wait(("status", "archived"), None))
        self.assertEqual(change["job_info"], ["success", True])


class ArchiveTests(QueueTestCase):
    """Archiving finished jobs."""

    def finish(self, job_id, status=JOB_STATUS_SUCCESS, jq=None):
        jq = jq or self.queue
        job = jq.get_live(job_id)
        job.opstatus = [status] * len(job.ops)
        job.opresult = ["done"] * len(job.ops)
        job.end_ts = jq.now()
        self.successResultOf(jq.save(job))
        return job

    def test_archive_and_read_back(self):
        """An old finished job moves to the archive and stays readable."""
        job_id = self.submit()
        self.finish(job_id)
        live_path = self.queue.job_path(job_id)
        self.clock.advance(6 * 3600 + 1)
        self.assertEqual(self.successResultOf(self.queue.archive_finished()), 1)
        self.assertFalse(os.path.exists(live_path))
        self.assertEqual(
            self.queue.archive_path(job_id),
            os.path.join(self.directory, "archive", "0", "job-1.json"),
        )
        self.assertTrue(os.path.exists(self.queue.archive_path(job_id)))
        self.assertIsNone(self.queue.get_live(job_id))
        job = self.successResultOf(self.queue.get(job_id))
        self.assertTrue(job.archived)
        self.assertEqual(job.field("archived"), True)
        self.assertEqual(job.field("opresult"), ["done"])
        self.assertEqual(job.field("summary"), ["TEST_DELAY"])
        self.assertEqual(self.queue.list_ids(), [1])
        self.assertTrue(self.queue.exists(job_id))

    def test_young_and_unfinished_stay(self):
        """Jobs finished recently or not finished are not archived."""
        young = self.submit()
        self.finish(young)
        self.submit()  # still queued
        self.clock.advance(6 * 3600 - 1)
        self.assertEqual(self.successResultOf(self.queue.archive_finished()), 0)
        self.assertEqual(self.successResultOf(self.queue.archive_finished(0)), 1)
        self.assertEqual([j.id for j in self.queue.live_jobs()], [2])

    def test_archive_survives_reopen(self):
        """Archived jobs are known after a restart and their ids not reused."""
        self.finish(self.submit())
        self.successResultOf(self.queue.archive_finished(0))
        os.unlink(self.queue.serial_path)
        jq = self.make_queue()
        self.assertEqual(jq.list_ids(), [1])
        self.assertTrue(self.successResultOf(jq.get(1)).archived)
        self.assertEqual(self.submit(jq=jq), 2)

    def test_archive_directory_by_ten_thousands(self):
        """Archived jobs are grouped in directories of 10000 ids."""
        with open(self.queue.serial_path, "w") as f:
            f.write("12344\n")
        jq = self.make_queue()
        job_id = self.submit(jq=jq)
        self.finish(job_id, jq=jq)
        self.successResultOf(jq.archive_finished(0))
        path = os.path.join(self.directory, "archive", "1", "job-12345.json")
        self.assertTrue(os.path.exists(path))

    def test_get_many(self):
        """get_many returns live, archived and unknown jobs in order."""
        self.finish(self.submit())
        self.successResultOf(self.queue.archive_finished(0))
        self.submit()
        jobs = self.successResultOf(self.queue.get_many([2, 1, 7]))
        self.assertEqual(
            [job and (job.id, job.archived) for job in jobs],
            [(2, False), (1, True), None],
        )

    def test_unreadable_archive(self):
        """An archived job whose file is damaged fails to read with JobQueueError."""
        self.finish(self.submit())
        self.successResultOf(self.queue.archive_finished(0))
        with open(self.queue.archive_path(1), "w") as f:
            f.write("{")
        self.failureResultOf(self.queue.get(1), errors.JobQueueError)

    def test_interrupted_move_completed_at_open(self):
        """A job found both live and archived keeps only its archive copy."""
        self.finish(self.submit())
        live = self.queue.job_path(1)
        with open(live, "rb") as f:
            data = f.read()
        self.successResultOf(self.queue.archive_finished(0))
        with open(live, "wb") as f:
            f.write(data)
        jq = self.make_queue()
        self.assertFalse(os.path.exists(live))
        self.assertIsNone(jq.get_live(1))
        self.assertEqual(jq.list_ids(), [1])

    def test_archiver_service(self):
        """ArchiverService archives old jobs periodically until stopped."""
        self.finish(self.submit())
        archiver = ArchiverService(self.queue, self.clock, interval=600)
        archiver.startService()
        self.clock.advance(600)
        self.assertIsNotNone(self.queue.get_live(1))
        self.clock.advance(6 * 3600)
        self.assertIsNone(self.queue.get_live(1))
        archiver.stopService()
        self.assertEqual(self.clock.getDelayedCalls(), [])


class RecoveryTests(QueueTestCase):
    """Opening a queue left behind by a stopped daemon."""

    def set_status(self, job_id, *opstatus):
        job = self.job(job_id)
        job.opstatus = list(opstatus)
        job.start_ts = self.queue.now()
        self.successResultOf(self.queue.save(job))

    def test_running_waiting_queued(self):
        """Running and waiting jobs fail, canceling ones are canceled, queued stay."""
        for _ in range(4):
            self.submit(make_op(), make_op())
        self.set_status(1, JOB_STATUS_SUCCESS, JOB_STATUS_RUNNING)
        self.set_status(2, JOB_STATUS_WAITING, JOB_STATUS_QUEUED)
        self.set_status(4, JOB_STATUS_CANCELING, JOB_STATUS_CANCELING)
        self.clock.advance(10)
        jq = self.make_queue()
        running = jq.get_live(1)
        self.assertEqual(running.status, JOB_STATUS_ERROR)
        self.assertEqual(running.opstatus, ["success", "error"])
        self.assertEqual(running.opresult[1], queue.INTERRUPTED_RESULT)
        self.assertIn("daemon stopped", running.opresult[1][1][0])
        self.assertEqual(running.end_ts, [1000010, 500000])
        waiting = jq.get_live(2)
        self.assertEqual(waiting.opstatus, ["error", "error"])
        self.assertEqual(jq.get_live(3).status, JOB_STATUS_QUEUED)
        canceling = jq.get_live(4)
        self.assertEqual(canceling.opstatus, ["canceled", "canceled"])
        self.assertEqual(canceling.opresult, [queue.CANCELED_RESULT] * 2)
        self.assertEqual([job.id for job in jq.pending_jobs()], [3])
        # The outcome was written back.
        self.assertEqual(read_json(jq.job_path(1))["opstatus"], ["success", "error"])
        self.assertEqual(read_json(jq.job_path(3))["opstatus"], ["queued", "queued"])

    def test_files_from_previous_instance(self):
        """Job files written by hand in the stored format are loaded."""
        os.makedirs(self.directory, exist_ok=True)
        job = Job(17, [make_op()], received_ts=[1, 0])
        job.opstatus = [JOB_STATUS_RUNNING]
        job.start_ts = [2, 0]
        with open(os.path.join(self.directory, "job-17.json"), "wb") as f:
            f.write(jsonutil.dumps(job.to_dict()))
        jq = self.make_queue()
        self.assertEqual(jq.get_live(17).status, JOB_STATUS_ERROR)
        self.assertEqual(self.submit(jq=jq), 18)

    def test_finished_without_end_ts(self):
        """A finished job that lacks its end time gets one at open."""
        self.submit()
        self.set_status(1, JOB_STATUS_SUCCESS)
        jq = self.make_queue()
        self.assertEqual(jq.get_live(1).end_ts, [1000000, 500000])

    def test_corrupt_file_moved_aside(self):
        """An unreadable job file is renamed .corrupt and its id is not reused."""
        self.submit()
        path = os.path.join(self.directory, "job-5.json")
        with open(path, "w") as f:
            f.write("{not json")
        jq = self.make_queue()
        self.assertFalse(os.path.exists(path))
        with open(path + ".corrupt") as f:
            self.assertEqual(f.read(), "{not json")
        self.assertEqual(jq.list_ids(), [1])
        self.assertEqual(self.submit(jq=jq), 6)

    def test_corrupt_twice(self):
        """A second corrupt file of the same name does not overwrite the first."""
        path = os.path.join(self.directory, "job-5.json")
        for text in ("one", "two"):
            os.makedirs(self.directory, exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
            self.make_queue()
        self.assertTrue(os.path.exists(path + ".corrupt"))
        self.assertTrue(os.path.exists(path + ".corrupt.1"))

    def test_file_with_other_id(self):
        """A job file holding another id than its name says is set aside."""
        self.submit()
        os.rename(self.queue.job_path(1), os.path.join(self.directory, "job-3.json"))
        jq = self.make_queue()
        self.assertEqual(jq.list_ids(), [])
        aside = os.path.join(self.directory, "job-3.json.corrupt")
        self.assertTrue(os.path.exists(aside))

    def test_unreadable_serial(self):
        """A damaged serial file is ignored in favour of the jobs found."""
        self.submit()
        with open(self.queue.serial_path, "w") as f:
            f.write("garbage")
        self.assertEqual(self.submit(jq=self.make_queue()), 2)
