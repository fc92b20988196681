# -*- test-case-name: tests.test_web_jobs -*-
"""C{/2/jobs}, C{/2/jobs/[job_id]} and the long poll C{/2/jobs/[job_id]/wait}."""

from ganeti_rapi import errors
from ganeti_rapi.web.base import WRITE, ApiResource
from ganeti_rapi.web.names import parse_number

#: Fields of a job in bulk listings (Ganeti's J_FIELDS_BULK).
JOB_FIELDS_BULK = [
    "id", "ops", "status", "summary", "opstatus", "received_ts", "start_ts", "end_ts",
]
#: Fields of a single job (Ganeti's J_FIELDS).
JOB_FIELDS = JOB_FIELDS_BULK + ["oplog", "opresult"]

#: Seconds a C{/wait} request is held before it answers C{null}.
WAIT_TIMEOUT = 10


class JobsResource(ApiResource):
    """C{/2/jobs}: every job, as C{{"id", "uri"}} or in bulk."""

    def get(self, call):
        cluster = self.context.cluster
        if call.flag("bulk"):
            return cluster.query("job", JOB_FIELDS_BULK)
        return _index(cluster.list_names("job"))

    def getChild(self, path, request):
        job_id = parse_number(path)
        if job_id is None:
            return ApiResource.getChild(self, path, request)
        return JobResource(self.context, job_id)


def _index(ids):
    def build(ids):
        return [{"id": job_id, "uri": "/2/jobs/%d" % job_id} for job_id in ids]

    if hasattr(ids, "addCallback"):
        return ids.addCallback(build)
    return build(ids)


class JobResource(ApiResource):
    """C{/2/jobs/[job_id]}: a job's state (GET) or its cancellation (DELETE)."""

    def __init__(self, context, job_id):
        ApiResource.__init__(self, context)
        self.job_id = job_id
        self.putChild(b"wait", JobWaitResource(context, job_id))

    def get(self, call):
        d = self.context.cluster.job(self.job_id, JOB_FIELDS)
        d.addCallback(self._found)
        return d

    def _found(self, job):
        if job is None:
            raise errors.NotFound()
        return job

    def delete(self, call):
        return self.context.cluster.cancel_job(self.job_id)


class JobWaitResource(ApiResource):
    """C{/2/jobs/[job_id]/wait}: wait up to 10 seconds for a job to change.

    The body names the C{fields} to watch, the C{previous_job_info} values
    the client has and the C{previous_log_serial} it has seen.  The answer
    is C{{"job_info", "log_entries"}} on the first change, or C{null} when
    nothing changed in time.  A client that leaves stops the wait.
    """

    get_access = WRITE

    def __init__(self, context, job_id):
        ApiResource.__init__(self, context)
        self.job_id = job_id

    def get(self, call):
        fields, previous_info, previous_serial = self._parse(call.body)
        d = self.context.cluster.wait_for_job_change(
            self.job_id, fields, previous_info, previous_serial
        )
        d.addTimeout(WAIT_TIMEOUT, self.context.clock, onTimeoutCancel=_nothing_changed)
        d.addCallback(self._answer)
        return d

    def _answer(self, result):
        if result is _NO_CHANGE:
            return None
        if result is None:
            raise errors.NotFound()
        return result

    @staticmethod
    def _parse(body):
        if not isinstance(body, dict):
            raise errors.BadRequest("The request body must be an object with 'fields'")
        fields = body.get("fields")
        if fields is None:
            raise errors.BadRequest("Required parameter 'fields' is missing")
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise errors.BadRequest("Parameter 'fields' must be a list of strings")
        previous_info = body.get("previous_job_info")
        if previous_info is not None and not isinstance(previous_info, list):
            raise errors.BadRequest("Parameter 'previous_job_info' must be a list or null")
        previous_serial = body.get("previous_log_serial")
        if previous_serial is not None and (
            isinstance(previous_serial, bool) or not isinstance(previous_serial, int)
        ):
            raise errors.BadRequest(
                "Parameter 'previous_log_serial' must be an integer or null"
            )
        return fields, previous_info, previous_serial


_NO_CHANGE = object()


def _nothing_changed(result, timeout):
    return _NO_CHANGE
