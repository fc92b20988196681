# -*- test-case-name: tests.test_kvm -*-
"""QMP, QEMU's JSON monitor protocol, spoken over a unix socket.

One L{QMPProtocol} per connection: it waits for QEMU's greeting, sends
C{qmp_capabilities}, and then runs commands one at a time, each answered
by a line with C{return} or C{error}.  Lines with C{event} are
asynchronous events: they are kept (L{QMPProtocol.events}) for whoever
waits for one, such as the C{DEVICE_DELETED} of a hot-unplug.  A command
may carry a file descriptor, sent with it over the unix socket
(C{SCM_RIGHTS}, through Twisted's L{IUNIXTransport.sendFileDescriptor}), as
C{getfd} needs.  L{qmp_session} connects and runs a function with a
L{QMPSession}; L{qmp_commands} runs a list of commands that way; every
step is bounded by a timeout.

QEMU serves one monitor client at a time (others wait in the listen
queue), so callers run one L{qmp_commands} per instance at a time.
"""

import json

from twisted.internet import defer, protocol
from twisted.internet.endpoints import UNIXClientEndpoint
from twisted.internet.interfaces import IUNIXTransport
from twisted.protocols.basic import LineOnlyReceiver

from ganeti_rapi.noded.errors import HypervisorError

#: Seconds a QMP exchange (connect, greeting, every command) may take.
QMP_TIMEOUT = 30.0


class QMPError(HypervisorError):
    """QEMU answered a command with an error."""

    def __init__(self, command, error):
        self.command = command
        self.error = error if isinstance(error, dict) else {}
        super().__init__(
            "QMP command %s failed: %s" % (command, self.error.get("desc", error))
        )


class QMPProtocol(LineOnlyReceiver):
    delimiter = b"\n"
    MAX_LENGTH = 16 * 1024 * 1024

    def __init__(self):
        self.ready = defer.Deferred()
        self._pending = []  # [(command, Deferred)] in order
        self._greeted = False
        self.closed = False
        #: The events received so far (QEMU's messages with C{event}).
        self.events = []

    def lineReceived(self, line):
        line = line.strip()
        if not line:
            return
        try:
            message = json.loads(line)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        if "event" in message:
            self.events.append(message)
            return
        if not self._greeted:
            if "QMP" in message:
                self._greeted = True
                self.execute("qmp_capabilities").chainDeferred(self.ready)
            return
        if not self._pending:
            return
        command, d = self._pending.pop(0)
        if "error" in message:
            d.errback(QMPError(command, message["error"]))
        else:
            d.callback(message.get("return"))

    def execute(self, command, arguments=None, fd=None):
        """Send a command; a Deferred of its C{return} value.

        @param fd: a file descriptor sent along with the command (the
            caller keeps it open until the answer arrives).
        """
        d = defer.Deferred()
        if self.closed:
            d.errback(HypervisorError("QMP connection closed"))
            return d
        message = {"execute": command}
        if arguments:
            message["arguments"] = arguments
        if fd is not None:
            if not IUNIXTransport.providedBy(self.transport):
                d.errback(HypervisorError("QMP %s needs a unix socket to pass a file"
                                          " descriptor" % command))
                return d
            self.transport.sendFileDescriptor(fd)
        self._pending.append((command, d))
        self.sendLine(json.dumps(message).encode("utf-8"))
        return d

    def seen_event(self, name, **data):
        """Whether an event C{name} whose data has the items C{data} arrived."""
        for message in self.events:
            if message.get("event") != name:
                continue
            got = message.get("data") or {}
            if all(got.get(k) == v for k, v in data.items()):
                return True
        return False

    def connectionLost(self, reason=protocol.connectionDone):
        self.closed = True
        pending, self._pending = self._pending, []
        error = HypervisorError("QMP connection closed by QEMU")
        if not self.ready.called:
            self.ready.errback(error)
        for command, d in pending:
            if command == "quit":
                d.callback({})  # QEMU closes the monitor as it quits
            else:
                d.errback(HypervisorError("QMP connection closed during %s" % command))


def _with_timeout(d, reactor, timeout, what):
    timed_out = []

    def expire():
        timed_out.append(True)
        d.cancel()

    call = reactor.callLater(timeout, expire)

    def done(result):
        if call.active():
            call.cancel()
        return result

    def translate(failure):
        if timed_out:
            failure.trap(defer.CancelledError)
            raise HypervisorError("QMP %s timed out after %g seconds" % (what, timeout))
        return failure

    d.addBoth(done)
    d.addErrback(translate)
    return d


class QMPSession:
    """One connection's commands, each bounded by C{timeout}.

    @ivar protocol: the L{QMPProtocol} (its C{events}).
    """

    def __init__(self, reactor, proto, timeout):
        self.reactor = reactor
        self.protocol = proto
        self.timeout = timeout

    def run(self, name, arguments=None, fd=None):
        """Run one command (with file descriptor C{fd}); a Deferred of its result."""
        return _with_timeout(self.protocol.execute(name, arguments, fd), self.reactor,
                             self.timeout, name)

    async def try_run(self, name, arguments=None):
        """Run one command; its error (a L{HypervisorError}) is returned, not raised."""
        try:
            await self.run(name, arguments)
        except HypervisorError as e:
            return e
        return None


async def qmp_session(reactor, path, work, timeout=QMP_TIMEOUT):
    """Connect to the QMP socket C{path} and return C{await work(session)}.

    @param work: an async function of a L{QMPSession}.
    """
    endpoint = UNIXClientEndpoint(reactor, path, timeout=timeout)
    factory = protocol.Factory.forProtocol(QMPProtocol)
    try:
        proto = await _with_timeout(endpoint.connect(factory), reactor, timeout, "connect")
    except HypervisorError:
        raise
    except Exception as e:
        raise HypervisorError("cannot connect to QMP socket %s: %s" % (path, e)) from None
    try:
        await _with_timeout(proto.ready, reactor, timeout, "greeting")
        return await work(QMPSession(reactor, proto, timeout))
    finally:
        proto.transport.loseConnection()


async def qmp_commands(reactor, path, commands, timeout=QMP_TIMEOUT):
    """Run C{commands} (C{[(name, arguments or None)]}) on the QMP socket C{path}.

    Returns the list of their results; a failing command raises L{QMPError}.
    """

    async def run_all(session):
        return [await session.run(name, arguments) for name, arguments in commands]

    return await qmp_session(reactor, path, run_all, timeout)
