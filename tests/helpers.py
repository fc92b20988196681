"""Shared test helpers: key pairs, and real C{twistd} daemons in child processes.

Daemons are started from this checkout (C{PYTHONPATH} points at it), so the
code under test is the code in the tree even where an older copy is
installed.  A daemon is ready when it logs its "serving on URL" line, which
both taps print once their listening port is bound.
"""

import os
import re
import sys

from twisted.internet import defer, error, protocol, reactor

from ganeti_rapi import certs
from ganeti_rapi.engine.noderpc import NodeOffline, NodeRunner
from ganeti_rapi.rpc.errors import NodeProcedureError, NodeRpcError, NodeUnreachable

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: What a daemon logs once it listens; group 2 is the URL.
READY_LINE = rb"(%s) serving on (\S+)"

_keypairs = {}


def keypair(name="test", alt_names=("localhost", "127.0.0.1")):
    """A fresh-per-name EC key pair (EC keys are cheap to make)."""
    if name not in _keypairs:
        _keypairs[name] = certs.generate(name, alt_names, key_type="ec")
    return _keypairs[name]


def write_keypair(path, pair):
    """Write C{pair} as a combined PEM file at C{path} (mode 0600)."""
    from ganeti_rapi.fileutil import atomic_write

    atomic_write(path, pair.pem(), mode=0o600)
    return path


def subprocess_env(extra=None):
    """Environment for child processes that run this checkout's code."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [REPO_ROOT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    env.setdefault("PYTHONUNBUFFERED", "1")
    if extra:
        env.update(extra)
    return env


class _DaemonProtocol(protocol.ProcessProtocol):
    def __init__(self, daemon):
        self.ready_line = re.compile(READY_LINE % re.escape(daemon.encode("ascii")))
        self.output = bytearray()
        self.ready = defer.Deferred()
        self.ended = defer.Deferred()
        self.url = None

    def outReceived(self, data):
        self.output += data
        if self.url is None:
            match = self.ready_line.search(self.output)
            if match:
                self.url = match.group(2).decode("ascii")
                self.ready.callback(self.url)

    errReceived = outReceived

    def processEnded(self, reason):
        if not self.ready.called:
            self.ready.errback(
                RuntimeError(
                    "daemon exited before it was ready:\n"
                    + self.output.decode("utf-8", "replace")
                )
            )
        # twistd re-raises the signal that stopped it, so a clean stop by
        # SIGTERM ends with signal 15 rather than exit code 0.
        self.ended.callback((reason.value.exitCode, reason.value.signal))


class TwistdProcess:
    """A C{twistd -n PLUGIN ...} child process and what it printed."""

    def __init__(self, plugin, args, env=None, prefix=()):
        self.plugin = plugin
        self.args = list(args)
        self.env = env
        self.prefix = list(prefix)
        self.proto = None
        self.transport = None

    @property
    def url(self):
        return self.proto.url

    @property
    def port(self):
        return int(self.url.rstrip("/").rsplit(":", 1)[1])

    @property
    def output(self):
        return self.proto.output.decode("utf-8", "replace")

    def start(self, timeout=60):
        """Spawn the daemon; fires with C{self} once it serves."""
        self.proto = _DaemonProtocol(self.plugin)
        argv = [
            sys.executable,
            "-c",
            "import sys; from twisted.scripts.twistd import run;"
            " sys.argv[0] = 'twistd'; run()",
            "--nodaemon",
            "--pidfile=",
            self.plugin,
        ] + self.args
        # A prefix that execs its command (such as "ip netns exec NS")
        # leaves the daemon's pid the one signalled here.
        argv = self.prefix + argv
        self.transport = reactor.spawnProcess(
            self.proto, argv[0], argv, env=subprocess_env(self.env),
            path=REPO_ROOT,
        )
        d = self.proto.ready
        d.addTimeout(timeout, reactor)
        d.addCallback(lambda _: self)
        return d

    @property
    def running(self):
        return self.proto is not None and not self.proto.ended.called

    def signal(self, name):
        if self.running:
            try:
                self.transport.signalProcess(name)
            except error.ProcessExitedAlready:
                pass

    def stop(self, timeout=20):
        """SIGTERM, then SIGKILL after C{timeout}; fires with C{(exit code, signal)}."""
        if not self.running:
            return defer.succeed(None)
        self.signal("TERM")
        killer = reactor.callLater(timeout, self.signal, "KILL")
        ended = defer.Deferred()

        def done(code):
            if killer.active():
                killer.cancel()
            ended.callback(code)
            return code

        self.proto.ended.addBoth(done)
        return ended

    def kill(self):
        """SIGKILL, as a crash would; fires when the process is gone."""
        if not self.running:
            return defer.succeed(None)
        ended = defer.Deferred()
        self.proto.ended.addBoth(ended.callback)
        self.signal("KILL")
        return ended


@defer.inlineCallbacks
def start_twistd(testcase, plugin, args, env=None, timeout=60, prefix=()):
    """Start a daemon for C{testcase}, stopped again at its cleanup.

    @param prefix: a command the daemon's command line is handed to, which
        must exec it (C{["ip", "netns", "exec", name]}).
    """
    daemon = TwistdProcess(plugin, args, env, prefix)
    testcase.addCleanup(daemon.stop)
    yield daemon.start(timeout)
    return daemon


def stub_treq(root, clock=None, **site_kwargs):
    """A treq-like client whose requests go through a real L{RapiSite}.

    treq's C{StubTreq} serves a plain C{Site}; ours adds the body limit
    and headers, so it is put in the place of treq's (a private attribute
    of C{RequestTraversalAgent}, present in treq 22.2 and 26.7 alike).
    """
    from treq.testing import StubTreq

    from ganeti_rapi.web.site import RapiSite

    stub = StubTreq(root)
    agent = stub._agent
    site_kwargs.setdefault("access_log", False)
    agent._serverFactory = RapiSite(
        root, reactor=clock or agent._memoryReactor, **site_kwargs
    )
    stub.flush = agent.flush
    return stub


def basic_auth(name, password):
    """An C{Authorization} header value for HTTP Basic."""
    import base64

    token = base64.b64encode(("%s:%s" % (name, password)).encode("utf-8"))
    return b"Basic " + token


def sync_runner(f, *args):
    """A C{run_in_thread} that runs C{f} at once, for tests with a Clock."""
    return defer.maybeDeferred(f, *args)


#: Users of the API fixtures: a writer, a reader and a user without options.
TEST_USERS = """\
writer wpass write
reader rpass read
plain ppass
"""
WRITER = ("writer", "wpass")
READER = ("reader", "rpass")


class EngineFixture:
    """The real engine in a temporary data directory, behind the real tree.

    Time is a C{Clock}; blocking file work runs synchronously; requests go
    through treq's in-memory transport into the real L{RapiSite}.  No node
    daemon runs: pass C{nodes=FakeNodes()} for units that call nodes.
    C{resolve} and C{ip_check_port} replace the system resolver and port
    1811 of C{name_check} and C{ip_check} (see L{open_engine}).
    """

    def __init__(self, testcase, data_dir=None, require_authentication=False,
                 max_running=20, nodes=None, resolve=None, ip_check_port=None):
        from twisted.internet import task

        from ganeti_rapi.auth import UserDatabase
        from ganeti_rapi.engine.master import open_engine
        from ganeti_rapi.web.base import ApiContext, Gate
        from ganeti_rapi.web.root import build_root

        self.testcase = testcase
        self.clock = task.Clock()
        self.clock.advance(1800000000)
        self.data_dir = data_dir or os.path.abspath(testcase.mktemp())
        os.makedirs(self.data_dir, exist_ok=True)
        self.engine = open_engine(
            self.data_dir, self.clock, run_in_thread=sync_runner, max_running=max_running,
            node_runner=nodes, resolve=resolve, ip_check_port=ip_check_port,
        )
        self.nodes = nodes
        self.engine.service.startService()
        testcase.addCleanup(self.engine.service.stopService)
        gate = Gate(UserDatabase.parse(TEST_USERS), require_authentication)
        self.context = ApiContext(gate, self.engine.cluster, self.clock)
        self.root = build_root(self.context)
        self.client = stub_treq(self.root, clock=self.clock)

    def start(self, method, path, body=None, user=WRITER, headers=None, raw=None):
        """Send a request; the Deferred of the response (not yet flushed)."""
        import json

        headers = dict(headers or {})
        if user is not None:
            headers[b"authorization"] = basic_auth(*user)
        data = raw
        if body is not None:
            data = json.dumps(body).encode("utf-8")
        if data is not None:
            headers.setdefault(b"content-type", b"application/json")
        d = self.client.request(
            method, "https://rapi.example" + path, data=data, headers=headers
        )
        self.client.flush()
        return d

    def request(self, method, path, body=None, user=WRITER, headers=None, raw=None):
        """Send a request and return C{(status, decoded body)} at once."""
        import json

        d = self.start(method, path, body, user, headers, raw)
        response = self.testcase.successResultOf(d)
        content = self.testcase.successResultOf(response.content())
        return response.code, (json.loads(content) if content else None)

    def ok(self, method, path, body=None, user=WRITER):
        """A request that must succeed; its decoded body."""
        code, result = self.request(method, path, body, user)
        self.testcase.assertEqual(code, 200, result)
        return result

    def job(self, job_id):
        return self.ok("GET", "/2/jobs/%d" % job_id)

    def run_job(self, method, path, body=None, user=WRITER):
        """Submit a job through the API and return the finished job object."""
        job_id = self.ok(method, path, body, user)
        self.testcase.assertIsInstance(job_id, int)
        self.clock.advance(0)
        return self.job(job_id)

    def assert_job_error(self, job, classification, message_part=None):
        """A job that failed with an OpPrereqError of C{classification}."""
        self.testcase.assertEqual(job["status"], "error", job)
        error_class, args = job["opresult"][0]
        self.testcase.assertEqual(error_class, "OpPrereqError")
        self.testcase.assertEqual(args[1], classification)
        if message_part is not None:
            self.testcase.assertIn(message_part, args[0])


class FakeNodes(NodeRunner):
    """A stand-in for node daemons: the engine's node runner over a table.

    Unit tests of the engine run no node daemon (the integration tests run
    real ones); this runner answers node procedures from C{answers} instead
    of over node RPC.  Offline nodes, failures and their classification for
    units (C{run}) and the fan-out (C{call_nodes}) are the real
    L{NodeRunner}'s; only the transport is replaced.

    @ivar answers: C{{(node name or None, procedure): answer}}; C{None} as
        the node name answers for every node.  An answer is a value, an
        exception (the call fails with it) or a callable taking the node
        and the keyword arguments and returning either.
    @ivar calls: C{(node name, procedure, kwargs)} of every call, in order.
    """

    def __init__(self, answers=None):
        NodeRunner.__init__(self, client=None, config=None)
        self.answers = dict(answers or {})
        self.calls = []

    def answer(self, procedure, value, node=None):
        """Answer C{procedure} with C{value} on C{node} (every node if None)."""
        self.answers[(node, procedure)] = value

    def call(self, node, procedure, timeout=None, /, **kwargs):
        if node.offline:
            return defer.fail(NodeOffline("Node '%s' is offline" % node.name))
        self.calls.append((node.name, procedure, kwargs))
        host, port = self.address(node)
        for key in ((node.name, procedure), (None, procedure)):
            if key in self.answers:
                answer = self.answers[key]
                break
        else:
            return defer.fail(NodeProcedureError(
                host, port, procedure, "UnknownProcedure",
                "no such procedure: %s" % procedure, 404,
            ))
        if callable(answer) and not isinstance(answer, type):
            try:
                answer = answer(node, **kwargs)
            except Exception as e:
                answer = e
        if isinstance(answer, Exception):
            if not isinstance(answer, NodeRpcError):
                answer = NodeProcedureError(
                    host, port, procedure, type(answer).__name__, str(answer)
                )
            return defer.fail(answer)
        return defer.maybeDeferred(lambda: answer)


def https_client(pem, persistent=False):
    """A treq client trusting exactly the certificate C{pem}, host name checked."""
    import treq
    from twisted.internet import ssl
    from twisted.web.client import Agent, HTTPConnectionPool
    from twisted.web.iweb import IPolicyForHTTPS
    from zope.interface import implementer

    @implementer(IPolicyForHTTPS)
    class TrustOne:
        def __init__(self):
            self.root = ssl.Certificate.loadPEM(pem)

        def creatorForNetloc(self, hostname, port):
            return ssl.optionsForClientTLS(hostname.decode("ascii"), trustRoot=self.root)

    pool = HTTPConnectionPool(reactor, persistent=persistent)
    return treq.client.HTTPClient(Agent(reactor, contextFactory=TrustOne(), pool=pool))


def daemon_pem(data_dir):
    """The RAPI certificate a daemon generated in C{data_dir}."""
    with open(os.path.join(data_dir, "rapi.pem"), "rb") as f:
        return f.read()


def write_users(data_dir, text=TEST_USERS):
    """Write the users file of C{data_dir} before a daemon starts."""
    path = os.path.join(data_dir, "rapi", "users")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def short_socket_path(testcase, name="master.sock"):
    """A UNIX socket path short enough for AF_UNIX (trial's are not)."""
    import shutil
    import tempfile

    directory = tempfile.mkdtemp(prefix="grapi-")
    testcase.addCleanup(shutil.rmtree, directory, True)
    return os.path.join(directory, name)


class LocalNodes(NodeRunner):
    """Node daemons' real procedures, called in-process instead of over TLS.

    Each node name maps to a real L{NodeProcedures} with its own data
    directory (fake hypervisor, file storage, OS definitions); only the
    transport is skipped, so engine tests see what real nodes do.  The
    integration tests cover the same calls over real node RPC.
    """

    def __init__(self, procedures):
        NodeRunner.__init__(self, client=None, config=None)
        self.procedures = procedures
        self.down = set()
        #: C{(node name, procedure, RPC timeout)} of every call, in order.
        self.timeouts = []

    def call(self, node, procedure, timeout=None, /, **kwargs):
        if node.offline:
            return defer.fail(NodeOffline("Node '%s' is offline" % node.name))
        self.timeouts.append((node.name, procedure, timeout))
        host, port = self.address(node)
        if node.name in self.down or node.name not in self.procedures:
            return defer.fail(NodeUnreachable(host, port, procedure, "connection refused"))
        method = getattr(self.procedures[node.name], "rpc_" + procedure, None)
        if method is None:
            return defer.fail(NodeProcedureError(
                host, port, procedure, "UnknownProcedure", "no such procedure", 404))
        d = defer.maybeDeferred(method, **kwargs)

        def failed(failure):
            if failure.check(NodeRpcError):
                return failure
            raise NodeProcedureError(
                host, port, procedure, type(failure.value).__name__,
                str(failure.value), 500,
            )

        d.addErrback(failed)
        return d


def local_nodes(testcase, names, total_mib=8192, available_mib=6144, **node_options):
    """C{LocalNodes} for C{names}, each node with its own data directory.

    C{node_options} are passed to every L{NodeProcedures} (for example
    C{shared_file_storage_dir}, C{adoptable_roots}).
    """
    from ganeti_rapi.noded.procedures import NodeProcedures
    from ganeti_rapi.noded.testing import run_synchronously, write_host_files

    base = os.path.abspath(testcase.mktemp())
    procedures = {}
    for name in names:
        host = write_host_files(os.path.join(base, name, "host"), total_mib=total_mib,
                                available_mib=available_mib)
        procedures[name] = NodeProcedures(
            os.path.join(base, name, "data"), run_in_thread=run_synchronously,
            host_files=host, **node_options,
        )
    return LocalNodes(procedures)


def local_cluster(testcase, names, nodes=None, resolve=None, ip_check_port=None,
                  **node_options):
    """An L{EngineFixture} whose master and nodes C{names} run real node
    procedures in-process.

    @param nodes: the L{LocalNodes} to use, holding this host's name and
        C{names}; by default L{local_nodes} with C{node_options}.
    @param resolve: passed to L{EngineFixture}, and so is C{ip_check_port}.
    @return: the fixture, whose C{master} is the master node's name; that
        node runs the procedures of this host's name.
    """
    from ganeti_rapi.engine.objects import Node

    host = os.uname().nodename
    if nodes is None:
        nodes = local_nodes(testcase, [host] + list(names), **node_options)
    fixture = EngineFixture(testcase, nodes=nodes, resolve=resolve,
                            ip_check_port=ip_check_port)
    config = fixture.engine.config
    master = config.node(config.cluster.master_node)
    nodes.procedures.setdefault(master.name, nodes.procedures[host])
    for name in names:
        config.add_node(Node(name=name, primary_ip="127.0.0.1", group=master.group))
    testcase.successResultOf(config.save())
    fixture.master = master.name
    return fixture


def instance_body(name, **extra):
    """The body of C{POST /2/instances} creating C{name}: the no-op OS, not
    installed, one file disk of 16 MiB, one NIC, 128 MiB of memory;
    C{extra} adds keys or replaces these."""
    body = dict(__version__=1, mode="create", name=name, os="ganeti-rapi-noop",
                no_install=True, disk_template="file", disks=[{"size": 16}], nics=[{}],
                beparams={"maxmem": 128, "minmem": 128})
    body.update(extra)
    return body
