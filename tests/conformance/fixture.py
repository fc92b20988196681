"""The cluster the conformance tests drive, the programs they run, the report.

L{ConformanceCluster} is a real C{twistd ganeti-rapi} serving HTTPS (with a
certificate made for the test, which clients may trust as their CA) and
plain HTTP on a second port, with the master's in-process node daemon and
two real C{twistd ganeti-noded} joined through C{ganeti-rapi-admin}, the
users of L{tests.helpers.TEST_USERS} (a write user, a read user and a user
without options), and two running instances created through the API: a
C{file} one on the first node and a C{diskless} one on the second.  Setting
it up takes a few seconds, so each test module starts one per test, and each
module has one test per client.

L{Report} collects what passed and what failed for one client, prints it,
keeps a copy in the test's working directory (C{tests/run} shows these
files after each lane) and fails the test on any failure.
"""

import os
import re
import sys

import treq
from twisted.internet import defer, error, protocol, reactor
from twisted.internet.endpoints import quoteStringArgument
from twisted.web.client import Agent, HTTPConnectionPool

from tests.cluster import RealCluster
from tests.helpers import READER, keypair, write_keypair

#: Debian's interpreter, which sees Debian's Python packages.
DEBIAN_PYTHON = "/usr/bin/python3"

#: Where Debian installs programs (htools are symlinks there).
DEBIAN_BIN = "/usr/bin"

HERE = os.path.dirname(os.path.abspath(__file__))

OS_NAME = "ganeti-rapi-noop"

#: The instances every conformance cluster holds; C{node} indexes the joined
#: node daemons.
INSTANCES = [
    {"name": "conf-file", "disk_template": "file", "disks": [{"size": 2048}],
     "node": 0, "beparams": {"maxmem": 512, "minmem": 256, "vcpus": 2}},
    {"name": "conf-diskless", "disk_template": "diskless", "disks": [],
     "node": 1, "beparams": {"maxmem": 384, "minmem": 384, "vcpus": 1}},
]

_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "ftp_proxy", "no_proxy")


def client_env(extra=None):
    """The environment of a client program: ours without proxies or Python paths.

    Proxies are dropped so that every request goes straight to 127.0.0.1;
    the Python variables are dropped so that Debian's interpreter and the
    clients' virtual environments see only their own packages.
    """
    env = {
        name: value for name, value in os.environ.items()
        if name.lower() not in _PROXY_VARIABLES
        and name not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    }
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"
    env.setdefault("LANG", "C.UTF-8")
    if extra:
        env.update(extra)
    return env


class ProgramResult:
    """What a program run by L{run_program} did."""

    def __init__(self, argv, out, err, code, signal, timed_out):
        self.argv = argv
        self.out = out
        self.err = err
        self.code = code
        self.signal = signal
        self.timed_out = timed_out

    def describe(self, limit=4000):
        """The command, how it ended and its output, for a failure message."""
        if self.timed_out:
            ended = "timed out"
        elif self.signal:
            ended = "killed by signal %s" % self.signal
        else:
            ended = "exit %s" % self.code
        text = "$ %s\n(%s)\n%s%s" % (" ".join(self.argv), ended, self.out, self.err)
        return text if len(text) <= limit else text[:limit] + "\n[...]"


class _Collector(protocol.ProcessProtocol):
    def __init__(self):
        self.out = bytearray()
        self.err = bytearray()
        self.ended = defer.Deferred()

    def outReceived(self, data):
        self.out += data

    def errReceived(self, data):
        self.err += data

    def processEnded(self, reason):
        self.ended.callback((reason.value.exitCode, reason.value.signal))


def run_program(argv, env=None, timeout=180, path=None):
    """Run C{argv}; a Deferred of its L{ProgramResult} (killed after C{timeout})."""
    collector = _Collector()
    try:
        process = reactor.spawnProcess(
            collector, argv[0], list(argv), env=client_env() if env is None else env,
            path=path,
        )
    except OSError as e:  # a missing program, with posix_spawn
        return defer.succeed(ProgramResult(list(argv), "", "%s\n" % (e,), 127, None,
                                           False))
    process.closeStdin()
    timed_out = []

    def kill():
        timed_out.append(True)
        try:
            process.signalProcess("KILL")
        except error.ProcessExitedAlready:
            pass

    timer = reactor.callLater(timeout, kill)

    def ended(status):
        if timer.active():
            timer.cancel()
        return ProgramResult(
            list(argv), collector.out.decode("utf-8", "replace"),
            collector.err.decode("utf-8", "replace"), status[0], status[1],
            bool(timed_out),
        )

    return collector.ended.addCallback(ended)


def installed(path, package, report):
    """Whether the program C{path} exists; a failure in C{report} if not."""
    if os.access(path, os.X_OK):
        return True
    report.failed(
        "install", "%s is missing: install Debian's %s (tests/run does so as root)"
        % (path, package),
    )
    return False


class Report:
    """What passed and what failed for one client."""

    STATUSES = ("PASS", "FAIL", "SKIP-UNSERVED")

    def __init__(self, client):
        self.client = client
        self.results = []

    def add(self, status, check, detail=None):
        assert status in self.STATUSES, status
        self.results.append((status, check, detail))

    def passed(self, check):
        self.add("PASS", check)
        return True

    def failed(self, check, reason):
        self.add("FAIL", check, reason)
        return False

    def expect(self, check, condition, reason):
        """Pass C{check} if C{condition} holds, else fail it with C{reason}."""
        return self.passed(check) if condition else self.failed(check, reason)

    def equal(self, check, got, want):
        """Pass C{check} if C{got == want}."""
        return self.expect(check, got == want, "got %r, expected %r" % (got, want))

    def read_lines(self, text):
        """Take C{PASS x}, C{FAIL x: why}, C{SKIP-UNSERVED x: why} lines from a driver."""
        for line in text.splitlines():
            status, _, rest = line.partition(" ")
            if status not in self.STATUSES:
                continue
            check, detail = rest, None
            if status != "PASS" and ": " in rest:
                check, _, detail = rest.partition(": ")
            self.add(status, check, detail)

    def count(self, status):
        return sum(1 for s, _, _ in self.results if s == status)

    def text(self):
        lines = ["== conformance: %s" % self.client]
        for status, check, detail in self.results:
            lines.append("%s %s%s" % (status, check, ": " + detail if detail else ""))
        lines.append(
            "== %s: %d passed, %d failed, %d not served yet"
            % (self.client, self.count("PASS"), self.count("FAIL"),
               self.count("SKIP-UNSERVED"))
        )
        return "\n".join(lines) + "\n"

    def publish(self):
        """Print the report and keep it as C{conformance-<client>.txt}.

        The file goes to C{$CONFORMANCE_REPORT_DIR} (C{tests/run} sets it and
        prints the files after each lane, since trial's workers do not show
        what tests print) or else to the test's working directory.
        """
        text = self.text()
        sys.stdout.write("\n" + text)
        sys.stdout.flush()
        slug = re.sub(r"[^A-Za-z0-9.-]+", "-", self.client).strip("-")
        directory = os.environ.get("CONFORMANCE_REPORT_DIR") or os.getcwd()
        with open(os.path.join(directory, "conformance-%s.txt" % slug), "w") as f:
            f.write(text)

    def finish(self, testcase):
        """Publish, then fail C{testcase} on any failure (or if nothing passed)."""
        self.publish()
        if self.count("FAIL") or not self.count("PASS"):
            testcase.fail(self.text())


class ConformanceCluster(RealCluster):
    """A real master, two real node daemons and two instances; see the module.

    The master and the nodes are started and joined by L{RealCluster}, with
    the master listening as described in the module; L{api} requests go
    over plain HTTP.

    @ivar https_url: the HTTPS address (C{https://127.0.0.1:PORT}).
    @ivar http_url: the plain HTTP address.
    @ivar ca_file: the server's certificate alone (PEM), to trust as a CA.
    @ivar other_ca_file: a certificate the server's is not signed by.
    @ivar node_names: the joined nodes, in order; L{master_name} the master's name.
    """

    def __init__(self, testcase):
        self.testcase = testcase
        # The shared set-up cleans up with, and fails, the test.
        self.addCleanup = testcase.addCleanup
        self.assertEqual = testcase.assertEqual
        self.fail = testcase.fail
        self.base = os.path.abspath(testcase.mktemp())
        self.node_names = ["node%d" % i for i in (1, 2)]
        self.master_name = None

    @defer.inlineCallbacks
    def start(self):
        os.makedirs(self.base, exist_ok=True)
        pem = os.path.join(self.base, "rapi.pem")
        pair = keypair("conformance-rapi", alt_names=("localhost", "127.0.0.1"))
        write_keypair(pem, pair)
        self.ca_file = os.path.join(self.base, "rapi-cert.pem")
        with open(self.ca_file, "wb") as f:
            f.write(pair.cert_pem())
        self.other_ca_file = os.path.join(self.base, "stranger-cert.pem")
        with open(self.other_ca_file, "wb") as f:
            f.write(keypair("conformance-stranger").cert_pem())

        yield self.start_cluster(
            self.base, len(self.node_names),
            master_args=["--listen", "ssl:0:interface=127.0.0.1:privateKey=%s"
                         % quoteStringArgument(pem),
                         "--listen", "tcp:0:interface=127.0.0.1"],
            listeners=2,
        )
        urls = self.master_urls
        self.https_url = [u for u in urls if u.startswith("https:")][0].rstrip("/")
        self.http_url = [u for u in urls if u.startswith("http:")][0].rstrip("/")
        self.https_port = int(self.https_url.rsplit(":", 1)[1])
        self.http_port = int(self.http_url.rsplit(":", 1)[1])
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.client = treq.client.HTTPClient(Agent(reactor, pool=pool))
        self.url = self.http_url

        code, info = yield self.api("GET", "/2/info")
        self.master_name = info["master"]
        for spec in INSTANCES:
            body = {
                "__version__": 1, "mode": "create", "name": spec["name"],
                "os": OS_NAME, "disk_template": spec["disk_template"],
                "disks": spec["disks"], "nics": [{}], "beparams": spec["beparams"],
                "pnode": self.node_names[spec["node"]], "ip_check": False,
                "name_check": False,
            }
            job = yield self.run_job("POST", "/2/instances", body, timeout=120)
            if job["status"] != "success":
                self.fail("creating %s failed: %r" % (spec["name"], job))
        return self

    @defer.inlineCallbacks
    def snapshot(self):
        """What the API says the cluster holds: the four bulk reads htools make."""
        state = {}
        for key, path in (("groups", "/2/groups?bulk=1"), ("nodes", "/2/nodes?bulk=1"),
                          ("instances", "/2/instances?bulk=1"), ("info", "/2/info")):
            code, state[key] = yield self.api("GET", path, user=READER)
            if code != 200:
                self.testcase.fail("GET %s answered %s: %r" % (path, code, state[key]))
        return state
