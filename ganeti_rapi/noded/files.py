# -*- test-case-name: tests.test_noded_files -*-
"""Files the master may push to a node (C{upload_file}).

Only the names in L{UPLOADABLE_FILES} are accepted; each lands in
C{<data-dir>/node/files/<name>}, written atomically (a reader sees the old
content or the new one, never part of it).
"""

import base64
import binascii
import os

from ganeti_rapi.fileutil import atomic_write
from ganeti_rapi.noded.errors import FileUploadError, InvalidArgument

#: The names C{upload_file} accepts, and what each is.
UPLOADABLE_FILES = {
    "config.data": "copy of the cluster configuration (master candidates)",
    "known_hosts": "SSH host keys of the cluster's nodes",
}

#: Permission bits an uploaded file may have (no set-id or sticky bits).
MAX_MODE = 0o777


class FileReceiver:
    """Receives uploaded files into C{directory}.

    @param runtime: a L{ganeti_rapi.noded.runtime.Runtime}.
    """

    def __init__(self, directory, runtime, allowed=None):
        self.directory = os.path.abspath(directory)
        self.runtime = runtime
        self.allowed = dict(UPLOADABLE_FILES if allowed is None else allowed)

    def _write(self, path, data, mode):
        atomic_write(path, data, mode=mode)
        return os.stat(path).st_size

    async def upload(self, name, content_b64, mode=0o600):
        """Write C{name}; C{{"name", "path", "size", "mode"}}."""
        if not isinstance(name, str) or name not in self.allowed:
            raise FileUploadError(
                f"file {name!r} may not be uploaded; allowed: "
                + ", ".join(sorted(self.allowed))
            )
        if isinstance(mode, str):
            try:
                mode = int(mode, 8)
            except ValueError:
                raise InvalidArgument(f"mode {mode!r} is not an octal number") from None
        if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= MAX_MODE:
            raise InvalidArgument(f"mode must be permission bits 0..0o777, not {mode!r}")
        if not isinstance(content_b64, str):
            raise InvalidArgument("content_b64 must be a base64 string")
        try:
            data = base64.b64decode(content_b64.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as e:
            raise FileUploadError(f"content_b64 is not valid base64: {e}") from None
        path = os.path.join(self.directory, name)
        size = await self.runtime.in_thread(self._write, path, data, mode)
        return {"name": name, "path": path, "size": size, "mode": mode}
