"""OS definitions: finding them, and running their scripts as real processes."""

import os
import re

from twisted.internet import defer, reactor
from twisted.trial.unittest import TestCase

from ganeti_rapi.noded import errors, osapi
from ganeti_rapi.noded.procedures import NodeProcedures
from ganeti_rapi.noded.testing import (
    make_os,
    read_pid,
    run_synchronously,
    sample_instance,
    wait_until_dead,
    write_script,
)

MIB = 1024 * 1024


def read_env(path):
    with open(path) as f:
        return dict(line.split("=", 1) for line in f.read().splitlines() if "=" in line)


class OSTestCase(TestCase):
    """A node whose search path is a temporary directory, then the bundled OS."""

    timeout_seconds = 30

    def setUp(self):
        base = os.path.abspath(self.mktemp())
        self.os_dir = os.path.join(base, "os")
        self.out = os.path.join(base, "out")
        os.makedirs(self.os_dir)
        os.makedirs(self.out)
        self.data_dir = os.path.join(base, "data")
        self.env_file = os.path.join(self.out, "env")
        make_os(
            self.os_dir,
            "testos",
            api_versions=(20, 15),
            variants=["default", "# a comment", "", "minimal"],
            parameters=[("dhcp", "Whether to use DHCP"), ("foo", "Something\tto set")],
            scripts={
                "create": f'#!/bin/sh\necho "creating $INSTANCE_NAME"\nenv > "{self.env_file}"\n',
                "rename": f'#!/bin/sh\nenv > "{self.env_file}"\n',
            },
            verify=(
                "#!/bin/sh\n"
                '[ "$1" = parameters ] || { echo "bad check $1" >&2; exit 2; }\n'
                'case "$OSP_DHCP" in ""|yes|no) exit 0 ;; esac\n'
                "echo \"Invalid value '$OSP_DHCP' for the dhcp parameter\" >&2\n"
                "exit 1\n"
            ),
        )
        self.node = self.make_node()
        self.storage_dir = os.path.join(self.data_dir, "file-storage")

    def make_node(self, **kwargs):
        kwargs.setdefault("os_search_path", [self.os_dir, osapi.BUNDLED_OS_DIR])
        kwargs.setdefault("os_script_timeout", self.timeout_seconds)
        return NodeProcedures(
            self.data_dir, reactor=reactor, run_in_thread=run_synchronously, **kwargs
        )

    def file_disk(self, path, **extra):
        disk = {"dev_type": "file", "logical_id": ["loop", path], "mode": "rw",
                "uuid": "d0-uuid", "size": 4}
        disk.update(extra)
        return disk


class DiagnoseTests(OSTestCase):
    """os_diagnose and os_get."""

    @defer.inlineCallbacks
    def test_finds_bundled_and_test_os(self):
        """The bundled ganeti-rapi-noop and a test OS are found, with variants and parameters."""
        found = {o["name"]: o for o in (yield self.node.rpc_os_diagnose())}
        noop = found["ganeti-rapi-noop"]
        self.assertEqual(
            noop,
            {
                "name": "ganeti-rapi-noop",
                "path": os.path.join(osapi.BUNDLED_OS_DIR, "ganeti-rapi-noop"),
                "status": True,
                "diagnose": "",
                "variants": [],
                "parameters": [],
                "api_versions": [20, 15, 10],
            },
        )
        test = found["testos"]
        self.assertTrue(test["status"], test["diagnose"])
        self.assertEqual(test["path"], os.path.join(self.os_dir, "testos"))
        self.assertEqual(test["variants"], ["default", "minimal"])
        self.assertEqual(
            test["parameters"],
            [["dhcp", "Whether to use DHCP"], ["foo", "Something\tto set"]],
        )
        self.assertEqual(test["api_versions"], [20, 15])

    @defer.inlineCallbacks
    def test_invalid_definitions_reported(self):
        """Broken definitions are listed as invalid, each with the reason."""
        make_os(self.os_dir, "noapi", api_versions=None)
        make_os(self.os_dir, "oldapi", api_versions=(5,))
        make_os(self.os_dir, "garbage", api_versions=("twenty",))
        os.chmod(os.path.join(make_os(self.os_dir, "noexec"), "create"), 0o644)
        os.unlink(os.path.join(make_os(self.os_dir, "norename"), "rename"))
        found = {o["name"]: o for o in (yield self.node.rpc_os_diagnose())}
        expected = {
            "noapi": "ganeti_api_version is missing",
            "oldapi": "API version(s) 5 not supported",
            "garbage": "'twenty', not a version number",
            "noexec": "script 'create' is not executable",
            "norename": "script 'rename' is missing",
        }
        for name, message in expected.items():
            self.assertFalse(found[name]["status"], name)
            self.assertIn(message, found[name]["diagnose"])

    @defer.inlineCallbacks
    def test_first_path_wins(self):
        """An OS name found in two search directories is taken from the first."""
        second = os.path.abspath(self.mktemp())
        make_os(second, "testos", api_versions=(10,))
        make_os(second, "only-second", api_versions=(10,))
        node = self.make_node(os_search_path=[self.os_dir, second])
        found = {o["name"]: o for o in (yield node.rpc_os_diagnose())}
        self.assertEqual(found["testos"]["path"], os.path.join(self.os_dir, "testos"))
        self.assertEqual(found["only-second"]["path"], os.path.join(second, "only-second"))
        self.assertEqual(sorted(found), ["only-second", "testos"])

    @defer.inlineCallbacks
    def test_get(self):
        """os_get describes one OS, ignoring a variant; a missing OS is an error."""
        test = yield self.node.rpc_os_get(name="testos+minimal")
        self.assertEqual(test["name"], "testos")
        e = yield self.assertFailure(
            self.node.rpc_os_get(name="nosuch"), errors.OSDefinitionError
        )
        self.assertIn("not found in the search path", str(e))
        yield self.assertFailure(
            self.node.rpc_os_get(name="../etc"), errors.InvalidArgument
        )

    def test_default_search_path(self):
        """By default the system directories, <data-dir>/os and the bundled OS are searched."""
        node = NodeProcedures(self.data_dir)
        self.assertEqual(
            node.os_scripts.search_path,
            [
                "/srv/ganeti/os",
                "/usr/share/ganeti/os",
                "/usr/local/lib/ganeti/os",
                os.path.join(self.data_dir, "os"),
                osapi.BUNDLED_OS_DIR,
            ],
        )


class ScriptTests(OSTestCase):
    """os_create, os_rename, os_export, os_import and os_verify."""

    def instance(self, **overrides):
        values = dict(
            os="testos+minimal",
            disks=[self.file_disk("inst1/disk0", name="root")],
            nics=[
                {
                    "mac": "aa:00:00:12:34:56",
                    "ip": "192.0.2.10",
                    "uuid": "n0-uuid",
                    "nicparams": {"mode": "bridged", "link": "br0"},
                    "netinfo": {"name": "net1", "network": "192.0.2.0/24",
                                "gateway": "192.0.2.1", "tags": ["a", "b"]},
                },
                {"mac": "aa:00:00:12:34:57", "nicparams": {"mode": "routed", "link": "rt1"}},
            ],
            osparams={"foo": "bar baz", "dhcp": "yes"},
            hvparams={"disk_type": "paravirtual", "nic_type": "e1000"},
        )
        values.update(overrides)
        return sample_instance(**values)

    @defer.inlineCallbacks
    def test_create_environment(self):
        """The create script gets Ganeti's documented environment and nothing else."""
        yield self.node.rpc_blockdev_create_file(path="inst1/disk0", size_mib=4)
        result = yield self.node.rpc_os_create(instance=self.instance(), debug=1)
        env = read_env(self.env_file)
        disk = os.path.join(self.storage_dir, "inst1", "disk0")
        expected = {
            "OS_API_VERSION": "20",
            "OS_NAME": "testos",
            "OS_VARIANT": "minimal",
            "INSTANCE_NAME": "inst1.example.com",
            "INSTANCE_OS": "testos+minimal",
            "INSTANCE_UUID": "6f1c3c6e-0000-4000-8000-000000000001",
            "INSTANCE_PRIMARY_NODE": "node1.example.com",
            "INSTANCE_SECONDARY_NODES": "",
            "HYPERVISOR": "fake",
            "DEBUG_LEVEL": "1",
            "DISK_COUNT": "1",
            "DISK_0_PATH": disk,
            "DISK_0_ACCESS": "rw",
            "DISK_0_UUID": "d0-uuid",
            "DISK_0_NAME": "root",
            "DISK_0_FRONTEND_TYPE": "paravirtual",
            "DISK_0_BACKEND_TYPE": "file:loop",
            "NIC_COUNT": "2",
            "NIC_0_MAC": "aa:00:00:12:34:56",
            "NIC_0_IP": "192.0.2.10",
            "NIC_0_UUID": "n0-uuid",
            "NIC_0_MODE": "bridged",
            "NIC_0_BRIDGE": "br0",
            "NIC_0_LINK": "br0",
            "NIC_0_FRONTEND_TYPE": "e1000",
            "NIC_0_NETWORK_NAME": "net1",
            "NIC_0_NETWORK_SUBNET": "192.0.2.0/24",
            "NIC_0_NETWORK_GATEWAY": "192.0.2.1",
            "NIC_0_NETWORK_TAGS": "a b",
            "NIC_1_MAC": "aa:00:00:12:34:57",
            "NIC_1_MODE": "routed",
            "NIC_1_LINK": "rt1",
            "NIC_1_FRONTEND_TYPE": "e1000",
            "OSP_FOO": "bar baz",
            "OSP_DHCP": "yes",
            "INSTANCE_BE_maxmem": "256",
            "INSTANCE_BE_minmem": "128",
            "INSTANCE_BE_vcpus": "2",
            "INSTANCE_HV_disk_type": "paravirtual",
            "INSTANCE_HV_nic_type": "e1000",
            "PATH": "/sbin:/bin:/usr/sbin:/usr/bin",
            "LC_ALL": "C",
        }
        for key, value in expected.items():
            self.assertEqual(env.get(key), value, key)
        for absent in ("INSTANCE_REINSTALL", "NIC_1_BRIDGE", "NIC_1_IP", "HOME", "USER"):
            self.assertNotIn(absent, env)
        log_file = result["log_file"]
        self.assertEqual(os.path.dirname(log_file),
                         os.path.join(self.data_dir, "node", "os-logs"))
        self.assertRegex(
            os.path.basename(log_file),
            r"^add-testos-inst1\.example\.com-\d{4}-\d\d-\d\d_\d\d_\d\d_\d\d(-\d+)?\.log$",
        )
        with open(log_file) as f:
            self.assertEqual(f.read(), "creating inst1.example.com\n")

    @defer.inlineCallbacks
    def test_default_variant_and_reinstall(self):
        """Without a variant the first listed one is used; reinstall sets INSTANCE_REINSTALL."""
        instance = self.instance(os="testos", disks=[], nics=[])
        yield self.node.rpc_os_create(instance=instance, reinstall=True)
        env = read_env(self.env_file)
        self.assertEqual(env["OS_VARIANT"], "default")
        self.assertEqual(env["INSTANCE_REINSTALL"], "1")
        self.assertEqual((env["DISK_COUNT"], env["NIC_COUNT"]), ("0", "0"))

    @defer.inlineCallbacks
    def test_unknown_variant(self):
        """A variant the OS does not list is refused before the script runs."""
        e = yield self.assertFailure(
            self.node.rpc_os_create(instance=self.instance(os="testos+huge", disks=[])),
            errors.OSDefinitionError,
        )
        self.assertIn("minimal", str(e))
        self.assertFalse(os.path.exists(self.env_file))

    @defer.inlineCallbacks
    def test_invalid_os_refused(self):
        """An invalid OS definition is refused with its diagnosis."""
        make_os(self.os_dir, "noapi", api_versions=None)
        e = yield self.assertFailure(
            self.node.rpc_os_create(instance=self.instance(os="noapi", disks=[])),
            errors.OSDefinitionError,
        )
        self.assertIn("ganeti_api_version is missing", str(e))

    @defer.inlineCallbacks
    def test_failure_quotes_log_tail(self):
        """A script exiting non-zero fails with the last lines of its log."""
        make_os(self.os_dir, "failing", scripts={
            "create": "#!/bin/sh\nfor i in $(seq 1 30); do echo \"line $i\"; done\n"
                      "echo 'disk full' >&2\nexit 7\n",
        })
        e = yield self.assertFailure(
            self.node.rpc_os_create(instance=self.instance(os="failing", disks=[])),
            errors.OSScriptError,
        )
        message = str(e)
        self.assertIn("exit code 7", message)
        self.assertIn("line 30\ndisk full", message)
        self.assertIn("line 12\n", message)
        self.assertNotIn("line 11\n", message)
        log_file = re.search(r"last lines of (\S+):", message).group(1)
        with open(log_file) as f:
            self.assertEqual(len(f.read().splitlines()), 31)

    @defer.inlineCallbacks
    def test_timeout_kills_script(self):
        """A script running past the timeout is killed with what it started."""
        self.timeout_seconds = 0.5
        node = self.make_node()
        pidfile = os.path.join(self.out, "pid")
        make_os(self.os_dir, "slow", scripts={
            "create": f'#!/bin/sh\nsleep 60 &\necho $! > "{pidfile}"\nwait\n',
        })
        e = yield self.assertFailure(
            node.rpc_os_create(instance=self.instance(os="slow", disks=[])),
            errors.OSScriptError,
        )
        self.assertIn("timed out after 0.5 seconds", str(e))
        pid = yield read_pid(pidfile)
        self.assertTrue((yield wait_until_dead(pid)))

    @defer.inlineCallbacks
    def test_disk_outside_storage_refused(self):
        """A disk path outside the file storage directory is refused."""
        for logical_id in (["loop", "/etc/passwd"], ["loop", "../../etc/passwd"]):
            instance = self.instance(disks=[{"dev_type": "file", "logical_id": logical_id}])
            yield self.assertFailure(
                self.node.rpc_os_create(instance=instance), errors.InvalidArgument
            )
        self.assertFalse(os.path.exists(self.env_file))

    @defer.inlineCallbacks
    def test_rename(self):
        """The rename script gets the new name and OLD_INSTANCE_NAME."""
        result = yield self.node.rpc_os_rename(
            instance=self.instance(disks=[]), old_name="old.example.com"
        )
        env = read_env(self.env_file)
        self.assertEqual(env["OLD_INSTANCE_NAME"], "old.example.com")
        self.assertEqual(env["INSTANCE_NAME"], "inst1.example.com")
        self.assertIn("/rename-testos-inst1.example.com-", result["log_file"])
        yield self.assertFailure(
            self.node.rpc_os_rename(instance=self.instance(disks=[]), old_name="a/b"),
            errors.InvalidArgument,
        )

    @defer.inlineCallbacks
    def test_export_import_roundtrip(self):
        """The bundled OS exports a disk's bytes to a file and imports them onto another."""
        yield self.node.rpc_blockdev_create_file(path="inst1/disk0", size_mib=2)
        yield self.node.rpc_blockdev_create_file(path="inst1/disk1", size_mib=2)
        data = os.urandom(2 * MIB)
        with open(os.path.join(self.storage_dir, "inst1", "disk0"), "r+b") as f:
            f.write(data)
        instance = self.instance(
            os="ganeti-rapi-noop",
            disks=[self.file_disk("inst1/disk0"), self.file_disk("inst1/disk1")],
        )
        exported = yield self.node.rpc_os_export(
            instance=instance, disk_index=0, destination_path="inst1/disk0.dump"
        )
        dump = os.path.join(self.data_dir, "node", "export", "inst1", "disk0.dump")
        self.assertEqual((exported["path"], exported["size_bytes"]), (dump, 2 * MIB))
        with open(dump, "rb") as f:
            self.assertEqual(f.read(), data)
        imported = yield self.node.rpc_os_import(
            instance=instance, disk_index=1, source_path="inst1/disk0.dump"
        )
        with open(os.path.join(self.storage_dir, "inst1", "disk1"), "rb") as f:
            self.assertEqual(f.read(), data)
        with open(imported["log_file"]) as f:
            log = f.read()
        self.assertIn("ganeti-rapi-noop: import for instance inst1.example.com", log)
        self.assertIn("IMPORT_INDEX=1\n", log)

    @defer.inlineCallbacks
    def test_export_checks(self):
        """Export refuses paths leaving the export directory and disk indexes out of range."""
        instance = self.instance(os="ganeti-rapi-noop")
        for path in ("../escape", "/tmp/x"):
            yield self.assertFailure(
                self.node.rpc_os_export(instance=instance, disk_index=0,
                                        destination_path=path),
                errors.InvalidArgument,
            )
        for index in (1, -1, "0"):
            yield self.assertFailure(
                self.node.rpc_os_export(instance=instance, disk_index=index,
                                        destination_path="x"),
                errors.InvalidArgument,
            )
        yield self.assertFailure(
            self.node.rpc_os_import(instance=instance, disk_index=0,
                                    source_path="missing.dump"),
            errors.OSScriptError,
        )

    @defer.inlineCallbacks
    def test_verify(self):
        """Parameters are checked against parameters.list and by the verify script."""
        result = yield self.node.rpc_os_verify(name="testos", osparams={"dhcp": "no"})
        self.assertEqual(result, {"name": "testos", "verified": True})
        e = yield self.assertFailure(
            self.node.rpc_os_verify(name="testos", osparams={"dhcp": "maybe"}),
            errors.OSScriptError,
        )
        self.assertIn("Invalid value 'maybe' for the dhcp parameter", str(e))
        e = yield self.assertFailure(
            self.node.rpc_os_verify(name="testos", osparams={"colour": "red"}),
            errors.OSDefinitionError,
        )
        self.assertIn("colour", str(e))
        result = yield self.node.rpc_os_verify(name="ganeti-rapi-noop")
        self.assertEqual(result, {"name": "ganeti-rapi-noop", "verified": True})

    @defer.inlineCallbacks
    def test_bundled_create_logs_environment(self):
        """The bundled OS's create script succeeds and logs what it was given."""
        yield self.node.rpc_blockdev_create_file(path="inst1/disk0", size_mib=1)
        result = yield self.node.rpc_os_create(instance=self.instance(os="ganeti-rapi-noop"))
        with open(result["log_file"]) as f:
            log = f.read()
        self.assertIn("ganeti-rapi-noop: create for instance inst1.example.com", log)
        self.assertIn("DISK_0_PATH=" + os.path.join(self.storage_dir, "inst1", "disk0"), log)
        self.assertIn("OSP_FOO=bar baz", log)


class ScriptPermissionsTests(OSTestCase):
    """What the shipped OS definition looks like on disk."""

    def test_bundled_scripts_executable(self):
        """Every script of the bundled OS is executable, its data files are not."""
        path = os.path.join(osapi.BUNDLED_OS_DIR, "ganeti-rapi-noop")
        for script in ("create", "export", "import", "rename", "verify"):
            self.assertTrue(os.access(os.path.join(path, script), os.X_OK), script)
        for data in ("ganeti_api_version", "parameters.list"):
            self.assertTrue(os.path.isfile(os.path.join(path, data)), data)

    def test_write_script_helper(self):
        """The test helper writes executable scripts."""
        path = write_script(os.path.join(self.out, "s"), "#!/bin/sh\n")
        self.assertTrue(os.access(path, os.X_OK))
