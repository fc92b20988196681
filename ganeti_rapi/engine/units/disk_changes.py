# -*- test-case-name: tests.test_instance_changes -*-
"""The disk part of C{OP_INSTANCE_SET_PARAMS}: disks added, modified and
removed, the files of added disks made and those of removed disks deleted
on the primary node, and the hot-plug actions (L{hotplug}) the changes
would take on a running instance.
"""

import posixpath

from twisted.internet import defer

from ganeti_rapi.engine import defaults, disktemplates
from ganeti_rapi.engine.errors import ECODE_INVAL, ECODE_STATE, OpExecError, OpPrereqError
from ganeti_rapi.engine.objects import Disk
from ganeti_rapi.engine.units import device_mods
from ganeti_rapi.engine.units.device_mods import DDM_ADD, DDM_REMOVE
from ganeti_rapi.engine.units.hotplug import HotPlug
from ganeti_rapi.engine.units.instances import file_disk_path

#: Disk parameters of an added disk, and those a modification may change.
DISK_ADD_KEYS = frozenset(["size", "mode", "name", "spindles"])
DISK_MODIFY_KEYS = frozenset(["mode", "name"])

#: Disk templates whose instances may get new disks.
_ADDABLE_TEMPLATES = (disktemplates.DT_FILE, disktemplates.DT_SHARED_FILE)


class DiskChangesMixin:
    """Disk modifications for L{instance_changes.InstanceSetParams}.

    L{check_disks} sets C{disk_hotplug}.
    """

    def check_disks(self, instance):
        self.disk_hotplug = []
        mods = device_mods.upgrade_mods("disk", self.op.get("disks"))
        if not mods:
            return [], None, [], []
        disks = [disk.copy() for disk in instance.disks]
        originals = {disk.uuid for disk in instance.disks}
        used_paths = {d.logical_id[1] for d in instance.disks
                      if d.logical_id and len(d.logical_id) > 1}
        driver = self.op.get("file_driver") or next(
            (d.logical_id[0] for d in instance.disks if d.logical_id), "loop")
        changes = []
        hot = []
        for op, identifier, params in mods:
            if op == DDM_REMOVE:
                index = device_mods.removal_index("disk", identifier, params, disks)
                if len(disks) == 1:
                    raise OpPrereqError("Cannot remove the last disk of an instance",
                                        ECODE_INVAL)
                removed = disks.pop(index)
                changes.append(["disk/%d" % index, "remove"])
                hot.append(HotPlug(DDM_REMOVE, "disk", removed, index, "disk/%d" % index,
                                   len(changes)))
            elif op == DDM_ADD:
                if instance.disk_template not in _ADDABLE_TEMPLATES:
                    raise OpPrereqError(
                        "Disks cannot be added to an instance of disk template '%s'"
                        % instance.disk_template, ECODE_INVAL,
                    )
                index = device_mods.insert_index("disk", identifier, disks)
                disk = self.new_disk(instance, params, driver, used_paths, len(disks))
                disks.insert(index, disk)
                changes.append(["disk/%d" % index,
                                "add:size=%s,mode=%s" % (disk.size, disk.mode)])
                hot.append(HotPlug(DDM_ADD, "disk", disk, index, "disk/%d" % index,
                                   len(changes)))
            else:
                index = device_mods.item_index("disk", identifier, disks)
                if "size" in params:
                    raise OpPrereqError("Disk size change not possible, use grow-disk",
                                        ECODE_INVAL)
                unknown = sorted(set(params) - DISK_MODIFY_KEYS)
                if unknown:
                    raise OpPrereqError(
                        "Disk parameter(s) %s cannot be modified" % ", ".join(unknown),
                        ECODE_INVAL,
                    )
                disk = disks[index]
                if "mode" in params:
                    disk.mode = self.disk_mode(params["mode"])
                    changes.append(["disk.mode/%d" % index, disk.mode])
                if "name" in params:
                    disk.name = device_mods.none_value(params["name"])
                    changes.append(["disk.name/%d" % index, disk.name])
        if len(disks) > defaults.MAX_DISKS:
            raise OpPrereqError("Instance has too many disks (%d), cannot add more"
                                % defaults.MAX_DISKS, ECODE_STATE)
        device_mods.check_unique_names("disk", disks)
        for index, disk in enumerate(disks):
            disk.iv_name = "disk/%d" % index
        final = {disk.uuid for disk in disks}
        added = [disk for disk in disks if disk.uuid not in originals]
        removed = [disk for disk in instance.disks if disk.uuid not in final]
        self.disk_hotplug = [h for h in hot if h.device.uuid in (originals - final)
                             or (h.action == DDM_ADD and h.device.uuid in final)]
        return changes, disks, added, removed

    @staticmethod
    def disk_mode(mode):
        if mode not in defaults.DISK_ACCESS_MODES:
            raise OpPrereqError("Invalid disk access mode '%s'" % (mode,), ECODE_INVAL)
        return mode

    def disk_path(self, instance, number):
        """The path of file disk C{number} of C{instance} (file or sharedfile)."""
        if instance.disk_template == disktemplates.DT_SHARED_FILE:
            return posixpath.join(
                disktemplates.SharedFileTemplate.directory(self.config.cluster),
                instance.name, "disk%d" % number)
        return file_disk_path(instance.name, number)

    def new_disk(self, instance, params, driver, used_paths, start):
        unknown = sorted(set(params) - DISK_ADD_KEYS)
        if unknown:
            raise OpPrereqError(
                "Disk parameter(s) %s are not supported for file disks" % ", ".join(unknown),
                ECODE_INVAL,
            )
        size = params.get("size")
        if size is None:
            raise OpPrereqError("Required disk parameter 'size' missing", ECODE_INVAL)
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise OpPrereqError("Invalid disk size %r" % (size,), ECODE_INVAL)
        # The file is named by the first index no disk file of the instance uses.
        number = start
        while self.disk_path(instance, number) in used_paths:
            number += 1
        path = self.disk_path(instance, number)
        used_paths.add(path)
        return Disk(
            dev_type=instance.disk_template, size=size,
            mode=self.disk_mode(params.get("mode") or "rw"),
            name=device_mods.none_value(params.get("name")),
            spindles=params.get("spindles"),
            logical_id=[driver, path], nodes=[instance.primary_node],
        )

    def create_disk(self, node, instance, disk):
        """Make an added disk on the primary node."""
        if disk.dev_type == disktemplates.DT_FILE:
            return self.rpc(node, "blockdev_create_file", None, path=disk.logical_id[1],
                            size_mib=disk.size)
        return disktemplates.driver(disk.dev_type).create(self.env.nodes, node, instance,
                                                          disk)

    @defer.inlineCallbacks
    def remove_disk(self, node, disk):
        """Remove a disk's file on the primary node; a failure is only reported."""
        if disk.dev_type not in _ADDABLE_TEMPLATES or not disk.logical_id:
            return
        try:
            if disk.dev_type == disktemplates.DT_FILE:
                yield self.rpc(node, "blockdev_remove_file", None, path=disk.logical_id[1])
            else:
                yield disktemplates.driver(disk.dev_type).remove(self.env.nodes, node, disk)
        except (OpExecError, OpPrereqError) as e:
            self.env.feedback("Could not remove disk %s on %s: %s"
                              % (disk.logical_id[1], node.name, e.args[0]))
