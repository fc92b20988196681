# -*- test-case-name: tests.test_noded -*-
"""C{twistd ganeti-noded}: options and service of the node daemon.

The node daemon serves node RPC (L{ganeti_rapi.rpc.server}) with mutual
TLS: it presents the cluster certificate from C{<data-dir>/server.pem} and
accepts only clients presenting that same certificate.  A node without the
certificate has not been joined to a cluster and refuses to start.
"""

import os

from twisted.application import service
from twisted.internet.endpoints import quoteStringArgument, serverFromString
from twisted.python import usage

from ganeti_rapi import certs, constants, paths
from ganeti_rapi.listening import ListeningService
from ganeti_rapi.noded import osapi
from ganeti_rapi.noded.procedures import NodeProcedures
from ganeti_rapi.rpc import server as rpc_server
from ganeti_rapi.rpc import tls as rpc_tls

#: The name in the "serving on" line that tests and operators look for.
DAEMON_NAME = "ganeti-noded"

#: Endpoint types that already speak TLS; ours is added on top of --listen.
_TLS_ENDPOINT_TYPES = ("ssl", "tls", "txtorcon")


class StartupError(SystemExit):
    """The daemon cannot start; C{twistd} prints the message and exits 1."""


class Options(usage.Options):
    """Options of C{twistd ganeti-noded}."""

    synopsis = "[options]"
    longdesc = (
        "Serve node RPC on port 1811 with mutual TLS, using the cluster "
        "certificate <data-dir>/server.pem that joining the node to a "
        "cluster installs."
    )

    optParameters = [
        ["port", "p", constants.DEFAULT_NODED_PORT, "TCP port to listen on.", int],
        ["bind", "b", "0.0.0.0", "Address to listen on."],
        [
            "data-dir",
            None,
            None,
            "Data directory holding the cluster certificate "
            "[default: /var/lib/ganeti-rapi for root, "
            "$XDG_DATA_HOME/ganeti-rapi otherwise].",
        ],
        [
            "file-storage-dir",
            None,
            None,
            "Directory of the file storage type [default: <data-dir>/file-storage].",
        ],
        [
            "shared-file-storage-dir",
            None,
            None,
            "Directory of the sharedfile disk template, a file system every node "
            "mounts at the same place (must match the cluster's "
            "shared_file_storage_dir) [default: /srv/ganeti/shared-file-storage].",
        ],
        [
            "extstorage-search-path",
            None,
            None,
            "Colon-separated directories searched for ExtStorage providers, first "
            "match wins [default: /srv/ganeti/extstorage:<data-dir>/extstorage].",
        ],
        [
            "adoptable-blockdev-roots",
            None,
            None,
            "Colon-separated directories whose block devices (and regular files) "
            "the blockdev disk template may adopt [default: /dev/disk].",
        ],
        [
            "os-search-path",
            None,
            None,
            "Colon-separated directories searched for OS definitions, first "
            "match wins [default: /srv/ganeti/os:/usr/share/ganeti/os:"
            "/usr/local/lib/ganeti/os:<data-dir>/os:<bundled OS directory>].",
        ],
        [
            "os-script-timeout",
            None,
            osapi.DEFAULT_SCRIPT_TIMEOUT,
            "Seconds an OS script may run before it is killed.",
            float,
        ],
    ]

    def __init__(self):
        usage.Options.__init__(self)
        self["listen"] = []

    def opt_listen(self, description):
        """Listen on this plain endpoint, e.g. tcp:1811:interface=127.0.0.1
        (TLS is added on top; repeatable; overrides --port and --bind)."""
        kind = description.split(":", 1)[0].strip().lower()
        if kind in _TLS_ENDPOINT_TYPES:
            raise usage.UsageError(
                f"--listen {description}: give a plain endpoint such as "
                "tcp:1811; ganeti-noded adds mutual TLS itself"
            )
        self["listen"].append(description)

    def postOptions(self):
        if self["data-dir"] is None:
            self["data-dir"] = paths.default_data_dir()
        if self["os-search-path"] is not None:
            directories = [p for p in self["os-search-path"].split(":") if p]
            if not directories:
                raise usage.UsageError("--os-search-path: no directory given")
            self["os-search-path"] = directories
        for key in ("extstorage-search-path", "adoptable-blockdev-roots"):
            if self[key] is not None:
                directories = [p for p in self[key].split(":") if p]
                if not all(p.startswith("/") for p in directories):
                    raise usage.UsageError(f"--{key}: directories must be absolute")
                self[key] = directories
        if self["shared-file-storage-dir"] is not None and not self[
            "shared-file-storage-dir"
        ].startswith("/"):
            raise usage.UsageError("--shared-file-storage-dir must be absolute")
        if self["os-script-timeout"] <= 0:
            raise usage.UsageError("--os-script-timeout must be positive")
        if not 0 <= self["port"] <= 65535:
            raise usage.UsageError(f"--port {self['port']}: not a TCP port")
        if not self["listen"]:
            bind = self["bind"]
            kind = "tcp6" if ":" in bind else "tcp"
            self["listen"] = [
                f"{kind}:{self['port']}:interface={quoteStringArgument(bind)}"
            ]


def load_cluster_keypair(data_dir):
    """The cluster key pair of C{data_dir} (a L{paths.DataDir}).

    @raise StartupError: if it is missing or unreadable.
    """
    path = data_dir.cluster_cert
    if not os.path.exists(path):
        raise StartupError(
            f"ganeti-noded: no cluster certificate at {path}; this node must be "
            "joined to a cluster first (that installs the certificate)"
        )
    try:
        return certs.load(path)
    except (OSError, ValueError) as e:
        raise StartupError(
            f"ganeti-noded: cannot read the cluster certificate {path}: {e}"
        ) from None


def build_service(reactor, descriptions, data_dir, keypair, on_listen=None,
                  procedures=None):
    """The node daemon's services: node RPC on each endpoint description.

    @param data_dir: a L{paths.DataDir}.
    @param keypair: the cluster L{certs.KeyPair}; the only client
        certificate accepted is this one.
    @param on_listen: called with each C{IListeningPort} once bound.
    @param procedures: the L{NodeProcedures} to serve (default ones over
        C{data_dir} if L{None}).
    """
    if procedures is None:
        procedures = NodeProcedures(data_dir, reactor=reactor)
    site = rpc_server.make_site(procedures)
    creator = rpc_tls.server_creator(keypair, {keypair.digest()})
    factory = rpc_server.make_tls_site_factory(site, creator, clock=reactor)
    top = service.MultiService()
    for description in descriptions:
        endpoint = serverFromString(reactor, description)
        ListeningService(
            DAEMON_NAME, endpoint, factory, "https", on_listen=on_listen
        ).setServiceParent(top)
    return top


def makeService(options):
    """The C{twistd ganeti-noded} service tree for parsed C{options}."""
    from twisted.internet import reactor

    data_dir = paths.DataDir(options["data-dir"])
    keypair = load_cluster_keypair(data_dir)
    procedures = NodeProcedures(
        data_dir,
        reactor=reactor,
        file_storage_dir=options["file-storage-dir"],
        os_search_path=options["os-search-path"],
        os_script_timeout=options["os-script-timeout"],
        shared_file_storage_dir=options["shared-file-storage-dir"],
        extstorage_search_path=options["extstorage-search-path"],
        adoptable_roots=options["adoptable-blockdev-roots"],
    )
    return build_service(
        reactor, options["listen"], data_dir, keypair, procedures=procedures
    )
