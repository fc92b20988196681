# -*- test-case-name: tests.test_instance_changes -*-
"""C{OP_INSTANCE_MULTI_ALLOC}: several new instances placed at once by the
built-in allocator, each then created by a job of its own.

Apart from the units that change existing instances because it only
places new ones; the creation itself is L{instances.InstanceCreate}'s.
"""

from twisted.internet import defer

from ganeti_rapi.engine import allocator, locks, opcodes
from ganeti_rapi.engine.errors import (
    ECODE_INVAL,
    ECODE_NORES,
    ECODE_STATE,
    OpcodeValidationError,
    OpExecError,
    OpPrereqError,
)
from ganeti_rapi.engine.units.base import Unit
from ganeti_rapi.engine.units.instances import InstanceCreate, need_of


class InstanceMultiAlloc(Unit):
    """Place several new instances; each allocatable one gets its own
    C{OP_INSTANCE_CREATE} job with the chosen primary node."""

    def lock_requests(self):
        # The allocator reads every node's free resources.
        return [(locks.LEVEL_NODE, locks.ALL, False)]

    def child_ops(self):
        """The instances as complete, validated OP_INSTANCE_CREATE opcodes."""
        ops = []
        for index, spec in enumerate(self.op.get("instances") or []):
            label = "Instance %d" % index
            if not isinstance(spec, dict):
                raise OpPrereqError("%s is not an object" % label, ECODE_INVAL)
            spec = dict(spec)
            if isinstance(spec.get("instance_name"), str):
                label = "Instance '%s'" % spec["instance_name"]
            op_id = spec.pop("OP_ID", "OP_INSTANCE_CREATE")
            if op_id != "OP_INSTANCE_CREATE":
                raise OpPrereqError("%s: expected OP_INSTANCE_CREATE, not %s"
                                    % (label, op_id), ECODE_INVAL)
            try:
                child = opcodes.make_opcode("OP_INSTANCE_CREATE", spec)
            except OpcodeValidationError as e:
                raise OpPrereqError("%s: %s" % (label, e.args[0] if e.args else e),
                                    ECODE_INVAL)
            if child.get("iallocator"):
                raise OpPrereqError("%s: iallocator is not allowed on the instances of a"
                                    " multi-allocation" % label, ECODE_INVAL)
            child["priority"] = self.op.get("priority", opcodes.OP_PRIO_DEFAULT)
            child["reason"] = list(self.op.get("reason") or [])
            child["dry_run"] = False
            ops.append(child)
        return ops

    @defer.inlineCallbacks
    def check(self):
        name = self.op.get("iallocator")
        allocator.check_allocator_name(name)
        if name not in (None, "", ".", allocator.BUILTIN):
            raise OpPrereqError(
                "Instance allocator '%s' cannot place several instances here yet;"
                " leave iallocator unset for the built-in one" % name, ECODE_INVAL,
            )
        ops = self.child_ops()
        if not ops:
            raise OpPrereqError("No instances given to allocate", ECODE_INVAL)
        names = [op["instance_name"] for op in ops]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise OpPrereqError("There are duplicate instance names: %s"
                                % ", ".join(duplicates), ECODE_INVAL)
        with_node = [bool(op.get("pnode")) for op in ops]
        if any(with_node) and not all(with_node):
            raise OpPrereqError("There are instance objects providing pnode/snode while"
                                " others do not", ECODE_INVAL)
        if all(with_node) and self.op.get("iallocator"):
            raise OpPrereqError("Give either nodes on the instances or an allocator,"
                                " not both", ECODE_INVAL)
        master = self.config.node(self.config.cluster.master_node)
        probes = []
        for op in ops:
            unit = InstanceCreate(op, self.env)
            try:
                unit.check_basics()
                probes.append(unit.build(master))
            except OpPrereqError as e:
                raise OpPrereqError("Instance '%s': %s" % (op["instance_name"], e.args[0]),
                                    e.classification)
        placed, failed = [], []
        if all(with_node):
            for op in ops:
                self.config.find_node(op["pnode"])
            placed = list(ops)
        else:
            if self.env.nodes is None:
                raise OpPrereqError("This master cannot reach node daemons", ECODE_STATE)
            placed, failed = yield self.place(ops, probes)
        if failed and not self.op.get("opportunistic_locking"):
            raise OpPrereqError(
                "Can't place instance(s) %s: %s"
                % (", ".join(name for name, _ in failed), failed[0][1]), ECODE_NORES,
            )
        self.placed = placed
        self.failed = [name for name, _ in failed]

    @defer.inlineCallbacks
    def place(self, ops, probes):
        """Run the built-in allocator once per instance, in order, counting what
        the earlier instances of the request already took."""
        reserved = {}
        placed, failed = [], []
        for op, probe in zip(ops, probes):
            need = need_of(self.config.cluster, probe)
            try:
                nodes = yield allocator.allocate(self.env, need, op.get("group_name"),
                                                 reserved=reserved)
            except OpPrereqError as e:
                if e.classification != ECODE_NORES:
                    raise
                failed.append((op["instance_name"], e.args[0]))
                continue
            node = nodes[0]
            memory, disk = reserved.get(node.uuid, (0, 0))
            reserved[node.uuid] = (memory + need.memory, disk + need.disk)
            op["pnode"] = node.name
            placed.append(op)
        return placed, failed

    def partial_result(self):
        return {
            "allocatable": [op["instance_name"] for op in self.placed],
            "failed": list(self.failed),
        }

    def dry_run_result(self):
        return dict(self.partial_result(), jobs=[])

    @defer.inlineCallbacks
    def execute(self):
        jobs = []
        if self.placed:
            submit = getattr(self.env, "submit_jobs", None)
            if submit is None:
                raise OpExecError("This engine cannot submit the jobs of a"
                                  " multi-allocation")
            answers = yield defer.maybeDeferred(submit, [[op] for op in self.placed])
            jobs = [list(answer) for answer in answers]
        return dict(self.partial_result(), jobs=jobs)
