"""Tests for L{ganeti_rapi.engine.opcodes}: definitions, validation, summaries."""

from twisted.trial.unittest import SynchronousTestCase

from ganeti_rapi.engine import opcodes
from ganeti_rapi.engine.errors import OpcodeValidationError

#: Every OP_ID of the newest Ganeti opcode list the RAPI can submit.
APPENDIX_A_OP_IDS = [
    "OP_CLUSTER_REDIST_CONF",
    "OP_CLUSTER_SET_PARAMS",
    "OP_OS_DIAGNOSE",
    "OP_TAGS_GET",
    "OP_TAGS_SET",
    "OP_TAGS_DEL",
    "OP_INSTANCE_CREATE",
    "OP_INSTANCE_MULTI_ALLOC",
    "OP_INSTANCE_REMOVE",
    "OP_INSTANCE_QUERY_DATA",
    "OP_INSTANCE_REBOOT",
    "OP_INSTANCE_STARTUP",
    "OP_INSTANCE_SHUTDOWN",
    "OP_INSTANCE_REINSTALL",
    "OP_INSTANCE_REPLACE_DISKS",
    "OP_INSTANCE_ACTIVATE_DISKS",
    "OP_INSTANCE_DEACTIVATE_DISKS",
    "OP_INSTANCE_RECREATE_DISKS",
    "OP_INSTANCE_GROW_DISK",
    "OP_BACKUP_PREPARE",
    "OP_BACKUP_EXPORT",
    "OP_BACKUP_REMOVE",
    "OP_INSTANCE_MIGRATE",
    "OP_INSTANCE_FAILOVER",
    "OP_INSTANCE_RENAME",
    "OP_INSTANCE_SET_PARAMS",
    "OP_INSTANCE_CONSOLE",
    "OP_NODE_POWERCYCLE",
    "OP_NODE_SET_PARAMS",
    "OP_NODE_EVACUATE",
    "OP_NODE_MIGRATE",
    "OP_NODE_QUERY_STORAGE",
    "OP_NODE_MODIFY_STORAGE",
    "OP_REPAIR_NODE_STORAGE",
    "OP_GROUP_ADD",
    "OP_GROUP_REMOVE",
    "OP_GROUP_SET_PARAMS",
    "OP_GROUP_RENAME",
    "OP_GROUP_ASSIGN_NODES",
    "OP_NETWORK_ADD",
    "OP_NETWORK_REMOVE",
    "OP_NETWORK_CONNECT",
    "OP_NETWORK_DISCONNECT",
    "OP_NETWORK_SET_PARAMS",
    "OP_NETWORK_RENAME",
    "OP_QUERY",
    "OP_QUERY_FIELDS",
]

COMMON = ["dry_run", "debug_level", "priority", "depends", "comment", "reason"]


def minimal_create(**extra):
    """The smallest valid OP_INSTANCE_CREATE body."""
    body = {
        "instance_name": "inst1.example.com",
        "disks": [{"size": 1024}],
        "nics": [{}],
        "mode": "create",
    }
    body.update(extra)
    return body


class DefinitionTests(SynchronousTestCase):
    """The opcode registry."""

    def test_every_appendix_op_id(self):
        """Every opcode of Ganeti's newest list is defined."""
        missing = [op for op in APPENDIX_A_OP_IDS if op not in opcodes.OPCODES]
        self.assertEqual(missing, [])

    def test_common_params_everywhere(self):
        """Every opcode accepts the common parameters."""
        for definition in opcodes.OPCODES.values():
            for name in COMMON:
                self.assertIn(name, definition.by_name, definition.op_id)

    def test_defaults_are_valid(self):
        """Every default value passes its own parameter's validator."""
        for definition in opcodes.OPCODES.values():
            for param in definition.params:
                if not param.required:
                    self.assertTrue(
                        param.validator(param.default),
                        "%s.%s" % (definition.op_id, param.name),
                    )

    def test_opcode_def(self):
        """opcode_def returns the definition, and refuses unknown ids."""
        self.assertEqual(opcodes.opcode_def("OP_GROUP_ADD").dsc_field, "group_name")
        self.assertRaises(OpcodeValidationError, opcodes.opcode_def, "OP_NOPE")

    def test_appendix_defaults(self):
        """A sample of defaults matches Ganeti's."""
        create = opcodes.opcode_def("OP_INSTANCE_CREATE").by_name
        self.assertEqual(create["source_shutdown_timeout"].default, 120)
        self.assertEqual(create["compress"].default, "none")
        self.assertIs(create["start"].default, True)
        self.assertIs(create["name_check"].default, False)
        self.assertTrue(create["mode"].required)
        connect = opcodes.opcode_def("OP_NETWORK_CONNECT").by_name
        self.assertEqual(connect["network_vlan"].default, "")
        self.assertTrue(connect["network_link"].required)


class MakeOpcodeTests(SynchronousTestCase):
    """L{opcodes.make_opcode}: the body-to-opcode steps of Ganeti's RAPI."""

    def test_defaults_filled(self):
        """The result holds OP_ID and every parameter, defaults included."""
        op = opcodes.make_opcode("OP_GROUP_ADD", {"group_name": "g1"})
        self.assertEqual(
            op,
            {
                "OP_ID": "OP_GROUP_ADD",
                "group_name": "g1",
                "alloc_policy": None,
                "ndparams": None,
                "diskparams": None,
                "hv_state": None,
                "disk_state": None,
                "ipolicy": None,
                "dry_run": False,
                "debug_level": 0,
                "priority": 0,
                "depends": None,
                "comment": None,
                "reason": [],
            },
        )

    def test_no_body(self):
        """A missing body (None) means no parameters."""
        op = opcodes.make_opcode("OP_CLUSTER_REDIST_CONF", None)
        self.assertEqual(op["OP_ID"], "OP_CLUSTER_REDIST_CONF")
        self.assertEqual(sorted(op), sorted(["OP_ID"] + COMMON))

    def test_mutable_defaults_copied(self):
        """Changing one opcode's default list or dict does not change another's."""
        first = opcodes.make_opcode("OP_INSTANCE_CREATE", minimal_create())
        first["beparams"]["maxmem"] = 1
        first["tags"].append("x")
        first["reason"].append(["a", "b", 1])
        second = opcodes.make_opcode("OP_INSTANCE_CREATE", minimal_create())
        self.assertEqual(second["beparams"], {})
        self.assertEqual(second["tags"], [])
        self.assertEqual(second["reason"], [])
        definition = opcodes.opcode_def("OP_INSTANCE_CREATE")
        self.assertEqual(definition.by_name["tags"].default, [])

    def test_null_means_default(self):
        """A null value for a parameter with a default gets the default."""
        op = opcodes.make_opcode(
            "OP_INSTANCE_REMOVE",
            {"instance_name": "i1", "shutdown_timeout": None, "dry_run": None},
        )
        self.assertEqual(op["shutdown_timeout"], 120)
        self.assertIs(op["dry_run"], False)

    def test_required_missing(self):
        """A required parameter without a value is refused."""
        e = self.assertRaises(
            OpcodeValidationError, opcodes.make_opcode, "OP_GROUP_ADD", {}
        )
        self.assertEqual(
            str(e),
            "Invalid body parameters: Required parameter"
            " 'OP_GROUP_ADD.group_name' is missing",
        )

    def test_required_null(self):
        """A required parameter given as null is missing too."""
        self.assertRaises(
            OpcodeValidationError,
            opcodes.make_opcode,
            "OP_GROUP_ADD",
            {"group_name": None},
        )

    def test_unknown_key(self):
        """Unknown keys are refused, and the message names all of them."""
        e = self.assertRaises(
            OpcodeValidationError,
            opcodes.make_opcode,
            "OP_GROUP_ADD",
            {"group_name": "g1", "colour": "red", "aaa": 1},
        )
        self.assertTrue(str(e).startswith("Invalid body parameters:"), str(e))
        self.assertIn("'aaa', 'colour'", str(e))

    def test_bool_refuses_int(self):
        """A bool parameter refuses 1 and 0; only JSON true/false will do."""
        for value in [1, 0, "true", "1"]:
            e = self.assertRaises(
                OpcodeValidationError,
                opcodes.make_opcode,
                "OP_NODE_POWERCYCLE",
                {"node_name": "n1", "force": value},
            )
            self.assertIn("'OP_NODE_POWERCYCLE.force' fails validation", str(e))
        op = opcodes.make_opcode(
            "OP_NODE_POWERCYCLE", {"node_name": "n1", "force": True}
        )
        self.assertIs(op["force"], True)

    def test_int_refuses_bool(self):
        """An int parameter refuses true and false."""
        self.assertRaises(
            OpcodeValidationError,
            opcodes.make_opcode,
            "OP_INSTANCE_REMOVE",
            {"instance_name": "i1", "shutdown_timeout": True},
        )

    def test_non_negative(self):
        """A non-negative int parameter refuses -1 and accepts 0."""
        self.assertRaises(
            OpcodeValidationError,
            opcodes.make_opcode,
            "OP_INSTANCE_REMOVE",
            {"instance_name": "i1", "shutdown_timeout": -1},
        )
        op = opcodes.make_opcode(
            "OP_INSTANCE_REMOVE", {"instance_name": "i1", "shutdown_timeout": 0}
        )
        self.assertEqual(op["shutdown_timeout"], 0)

    def test_float_accepts_int(self):
        """A float parameter accepts an int and stores it as a float."""
        op = opcodes.make_opcode(
            "OP_BACKUP_EXPORT",
            {
                "instance_name": "i1",
                "target_node": "n1",
                "mode": "local",
                "zeroing_timeout_per_mib": 2,
            },
        )
        self.assertEqual(op["zeroing_timeout_per_mib"], 2.0)
        self.assertIsInstance(op["zeroing_timeout_per_mib"], float)
        op = opcodes.make_opcode("OP_TEST_DELAY", {"duration": 1})
        self.assertIsInstance(op["duration"], float)

    def test_float_refuses_bool_and_string(self):
        """A float parameter refuses booleans and strings."""
        for value in [True, "1.5"]:
            self.assertRaises(
                OpcodeValidationError,
                opcodes.make_opcode,
                "OP_TEST_DELAY",
                {"duration": value},
            )

    def test_one_of(self):
        """An enumerated parameter accepts its values only."""
        op = opcodes.make_opcode(
            "OP_GROUP_ADD", {"group_name": "g", "alloc_policy": "last_resort"}
        )
        self.assertEqual(op["alloc_policy"], "last_resort")
        e = self.assertRaises(
            OpcodeValidationError,
            opcodes.make_opcode,
            "OP_GROUP_ADD",
            {"group_name": "g", "alloc_policy": "sometimes"},
        )
        self.assertIn('"preferred", "last_resort", "unallocable"', str(e))
        self.assertIn('got "sometimes"', str(e))

    def test_static_merged(self):
        """Static values from the URL are part of the result."""
        op = opcodes.make_opcode(
            "OP_INSTANCE_REBOOT",
            {"shutdown_timeout": 30},
            {
                "instance_name": "i1",
                "reboot_type": "hard",
                "ignore_secondaries": False,
                "dry_run": True,
                "reason": [["gnt:client", "", 1]],
            },
        )
        self.assertEqual(op["instance_name"], "i1")
        self.assertEqual(op["reboot_type"], "hard")
        self.assertIs(op["dry_run"], True)
        self.assertEqual(op["shutdown_timeout"], 30)
        self.assertEqual(op["reason"], [["gnt:client", "", 1]])

    def test_static_collision(self):
        """A body key that a static value sets is refused."""
        e = self.assertRaises(
            OpcodeValidationError,
            opcodes.make_opcode,
            "OP_GROUP_ADD",
            {"group_name": "body", "reason": []},
            {"group_name": "url", "reason": []},
        )
        self.assertEqual(
            str(e), "Can't overwrite static parameters: group_name, reason"
        )

    def test_static_validated(self):
        """Static values are type-checked like body values."""
        self.assertRaises(
            OpcodeValidationError,
            opcodes.make_opcode,
            "OP_GROUP_ADD",
            {},
            {"group_name": 5},
        )

    def test_body_not_an_object(self):
        """A list or string body is refused with Ganeti's message."""
        e = self.assertRaises(
            OpcodeValidationError, opcodes.make_opcode, "OP_GROUP_ADD", ["x"]
        )
        self.assertEqual(
            str(e), "Body contents: Type is 'list', but 'dict' is expected"
        )
        self.assertRaises(
            OpcodeValidationError, opcodes.make_opcode, "OP_GROUP_ADD", "x"
        )

    def test_op_id_in_body(self):
        """OP_ID is not a parameter a body may set."""
        self.assertRaises(
            OpcodeValidationError,
            opcodes.make_opcode,
            "OP_GROUP_ADD",
            {"group_name": "g", "OP_ID": "OP_GROUP_REMOVE"},
        )

    def test_priority_values(self):
        """Priorities -10, 0 and 10 may be submitted; others not."""
        for prio in opcodes.OP_PRIO_SUBMIT_VALID:
            op = opcodes.make_opcode("OP_CLUSTER_REDIST_CONF", {"priority": prio})
            self.assertEqual(op["priority"], prio)
        for prio in [-20, -11, 1, 5, 19, 20, True, "0", 0.0]:
            self.assertRaises(
                OpcodeValidationError,
                opcodes.make_opcode,
                "OP_CLUSTER_REDIST_CONF",
                {"priority": prio},
            )

    def test_stored_priority_range(self):
        """The priority parameter itself accepts the whole -20..19 range."""
        validator = opcodes.opcode_def("OP_GROUP_ADD").by_name["priority"].validator
        self.assertTrue(validator(-20))
        self.assertTrue(validator(19))
        self.assertFalse(validator(20))
        self.assertFalse(validator(-21))

    def test_depends(self):
        """Job dependencies are [[id, [final statuses]], ...]; ids may be relative."""
        op = opcodes.make_opcode(
            "OP_CLUSTER_REDIST_CONF",
            {"depends": [[12, ["success"]], [-1, ["success", "error"]], ["7", []]]},
        )
        self.assertEqual(len(op["depends"]), 3)
        for bad in [[[1]], [[1, ["running"]]], [["x", []]], "1", [[True, []]]]:
            self.assertRaises(
                OpcodeValidationError,
                opcodes.make_opcode,
                "OP_CLUSTER_REDIST_CONF",
                {"depends": bad},
            )

    def test_common_param_types(self):
        """debug_level must be a non-negative int, comment a string."""
        op = opcodes.make_opcode(
            "OP_CLUSTER_REDIST_CONF", {"debug_level": 2, "comment": "hi"}
        )
        self.assertEqual((op["debug_level"], op["comment"]), (2, "hi"))
        for body in [{"debug_level": -1}, {"comment": 3}, {"dry_run": 1}]:
            self.assertRaises(
                OpcodeValidationError,
                opcodes.make_opcode,
                "OP_CLUSTER_REDIST_CONF",
                body,
            )

    def test_network_addresses(self):
        """Network opcodes check IPv4/IPv6 addresses and networks."""
        op = opcodes.make_opcode(
            "OP_NETWORK_ADD",
            {
                "network_name": "net1",
                "network": "192.0.2.0/24",
                "gateway": "192.0.2.1",
                "network6": "2001:db8::/64",
                "gateway6": "2001:db8::1",
                "add_reserved_ips": ["192.0.2.10"],
            },
        )
        self.assertEqual(op["network"], "192.0.2.0/24")
        for body in [
            {"network": "192.0.2.0"},
            {"network": "nonsense/24"},
            {"network": "192.0.2.0/24", "gateway": "192.0.2.0/24"},
            {"network": "192.0.2.0/24", "network6": "192.0.2.0/24"},
        ]:
            body["network_name"] = "n"
            self.assertRaises(
                OpcodeValidationError, opcodes.make_opcode, "OP_NETWORK_ADD", body
            )

    def test_instance_create(self):
        """A minimal instance creation body validates and gets defaults."""
        op = opcodes.make_opcode("OP_INSTANCE_CREATE", minimal_create())
        self.assertIs(op["start"], True)
        self.assertIs(op["wait_for_sync"], True)
        self.assertEqual(op["disk_template"], None)
        self.assertRaises(
            OpcodeValidationError,
            opcodes.make_opcode,
            "OP_INSTANCE_CREATE",
            minimal_create(disk_template="floppy"),
        )
        self.assertRaises(
            OpcodeValidationError,
            opcodes.make_opcode,
            "OP_INSTANCE_CREATE",
            minimal_create(disks={"size": 1}),
        )

    def test_set_params_modifications(self):
        """Instance modifications accept both the legacy and the new form."""
        op = opcodes.make_opcode(
            "OP_INSTANCE_SET_PARAMS",
            {
                "instance_name": "i1",
                "disks": [["add", {"size": 1024}], ["modify", 0, {"mode": "ro"}]],
                "nics": [[0, {"ip": None}]],
            },
        )
        self.assertEqual(len(op["disks"]), 2)
        self.assertRaises(
            OpcodeValidationError,
            opcodes.make_opcode,
            "OP_INSTANCE_SET_PARAMS",
            {"instance_name": "i1", "disks": [["add"]]},
        )


class RenameTests(SynchronousTestCase):
    """L{opcodes.apply_renames}."""

    renames = {"name": "instance_name", "os": "os_type"}

    def test_renamed(self):
        """Old names are replaced by new ones; the input is not changed."""
        body = {"name": "i1", "os": "debian", "start": False}
        result = opcodes.apply_renames(body, self.renames)
        self.assertEqual(
            result, {"instance_name": "i1", "os_type": "debian", "start": False}
        )
        self.assertEqual(body, {"name": "i1", "os": "debian", "start": False})

    def test_new_names_pass(self):
        """Bodies using the new names are left alone."""
        body = {"instance_name": "i1"}
        self.assertEqual(opcodes.apply_renames(body, self.renames), body)

    def test_both_names(self):
        """Giving both the old and the new name of a parameter is refused."""
        e = self.assertRaises(
            OpcodeValidationError,
            opcodes.apply_renames,
            {"os": "a", "os_type": "b"},
            self.renames,
        )
        self.assertIn("'os'", str(e))
        self.assertIn("'os_type'", str(e))

    def test_none_body(self):
        """A missing body renames to an empty one."""
        self.assertEqual(opcodes.apply_renames(None, self.renames), {})


class SummaryTests(SynchronousTestCase):
    """L{opcodes.summarize}."""

    def test_with_field(self):
        """Opcodes with a summary field show its value in parentheses."""
        cases = [
            ("OP_GROUP_ADD", {"group_name": "g1"}, "GROUP_ADD(g1)"),
            (
                "OP_INSTANCE_CREATE",
                minimal_create(),
                "INSTANCE_CREATE(inst1.example.com)",
            ),
            ("OP_NODE_MIGRATE", {"node_name": "node1"}, "NODE_MIGRATE(node1)"),
            (
                "OP_NETWORK_CONNECT",
                {
                    "group_name": "g",
                    "network_name": "net1",
                    "network_mode": "bridged",
                    "network_link": "br0",
                },
                "NETWORK_CONNECT(net1)",
            ),
            (
                "OP_QUERY",
                {"what": "node", "fields": ["name"]},
                "QUERY(node)",
            ),
            (
                "OP_TAGS_GET",
                {"kind": "instance", "name": "i1"},
                "TAGS_GET(i1)",
            ),
        ]
        for op_id, body, expected in cases:
            op = opcodes.make_opcode(op_id, body)
            self.assertEqual(opcodes.summarize(op), expected)

    def test_without_field(self):
        """Opcodes without a summary field show the bare name."""
        cases = [
            ("OP_CLUSTER_REDIST_CONF", {}, "CLUSTER_REDIST_CONF"),
            ("OP_TAGS_SET", {"kind": "cluster", "tags": ["a"]}, "TAGS_SET"),
            (
                "OP_INSTANCE_RENAME",
                {"instance_name": "a", "new_name": "b"},
                "INSTANCE_RENAME",
            ),
            ("OP_GROUP_RENAME", {"group_name": "a", "new_name": "b"}, "GROUP_RENAME"),
        ]
        for op_id, body, expected in cases:
            op = opcodes.make_opcode(op_id, body)
            self.assertEqual(opcodes.summarize(op), expected)

    def test_unset_field(self):
        """A summary field that is not set gives the bare name."""
        op = opcodes.make_opcode("OP_TAGS_GET", {"kind": "cluster"})
        self.assertEqual(opcodes.summarize(op), "TAGS_GET")

    def test_list_value(self):
        """A list value is shown comma-separated."""
        op = {"OP_ID": "OP_QUERY", "what": ["a", "b"]}
        self.assertEqual(opcodes.summarize(op), "QUERY(a,b)")
