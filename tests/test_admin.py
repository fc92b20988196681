"""Tests for L{ganeti_rapi.cli.admin}, the C{ganeti-rapi-admin} command."""

import io
import unittest
import os
import stat
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from ganeti_rapi import auth, paths
from ganeti_rapi.cli import admin

from tests.helpers import REPO_ROOT, subprocess_env


class FakeTerminal(io.StringIO):
    """A standard input that claims to be a terminal."""

    def isatty(self):
        return True


class AdminTestCase(SynchronousTestCase):
    def setUp(self):
        self.path = os.path.abspath(os.path.join(self.mktemp(), "rapi", "users"))

    def run_admin(self, *argv, stdin="s3cret\n"):
        """Run the command in-process; returns (status, stdout, stderr)."""
        if isinstance(stdin, str):
            stdin = io.StringIO(stdin)
        out, err = io.StringIO(), io.StringIO()
        status = admin.main(
            ["--users-file", self.path] + list(argv), stdin, out, err
        )
        return status, out.getvalue(), err.getvalue()

    def add(self, name, password="s3cret", *options):
        status, out, err = self.run_admin(
            "user", "add", name, *options, stdin=password + "\n"
        )
        self.assertEqual((status, err), (0, ""))
        return out

    def write(self, text):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with open(self.path, "w") as f:
            f.write(text)

    def read(self):
        with open(self.path) as f:
            return f.read()

    def database(self):
        return auth.UserDatabase.parse(self.read())


class AddTests(AdminTestCase):
    """C{user add}."""

    def test_add_from_stdin(self):
        """A user added with a password on stdin can authenticate with it."""
        out = self.add("jack", "abc123")
        self.assertEqual(
            self.database().authenticate("jack", "abc123"), auth.User("jack")
        )
        self.assertEqual(self.read(), auth.format_ha1_line("jack", "abc123") + "\n")
        self.assertIn("jack", out)
        self.assertEqual(len(out.splitlines()), 1)

    def test_password_stored_hashed(self):
        """The file holds an {HA1} hash, never the password itself."""
        self.add("jack", "hushhush")
        text = self.read()
        self.assertIn("{HA1}" + auth.ha1_hash("jack", "hushhush"), text)
        self.assertNotIn("hushhush", text)

    def test_write_option(self):
        """--write gives the user the write option."""
        self.add("jack", "pw", "--write")
        self.assertEqual(self.database().get("jack").options, {"write"})

    def test_read_option(self):
        """--read gives the user the read option."""
        self.add("jack", "pw", "--read")
        self.assertEqual(self.database().get("jack").options, {"read"})

    def test_read_and_write_exclusive(self):
        """--read and --write together are a usage error."""
        status, out, err = self.run_admin("user", "add", "jack", "--read", "--write")
        self.assertEqual(status, 2)
        self.assertIn("not allowed with", err)
        self.assertFalse(os.path.exists(self.path))

    def test_password_line_endings_stripped(self):
        """Only the first stdin line is the password, without LF or CRLF."""
        self.add("jack", "a b:c\r\nignored")
        self.assertEqual(
            self.database().authenticate("jack", "a b:c"), auth.User("jack")
        )

    def test_non_ascii(self):
        """Non-ASCII names and passwords are stored as UTF-8."""
        self.add("jürgen", "pässwörd")
        self.assertEqual(
            self.database().authenticate("jürgen", "pässwörd"), auth.User("jürgen")
        )

    def test_replace_keeps_position_and_comments(self):
        """Adding an existing user rewrites its line in place and keeps every other line."""
        self.write("# header\njack old\n\n  # middle\nfred foo write\n# tail\n")
        out = self.add("jack", "new", "--write")
        self.assertEqual(
            self.read(),
            "# header\n%s\n\n  # middle\nfred foo write\n# tail\n"
            % (auth.format_ha1_line("jack", "new", ["write"]),),
        )
        db = self.database()
        self.assertIsNone(db.authenticate("jack", "old"))
        self.assertEqual(db.authenticate("jack", "new"), auth.User("jack", {"write"}))
        self.assertEqual(db.authenticate("fred", "foo"), auth.User("fred", {"write"}))
        self.assertIn("Updated", out)

    def test_replace_drops_later_duplicates(self):
        """Later lines of the same user are dropped, so they cannot override the new one."""
        self.write("jack a\nfred b\njack c write\n")
        self.add("jack", "new")
        lines = self.read().splitlines()
        self.assertEqual(lines, [auth.format_ha1_line("jack", "new"), "fred b"])

    def test_replace_keeps_crlf(self):
        """A replaced line keeps its CRLF ending."""
        self.write("jack a\r\nfred b\r\n")
        self.add("jack", "new")
        with open(self.path, "rb") as f:
            data = f.read()
        self.assertEqual(
            data, b"%s\r\nfred b\r\n" % (auth.format_ha1_line("jack", "new").encode(),)
        )

    def test_append_after_last_line_without_newline(self):
        """A new user goes on its own line even if the file lacks a final newline."""
        self.write("# users\nfred b")
        self.add("jack", "pw")
        self.assertEqual(
            self.read(), "# users\nfred b\n%s\n" % (auth.format_ha1_line("jack", "pw"),)
        )

    def test_undecodable_lines_kept(self):
        """Bytes that are not UTF-8 in other lines survive an edit unchanged."""
        os.makedirs(os.path.dirname(self.path))
        with open(self.path, "wb") as f:
            f.write(b"# caf\xe9\nfred b\n")
        self.add("jack", "pw")
        with open(self.path, "rb") as f:
            self.assertTrue(f.read().startswith(b"# caf\xe9\nfred b\n"))

    def test_new_file_owned_like_data_dir(self):
        """Run as root, a new users file and its directory take the data directory's owner."""
        if os.geteuid() != 0:
            raise unittest.SkipTest("changing owners needs root (CI runs as root)")
        data_dir = os.path.dirname(os.path.dirname(self.path))
        os.makedirs(data_dir)
        os.chown(data_dir, 4321, 4321)
        self.add("jack")
        for path in (self.path, os.path.dirname(self.path)):
            st = os.stat(path)
            self.assertEqual((st.st_uid, st.st_gid), (4321, 4321), path)

    def test_file_mode_0600(self):
        """The users file is written with mode 0600, creating its directory."""
        self.add("jack")
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o600)

    def test_file_mode_reset_on_edit(self):
        """Editing a file that was world-readable leaves it at mode 0600."""
        self.write("fred b\n")
        os.chmod(self.path, 0o644)
        self.add("jack")
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o600)

    def test_bad_names(self):
        """Empty names, whitespace, a leading '#' or ':' exit with status 2 and a message."""
        for name in ["", "ja ck", "#jack", "ja:ck"]:
            status, out, err = self.run_admin("user", "add", name)
            self.assertEqual(status, 2, name)
            self.assertIn("invalid user name", err)
            self.assertEqual(out, "")
        self.assertFalse(os.path.exists(self.path))

    def test_option_like_name(self):
        """A name starting with '-' is taken as an option by argparse and refused."""
        status, out, err = self.run_admin("user", "add", "-x")
        self.assertEqual(status, 2)

    def test_empty_password(self):
        """An empty password (or empty stdin) exits with status 2."""
        for stdin in ["\n", ""]:
            status, out, err = self.run_admin("user", "add", "jack", stdin=stdin)
            self.assertEqual(status, 2)
            self.assertIn("password must not be empty", err)
        self.assertFalse(os.path.exists(self.path))

    def test_terminal_prompts_twice(self):
        """On a terminal the password is asked for twice with getpass."""
        prompts = []

        def getpass(prompt):
            prompts.append(prompt)
            return "typed"

        self.patch(admin.getpass, "getpass", getpass)
        status, out, err = self.run_admin(
            "user", "add", "jack", stdin=FakeTerminal("not this\n")
        )
        self.assertEqual(status, 0)
        self.assertEqual(len(prompts), 2)
        self.assertEqual(
            self.database().authenticate("jack", "typed"), auth.User("jack")
        )

    def test_terminal_mismatch(self):
        """Two different passwords typed on a terminal exit with status 2."""
        answers = ["one", "two"]
        self.patch(admin.getpass, "getpass", lambda prompt: answers.pop(0))
        status, out, err = self.run_admin("user", "add", "jack", stdin=FakeTerminal())
        self.assertEqual(status, 2)
        self.assertIn("do not match", err)
        self.assertFalse(os.path.exists(self.path))

    def test_data_dir(self):
        """Without --users-file, the file is rapi/users in --data-dir."""
        data_dir = self.mktemp()
        status = admin.main(
            ["--data-dir", data_dir, "user", "add", "jack"],
            io.StringIO("pw\n"),
            io.StringIO(),
            io.StringIO(),
        )
        self.assertEqual(status, 0)
        self.assertTrue(os.path.exists(paths.DataDir(data_dir).users_file))

    def test_write_error(self):
        """A users file that cannot be written gives status 1 and a message."""
        os.makedirs(self.path)
        status, out, err = self.run_admin("user", "add", "jack")
        self.assertEqual(status, 1)
        self.assertIn(self.path, err)


class RemoveTests(AdminTestCase):
    """C{user remove}."""

    def test_remove(self):
        """Removing a user drops all its lines and keeps comments and other users."""
        self.write("# head\njack a\nfred b write\n# jack's old line\njack c\n")
        status, out, err = self.run_admin("user", "remove", "jack")
        self.assertEqual(status, 0)
        self.assertEqual(self.read(), "# head\nfred b write\n# jack's old line\n")
        self.assertIn("jack", out)
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o600)

    def test_remove_unknown(self):
        """Removing an unknown user exits with status 1 and leaves the file alone."""
        self.write("fred b\n# jack\n")
        status, out, err = self.run_admin("user", "remove", "jack")
        self.assertEqual(status, 1)
        self.assertIn("no user jack", err)
        self.assertEqual(self.read(), "fred b\n# jack\n")

    def test_remove_without_file(self):
        """Removing from a missing file exits with status 1 without creating it."""
        status, out, err = self.run_admin("user", "remove", "jack")
        self.assertEqual(status, 1)
        self.assertFalse(os.path.exists(self.path))


class ListTests(AdminTestCase):
    """C{user list}."""

    def test_list(self):
        """Users are listed sorted with their options, or '-' without any."""
        self.add("zed", "pw1")
        self.add("alice", "pw2", "--write")
        self.write(self.read() + "bob hushhush read,write\n")
        status, out, err = self.run_admin("user", "list")
        self.assertEqual(status, 0)
        self.assertEqual(out, "alice write\nbob read,write\nzed -\n")

    def test_list_hides_secrets(self):
        """The listing shows neither passwords nor hashes."""
        self.add("jack", "pw1")
        self.write(self.read() + "bob hushhush\n")
        status, out, err = self.run_admin("user", "list")
        self.assertNotIn("HA1", out)
        self.assertNotIn(auth.ha1_hash("jack", "pw1"), out)
        self.assertNotIn("hushhush", out)

    def test_list_missing_file(self):
        """A missing file lists nothing and succeeds."""
        self.assertEqual(self.run_admin("user", "list"), (0, "", ""))

    def test_list_warns_about_malformed_lines(self):
        """Malformed lines are reported on stderr by line number."""
        self.write("jack a\nlonely\n")
        status, out, err = self.run_admin("user", "list")
        self.assertEqual((status, out), (0, "jack -\n"))
        self.assertIn("line 2", err)
        self.assertNotIn("lonely", err)


class CommandLineTests(AdminTestCase):
    """Argument handling and how the tool runs."""

    def test_help(self):
        """--help prints usage on the given stdout and returns 0."""
        status, out, err = self.run_admin("--help")
        self.assertEqual(status, 0)
        self.assertIn("ganeti-rapi-admin", out)

    def test_missing_command(self):
        """No command, or no user action, is a usage error with status 2."""
        for argv in [(), ("user",)]:
            status, out, err = self.run_admin(*argv)
            self.assertEqual(status, 2)
            self.assertIn("usage:", err)

    def test_runs_as_module_without_reactor(self):
        """python -m runs the tool, and neither it nor auth imports the reactor."""
        code = (
            "import runpy, sys\n"
            "sys.argv[0] = 'ganeti-rapi-admin'\n"
            "try:\n"
            "    runpy.run_module('ganeti_rapi.cli.admin', run_name='__main__')\n"
            "finally:\n"
            "    import ganeti_rapi.auth\n"
            "    loaded = 'twisted.internet.reactor' in sys.modules\n"
            "    print('reactor' if loaded else 'no reactor')\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code, "--users-file", self.path]
            + ["user", "add", "jack"],
            input=b"pw\n",
            capture_output=True,
            cwd=REPO_ROOT,
            env=subprocess_env(),
            timeout=60,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.splitlines()[-1], b"no reactor")
        self.assertEqual(
            self.database().authenticate("jack", "pw"), auth.User("jack")
        )
