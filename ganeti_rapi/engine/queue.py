# -*- test-case-name: tests.test_queue -*-
"""The durable job queue: jobs, their statuses and logs, archive, watchers.

Layout of the queue directory::

    serial                       the last job id handed out
    job-<id>.json                a live job (queued, running or finished)
    job-<id>.json.corrupt        a job file that could not be read at start
    archive/<id // 10000>/job-<id>.json
                                 an archived (finished, old) job

Every file is replaced atomically (L{ganeti_rapi.fileutil.atomic_write}),
always through the injected C{run_in_thread}, so the reactor thread never
waits for a disk; only L{JobQueue.open}, which runs before the reactor
does, touches files directly.

A job is on disk before its id is returned (L{JobQueue.submit}).  Every
later change is kept in memory first and written by L{JobQueue.save}, which
also wakes the watchers of that job (L{JobQueue.wait_for_change}).  Writes
of one job never overlap or overtake each other: a save during a write is
folded into one more write of the newest state.
"""

import copy
import os
import re
import threading

from twisted.application import service
from twisted.internet import defer, task
from twisted.logger import Logger

from ganeti_rapi import fileutil, jsonutil
from ganeti_rapi.engine import errors

JOB_STATUS_QUEUED = "queued"
JOB_STATUS_WAITING = "waiting"
JOB_STATUS_CANCELING = "canceling"
JOB_STATUS_RUNNING = "running"
JOB_STATUS_CANCELED = "canceled"
JOB_STATUS_SUCCESS = "success"
JOB_STATUS_ERROR = "error"

JOB_STATUSES = frozenset(
    [
        JOB_STATUS_QUEUED,
        JOB_STATUS_WAITING,
        JOB_STATUS_CANCELING,
        JOB_STATUS_RUNNING,
        JOB_STATUS_CANCELED,
        JOB_STATUS_SUCCESS,
        JOB_STATUS_ERROR,
    ]
)

#: Statuses of a job that has not finished and is not running.
PENDING = frozenset([JOB_STATUS_QUEUED, JOB_STATUS_WAITING, JOB_STATUS_CANCELING])

#: Statuses of a finished job.
FINALIZED = frozenset([JOB_STATUS_CANCELED, JOB_STATUS_SUCCESS, JOB_STATUS_ERROR])

#: Statuses for which a watcher keeps waiting (anything else is an answer).
_WAITABLE = frozenset([JOB_STATUS_QUEUED, JOB_STATUS_WAITING, JOB_STATUS_RUNNING])

#: The fields of L{Job.field}, for C{/2/jobs/[id]/wait} and job queries.
JOB_FIELDS = (
    "id",
    "status",
    "ops",
    "opstatus",
    "opresult",
    "oplog",
    "summary",
    "received_ts",
    "start_ts",
    "end_ts",
    "priority",
    "archived",
    "opstart",
    "opexec",
    "opend",
    "oppriority",
)

#: Log entry type of ordinary messages.
LOG_MESSAGE = "message"

#: Result of every opcode of a canceled job.
CANCELED_RESULT = "Job canceled by request"

#: Result of the opcodes after one that failed.
PRECEDING_FAILED_RESULT = ["OpExecError", ["Preceding opcode failed"]]

#: Result of the unfinished opcodes of a job interrupted by a restart.
INTERRUPTED_RESULT = [
    "OpExecError",
    [
        "Job was running when the daemon stopped; it was marked as failed"
        " at restart"
    ],
]

#: Archived jobs are spread over directories of this many ids.
ARCHIVE_DIRECTORY_SIZE = 10000

_JOB_FILE = re.compile(r"^job-(\d+)\.json$")
_CORRUPT_JOB_FILE = re.compile(r"^job-(\d+)\.json\.corrupt(?:\.\d+)?$")


def timestamp(seconds):
    """C{[seconds, microseconds]} for a time in seconds, as jobs store it."""
    micro = int(round(seconds * 1000000))
    return [micro // 1000000, micro % 1000000]


def timestamp_seconds(ts):
    """The inverse of L{timestamp}."""
    return ts[0] + ts[1] / 1000000.0


def _check_timestamp(ts):
    if ts is None:
        return
    if (
        not isinstance(ts, list)
        or len(ts) != 2
        or not all(isinstance(part, int) and not isinstance(part, bool) for part in ts)
    ):
        raise ValueError("bad timestamp %r" % (ts,))


def default_summarize(op):
    """An opcode's C{OP_ID} without the C{OP_} prefix."""
    op_id = op.get("OP_ID", "")
    return op_id[3:] if op_id.startswith("OP_") else op_id


def derive_status(opstatus):
    """The status of a job whose opcodes have the statuses C{opstatus}."""
    status = JOB_STATUS_QUEUED
    all_success = True
    for op_status in opstatus:
        if op_status == JOB_STATUS_SUCCESS:
            continue
        all_success = False
        if op_status in (JOB_STATUS_ERROR, JOB_STATUS_CANCELING, JOB_STATUS_CANCELED):
            return op_status
        if op_status in (JOB_STATUS_WAITING, JOB_STATUS_RUNNING):
            status = op_status
    if all_success:
        return JOB_STATUS_SUCCESS
    return status


def _defer_to_thread(f, *args):
    from twisted.internet import threads

    return threads.deferToThread(f, *args)


class Job:
    """One job: its opcodes and everything that happened to them.

    The per-opcode lists (C{opstatus}, C{opresult}, C{oplog}, C{opstart},
    C{opexec}, C{opend}) have one entry per opcode.  Timestamps are
    C{[seconds, microseconds]} or C{None}.  Log entries are
    C{[serial, timestamp, type, message]}; serials count from 1 across all
    opcodes of the job.
    """

    def __init__(self, job_id, ops, received_ts=None, summarize=None):
        self.id = int(job_id)
        self.ops = list(ops)
        count = len(self.ops)
        self.opstatus = [JOB_STATUS_QUEUED] * count
        self.opresult = [None] * count
        self.oplog = [[] for _ in range(count)]
        self.opstart = [None] * count
        self.opexec = [None] * count
        self.opend = [None] * count
        self.received_ts = received_ts
        self.start_ts = None
        self.end_ts = None
        self.archived = False
        self.log_serial = 0
        self.summarize = summarize or default_summarize

    def __repr__(self):
        return "<Job %d %s>" % (self.id, self.status)

    @property
    def status(self):
        """The job's status, derived from its opcodes' (facts §6.3)."""
        return derive_status(self.opstatus)

    @property
    def finalized(self):
        """Whether the job has finished (successfully or not)."""
        return self.status in FINALIZED

    @property
    def priority(self):
        """The job's priority: that of its first opcode."""
        if not self.ops:
            return 0
        return self.ops[0].get("priority", 0) or 0

    def add_log(self, op_index, ts, message, log_type=LOG_MESSAGE):
        """Append a log entry to opcode C{op_index}; returns the entry."""
        self.log_serial += 1
        entry = [self.log_serial, list(ts), log_type, message]
        self.oplog[op_index].append(entry)
        return entry

    def log_entries(self, after_serial=None):
        """Log entries of all opcodes with a serial above C{after_serial}."""
        entries = [entry for log in self.oplog for entry in log]
        if after_serial is not None:
            entries = [entry for entry in entries if entry[0] > after_serial]
        entries.sort(key=lambda entry: entry[0])
        return copy.deepcopy(entries)

    def mark_unfinished(self, status, result):
        """Give every opcode that has not finished C{status} and C{result}."""
        for index, op_status in enumerate(self.opstatus):
            if op_status not in FINALIZED:
                self.opstatus[index] = status
                self.opresult[index] = copy.deepcopy(result)

    def field(self, name):
        """The value of the job query field C{name} (a copy).

        @raise KeyError: for a field that does not exist.
        """
        if name == "id":
            return self.id
        if name == "status":
            return self.status
        if name == "summary":
            return [self.summarize(op) for op in self.ops]
        if name == "priority":
            return self.priority
        if name == "archived":
            return self.archived
        if name == "oppriority":
            return [op.get("priority", 0) for op in self.ops]
        if name in _COPIED_FIELDS:
            return copy.deepcopy(getattr(self, name))
        raise KeyError(name)

    def to_dict(self):
        """The job as stored on disk."""
        return {
            "id": self.id,
            "ops": self.ops,
            "opstatus": self.opstatus,
            "opresult": self.opresult,
            "oplog": self.oplog,
            "opstart": self.opstart,
            "opexec": self.opexec,
            "opend": self.opend,
            "received_ts": self.received_ts,
            "start_ts": self.start_ts,
            "end_ts": self.end_ts,
        }

    @classmethod
    def from_dict(cls, data, archived=False, summarize=None):
        """The job that L{to_dict} stored.

        @raise ValueError: if C{data} is not a job.
        """
        if not isinstance(data, dict):
            raise ValueError("a job is a JSON object")
        try:
            ops = data["ops"]
            if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
                raise ValueError("ops must be a list of objects")
            job = cls(data["id"], ops, data.get("received_ts"), summarize)
            for name in ("opstatus", "opresult", "oplog", "opstart", "opexec", "opend"):
                value = data[name]
                if not isinstance(value, list) or len(value) != len(ops):
                    raise ValueError("%s must have one entry per opcode" % name)
                setattr(job, name, value)
            job.start_ts = data.get("start_ts")
            job.end_ts = data.get("end_ts")
            for ts in [job.received_ts, job.start_ts, job.end_ts]:
                _check_timestamp(ts)
            for ts in job.opstart + job.opexec + job.opend:
                _check_timestamp(ts)
            for op_status in job.opstatus:
                if op_status not in JOB_STATUSES:
                    raise ValueError("unknown opcode status %r" % (op_status,))
            serials = []
            for log in job.oplog:
                for entry in log:
                    if not isinstance(entry, list) or len(entry) != 4:
                        raise ValueError("bad log entry %r" % (entry,))
                    serials.append(int(entry[0]))
                    _check_timestamp(entry[1])
        except (KeyError, TypeError, IndexError) as e:
            raise ValueError("not a job: %r" % (e,)) from None
        job.log_serial = max(serials, default=0)
        job.archived = archived
        return job


_COPIED_FIELDS = frozenset(
    [
        "ops",
        "opstatus",
        "opresult",
        "oplog",
        "received_ts",
        "start_ts",
        "end_ts",
        "opstart",
        "opexec",
        "opend",
    ]
)


def job_change(job, fields, previous_job_info, previous_log_serial):
    """What L{JobQueue.wait_for_change} answers for C{job} now, or C{None}.

    @return: C{{"job_info": [...], "log_entries": [...]}} if the job
        finished, a value of C{fields} differs from C{previous_job_info},
        or there are log entries after C{previous_log_serial}; C{None} if
        nothing changed.
    """
    info = [job.field(name) for name in fields]
    entries = job.log_entries(previous_log_serial)
    if job.status not in _WAITABLE or info != previous_job_info or entries:
        return {"job_info": info, "log_entries": entries}
    return None


class _Watcher:
    __slots__ = ("fields", "previous_job_info", "previous_log_serial", "deferred")

    def __init__(self, fields, previous_job_info, previous_log_serial):
        self.fields = fields
        self.previous_job_info = previous_job_info
        self.previous_log_serial = previous_log_serial
        self.deferred = None


class _Writer:
    """The write in progress for one job, and the saves waiting for the next."""

    __slots__ = ("busy", "waiting")

    def __init__(self):
        self.busy = False
        self.waiting = []


class JobQueue:
    """The durable job queue of the master; see the module docstring.

    @param directory: the queue directory (created by L{open}).
    @param clock: L{IReactorTime} whose C{seconds()} gives timestamps.
    @param run_in_thread: C{run_in_thread(f, *args)} runs the blocking
        C{f} and returns a L{Deferred} of its result; by default a thread
        of the reactor's pool.
    @param summarize: C{summarize(op) -> str} for the C{summary} field.
    @param archive_after: seconds after which a finished job is archived.
    @param max_jobs: how many live jobs the queue holds at most.
    """

    log = Logger()

    def __init__(
        self,
        directory,
        clock,
        run_in_thread=None,
        summarize=None,
        archive_after=6 * 3600,
        max_jobs=5000,
    ):
        self.directory = os.path.abspath(directory)
        self.clock = clock
        self.archive_after = archive_after
        self.max_jobs = max_jobs
        self._run_in_thread = run_in_thread or _defer_to_thread
        self._summarize = summarize or default_summarize
        self._jobs = {}
        self._archived = set()
        self._archiving = set()
        self._watchers = {}
        self._writers = {}
        self._last_serial = 0
        self._serial_on_disk = 0
        self._serial_lock = threading.Lock()
        self._submitting = 0
        self._drained = False
        self._opened = False

    # -- paths

    @property
    def serial_path(self):
        return os.path.join(self.directory, "serial")

    @property
    def archive_directory(self):
        return os.path.join(self.directory, "archive")

    def job_path(self, job_id):
        """Where live job C{job_id} is stored."""
        return os.path.join(self.directory, "job-%d.json" % job_id)

    def archive_path(self, job_id):
        """Where archived job C{job_id} is stored."""
        return os.path.join(
            self.archive_directory,
            str(job_id // ARCHIVE_DIRECTORY_SIZE),
            "job-%d.json" % job_id,
        )

    # -- start-up

    def open(self):
        """Load the queue from disk (blocking; call before the reactor runs).

        Jobs that were waiting, running or canceling when the daemon
        stopped are finished as failed (canceled, for canceling ones) and
        written back; queued jobs stay queued, see L{pending_jobs}.  A job
        file that cannot be read is renamed to C{<name>.corrupt}.
        """
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        os.makedirs(self.archive_directory, mode=0o700, exist_ok=True)
        serial = self._read_serial()
        self._serial_on_disk = serial
        self._archived = self._scan_archive()
        highest = max([serial] + list(self._archived))
        jobs = {}
        for entry in sorted(os.listdir(self.directory)):
            corrupt = _CORRUPT_JOB_FILE.match(entry)
            if corrupt:
                highest = max(highest, int(corrupt.group(1)))
                continue
            match = _JOB_FILE.match(entry)
            if not match:
                continue
            job_id = int(match.group(1))
            highest = max(highest, job_id)
            path = os.path.join(self.directory, entry)
            if job_id in self._archived:
                # Archiving wrote the archive copy but stopped before
                # removing this one; finish the move.
                os.unlink(path)
                self.log.info(
                    "Job {job_id} was archived already; removed its live copy",
                    job_id=job_id,
                )
                continue
            job = self._load_live(path, job_id)
            if job is None:
                continue
            if self._recover(job):
                fileutil.atomic_write(path, jsonutil.dumps(job.to_dict()), 0o600)
            jobs[job_id] = job
        self._jobs = jobs
        self._last_serial = highest
        self._opened = True
        self.log.info(
            "Job queue {directory}: {live} live jobs ({queued} queued),"
            " {archived} archived, last id {serial}",
            directory=self.directory,
            live=len(jobs),
            queued=len(self.pending_jobs()),
            archived=len(self._archived),
            serial=highest,
        )

    def _read_serial(self):
        try:
            with open(self.serial_path, "rb") as f:
                text = f.read()
        except FileNotFoundError:
            return 0
        try:
            value = int(text.strip())
            if value < 0:
                raise ValueError(value)
        except ValueError:
            self.log.warn(
                "Ignoring the unreadable job serial file {path}",
                path=self.serial_path,
            )
            return 0
        return value

    def _scan_archive(self):
        ids = set()
        for subdir in os.listdir(self.archive_directory):
            path = os.path.join(self.archive_directory, subdir)
            if not subdir.isdigit() or not os.path.isdir(path):
                continue
            for entry in os.listdir(path):
                match = _JOB_FILE.match(entry)
                if match:
                    ids.add(int(match.group(1)))
        return ids

    def _load_live(self, path, job_id):
        try:
            with open(path, "rb") as f:
                job = Job.from_dict(jsonutil.loads(f.read()), summarize=self._summarize)
            if job.id != job_id:
                raise ValueError("the file holds job %r" % (job.id,))
        except (OSError, ValueError) as e:
            aside = path + ".corrupt"
            suffix = 0
            while os.path.exists(aside):
                suffix += 1
                aside = "%s.corrupt.%d" % (path, suffix)
            os.rename(path, aside)
            fileutil.fsync_directory(self.directory)
            self.log.error(
                "Job file {path} cannot be read ({error}); moved it to {aside}",
                path=path,
                error=str(e),
                aside=aside,
            )
            return None
        return job

    def _recover(self, job):
        """Finish a job interrupted by a stop; True if it changed."""
        status = job.status
        if status in FINALIZED and job.end_ts is None:
            # Stopped between the last opcode and the final write.
            job.end_ts = self.now()
            return True
        if status in (JOB_STATUS_WAITING, JOB_STATUS_RUNNING):
            job.mark_unfinished(JOB_STATUS_ERROR, INTERRUPTED_RESULT)
        elif status == JOB_STATUS_CANCELING:
            job.mark_unfinished(JOB_STATUS_CANCELED, CANCELED_RESULT)
        else:
            return False
        job.end_ts = self.now()
        self.log.warn(
            "Job {job_id} was {status} when the daemon stopped; it is now {now}",
            job_id=job.id,
            status=status,
            now=job.status,
        )
        return True

    # -- state

    def now(self):
        """The current time as a job timestamp."""
        return timestamp(self.clock.seconds())

    @property
    def drained(self):
        """Whether new jobs are refused."""
        return self._drained

    def set_drained(self, drained):
        """Refuse (C{True}) or accept (C{False}) new jobs."""
        self._drained = bool(drained)

    @property
    def last_job_id(self):
        """The highest job id handed out so far (0 for a new queue)."""
        return self._last_serial

    def get_live(self, job_id):
        """The live (not archived) job C{job_id}, or C{None}."""
        return self._jobs.get(job_id)

    def live_jobs(self):
        """All live jobs, by id."""
        return [self._jobs[job_id] for job_id in sorted(self._jobs)]

    def pending_jobs(self):
        """The queued jobs, by id: what a processor has to run."""
        return [job for job in self.live_jobs() if job.status == JOB_STATUS_QUEUED]

    def exists(self, job_id):
        """Whether job C{job_id} exists, live or archived."""
        return job_id in self._jobs or job_id in self._archived

    def list_ids(self):
        """The ids of all jobs, live and archived, sorted."""
        return sorted(self._archived.union(self._jobs))

    # -- submitting

    def submit(self, ops):
        """Queue a new job of opcodes C{ops}.

        @return: a L{Deferred} firing with the new job id once the job (and
            the serial) are on disk.  It fails with L{JobQueueDrainError}
            when the queue is drained, L{JobQueueFull} when it holds
            C{max_jobs} live jobs, L{OpcodeValidationError} for an empty
            job, or with the error of the write.
        """
        if not self._opened:
            raise RuntimeError("JobQueue.open() was not called")
        if self._drained:
            return defer.fail(
                errors.JobQueueDrainError("Job queue is drained, refusing job")
            )
        if len(self._jobs) + self._submitting >= self.max_jobs:
            return defer.fail(errors.JobQueueFull("Job queue is full"))
        ops = list(ops)
        if not ops:
            return defer.fail(
                errors.OpcodeValidationError("A job needs at least one opcode")
            )
        self._last_serial += 1
        job_id = self._last_serial
        job = Job(job_id, ops, received_ts=self.now(), summarize=self._summarize)
        try:
            data = jsonutil.dumps(job.to_dict())
        except (TypeError, ValueError) as e:
            return defer.fail(
                errors.OpcodeValidationError("Opcodes cannot be stored: %s" % (e,))
            )
        self._submitting += 1
        d = defer.maybeDeferred(self._run_in_thread, self._write_new_job, job_id, data)

        def written(_):
            self._submitting -= 1
            self._jobs[job_id] = job
            return job_id

        def failed(failure):
            self._submitting -= 1
            self.log.warn(
                "Job {job_id} could not be stored: {error}",
                job_id=job_id,
                error=failure.getErrorMessage(),
            )
            return failure

        d.addCallbacks(written, failed)
        return d

    def _write_new_job(self, job_id, data):
        """Write the serial (never backwards), then the job (in a thread)."""
        with self._serial_lock:
            if job_id > self._serial_on_disk:
                fileutil.atomic_write(self.serial_path, b"%d\n" % job_id, 0o600)
                self._serial_on_disk = job_id
        fileutil.atomic_write(self.job_path(job_id), data, 0o600)

    # -- reading

    def get(self, job_id):
        """A L{Deferred} firing with job C{job_id}, live or archived, or C{None}.

        Archived jobs are read from disk each time and have C{archived}
        set; the L{Deferred} fails with L{JobQueueError} if the file cannot
        be read.
        """
        job = self._jobs.get(job_id)
        if job is not None:
            return defer.succeed(job)
        if job_id not in self._archived:
            return defer.succeed(None)
        d = defer.maybeDeferred(self._run_in_thread, self._read_archived, [job_id])
        d.addCallback(lambda jobs: jobs[0])
        return d

    def get_many(self, job_ids):
        """Like L{get} for several jobs, archived ones read in one go.

        @return: a L{Deferred} firing with a list of jobs (or C{None} for
            unknown ids) in the order of C{job_ids}.
        """
        job_ids = list(job_ids)
        archived = [
            job_id
            for job_id in job_ids
            if job_id not in self._jobs and job_id in self._archived
        ]
        if archived:
            d = defer.maybeDeferred(self._run_in_thread, self._read_archived, archived)
        else:
            d = defer.succeed([])

        def combine(read):
            found = dict(zip(archived, read))
            return [self._jobs.get(job_id, found.get(job_id)) for job_id in job_ids]

        d.addCallback(combine)
        return d

    def _read_archived(self, job_ids):
        """Read archived jobs (in a thread)."""
        jobs = []
        for job_id in job_ids:
            path = self.archive_path(job_id)
            try:
                with open(path, "rb") as f:
                    job = Job.from_dict(
                        jsonutil.loads(f.read()),
                        archived=True,
                        summarize=self._summarize,
                    )
            except (OSError, ValueError) as e:
                raise errors.JobQueueError(
                    "Archived job %d cannot be read: %s" % (job_id, e)
                ) from None
            jobs.append(job)
        return jobs

    # -- changing

    def save(self, job):
        """Write C{job} after a change, and wake its watchers.

        @return: a L{Deferred} that fires with C{None} once a write that
            started after this call has finished.  It never fails: a write
            error is logged (the job stays correct in memory and the next
            save tries again).
        """
        self._notify(job)
        if self._jobs.get(job.id) is not job:
            self.log.warn("Not saving job {job_id}: not a live job", job_id=job.id)
            return defer.succeed(None)
        writer = self._writers.get(job.id)
        if writer is None:
            writer = self._writers[job.id] = _Writer()
        d = defer.Deferred()
        writer.waiting.append(d)
        if not writer.busy:
            self._start_write(job, writer)
        return d

    def _start_write(self, job, writer):
        writer.busy = True
        waiting, writer.waiting = writer.waiting, []
        try:
            data = jsonutil.dumps(job.to_dict())
        except Exception:
            self.log.failure("Job {job_id} cannot be encoded", job_id=job.id)
            d = defer.succeed(None)
        else:
            d = defer.maybeDeferred(
                self._run_in_thread,
                fileutil.atomic_write,
                self.job_path(job.id),
                data,
                0o600,
            )
            d.addErrback(
                lambda failure: self.log.failure(
                    "Writing job {job_id} failed", failure, job_id=job.id
                )
            )

        def written(_):
            writer.busy = False
            for waiter in waiting:
                waiter.callback(None)
            if writer.busy:
                return  # a waiter's callback saved again and started a write
            if writer.waiting:
                self._start_write(job, writer)
            elif self._writers.get(job.id) is writer:
                del self._writers[job.id]

        d.addCallback(written)

    def append_log(self, job, op_index, message, log_type=LOG_MESSAGE):
        """Add a log entry to opcode C{op_index} of C{job}, and save the job.

        @return: the L{Deferred} of L{save}.
        """
        job.add_log(op_index, self.now(), message, log_type)
        return self.save(job)

    # -- waiting

    def wait_for_change(
        self, job_id, fields, previous_job_info=None, previous_log_serial=None
    ):
        """Wait until job C{job_id} differs from what the caller saw.

        @param fields: names from L{JOB_FIELDS}.
        @param previous_job_info: the values of C{fields} the caller has,
            or C{None}.
        @param previous_log_serial: the highest log serial the caller has,
            or C{None} for none.
        @return: a L{Deferred} firing with C{{"job_info": [values of
            fields], "log_entries": [new entries]}} as soon as the job is
            finished, a value differs, or there are new log entries
            (at once if that holds already), or with C{None} for an unknown
            job.  It has no timeout; cancelling it forgets the waiter.  It
            fails with C{KeyError} for an unknown field.
        """
        fields = list(fields)
        unknown = [name for name in fields if name not in JOB_FIELDS]
        if unknown:
            return defer.fail(KeyError(unknown[0]))
        job = self._jobs.get(job_id)
        if job is None:
            d = self.get(job_id)
            d.addCallback(
                lambda job: None
                if job is None
                else job_change(job, fields, previous_job_info, previous_log_serial)
            )
            return d
        change = job_change(job, fields, previous_job_info, previous_log_serial)
        if change is not None:
            return defer.succeed(change)
        watcher = _Watcher(fields, previous_job_info, previous_log_serial)
        watcher.deferred = defer.Deferred(
            lambda _: self._forget_watcher(job_id, watcher)
        )
        self._watchers.setdefault(job_id, []).append(watcher)
        return watcher.deferred

    def _forget_watcher(self, job_id, watcher):
        watchers = self._watchers.get(job_id)
        if watchers is not None and watcher in watchers:
            watchers.remove(watcher)
            if not watchers:
                del self._watchers[job_id]

    def _notify(self, job):
        watchers = self._watchers.get(job.id)
        if not watchers:
            return
        answered = []
        for watcher in list(watchers):
            change = job_change(
                job,
                watcher.fields,
                watcher.previous_job_info,
                watcher.previous_log_serial,
            )
            if change is not None:
                self._forget_watcher(job.id, watcher)
                answered.append((watcher, change))
        for watcher, change in answered:
            watcher.deferred.callback(change)

    def watcher_count(self, job_id=None):
        """How many watchers wait (for C{job_id}, or for any job)."""
        if job_id is not None:
            return len(self._watchers.get(job_id, ()))
        return sum(len(watchers) for watchers in self._watchers.values())

    # -- archiving

    def archive_finished(self, older_than=None):
        """Archive the jobs that finished more than C{older_than} seconds ago.

        @param older_than: by default C{archive_after}.
        @return: a L{Deferred} firing with the number of jobs archived.  A
            job that cannot be moved is logged and left live.
        """
        age = self.archive_after if older_than is None else older_than
        limit = self.clock.seconds() - age
        candidates = [
            job
            for job in self.live_jobs()
            if job.finalized
            and job.end_ts is not None
            and timestamp_seconds(job.end_ts) <= limit
            and job.id not in self._writers
            and job.id not in self._archiving
        ]
        return defer.Deferred.fromCoroutine(self._archive(candidates))

    async def _archive(self, jobs):
        count = 0
        for job in jobs:
            self._archiving.add(job.id)
            try:
                data = jsonutil.dumps(job.to_dict())
                await defer.maybeDeferred(
                    self._run_in_thread, self._move_to_archive, job.id, data
                )
            except Exception:
                self.log.failure("Archiving job {job_id} failed", job_id=job.id)
                continue
            finally:
                self._archiving.discard(job.id)
            self._jobs.pop(job.id, None)
            self._archived.add(job.id)
            count += 1
        if count:
            self.log.info("Archived {count} jobs", count=count)
        return count

    def _move_to_archive(self, job_id, data):
        """Write the archive copy, then remove the live one (in a thread)."""
        fileutil.atomic_write(self.archive_path(job_id), data, 0o600)
        os.unlink(self.job_path(job_id))
        fileutil.fsync_directory(self.directory)


class ArchiverService(service.Service):
    """Archives old finished jobs of a L{JobQueue} every C{interval} seconds."""

    log = Logger()

    def __init__(self, queue, clock, interval=600):
        self.queue = queue
        self.clock = clock
        self.interval = interval
        self._loop = None

    def _run(self):
        d = self.queue.archive_finished()
        d.addErrback(lambda failure: self.log.failure("Archiving jobs failed", failure))
        return d

    def startService(self):
        service.Service.startService(self)
        self._loop = task.LoopingCall(self._run)
        self._loop.clock = self.clock
        done = self._loop.start(self.interval, now=False)
        done.addErrback(
            lambda failure: self.log.failure("Job archiving stopped", failure)
        )

    def stopService(self):
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        return service.Service.stopService(self)
