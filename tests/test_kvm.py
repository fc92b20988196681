"""The kvm hypervisor's parts without a guest: command line, parameters, QMP, state."""

import json
import os
import shutil

from twisted.internet import defer, protocol, reactor
from twisted.internet.interfaces import IFileDescriptorReceiver
from twisted.protocols.basic import LineOnlyReceiver
from twisted.test import proto_helpers
from twisted.trial.unittest import TestCase
from zope.interface import implementer

from ganeti_rapi.engine import defaults
from ganeti_rapi.noded.errors import HypervisorError, InvalidArgument
from ganeti_rapi.noded.hypervisor import kvm, kvm_params, kvm_qmp
from ganeti_rapi.noded.hypervisor.kvm_command import (
    PCI_SLOTS,
    build_command,
    check_hvparams,
    command_layout,
    device_id,
    legacy_layout,
    pci_layout,
)
from ganeti_rapi.noded.runtime import Runtime
from tests.helpers import short_socket_path, sync_runner

FILES = {"pidfile": "/s/i.pid", "qmp": "/c/i.qmp", "serial": "/c/i.serial",
         "serial_log": "/s/i.serial.log"}


DISK_UUIDS = ["11111111-0000-4000-8000-000000000001", "22222222-0000-4000-8000-000000000002"]
NIC_UUID = "33333333-0000-4000-8000-000000000003"


def instance(**hvparams):
    return {"name": "inst1.example.com", "uuid": "0b3a7a2e-8f39-4d0a-a1ab-3d5c1c0fa0a1",
            "hvparams": check_hvparams(hvparams), "network_port": 11000}


class CommandLineTests(TestCase):
    def argv(self, devices=(), taps=(), **hvparams):
        inst = instance(**hvparams)
        return build_command(inst, inst["hvparams"], FILES, list(devices), list(taps),
                             256, 2)

    def test_defaults(self):
        """Ganeti's defaults: KVM if the host has it, serial console, no VNC."""
        argv = self.argv()
        self.assertEqual(argv[0], "/usr/bin/kvm")
        self.assertIn("accel=kvm:tcg", argv)
        self.assertEqual(argv[argv.index("-m") + 1], "256")
        self.assertEqual(argv[argv.index("-smp") + 1], "2")
        self.assertIn("-daemonize", argv)
        self.assertIn("unix:/c/i.qmp,server=on,wait=off", argv)
        self.assertIn("-display", argv)
        self.assertNotIn("-vnc", argv)
        self.assertIn("chardev:serial0", argv)
        self.assertIn("console=ttyS0,38400 root=/dev/vda1 ro",
                      argv[argv.index("-append") + 1])

    def test_tcg_disks_and_boot_order(self):
        """TCG, disks with their modes and cache, boot order without a kernel."""
        argv = self.argv(devices=[["/d/disk0", "rw"], ["/d/x,y", "ro"]], kvm_flag="disabled",
                         kernel_path="", disk_cache="none", machine_version="pc")
        self.assertIn("pc,accel=tcg", argv)
        drives = [argv[i + 1] for i, a in enumerate(argv) if a == "-drive"]
        self.assertEqual(drives[0], "file=/d/disk0,format=raw,if=none,id=hotdisk-0,"
                                    "aio=threads,cache=none")
        self.assertTrue(drives[1].startswith("file=/d/x,,y,"))
        self.assertTrue(drives[1].endswith(",readonly=on"))
        # Paravirtual disks are PCI devices of their own, in the first free slots.
        devices = [argv[i + 1] for i, a in enumerate(argv) if a == "-device"]
        self.assertEqual(devices, ["virtio-blk-pci,drive=hotdisk-0,id=hotdisk-0,addr=0x4",
                                   "virtio-blk-pci,drive=hotdisk-1,id=hotdisk-1,addr=0x5"])
        self.assertEqual(argv[argv.index("-boot") + 1], "c")
        self.assertNotIn("-kernel", argv)

    def test_nics_vnc_and_extra(self):
        """A tap's fd and MAC with id and slot, VNC on the instance's port, kvm_extra last."""
        nic = {"mac": "aa:00:00:11:22:33"}
        argv = self.argv(taps=[("gnt0", 3, nic)], vnc_bind_address="127.0.0.1",
                         serial_console=False, kvm_extra="-bios /x/qboot.rom")
        self.assertIn("tap,id=hotnic-0,fd=3,vhost=off", argv)
        self.assertIn("virtio-net-pci,netdev=hotnic-0,id=hotnic-0,mac=aa:00:00:11:22:33,"
                      "addr=0x4", argv)
        self.assertEqual(argv[argv.index("-vnc") + 1], "127.0.0.1:5100")
        self.assertNotIn("-serial", argv)
        self.assertEqual(argv[-2:], ["-bios", "/x/qboot.rom"])


    def test_device_ids_and_slots(self):
        """Ids come from the devices' uuids; disks take the first PCI slots, then
        NICs; slots handed over (by a migration source) are kept."""
        inst = dict(instance(kvm_flag="disabled"),
                    disks=[{"uuid": DISK_UUIDS[0]}, {"uuid": DISK_UUIDS[1]}])
        nic = {"uuid": NIC_UUID, "mac": "aa:00:00:11:22:33"}
        disks = [["/d/0", "rw"], ["/d/1", "rw"]]
        argv = build_command(inst, inst["hvparams"], FILES, disks, [("gnt0", 3, nic)],
                             256, 1)
        devices = [argv[i + 1] for i, a in enumerate(argv) if a == "-device"]
        self.assertEqual(devices, [
            "virtio-blk-pci,drive=hotdisk-11111111,id=hotdisk-11111111,addr=0x4",
            "virtio-blk-pci,drive=hotdisk-22222222,id=hotdisk-22222222,addr=0x5",
            "virtio-net-pci,netdev=hotnic-33333333,id=hotnic-33333333,mac=aa:00:00:11:22:33,"
            "addr=0x6",
        ])
        self.assertIn("tap,id=hotnic-33333333,fd=3,vhost=off", argv)
        # A migration target keeps the source's slots, whatever the order.
        slots = {"hotdisk-11111111": 9, "hotdisk-22222222": 4, "hotnic-33333333": 7}
        self.assertEqual(command_layout(inst, inst["hvparams"], 2, [nic], slots)[2], slots)
        argv = build_command(inst, inst["hvparams"], FILES, disks, [("gnt0", 3, nic)],
                             256, 1, incoming="tcp:h:1", slots=slots)
        devices = [argv[i + 1] for i, a in enumerate(argv) if a == "-device"]
        self.assertEqual([d.rsplit(",", 1)[1] for d in devices],
                         ["addr=0x9", "addr=0x4", "addr=0x7"])

    def test_devices_without_slots(self):
        """Disks that are not paravirtual keep QEMU's own interfaces, and an ISA
        NIC has no PCI slot; both still have ids."""
        inst = instance(disk_type="ide", nic_type="ne2k_isa")
        argv = build_command(inst, inst["hvparams"], FILES, [["/d/0", "rw"]],
                             [("gnt0", 3, {"uuid": NIC_UUID})], 256, 1)
        self.assertIn("file=/d/0,format=raw,if=ide,index=0,id=hotdisk-0,aio=threads", argv)
        devices = [argv[i + 1] for i, a in enumerate(argv) if a == "-device"]
        self.assertEqual(devices, ["ne2k_isa,netdev=hotnic-33333333,id=hotnic-33333333"])


class LayoutTests(TestCase):
    def test_device_id(self):
        """The first 8 hex digits of the uuid; the index without one."""
        self.assertEqual(device_id("nic", {"uuid": NIC_UUID}, 3), "hotnic-33333333")
        self.assertEqual(device_id("disk", {"uuid": "x"}, 2), "hotdisk-2")

    def test_pci_layout(self):
        """Known slots stay when valid and free; others take the lowest free slot."""
        self.assertEqual(pci_layout(["a", "b", "c"], {"b": 4, "c": 99}, used=[5]),
                         {"b": 4, "a": 6, "c": 7})
        self.assertEqual(pci_layout(["a", "b"], {"a": 6, "b": 6}), {"a": 6, "b": 4})
        self.assertRaises(HypervisorError, pci_layout, ["x"], used=PCI_SLOTS)

    def test_legacy_layout(self):
        """A QEMU started without slots: its storage and network devices in slot order."""
        buses = [{"bus": 0, "devices": [
            {"slot": 0, "class_info": {"class": 0x0600}},
            {"slot": 3, "class_info": {"class": 0x0200}},
            {"slot": 2, "class_info": {"class": 0x0100}},
            {"slot": 4, "class_info": {"class": 0x0100}},
        ]}]
        self.assertEqual(legacy_layout(buses, ["d0", "d1"], ["n0"]),
                         {"d0": 2, "d1": 4, "n0": 3})


class ParameterTests(TestCase):
    def test_defaults_valid(self):
        self.assertEqual(kvm_params.check(defaults.HVPARAMS["kvm"], defaults.HVPARAMS["kvm"]),
                         [])

    def test_errors(self):
        errors = kvm_params.check(
            {"boot_order": "usb", "kvm_path": "kvm", "migration_port": 70000,
             "acpi": "yes", "nosuch": 1}, defaults.HVPARAMS["kvm"])
        self.assertEqual(len(errors), 5, errors)
        self.assertRaises(InvalidArgument, check_hvparams, {"kvm_flag": "maybe"})

    def test_accelerator(self):
        self.assertEqual([kvm_params.accelerator(f) for f in ("", "enabled", "disabled")],
                         ["kvm:tcg", "kvm", "tcg"])


class QMPTests(TestCase):
    def test_exchange(self):
        """Greeting, capabilities, a command, events ignored, errors raised."""
        proto = kvm_qmp.QMPProtocol()
        transport = proto_helpers.StringTransport()
        proto.makeConnection(transport)
        proto.dataReceived(b'{"QMP": {"version": {}}}\r\n')
        self.assertEqual(json.loads(transport.value()), {"execute": "qmp_capabilities"})
        proto.dataReceived(b'{"return": {}}\r\n')
        self.assertTrue(proto.ready.called)
        transport.clear()
        d = proto.execute("query-status")
        proto.dataReceived(b'{"event": "RESET"}\r\n{"return": {"status": "running"}}\r\n')
        self.assertEqual(self.successResultOf(d), {"status": "running"})
        d = proto.execute("cont")
        proto.dataReceived(b'{"error": {"class": "GenericError", "desc": "no"}}\n')
        self.assertIn("no", str(self.failureResultOf(d, kvm_qmp.QMPError).value))
        d = proto.execute("quit")
        proto.connectionLost(None)
        self.successResultOf(d)


class StateTests(TestCase):
    def setUp(self):
        self.dir = os.path.abspath(self.mktemp())
        self.hv = kvm.KvmHypervisor(self.dir, Runtime(run_in_thread=sync_runner))

    def test_long_paths_use_short_socket_dir(self):
        hv = kvm.KvmHypervisor("/" + "x" * 90, Runtime(run_in_thread=sync_runner))
        self.assertLess(len(hv.paths("a" * 60)["serial"]), 108)
        short = kvm.KvmHypervisor("/srv/k", Runtime(run_in_thread=sync_runner))
        self.assertEqual(short.paths("i")["qmp"], "/srv/k/ctrl/i.qmp")

    @defer.inlineCallbacks
    def test_found_again_and_stale_removed(self):
        """A state file counts while its pidfile names a live process started
        with that pidfile; otherwise it is cleaned away."""
        os.makedirs(self.dir)
        paths = self.hv.paths("gone")
        with open(paths["state"], "w") as f:
            json.dump({"memory": 128, "vcpus": 1}, f)
        with open(paths["pidfile"], "w") as f:
            f.write("%d\n" % os.getpid())  # alive, but not a QEMU with this pidfile
        self.assertEqual((yield self.hv.list_instances()), [])
        self.assertFalse(os.path.exists(paths["state"]))
        self.assertIsNone((yield self.hv.instance_info("gone")))
        yield self.assertFailure(self.hv.stop_instance("gone"), HypervisorError)

    def test_console(self):
        inst = dict(instance(), primary_node="node1")
        console = self.hv.get_console(inst)
        self.assertEqual((console["kind"], console["host"], console["user"]),
                         ("ssh", "node1", "root"))
        self.assertEqual(console["command"][-1],
                         "UNIX-CONNECT:" + self.hv.paths(inst["name"])["serial"])
        inst = dict(instance(serial_console=False, vnc_bind_address="0.0.0.0"))
        self.assertEqual(self.hv.get_console(inst)["display"], 5100)


@implementer(IFileDescriptorReceiver)
class FakeQEMU(LineOnlyReceiver):
    """QEMU's side of QMP: a greeting, then answers from the factory's handlers
    (C{{command: f(arguments) -> answer}}, C{{"return": {}}} by default; an
    answer's C{events} are sent before it).  Commands and the file
    descriptors received are logged in the factory."""

    delimiter = b"\n"

    def connectionMade(self):
        self.sendLine(b'{"QMP": {"version": {}, "capabilities": []}}')

    def fileDescriptorReceived(self, fd):
        self.factory.fds.append(fd)

    def lineReceived(self, line):
        message = json.loads(line)
        command, arguments = message["execute"], message.get("arguments") or {}
        self.factory.log.append((command, arguments))
        handler = self.factory.handlers.get(command)
        answer = dict(handler(arguments)) if handler else {"return": {}}
        for event, data in answer.pop("events", []):
            self.sendLine(json.dumps({"event": event, "data": data}).encode())
        self.sendLine(json.dumps(answer).encode())


def pci(*slots):
    """A C{query-pci} answer with devices in C{slots} of bus 0."""
    return {"return": [{"bus": 0, "devices": [
        {"slot": s, "function": 0, "class_info": {"class": 0x0600}} for s in slots]}]}


class QMPSocketTests(TestCase):
    """QMP over a real unix socket: file descriptors and events."""

    def setUp(self):
        self.qemu = protocol.Factory.forProtocol(FakeQEMU)
        self.qemu.log, self.qemu.fds, self.qemu.handlers = [], [], {}
        self.path = short_socket_path(self, "qmp.sock")
        port = reactor.listenUNIX(self.path, self.qemu)
        self.addCleanup(port.stopListening)
        self.addCleanup(lambda: [os.close(fd) for fd in self.qemu.fds])

    @defer.inlineCallbacks
    def test_file_descriptor_sent(self):
        """A command with an fd sends it over the socket (SCM_RIGHTS): QEMU's copy
        writes into the same pipe."""
        read_end, write_end = os.pipe()
        self.addCleanup(os.close, read_end)
        self.addCleanup(os.close, write_end)

        @defer.inlineCallbacks
        def work(session):
            yield session.run("getfd", {"fdname": "tapfd"}, fd=write_end)
            return (yield session.run("query-status"))

        yield defer.Deferred.fromCoroutine(kvm_qmp.qmp_session(reactor, self.path, work))
        self.assertEqual(self.qemu.log, [("qmp_capabilities", {}),
                                         ("getfd", {"fdname": "tapfd"}), ("query-status", {})])
        self.assertEqual(len(self.qemu.fds), 1)
        os.write(self.qemu.fds[0], b"through QEMU's copy")
        self.assertEqual(os.read(read_end, 100), b"through QEMU's copy")

    @defer.inlineCallbacks
    def test_events_kept(self):
        """Events that arrive with an answer are kept for whoever looks for them."""
        self.qemu.handlers["device_del"] = lambda args: {
            "return": {}, "events": [("DEVICE_DELETED", {"path": "/x/virtio-backend"}),
                                     ("DEVICE_DELETED", {"device": args["id"]})]}

        @defer.inlineCallbacks
        def work(session):
            yield session.run("device_del", {"id": "hotnic-1"})
            return (session.protocol.seen_event("DEVICE_DELETED", device="hotnic-1"),
                    session.protocol.seen_event("DEVICE_DELETED", device="hotnic-2"))

        seen = yield defer.Deferred.fromCoroutine(
            kvm_qmp.qmp_session(reactor, self.path, work))
        self.assertEqual(seen, (True, False))

    def test_fd_needs_unix_socket(self):
        """Without a unix socket there is no way to pass a file descriptor."""
        proto = kvm_qmp.QMPProtocol()
        proto.makeConnection(proto_helpers.StringTransport())
        self.failureResultOf(proto.execute("getfd", {"fdname": "x"}, fd=0), HypervisorError)


NAME = "inst1.example.com"
NIC2_UUID = "44444444-0000-4000-8000-000000000004"


class HotplugTests(TestCase):
    """Hot-plug through QMP against a fake QEMU listening on the instance's socket.

    The instance "runs": its state file and pidfile exist and the check of
    the pid is patched to say yes.
    """

    def setUp(self):
        self.dir = os.path.abspath(self.mktemp())
        self.hv = kvm.KvmHypervisor(self.dir, Runtime(run_in_thread=sync_runner))
        self.hv._make_dirs()
        self.addCleanup(shutil.rmtree, self.hv.ctrl_dir, True)
        self.patch(kvm, "_alive", lambda pid, pidfile: True)
        paths = self.hv.paths(NAME)
        with open(paths["pidfile"], "w") as f:
            f.write("%d\n" % os.getpid())
        self.state = {
            "name": NAME, "memory": 128, "vcpus": 1, "taps": ["gnt0"],
            "migration_bandwidth": 32, "migration_downtime": 30, "migration_port": None,
            "incoming": False,
            "devices": {
                "hotdisk-11111111": {"type": "disk", "slot": 4},
                "hotnic-33333333": {"type": "nic", "slot": 5, "tap": "gnt0",
                                    "mode": "bridged", "link": "br0", "ip": None},
            },
        }
        self.hv._write_state(NAME, self.state)
        self.qemu = protocol.Factory.forProtocol(FakeQEMU)
        self.qemu.log, self.qemu.fds, self.qemu.handlers = [], [], {}
        self.qemu.handlers["query-pci"] = lambda args: pci(0, 1, 4, 5)
        port = reactor.listenUNIX(paths["qmp"], self.qemu)
        self.addCleanup(port.stopListening)
        self.addCleanup(lambda: [os.close(fd) for fd in self.qemu.fds])
        self.taps = []

    def instance(self, **hvparams):
        return {"name": NAME, "hypervisor": "kvm", "hvparams": hvparams,
                "disks": [{"uuid": DISK_UUIDS[0]}],
                "nics": [{"uuid": NIC_UUID, "mac": "aa:00:00:00:00:01"}]}

    def commands(self):
        return [c for c, _ in self.qemu.log if c != "qmp_capabilities"]

    def read_state(self):
        with open(self.hv.paths(NAME)["state"]) as f:
            return json.load(f)

    def fake_taps(self):
        """Taps become pipes: QEMU's end is written to, the test reads the other."""
        read_end, write_end = os.pipe()
        self.addCleanup(os.close, read_end)

        def open_taps(nics, vnet_hdr):
            return [("gnt%d" % (7 + i), os.dup(write_end), nic) for i, nic in enumerate(nics)]

        async def connect(taps):
            self.taps.extend(t[0] for t in taps)

        self.hv._open_taps = open_taps
        self.hv._connect_taps = connect
        self.addCleanup(os.close, write_end)
        return read_end

    @defer.inlineCallbacks
    def test_supported(self):
        """Supported while QEMU runs and answers; not for an instance that does not run."""
        self.assertIs((yield self.hv.hotplug_supported(self.instance())), True)
        self.assertEqual(self.commands(), ["query-status"])
        failure = yield self.assertFailure(
            self.hv.hotplug_supported(dict(self.instance(), name="stopped")),
            HypervisorError)
        self.assertIn("not running", str(failure))

    @defer.inlineCallbacks
    def test_add_nic(self):
        """A new tap's fd goes to QEMU with getfd, then netdev_add and device_add
        in the lowest free slot; the state file remembers the NIC."""
        read_end = self.fake_taps()
        nic = {"uuid": NIC2_UUID, "mac": "aa:00:00:00:00:02",
               "nicparams": {"mode": "bridged", "link": "br0"}}
        answer = yield self.hv.hotplug_device(self.instance(), "add", "nic", nic, 1)
        self.assertEqual(answer, {"id": "hotnic-44444444", "slot": 6})
        self.assertEqual(self.qemu.log[1:], [
            ("query-pci", {}),
            ("getfd", {"fdname": "hotnic-44444444"}),
            ("netdev_add", {"type": "tap", "id": "hotnic-44444444", "fd": "hotnic-44444444",
                            "vhost": False}),
            ("device_add", {"driver": "virtio-net-pci", "id": "hotnic-44444444",
                            "netdev": "hotnic-44444444", "addr": "0x6",
                            "mac": "aa:00:00:00:00:02"}),
        ])
        self.assertEqual(self.taps, ["gnt7"])
        self.assertEqual(len(self.qemu.fds), 1)
        os.write(self.qemu.fds[0], b"frame")
        self.assertEqual(os.read(read_end, 10), b"frame")
        state = self.read_state()
        self.assertEqual(state["devices"]["hotnic-44444444"],
                         {"type": "nic", "slot": 6, "tap": "gnt7", "mode": "bridged",
                          "link": "br0", "ip": None})
        self.assertEqual(state["taps"], ["gnt0", "gnt7"])

    @defer.inlineCallbacks
    def test_add_disk(self):
        """blockdev-add of the path and a virtio disk on it; a failing device_add
        takes the block node away again."""
        answer = yield self.hv.hotplug_device(
            self.instance(disk_cache="none"), "add", "disk", {"uuid": DISK_UUIDS[1]}, 1,
            ["/srv/disk1", "ro", "file"])
        self.assertEqual(answer, {"id": "hotdisk-22222222", "slot": 6})
        self.assertEqual(self.qemu.log[2:], [
            ("blockdev-add", {"driver": "raw", "node-name": "hotdisk-22222222",
                              "read-only": True, "cache": {"direct": True},
                              "file": {"driver": "file", "filename": "/srv/disk1",
                                       "aio": "threads"}}),
            ("device_add", {"driver": "virtio-blk-pci", "id": "hotdisk-22222222",
                            "drive": "hotdisk-22222222", "addr": "0x6"}),
        ])
        self.assertEqual(self.read_state()["devices"]["hotdisk-22222222"],
                         {"type": "disk", "slot": 6})

        del self.qemu.log[:]
        self.qemu.handlers["device_add"] = lambda args: {
            "error": {"class": "GenericError", "desc": "slot busy"}}
        d = self.hv.hotplug_device(self.instance(), "add", "disk", {"uuid": NIC2_UUID}, 2,
                                   ["/dev/vg/lv", "rw", "block"])
        failure = yield self.assertFailure(d, kvm_qmp.QMPError)
        self.assertIn("slot busy", str(failure))
        self.assertEqual(self.commands(), ["query-pci", "blockdev-add", "device_add",
                                           "blockdev-del"])
        self.assertEqual(self.qemu.log[2][1]["file"]["driver"], "host_device")
        self.assertNotIn("hotdisk-44444444", self.read_state()["devices"])

    @defer.inlineCallbacks
    def test_remove_waits_for_the_guest(self):
        """device_del, then qom-list until the guest has let the device go, then
        the block node is deleted and the state forgets the disk."""
        listings = [["hotdisk-11111111", "hotnic-33333333"], ["hotnic-33333333"]]
        self.qemu.handlers["qom-list"] = lambda args: {
            "return": [{"name": n, "type": "child<x>"} for n in listings.pop(0)]}
        answer = yield self.hv.hotplug_device(self.instance(), "remove", "disk",
                                              {"uuid": DISK_UUIDS[0]}, 0)
        self.assertEqual(answer, {"id": "hotdisk-11111111"})
        self.assertEqual(self.commands(), ["device_del", "qom-list", "qom-list",
                                           "blockdev-del"])
        self.assertEqual(self.qemu.log[1], ("device_del", {"id": "hotdisk-11111111"}))
        self.assertEqual(list(self.read_state()["devices"]), ["hotnic-33333333"])

    @defer.inlineCallbacks
    def test_unplug_timeout(self):
        """A guest that never releases the device: an error, and the device stays."""
        self.hv.unplug_timeout = 0.5
        self.qemu.handlers["qom-list"] = lambda args: {
            "return": [{"name": "hotdisk-11111111", "type": "child<x>"}]}
        failure = yield self.assertFailure(
            self.hv.hotplug_device(self.instance(), "remove", "disk",
                                   {"uuid": DISK_UUIDS[0]}, 0), HypervisorError)
        self.assertIn("did not release", str(failure))
        self.assertNotIn("blockdev-del", self.commands())
        self.assertIn("hotdisk-11111111", self.read_state()["devices"])

    @defer.inlineCallbacks
    def test_modify_nic(self):
        """A NIC is modified by unplugging it and plugging it in again, with its new
        MAC, in the same slot."""
        self.fake_taps()
        self.qemu.handlers["device_del"] = lambda args: {
            "return": {}, "events": [("DEVICE_DELETED", {"device": args["id"]})]}
        nic = {"uuid": NIC_UUID, "mac": "aa:00:00:00:00:09",
               "nicparams": {"mode": "bridged", "link": "br1"}}
        answer = yield self.hv.hotplug_device(self.instance(), "modify", "nic", nic, 0)
        self.assertEqual(answer, {"id": "hotnic-33333333", "slot": 5})
        self.assertEqual(self.commands(), ["device_del", "netdev_del", "getfd",
                                           "netdev_add", "device_add"])
        self.assertEqual(self.qemu.log[-1][1]["addr"], "0x5")
        self.assertEqual(self.qemu.log[-1][1]["mac"], "aa:00:00:00:00:09")
        state = self.read_state()
        self.assertEqual(state["taps"], ["gnt7"])
        self.assertEqual(state["devices"]["hotnic-33333333"]["link"], "br1")

    @defer.inlineCallbacks
    def test_refused(self):
        """Disks that are not paravirtual, ISA NICs, disk modifications, unknown
        actions and QEMUs started without device ids are refused."""
        for instance, action, dev_type, error in [
            (self.instance(disk_type="ide"), "add", "disk", HypervisorError),
            (self.instance(nic_type="ne2k_isa"), "add", "nic", HypervisorError),
            (self.instance(), "modify", "disk", HypervisorError),
            (self.instance(), "plug", "nic", InvalidArgument),
            (self.instance(), "add", "cpu", InvalidArgument),
        ]:
            self.assertRaises(error, self.hv.hotplug_device, instance, action, dev_type,
                              {"uuid": NIC2_UUID}, 0, ["/d", "rw", "file"])
        del self.state["devices"]
        self.hv._write_state(NAME, self.state)
        failure = yield self.assertFailure(
            self.hv.hotplug_device(self.instance(), "remove", "nic", {"uuid": NIC_UUID}, 0),
            HypervisorError)
        self.assertIn("restart", str(failure))
        self.assertEqual(self.commands(), [])

    @defer.inlineCallbacks
    def test_migration_info_slots(self):
        """The target gets the source's slots; a QEMU started by an older node
        daemon (no devices in its state) is asked for its layout."""
        info = yield self.hv.migration_info(self.instance())
        self.assertEqual(info["kvm_pci"], {"hotdisk-11111111": 4, "hotnic-33333333": 5})
        del self.state["devices"]
        self.hv._write_state(NAME, self.state)
        self.qemu.handlers["query-pci"] = lambda args: {"return": [{"bus": 0, "devices": [
            {"slot": 2, "class_info": {"class": 0x0100}},
            {"slot": 3, "class_info": {"class": 0x0200}}]}]}
        info = yield self.hv.migration_info(self.instance())
        self.assertEqual(info["kvm_pci"], {"hotdisk-11111111": 2, "hotnic-33333333": 3})
        # The instance is still found running with its old state file.
        self.assertEqual((yield self.hv.list_instances()), [NAME])
