# -*- test-case-name: tests.test_web_base -*-
"""The HTTP conventions of the RAPI, owned by one base class.

Every resource of the tree derives from L{ApiResource}.  A resource only
declares handlers (C{get}, C{put}, C{post}, C{delete}, each taking an
L{ApiRequest}) and the access each method needs; the base class does, in
Ganeti's order:

 1. with C{--require-authentication}, authentication before anything else;
 2. method dispatch (501 for a method the resource lacks);
 3. authentication and authorisation (401 / 403 / 400);
 4. the body: C{application/json} only (415), lenient JSON (400);
 5. the handler, whose result (plain data, a Deferred or a coroutine) is
    encoded as JSON with status 200;
 6. any error as Ganeti's C{{"code", "message", "explain"}} body.

When the client goes away before an asynchronous handler is done, the
handler's Deferred is cancelled, so a parked long poll costs nothing after
its client left.
"""

import base64
import inspect
import urllib.parse

from twisted.internet import defer
from twisted.logger import Logger
from twisted.web import resource, server

from ganeti_rapi import constants, errors, interfaces, jsonutil

#: The methods a RAPI resource may implement.
METHODS = ("GET", "PUT", "POST", "DELETE")

#: Access lists, as Ganeti's C{GET_ACCESS} etc.: a request needs a user
#: holding at least one of the options, or none when the list is empty.
ANONYMOUS = frozenset()
WRITE = frozenset([constants.ACCESS_WRITE])
READ_OR_WRITE = frozenset([constants.ACCESS_READ, constants.ACCESS_WRITE])

_CHALLENGE = [
    (b"WWW-Authenticate", ('Basic realm="%s"' % constants.RAPI_REALM).encode("ascii"))
]

log = Logger()


class Gate:
    """Who may do what: HTTP Basic credentials checked against the users.

    @ivar users: an object with C{authenticate(name, password)} returning a
        user (with C{has_any(access)}) or L{None}, such as
        L{ganeti_rapi.auth.UsersFile}.
    @ivar require_authentication: if true, every request needs valid
        credentials (Ganeti's C{--require-authentication}).
    """

    def __init__(self, users, require_authentication=False):
        self.users = users
        self.require_authentication = require_authentication

    def authenticate(self, request):
        """The user named by the request's credentials, or L{None} if it sent none.

        @raise errors.Unauthorized: credentials are malformed or wrong, or
            missing where authentication is required.
        @raise errors.BadRequest: C{Basic} without a token.
        """
        header = request.getHeader(b"authorization")
        if header is None:
            if self.require_authentication:
                raise errors.Unauthorized(headers=_CHALLENGE)
            return None
        scheme, _, token = header.strip().partition(b" ")
        if scheme.lower() != b"basic":
            raise errors.Unauthorized(headers=_CHALLENGE)
        token = token.strip()
        if not token:
            raise errors.BadRequest("Basic authentication requires credentials")
        try:
            decoded = base64.b64decode(token, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise errors.Unauthorized(headers=_CHALLENGE) from None
        name, colon, password = decoded.partition(":")
        if not colon:
            raise errors.Unauthorized(headers=_CHALLENGE)
        user = self.users.authenticate(name, password)
        if user is None:
            raise errors.Unauthorized(headers=_CHALLENGE)
        return user

    def check(self, request, access, user=None):
        """Authorise a request that needs C{access}; returns the user or L{None}.

        As in Ganeti, credentials are checked whenever they are sent, even
        on a request anybody may make, so a wrong password is always a 401.
        """
        if user is None:
            if not (access or self.require_authentication) and (
                request.getHeader(b"authorization") is None
            ):
                return None
            user = self.authenticate(request)
            if user is None:
                raise errors.Unauthorized(headers=_CHALLENGE)
        if access and not user.has_any(access):
            raise errors.Forbidden()
        return user


class ApiContext:
    """What every resource of one server shares.

    @ivar gate: the L{Gate}.
    @ivar cluster: the cluster the API drives (the engine's C{Cluster}).
    @ivar clock: an C{IReactorTime} for timeouts.
    """

    def __init__(self, gate, cluster=None, clock=None):
        self.gate = gate
        self.cluster = cluster
        self.clock = clock


class ApiRequest:
    """One RAPI request as a handler sees it: user, body and query flags.

    Query parameters are parsed as Ganeti does: from the URL only (never a
    form body), blank values dropped, repeated keys kept in order, unknown
    keys ignored by whoever does not ask for them.
    """

    def __init__(self, request, user, body, query):
        self.request = request
        self.user = user
        self.body = body
        self.query = query

    @classmethod
    def parse_query(cls, uri):
        """The query string of C{uri} as C{{name: [values]}}."""
        _, _, query = uri.partition(b"?")
        if not query:
            return {}
        return urllib.parse.parse_qs(
            query.decode("utf-8", "replace"), keep_blank_values=False
        )

    def has_query(self):
        """Whether any query parameter at all was given (legacy modes)."""
        return bool(self.query)

    def string_arg(self, name, default=None):
        """The first value of query parameter C{name}."""
        values = self.query.get(name)
        return values[0] if values else default

    def string_list(self, name):
        """Every value of query parameter C{name} (used for C{tag})."""
        return list(self.query.get(name, ()))

    def int_arg(self, name, default=None):
        """The first value of C{name} as an integer, as Python's C{int()} reads it.

        @raise errors.BadRequest: the value is not an integer.
        """
        value = self.string_arg(name)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise errors.BadRequest(
                "Invalid value for the '%s' parameter" % (name,)
            ) from None

    def flag(self, name):
        """A boolean query flag (C{bulk}, C{dry-run}, C{force}, ...).

        Ganeti reads these as integers: C{1}, C{2}, C{007} are true, C{0}
        false, C{true} or C{yes} a 400.  Absent is false.
        """
        return bool(self.int_arg(name, 0))

    def has_arg(self, name):
        return name in self.query

    @property
    def path(self):
        return self.request.path.decode("utf-8", "replace")


class ApiResource(resource.Resource):
    """Base of every RAPI resource; see the module docstring.

    Subclasses implement any of C{get}, C{put}, C{post}, C{delete} taking
    an L{ApiRequest}, and may narrow or widen the C{*_access} lists.
    """

    get_access = ANONYMOUS
    put_access = WRITE
    post_access = WRITE
    delete_access = WRITE

    def __init__(self, context):
        resource.Resource.__init__(self)
        self.context = context

    def getChild(self, path, request):
        """Unknown children, including a trailing slash, are a JSON 404."""
        return NotFoundResource(self.context)

    def handler_for(self, method):
        """The handler for an HTTP method name, or L{None}."""
        if method not in METHODS:
            return None
        return getattr(self, method.lower(), None)

    def render(self, request):
        request.setHeader(b"content-type", b"application/json")
        try:
            result = self._dispatch(request)
        except errors.HTTPError as e:
            return render_error(request, e)
        except interfaces.ClusterRequestError as e:
            return render_error(request, http_error_for(e))
        except Exception:
            log.failure("Unhandled error in {path}", path=request.path)
            return render_error(request, errors.InternalServerError())
        if inspect.iscoroutine(result):
            result = defer.Deferred.fromCoroutine(result)
        if isinstance(result, defer.Deferred):
            return self._render_later(request, result)
        return jsonutil.dumps(result)

    def _dispatch(self, request):
        gate = self.context.gate
        user = None
        if gate.require_authentication:
            user = gate.authenticate(request)
        method = request.method.decode("ascii", "replace").upper()
        handler = self.handler_for(method)
        if handler is None:
            raise errors.NotImplemented_(
                "Method %s is unsupported for path %s"
                % (method, request.path.decode("utf-8", "replace"))
            )
        access = getattr(self, method.lower() + "_access")
        user = gate.check(request, access, user)
        body = read_body(request)
        query = ApiRequest.parse_query(request.uri)
        return handler(ApiRequest(request, user, body, query))

    def _render_later(self, request, d):
        gone = []

        def client_left(reason):
            gone.append(True)
            d.cancel()

        def written(result):
            if not gone:
                request.write(jsonutil.dumps(result))
                request.finish()

        def failed(failure):
            if gone:
                if not failure.check(defer.CancelledError):
                    log.failure("Error after the client left", failure)
                return None
            if failure.check(errors.HTTPError):
                body = render_error(request, failure.value)
            elif failure.check(interfaces.ClusterRequestError):
                body = render_error(request, http_error_for(failure.value))
            else:
                log.failure("Unhandled error in {path}", failure, path=request.path)
                body = render_error(request, errors.InternalServerError())
            request.write(body)
            request.finish()

        request.notifyFinish().addErrback(client_left)
        d.addCallbacks(written, failed)
        d.addErrback(lambda f: log.failure("Error writing a response", f))
        return server.NOT_DONE_YET


class NotFoundResource(ApiResource):
    """Anything the tree does not know: a JSON 404 for every method."""

    def render(self, request):
        request.setHeader(b"content-type", b"application/json")
        try:
            if self.context.gate.require_authentication:
                self.context.gate.authenticate(request)
            raise errors.NotFound()
        except errors.HTTPError as e:
            return render_error(request, e)


_CLUSTER_ERRORS = [
    (interfaces.InvalidRequest, errors.BadRequest),
    (interfaces.ForbiddenParameter, errors.Forbidden),
    (interfaces.ClusterUnavailable, errors.ServiceUnavailable),
]


def http_error_for(exc):
    """The HTTP error for a failure reported by the cluster.

    A 404 carries no specific message, as in Ganeti: clients match the
    whole text C{404 Not Found: Nothing matches the given URI} to tell a
    missing object (sipgate's Ansible modules do), so the object's name
    stays out of it.
    """
    if isinstance(exc, interfaces.EntityNotFound):
        return errors.NotFound()
    for cluster_error, http_error in _CLUSTER_ERRORS:
        if isinstance(exc, cluster_error):
            return http_error(str(exc) or None)
    return errors.InternalServerError(str(exc) or None)


def render_error(request, error):
    """Set the status and headers of C{error}; its JSON body as bytes."""
    request.setResponseCode(error.code)
    request.setHeader(b"content-type", b"application/json")
    for name, value in error.headers:
        request.setHeader(name, value)
    return jsonutil.dumps(error.body())


def is_json_content_type(value):
    """Whether a Content-Type header names JSON.

    Ganeti compares the whole header with C{application/json}; we also
    accept parameters such as C{; charset=utf-8}, which some HTTP client
    libraries add on their own (see doc/rapi.rst, "Deviations").
    """
    if value is None:
        return False
    media_type = value.split(b";", 1)[0].strip().lower()
    return media_type == b"application/json"


def read_body(request):
    """The decoded JSON body of C{request}, or L{None} if it has none.

    @raise errors.UnsupportedMediaType: a body that is not JSON by type.
    @raise errors.BadRequest: a body that does not parse.
    """
    content = request.content
    if content is None:
        return None
    content.seek(0)
    data = content.read()
    if not data:
        return None
    if not is_json_content_type(request.getHeader(b"content-type")):
        raise errors.UnsupportedMediaType()
    try:
        return jsonutil.loads(data)
    except jsonutil.JSONDecodeError:
        raise errors.BadRequest("Unable to parse JSON data") from None

