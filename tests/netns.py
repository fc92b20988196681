"""A network namespace of a test's own, joined to the host by a veth pair.

Tests that need a bridge, taps and routes (the kvm hypervisor's NIC modes)
change nothing on the host's own network: they make a namespace, run the
node daemon inside it (C{ip netns exec}), and reach that daemon over a
veth pair whose two addresses come from the benchmarking range
198.18.0.0/15, which no real network uses: a /30 of 198.19.0.0/16 of its
own (by process id and a counter), because trial's workers run tests that
make namespaces side by side, and the host must route each pair's
addresses to its own namespace.  What tests build inside a namespace may
use 198.18.0.0/16 freely.  Everything is removed at the test's cleanup;
removing the namespace removes what was made inside it.
"""

import ipaddress
import os
import shutil

from twisted.internet import defer, utils

IP = shutil.which("ip", path="/usr/sbin:/usr/bin:/sbin:/bin") or "/usr/sbin/ip"

#: The veth pairs' /30 networks are taken from here.
VETH_NETWORKS = ipaddress.ip_network("198.19.0.0/16")

_counter = [0]


class CommandFailed(Exception):
    """An C{ip} command failed; the message has its output."""


@defer.inlineCallbacks
def run(argv):
    """Run C{argv} (without blocking); its output, or L{CommandFailed}."""
    out, err, code = yield utils.getProcessOutputAndValue(
        argv[0], argv[1:], env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    if code != 0:
        raise CommandFailed("%s exited with %s: %s" % (
            " ".join(argv), code, (out + err).decode("utf-8", "replace")))
    return out.decode("utf-8", "replace")


class NetworkNamespace:
    """A namespace named after this process, with a veth pair to the host."""

    def __init__(self):
        _counter[0] += 1
        self.name = "grt-%d-%d" % (os.getpid(), _counter[0])
        # Interface names are at most 15 characters.
        self.host_veth = "grt%dh%d" % (os.getpid() % 100000, _counter[0])
        self.inside_veth = "veth0"
        self._block = (os.getpid() % 4096) * 4 + _counter[0] % 4
        self._choose(self._block)

    def _choose(self, block):
        base = VETH_NETWORKS.network_address + (block % 16384) * 4
        self.network = "%s/30" % base
        #: The host's and the namespace's ends of the veth pair.
        self.host_address = str(base + 1)
        self.inside_address = str(base + 2)

    @property
    def exec_prefix(self):
        """The command that runs a command inside the namespace."""
        return [IP, "netns", "exec", self.name]

    def inside(self, *argv):
        """Run C{argv} inside the namespace."""
        return run(self.exec_prefix + list(argv))

    @defer.inlineCallbacks
    def create(self, testcase):
        """Make the namespace and the veth pair; removed at C{testcase}'s cleanup."""
        # Another process's pair may hold this /30 (process ids alike
        # modulo 4096): take the next free one.
        for step in range(64):
            self._choose(self._block + step * 4)
            taken = yield run([IP, "-o", "addr", "show", "to", self.network])
            if not taken.strip():
                break
        yield run([IP, "netns", "add", self.name])
        testcase.addCleanup(run, [IP, "netns", "delete", self.name])
        yield run([IP, "link", "add", self.host_veth, "type", "veth",
                   "peer", "name", self.inside_veth, "netns", self.name])
        testcase.addCleanup(self._remove_host_veth)
        yield run([IP, "addr", "add", self.host_address + "/30", "dev", self.host_veth])
        yield run([IP, "link", "set", self.host_veth, "up"])
        yield self.inside(IP, "addr", "add", self.inside_address + "/30",
                          "dev", self.inside_veth)
        yield self.inside(IP, "link", "set", self.inside_veth, "up")
        yield self.inside(IP, "link", "set", "lo", "up")

    @defer.inlineCallbacks
    def _remove_host_veth(self):
        # Gone already when the namespace went first; nothing else to do then.
        try:
            yield run([IP, "link", "delete", self.host_veth])
        except CommandFailed:
            pass
