# -*- test-case-name: tests.test_web_filters -*-
"""C{/2/filters} and C{/2/filters/[filter_uuid]}: job filter rules (Ganeti 2.13+).

Unlike most writes these are not jobs: a rule is stored in the
configuration at once and the answer is its UUID (C{null} for a DELETE).
"""

from twisted.internet import defer

from ganeti_rapi import errors
from ganeti_rapi.web.base import ApiResource
from ganeti_rapi.web.names import parse_name

#: Fields of a filter rule in bulk listings and single GETs.
FILTER_FIELDS = ["watermark", "priority", "predicates", "action", "reason_trail", "uuid"]

#: Body parameters of POST and PUT, their JSON types and defaults.
_PARAMETERS = (
    ("priority", int, 0),
    ("predicates", list, []),
    ("action", None, "CONTINUE"),
    ("reason", list, []),
)


def filter_parameters(call):
    """C{(priority, predicates, action, reason)} from a POST or PUT body.

    An absent body gives every default.

    @raise errors.BadRequest: the body is not an object, has another key,
        or a value of the wrong JSON type.
    """
    body = call.body
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise errors.BadRequest("Data must be a dict")
    unknown = sorted(set(body) - {name for name, _, _ in _PARAMETERS})
    if unknown:
        raise errors.BadRequest("Unknown parameter(s): %s" % ", ".join(unknown))
    values = []
    for name, kind, default in _PARAMETERS:
        value = body.get(name, default)
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise errors.BadRequest("Parameter '%s' must be an integer" % name)
        if kind is list and not isinstance(value, list):
            raise errors.BadRequest("Parameter '%s' must be a list" % name)
        values.append(value)
    return tuple(values)


class FiltersResource(ApiResource):
    """C{/2/filters}: list the rules (GET) or add one (POST)."""

    def get(self, call):
        cluster = self.context.cluster
        if call.flag("bulk"):
            return cluster.query("filter", FILTER_FIELDS)
        d = defer.maybeDeferred(cluster.list_names, "filter")
        d.addCallback(
            lambda uuids: [{"uuid": u, "uri": "/2/filters/%s" % u} for u in uuids]
        )
        return d

    def post(self, call):
        return self.context.cluster.replace_filter(None, *filter_parameters(call))

    def getChild(self, path, request):
        uuid = parse_name(path)
        if uuid is None:
            return ApiResource.getChild(self, path, request)
        return FilterResource(self.context, uuid)


class FilterResource(ApiResource):
    """C{/2/filters/[filter_uuid]}: a rule (GET), replace or create it (PUT),
    delete it (DELETE; the body is ignored)."""

    def __init__(self, context, uuid):
        ApiResource.__init__(self, context)
        self.uuid = uuid

    def get(self, call):
        d = defer.maybeDeferred(
            self.context.cluster.query, "filter", FILTER_FIELDS, [self.uuid]
        )
        return d.addCallback(lambda rows: rows[0])

    def put(self, call):
        return self.context.cluster.replace_filter(self.uuid, *filter_parameters(call))

    def delete(self, call):
        return self.context.cluster.delete_filter(self.uuid)
