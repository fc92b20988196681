# -*- test-case-name: tests.test_rpc_tls -*-
"""The node side of node RPC: an HTTP resource tree calling procedures.

Wire format (see C{doc/node-rpc.rst}): C{POST /<procedure>} with a JSON
object of keyword arguments as the body (an empty body means none).  The
answer is always JSON::

    {"success": true, "result": <value>}
    {"success": false, "error": {"type": "<ErrorClassName>", "message": "..."}}

A procedure that raises is answered with status 200 and C{success: false};
a request refused before any procedure runs gets the same error shape with
status 400 (bad body or arguments), 404 (no such procedure) or 405 (not a
POST).

Procedures are the C{rpc_<name>} methods of one object given to
L{RpcRoot}; they return a value, a L{Deferred} or a coroutine.  When the
client goes away the procedure's Deferred is cancelled.
"""

import inspect
import re

from twisted.internet import defer
from twisted.logger import Logger
from twisted.web import resource, server

from ganeti_rapi import jsonutil
from ganeti_rapi.rpc import errors
from ganeti_rapi.tls import tls_factory

log = Logger()

#: Version of the wire protocol, reported by the C{version} procedure.
PROTOCOL_VERSION = 1

#: What a procedure name must look like (checked before any lookup).
PROCEDURE_NAME = re.compile(r"[a-z][a-z0-9_]*")

#: Prefix of the methods that implement procedures.
METHOD_PREFIX = "rpc_"

_JSON = b"application/json"


def answer_success(result):
    """The answer body of a procedure that returned C{result}."""
    return {"success": True, "result": result}


def answer_error(error_type, message):
    """The answer body of a failed call."""
    return {"success": False, "error": {"type": error_type, "message": message}}


def _write_json(request, code, body):
    _write(request, code, jsonutil.dumps(body))


def _write(request, code, data):
    request.setResponseCode(code)
    request.setHeader(b"content-type", _JSON)
    request.setHeader(b"content-length", b"%d" % len(data))
    request.write(data)
    request.finish()


class ErrorResource(resource.Resource):
    """Answers every request with one JSON error (any path, any method)."""

    isLeaf = True

    def __init__(self, code, error_type, message, headers=()):
        resource.Resource.__init__(self)
        self.code = code
        self.error_type = error_type
        self.message = message
        self.headers = list(headers)

    def render(self, request):
        data = jsonutil.dumps(answer_error(self.error_type, self.message))
        request.setResponseCode(self.code)
        request.setHeader(b"content-type", _JSON)
        for name, value in self.headers:
            request.setHeader(name, value)
        return data


def _unknown(name):
    return ErrorResource(404, "UnknownProcedure", f"no such procedure: {name}")


def procedure_method(procedures, name):
    """The method implementing procedure C{name}, or L{None}.

    C{name} is checked against L{PROCEDURE_NAME} first, so only
    C{rpc_}-prefixed public names are ever looked up.
    """
    if not PROCEDURE_NAME.fullmatch(name):
        return None
    method = getattr(procedures, METHOD_PREFIX + name, None)
    return method if callable(method) else None


class RpcRoot(resource.Resource):
    """C{/}: one child per procedure of C{procedures}."""

    def __init__(self, procedures):
        resource.Resource.__init__(self)
        self.procedures = procedures

    def getChild(self, path, request):
        try:
            name = path.decode("ascii")
        except UnicodeDecodeError:
            return _unknown(repr(path)[2:-1])
        if not name:
            return ErrorResource(404, "UnknownProcedure", "no procedure named")
        method = procedure_method(self.procedures, name)
        if method is None:
            return _unknown(name)
        return ProcedureResource(name, method)

    def render(self, request):
        return ErrorResource(404, "UnknownProcedure", "no procedure named").render(
            request
        )


def _call(method, kwargs):
    """Call C{method}, always giving a Deferred (coroutines included)."""
    try:
        result = method(**kwargs)
    except Exception:
        return defer.fail()
    if isinstance(result, defer.Deferred):
        return result
    if inspect.iscoroutine(result):
        return defer.Deferred.fromCoroutine(result)
    return defer.succeed(result)


class ProcedureResource(resource.Resource):
    """C{/<procedure>}: calls one procedure with the JSON body as arguments."""

    isLeaf = True

    def __init__(self, name, method):
        resource.Resource.__init__(self)
        self.name = name
        self.method = method

    def _parse_arguments(self, request):
        """The keyword arguments in the request body.

        @raise ValueError: with a message for the client.
        """
        body = request.content.read() if request.content is not None else b""
        if not body.strip():
            kwargs = {}
        else:
            try:
                kwargs = jsonutil.loads(body)
            except jsonutil.JSONDecodeError as e:
                raise ValueError(f"body is not JSON: {e}") from None
            if not isinstance(kwargs, dict):
                raise ValueError("body must be a JSON object of keyword arguments")
        try:
            signature = inspect.signature(self.method)
        except (TypeError, ValueError):
            return kwargs  # cannot check before calling; the call will tell
        try:
            signature.bind(**kwargs)
        except TypeError as e:
            raise ValueError(f"bad arguments for {self.name}: {e}") from None
        return kwargs

    def render(self, request):
        if request.postpath:
            below = [p.decode("ascii", "replace") for p in request.postpath]
            return _unknown("/".join([self.name] + below)).render(request)
        if request.method != b"POST":
            return ErrorResource(
                405,
                "MethodNotAllowed",
                f"node RPC takes POST, not {request.method.decode('ascii', 'replace')}",
                headers=[(b"allow", b"POST")],
            ).render(request)
        try:
            kwargs = self._parse_arguments(request)
        except ValueError as e:
            return ErrorResource(400, "BadRequest", str(e)).render(request)

        gone = []
        d = _call(self.method, kwargs)

        def connection_lost(reason):
            gone.append(reason)
            d.cancel()

        request.notifyFinish().addErrback(connection_lost)
        d.addCallbacks(
            self._succeeded,
            self._failed,
            callbackArgs=(request, gone),
            errbackArgs=(request, gone),
        )
        d.addErrback(self._answer_failed, request, gone)
        return server.NOT_DONE_YET

    def _succeeded(self, result, request, gone):
        if gone:
            return
        try:
            data = jsonutil.dumps(answer_success(result))
        except Exception:
            log.failure("Result of {procedure} cannot be encoded", procedure=self.name)
            error = answer_error("InternalError", f"result of {self.name} is not JSON")
            _write_json(request, 500, error)
            return
        _write(request, 200, data)

    def _failed(self, failure, request, gone):
        if gone:
            # The client left; a CancelledError here is ours.
            if not failure.check(defer.CancelledError):
                log.failure(
                    "Procedure {procedure} failed after its client left",
                    failure,
                    procedure=self.name,
                )
            return
        error = failure.value
        error_type = type(error).__name__
        if failure.check(errors.ProcedureError):
            log.warn(
                "Procedure {procedure} failed: {error_type}: {message}",
                procedure=self.name,
                error_type=error_type,
                message=str(error),
            )
        else:
            log.failure("Procedure {procedure} failed", failure, procedure=self.name)
        _write_json(request, 200, answer_error(error_type, str(error)))

    def _answer_failed(self, failure, request, gone):
        # Writing the answer itself failed; nothing more can be sent.
        log.failure("Cannot answer {procedure}", failure, procedure=self.name)


def make_site(procedures):
    """A C{Site} serving L{RpcRoot} over C{procedures}."""
    site = server.Site(RpcRoot(procedures))
    site.displayTracebacks = False
    return site


def make_tls_site_factory(site, creator, clock=None):
    """Wrap C{site} so connections speak TLS made by C{creator}.

    @param creator: from L{ganeti_rapi.rpc.tls.server_creator}.
    @param clock: the reactor; Twisted >= 24.3 schedules TLS writes on it.
    """
    return tls_factory(creator, False, site, clock=clock)


def listen_tls(endpoint, site, creator, clock=None):
    """Listen on a plain stream C{endpoint} (such as C{tcp:}) with TLS.

    @return: a Deferred firing with the C{IListeningPort}.
    """
    return endpoint.listen(make_tls_site_factory(site, creator, clock))

