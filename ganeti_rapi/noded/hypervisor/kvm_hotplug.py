# -*- test-case-name: tests.test_kvm -*-
"""Hot-plug of NICs and disks into a running kvm instance, over QMP.

A NIC is a new tap (L{kvm_nics}) passed to QEMU with QMP C{getfd}, then
C{netdev_add} and C{device_add}; a paravirtual disk is C{blockdev-add} and
C{device_add}; removal is C{device_del}, a bounded wait until the guest
has released the device, then C{netdev_del} or C{blockdev-del}.  A NIC is
modified by unplugging it and plugging it in again in the same slot.
Devices get the ids and PCI slots L{kvm_command} gives devices at start,
and the state file's C{devices} remembers them, so a migration target
(L{HotplugMixin._slots}) starts QEMU with the same layout, hot-plugged
devices included.  Kept apart from the hypervisor's lifecycle: this is the
only part that changes a running QEMU's devices.
"""

import os

from twisted.internet import defer, task

from ganeti_rapi.noded import validation
from ganeti_rapi.noded.errors import HypervisorError, InvalidArgument
from ganeti_rapi.noded.hypervisor.kvm_command import (
    NIC_MODELS,
    check_hvparams,
    command_layout,
    device_id,
    legacy_layout,
    pci_capable,
    pci_layout,
    slots_in_use,
)
from ganeti_rapi.noded.hypervisor.kvm_nics import nic_record
from ganeti_rapi.noded.hypervisor.kvm_qmp import QMPError

#: Seconds the guest may take to release a device being unplugged.
UNPLUG_TIMEOUT = 60.0

#: Hot-plug actions and device types (Ganeti's names).
HOTPLUG_ACTIONS = ("add", "remove", "modify")
HOTPLUG_TARGETS = ("nic", "disk")

#: Seconds between looks at whether the guest has released a device.
UNPLUG_POLL_INTERVAL = 0.25


class HotplugMixin:
    """Hot-plug of L{kvm.KvmHypervisor}.

    Needs, from the class it is mixed into, C{runtime}, C{_call},
    C{_running_state}, C{_write_state}, C{_qmp}, C{_qmp_session} and the
    tap plumbing of L{kvm_nics.TapsMixin}.
    """

    #: L{UNPLUG_TIMEOUT}, for this hypervisor.
    unplug_timeout = UNPLUG_TIMEOUT

    async def _slots(self, name, instance, hv, state):
        """C{{device id: PCI slot}} of a running instance, for a migration
        target, which must put hot-plugged devices where the guest saw them."""
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
            await task.deferLater(reactor, UNPLUG_POLL_INTERVAL, lambda: None)
            waited += UNPLUG_POLL_INTERVAL
        return True

    async def _plug_nic(self, session, hv, device, nic, slot):
        """A new tap for C{nic}, handed to QEMU and plugged in as C{device}."""
        ((tap, fd, _),) = taps = await self._call(self._open_taps, [nic], hv["vnet_hdr"])
        record = dict(nic_record(nic, tap), slot=slot)
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
                used = slots_in_use(buses) | {r.get("slot") for r in devices.values()
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
