# -*- test-case-name: tests.test_rpc_tls -*-
"""Mutual TLS for node RPC, with peers recognised by certificate digest.

Every member of a cluster holds the same cluster certificate (self-signed,
see L{ganeti_rapi.certs}).  A peer is trusted when the leaf certificate it
presents has a SHA-256 digest we were told to accept; there is no CA chain
and no host name check.  Both directions work that way:

 - L{server_creator}: the node daemon's side; it presents the cluster
   certificate, demands one from the client and accepts only allowed
   digests;
 - L{ClusterClientPolicy}: the master's side, an C{IPolicyForHTTPS} for
   C{Agent}; it presents the cluster certificate and accepts only a server
   whose certificate digest is pinned.

Both use TLS 1.2 or newer (L{ganeti_rapi.tls.certificate_options}).
"""

import re
import warnings

from OpenSSL import SSL
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator,
    IOpenSSLContextFactory,
    IOpenSSLServerConnectionCreator,
)
from twisted.logger import Logger
from twisted.web.iweb import IPolicyForHTTPS
from zope.interface import implementer

from ganeti_rapi import certs, tls

log = Logger()

_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


def normalise_digest(digest):
    """Lower-case hex without colons, as L{certs.cert_digest} gives.

    Accepts C{str} or C{bytes}, with or without colons (the form
    C{X509.digest("sha256")} and C{openssl x509 -fingerprint} print).

    @raise ValueError: if C{digest} is not a SHA-256 hex digest.
    """
    if isinstance(digest, bytes):
        digest = digest.decode("ascii")
    value = digest.replace(":", "").strip().lower()
    if not _HEX_DIGEST.fullmatch(value):
        raise ValueError(f"not a SHA-256 certificate digest: {digest!r}")
    return value


def _digest_set(digests):
    return frozenset(normalise_digest(d) for d in digests)


def peer_digest(x509):
    """The L{certs.cert_digest} of a pyOpenSSL C{X509}."""
    return certs.cert_digest(x509.to_cryptography())


def _pinning_callback(allowed, role):
    """A C{set_verify} callback accepting a leaf whose digest is in C{allowed}.

    OpenSSL reports self-signed and unknown-issuer errors for our
    certificates; they are irrelevant here.  The leaf (depth 0) alone
    decides, by its digest; certificates further up a chain the peer may
    send are neither trusted nor needed.
    """

    def verify(connection, x509, errno, depth, preverify_ok):
        if depth != 0:
            return True
        try:
            digest = peer_digest(x509)
        except Exception:
            log.failure("Cannot digest the {role} certificate", role=role)
            return False
        if digest in allowed:
            return True
        log.warn(
            "Refusing {role} certificate with SHA-256 digest {digest}",
            role=role,
            digest=digest,
        )
        return False

    return verify


def _pinned_context(keypair, allowed, mode, role):
    options = tls.certificate_options(keypair)
    with warnings.catch_warnings():
        # pyOpenSSL >= 24 warns when Twisted hands it X509/PKey objects.
        warnings.simplefilter("ignore", DeprecationWarning)
        context = options.getContext()
    context.set_verify(mode, _pinning_callback(allowed, role))
    return context


@implementer(IOpenSSLServerConnectionCreator, IOpenSSLContextFactory)
class PinnedServerCreator:
    """Server-side TLS connections that require a pinned client certificate.

    Usable with C{TLSMemoryBIOFactory} (as a connection creator) and with
    C{SSL4ServerEndpoint}/C{listenSSL} (as a context factory).

    @ivar allowed_digests: the client certificate digests accepted.
    """

    def __init__(self, context, allowed_digests):
        self._context = context
        self.allowed_digests = allowed_digests

    def serverConnectionForTLS(self, tlsProtocol):
        connection = SSL.Connection(self._context, None)
        connection.set_app_data(tlsProtocol)
        return connection

    def getContext(self):
        return self._context


def server_creator(cluster_keypair, allowed_digests):
    """Server TLS presenting C{cluster_keypair}, accepting only pinned clients.

    The client must present a certificate (C{VERIFY_FAIL_IF_NO_PEER_CERT})
    whose SHA-256 DER digest is one of C{allowed_digests}.

    @param cluster_keypair: a L{certs.KeyPair}.
    @param allowed_digests: digests as L{certs.cert_digest} gives them
        (colons and upper case are tolerated).
    @rtype: L{PinnedServerCreator}
    """
    allowed = _digest_set(allowed_digests)
    if not allowed:
        raise ValueError("no client certificate digest would be accepted")
    context = _pinned_context(
        cluster_keypair,
        allowed,
        SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT,
        "client",
    )
    return PinnedServerCreator(context, allowed)


@implementer(IOpenSSLClientConnectionCreator)
class _PinnedClientCreator:
    def __init__(self, context):
        self._context = context

    def clientConnectionForTLS(self, tlsProtocol):
        connection = SSL.Connection(self._context, None)
        connection.set_app_data(tlsProtocol)
        return connection


@implementer(IPolicyForHTTPS)
class ClusterClientPolicy:
    """HTTPS policy for C{Agent}: cluster certificate out, pinned digest in.

    Every connection, whatever the host, presents C{cluster_keypair} as the
    client certificate and accepts the server only if its leaf certificate
    digest is one of C{expected_digests}.  Host names and CAs play no part.
    """

    def __init__(self, cluster_keypair, expected_digests):
        self.expected_digests = _digest_set(expected_digests)
        if not self.expected_digests:
            raise ValueError("no server certificate digest would be accepted")
        context = _pinned_context(
            cluster_keypair, self.expected_digests, SSL.VERIFY_PEER, "server"
        )
        self._creator = _PinnedClientCreator(context)

    def creatorForNetloc(self, hostname, port):
        return self._creator
