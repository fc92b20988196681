"""Instances through the real tree into the real engine.

These tests check what the web layer makes of a request: the opcodes and
parameters of the job it submits (read back from C{/2/jobs/ID}), the
400s, 401s, 403s and 404s it answers itself, and the fields it lists.
What the jobs then do is the logical units' business and is tested with
them, so nothing here depends on whether a job succeeds.
"""

import html

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from ganeti_rapi import errors, interfaces
from ganeti_rapi.engine.objects import Disk, Instance, Nic
from ganeti_rapi.web.instances import (
    create_request,
    normalize_beparams,
    normalize_create,
    normalize_modify,
    parse_count,
    parse_size,
)
from tests.helpers import READER, WRITER, EngineFixture, FakeNodes

#: Ganeti's I_FIELDS, newest.
I_FIELDS = [
    "name", "admin_state", "os", "pnode", "snodes", "disk_template",
    "nic.ips", "nic.macs", "nic.modes", "nic.uuids", "nic.names", "nic.links",
    "nic.networks", "nic.networks.names", "nic.bridges", "network_port",
    "disk.sizes", "disk.spindles", "disk_usage", "disk.uuids", "disk.names",
    "beparams", "hvparams", "oper_state", "oper_ram", "oper_vcpus", "status",
    "custom_hvparams", "custom_beparams", "custom_nicparams", "custom_osparams",
    "ctime", "mtime", "uuid", "serial_no", "tags",
]

PLAIN = ("plain", "ppass")

#: A creation body as the official client sends it.
CREATE = {
    "__version__": 1,
    "mode": "create",
    "name": "inst9.example.com",
    "os": "debootstrap+default",
    "disk_template": "plain",
    "disks": [{"size": 1024}],
    "nics": [{"mode": "bridged", "link": "br0"}],
}


def create_body(**changes):
    body = dict(CREATE)
    body.update(changes)
    return body


class SizeTests(SynchronousTestCase):
    """The normalisation of sizes, counts and nulls, without HTTP."""

    def test_sizes(self):
        """Numbers are MiB; strings take M, G or T in any case, MiB by default."""
        for value, mib in [
            (0, 0), (20, 20), (2048, 2048), ("2048", 2048), (" 512 ", 512),
            ("2048M", 2048), ("2048m", 2048), ("512MB", 512), ("512MiB", 512),
            ("20G", 20480), ("10g", 10240), ("1GiB", 1024), ("1gb", 1024),
            ("1T", 1048576), ("1tb", 1048576), ("2 G", 2048),
            ("1.5G", 1536), ("0.5M", 1), (20.0, 20), (20.25, 21),
        ]:
            self.assertEqual(parse_size(value, "x"), mib, value)
            self.assertIs(type(parse_size(value, "x")), int, value)

    def test_bad_sizes(self):
        """Anything else is a 400 that names the parameter."""
        for value in ["", "G", "20K", "20 GG", "-1", "-1G", "1e3", "1,5G", "twenty",
                      True, -1, -0.5, float("inf"), None, [20], {"size": 1}, "٣G"]:
            e = self.assertRaises(errors.BadRequest, parse_size, value, "disks[0].size")
            self.assertIn("disks[0].size", e.message)

    def test_counts(self):
        """Numeric strings become integers; other values are left to the opcode."""
        self.assertEqual(parse_count("2", "vcpus"), 2)
        self.assertEqual(parse_count(" 4 ", "vcpus"), 4)
        self.assertEqual(parse_count(3, "vcpus"), 3)
        self.assertEqual(parse_count(1.5, "vcpus"), 1.5)
        e = self.assertRaises(errors.BadRequest, parse_count, "two", "beparams.vcpus")
        self.assertIn("beparams.vcpus", e.message)
        self.assertRaises(errors.BadRequest, parse_count, "1.5", "vcpus")

    def test_beparams(self):
        """Memory sizes and counts are read; other keys, null and default kept."""
        self.assertEqual(
            normalize_beparams({
                "maxmem": "2G", "minmem": "512M", "memory": 1024, "vcpus": "2",
                "spindle_use": "1", "auto_balance": True, "always_failover": "x",
            }),
            {"maxmem": 2048, "minmem": 512, "memory": 1024, "vcpus": 2,
             "spindle_use": 1, "auto_balance": True, "always_failover": "x"},
        )
        self.assertEqual(
            normalize_beparams({"maxmem": "default", "vcpus": None}),
            {"maxmem": "default", "vcpus": None},
        )
        self.assertEqual(normalize_beparams("junk"), "junk")
        e = self.assertRaises(errors.BadRequest, normalize_beparams, {"minmem": "lots"})
        self.assertIn("beparams.minmem", e.message)

    def test_create(self):
        """Nulls are dropped, old names renamed, disks and beparams read."""
        params = {
            "name": "i1", "instance_name": None, "os": "noop", "pnode": None,
            "iallocator": None, "tags": None,
            "disks": [{"size": "10G", "mode": "rw"}, {"size": 20, "spindles": "2"},
                      "junk"],
            "beparams": {"maxmem": "1G", "vcpus": "2"},
            "nics": [],
        }
        original = repr(params)
        self.assertEqual(
            normalize_create(params),
            {
                "instance_name": "i1", "os_type": "noop",
                "disks": [{"size": 10240, "mode": "rw"}, {"size": 20, "spindles": 2},
                          "junk"],
                "beparams": {"maxmem": 1024, "vcpus": 2},
                "nics": [],
            },
        )
        self.assertEqual(repr(params), original, "the input is not changed")

    def test_create_errors(self):
        """Both old and new names, or a bad disk size, are 400s."""
        self.assertRaises(
            errors.BadRequest, normalize_create, {"name": "a", "instance_name": "b"}
        )
        self.assertRaises(errors.BadRequest, normalize_create, {"os": "a", "os_type": "b"})
        e = self.assertRaises(
            errors.BadRequest, normalize_create, {"disks": [{"size": 1}, {"size": "x"}]}
        )
        self.assertIn("disks[1].size", e.message)

    def test_versions(self):
        """Version 1 only (1.0 and true compare equal in Ganeti too)."""
        for version in (1, 1.0, True):
            params = create_request({"__version__": version, "name": "a"})
            self.assertEqual(params, {"instance_name": "a"})
        for body in ({}, {"__version__": 0}, {"__version__": False}, {"__version__": 0.0}):
            e = self.assertRaises(errors.BadRequest, create_request, body)
            self.assertEqual(e.message, "request version 0 is no longer supported")
        for version in (2, "1", None, [1]):
            e = self.assertRaises(errors.BadRequest, create_request,
                                  {"__version__": version})
            self.assertEqual(e.message, "Unsupported request data version")

    def test_usb_devices(self):
        """A string of USB devices separated by spaces gets commas."""
        params = create_request(
            {"__version__": 1, "hvparams": {"usb_devices": "a b c", "acpi": True}}
        )
        self.assertEqual(params["hvparams"], {"usb_devices": "a,b,c", "acpi": True})
        params = create_request({"__version__": 1, "hvparams": {"usb_devices": ["a b"]}})
        self.assertEqual(params["hvparams"], {"usb_devices": ["a b"]})

    def test_modify(self):
        """Old names, and sizes in disk modifications, beparams and runtime_mem."""
        self.assertEqual(
            normalize_modify({
                "custom_beparams": {"maxmem": "4G"},
                "custom_hvparams": {"acpi": False},
                "disks": [["add", {"size": "2G"}], ["modify", 0, {"name": "d"}],
                          [1, "x", {"size": "512M"}], "junk"],
                "runtime_mem": "1G",
            }),
            {
                "beparams": {"maxmem": 4096},
                "hvparams": {"acpi": False},
                "disks": [["add", {"size": 2048}], ["modify", 0, {"name": "d"}],
                          [1, "x", {"size": 512}], "junk"],
                "runtime_mem": 1024,
            },
        )
        self.assertRaises(
            errors.BadRequest, normalize_modify,
            {"beparams": {}, "custom_beparams": {}},
        )
        e = self.assertRaises(
            errors.BadRequest, normalize_modify, {"disks": [["add", {"size": "big"}]]}
        )
        self.assertIn("disks[0].size", e.message)


class InstanceTestCase(SynchronousTestCase):
    """The real engine with one instance, inst1, on the master node."""

    def setUp(self):
        self.nodes = FakeNodes()
        self.api = EngineFixture(self, nodes=self.nodes)
        self.config = self.api.engine.config
        self.master = self.config.master_node()
        self.config.add_instance(Instance(
            name="inst1", primary_node=self.master.uuid, os="noop",
            admin_state="up", disk_template="plain",
            disks=[Disk(size=1024, dev_type="plain", name="root")],
            nics=[Nic(mac="aa:00:00:11:22:33", ip="192.0.2.10")],
            beparams={"maxmem": 512, "minmem": 256},
            tags={"web"},
        ))
        d = self.config.save()
        self.api.clock.advance(0)
        self.successResultOf(d)

    def ops(self, method, path, body=None, user=WRITER):
        """The opcodes of the job a request submits."""
        job_id = self.api.ok(method, path, body, user)
        self.assertIsInstance(job_id, int)
        return self.api.job(job_id)["ops"]

    def op(self, method, path, body=None, user=WRITER):
        """The single opcode of the job a request submits."""
        ops = self.ops(method, path, body, user)
        self.assertEqual(len(ops), 1, ops)
        return ops[0]

    def assert_params(self, op, op_id, **params):
        self.assertEqual(op["OP_ID"], op_id)
        self.assertEqual({k: op[k] for k in params}, params)

    def assert_reason(self, op, rlib2_name):
        self.assertEqual(op["reason"][-1][:2], ["gnt:library:rlib2:%s" % rlib2_name, ""])

    def bad(self, method, path, body=None, part=None, user=WRITER):
        """A request that is a 400; its message (HTML escapes undone)."""
        code, answer = self.api.request(method, path, body, user)
        self.assertEqual(code, 400, answer)
        message = html.unescape(answer["message"])
        if part is not None:
            self.assertIn(part, message)
        return message


class ReadTests(InstanceTestCase):
    def test_list(self):
        """The plain list has id and uri per instance, sorted, for anyone."""
        self.config.add_instance(Instance(name="inst0", primary_node=self.master.uuid))
        self.assertEqual(
            self.api.ok("GET", "/2/instances", user=None),
            [{"id": "inst0", "uri": "/2/instances/inst0"},
             {"id": "inst1", "uri": "/2/instances/inst1"}],
        )

    def test_fields(self):
        """Bulk and single GETs answer exactly the I_FIELDS keys."""
        self.nodes.answer(
            "all_instances_info", {"inst1": {"memory": 512, "vcpus": 1, "state": "running"}}
        )
        (bulk,) = self.api.ok("GET", "/2/instances?bulk=1", user=None)
        single = self.api.ok("GET", "/2/instances/inst1", user=None)
        self.assertEqual(sorted(bulk), sorted(I_FIELDS))
        self.assertEqual(sorted(single), sorted(I_FIELDS))
        for instance in (bulk, single):
            self.assertEqual(instance["name"], "inst1")
            self.assertEqual(instance["pnode"], self.master.name)
            self.assertEqual(instance["admin_state"], "up")
            self.assertEqual(instance["disk.sizes"], [1024])
            self.assertEqual(instance["disk.names"], ["root"])
            self.assertEqual(instance["nic.ips"], ["192.0.2.10"])
            self.assertEqual(instance["nic.macs"], ["aa:00:00:11:22:33"])
            self.assertEqual(instance["custom_beparams"], {"maxmem": 512, "minmem": 256})
            self.assertEqual(instance["beparams"]["memory"], 512)
            self.assertEqual(instance["tags"], ["web"])
            self.assertIs(instance["oper_state"], True)
            self.assertEqual(instance["oper_ram"], 512)
            self.assertEqual(instance["status"], "running")

    def test_unknown(self):
        """An unknown or malformed name is a 404 on every GET."""
        for path in ["/2/instances/nosuch", "/2/instances/nosuch/tags",
                     "/2/instances/a%20b", "/2/instances/inst1/",
                     "/2/instances/inst1/nosuch", "/2/instances/"]:
            self.assertEqual(self.api.request("GET", path, user=None)[0], 404, path)

    def test_tags(self):
        """Instance tags are listed anonymously and changed by tag jobs."""
        self.assertEqual(self.api.ok("GET", "/2/instances/inst1/tags", user=None), ["web"])
        op = self.op("PUT", "/2/instances/inst1/tags?tag=db&tag=x&dry-run=1")
        self.assert_params(
            op, "OP_TAGS_SET", kind="instance", name="inst1", tags=["db", "x"], dry_run=True
        )
        self.assert_reason(op, "instances_name_tags")
        op = self.op("DELETE", "/2/instances/inst1/tags?tag=web")
        self.assert_params(op, "OP_TAGS_DEL", kind="instance", name="inst1", tags=["web"])

    def test_info(self):
        """info is anonymous although it submits OP_INSTANCE_QUERY_DATA."""
        op = self.op("GET", "/2/instances/inst1/info", user=None)
        self.assert_params(
            op, "OP_INSTANCE_QUERY_DATA", instances=["inst1"], static=False
        )
        self.assert_reason(op, "instances_name_info")
        op = self.op("GET", "/2/instances/inst1/info?static=1", user=READER)
        self.assertIs(op["static"], True)
        self.bad("GET", "/2/instances/inst1/info?static=yes", part="static")


class CreateTests(InstanceTestCase):
    def test_create(self):
        """A version 1 body becomes OP_INSTANCE_CREATE, old names renamed."""
        op = self.op("POST", "/2/instances?reason=why", CREATE)
        self.assert_params(
            op, "OP_INSTANCE_CREATE", instance_name="inst9.example.com",
            os_type="debootstrap+default", mode="create", disk_template="plain",
            disks=[{"size": 1024}], nics=[{"mode": "bridged", "link": "br0"}],
            dry_run=False, start=True, name_check=False,
        )
        self.assertNotIn("__version__", op)
        self.assertNotIn("name", op)
        self.assertEqual(op["reason"][0][:2], ["gnt:user", "why"])
        self.assert_reason(op, "instances")

    def test_new_names_and_dry_run(self):
        """instance_name and os_type work as well; ?dry-run is static."""
        body = create_body(instance_name="inst8", os_type="noop")
        del body["name"], body["os"]
        op = self.op("POST", "/2/instances?dry-run=1", body)
        self.assert_params(
            op, "OP_INSTANCE_CREATE", instance_name="inst8", os_type="noop", dry_run=True
        )
        self.bad("POST", "/2/instances?dry-run=1", create_body(dry_run=True),
                 part="dry_run")
        self.bad("POST", "/2/instances", create_body(reason=[]), part="reason")

    def test_import(self):
        """An import's src_node and src_path reach the opcode as given (an
        absolute path too; the engine checks them)."""
        body = {"__version__": 1, "mode": "import", "name": "inst7", "disks": [],
                "nics": [], "src_node": "node2", "src_path": "inst9.example.com"}
        op = self.op("POST", "/2/instances", body)
        self.assert_params(op, "OP_INSTANCE_CREATE", instance_name="inst7", mode="import",
                           src_node="node2", src_path="inst9.example.com", disks=[],
                           nics=[])
        self.assertIsNone(op["os_type"])
        op = self.op("POST", "/2/instances", dict(body, src_node=None,
                                                  src_path="/srv/export/inst9"))
        self.assert_params(op, "OP_INSTANCE_CREATE", src_path="/srv/export/inst9")
        self.assertIsNone(op.get("src_node"))

    def test_client_values(self):
        """Unit sizes, numeric strings and nulls, as web front ends send them."""
        body = create_body(
            disks=[{"size": "20G"}, {"size": "2048M", "spindles": "1"}, {"size": "10g"}],
            beparams={"maxmem": "1G", "minmem": "512", "memory": 1024, "vcpus": "2",
                      "spindle_use": "1"},
            pnode=None, snode=None, iallocator=None, hypervisor=None, osparams=None,
            no_install=None, file_driver=None, tags=None,
        )
        op = self.op("POST", "/2/instances", body)
        self.assertEqual(
            op["disks"], [{"size": 20480}, {"size": 2048, "spindles": 1}, {"size": 10240}]
        )
        self.assertEqual(
            op["beparams"],
            {"maxmem": 1024, "minmem": 512, "memory": 1024, "vcpus": 2, "spindle_use": 1},
        )
        self.assertIsNone(op["pnode"])
        self.assertEqual(op["osparams"], {})
        self.assertEqual(op["tags"], [])

    def test_null_old_name(self):
        """A null old name does not collide with the new one."""
        body = create_body(instance_name="inst7", name=None)
        self.assertEqual(self.op("POST", "/2/instances", body)["instance_name"], "inst7")

    def test_usb_devices(self):
        """A string of USB devices in a creation request gets commas between devices."""
        op = self.op("POST", "/2/instances",
                     create_body(hvparams={"usb_devices": "1-1 2-1"}))
        self.assertEqual(op["hvparams"], {"usb_devices": "1-1,2-1"})

    def test_versions(self):
        """Version 0 (or none) and other versions are 400s."""
        body = create_body()
        del body["__version__"]
        self.assertEqual(self.bad("POST", "/2/instances", body),
                         "request version 0 is no longer supported")
        self.assertEqual(self.bad("POST", "/2/instances", None),
                         "request version 0 is no longer supported")
        self.assertEqual(self.bad("POST", "/2/instances", create_body(__version__=0)),
                         "request version 0 is no longer supported")
        self.assertEqual(self.bad("POST", "/2/instances", create_body(__version__=2)),
                         "Unsupported request data version")
        self.assertEqual(self.bad("POST", "/2/instances", create_body(__version__="1")),
                         "Unsupported request data version")

    def test_bad_bodies(self):
        """Not an object, both names, unknown keys, bad sizes and types are 400s."""
        self.bad("POST", "/2/instances", [CREATE], part="'dict' is expected")
        self.bad("POST", "/2/instances", create_body(instance_name="x"), part="name")
        self.bad("POST", "/2/instances", create_body(os_type="x"), part="os")
        self.bad("POST", "/2/instances", create_body(colour="blue"), part="colour")
        self.bad("POST", "/2/instances", create_body(disks=[{"size": "20X"}]),
                 part="disks[0].size")
        self.bad("POST", "/2/instances", create_body(beparams={"maxmem": "much"}),
                 part="beparams.maxmem")
        self.bad("POST", "/2/instances", create_body(beparams={"vcpus": "two"}),
                 part="beparams.vcpus")
        self.bad("POST", "/2/instances", create_body(start="yes"), part="start")
        body = create_body()
        del body["mode"]
        self.bad("POST", "/2/instances", body, part="mode")

    def test_multi_alloc(self):
        """Each instance is normalised like a creation; ?dry-run is static."""
        first = dict(CREATE)
        del first["__version__"]
        second = {"instance_name": "inst8", "mode": "create", "os": "noop",
                  "disks": [{"size": "1G"}], "nics": [], "pnode": None}
        op = self.op(
            "POST", "/2/instances-multi-alloc?dry-run=1",
            {"instances": [first, second], "iallocator": "hail",
             "opportunistic_locking": True},
        )
        self.assert_params(
            op, "OP_INSTANCE_MULTI_ALLOC", iallocator="hail",
            opportunistic_locking=True, dry_run=True,
        )
        self.assert_reason(op, "instances_multi_alloc")
        created, other = op["instances"]
        self.assertEqual(created["instance_name"], "inst9.example.com")
        self.assertEqual(created["os_type"], "debootstrap+default")
        self.assertNotIn("name", created)
        expected = {"instance_name": "inst8", "mode": "create", "os_type": "noop",
                    "disks": [{"size": 1024}], "nics": []}
        self.assertEqual({k: other[k] for k in expected}, expected)
        # Each instance is stored as a complete creation opcode, defaults filled.
        self.assertEqual((other["OP_ID"], other["start"]), ("OP_INSTANCE_CREATE", True))
        op = self.op("POST", "/2/instances-multi-alloc", {"instances": [], "iallocator": None})
        self.assert_params(op, "OP_INSTANCE_MULTI_ALLOC", instances=[], iallocator=None,
                           dry_run=False)

    def test_multi_alloc_errors(self):
        """Malformed multi-alloc requests are 400s naming what is wrong."""
        path = "/2/instances-multi-alloc"
        # An instance that is not a valid creation request is a 400 at once.
        code, body = self.api.request(
            "POST", path, {"instances": [{"instance_name": "x", "mode": "create",
                                          "disks": [], "nics": [], "bogus": 1}]})
        self.assertEqual(code, 400, body)
        self.assertIn("instances[0]", body["message"])
        self.bad("POST", path, {}, part="instances")
        self.bad("POST", path, None, part="instances")
        self.bad("POST", path, {"instances": None}, part="instances")
        self.bad("POST", path, {"instances": ["inst8"]}, part="instances[0]")
        self.bad("POST", path, {"instances": [{"name": "a", "instance_name": "a"}]})
        self.bad("POST", path, {"instances": [{"disks": [{"size": "?"}]}]},
                 part="disks[0].size")
        self.bad("POST", path, {"instances": {}})
        self.bad("POST", path, {"instances": [], "colour": "blue"}, part="colour")


class OperationTests(InstanceTestCase):
    def test_delete(self):
        """DELETE: body parameters, ignore_failures forced false, ?dry-run."""
        op = self.op("DELETE", "/2/instances/inst1?dry-run=1", {"shutdown_timeout": 30})
        self.assert_params(
            op, "OP_INSTANCE_REMOVE", instance_name="inst1", shutdown_timeout=30,
            ignore_failures=False, dry_run=True,
        )
        self.assert_reason(op, "instances_name")
        op = self.op("DELETE", "/2/instances/inst1")
        self.assert_params(op, "OP_INSTANCE_REMOVE", shutdown_timeout=120, dry_run=False)
        self.bad("DELETE", "/2/instances/inst1", {"ignore_failures": True},
                 part="ignore_failures")
        self.bad("DELETE", "/2/instances/inst1", {"instance_name": "inst2"},
                 part="instance_name")

    def test_reboot(self):
        """reboot: type (default hard), ignore_secondaries and dry-run from the query."""
        op = self.op("POST", "/2/instances/inst1/reboot", {})
        self.assert_params(
            op, "OP_INSTANCE_REBOOT", instance_name="inst1", reboot_type="hard",
            ignore_secondaries=False, dry_run=False, shutdown_timeout=120,
        )
        self.assert_reason(op, "instances_name_reboot")
        op = self.op(
            "POST", "/2/instances/inst1/reboot?type=soft&ignore_secondaries=1&dry-run=1",
            {"shutdown_timeout": 5},
        )
        self.assert_params(
            op, "OP_INSTANCE_REBOOT", reboot_type="soft", ignore_secondaries=True,
            dry_run=True, shutdown_timeout=5,
        )
        self.bad("POST", "/2/instances/inst1/reboot?type=gentle", part="reboot_type")
        self.bad("POST", "/2/instances/inst1/reboot", {"reboot_type": "soft"},
                 part="reboot_type")

    def test_shutdown(self):
        """shutdown takes timeout and force from the body and no_remember, dry-run from the query."""
        op = self.op("PUT", "/2/instances/inst1/shutdown?no_remember=1&dry-run=1",
                     {"timeout": 10, "force": True})
        self.assert_params(
            op, "OP_INSTANCE_SHUTDOWN", instance_name="inst1", no_remember=True,
            dry_run=True, timeout=10, force=True,
        )
        self.assert_reason(op, "instances_name_shutdown")
        op = self.op("PUT", "/2/instances/inst1/shutdown")
        self.assert_params(op, "OP_INSTANCE_SHUTDOWN", no_remember=False, timeout=120)
        self.bad("PUT", "/2/instances/inst1/shutdown", {"no_remember": True},
                 part="no_remember")

    def test_startup(self):
        """startup: force, no_remember, dry-run; the body only gives depends."""
        op = self.op("PUT", "/2/instances/inst1/startup?force=1&no_remember=1&dry-run=1",
                     {"hvparams": {"x": 1}, "depends": [[-1, ["success"]]]})
        self.assert_params(
            op, "OP_INSTANCE_STARTUP", instance_name="inst1", force=True,
            no_remember=True, dry_run=True, hvparams={}, depends=[[-1, ["success"]]],
        )
        self.assert_reason(op, "instances_name_startup")
        op = self.op("PUT", "/2/instances/inst1/startup", ["any", "body"])
        self.assert_params(op, "OP_INSTANCE_STARTUP", force=False, no_remember=False)

    def test_activate_deactivate(self):
        """activate-disks takes ignore_size and deactivate-disks force from the query; bodies are ignored."""
        op = self.op("PUT", "/2/instances/inst1/activate-disks?ignore_size=1", {"x": 1})
        self.assert_params(
            op, "OP_INSTANCE_ACTIVATE_DISKS", instance_name="inst1", ignore_size=True
        )
        self.assert_reason(op, "instances_name_activate_disks")
        op = self.op("PUT", "/2/instances/inst1/activate-disks")
        self.assertIs(op["ignore_size"], False)
        op = self.op("PUT", "/2/instances/inst1/deactivate-disks?force=1")
        self.assert_params(
            op, "OP_INSTANCE_DEACTIVATE_DISKS", instance_name="inst1", force=True
        )
        self.assert_reason(op, "instances_name_deactivate_disks")
        op = self.op("PUT", "/2/instances/inst1/deactivate-disks")
        self.assertIs(op["force"], False)

    def test_recreate_disks(self):
        """recreate-disks passes disks, nodes and iallocator from the body."""
        op = self.op("POST", "/2/instances/inst1/recreate-disks",
                     {"disks": [0, [1, {"size": 10}]], "nodes": ["n1"]})
        self.assert_params(
            op, "OP_INSTANCE_RECREATE_DISKS", instance_name="inst1",
            disks=[0, [1, {"size": 10}]], nodes=["n1"], iallocator=None,
        )
        self.assert_reason(op, "instances_name_recreate_disks")
        self.bad("POST", "/2/instances/inst1/recreate-disks", {"disks": "0"}, part="disks")

    def test_grow(self):
        """grow: the index from the URL; amount in MiB or with a unit."""
        op = self.op("POST", "/2/instances/inst1/disk/0/grow",
                     {"amount": 1024, "wait_for_sync": False})
        self.assert_params(
            op, "OP_INSTANCE_GROW_DISK", instance_name="inst1", disk=0, amount=1024,
            wait_for_sync=False, absolute=False, ignore_ipolicy=False,
        )
        self.assert_reason(op, "instances_name_disk_grow")
        op = self.op("POST", "/2/instances/inst1/disk/12/grow",
                     {"amount": "2G", "absolute": True, "ignore_ipolicy": True})
        self.assert_params(
            op, "OP_INSTANCE_GROW_DISK", disk=12, amount=2048, absolute=True,
            ignore_ipolicy=True,
        )
        self.bad("POST", "/2/instances/inst1/disk/0/grow", {}, part="amount")
        self.bad("POST", "/2/instances/inst1/disk/0/grow", {"amount": "1X"}, part="amount")
        self.bad("POST", "/2/instances/inst1/disk/0/grow", {"amount": 1, "disk": 1},
                 part="disk")

    def test_grow_paths(self):
        """A disk index is decimal digits; anything else is a 404."""
        for path in ["disk/x/grow", "disk/-1/grow", "disk/0x1/grow", "disk/0",
                     "disk", "disk/0/grow/", "disk/0/shrink"]:
            code, _ = self.api.request("POST", "/2/instances/inst1/" + path, {"amount": 1})
            self.assertEqual(code, 404, path)

    def test_prepare_export(self):
        """prepare-export needs a mode in the query."""
        op = self.op("PUT", "/2/instances/inst1/prepare-export?mode=remote")
        self.assert_params(op, "OP_BACKUP_PREPARE", instance_name="inst1", mode="remote")
        self.assert_reason(op, "instances_name_prepare_export")
        self.bad("PUT", "/2/instances/inst1/prepare-export", part="mode")
        self.bad("PUT", "/2/instances/inst1/prepare-export?mode=", part="mode")
        self.bad("PUT", "/2/instances/inst1/prepare-export?mode=tape", part="mode")

    def test_export(self):
        """export: destination is the old name of target_node; mode defaults to local."""
        op = self.op("PUT", "/2/instances/inst1/export",
                     {"destination": "node2", "shutdown": False})
        self.assert_params(
            op, "OP_BACKUP_EXPORT", instance_name="inst1", target_node="node2",
            mode="local", shutdown=False, remove_instance=False,
        )
        self.assert_reason(op, "instances_name_export")
        op = self.op("PUT", "/2/instances/inst1/export",
                     {"target_node": ["a", "b"], "mode": "remote", "x509_key_name": ["k"]})
        self.assert_params(op, "OP_BACKUP_EXPORT", target_node=["a", "b"], mode="remote")
        op = self.op("PUT", "/2/instances/inst1/export", {"target_node": "n", "mode": None})
        self.assertEqual(op["mode"], "local")
        self.bad("PUT", "/2/instances/inst1/export",
                 {"destination": "a", "target_node": "b"}, part="destination")
        self.bad("PUT", "/2/instances/inst1/export", {}, part="target_node")
        op = self.op("DELETE", "/2/instances/inst1/export")
        self.assert_params(op, "OP_BACKUP_REMOVE", instance_name="inst1")
        self.assert_reason(op, "instances_name_export")

    def test_migrate_failover(self):
        """migrate and failover pass their body parameters to the opcodes."""
        op = self.op("PUT", "/2/instances/inst1/migrate",
                     {"mode": "non-live", "cleanup": True, "target_node": "n2"})
        self.assert_params(
            op, "OP_INSTANCE_MIGRATE", instance_name="inst1", mode="non-live",
            cleanup=True, target_node="n2", allow_failover=False,
        )
        self.assert_reason(op, "instances_name_migrate")
        op = self.op("PUT", "/2/instances/inst1/failover",
                     {"iallocator": "hail", "ignore_consistency": True})
        self.assert_params(
            op, "OP_INSTANCE_FAILOVER", instance_name="inst1", iallocator="hail",
            ignore_consistency=True,
        )
        self.assert_reason(op, "instances_name_failover")
        self.bad("PUT", "/2/instances/inst1/migrate", {"mode": "fast"}, part="mode")

    def test_rename(self):
        """rename needs new_name and passes the checks."""
        op = self.op("PUT", "/2/instances/inst1/rename",
                     {"new_name": "inst2", "ip_check": False, "name_check": False})
        self.assert_params(
            op, "OP_INSTANCE_RENAME", instance_name="inst1", new_name="inst2"
        )
        self.assert_reason(op, "instances_name_rename")
        self.bad("PUT", "/2/instances/inst1/rename", {}, part="new_name")
        self.bad("PUT", "/2/instances/inst1/rename", None, part="new_name")

    def test_modify(self):
        """modify: old names renamed; sizes in disk changes and beparams read."""
        op = self.op("PUT", "/2/instances/inst1/modify", {
            "custom_beparams": {"maxmem": "2G", "vcpus": "4"},
            "custom_hvparams": {"kernel_path": ""},
            "disks": [["add", {"size": "10G"}]],
            "nics": [["modify", 0, {"ip": None}]],
            "runtime_mem": "1G",
        })
        self.assert_params(
            op, "OP_INSTANCE_SET_PARAMS", instance_name="inst1",
            beparams={"maxmem": 2048, "vcpus": 4}, hvparams={"kernel_path": ""},
            disks=[["add", {"size": 10240}]], nics=[["modify", 0, {"ip": None}]],
            runtime_mem=1024,
        )
        self.assert_reason(op, "instances_name_modify")
        self.bad("PUT", "/2/instances/inst1/modify",
                 {"beparams": {}, "custom_beparams": {}}, part="custom_beparams")
        self.bad("PUT", "/2/instances/inst1/modify", {"disks": [["add", {"size": "x"}]]},
                 part="disks[0].size")
        self.bad("PUT", "/2/instances/inst1/modify", {"memory": 1}, part="memory")

    def test_modify_hotplug(self):
        """hotplug and hotplug_if_possible reach the opcode as sent (Synnefo's
        hotplug_if_possible, the web managers' hotplug: false); left out,
        hotplug is null (Ganeti's true, without failing where hot-plug is
        impossible) and hotplug_if_possible false."""
        nics = [["add", {}]]
        op = self.op("PUT", "/2/instances/inst1/modify", {"nics": nics})
        self.assertIsNone(op["hotplug"])
        self.assertIs(op["hotplug_if_possible"], False)
        op = self.op("PUT", "/2/instances/inst1/modify",
                     {"nics": nics, "hotplug_if_possible": True})
        self.assert_params(op, "OP_INSTANCE_SET_PARAMS", hotplug_if_possible=True)
        op = self.op("PUT", "/2/instances/inst1/modify",
                     {"beparams": {"vcpus": 2}, "hotplug": False})
        self.assert_params(op, "OP_INSTANCE_SET_PARAMS", hotplug=False)
        op = self.op("PUT", "/2/instances/inst1/modify", {"nics": nics, "hotplug": True})
        self.assert_params(op, "OP_INSTANCE_SET_PARAMS", hotplug=True)
        self.bad("PUT", "/2/instances/inst1/modify", {"nics": nics, "hotplug": "yes"},
                 part="hotplug")
        self.bad("PUT", "/2/instances/inst1/modify",
                 {"nics": nics, "hotplug_if_possible": 1}, part="hotplug_if_possible")

    def test_unknown_instance(self):
        """Jobs are submitted for any name; the units find out it is unknown."""
        op = self.op("PUT", "/2/instances/nosuch/startup")
        self.assertEqual(op["instance_name"], "nosuch")


class ReinstallTests(InstanceTestCase):
    PATH = "/2/instances/inst1/reinstall"

    def assert_job(self, ops, os_type, osparams=None, start=True):
        ids = [op["OP_ID"] for op in ops]
        expected = ["OP_INSTANCE_SHUTDOWN", "OP_INSTANCE_REINSTALL"]
        if start:
            expected.append("OP_INSTANCE_STARTUP")
        self.assertEqual(ids, expected)
        for op in ops:
            self.assertEqual(op["instance_name"], "inst1")
            self.assert_reason(op, "instances_name_reinstall")
        self.assertEqual((ops[1]["os_type"], ops[1]["osparams"]), (os_type, osparams))
        if start:
            self.assertIs(ops[2]["force"], False)

    def test_body(self):
        """The body form of reinstall chooses the OS, parameters and whether to start."""
        self.assert_job(
            self.ops("POST", self.PATH, {"os": "noop", "osparams": {"a": "b"}}),
            "noop", {"a": "b"},
        )
        self.assert_job(self.ops("POST", self.PATH, {"start": False}), None, start=False)

    def test_no_parameters(self):
        """Neither body nor query: reinstall the current OS and start."""
        self.assert_job(self.ops("POST", self.PATH), None)

    def test_legacy(self):
        """Without a body, the 2010 query parameters os and nostartup."""
        self.assert_job(self.ops("POST", self.PATH + "?os=noop&nostartup=1"),
                        "noop", start=False)
        self.assert_job(self.ops("POST", self.PATH + "?os=noop"), "noop")
        # An empty object counts as no body, as in Ganeti.
        self.assert_job(self.ops("POST", self.PATH + "?nostartup=0", {}), None)

    def test_errors(self):
        """Query and body together, or a bad body, are 400s."""
        self.assertEqual(
            self.bad("POST", self.PATH + "?reason=x", {"os": "noop"}),
            "Can't combine query and body parameters",
        )
        self.bad("POST", self.PATH, ["noop"])
        self.bad("POST", self.PATH, {"start": 1}, part="start")
        self.bad("POST", self.PATH + "?nostartup=yes", part="nostartup")


class ReplaceDisksTests(InstanceTestCase):
    PATH = "/2/instances/inst1/replace-disks"

    def test_body(self):
        """replace-disks reads the legacy query form, or a body with a list of indices or a string."""
        op = self.op("POST", self.PATH, {"mode": "replace_on_secondary", "disks": [0, 2],
                                         "early_release": True})
        self.assert_params(
            op, "OP_INSTANCE_REPLACE_DISKS", instance_name="inst1",
            mode="replace_on_secondary", disks=[0, 2], early_release=True,
            remote_node=None,
        )
        self.assert_reason(op, "instances_name_replace_disks")
        op = self.op("POST", self.PATH, {"mode": "replace_auto", "disks": "1, 2"})
        self.assertEqual(op["disks"], [1, 2])
        op = self.op("POST", self.PATH, {"mode": "replace_auto", "disks": ""})
        self.assertEqual(op["disks"], [])

    def test_legacy(self):
        """Without a body, mode, remote_node, disks and iallocator from the query;
        early_release there is ignored, as Ganeti ignores it."""
        op = self.op(
            "POST", self.PATH + "?mode=replace_new_secondary&remote_node=n2&disks=0,1"
                                "&iallocator=hail&early_release=1",
        )
        self.assert_params(
            op, "OP_INSTANCE_REPLACE_DISKS", mode="replace_new_secondary",
            remote_node="n2", disks=[0, 1], iallocator="hail", early_release=False,
        )
        op = self.op("POST", self.PATH + "?mode=replace_auto")
        self.assert_params(op, "OP_INSTANCE_REPLACE_DISKS", mode="replace_auto", disks=[])

    def test_errors(self):
        """Malformed replace-disks requests are 400s."""
        self.bad("POST", self.PATH, part="mode")
        self.bad("POST", self.PATH, {}, part="mode")
        self.bad("POST", self.PATH + "?mode=replace_auto&disks=a", part="disk index")
        self.bad("POST", self.PATH, {"mode": "replace_auto", "disks": ["0"]},
                 part="disk index")
        self.bad("POST", self.PATH, {"mode": "replace_auto", "disks": 1}, part="disk index")
        self.bad("POST", self.PATH, ["replace_auto"])


class ConsoleTests(InstanceTestCase):
    """The console comes from the cluster's instance_console."""

    def setUp(self):
        InstanceTestCase.setUp(self)
        self.asked = []
        self.answer = {"instance": "inst1", "kind": "vnc", "host": "node1",
                       "port": 11000, "display": 5100}
        cluster = self.api.engine.cluster

        def instance_console(name):
            self.asked.append(name)
            if isinstance(self.answer, Exception):
                return defer.fail(self.answer)
            return defer.succeed(self.answer)

        had = "instance_console" in vars(cluster)
        original = vars(cluster).get("instance_console")
        cluster.instance_console = instance_console

        def restore():
            if had:
                cluster.instance_console = original
            else:
                del cluster.instance_console

        self.addCleanup(restore)

    def test_console(self):
        """Any user with the read or write option gets the console object."""
        self.assertEqual(
            self.api.ok("GET", "/2/instances/inst1/console", user=READER), self.answer
        )
        self.assertEqual(self.api.ok("GET", "/2/instances/inst1/console"), self.answer)
        self.assertEqual(self.asked, ["inst1", "inst1"])

    def test_access(self):
        """A user with read or write; anonymous is a 401, no option a 403."""
        path = "/2/instances/inst1/console"
        self.assertEqual(self.api.request("GET", path, user=None)[0], 401)
        self.assertEqual(self.api.request("GET", path, user=PLAIN)[0], 403)
        self.assertEqual(self.asked, [])

    def test_not_running(self):
        """A console of an instance that is not running is a 503."""
        self.answer = interfaces.ClusterUnavailable("Instance inst1 is not running")
        code, body = self.api.request("GET", "/2/instances/inst1/console")
        self.assertEqual(code, 503)
        self.assertIn("not running", body["message"])

    def test_unknown(self):
        """An unknown instance's console is a 404."""
        self.answer = interfaces.EntityNotFound("Instance 'nosuch' not known")
        self.assertEqual(self.api.request("GET", "/2/instances/nosuch/console")[0], 404)


class AccessTests(InstanceTestCase):
    WRITES = [
        ("POST", "/2/instances"),
        ("POST", "/2/instances-multi-alloc"),
        ("DELETE", "/2/instances/inst1"),
        ("POST", "/2/instances/inst1/reboot"),
        ("PUT", "/2/instances/inst1/shutdown"),
        ("PUT", "/2/instances/inst1/startup"),
        ("POST", "/2/instances/inst1/reinstall"),
        ("POST", "/2/instances/inst1/replace-disks"),
        ("PUT", "/2/instances/inst1/activate-disks"),
        ("PUT", "/2/instances/inst1/deactivate-disks"),
        ("POST", "/2/instances/inst1/recreate-disks"),
        ("POST", "/2/instances/inst1/disk/0/grow"),
        ("PUT", "/2/instances/inst1/prepare-export"),
        ("PUT", "/2/instances/inst1/export"),
        ("DELETE", "/2/instances/inst1/export"),
        ("PUT", "/2/instances/inst1/migrate"),
        ("PUT", "/2/instances/inst1/failover"),
        ("PUT", "/2/instances/inst1/rename"),
        ("PUT", "/2/instances/inst1/modify"),
        ("PUT", "/2/instances/inst1/tags"),
        ("DELETE", "/2/instances/inst1/tags"),
    ]

    def test_writes(self):
        """Every change needs write: anonymous is a 401, a reader a 403."""
        for method, path in self.WRITES:
            self.assertEqual(self.api.request(method, path, user=None)[0], 401, path)
            self.assertEqual(self.api.request(method, path, user=READER)[0], 403, path)
        self.assertEqual(self.api.ok("GET", "/2/jobs"), [], "no job was submitted")

    def test_reads(self):
        """Listing, fields, tags and info are anonymous."""
        for path in ["/2/instances", "/2/instances?bulk=1", "/2/instances/inst1",
                     "/2/instances/inst1/tags", "/2/instances/inst1/info"]:
            self.assertEqual(self.api.request("GET", path, user=None)[0], 200, path)

    def test_methods(self):
        """Methods a resource lacks are 501s."""
        for method, path in [
            ("PUT", "/2/instances"), ("GET", "/2/instances-multi-alloc"),
            ("PUT", "/2/instances/inst1"), ("GET", "/2/instances/inst1/reboot"),
            ("POST", "/2/instances/inst1/startup"), ("GET", "/2/instances/inst1/rename"),
            ("PUT", "/2/instances/inst1/console"), ("POST", "/2/instances/inst1/export"),
            ("GET", "/2/instances/inst1/disk/0/grow"),
        ]:
            self.assertEqual(self.api.request(method, path)[0], 501, (method, path))
