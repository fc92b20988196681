"""TLS settings shared by both daemons: TLS 1.2 or newer, keys from L{certs}.

This is the boundary where C{cryptography} objects become pyOpenSSL ones.
"""

import warnings

from OpenSSL import crypto
from twisted.internet import ssl
from twisted.protocols.tls import TLSMemoryBIOFactory

#: Nothing older than TLS 1.2 is offered (Twisted 22.4 would allow 1.0).
MINIMUM_TLS = ssl.TLSVersion.TLSv1_2


def to_openssl(keypair):
    """Convert a L{certs.KeyPair} to pyOpenSSL C{(PKey, X509)}."""
    return (
        crypto.PKey.from_cryptography_key(keypair.key),
        crypto.X509.from_cryptography(keypair.cert),
    )


def certificate_options(keypair, extra_chain=(), **kwargs):
    """C{CertificateOptions} presenting C{keypair}, TLS 1.2 or newer.

    @param extra_chain: further C{cryptography} certificates sent after
        ours (an operator's intermediate CAs).
    @param kwargs: passed on (C{verify}, C{caCerts}, ...).
    """
    key, cert = to_openssl(keypair)
    chain = [crypto.X509.from_cryptography(c) for c in extra_chain]
    with warnings.catch_warnings():
        # pyOpenSSL >= 24 warns that Twisted passes X509/PKey objects on.
        warnings.simplefilter("ignore", DeprecationWarning)
        return ssl.CertificateOptions(
            privateKey=key,
            certificate=cert,
            extraCertChain=chain or None,
            raiseMinimumTo=MINIMUM_TLS,
            **kwargs,
        )


def tls_factory(context_factory, is_client, wrapped_factory, clock=None):
    """A C{TLSMemoryBIOFactory}, passing C{clock} where Twisted knows it.

    Since Twisted 24.3 TLS batches small writes with C{callLater(0)} on the
    global reactor unless given a clock; Twisted 22.4 has no such keyword.
    """
    if clock is not None:
        try:
            return TLSMemoryBIOFactory(
                context_factory, is_client, wrapped_factory, clock=clock
            )
        except TypeError:
            pass
    return TLSMemoryBIOFactory(context_factory, is_client, wrapped_factory)
