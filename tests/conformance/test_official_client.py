"""Ganeti's official RAPI client (Debian's python3-ganeti-rapi) against our server.

The client runs unchanged under Debian's C{/usr/bin/python3}: the driver
C{official_client.py} next to this module calls the client's methods (facts
§10.3) against the conformance cluster over HTTPS and prints one line per
check, which this test collects into its report.
"""

import os

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from tests.conformance.fixture import (
    DEBIAN_PYTHON,
    HERE,
    ConformanceCluster,
    Report,
    run_program,
)
from tests.helpers import READER, WRITER


class OfficialClientTests(TestCase):
    timeout = 600

    @defer.inlineCallbacks
    def test_official_client(self):
        """Every client method whose resource the server serves works as the
        client expects, and the jobs it submits end as they should."""
        report = Report("official client (python3-ganeti-rapi)")
        probe = yield run_program(
            [DEBIAN_PYTHON, "-c",
             "import pycurl, ganeti.rapi.client as c; print(c.__file__)"],
            timeout=60,
        )
        if probe.code != 0:
            report.failed(
                "install", "Debian's python3-ganeti-rapi cannot be imported by %s"
                " (tests/run installs it as root):\n%s" % (DEBIAN_PYTHON, probe.describe()),
            )
            report.finish(self)
            return
        cluster = yield ConformanceCluster(self).start()
        result = yield run_program(
            [DEBIAN_PYTHON, os.path.join(HERE, "official_client.py"),
             "--host", "127.0.0.1", "--port", str(cluster.https_port),
             "--user", WRITER[0], "--password", WRITER[1],
             "--read-user", READER[0], "--read-password", READER[1],
             "--cafile", cluster.ca_file, "--other-cafile", cluster.other_ca_file],
            timeout=480,
        )
        report.read_lines(result.out)
        if result.code != 0 and not report.count("FAIL"):
            report.failed("driver", result.describe())
        elif result.code == 0 and report.count("FAIL"):
            report.failed("driver", "exit 0 despite failed checks")
        elif result.err.strip():
            report.failed("driver", "wrote to stderr:\n" + result.err)
        report.finish(self)
