# -*- test-case-name: tests.test_web_nodes -*-
"""Node opcodes: parameters and roles, power cycle, storage, evacuate, migrate.

Roles follow Ganeti's rules.  A node has one role: master candidate
(C{C}), drained (C{D}), offline (C{O}) or regular (C{R}); the master is a
candidate that no opcode here may demote.  The cluster wants
C{min(candidate_pool_size, eligible nodes)} candidates, where a node is
eligible when it is master capable, online and not drained.  Demoting a
candidate below that number needs C{auto_promote}, which promotes other
eligible nodes in its place; a node coming back from offline or drained
promotes itself when candidates are missing.

Evacuate and migrate do not move anything themselves: they return the
follow-up jobs they submitted, one per instance, as C{{"jobs": [[ok, job id
or message], ...]}}.
"""

import ipaddress
import re

from twisted.internet import defer

from ganeti_rapi.engine import locks, opcodes
from ganeti_rapi.engine.errors import (
    ECODE_ENVIRON,
    ECODE_INVAL,
    ECODE_NOTUNIQUE,
    ECODE_STATE,
    OpExecError,
    OpPrereqError,
)
from ganeti_rapi.engine.queryfields import role_of
from ganeti_rapi.engine.units.base import Unit, merge_params, require_changes

#: The role flags of a node, in the order results list them.
ROLE_FLAGS = ("master_candidate", "drained", "offline")

#: The flags each role has, in L{ROLE_FLAGS} order.
_ROLE_VALUES = {
    "C": (True, False, False),
    "D": (False, True, False),
    "O": (False, False, True),
    "R": (False, False, False),
}

#: Every parameter of OP_NODE_SET_PARAMS that changes something.
_SET_PARAMS = (
    "master_candidate", "offline", "drained", "master_capable", "vm_capable",
    "secondary_ip", "ndparams", "powered", "hv_state", "disk_state",
)

#: Storage types whose units this engine can list, modify or repair.
QUERYABLE_STORAGE = ("file", "lvm-pv", "lvm-vg")
MODIFIABLE_STORAGE = {"lvm-pv": ("allocatable",)}
REPAIRABLE_STORAGE = ("lvm-vg",)

#: Storage fields a query may ask for; C{node} and C{type} are filled in here.
STORAGE_FIELDS = ("node", "type", "name", "size", "used", "free", "allocatable")
_LOCAL_STORAGE_FIELDS = ("node", "type")

#: The storage type a disk template keeps its disks in (Ganeti's mapping),
#: for a storage query that names no type.
_TEMPLATE_STORAGE = {
    "file": "file",
    "sharedfile": "sharedfile",
    "plain": "lvm-vg",
    "drbd": "lvm-vg",
    "gluster": "gluster",
    "rbd": "rados",
    "ext": "ext",
    "blockdev": "blockdev",
    "diskless": "diskless",
}

#: Seconds a storage listing may take on the slowest node.
STORAGE_TIMEOUT = 60


def node_runner(env):
    """The node runner of C{env}.

    @raise OpPrereqError: C{environment_error} if no node can be reached.
    """
    nodes = getattr(env, "nodes", None)
    if nodes is None:
        raise OpPrereqError(
            "This cluster engine cannot reach any node daemon", ECODE_ENVIRON
        )
    return nodes


def nice_key(name):
    """A sort key putting C{node2} before C{node10}, as Ganeti's NiceSort."""
    return [
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"(\d+)", name or "")
        if part
    ]


def node_lock_name(config, name):
    """The name a node lock goes by: the full name of a known node."""
    node = config.node_by_name(name)
    if node is None:
        try:
            node = config.find_node(name)
        except OpPrereqError:
            return name
    return node.name


def candidate_stats(config, exceptions=()):
    """C{(candidates now, candidates wanted, eligible nodes)} without C{exceptions}."""
    now = eligible = 0
    for node in config.nodes():
        if node.uuid in exceptions:
            continue
        if node.master_capable and not (node.offline or node.drained):
            eligible += 1
        if node.master_candidate:
            now += 1
    return now, min(eligible, config.cluster.candidate_pool_size), eligible


def promote_candidates(config, exceptions=()):
    """Promote eligible nodes until enough are candidates; the nodes promoted."""
    now, wanted, _ = candidate_stats(config, exceptions)
    promoted = []
    for node in sorted(config.nodes(), key=lambda n: nice_key(n.name)):
        if now >= wanted:
            break
        if node.uuid in exceptions or node.master_candidate:
            continue
        if node.master_capable and not (node.offline or node.drained):
            node.master_candidate = True
            config.touch(node)
            promoted.append(node)
            now += 1
    return promoted


def _all_node_locks(config, own_name):
    names = {n.name for n in config.nodes()}
    names.add(node_lock_name(config, own_name))
    return [(locks.LEVEL_NODE, name, True) for name in sorted(names)]


class NodeSetParams(Unit):
    """Change a node's role and parameters; the result lists what changed.

    Role changes lock every node, since they may promote others; other
    changes lock only the node.
    """

    def _touches_roles(self):
        return any(
            self.op.get(key) is not None for key in ROLE_FLAGS + ("master_capable",)
        )

    def lock_requests(self):
        if self._touches_roles():
            return _all_node_locks(self.config, self.op["node_name"])
        return [(locks.LEVEL_NODE, node_lock_name(self.config, self.op["node_name"]), True)]

    def check(self):
        return self._plan()

    def _plan(self):
        """The node and what would change, checking Ganeti's rules."""
        op, config = self.op, self.config
        require_changes(
            [k for k in _SET_PARAMS if op.get(k) is not None], "node '%s'" % op["node_name"]
        )
        node = config.find_node(op["node_name"])
        requested = {flag: op.get(flag) for flag in ROLE_FLAGS}
        if list(requested.values()).count(True) > 1:
            raise OpPrereqError(
                "Can't set the node into more than one state at the same time",
                ECODE_INVAL,
            )
        is_master = node.uuid == config.cluster.master_node
        if is_master and (
            requested["master_candidate"] is False
            or requested["offline"] is True
            or requested["drained"] is True
        ):
            raise OpPrereqError(
                "The master role can be changed only via master-failover", ECODE_INVAL
            )
        if is_master and op.get("master_capable") is False:
            raise OpPrereqError(
                "The master node must remain master capable", ECODE_INVAL
            )
        master_capable = node.master_capable
        if op.get("master_capable") is not None:
            master_capable = op["master_capable"]
        if requested["master_candidate"] and not master_capable:
            raise OpPrereqError(
                "Node %s is not master capable, cannot make it a master candidate"
                % node.name,
                ECODE_STATE,
            )
        if op.get("vm_capable") is False and node.vm_capable:
            if config.instances_on_node(node.uuid):
                raise OpPrereqError(
                    "Node %s hosts instances, cannot unset the vm_capable flag"
                    % node.name,
                    ECODE_STATE,
                )
        if op.get("secondary_ip") is not None:
            self._check_secondary_ip(node, op["secondary_ip"])

        # Unsetting a flag that is not set changes nothing.
        for flag in ROLE_FLAGS:
            if requested[flag] is False and not getattr(node, flag):
                requested[flag] = None
        # A node back from offline or drained, or newly master capable,
        # becomes a candidate itself when candidates are missing.
        coming_back = (
            requested["drained"] is False
            or requested["offline"] is False
            or (op.get("master_capable") and not node.master_capable)
        )
        if (
            coming_back
            and master_capable
            and True not in requested.values()
            and not node.master_candidate
            and _self_promotion_needed(config, node)
        ):
            requested["master_candidate"] = True
        if op.get("master_capable") is False and node.master_candidate:
            requested["master_candidate"] = False

        old_role = role_of(node)
        if requested["master_candidate"]:
            new_role = "C"
        elif requested["drained"]:
            new_role = "D"
        elif requested["offline"]:
            new_role = "O"
        elif False in requested.values():
            new_role = "R"
        else:
            new_role = old_role

        promote = False
        if old_role == "C" and new_role != "C":
            now, wanted, _ = candidate_stats(config, exceptions=[node.uuid])
            if now < wanted:
                if not op.get("auto_promote"):
                    raise OpPrereqError(
                        "Not enough master candidates (desired %d, new value will be %d)"
                        % (wanted, now),
                        ECODE_STATE,
                    )
                promote = True
        return node, old_role, new_role, promote

    def _check_secondary_ip(self, node, address):
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            raise OpPrereqError(
                "Secondary IP (%s) needs to be a valid IP address" % address, ECODE_INVAL
            ) from None
        family = 6 if self.config.cluster.primary_ip_family == 10 else 4
        if parsed.version != family:
            raise OpPrereqError(
                "Secondary IP %s is not an IPv%d address like the cluster's"
                % (address, family),
                ECODE_INVAL,
            )
        for other in self.config.nodes():
            if other.uuid != node.uuid and address in (other.primary_ip, other.secondary_ip):
                raise OpPrereqError(
                    "Secondary IP %s is already used by node %s" % (address, other.name),
                    ECODE_NOTUNIQUE,
                )

    async def execute(self):
        node, old_role, new_role, promote = self._plan()
        op, config = self.op, self.config
        result = []
        promoted = []
        for key in ("master_capable", "vm_capable"):
            value = op.get(key)
            if value is not None and value != getattr(node, key):
                setattr(node, key, value)
                result.append([key, value])
        if new_role != old_role:
            new_flags = _ROLE_VALUES[new_role]
            for flag, value in zip(ROLE_FLAGS, new_flags):
                if getattr(node, flag) != value:
                    setattr(node, flag, value)
                    result.append([flag, value])
            if promote:
                promoted = promote_candidates(config, exceptions=[node.uuid])
        if op.get("secondary_ip") is not None and op["secondary_ip"] != node.secondary_ip:
            node.secondary_ip = op["secondary_ip"]
            result.append(["secondary_ip", node.secondary_ip])
        for key in ("ndparams", "hv_state", "disk_state"):
            if op.get(key) is not None:
                value = merge_params(getattr(node, key), op[key])
                if value != getattr(node, key):
                    setattr(node, key, value)
                    result.append([key, value])
        if op.get("powered") is not None and op["powered"] != node.powered:
            node.powered = op["powered"]
            result.append(["powered", node.powered])
        if not result:
            return result
        config.touch(node)
        await self.save()
        for other in promoted:
            await self.env.feedback("Promoted node %s to master candidate" % other.name)
        return result


def _self_promotion_needed(config, node):
    """Whether C{node}, becoming eligible, should become a candidate."""
    now, wanted, _ = candidate_stats(config, exceptions=[node.uuid])
    return now < min(wanted + 1, config.cluster.candidate_pool_size)


class NodePowercycle(Unit):
    """Power-cycle a node through its node daemon; the master needs C{force}."""

    def lock_requests(self):
        return [(locks.LEVEL_NODE, node_lock_name(self.config, self.op["node_name"]), False)]

    def check(self):
        node = self.config.find_node(self.op["node_name"])
        if node.uuid == self.config.cluster.master_node and not self.op.get("force"):
            raise OpPrereqError(
                "The node is the master and the force parameter was not set",
                ECODE_INVAL,
            )
        return node

    def execute(self):
        node = self.check()
        return node_runner(self.env).run(
            node, "node_powercycle",
            hypervisor=self.config.cluster.default_hypervisor,
        )


def storage_type_for(config, storage_type):
    """The storage type a storage opcode works on (a default for L{None})."""
    if storage_type is None:
        templates = config.cluster.enabled_disk_templates
        if not templates:
            raise OpPrereqError(
                "No storage type given and no disk template is enabled", ECODE_INVAL
            )
        storage_type = _TEMPLATE_STORAGE.get(templates[0], templates[0])
    return storage_type


class NodeQueryStorage(Unit):
    """List the storage units of nodes: rows in C{output_fields} order."""

    def _node_names(self):
        if self.op.get("nodes"):
            return list(self.op["nodes"])
        return [n.name for n in self.config.nodes() if n.vm_capable]

    def lock_requests(self):
        names = {node_lock_name(self.config, name) for name in self._node_names()}
        return [(locks.LEVEL_NODE, name, False) for name in sorted(names)]

    def check(self):
        storage_type = storage_type_for(self.config, self.op.get("storage_type"))
        if storage_type not in QUERYABLE_STORAGE:
            raise OpPrereqError(
                "Storage type %s cannot be queried; this cluster can query: %s"
                % (storage_type, ", ".join(QUERYABLE_STORAGE)),
                ECODE_INVAL,
            )
        unknown = [f for f in self.op["output_fields"] if f not in STORAGE_FIELDS]
        if unknown:
            raise OpPrereqError(
                "Unknown output fields selected: %s" % ", ".join(unknown), ECODE_INVAL
            )
        nodes = [self.config.find_node(name) for name in self._node_names()]
        return storage_type, nodes

    async def execute(self):
        storage_type, nodes = self.check()
        runner = node_runner(self.env)
        output_fields = list(self.op["output_fields"])
        # Always fetch the name, to sort by; node and type are known here.
        fields = [f for f in output_fields if f not in _LOCAL_STORAGE_FIELDS]
        if "name" not in fields:
            fields.insert(0, "name")
        name_index = fields.index("name")
        # For file storage, no name means the node's own file storage
        # directory: each node daemon knows where its directory is, and in a
        # cluster on one host the directories differ from the master's.
        name_or_path = self.op.get("name")
        online = sorted((n for n in nodes if not n.offline), key=lambda n: nice_key(n.name))
        calls = []
        for node in online:
            d = runner.run(
                node, "storage_list", STORAGE_TIMEOUT,
                storage_type=storage_type, name_or_path=name_or_path, fields=fields,
            )
            d.addCallbacks(lambda rows: (True, rows), lambda f: (False, f.value))
            calls.append(d)
        answers = await defer.gatherResults(calls)
        if online and not any(ok for ok, _ in answers):
            # Nothing to list from at all: the first node's error says why.
            raise answers[0][1]
        result = []
        for node, (ok, payload) in zip(online, answers):
            if not ok or not isinstance(payload, list):
                await self.env.feedback(
                    "Can't get storage data from node %s: %s" % (node.name, payload)
                )
                continue
            rows = {}
            for row in payload:
                if isinstance(row, list) and len(row) == len(fields):
                    rows[str(row[name_index])] = row
            for name in sorted(rows, key=nice_key):
                row = rows[name]
                out = []
                for field in output_fields:
                    if field == "node":
                        out.append(node.name)
                    elif field == "type":
                        out.append(storage_type)
                    else:
                        out.append(row[fields.index(field)])
                result.append(out)
        return result


class _StorageUnitOpcode(Unit):
    def lock_requests(self):
        return [(locks.LEVEL_NODE, node_lock_name(self.config, self.op["node_name"]), True)]

    def _node_and_name(self):
        node = self.config.find_node(self.op["node_name"])
        if not self.op.get("name"):
            raise OpPrereqError("The name of the storage unit is required", ECODE_INVAL)
        return node


class NodeModifyStorage(_StorageUnitOpcode):
    """Change fields of a storage unit; only C{lvm-pv}'s C{allocatable} can be."""

    def check(self):
        storage_type = self.op["storage_type"]
        modifiable = MODIFIABLE_STORAGE.get(storage_type)
        if modifiable is None:
            raise OpPrereqError(
                "Storage units of type '%s' cannot be modified; modifiable are: %s"
                % (storage_type, _describe_modifiable()),
                ECODE_INVAL,
            )
        changes = self.op["changes"]
        bad = sorted(set(changes) - set(modifiable))
        if bad:
            raise OpPrereqError(
                "Fields %s of storage type '%s' cannot be modified; modifiable are: %s"
                % (", ".join(bad), storage_type, _describe_modifiable()),
                ECODE_INVAL,
            )
        if "allocatable" in changes and not isinstance(changes["allocatable"], bool):
            raise OpPrereqError("Field 'allocatable' must be a boolean", ECODE_INVAL)
        return self._node_and_name()

    def execute(self):
        node = self.check()
        d = node_runner(self.env).run(
            node, "storage_modify",
            storage_type=self.op["storage_type"], name=self.op["name"],
            changes=dict(self.op["changes"]),
        )
        return d.addCallback(lambda _: None)


def _describe_modifiable():
    return "; ".join(
        "%s (%s)" % (storage_type, ", ".join(fields))
        for storage_type, fields in sorted(MODIFIABLE_STORAGE.items())
    )


class NodeRepairStorage(_StorageUnitOpcode):
    """Repair a storage unit; only C{lvm-vg} has a repair operation."""

    def check(self):
        storage_type = self.op["storage_type"]
        if storage_type not in REPAIRABLE_STORAGE:
            raise OpPrereqError(
                "Storage units of type '%s' cannot be repaired; repairable are: %s"
                % (storage_type, ", ".join(REPAIRABLE_STORAGE)),
                ECODE_INVAL,
            )
        return self._node_and_name()

    def execute(self):
        node = self.check()
        d = node_runner(self.env).run(
            node, "storage_repair",
            storage_type=self.op["storage_type"], name=self.op["name"],
        )
        return d.addCallback(lambda _: None)


# -- evacuate and migrate --------------------------------------------------------


class _JobsUnit(Unit):
    """A unit whose work is follow-up jobs, one per instance."""

    def lock_requests(self):
        return [(locks.LEVEL_NODE, node_lock_name(self.config, self.op["node_name"]), False)]

    def _child(self, op_id, params):
        """A follow-up opcode inheriting this one's priority and reason."""
        params = dict(params)
        params["priority"] = self.op.get("priority", opcodes.OP_PRIO_DEFAULT)
        params["reason"] = list(self.op.get("reason") or [])
        return opcodes.make_opcode(op_id, params)

    async def _submit(self, jobs):
        """Queue C{jobs} through C{env.submit_jobs}: a list of jobs, each a
        list of complete opcode dicts (L{opcodes.make_opcode}); it answers
        C{[[ok, job id or message], ...]} (or a Deferred of it)."""
        if not jobs:
            return {"jobs": []}
        submit = getattr(self.env, "submit_jobs", None)
        if submit is None:
            raise OpExecError(
                "This engine cannot submit the follow-up jobs of %s" % self.op["OP_ID"]
            )
        results = await defer.maybeDeferred(submit, jobs)
        return {"jobs": [list(r) for r in results]}

    def _other_node(self, node, key, message):
        name = self.op.get(key)
        if name is None:
            return None
        other = self.config.find_node(name)
        if other.uuid == node.uuid:
            raise OpPrereqError(message, ECODE_INVAL)
        return other


def _by_name(instances):
    return sorted(instances, key=lambda i: nice_key(i.name))


class NodeEvacuate(_JobsUnit):
    """Move instances off a node: primaries migrate (or fail over), secondaries
    get a new secondary node."""

    def check(self):
        op = self.op
        node = self.config.find_node(op["node_name"])
        if op.get("remote_node") is not None and op.get("iallocator") is not None:
            raise OpPrereqError(
                "Give either an iallocator or a new secondary node, not both",
                ECODE_INVAL,
            )
        remote = self._other_node(
            node, "remote_node", "Can not use evacuated node as a new secondary node"
        )
        mode = op["mode"]
        instances = self.config.instances_on_node(node.uuid)
        primaries = secondaries = []
        if mode in ("primary-only", "all"):
            primaries = _by_name(i for i in instances if i.primary_node == node.uuid)
        if mode in ("secondary-only", "all"):
            secondaries = _by_name(i for i in instances if i.primary_node != node.uuid)
        iallocator = op.get("iallocator")
        if remote is None and not iallocator:
            iallocator = self.config.cluster.default_iallocator or None
        if (primaries or secondaries) and remote is None and not iallocator:
            raise OpPrereqError(
                "Evacuating node %s needs a remote node or an iallocator, and the"
                " cluster has no default iallocator" % node.name,
                ECODE_INVAL,
            )
        return primaries, secondaries, remote, iallocator

    async def execute(self):
        primaries, secondaries, remote, iallocator = self.check()
        remote_name = remote.name if remote is not None else None
        jobs = []
        for instance in primaries:
            jobs.append([self._child("OP_INSTANCE_MIGRATE", {
                "instance_name": instance.name,
                "allow_failover": True,
                "target_node": remote_name,
                "iallocator": iallocator if remote is None else None,
            })])
        for instance in secondaries:
            jobs.append([self._child("OP_INSTANCE_REPLACE_DISKS", {
                "instance_name": instance.name,
                "mode": "replace_new_secondary",
                "remote_node": remote_name,
                "iallocator": iallocator if remote is None else None,
                "early_release": self.op.get("early_release", False),
            })])
        return await self._submit(jobs)


class NodeMigrate(_JobsUnit):
    """Migrate every primary instance of a node, one job per instance."""

    def check(self):
        op = self.op
        node = self.config.find_node(op["node_name"])
        if op.get("mode") is not None and op.get("live") is not None:
            raise OpPrereqError(
                "Only one of the 'live' and 'mode' parameters can be given", ECODE_INVAL
            )
        target = self._other_node(
            node, "target_node", "Can not migrate instances to the node they leave"
        )
        instances = _by_name(
            i for i in self.config.instances_on_node(node.uuid, primary_only=True)
        )
        return instances, target

    async def execute(self):
        instances, target = self.check()
        op = self.op
        jobs = []
        for instance in instances:
            jobs.append([self._child("OP_INSTANCE_MIGRATE", {
                "instance_name": instance.name,
                "mode": op.get("mode"),
                "live": op.get("live"),
                "target_node": target.name if target is not None else None,
                "iallocator": op.get("iallocator"),
                "allow_runtime_changes": op.get("allow_runtime_changes", True),
                "ignore_ipolicy": op.get("ignore_ipolicy", False),
            })])
        return await self._submit(jobs)
