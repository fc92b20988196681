"""A service that listens on an endpoint and says where, once it does.

Both daemons log C{"<daemon> serving on <url>"} when their port is bound:
operators read it, and tests wait for it to learn the real port (port 0).
A port that cannot be bound fails C{startService} at once, so C{twistd}
exits with the reason instead of running without a listener.
"""

from twisted.application import service
from twisted.internet import address
from twisted.logger import Logger
from twisted.python.failure import Failure


def describe(host, scheme):
    """A URL-ish text for a listening address."""
    if isinstance(host, (address.IPv4Address, address.IPv6Address)):
        hostname = host.host
        if isinstance(host, address.IPv6Address):
            hostname = "[%s]" % hostname
        return "%s://%s:%d" % (scheme, hostname, host.port)
    if isinstance(host, address.UNIXAddress):
        name = host.name
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        return "%s+unix://%s" % (scheme, name)
    return "%s://%s" % (scheme, host)


class ListeningService(service.Service):
    """Listen on C{endpoint} with C{factory} while running.

    @ivar daemon: the daemon's name, used in the "serving on" line.
    @ivar scheme: C{https} or C{http}, for that line.
    @ivar port: the C{IListeningPort} once listening.
    @ivar on_listen: called with the C{IListeningPort} once listening.
    """

    log = Logger()

    def __init__(self, daemon, endpoint, factory, scheme, on_listen=None):
        self.daemon = daemon
        self.endpoint = endpoint
        self.factory = factory
        self.scheme = scheme
        self.on_listen = on_listen
        self.port = None
        self._listening = None

    def startService(self):
        service.Service.startService(self)
        outcome = []
        d = self.endpoint.listen(self.factory)
        d.addBoth(outcome.append)
        if outcome and isinstance(outcome[0], Failure):
            outcome[0].raiseException()
        if outcome:
            self._listened(outcome[0])
        else:
            self._listening = d
            d.addCallbacks(self._listened, self._failed)

    def _listened(self, port):
        self._listening = None
        self.port = port
        self.log.info(
            "{daemon} serving on {url}",
            daemon=self.daemon,
            url=describe(port.getHost(), self.scheme),
        )
        if self.on_listen is not None:
            self.on_listen(port)
        return port

    def _failed(self, failure):
        self._listening = None
        self.log.failure("{daemon} cannot listen", failure, daemon=self.daemon)

    def stopService(self):
        service.Service.stopService(self)
        if self._listening is not None:
            self._listening.cancel()
        if self.port is not None:
            port, self.port = self.port, None
            return port.stopListening()
        return None
