"""HTTP errors with Ganeti's JSON error body.

Every error a client sees has the body ``{"code", "message", "explain"}``:
the official client builds its exception text as ``"<code> <message>:
<explain>"`` and crashes on anything else, and some tools match those texts
literally (``404 Not Found: Nothing matches the given URI``).
"""

import html
from http import HTTPStatus


class HTTPError(Exception):
    """An error answered to the client with status C{code}.

    @ivar message: the specific message, or L{None} for the standard
        reason phrase of the status.
    @ivar headers: extra response headers as a list of C{(name, value)}.
    """

    code = 500

    def __init__(self, message=None, headers=()):
        Exception.__init__(self, message)
        self.message = message
        self.headers = list(headers)

    def body(self):
        """The JSON-able error body for this error."""
        return error_body(self.code, self.message)


def error_body(code, message=None):
    """Ganeti's error body for status C{code}.

    The message is HTML-escaped as Ganeti 3.x does (C{html.escape}), so a
    client that shows it in a page cannot be injected into.
    """
    status = HTTPStatus(code)
    if message is None:
        message = status.phrase
    return {
        "code": code,
        "message": html.escape(str(message)),
        "explain": status.description,
    }


def _error(name, code, doc):
    return type(name, (HTTPError,), {"code": code, "__doc__": doc})


BadRequest = _error("BadRequest", 400, "400: malformed request, parameter or body.")
Unauthorized = _error("Unauthorized", 401, "401: credentials missing or wrong.")
Forbidden = _error("Forbidden", 403, "403: the user lacks the access this needs.")
NotFound = _error("NotFound", 404, "404: no such resource or object.")
RequestEntityTooLarge = _error("RequestEntityTooLarge", 413, "413: body too large.")
UnsupportedMediaType = _error(
    "UnsupportedMediaType", 415, "415: a body that is not application/json."
)
InternalServerError = _error("InternalServerError", 500, "500: unexpected failure.")
NotImplemented_ = _error("NotImplemented_", 501, "501: method not supported here.")
BadGateway = _error("BadGateway", 502, "502: a daemon behind us answered badly.")
ServiceUnavailable = _error("ServiceUnavailable", 503, "503: try again later.")
GatewayTimeout = _error("GatewayTimeout", 504, "504: a daemon behind us timed out.")
