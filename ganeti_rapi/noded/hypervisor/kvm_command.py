# -*- test-case-name: tests.test_kvm -*-
"""QEMU's command line for a kvm instance, and where its devices sit.

Pure functions, no I/O: the hypervisor (L{kvm}) starts QEMU with what
L{build_command} returns, and hot-plug (L{kvm_hotplug}) names and places
the devices it adds with the same rules, so an instance started with a
device and one that had it plugged in later look alike to the guest and
to a migration target.

Every NIC and disk has a QEMU id derived from its uuid (L{device_id}) and,
when it is a PCI device (L{pci_capable}), an explicit slot of the first PCI
bus (L{pci_layout}, L{PCI_SLOTS}).  L{legacy_layout} reconstructs the slots
of a QEMU started by an older node daemon without explicit ones.
"""

import shlex
import uuid as uuidlib

from ganeti_rapi.engine import defaults as engine_defaults
from ganeti_rapi.noded.errors import HypervisorError, InvalidArgument
from ganeti_rapi.noded.hypervisor import kvm_params

#: The kvm parameters and their defaults (Ganeti's).
DEFAULTS = engine_defaults.HVPARAMS["kvm"]

#: The PATH QEMU and the network tools it needs (C{ip}, C{ovs-vsctl}) are
#: looked up in and run with.
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

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

#: Slots of the first PCI bus given to NICs and disks: 0 and 1 are the
#: host and ISA bridges, 2 and 3 stay free for what QEMU places itself
#: (the VGA card, devices of C{kvm_extra}), and 31 is q35's LPC bridge.
PCI_SLOTS = range(4, 31)


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


def slots_in_use(buses):
    """The slots of the first PCI bus that C{query-pci} says are taken."""
    return {d["slot"] for bus in buses or [] if isinstance(bus, dict) and bus.get("bus") == 0
            for d in bus.get("devices") or []
            if isinstance(d, dict) and isinstance(d.get("slot"), int)}
