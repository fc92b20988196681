# -*- test-case-name: tests.test_admin -*-
"""``ganeti-rapi-admin``: manage the RAPI users file from the shell.

Operators could edit the file by hand, but then they must compute the
``{HA1}`` hash themselves and risk leaving a cleartext password or a
duplicate line behind.  This tool edits only the lines of the user it is
told about and keeps every other line, comment and blank line as it was,
so a hand-maintained file stays readable.

It is a short-lived command, so it does plain blocking file I/O and never
imports the reactor; the running daemon notices the new file by itself.
"""

import argparse
import contextlib
import getpass
import os
import sys

from twisted.logger import Logger, formatEvent

from ganeti_rapi import auth, constants, paths
from ganeti_rapi.cli import nodes
from ganeti_rapi.fileutil import atomic_write

#: Exit statuses.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class _Failed(Exception):
    """Stop the command with C{status}, printing the message on stderr."""

    def __init__(self, message, status=EXIT_FAILURE):
        Exception.__init__(self, message)
        self.status = status


def _build_parser():
    parser = argparse.ArgumentParser(
        prog="ganeti-rapi-admin",
        description="Manage the users and nodes of the Ganeti remote API server.",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="data directory (default: %(default)s)",
        default=paths.default_data_dir(),
    )
    parser.add_argument(
        "--users-file",
        metavar="PATH",
        help="users file (default: rapi/users in the data directory)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    user = commands.add_parser("user", help="add, remove or list users")
    actions = user.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    add = actions.add_parser(
        "add",
        help="add a user or change its password and rights",
        description="Add a user or replace its password and rights. The"
        " password is read from the first line of standard input when that"
        " is not a terminal, and asked for twice otherwise.",
    )
    add.add_argument("name", metavar="NAME")
    access = add.add_mutually_exclusive_group()
    access.add_argument(
        "--write",
        dest="options",
        action="store_const",
        const=[constants.ACCESS_WRITE],
        default=[],
        help="allow requests that modify the cluster",
    )
    access.add_argument(
        "--read",
        dest="options",
        action="store_const",
        const=[constants.ACCESS_READ],
        help="allow queries that need explicit read rights",
    )
    add.set_defaults(run=_add)

    remove = actions.add_parser("remove", help="remove a user")
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(run=_remove)

    listing = actions.add_parser("list", help="list users and their rights")
    listing.set_defaults(run=_list)

    nodes.add_commands(commands, _Failed)
    return parser


def _read_lines(path):
    """The file's lines with their endings (none when it does not exist).

    Undecodable bytes survive a read-modify-write unchanged.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    return data.decode("utf-8", "surrogateescape").splitlines(keepends=True)


def _line_user(line):
    """The user a line is about, or L{None} for blanks and comments."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    return line.split(None, 1)[0]


def _owner_for(path):
    """Who a users file at C{path} should belong to.

    An existing file keeps its owner; a new one takes the owner of the
    nearest existing directory above it (the data directory the package
    gives to the daemon's user).
    """
    candidate = path
    while True:
        try:
            st = os.stat(candidate)
            return st.st_uid, st.st_gid
        except FileNotFoundError:
            parent = os.path.dirname(candidate)
            if parent == candidate:
                return None
            candidate = parent


def _write_lines(path, lines):
    """Replace the file by C{lines}, owned as L{_owner_for} says."""
    owner = _owner_for(path)
    directory = os.path.dirname(os.path.abspath(path))
    created_dir = not os.path.isdir(directory)
    data = "".join(lines).encode("utf-8", "surrogateescape")
    atomic_write(path, data, mode=0o600)
    # Run as root, a new file would belong to root and the daemon, running
    # as its own user, could no longer read it.
    if owner is not None and os.geteuid() == 0:
        if created_dir:
            os.chown(directory, *owner)
        os.chown(path, *owner)


def _read_password(name, stdin):
    if not stdin.isatty():
        password = stdin.readline()
        if password.endswith("\n"):
            password = password[:-1]
            if password.endswith("\r"):
                password = password[:-1]
    else:
        try:
            password = getpass.getpass("Password for %s: " % (name,))
            again = getpass.getpass("Repeat the password: ")
        except EOFError:
            raise _Failed("no password given", EXIT_USAGE)
        if password != again:
            raise _Failed("the passwords do not match", EXIT_USAGE)
    if not password:
        raise _Failed("the password must not be empty", EXIT_USAGE)
    if "\n" in password or "\r" in password:
        raise _Failed("the password must not contain a line break", EXIT_USAGE)
    return password


def _add(args, stdin, stdout, stderr):
    try:
        auth.check_name(args.name)
    except ValueError as e:
        raise _Failed("invalid user name %r: %s" % (args.name, e), EXIT_USAGE)
    password = _read_password(args.name, stdin)
    new_line = auth.format_ha1_line(args.name, password, args.options)

    lines = []
    replaced = False
    for line in _read_lines(args.users_file):
        if _line_user(line) != args.name:
            lines.append(line)
        elif not replaced:
            # Keep the first line's place and line ending; drop later ones,
            # which would otherwise override it.
            content = line.splitlines()[0]
            lines.append(new_line + line[len(content) :])
            replaced = True
    if not replaced:
        if lines and not lines[-1].endswith(("\n", "\r")):
            lines[-1] += "\n"
        lines.append(new_line + "\n")
    _write_lines(args.users_file, lines)
    stdout.write(
        "%s user %s (%s) in %s\n"
        % (
            "Updated" if replaced else "Added",
            args.name,
            ",".join(args.options) or "no options",
            args.users_file,
        )
    )


def _remove(args, stdin, stdout, stderr):
    lines = _read_lines(args.users_file)
    kept = [line for line in lines if _line_user(line) != args.name]
    if len(kept) == len(lines):
        raise _Failed("no user %s in %s" % (args.name, args.users_file))
    _write_lines(args.users_file, kept)
    stdout.write("Removed user %s from %s\n" % (args.name, args.users_file))


def _list(args, stdin, stdout, stderr):
    def warn(event):
        stderr.write("warning: %s\n" % (formatEvent(event),))

    text = "".join(_read_lines(args.users_file))
    database = auth.UserDatabase.parse(text, Logger(observer=warn))
    for name in database.names():
        options = ",".join(sorted(database.get(name).options)) or "-"
        stdout.write("%s %s\n" % (name, options))


def main(argv=None, stdin=None, stdout=None, stderr=None):
    """Run the command line C{argv}; returns the exit status."""
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    parser = _build_parser()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:
            return e.code if isinstance(e.code, int) else EXIT_USAGE
    if args.users_file is None:
        args.users_file = paths.DataDir(args.data_dir).users_file
    try:
        args.run(args, stdin, stdout, stderr)
    except _Failed as e:
        stderr.write("ganeti-rapi-admin: %s\n" % (e,))
        return e.status
    except OSError as e:
        stderr.write("ganeti-rapi-admin: %s\n" % (e,))
        return EXIT_FAILURE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
