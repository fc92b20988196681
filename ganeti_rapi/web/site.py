# -*- test-case-name: tests.test_web_base -*-
"""The HTTP server around the tree: body limit, idle timeout, headers.

Request bodies are kept in memory, never in a temporary file (Twisted's
default above 100 kB): the 10 MiB limit bounds them, and a file would mean
blocking disk I/O on the reactor thread.  A body over the limit is read off
the wire and dropped, then answered with a JSON 413.
"""

import io

from twisted.web import resource, server

import ganeti_rapi
from ganeti_rapi import constants, errors
from ganeti_rapi.web.base import render_error

SERVER_HEADER = ("ganeti-rapi/%s" % ganeti_rapi.__version__).encode("ascii")


class RapiRequest(server.Request):
    """A request whose body is bounded by C{site.max_body} bytes."""

    body_too_large = False
    _body_size = 0

    def _max_body(self):
        return getattr(self.channel.site, "max_body", constants.MAX_REQUEST_BODY)

    def gotLength(self, length):
        self.content = io.BytesIO()
        self._body_size = 0
        if length is not None and length > self._max_body():
            self.body_too_large = True

    def handleContentChunk(self, data):
        if self.body_too_large:
            return
        self._body_size += len(data)
        if self._body_size > self._max_body():
            self.body_too_large = True
            self.content = io.BytesIO()
            return
        self.content.write(data)


class TooLargeResource(resource.Resource):
    """Stands in for the whole tree when a request body is over the limit."""

    isLeaf = True

    def render(self, request):
        return render_error(
            request,
            errors.RequestEntityTooLarge(
                "Request body larger than %d bytes" % request.channel.site.max_body
            ),
        )


class RapiSite(server.Site):
    """The C{Site} serving the RAPI tree.

    @ivar max_body: largest request body accepted, in bytes.
    """

    requestFactory = RapiRequest
    displayTracebacks = False

    def __init__(
        self,
        root,
        idle_timeout=constants.DEFAULT_IDLE_TIMEOUT,
        max_body=constants.MAX_REQUEST_BODY,
        access_log=True,
        **kwargs
    ):
        server.Site.__init__(self, root, timeout=idle_timeout, **kwargs)
        self.max_body = max_body
        self.access_log = access_log

    def getResourceFor(self, request):
        # Request.process() has just stamped Twisted's own Server header.
        request.setHeader(b"server", SERVER_HEADER)
        if getattr(request, "body_too_large", False):
            return TooLargeResource()
        return server.Site.getResourceFor(self, request)

    def log(self, request):
        if self.access_log:
            server.Site.log(self, request)
