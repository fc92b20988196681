# -*- test-case-name: tests.test_kvm -*-
"""The C{kvm} hypervisor: instances are QEMU processes controlled over QMP.

Every running instance is a daemonised QEMU (C{-daemonize}, a pidfile)
with a QMP socket and, if C{serial_console} is on, its first serial port
on a unix socket whose output is also appended to a log file.  What the
node knows of it is a JSON state file, C{<state-dir>/<name>.json}: QEMU's
pidfile, sockets, memory, vCPUs and the parameters migration needs.  The
state lives in files only, so a restarted node daemon finds its running
instances again; an instance runs while the pid in its pidfile is a live
process whose command line names that pidfile (two node daemons on one
machine never mistake each other's QEMU for their own).

Sockets go to C{<state-dir>/ctrl/} unless that path is too long for a unix
socket, then to a directory of the temporary directory named after a hash
of the state directory.

Start builds QEMU's command line from C{hvparams} (see
L{build_command}); NICs are tap devices opened here and handed to QEMU as
file descriptors, added to their bridge (mode C{bridged}), routed to
(C{routed}) or added to an Open vSwitch (C{openvswitch}); a tap goes away
with its QEMU.  Stop asks the guest to power off (ACPI C{system_powerdown})
and, after the timeout, makes QEMU C{quit} and then kills it.  Migration:
the source's C{migration_info} chooses the port (C{migration_port}, or a
free one if that is 0), the target starts QEMU with C{-incoming}, the
source sends the memory with QMP C{migrate} and the master polls
C{query-migrate}; the target is resumed and the source quits once the
master finalizes.

Every NIC and disk has a QEMU id derived from its uuid (L{device_id}:
C{hotnic-<8 hex digits>}, C{hotdisk-...}) and, when it is a PCI device
(paravirtual disks, every NIC model but C{ne2k_isa}), an explicit slot of
the first PCI bus (L{PCI_SLOTS}), remembered in the state file's
C{devices}.  NICs and paravirtual disks can be hot-plugged into a running
instance and unplugged again (L{KvmHypervisor.hotplug_device}): a NIC is a
new tap passed to QEMU with QMP C{getfd}, then C{netdev_add} and
C{device_add}; a disk is C{blockdev-add} and C{device_add}; removal is
C{device_del}, a bounded wait until the guest has released the device,
then C{netdev_del} or C{blockdev-del}.  A NIC is modified by unplugging it
and plugging it in again in the same slot.  A migration hands the source's
slots to the target (C{kvm_pci} in L{KvmHypervisor.migration_info}'s
result), which starts QEMU with an identical device layout, hot-plugged
devices included (they are in the instance's configuration by then).

Nothing here blocks the reactor: file-system work runs through
C{runtime.in_thread}, commands through C{runtime.run}, QMP through
Twisted protocols (L{kvm_qmp}).
"""

import fcntl
import hashlib
import json
import os
import shlex
import shutil
import signal
import socket
import struct
import tempfile
import uuid as uuidlib

from twisted.internet import defer, task

from ganeti_rapi.engine import defaults as engine_defaults
from ganeti_rapi.noded import nodeinfo, validation
from ganeti_rapi.noded.errors import HypervisorError, InvalidArgument
from ganeti_rapi.noded.hypervisor import base, kvm_params
from ganeti_rapi.noded.hypervisor.kvm_qmp import QMPError, qmp_commands, qmp_session

#: The kvm parameters and their defaults (Ganeti's).
DEFAULTS = engine_defaults.HVPARAMS["kvm"]

#: Seconds QEMU may take to initialise and daemonise.
START_TIMEOUT = 120.0

#: Seconds between looks at a QEMU that should end.
POLL_INTERVAL = 0.25

#: Seconds between QMP C{quit} and SIGKILL in a hard stop.
QUIT_GRACE = 5.0

#: Longest unix socket path the kernel takes, less room for the name.
_SOCKET_PATH_MAX = 100

#: QEMU's block interface per C{disk_type}.
DISK_INTERFACES = {"paravirtual": "virtio", "ide": "ide", "scsi": "scsi", "sd": "sd",
                   "mtd": "mtd", "pflash": "pflash"}

#: QEMU's NIC model per C{nic_type}.
NIC_MODELS = {"paravirtual": "virtio-net-pci", "rtl8139": "rtl8139",
              "ne2k_pci": "ne2k_pci", "ne2k_isa": "ne2k_isa", "i82551": "i82551",
              "i82557b": "i82557b", "i82559er": "i82559er", "pcnet": "pcnet",
              "e1000": "e1000"}

#: C{-boot} letters per C{boot_order}.
BOOT_LETTERS = {"floppy": "a", "cdrom": "d", "disk": "c", "network": "n"}

#: The console command Ganeti gives clients of a serial console.
SOCAT = "/usr/bin/socat"

#: The first file descriptor handed to QEMU for taps.
_FIRST_TAP_FD = 3

#: Slots of the first PCI bus given to NICs and disks: 0 and 1 are the
#: host and ISA bridges, 2 and 3 stay free for what QEMU places itself
#: (the VGA card, devices of C{kvm_extra}), and 31 is q35's LPC bridge.
PCI_SLOTS = range(4, 31)

#: Seconds the guest may take to release a device being unplugged.
UNPLUG_TIMEOUT = 60.0

#: Hot-plug actions and device types (Ganeti's names).
HOTPLUG_ACTIONS = ("add", "remove", "modify")
HOTPLUG_TARGETS = ("nic", "disk")

# linux/if_tun.h
_TUNSETIFF = 0x400454CA
_IFF_TAP = 0x0002
_IFF_NO_PI = 0x1000
_IFF_VNET_HDR = 0x4000

_SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def check_hvparams(hvparams):
    """The kvm parameters of an instance, checked; L{InvalidArgument} if wrong."""
    if not isinstance(hvparams, dict):
        raise InvalidArgument("hvparams must be an object")
    known = {k: v for k, v in hvparams.items() if k in DEFAULTS}
    errors = kvm_params.check(known, DEFAULTS)
    if errors:
        raise InvalidArgument("; ".join(errors))
    return dict(DEFAULTS, **known)


def _escape(value):
    """A value inside a QEMU option list (commas doubled)."""
    return str(value).replace(",", ",,")


def device_id(kind, device, index):
    """QEMU's id of NIC or disk C{device}: C{hot<kind>-<first 8 hex of its uuid>}.

    A device without a uuid is named after its position C{index}.
    """
    try:
        return "hot%s-%s" % (kind, uuidlib.UUID(str(device.get("uuid"))).hex[:8])
    except ValueError:
        return "hot%s-%d" % (kind, index)


def pci_capable(kind, hv):
    """Whether QEMU makes NICs or disks (C{kind}) PCI devices under C{hv}."""
    if kind == "disk":
        return hv["disk_type"] == "paravirtual"
    return hv["nic_type"] != "ne2k_isa"


def pci_layout(ids, known=None, used=()):
    """C{{id: slot}} for the PCI devices C{ids}, in order.

    A slot in C{known} is kept if it is one of L{PCI_SLOTS} and still free;
    other devices get the lowest free slot.  C{used}: slots taken already.
    """
    known = known if isinstance(known, dict) else {}
    taken = set(used)
    layout = {}
    for name in ids:
        slot = known.get(name)
        if isinstance(slot, int) and slot in PCI_SLOTS and slot not in taken:
            layout[name] = slot
            taken.add(slot)
    for name in ids:
        if name in layout:
            continue
        free = [slot for slot in PCI_SLOTS if slot not in taken]
        if not free:
            raise HypervisorError("no free PCI slot left for device %s" % name)
        layout[name] = free[0]
        taken.add(free[0])
    return layout


def command_layout(instance, hv, disk_count, nics, slots=None):
    """The ids and PCI slots of an instance's disks and NICs at start.

    @param disk_count: how many disks QEMU gets (C{instance["disks"]}
        names them when it has them).
    @param nics: the NIC dicts, in order.
    @param slots: C{{id: slot}} to keep (a migration source's).
    @return: C{(disk ids, nic ids, {id: slot} of the PCI devices)}.
    """
    disks = instance.get("disks") or []
    disk_ids = [device_id("disk", disks[i] if i < len(disks) else {}, i)
                for i in range(disk_count)]
    nic_ids = [device_id("nic", nic, i) for i, nic in enumerate(nics)]
    pci = ((disk_ids if pci_capable("disk", hv) else [])
           + (nic_ids if pci_capable("nic", hv) else []))
    return disk_ids, nic_ids, pci_layout(pci, slots)


def build_command(instance, hvparams, files, block_devices, taps, memory, vcpus,
                  paused=False, incoming=None, slots=None):
    """QEMU's command line for C{instance} (a list of strings).

    @param files: C{{"pidfile", "qmp", "serial", "serial_log"}} paths.
    @param block_devices: C{[[path, mode], ...]}.
    @param taps: C{[(tap name, fd in QEMU, nic dict), ...]}.
    @param incoming: QEMU's C{-incoming} URI, for a migration target.
    @param slots: C{{device id: PCI slot}} to keep (see L{command_layout}).
    """
    hv = hvparams
    name = instance["name"]
    disk_ids, nic_ids, layout = command_layout(
        instance, hv, len(block_devices), [nic for _, _, nic in taps], slots)
    machine = []
    if hv["machine_version"]:
        machine.append(hv["machine_version"])
    machine.append("accel=" + kvm_params.accelerator(hv["kvm_flag"]))
    if not hv["acpi"]:
        machine.append("acpi=off")
    argv = [
        hv["kvm_path"], "-name", name,
        "-pidfile", files["pidfile"], "-daemonize",
        "-nodefaults", "-no-user-config",
        "-machine", ",".join(machine),
        "-m", str(memory),
        "-qmp", "unix:%s,server=on,wait=off" % _escape(files["qmp"]),
    ]
    smp = [str(vcpus)]
    for key, option in (("cpu_sockets", "sockets"), ("cpu_cores", "cores"),
                        ("cpu_threads", "threads")):
        if hv[key]:
            smp.append("%s=%d" % (option, hv[key]))
    argv += ["-smp", ",".join(smp)]
    try:
        argv += ["-uuid", str(uuidlib.UUID(str(instance.get("uuid"))))]
    except ValueError:
        pass
    if hv["cpu_type"]:
        argv += ["-cpu", hv["cpu_type"]]
    if hv["mem_path"]:
        argv += ["-mem-path", hv["mem_path"]]
    if hv["use_localtime"]:
        argv += ["-rtc", "base=localtime"]
    if hv["reboot_behavior"] == "exit":
        argv.append("-no-reboot")
    interface = DISK_INTERFACES[hv["disk_type"]]
    for index, ((path, mode), disk) in enumerate(zip(block_devices, disk_ids)):
        drive = ["file=" + _escape(path), "format=raw"]
        if disk in layout:
            # A PCI device of its own, in its slot, as hot-plugged disks are.
            drive += ["if=none", "id=" + disk]
        else:
            drive += ["if=" + interface, "index=%d" % index, "id=" + disk]
        drive.append("aio=" + hv["disk_aio"])
        if hv["disk_cache"] != "default":
            drive.append("cache=" + hv["disk_cache"])
        if mode == "ro":
            drive.append("readonly=on")
        argv += ["-drive", ",".join(drive)]
        if disk in layout:
            argv += ["-device", "virtio-blk-pci,drive=%s,id=%s,addr=0x%x"
                     % (disk, disk, layout[disk])]
    model = NIC_MODELS[hv["nic_type"]]
    for (tap, fd, nic), nic_id in zip(taps, nic_ids):
        netdev = ["tap", "id=" + nic_id, "fd=%d" % fd,
                  "vhost=" + ("on" if hv["vhost_net"] else "off")]
        device = [model, "netdev=" + nic_id, "id=" + nic_id]
        if nic.get("mac"):
            device.append("mac=" + nic["mac"])
        if nic_id in layout:
            device.append("addr=0x%x" % layout[nic_id])
        argv += ["-netdev", ",".join(netdev), "-device", ",".join(device)]
    append = []
    if hv["serial_console"]:
        argv += [
            "-chardev", "socket,id=serial0,path=%s,server=on,wait=off,logfile=%s,logappend=on"
            % (_escape(files["serial"]), _escape(files["serial_log"])),
            "-serial", "chardev:serial0",
        ]
        append.append("console=ttyS0,%d" % hv["serial_speed"])
    if hv["kernel_path"]:
        argv += ["-kernel", hv["kernel_path"]]
        if hv["initrd_path"]:
            argv += ["-initrd", hv["initrd_path"]]
        if hv["root_path"]:
            append.append("root=" + hv["root_path"])
        if hv["kernel_args"]:
            append.append(hv["kernel_args"])
        argv += ["-append", " ".join(append)]
    else:
        argv += ["-boot", BOOT_LETTERS[hv["boot_order"]]]
    if hv["cdrom_image_path"]:
        argv += ["-drive", "file=%s,media=cdrom,readonly=on,if=ide,index=2"
                 % _escape(hv["cdrom_image_path"])]
    if hv["vnc_bind_address"] and instance.get("network_port"):
        display = int(instance["network_port"]) - 5900
        argv += ["-vnc", "%s:%d" % (hv["vnc_bind_address"], max(display, 0)),
                 "-vga", hv["vga"] or "std"]
        if hv["keymap"]:
            argv += ["-k", hv["keymap"]]
    else:
        argv += ["-display", "none"]
    if paused:
        argv.append("-S")
    if incoming:
        argv += ["-incoming", incoming]
    if hv["kvm_extra"]:
        argv += shlex.split(hv["kvm_extra"])
    return argv


def legacy_layout(buses, disk_ids, nic_ids):
    """C{{id: slot}} of a QEMU started without explicit slots (by an older
    node daemon): its disks and NICs were placed in order, so the PCI
    storage and network devices of C{query-pci}, in slot order, are they."""
    devices = next((bus.get("devices") or [] for bus in buses or []
                    if isinstance(bus, dict) and bus.get("bus") == 0), [])

    def slots(pci_class):
        return sorted(d["slot"] for d in devices
                      if isinstance(d, dict) and isinstance(d.get("slot"), int)
                      and (d.get("class_info") or {}).get("class") == pci_class)

    layout = dict(zip(disk_ids, slots(0x0100)))
    layout.update(zip(nic_ids, slots(0x0200)))
    return layout


def _slots_in_use(buses):
    """The slots of the first PCI bus that C{query-pci} says are taken."""
    return {d["slot"] for bus in buses or [] if isinstance(bus, dict) and bus.get("bus") == 0
            for d in bus.get("devices") or []
            if isinstance(d, dict) and isinstance(d.get("slot"), int)}


def _nic_record(nic, tap):
    """What the state file keeps of a NIC: its tap and what was set up for it."""
    params = nic.get("nicparams") or {}
    return {"type": "nic", "tap": tap, "mode": params.get("mode") or "bridged",
            "link": params.get("link") or "", "ip": nic.get("ip")}


def _alive(pid, pidfile):
    """Whether C{pid} is a live QEMU started with C{pidfile}."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            args = f.read().split(b"\0")
        with open("/proc/%d/stat" % pid, "rb") as f:
            stat = f.read()
    except OSError:
        return False
    state = stat.rsplit(b")", 1)[-1].split()[:1]
    if state == [b"Z"]:
        return False
    return pidfile.encode() in args


def _set_proxy_arp(tap):
    """Turn on proxy ARP on tap device C{tap} (blocking)."""
    path = "/proc/sys/net/ipv4/conf/%s/proxy_arp" % tap
    try:
        with open(path, "w", encoding="ascii") as f:
            f.write("1\n")
    except OSError as e:
        raise HypervisorError("cannot turn on proxy ARP on %s: %s" % (tap, e)) from None


def _free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class KvmHypervisor(base.BaseHypervisor):
    """The kvm hypervisor of one node.

    @param state_dir: the directory of state files (made when needed).
    @param runtime: a L{ganeti_rapi.noded.runtime.Runtime}.
    @param storage: a L{ganeti_rapi.noded.storage.Storage}, to find disks
        (a migration target resolves them itself).
    @param files: a L{nodeinfo.HostFiles}.
    @param ssh_port: the port of the console's C{ssh} kind.
    """

    name = "kvm"
    needs_block_devices = True

    def __init__(self, state_dir, runtime, storage=None, files=None, ssh_port=22):
        self.state_dir = os.path.abspath(state_dir)
        self.runtime = runtime
        self.storage = storage
        self.files = files or nodeinfo.HostFiles()
        self.ssh_port = ssh_port
        ctrl = os.path.join(self.state_dir, "ctrl")
        if len(ctrl) + 1 + 64 + len(".serial") > _SOCKET_PATH_MAX:
            digest = hashlib.sha256(self.state_dir.encode()).hexdigest()[:16]
            ctrl = os.path.join(tempfile.gettempdir(), "ganeti-rapi-kvm-" + digest)
        self.ctrl_dir = ctrl
        self._locks = {}
        self.unplug_timeout = UNPLUG_TIMEOUT

    # -- paths and state (blocking; in threads) ---------------------------

    def paths(self, name):
        validation.instance_name(name)
        return {
            "state": os.path.join(self.state_dir, name + ".json"),
            "pidfile": os.path.join(self.state_dir, name + ".pid"),
            "serial_log": os.path.join(self.state_dir, name + ".serial.log"),
            "qmp": os.path.join(self.ctrl_dir, name + ".qmp"),
            "serial": os.path.join(self.ctrl_dir, name + ".serial"),
        }

    def _make_dirs(self):
        os.makedirs(self.state_dir, mode=0o750, exist_ok=True)
        os.makedirs(self.ctrl_dir, mode=0o700, exist_ok=True)
        if os.stat(self.ctrl_dir).st_uid != os.getuid():
            raise HypervisorError("control directory %s belongs to another user"
                                  % self.ctrl_dir)

    def _read_state(self, name):
        """The state of a running instance, or L{None} (stale state is removed)."""
        paths = self.paths(name)
        try:
            with open(paths["state"], encoding="utf-8") as f:
                state = json.load(f)
        except (OSError, ValueError):
            return None
        pid = self._read_pid(paths["pidfile"])
        if pid is None or not _alive(pid, paths["pidfile"]):
            self._cleanup(name)
            return None
        state["pid"] = pid
        return state

    def _read_pid(self, path):
        try:
            with open(path, encoding="ascii") as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def _write_state(self, name, state):
        path = self.paths(name)["state"]
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.state_dir)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(state, f, sort_keys=True)
        os.replace(tmp, path)

    def _cleanup(self, name):
        """Remove every file of an instance that no longer runs."""
        paths = self.paths(name)
        for key in ("state", "pidfile", "serial_log", "qmp", "serial"):
            try:
                os.unlink(paths[key])
            except FileNotFoundError:
                pass

    def _names(self):
        try:
            entries = list(os.scandir(self.state_dir))
        except FileNotFoundError:
            return []
        names = []
        for entry in entries:
            if entry.name.endswith(".json") and not entry.name.startswith("."):
                name = entry.name[:-len(".json")]
                if validation.INSTANCE_NAME.fullmatch(name) and self._read_state(name):
                    names.append(name)
        return sorted(names)

    def _info(self, name):
        state = self._read_state(name)
        if state is None:
            return None
        return {
            "name": name,
            "id": state["pid"],
            "memory": state["memory"],
            "vcpus": state["vcpus"],
            "state": "running",
            "time": _cpu_seconds(state["pid"]),
        }

    def _all(self):
        result = {}
        for name in self._names():
            info = self._info(name)
            if info is not None:
                result[name] = info
        return result

    def _node_info(self):
        meminfo = nodeinfo.read_meminfo(self.files.meminfo)
        total, available = nodeinfo.memory_mib(meminfo)
        used = sum(i["memory"] for i in self._all().values())
        cpus = os.cpu_count() or 1
        return {
            "memory_total": total,
            "memory_free": available,
            "memory_dom0": max(0, total - available - used),
            "memory_instances": used,
            "cpu_total": cpus,
            "cpu_dom0": cpus,
            "cpu_nodes": 1,
            "cpu_sockets": 1,
        }

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

    # -- helpers ----------------------------------------------------------

    def _call(self, f, *args):
        return self.runtime.in_thread(f, *args)

    def _lock(self, name):
        lock = self._locks.get(name)
        if lock is None:
            lock = self._locks[name] = defer.DeferredLock()
        return lock

    async def _qmp(self, name, *commands):
        """Run QMP commands on instance C{name}, one client at a time."""
        path = self.paths(name)["qmp"]
        lock = self._lock(name)
        await lock.acquire()
        try:
            return await qmp_commands(self.runtime.reactor, path, list(commands))
        finally:
            lock.release()

    async def _qmp_session(self, name, work):
        """C{await work(session)} on one QMP connection to instance C{name}."""
        path = self.paths(name)["qmp"]
        lock = self._lock(name)
        await lock.acquire()
        try:
            return await qmp_session(self.runtime.reactor, path, work)
        finally:
            lock.release()

    async def _running_state(self, name):
        state = await self._call(self._read_state, name)
        if state is None:
            raise base.not_running(name)
        return state

    async def _command(self, argv, what, timeout=60.0, child_fds=None):
        found = shutil.which(argv[0], path=_SBIN_PATH)
        if found is None:
            raise HypervisorError("%s: this node has no %s" % (what, argv[0]))
        argv = [found] + list(argv[1:])
        result = await self.runtime.run(argv, env={"PATH": _SBIN_PATH},
                                        timeout=timeout, child_fds=child_fds)
        if not result.succeeded:
            raise HypervisorError("%s: %s failed (%s): %s" % (
                what, argv[0], result.describe(timeout), result.output_text()))
        return result

    def _disk_paths(self, instance):
        if self.storage is None:
            raise HypervisorError("this node cannot find the disks of instance %s"
                                  % instance["name"])
        devices = []
        for disk in instance["disks"]:
            path, _ = self.storage.disk_device(disk)
            devices.append([path, disk.get("mode") or "rw"])
        return devices

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
                if shutil.which("ovs-vsctl", path=_SBIN_PATH) is None:
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

    async def _start(self, instance, block_devices, paused, incoming=None,
                     migration_port=None, slots=None):
        name = instance["name"]
        hv = check_hvparams(instance["hvparams"])
        if await self._call(self._read_state, name) is not None:
            raise base.already_running(name)
        paths = self.paths(name)
        await self._call(self._make_dirs)
        await self._call(self._cleanup, name)
        memory = validation.int_param(instance["beparams"], "maxmem", 128, 1)
        vcpus = validation.int_param(instance["beparams"], "vcpus", 1, 1)
        taps = await self._call(self._open_taps, instance.get("nics") or [], hv["vnet_hdr"])
        try:
            tap_fds = [(tap, _FIRST_TAP_FD + i, nic) for i, (tap, _, nic) in enumerate(taps)]
            disk_ids, nic_ids, layout = command_layout(
                instance, hv, len(block_devices), [nic for _, _, nic in taps], slots)
            argv = build_command(instance, hv, paths, block_devices, tap_fds, memory,
                                 vcpus, paused, incoming, layout)
            child_fds = {0: "w", 1: "r", 2: "r"}
            for i, (_, fd, _) in enumerate(taps):
                child_fds[_FIRST_TAP_FD + i] = fd
            if taps:
                await self._connect_taps(taps)
            result = await self.runtime.run(argv, env={"PATH": _SBIN_PATH},
                                            timeout=START_TIMEOUT, child_fds=child_fds)
        finally:
            for _, fd, _ in taps:
                os.close(fd)
        if not result.succeeded:
            await self._call(self._cleanup, name)
            raise HypervisorError("could not start instance %s: QEMU %s: %s" % (
                name, result.describe(START_TIMEOUT), result.output_text()))
        devices = {disk: {"type": "disk", "slot": layout.get(disk)} for disk in disk_ids}
        for nic_id, (tap, _, nic) in zip(nic_ids, taps):
            devices[nic_id] = dict(_nic_record(nic, tap), slot=layout.get(nic_id))
        state = {
            "name": name,
            "memory": memory,
            "vcpus": vcpus,
            "taps": [t[0] for t in taps],
            "devices": devices,
            "migration_bandwidth": hv["migration_bandwidth"],
            "migration_downtime": hv["migration_downtime"],
            "migration_port": migration_port,
            "incoming": bool(incoming),
        }
        await self._call(self._write_state, name, state)
        if await self._call(self._read_state, name) is None:
            raise HypervisorError("instance %s: QEMU exited right after starting" % name)

    async def _wait_gone(self, name, pid, timeout):
        """Whether QEMU C{pid} of instance C{name} ended within C{timeout}."""
        pidfile = self.paths(name)["pidfile"]
        reactor = self.runtime.reactor
        waited = 0.0
        while _alive(pid, pidfile):
            if waited >= timeout:
                return False
            await task.deferLater(reactor, POLL_INTERVAL, lambda: None)
            waited += POLL_INTERVAL
        return True

    async def _hard_stop(self, name, pid):
        try:
            await self._qmp(name, ("quit", None))
        except HypervisorError:
            pass
        if not await self._wait_gone(name, pid, QUIT_GRACE):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await self._wait_gone(name, pid, QUIT_GRACE)
        await self._call(self._cleanup, name)

    # -- hot-plug -----------------------------------------------------------

    async def _slots(self, name, instance, hv, state):
        """C{{device id: PCI slot}} of a running instance, for a migration target."""
        devices = state.get("devices")
        if isinstance(devices, dict):
            return {key: record["slot"] for key, record in devices.items()
                    if isinstance(record, dict) and isinstance(record.get("slot"), int)}
        (buses,) = await self._qmp(name, ("query-pci", None))
        disk_ids, nic_ids, _ = command_layout(instance, hv, len(instance["disks"]),
                                              instance["nics"])
        return legacy_layout(buses, disk_ids if pci_capable("disk", hv) else [],
                             nic_ids if pci_capable("nic", hv) else [])

    async def _unplug(self, session, device):
        """C{device_del}, then wait until the guest released C{device}.

        @return: False if QEMU had no such device.
        """
        error = await session.try_run("device_del", {"id": device})
        if isinstance(error, QMPError) and error.error.get("class") == "DeviceNotFound":
            return False
        if error is not None:
            raise error
        reactor = self.runtime.reactor
        waited = 0.0
        while not session.protocol.seen_event("DEVICE_DELETED", device=device):
            entries = await session.run("qom-list", {"path": "/machine/peripheral"})
            if device not in {e.get("name") for e in entries or [] if isinstance(e, dict)}:
                break
            if waited >= self.unplug_timeout:
                raise HypervisorError(
                    "the guest did not release device %s within %g seconds (does it"
                    " handle ACPI PCI hot-unplug?)" % (device, self.unplug_timeout))
            await task.deferLater(reactor, POLL_INTERVAL, lambda: None)
            waited += POLL_INTERVAL
        return True

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

    async def _plug_nic(self, session, hv, device, nic, slot):
        """A new tap for C{nic}, handed to QEMU and plugged in as C{device}."""
        ((tap, fd, _),) = taps = await self._call(self._open_taps, [nic], hv["vnet_hdr"])
        record = dict(_nic_record(nic, tap), slot=slot)
        try:
            await self._connect_taps(taps)
            await session.run("getfd", {"fdname": device}, fd=fd)
            try:
                await session.run("netdev_add", {"type": "tap", "id": device, "fd": device,
                                                 "vhost": bool(hv["vhost_net"])})
            except HypervisorError:
                await session.try_run("closefd", {"fdname": device})
                raise
            arguments = {"driver": NIC_MODELS[hv["nic_type"]], "id": device,
                         "netdev": device, "addr": "0x%x" % slot}
            if nic.get("mac"):
                arguments["mac"] = nic["mac"]
            try:
                await session.run("device_add", arguments)
            except HypervisorError:
                await session.try_run("netdev_del", {"id": device})
                raise
        except HypervisorError:
            await self._release_tap(record)
            raise
        finally:
            os.close(fd)
        return record

    async def _plug_disk(self, session, hv, device, block_device, slot):
        """C{blockdev-add} of a disk's path and a virtio disk C{device} on it."""
        path, mode, backend = block_device
        node = {"driver": "raw", "node-name": device, "read-only": mode == "ro",
                "file": {"driver": "host_device" if backend == "block" else "file",
                         "filename": path, "aio": hv["disk_aio"]}}
        if hv["disk_cache"] == "none":
            node["cache"] = {"direct": True}
        await session.run("blockdev-add", node)
        arguments = {"driver": "virtio-blk-pci", "id": device, "drive": device,
                     "addr": "0x%x" % slot}
        if hv["disk_cache"] == "writethrough":
            arguments["write-cache"] = "off"
        try:
            await session.run("device_add", arguments)
        except HypervisorError:
            await session.try_run("blockdev-del", {"node-name": device})
            raise
        return {"type": "disk", "slot": slot}

    def hotplug_supported(self, instance):
        """True while the instance's QEMU runs and answers on its QMP socket."""
        instance = validation.instance_dict(instance)
        name = instance["name"]

        async def supported():
            await self._running_state(name)
            await self._qmp(name, ("query-status", None))
            return True

        return defer.Deferred.fromCoroutine(supported())

    def hotplug_device(self, instance, action, dev_type, device, seq=None,
                       block_device=None):
        """Add, remove or modify (NICs: remove, then add in the same slot) a device.

        @param block_device: C{[path, mode, backend]} of a disk to add
            (backend C{block} for a block device, else a file).
        @return: C{{"id": QEMU's device id, "slot": its PCI slot}}.
        """
        instance = validation.instance_dict(instance)
        name = instance["name"]
        if action not in HOTPLUG_ACTIONS or dev_type not in HOTPLUG_TARGETS:
            raise InvalidArgument("hot-plug action must be one of %s and device type one"
                                  " of %s" % (", ".join(HOTPLUG_ACTIONS),
                                              ", ".join(HOTPLUG_TARGETS)))
        if not isinstance(device, dict):
            raise InvalidArgument("device must be a JSON object")
        hv = check_hvparams(instance["hvparams"])
        index = seq if isinstance(seq, int) and not isinstance(seq, bool) else 0
        key = device_id(dev_type, device, index)
        if dev_type == "disk":
            if action == "modify":
                raise HypervisorError("disks are hot-plugged and unplugged, not modified")
            if not pci_capable("disk", hv):
                raise HypervisorError("only paravirtual disks can be hot-plugged (disk_type"
                                      " is %s)" % hv["disk_type"])
            if action == "add" and (not isinstance(block_device, (list, tuple))
                                    or len(block_device) != 3):
                raise InvalidArgument("a disk to add needs its block device")
        elif not pci_capable("nic", hv):
            raise HypervisorError("NICs of type %s cannot be hot-plugged" % hv["nic_type"])

        async def work(session, state):
            devices = state["devices"]
            slot = None
            if action != "add":
                record = devices.get(key)
                await self._unplug(session, key)
                devices.pop(key, None)
                if dev_type == "nic":
                    await self._release_tap(record)
                    await session.try_run("netdev_del", {"id": key})
                    if record and record.get("tap") in state.get("taps", []):
                        state["taps"].remove(record["tap"])
                else:
                    # Disks from the command line went with their device already.
                    await session.try_run("blockdev-del", {"node-name": key})
                if action == "remove":
                    return {"id": key}
                slot = (record or {}).get("slot")
            elif key in devices:
                raise HypervisorError("instance %s has a device %s already" % (name, key))
            if slot is None:
                buses = await session.run("query-pci")
                used = _slots_in_use(buses) | {r.get("slot") for r in devices.values()
                                               if isinstance(r, dict)}
                slot = pci_layout([key], used=used)[key]
            if dev_type == "nic":
                devices[key] = await self._plug_nic(session, hv, key, device, slot)
                state.setdefault("taps", []).append(devices[key]["tap"])
            else:
                devices[key] = await self._plug_disk(session, hv, key, list(block_device),
                                                     slot)
            return {"id": key, "slot": slot}

        async def hotplug():
            state = await self._running_state(name)
            state.pop("pid", None)
            if not isinstance(state.get("devices"), dict):
                raise HypervisorError("instance %s was started by an older node daemon"
                                      " without device ids; restart it to hot-plug" % name)
            try:
                return await self._qmp_session(name, lambda session: work(session, state))
            finally:
                await self._call(self._write_state, name, state)

        return defer.Deferred.fromCoroutine(hotplug())

    # -- the interface ----------------------------------------------------

    def list_instances(self):
        return self._call(self._names)

    def instance_info(self, name):
        validation.instance_name(name)
        return self._call(self._info, name)

    def all_instances_info(self):
        return self._call(self._all)

    def start_instance(self, instance, block_devices=(), startup_paused=False):
        instance = validation.instance_dict(instance)
        return defer.Deferred.fromCoroutine(
            self._start(instance, [list(d) for d in block_devices], bool(startup_paused)))

    def stop_instance(self, name, force=False, timeout=None):
        validation.instance_name(name)

        async def stop():
            state = await self._running_state(name)
            pid = state["pid"]
            if not force:
                try:
                    await self._qmp(name, ("system_powerdown", None))
                except HypervisorError:
                    pass
                else:
                    if await self._wait_gone(name, pid, float(timeout or 0)):
                        await self._call(self._cleanup, name)
                        return None
            await self._hard_stop(name, pid)
            return None

        return defer.Deferred.fromCoroutine(stop())

    def reboot_instance(self, name, reboot_type=base.REBOOT_SOFT):
        validation.instance_name(name)

        async def reboot():
            await self._running_state(name)
            await self._qmp(name, ("system_reset", None))

        return defer.Deferred.fromCoroutine(reboot())

    def migration_info(self, instance):
        instance = validation.instance_dict(instance)
        name = instance["name"]

        async def info():
            state = await self._running_state(name)
            hv = check_hvparams(instance["hvparams"])
            port = hv["migration_port"] or _free_port()
            slots = await self._slots(name, instance, hv, state)
            state["migration_port"] = port
            state.pop("pid", None)
            await self._call(self._write_state, name, state)
            return {"migration_port": port, "kvm_memory": state["memory"],
                    "vcpus": state["vcpus"], "kvm_pci": slots}

        return defer.Deferred.fromCoroutine(info())

    def accept_instance(self, instance, info, target):
        instance = validation.instance_dict(instance)
        info = info if isinstance(info, dict) else {}
        port = info.get("migration_port")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise InvalidArgument("migration info without a valid migration_port")
        if not isinstance(target, str) or not target:
            raise InvalidArgument("target must be the target node's address")
        memory = info.get("kvm_memory")
        if isinstance(memory, int) and not isinstance(memory, bool) and memory > 0:
            instance = dict(instance, beparams=dict(instance["beparams"], maxmem=memory))
        slots = info.get("kvm_pci")
        if slots is not None and not (
            isinstance(slots, dict)
            and all(isinstance(v, int) and not isinstance(v, bool) for v in slots.values())
        ):
            raise InvalidArgument("migration info kvm_pci must map device ids to slots")
        host = "[%s]" % target if ":" in target else target

        async def accept():
            await self._start(instance, self._disk_paths(instance), False,
                              incoming="tcp:%s:%d" % (host, port), migration_port=port,
                              slots=slots)

        return defer.Deferred.fromCoroutine(accept())

    def migrate_instance(self, name, target, live):
        validation.instance_name(name)

        async def migrate():
            state = await self._running_state(name)
            port = state.get("migration_port")
            if not port:
                raise HypervisorError("instance %s: no migration prepared" % name)
            host = "[%s]" % target if ":" in target else target
            commands = []
            if not live:
                commands.append(("stop", None))
            commands.append(("migrate-set-parameters", {
                "max-bandwidth": int(state["migration_bandwidth"]) * 1024 * 1024,
                "downtime-limit": int(state["migration_downtime"]),
            }))
            commands.append(("migrate", {"uri": "tcp:%s:%d" % (host, port)}))
            await self._qmp(name, *commands)

        return defer.Deferred.fromCoroutine(migrate())

    def migration_status(self, name):
        validation.instance_name(name)

        async def status():
            await self._running_state(name)
            (result,) = await self._qmp(name, ("query-migrate", None))
            value = (result or {}).get("status")
            if value == "completed":
                return {"status": base.MIGRATION_COMPLETED}
            if value in ("failed", "cancelled", None):
                return {"status": base.MIGRATION_FAILED,
                        "error": (result or {}).get("error-desc", value)}
            return {"status": base.MIGRATION_ACTIVE, "qemu_status": value}

        return defer.Deferred.fromCoroutine(status())

    def finalize_migration_dst(self, instance, info, success):
        instance = validation.instance_dict(instance)
        name = instance["name"]

        async def finalize():
            state = await self._call(self._read_state, name)
            if state is None:
                if success:
                    raise HypervisorError("instance %s did not arrive here" % name)
                return None
            if not success:
                await self._hard_stop(name, state["pid"])
                return None
            reactor = self.runtime.reactor
            for _ in range(int(60 / POLL_INTERVAL)):
                (status,) = await self._qmp(name, ("query-status", None))
                if status.get("status") != "inmigrate":
                    break
                await task.deferLater(reactor, POLL_INTERVAL, lambda: None)
            else:
                raise HypervisorError("instance %s: the incoming migration did not end"
                                      % name)
            if not status.get("running"):
                await self._qmp(name, ("cont", None))
            state.pop("pid", None)
            state["incoming"] = False
            state["migration_port"] = None
            await self._call(self._write_state, name, state)
            return None

        return defer.Deferred.fromCoroutine(finalize())

    def finalize_migration_src(self, instance, success, live):
        instance = validation.instance_dict(instance)
        name = instance["name"]

        async def finalize():
            state = await self._call(self._read_state, name)
            if state is None:
                return None
            if success:
                await self._hard_stop(name, state["pid"])
                return None
            try:
                await self._qmp(name, ("migrate_cancel", None))
            except HypervisorError:
                pass
            (status,) = await self._qmp(name, ("query-status", None))
            if not status.get("running"):
                await self._qmp(name, ("cont", None))
            return None

        return defer.Deferred.fromCoroutine(finalize())

    def get_console(self, instance):
        instance = validation.instance_dict(instance)
        name = instance["name"]
        hv = check_hvparams(instance["hvparams"])
        if hv["serial_console"]:
            return {
                "instance": name,
                "kind": "ssh",
                "host": instance.get("primary_node"),
                "port": self.ssh_port,
                "user": "root",
                "command": [SOCAT, "STDIO,raw,echo=0,escape=0x1d",
                            "UNIX-CONNECT:%s" % self.paths(name)["serial"]],
            }
        if hv["vnc_bind_address"] and instance.get("network_port"):
            port = int(instance["network_port"])
            return {
                "instance": name,
                "kind": "vnc",
                "host": hv["vnc_bind_address"],
                "port": port,
                "display": port - 5900,
            }
        return {"instance": name, "kind": "message",
                "message": "No serial shell for instance %s" % name}

    def node_info(self):
        return self._call(self._node_info)

    def powercycle(self):
        """Stop every instance at once (the host itself keeps running)."""

        async def powercycle():
            stopped = []
            for name, info in (await self._call(self._all)).items():
                await self._hard_stop(name, info["id"])
                stopped.append(name)
            return "kvm hypervisor: power cycle stopped %d instance(s)%s" % (
                len(stopped), (": " + ", ".join(stopped)) if stopped else "")

        return defer.Deferred.fromCoroutine(powercycle())


def _cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            fields = f.read().rsplit(b")", 1)[-1].split()
        ticks = int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return 0
    return ticks // (os.sysconf("SC_CLK_TCK") or 100)
