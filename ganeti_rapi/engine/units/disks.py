# -*- test-case-name: tests.test_disk_templates -*-
"""Disk operations on an existing instance: grow, recreate, replace.

The work per disk template is L{ganeti_rapi.engine.disktemplates}'; these
units check what Ganeti checks and classify failures as Ganeti does, so a
template that cannot do an operation fails the job with Ganeti's error
class instead of doing something else.
"""

from twisted.internet import defer

from ganeti_rapi.engine import allocator, disktemplates, iallocator, locks
from ganeti_rapi.engine.errors import ECODE_ENVIRON, ECODE_INVAL, ECODE_STATE, OpPrereqError
from ganeti_rapi.engine.units.instances import InstanceUnit

#: Disk parameters OP_INSTANCE_RECREATE_DISKS may change (Ganeti's).
RECREATE_CHANGEABLE = frozenset(["size", "mode", "spindles"])


def _disk(instance, index):
    if index >= len(instance.disks):
        raise OpPrereqError(
            "Invalid disk index: %s (instance %s has %d disk(s))"
            % (index, instance.name, len(instance.disks)), ECODE_INVAL,
        )
    return instance.disks[index]


class InstanceGrowDisk(InstanceUnit):
    """Grow one disk by C{amount} MiB, or to C{amount} with C{absolute}."""

    exclusive_nodes = True

    @defer.inlineCallbacks
    def check(self):
        instance = self.instance()
        index = self.op["disk"]
        disk = _disk(instance, index)
        driver = disktemplates.driver(disk.dev_type)
        if not driver.growable:
            raise OpPrereqError("Instance's disk layout does not support growing",
                                ECODE_INVAL)
        amount = self.op["amount"]
        if self.op.get("absolute"):
            target, delta = amount, amount - disk.size
            if delta < 0:
                raise OpPrereqError(
                    "Requested size (%s) is smaller than current disk size (%s)"
                    % (amount, disk.size), ECODE_STATE,
                )
        else:
            target, delta = disk.size + amount, amount
        node = self.primary(instance)
        if node.offline:
            raise OpPrereqError("Primary node %s is offline" % node.name, ECODE_STATE)
        if delta and driver.uses_node_storage:
            yield allocator.check_fits(
                self.env, node, allocator.Need(0, delta),
                "growing disk %d of instance %s" % (index, instance.name),
            )
        self.target = (instance, node, index, disk, driver, target, delta)

    @defer.inlineCallbacks
    def execute(self):
        instance, node, index, disk, driver, target, delta = self.target
        if not delta:
            self.env.feedback("Disk %d of instance %s is already %d MiB"
                              % (index, instance.name, target))
            return None
        self.env.feedback("Growing disk %d of instance %s by %d MiB to %d MiB"
                          % (index, instance.name, delta, target))
        yield driver.grow(self.env.nodes, node, disk, target)
        disk.size = target
        self.config.touch(instance)
        yield self.save()
        return None


class InstanceRecreateDisks(InstanceUnit):
    """Create an instance's missing disks again, on its nodes or new ones.

    The instance must be stopped.  Disks that still exist are refused
    rather than overwritten; the data of recreated disks is gone, so the
    OS is usually reinstalled afterwards.
    """

    exclusive_nodes = True

    def lock_requests(self):
        requests = {(level, name): exclusive
                    for level, name, exclusive in InstanceUnit.lock_requests(self)}
        for name in self.op.get("nodes") or []:
            requests[(locks.LEVEL_NODE, name)] = True
        if self.op.get("iallocator"):
            requests = {k: v for k, v in requests.items() if k[0] != locks.LEVEL_NODE}
            requests[(locks.LEVEL_NODE, locks.ALL)] = True
        return [(level, name, exclusive) for (level, name), exclusive in requests.items()]

    def selected(self, instance):
        """C{{index: changes}} of the disks to recreate (all by default)."""
        chosen = {}
        for item in self.op.get("disks") or []:
            if isinstance(item, int):
                index, changes = item, {}
            else:
                index, changes = item
            _disk(instance, index)
            if index in chosen:
                raise OpPrereqError("Disk %d is given more than once" % index, ECODE_INVAL)
            bad = sorted(set(changes) - RECREATE_CHANGEABLE)
            if bad:
                raise OpPrereqError(
                    "Parameters for disk %d try to change unmodifiable parameter(s): %s"
                    % (index, ", ".join(bad)), ECODE_INVAL,
                )
            size = changes.get("size")
            if size is not None and (isinstance(size, bool) or not isinstance(size, int)
                                     or size <= 0):
                raise OpPrereqError("Invalid size of disk %d: %r" % (index, size),
                                    ECODE_INVAL)
            if changes.get("mode") not in (None, "rw", "ro"):
                raise OpPrereqError("Invalid mode of disk %d: %r" % (index, changes["mode"]),
                                    ECODE_INVAL)
            chosen[index] = dict(changes)
        if not chosen:
            chosen = {index: {} for index in range(len(instance.disks))}
        return chosen

    @defer.inlineCallbacks
    def new_node(self, instance, chosen):
        """The node named by C{nodes} or chosen by the allocator, or None."""
        names = self.op.get("nodes") or []
        ialloc = self.op.get("iallocator")
        if names and ialloc:
            raise OpPrereqError("Give either the iallocator or the new nodes, not both",
                                ECODE_INVAL)
        if not names and not ialloc:
            return None
        if len(chosen) != len(instance.disks):
            raise OpPrereqError(
                "Can't recreate disks partially and change the nodes at the same time",
                ECODE_INVAL,
            )
        if names:
            if len(names) != len(instance.all_nodes):
                raise OpPrereqError(
                    "Instance %s currently has %d nodes, but new node list has %d nodes"
                    % (instance.name, len(instance.all_nodes), len(names)), ECODE_INVAL,
                )
            node = self.config.find_node(names[0])
            if node.offline or node.drained or not node.vm_capable:
                raise OpPrereqError(
                    "Node '%s' cannot host instances (offline, drained or not"
                    " VM-capable)" % node.name, ECODE_STATE,
                )
            return node
        name = iallocator.effective_name(self.config, ialloc)
        if iallocator.is_external(name):
            raise OpPrereqError(
                "Recreating disks can use only the built-in allocator, not '%s';"
                " name the node instead" % name, ECODE_INVAL,
            )
        driver = disktemplates.driver(instance.disk_template)
        disk = sum(d.size for d in instance.disks) if driver.uses_node_storage else 0
        nodes = yield allocator.allocate(self.env, allocator.Need(0, disk))
        return nodes[0]

    @defer.inlineCallbacks
    def check(self):
        instance = self.instance()
        if instance.disk_template == disktemplates.DT_DISKLESS or not instance.disks:
            raise OpPrereqError("Instance '%s' has no disks" % instance.name, ECODE_INVAL)
        driver = disktemplates.driver(instance.disk_template)
        if driver.adopts:
            raise OpPrereqError(
                "Disks of template '%s' are adopted devices; the cluster cannot create"
                " them again" % instance.disk_template, ECODE_INVAL,
            )
        chosen = self.selected(instance)
        new_node = yield self.new_node(instance, chosen)
        if instance.admin_state == "up":
            raise OpPrereqError(
                "Instance '%s' is marked to be up, cannot recreate disks" % instance.name,
                ECODE_STATE,
            )
        primary = self.primary(instance)
        if not primary.offline:
            if (yield self.is_running(instance)):
                raise OpPrereqError(
                    "Instance '%s' is running, cannot recreate disks" % instance.name,
                    ECODE_STATE,
                )
        elif new_node is None:
            raise OpPrereqError(
                "Primary node %s of instance %s is offline; give the nodes to recreate"
                " the disks on" % (primary.name, instance.name), ECODE_STATE,
            )
        node = new_node or primary
        for index in sorted(chosen):
            disk = instance.disks[index]
            exists = yield driver.exists(self.env.nodes, node, disk)
            if exists:
                raise OpPrereqError(
                    "Disk %d of instance %s still exists on node %s (%s); only missing"
                    " disks are recreated" % (index, instance.name, node.name,
                                              driver.describe(disk)), ECODE_STATE,
                )
        if driver.uses_node_storage:
            need = sum(chosen[i].get("size", instance.disks[i].size) for i in chosen)
            yield allocator.check_fits(self.env, node, allocator.Need(0, need),
                                       "recreating the disks of %s" % instance.name)
        self.target = (instance, driver, node, chosen)

    @defer.inlineCallbacks
    def execute(self):
        instance, driver, node, chosen = self.target
        for index, changes in chosen.items():
            disk = instance.disks[index]
            for key, value in changes.items():
                setattr(disk, key, value)
        if node.uuid != instance.primary_node:
            self.env.feedback("Moving instance %s to node %s" % (instance.name, node.name))
            instance.primary_node = node.uuid
            for disk in instance.disks:
                disk.nodes = [node.uuid]
        self.config.touch(instance)
        yield self.save()
        for index in sorted(chosen):
            disk = instance.disks[index]
            self.env.feedback("Creating disk %d of instance %s on %s"
                              % (index, instance.name, node.name))
            yield driver.create(self.env.nodes, node, instance, disk)
        return None


class InstanceReplaceDisks(InstanceUnit):
    """Replace the disks of a mirrored instance: only DRBD has a mirror to replace."""

    def check_arguments(self):
        op = self.op
        remote, ialloc = op.get("remote_node"), op.get("iallocator")
        if op["mode"] == "replace_new_secondary":
            if not remote and not ialloc:
                raise OpPrereqError(
                    "When changing the secondary either an iallocator script must be"
                    " used or the new node given", ECODE_INVAL,
                )
            if remote and ialloc:
                raise OpPrereqError("Give either the iallocator or the new secondary,"
                                    " not both", ECODE_INVAL)
        elif remote or ialloc:
            raise OpPrereqError(
                "The iallocator and new node options can only be used when changing"
                " the secondary node", ECODE_INVAL,
            )

    def check(self):
        self.check_arguments()
        instance = self.instance()
        if instance.disk_template != "drbd":
            raise OpPrereqError("Can only run replace disks for DRBD8-based instances",
                                ECODE_INVAL)
        raise OpPrereqError(
            "Disk template 'drbd' needs the drbd kernel module, which this cluster's"
            " nodes lack", ECODE_ENVIRON,
        )

    def execute(self):
        self.check()
