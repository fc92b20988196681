"""upload_file: the allow-list, atomic writes and refused names."""

import base64
import os

from twisted.trial.unittest import SynchronousTestCase

from ganeti_rapi.noded import errors
from ganeti_rapi.noded.files import UPLOADABLE_FILES
from ganeti_rapi.noded.procedures import NodeProcedures
from ganeti_rapi.noded.testing import run_synchronously


def b64(data):
    return base64.b64encode(data).decode("ascii")


class UploadTests(SynchronousTestCase):
    """Files pushed by the master into <data-dir>/node/files."""

    def setUp(self):
        self.data_dir = os.path.abspath(self.mktemp())
        self.node = NodeProcedures(self.data_dir, run_in_thread=run_synchronously)
        self.files = os.path.join(self.data_dir, "node", "files")

    def upload(self, **kwargs):
        return self.node.rpc_upload_file(**kwargs)

    def test_allowed_names(self):
        """The allow-list holds config.data and known_hosts."""
        self.assertEqual(sorted(UPLOADABLE_FILES), ["config.data", "known_hosts"])

    def test_upload_writes_file(self):
        """An allowed file is written with its content and mode."""
        result = self.successResultOf(
            self.upload(name="config.data", content_b64=b64(b'{"version": 1}'), mode=0o640)
        )
        path = os.path.join(self.files, "config.data")
        self.assertEqual(
            result, {"name": "config.data", "path": path, "size": 14, "mode": 0o640}
        )
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b'{"version": 1}')
        self.assertEqual(os.stat(path).st_mode & 0o7777, 0o640)

    def test_replace(self):
        """A second upload replaces the file whole, leaving no temporary files."""
        self.successResultOf(self.upload(name="known_hosts", content_b64=b64(b"old\n" * 100)))
        self.successResultOf(
            self.upload(name="known_hosts", content_b64=b64(b"new\n"), mode="0644")
        )
        with open(os.path.join(self.files, "known_hosts"), "rb") as f:
            self.assertEqual(f.read(), b"new\n")
        self.assertEqual(os.listdir(self.files), ["known_hosts"])

    def test_names_not_allowed(self):
        """Names off the list, including traversal attempts, are refused and nothing is written."""
        for name in ("passwd", "../config.data", "/etc/passwd", "config.data/../x",
                     "rapi/users", "", None):
            failure = self.failureResultOf(
                self.upload(name=name, content_b64=b64(b"x")), errors.FileUploadError
            )
            self.assertIn("allowed: config.data, known_hosts", str(failure.value))
        self.assertFalse(os.path.exists(self.files))

    def test_bad_content_and_mode(self):
        """Content that is not base64 and modes beyond 0777 are refused."""
        self.failureResultOf(
            self.upload(name="config.data", content_b64="not base64!"), errors.FileUploadError
        )
        for mode in (0o4755, -1, "rwx", 1.5, True):
            self.failureResultOf(
                self.upload(name="config.data", content_b64=b64(b"x"), mode=mode),
                errors.InvalidArgument,
            )
        self.assertFalse(os.path.exists(os.path.join(self.files, "config.data")))
