"""The liveness probe of ganeti-watcher against our server.

The watcher calls C{GET /version} with Ganeti's client, without credentials
and without verifying the certificate, and restarts the RAPI daemon unless
the answer is 2.  Two masters are probed as an operator runs them, on their
own self-signed certificates: one with the defaults and one with
C{--require-authentication}, where C{/version} still answers 2 (Ganeti
answers 401 there; see doc/clients.rst) while everything else needs
credentials.
"""

import os

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from tests.cluster import HTTPS_ANY_PORT, start_master
from tests.conformance.fixture import DEBIAN_PYTHON, HERE, Report, run_program
from tests.helpers import WRITER, short_socket_path


class LivenessTests(TestCase):
    timeout = 300

    @defer.inlineCallbacks
    def master(self, name, *extra):
        data_dir = os.path.join(os.path.abspath(self.mktemp()), name)
        daemon, urls = yield start_master(self, data_dir, short_socket_path(self),
                                          HTTPS_ANY_PORT + extra)
        return int(urls[0].rstrip("/").rsplit(":", 1)[1])

    def probe(self, port, *extra):
        return run_program(
            [DEBIAN_PYTHON, os.path.join(HERE, "watcher_probe.py"), "--port", str(port)]
            + list(extra), timeout=60)

    @defer.inlineCallbacks
    def test_watcher_probe(self):
        """GET /version is 2 for the watcher, with and without
        --require-authentication; only /version is exempt from it."""
        report = Report("ganeti-watcher liveness probe")
        result = yield run_program(
            [DEBIAN_PYTHON, "-c", "import pycurl, ganeti.rapi.client"], timeout=60)
        if result.code != 0:
            report.failed("install", "Debian's python3-ganeti-rapi cannot be imported"
                          " (tests/run installs it as root):\n" + result.describe())
            report.finish(self)
            return
        default = yield self.master("default")
        strict = yield self.master("strict", "--require-authentication")

        result = yield self.probe(default)
        report.equal("default master: GET /version", result.out.strip(), "version 2")
        result = yield self.probe(strict, "--info")
        report.equal("--require-authentication: GET /version",
                     result.out.splitlines()[:1], ["version 2"])
        report.expect(
            "--require-authentication: anonymous GET /2/info is refused",
            result.out.splitlines()[1:2] == [
                "error 401: 401 Unauthorized: No permission -- see authorization schemes"],
            result.describe())
        result = yield self.probe(strict, "--info", "--user", WRITER[0],
                                  "--password", WRITER[1])
        report.expect("--require-authentication: with credentials",
                      result.code == 0 and result.out.startswith("version 2\ninfo "),
                      result.describe())
        result = yield self.probe(strict, "--user", WRITER[0], "--password", "wrong")
        report.expect("--require-authentication: wrong credentials on /version",
                      result.out.startswith("error 401: "), result.describe())
        report.finish(self)
