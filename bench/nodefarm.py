"""Many node daemons in one process: the nodes of the suite's big clusters.

Each node of a cluster (see L{cluster}) gets a node RPC service of its own
on 127.0.0.1, on a port the kernel picks, speaking the node daemon's
protocol with its TLS: the server side of L{ganeti_rapi.rpc.server}
(C{make_site}, C{make_tls_site_factory}) and the cluster certificate
pinned both ways (L{ganeti_rapi.rpc.tls.server_creator}), exactly as
C{ganeti-noded} serves.  Only the procedures behind it are lighter: a
master's bulk listing asks every node for C{node_info} or
C{all_instances_info}, and here each node answers from memory, in the
shape the real procedures give (the fake hypervisor's instances, all
running), so a thousand "machines" cost one process little and the
figures measure the master.  C{version} and C{upload_file} (the
configuration copies a master sends its candidates) are answered too.

Usage: python bench/nodefarm.py --nodes N --instances M --cert PEM --ports-file F
Writes the port of each node (a JSON list, node 0 first) to F, then prints
C{nodefarm serving N node daemons} and runs until SIGTERM or SIGINT.
"""

import argparse
import json
import os
import resource
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from twisted.internet import reactor  # noqa: E402

import ganeti_rapi  # noqa: E402
from ganeti_rapi import certs, fileutil  # noqa: E402
from ganeti_rapi.rpc import server as rpc_server  # noqa: E402
from ganeti_rapi.rpc import tls as rpc_tls  # noqa: E402
from ganeti_rapi.rpc.server import PROTOCOL_VERSION  # noqa: E402

import cluster  # noqa: E402

MEMORY_TOTAL = 262144
MEMORY_DOM0 = 2048
DISK_TOTAL = 4 * 1024 * 1024


def raise_fd_limit():
    """Raise the soft limit of open files to the hard one; the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


class FarmNode:
    """The procedures of one node of the farm, answered from memory."""

    def __init__(self, index, nodes, instances):
        self.name = cluster.node_name(index)
        self.instances = {}
        for i in cluster.instances_of(index, nodes, instances):
            name = cluster.instance_name(i)
            self.instances[name] = {
                "name": name,
                "id": 0,
                "memory": cluster.INSTANCE_MEMORY,
                "vcpus": cluster.INSTANCE_VCPUS,
                "state": "running",
                "time": 0,
                "hypervisor": "fake",
            }
        used = cluster.INSTANCE_MEMORY * len(self.instances)
        self.bootid = str(uuid.uuid4())
        self.node_info_answer = {
            "name": self.name,
            "mtotal": MEMORY_TOTAL,
            "mfree": MEMORY_TOTAL - MEMORY_DOM0 - used,
            "mnode": MEMORY_DOM0,
            "ctotal": 32,
            "cnodes": 2,
            "csockets": 2,
            "cnos": 1,
            "dtotal": DISK_TOTAL,
            "dfree": DISK_TOTAL - cluster.DISK_SIZE * len(self.instances),
            "sptotal": 0,
            "spfree": 0,
            "bootid": self.bootid,
            "hv_name": "fake",
            "hv_memory_total": MEMORY_TOTAL,
            "hv_memory_free": MEMORY_TOTAL - MEMORY_DOM0 - used,
            "storage": [
                {
                    "type": "file",
                    "name": "/srv/ganeti/file-storage",
                    "storage_size": DISK_TOTAL,
                    "storage_free": DISK_TOTAL - cluster.DISK_SIZE * len(self.instances),
                }
            ],
        }

    def rpc_version(self):
        return {"protocol": PROTOCOL_VERSION, "software_version": ganeti_rapi.__version__}

    def rpc_node_info(self, storage_units=None, hypervisor="fake"):
        return self.node_info_answer

    def rpc_all_instances_info(self, hypervisors=None):
        return self.instances

    def rpc_instance_list(self, hypervisors=None):
        return sorted(self.instances)

    def rpc_instance_info(self, name, hypervisor="fake"):
        return self.instances.get(name)

    def rpc_upload_file(self, name, content_b64, mode=0o600):
        return None


def _no_access_log(request):
    pass


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, required=True)
    parser.add_argument("--instances", type=int, default=0)
    parser.add_argument("--cert", required=True, help="the cluster certificate (PEM, with key)")
    parser.add_argument("--ports-file", required=True)
    args = parser.parse_args(argv)

    limit = raise_fd_limit()
    if limit < args.nodes * 2 + 64:
        print("nodefarm: the open-files limit (%d) is too low for %d nodes"
              % (limit, args.nodes), flush=True)
        return 1
    keypair = certs.load(args.cert)
    creator = rpc_tls.server_creator(keypair, {keypair.digest()})
    ports = []
    for index in range(args.nodes):
        site = rpc_server.make_site(FarmNode(index, args.nodes, args.instances))
        site.log = _no_access_log
        factory = rpc_server.make_tls_site_factory(site, creator, clock=reactor)
        port = reactor.listenTCP(0, factory, backlog=128, interface="127.0.0.1")
        ports.append(port.getHost().port)
    fileutil.atomic_write(args.ports_file, json.dumps(ports).encode("ascii"), 0o600)
    print("nodefarm serving %d node daemons (%d instances)" % (args.nodes, args.instances),
          flush=True)
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
