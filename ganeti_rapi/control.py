# -*- test-case-name: tests.test_membership -*-
"""The master's control socket: what administrator commands talk to.

Some operations are not part of the RAPI (adding and removing nodes, as
Ganeti's C{gnt-node add}); C{ganeti-rapi-admin} sends them to the running
master over a UNIX socket in the data directory (mode 0600, so only the
daemon's own user and root get in).  Requests and answers are one JSON
object per line:

 - C{{"method": "submit", "ops": [[op_id, params], ...]}} → job id;
 - C{{"method": "wait", "id": N}} → the job once it has finished;
 - C{{"method": "query", "resource": r, "fields": [...]}} → rows.

Answers are C{{"ok": true, "result": ...}} or C{{"ok": false, "error": text}}.
"""

from twisted.internet import defer
from twisted.logger import Logger
from twisted.protocols.basic import LineOnlyReceiver
from twisted.internet.protocol import Factory

from ganeti_rapi import jsonutil

CONTROL_SOCKET = "master.sock"

#: Job fields a finished job is answered with.
JOB_FIELDS = ["id", "status", "summary", "opstatus", "opresult", "oplog"]
FINAL_STATUSES = frozenset(["success", "error", "canceled"])

log = Logger()


class ControlProtocol(LineOnlyReceiver):
    """One administrator connection."""

    delimiter = b"\n"
    MAX_LENGTH = 1024 * 1024

    def lineReceived(self, line):
        d = defer.maybeDeferred(self._dispatch, line)
        d.addCallbacks(
            lambda result: {"ok": True, "result": result},
            lambda failure: {"ok": False, "error": failure.getErrorMessage()},
        )
        d.addCallback(lambda answer: self.sendLine(jsonutil.dumps(answer).rstrip(b"\n")))
        d.addErrback(lambda failure: log.failure("Control answer failed", failure))

    def _dispatch(self, line):
        request = jsonutil.loads(line)
        if not isinstance(request, dict):
            raise ValueError("a request is a JSON object")
        method = getattr(self, "do_" + str(request.get("method")), None)
        if method is None:
            raise ValueError("unknown method %r" % (request.get("method"),))
        return method(request)

    @property
    def cluster(self):
        return self.factory.cluster

    def do_submit(self, request):
        ops = [(op_id, params or {}, {}) for op_id, params in request["ops"]]
        return self.cluster.submit(ops)

    @defer.inlineCallbacks
    def do_wait(self, request):
        job_id = int(request["id"])
        info = serial = None
        while True:
            change = yield self.cluster.wait_for_job_change(job_id, ["status"], info, serial)
            if change is None:
                raise ValueError("job %d not found" % job_id)
            info = change["job_info"]
            for entry in change["log_entries"]:
                serial = max(serial or 0, entry[0])
            if info[0] in FINAL_STATUSES:
                break
        job = yield self.cluster.job(job_id, JOB_FIELDS)
        return job

    def do_query(self, request):
        return self.cluster.query(request["resource"], request["fields"])


class ControlFactory(Factory):
    protocol = ControlProtocol

    def __init__(self, cluster):
        self.cluster = cluster
