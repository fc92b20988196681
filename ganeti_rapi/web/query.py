# -*- test-case-name: tests.test_web_query -*-
"""C{/2/query/[resource]} and C{/2/query/[resource]/fields}: the generic query."""

from ganeti_rapi import errors
from ganeti_rapi.web.base import READ_OR_WRITE, ApiResource, NotFoundResource
from ganeti_rapi.web.names import parse_name


def _split_fields(text):
    return [f.strip() for f in text.split(",") if f.strip()]


class QueryRootResource(NotFoundResource):
    """C{/2/query}: a 404 itself; its children are the query resources."""

    def getChild(self, path, request):
        name = parse_name(path)
        if name is None:
            return ApiResource.getChild(self, path, request)
        return QueryResource(self.context, name)


class QueryResource(ApiResource):
    """C{/2/query/[resource]}: GET with C{?fields=}, or PUT with a filter.

    The PUT body is C{{"fields": [...], "qfilter": <filter or null>}}; the
    older key C{filter} is used when C{qfilter} is absent or null.
    """

    get_access = READ_OR_WRITE
    put_access = READ_OR_WRITE

    def __init__(self, context, resource):
        ApiResource.__init__(self, context)
        self.resource = resource
        self.putChild(b"fields", QueryFieldsResource(context, resource))

    def get(self, call):
        fields = call.string_arg("fields")
        if fields is None:
            raise errors.BadRequest("Missing 'fields' query argument")
        return self.context.cluster.query_cells(self.resource, _split_fields(fields))

    def put(self, call):
        body = call.body
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise errors.BadRequest("Query body must be an object")
        fields = body.get("fields")
        if fields is None and call.string_arg("fields") is not None:
            fields = _split_fields(call.string_arg("fields"))
        if fields is None:
            raise errors.BadRequest("Missing 'fields' query argument")
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise errors.BadRequest("'fields' must be a list of strings")
        qfilter = body.get("qfilter")
        if qfilter is None:
            qfilter = body.get("filter")
        return self.context.cluster.query_cells(self.resource, fields, qfilter)


class QueryFieldsResource(ApiResource):
    """C{/2/query/[resource]/fields}: descriptions of the fields (all, or C{?fields=})."""

    def __init__(self, context, resource):
        ApiResource.__init__(self, context)
        self.resource = resource

    def get(self, call):
        fields = call.string_arg("fields")
        if fields is not None:
            fields = _split_fields(fields)
        return self.context.cluster.query_fields(self.resource, fields)
