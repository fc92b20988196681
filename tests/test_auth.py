"""Tests for L{ganeti_rapi.auth}: the users file format and its reloading."""

import os
import time

from twisted.internet import defer, task
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import LogLevel, Logger, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from ganeti_rapi import auth

#: The example of rapi.rst, "Users and passwords", verbatim.
RAPI_RST_EXAMPLE = """\
# Give Jack and Fred read-only access
jack abc123
fred {cleartext}foo555

# Give write access to an imaginary instance creation script
autocreator xyz789 write

# Hashed password for Jessica
jessica {HA1}7046452df2cbb530877058712cf17bd4 write
"""

#: C{echo -n 'jack:Ganeti Remote API:abc123' | md5sum}, the command rapi.rst
#: suggests (with openssl md5).
JACK_HA1 = "54c12257ee9be413f2f3182435514aae"


def sync_runner(f, *args):
    """Run the "threaded" work at once, as the tests' stand-in for a thread."""
    return defer.maybeDeferred(f, *args)


def capture_logs(testcase):
    return EventLoggingObserver.createWithCleanup(testcase, globalLogPublisher)


def texts(events, level=None):
    """The formatted texts of C{events}, optionally of one level only."""
    return [
        formatEvent(e) for e in events if level is None or e["log_level"] == level
    ]


def assert_not_logged(testcase, events, secret):
    for event in events:
        testcase.assertNotIn(secret, formatEvent(event))
        testcase.assertNotIn(secret, repr(event))


class HashTests(SynchronousTestCase):
    """L{auth.ha1_hash}, L{auth.format_ha1_line} and L{auth.check_name}."""

    def test_ha1_hash_matches_md5sum(self):
        """ha1_hash is the lower-case MD5 hex of name:Ganeti Remote API:password."""
        self.assertEqual(auth.ha1_hash("jack", "abc123"), JACK_HA1)

    def test_ha1_hash_encodes_utf8(self):
        """ha1_hash hashes the UTF-8 encoding of non-ASCII names and passwords."""
        import hashlib

        expected = hashlib.md5(
            "jürgen:Ganeti Remote API:päss".encode("utf-8")
        ).hexdigest()
        self.assertEqual(auth.ha1_hash("jürgen", "päss"), expected)

    def test_format_without_options(self):
        """A line without options has exactly two fields."""
        self.assertEqual(
            auth.format_ha1_line("jack", "abc123"), "jack {HA1}" + JACK_HA1
        )

    def test_format_with_options(self):
        """Options become a sorted, comma-separated third field."""
        self.assertEqual(
            auth.format_ha1_line("jack", "abc123", ["write", "read", "write"]),
            "jack {HA1}%s read,write" % (JACK_HA1,),
        )

    def test_formatted_line_parses_back(self):
        """A formatted line authenticates its user with its password and options."""
        line = auth.format_ha1_line("jack", "s3cr et:x", ["write"])
        user = auth.UserDatabase.parse(line).authenticate("jack", "s3cr et:x")
        self.assertEqual(user, auth.User("jack", {"write"}))

    def test_bad_names_rejected(self):
        """Empty names, names with whitespace, a leading '#' or a ':' are rejected."""
        for name in ["", "ja ck", "jack\t", "#jack", "ja:ck"]:
            self.assertRaises(ValueError, auth.check_name, name)
            self.assertRaises(ValueError, auth.format_ha1_line, name, "pw")

    def test_good_names_accepted(self):
        """Ordinary, dotted and non-ASCII names pass the check."""
        for name in ["jack", "auto.creator-1", "jürgen", "a#b"]:
            auth.check_name(name)


class UserTests(SynchronousTestCase):
    """L{auth.User}."""

    def test_options_are_frozenset(self):
        """Options given as any iterable are stored as a frozenset."""
        self.assertEqual(auth.User("a", ["write"]).options, frozenset(["write"]))
        self.assertEqual(auth.User("a").options, frozenset())

    def test_has_any_empty_access(self):
        """An empty access list is satisfied by every user, even one without options."""
        self.assertTrue(auth.User("a").has_any([]))

    def test_has_any_intersecting(self):
        """A user holding one of the listed options satisfies the list."""
        self.assertTrue(auth.User("a", {"read"}).has_any(["write", "read"]))

    def test_has_any_disjoint(self):
        """A user holding none of the listed options does not satisfy the list."""
        self.assertFalse(auth.User("a", {"read"}).has_any(["write"]))
        self.assertFalse(auth.User("a").has_any(["write"]))

    def test_has_any_iterator(self):
        """The access list may be a one-shot iterator."""
        self.assertTrue(auth.User("a", {"write"}).has_any(iter(["write"])))
        self.assertTrue(auth.User("a").has_any(iter([])))


class ParseTests(SynchronousTestCase):
    """L{auth.UserDatabase.parse} and L{auth.UserDatabase.authenticate}."""

    def parse(self, text):
        return auth.UserDatabase.parse(text)

    def test_empty(self):
        """An empty text gives an empty table."""
        db = self.parse("")
        self.assertEqual((len(db), db.names()), (0, []))
        self.assertIsNone(db.authenticate("jack", ""))

    def test_plain_cleartext(self):
        """A password without a leading brace is compared as cleartext."""
        db = self.parse("jack abc123\n")
        self.assertEqual(db.authenticate("jack", "abc123"), auth.User("jack"))

    def test_cleartext_is_case_sensitive(self):
        """Cleartext passwords are compared exactly."""
        self.assertIsNone(self.parse("jack abc123").authenticate("jack", "ABC123"))

    def test_cleartext_scheme(self):
        """'{cleartext}' is a prefix, not part of the password, in any letter case."""
        for prefix in ["{cleartext}", "{CLEARTEXT}", "{ClearText}"]:
            db = self.parse("fred %sfoo555\n" % (prefix,))
            self.assertEqual(db.authenticate("fred", "foo555"), auth.User("fred"))
            self.assertIsNone(db.authenticate("fred", prefix + "foo555"))

    def test_cleartext_scheme_allows_brace(self):
        """A cleartext password starting with a brace works behind '{cleartext}'."""
        db = self.parse("fred {cleartext}{x}y\n")
        self.assertEqual(db.authenticate("fred", "{x}y"), auth.User("fred"))

    def test_ha1_scheme_any_case(self):
        """'{ha1}' is recognised in any letter case, and the hex in any case too."""
        lines = [
            "a {ha1}%s" % (auth.ha1_hash("a", "pw"),),
            "b {HA1}%s" % (auth.ha1_hash("b", "pw").upper(),),
            "c {Ha1}%s" % (auth.ha1_hash("c", "pw"),),
        ]
        db = self.parse("\n".join(lines))
        for name in "abc":
            self.assertEqual(db.authenticate(name, "pw"), auth.User(name))
            self.assertIsNone(db.authenticate(name, "PW"))

    def test_ha1_is_bound_to_the_name(self):
        """An HA1 hash copied to another user does not log that user in."""
        db = self.parse("jack {HA1}%s\njill {HA1}%s\n" % (JACK_HA1, JACK_HA1))
        self.assertEqual(db.authenticate("jack", "abc123"), auth.User("jack"))
        self.assertIsNone(db.authenticate("jill", "abc123"))

    def test_rapi_rst_example(self):
        """The example from rapi.rst gives four users with the documented rights."""
        db = self.parse(RAPI_RST_EXAMPLE)
        self.assertEqual(db.names(), ["autocreator", "fred", "jack", "jessica"])
        self.assertEqual(len(db), 4)
        self.assertEqual(db.authenticate("jack", "abc123"), auth.User("jack"))
        self.assertEqual(db.authenticate("fred", "foo555"), auth.User("fred"))
        self.assertEqual(
            db.authenticate("autocreator", "xyz789"),
            auth.User("autocreator", {"write"}),
        )
        self.assertEqual(db.get("jessica"), auth.User("jessica", {"write"}))
        self.assertIsNone(db.authenticate("jessica", "abc123"))

    def test_options(self):
        """The third field is split on commas; each option is stripped, empty ones dropped."""
        db = self.parse(
            "a pw write\n"
            "b pw read\n"
            "c pw read,write\n"
            "d pw  read , write\n"
            "e pw ,write,,\n"
            "f pw write,frobnicate\n"
        )
        self.assertEqual(db.get("a").options, {"write"})
        self.assertEqual(db.get("b").options, {"read"})
        self.assertEqual(db.get("c").options, {"read", "write"})
        self.assertEqual(db.get("d").options, {"read", "write"})
        self.assertEqual(db.get("e").options, {"write"})
        self.assertEqual(db.get("f").options, {"write", "frobnicate"})

    def test_space_separated_options_are_one_option(self):
        """Options separated by a space form one meaningless option, as in Ganeti."""
        user = self.parse("jack pw read write\n").authenticate("jack", "pw")
        self.assertEqual(user.options, {"read write"})
        self.assertFalse(user.has_any(["read", "write"]))

    def test_password_is_second_field_only(self):
        """Text after the password is never part of it, even when it has spaces."""
        db = self.parse("jack pass word\n")
        self.assertIsNone(db.authenticate("jack", "pass word"))
        self.assertEqual(db.authenticate("jack", "pass"), auth.User("jack", {"word"}))

    def test_colon_in_password(self):
        """Passwords may contain colons, in cleartext and in HA1 form."""
        db = self.parse(
            "a x:y:z\n" + auth.format_ha1_line("b", "p:w: with spaces") + "\n"
        )
        self.assertEqual(db.authenticate("a", "x:y:z"), auth.User("a"))
        self.assertEqual(db.authenticate("b", "p:w: with spaces"), auth.User("b"))
        self.assertIsNone(db.authenticate("b", "p:w:"))

    def test_non_ascii(self):
        """Non-ASCII names and passwords work in both schemes."""
        db = self.parse(
            "jürgen pässwörd\n" + auth.format_ha1_line("zoë", "ŝekreto") + "\n"
        )
        self.assertEqual(db.authenticate("jürgen", "pässwörd"), auth.User("jürgen"))
        self.assertEqual(db.authenticate("zoë", "ŝekreto"), auth.User("zoë"))
        self.assertIsNone(db.authenticate("zoë", "sekreto"))

    def test_unencodable_password_does_not_raise(self):
        """A password holding a lone surrogate simply fails to match."""
        db = self.parse("jack abc123\n" + auth.format_ha1_line("jill", "x"))
        self.assertIsNone(db.authenticate("jack", "abc\udcff"))
        self.assertIsNone(db.authenticate("jill", "\udcff"))
        self.assertIsNone(db.authenticate("\udcff", "\udcff"))

    def test_comments_and_blank_lines(self):
        """Blank lines, whitespace-only lines and (indented) comments are skipped."""
        events = capture_logs(self)
        db = self.parse("# jack abc\n\n   \n\t# fred foo write\n  jill pw  \n")
        self.assertEqual(db.names(), ["jill"])
        self.assertEqual(db.authenticate("jill", "pw"), auth.User("jill"))
        self.assertEqual(texts(events), [])

    def test_crlf_line_endings(self):
        """Lines ending in CRLF parse like lines ending in LF."""
        db = self.parse("jack abc123 write\r\nfred foo\r\n")
        self.assertEqual(
            db.authenticate("jack", "abc123"), auth.User("jack", {"write"})
        )
        self.assertEqual(db.authenticate("fred", "foo"), auth.User("fred"))

    def test_malformed_line_skipped_and_logged(self):
        """A line with one field is logged by line number, without its text, and skipped."""
        events = capture_logs(self)
        db = self.parse("jack abc123\n# c\nlonelysecret\nfred foo555\n")
        self.assertEqual(db.names(), ["fred", "jack"])
        warnings = [e for e in events if e["log_level"] == LogLevel.warn]
        self.assertEqual(len(warnings), 1)
        self.assertEqual(warnings[0]["lineno"], 3)
        self.assertIn("line 3", formatEvent(warnings[0]))
        assert_not_logged(self, events, "lonelysecret")

    def test_parse_logs_to_given_logger(self):
        """Problems are reported to the logger passed to parse."""
        seen = []
        auth.UserDatabase.parse("x\n", Logger(observer=seen.append))
        self.assertEqual([e["lineno"] for e in seen], [1])

    def test_unknown_schemes_never_match(self):
        """Unknown or empty schemes and an unclosed brace never match, and are logged."""
        events = capture_logs(self)
        db = self.parse(
            "a {sha}hushhush\n"
            "b {}hushhush\n"
            "c {hushhush\n"
            "d {ha1}nothex-hushhush\n"
            "e {ha1}abcd\n"
        )
        self.assertEqual(db.names(), ["a", "b", "c", "d", "e"])
        candidates = [
            "hushhush", "{sha}hushhush", "{}hushhush", "{hushhush", "nothex-hushhush",
            "abcd", "",
        ]
        for name in db.names():
            for password in candidates:
                self.assertIsNone(db.authenticate(name, password))
        warnings = texts(events, LogLevel.warn)
        self.assertEqual(len(warnings), 5)
        assert_not_logged(self, events, "hushhush")
        assert_not_logged(self, events, "{sha}")

    def test_duplicate_user_later_wins(self):
        """A later line for the same user replaces password and options of an earlier one."""
        db = self.parse("jack old write\nfred x\njack new read\n")
        self.assertEqual(len(db), 2)
        self.assertIsNone(db.authenticate("jack", "old"))
        self.assertEqual(db.authenticate("jack", "new"), auth.User("jack", {"read"}))

    def test_wrong_password(self):
        """A wrong or empty password gives None."""
        db = self.parse("jack abc123\n")
        self.assertIsNone(db.authenticate("jack", "abc124"))
        self.assertIsNone(db.authenticate("jack", ""))
        self.assertIsNone(db.authenticate("jack", "abc1234"))

    def test_unknown_user(self):
        """An unknown user gives None, whatever the password."""
        db = self.parse("jack abc123\n")
        self.assertIsNone(db.authenticate("jill", "abc123"))
        self.assertIsNone(db.authenticate("JACK", "abc123"))
        self.assertIsNone(db.get("jill"))

    def test_every_outcome_compares_digests(self):
        """Unknown users and unusable passwords cost one digest comparison, like real checks."""
        import hmac

        calls = []
        original = hmac.compare_digest

        def compare_digest(a, b):
            calls.append((len(a), len(b)))
            return original(a, b)

        self.patch(auth.hmac, "compare_digest", compare_digest)
        db = self.parse("a pw\nb {HA1}%s\nc {nope}pw\n" % (auth.ha1_hash("b", "pw"),))
        for name in ["a", "b", "c", "nobody"]:
            del calls[:]
            db.authenticate(name, "guess")
            self.assertEqual(len(calls), 1, name)
            self.assertEqual(calls[0][0], calls[0][1], name)

    def test_repr_hides_passwords(self):
        """Neither the table nor its entries show passwords or hashes in their repr."""
        db = self.parse("jack hushhush\njill {HA1}%s\n" % (JACK_HA1,))
        self.assertNotIn("hushhush", repr(db))
        self.assertNotIn(JACK_HA1, repr(db))
        for entry in db._entries.values():
            self.assertNotIn(JACK_HA1, repr(entry))

    def test_names_len_get(self):
        """names() is sorted, len() counts users, get() finds a user by name."""
        db = self.parse("zed a\nalice b write\nmallory c\n")
        self.assertEqual(db.names(), ["alice", "mallory", "zed"])
        self.assertEqual(len(db), 3)
        self.assertEqual(db.get("alice"), auth.User("alice", {"write"}))


class UsersFileTests(SynchronousTestCase):
    """L{auth.UsersFile}: loading at start and reloading on change."""

    def setUp(self):
        self.path = self.mktemp()
        self.clock = task.Clock()
        self.events = capture_logs(self)
        self.results = []

    def runner(self, f, *args):
        d = sync_runner(f, *args)
        d.addCallback(lambda result: self.results.append(result) or result)
        return d

    def write(self, text, path=None):
        with open(path or self.path, "w") as f:
            f.write(text)

    def users_file(self, **kwargs):
        users = auth.UsersFile(
            self.path, self.clock, run_in_thread=self.runner, **kwargs
        )
        self.addCleanup(lambda: users.running and users.stopService())
        return users

    def started(self, **kwargs):
        users = self.users_file(**kwargs)
        users.startService()
        return users

    def settle(self):
        """Move the clock past the moment the file could still change unnoticed."""
        self.clock.advance(time.time() + 60 - self.clock.seconds())

    def test_load_now(self):
        """load_now reads the file at once and logs the number of users."""
        self.write("jack abc123\nfred foo write\n")
        users = self.users_file()
        users.load_now()
        self.assertEqual(users.database.names(), ["fred", "jack"])
        self.assertEqual(users.authenticate("jack", "abc123"), auth.User("jack"))
        self.assertIn(
            "Loaded 2 users from " + self.path, texts(self.events, LogLevel.info)
        )

    def test_missing_at_start(self):
        """A missing file gives an empty table and one warning, not repeated by checks."""
        users = self.started()
        self.assertEqual(len(users.database), 0)
        self.assertIsNone(users.authenticate("jack", "abc123"))
        self.clock.advance(2)
        self.clock.advance(2)
        warnings = texts(self.events, LogLevel.warn)
        self.assertEqual(len(warnings), 1)
        self.assertIn(self.path, warnings[0])

    def test_unreadable_at_start(self):
        """A path that cannot be read gives an empty table and one warning."""
        os.makedirs(self.path)
        users = self.started()
        self.assertEqual(len(users.database), 0)
        self.clock.advance(2)
        self.assertEqual(len(texts(self.events, LogLevel.warn)), 1)

    def test_start_loads_and_polls(self):
        """startService loads at once, then checks every interval until stopped."""
        self.write("jack abc123\n")
        users = self.started(interval=3.0)
        self.assertEqual(users.database.names(), ["jack"])
        self.assertEqual(self.results, [])
        self.clock.advance(2.9)
        self.assertEqual(self.results, [])
        self.clock.advance(0.1)
        self.assertEqual(len(self.results), 1)
        users.stopService()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.write("fred foo555\n")
        self.clock.advance(10)
        self.assertEqual(users.database.names(), ["jack"])

    def test_default_interval_within_five_seconds(self):
        """By default a change is noticed within 5 seconds."""
        self.write("jack abc123\n")
        users = auth.UsersFile(self.path, self.clock, run_in_thread=sync_runner)
        users.startService()
        self.addCleanup(users.stopService)
        self.write("fred foo555\n")
        self.clock.advance(5)
        self.assertEqual(users.database.names(), ["fred"])

    def test_unchanged_file_not_read_again(self):
        """Once the file has settled, a check without change does not read it."""
        self.write("jack abc123\n")
        self.settle()
        users = self.started()
        self.clock.advance(2)
        self.clock.advance(2)
        self.assertEqual(self.results, [None, None])
        self.assertEqual(users.database.names(), ["jack"])

    def test_recent_file_read_again_quietly(self):
        """A file changed moments ago is read again at the next check, without a reload."""
        self.write("jack abc123\n")
        self.clock.advance(time.time())
        users = self.started()
        before = users.database
        self.clock.advance(2)
        self.assertIsNotNone(self.results[-1])
        self.assertIs(users.database, before)
        self.assertEqual(len(texts(self.events, LogLevel.info)), 1)
        self.settle()
        self.clock.advance(2)
        self.assertEqual(self.results[-1], None)

    def test_edited_in_place_same_size(self):
        """An in-place edit that keeps the size is noticed through the file's times."""
        self.write("jack abc123\n")
        self.settle()
        users = self.started()
        before = os.stat(self.path)
        with open(self.path, "r+b") as f:
            f.write(b"jill")
        # Make sure the times differ even on a file system with coarse ones.
        os.utime(self.path, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))
        self.assertEqual(os.stat(self.path).st_size, before.st_size)
        self.assertEqual(os.stat(self.path).st_ino, before.st_ino)
        self.clock.advance(2)
        self.assertEqual(users.database.names(), ["jill"])
        self.assertEqual(users.authenticate("jill", "abc123"), auth.User("jill"))
        self.assertIsNone(users.authenticate("jack", "abc123"))

    def test_replaced_by_rename(self):
        """A file replaced by renaming another over it is noticed."""
        self.write("jack abc123\n")
        self.settle()
        users = self.started()
        other = self.path + ".new"
        self.write("jack xyz789 write\n", other)
        os.rename(other, self.path)
        self.clock.advance(2)
        self.assertEqual(
            users.authenticate("jack", "xyz789"), auth.User("jack", {"write"})
        )

    def test_created_after_start(self):
        """A file created after start is loaded at the next check."""
        users = self.started()
        self.write("jack abc123 write\n")
        self.clock.advance(2)
        self.assertEqual(users.database.names(), ["jack"])
        self.assertIn(
            "Loaded 1 users from " + self.path, texts(self.events, LogLevel.info)
        )

    def test_deleted(self):
        """A deleted file leaves no users, and that is logged as a warning."""
        self.write("jack abc123\n")
        users = self.started()
        os.remove(self.path)
        self.clock.advance(2)
        self.assertEqual(len(users.database), 0)
        self.assertIsNone(users.authenticate("jack", "abc123"))
        warnings = texts(self.events, LogLevel.warn)
        self.assertEqual(len(warnings), 1)
        self.assertIn(self.path, warnings[0])

    def test_deleted_then_recreated(self):
        """A file deleted and created again with its old content is loaded again."""
        self.write("jack abc123\n")
        users = self.started()
        os.remove(self.path)
        self.clock.advance(2)
        self.write("jack abc123\n")
        self.clock.advance(2)
        self.assertEqual(users.database.names(), ["jack"])

    def test_malformed_line_in_update(self):
        """A malformed line in an updated file is skipped and the rest is loaded."""
        self.write("jack abc123\n")
        users = self.started()
        self.write("jack abc123\noops\nfred foo555 write\n")
        self.clock.advance(2)
        self.assertEqual(users.database.names(), ["fred", "jack"])
        warnings = [e for e in self.events if e["log_level"] == LogLevel.warn]
        self.assertEqual([e["lineno"] for e in warnings], [2])

    def test_read_error_keeps_previous(self):
        """When the file cannot be read, the previous users stay, with one warning."""
        self.write("jack abc123\n")
        users = self.started()
        os.remove(self.path)
        os.mkdir(self.path)
        self.clock.advance(2)
        self.clock.advance(2)
        self.assertEqual(users.database.names(), ["jack"])
        self.assertEqual(len(texts(self.events, LogLevel.warn)), 1)
        os.rmdir(self.path)
        self.write("fred foo555\n")
        self.clock.advance(2)
        self.assertEqual(users.database.names(), ["fred"])

    def test_check_error_does_not_stop_polling(self):
        """A failing check is logged and later checks still run."""
        self.write("jack abc123\n")
        failures = [RuntimeError("boom")]

        def runner(f, *args):
            if failures:
                raise failures.pop()
            return sync_runner(f, *args)

        users = auth.UsersFile(self.path, self.clock, run_in_thread=runner)
        users.startService()
        self.addCleanup(users.stopService)
        self.write("fred foo555\n")
        self.clock.advance(2)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(users.database.names(), ["jack"])
        self.clock.advance(2)
        self.assertEqual(users.database.names(), ["fred"])

    def test_check_never_fails(self):
        """check() fires with None even when the threaded work fails."""
        users = auth.UsersFile(
            self.path, self.clock, run_in_thread=lambda f, *a: defer.fail(OSError("x"))
        )
        self.assertIsNone(self.successResultOf(users.check()))
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)

    def test_undecodable_bytes(self):
        """Bytes that are not UTF-8 do not stop the other users from loading."""
        with open(self.path, "wb") as f:
            f.write(b"j\xffck abc\nfred foo555\n")
        users = self.started()
        self.assertEqual(users.authenticate("fred", "foo555"), auth.User("fred"))
        self.assertEqual(len(users.database), 2)

    def test_passwords_not_logged(self):
        """Loading and reloading never log a password or hash."""
        self.write("jack hushhush\n" + auth.format_ha1_line("jill", "x") + "\nbad\n")
        self.started()
        os.remove(self.path)
        self.clock.advance(2)
        assert_not_logged(self, self.events, "hushhush")
        assert_not_logged(self, self.events, auth.ha1_hash("jill", "x"))

    def test_default_runner_is_a_thread(self):
        """Without run_in_thread, the blocking work goes to the reactor's thread pool."""
        from twisted.internet import threads

        calls = []
        def defer_to_thread(f, *args):
            calls.append(f)
            return defer.succeed(None)

        self.patch(threads, "deferToThread", defer_to_thread)
        auth.UsersFile(self.path, self.clock).check()
        self.assertEqual(calls, [auth._take_snapshot])
