"""Running commands and blocking work for node procedures, with real processes."""

import os
import shutil
import sys
import threading

from twisted.internet import defer, reactor
from twisted.trial.unittest import TestCase

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
