"""Running commands and blocking work for node procedures, with real processes."""

import os
import shutil
import signal
import sys
import threading
import time

from twisted.internet import defer, process, reactor, task
from twisted.trial.unittest import TestCase

from ganeti_rapi.noded import runtime as runtime_module
from ganeti_rapi.noded.runtime import Runtime
from ganeti_rapi.noded.testing import read_pid, wait_until_dead, write_script


class RunTests(TestCase):
    """Runtime.run: output, exit status, timeouts and cancellation."""

    def setUp(self):
        self.runtime = Runtime(reactor)
        self.dir = os.path.abspath(self.mktemp())
        os.makedirs(self.dir)

    @defer.inlineCallbacks
    def test_output_and_exit_code(self):
        """Standard output and error are collected and the exit code reported."""
        result = yield self.runtime.run(
            ["/bin/sh", "-c", "echo out; echo err >&2; exit 3"], timeout=30
        )
        self.assertEqual((result.stdout, result.stderr), (b"out\n", b"err\n"))
        self.assertEqual(result.exit_code, 3)
        self.assertFalse(result.succeeded)
        self.assertEqual(result.describe(), "exit code 3")

    @defer.inlineCallbacks
    def test_environment_is_only_what_is_given(self):
        """The child sees exactly the environment given, nothing of the daemon's."""
        result = yield self.runtime.run(
            ["/usr/bin/env"], env={"ONLY": "this"}, path=self.dir, timeout=30
        )
        self.assertTrue(result.succeeded)
        self.assertEqual(result.stdout, b"ONLY=this\n")

    @defer.inlineCallbacks
    def test_stdin_reads_end_of_file(self):
        """A child reading stdin gets end-of-file at once."""
        result = yield self.runtime.run(["/bin/cat"], timeout=30)
        self.assertTrue(result.succeeded)
        self.assertEqual(result.stdout, b"")

    @defer.inlineCallbacks
    def test_timeout_kills_child(self):
        """A child past its timeout is killed and the result says it timed out."""
        pidfile = os.path.join(self.dir, "pid")
        script = write_script(
            os.path.join(self.dir, "slow"), f'#!/bin/sh\necho $$ > "{pidfile}"\nexec sleep 60\n'
        )
        result = yield self.runtime.run([script], timeout=0.5)
        self.assertTrue(result.timed_out)
        self.assertFalse(result.succeeded)
        self.assertIn("timed out after 0.5 seconds", result.describe(0.5))
        pid = yield read_pid(pidfile)
        self.assertTrue((yield wait_until_dead(pid)))

    @defer.inlineCallbacks
    def test_timeout_kills_own_group(self):
        """With its own process group, what the command started dies with it."""
        setsid = shutil.which("setsid")
        self.assertIsNotNone(setsid, "util-linux setsid is needed")
        pidfile = os.path.join(self.dir, "pid")
        script = write_script(
            os.path.join(self.dir, "spawner"),
            f'#!/bin/sh\nsleep 60 &\necho $! > "{pidfile}"\nwait\n',
        )
        result = yield self.runtime.run(
            [setsid, "--wait", script], timeout=0.5, own_group=True
        )
        self.assertTrue(result.timed_out)
        grandchild = yield read_pid(pidfile)
        self.assertTrue((yield wait_until_dead(grandchild)))

    @defer.inlineCallbacks
    def test_cancel_kills_child(self):
        """Cancelling the Deferred kills the child."""
        pidfile = os.path.join(self.dir, "pid")
        script = write_script(
            os.path.join(self.dir, "slow"), f'#!/bin/sh\necho $$ > "{pidfile}"\nexec sleep 60\n'
        )
        d = self.runtime.run([script], timeout=60)
        pid = yield read_pid(pidfile)
        d.cancel()
        yield self.assertFailure(d, defer.CancelledError)
        self.assertTrue((yield wait_until_dead(pid)))

    @defer.inlineCallbacks
    def test_timeout_before_own_group(self):
        """A command that has not made its own group yet is still signalled itself."""
        self.patch(runtime_module, "KILL_GRACE", 3600.0)  # only SIGTERM can end it
        pidfile = os.path.join(self.dir, "pid")
        script = write_script(
            os.path.join(self.dir, "slow"), f'#!/bin/sh\necho $$ > "{pidfile}"\nexec sleep 60\n'
        )
        # No setsid in front: the process group it is said to lead never exists.
        result = yield self.runtime.run([script], timeout=0.5, own_group=True)
        self.assertTrue(result.timed_out)
        self.assertEqual(result.signal, signal.SIGTERM)
        pid = yield read_pid(pidfile)
        self.assertTrue((yield wait_until_dead(pid)))

    test_timeout_before_own_group.timeout = 30

    def no_pipes(self):
        fd = os.open(os.devnull, os.O_RDWR)
        self.addCleanup(os.close, fd)
        return {0: fd, 1: fd, 2: fd}

    @defer.inlineCallbacks
    def test_result_not_delivered_while_reaping(self):
        """The result never fires from inside Twisted's reaping, only from the reactor's loop.

        trial spawns this child before it runs the reactor, and the reactor
        reaps it while starting: a callback (trial's reactor.crash()) run
        from there would keep the reactor from handling SIGCHLD next time.
        """
        child_fds = self.no_pipes()
        child_fds[0], hold = os.pipe()  # it runs until we close our end
        before = set(process.reapProcessHandlers)
        d = self.runtime.run(["/bin/cat"], timeout=30, child_fds=child_fds)
        os.close(child_fds[0])
        (pid,) = set(process.reapProcessHandlers) - before
        os.close(hold)
        for _ in range(1000):  # until it has exited; it stays a zombie until reaped
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG):
                break
            time.sleep(0.01)
        process.reapAllProcesses()  # what the reactor does when it starts
        self.assertNotIn(pid, process.reapProcessHandlers)
        self.assertFalse(d.called)
        result = yield d
        self.assertTrue(result.succeeded)

    @defer.inlineCallbacks
    def test_exit_noticed_without_sigchld(self):
        """A child without pipes is reaped even when SIGCHLD does not reach the reactor."""
        self.patch(runtime_module, "REAP_INTERVAL", 0.05)
        yield task.deferLater(reactor, 0, lambda: None)  # the reactor has started
        previous = signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        self.addCleanup(signal.signal, signal.SIGCHLD, previous)
        # It outlives any wake-up already on its way to the reactor.
        result = yield self.runtime.run(
            ["/bin/sh", "-c", "sleep 0.2; exit 4"], timeout=30, child_fds=self.no_pipes()
        )
        self.assertEqual(result.exit_code, 4)

    test_exit_noticed_without_sigchld.timeout = 15

    @defer.inlineCallbacks
    def test_cannot_execute(self):
        """A program that cannot be executed gives a failed result, not an exception."""
        path = os.path.join(self.dir, "not-a-program")
        with open(path, "w") as f:
            f.write("plain text\n")
        os.chmod(path, 0o755)
        result = yield self.runtime.run([path], timeout=30)
        self.assertFalse(result.succeeded)
        self.assertTrue(
            result.spawn_error is not None or result.exit_code == 1, result.describe()
        )


class ThreadTests(TestCase):
    """Runtime.in_thread: blocking work off the reactor thread."""

    @defer.inlineCallbacks
    def test_default_runs_in_a_thread(self):
        """By default work runs in the reactor's thread pool, not the calling thread."""
        runtime = Runtime()
        name = yield runtime.in_thread(lambda: threading.current_thread().name)
        self.assertNotEqual(name, threading.current_thread().name)

    @defer.inlineCallbacks
    def test_errors_become_failures(self):
        """An exception in the work fails the Deferred."""
        runtime = Runtime(run_in_thread=lambda f, *a: defer.maybeDeferred(f, *a))
        yield self.assertFailure(runtime.in_thread(lambda: 1 / 0), ZeroDivisionError)

    def test_reactor_imported_lazily(self):
        """A Runtime made without a reactor finds the global one only when first asked."""
        runtime = Runtime()
        self.assertIsNone(runtime._reactor)
        self.assertIs(runtime.reactor, sys.modules["twisted.internet.reactor"])
