"""The kvm hypervisor's parts without a guest: command line, parameters, QMP, state."""

import json
import os

from twisted.internet import defer
from twisted.test import proto_helpers
from twisted.trial.unittest import TestCase

from ganeti_rapi.engine import defaults
from ganeti_rapi.noded.errors import HypervisorError, InvalidArgument
from ganeti_rapi.noded.hypervisor import kvm, kvm_params, kvm_qmp
from ganeti_rapi.noded.runtime import Runtime
from tests.helpers import sync_runner

FILES = {"pidfile": "/s/i.pid", "qmp": "/c/i.qmp", "serial": "/c/i.serial",
         "serial_log": "/s/i.serial.log"}


def instance(**hvparams):
    return {"name": "inst1.example.com", "uuid": "0b3a7a2e-8f39-4d0a-a1ab-3d5c1c0fa0a1",
            "hvparams": kvm.check_hvparams(hvparams), "network_port": 11000}


class CommandLineTests(TestCase):
    def argv(self, devices=(), taps=(), **hvparams):
        inst = instance(**hvparams)
        return kvm.build_command(inst, inst["hvparams"], FILES, list(devices), list(taps),
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
        argv = self.argv(devices=[["/d/disk0", "rw"], ["/d/x,y", "ro"]], kvm_flag="disabled",
                         kernel_path="", disk_cache="none", machine_version="pc")
        self.assertIn("pc,accel=tcg", argv)
        drives = [argv[i + 1] for i, a in enumerate(argv) if a == "-drive"]
        self.assertEqual(drives[0], "file=/d/disk0,format=raw,if=virtio,index=0,id=disk0,"
                                    "aio=threads,cache=none")
        self.assertTrue(drives[1].startswith("file=/d/x,,y,"))
        self.assertTrue(drives[1].endswith(",readonly=on"))
        self.assertEqual(argv[argv.index("-boot") + 1], "c")
        self.assertNotIn("-kernel", argv)

    def test_nics_vnc_and_extra(self):
        nic = {"mac": "aa:00:00:11:22:33"}
        argv = self.argv(taps=[("gnt0", 3, nic)], vnc_bind_address="127.0.0.1",
                         serial_console=False, kvm_extra="-bios /x/qboot.rom")
        self.assertIn("tap,id=nic0,fd=3,vhost=off", argv)
        self.assertIn("virtio-net-pci,netdev=nic0,mac=aa:00:00:11:22:33", argv)
        self.assertEqual(argv[argv.index("-vnc") + 1], "127.0.0.1:5100")
        self.assertNotIn("-serial", argv)
        self.assertEqual(argv[-2:], ["-bios", "/x/qboot.rom"])


class ParameterTests(TestCase):
    def test_defaults_valid(self):
        self.assertEqual(kvm_params.check(defaults.HVPARAMS["kvm"], defaults.HVPARAMS["kvm"]),
                         [])

    def test_errors(self):
        errors = kvm_params.check(
            {"boot_order": "usb", "kvm_path": "kvm", "migration_port": 70000,
             "acpi": "yes", "nosuch": 1}, defaults.HVPARAMS["kvm"])
        self.assertEqual(len(errors), 5, errors)
        self.assertRaises(InvalidArgument, kvm.check_hvparams, {"kvm_flag": "maybe"})

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
