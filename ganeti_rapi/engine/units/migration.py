# -*- test-case-name: tests.test_migration -*-
"""Moving an instance to another node: migrate (live or not) and failover.

Only instances whose disks every node reaches can move to an arbitrary
node: Ganeti's externally mirrored templates (L{EXT_MIRROR}, diskless
among them).  Others fail with Ganeti's C{wrong_state} error "Instance's
disk layout '...' does not allow migrations" (or "failovers").

The target is C{target_node}, or the choice of an allocator: the one named
by C{iallocator}, else the cluster's default, else the built-in one, all
asked to move the instance off its primary node (an external allocator
gets a C{relocate} request).

A migration goes through the node daemons as in Ganeti: C{migration_info}
on the source, C{accept_instance} on the target, C{instance_migrate} on the
source (and C{instance_get_migration_status} until it is no longer
active), then C{finalize_migration_dst} on the target and, once the
configuration names the new primary, C{finalize_migration_src} on the
source.  If a step before the configuration changes fails, both sides are
finalized with C{success=false}, which leaves the instance running on the
source, and the opcode fails with C{OpExecError}.

A failover stops the instance on the source (not at all if that node is
offline; failures are ignored with C{ignore_consistency}), changes the
primary node, and starts the instance on the target if it is marked up.

C{cleanup} repairs the configuration after an interrupted migration: it
asks the nodes where the instance runs and records that node as primary.
"""

from twisted.internet import task

from ganeti_rapi.engine import allocator, disktemplates, iallocator, locks
from ganeti_rapi.engine.errors import (
    ECODE_INVAL,
    ECODE_STATE,
    OpExecError,
    OpPrereqError,
)
from ganeti_rapi.engine.noderpc import shutdown_rpc_timeout
from ganeti_rapi.engine.params import instance_beparams, instance_hvparams
from ganeti_rapi.engine.units.instances import InstanceUnit, instance_wire
from ganeti_rapi.engine.units.nodes import node_lock_name

#: Templates whose disks every node reaches (Ganeti's DTS_EXT_MIRROR); for
#: the templates this engine has drivers for, their C{shared} flag says it.
EXT_MIRROR = frozenset(["diskless", "sharedfile", "blockdev", "rbd", "ext", "gluster"])

#: Templates mirrored between the primary and a secondary (DTS_INT_MIRROR).
INT_MIRROR = frozenset(["drbd"])

#: Seconds between two looks at a migration still going on.
STATUS_INTERVAL = 1.0

MIGRATION_ACTIVE = "active"
MIGRATION_COMPLETED = "completed"


def _message(e):
    return e.args[0] if e.args else str(e)


def movable(template):
    """Whether instances of C{template} can move to any node."""
    found = disktemplates.DRIVERS.get(template)
    if found is not None:
        return found.shared
    return template in EXT_MIRROR


class _MoveInstance(InstanceUnit):
    """What migrate and failover share: checks, target, config change."""

    #: Whether the opcode is a failover (it may also become one).
    FAILOVER = False

    exclusive_nodes = True

    def lock_requests(self):
        name = self.op["instance_name"]
        requests = [(locks.LEVEL_INSTANCE, name, True)]
        target = self.op.get("target_node")
        if target is None:
            # An allocator looks at every node (or, for a cleanup, where
            # the instance runs may be any node).
            requests.append((locks.LEVEL_NODE, locks.ALL, True))
            return requests
        names = {node_lock_name(self.config, target)}
        instance = self.config.instance_by_name(name)
        if instance is not None:
            for uuid in instance.all_nodes:
                node = self.config.node(uuid)
                if node is not None:
                    names.add(node.name)
        requests.extend((locks.LEVEL_NODE, n, True) for n in sorted(names))
        return requests

    def fallback(self):
        """Whether a migration may turn into a failover."""
        return False

    def what(self):
        return "failovers" if self.failover else "migrations"

    async def log(self, message):
        await self.env.feedback(message)

    # -- checks

    async def check(self):
        op = self.op
        instance = self.instance()
        self.target_instance = instance
        self.source = self.primary(instance)
        self.cleanup = bool(op.get("cleanup"))
        self.failover = self.FAILOVER
        if (not self.cleanup and not self.failover and instance.admin_state != "up"
                and self.fallback()):
            await self.log("Instance is marked down or offline, fallback allowed,"
                           " switching to failover")
            self.failover = True
        template = instance.disk_template
        if not movable(template) and template not in INT_MIRROR:
            raise OpPrereqError(
                "Instance's disk layout '%s' does not allow %s" % (template, self.what()),
                ECODE_STATE,
            )
        if template in INT_MIRROR:
            raise OpPrereqError(
                "Moving instances of disk template '%s' is not supported by this"
                " cluster yet" % template, ECODE_INVAL,
            )
        if op.get("target_node") is not None and op.get("iallocator"):
            raise OpPrereqError("Do not specify both, iallocator and node", ECODE_INVAL)
        if op.get("mode") is not None and op.get("live") is not None:
            raise OpPrereqError(
                "Only one of the 'live' and 'mode' parameters are accepted", ECODE_INVAL
            )
        if self.cleanup:
            self.target = None
            if op.get("target_node") is not None:
                self.target = self.config.find_node(op["target_node"])
            return
        beparams = instance_beparams(self.config.cluster, instance)
        # Ganeti checks the memory the instance needs at least.
        needs_memory = not self.failover or instance.admin_state == "up"
        need = allocator.Need(beparams.get("minmem", 0) if needs_memory else 0, 0)
        target = await self.choose_target(instance, need)
        self.check_target(instance, target)
        await self.check_disks_reachable(instance, target)
        self.target_free = None
        if needs_memory:
            await allocator.check_fits(self.env, target, need,
                                       "migrating instance %s" % instance.name)
            free = await allocator.node_resources(self.env, [target])
            self.target_free = free.get(target.uuid, (None, None))[0]
        else:
            await self.log("Not checking memory on the target node as the instance"
                           " will not be started")
        if not self.failover and beparams.get("always_failover"):
            await self.log("Instance configured to always failover; fallback to failover")
            self.failover = True
        if not self.failover:
            try:
                await self.rpc(self.source, "instance_migratable",
                               instance=instance_wire(self.config, instance))
            except (OpExecError, OpPrereqError) as e:
                if not self.fallback():
                    raise OpPrereqError(
                        "Can't migrate, please use failover: %s" % _message(e),
                        ECODE_STATE,
                    ) from None
                await self.log("Can't migrate, instance offline, fallback to failover")
                self.failover = True
        if self.failover:
            self.live = False
        else:
            mode = op.get("mode")
            if op.get("live") is not None:
                mode = "live" if op["live"] else "non-live"
            elif mode is None:
                hvparams = instance_hvparams(self.config.cluster, instance)
                mode = hvparams.get("migration_mode") or "live"
            self.live = mode == "live"
        self.target = target

    async def choose_target(self, instance, need):
        op, config = self.op, self.config
        if op.get("target_node") is not None:
            target = config.find_node(op["target_node"])
        else:
            name = iallocator.effective_name(config, op.get("iallocator"))
            if iallocator.is_external(name):
                target = await iallocator.relocate(self.env, name, instance, [self.source])
            else:
                group = config.group(self.source.group)
                (target,) = await allocator.allocate(
                    self.env, need, group.name if group else None,
                    exclude=[self.source.uuid],
                )
            await self.log("Selected node %s for instance %s" % (target.name, instance.name))
        if target.uuid == instance.primary_node:
            raise OpPrereqError(
                "Cannot migrate instance %s to its primary (%s)"
                % (instance.name, target.name), ECODE_STATE,
            )
        return target

    def check_target(self, instance, target):
        if target.offline:
            raise OpPrereqError("Can't use offline node %s" % target.name, ECODE_STATE)
        if target.drained:
            raise OpPrereqError("Can't use drained node %s" % target.name, ECODE_STATE)
        if not target.vm_capable:
            raise OpPrereqError("Can't use non-vm_capable node %s" % target.name,
                                ECODE_STATE)

    async def check_disks_reachable(self, instance, target):
        """The target sees the instance's disks (a shared directory not
        mounted there, a device missing there: the instance could not run)."""
        for disk in instance.disks:
            found = disktemplates.DRIVERS.get(disk.dev_type)
            if found is None or not disk.logical_id:
                continue
            try:
                exists = await found.exists(self.env.nodes, target, disk)
            except OpExecError as e:
                raise OpPrereqError(
                    "Disk %s of instance %s cannot be used on node %s: %s"
                    % (disk.iv_name, instance.name, target.name, _message(e)),
                    ECODE_STATE,
                ) from None
            if exists is False:
                raise OpPrereqError(
                    "Disk %s of instance %s (%s) is not reachable from node %s"
                    % (disk.iv_name, instance.name, found.describe(disk), target.name),
                    ECODE_STATE,
                )

    def dry_run_result(self):
        return None

    # -- execution

    async def execute(self):
        if self.cleanup:
            await self.exec_cleanup()
        elif self.failover:
            await self.exec_failover()
        else:
            await self.exec_migration()

    async def set_primary(self, instance, source, target):
        """Record C{target} as the primary node (and as holder of the disks)."""
        instance.primary_node = target.uuid
        for disk in instance.disks:
            disk.nodes = [target.uuid if n == source.uuid else n for n in disk.nodes]
        self.config.touch(instance)
        await self.save()

    async def exec_migration(self):
        instance, source, target = self.target_instance, self.source, self.target
        wire = instance_wire(self.config, instance)
        live = self.live
        await self.log("Migrating instance %s to %s (%s)"
                       % (instance.name, target.name, "live" if live else "non-live"))
        info = await self.rpc(source, "migration_info", instance=wire)
        info = await self.fit_memory(instance, target, info)
        address = target.secondary_ip or target.primary_ip
        try:
            await self.rpc(target, "accept_instance", instance=wire, info=info,
                           target=address)
        except (OpExecError, OpPrereqError) as e:
            await self.log("Pre-migration failed, aborting")
            await self.abort(wire, info)
            raise OpExecError("Could not pre-migrate instance %s: %s"
                              % (instance.name, _message(e))) from None
        await self.log("* starting memory transfer")
        try:
            await self.rpc(source, "instance_migrate", instance=wire, target=address,
                           live=live)
            await self.wait_for_migration(wire)
        except (OpExecError, OpPrereqError) as e:
            await self.log("Migration failed, aborting")
            await self.abort(wire, info)
            raise OpExecError("Could not migrate instance %s: %s"
                              % (instance.name, _message(e))) from None
        await self.log("* memory transfer complete")
        try:
            await self.rpc(target, "finalize_migration_dst", instance=wire, info=info,
                           success=True)
        except (OpExecError, OpPrereqError) as e:
            await self.abort(wire, info)
            raise OpExecError("Could not finalize instance migration: %s"
                              % _message(e)) from None
        await self.set_primary(instance, source, target)
        try:
            await self.rpc(source, "finalize_migration_src", instance=wire, success=True,
                           live=live)
        except (OpExecError, OpPrereqError) as e:
            raise OpExecError(
                "Instance %s now runs on %s, but the source node %s could not"
                " finalize the migration: %s"
                % (instance.name, target.name, source.name, _message(e))
            ) from None
        await self.log("* done")

    async def fit_memory(self, instance, target, info):
        """Shrink the instance to what the target has free, as Ganeti balloons.

        The fake hypervisor cannot balloon a running instance; the memory
        in its migration info is what the target gives the instance, so
        that is reduced instead (never below C{minmem}, which the checks
        made sure the target has).
        """
        current = info.get("memory") if isinstance(info, dict) else None
        free = self.target_free
        if not isinstance(current, int) or free is None or current <= free:
            return info
        if not self.op.get("allow_runtime_changes", True):
            raise OpExecError(
                "Memory ballooning not allowed and not enough free memory to fit"
                " instance %s on target node %s (have %dMB, need %dMB)"
                % (instance.name, target.name, free, current)
            )
        await self.log("* setting instance memory to %s" % free)
        return dict(info, memory=free)

    async def wait_for_migration(self, wire):
        while True:
            status = await self.rpc(self.source, "instance_get_migration_status",
                                    instance=wire)
            state = status.get("status") if isinstance(status, dict) else status
            if state == MIGRATION_COMPLETED:
                return
            if state != MIGRATION_ACTIVE:
                raise OpExecError("the migration ended with status %r" % (state,))
            await task.deferLater(self.env.clock, STATUS_INTERVAL, lambda: None)

    async def abort(self, wire, info):
        """Finalize both sides as failed: the instance stays on the source."""
        for node, procedure, kwargs in (
            (self.target, "finalize_migration_dst", {"info": info}),
            (self.source, "finalize_migration_src", {"live": self.live}),
        ):
            try:
                await self.rpc(node, procedure, instance=wire, success=False, **kwargs)
            except (OpExecError, OpPrereqError) as e:
                await self.log("Aborting the migration failed on node %s: %s"
                               % (node.name, _message(e)))

    async def exec_failover(self):
        instance, source, target = self.target_instance, self.source, self.target
        op = self.op
        wire = instance_wire(self.config, instance)
        if source.offline:
            await self.log("Node %s is offline, not shutting the instance down there"
                           % source.name)
        else:
            await self.log("* shutting down instance on source node")
            try:
                seconds = op.get("shutdown_timeout", 120)
                await self.rpc(source, "instance_shutdown", shutdown_rpc_timeout(seconds),
                               instance=wire, timeout=seconds)
            except (OpExecError, OpPrereqError) as e:
                if not op.get("ignore_consistency"):
                    raise OpExecError("Could not shutdown instance %s on node %s: %s"
                                      % (instance.name, source.name, _message(e))) from None
                await self.log(
                    "Could not shutdown instance %s on node %s, proceeding anyway;"
                    " please make sure node %s is down; error details: %s"
                    % (instance.name, source.name, source.name, _message(e))
                )
        await self.set_primary(instance, source, target)
        if instance.admin_state == "up":
            await self.log("* starting the instance on the target node %s" % target.name)
            try:
                await self.rpc(target, "instance_start",
                               instance=instance_wire(self.config, instance))
            except (OpExecError, OpPrereqError) as e:
                raise OpExecError("Could not start instance %s on node %s: %s"
                                  % (instance.name, target.name, _message(e))) from None

    async def exec_cleanup(self):
        instance, source = self.target_instance, self.source
        await self.log("* checking where the instance actually runs")
        if self.target is not None:
            candidates = [source, self.target]
        else:
            candidates = [source] + sorted(
                (n for n in self.config.nodes()
                 if n.uuid != source.uuid and n.vm_capable and not n.offline),
                key=lambda n: n.name,
            )
        outcomes = await self.env.nodes.call_nodes(
            candidates, "instance_list", None, hypervisors=[instance.hypervisor]
        )
        running_on = []
        for node in candidates:
            ok, names = outcomes.get(node.uuid, (False, None))
            if not ok:
                raise OpExecError("Can't contact node %s for instance information: %s"
                                  % (node.name, names))
            if instance.name in (names or []):
                running_on.append(node)
        if len(running_on) > 1:
            raise OpExecError(
                "Instance seems to be running on two nodes (%s), or the hypervisor is"
                " confused; you will have to ensure manually that it runs only on one"
                " and restart this operation"
                % ", ".join(n.name for n in running_on)
            )
        if not running_on:
            raise OpExecError(
                "Instance does not seem to be running at all; in this case it's safer"
                " to repair by running 'gnt-instance stop' to ensure disk shutdown,"
                " and then restarting it"
            )
        wire = instance_wire(self.config, instance)
        where = running_on[0]
        if where.uuid == source.uuid:
            await self.log("* instance confirmed to be running on its primary node (%s)"
                           % source.name)
            tidy = [(source, "finalize_migration_src", {"success": False, "live": False})]
        else:
            await self.log("* instance running on node %s, updating config" % where.name)
            await self.set_primary(instance, source, where)
            tidy = [(source, "finalize_migration_src", {"success": True, "live": False})]
        for node, procedure, kwargs in tidy:
            # Whatever the source set aside for an unfinished migration.
            try:
                await self.rpc(node, procedure, instance=wire, **kwargs)
            except (OpExecError, OpPrereqError) as e:
                await self.log("Could not tidy up node %s: %s" % (node.name, _message(e)))
        await self.log("* done")


class InstanceMigrate(_MoveInstance):
    """OP_INSTANCE_MIGRATE: move a running instance without stopping it."""

    def fallback(self):
        return bool(self.op.get("allow_failover"))


class InstanceFailover(_MoveInstance):
    """OP_INSTANCE_FAILOVER: stop on the primary node, start on the target."""

    FAILOVER = True
