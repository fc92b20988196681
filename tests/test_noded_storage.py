"""Node storage: listing, LVM commands (real or stand-ins), and file disks."""

import os

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase, TestCase

from ganeti_rapi.noded import errors
from ganeti_rapi.noded.procedures import NodeProcedures
from ganeti_rapi.noded.storage import MIB, default_which
from ganeti_rapi.noded.testing import run_synchronously, write_script

VGS_OUTPUT = "  xenvg|10236.00|2048.00\n  other|500.50|500.50\n"
PVS_OUTPUT = (
    "  /dev/sda2|10236.00|8188.00|2048.00|a--|xenvg\n"
    "  /dev/sdb1|500.00|0|500.00|---|other\n"
)


def fake_tool(directory, name, output="", exit_code=0, error=""):
    """A stand-in LVM tool that logs its arguments and prints C{output}."""
    log = os.path.join(directory, "calls")
    return write_script(
        os.path.join(directory, name),
        "#!/bin/sh\n"
        f'echo "{name} $*" >> "{log}"\n'
        f"cat <<'EOF'\n{output}EOF\n"
        f"printf '%s' '{error}' >&2\n"
        f"exit {exit_code}\n",
    )


class FileStorageTests(SynchronousTestCase):
    """The file storage type and file disks, with synchronous file work."""

    def setUp(self):
        self.data_dir = os.path.abspath(self.mktemp())
        self.node = NodeProcedures(self.data_dir, run_in_thread=run_synchronously)
        self.storage_dir = os.path.join(self.data_dir, "file-storage")

    def call(self, procedure, /, **kwargs):
        return self.successResultOf(getattr(self.node, "rpc_" + procedure)(**kwargs))

    def fails(self, error, procedure, /, **kwargs):
        failure = self.failureResultOf(getattr(self.node, "rpc_" + procedure)(**kwargs))
        failure.trap(error)
        return failure.value

    def test_list_file(self):
        """The file storage directory is one row sized by statvfs, all fields by default."""
        rows = self.call("storage_list", storage_type="file")
        st = os.statvfs(self.storage_dir)
        total = st.f_blocks * st.f_frsize // MIB
        self.assertEqual(len(rows), 1)
        name, size, used, free, allocatable, kind = rows[0]
        self.assertEqual((name, size, allocatable, kind), (self.storage_dir, total, True, "file"))
        self.assertEqual(used, size - free)
        self.assertGreater(size, 0)
        self.assertTrue(0 <= free <= size)

    def test_list_fields_in_order(self):
        """Rows hold the requested fields in the requested order."""
        rows = self.call(
            "storage_list", storage_type="file", name_or_path=self.storage_dir,
            fields=["allocatable", "name"],
        )
        self.assertEqual(rows, [[True, self.storage_dir]])

    def test_list_unknown_field(self):
        """An unknown field is refused, naming the known ones."""
        error = self.fails(
            errors.InvalidArgument, "storage_list", storage_type="file", fields=["colour"]
        )
        self.assertIn("colour", str(error))
        self.assertIn("allocatable", str(error))

    def test_list_other_path_refused(self):
        """A file storage path outside the configured directory is refused."""
        self.fails(errors.StorageError, "storage_list", storage_type="file",
                   name_or_path="/etc")
        self.fails(errors.InvalidArgument, "storage_list", storage_type="file",
                   name_or_path="relative")

    def test_unknown_type(self):
        """An unknown storage type is refused, naming the known ones."""
        error = self.fails(errors.InvalidArgument, "storage_list", storage_type="rados")
        self.assertIn("lvm-vg", str(error))

    def test_modify_and_repair_unsupported(self):
        """Only lvm-pv can be modified (allocatable) and only lvm-vg repaired."""
        error = self.fails(errors.StorageError, "storage_modify", storage_type="file",
                           name=self.storage_dir, changes={"allocatable": False})
        self.assertIn("only lvm-pv's allocatable", str(error))
        error = self.fails(errors.StorageError, "storage_modify", storage_type="lvm-pv",
                           name="/dev/sda2", changes={"size": 3})
        self.assertIn("only allocatable", str(error))
        for storage_type in ("file", "lvm-pv"):
            error = self.fails(errors.StorageError, "storage_repair",
                               storage_type=storage_type, name="x")
            self.assertIn("only lvm-vg", str(error))

    def test_create_sparse_file(self):
        """A created file disk has its full size but almost no blocks."""
        info = self.call("blockdev_create_file", path="inst1/disk0", size_mib=64)
        path = os.path.join(self.storage_dir, "inst1", "disk0")
        self.assertEqual(info["path"], path)
        st = os.stat(path)
        self.assertEqual(st.st_size, 64 * MIB)
        self.assertLess(st.st_blocks * 512, MIB)
        self.assertEqual((info["exists"], info["size"], info["size_bytes"]),
                         (True, 64, 64 * MIB))

    def test_create_existing_refused(self):
        """Creating a file disk that exists fails and leaves it alone."""
        self.call("blockdev_create_file", path="d", size_mib=1)
        self.fails(errors.StorageError, "blockdev_create_file", path="d", size_mib=2)
        self.assertEqual(os.path.getsize(os.path.join(self.storage_dir, "d")), MIB)

    def test_grow(self):
        """Growing keeps the file sparse; shrinking is refused."""
        self.call("blockdev_create_file", path="d", size_mib=8)
        info = self.call("blockdev_grow_file", path="d", new_size_mib=1024)
        st = os.stat(os.path.join(self.storage_dir, "d"))
        self.assertEqual((st.st_size, info["size"]), (1024 * MIB, 1024))
        self.assertLess(st.st_blocks * 512, MIB)
        error = self.fails(errors.StorageError, "blockdev_grow_file", path="d",
                           new_size_mib=4)
        self.assertIn("cannot shrink", str(error))
        self.fails(errors.StorageError, "blockdev_grow_file", path="missing",
                   new_size_mib=4)

    def test_remove_and_info(self):
        """Removing a file disk deletes it; info and a second remove see it gone."""
        self.call("blockdev_create_file", path="a/b", size_mib=1)
        self.assertTrue(self.call("blockdev_file_info", path="a/b")["exists"])
        self.assertEqual(self.call("blockdev_remove_file", path="a/b")["removed"], True)
        self.assertEqual(self.call("blockdev_remove_file", path="a/b")["removed"], False)
        info = self.call("blockdev_file_info", path="a/b")
        self.assertEqual((info["exists"], info["size"]), (False, None))

    def test_traversal_refused(self):
        """Absolute, unnormalised and '..' paths are refused before touching the disk."""
        for path in ("/etc/passwd", "../x", "a/../../x", "a/../b", "./a", "a//b", "",
                     ".", "a/", 5):
            for procedure, kwargs in (
                ("blockdev_create_file", {"size_mib": 1}),
                ("blockdev_grow_file", {"new_size_mib": 1}),
                ("blockdev_remove_file", {}),
                ("blockdev_file_info", {}),
            ):
                self.fails(errors.InvalidArgument, procedure, path=path, **kwargs)
        self.assertFalse(os.path.exists(os.path.join(self.data_dir, "x")))

    def test_symlink_escape_refused(self):
        """A symbolic link inside the storage directory cannot lead a disk outside it."""
        outside = os.path.abspath(self.mktemp())
        os.makedirs(outside)
        os.makedirs(self.storage_dir)
        os.symlink(outside, os.path.join(self.storage_dir, "link"))
        self.fails(errors.InvalidArgument, "blockdev_create_file", path="link/d",
                   size_mib=1)
        self.assertEqual(os.listdir(outside), [])
        os.symlink("/etc/hostname", os.path.join(self.storage_dir, "file-link"))
        self.fails(errors.StorageError, "blockdev_grow_file", path="file-link",
                   new_size_mib=1)

    def test_bad_sizes(self):
        """Sizes must be positive integers of MiB."""
        for size in (0, -1, 1.5, "10", True):
            self.fails(errors.InvalidArgument, "blockdev_create_file", path="d",
                       size_mib=size)


class LvmTests(TestCase):
    """LVM storage types through stand-in tools run with spawnProcess."""

    def setUp(self):
        self.tools = os.path.abspath(self.mktemp())
        os.makedirs(self.tools)
        self.calls = os.path.join(self.tools, "calls")

    def node(self, which):
        return NodeProcedures(
            os.path.abspath(self.mktemp()), run_in_thread=run_synchronously, which=which
        )

    def which_tools(self, name):
        path = os.path.join(self.tools, name)
        return path if os.path.exists(path) else None

    def logged(self):
        with open(self.calls) as f:
            return f.read().splitlines()

    @defer.inlineCallbacks
    def test_tools_missing(self):
        """Without vgs/pvs the listing fails saying the LVM tools are not installed."""
        node = self.node(lambda name: None)
        for storage_type in ("lvm-vg", "lvm-pv"):
            e = yield self.assertFailure(
                node.rpc_storage_list(storage_type=storage_type), errors.StorageError
            )
            self.assertEqual(str(e), "LVM tools (vgs/pvs) are not installed on this node")
        e = yield self.assertFailure(
            node.rpc_storage_modify(storage_type="lvm-pv", name="/dev/sda2",
                                    changes={"allocatable": False}),
            errors.StorageError,
        )
        self.assertIn("pvchange", str(e))

    @defer.inlineCallbacks
    def test_list_vgs(self):
        """Volume groups are listed from vgs with Ganeti's options, sizes rounded to MiB."""
        fake_tool(self.tools, "vgs", VGS_OUTPUT)
        rows = yield self.node(self.which_tools).rpc_storage_list(storage_type="lvm-vg")
        self.assertEqual(
            rows,
            [
                ["xenvg", 10236, 8188, 2048, True, "lvm-vg"],
                ["other", 500, 0, 500, True, "lvm-vg"],
            ],
        )
        self.assertEqual(
            self.logged(),
            ["vgs --noheadings --units m --nosuffix --separator | -o vg_name,vg_size,vg_free"],
        )

    @defer.inlineCallbacks
    def test_list_pvs(self):
        """Physical volumes are listed from pvs with allocatable from the attributes."""
        fake_tool(self.tools, "vgs")
        fake_tool(self.tools, "pvs", PVS_OUTPUT)
        rows = yield self.node(self.which_tools).rpc_storage_list(
            storage_type="lvm-pv", name_or_path="/dev/sda2",
            fields=["name", "vg", "allocatable", "used", "free", "size"],
        )
        self.assertEqual(
            rows,
            [
                ["/dev/sda2", "xenvg", True, 8188, 2048, 10236],
                ["/dev/sdb1", "other", False, 0, 500, 500],
            ],
        )
        self.assertTrue(self.logged()[0].endswith("pv_attr,vg_name /dev/sda2"))

    @defer.inlineCallbacks
    def test_modify_allocatable(self):
        """Setting allocatable runs pvchange -x y or -x n on the volume."""
        fake_tool(self.tools, "pvchange")
        node = self.node(self.which_tools)
        yield node.rpc_storage_modify(storage_type="lvm-pv", name="/dev/sda2",
                                      changes={"allocatable": False})
        yield node.rpc_storage_modify(storage_type="lvm-pv", name="/dev/sda2",
                                      changes={"allocatable": True})
        self.assertEqual(self.logged(), ["pvchange -x n /dev/sda2", "pvchange -x y /dev/sda2"])

    @defer.inlineCallbacks
    def test_repair(self):
        """Repairing a volume group runs vgreduce --removemissing; a failure says why."""
        fake_tool(self.tools, "vgreduce")
        node = self.node(self.which_tools)
        yield node.rpc_storage_repair(storage_type="lvm-vg", name="xenvg")
        self.assertEqual(self.logged(), ["vgreduce --removemissing xenvg"])
        fake_tool(self.tools, "vgreduce", exit_code=5, error="Volume group not found")
        e = yield self.assertFailure(
            node.rpc_storage_repair(storage_type="lvm-vg", name="nope"),
            errors.StorageError,
        )
        self.assertIn("exit code 5", str(e))
        self.assertIn("Volume group not found", str(e))

    @defer.inlineCallbacks
    def test_option_like_names_refused(self):
        """Volume names that could pass for options are refused before any command runs."""
        fake_tool(self.tools, "vgreduce")
        fake_tool(self.tools, "pvchange")
        node = self.node(self.which_tools)
        yield self.assertFailure(
            node.rpc_storage_repair(storage_type="lvm-vg", name="--all"),
            errors.InvalidArgument,
        )
        yield self.assertFailure(
            node.rpc_storage_modify(storage_type="lvm-pv", name="-x",
                                    changes={"allocatable": True}),
            errors.InvalidArgument,
        )
        self.assertFalse(os.path.exists(self.calls))

    @defer.inlineCallbacks
    def test_real_tools_or_clear_error(self):
        """With this machine's own tools, listing gives rows or the clear missing-tools error."""
        node = self.node(default_which)
        d = node.rpc_storage_list(storage_type="lvm-vg")
        if default_which("vgs") is None:
            e = yield self.assertFailure(d, errors.StorageError)
            self.assertIn("not installed", str(e))
        else:
            try:
                rows = yield d
            except errors.StorageError as e:
                # Present but unusable here (no permission, no device mapper).
                self.assertIn("vgs", str(e))
            else:
                self.assertIsInstance(rows, list)
