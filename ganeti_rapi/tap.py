# -*- test-case-name: tests.test_tap -*-
"""C{twistd ganeti-rapi}: options and the service tree of the RAPI daemon.

This module and L{ganeti_rapi.noded_tap} are the only places that read
options and import the reactor; everything else gets what it needs passed
in.  Started with no options at all, the daemon serves its embedded
default: a data directory of its own, a self-signed certificate made on
first start, and the users file inside it.
"""

import os

from twisted.application import service
from twisted.internet.endpoints import UNIXServerEndpoint
from twisted.logger import Logger
from twisted.python import usage

import ganeti_rapi
from ganeti_rapi import auth, certs, constants, noded_tap, paths
from ganeti_rapi.control import CONTROL_SOCKET, ControlFactory
from ganeti_rapi.engine.master import open_engine
from ganeti_rapi.endpoints import is_tls, quote, server_endpoint
from ganeti_rapi.listening import ListeningService
from ganeti_rapi.rpc.client import NodeRpcClient
from ganeti_rapi.web.base import ApiContext, Gate
from ganeti_rapi.web.root import build_root
from ganeti_rapi.web.site import RapiSite

log = Logger()


class Options(usage.Options):
    """Ganeti's familiar daemon options, plus Twisted endpoint descriptions."""

    synopsis = "[options]"
    longdesc = (
        "Serve the Ganeti Remote API (RAPI v2). Without options: HTTPS on port "
        "5080 with a self-signed certificate and the users file of the data "
        "directory."
    )

    optFlags = [
        ["no-ssl", None, "Serve plain HTTP instead of HTTPS."],
        [
            "require-authentication",
            None,
            "Require valid credentials for every request, reads included.",
        ],
        ["no-access-log", None, "Do not log every request."],
        [
            "no-local-node",
            None,
            "Do not run this node's node daemon inside the master process"
            " (a separate ganeti-noded serves it).",
        ],
    ]

    optParameters = [
        ["port", "p", constants.DEFAULT_RAPI_PORT, "TCP port to listen on.", int],
        ["bind", "b", "0.0.0.0", "Address to listen on."],
        ["ssl-key", "K", None, "TLS private key (PEM); default <data-dir>/rapi.pem."],
        ["ssl-cert", "C", None, "TLS certificate (PEM); default the key file."],
        ["ssl-chain", None, None, "Intermediate certificates sent after ours (PEM)."],
        ["data-dir", None, None, "Data directory (created on first start)."],
        ["users-file", None, None, "Users file; default <data-dir>/rapi/users."],
        [
            "control-socket",
            None,
            None,
            "UNIX socket for ganeti-rapi-admin; default <data-dir>/master.sock.",
        ],
        [
            "node-port",
            None,
            constants.DEFAULT_NODED_PORT,
            "Port of the node daemon run inside the master process (on 127.0.0.1).",
            int,
        ],
        [
            "idle-timeout",
            None,
            constants.DEFAULT_IDLE_TIMEOUT,
            "Seconds before an idle connection is closed.",
            int,
        ],
    ]

    def __init__(self):
        usage.Options.__init__(self)
        self["listen"] = []

    def opt_listen(self, description):
        """Listen on a Twisted endpoint description (repeatable); overrides
        --port, --bind and the TLS flags. Example:
        ssl:5080:interface=127.0.0.1:privateKey=/etc/rapi.pem"""
        self["listen"].append(description)

    def postOptions(self):
        if self["data-dir"] is None:
            self["data-dir"] = paths.default_data_dir()
        self["data-dir"] = os.path.abspath(self["data-dir"])
        data_dir = paths.DataDir(self["data-dir"])
        if self["users-file"] is None:
            self["users-file"] = data_dir.users_file
        if self["control-socket"] is None:
            self["control-socket"] = data_dir.join(CONTROL_SOCKET)

        if not 0 <= self["port"] <= 65535:
            raise usage.UsageError("--port must be between 0 and 65535")
        if self["idle-timeout"] <= 0:
            raise usage.UsageError("--idle-timeout must be positive")
        if self["no-ssl"] and (self["ssl-key"] or self["ssl-cert"] or self["ssl-chain"]):
            raise usage.UsageError("--no-ssl cannot be combined with TLS files")
        self["generate-cert"] = False
        if not self["listen"]:
            self["listen"] = [self._legacy_description(data_dir)]

    def _legacy_description(self, data_dir):
        """The one endpoint the Ganeti-style flags describe."""
        interface = quote(self["bind"])
        if self["no-ssl"]:
            return "tcp:%d:interface=%s" % (self["port"], interface)
        key = self["ssl-key"]
        if key is None:
            key = data_dir.rapi_cert
            self["generate-cert"] = True
        description = "ssl:%d:interface=%s:privateKey=%s:certKey=%s" % (
            self["port"],
            interface,
            quote(key),
            quote(self["ssl-cert"] or key),
        )
        if self["ssl-chain"]:
            description += ":extraCertChain=" + quote(self["ssl-chain"])
        return description


def prepare_data_dir(options):
    """Create the data directory and, when we own it, the RAPI certificate."""
    data_dir = paths.DataDir(options["data-dir"]).ensure()
    if options["generate-cert"]:
        _, created = certs.ensure(
            data_dir.rapi_cert, "ganeti-rapi", certs.local_alt_names()
        )
        if created:
            log.info(
                "Generated a self-signed certificate in {path}", path=data_dir.rapi_cert
            )
    return data_dir


def cluster_keypair(data_dir):
    """The cluster certificate of C{data_dir}, made on the first start."""
    pair, created = certs.ensure(data_dir.cluster_cert, "ganeti-rapi cluster",
                                 key_type=certs.CLUSTER_KEY_TYPE)
    if created:
        log.info("Generated the cluster certificate {path}", path=data_dir.cluster_cert)
    return pair


def add_local_node(top, reactor, engine, data_dir, keypair, port):
    """Run this node's daemon in-process, reached through the real RPC path.

    The master node's address becomes 127.0.0.1 and the port the daemon
    really bound (which differs from the configured one with port 0).
    """
    master_uuid = engine.config.cluster.master_node

    def bound(listening_port):
        engine.nodes.overrides[master_uuid] = ("127.0.0.1", listening_port.getHost().port)

    noded = noded_tap.build_service(
        reactor, ["tcp:%d:interface=127.0.0.1" % port], data_dir, keypair,
        on_listen=bound,
    )
    noded.setServiceParent(top)


def makeService(options, reactor=None):
    """The RAPI daemon as a C{MultiService}."""
    if reactor is None:
        from twisted.internet import reactor
    if len(options["control-socket"].encode("utf-8")) > 100:
        raise noded_tap.StartupError(
            "ganeti-rapi: the control socket path %s is too long for a UNIX socket;"
            " choose a shorter one with --control-socket" % options["control-socket"]
        )
    data_dir = prepare_data_dir(options)
    top = service.MultiService()

    users = auth.UsersFile(options["users-file"], clock=reactor)
    users.setServiceParent(top)

    keypair = cluster_keypair(data_dir)
    rpc_client = NodeRpcClient(reactor, keypair)
    engine = open_engine(
        data_dir.path, clock=reactor, rpc_client=rpc_client,
        node_cert_digest=keypair.digest(),
    )
    if not options["no-local-node"]:
        add_local_node(top, reactor, engine, data_dir, keypair, options["node-port"])
    engine.service.setServiceParent(top)
    ListeningService(
        "ganeti-rapi control",
        UNIXServerEndpoint(reactor, options["control-socket"], mode=0o600, wantPID=True),
        ControlFactory(engine.cluster),
        "control",
    ).setServiceParent(top)

    gate = Gate(users, require_authentication=options["require-authentication"])
    context = ApiContext(gate=gate, cluster=engine.cluster, clock=reactor)
    site = RapiSite(
        build_root(context),
        idle_timeout=options["idle-timeout"],
        access_log=not options["no-access-log"],
        reactor=reactor,
    )
    for description in options["listen"]:
        scheme = "https" if is_tls(description) else "http"
        endpoint = server_endpoint(reactor, description)
        ListeningService("ganeti-rapi", endpoint, site, scheme).setServiceParent(top)

    log.info(
        "ganeti-rapi {version}: data directory {data_dir}, users file {users_file}."
        " Add a user with write access: ganeti-rapi-admin --data-dir {data_dir}"
        " user add NAME --write",
        version=ganeti_rapi.__version__,
        data_dir=data_dir.path,
        users_file=options["users-file"],
    )
    return top

