# -*- test-case-name: tests.test_disk_templates -*-
"""Disk templates: what creating, removing and growing a disk means for each.

One driver per template this engine can hold disks of.  The engine decides
names and checks prerequisites here; the disks themselves are made by the
primary node's daemon (C{blockdev_*} procedures, which dispatch on the
disk's C{dev_type}).

==============  ==========================================  ====================
Template        C{logical_id}                               Lives
==============  ==========================================  ====================
C{diskless}     (no disks)
C{file}         C{[driver, "<instance>/disk<N>"]}           the primary node's
                                                            file storage dir
C{sharedfile}   C{[driver, "<shared dir>/<instance>/        a directory every
                disk<N>"]}                                  node mounts
C{blockdev}     C{["manual", <adopted path>]}               an existing device
C{ext}          C{[provider, "<disk uuid>.disk<N>"]}        an ExtStorage
                                                            provider's volume
==============  ==========================================  ====================

C{plain}, C{drbd}, C{rbd} and C{gluster} have no driver: their kernel or
storage requirements are missing on the nodes this engine runs on, and the
cluster refuses to enable them (L{ganeti_rapi.engine.units.cluster}).

Flags other units read: C{growable} (Ganeti's C{DTS_GROWABLE}),
C{shared} (every node reaches the disks, so an instance can move to another
node without copying them, as with Ganeti's externally mirrored templates;
C{diskless} counts), C{mirrored} (internally mirrored, like DRBD: none
here), C{adopts} (C{blockdev} disks are adopted, never created nor
destroyed) and C{uses_node_storage} (the disk takes space in the primary
node's file storage, which the allocator counts).
"""

import posixpath

from twisted.internet import defer

from ganeti_rapi.engine.errors import (
    ECODE_INVAL,
    ECODE_NOTUNIQUE,
    ECODE_STATE,
    OpExecError,
    OpPrereqError,
)
from ganeti_rapi.engine.objects import Disk

DT_DISKLESS = "diskless"
DT_FILE = "file"
DT_SHARED_FILE = "sharedfile"
DT_BLOCK = "blockdev"
DT_EXT = "ext"

#: File drivers of C{file} and C{sharedfile} disks (Ganeti's).
FILE_DRIVERS = ("loop", "blktap", "blktap2")

#: The driver of adopted block devices (Ganeti's C{BLOCKDEV_DRIVER_MANUAL}).
BLOCKDEV_DRIVER = "manual"

#: Keys of a disk in a creation request that are not ExtStorage parameters
#: (Ganeti's C{IDISK_PARAMS}); other keys of an C{ext} disk are.
DISK_KEYS = frozenset(
    ["size", "spindles", "mode", "adopt", "vg", "metavg", "provider", "name", "access"]
)


def info_text(instance_name):
    """What a disk records about its owner (Ganeti's C{originstname+...})."""
    return "originstname+%s" % instance_name


def wire(disk):
    """A disk as node procedures take it."""
    return disk.to_dict()


def _prereq_from(failure, message):
    """An RPC failure during a check, as a prerequisite error."""
    if failure.check(OpExecError):
        raise OpPrereqError("%s: %s" % (message, failure.value.args[0]), ECODE_INVAL)
    return failure


class DiskTemplate:
    """A disk template with disks on the primary node, made by its daemon."""

    name = None
    growable = True
    shared = False
    mirrored = False
    adopts = False
    uses_node_storage = False

    # -- creation requests

    def parse(self, index, spec, disk):
        """Template-specific keys of creation disk C{spec} into C{disk}."""
        if spec.get("adopt") is not None:
            raise OpPrereqError(
                "Disk adoption is not supported for the '%s' disk template" % self.name,
                ECODE_INVAL,
            )
        if spec.get("provider") is not None:
            raise OpPrereqError(
                "The 'provider' option is only valid for the ext disk template, not %s"
                % self.name, ECODE_INVAL,
            )

    def check_create(self, unit, node, disks):
        """Prerequisites on the primary node (a Deferred); changes nothing."""
        return defer.succeed(None)

    def assign(self, cluster, instance, index, disk, node, file_driver=None):
        """Give a new disk its C{logical_id} and nodes."""
        disk.nodes = [node.uuid]

    # -- node work

    def create(self, runner, node, instance, disk):
        return runner.run(node, "blockdev_create", None, disk=wire(disk),
                          size_mib=disk.size, info=info_text(instance.name))

    def remove(self, runner, node, disk):
        return runner.run(node, "blockdev_remove", None, disk=wire(disk))

    def grow(self, runner, node, disk, new_size):
        return runner.run(node, "blockdev_grow", None, disk=wire(disk),
                          new_size_mib=new_size)

    @defer.inlineCallbacks
    def exists(self, runner, node, disk):
        """Whether the disk exists on C{node}; None when that cannot be told."""
        info = yield runner.run(node, "blockdev_info", None, disk=wire(disk))
        return bool(info.get("exists"))

    def describe(self, disk):
        """Where the disk lives, in words."""
        return (disk.logical_id or [None, None])[1]


class Diskless(DiskTemplate):
    name = DT_DISKLESS
    growable = False
    shared = True

    def parse(self, index, spec, disk):
        raise OpPrereqError("Disk template 'diskless' takes no disks", ECODE_INVAL)


class FileTemplate(DiskTemplate):
    """C{file}: a sparse file in the primary node's file storage directory."""

    name = DT_FILE
    uses_node_storage = True

    def assign(self, cluster, instance, index, disk, node, file_driver=None):
        disk.logical_id = [file_driver or "loop", "%s/disk%d" % (instance.name, index)]
        disk.nodes = [node.uuid]


class SharedFileTemplate(DiskTemplate):
    """C{sharedfile}: a file in the cluster's shared file storage directory."""

    name = DT_SHARED_FILE
    shared = True

    @staticmethod
    def directory(cluster):
        path = cluster.shared_file_storage_dir
        if not path:
            raise OpPrereqError(
                "The cluster has no shared file storage directory"
                " (shared_file_storage_dir); set one before using the sharedfile"
                " disk template", ECODE_STATE,
            )
        return posixpath.normpath(path)

    def check_create(self, unit, node, disks):
        self.directory(unit.config.cluster)
        return defer.succeed(None)

    def assign(self, cluster, instance, index, disk, node, file_driver=None):
        path = posixpath.join(self.directory(cluster), instance.name, "disk%d" % index)
        disk.logical_id = [file_driver or "loop", path]
        disk.nodes = [node.uuid]


class BlockDevTemplate(DiskTemplate):
    """C{blockdev}: adopted existing devices, checked, never created or destroyed."""

    name = DT_BLOCK
    growable = False
    shared = True
    adopts = True

    def parse(self, index, spec, disk):
        if spec.get("provider") is not None:
            DiskTemplate.parse(self, index, {"provider": spec["provider"]}, disk)
        path = spec.get("adopt")
        if not isinstance(path, str) or not path.startswith("/"):
            raise OpPrereqError(
                "Disk %d: 'adopt' must be the absolute path of a device, not %r"
                % (index, path), ECODE_INVAL,
            )
        disk.logical_id = [BLOCKDEV_DRIVER, posixpath.normpath(path)]

    @defer.inlineCallbacks
    def check_create(self, unit, node, disks):
        """The devices exist on the node, may be adopted and are not in use.

        @return: C{{path: size in MiB}}.
        """
        paths = [d.logical_id[1] for d in disks]
        if len(set(paths)) != len(paths):
            raise OpPrereqError("Duplicate disk names given for adoption", ECODE_INVAL)
        for other in unit.config.instances():
            if node.uuid not in other.all_nodes:
                continue
            for disk in other.disks:
                if disk.dev_type == DT_BLOCK and disk.logical_id[1] in paths:
                    raise OpPrereqError(
                        "Device %s on node %s is already used by instance %s"
                        % (disk.logical_id[1], node.name, other.name), ECODE_NOTUNIQUE,
                    )
        answer = yield unit.env.nodes.run(node, "blockdev_sizes", None, devices=paths)
        missing, refused, sizes = [], [], {}
        for path in paths:
            entry = answer.get(path) or {}
            if "size" in entry:
                sizes[path] = entry["size"]
            elif "does not exist" in (entry.get("error") or "does not exist"):
                missing.append(path)
            else:
                refused.append("%s (%s)" % (path, entry["error"]))
        if missing:
            raise OpPrereqError("Missing block device(s): %s" % ", ".join(missing),
                                ECODE_INVAL)
        if refused:
            raise OpPrereqError(
                "Device(s) cannot be adopted on node %s: %s" % (node.name, "; ".join(refused)),
                ECODE_INVAL,
            )
        return sizes

    def assign(self, cluster, instance, index, disk, node, file_driver=None):
        disk.nodes = [node.uuid]

    def remove(self, runner, node, disk):
        # Adopted devices are released, never destroyed (as in Ganeti).
        return defer.succeed({"path": disk.logical_id[1], "removed": False})

    def grow(self, runner, node, disk, new_size):
        return defer.fail(OpExecError("Adopted block devices cannot be grown"))


class ExtTemplate(DiskTemplate):
    """C{ext}: a volume of an ExtStorage provider, C{params} its parameters."""

    name = DT_EXT
    shared = True

    def parse(self, index, spec, disk):
        if spec.get("adopt") is not None:
            DiskTemplate.parse(self, index, {"adopt": spec["adopt"]}, disk)
        provider = spec.get("provider")
        if not provider:
            raise OpPrereqError("Missing provider for template '%s'" % self.name,
                                ECODE_INVAL)
        if not isinstance(provider, str):
            raise OpPrereqError("Disk %d: invalid provider %r" % (index, provider),
                                ECODE_INVAL)
        params = {}
        for key, value in spec.items():
            if key in DISK_KEYS:
                continue
            if isinstance(value, (dict, list)):
                raise OpPrereqError(
                    "Disk %d: ExtStorage parameter '%s' must be a plain value"
                    % (index, key), ECODE_INVAL,
                )
            params[key] = "" if value is None else str(value)
        disk.logical_id = [provider, None]
        disk.params = params

    @defer.inlineCallbacks
    def check_create(self, unit, node, disks):
        seen = []
        for disk in disks:
            key = (disk.logical_id[0], sorted(disk.params.items()))
            if key in seen:
                continue
            seen.append(key)
            d = unit.env.nodes.run(node, "extstorage_verify", None,
                                   provider=disk.logical_id[0], params=disk.params)
            d.addErrback(_prereq_from, "ExtStorage provider '%s' on node %s refused"
                         % (disk.logical_id[0], node.name))
            yield d

    def assign(self, cluster, instance, index, disk, node, file_driver=None):
        disk.logical_id = [disk.logical_id[0], "%s.disk%d" % (disk.uuid, index)]
        disk.nodes = [node.uuid]

    def exists(self, runner, node, disk):
        # Only the provider knows; recreating an existing volume fails there.
        return defer.succeed(None)


#: Template name -> driver.
DRIVERS = {
    t.name: t
    for t in (Diskless(), FileTemplate(), SharedFileTemplate(), BlockDevTemplate(),
              ExtTemplate())
}

#: The disk templates this engine can create instances with.
SUPPORTED = frozenset(DRIVERS)


def driver(template):
    """The driver of C{template}, or C{OpPrereqError} (C{wrong_input})."""
    found = DRIVERS.get(template)
    if found is None:
        raise OpPrereqError(
            "Disk template '%s' is not supported by this cluster yet" % template,
            ECODE_INVAL,
        )
    return found


def uses_node_storage(template):
    """Whether disks of C{template} take space in the primary's file storage."""
    found = DRIVERS.get(template)
    return found is not None and found.uses_node_storage


def parse_disks(template, specs, adopted_sizes=None):
    """L{Disk} objects (without C{logical_id} names yet) from a creation request.

    @param specs: the opcode's C{disks}: dicts with C{size} (MiB; optional
        for adopted devices, whose size the node tells), C{mode},
        C{name}, and per template C{adopt}, C{provider} and ExtStorage
        parameters.
    @param adopted_sizes: C{{path: MiB}} found by L{BlockDevTemplate.check_create}.
    """
    found = driver(template)
    specs = list(specs or [])
    adopting = [isinstance(s, dict) and s.get("adopt") is not None for s in specs]
    if any(adopting) and found.adopts and not all(adopting):
        raise OpPrereqError("Either all disks are adopted or none is", ECODE_INVAL)
    if found.adopts and specs and not any(adopting):
        raise OpPrereqError(
            "Disk template %s requires disk adoption, but no 'adopt' parameter given"
            % template, ECODE_INVAL,
        )
    disks = []
    for index, spec in enumerate(specs):
        if not isinstance(spec, dict):
            raise OpPrereqError("Disk %d has no size" % index, ECODE_INVAL)
        mode = spec.get("mode") or "rw"
        if mode not in ("rw", "ro"):
            raise OpPrereqError("Invalid mode of disk %d: %r" % (index, mode), ECODE_INVAL)
        disk = Disk(dev_type=template, size=0, mode=mode, name=spec.get("name"),
                    iv_name="disk/%d" % index)
        found.parse(index, spec, disk)
        size = spec.get("size")
        if found.adopts:
            size = (adopted_sizes or {}).get(disk.logical_id[1], size or 0)
        elif size is None:
            raise OpPrereqError("Disk %d has no size" % index, ECODE_INVAL)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0 or (
            size == 0 and not found.adopts
        ):
            raise OpPrereqError("Invalid size of disk %d: %r" % (index, size), ECODE_INVAL)
        disk.size = size
        disks.append(disk)
    return disks


@defer.inlineCallbacks
def remove_disks(runner, node, disks, feedback=None):
    """Remove C{disks} on C{node}, each through its template's driver.

    Every disk is tried; failures are reported to C{feedback} and returned
    as C{[(disk, exception)]}.
    """
    failures = []
    for disk in disks:
        try:
            yield driver(disk.dev_type).remove(runner, node, disk)
        except (OpExecError, OpPrereqError) as e:
            failures.append((disk, e))
            if feedback is not None:
                feedback("Could not remove disk %s (%s) on %s: %s"
                         % (disk.iv_name, driver(disk.dev_type).describe(disk),
                            node.name, e.args[0]))
    return failures
