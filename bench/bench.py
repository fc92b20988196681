"""The benchmark suite of ganeti-rapi: one command, everything on 127.0.0.1.

Starts the servers it needs as processes of their own (the bare
twisted.web leaf of L{baseline}, and C{twistd ganeti-rapi} from this
checkout with a fresh data directory), drives each scenario with the load
generator of L{loadgen} (a third process), and reports every figure also as
a ratio to the bare leaf measured in the same run.  Prints a table and
writes C{bench/results/<timestamp>.json} with the machine and software it
ran on.  Every process it started is stopped at the end, also after a
failure or Ctrl-C.

Usage (normally through C{bash bench/run}, which picks the virtualenv)::

    python bench/bench.py [--only ID ...] [--duration S] [--warmup S] ...
    python bench/bench.py --list

A scenario is one entry of L{SCENARIOS}: which server (a fixture of
L{FIXTURES}), which load, and how many connections.  New figures are new
entries (and, for a server in another state, a new fixture).

The big clusters (100 to 10,000 instances, 10 to 1,000 nodes) are written
before their daemon starts (L{cluster}) and their nodes are served by one
process of node daemons (L{nodefarm}); the whole run is kept inside a time
budget (C{--budget}) by giving up retries and quiet waits when it runs
late, never figures.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
PYTHON = sys.executable
RESULTS = os.path.join(HERE, "results")
sys.path.insert(0, TOP)  # for the versions of the checkout's package

from loadgen import machine_busy_seconds, raise_fd_limit  # noqa: E402

#: How C{twistd} is started from the checkout (no installation needed),
#: with the open-files limit raised to the hard limit first (10,000 long
#: polls need more than the usual 1,024 descriptors).
TWISTD = [
    PYTHON,
    "-c",
    "import resource, sys\n"
    "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
    "if hard != resource.RLIM_INFINITY and soft < hard:\n"
    "    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))\n"
    "from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()",
]

#: The user the job scenarios submit as (written to the users file).
BENCH_USER = "bench"
BENCH_PASSWORD = "bench-password"


# -- processes


class Server:
    """A server process the suite started, and how to reach it.

    Its output goes to a log file in the work directory (never a pipe that
    could fill up); L{start} waits until the log shows the listening line.
    """

    def __init__(self, name, argv, log_path, ready, env=None, control_socket=None):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.ready = re.compile(ready)
        self.env = env
        self.process = None
        self.url = None
        self.control_socket = control_socket
        #: Processes serving this one (the node farm): stopped after it.
        self.helpers = []
        #: Resident memory a moment after start, before any load (MiB).
        self.idle_rss_mb = None
        #: What the fixture describes (nodes, instances, config size...).
        self.facts = {}
        #: Index of this server among those the run started.
        self.serial = None

    @property
    def pid(self):
        return self.process.pid

    def start(self, timeout=60):
        with open(self.log_path, "ab") as log:
            # A session of its own: a Ctrl-C in the terminal reaches only
            # the suite, which then stops its servers in order.
            self.process = subprocess.Popen(
                self.argv,
                cwd=TOP,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = self.ready.search(self._log_text())
            if match:
                self.url = match.group(1)
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        tail = self._log_text()[-3000:]
        self.stop()
        raise RuntimeError(
            "%s did not start (exit status %s); end of %s:\n%s"
            % (self.name, self.process.returncode, self.log_path, tail)
        )

    def _log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def rss_mb(self):
        """Resident memory of the server now, in MiB (None if it is gone)."""
        try:
            with open("/proc/%d/status" % self.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return round(int(line.split()[1]) / 1024.0, 1)
        except (OSError, ValueError):
            pass
        return None

    def stop(self, timeout=15):
        """SIGTERM the server, SIGKILL it if it lingers; reap it; then its helpers."""
        process = self.process
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                # Not reaped yet, so its process group (the session we made
                # for it, with anything it spawned) is still ours.
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for helper in self.helpers:
            helper.stop(timeout)


class Context:
    """What the scenarios of one run share: settings, work directory, servers."""

    def __init__(self, args, workdir):
        self.args = args
        self.workdir = workdir
        self.shared = {}
        self.started = []
        self.idle = []
        self.began = time.monotonic()
        self._counter = 0
        self._rapi_help = None

    def path(self, name):
        self._counter += 1
        return os.path.join(self.workdir, "%02d-%s" % (self._counter, name))

    def server(self, fixture, fresh=False):
        """The running server of C{fixture}; started now if need be.

        A C{fresh} server is started for one scenario only, so it begins
        from an empty state (the job queue, for instance).
        """
        if not fresh and fixture in self.shared:
            return self.shared[fixture]
        began = time.monotonic()
        server = FIXTURES[fixture](self)
        self.started.append(server)
        server.start(timeout=300)
        time.sleep(1.0)  # let start-up work (first saves, threads) finish
        server.idle_rss_mb = server.rss_mb()
        server.facts["start_s"] = round(time.monotonic() - began, 1)
        server.facts["fixture"] = fixture
        server.serial = len(self.idle)
        self.idle.append({
            "serial": server.serial,
            "fixture": fixture,
            "server": server.name,
            "idle_rss_mb": server.idle_rss_mb,
            "facts": dict(server.facts),
            "scenarios": [],
        })
        if not fresh:
            self.shared[fixture] = server
        return server

    def release(self, server, keep=False):
        """Stop C{server} now unless C{keep} (a shared one a later scenario uses)."""
        if keep and server in self.shared.values():
            return
        for name, shared in list(self.shared.items()):
            if shared is server:
                del self.shared[name]
        server.stop()

    def stop_all(self):
        for server in reversed(self.started):
            server.stop()

    def rapi_supports(self, option):
        """Whether C{twistd ganeti-rapi} of this checkout knows C{option}."""
        if self._rapi_help is None:
            result = subprocess.run(
                TWISTD + ["ganeti-rapi", "--help"],
                cwd=TOP,
                env=project_env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=60,
            )
            self._rapi_help = result.stdout
        return option in self._rapi_help


def project_env():
    """The environment for processes that import the checkout's package."""
    env = dict(os.environ)
    env["PYTHONPATH"] = TOP + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("PYTHONSTARTUP", None)
    return env


# -- fixtures: the servers scenarios run against


def baseline_fixture(ctx):
    """The bare twisted.web leaf of bench/baseline.py, over TLS."""
    return Server(
        "baseline",
        [PYTHON, os.path.join(HERE, "baseline.py")],
        ctx.path("baseline.log"),
        r"baseline serving on (https://127\.0\.0\.1:\d+)",
        env=project_env(),
    )


def baseline_longpoll_fixture(ctx):
    """The bare twisted.web long poll of bench/baseline.py, over TLS."""
    return Server(
        "baseline long poll",
        [PYTHON, os.path.join(HERE, "baseline.py"), "--long-poll"],
        ctx.path("baseline-longpoll.log"),
        r"baseline serving on (https://127\.0\.0\.1:\d+)",
        env=project_env(),
    )


def _write_users(data_dir):
    os.makedirs(os.path.join(data_dir, "rapi"), mode=0o750, exist_ok=True)
    users = os.path.join(data_dir, "rapi", "users")
    with open(users, "w") as f:
        f.write("%s %s write\n" % (BENCH_USER, BENCH_PASSWORD))
    os.chmod(users, 0o600)


def _rapi_server(ctx, data_dir, extra=()):
    _write_users(data_dir)
    control = os.path.join(data_dir, "master.sock")
    argv = TWISTD + [
        "--nodaemon", "--pidfile=", "ganeti-rapi",
        "--data-dir", data_dir,
        "-p", "0", "-b", "127.0.0.1",
        "--no-access-log",
    ] + list(extra)
    if ctx.rapi_supports("--control-socket"):
        argv += ["--control-socket", control]
    return Server(
        "ganeti-rapi",
        argv,
        data_dir + ".log",
        r"ganeti-rapi serving on (https://127\.0\.0\.1:\d+)",
        env=project_env(),
        control_socket=control,
    )


def rapi_fixture(ctx):
    """C{twistd ganeti-rapi} of this checkout: a fresh data directory (its
    single-node default), TLS with its own self-signed RSA certificate, no
    access log, one user with write access."""
    extra = []
    if ctx.rapi_supports("--node-port"):
        # The node daemon inside the master: any free port, not 1811.
        extra += ["--node-port", "0"]
    return _rapi_server(ctx, ctx.path("rapi-data"), extra)


def cluster_fixture(nodes, instances):
    """A daemon with a configuration of C{nodes} nodes and C{instances}
    instances (see L{cluster}), its nodes served by a node farm."""

    def fixture(ctx):
        from ganeti_rapi import certs
        import cluster

        name = "c%dn%di" % (nodes, instances)
        data_dir = ctx.path(name + "-data")
        keypair = certs.generate("ganeti-rapi cluster", key_type=certs.CLUSTER_KEY_TYPE)
        cert = data_dir + "-cluster.pem"
        with open(cert, "wb") as f:
            f.write(keypair.pem())
        os.chmod(cert, 0o600)
        ports_file = data_dir + "-ports.json"
        farm = Server(
            "nodefarm",
            [PYTHON, os.path.join(HERE, "nodefarm.py"), "--nodes", str(nodes),
             "--instances", str(instances), "--cert", cert, "--ports-file", ports_file],
            data_dir + "-farm.log",
            r"nodefarm (serving) \d+ node daemons",
            env=project_env(),
        )
        farm.start(timeout=300)
        try:
            with open(ports_file) as f:
                ports = json.load(f)
            size = cluster.write_data_dir(data_dir, nodes, instances, ports, keypair,
                                          time.time())
            # The master's own node daemon is one of the farm's (node 0), so
            # the daemon under test does only the master's work.
            server = _rapi_server(ctx, data_dir, ["--no-local-node"])
        except BaseException:
            farm.stop()
            raise
        server.helpers.append(farm)
        server.facts.update(nodes=nodes, instances=instances, config_bytes=size)
        return server

    return fixture


FIXTURES = {
    "baseline": baseline_fixture,
    "baseline-longpoll": baseline_longpoll_fixture,
    "rapi": rapi_fixture,
    "c10n100i": cluster_fixture(10, 100),
    "c100n1000i": cluster_fixture(100, 1000),
    "c100n10000i": cluster_fixture(100, 10000),
    "c1000n1000i": cluster_fixture(1000, 1000),
}


# -- scenarios


class Scenario:
    """One figure: a load against a fixture's server.

    @ivar id: short name for C{--only}.
    @ivar kind: C{http} (one request again and again), C{jobs} (submit a
        tag job, follow it to its end) or C{waiters} (long polls held at
        once, then answered by one change), see L{loadgen}; or C{disk}
        (atomic file writes on the data file system, see L{disk}), which
        needs no server.
    @ivar section: which table of the report the figure belongs to.
    @ivar path: the URL path (for C{jobs}: the tags resource).
    @ivar connections: connections, job clients, waiters or writing threads.
    @ivar fresh: start a server of its own for this scenario.
    @ivar leaf: the id of the baseline scenario the rate is divided by.
    @ivar duration, warmup: per-scenario overrides of the settings.
    @ivar compare: for waiters, the id of the bare long-poll scenario.
    """

    def __init__(self, id, title, fixture, kind, path, connections, fresh=False,
                 section="requests", leaf=None, duration=None, warmup=None,
                 compare=None):
        self.id = id
        self.title = title
        self.fixture = fixture
        self.kind = kind
        self.path = path
        self.connections = connections
        self.fresh = fresh
        self.section = section
        self.leaf = leaf
        self.duration = duration
        self.warmup = warmup
        self.compare = compare

    def describe(self):
        what = {"disk": "thread", "waiters": "waiter"}.get(self.kind, "connection")
        return "%s, %d %s%s" % (
            self.title, self.connections, what, "" if self.connections == 1 else "s")

    def timing(self, args):
        """C{(warm-up, duration)} of this scenario under C{args}."""
        warmup = args.warmup if self.warmup is None else min(self.warmup, args.warmup)
        duration = args.duration if self.duration is None else self.duration
        return warmup, duration

    def estimate(self, args):
        """Roughly how many seconds the scenario takes (for the budget)."""
        if self.kind == "waiters":
            return 5 + self.connections * 0.004
        if self.kind == "disk":
            return 4
        warmup, duration = self.timing(args)
        return warmup + (duration or 10) + 2

    def argv(self, ctx, server):
        args = ctx.args
        warmup, duration = self.timing(args)
        if self.kind == "disk":
            return [
                PYTHON, os.path.join(HERE, "disk.py"), ctx.path("disk"),
                "--threads", str(self.connections),
                "--duration", str(min(duration or 3.0, 3.0)),
            ]
        argv = [
            PYTHON, os.path.join(HERE, "loadgen.py"), self.kind, server.url + (self.path or "/"),
            "--connections", str(self.connections),
            "--server-pid", str(server.pid),
        ]
        for helper in server.helpers:
            argv += ["--helper-pid", str(helper.pid)]
        if self.kind == "waiters":
            if self.fixture == "baseline-longpoll":
                argv += ["--waiters-target", "bare"]
            else:
                argv += ["--waiters-target", "rapi", "--control-socket", server.control_socket,
                         "--auth", "%s:%s" % (BENCH_USER, BENCH_PASSWORD)]
            return argv
        argv += ["--warmup", str(warmup)]
        if args.requests:
            argv += ["--duration", "0", "--requests", str(args.requests)]
        else:
            argv += ["--duration", str(duration)]
        if self.kind == "jobs":
            argv += ["--auth", "%s:%s" % (BENCH_USER, BENCH_PASSWORD), "--follow", args.follow]
        return argv

    def run(self, ctx, keep_server):
        server = ctx.server(self.fixture, self.fresh) if self.fixture else None
        try:
            warmup, duration = self.timing(ctx.args)
            budget = warmup + (duration or 60) + 300
            result = subprocess.run(
                self.argv(ctx, server),
                cwd=TOP,
                env=project_env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=budget,
            )
            if result.returncode != 0:
                raise RuntimeError(
                    "%s failed:\n%s" % (self.id, result.stderr[-3000:])
                )
            row = json.loads(result.stdout)
            if server is not None:
                row["server_serial"] = server.serial
                ctx.idle[server.serial]["scenarios"].append(self.id)
                if row.get("server_rss_mb") is None:
                    row["server_rss_mb"] = server.rss_mb()
                row["server_idle_rss_mb"] = server.idle_rss_mb
                if server.facts.get("nodes"):
                    row["cluster"] = {k: server.facts[k]
                                      for k in ("nodes", "instances", "config_bytes")}
        finally:
            if server is not None:
                ctx.release(server, keep=keep_server)
        row.update(id=self.id, title=self.title, section=self.section,
                   server=server.name if server else None, fixture=self.fixture)
        return row


def _http(id, title, fixture, path, counts, **kwargs):
    return [
        Scenario("%s-%d" % (id, n), title, fixture, "http", path, n,
                 leaf="baseline-%d" % n, **kwargs)
        for n in counts
    ]


CONNECTIONS = (1, 10, 100)
TAGS = "/2/groups/default/tags"

SCENARIOS = (
    _http("baseline", "bare twisted.web leaf", "baseline", "/", CONNECTIONS)
    + _http("info", "GET /2/info", "rapi", "/2/info", CONNECTIONS)
    + _http("version", "GET /version", "rapi", "/version", CONNECTIONS)
    + [
        Scenario("disk-1", "atomic file writes (disk)", None, "disk", None, 1,
                 section="jobs"),
        Scenario("disk-10", "atomic file writes (disk)", None, "disk", None, 10,
                 section="jobs"),
        Scenario("jobs-1", "tag jobs, submit to success", "rapi", "jobs", TAGS, 1,
                 fresh=True, section="jobs", leaf="baseline-1"),
        Scenario("jobs-20", "tag jobs, submit to success", "rapi", "jobs", TAGS, 20,
                 fresh=True, section="jobs", leaf="baseline-10"),
        # Each cluster's first request is its cold fan-out (TLS handshakes
        # with every node daemon): the fan-out scenario comes first.
        Scenario("fanout-10", "GET /2/nodes?bulk=1, node_info from 10 nodes", "c10n100i",
                 "http", "/2/nodes?bulk=1", 1, section="fanout", leaf="baseline-1",
                 warmup=0, duration=3),
    ]
    + _http("nodes-100i", "GET /2/nodes?bulk=1, 10 nodes, 100 instances", "c10n100i",
            "/2/nodes?bulk=1", CONNECTIONS, section="listing")
    + _http("instances-100", "GET /2/instances?bulk=1, 100 instances on 10 nodes",
            "c10n100i", "/2/instances?bulk=1", CONNECTIONS, section="listing")
    + [
        Scenario("fanout-100", "GET /2/nodes?bulk=1, node_info from 100 nodes",
                 "c100n1000i", "http", "/2/nodes?bulk=1", 1, section="fanout",
                 leaf="baseline-1", warmup=0, duration=3),
    ]
    + _http("nodes-1000i", "GET /2/nodes?bulk=1, 100 nodes, 1,000 instances", "c100n1000i",
            "/2/nodes?bulk=1", CONNECTIONS, section="listing")
    + _http("instances-1000", "GET /2/instances?bulk=1, 1,000 instances on 100 nodes",
            "c100n1000i", "/2/instances?bulk=1", CONNECTIONS, section="listing")
    + [
        Scenario("instances-10000", "GET /2/instances?bulk=1, 10,000 instances on 100 nodes",
                 "c100n10000i", "http", "/2/instances?bulk=1", 1, section="listing",
                 leaf="baseline-1", warmup=1, duration=8),
        Scenario("nodes-10000i", "GET /2/nodes?bulk=1, 100 nodes, 10,000 instances",
                 "c100n10000i", "http", "/2/nodes?bulk=1", 1, section="listing",
                 leaf="baseline-1", warmup=1, duration=5),
        Scenario("fanout-1000", "GET /2/nodes?bulk=1, node_info from 1,000 nodes",
                 "c1000n1000i", "http", "/2/nodes?bulk=1", 1, section="fanout",
                 leaf="baseline-1", warmup=0, duration=6),
        Scenario("fanout-1000-instances",
                 "GET /2/instances?bulk=1, all_instances_info from 1,000 nodes",
                 "c1000n1000i", "http", "/2/instances?bulk=1", 1, section="fanout",
                 leaf="baseline-1", warmup=1, duration=5),
        Scenario("longpoll-bare-1000", "bare twisted.web long poll", "baseline-longpoll",
                 "waiters", None, 1000, fresh=True, section="longpoll"),
        Scenario("longpoll-1000", "GET /2/jobs/[id]/wait", "rapi", "waiters", None, 1000,
                 fresh=True, section="longpoll", compare="longpoll-bare-1000"),
        Scenario("longpoll-bare-10000", "bare twisted.web long poll", "baseline-longpoll",
                 "waiters", None, 10000, fresh=True, section="longpoll"),
        Scenario("longpoll-10000", "GET /2/jobs/[id]/wait", "rapi", "waiters", None, 10000,
                 fresh=True, section="longpoll", compare="longpoll-bare-10000"),
    ]
)

#: CPU (in cores) used by processes outside the suite during a scenario
#: above which its figure is flagged as disturbed.
OTHER_CPU_WARNING = 0.15

#: Units of the rates, by kind.
UNITS = {"http": "req/s", "jobs": "jobs/s", "disk": "writes/s", "waiters": "waiters"}


# -- what we ran on


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def cpu_model():
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or None


def memory_mb():
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return None


def filesystem_of(path):
    """C{(mount point, type)} of the file system holding C{path}."""
    path = os.path.realpath(path)
    best = ("/", None)
    for line in _read("/proc/mounts").splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        mount = fields[1].replace("\\040", " ")
        inside = path == mount or path.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best[0]):
            best = (mount, fields[2])
    return {"mount": best[0], "type": best[1]}


def git_state():
    def git(*argv):
        try:
            return subprocess.run(
                ["git"] + list(argv), cwd=TOP, capture_output=True, text=True, timeout=30
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "commit": git("rev-parse", "HEAD") or None,
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def environment(workdir):
    versions = {"python": platform.python_version()}
    for name, module in [
        ("twisted", "twisted"),
        ("pyopenssl", "OpenSSL"),
        ("cryptography", "cryptography"),
        ("orjson", "orjson"),
        ("ganeti_rapi", "ganeti_rapi"),
    ]:
        try:
            versions[name] = __import__(module).__version__
        except Exception:
            versions[name] = None
    try:
        from cryptography.hazmat.backends.openssl import backend

        versions["openssl_server"] = backend.openssl_version_text()
    except Exception:
        versions["openssl_server"] = None
    import ssl

    versions["openssl_client"] = ssl.OPENSSL_VERSION
    return {
        "machine": {
            "nproc": len(os.sched_getaffinity(0)),
            "cpu_model": cpu_model(),
            "memory_mb": memory_mb(),
            "kernel": platform.release(),
            "hostname": platform.node(),
            "data_filesystem": filesystem_of(workdir),
        },
        "software": versions,
        "git": git_state(),
    }


# -- output


#: The tables of the report: (title, sections, columns); a column is
#: (heading, key, alignment).
REQUEST_COLUMNS = [
    ("scenario", "title", "<"),
    ("conns", "connections", ">"),
    ("rate", "rate", ">"),
    ("unit", "unit", "<"),
    ("p50 ms", "p50_ms", ">"),
    ("p99 ms", "p99_ms", ">"),
    ("x leaf", "ratio", ">"),
    ("srv cpu", "server_cpu", ">"),
    ("cli cpu", "client_cpu", ">"),
    ("other", "other_cpu", ">"),
    ("srv MB", "server_rss_mb", ">"),
    ("errors", "errors", ">"),
]

FANOUT_COLUMNS = [
    ("scenario", "title", "<"),
    ("nodes", "nodes", ">"),
    ("first ms", "first_ms", ">"),
    ("p50 ms", "p50_ms", ">"),
    ("p99 ms", "p99_ms", ">"),
    ("count", "count", ">"),
    ("x leaf", "ratio", ">"),
    ("srv cpu", "server_cpu", ">"),
    ("farm cpu", "helper_cpu", ">"),
    ("other", "other_cpu", ">"),
    ("srv MB", "server_rss_mb", ">"),
    ("errors", "errors", ">"),
]

LONGPOLL_COLUMNS = [
    ("scenario", "title", "<"),
    ("waiters", "connections", ">"),
    ("answered", "count", ">"),
    ("idle MB", "server_rss_idle_mb", ">"),
    ("held MB", "server_rss_mb", ">"),
    ("KiB/waiter", "kib_per_waiter", ">"),
    ("x bare", "memory_ratio", ">"),
    ("p50 ms", "p50_ms", ">"),
    ("p99 ms", "p99_ms", ">"),
    ("last ms", "max_ms", ">"),
    ("connect s", "connect_s", ">"),
    ("other", "other_cpu", ">"),
    ("errors", "errors", ">"),
]

MEMORY_COLUMNS = [
    ("daemon", "fixture", "<"),
    ("nodes", "nodes", ">"),
    ("instances", "instances", ">"),
    ("config kB", "config_kb", ">"),
    ("start s", "start_s", ">"),
    ("idle MB", "idle_rss_mb", ">"),
    ("peak MB", "peak_rss_mb", ">"),
    ("peak under", "peak_under", "<"),
]

TABLES = [
    ("Requests and jobs", ("requests", "listing", "jobs"), REQUEST_COLUMNS),
    ("Node RPC fan-out (one connection; first = cold, TLS handshakes included)",
     ("fanout",), FANOUT_COLUMNS),
    ("Long poll: waiters held at once, answered by one change", ("longpoll",),
     LONGPOLL_COLUMNS),
]


def _cell(row, key):
    value = row.get(key)
    if value is None:
        return "-"
    if key in ("ratio", "memory_ratio"):
        return "%.4f" % value if value < 0.01 else "%.3f" % value if value < 0.1 else "%.2f" % value
    if key == "rate":
        return "%.0f" % value if value >= 100 else "%.1f" % value
    if key in ("p50_ms", "p99_ms", "max_ms", "first_ms"):
        return "%.0f" % value if value >= 1000 else "%.2f" % value if value < 10 else "%.1f" % value
    if key in ("server_cpu", "client_cpu", "other_cpu", "helper_cpu"):
        return "%.0f%%" % (100 * value)
    if key in ("server_rss_mb", "server_rss_idle_mb", "idle_rss_mb", "peak_rss_mb"):
        return "%.0f" % value
    if key == "kib_per_waiter":
        return "%.1f" % value
    if key == "connect_s":
        return "%.1f" % value
    if key == "connections":
        return "{:,}".format(value)
    return str(value)


def table(rows, columns=REQUEST_COLUMNS):
    """The rows as an RST simple table (readable as it is)."""
    cells = [[name for name, _, _ in columns]]
    for row in rows:
        cells.append([_cell(row, key) for _, key, _ in columns])
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    rule = "  ".join("=" * w for w in widths)

    def fmt(line):
        return "  ".join(
            (cell.ljust(w) if align == "<" else cell.rjust(w))
            for cell, w, (_, _, align) in zip(line, widths, columns)
        ).rstrip()

    out = [rule, fmt(cells[0]), rule]
    out.extend(fmt(line) for line in cells[1:])
    out.append(rule)
    return "\n".join(out)


def memory_rows(idle, rows):
    """One row per daemon started: idle memory, and the most under load."""
    out = []
    for entry in idle:
        facts = entry["facts"]
        mine = [r for r in rows if r.get("server_serial") == entry["serial"]
                and r.get("server_rss_mb") is not None]
        if not mine:
            continue  # a server whose figure was not kept (a disturbed attempt)
        peak = max(mine, key=lambda r: r["server_rss_mb"], default=None)
        served = entry["scenarios"]
        label = served[0] if len(served) == 1 else "%s ... %s" % (served[0], served[-1])
        out.append({
            "fixture": "%s for %s" % (entry["server"], label),
            "nodes": facts.get("nodes", 1 if entry["server"] == "ganeti-rapi" else None),
            "instances": facts.get("instances", 0 if entry["server"] == "ganeti-rapi"
                                   else None),
            "config_kb": (facts["config_bytes"] // 1024) if facts.get("config_bytes") else None,
            "start_s": facts.get("start_s"),
            "idle_rss_mb": entry["idle_rss_mb"],
            "peak_rss_mb": peak["server_rss_mb"] if peak else None,
            "peak_under": peak["id"] if peak else None,
        })
    return out


def report(rows, idle):
    """Every table of the report, as text."""
    parts = []
    for title, sections, columns in TABLES:
        mine = [r for r in rows if r.get("section") in sections]
        if mine:
            parts.append("%s\n\n%s" % (title, table(mine, columns)))
    if idle:
        parts.append("Resident memory of each server started (idle, and the most "
                     "seen under its loads)\n\n%s"
                     % table(memory_rows(idle, rows), MEMORY_COLUMNS))
    return "\n\n".join(parts)


# -- main


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Run the ganeti-rapi benchmarks on 127.0.0.1 and report "
        "each figure as a ratio to a bare twisted.web leaf."
    )
    parser.add_argument("--only", action="append", metavar="ID",
                        help="run only this scenario (repeatable; an id ending in '*' "
                        "selects every id it starts; the baselines the figures are "
                        "divided by always run)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--duration", type=float, default=4.0,
                        help="seconds measured per scenario (default 4; some big "
                        "scenarios have their own)")
    parser.add_argument("--warmup", type=float, default=1.5,
                        help="seconds of load before measuring (default 1.5)")
    parser.add_argument("--requests", type=int, default=0,
                        help="measure this many requests or jobs instead of a duration")
    parser.add_argument("--follow", choices=["wait", "poll"], default="wait",
                        help="how job clients follow a job: long-poll /wait (default) "
                        "or poll GET /2/jobs/ID")
    parser.add_argument("--retries", type=int, default=1,
                        help="run a scenario again when other processes disturbed it "
                        "(default once, while the budget allows)")
    parser.add_argument("--quiet-wait", type=float, default=4.0,
                        help="seconds to wait, before each scenario, for other "
                        "processes to leave the machine idle (default 4, while the "
                        "budget allows)")
    parser.add_argument("--budget", type=float, default=450.0,
                        help="seconds the whole run should take at most (default 450): "
                        "retries and quiet waits are given up to stay inside it")
    parser.add_argument("--data-root", default=None,
                        help="where the work directory (server data, logs) is made; "
                        "its file system decides what fsync costs (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (data directories, server logs)")
    parser.add_argument("--output", default=None,
                        help="results file (default bench/results/<timestamp>.json)")
    args = parser.parse_args(argv)
    known = [s.id for s in SCENARIOS]
    for name in args.only or []:
        if not _matching(name):
            parser.error("unknown scenario %r (known: %s)" % (name, ", ".join(known)))
    return args


def _matching(pattern):
    if pattern.endswith("*"):
        return [s for s in SCENARIOS if s.id.startswith(pattern[:-1])]
    return [s for s in SCENARIOS if s.id == pattern]


def selected(args):
    """The scenarios to run, in the order of L{SCENARIOS}, with the
    baselines their figures are divided by."""
    if not args.only:
        return list(SCENARIOS)
    wanted = set()
    for pattern in args.only:
        for scenario in _matching(pattern):
            wanted.add(scenario.id)
            for other in (scenario.leaf, scenario.compare):
                if other:
                    wanted.add(other)
    return [s for s in SCENARIOS if s.id in wanted]


def machine_load(seconds=0.5):
    """Cores the whole machine keeps busy, sampled over C{seconds}."""
    before = machine_busy_seconds()
    time.sleep(seconds)
    return (machine_busy_seconds() - before) / seconds


def wait_until_quiet(limit):
    """Wait up to C{limit} seconds for the machine to be (nearly) idle.

    The suite's own servers are idle between scenarios, so what keeps the
    machine busy then is somebody else's work.  Returns the last load seen.
    """
    if limit <= 0:
        return None
    deadline = time.monotonic() + limit
    load = machine_load()
    if load <= OTHER_CPU_WARNING:
        return load
    print("  waiting for the machine to quieten (%.0f%% of a core busy) ..."
          % (100 * load), flush=True)
    while load > OTHER_CPU_WARNING and time.monotonic() < deadline:
        load = machine_load(1.0)
    return load


def _slack(ctx, remaining):
    """Seconds of the budget not needed by the scenarios still to run."""
    elapsed = time.monotonic() - ctx.began
    return ctx.args.budget - elapsed - sum(s.estimate(ctx.args) for s in remaining)


def run_scenario(ctx, scenario, remaining, keep_server):
    """Run C{scenario}; again (up to C{--retries} times) while disturbed and
    while the budget allows.  Of the attempts, the least disturbed one is kept.

    @param remaining: the scenarios after this one.
    """
    attempts = []
    for attempt in range(1 + ctx.args.retries):
        slack = _slack(ctx, remaining) - scenario.estimate(ctx.args)
        if attempt and slack < 0:
            print("  (no time left in the budget to run it again)", flush=True)
            break
        quiet = wait_until_quiet(min(ctx.args.quiet_wait, max(0.0, slack / 4)))
        if attempt and quiet is not None and quiet > OTHER_CPU_WARNING:
            # Busy before we even start: running it again would only be
            # disturbed the same way.
            print("  (the machine stays busy; not running it again)", flush=True)
            break
        print("running %s: %s%s ..." % (
            scenario.id, scenario.describe(), " (again)" if attempt else ""), flush=True)
        again = attempt < ctx.args.retries
        row = scenario.run(ctx, keep_server or again)
        row["attempt"] = attempt + 1
        row["load_before"] = None if quiet is None else round(quiet, 3)
        attempts.append(row)
        if (row.get("other_cpu") or 0) <= OTHER_CPU_WARNING:
            break
    best = min(attempts, key=lambda r: r.get("other_cpu") or 0)
    if len(attempts) > 1:
        best["other_cpu_attempts"] = [r.get("other_cpu") for r in attempts]
    if not keep_server and scenario.fixture and not scenario.fresh:
        server = ctx.shared.get(scenario.fixture)
        if server is not None:
            ctx.release(server)
    return best


def add_ratios(rows):
    """Each rate divided by its baseline's; long-poll memory by the bare one's."""
    by_id = {r["id"]: r for r in rows}
    for row in rows:
        row["unit"] = UNITS[row["kind"]]
        scenario = next((s for s in SCENARIOS if s.id == row["id"]), None)
        if scenario is None:
            continue
        leaf = by_id.get(scenario.leaf) if scenario.leaf else (
            row if row["id"].startswith("baseline-") else None)
        if leaf and leaf.get("rate") and row.get("rate") and row["kind"] in ("http", "jobs"):
            row["ratio"] = round(row["rate"] / leaf["rate"], 5)
            row["ratio_to"] = leaf["id"]
        if row.get("cluster"):
            row["nodes"] = row["cluster"]["nodes"]
        bare = by_id.get(scenario.compare) if scenario.compare else None
        if bare and bare.get("kib_per_waiter") and row.get("kib_per_waiter"):
            row["memory_ratio"] = round(row["kib_per_waiter"] / bare["kib_per_waiter"], 3)
            row["memory_ratio_to"] = bare["id"]
        elif row["kind"] == "waiters" and scenario.compare is None:
            row["memory_ratio"] = 1.0 if row.get("kib_per_waiter") else None


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


def main(argv=None):
    args = parse_args(argv)
    if args.list:
        for s in SCENARIOS:
            print("%-22s %s" % (s.id, s.describe()))
        return 0
    # Ctrl-C (even where a parent shell ignored it), SIGTERM and SIGHUP
    # all unwind through the finally below, which stops the servers.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)

    fd_soft, fd_hard = raise_fd_limit()
    workdir = tempfile.mkdtemp(prefix="ganeti-rapi-bench-", dir=args.data_root)
    ctx = Context(args, workdir)
    started = datetime.datetime.now(datetime.timezone.utc)
    report_doc = {
        "suite": "ganeti-rapi bench",
        "started": started.isoformat(timespec="seconds"),
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "requests": args.requests,
            "follow": args.follow,
            "retries": args.retries,
            "budget_s": args.budget,
        },
    }
    report_doc.update(environment(workdir))
    report_doc["machine"]["open_files_limit"] = [fd_soft, fd_hard]
    fs = report_doc["machine"]["data_filesystem"]
    print("ganeti-rapi bench: %d cores (%s), Python %s, Twisted %s; data on %s (%s)" % (
        report_doc["machine"]["nproc"], report_doc["machine"]["cpu_model"],
        report_doc["software"]["python"], report_doc["software"]["twisted"],
        fs["mount"], fs["type"]), flush=True)
    if fs["type"] in ("tmpfs", "ramfs"):
        print("note: the data directory is in memory; fsync is free there, so "
              "the job figures are not durable-disk figures", flush=True)
    plan = selected(args)
    biggest = max([s.connections for s in plan if s.kind == "waiters"], default=0)
    if biggest and fd_soft < biggest + 100:
        print("warning: the open-files limit (soft %d, hard %d) is too low for %d "
              "long polls; raise the hard limit (ulimit -Hn) to run them"
              % (fd_soft, fd_hard, biggest), flush=True)
        plan = [s for s in plan if s.kind != "waiters" or s.connections + 100 <= fd_soft]

    rows = []
    try:
        for index, scenario in enumerate(plan):
            later = plan[index + 1:]
            keep = any(s.fixture == scenario.fixture and not s.fresh for s in later)
            rows.append(run_scenario(ctx, scenario, later, keep))
    except BaseException as e:
        what = "interrupted" if isinstance(e, (KeyboardInterrupt, SystemExit)) else "failed"
        print("%s; stopping the servers the suite started" % what, file=sys.stderr, flush=True)
        raise
    finally:
        ctx.stop_all()
        if args.keep:
            print("work directory kept: %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    add_ratios(rows)
    report_doc["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds")
    report_doc["elapsed_s"] = round(time.monotonic() - ctx.began, 1)
    report_doc["servers"] = ctx.idle
    report_doc["results"] = rows
    text = report(rows, ctx.idle)
    report_doc["table"] = text
    output = args.output
    if output is None:
        os.makedirs(RESULTS, exist_ok=True)
        output = os.path.join(RESULTS, started.strftime("%Y%m%dT%H%M%SZ") + ".json")
    with open(output, "w") as f:
        json.dump(report_doc, f, indent=2)
        f.write("\n")

    print()
    print(text)
    print()
    for row in rows:
        if row["kind"] == "jobs":
            submit = row.get("submit") or {}
            print("%s: jobs followed with %s, %s requests per job; the submit alone: "
                  "p50 %s ms, p99 %s ms" % (
                      row["id"],
                      "GET /2/jobs/ID/wait" if row["follow"] == "wait" else "GET /2/jobs/ID",
                      row["follow_requests_per_job"], submit.get("p50_ms"), submit.get("p99_ms")))
        if row["kind"] == "waiters" and not row.get("valid", True):
            print("%s: the change came before every waiter was parked; figure not valid"
                  % row["id"])
    print("ran %.0f s; results: %s" % (report_doc["elapsed_s"],
                                        os.path.relpath(output, os.getcwd())))
    busy = [r["id"] for r in rows if (r.get("other_cpu") or 0) > OTHER_CPU_WARNING]
    if busy:
        print("warning: other processes used more than %d%% of a core during %s; "
              "those figures are disturbed, run again on a quiet machine"
              % (100 * OTHER_CPU_WARNING, ", ".join(busy)))
    failed = [r["id"] for r in rows if r.get("errors")]
    if failed:
        print("errors in: %s (see error_kinds in the results file)" % ", ".join(failed))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
