# -*- test-case-name: tests.test_web_filters -*-
"""Job filter rules (Ganeti 2.13+): their checks, which rule applies to a
job, and the C{filter} query resource.

A rule holds when all its predicates hold for a job:

 - C{["jobid", expr]}: C{expr} sees one field, C{id}; the string
   C{"watermark"} in a value position stands for the rule's watermark;
 - C{["opcode", expr]}: C{expr} sees the parameters of an opcode
   (C{OP_ID} included, nested ones as C{a.b}); true if it holds for any
   opcode of the job;
 - C{["reason", expr]}: C{expr} sees C{source}, C{reason} and
   C{timestamp} of a reason trail entry; true if it holds for any entry
   of any opcode.

Expressions use the query filter language (C{&}, C{|}, C{!}, C{?},
C{==}/C{=}, C{!=}, C{<}, C{<=}, C{>}, C{>=}, C{=~}, C{=[]}).  A field the
job does not have, or values that cannot be compared, make the predicate
false.

Rules are taken in the order priority, watermark, uuid; the rule that
applies to a job is the first one that holds and whose action is not
C{CONTINUE}.  The job processor acts on it (see
L{ganeti_rapi.engine.processor}): C{ACCEPT} runs the job, C{PAUSE} keeps it
queued, C{REJECT} cancels it, C{["RATE_LIMIT", n]} runs it only while
fewer than C{n} running jobs have this rule applying.
"""

import re

from ganeti_rapi.engine.objects import FilterRule
from ganeti_rapi.engine.query import (
    QFT_NUMBER,
    QFT_OTHER,
    QFT_TEXT,
    Field,
    Resource,
    attribute,
)
from ganeti_rapi.interfaces import InvalidRequest

ACCEPT = "ACCEPT"
PAUSE = "PAUSE"
REJECT = "REJECT"
CONTINUE = "CONTINUE"
RATE_LIMIT = "RATE_LIMIT"

#: The actions that are plain strings.
SIMPLE_ACTIONS = (ACCEPT, PAUSE, REJECT, CONTINUE)

#: Predicate names.
PREDICATES = ("jobid", "opcode", "reason")

_LOGICAL = ("&", "|")
_COMPARISONS = {
    "==": lambda a, b: a == b,
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


# -- checking what clients send ----------------------------------------------------


def check_priority(priority):
    """A rule's priority: a non-negative integer."""
    if not _is_int(priority) or priority < 0:
        raise InvalidRequest("Filter priority must be a non-negative integer, got %r"
                             % (priority,))
    return priority


def check_action(action):
    """C{ACCEPT}, C{PAUSE}, C{REJECT}, C{CONTINUE} or C{["RATE_LIMIT", n > 0]}."""
    if action in SIMPLE_ACTIONS:
        return action
    if (isinstance(action, list) and len(action) == 2 and action[0] == RATE_LIMIT
            and _is_int(action[1]) and action[1] > 0):
        return [RATE_LIMIT, action[1]]
    raise InvalidRequest(
        "Invalid filter action %r: expected one of %s or [\"RATE_LIMIT\", n] with a"
        " positive n" % (action, ", ".join(SIMPLE_ACTIONS))
    )


def check_expression(expr):
    """Raise L{InvalidRequest} unless C{expr} is a well-formed filter expression."""
    if not isinstance(expr, list) or not expr or not isinstance(expr[0], str):
        raise InvalidRequest("A filter expression must be a list starting with an"
                             " operator, got %r" % (expr,))
    op, args = expr[0], expr[1:]
    if op in _LOGICAL:
        for arg in args:
            check_expression(arg)
    elif op == "!":
        _arity(expr, 1)
        check_expression(args[0])
    elif op == "?":
        _arity(expr, 1)
        _field_name(expr)
    elif op in _COMPARISONS or op in ("=~", "=[]"):
        _arity(expr, 2)
        _field_name(expr)
        if op == "=~":
            try:
                re.compile(args[1])
            except (re.error, TypeError) as e:
                raise InvalidRequest("Invalid regular expression %r: %s" % (args[1], e))
    else:
        raise InvalidRequest("Unknown filter operator %r" % (op,))


def _arity(expr, count):
    if len(expr) != count + 1:
        raise InvalidRequest("Filter operator %r takes %d argument(s)" % (expr[0], count))


def _field_name(expr):
    if not isinstance(expr[1], str):
        raise InvalidRequest("Filter operator %r needs a field name, got %r"
                             % (expr[0], expr[1]))


def check_predicates(predicates):
    """A list of C{[name, expression]} predicates."""
    if not isinstance(predicates, list):
        raise InvalidRequest("Filter predicates must be a list")
    for predicate in predicates:
        if (not isinstance(predicate, list) or len(predicate) != 2
                or predicate[0] not in PREDICATES):
            raise InvalidRequest(
                "Invalid filter predicate %r: expected [name, expression] with name"
                " one of %s" % (predicate, ", ".join(PREDICATES))
            )
        check_expression(predicate[1])
    return [list(p) for p in predicates]


def check_reason_trail(reason):
    """A list of C{[source, reason, timestamp]} entries."""
    if not isinstance(reason, list) or not all(
        isinstance(e, list) and len(e) == 3 and isinstance(e[0], str)
        and isinstance(e[1], str) and _is_int(e[2]) for e in reason
    ):
        raise InvalidRequest("A reason trail must be a list of [source, reason,"
                             " timestamp] entries")
    return [list(e) for e in reason]


def make_rule(uuid, watermark, priority, predicates, action, reason_trail):
    """A checked L{FilterRule}.

    @raise InvalidRequest: a part of it is malformed.
    """
    kwargs = dict(
        watermark=watermark,
        priority=check_priority(priority),
        predicates=check_predicates(predicates),
        action=check_action(action),
        reason_trail=check_reason_trail(reason_trail),
    )
    if uuid is not None:
        kwargs["uuid"] = uuid
    return FilterRule(**kwargs)


# -- applying rules to jobs ------------------------------------------------------


class _NoValue(Exception):
    """A field the subject does not have, or a value that does not compare."""


def _evaluate(expr, field, literal):
    op, args = expr[0], expr[1:]
    if op == "&":
        return all(_evaluate(a, field, literal) for a in args)
    if op == "|":
        return any(_evaluate(a, field, literal) for a in args)
    if op == "!":
        return not _evaluate(args[0], field, literal)
    value = field(args[0])
    if op == "?":
        return bool(value)
    expected = literal(args[1])
    if op == "=~":
        if not isinstance(value, str) or not isinstance(expected, str):
            raise _NoValue()
        return re.search(expected, value) is not None
    if op == "=[]":
        if not isinstance(value, list):
            raise _NoValue()
        return expected in value
    try:
        return bool(_COMPARISONS[op](value, expected))
    except TypeError:
        raise _NoValue() from None


def _holds(expr, field, literal=lambda v: v):
    try:
        return _evaluate(expr, field, literal)
    except _NoValue:
        return False


def _opcode_field(op):
    def field(name):
        value = op
        for part in name.split("."):
            if not isinstance(value, dict) or part not in value:
                raise _NoValue()
            value = value[part]
        return value

    return field


def _reason_field(entry):
    names = {"source": 0, "reason": 1, "timestamp": 2}

    def field(name):
        if name not in names or not isinstance(entry, list) or len(entry) != 3:
            raise _NoValue()
        return entry[names[name]]

    return field


def predicate_holds(predicate, job, watermark):
    """Whether one predicate holds for C{job} (a queue job)."""
    name, expr = predicate
    if name == "jobid":
        def field(field_name):
            if field_name != "id":
                raise _NoValue()
            return job.id

        def literal(value):
            if value == "watermark":
                return watermark
            if isinstance(value, str):
                raise _NoValue()
            return value

        return _holds(expr, field, literal)
    if name == "opcode":
        return any(_holds(expr, _opcode_field(op)) for op in job.ops)
    if name == "reason":
        return any(
            _holds(expr, _reason_field(entry))
            for op in job.ops for entry in (op.get("reason") or [])
        )
    return False


def rule_holds(rule, job):
    """Whether every predicate of C{rule} holds for C{job}."""
    return all(predicate_holds(p, job, rule.watermark) for p in rule.predicates)


def ordered(rules):
    """C{rules} in the order they are tried: priority, watermark, uuid."""
    return sorted(rules, key=lambda r: (r.priority, r.watermark, r.uuid))


def applying_rule(rules, job):
    """The first rule of C{rules} (already L{ordered}) that holds for C{job}
    and does not just continue; L{None} if there is none."""
    for rule in rules:
        if rule.action != CONTINUE and rule_holds(rule, job):
            return rule
    return None


def action_of(rule):
    """The action's name: C{ACCEPT}, C{PAUSE}, C{REJECT} or C{RATE_LIMIT}."""
    action = rule.action
    return action[0] if isinstance(action, list) else action


def rate_limit(rule):
    """The C{n} of a C{RATE_LIMIT} rule."""
    return rule.action[1]


# -- the query resource ------------------------------------------------------------

FILTER_FIELDS = [
    Field("uuid", "UUID", QFT_TEXT, "UUID of the filter rule", attribute("uuid")),
    Field("watermark", "Watermark", QFT_NUMBER,
          "Highest job id when the filter rule was added or replaced",
          attribute("watermark")),
    Field("priority", "Priority", QFT_NUMBER,
          "Priority of the filter rule (lower first)", attribute("priority")),
    Field("predicates", "Predicates", QFT_OTHER, "Predicates of the filter rule",
          attribute("predicates")),
    Field("action", "Action", QFT_OTHER, "Action of the filter rule",
          attribute("action")),
    Field("reason_trail", "ReasonTrail", QFT_OTHER, "Reason trail of the filter rule",
          attribute("reason_trail")),
]

FILTERS = Resource(
    "filter",
    FILTER_FIELDS,
    lambda ctx: sorted(((r.uuid, r) for r in ctx.config.filters()), key=lambda p: p[0]),
    lambda ctx, uuid: ctx.config.filter_rule(uuid),
)
