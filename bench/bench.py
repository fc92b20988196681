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

from loadgen import machine_busy_seconds  # noqa: E402

#: How C{twistd} is started from the checkout (no installation needed).
TWISTD = [
    PYTHON,
    "-c",
    "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()",
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

    def __init__(self, name, argv, log_path, ready, env=None):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.ready = re.compile(ready)
        self.env = env
        self.process = None
        self.url = None

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
        """SIGTERM the server, SIGKILL it if it lingers; reap it."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            # Not reaped yet, so its process group (the session we made
            # for it, with anything it spawned) is still ours.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class Context:
    """What the scenarios of one run share: settings, work directory, servers."""

    def __init__(self, args, workdir):
        self.args = args
        self.workdir = workdir
        self.shared = {}
        self.started = []
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
        server = FIXTURES[fixture](self)
        self.started.append(server)
        server.start()
        if not fresh:
            self.shared[fixture] = server
        return server

    def release(self, server):
        """Stop C{server} now (a fresh one, once its scenario is done)."""
        if server not in self.shared.values():
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


def rapi_fixture(ctx):
    """C{twistd ganeti-rapi} of this checkout: a fresh data directory (its
    single-node default), TLS with its own self-signed RSA certificate, no
    access log, one user with write access."""
    data_dir = ctx.path("rapi-data")
    os.makedirs(os.path.join(data_dir, "rapi"), mode=0o750)
    users = os.path.join(data_dir, "rapi", "users")
    with open(users, "w") as f:
        f.write("%s %s write\n" % (BENCH_USER, BENCH_PASSWORD))
    os.chmod(users, 0o600)
    argv = TWISTD + [
        "--nodaemon", "--pidfile=", "ganeti-rapi",
        "--data-dir", data_dir,
        "-p", "0", "-b", "127.0.0.1",
        "--no-access-log",
    ]
    if ctx.rapi_supports("--node-port"):
        # The node daemon inside the master: any free port, not 1811.
        argv += ["--node-port", "0"]
    return Server(
        "ganeti-rapi",
        argv,
        data_dir + ".log",
        r"ganeti-rapi serving on (https://127\.0\.0\.1:\d+)",
        env=project_env(),
    )


FIXTURES = {
    "baseline": baseline_fixture,
    "rapi": rapi_fixture,
}


# -- scenarios


class Scenario:
    """One figure: a load against a fixture's server.

    @ivar id: short name for C{--only}.
    @ivar kind: C{http} (one request again and again) or C{jobs} (submit
        a tag job, follow it to its end), see L{loadgen}; or C{disk}
        (atomic file writes on the data file system, see L{disk}), which
        needs no server.
    @ivar path: the URL path (for C{jobs}: the tags resource).
    @ivar connections: connections, job clients, or writing threads.
    @ivar fresh: start a server of its own for this scenario.
    """

    def __init__(self, id, title, fixture, kind, path, connections, fresh=False):
        self.id = id
        self.title = title
        self.fixture = fixture
        self.kind = kind
        self.path = path
        self.connections = connections
        self.fresh = fresh

    def describe(self):
        what = "thread" if self.kind == "disk" else "connection"
        return "%s, %d %s%s" % (
            self.title, self.connections, what, "" if self.connections == 1 else "s")

    def argv(self, ctx, server):
        args = ctx.args
        if self.kind == "disk":
            return [
                PYTHON, os.path.join(HERE, "disk.py"), ctx.path("disk"),
                "--threads", str(self.connections),
                "--duration", str(min(args.duration or 3.0, 3.0)),
            ]
        argv = [
            PYTHON, os.path.join(HERE, "loadgen.py"), self.kind, server.url + self.path,
            "--connections", str(self.connections),
            "--warmup", str(args.warmup),
            "--server-pid", str(server.pid),
        ]
        if args.requests:
            argv += ["--duration", "0", "--requests", str(args.requests)]
        else:
            argv += ["--duration", str(args.duration)]
        if self.kind == "jobs":
            argv += ["--auth", "%s:%s" % (BENCH_USER, BENCH_PASSWORD), "--follow", args.follow]
        return argv

    def run(self, ctx):
        server = ctx.server(self.fixture, self.fresh) if self.fixture else None
        try:
            budget = ctx.args.warmup + (ctx.args.duration or 60) + 120
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
                row["server_rss_mb"] = server.rss_mb()
        finally:
            if server is not None:
                ctx.release(server)
        row.update(id=self.id, title=self.title, server=server.name if server else None)
        return row


SCENARIOS = [
    Scenario("baseline", "bare twisted.web leaf", "baseline", "http", "/", 10),
    Scenario("info", "GET /2/info", "rapi", "http", "/2/info", 10),
    Scenario("version", "GET /version", "rapi", "http", "/version", 10),
    Scenario("disk-1", "atomic file writes (disk)", None, "disk", None, 1),
    Scenario("disk-10", "atomic file writes (disk)", None, "disk", None, 10),
    Scenario("jobs-1", "tag jobs, submit to success", "rapi", "jobs",
             "/2/groups/default/tags", 1, fresh=True),
    Scenario("jobs-20", "tag jobs, submit to success", "rapi", "jobs",
             "/2/groups/default/tags", 20, fresh=True),
]

#: CPU (in cores) used by processes outside the suite during a scenario
#: above which its figure is flagged as disturbed.
OTHER_CPU_WARNING = 0.15

#: Units of the rates, by kind.
UNITS = {"http": "req/s", "jobs": "jobs/s", "disk": "writes/s"}


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


COLUMNS = [
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
    ("errors", "errors", ">"),
]


def _cell(row, key):
    value = row.get(key)
    if value is None:
        return "-"
    if key == "ratio":
        return "%.3f" % value if value < 0.1 else "%.2f" % value
    if key == "rate":
        return "%.0f" % value if value >= 100 else "%.1f" % value
    if key in ("p50_ms", "p99_ms"):
        return "%.2f" % value
    if key in ("server_cpu", "client_cpu", "other_cpu"):
        return "%.0f%%" % (100 * value)
    return str(value)


def table(rows):
    """The results as an RST simple table (readable as it is)."""
    cells = [[name for name, _, _ in COLUMNS]]
    for row in rows:
        cells.append([_cell(row, key) for _, key, _ in COLUMNS])
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    rule = "  ".join("=" * w for w in widths)

    def fmt(line):
        return "  ".join(
            (cell.ljust(w) if align == "<" else cell.rjust(w))
            for cell, w, (_, _, align) in zip(line, widths, COLUMNS)
        ).rstrip()

    out = [rule, fmt(cells[0]), rule]
    out.extend(fmt(line) for line in cells[1:])
    out.append(rule)
    return "\n".join(out)


# -- main


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Run the ganeti-rapi benchmarks on 127.0.0.1 and report "
        "each figure as a ratio to a bare twisted.web leaf."
    )
    parser.add_argument("--only", action="append", metavar="ID",
                        help="run only this scenario (repeatable; the baseline always runs)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--duration", type=float, default=6.0,
                        help="seconds measured per scenario (default 6)")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="seconds of load before measuring (default 2)")
    parser.add_argument("--requests", type=int, default=0,
                        help="measure this many requests or jobs instead of a duration")
    parser.add_argument("--follow", choices=["wait", "poll"], default="wait",
                        help="how job clients follow a job: long-poll /wait (default) "
                        "or poll GET /2/jobs/ID")
    parser.add_argument("--retries", type=int, default=1,
                        help="run a scenario again when other processes disturbed it "
                        "(default once)")
    parser.add_argument("--quiet-wait", type=float, default=10.0,
                        help="seconds to wait, before each scenario, for other "
                        "processes to leave the machine idle (default 10)")
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
        if name not in known:
            parser.error("unknown scenario %r (known: %s)" % (name, ", ".join(known)))
    return args


def selected(args):
    if not args.only:
        return list(SCENARIOS)
    return [s for s in SCENARIOS if s.id == "baseline" or s.id in args.only]


def machine_load(seconds=1.0):
    """Cores the whole machine keeps busy, sampled over C{seconds}."""
    before = machine_busy_seconds()
    time.sleep(seconds)
    return (machine_busy_seconds() - before) / seconds


def wait_until_quiet(limit):
    """Wait up to C{limit} seconds for the machine to be (nearly) idle.

    The suite's own servers are idle between scenarios, so what keeps the
    machine busy then is somebody else's work.
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
        load = machine_load(2.0)
    return load


def run_scenario(ctx, scenario):
    """Run C{scenario}; again (up to C{--retries} times) while disturbed.

    Of the attempts, the least disturbed one is kept.
    """
    attempts = []
    for attempt in range(1 + ctx.args.retries):
        wait_until_quiet(ctx.args.quiet_wait)
        print("running %s: %s%s ..." % (
            scenario.id, scenario.describe(), " (again)" if attempt else ""), flush=True)
        row = scenario.run(ctx)
        row["attempt"] = attempt + 1
        attempts.append(row)
        if (row.get("other_cpu") or 0) <= OTHER_CPU_WARNING:
            break
    return min(attempts, key=lambda r: r.get("other_cpu") or 0)


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


def main(argv=None):
    args = parse_args(argv)
    if args.list:
        for s in SCENARIOS:
            print("%-10s %s" % (s.id, s.describe()))
        return 0
    # Ctrl-C (even where a parent shell ignored it), SIGTERM and SIGHUP
    # all unwind through the finally below, which stops the servers.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)

    workdir = tempfile.mkdtemp(prefix="ganeti-rapi-bench-", dir=args.data_root)
    ctx = Context(args, workdir)
    started = datetime.datetime.now(datetime.timezone.utc)
    report = {
        "suite": "ganeti-rapi bench",
        "started": started.isoformat(timespec="seconds"),
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "requests": args.requests,
            "follow": args.follow,
            "retries": args.retries,
        },
    }
    report.update(environment(workdir))
    fs = report["machine"]["data_filesystem"]
    print("ganeti-rapi bench: %d cores (%s), Python %s, Twisted %s; data on %s (%s)" % (
        report["machine"]["nproc"], report["machine"]["cpu_model"],
        report["software"]["python"], report["software"]["twisted"],
        fs["mount"], fs["type"]), flush=True)
    if fs["type"] in ("tmpfs", "ramfs"):
        print("note: the data directory is in memory; fsync is free there, so "
              "the job figures are not durable-disk figures", flush=True)

    rows = []
    try:
        for scenario in selected(args):
            rows.append(run_scenario(ctx, scenario))
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

    baseline = next((r for r in rows if r["id"] == "baseline"), None)
    for row in rows:
        row["unit"] = UNITS[row["kind"]]
        if row["kind"] != "disk" and baseline and baseline.get("rate") and row.get("rate"):
            row["ratio"] = round(row["rate"] / baseline["rate"], 4)

    report["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds")
    report["results"] = rows
    output = args.output
    if output is None:
        os.makedirs(RESULTS, exist_ok=True)
        output = os.path.join(RESULTS, started.strftime("%Y%m%dT%H%M%SZ") + ".json")
    with open(output, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")

    print()
    print(table(rows))
    for row in rows:
        if row["kind"] == "jobs":
            submit = row.get("submit") or {}
            print("%s: jobs followed with %s, %s requests per job; the submit alone: "
                  "p50 %s ms, p99 %s ms" % (
                      row["id"],
                      "GET /2/jobs/ID/wait" if row["follow"] == "wait" else "GET /2/jobs/ID",
                      row["follow_requests_per_job"], submit.get("p50_ms"), submit.get("p99_ms")))
    print("results: %s" % os.path.relpath(output, os.getcwd()))
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
