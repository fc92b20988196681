# -*- test-case-name: tests.test_name_checks -*-
"""The checks of a new instance name: C{name_check} and C{ip_check}.

C{OP_INSTANCE_CREATE} and C{OP_INSTANCE_RENAME} may ask for them, as in
Ganeti:

 - C{name_check}: the name is resolved with the system resolver
   (C{getaddrinfo}, in a thread of the reactor's pool, never in the reactor
   thread).  Its canonical name, lower case and without a trailing dot,
   becomes the instance's name; it must be the given name or start with the
   given name and a dot.  The first address found is the instance's
   address, taken by a NIC whose C{ip} is C{auto}.
 - C{ip_check} (only with C{name_check}): nothing may accept a TCP
   connection at that address on the node daemon port (1811), tried for
   L{IP_CHECK_TIMEOUT} seconds at most.

The engine's environment holds a L{NameChecks} (C{env.hostnames}); its
C{resolve} function and port are what tests replace.
"""

import ipaddress
import socket

from twisted.internet import defer, endpoints, error, protocol, threads

from ganeti_rapi.constants import DEFAULT_NODED_PORT
from ganeti_rapi.engine.errors import (
    ECODE_INVAL,
    ECODE_NOTUNIQUE,
    ECODE_RESOLVER,
    OpPrereqError,
)

#: Seconds the IP check waits for a connection before it calls the address free.
IP_CHECK_TIMEOUT = 5


class Hostname:
    """A resolved name: C{name} (canonical) and C{address} (the first found)."""

    __slots__ = ("name", "address")

    def __init__(self, name, address):
        self.name = name
        self.address = address

    def __repr__(self):
        return "Hostname(%r, %r)" % (self.name, self.address)


def _getaddrinfo(name):
    """C{(canonical name, [addresses])} of C{name}; blocking, for a thread."""
    infos = socket.getaddrinfo(name, None, socket.AF_UNSPEC, socket.SOCK_STREAM, 0,
                               socket.AI_CANONNAME)
    canonical = next((info[3] for info in infos if info[3]), name)
    return canonical, [info[4][0] for info in infos]


def system_resolve(name, reactor=None):
    """Resolve C{name} with the system resolver, in a thread of C{reactor}'s pool.

    @return: a L{Deferred} of C{(canonical name, [addresses])}, failing with
        C{OSError} (C{socket.gaierror}) when the name does not resolve.
    """
    if reactor is None:
        from twisted.internet import reactor
    return threads.deferToThreadPool(reactor, reactor.getThreadPool(), _getaddrinfo, name)


def table_resolver(table):
    """A C{resolve} function answering from C{{name: (canonical name, address)}}.

    Names not in the table do not resolve, as an unknown name would not.
    """

    def resolve(name):
        if name not in table:
            unknown = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return defer.fail(unknown)
        canonical, address = table[name]
        return defer.succeed((canonical, [address]))

    return resolve


def normalized(name):
    """A resolved name as an instance is called: lower case, no trailing dot."""
    return name.lower().rstrip(".")


def matches(given, resolved):
    """Whether C{resolved} is C{given} or C{given} followed by a dot and more."""
    return resolved == given or resolved.startswith(given + ".")


class _Probe(protocol.Protocol):
    def connectionMade(self):
        self.transport.loseConnection()


class NameChecks:
    """The resolver and the address probe the engine's units use.

    @param resolve: C{resolve(name)}, a L{Deferred} (or value) of
        C{(canonical name, [addresses])}, failing with C{OSError} for a name
        that does not resolve; L{system_resolve} by default.
    @param port: the TCP port the IP check connects to (the node daemon's).
    @param timeout: seconds the IP check waits for a connection.
    @param reactor: the reactor resolving and connecting (the global one by
        default).
    """

    def __init__(self, resolve=None, port=DEFAULT_NODED_PORT, timeout=IP_CHECK_TIMEOUT,
                 reactor=None):
        self._resolve = resolve
        self.port = DEFAULT_NODED_PORT if port is None else port
        self.timeout = timeout
        self._reactor = reactor

    @property
    def reactor(self):
        if self._reactor is None:
            from twisted.internet import reactor
            return reactor
        return self._reactor

    @defer.inlineCallbacks
    def resolve(self, name):
        """The L{Hostname} of C{name}, checked against it.

        @raise OpPrereqError: C{resolver_error} when the name does not
            resolve, C{wrong_input} when it is not a host name or resolves to
            a name that does not begin with it.
        """
        try:
            if self._resolve is None:
                canonical, addresses = yield system_resolve(name, self.reactor)
            else:
                canonical, addresses = yield self._resolve(name)
        except ValueError as e:  # UnicodeError too: not a name getaddrinfo takes
            raise OpPrereqError("'%s' is not a valid host name: %s" % (name, e),
                                ECODE_INVAL) from None
        except OSError as e:
            reason = e.strerror if isinstance(e, socket.gaierror) and e.strerror else e
            raise OpPrereqError("Cannot resolve the name '%s': %s" % (name, reason),
                                ECODE_RESOLVER) from None
        if not addresses:
            raise OpPrereqError("The name '%s' resolves to no address" % name,
                                ECODE_RESOLVER)
        resolved = normalized(canonical or name)
        if not matches(name, resolved):
            raise OpPrereqError("Resolved hostname '%s' does not look the same as given"
                                " hostname '%s'" % (resolved, name), ECODE_INVAL)
        return Hostname(resolved, addresses[0])

    @defer.inlineCallbacks
    def in_use(self, address):
        """Whether a host answers at C{address}: as in Ganeti, a connection
        to C{port} accepted or refused (the refusal comes from a live host)
        means yes; a timeout or an unreachable address mean no.
        """
        version = ipaddress.ip_address(address.split("%", 1)[0]).version  # no scope
        endpoint_class = (endpoints.TCP6ClientEndpoint if version == 6
                          else endpoints.TCP4ClientEndpoint)
        endpoint = endpoint_class(self.reactor, address, self.port, timeout=self.timeout)
        try:
            yield endpoints.connectProtocol(endpoint, _Probe())
        except error.ConnectionRefusedError:
            return True
        except (error.ConnectError, OSError):
            return False
        return True


def name_checks(env):
    """The environment's L{NameChecks}, or the real ones if it has none."""
    checks = getattr(env, "hostnames", None)
    return checks if checks is not None else NameChecks()


@defer.inlineCallbacks
def check_new_name(unit, key):
    """Carry out C{name_check} and C{ip_check} on the new name C{unit.op[key]}.

    A resolved name that differs replaces it in C{unit.op}, a copy: the job
    keeps the opcode as it was submitted.

    @return: a L{Deferred} of the L{Hostname}, or of L{None} without
        C{name_check}.
    @raise OpPrereqError: C{wrong_input} for C{ip_check} without
        C{name_check}, see L{NameChecks.resolve}, and C{resource_not_unique}
        when the address answers.
    """
    op, env = unit.op, unit.env
    if op.get("ip_check") and not op.get("name_check"):
        raise OpPrereqError("Cannot do IP address check without a name check",
                            ECODE_INVAL)
    if not op.get("name_check"):
        return None
    name = op[key]
    checks = name_checks(env)
    host = yield checks.resolve(name)
    if host.name != name:
        env.feedback("The name '%s' resolves to '%s', the name the instance takes"
                     % (name, host.name))
    if op.get("ip_check"):
        used = yield checks.in_use(host.address)
        if used:
            raise OpPrereqError("IP %s of instance %s already in use"
                                % (host.address, host.name), ECODE_NOTUNIQUE)
    unit.op = dict(op, **{key: host.name})
    return host
