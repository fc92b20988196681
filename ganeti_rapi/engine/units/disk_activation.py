# -*- test-case-name: tests.test_instance_changes -*-
"""C{OP_INSTANCE_ACTIVATE_DISKS} and C{OP_INSTANCE_DEACTIVATE_DISKS}: an
instance's disks marked usable or not, and where each is on its primary
node (the primary is asked where each file disk lives).
"""

from twisted.internet import defer

from ganeti_rapi.engine.errors import ECODE_STATE, OpExecError, OpPrereqError
from ganeti_rapi.engine.units.change_checks import InstanceChangeUnit


class InstanceActivateDisks(InstanceChangeUnit):
    """Make an instance's disks usable on its primary node and say where they are."""

    def check(self):
        instance = self.instance()
        node = self.primary(instance)
        if node.offline:
            raise OpPrereqError("Node %s is offline" % node.name, ECODE_STATE)
        self.target = instance

    @defer.inlineCallbacks
    def execute(self):
        instance = self.target
        node = self.primary(instance)
        devices = []
        for disk in instance.disks:
            path = None
            if disk.dev_type == "file" and disk.logical_id:
                info = yield self.rpc(node, "blockdev_file_info", None,
                                      path=disk.logical_id[1])
                if not info.get("exists"):
                    raise OpExecError(
                        "Cannot activate block devices: %s of %s (%s) is missing on"
                        " node %s" % (disk.iv_name, instance.name, disk.logical_id[1],
                                      node.name)
                    )
                path = info.get("path")
            devices.append([node.name, disk.iv_name, path])
        if not instance.disks_active:
            instance.disks_active = True
            self.config.touch(instance)
            yield self.save()
        return devices


class InstanceDeactivateDisks(InstanceChangeUnit):
    """Mark an instance's disks inactive; a running instance needs C{force}."""

    @defer.inlineCallbacks
    def check(self):
        instance = self.instance()
        if not self.op.get("force"):
            yield self.check_stopped(instance, ("down",), "cannot shutdown disks")
        self.target = instance

    @defer.inlineCallbacks
    def execute(self):
        instance = self.target
        if instance.disks_active:
            instance.disks_active = False
            self.config.touch(instance)
            yield self.save()
