# -*- test-case-name: tests.test_kvm_integration -*-
"""The tap devices behind a kvm instance's NICs.

A NIC is a tap device opened here and handed to QEMU as a file descriptor
(at start on its command line, when hot-plugged over QMP), then put where
the NIC's mode says: added to its bridge (C{bridged}), routed to with
proxy ARP (C{routed}) or added to an Open vSwitch (C{openvswitch}).  The
tap goes away with QEMU's descriptor; what was set up outside it (a route,
a switch port) is undone by L{TapsMixin._release_tap} when a NIC is
unplugged.  Kept apart from the hypervisor's lifecycle because it is the
only part that changes the host's network.
"""

import fcntl
import os
import shutil
import struct

from ganeti_rapi.noded.errors import HypervisorError
from ganeti_rapi.noded.hypervisor.kvm_command import SBIN_PATH

# linux/if_tun.h
_TUNSETIFF = 0x400454CA
_IFF_TAP = 0x0002
_IFF_NO_PI = 0x1000
_IFF_VNET_HDR = 0x4000


def nic_record(nic, tap):
    """What the state file keeps of a NIC: its tap and what was set up for it."""
    params = nic.get("nicparams") or {}
    return {"type": "nic", "tap": tap, "mode": params.get("mode") or "bridged",
            "link": params.get("link") or "", "ip": nic.get("ip")}


def _set_proxy_arp(tap):
    """Turn on proxy ARP on tap device C{tap} (blocking)."""
    path = "/proc/sys/net/ipv4/conf/%s/proxy_arp" % tap
    try:
        with open(path, "w", encoding="ascii") as f:
            f.write("1\n")
    except OSError as e:
        raise HypervisorError("cannot turn on proxy ARP on %s: %s" % (tap, e)) from None


class TapsMixin:
    """Tap plumbing of L{kvm.KvmHypervisor}.

    Needs C{runtime} (a L{ganeti_rapi.noded.runtime.Runtime}) and C{_call}
    (run a blocking function in a thread) from the class it is mixed into.
    """

    def _open_taps(self, nics, vnet_hdr):
        """Open a tap per NIC; C{[(name, fd, nic)]} (the caller closes the fds)."""
        taps = []
        try:
            for nic in nics:
                fd = os.open("/dev/net/tun", os.O_RDWR)
                flags = _IFF_TAP | _IFF_NO_PI | (_IFF_VNET_HDR if vnet_hdr else 0)
                try:
                    result = fcntl.ioctl(fd, _TUNSETIFF,
                                         struct.pack("16sH", b"gnt%d", flags))
                except OSError:
                    os.close(fd)
                    raise
                name = result[:16].rstrip(b"\0").decode()
                taps.append((name, fd, nic))
        except OSError as e:
            for _, fd, _ in taps:
                os.close(fd)
            raise HypervisorError("cannot create a tap device: %s" % e) from None
        return taps

    async def _command(self, argv, what, timeout=60.0, child_fds=None):
        """Run network tool C{argv} found in L{SBIN_PATH}; a L{HypervisorError}
        saying what it was for (C{what}) if it is missing or fails."""
        found = shutil.which(argv[0], path=SBIN_PATH)
        if found is None:
            raise HypervisorError("%s: this node has no %s" % (what, argv[0]))
        argv = [found] + list(argv[1:])
        result = await self.runtime.run(argv, env={"PATH": SBIN_PATH},
                                        timeout=timeout, child_fds=child_fds)
        if not result.succeeded:
            raise HypervisorError("%s: %s failed (%s): %s" % (
                what, argv[0], result.describe(timeout), result.output_text()))
        return result

    async def _connect_taps(self, taps):
        """Put each tap where its NIC's mode says, and bring it up."""
        for tap, _, nic in taps:
            params = nic.get("nicparams") or {}
            mode = params.get("mode") or "bridged"
            link = params.get("link") or ""
            if mode == "bridged":
                if not link:
                    raise HypervisorError("a bridged NIC needs a link (bridge)")
                await self._command(["ip", "link", "set", "dev", tap, "master", link, "up"],
                                    "adding %s to bridge %s" % (tap, link))
            elif mode == "routed":
                await self._command(["ip", "link", "set", "dev", tap, "up"],
                                    "bringing up %s" % tap)
                # The guest reaches its neighbours through this host, which
                # answers ARP for them on the tap, as Ganeti's routed mode does.
                await self._call(_set_proxy_arp, tap)
                ip = nic.get("ip")
                if ip:
                    argv = ["ip", "route", "replace", ip, "dev", tap]
                    if link:
                        argv += ["table", link]
                    await self._command(argv, "routing %s to %s" % (ip, tap))
            elif mode == "openvswitch":
                if shutil.which("ovs-vsctl", path=SBIN_PATH) is None:
                    raise HypervisorError("NIC mode openvswitch: this node has no"
                                          " Open vSwitch (ovs-vsctl)")
                argv = ["ovs-vsctl", "add-port", link or "switch1", tap]
                vlan = (params.get("vlan") or "").lstrip(".:")
                if vlan.isdigit():
                    argv.append("tag=" + vlan)
                await self._command(argv, "adding %s to Open vSwitch" % tap)
                await self._command(["ip", "link", "set", "dev", tap, "up"],
                                    "bringing up %s" % tap)
            else:
                raise HypervisorError("NIC mode %r is not supported by kvm" % mode)

    async def _release_tap(self, record):
        """Undo what a NIC's mode set up outside its tap (the tap goes with QEMU's fd)."""
        tap = (record or {}).get("tap")
        if not tap:
            return
        try:
            if record.get("mode") == "routed" and record.get("ip"):
                argv = ["ip", "route", "del", record["ip"], "dev", tap]
                if record.get("link"):
                    argv += ["table", record["link"]]
                await self._command(argv, "removing the route of %s" % tap)
            elif record.get("mode") == "openvswitch":
                await self._command(["ovs-vsctl", "--if-exists", "del-port", tap],
                                    "removing %s from Open vSwitch" % tap)
        except HypervisorError:
            pass  # the tap, and what hangs on it, goes away with QEMU's fd anyway
