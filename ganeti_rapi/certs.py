"""Generating, loading and fingerprinting the certificates we use.

Certificate work is done with C{cryptography}; conversion to pyOpenSSL
objects happens only where Twisted's TLS needs them (see L{rpc.tls} and
L{tls_options}), because pyOpenSSL deprecates its own X509 builders.

Two certificates live in a data directory, each as one PEM file holding
the private key and the certificate (Ganeti's layout, mode 0600):

 - C{rapi.pem}: what the RAPI server presents to its clients;
 - C{server.pem}: the cluster certificate every node daemon and the master
   present to each other; holding it is what makes a peer part of the
   cluster.

The RAPI certificate has an RSA key, which every client understands.  The
cluster certificate is only ever seen by our own daemons, so it gets a
P-256 ECDSA key: a mutually authenticated handshake then costs a fraction
of what RSA signatures cost, which is what the first listing of a big
cluster (a handshake with every node) spends its time on.  A cluster
certificate made before keeps working whatever its key.
"""

import datetime
import hashlib
import ipaddress
import os
import socket

import attr
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ganeti_rapi.fileutil import atomic_write

#: The key type of a newly made cluster certificate (see above).
CLUSTER_KEY_TYPE = "ec"

#: Ten years, as Ganeti's generated certificates.
DEFAULT_VALIDITY_DAYS = 3650


@attr.s(frozen=True)
class KeyPair:
    """A private key with its certificate, both as C{cryptography} objects."""

    key = attr.ib()
    cert = attr.ib()

    def key_pem(self):
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )

    def cert_pem(self):
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def pem(self):
        """Key and certificate in one PEM document."""
        return self.key_pem() + self.cert_pem()

    def digest(self):
        """The SHA-256 fingerprint of the certificate (see L{cert_digest})."""
        return cert_digest(self.cert)


def cert_digest(cert):
    """Lower-case hex SHA-256 of the DER form of C{cert}.

    This is what node RPC pins: two peers trust each other when the
    certificate presented has exactly this digest.
    """
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def generate(common_name, alt_names=(), key_type="rsa", days=DEFAULT_VALIDITY_DAYS, now=None):
    """Create a new self-signed key pair.

    @param alt_names: host names and IP addresses for the subjectAltName,
        so clients that check the host name can be pointed at this
        certificate as their CA.
    @param key_type: C{"rsa"} (2048 bits, what every client understands)
        or C{"ec"} (P-256, much faster to make; tests use it).
    """
    if key_type == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    sans = []
    for alt in alt_names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(alt)))
        except ValueError:
            sans.append(x509.DNSName(alt))
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    return KeyPair(key=key, cert=cert)


def local_alt_names():
    """Names by which a client on this machine may reach a local daemon."""
    names = ["localhost", "127.0.0.1", "::1"]
    for name in (socket.gethostname(), socket.getfqdn()):
        if name and name not in names:
            names.append(name)
    return names


def load(path):
    """Read a PEM file holding a private key and a certificate.

    @param path: the combined file, or a L{tuple} C{(key_path, cert_path)}.
    """
    if isinstance(path, tuple):
        key_path, cert_path = path
    else:
        key_path = cert_path = path
    with open(key_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    with open(cert_path, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    return KeyPair(key=key, cert=cert)


def load_certificate(path):
    """Read just the (first) certificate of a PEM file."""
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def ensure(path, common_name, alt_names=(), key_type="rsa"):
    """Load the key pair at C{path}, generating it first if it is missing.

    @return: C{(keypair, created)}.
    """
    if os.path.exists(path):
        return load(path), False
    pair = generate(common_name, alt_names, key_type=key_type)
    atomic_write(path, pair.pem(), mode=0o600)
    return pair, True


def load_chain(path):
    """Every certificate in a PEM file, in order (an intermediate CA chain)."""
    with open(path, "rb") as f:
        data = f.read()
    marker = b"-----END CERTIFICATE-----"
    chain = []
    for block in data.split(marker):
        start = block.find(b"-----BEGIN CERTIFICATE-----")
        if start >= 0:
            chain.append(x509.load_pem_x509_certificate(block[start:] + marker + b"\n"))
    return chain
