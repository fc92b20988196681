# -*- test-case-name: tests.test_noded_storage -*-
"""Node storage: listing, modifying and repairing storage units, file disks.

Storage types (Ganeti's names):

 - C{file}: a directory on the node (by default C{<data-dir>/file-storage});
   one unit, the directory itself, sized with C{statvfs}.
 - C{lvm-vg}: LVM volume groups, listed with C{vgs}.
 - C{lvm-pv}: LVM physical volumes, listed with C{pvs}.

Rows of L{Storage.list} hold the values of the requested fields, in order.
Sizes are MiB.  LVM commands run through C{spawnProcess} when the tools
exist on the node; without them the procedures say that LVM is missing.

File disks are sparse files under the file storage directory, named by a
path relative to it; the path is checked before it is used, and symbolic
links may not lead out of the directory.
"""

import os
import posixpath
import re
import shutil
import stat

from ganeti_rapi.noded import nodeinfo, validation
from ganeti_rapi.noded.errors import InvalidArgument, StorageError

MIB = 1024 * 1024

ST_FILE = "file"
ST_LVM_VG = "lvm-vg"
ST_LVM_PV = "lvm-pv"

#: The fields each storage type can list, in their default order.
FIELDS = {
    ST_FILE: ("name", "size", "used", "free", "allocatable", "type"),
    ST_LVM_VG: ("name", "size", "used", "free", "allocatable", "type"),
    ST_LVM_PV: ("name", "size", "used", "free", "allocatable", "type", "vg"),
}

#: Fields that C{storage_modify} can change, per storage type.
MODIFIABLE = {ST_LVM_PV: ("allocatable",)}

#: The storage types C{storage_repair} works on (Ganeti's fix-consistency).
REPAIRABLE = (ST_LVM_VG,)

#: PATH given to the commands run here (Ganeti's hooks path).
COMMAND_PATH = "/sbin:/bin:/usr/sbin:/usr/bin"

#: Where LVM tools are looked for beyond the daemon's own PATH.
_TOOL_PATH = COMMAND_PATH

_LVM_OPTIONS = ["--noheadings", "--units", "m", "--nosuffix", "--separator", "|"]

#: A physical volume name: an absolute device path.
_PV_NAME = re.compile(r"/[\w./+-]+", re.ASCII)


def default_which(name):
    """The path of the program C{name} on this node, or L{None} (blocks)."""
    search = os.pathsep.join(
        p for p in [os.environ.get("PATH", ""), _TOOL_PATH] if p
    )
    return shutil.which(name, path=search)


def _check_type(storage_type):
    if storage_type not in FIELDS:
        raise InvalidArgument(
            f"unknown storage type {storage_type!r}; this node has: "
            + ", ".join(sorted(FIELDS))
        )
    return storage_type


def _mib(text):
    try:
        return int(round(float(text)))
    except ValueError:
        raise StorageError(f"unexpected number in LVM output: {text!r}") from None


class Storage:
    """The storage of one node.

    @param file_storage_dir: the directory of the C{file} storage type.
    @param runtime: a L{ganeti_rapi.noded.runtime.Runtime}.
    @param which: C{name -> path or None}, finding LVM tools (blocks; it
        is called in a thread).
    @param timeout: seconds an LVM command may take.
    """

    def __init__(self, file_storage_dir, runtime, which=default_which, timeout=60.0):
        self.file_storage_dir = os.path.abspath(file_storage_dir)
        self.runtime = runtime
        self.which = which
        self.timeout = timeout
        #: Set by L{ganeti_rapi.noded.disks.NodeDisks}: the shared file
        #: storage directory, the roots devices may be adopted from, and
        #: the devices of attached ExtStorage volumes.
        self.shared_file_storage_dir = None
        self.adoptable_roots = ()
        self.ext_devices = {}

    # -- storage units ----------------------------------------------------

    def check_units(self, units):
        """C{[(type, name)]} from C{node_info}'s C{storage_units}.

        L{None} means the file storage directory.  Each unit is
        C{[type, name]} (more items, Ganeti's unit parameters, are ignored).
        """
        if units is None:
            return [(ST_FILE, self.file_storage_dir)]
        if not isinstance(units, list):
            raise InvalidArgument("storage_units must be a list of [type, name]")
        result = []
        for unit in units:
            if not isinstance(unit, list) or not unit:
                raise InvalidArgument(f"bad storage unit {unit!r}: want [type, name]")
            name = unit[1] if len(unit) > 1 else None
            if name is not None and not isinstance(name, str):
                raise InvalidArgument(f"bad storage unit name {name!r}")
            result.append((_check_type(unit[0]), name))
        return result

    def _file_dir(self, path):
        """The file storage directory named by C{path} (lexical check)."""
        if path is None or path == self.file_storage_dir:
            return self.file_storage_dir
        if not isinstance(path, str) or not path.startswith("/"):
            raise InvalidArgument(f"file storage path must be absolute: {path!r}")
        normal = posixpath.normpath(path)
        if normal != path or not normal.startswith(self.file_storage_dir + "/"):
            raise StorageError(
                f"{path} is not the file storage directory "
                f"{self.file_storage_dir} or a directory in it"
            )
        return path

    def _file_space(self, path):
        os.makedirs(self.file_storage_dir, mode=0o750, exist_ok=True)
        if path != self.file_storage_dir and not validation.inside(
            self.file_storage_dir, path
        ):
            raise StorageError(f"{path} leads out of the file storage directory")
        try:
            size, free = nodeinfo.statvfs_mib(path)
        except OSError as e:
            raise StorageError(f"cannot get the space of {path}: {e.strerror}") from None
        return {"size": size, "free": free}

    async def space(self, storage_type, name=None):
        """C{{"size", "free"}} MiB of one storage unit."""
        _check_type(storage_type)
        if storage_type == ST_FILE:
            path = self._file_dir(name)
            return await self.runtime.in_thread(self._file_space, path)
        if name is None:
            raise InvalidArgument(f"a {storage_type} unit needs a name")
        rows = await self._lvm_rows(storage_type, name)
        if not rows:
            raise StorageError(f"no {storage_type} named {name}")
        return {"size": rows[0]["size"], "free": rows[0]["free"]}

    async def list(self, storage_type, name_or_path=None, fields=None):
        """Rows of C{fields} (all of the type's if L{None}) for each unit."""
        _check_type(storage_type)
        known = FIELDS[storage_type]
        if fields is None:
            fields = list(known)
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise InvalidArgument("fields must be a list of field names")
        unknown = [f for f in fields if f not in known]
        if unknown:
            raise InvalidArgument(
                f"unknown {storage_type} field(s): {', '.join(unknown)}; "
                f"known: {', '.join(known)}"
            )
        if storage_type == ST_FILE:
            path = self._file_dir(name_or_path)
            space = await self.runtime.in_thread(self._file_space, path)
            units = [
                {
                    "name": path,
                    "size": space["size"],
                    "used": space["size"] - space["free"],
                    "free": space["free"],
                    "allocatable": True,
                    "type": ST_FILE,
                }
            ]
        else:
            units = await self._lvm_rows(storage_type, name_or_path)
        return [[unit[f] for f in fields] for unit in units]

    async def modify(self, storage_type, name, changes):
        """Change fields of one unit; only C{lvm-pv}'s C{allocatable} can be."""
        _check_type(storage_type)
        if not isinstance(changes, dict):
            raise InvalidArgument("changes must be a JSON object")
        modifiable = MODIFIABLE.get(storage_type, ())
        if not modifiable:
            raise StorageError(
                f"storage type {storage_type} has no modifiable fields; only "
                "lvm-pv's allocatable can be modified"
            )
        bad = sorted(set(changes) - set(modifiable))
        if bad:
            raise StorageError(
                f"field(s) {', '.join(bad)} of {storage_type} cannot be modified; "
                f"only {', '.join(modifiable)} can"
            )
        self._lvm_name(storage_type, name)
        if "allocatable" in changes:
            value = changes["allocatable"]
            if not isinstance(value, bool):
                raise InvalidArgument(f"allocatable must be true or false, not {value!r}")
            flag = "y" if value else "n"
            await self._lvm_command("pvchange", ["-x", flag, name])
        return None

    async def repair(self, storage_type, name):
        """Repair one unit; only C{lvm-vg} (C{vgreduce --removemissing})."""
        _check_type(storage_type)
        if storage_type not in REPAIRABLE:
            raise StorageError(
                f"storage type {storage_type} cannot be repaired; only "
                "lvm-vg has a repair operation (fix-consistency)"
            )
        self._lvm_name(storage_type, name)
        await self._lvm_command("vgreduce", ["--removemissing", name])
        return None

    # -- LVM --------------------------------------------------------------

    def _lvm_name(self, storage_type, name):
        if storage_type == ST_LVM_PV:
            if (
                not isinstance(name, str)
                or not _PV_NAME.fullmatch(name)
                or ".." in name.split("/")
            ):
                raise InvalidArgument(f"invalid physical volume name: {name!r}")
            return name
        return validation.simple_name(name, "volume group name")

    async def _tool(self, name, missing_message):
        path = await self.runtime.in_thread(self.which, name)
        if not path:
            raise StorageError(missing_message)
        return path

    async def _lvm_command(self, tool, args):
        """Run an LVM tool; its standard output, or L{StorageError}."""
        path = await self._tool(tool, f"LVM tools ({tool}) are not installed on this node")
        result = await self.runtime.run(
            [path] + args,
            env={"PATH": COMMAND_PATH, "LC_ALL": "C"},
            timeout=self.timeout,
        )
        if not result.succeeded:
            raise StorageError(
                f"{tool} {' '.join(args)} failed ({result.describe(self.timeout)}): "
                f"{result.output_text()}"
            )
        return result.stdout.decode("utf-8", "replace")

    async def _lvm_rows(self, storage_type, name=None):
        """Units of an LVM storage type, as dicts of all fields."""
        await self._tool("vgs", "LVM tools (vgs/pvs) are not installed on this node")
        args = list(_LVM_OPTIONS)
        if storage_type == ST_LVM_VG:
            tool = "vgs"
            args += ["-o", "vg_name,vg_size,vg_free"]
        else:
            tool = "pvs"
            args += ["-o", "pv_name,pv_size,pv_used,pv_free,pv_attr,vg_name"]
        if name is not None:
            args.append(self._lvm_name(storage_type, name))
        output = await self._lvm_command(tool, args)
        rows = []
        for line in output.splitlines():
            line = line.strip()
            if not line:
                continue
            parts = [p.strip() for p in line.split("|")]
            if storage_type == ST_LVM_VG:
                if len(parts) != 3:
                    raise StorageError(f"unexpected vgs output line: {line!r}")
                size, free = _mib(parts[1]), _mib(parts[2])
                rows.append(
                    {
                        "name": parts[0],
                        "size": size,
                        "used": size - free,
                        "free": free,
                        "allocatable": True,
                        "type": ST_LVM_VG,
                    }
                )
            else:
                if len(parts) != 6:
                    raise StorageError(f"unexpected pvs output line: {line!r}")
                rows.append(
                    {
                        "name": parts[0],
                        "size": _mib(parts[1]),
                        "used": _mib(parts[2]),
                        "free": _mib(parts[3]),
                        "allocatable": parts[4][:1] == "a",
                        "type": ST_LVM_PV,
                        "vg": parts[5],
                    }
                )
        return rows

    # -- file disks -------------------------------------------------------

    def _disk_path(self, path):
        """The absolute path of file disk C{path}, checked (blocks).

        The directory holding it must resolve inside the file storage
        directory; it is created if missing.
        """
        full = os.path.join(self.file_storage_dir, path)
        parent = os.path.dirname(full)
        os.makedirs(self.file_storage_dir, mode=0o750, exist_ok=True)
        real_base = os.path.realpath(self.file_storage_dir)

        def parent_ok():
            return os.path.realpath(parent) == real_base or validation.inside(
                self.file_storage_dir, parent
            )

        if not parent_ok():
            raise InvalidArgument(f"{path!r} leads out of the file storage directory")
        os.makedirs(parent, mode=0o750, exist_ok=True)
        if not parent_ok():
            raise InvalidArgument(f"{path!r} leads out of the file storage directory")
        return full

    @staticmethod
    def _describe(full):
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            return {"path": full, "exists": False, "size": None, "size_bytes": None,
                    "allocated_bytes": None}
        return {
            "path": full,
            "exists": True,
            "size": st.st_size // MIB,
            "size_bytes": st.st_size,
            "allocated_bytes": st.st_blocks * 512,
        }

    def _create_file(self, path, size):
        full = self._disk_path(path)
        try:
            fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            raise StorageError(f"file disk {path} already exists") from None
        try:
            os.ftruncate(fd, size * MIB)
        except OSError as e:
            os.close(fd)
            os.unlink(full)
            raise StorageError(f"cannot size file disk {path}: {e.strerror}") from None
        os.close(fd)
        return self._describe(full)

    def _grow_file(self, path, size):
        full = self._disk_path(path)
        try:
            fd = os.open(full, os.O_WRONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise StorageError(f"file disk {path} does not exist") from None
        except OSError as e:
            raise StorageError(f"cannot open file disk {path}: {e.strerror}") from None
        try:
            current = os.fstat(fd).st_size
            if size * MIB < current:
                raise StorageError(
                    f"file disk {path} is {current // MIB} MiB; it cannot shrink "
                    f"to {size} MiB"
                )
            os.ftruncate(fd, size * MIB)
        finally:
            os.close(fd)
        return self._describe(full)

    def _remove_file(self, path):
        full = self._disk_path(path)
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            return {"path": full, "removed": False}
        if stat.S_ISDIR(st.st_mode):
            raise StorageError(f"{path} is a directory, not a file disk")
        os.unlink(full)
        return {"path": full, "removed": True}

    def _file_info(self, path):
        return self._describe(self._disk_path(path))

    @staticmethod
    def _size(size, what):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InvalidArgument(f"{what} must be a positive integer (MiB), not {size!r}")
        return size

    def create_file(self, path, size):
        """Create a sparse file disk of C{size} MiB; fails if it exists."""
        validation.relative_path(path, "file disk path")
        self._size(size, "size")
        return self.runtime.in_thread(self._create_file, path, size)

    def grow_file(self, path, size):
        """Make a file disk C{size} MiB long; shrinking is refused."""
        validation.relative_path(path, "file disk path")
        self._size(size, "new size")
        return self.runtime.in_thread(self._grow_file, path, size)

    def remove_file(self, path):
        """Remove a file disk; C{removed} says whether it was there."""
        validation.relative_path(path, "file disk path")
        return self.runtime.in_thread(self._remove_file, path)

    def file_info(self, path):
        """Whether a file disk exists, and its size."""
        validation.relative_path(path, "file disk path")
        return self.runtime.in_thread(self._file_info, path)

    # -- disks of instances -----------------------------------------------

    def disk_device(self, disk):
        """C{(path, backend_type)} of an instance's disk (lexical checks only).

        C{file} disks: C{logical_id} is C{[driver, path]} with the path
        relative to the file storage directory or absolute inside it;
        backend C{file:<driver>}.  C{plain} (LVM) disks: C{[vg, lv]} gives
        C{/dev/vg/lv}, backend C{block}.  C{blockdev} disks:
        C{[driver, path]} under C{/dev/} or an adoptable root, backend
        C{block}.  C{sharedfile} disks: C{[driver, absolute path]} inside
        the shared file storage directory, backend C{file:<driver>}.
        C{ext} disks: C{[provider, volume]}, the device their C{attach}
        script printed (the volume must have been attached), backend
        C{block}.
        """
        dev_type = disk.get("dev_type")
        logical_id = disk.get("logical_id")
        if not isinstance(logical_id, list) or len(logical_id) != 2:
            raise InvalidArgument(f"disk logical_id must be a pair, not {logical_id!r}")
        first, second = logical_id
        if dev_type == "file":
            driver = first if isinstance(first, str) and first else "loop"
            validation.simple_name(driver, "file driver")
            if isinstance(second, str) and second.startswith("/"):
                normal = posixpath.normpath(second)
                if normal != second or not normal.startswith(self.file_storage_dir + "/"):
                    raise InvalidArgument(
                        f"file disk {second!r} is not inside the file storage "
                        f"directory {self.file_storage_dir}"
                    )
                relative = normal[len(self.file_storage_dir) + 1:]
            else:
                relative = second
            validation.relative_path(relative, "file disk path")
            return os.path.join(self.file_storage_dir, relative), f"file:{driver}"
        if dev_type == "plain":
            vg = validation.simple_name(first, "volume group name")
            lv = validation.simple_name(second, "logical volume name")
            return f"/dev/{vg}/{lv}", "block"
        if dev_type == "blockdev":
            if (
                not isinstance(second, str)
                or not second.startswith("/")
                or posixpath.normpath(second) != second
                or not (
                    second.startswith("/dev/")
                    or any(second.startswith(r.rstrip("/") + "/")
                           for r in self.adoptable_roots)
                )
            ):
                raise InvalidArgument(f"invalid block device path {second!r}")
            return second, "block"
        if dev_type == "sharedfile":
            shared = self.shared_file_storage_dir
            driver = first if isinstance(first, str) and first else "loop"
            validation.simple_name(driver, "file driver")
            if (
                shared is None
                or not isinstance(second, str)
                or posixpath.normpath(second) != second
                or not second.startswith(shared + "/")
            ):
                raise InvalidArgument(
                    f"shared file disk {second!r} is not inside the shared file "
                    f"storage directory {shared}"
                )
            validation.relative_path(second[len(shared) + 1:], "shared file disk path")
            return second, f"file:{driver}"
        if dev_type == "ext":
            key = (first, second)
            if key not in self.ext_devices:
                raise StorageError(
                    f"ExtStorage volume {second!r} of provider {first!r} is not "
                    "attached on this node"
                )
            return self.ext_devices[key], "block"
        raise StorageError(f"disks of type {dev_type!r} are not supported on this node")

    def check_disk_file(self, path):
        """Fail unless file disk C{path} (absolute) stays inside (blocks)."""
        if validation.inside(self.file_storage_dir, path):
            return
        shared = self.shared_file_storage_dir
        if shared is not None and validation.inside(shared, path):
            return
        raise InvalidArgument(f"{path} leads out of the file storage directory")
