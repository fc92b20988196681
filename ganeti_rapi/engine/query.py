# -*- test-case-name: tests.test_query -*-
"""The query layer: fields of groups, nodes, instances and jobs, and filters.

Bulk listings, single-object GETs and C{/2/query} all read objects through
the field definitions here, so a field means the same everywhere.  A field
is a name, a title, a kind (Ganeti's C{text}, C{number}, C{bool}, C{unit},
C{timestamp}, C{other}), a description and a getter.  A getter may raise
L{Unavailable} (live data from a node that did not answer), which a bulk
listing shows as C{null} and C{/2/query} as status 3 or 4.

Filters use Ganeti's query filter language: lists whose first element is an
operator (C{"&"}, C{"|"}, C{"!"}, C{"?"}, C{"=="}/C{"="}, C{"!="}, C{"<"},
C{"<="}, C{">"}, C{">="}, C{"=~"}, C{"=[]"}), with field names as strings.
"""

import contextlib
import gc
import re

from ganeti_rapi.interfaces import EntityNotFound, InvalidRequest

#: Cell statuses of C{/2/query} answers.
RS_NORMAL = 0
RS_UNKNOWN = 1
RS_NODATA = 2
RS_UNAVAIL = 3
RS_OFFLINE = 4

QFT_TEXT = "text"
QFT_NUMBER = "number"
QFT_BOOL = "bool"
QFT_UNIT = "unit"
QFT_TIMESTAMP = "timestamp"
QFT_OTHER = "other"
QFT_UNKNOWN = "unknown"


@contextlib.contextmanager
def _bulk_allocation():
    """No cyclic garbage collection while a listing is built.

    A listing allocates dicts and lists by the hundred thousand, all of
    them kept (they are the answer) and none of them in a reference cycle,
    so the collector's passes over them, and over the whole configuration
    each time a pass reaches the oldest generation, find nothing; they cost
    a third of the time of a large listing.  The collector is switched back
    on (if it was on) at the end; building a listing never yields to the
    reactor, so nothing else runs meanwhile.
    """
    enabled = gc.isenabled()
    if enabled:
        gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Unavailable(Exception):
    """A field's value cannot be had now.

    @ivar status: L{RS_UNAVAIL}, L{RS_OFFLINE} or L{RS_NODATA}.
    """

    def __init__(self, status=RS_UNAVAIL):
        Exception.__init__(self, status)
        self.status = status


class Field:
    """One queryable field of a resource."""

    def __init__(self, name, title, kind, doc, getter):
        self.name = name
        self.title = title
        self.kind = kind
        self.doc = doc
        self.getter = getter

    def describe(self):
        return {"name": self.name, "title": self.title, "kind": self.kind, "doc": self.doc}


def unknown_field(name):
    """The descriptor Ganeti gives a field it does not know."""
    return {
        "name": name,
        "title": name,
        "kind": QFT_UNKNOWN,
        "doc": "Unknown field '%s'" % (name,),
    }


class Resource:
    """A queryable kind of object.

    @ivar fields: C{{name: Field}}.
    @ivar items: a function C{(context) -> [(name, item)]}, sorted.
    @ivar lookup: a function C{(context, name) -> item or None}.
    """

    def __init__(self, name, fields, items, lookup):
        self.name = name
        self.fields = {f.name: f for f in fields}
        self.items = items
        self.lookup = lookup

    def field(self, name):
        return self.fields.get(name)

    def select(self, context, names=None, qfilter=None):
        """The items to show: all, or those named (in that order), filtered.

        @raise EntityNotFound: one of C{names} does not exist.
        """
        if names is None:
            items = [item for _, item in self.items(context)]
        else:
            items = []
            for name in names:
                item = self.lookup(context, name)
                if item is None:
                    raise EntityNotFound(
                        "%s '%s' not known" % (self.name.capitalize(), name)
                    )
                items.append(item)
        if qfilter is not None:
            predicate = compile_filter(self, qfilter)
            items = [item for item in items if predicate(context, item)]
        return items

    def value(self, context, item, name):
        """A field's value for a bulk listing: C{None} where unavailable."""
        try:
            return self.fields[name].getter(context, item)
        except Unavailable:
            return None

    def cell(self, context, item, name):
        """A field's C{[status, value]} cell for C{/2/query}."""
        field = self.fields.get(name)
        if field is None:
            return [RS_UNKNOWN, None]
        try:
            return [RS_NORMAL, field.getter(context, item)]
        except Unavailable as e:
            return [e.status, None]

    def rows(self, context, fields, names=None, qfilter=None):
        """Dicts of C{fields} per selected item (bulk listings)."""
        unknown = [f for f in fields if f not in self.fields]
        if unknown:
            raise InvalidRequest("Unknown output fields selected: %s" % ", ".join(unknown))
        # The getters are looked up once, not once per item and field: a
        # listing of 10,000 instances calls 360,000 of them.
        getters = [(name, self.fields[name].getter) for name in fields]
        items = self.select(context, names, qfilter)
        rows = []
        with _bulk_allocation():
            for item in items:
                row = {}
                for name, getter in getters:
                    try:
                        row[name] = getter(context, item)
                    except Unavailable:
                        row[name] = None
                rows.append(row)
        return rows

    def cells(self, context, fields, qfilter=None):
        """The C{/2/query} answer for C{fields}."""
        getters = []
        for name in fields:
            field = self.fields.get(name)
            getters.append(field.getter if field is not None else None)
        items = self.select(context, None, qfilter)
        data = []
        with _bulk_allocation():
            for item in items:
                line = []
                for getter in getters:
                    if getter is None:
                        line.append([RS_UNKNOWN, None])
                        continue
                    try:
                        line.append([RS_NORMAL, getter(context, item)])
                    except Unavailable as e:
                        line.append([e.status, None])
                data.append(line)
        return {"fields": [self.describe(name) for name in fields], "data": data}

    def describe(self, name):
        field = self.fields.get(name)
        return field.describe() if field is not None else unknown_field(name)

    def field_descriptions(self, names=None):
        """The C{/2/query/[resource]/fields} answer."""
        if names is None:
            names = sorted(self.fields)
        return {"fields": [self.describe(name) for name in names]}


def attribute(name):
    """A getter reading attribute C{name} of the object."""
    return lambda ctx, obj: getattr(obj, name)


def common_fields(kind):
    """Ganeti's fields every top-level object has."""
    return [
        Field("uuid", "UUID", QFT_TEXT, "%s UUID" % kind, attribute("uuid")),
        Field("ctime", "CTime", QFT_TIMESTAMP, "Creation timestamp", attribute("ctime")),
        Field("mtime", "MTime", QFT_TIMESTAMP, "Modification timestamp", attribute("mtime")),
        Field("serial_no", "SerialNo", QFT_NUMBER, "%s object serial number" % kind,
              attribute("serial_no")),
        Field("tags", "Tags", QFT_OTHER, "Tags", lambda ctx, obj: sorted(obj.tags)),
    ]



# -- filters --------------------------------------------------------------

_BINARY = {
    "==": lambda a, b: a == b,
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "=[]": lambda a, b: isinstance(a, (list, tuple, set)) and b in a,
}


def compile_filter(resource, qfilter):
    """A predicate C{(context, item) -> bool} for a filter expression.

    @raise InvalidRequest: the filter is malformed or names unknown fields.
    """
    if not isinstance(qfilter, list) or not qfilter:
        raise InvalidRequest("Filter must be a non-empty list, got %r" % (qfilter,))
    op, args = qfilter[0], qfilter[1:]
    if op in ("&", "|"):
        parts = [compile_filter(resource, a) for a in args]
        if op == "&":
            return lambda c, i: all(p(c, i) for p in parts)
        return lambda c, i: any(p(c, i) for p in parts)
    if op == "!":
        _arity(qfilter, 1)
        inner = compile_filter(resource, args[0])
        return lambda c, i: not inner(c, i)
    if op == "?":
        _arity(qfilter, 1)
        getter = _field_getter(resource, args[0])
        return lambda c, i: bool(getter(c, i))
    if op == "=~":
        _arity(qfilter, 2)
        getter = _field_getter(resource, args[0])
        try:
            pattern = re.compile(args[1])
        except (re.error, TypeError) as e:
            raise InvalidRequest("Invalid regular expression %r: %s" % (args[1], e))
        return lambda c, i: _matches(pattern, getter(c, i))
    if op in _BINARY:
        _arity(qfilter, 2)
        getter = _field_getter(resource, args[0])
        compare, expected = _BINARY[op], args[1]
        return lambda c, i: _safe_compare(compare, getter(c, i), expected)
    raise InvalidRequest("Unknown filter operator %r" % (op,))


def _arity(qfilter, count):
    if len(qfilter) != count + 1:
        raise InvalidRequest(
            "Filter operator %r takes %d argument(s)" % (qfilter[0], count)
        )


def _field_getter(resource, name):
    if not isinstance(name, str) or resource.field(name) is None:
        raise InvalidRequest("Filter names an unknown field %r" % (name,))
    return lambda c, i: resource.value(c, i, name)


def _matches(pattern, value):
    return isinstance(value, str) and pattern.search(value) is not None


def _safe_compare(compare, value, expected):
    try:
        return compare(value, expected)
    except TypeError:
        return False
