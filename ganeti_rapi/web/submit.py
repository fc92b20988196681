# -*- test-case-name: tests.test_web_groups -*-
"""Turning a request into a job: Ganeti's body-to-opcode mechanics.

For a resource that takes opcode parameters from its body, the body must be
a JSON object (or absent).  Old parameter names are renamed first (giving
both the old and the new name is a 400); values fixed by the URL and query
string (C{static}) may not be overridden by the body; the opcode itself then
refuses unknown parameters and checks every type (also a 400).  The reason
trail names the client's C{?reason} and the resource, as Ganeti's does.
"""

from ganeti_rapi import errors
from ganeti_rapi.web.base import ApiResource


def body_object(call):
    """The request body as a dict of parameters ({} when there is none).

    @raise errors.BadRequest: the body is not a JSON object.
    """
    body = call.body
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise errors.BadRequest(
            "Body contents: Type is '%s', but 'dict' is expected" % (_json_type(body),)
        )
    return dict(body)


def body_string(call):
    """The request body, which must be a JSON string (node role PUT).

    @raise errors.BadRequest: the body is absent or not a string.
    """
    body = call.body
    if not isinstance(body, str):
        raise errors.BadRequest(
            "Body contents: Type is '%s', but 'str' is expected" % (_json_type(body),)
        )
    return body


def _json_type(value):
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "str"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def apply_renames(params, renames):
    """Rename old parameter names to new ones in C{params} (a dict, changed).

    @raise errors.BadRequest: both the old and the new name are given.
    """
    for old, new in renames.items():
        if old in params:
            if new in params:
                raise errors.BadRequest(
                    "Parameter '%s' is a renamed version of '%s'; only one may be"
                    " given" % (old, new)
                )
            params[new] = params.pop(old)
    return params


def reason_trail(call, resource_name, clock):
    """The opcode C{reason} list for a request to C{resource_name}."""
    now_ns = int(clock.seconds() * 1e9)
    trail = []
    reason = call.string_arg("reason")
    if reason is not None:
        trail.append(["gnt:user", reason, now_ns])
    trail.append(["gnt:library:rlib2:%s" % resource_name, "", now_ns])
    return trail


def depends_only(call):
    """The parameters a resource that ignores its body still forwards.

    Ganeti forwards a top-level C{depends} of an object body even where
    the body is otherwise ignored (2.10+).
    """
    body = call.body
    if isinstance(body, dict) and "depends" in body:
        return {"depends": body["depends"]}
    return {}


class OpcodeResource(ApiResource):
    """A resource that submits jobs.

    @cvar rlib2_name: the resource's name in the reason trail, as Ganeti
        names its handler (C{groups_name_rename}, C{tags}, ...).
    """

    rlib2_name = None

    def opcode(self, call, op_id, params=None, static=None, dry_run=False):
        """One opcode specification C{(op_id, params, static)}.

        @param params: the body parameters (already renamed), or L{None}.
        @param static: values fixed by the URL and query string.
        @param dry_run: whether this resource honours C{?dry-run}.
        """
        static = dict(static or {})
        static["reason"] = reason_trail(call, self.rlib2_name, self.context.clock)
        if dry_run:
            static["dry_run"] = call.flag("dry-run")
        return (op_id, dict(params or {}), static)

    def submit(self, *opcodes):
        """Queue a job of C{opcodes}; the answer is the job id."""
        return self.context.cluster.submit(list(opcodes))
