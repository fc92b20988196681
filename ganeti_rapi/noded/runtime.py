# -*- test-case-name: tests.test_noded_runtime -*-
"""How node procedures do blocking work without blocking the reactor.

Everything that touches the file system (reads of C{/proc}, C{statvfs},
writes of state files) goes through L{Runtime.in_thread}; every external
command goes through L{Runtime.run}, which uses C{reactor.spawnProcess}
and kills the child it started when a timeout passes or the caller
cancels.  Tests give a L{Runtime} a synchronous C{run_in_thread} and, if
they like, a fake reactor.

The result of a command is handed to the caller from the reactor's loop
(C{callLater(0)}), never from inside Twisted's reaping of the child: a
child reaped while the reactor starts (one spawned before C{reactor.run},
as trial does for every test) would otherwise fire the caller's callbacks
in the middle of the reactor's startup event, and a C{reactor.crash()} from
there (trial's end of a test) loses the trigger that installs the SIGCHLD
handler on the next start.  Nothing relies on SIGCHLD alone either: while
a child runs its exit is also polled every L{REAP_INTERVAL} seconds, so a
reactor that does not handle SIGCHLD (run without signal handlers) still
sees the end of a command that has no pipes to close.
"""

import os
import signal as signals

from twisted.internet import defer, error, protocol
from twisted.logger import Logger

log = Logger()

#: Seconds between SIGTERM and SIGKILL for a child past its timeout.
KILL_GRACE = 5.0

#: Most output kept per stream of a command whose output is collected.
MAX_OUTPUT = 16 * 1024 * 1024

#: Seconds between checks whether a running child has exited, in case
#: SIGCHLD does not reach the reactor.
REAP_INTERVAL = 1.0


def _default_run_in_thread(f, *args):
    from twisted.internet import threads

    return threads.deferToThread(f, *args)


class Runtime:
    """The reactor and thread runner that node procedures use.

    @param reactor: the reactor; the global one (imported only when first
        needed) if L{None}.
    @param run_in_thread: C{f(*args) -> Deferred} running C{f} away from
        the reactor thread; C{deferToThread} if L{None}.
    """

    def __init__(self, reactor=None, run_in_thread=None):
        self._reactor = reactor
        self._run_in_thread = run_in_thread or _default_run_in_thread

    @property
    def reactor(self):
        if self._reactor is None:
            from twisted.internet import reactor

            self._reactor = reactor
        return self._reactor

    def in_thread(self, f, *args):
        """Run C{f(*args)} in a thread; a Deferred of its result."""
        try:
            return self._run_in_thread(f, *args)
        except Exception:
            return defer.fail()

    def run(self, argv, env=None, path=None, timeout=60.0, child_fds=None,
            own_group=False):
        """Run a command; a Deferred firing with a L{ProcessResult}.

        It never fails for the command's failure, not even for one that
        cannot be executed: look at the result.

        @param argv: the program (a path) and its arguments.
        @param env: the complete environment of the child (nothing is
            inherited); C{{}} if L{None}.
        @param path: the working directory of the child.
        @param timeout: seconds before the child is sent SIGTERM, and
            L{KILL_GRACE} seconds later SIGKILL; the result then has
            C{timed_out} set.
        @param child_fds: as for C{spawnProcess}; by default stdin is a
            pipe closed at once (the child reads end-of-file) and stdout
            and stderr are collected.  File descriptors given here are
            the caller's to close after this returns.
        @param own_group: C{argv} starts with C{setsid}, so the command
            leads a process group of its own: a timeout or a cancel then
            signals the whole group (the command and what it started), or
            the command alone while it has not made its group yet.
        """
        if child_fds is None:
            child_fds = {0: "w", 1: "r", 2: "r"}
        d = defer.Deferred(lambda _: proto.cancelled())
        proto = _CollectingProtocol(
            self.reactor, d, list(argv), timeout,
            close_stdin=child_fds.get(0) == "w", group=own_group,
        )
        try:
            self.reactor.spawnProcess(
                proto,
                argv[0],
                list(argv),
                env=dict(env or {}),
                path=path,
                childFDs=child_fds,
            )
        except OSError as e:
            # Twisted >= 23 spawns with posix_spawn and reports an exec
            # failure here; older ones fork, and the child exits 1 instead.
            proto.stop_timers()
            proto.stop_reaping()
            return defer.succeed(
                ProcessResult(list(argv), None, None, b"", b"", False, spawn_error=e)
            )
        except Exception:
            proto.stop_timers()
            proto.stop_reaping()
            return defer.fail()
        return d


class ProcessResult:
    """How a command ended.

    @ivar argv: what was run.
    @ivar exit_code: its exit status, or L{None} if a signal ended it.
    @ivar signal: the signal that ended it, or L{None}.
    @ivar stdout: collected standard output (bytes; empty if not a pipe).
    @ivar stderr: collected standard error (bytes).
    @ivar timed_out: whether it was killed for running past its timeout.
    @ivar spawn_error: the L{OSError} that kept it from starting, or L{None}.
    """

    def __init__(self, argv, exit_code, signal, stdout, stderr, timed_out,
                 spawn_error=None):
        self.argv = argv
        self.exit_code = exit_code
        self.signal = signal
        self.stdout = stdout
        self.stderr = stderr
        self.timed_out = timed_out
        self.spawn_error = spawn_error

    @property
    def succeeded(self):
        return self.exit_code == 0 and not self.timed_out

    def describe(self, timeout=None):
        """How it ended, in words: C{exit code 3}, C{killed by signal 9}..."""
        if self.spawn_error is not None:
            reason = self.spawn_error.strerror or str(self.spawn_error)
            return f"could not be started: {reason}"
        if self.timed_out:
            after = f" after {timeout:g} seconds" if timeout is not None else ""
            return f"timed out{after} and was killed"
        if self.exit_code is not None:
            return f"exit code {self.exit_code}"
        return f"killed by signal {self.signal}"

    def output_text(self):
        """Standard output and error as text, for messages."""
        text = (bytes(self.stdout) + bytes(self.stderr)).decode("utf-8", "replace")
        return text.strip()


class _CollectingProtocol(protocol.ProcessProtocol):
    def __init__(self, reactor, deferred, argv, timeout, close_stdin, group=False):
        self.reactor = reactor
        self.group = group
        self.pid = None
        self.deferred = deferred
        self.argv = argv
        self.close_stdin = close_stdin
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.timed_out = False
        self.ended = False
        self._kill_call = None
        self._timeout_call = None
        self._reap_call = None
        if timeout is not None:
            self._timeout_call = reactor.callLater(timeout, self._timeout)

    def connectionMade(self):
        self.pid = self.transport.pid
        if self.close_stdin:
            self.transport.closeStdin()
        self._reap_call = self.reactor.callLater(REAP_INTERVAL, self._reap)

    def _reap(self):
        """Collect the child if it has exited and SIGCHLD went unnoticed."""
        self._reap_call = None
        reap = getattr(self.transport, "reapProcess", None)
        if reap is None or self.transport.pid is None:
            return
        reap()  # Twisted's own waitpid(pid, WNOHANG), then processExited
        if self.transport.pid is not None:
            self._reap_call = self.reactor.callLater(REAP_INTERVAL, self._reap)

    def stop_reaping(self):
        if self._reap_call is not None and self._reap_call.active():
            self._reap_call.cancel()
        self._reap_call = None

    def processExited(self, reason):
        # Reaped: its pid may be reused from now on, so stop polling it.
        self.stop_reaping()

    def outReceived(self, data):
        _append(self.stdout, data)

    def errReceived(self, data):
        _append(self.stderr, data)

    def _signal(self, name):
        if self.group and self.pid:
            # The group outlives its leader; its id is not reused meanwhile.
            try:
                os.killpg(self.pid, getattr(signals, "SIG" + name))
                return
            except ProcessLookupError:
                # No such group: the command has not called setsid() yet
                # (a loaded machine, a short timeout), or all of it is gone;
                # in the first case it is still a plain child of ours.
                pass
            except OSError:
                return
        if self.ended:
            return
        try:
            self.transport.signalProcess(name)
        except (error.ProcessExitedAlready, OSError):
            pass

    def _timeout(self):
        self._timeout_call = None
        if self.ended:
            return
        self.timed_out = True
        log.warn("Killing {argv}: timed out", argv=self.argv)
        self._signal("TERM")
        self._kill_call = self.reactor.callLater(KILL_GRACE, self._kill)

    def _kill(self):
        self._kill_call = None
        if not self.ended:
            self._signal("KILL")

    def cancelled(self):
        """The caller gave up: kill the child (and its group) now."""
        self.stop_timers()
        if self.transport is not None and (self.group or not self.ended):
            self._signal("KILL")

    def stop_timers(self):
        for name in ("_timeout_call", "_kill_call"):
            call = getattr(self, name)
            if call is not None and call.active():
                call.cancel()
            setattr(self, name, None)

    def processEnded(self, reason):
        self.ended = True
        self.stop_timers()
        self.stop_reaping()
        if self.timed_out and self.group:
            self._signal("KILL")  # what the command started and left behind
        value = reason.value
        result = ProcessResult(
            self.argv,
            getattr(value, "exitCode", None),
            getattr(value, "signal", None),
            bytes(self.stdout),
            bytes(self.stderr),
            self.timed_out,
        )
        # Not from here: Twisted may be reaping inside spawnProcess or the
        # reactor's startup (see the module's description).
        self.reactor.callLater(0, self._deliver, result)

    def _deliver(self, result):
        if not self.deferred.called:  # unless cancelled meanwhile
            self.deferred.callback(result)


def _append(buffer, data):
    room = MAX_OUTPUT - len(buffer)
    if room > 0:
        buffer += data[:room]
