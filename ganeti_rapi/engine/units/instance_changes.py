# -*- test-case-name: tests.test_instance_changes -*-
"""C{OP_INSTANCE_SET_PARAMS}: changing an existing instance's parameters,
NICs, disks, OS or offline state.

A disk added to a file or sharedfile instance is a new sparse file made by
the primary node's storage code, a removed one is deleted there
(L{disk_changes}).  Parameter, NIC and OS changes are configuration only
and take effect when the instance next starts (or is reinstalled), as in
Ganeti, except that NICs and disks are hot-plugged into a running instance
whose hypervisor can (L{hotplug}).  This module holds the unit and the
checks of backend and hypervisor parameters and memory; the NIC and disk
modifications are mixed in from their own modules.
"""

from twisted.internet import defer

from ganeti_rapi.engine import allocator, defaults
from ganeti_rapi.engine import network as network_pools
from ganeti_rapi.engine.errors import (
    ECODE_INVAL,
    ECODE_NORES,
    ECODE_STATE,
    OpExecError,
    OpPrereqError,
)
from ganeti_rapi.engine.params import instance_beparams
from ganeti_rapi.engine.units.base import merge_params, require_changes
from ganeti_rapi.engine.units.change_checks import InstanceChangeUnit
from ganeti_rapi.engine.units.disk_changes import DiskChangesMixin
from ganeti_rapi.engine.units.hotplug import HotplugChangesMixin
from ganeti_rapi.engine.units.instances import check_kvm_hvparams
from ganeti_rapi.engine.units.nic_changes import NicChangesMixin
from ganeti_rapi.paramtypes import same_type

#: Backend parameters and the type each takes.
BE_TYPES = {
    "always_failover": bool,
    "auto_balance": bool,
    "maxmem": int,
    "minmem": int,
    "spindle_use": int,
    "vcpus": int,
}

#: Hypervisor parameters that are cluster-wide only (Ganeti's C{HVC_GLOBALS}).
HV_GLOBALS = frozenset(["migration_port", "migration_bandwidth", "migration_mode",
                        "xen_cmd"])


class InstanceSetParams(HotplugChangesMixin, NicChangesMixin, DiskChangesMixin,
                        InstanceChangeUnit):
    """Change an instance's parameters, NICs, disks, OS or offline state.

    Everything is checked before anything changes; the result is Ganeti's
    list of C{[parameter, new value]} pairs.
    """

    exclusive_nodes = True

    @defer.inlineCallbacks
    def check(self):
        op = self.op
        instance = self.instance()
        self.target = instance
        self.check_unsupported()
        require_changes(
            [key for key in ("nics", "disks", "beparams", "hvparams", "os_name",
                             "osparams", "runtime_mem") if op.get(key)]
            + (["offline"] if op.get("offline") is not None else []),
            "instance %s" % instance.name,
        )
        self.reserved_macs = set()
        self.new_beparams = self.check_beparams(instance)
        self.new_hvparams = self.check_hvparams(instance)
        self.nic_changes, self.new_nics = self.check_nics(instance)
        (self.disk_changes, self.new_disks, self.added_disks,
         self.removed_disks) = self.check_disks(instance)
        self.hotplug = yield self.check_hotplug(instance)
        node = self.primary(instance)
        if (self.added_disks or self.removed_disks) and not self.hotplug:
            info = yield self.live_info(instance)
            if info is not None:
                raise OpPrereqError(
                    "Instance %s is running; disks can only be added or removed while"
                    " it is stopped or by hot-plugging them" % instance.name, ECODE_STATE,
                )
        self.nics_while_running = False
        if self.new_nics is not None and not self.hotplug:
            try:
                self.nics_while_running = (yield self.live_info(instance)) is not None
            except (OpExecError, OpPrereqError):
                pass  # only for a note in the job's log
        os_name = instance.os
        if op.get("os_name"):
            os_name = op["os_name"]
            yield self.check_os(node, os_name, op.get("force_variant"))
        self.new_os = os_name
        self.new_osparams = None
        if op.get("osparams"):
            self.new_osparams = merge_params(instance.osparams, op["osparams"])
            if os_name:
                yield self.verify_osparams(node, os_name, self.new_osparams)
        if op.get("offline") is not None:
            what = ("can't change to offline without being down first" if op["offline"]
                    else "can't change to online (down) without being offline first")
            yield self.check_stopped(instance, ("down", "offline"), what)
        yield self.check_memory(instance, node)

    def check_unsupported(self):
        op = self.op
        if op.get("disk_template"):
            raise OpPrereqError(
                "Changing the disk template of an instance is not supported by this"
                " cluster", ECODE_INVAL,
            )
        for key, what in (("pnode", "Changing the primary node"),
                          ("pnode_uuid", "Changing the primary node"),
                          ("osparams_private", "Private OS parameters"),
                          ("instance_communication", "Instance communication")):
            if op.get(key):
                raise OpPrereqError("%s is not supported by this cluster yet" % what,
                                    ECODE_INVAL)

    # backend and hypervisor parameters

    def check_beparams(self, instance):
        update = dict(self.op.get("beparams") or {})
        if not update:
            return None
        if "memory" in update:
            # The old single memory size sets both bounds.
            memory = update.pop("memory")
            update.setdefault("maxmem", memory)
            update.setdefault("minmem", memory)
        unknown = sorted(k for k in update if k not in BE_TYPES)
        if unknown:
            raise OpPrereqError("Unknown backend parameter(s): %s" % ", ".join(unknown),
                                ECODE_INVAL)
        for key, value in update.items():
            if value is None or value == "default":
                continue
            kind = BE_TYPES[key]
            if kind is bool:
                ok = isinstance(value, bool)
            else:
                ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
            if not ok:
                raise OpPrereqError(
                    "Backend parameter '%s' must be %s, not %r"
                    % (key, "a boolean" if kind is bool else "a non-negative integer",
                       value), ECODE_INVAL,
                )
        new = merge_params(instance.beparams, update)
        filled = dict(self.config.cluster.beparams.get("default", {}), **new)
        if filled.get("minmem", 0) > filled.get("maxmem", 0):
            raise OpPrereqError(
                "Minimum memory (%s) is larger than maximum memory (%s)"
                % (filled["minmem"], filled["maxmem"]), ECODE_INVAL,
            )
        return new

    def check_hvparams(self, instance):
        update = self.op.get("hvparams") or {}
        if not update:
            return None
        known = {}
        for params in defaults.HVPARAMS.values():
            known.update(params)
        for key, value in update.items():
            if key in HV_GLOBALS:
                raise OpPrereqError(
                    "Hypervisor parameter '%s' is cluster-wide and cannot be set for"
                    " an instance" % key, ECODE_INVAL,
                )
            if key not in known:
                raise OpPrereqError("Unknown hypervisor parameter '%s'" % key,
                                    ECODE_INVAL)
            if value is None or value == "default":
                continue
            if not same_type(value, known[key]):
                raise OpPrereqError(
                    "Hypervisor parameter '%s' has the wrong type: %r" % (key, value),
                    ECODE_INVAL,
                )
        merged = merge_params(instance.hvparams, update)
        check_kvm_hvparams(self.config.cluster, instance.hypervisor, merged)
        return merged

    @defer.inlineCallbacks
    def check_memory(self, instance, node):
        """Ganeti's memory checks: a larger maximum must fit on the primary
        (unless forced); runtime memory needs a running instance."""
        op = self.op
        cluster = self.config.cluster
        old = instance_beparams(cluster, instance)
        new = dict(cluster.beparams.get("default", {}),
                   **(self.new_beparams if self.new_beparams is not None
                      else instance.beparams))
        if (self.new_beparams is not None and not op.get("force")
                and new.get("maxmem", 0) > old.get("maxmem", 0) and not node.offline):
            try:
                info = yield self.live_info(instance)
            except (OpExecError, OpPrereqError) as e:
                # As in Ganeti, a primary node that cannot tell is only a warning.
                self.env.feedback("WARNING: can't get instance runtime information: %s"
                                  % e.args[0])
                info = None
            free = yield allocator.node_resources(self.env, [node])
            if node.uuid in free:
                current = info.get("memory", 0) if info else 0
                missing = new["maxmem"] - current - free[node.uuid][0]
                if missing > 0:
                    raise OpPrereqError(
                        "This change will prevent the instance from starting, due to"
                        " %d MB of memory missing on its primary node" % missing,
                        ECODE_NORES,
                    )
        runtime_mem = op.get("runtime_mem")
        if runtime_mem:
            info = yield self.live_info(instance)
            if info is None:
                raise OpPrereqError("Instance %s is not running" % instance.name,
                                    ECODE_STATE)
            if not op.get("force") and not (
                new.get("minmem", 0) <= runtime_mem <= new.get("maxmem", 0)
            ):
                raise OpPrereqError(
                    "Instance %s must have memory between %d and %d MB of memory"
                    " unless --force is given"
                    % (instance.name, new.get("minmem", 0), new.get("maxmem", 0)),
                    ECODE_INVAL,
                )
            delta = runtime_mem - (info.get("memory") or 0)
            if delta > 0:
                yield allocator.check_fits(
                    self.env, node, allocator.Need(delta, 0),
                    "ballooning memory for instance %s" % instance.name,
                )

    # execution

    @defer.inlineCallbacks
    def execute(self):
        op = self.op
        instance = self.target
        node = self.primary(instance)
        result = []
        if op.get("runtime_mem"):
            self.env.feedback(
                "The %s hypervisor does not balloon memory; runtime memory %d MiB is"
                " only recorded in this result" % (instance.hypervisor, op["runtime_mem"])
            )
            result.append(["runtime_memory", op["runtime_mem"]])
        created = []
        changes_at = len(result)
        try:
            for disk in self.added_disks:
                yield self.create_disk(node, instance, disk)
                created.append(disk)
            if self.new_disks is not None:
                instance.disks = self.new_disks
            if self.new_nics is not None:
                # Removed NICs give their addresses back to their networks.
                kept = {nic.uuid for nic in self.new_nics}
                network_pools.release_nic_addresses(
                    self.config, [nic for nic in instance.nics if nic.uuid not in kept]
                )
                instance.nics = self.new_nics
            if self.new_hvparams is not None:
                instance.hvparams = self.new_hvparams
                result.extend(["hv/%s" % k, v] for k, v in op["hvparams"].items())
            if self.new_beparams is not None:
                instance.beparams = self.new_beparams
                result.extend(["be/%s" % k, v] for k, v in op["beparams"].items())
            if op.get("os_name"):
                instance.os = self.new_os
                self.env.feedback("The OS of %s is now %s; reinstall to use it"
                                  % (instance.name, self.new_os))
            if self.new_osparams is not None:
                instance.osparams = self.new_osparams
                result.extend(["os/%s" % k, v] for k, v in op["osparams"].items())
            if op.get("offline") is not None:
                instance.admin_state = "offline" if op["offline"] else "down"
                instance.admin_state_source = "admin"
                result.append(["admin_state", instance.admin_state])
            self.config.touch(instance)
            yield self.save()
        except Exception:
            for disk in created:
                yield self.remove_disk(node, disk)
            raise
        result[changes_at:changes_at] = yield self.hotplug_changes(node, instance)
        for disk in self.removed_disks:
            yield self.remove_disk(node, disk)
        if self.nics_while_running:
            self.env.feedback("NIC changes take effect when %s is next started"
                              % instance.name)
        return result
