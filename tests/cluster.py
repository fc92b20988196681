"""A real cluster for tests: C{twistd ganeti-rapi} and C{twistd ganeti-noded}.

L{start_master} starts a master daemon with the users of
L{tests.helpers.TEST_USERS}; L{RealCluster} joins node daemons to it as an
operator does (C{ganeti-rapi-admin cluster-cert export}, C{import} on each
node, C{node add}) and drives it over the API.  The integration tests, the
migration tests' daemon test and the conformance cluster all start theirs
this way.
"""

import json
import os
import re
import socket
import sys

from twisted.internet import defer, reactor, task, utils

from tests.helpers import WRITER, basic_auth, daemon_pem, https_client, short_socket_path
from tests.helpers import start_twistd, subprocess_env, write_users

#: The states a job ends in.
FINAL = ("success", "error", "canceled")

#: The master's Ganeti-style listening flags: HTTPS on a free port of
#: 127.0.0.1, with the certificate it makes in its data directory.
HTTPS_ANY_PORT = ("-p", "0", "-b", "127.0.0.1")

#: Seconds between two looks at a job.
POLL = 0.05


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@defer.inlineCallbacks
def start_master(testcase, data_dir, control, args=HTTPS_ANY_PORT, listeners=1):
    """Start C{twistd ganeti-rapi} in C{data_dir}; the daemon and its URLs.

    The test users are written first; the master's own node daemon takes a
    free port and C{control} is its control socket.  C{args} are the
    listening flags and any other options.

    @param listeners: how many "serving on" lines to wait for (one per
        C{--listen}).
    """
    write_users(data_dir)
    master = yield start_twistd(
        testcase, "ganeti-rapi",
        ["--data-dir", data_dir, "--node-port", "0", "--control-socket", control,
         "--no-access-log"] + list(args),
    )
    pattern = re.compile(r"ganeti-rapi serving on (\S+)")
    for _ in range(400):
        urls = pattern.findall(master.output)
        if len(urls) >= listeners:
            return master, urls
        yield task.deferLater(reactor, POLL, lambda: None)
    testcase.fail("the master did not listen %d times:\n%s" % (listeners, master.output))


@defer.inlineCallbacks
def wait_job(cluster, job_id, timeout=60):
    """The job C{job_id} of C{cluster} (a L{RealCluster}) once it has ended."""
    for _ in range(int(timeout / POLL)):
        code, job = yield cluster.api("GET", "/2/jobs/%d" % job_id)
        if job["status"] in FINAL:
            return job
        yield task.deferLater(reactor, POLL, lambda: None)
    cluster.fail("job %d did not finish" % job_id)


class RealCluster:
    """A master and node daemons in child processes, joined and driven.

    Mixed into a C{TestCase} (or into an object that lends a test's
    C{addCleanup}, C{assertEqual} and C{fail}); the daemons are stopped at
    the test's cleanup.  Tests that set up their cluster their own way (the
    kvm tests) still use C{admin}, C{api} and C{run_job}, and may override
    any of them: C{start_cluster} relies on C{admin} and C{start_node},
    C{run_job} on C{api}.

    @ivar master: the master daemon (L{tests.helpers.TwistdProcess});
        C{master_urls} the URLs it serves on.
    @ivar nodes: the node daemons, on C{ports}, in C{node_dirs}.
    @ivar client: the HTTP client of L{api}; C{url} where it sends to.
    """

    @defer.inlineCallbacks
    def admin(self, *argv, data_dir=None, expect=0):
        """Run C{ganeti-rapi-admin} on C{data_dir} (the master's); its output."""
        args = ["-m", "ganeti_rapi.cli.admin", "--data-dir", data_dir or self.master_dir]
        out, err, code = yield utils.getProcessOutputAndValue(
            sys.executable, args + list(argv), env=subprocess_env(), path=os.getcwd()
        )
        text = (out + err).decode("utf-8", "replace")
        self.assertEqual(code, expect, text)
        return text

    def start_node(self, index, port):
        """Start the node daemon C{index} on C{port}."""
        return start_twistd(
            self, "ganeti-noded",
            ["--data-dir", self.node_dirs[index],
             "--listen", "tcp:%d:interface=127.0.0.1" % port] + list(self.noded_args),
        )

    @defer.inlineCallbacks
    def start_cluster(self, base, count, noded_args=(), master_args=None, listeners=1):
        """A master in C{base}/master and C{count} node daemons joined to it.

        The nodes are C{node1}... on 127.0.0.1 with data directories
        C{base}/node1...; C{noded_args} are given to every node daemon.
        Without C{master_args} the master serves HTTPS on its own
        certificate and L{api} requests go there; with them (and
        C{listeners}, see L{start_master}) the caller sets C{client} and
        C{url} from C{master_urls}.
        """
        self.master_dir = os.path.join(base, "master")
        self.node_dirs = [os.path.join(base, "node%d" % i) for i in range(1, count + 1)]
        self.noded_args = list(noded_args)
        self.control = short_socket_path(self)
        self.master, self.master_urls = yield start_master(
            self, self.master_dir, self.control,
            HTTPS_ANY_PORT if master_args is None else master_args, listeners,
        )
        if master_args is None:
            self.client = https_client(daemon_pem(self.master_dir))
            self.url = "https://localhost:%d" % self.master.port
        exported = os.path.join(base, "cluster.pem")
        yield self.admin("cluster-cert", "export", exported)
        self.ports = [free_port() for _ in self.node_dirs]
        self.nodes = []
        for index, data_dir in enumerate(self.node_dirs):
            yield self.admin("cluster-cert", "import", exported, data_dir=data_dir)
            self.nodes.append((yield self.start_node(index, self.ports[index])))
            yield self.admin("node", "--control-socket", self.control, "add",
                             "node%d" % (index + 1), "--ip", "127.0.0.1",
                             "--port", str(self.ports[index]))

    @defer.inlineCallbacks
    def api(self, method, path, body=None, user=WRITER):
        """A request to the master as C{user} (None: none); C{(status, decoded body)}."""
        headers = {b"authorization": basic_auth(*user)} if user else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers[b"content-type"] = b"application/json"
        response = yield self.client.request(method, self.url + path, data=data,
                                             headers=headers)
        text = yield response.content()
        return response.code, (json.loads(text) if text else None)

    @defer.inlineCallbacks
    def run_job(self, method, path, body=None, timeout=60):
        """Submit a job and wait up to C{timeout} seconds for its end; the job."""
        code, job_id = yield self.api(method, path, body)
        self.assertEqual(code, 200, job_id)
        job = yield wait_job(self, job_id, timeout)
        return job
