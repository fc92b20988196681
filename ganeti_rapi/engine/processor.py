# -*- test-case-name: tests.test_processor -*-
"""Runs the jobs of a L{JobQueue}: locks, logical units, results, cancel.

Every opcode is carried out by a logical unit, made by the C{unit_factory}
the processor is given.  A unit declares its locks, checks its
prerequisites, and executes (see L{LogicalUnit}).  For each opcode of a job
the processor:

 1. marks it C{waiting} and saves the job, and waits until that is on
    disk: from then on a restart ends the job in error instead of running
    the opcode again;
 2. calls the unit's C{prepare()}, if it has one, then acquires the
    unit's locks (the job can be canceled in both);
 3. marks it C{running} and saves the job, without waiting for the disk
    (a restart treats C{waiting} and C{running} alike);
 4. calls C{check()}, then C{dry_run_result()} for a dry run or
    C{execute()} otherwise;
 5. records the result (C{success}) or the error (C{error}; the later
    opcodes fail with "Preceding opcode failed"), and releases the locks.
    A unit whose C{execute} ends with a configuration save may answer an
    L{AfterSave}: its locks are then released as soon as the change is
    made in memory, and the opcode succeeds once the save is on disk.

When the job is done its C{end_ts} is set and it is saved once more.  Up
to C{max_running} jobs run at a time; the others wait in the queue, the
higher priority (lower number) and then the older first.

Job filter rules (L{ganeti_rapi.engine.filters}), when the processor is
given them, decide before a queued job starts: C{REJECT} cancels it
(whether or not a slot is free), C{PAUSE} leaves it queued, a
C{RATE_LIMIT} of C{n} leaves it queued while C{n} running jobs have that
rule applying, C{ACCEPT} (or no rule) lets it start.  Call L{reschedule}
after the rules change.
"""

import heapq
import inspect

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger

from ganeti_rapi import jsonutil
from ganeti_rapi.engine import errors
from ganeti_rapi.engine import filters as jobfilters
from ganeti_rapi.engine.queue import (
    CANCELED_RESULT,
    JOB_STATUS_CANCELED,
    JOB_STATUS_CANCELING,
    JOB_STATUS_ERROR,
    JOB_STATUS_QUEUED,
    JOB_STATUS_RUNNING,
    JOB_STATUS_SUCCESS,
    JOB_STATUS_WAITING,
    LOG_MESSAGE,
    PRECEDING_FAILED_RESULT,
)


class LogicalUnit:
    """What the processor expects of the unit carrying out one opcode.

    Units need not inherit from this class; it documents the interface
    and gives defaults.

    @ivar op: the opcode (a dict with C{OP_ID} and its parameters).
    @ivar env: an L{OpcodeEnvironment}.
    """

    def __init__(self, op, env):
        self.op = op
        self.env = env

    def prepare(self):
        """Optional: what must happen before the locks are asked for, such
        as resolving the name to lock (Ganeti's C{CheckArguments}); may
        raise L{OpPrereqError} and return a L{Deferred} or be a coroutine.
        """

    def lock_requests(self):
        """C{[(level, name, exclusive)]}: the locks the opcode needs."""
        return []

    def check(self):
        """Check the prerequisites; may raise L{OpPrereqError}.

        May return a L{Deferred} or be a coroutine.
        """

    def execute(self):
        """Carry out the opcode; the result (or a L{Deferred} or coroutine
        of it) becomes the opcode's C{opresult}."""
        raise NotImplementedError

    def dry_run_result(self):
        """What a dry run answers, after L{check} succeeded."""
        return None


class AfterSave:
    """What C{execute} answers to finish once a save is on disk, unlocked.

    The change is made in memory under the opcode's locks; waiting for the
    disk needs none of them: whoever takes the locks next sees the change,
    and its own save, made after, covers it too.  The opcode still
    succeeds only once C{saved} has fired, and fails if it fails.

    @ivar saved: a L{Deferred} firing once the change is durable.
    @ivar result: the opcode's result.
    """

    __slots__ = ("saved", "result")

    def __init__(self, saved, result=None):
        self.saved = saved
        self.result = result


class OpcodeEnvironment:
    """What a unit gets as C{env}: the processor's environment, plus the
    job it works for.

    Attributes and items not found here are looked up on C{environment}.

    @ivar environment: what the processor was given.
    @ivar job_id: the job's id.
    @ivar op_index: the opcode's position in the job.
    """

    def __init__(self, environment, job_id, op_index, feedback):
        self.environment = environment
        self.job_id = job_id
        self.op_index = op_index
        self._feedback = feedback

    def feedback(self, message, log_type=LOG_MESSAGE):
        """Add C{message} to the opcode's log (and wake the job's watchers).

        @return: a L{Deferred} that fires once the job is saved.
        """
        return self._feedback(message, log_type)

    def __getattr__(self, name):
        environment = self.__dict__.get("environment")
        if environment is None:
            raise AttributeError(name)
        return getattr(environment, name)

    def __getitem__(self, key):
        return self.environment[key]


async def _resolve(value):
    """The value of C{value}, awaiting it if it is a Deferred or coroutine."""
    if isinstance(value, defer.Deferred) or inspect.isawaitable(value):
        return await value
    return value


class _Run:
    """A job the processor is running."""

    __slots__ = ("job", "phase", "cancel_requested", "lock_request")

    def __init__(self, job):
        self.job = job
        self.phase = JOB_STATUS_QUEUED
        self.cancel_requested = False
        self.lock_request = None


class JobProcessor(service.Service):
    """Runs queued jobs; see the module docstring.

    @param queue: the L{JobQueue} (opened).
    @param locks: the L{LockManager}.
    @param unit_factory: C{unit_factory(op, env)} returns the logical unit
        for an opcode; C{KeyError} means the opcode is not supported.
    @param environment: passed to every unit as C{env.environment} (and
        reachable as attributes of C{env}).
    @param clock: L{IReactorTime}.
    @param max_running: how many jobs run at the same time.
    @param filter_rules: a callable returning the current job filter rules
        (L{FilterRule<ganeti_rapi.engine.objects.FilterRule>}s), or L{None}
        for a processor that filters nothing.
    """

    log = Logger()

    def __init__(
        self, queue, locks, unit_factory, environment, clock, max_running=20,
        filter_rules=None,
    ):
        self.queue = queue
        self.locks = locks
        self.unit_factory = unit_factory
        self.environment = environment
        self.clock = clock
        self.max_running = max_running
        self.filter_rules = filter_rules
        self._started = False
        self._pumping = False
        self._heap = []  # (priority, job id)
        self._scheduled = set()
        self._runs = {}

    # -- scheduling

    def start(self):
        """Run the queue's queued jobs, and the ones submitted from now on."""
        self._started = True
        for job in self.queue.pending_jobs():
            self._schedule(job)
        self._pump()

    def stop(self):
        """Start no more jobs.

        Jobs already running go on as long as the process does; a restart
        finishes the interrupted ones (L{JobQueue.open}).
        """
        self._started = False
        self._heap = []
        self._scheduled.clear()

    def startService(self):
        service.Service.startService(self)
        self.start()

    def stopService(self):
        self.stop()
        return service.Service.stopService(self)

    def submit(self, ops):
        """Queue a job and schedule it.

        @return: a L{Deferred} firing with the job id once the job is on
            disk; it fails as L{JobQueue.submit} does.
        """
        d = self.queue.submit(ops)
        d.addCallback(self._submitted)
        return d

    def _submitted(self, job_id):
        job = self.queue.get_live(job_id)
        if job is not None and self._started:
            self._schedule(job)
            self._pump()
        return job_id

    @property
    def running_ids(self):
        """Ids of the jobs being run, sorted."""
        return sorted(self._runs)

    @property
    def scheduled_ids(self):
        """Ids of the jobs waiting for a free slot, sorted."""
        return sorted(self._scheduled)

    def _schedule(self, job):
        if job.id in self._scheduled or job.id in self._runs:
            return
        self._scheduled.add(job.id)
        heapq.heappush(self._heap, (job.priority, job.id))

    def reschedule(self):
        """Look at the waiting jobs again (the filter rules changed)."""
        self._pump()

    def _rules(self):
        if self.filter_rules is None:
            return []
        return jobfilters.ordered(self.filter_rules())

    def _pump(self):
        if self._pumping:
            return  # the loop below sees any slot freed meanwhile
        self._pumping = True
        held = []
        try:
            rules = self._rules()
            if rules and self._started:
                self._reject_queued(rules)
            limited = self._rate_limited_counts(rules)
            while self._started and self._heap and len(self._runs) < self.max_running:
                entry = heapq.heappop(self._heap)
                job_id = entry[1]
                if job_id not in self._scheduled:
                    continue  # canceled while it waited for a slot
                job = self.queue.get_live(job_id)
                if job is None or job.status != JOB_STATUS_QUEUED:
                    self._scheduled.discard(job_id)
                    continue
                rule = jobfilters.applying_rule(rules, job) if rules else None
                if rule is not None:
                    action = jobfilters.action_of(rule)
                    if action == jobfilters.PAUSE:
                        held.append(entry)
                        continue
                    if action == jobfilters.RATE_LIMIT:
                        if limited.get(rule.uuid, 0) >= jobfilters.rate_limit(rule):
                            held.append(entry)
                            continue
                        limited[rule.uuid] = limited.get(rule.uuid, 0) + 1
                self._scheduled.discard(job_id)
                self._start_job(job)
        finally:
            for entry in held:
                heapq.heappush(self._heap, entry)
            self._pumping = False

    def _reject_queued(self, rules):
        """Cancel every waiting job a C{REJECT} rule applies to."""
        if not any(jobfilters.action_of(r) == jobfilters.REJECT for r in rules):
            return
        for job_id in sorted(self._scheduled):
            job = self.queue.get_live(job_id)
            if job is None or job.status != JOB_STATUS_QUEUED:
                continue
            rule = jobfilters.applying_rule(rules, job)
            if rule is None or jobfilters.action_of(rule) != jobfilters.REJECT:
                continue
            self._scheduled.discard(job_id)
            job.mark_unfinished(
                JOB_STATUS_CANCELED, "Job rejected by filter rule %s" % rule.uuid
            )
            job.end_ts = self.queue.now()
            self.log.info("Job {job_id} rejected by filter rule {uuid}",
                          job_id=job_id, uuid=rule.uuid)
            d = self.queue.save(job)
            d.addErrback(lambda failure, job_id=job_id: self.log.failure(
                "Saving rejected job {job_id} failed", failure, job_id=job_id))

    def _rate_limited_counts(self, rules):
        """C{{rule uuid: running jobs it applies to}} for C{RATE_LIMIT} rules."""
        counts = {}
        if not any(jobfilters.action_of(r) == jobfilters.RATE_LIMIT for r in rules):
            return counts
        for run in self._runs.values():
            rule = jobfilters.applying_rule(rules, run.job)
            if rule is not None and jobfilters.action_of(rule) == jobfilters.RATE_LIMIT:
                counts[rule.uuid] = counts.get(rule.uuid, 0) + 1
        return counts

    def _start_job(self, job):
        run = self._runs[job.id] = _Run(job)
        d = defer.Deferred.fromCoroutine(self._run_job(run))
        d.addErrback(
            lambda failure: self.log.failure(
                "Processing job {job_id} failed", failure, job_id=job.id
            )
        )
        d.addBoth(lambda _: self._finished(job.id))

    def _finished(self, job_id):
        self._runs.pop(job_id, None)
        self._pump()

    # -- running

    async def _run_job(self, run):
        job = run.job
        for index in range(len(job.ops)):
            if job.opstatus[index] == JOB_STATUS_SUCCESS:
                continue  # done before a restart
            if not await self._run_opcode(run, index):
                break
        job.end_ts = self.queue.now()
        await self.queue.save(job)

    async def _run_opcode(self, run, index):
        """Run opcode C{index} of the job; True if it succeeded."""
        job = run.job
        op = job.ops[index]
        now = self.queue.now()
        if job.start_ts is None:
            job.start_ts = now
        job.opstatus[index] = JOB_STATUS_WAITING
        job.opstart[index] = now
        run.phase = JOB_STATUS_WAITING
        await self.queue.save(job)
        lockset = None
        try:
            if run.cancel_requested:
                raise defer.CancelledError()
            env = OpcodeEnvironment(
                self.environment,
                job.id,
                index,
                lambda message, log_type: self.queue.append_log(
                    job, index, message, log_type
                ),
            )
            try:
                unit = self.unit_factory(op, env)
            except KeyError:
                raise errors.OpPrereqError(
                    "Opcode %s is not supported" % (op.get("OP_ID"),),
                    errors.ECODE_INVAL,
                ) from None
            prepare = getattr(unit, "prepare", None)
            if prepare is not None:
                await _resolve(prepare())
                if run.cancel_requested:
                    raise defer.CancelledError()
            run.lock_request = self.locks.acquire(
                unit.lock_requests(), owner=job.id
            )
            try:
                lockset = await run.lock_request
            finally:
                run.lock_request = None
            run.phase = JOB_STATUS_RUNNING
            job.opstatus[index] = JOB_STATUS_RUNNING
            job.opexec[index] = self.queue.now()
            # Watchers learn it now; the disk need not know before the
            # opcode runs ("waiting" is there, which a restart also ends in
            # error), so the locks are not held across this write.
            self.queue.save(job)
            await _resolve(unit.check())
            if op.get("dry_run"):
                result = await _resolve(unit.dry_run_result())
            else:
                result = await _resolve(unit.execute())
            if isinstance(result, AfterSave):
                lockset.release()
                lockset = None
                await result.saved
                result = result.result
            try:
                jsonutil.dumps(result)
            except (TypeError, ValueError) as e:
                raise errors.OpExecError(
                    "The result of the opcode cannot be stored: %s" % (e,)
                ) from None
        except Exception as e:
            if run.cancel_requested and run.phase == JOB_STATUS_WAITING:
                job.mark_unfinished(JOB_STATUS_CANCELED, CANCELED_RESULT)
                self.log.info("Job {job_id} canceled", job_id=job.id)
                return False
            if not isinstance(e, errors.GanetiError):
                self.log.failure(
                    "Opcode {op_id} of job {job_id} raised an unexpected error",
                    op_id=op.get("OP_ID"),
                    job_id=job.id,
                )
            job.opstatus[index] = JOB_STATUS_ERROR
            job.opresult[index] = errors.encode_exception(e)
            job.opend[index] = self.queue.now()
            job.mark_unfinished(JOB_STATUS_ERROR, PRECEDING_FAILED_RESULT)
            return False
        finally:
            if lockset is not None:
                lockset.release()
        job.opstatus[index] = JOB_STATUS_SUCCESS
        job.opresult[index] = result
        job.opend[index] = self.queue.now()
        # No save here: the next opcode's "waiting", or the end of the job,
        # saves right away, so a job is never seen "queued" half done.
        return True

    # -- canceling

    def cancel(self, job_id):
        """Cancel job C{job_id} if it has not started running yet.

        @return: a L{Deferred} firing with C{[success, message]}: a queued
            job is canceled at once; a job waiting for locks stops waiting,
            is C{canceling} for a moment and then C{canceled}; any other
            job is left alone.
        """
        job = self.queue.get_live(job_id)
        if job is None:
            if self.queue.exists(job_id):
                return defer.succeed(self._not_waiting(job_id))
            return defer.succeed([False, "Job %s not found" % (job_id,)])
        status = job.status
        run = self._runs.get(job_id)
        if status == JOB_STATUS_QUEUED and run is None:
            self._scheduled.discard(job_id)
            job.mark_unfinished(JOB_STATUS_CANCELED, CANCELED_RESULT)
            job.end_ts = self.queue.now()
            d = self.queue.save(job)
            d.addCallback(lambda _: [True, "Job %s canceled" % (job_id,)])
            return d
        if (
            status == JOB_STATUS_WAITING
            and run is not None
            and run.phase == JOB_STATUS_WAITING
            and not run.cancel_requested
        ):
            run.cancel_requested = True
            job.mark_unfinished(JOB_STATUS_CANCELING, None)
            d = self.queue.save(job)
            if run.lock_request is not None:
                run.lock_request.cancel()
            d.addCallback(lambda _: [True, "Job %s will be canceled" % (job_id,)])
            return d
        return defer.succeed(self._not_waiting(job_id))

    @staticmethod
    def _not_waiting(job_id):
        return [False, "Job %s is no longer waiting in the queue" % (job_id,)]

