"""gnt-monitoring from PyPI (a Nagios-style memory check) against our server.

The tool is installed, pinned, in its own virtual environment,
C{.venv-gnt-monitoring} at the top of the checkout (git ignores it), made
on the first run and reused while it holds the pinned version.  If pip
cannot install it, the test fails with pip's output.

The tool probes C{GET /} with its credentials (a 401 means wrong
credentials), lists C{/2/nodes}, reads each C{/2/nodes/NAME} and then every
primary instance's C{/2/instances/NAME}, all at once; it reports memory in
MiB or GiB and exits with the Nagios status (0 OK, 1 warning, 2 critical).
"""

import errno
import fcntl
import os
import re

from twisted.internet import defer, reactor, task
from twisted.trial.unittest import TestCase

from tests.conformance.fixture import (
    DEBIAN_PYTHON,
    ConformanceCluster,
    Report,
    client_env,
    run_program,
)
from tests.helpers import READER, REPO_ROOT, WRITER

PACKAGE = "gnt-monitoring"
VERSION = "0.3.0"
VENV = os.path.join(REPO_ROOT, ".venv-gnt-monitoring")
NAGIOS = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}
UNITS = {"MiB": 1, "GiB": 1024, "TiB": 1024 ** 2, "PiB": 1024 ** 3}


def pip_env():
    """pip's environment: ours (proxies included), without Python paths."""
    return {
        name: value for name, value in os.environ.items()
        if name not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    }


@defer.inlineCallbacks
def locked(path, timeout=600):
    """An exclusive lock on C{path} (a file descriptor to close), polling."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    for _ in range(int(timeout / 0.2)):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
        yield task.deferLater(reactor, 0.2, lambda: None)
    os.close(fd)
    raise RuntimeError("%s stayed locked for %d s" % (path, timeout))


@defer.inlineCallbacks
def ensure_installed(report):
    """The path of the pinned C{gnt-monitoring}, installed if needed; None on failure."""
    program = os.path.join(VENV, "bin", "gnt-monitoring")
    python = os.path.join(VENV, "bin", "python")
    fd = yield locked(VENV + ".lock")
    try:
        if os.access(python, os.X_OK):
            probe = yield run_program(
                [python, "-c", "import importlib.metadata as m;"
                 " print(m.version(%r))" % PACKAGE], env=client_env(), timeout=60)
            if probe.code == 0 and probe.out.strip() == VERSION and os.access(
                    program, os.X_OK):
                report.passed("install: %s %s (cached in %s)" % (PACKAGE, VERSION, VENV))
                return program
        steps = [
            [DEBIAN_PYTHON, "-m", "venv", "--clear", VENV],
            [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "%s==%s" % (PACKAGE, VERSION)],
        ]
        for step in steps:
            result = yield run_program(step, env=pip_env(), timeout=600)
            if result.code != 0:
                report.failed("install", "could not install %s %s (python3-venv and"
                              " network access to PyPI are needed):\n%s"
                              % (PACKAGE, VERSION, result.describe()))
                return None
        report.passed("install: %s %s into %s" % (PACKAGE, VERSION, VENV))
        return program
    finally:
        os.close(fd)


def mebibytes(text):
    """C{"23.54 GiB"} in MiB and the largest rounding error of the text."""
    value, unit = text.split()
    factor = UNITS[unit]
    return float(value) * factor, 0.006 * factor


def key_values(text):
    """The C{Name : value} lines of C{cluster-memory}, by lower-case name."""
    values = {}
    for line in text.splitlines():
        name, colon, value = line.partition(" : ")
        if colon:
            values[name.strip().lower()] = value.strip()
    return values


def table(text):
    """The rows of C{node-memory}'s table (tabulate's "simple" format)."""
    lines = [line for line in text.splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if set(line.replace(" ", "")) == {"-"}:
            header = re.split(r"\s{2,}", lines[index - 1].strip())
            return [dict(zip(header, re.split(r"\s{2,}", row.strip())))
                    for row in lines[index + 1:]]
    return None


class GntMonitoringTests(TestCase):
    timeout = 900

    def arguments(self, cluster, scheme, user, command):
        port = cluster.https_port if scheme == "https" else cluster.http_port
        return ["--rapi-host", "127.0.0.1", "--rapi-port", str(port),
                "--rapi-scheme", scheme, "--rapi-user", user[0],
                "--rapi-password", user[1], command]

    def near(self, report, check, text, want):
        try:
            got, tolerance = mebibytes(text)
        except (ValueError, KeyError, AttributeError):
            return report.failed(check, "not a size: %r" % (text,))
        return report.expect(check, abs(got - want) <= tolerance,
                             "%s for %d MiB" % (text, want))

    @defer.inlineCallbacks
    def test_gnt_monitoring(self):
        """cluster-memory and node-memory report the cluster's memory over
        HTTP and HTTPS with a Nagios status; wrong credentials are refused."""
        report = Report("gnt-monitoring (PyPI %s)" % VERSION)
        program = yield ensure_installed(report)
        if program is None:
            report.finish(self)
            return
        cluster = yield ConformanceCluster(self).start()
        state = yield cluster.snapshot()
        nodes = {n["name"]: n for n in state["nodes"]}
        maxmem = {i["name"]: i["beparams"]["maxmem"] for i in state["instances"]}
        allocated = {name: sum(maxmem[i] for i in node["pinst_list"])
                     for name, node in nodes.items()}
        total = sum(n["mtotal"] for n in nodes.values())
        biggest = max(n["mtotal"] for n in nodes.values())

        for scheme, user in (("http", READER), ("https", WRITER)):
            label = "cluster-memory over %s" % scheme
            result = yield run_program(
                [program] + self.arguments(cluster, scheme, user, "cluster-memory"))
            values = key_values(result.out)
            if not report.expect(label, result.code in (0, 1) and "overal status" in values,
                                 result.describe()):
                continue
            report.equal("%s: status matches the exit code" % label,
                         values["overal status"], NAGIOS[result.code])
            self.near(report, "%s: total" % label, values.get("total"), total)
            self.near(report, "%s: allocated" % label, values.get("allocated"),
                      sum(allocated.values()))
            self.near(report, "%s: biggest node" % label, values.get("biggest node"),
                      biggest)
            report.equal("%s: nodes available" % label, values.get("nodes available"),
                         str(round((total - sum(allocated.values())) / biggest, 2)))
            report.expect("%s: nothing on standard error" % label, not result.err.strip(),
                          result.err)

        result = yield run_program(
            [program] + self.arguments(cluster, "http", READER, "node-memory"))
        rows = table(result.out)
        if report.expect("node-memory", result.code in (0, 1) and rows is not None,
                         result.describe()):
            by_host = {row.get("Host"): row for row in rows}
            report.equal("node-memory: hosts", sorted(by_host), sorted(nodes))
            for name, node in sorted(nodes.items()):
                row = by_host.get(name)
                if row is None:
                    continue
                self.near(report, "node-memory: %s total" % name, row.get("Total"),
                          node["mtotal"])
                self.near(report, "node-memory: %s allocated" % name,
                          row.get("Allocated"), allocated[name])
                report.expect("node-memory: %s status" % name,
                              row.get("Status") in ("OK", "WARNING", "CRITICAL"),
                              "status %r" % row.get("Status"))

        result = yield run_program(
            [program] + self.arguments(cluster, "http", (READER[0], "wrong"),
                                       "cluster-memory"))
        report.expect("wrong password refused", result.code != 0
                      and "Overal status" not in result.out, result.describe())
        report.finish(self)
