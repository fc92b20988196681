# -*- test-case-name: tests.test_noded_hypervisor -*-
"""Instance procedures: what the master asks a node to do with instances.

Each works on the hypervisor named by the instance's C{hypervisor}.  Start
and shutdown are idempotent at this level (starting a running instance or
stopping a stopped one succeeds without doing anything), as in Ganeti's
node daemon; the hypervisor methods themselves are strict.
"""

from ganeti_rapi.noded import validation
from ganeti_rapi.noded.errors import HypervisorError, InvalidArgument
from ganeti_rapi.noded.hypervisor import base

#: Seconds to wait for a clean shutdown unless the caller says.
DEFAULT_SHUTDOWN_TIMEOUT = 120


class InstanceProcedures:
    """Instance procedures over L{hypervisors<ganeti_rapi.noded.hypervisor.Hypervisors>}.

    @param storage: a L{ganeti_rapi.noded.storage.Storage}, to find the
        block devices of hypervisors that need them.
    """

    def __init__(self, hypervisors, storage):
        self.hypervisors = hypervisors
        self.storage = storage

    def _hv(self, instance):
        instance = validation.instance_dict(instance)
        return instance, self.hypervisors.get(instance["hypervisor"])

    async def list(self, hypervisors=None):
        names = set()
        for hv in self.hypervisors.select(hypervisors):
            names.update(await hv.list_instances())
        return sorted(names)

    async def info(self, name, hypervisor="fake"):
        validation.instance_name(name)
        hv = self.hypervisors.get(hypervisor)
        info = await hv.instance_info(name)
        if info is not None:
            info = dict(info, hypervisor=hv.name)
        return info

    async def all_info(self, hypervisors=None):
        result = {}
        for hv in self.hypervisors.select(hypervisors):
            for name, info in (await hv.all_instances_info()).items():
                result[name] = dict(info, hypervisor=hv.name)
        return result

    def _block_devices(self, instance, hv):
        if not getattr(hv, "needs_block_devices", True):
            return []
        devices = []
        for disk in instance["disks"]:
            path, _ = self.storage.disk_device(disk)
            devices.append([path, disk.get("mode") or "rw"])
        return devices

    async def start(self, instance, startup_paused=False):
        instance, hv = self._hv(instance)
        if await hv.instance_info(instance["name"]) is not None:
            return None
        devices = self._block_devices(instance, hv)
        await hv.start_instance(instance, devices, bool(startup_paused))
        return None

    async def shutdown(self, instance, timeout=DEFAULT_SHUTDOWN_TIMEOUT):
        instance, hv = self._hv(instance)
        timeout = validation.int_param({"timeout": timeout}, "timeout", 0)
        if await hv.instance_info(instance["name"]) is None:
            return None
        await hv.stop_instance(instance["name"], False, timeout)
        return None

    async def reboot(self, instance, reboot_type=base.REBOOT_SOFT,
                     shutdown_timeout=DEFAULT_SHUTDOWN_TIMEOUT):
        instance, hv = self._hv(instance)
        if reboot_type not in base.REBOOT_TYPES:
            raise InvalidArgument(
                f"unknown reboot type {reboot_type!r}; known: "
                + ", ".join(base.REBOOT_TYPES)
            )
        name = instance["name"]
        if await hv.instance_info(name) is None:
            raise HypervisorError(f"cannot reboot instance {name}: it is not running")
        if reboot_type == base.REBOOT_SOFT:
            await hv.reboot_instance(name, reboot_type)
        else:
            await hv.stop_instance(name, False, shutdown_timeout)
            await hv.start_instance(instance, self._block_devices(instance, hv), False)
        return None

    async def migratable(self, instance):
        instance, hv = self._hv(instance)
        if await hv.instance_info(instance["name"]) is None:
            raise HypervisorError(f"instance {instance['name']} is not running")
        return True

    async def migration_info(self, instance):
        instance, hv = self._hv(instance)
        return await hv.migration_info(instance)

    async def accept(self, instance, info, target):
        instance, hv = self._hv(instance)
        await hv.accept_instance(instance, info, target)
        return None

    async def migrate(self, instance, target, live):
        instance, hv = self._hv(instance)
        await hv.migrate_instance(instance["name"], target, bool(live))
        return None

    async def migration_status(self, instance):
        instance, hv = self._hv(instance)
        return await hv.migration_status(instance["name"])

    async def finalize_dst(self, instance, info, success):
        instance, hv = self._hv(instance)
        await hv.finalize_migration_dst(instance, info, bool(success))
        return None

    async def finalize_src(self, instance, success, live):
        instance, hv = self._hv(instance)
        await hv.finalize_migration_src(instance, bool(success), bool(live))
        return None

    async def console(self, instance):
        instance, hv = self._hv(instance)
        return hv.get_console(instance)

    async def hotplug_supported(self, instance):
        instance, hv = self._hv(instance)
        return await hv.hotplug_supported(instance)

    async def hotplug_device(self, instance, action, dev_type, device, seq=None):
        instance, hv = self._hv(instance)
        if not isinstance(device, dict):
            raise InvalidArgument("device must be a JSON object")
        if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int)):
            raise InvalidArgument("seq must be an integer")
        block_device = None
        if dev_type == "disk" and action == "add" and hv.needs_block_devices:
            path, backend = self.storage.disk_device(device)
            block_device = [path, device.get("mode") or "rw",
                            "block" if backend == "block" else "file"]
        return await hv.hotplug_device(instance, action, dev_type, device, seq, block_device)
