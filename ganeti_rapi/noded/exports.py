# -*- test-case-name: tests.test_exports -*-
"""Instance exports kept by a node, in C{<data-dir>/node/export}.

An export is a directory named after the instance holding C{config.ini}
(Ganeti's description of the instance, written by the master) and the
disk images the OS export script produced.  While an export is being made
its files are gathered in C{<instance>.new}; finalizing writes
C{config.ini} there and puts the directory in the place of the previous
export, so a reader sees either the old export or the new one whole.

Images travel between nodes through the master in chunks (L{read} on the
source, L{receive} on the target); a chunk of zeros travels as a hole and
stays one on the target, so sparse images stay sparse.
"""

import base64
import binascii
import os
import shutil

from ganeti_rapi.fileutil import atomic_write
from ganeti_rapi.noded import validation
from ganeti_rapi.noded.errors import InvalidArgument, StorageError

#: The description of an export (Ganeti's C{EXPORT_CONF_FILE}).
CONFIG_FILE = "config.ini"

#: Suffix of the directory an export is gathered in.
STAGING_SUFFIX = ".new"
_OLD_SUFFIX = ".old"

#: Most bytes one L{read} or L{receive} call moves.
MAX_CHUNK = 8 * 1024 * 1024


def _file_name(name, what="file name"):
    """A plain file name: L{validation.INSTANCE_NAME}'s characters, no slash."""
    if not isinstance(name, str) or not validation.INSTANCE_NAME.fullmatch(name):
        raise InvalidArgument(f"invalid {what}: {name!r}")
    return name


def _int(value, what, minimum=0):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgument(f"{what} must be an integer >= {minimum}, not {value!r}")
    return value


class Exports:
    """The exports of one node.

    @param export_dir: the export directory (OS export scripts write into it).
    @param runtime: a L{ganeti_rapi.noded.runtime.Runtime}.
    """

    def __init__(self, export_dir, runtime):
        self.export_dir = os.path.abspath(export_dir)
        self.runtime = runtime

    # -- paths (these block)

    def _dir(self, name):
        path = os.path.join(self.export_dir, name)
        os.makedirs(self.export_dir, mode=0o750, exist_ok=True)
        if not validation.inside(self.export_dir, path):
            raise InvalidArgument(f"{name!r} leads out of the export directory")
        return path

    def _staging(self, instance_name):
        return self._dir(validation.instance_name(instance_name) + STAGING_SUFFIX)

    # -- blocking work

    def _list(self):
        try:
            entries = sorted(os.listdir(self.export_dir))
        except FileNotFoundError:
            return []
        return [
            name for name in entries
            if validation.INSTANCE_NAME.fullmatch(name)
            and not name.endswith((STAGING_SUFFIX, _OLD_SUFFIX))
            and os.path.isfile(os.path.join(self.export_dir, name, CONFIG_FILE))
        ]

    def _info(self, instance_name):
        path = self._dir(validation.instance_name(instance_name))
        try:
            with open(os.path.join(path, CONFIG_FILE), encoding="utf-8") as f:
                config = f.read()
        except FileNotFoundError:
            raise StorageError(f"no export of {instance_name} on this node") from None
        files = {
            name: os.path.getsize(os.path.join(path, name))
            for name in sorted(os.listdir(path))
            if os.path.isfile(os.path.join(path, name))
        }
        return {"path": path, "config": config, "files": files}

    def _remove(self, instance_name):
        removed = False
        for suffix in ("", STAGING_SUFFIX, _OLD_SUFFIX):
            path = self._dir(validation.instance_name(instance_name) + suffix)
            if os.path.lexists(path):
                shutil.rmtree(path)
                removed = removed or not suffix
        return {"removed": removed}

    def _abort(self, instance_name):
        path = self._staging(instance_name)
        existed = os.path.lexists(path)
        if existed:
            shutil.rmtree(path)
        return {"removed": existed}

    def _read(self, path, offset, length):
        full = self._dir(path)
        try:
            fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise StorageError(f"{path} does not exist in the export directory") from None
        except OSError as e:
            raise StorageError(f"cannot open {path}: {e.strerror}") from None
        try:
            size = os.fstat(fd).st_size
            data = os.pread(fd, length, offset)
        except OSError as e:
            raise StorageError(f"cannot read {path}: {e.strerror}") from None
        finally:
            os.close(fd)
        answer = {"offset": offset, "length": len(data), "size": size,
                  "eof": offset + len(data) >= size}
        if data and data.count(0) == len(data):
            answer["hole"] = True
        else:
            answer["content_b64"] = base64.b64encode(data).decode("ascii")
        return answer

    def _receive(self, instance_name, name, offset, data, hole):
        staging = self._staging(instance_name)
        os.makedirs(staging, mode=0o750, exist_ok=True)
        full = os.path.join(staging, name)
        flags = os.O_WRONLY | os.O_NOFOLLOW
        if offset == 0:
            flags |= os.O_CREAT | os.O_TRUNC
        try:
            fd = os.open(full, flags, 0o600)
        except FileNotFoundError:
            raise StorageError(
                f"{name} of the export of {instance_name} was not started (offset 0)"
            ) from None
        except OSError as e:
            raise StorageError(f"cannot open {name} of the export of {instance_name}: "
                               f"{e.strerror}") from None
        try:
            size = os.fstat(fd).st_size
            if size != offset:
                raise StorageError(
                    f"{name} of the export of {instance_name} has {size} bytes; a chunk "
                    f"at offset {offset} does not follow on"
                )
            if data:
                os.pwrite(fd, data, offset)
            if hole:
                os.ftruncate(fd, offset + len(data) + hole)
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        return {"size": size}

    def _finalize(self, instance_name, config):
        staging = self._staging(instance_name)
        # An instance without disks sends no file before its description.
        os.makedirs(staging, mode=0o750, exist_ok=True)
        atomic_write(os.path.join(staging, CONFIG_FILE), config.encode("utf-8"), mode=0o640)
        final = self._dir(instance_name)
        old = self._dir(instance_name + _OLD_SUFFIX)
        if os.path.lexists(old):
            shutil.rmtree(old)
        if os.path.lexists(final):
            os.rename(final, old)
        os.rename(staging, final)
        if os.path.lexists(old):
            shutil.rmtree(old)
        return self._info(instance_name)

    # -- procedures

    def list(self):
        """Names of the instances this node holds a complete export of."""
        return self.runtime.in_thread(self._list)

    def info(self, instance_name):
        """C{{"path", "config": text of config.ini, "files": {name: bytes}}}."""
        validation.instance_name(instance_name)
        return self.runtime.in_thread(self._info, instance_name)

    def remove(self, instance_name):
        """Remove the export of an instance (and any unfinished one)."""
        validation.instance_name(instance_name)
        return self.runtime.in_thread(self._remove, instance_name)

    def abort(self, instance_name):
        """Remove the unfinished export of an instance, if any."""
        validation.instance_name(instance_name)
        return self.runtime.in_thread(self._abort, instance_name)

    def read(self, path, offset=0, length=MAX_CHUNK):
        """Up to C{length} bytes at C{offset} of a file in the export directory."""
        validation.relative_path(path, "export path")
        _int(offset, "offset")
        _int(length, "length", 1)
        if length > MAX_CHUNK:
            raise InvalidArgument(f"length must be at most {MAX_CHUNK} bytes")
        return self.runtime.in_thread(self._read, path, offset, length)

    def receive(self, instance_name, name, offset, content_b64="", hole_bytes=0):
        """Append a chunk to file C{name} of the export being made.

        A chunk at offset 0 starts the file afresh; others must follow on
        from its current end.  C{hole_bytes} extends the file by that many
        zero bytes without writing them.
        """
        validation.instance_name(instance_name)
        _file_name(name)
        if name == CONFIG_FILE:
            raise InvalidArgument(f"{CONFIG_FILE} is written by export_finalize")
        _int(offset, "offset")
        _int(hole_bytes, "hole_bytes")
        if not isinstance(content_b64, str):
            raise InvalidArgument("content_b64 must be a string")
        try:
            data = base64.b64decode(content_b64.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise InvalidArgument("content_b64 is not base64") from None
        if len(data) > MAX_CHUNK:
            raise InvalidArgument(f"a chunk holds at most {MAX_CHUNK} bytes")
        return self.runtime.in_thread(
            self._receive, instance_name, name, offset, data, hole_bytes
        )

    def finalize(self, instance_name, config):
        """Write C{config.ini} and make the export being made the instance's export."""
        validation.instance_name(instance_name)
        if not isinstance(config, str):
            raise InvalidArgument("config must be the text of config.ini")
        return self.runtime.in_thread(self._finalize, instance_name, config)
