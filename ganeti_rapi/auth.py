# -*- test-case-name: tests.test_auth -*-
"""The RAPI users file: who may log in, with which password and rights.

The file format is Ganeti's, so an existing ``rapi/users`` file keeps
working unchanged (see ``rapi.rst``, "Users and passwords").  Parsing is
forgiving on purpose: a bad line is logged and skipped, because one typo
must not lock every user out of a running cluster.

Password checks take the same time whether or not the user exists and
whatever the stored password looks like, so response times tell an
attacker neither which names exist nor how long a password is.

L{UsersFile} keeps the table current while the daemon runs: it polls the
file's metadata from a thread (the file may sit on a slow or network file
system) and swaps in a freshly parsed table when the file changed.
"""

import hashlib
import hmac
import os

import attr
from twisted.application import service
from twisted.internet import defer, task
from twisted.logger import Logger

from ganeti_rapi import constants

_log = Logger()

_SCHEME_CLEARTEXT = "cleartext"
_SCHEME_HA1 = "ha1"

#: What an unknown user's password is compared against, so that asking
#: for a missing user costs as much as a wrong password for an existing one.
_DUMMY_DIGEST = hashlib.md5(b"no such user").digest()

#: Seconds after a file's last change during which its metadata cannot be
#: trusted to reveal a further change: a second write within the same
#: timestamp tick (up to 2 s on some file systems) leaves size and times
#: as they were.  A file this young is read again at the next check.
_SETTLE_SECONDS = 3.0


def _utf8(text):
    # surrogatepass: a name or password decoded with surrogateescape must
    # simply fail to match, not raise.
    return text.encode("utf-8", "surrogatepass")


def _ha1_digest(name, password):
    return hashlib.md5(
        _utf8("%s:%s:%s" % (name, constants.RAPI_REALM, password))
    ).digest()


def ha1_hash(name, password):
    """The C{{HA1}} form of C{password} for user C{name}, as lower-case hex.

    This is the MD5 of C{name:Ganeti Remote API:password} (RFC 2617's HA1),
    the same value C{echo -n 'name:Ganeti Remote API:pw' | md5sum} prints.
    """
    return _ha1_digest(name, password).hex()


def check_name(name):
    """Raise L{ValueError} unless C{name} can be written to the users file.

    A name must be non-empty, contain no whitespace (fields are separated by
    whitespace), not start with C{#} (a comment) and contain no C{:} (HTTP
    Basic credentials end the name at the first colon, so such a user could
    never log in).
    """
    if not name:
        raise ValueError("user name must not be empty")
    if any(c.isspace() for c in name):
        raise ValueError("user name must not contain whitespace")
    if name.startswith("#"):
        raise ValueError("user name must not start with '#'")
    if ":" in name:
        raise ValueError("user name must not contain ':'")


def format_ha1_line(name, password, options=()):
    """A users file line for C{name} with an C{{HA1}} password hash.

    @param options: option names such as C{"write"}; written sorted and
        comma-separated as the third field, which is left out when empty.
    """
    check_name(name)
    fields = [name, "{HA1}" + ha1_hash(name, password)]
    options = sorted(set(options))
    if options:
        fields.append(",".join(options))
    return " ".join(fields)


@attr.s(frozen=True)
class User:
    """An authenticated user and the options (access rights) it holds."""

    name = attr.ib()
    options = attr.ib(default=frozenset(), converter=frozenset)

    def has_any(self, access):
        """Whether this user satisfies the access list C{access}.

        An empty list asks for nothing, so any user satisfies it; otherwise
        the user needs at least one of the listed options.
        """
        access = frozenset(access)
        return not access or not access.isdisjoint(self.options)


@attr.s(frozen=True)
class _Entry:
    """A user and what its password is checked against.

    @ivar scheme: C{"cleartext"}, C{"ha1"}, or L{None} when the stored
        password can never match.
    @ivar expected: the digest a correct password produces under C{scheme}.
    """

    user = attr.ib()
    scheme = attr.ib()
    expected = attr.ib(repr=False)

    def check(self, password):
        name = self.user.name
        if self.scheme == _SCHEME_CLEARTEXT:
            # Compare digests, not the texts, so the time taken does not
            # depend on the stored password's length.
            candidate = hashlib.sha256(_utf8(password)).digest()
            return hmac.compare_digest(candidate, self.expected)
        if self.scheme == _SCHEME_HA1:
            return hmac.compare_digest(_ha1_digest(name, password), self.expected)
        hmac.compare_digest(_ha1_digest(name, password), _DUMMY_DIGEST)
        return False


def _parse_password(name, field, lineno, log):
    """Turn a password field into an L{_Entry}'s C{(scheme, expected)}.

    Only line numbers and user names are logged, never any part of the
    field: a mistyped scheme may well be part of a password.
    """
    if not field.startswith("{"):
        scheme, secret = _SCHEME_CLEARTEXT, field
    else:
        closing = field.find("}")
        if closing < 0:
            log.warn(
                "Users file line {lineno}: the password of user {user} starts"
                " with '{{' but has no closing '}}'; it will never match",
                lineno=lineno,
                user=name,
            )
            return None, None
        scheme, secret = field[1:closing].lower(), field[closing + 1 :]

    if scheme == _SCHEME_CLEARTEXT:
        return scheme, hashlib.sha256(_utf8(secret)).digest()
    if scheme == _SCHEME_HA1:
        try:
            expected = bytes.fromhex(secret)
        except ValueError:
            expected = b""
        if len(expected) != len(_DUMMY_DIGEST):
            log.warn(
                "Users file line {lineno}: the {{HA1}} password of user {user}"
                " is not 32 hexadecimal digits; it will never match",
                lineno=lineno,
                user=name,
            )
            return None, None
        return scheme, expected
    log.warn(
        "Users file line {lineno}: the password of user {user} has an"
        " unknown scheme; it will never match",
        lineno=lineno,
        user=name,
    )
    return None, None


class UserDatabase:
    """An immutable table of users, as read from one version of the file.

    Build it with L{parse}; C{UserDatabase()} is the empty table.
    """

    def __init__(self, entries=None):
        self._entries = dict(entries or {})

    @classmethod
    def parse(cls, text, log=None):
        """Parse the text of a users file.

        Lines that cannot be used are logged (by line number) to C{log},
        or to this module's logger, and skipped; parsing never fails.
        """
        if log is None:
            log = _log
        entries = {}
        for lineno, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = line.split(None, 2)
            if len(fields) < 2:
                log.warn(
                    "Users file line {lineno} is malformed (expected a user"
                    " name and a password); ignoring it",
                    lineno=lineno,
                )
                continue
            name, password = fields[0], fields[1]
            options = ()
            if len(fields) > 2:
                options = [o.strip() for o in fields[2].split(",")]
            user = User(name, [o for o in options if o])
            scheme, expected = _parse_password(name, password, lineno, log)
            # A later line for the same user replaces an earlier one.
            entries[name] = _Entry(user, scheme, expected)
        return cls(entries)

    def __len__(self):
        return len(self._entries)

    def __repr__(self):
        return "<UserDatabase of %d users>" % (len(self),)

    def names(self):
        """The user names, sorted."""
        return sorted(self._entries)

    def get(self, name):
        """The L{User} called C{name}, or L{None}."""
        entry = self._entries.get(name)
        return None if entry is None else entry.user

    def authenticate(self, name, password):
        """The L{User} if C{password} (str) is C{name}'s password, else L{None}."""
        entry = self._entries.get(name)
        if entry is None:
            hmac.compare_digest(_ha1_digest(name, password), _DUMMY_DIGEST)
            return None
        return entry.user if entry.check(password) else None


@attr.s(frozen=True)
class _Snapshot:
    """What a check found on disk.

    @ivar signature: identifies this version of the file (L{None}: missing).
    @ivar data: the file's bytes, or L{None} when missing or unreadable.
    @ivar error: why the file could not be read, or L{None}.
    @ivar settled: L{False} when the file changed so recently that a
        further change might not show in its signature.
    """

    signature = attr.ib()
    data = attr.ib(default=None, repr=False)
    error = attr.ib(default=None)
    settled = attr.ib(default=True)


#: A signature no file has: the file is read at the next check.
_UNKNOWN = object()


def _take_snapshot(path, previous, now):
    """Read C{path} if its signature differs from C{previous}.

    Blocking; runs in a thread.  Returns L{None} when nothing changed.
    C{now} is the wall-clock time in seconds.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        signature = None
    except OSError as e:
        signature = ("error", e.errno)
        if signature == previous:
            return None
        return _Snapshot(signature, error=e.strerror or str(e))
    else:
        signature = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if signature == previous:
        return None
    if signature is None:
        return _Snapshot(None)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return _Snapshot(None)
    except OSError as e:
        return _Snapshot(signature, error=e.strerror or str(e))
    changed = max(st.st_mtime_ns, st.st_ctime_ns) / 1e9
    return _Snapshot(signature, data, settled=now - changed >= _SETTLE_SECONDS)


def _defer_to_thread(f, *args):
    from twisted.internet import threads

    return threads.deferToThread(f, *args)


class UsersFile(service.Service):
    """The current L{UserDatabase} of a users file, reloaded when it changes.

    A file edited in place, replaced by a rename, created or deleted is
    noticed within C{interval} seconds.  A file that cannot be read leaves
    the previous table in place; a missing file means no users.

    @param clock: the L{IReactorTime} that schedules the checks; its
        C{seconds()} must be wall-clock time, as the reactor's is.
    @param run_in_thread: C{run_in_thread(f, *args)} runs the blocking
        C{f} and returns a L{Deferred} of its result; by default a thread
        of the reactor's pool.
    """

    log = Logger()

    def __init__(self, path, clock, interval=2.0, run_in_thread=None):
        self.path = path
        self.clock = clock
        self.interval = interval
        self._run_in_thread = run_in_thread or _defer_to_thread
        self._database = UserDatabase()
        self._signature = _UNKNOWN
        # Digest of the bytes the current table was parsed from: None once
        # the file was found missing, _UNKNOWN before the first read.
        self._digest = _UNKNOWN
        self._loop = None

    @property
    def database(self):
        """The current L{UserDatabase}."""
        return self._database

    def authenticate(self, name, password):
        """See L{UserDatabase.authenticate}."""
        return self._database.authenticate(name, password)

    def load_now(self):
        """Read the file synchronously (at startup, before serving)."""
        self._apply(_take_snapshot(self.path, _UNKNOWN, self.clock.seconds()))

    def check(self):
        """Reload the file if it changed; the L{Deferred} never fails."""
        d = defer.maybeDeferred(
            self._run_in_thread,
            _take_snapshot,
            self.path,
            self._signature,
            self.clock.seconds(),
        )
        d.addCallback(self._apply)
        d.addErrback(
            lambda f: self.log.failure(
                "Checking the users file {path} failed", f, path=self.path
            )
        )
        return d

    def _apply(self, snapshot):
        if snapshot is None:
            return
        self._signature = snapshot.signature if snapshot.settled else _UNKNOWN
        if snapshot.error is not None:
            self.log.warn(
                "Cannot read the users file {path} ({error}); {count} users"
                " remain",
                path=self.path,
                error=snapshot.error,
                count=len(self._database),
            )
            return
        if snapshot.data is None:
            if self._digest is not None:
                self._digest = None
                self._database = UserDatabase()
                self.log.warn(
                    "The users file {path} does not exist; nobody can log in",
                    path=self.path,
                )
            return
        digest = hashlib.sha256(snapshot.data).digest()
        if digest == self._digest:
            return
        text = snapshot.data.decode("utf-8", "replace")
        self._database = UserDatabase.parse(text, self.log)
        self._digest = digest
        self.log.info(
            "Loaded {count} users from {path}",
            count=len(self._database),
            path=self.path,
        )

    def startService(self):
        self.load_now()
        service.Service.startService(self)
        self._loop = task.LoopingCall(self.check)
        self._loop.clock = self.clock
        done = self._loop.start(self.interval, now=False)
        done.addErrback(
            lambda f: self.log.failure("Users file polling stopped", f)
        )

    def stopService(self):
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        return service.Service.stopService(self)
