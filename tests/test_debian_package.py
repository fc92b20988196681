"""The Debian packages, their man pages and the documentation site.

L{DebianPackageTests} builds the packages from this checkout with
C{dpkg-buildpackage}, installs them with C{dpkg} on this machine, starts the
installed master daemon with the command line of its systemd unit, asks it
for C{/version} over TLS, starts the node daemon the same way and purges
the packages again, checking that nothing is left behind.  It needs root and Debian (CI has both) and takes
about a minute; elsewhere it is skipped.  The build skips the packages' own
unit tests (C{nocheck}): the suite this test belongs to is those tests.

Commands that touch the system run with Debian's C{PATH} and no Python
variables: a C{python3} from pyenv or a virtualenv first on C{PATH} would
otherwise run pybuild's steps and python3-twisted's plugin-cache trigger.
"""

import argparse
import fcntl
import grp
import http.client
import json
import os
import pwd
import queue
import re
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time

from twisted.trial.unittest import SkipTest, SynchronousTestCase

import ganeti_rapi
from ganeti_rapi import noded_tap, tap
from ganeti_rapi.cli import admin

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEBIAN_DIR = os.path.join(REPO_ROOT, "debian")
DOC_DIR = os.path.join(REPO_ROOT, "doc")

#: The binary packages, in the order dpkg installs them.
PACKAGES = ("ganeti-rapi-common", "ganeti-rapi", "ganeti-noded")
SYSTEM_USER = "ganeti-rapi"
DATA_DIR = "/var/lib/ganeti-rapi"
UNIT_DIR = "/lib/systemd/system"
PLUGIN_CACHE = "/usr/lib/python3/dist-packages/twisted/plugins/dropin.cache"
PLUGIN_MODULES = (b"ganeti_rapi_plugin", b"ganeti_noded_plugin")

#: What building (without the tests) and installing need; tests/run
#: installs the same list.
BUILD_PACKAGES = ("debhelper", "dh-python", "python3-all", "python3-setuptools",
                  "python3-sphinx")
RUNTIME_PACKAGES = ("adduser", "python3-twisted", "python3-treq", "python3-openssl",
                    "python3-service-identity", "python3-cryptography", "systemd")

#: What the build needs from the checkout.
SOURCE_ENTRIES = ("setup.py", "pyproject.toml", "README.md", "ganeti_rapi", "twisted",
                  "doc", "debian")

#: Held while one run of L{DebianPackageTests} owns the machine's packages.
LOCK_FILE = "/run/lock/ganeti-rapi-package-test.lock" if os.path.isdir("/run/lock") \
    else "/tmp/ganeti-rapi-package-test.lock"

DEBIAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
SYSTEM_PYTHON = "/usr/bin/python3"


def debian_env(home, **extra):
    """A clean environment for Debian's tools."""
    env = {"PATH": DEBIAN_PATH, "LANG": "C.UTF-8", "HOME": home,
           "DEBIAN_FRONTEND": "noninteractive"}
    env.update(extra)
    return env


def run(testcase, argv, env, cwd="/", timeout=600, check=True):
    """Run C{argv}; fail C{testcase} with the output unless it exits 0."""
    result = subprocess.run(argv, env=env, cwd=cwd, timeout=timeout, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = result.stdout.decode("utf-8", "replace")
    if check and result.returncode != 0:
        testcase.fail("%s exited %d:\n%s" % (" ".join(argv), result.returncode, output[-6000:]))
    return result.returncode, output


def package_state(name):
    """dpkg's status of package C{name}, or L{None} if dpkg does not know it."""
    result = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", name],
                            env=debian_env("/"), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    if result.returncode != 0:
        return None
    state = result.stdout.decode().strip()
    return None if state in ("", "not-installed") else state


def unit_service_section(path):
    """The C{[Service]} keys of a unit file (the last value of each key)."""
    keys = {}
    section = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line
                continue
            if section == "[Service]":
                name, _, value = line.partition("=")
                keys[name.strip()] = value.strip()
    return keys


def read_environment_file(path):
    """The variables of a systemd C{EnvironmentFile} (quotes removed)."""
    variables = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            name, _, value = line.partition("=")
            variables[name.strip()] = " ".join(shlex.split(value))
    return variables


def expand_exec_start(command, variables):
    """systemd's expansion of an C{ExecStart} line: C{$NAME} becomes the
    words of the variable, C{${NAME}} one argument."""
    argv = []
    for word in shlex.split(command):
        whole = re.fullmatch(r"\$\{(\w+)\}", word)
        split = re.fullmatch(r"\$(\w+)", word)
        if whole:
            argv.append(variables.get(whole.group(1), ""))
        elif split:
            argv.extend(variables.get(split.group(1), "").split())
        else:
            argv.append(word)
    return argv


class DaemonProcess:
    """A daemon started from a unit's command line, its output read by a thread."""

    def __init__(self, argv, env, user, group, umask):
        self.lines = queue.Queue()
        self.output = []
        self.process = subprocess.Popen(
            argv, env=env, cwd="/", user=user, group=group, extra_groups=[], umask=umask,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.process.stdout:
            line = raw.decode("utf-8", "replace")
            self.output.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, pattern, timeout=60):
        """The first match of C{pattern} in the output, or L{None}."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                return None
            if line is None:
                return None
            match = re.search(pattern, line)
            if match:
                return match

    def stop(self, timeout=30):
        """SIGTERM, as systemd stops it; SIGKILL if that does not work."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.reader.join(10)
        self.process.stdout.close()


class DebianMetadataTests(SynchronousTestCase):
    """What the package files promise, checked without building anything."""

    def setUp(self):
        if not os.path.isdir(DEBIAN_DIR):
            raise SkipTest("no debian/ directory beside tests/ (a package build)")

    def test_changelog_version_is_the_package_version(self):
        """debian/changelog's latest version is the Python package's version
        (the source format is native, so there is no Debian revision)."""
        with open(os.path.join(DEBIAN_DIR, "changelog")) as f:
            first = f.readline()
        version = re.match(r"ganeti-rapi \(([^)]+)\)", first).group(1)
        self.assertEqual(version, ganeti_rapi.__version__)
        with open(os.path.join(DEBIAN_DIR, "source", "format")) as f:
            self.assertEqual(f.read().strip(), "3.0 (native)")

    def test_units_run_debian_twistd_in_the_foreground(self):
        """Each unit runs bookworm's twistd3 in the foreground, without a pid
        file, on the packaged data directory, with the options of its
        /etc/default file; the master as its own user, the node daemon as
        root."""
        for name, variable, user in (("ganeti-rapi", "RAPI_ARGS", SYSTEM_USER),
                                     ("ganeti-noded", "NODED_ARGS", None)):
            service = unit_service_section(os.path.join(DEBIAN_DIR, name + ".service"))
            self.assertEqual(
                shlex.split(service["ExecStart"]),
                ["/usr/bin/twistd3", "--nodaemon", "--pidfile=", name,
                 "--data-dir=" + DATA_DIR, "$" + variable],
            )
            self.assertEqual(service["EnvironmentFile"], "-/etc/default/" + name)
            self.assertEqual(service.get("User"), user)
            defaults = read_environment_file(os.path.join(DEBIAN_DIR, name + ".default"))
            self.assertEqual(defaults, {variable: ""})

    def test_triggers_refresh_the_plugin_cache(self):
        """Both packages holding a twistd plugin activate python3-twisted's
        plugin-cache trigger."""
        for name in ("ganeti-rapi", "ganeti-noded"):
            with open(os.path.join(DEBIAN_DIR, name + ".triggers")) as f:
                directives = [line.split() for line in f
                              if line.strip() and not line.startswith("#")]
            self.assertEqual(directives, [["activate-noawait", "twisted-plugins-cache"]])


def _rst(name):
    with open(os.path.join(DOC_DIR, "man", name + ".rst")) as f:
        return f.read()


def _argparse_words(parser):
    """The subcommand names and long options of an argparse parser, recursively."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name
                yield from _argparse_words(sub)
        else:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    yield option


class ManPageTests(SynchronousTestCase):
    """The man pages name every option the programs take."""

    def setUp(self):
        if not os.path.isdir(os.path.join(DOC_DIR, "man")):
            raise SkipTest("no doc/man/ beside tests/")

    def assertDocumented(self, page, words):
        text = _rst(page)
        missing = sorted({w for w in words if "**%s**" % (w,) not in text})
        self.assertEqual(missing, [], "not in doc/man/%s.rst" % (page,))

    def test_ganeti_rapi(self):
        """ganeti-rapi(8) names every option of C{twistd ganeti-rapi}."""
        options = tap.Options()
        words = ["--" + o.rstrip("=") for o in options.longOpt if o not in ("help", "version")]
        words += ["-" + c for c in options.shortOpt.replace(":", "")]
        self.assertDocumented("ganeti-rapi", words)

    def test_ganeti_noded(self):
        """ganeti-noded(8) names every option of C{twistd ganeti-noded}."""
        options = noded_tap.Options()
        words = ["--" + o.rstrip("=") for o in options.longOpt if o not in ("help", "version")]
        words += ["-" + c for c in options.shortOpt.replace(":", "")]
        self.assertDocumented("ganeti-noded", words)

    def test_ganeti_rapi_admin(self):
        """ganeti-rapi-admin(8) names every command and option of the tool."""
        self.assertDocumented("ganeti-rapi-admin", set(_argparse_words(admin._build_parser())))


def _system_python_has(module):
    try:
        return subprocess.run([SYSTEM_PYTHON, "-c", "import " + module],
                              env=debian_env("/"), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0
    except OSError:
        return False


class DocumentationTests(SynchronousTestCase):
    """The Sphinx site and the man pages build without a single warning."""

    def setUp(self):
        if not os.path.exists(os.path.join(DOC_DIR, "conf.py")):
            raise SkipTest("no doc/conf.py here")
        if not _system_python_has("sphinx"):
            raise SkipTest("Sphinx is not installed (Debian: python3-sphinx)")

    def build(self, builder):
        out = tempfile.mkdtemp(prefix="ganeti-rapi-doc-")
        self.addCleanup(shutil.rmtree, out, True)
        run(self, [SYSTEM_PYTHON, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", builder,
                   "-d", os.path.join(out, "doctrees"), DOC_DIR, os.path.join(out, builder)],
            debian_env(out), timeout=300)
        return os.path.join(out, builder)

    def test_html(self):
        """C{sphinx -W -b html doc} succeeds: no reST error, no page outside
        the table of contents, no broken reference."""
        html = self.build("html")
        for page in ("index", "install", "operations", "rapi", "node-rpc", "design"):
            self.assertTrue(os.path.exists(os.path.join(html, page + ".html")), page)

    def test_man(self):
        """C{sphinx -W -b man doc} makes the three man pages of section 8."""
        man = self.build("man")
        self.assertEqual(sorted(os.listdir(man)),
                         ["ganeti-noded.8", "ganeti-rapi-admin.8", "ganeti-rapi.8"])


class DebianPackageTests(SynchronousTestCase):
    """Build, install, run and purge the packages on this machine."""

    def setUp(self):
        if not os.path.isdir(DEBIAN_DIR):
            raise SkipTest("no debian/ directory beside tests/ (a package build)")
        if not sys.platform.startswith("linux") or not os.path.exists("/usr/bin/dpkg"):
            raise SkipTest("not a Debian system")
        if os.geteuid() != 0:
            raise SkipTest("installing packages needs root")
        self.lock_machine()
        for name in PACKAGES + ("ganeti",):
            state = package_state(name)
            if state is not None:
                raise SkipTest("%s is %s here; this test would replace it" % (name, state))
        self.home = tempfile.mkdtemp(prefix="ganeti-rapi-deb-")
        self.addCleanup(shutil.rmtree, self.home, True)
        self.env = debian_env(self.home)
        self.ensure_packages(BUILD_PACKAGES + RUNTIME_PACKAGES)

    def lock_machine(self, timeout=900):
        """Wait until no other run of this test (a second checkout's suite,
        say) is installing the packages on this machine."""
        fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        self.addCleanup(os.close, fd)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self.fail("another run of this test held %s for %ds" % (LOCK_FILE, timeout))
                time.sleep(1)

    def ensure_packages(self, names):
        missing = [n for n in names if package_state(n) != "installed"]
        if missing:
            run(self, ["apt-get", "update", "-qq"], self.env)
            run(self, ["apt-get", "install", "-y", "-qq", "-o", "DPkg::Lock::Timeout=300"]
                + missing, self.env)

    def copy_source(self, target):
        """The parts of the checkout the build needs, without build output."""
        os.makedirs(target)

        def ignore(directory, names):
            ignored = shutil.ignore_patterns(
                "__pycache__", "*.pyc", "dropin.cache", "_build", "*.egg-info")(directory, names)
            if os.path.abspath(directory) == DEBIAN_DIR:
                ignored |= {n for n in names if n in PACKAGES or n in (
                    "tmp", ".debhelper", "files", "debhelper-build-stamp")
                    or n.endswith((".substvars", ".debhelper", ".debhelper.log"))}
            return ignored

        for entry in SOURCE_ENTRIES:
            source = os.path.join(REPO_ROOT, entry)
            if os.path.isdir(source):
                shutil.copytree(source, os.path.join(target, entry), ignore=ignore)
            else:
                shutil.copy2(source, target)

    def build(self):
        """The three .deb files, built without running the unit tests."""
        source = os.path.join(self.home, "ganeti-rapi")
        self.copy_source(source)
        run(self, ["dpkg-buildpackage", "-us", "-uc", "-b", "-Pnocheck"],
            debian_env(self.home, DEB_BUILD_OPTIONS="nocheck"), cwd=source)
        debs = sorted(f for f in os.listdir(self.home) if f.endswith(".deb"))
        self.assertEqual(sorted(d.split("_")[0] for d in debs), sorted(PACKAGES))
        for deb in debs:
            _, listing = run(self, ["dpkg-deb", "--contents", os.path.join(self.home, deb)],
                             self.env)
            for unwanted in ("dropin.cache", ".pyc", "/tests/"):
                self.assertNotIn(unwanted, listing, deb)
        return [os.path.join(self.home, d) for d in debs]

    def purge(self):
        installed = [p for p in PACKAGES if package_state(p) is not None]
        if installed:
            run(self, ["dpkg", "--purge"] + installed, self.env, check=False)

    def remove_user(self):
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            return
        run(self, ["deluser", "--quiet", "--system", SYSTEM_USER], self.env, check=False)
        try:
            grp.getgrnam(SYSTEM_USER)
        except KeyError:
            return
        run(self, ["delgroup", "--quiet", "--system", SYSTEM_USER], self.env, check=False)

    def start_unit(self, name, extra_args):
        """The installed daemon of unit C{name}, started as systemd would
        start it, with C{extra_args} added to its /etc/default variable as an
        operator would add them."""
        service = unit_service_section(os.path.join(UNIT_DIR, name + ".service"))
        variables = read_environment_file(service["EnvironmentFile"].lstrip("-"))
        variable = re.search(r"\$\{?(\w+)", service["ExecStart"]).group(1)
        variables[variable] = " ".join(filter(None, [variables.get(variable, "")] + extra_args))
        argv = expand_exec_start(service["ExecStart"], variables)
        user = pwd.getpwnam(service.get("User", "root"))
        group = service.get("Group", grp.getgrgid(user.pw_gid).gr_name)
        env = {"PATH": DEBIAN_PATH, "LANG": "C.UTF-8", "HOME": user.pw_dir,
               "USER": user.pw_name, "LOGNAME": user.pw_name}
        daemon = DaemonProcess(argv, env, user.pw_name, group, int(service["UMask"], 8))
        self.addCleanup(daemon.stop)
        return daemon

    def query_version(self, port, cafile):
        context = ssl.create_default_context(cafile=cafile)
        connection = http.client.HTTPSConnection("127.0.0.1", port, context=context,
                                                 timeout=30)
        try:
            connection.request("GET", "/version")
            response = connection.getresponse()
            return response.status, response.getheader("Content-Type"), response.read()
        finally:
            connection.close()

    def unit_links(self):
        """What enabling the units left in systemd's and deb-systemd-helper's
        directories."""
        found = []
        for top in ("/etc/systemd/system", "/var/lib/systemd/deb-systemd-helper-enabled",
                    "/var/lib/systemd/deb-systemd-helper-masked"):
            for directory, _, names in os.walk(top):
                found += [os.path.join(directory, n) for n in names
                          if n.startswith(("ganeti-rapi.service", "ganeti-noded.service"))]
        return found

    def processes_mentioning(self, text):
        found = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % (pid,), "rb") as f:
                    cmdline = f.read()
            except OSError:
                continue
            if text.encode() in cmdline:
                found.append((int(pid), cmdline.replace(b"\0", b" ").decode("utf-8", "replace")))
        return found

    def test_build_install_run_purge(self):
        """The packages build; dpkg installs them with the user, the data
        directory, valid units and a plugin cache listing both daemons; the
        installed master started by its unit's command line answers
        C{/version} over TLS, and the node daemon starts by its own; dpkg
        --purge leaves no file, cache entry or process behind."""
        user_existed = True
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            user_existed = False
        debs = self.build()

        if not user_existed:
            self.addCleanup(self.remove_user)
        self.addCleanup(self.purge)
        run(self, ["dpkg", "-i"] + debs, self.env)
        _, listing = run(self, ["dpkg-query", "-L"] + list(PACKAGES), self.env)
        files = sorted({line.strip() for line in listing.splitlines()
                        if line.startswith("/") and line.strip() != "/."})

        # The user, the data directory and the users file the daemon can read.
        user = pwd.getpwnam(SYSTEM_USER)
        self.assertEqual(user.pw_dir, DATA_DIR)
        for path, mode in ((DATA_DIR, 0o750), (DATA_DIR + "/rapi", 0o750),
                           (DATA_DIR + "/rapi/users", 0o600)):
            st = os.stat(path)
            self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o7777),
                             (user.pw_uid, user.pw_gid, mode), path)

        # What the packages ship.
        for path in ("/usr/bin/ganeti-rapi-admin", "/etc/default/ganeti-rapi",
                     "/etc/default/ganeti-noded", UNIT_DIR + "/ganeti-rapi.service",
                     UNIT_DIR + "/ganeti-noded.service",
                     "/usr/share/man/man8/ganeti-rapi.8.gz",
                     "/usr/share/man/man8/ganeti-noded.8.gz",
                     "/usr/share/man/man8/ganeti-rapi-admin.8.gz"):
            self.assertIn(path, files)
        self.assertFalse([f for f in files if f.endswith(("dropin.cache", ".pyc"))])
        noop_create = [f for f in files if f.endswith("/os/ganeti-rapi-noop/create")]
        self.assertEqual(len(noop_create), 1)
        self.assertTrue(os.access(noop_create[0], os.X_OK), noop_create[0])

        # Both units are enabled, as dh_installsystemd does.
        self.assertNotEqual(self.unit_links(), [])

        # The trigger rebuilt Twisted's plugin cache with both plugins.
        with open(PLUGIN_CACHE, "rb") as f:
            cache = f.read()
        for module in PLUGIN_MODULES:
            self.assertIn(module, cache)

        # systemd accepts the units as installed.
        code, output = run(self, ["systemd-analyze", "verify",
                                  UNIT_DIR + "/ganeti-rapi.service",
                                  UNIT_DIR + "/ganeti-noded.service"], self.env, check=False)
        self.assertEqual(code, 0, output)
        self.assertNotIn("ganeti", output)

        # The installed code, not this checkout, is what Debian's Python finds.
        _, where = run(self, [SYSTEM_PYTHON, "-c",
                              "import ganeti_rapi; print(ganeti_rapi.__file__)"], self.env)
        self.assertTrue(where.startswith("/usr/lib/python3/dist-packages/ganeti_rapi/"), where)

        # The master, by its unit's command line, on a data directory of its own.
        os.chmod(self.home, 0o711)  # the daemon's user passes through
        run_dir = os.path.join(self.home, "run")
        os.mkdir(run_dir, 0o700)
        os.chown(run_dir, user.pw_uid, user.pw_gid)
        data_dir = os.path.join(run_dir, "data")
        master = self.start_unit("ganeti-rapi", ["--data-dir", data_dir, "-p", "0",
                                                 "-b", "127.0.0.1", "--node-port", "0"])
        serving = master.wait_for(r"ganeti-rapi serving on https://127\.0\.0\.1:(\d+)")
        self.assertIsNotNone(serving, "".join(master.output)[-6000:])
        status, content_type, body = self.query_version(
            int(serving.group(1)), os.path.join(data_dir, "rapi.pem"))
        self.assertEqual((status, content_type, json.loads(body)),
                         (200, "application/json", 2))
        for name in ("rapi.pem", "server.pem", "config.data"):
            st = os.stat(os.path.join(data_dir, name))
            self.assertEqual(st.st_uid, user.pw_uid, name)
            self.assertFalse(st.st_mode & 0o007, name)

        # The node daemon too, by its unit's command line, with the cluster
        # certificate the master made.
        node = self.start_unit("ganeti-noded", ["--data-dir", data_dir,
                                                "--listen", "tcp:0:interface=127.0.0.1"])
        self.assertIsNotNone(
            node.wait_for(r"ganeti-noded serving on https://127\.0\.0\.1:\d+"),
            "".join(node.output)[-6000:])
        for daemon in (master, node):
            daemon.stop()
            self.assertIsNotNone(daemon.process.poll())

        # Purge: nothing of the packages stays.
        run(self, ["dpkg", "--purge"] + list(PACKAGES), self.env)
        for name in PACKAGES:
            self.assertIsNone(package_state(name), name)
        left = []
        for path in files:
            if os.path.lexists(path):
                if not os.path.isdir(path):
                    left.append(path)
                elif run(self, ["dpkg-query", "-S", path], self.env, check=False)[0] != 0:
                    left.append(path)
        self.assertEqual(left, [])
        self.assertFalse(os.path.lexists(DATA_DIR))
        self.assertEqual(self.unit_links(), [])
        plugin_bytecode = os.path.join(os.path.dirname(PLUGIN_CACHE), "__pycache__")
        if os.path.isdir(plugin_bytecode):
            self.assertEqual([f for f in os.listdir(plugin_bytecode) if "ganeti" in f], [])
        with open(PLUGIN_CACHE, "rb") as f:
            cache = f.read()
        for module in PLUGIN_MODULES:
            self.assertNotIn(module, cache)
        self.assertEqual(self.processes_mentioning(run_dir), [])
        self.assertEqual(self.processes_mentioning("--data-dir=" + DATA_DIR), [])
