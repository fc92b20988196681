"""The reference server of the benchmarks: a bare twisted.web leaf over TLS.

One C{Site} whose only resource answers every request with the same
~300-byte JSON document, served with the TLS settings of the daemon
(L{ganeti_rapi.tls.certificate_options}, an RSA key made by
L{ganeti_rapi.certs.generate}) on an C{SSL4ServerEndpoint}, as the daemon
listens.  No access log, as the daemon runs with C{--no-access-log} in the
suite.  Every figure of the suite is divided by what this server does in
the same run, so the ratios say what our code costs on top of Twisted.

With C{--long-poll} it is the reference for held requests instead: every
request is parked (nothing but the request and its connection is kept),
until a C{GET /release} answers all parked ones with the same document and
itself with C{{"released": N, "at": <time.time() of the release>}}.  The
memory per parked request of the daemon's C{/2/jobs/[id]/wait} is compared
with this one's.

Usage: python bench/baseline.py [--port 0] [--no-ssl] [--long-poll]
Prints C{baseline serving on https://127.0.0.1:PORT} once listening and
runs until SIGTERM or SIGINT.
"""

import argparse
import json
import os
import resource as rlimit
import sys
import time

# Run from anywhere: the project's package sits next to bench/.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from twisted.internet import endpoints, reactor  # noqa: E402
from twisted.web import resource, server  # noqa: E402

from ganeti_rapi import certs, tls  # noqa: E402


def fixed_body(size=300):
    """A JSON object (cluster-info-like keys) padded to exactly C{size} bytes."""
    doc = {
        "name": "cluster.example.com",
        "master": "node1.example.com",
        "software_version": "3.1.0",
        "protocol_version": 3010000,
        "architecture": ["64bit", "x86_64"],
        "default_hypervisor": "fake",
        "enabled_hypervisors": ["fake"],
        "tags": [],
        "pad": "",
    }
    base = len(json.dumps(doc, separators=(",", ":")).encode()) + 1  # + "\n"
    doc["pad"] = "x" * max(0, size - base)
    return (json.dumps(doc, separators=(",", ":")) + "\n").encode()


BODY = fixed_body()


class Leaf(resource.Resource):
    """Any path, any method: the fixed JSON document."""

    isLeaf = True

    def render(self, request):
        request.setHeader(b"content-type", b"application/json")
        return BODY


class LongPoll(resource.Resource):
    """Any path: parked until C{/release}; C{/release}: answers them all."""

    isLeaf = True

    def __init__(self):
        resource.Resource.__init__(self)
        self.parked = set()

    def render(self, request):
        if request.path == b"/release":
            at = time.time()
            parked, self.parked = self.parked, set()
            for held in parked:
                held.setHeader(b"content-type", b"application/json")
                held.write(BODY)
                held.finish()
            request.setHeader(b"content-type", b"application/json")
            return json.dumps({"released": len(parked), "at": at}).encode()
        self.parked.add(request)
        request.notifyFinish().addErrback(lambda _: self.parked.discard(request))
        return server.NOT_DONE_YET


def raise_fd_limit():
    """Raise the soft limit of open files to the hard one."""
    soft, hard = rlimit.getrlimit(rlimit.RLIMIT_NOFILE)
    if hard != rlimit.RLIM_INFINITY and soft < hard:
        rlimit.setrlimit(rlimit.RLIMIT_NOFILE, (hard, hard))


class QuietSite(server.Site):
    """A C{Site} that writes no access log (the daemon runs with none)."""

    def log(self, request):
        pass


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--no-ssl", action="store_true", help="plain HTTP")
    parser.add_argument("--long-poll", action="store_true",
                        help="park every request until GET /release")
    args = parser.parse_args(argv)

    raise_fd_limit()
    site = QuietSite(LongPoll() if args.long_poll else Leaf())
    if args.no_ssl:
        scheme = "http"
        endpoint = endpoints.TCP4ServerEndpoint(reactor, args.port, interface="127.0.0.1")
    else:
        scheme = "https"
        keypair = certs.generate("bench", ["127.0.0.1"], key_type="rsa")
        endpoint = endpoints.SSL4ServerEndpoint(
            reactor, args.port, tls.certificate_options(keypair), interface="127.0.0.1"
        )

    def listening(port):
        print(
            "baseline serving on %s://127.0.0.1:%d (%d-byte body)"
            % (scheme, port.getHost().port, len(BODY)),
            flush=True,
        )

    def failed(failure):
        print("baseline cannot listen: %s" % failure.getErrorMessage(), flush=True)
        reactor.stop()

    endpoint.listen(site).addCallbacks(listening, failed)
    reactor.run()


if __name__ == "__main__":
    main()
