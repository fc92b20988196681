# -*- test-case-name: tests.test_disk_templates -*-
"""Instance disks of every disk template, by the disk's C{dev_type}.

The master sends a disk as its configuration holds it (C{dev_type},
C{logical_id}, C{params}, C{size}, C{uuid}, C{name}); this module finds
where it lives on this node and creates, removes, grows or describes it:

 - C{file}: C{[driver, path]}, a sparse file in the node's file storage
   directory (L{ganeti_rapi.noded.storage.Storage}).
 - C{sharedfile}: C{[driver, absolute path]} inside the node's shared file
   storage directory, a file system every node mounts at the same place.
   The directory must exist: a node never creates it, since a missing
   mount would otherwise turn into storage only this node sees.
 - C{blockdev}: C{[driver, path]} of an adopted device: an existing block
   device or regular file under one of the node's adoptable roots (by
   default Ganeti's C{/dev/disk}).  It is never created, grown or
   destroyed: creating checks it, removing releases it.
 - C{ext}: C{[provider, volume name]} with the provider's parameters in
   C{params} (L{ganeti_rapi.noded.extstorage}).
"""

import os
import posixpath
import stat

from ganeti_rapi.noded.errors import InvalidArgument, StorageError
from ganeti_rapi.noded.storage import MIB

DT_FILE = "file"
DT_SHARED_FILE = "sharedfile"
DT_BLOCK = "blockdev"
DT_EXT = "ext"

#: The disk templates this node holds disks of.
TEMPLATES = (DT_FILE, DT_SHARED_FILE, DT_BLOCK, DT_EXT)

#: Where devices may be adopted from unless the node is told otherwise
#: (Ganeti's C{ADOPTABLE_BLOCKDEV_ROOT}).
DEFAULT_ADOPTABLE_ROOTS = ("/dev/disk",)

#: Ganeti's default shared file storage directory.
DEFAULT_SHARED_FILE_STORAGE_DIR = "/srv/ganeti/shared-file-storage"


def _under(root, path):
    root = root.rstrip("/") or "/"
    return path != root and path.startswith(root.rstrip("/") + "/")


def adoptable_path(path, roots):
    """C{path} if it is normalised, absolute and under one of C{roots} (lexical)."""
    if (
        not isinstance(path, str)
        or not path.startswith("/")
        or "\0" in path
        or posixpath.normpath(path) != path
    ):
        raise InvalidArgument(f"invalid device path {path!r}: it must be absolute and "
                              "normalised")
    if not any(_under(root, path) for root in roots):
        raise StorageError(
            f"{path} is not under a directory devices may be adopted from "
            f"({', '.join(roots) or 'none configured'})"
        )
    return path


def device_size(path):
    """C{(kind, size in bytes)} of a block device or regular file (blocks).

    Symbolic links are followed, as for C{/dev/disk/by-id/...}.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise StorageError(f"{path} does not exist") from None
    except OSError as e:
        raise StorageError(f"{path} cannot be examined: {e.strerror}") from None
    if stat.S_ISREG(st.st_mode):
        return "file", st.st_size
    if not stat.S_ISBLK(st.st_mode):
        raise StorageError(f"{path} is neither a block device nor a regular file")
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        raise StorageError(f"cannot open {path}: {e.strerror}") from None
    try:
        return "block", os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


class NodeDisks:
    """The disks of instances on one node, of every template.

    @param storage: the node's L{Storage} (file storage directory).
    @param shared_storage: a L{Storage} over the shared file storage directory.
    @param extstorage: the node's L{ExtStorage}.
    @param runtime: a L{ganeti_rapi.noded.runtime.Runtime}.
    @param adoptable_roots: directories devices may be adopted from.
    """

    def __init__(self, storage, shared_storage, extstorage, runtime,
                 adoptable_roots=DEFAULT_ADOPTABLE_ROOTS):
        self.storage = storage
        self.shared = shared_storage
        self.ext = extstorage
        self.runtime = runtime
        self.adoptable_roots = [os.path.abspath(r) for r in adoptable_roots]
        storage.shared_file_storage_dir = shared_storage.file_storage_dir
        storage.adoptable_roots = self.adoptable_roots
        storage.ext_devices = extstorage.attached

    # -- where a disk is

    def _dev_type(self, disk):
        if not isinstance(disk, dict):
            raise InvalidArgument("disk must be a JSON object")
        dev_type = disk.get("dev_type")
        if dev_type not in TEMPLATES:
            raise StorageError(
                f"disks of type {dev_type!r} are not supported on this node; it has "
                + ", ".join(TEMPLATES)
            )
        return dev_type

    async def _file(self, disk):
        """C{(storage, relative path)} of a file or shared file disk.

        A shared file disk needs the shared directory to exist already.
        """
        dev_type = disk["dev_type"]
        store = self.storage if dev_type == DT_FILE else self.shared
        full, _ = self.storage.disk_device(disk)
        if dev_type == DT_SHARED_FILE:
            await self.runtime.in_thread(self._shared_dir_exists)
        return store, full[len(store.file_storage_dir) + 1:]

    def _adopted(self, disk):
        logical_id = disk.get("logical_id")
        if not isinstance(logical_id, list) or len(logical_id) != 2:
            raise InvalidArgument(f"blockdev logical_id must be [driver, path], not "
                                  f"{logical_id!r}")
        return adoptable_path(logical_id[1], self.adoptable_roots)

    def _shared_dir_exists(self):
        if not os.path.isdir(self.shared.file_storage_dir):
            raise StorageError(
                f"the shared file storage directory {self.shared.file_storage_dir} does "
                "not exist on this node; mount the shared file system there first"
            )

    @staticmethod
    def _size(value, what="size"):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidArgument(f"{what} must be a positive integer (MiB), not {value!r}")
        return value

    # -- procedures

    async def create(self, disk, size, info=None):
        """Create (or, for C{blockdev}, check) a disk of C{size} MiB."""
        dev_type = self._dev_type(disk)
        if dev_type == DT_BLOCK:
            path = self._adopted(disk)
            kind, size_bytes = await self.runtime.in_thread(device_size, path)
            return {"path": path, "exists": True, "kind": kind, "size": size_bytes // MIB,
                    "size_bytes": size_bytes}
        self._size(size)
        if dev_type == DT_EXT:
            return await self.ext.create(disk, size, info)
        store, relative = await self._file(disk)
        return await store.create_file(relative, size)

    async def remove(self, disk):
        """Remove a disk; C{removed} says whether something was destroyed.

        Adopted devices are released, never destroyed.
        """
        dev_type = self._dev_type(disk)
        if dev_type == DT_BLOCK:
            return {"path": self._adopted(disk), "removed": False}
        if dev_type == DT_EXT:
            return await self.ext.remove(disk)
        store, relative = await self._file(disk)
        return await store.remove_file(relative)

    async def grow(self, disk, new_size):
        """Grow a disk to C{new_size} MiB (its recorded size is C{disk.size})."""
        dev_type = self._dev_type(disk)
        self._size(new_size, "new size")
        if dev_type == DT_BLOCK:
            raise StorageError("adopted block devices cannot be grown by the cluster")
        if dev_type == DT_EXT:
            size = disk.get("size")
            if isinstance(size, bool) or not isinstance(size, int):
                raise InvalidArgument("an ext disk to grow needs its current size")
            return await self.ext.grow(disk, size, new_size)
        store, relative = await self._file(disk)
        return await store.grow_file(relative, new_size)

    async def info(self, disk):
        """Where a disk is and whether it exists: C{{"path", "exists", "size", ...}}.

        For C{ext} disks this attaches the volume.
        """
        dev_type = self._dev_type(disk)
        if dev_type == DT_BLOCK:
            path = self._adopted(disk)
            try:
                kind, size_bytes = await self.runtime.in_thread(device_size, path)
            except StorageError:
                return {"path": path, "exists": False, "size": None, "size_bytes": None}
            return {"path": path, "exists": True, "kind": kind, "size": size_bytes // MIB,
                    "size_bytes": size_bytes}
        if dev_type == DT_EXT:
            path = await self.ext.attach(disk)
            return {"path": path, "exists": True}
        store, relative = await self._file(disk)
        return await store.file_info(relative)

    async def attach(self, disks):
        """Make the devices of C{disks} known (attach C{ext} volumes)."""
        if not isinstance(disks, list):
            raise InvalidArgument("disks must be a list")
        for disk in disks:
            if isinstance(disk, dict) and disk.get("dev_type") == DT_EXT:
                await self.ext.attach(disk)

    async def sizes(self, devices):
        """For adoption: C{{path: {"size": MiB, "kind"} or {"error": why}}}."""
        if not isinstance(devices, list) or not all(isinstance(d, str) for d in devices):
            raise InvalidArgument("devices must be a list of paths")
        result = {}
        for path in devices:
            try:
                adoptable_path(path, self.adoptable_roots)
                kind, size_bytes = await self.runtime.in_thread(device_size, path)
            except (InvalidArgument, StorageError) as e:
                result[path] = {"error": str(e)}
                continue
            result[path] = {"size": size_bytes // MIB, "kind": kind}
        return result

