"""A real QEMU guest through the API, on a master and two real node daemons.

The guest (L{tests.kvmguest}: Debian's cloud kernel and a busybox
initramfs) runs under TCG (C{kvm_flag: disabled}) with a C{sharedfile}
disk both nodes reach, so it can migrate live between the two node
daemons over 127.0.0.1 (or, in L{KvmHotplugTests}, inside a network
namespace, with NICs and disks hot-plugged into it).  What it prints on
its serial console (the log QEMU keeps of it, and the console's unix
socket) shows what happened inside it.  Every wait is bounded; every
QEMU left by a failing test is killed by the pid in its pidfile.
"""

import os
import re
import shutil
import signal

from twisted.internet import defer, protocol, reactor, task, threads
from twisted.internet.endpoints import TCP4ClientEndpoint, UNIXClientEndpoint
from twisted.trial.unittest import TestCase

from ganeti_rapi.noded.hypervisor.kvm import KvmHypervisor
from tests import kvmguest, netns
from tests.cluster import FINAL, RealCluster, free_port
from tests.helpers import daemon_pem, https_client, short_socket_path, start_twistd, write_users

MIB = 1024 * 1024
DISK_MIB = 1024
NAME = "guest1"


def qemu_pids(node_dirs):
    """C{{pidfile: pid}} of the QEMU processes the nodes' pidfiles name."""
    found = {}
    for node_dir in node_dirs:
        state = os.path.join(node_dir, "node", "kvm-hv")
        if not os.path.isdir(state):
            continue
        for entry in os.listdir(state):
            if not entry.endswith(".pid"):
                continue
            path = os.path.join(state, entry)
            try:
                with open(path) as f:
                    pid = int(f.read().strip())
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    if path.encode() in f.read().split(b"\0"):
                        found[path] = pid
            except (OSError, ValueError):
                pass
    return found


class _Lines(protocol.Protocol):
    """Fires C{found} with the first match of C{wanted}; C{closed} at the end."""

    def __init__(self, wanted, found):
        self.buffer = b""
        self.wanted = wanted
        self.found = found
        self.closed = defer.Deferred()

    def connectionLost(self, reason):
        self.closed.callback(None)

    def dataReceived(self, data):
        self.buffer += data
        match = self.wanted.search(self.buffer)
        if match and not self.found.called:
            self.found.callback(match.group(0).decode())
            self.transport.loseConnection()


class KvmClusterTestCase(RealCluster, TestCase):
    """A master and real node daemons for kvm guests; no tests of its own."""

    timeout = 900

    @defer.inlineCallbacks
    def start_cluster(self, nodes):
        """Start a master and join C{nodes}, C{[(name, address, prefix)]}.

        A node daemon listens on C{address}; C{prefix} is the command its
        command line is handed to (empty, or C{ip netns exec NS}).  The
        master's own node is not VM-capable, so guests run on C{nodes}.
        """
        try:
            self.kernel, self.initrd = yield threads.deferToThread(kvmguest.build)
        except kvmguest.GuestUnavailable as e:
            self.fail("cannot build the test guest: %s" % e)
        base = os.path.abspath(self.mktemp())
        self.master_dir = os.path.join(base, "master")
        self.node_dirs = [os.path.join(base, name) for name, _, _ in nodes]
        self.shared = os.path.join(base, "shared")
        os.makedirs(self.shared)
        self.addCleanup(self.kill_leftovers)
        write_users(self.master_dir)
        self.control = short_socket_path(self)
        self.master = yield start_twistd(
            self, "ganeti-rapi",
            ["--data-dir", self.master_dir, "-p", "0", "-b", "127.0.0.1", "--node-port", "0",
             "--control-socket", self.control, "--no-access-log"],
        )
        self.client = https_client(daemon_pem(self.master_dir))
        self.url = "https://localhost:%d" % self.master.port
        exported = os.path.join(base, "cluster.pem")
        yield self.admin("cluster-cert", "export", exported)
        self.nodes = {}
        self.hosts = {}
        for (name, address, prefix), data_dir in zip(nodes, self.node_dirs):
            yield self.admin("cluster-cert", "import", exported, data_dir=data_dir)
            self.hosts[name] = (address, list(prefix))
            self.nodes[name] = (data_dir, free_port(), None)
            yield self.start_node(name)
            yield self.admin("node", "--control-socket", self.control, "add",
                             name, "--ip", address, "--port", str(self.nodes[name][1]))
        code, info = yield self.api("GET", "/2/info", user=None)
        yield self.ok_job("POST", "/2/nodes/%s/modify" % info["master"], {"vm_capable": False})
        yield self.ok_job("PUT", "/2/modify", {
            "enabled_hypervisors": ["fake", "kvm"],
            "enabled_disk_templates": ["file", "sharedfile", "diskless"],
            "shared_file_storage_dir": self.shared,
        })

    @defer.inlineCallbacks
    def start_node(self, name):
        """(Re)start the node daemon of node C{name}."""
        data_dir, port, _ = self.nodes[name]
        address, prefix = self.hosts[name]
        daemon = yield start_twistd(
            self, "ganeti-noded",
            ["--data-dir", data_dir, "--listen", "tcp:%d:interface=%s" % (port, address),
             "--shared-file-storage-dir", self.shared],
            prefix=prefix,
        )
        self.nodes[name] = (data_dir, port, daemon)
        return daemon

    def hvparams(self, **changes):
        """The kvm parameters of a test guest under TCG, with C{changes}."""
        return dict({
            "kvm_path": kvmguest.QEMU,
            "kvm_flag": "disabled",
            "kernel_path": self.kernel,
            "initrd_path": self.initrd,
            "root_path": "",
            "kernel_args": "quiet panic=-1",
            "kvm_extra": "-bios %s" % kvmguest.QBOOT,
            "migration_port": 0,
        }, **changes)

    def ctrl_dirs(self):
        return [KvmHypervisor(os.path.join(d, "node", "kvm-hv"), None).ctrl_dir
                for d in self.node_dirs]

    def kill_leftovers(self):
        for path, pid in qemu_pids(self.node_dirs).items():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # The sockets of a QEMU killed here stay behind; the directories are
        # this test's own (named after its node data directories).
        for path in self.ctrl_dirs():
            shutil.rmtree(path, ignore_errors=True)

    @defer.inlineCallbacks
    def run_job(self, method, path, body=None, timeout=240):
        code, job_id = yield self.api(method, path, body)
        self.assertEqual(code, 200, job_id)
        for _ in range(int(timeout / 0.2)):
            code, job = yield self.api("GET", "/2/jobs/%d" % job_id)
            if job["status"] in FINAL:
                return job
            yield task.deferLater(reactor, 0.2, lambda: None)
        self.fail("job %d did not finish in %d seconds" % (job_id, timeout))

    @defer.inlineCallbacks
    def ok_job(self, method, path, body=None):
        job = yield self.run_job(method, path, body)
        self.assertEqual(job["status"], "success", job)
        return job["opresult"][-1]

    @defer.inlineCallbacks
    def instance(self):
        code, instance = yield self.api("GET", "/2/instances/%s" % NAME, user=None)
        self.assertEqual(code, 200, instance)
        return instance

    def serial_log(self, node):
        path = os.path.join(self.nodes[node][0], "node", "kvm-hv", NAME + ".serial.log")
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    @defer.inlineCallbacks
    def migrate_live(self, boot_id):
        """Migrate the guest from node1 to node2, where it keeps counting
        without booting again."""
        # A fresh line of this boot: a guest that rebooted meanwhile fails
        # here, with its serial log, rather than after the migration.
        before = yield self.wait_serial("node1", r"GUEST-COUNT (\d+) " + boot_id,
                                        timeout=60, after=len(self.serial_log("node1")))
        yield self.ok_job("PUT", "/2/instances/%s/migrate" % NAME, {"target_node": "node2"})
        instance = yield self.instance()
        self.assertEqual((instance["pnode"], instance["oper_state"]), ("node2", True))
        counted = yield self.wait_serial("node2", r"GUEST-COUNT (\d+) " + boot_id)
        self.assertGreater(int(counted.group(1)), int(before.group(1)))
        self.assertNotIn("GUEST-BOOTED", self.serial_log("node2"))

    @defer.inlineCallbacks
    def wait_serial(self, node, pattern, timeout=120, after=0):
        """The first match of C{pattern} in the serial log past offset C{after}."""
        regex = re.compile(pattern)
        for _ in range(int(timeout / 0.25)):
            text = self.serial_log(node)
            match = regex.search(text, after)
            if match:
                return match
            yield task.deferLater(reactor, 0.25, lambda: None)
        self.fail("no %r on the serial console of %s within %d seconds; it shows:\n%s"
                  % (pattern, NAME, timeout, self.serial_log(node)[-2000:]))

    @defer.inlineCallbacks
    def read_console(self, path, node, pattern, timeout=90):
        """The first match of C{pattern} read from the console socket C{path}.

        The connection is closed whatever happens.  When nothing matches in
        time, the failure tells a silent guest (its serial log did not grow
        either) from a console that does not pass on what the guest prints.
        """
        found = defer.Deferred()
        lines = _Lines(re.compile(pattern), found)
        endpoint = UNIXClientEndpoint(reactor, path, timeout=10)
        logged = len(self.serial_log(node))
        yield endpoint.connect(protocol.Factory.forProtocol(lambda: lines))
        found.addTimeout(timeout, reactor)
        try:
            line = yield found
        except defer.TimeoutError:
            grown = self.serial_log(node)[logged:]
            self.fail("nothing matching %r on the console socket of %s in %d seconds;"
                      " the socket passed on %r; meanwhile the serial log grew by %d"
                      " characters: %r; QEMU processes: %r"
                      % (pattern, NAME, timeout, lines.buffer[-500:], len(grown),
                         grown[-500:], qemu_pids(self.node_dirs)))
        finally:
            if not lines.closed.called:
                lines.transport.loseConnection()
            yield lines.closed
        return line


class KvmIntegrationTests(KvmClusterTestCase):
    """One guest's whole life on two node daemons on 127.0.0.1."""

    def setUp(self):
        return self.start_cluster([("node1", "127.0.0.1", ()), ("node2", "127.0.0.1", ())])

    @defer.inlineCallbacks
    def test_guest(self):
        """Boot, disk, power, reboot, live migration, console, restart, delete."""
        hvparams = self.hvparams()
        body = {
            "__version__": 1, "mode": "create", "name": NAME, "os": "ganeti-rapi-noop",
            "hypervisor": "kvm", "pnode": "node1", "disk_template": "sharedfile",
            "disks": [{"size": DISK_MIB}], "nics": [],
            "beparams": {"maxmem": 128, "minmem": 128}, "hvparams": hvparams,
        }
        # Ganeti's checks of kvm parameters.
        job = yield self.run_job("POST", "/2/instances", dict(
            body, hvparams=dict(hvparams, boot_order="usb")))
        self.assertEqual(job["status"], "error", job)
        self.assertEqual(job["opresult"][0][1][1], "wrong_input", job)

        yield self.ok_job("POST", "/2/instances", body)
        booted = yield self.wait_serial("node1", r"GUEST-BOOTED (\S+)")
        boot_id = booted.group(1)
        disk = yield self.wait_serial("node1", r"GUEST-DISK (\d+)")
        self.assertEqual(int(disk.group(1)) * 512, DISK_MIB * MIB)
        instance = yield self.instance()
        self.assertEqual((instance["oper_state"], instance["pnode"]), (True, "node1"))
        self.assertEqual(len(qemu_pids(self.node_dirs)), 1)

        # Shutdown (ACPI power button) and startup.
        yield self.ok_job("PUT", "/2/instances/%s/shutdown" % NAME, {"timeout": 60})
        self.assertEqual(qemu_pids(self.node_dirs), {})
        self.assertFalse((yield self.instance())["oper_state"])
        yield self.ok_job("PUT", "/2/instances/%s/startup" % NAME)
        booted = yield self.wait_serial("node1", r"GUEST-BOOTED (\S+)")
        self.assertNotEqual(booted.group(1), boot_id)
        boot_id = booted.group(1)

        # Reboot: a new boot of the same QEMU.
        pids = qemu_pids(self.node_dirs)
        yield self.wait_serial("node1", r"GUEST-COUNT 1 ")
        offset = len(self.serial_log("node1"))
        yield self.ok_job("POST", "/2/instances/%s/reboot?type=soft" % NAME)
        booted = yield self.wait_serial("node1", r"GUEST-BOOTED (\S+)", after=offset)
        self.assertNotEqual(booted.group(1), boot_id)
        boot_id = booted.group(1)
        self.assertEqual(qemu_pids(self.node_dirs), pids)

        # Live migration to node2 while the guest keeps counting.
        yield self.migrate_live(boot_id)
        pids = qemu_pids(self.node_dirs)
        self.assertEqual([os.path.dirname(os.path.dirname(os.path.dirname(p)))
                          for p in pids], [self.nodes["node2"][0]])

        # The serial console, as the console object says to reach it.
        code, console = yield self.api("GET", "/2/instances/%s/console" % NAME)
        self.assertEqual(code, 200, console)
        self.assertEqual((console["kind"], console["instance"], console["host"]),
                         ("ssh", NAME, "node2"))
        target = console["command"][-1]
        self.assertTrue(target.startswith("UNIX-CONNECT:"), console)
        line = yield self.read_console(target[len("UNIX-CONNECT:"):], "node2",
                                       rb"GUEST-COUNT \d+ " + boot_id.encode())
        self.assertIn(boot_id, line)

        # A restarted node daemon finds the running guest again.
        yield self.nodes["node2"][2].stop()
        self.assertEqual(qemu_pids(self.node_dirs), pids)
        yield self.start_node("node2")
        instance = yield self.instance()
        self.assertEqual((instance["oper_state"], instance["pnode"]), (True, "node2"))

        # Delete: no QEMU, no file left behind.
        yield self.ok_job("DELETE", "/2/instances/%s" % NAME)
        self.assertEqual(qemu_pids(self.node_dirs), {})
        for state in self.ctrl_dirs() + [os.path.join(d, "node", "kvm-hv")
                                         for d in self.node_dirs]:
            leftovers = [f for root, dirs, files in os.walk(state) for f in files]
            self.assertEqual(leftovers, [], state)
        self.assertEqual([f for root, dirs, files in os.walk(self.shared) for f in files], [])

    @defer.inlineCallbacks
    def test_vnc_console(self):
        """Without a serial console the console is VNC on the instance's port, and QEMU serves it."""
        body = {
            "__version__": 1, "mode": "create", "name": NAME, "os": "ganeti-rapi-noop",
            "hypervisor": "kvm", "pnode": "node1", "disk_template": "diskless",
            "disks": [], "nics": [], "beparams": {"maxmem": 128, "minmem": 128},
            "hvparams": self.hvparams(serial_console=False, vnc_bind_address="127.0.0.1"),
        }
        yield self.ok_job("POST", "/2/instances", body)
        instance = yield self.instance()
        code, console = yield self.api("GET", "/2/instances/%s/console" % NAME)
        self.assertEqual(code, 200, console)
        self.assertEqual(console, {
            "instance": NAME, "kind": "vnc", "host": "127.0.0.1",
            "port": instance["network_port"], "display": instance["network_port"] - 5900,
        })
        banner = defer.Deferred()
        endpoint = TCP4ClientEndpoint(reactor, console["host"], console["port"], timeout=10)
        lines = _Lines(re.compile(rb"RFB \d{3}\.\d{3}\n"), banner)
        yield endpoint.connect(protocol.Factory.forProtocol(lambda: lines))
        banner.addTimeout(30, reactor)
        try:
            self.assertTrue((yield banner).startswith("RFB "))
        finally:
            if not lines.closed.called:
                lines.transport.loseConnection()
            yield lines.closed
        # The guest may not have booted far enough to heed its power button:
        # after a short timeout it is stopped the hard way.
        yield self.ok_job("PUT", "/2/instances/%s/shutdown" % NAME, {"timeout": 5})
        self.assertEqual(qemu_pids(self.node_dirs), {})
        yield self.ok_job("DELETE", "/2/instances/%s" % NAME)


class KvmNamespaceTestCase(KvmClusterTestCase):
    """Node daemons (C{NODES}) inside a network namespace of the test's; no
    tests of its own.

    The namespace holds a bridge (C{gntbr0}, 198.18.78.1/24) and an address
    on its loopback (198.18.79.1) for a routed NIC; the master on the host
    reaches the node daemons over a veth pair.
    """

    BRIDGE = "gntbr0"
    NODES = ("node1",)

    @defer.inlineCallbacks
    def setUp(self):
        self.netns = netns.NetworkNamespace()
        yield self.netns.create(self)
        yield self.netns.inside(netns.IP, "link", "add", self.BRIDGE, "type", "bridge")
        yield self.netns.inside(netns.IP, "addr", "add", "198.18.78.1/24", "dev", self.BRIDGE)
        yield self.netns.inside(netns.IP, "link", "set", self.BRIDGE, "up")
        yield self.netns.inside(netns.IP, "addr", "add", "198.18.79.1/32", "dev", "lo")
        yield self.start_cluster([(name, self.netns.inside_address, self.netns.exec_prefix)
                                  for name in self.NODES])

    @defer.inlineCallbacks
    def taps(self):
        """The names of the tap devices in the namespace."""
        out = yield self.netns.inside(netns.IP, "-o", "link", "show")
        return sorted(re.findall(r"^\d+: (gnt\d+)[:@]", out, re.M))


class KvmNetworkTests(KvmNamespaceTestCase):
    """NICs of a guest on a node daemon inside a network namespace.

    The guest sets up each NIC from its kernel arguments and pings the
    namespace's side of it.
    """

    @defer.inlineCallbacks
    def test_bridged_and_routed_nics(self):
        """A bridged NIC joins the bridge, a routed one gets its route; both carry pings."""
        guest_net = "eth0:198.18.78.2/24:198.18.78.1,eth1:198.18.79.2/32:198.18.79.1"
        body = {
            "__version__": 1, "mode": "create", "name": NAME, "os": "ganeti-rapi-noop",
            "hypervisor": "kvm", "pnode": "node1", "disk_template": "file",
            "disks": [{"size": 64}],
            "nics": [{"mode": "bridged", "link": self.BRIDGE},
                     # A routed NIC's link is its routing table, as in Ganeti.
                     {"mode": "routed", "ip": "198.18.79.2", "link": "main"}],
            "beparams": {"maxmem": 128, "minmem": 128},
            "hvparams": self.hvparams(kernel_args="quiet panic=-1 guest_net=" + guest_net),
        }
        yield self.ok_job("POST", "/2/instances", body)
        instance = yield self.instance()
        macs = instance["nic.macs"]
        for index, mac in enumerate(macs):
            found = yield self.wait_serial("node1", r"GUEST-NET eth%d (\S+) (\w+)" % index)
            self.assertEqual((found.group(1), found.group(2)), (mac, "ok"),
                             self.serial_log("node1")[-2000:])

        # Seen from the node: one tap on the bridge, one with the guest's route
        # and proxy ARP, as Ganeti's routed mode sets up.
        taps = yield self.taps()
        self.assertEqual(len(taps), 2, taps)
        bridged = yield self.netns.inside(netns.IP, "-o", "link", "show", "master", self.BRIDGE)
        on_bridge = [t for t in taps if re.search(r"^\d+: %s[:@]" % t, bridged, re.M)]
        self.assertEqual(len(on_bridge), 1, bridged)
        (routed_tap,) = set(taps) - set(on_bridge)
        route = yield self.netns.inside(netns.IP, "route", "show", "198.18.79.2")
        self.assertIn("dev %s" % routed_tap, route)
        proxy_arp = yield self.netns.inside(
            "/bin/cat", "/proc/sys/net/ipv4/conf/%s/proxy_arp" % routed_tap)
        self.assertEqual(proxy_arp.strip(), "1")

        # And from the namespace's side of the bridge to the guest.
        yield self.netns.inside(kvmguest.BUSYBOX, "ping", "-c", "1", "-W", "5", "198.18.78.2")

        # Deleted: QEMU gone, and its taps with it.
        yield self.ok_job("DELETE", "/2/instances/%s" % NAME)
        self.assertEqual(qemu_pids(self.node_dirs), {})
        self.assertEqual((yield self.taps()), [])


class KvmHotplugTests(KvmNamespaceTestCase):
    """Hot-plug into a running guest, and live migration of what was plugged in.

    Two node daemons run in one namespace, so both reach its bridge and the
    shared file storage, and the guest migrates between them over the
    namespace's address.  The guest boots without NICs; the one plugged in
    becomes its C{eth0}, which it sets up from C{guest_net} and pings
    through, and a disk plugged in becomes C{vdb}.
    """

    NODES = ("node1", "node2")
    HOT_DISK_MIB = 32

    @defer.inlineCallbacks
    def plug(self, node):
        """Hot-plug a bridged NIC and a disk; the guest uses both."""
        offset = len(self.serial_log(node))
        job = yield self.run_job("PUT", "/2/instances/%s/modify" % NAME, {
            "hotplug": True,
            "nics": [["add", {"mode": "bridged", "link": self.BRIDGE}]],
            "disks": [["add", {"size": self.HOT_DISK_MIB}]],
        })
        self.assertEqual(job["status"], "success", job)
        result = job["opresult"][0]
        self.assertEqual([entry for entry in result if entry[1].startswith("hotplug")],
                         [["disk/1", "hotplug:done"], ["nic.0", "hotplug:done"]], job)
        self.assertIn("Hot-plugged NIC 0", str(job["oplog"]))
        instance = yield self.instance()
        self.assertEqual(instance["disk.sizes"], [64, self.HOT_DISK_MIB])
        (mac,) = instance["nic.macs"]
        found = yield self.wait_serial(node, r"GUEST-NET eth0 (\S+) (\w+)", after=offset)
        self.assertEqual((found.group(1), found.group(2)), (mac, "ok"),
                         self.serial_log(node)[-2000:])
        found = yield self.wait_serial(node, r"GUEST-DISK vdb (\d+)", after=offset)
        self.assertEqual(int(found.group(1)) * 512, self.HOT_DISK_MIB * MIB)
        taps = yield self.taps()
        self.assertEqual(len(taps), 1, taps)
        bridged = yield self.netns.inside(netns.IP, "-o", "link", "show", "master", self.BRIDGE)
        self.assertRegex(bridged, r"(?m)^\d+: %s[:@]" % taps[0])
        yield self.netns.inside(kvmguest.BUSYBOX, "ping", "-c", "1", "-W", "5", "198.18.78.2")

    @defer.inlineCallbacks
    def unplug(self, node):
        """Hot-unplug the NIC and the extra disk; gone in the guest, no tap left."""
        offset = len(self.serial_log(node))
        job = yield self.run_job("PUT", "/2/instances/%s/modify" % NAME, {
            "hotplug": True, "nics": [["remove", 0, {}]], "disks": [["remove", 1, {}]],
        })
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(job["opresult"][0], [["disk/1", "remove"], ["disk/1", "hotplug:done"],
                                              ["NIC/0", "remove"], ["NIC/0", "hotplug:done"]])
        yield self.wait_serial(node, r"GUEST-NET-GONE eth0", after=offset)
        yield self.wait_serial(node, r"GUEST-DISK-GONE vdb", after=offset)
        self.assertEqual((yield self.taps()), [])
        instance = yield self.instance()
        self.assertEqual((instance["nic.macs"], instance["disk.sizes"]), ([], [64]))
        self.assertEqual(sorted(os.listdir(os.path.join(self.shared, NAME))), ["disk0"])

    @defer.inlineCallbacks
    def test_hotplug_and_migrate(self):
        """A NIC and a disk plugged into and out of a running guest; plugged in
        again, they migrate live with it and can be unplugged on the target."""
        body = {
            "__version__": 1, "mode": "create", "name": NAME, "os": "ganeti-rapi-noop",
            "hypervisor": "kvm", "pnode": "node1", "disk_template": "sharedfile",
            "disks": [{"size": 64}], "nics": [],
            "beparams": {"maxmem": 128, "minmem": 128},
            "hvparams": self.hvparams(
                kernel_args="quiet panic=-1 guest_net=eth0:198.18.78.2/24:198.18.78.1"),
        }
        yield self.ok_job("POST", "/2/instances", body)
        booted = yield self.wait_serial("node1", r"GUEST-BOOTED (\S+)")
        boot_id = booted.group(1)
        yield self.wait_serial("node1", r"GUEST-DISK vda \d+")

        yield self.plug("node1")
        yield self.unplug("node1")
        yield self.plug("node1")

        # Live migration: the target starts QEMU with the plugged-in devices in
        # the source's PCI slots, and the guest keeps running and reachable.
        yield self.migrate_live(boot_id)
        self.assertEqual(len((yield self.taps())), 1)
        yield self.netns.inside(kvmguest.BUSYBOX, "ping", "-c", "1", "-W", "5", "198.18.78.2")

        # The devices keep their ids there: they unplug from the migrated guest.
        yield self.unplug("node2")
        yield self.wait_serial("node2", r"GUEST-COUNT \d+ " + boot_id,
                               after=len(self.serial_log("node2")))
        yield self.ok_job("DELETE", "/2/instances/%s" % NAME)
        self.assertEqual(qemu_pids(self.node_dirs), {})
