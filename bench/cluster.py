"""Big clusters for the benchmarks, written before the daemon starts.

A cluster of the suite is C{nodes} nodes and C{instances} instances, all
with names and placement computed from their index, so the node farm
(L{nodefarm}) and the configuration written here agree without talking:
instance I runs on node C{I % nodes}, node 0 is the master.

L{write_data_dir} builds the master's data directory with the project's
own engine classes (L{ConfigStore}, L{objects}): the single-node default
cluster it makes on a first start, then every further node (address
127.0.0.1, the port of its node daemon in the farm) and every instance
(C{admin_state} up, one 10 GiB file disk, one NIC), saved once.  The
cluster certificate the farm presents goes into the same directory, so the
daemon uses it instead of making its own.

Nothing here needs a reactor: the configuration is saved with a
synchronous "thread" runner.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from twisted.internet import defer  # noqa: E402

from ganeti_rapi import fileutil, paths  # noqa: E402
from ganeti_rapi.engine import objects  # noqa: E402
from ganeti_rapi.engine.config import ConfigStore  # noqa: E402
from ganeti_rapi.engine.master import CONFIG_FILE, FILE_STORAGE_DIR  # noqa: E402

CLUSTER_NAME = "bench.example.com"

#: What the fake hypervisor reports of each running instance.
INSTANCE_MEMORY = 128
INSTANCE_VCPUS = 1
DISK_SIZE = 10240


def node_name(index):
    return "node-%04d.bench.example.com" % index


def instance_name(index):
    return "inst-%05d.bench.example.com" % index


def instances_of(node_index, nodes, instances):
    """The indices of the instances whose primary node is C{node_index}."""
    return range(node_index, instances, nodes)


def mac_of(index):
    return "aa:00:00:%02x:%02x:%02x" % ((index >> 16) & 0xFF, (index >> 8) & 0xFF, index & 0xFF)


class _Clock:
    """Enough of C{IReactorTime} for the configuration's timestamps."""

    def __init__(self, now):
        self.now = now

    def seconds(self):
        return self.now


def _synchronously(f, *args):
    return defer.succeed(f(*args))


def write_data_dir(data_dir, nodes, instances, ports, keypair, now):
    """Write the master's data directory for a cluster of the suite.

    @param ports: the node daemon port of each node (C{len(ports) == nodes}).
    @param keypair: the cluster L{ganeti_rapi.certs.KeyPair} the farm uses.
    @param now: the creation time of every object.
    @return: the size of C{config.data} in bytes.
    """
    if len(ports) != nodes:
        raise ValueError("%d ports for %d nodes" % (len(ports), nodes))
    data = paths.DataDir(data_dir).ensure()
    fileutil.atomic_write(data.cluster_cert, keypair.pem(), 0o600)
    store = ConfigStore(os.path.join(data_dir, CONFIG_FILE), _Clock(now), _synchronously)
    store.create_default(
        cluster_name=CLUSTER_NAME,
        node_name=node_name(0),
        node_ip="127.0.0.1",
        rpc_port=ports[0],
        node_cert_digest=keypair.digest(),
        file_storage_dir=os.path.join(data_dir, FILE_STORAGE_DIR),
    )
    master = store.master_node()
    group = master.group
    by_index = [master]
    for index in range(1, nodes):
        node = objects.Node(
            name=node_name(index),
            primary_ip="127.0.0.1",
            secondary_ip="127.0.0.1",
            group=group,
            master_candidate=False,
            master_capable=True,
            vm_capable=True,
            rpc_port=ports[index],
            cert_digest=keypair.digest(),
        )
        by_index.append(store.add_node(node))
    for index in range(instances):
        name = instance_name(index)
        disk = objects.Disk(
            dev_type="file",
            size=DISK_SIZE,
            mode="rw",
            iv_name="disk/0",
            logical_id=["loop", "%s/disk0" % name],
        )
        disk.nodes = [by_index[index % nodes].uuid]
        nic = objects.Nic(mac=mac_of(index), nicparams={})
        instance = objects.Instance(
            name=name,
            primary_node=by_index[index % nodes].uuid,
            os="noop",
            hypervisor="fake",
            admin_state="up",
            admin_state_source="admin",
            disk_template="file",
            disks=[disk],
            disks_active=True,
            nics=[nic],
        )
        store.add_instance(instance)
    done = []
    store.save().addBoth(done.append)
    if not done or isinstance(done[0], Exception) or hasattr(done[0], "raiseException"):
        raise RuntimeError("could not write the configuration: %r" % (done,))
    return os.path.getsize(store.path)
