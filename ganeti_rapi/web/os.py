# -*- test-case-name: tests.test_web_nodes -*-
"""C{/2/os}: the operating systems instances can be installed with.

Anonymous, like every GET, although it runs a job: the request submits
C{OP_OS_DIAGNOSE}, follows the job until it ends and answers from its
result.  A client that leaves stops the wait and the job is canceled if it
has not started yet.
"""

from twisted.internet import defer
from twisted.logger import Logger

from ganeti_rapi import errors
from ganeti_rapi.web.base import ApiResource

#: Fields asked for the plain list: invalid OSes are left out here, hidden
#: and blacklisted ones by the opcode (as it does when not asked for them).
LIST_FIELDS = ["name", "variants", "valid"]

#: Fields of the objects of C{?bulk=1}.
BULK_FIELDS = [
    "name", "valid", "variants", "parameters", "api_versions", "blacklisted", "hidden",
]

#: Job statuses after which nothing changes any more.
FINAL_STATUSES = frozenset(["success", "error", "canceled"])

_WATCHED = ["status", "opresult"]

log = Logger()


def os_names(name, variants):
    """C{name}, or C{name+variant} for each variant (Ganeti's CalculateOSNames)."""
    if variants:
        return ["%s+%s" % (name, variant) for variant in variants]
    return [name]


class OsResource(ApiResource):
    """C{/2/os}: names of the valid OSes, variants spelled out; objects in bulk."""

    def get(self, call):
        bulk = call.flag("bulk")
        fields = BULK_FIELDS if bulk else LIST_FIELDS
        spec = ("OP_OS_DIAGNOSE", {}, {"output_fields": list(fields), "names": []})
        d = defer.Deferred.fromCoroutine(self._diagnose(spec))
        d.addCallback(self._answer, fields, bulk)
        return d

    async def _diagnose(self, spec):
        cluster = self.context.cluster
        submitted = defer.maybeDeferred(cluster.submit, [spec])
        job_id = await _cancel_job_if_cancelled(cluster, submitted)
        try:
            return await self._follow(job_id)
        except defer.CancelledError:
            _cancel_quietly(cluster, job_id)
            raise

    async def _follow(self, job_id):
        cluster = self.context.cluster
        info, serial = None, None
        while True:
            change = await cluster.wait_for_job_change(job_id, _WATCHED, info, serial)
            if change is None:
                raise errors.BadGateway("Job %s for the OS list was lost" % (job_id,))
            info = change["job_info"]
            for entry in change.get("log_entries") or ():
                serial = entry[0] if serial is None else max(serial, entry[0])
            status, opresult = info
            if status in FINAL_STATUSES:
                break
        if status != "success":
            raise errors.InternalServerError(_job_error(status, opresult))
        return opresult[0] if opresult else None

    @staticmethod
    def _answer(result, fields, bulk):
        if not isinstance(result, list) or not all(
            isinstance(row, list) and len(row) == len(fields) for row in result
        ):
            raise errors.BadGateway("Can't get OS list")
        rows = [dict(zip(fields, row)) for row in result]
        if bulk:
            for row in rows:
                row["parameters"] = [
                    {"name": p[0], "description": p[1]}
                    for p in row["parameters"] or []
                    if isinstance(p, list) and len(p) == 2
                ]
            return rows
        names = []
        for row in rows:
            if row["valid"]:
                names.extend(os_names(row["name"], row["variants"]))
        return names


def _job_error(status, opresult):
    """The message of a job that did not succeed."""
    for result in opresult or ():
        if isinstance(result, list) and len(result) == 2 and isinstance(result[1], list):
            error_class, args = result
            if args:
                return "%s: %s" % (error_class, args[0])
            return str(error_class)
    return "Job for the OS list ended with status %s" % (status,)


def _cancel_quietly(cluster, job_id):
    """Cancel a job nobody waits for any more; failures are only logged."""
    d = defer.maybeDeferred(cluster.cancel_job, job_id)
    d.addErrback(
        lambda failure: log.failure("Canceling job {job_id} failed", failure, job_id=job_id)
    )


def _cancel_job_if_cancelled(cluster, submitted):
    """C{submitted} (a Deferred job id), cancellable: a job submitted after
    its waiter was cancelled is canceled as soon as its id is known."""
    cancelled = []

    def fired(job_id):
        if cancelled:
            _cancel_quietly(cluster, job_id)
        else:
            waiter.callback(job_id)

    def failed(failure):
        if not cancelled:
            waiter.errback(failure)

    waiter = defer.Deferred(lambda _: cancelled.append(True))
    submitted.addCallbacks(fired, failed)
    return waiter
