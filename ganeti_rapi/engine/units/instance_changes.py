# -*- test-case-name: tests.test_instance_changes -*-
"""Changing existing instances: parameters, NICs and disks, OS reinstall,
disk activation, and placing several new instances at once.

What changes on a node goes through node RPC, as in L{instances}: a disk
added to a file or sharedfile instance is a new sparse file made by the
primary node's storage code, a removed one is deleted there; a reinstall
runs the OS definition's C{create} script on the primary with
C{INSTANCE_REINSTALL=1}; activating disks asks the primary where each file
disk lives.  Parameter, NIC and OS changes are configuration only and take
effect when the instance next starts (or is reinstalled), as in Ganeti,
except that NICs and disks are hot-plugged into a running instance whose
hypervisor can (C{hotplug_supported}, then C{hotplug_device} per device;
see L{InstanceSetParams.check_hotplug}).
"""

import collections
import ipaddress
import posixpath
import re

from twisted.internet import defer

from ganeti_rapi.engine import allocator, defaults, disktemplates, locks, opcodes
from ganeti_rapi.engine import network as network_pools
from ganeti_rapi.engine.errors import (
    ECODE_INVAL,
    ECODE_NORES,
    ECODE_NOTUNIQUE,
    ECODE_STATE,
    OpcodeValidationError,
    OpExecError,
    OpPrereqError,
)
from ganeti_rapi.engine.objects import Disk, Nic
from ganeti_rapi.engine.params import instance_beparams, nic_params
from ganeti_rapi.engine.units.base import Unit, merge_params, require_changes
from ganeti_rapi.engine.units.instances import (
    OS_SCRIPT_TIMEOUT,
    InstanceCreate,
    InstanceUnit,
    check_kvm_hvparams,
    file_disk_path,
    instance_wire,
    need_of,
    new_mac,
    nic_wire,
)

#: Operations of disk and NIC modifications.
DDM_ADD = "add"
DDM_MODIFY = "modify"
DDM_REMOVE = "remove"

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

#: NIC parameters a modification may carry (C{bridge} is the old C{link}).
NIC_KEYS = frozenset(["mac", "ip", "mode", "link", "bridge", "vlan", "name", "network"])

#: NIC parameters that a NIC connected to a network takes from it.
_NETWORK_NIC_KEYS = frozenset(["ip", "mode", "link", "bridge", "vlan"])

#: Disk parameters of an added disk, and those a modification may change.
DISK_ADD_KEYS = frozenset(["size", "mode", "name", "spindles"])
DISK_MODIFY_KEYS = frozenset(["mode", "name"])

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")

#: NIC parameters whose change a running NIC must be plugged in anew for.
_NIC_HOT_KEYS = frozenset(["mac", "ip", "mode", "link", "bridge", "vlan"])

#: Disk templates whose instances may get new disks.
_ADDABLE_TEMPLATES = (disktemplates.DT_FILE, disktemplates.DT_SHARED_FILE)

#: Seconds a node may take to hot-plug a device (unplugging waits for the guest).
HOTPLUG_TIMEOUT = 180

#: One device to plug in or out of a running instance: Ganeti's C{action}
#: (add, remove, modify), C{dev_type} (nic, disk), the device object, its
#: index (C{seq}), the result key its outcome is reported under, and where
#: in the list of changes that report goes.
HotPlug = collections.namedtuple("HotPlug", "action dev_type device seq key position")


def _net_hotplug(actions, originals):
    """The NIC hot-plug actions worth doing, in order.

    A NIC added and removed in the same request is never plugged in; an
    added one is plugged in with its final parameters, so its
    modifications are not plugged again; of several modifications of a
    NIC (or of one it then loses) only the last counts.
    """
    removed = {h.device.uuid for h in actions if h.action == DDM_REMOVE}
    result = []
    for position, h in enumerate(actions):
        uuid = h.device.uuid
        if uuid not in originals and uuid in removed:
            continue
        if h.action == DDM_MODIFY and (
            uuid not in originals or uuid in removed
            or any(later.device.uuid == uuid for later in actions[position + 1:])
        ):
            continue
        result.append(h)
    return result


def _with_reports(changes, actions, reports):
    """C{changes} with the hot-plug reports (C{{position: text}} of
    C{actions}) each after the change it belongs to."""
    result = list(changes)
    for action in sorted(actions, key=lambda a: a.position, reverse=True):
        if action.position in reports:
            result.insert(action.position, [action.key, reports[action.position]])
    return result


def _none_value(value):
    """Ganeti's C{"none"} string (any case) as None."""
    if isinstance(value, str) and value.lower() == "none":
        return None
    return value


# -- disk and NIC modifications in Ganeti's list forms ---------------------------------


def upgrade_mods(kind, mods):
    """Modifications as C{[(op, identifier, params)]}.

    The old form C{[op, params]} (C{op} C{"add"}, C{"remove"} or an index
    to modify) allows one addition or removal per request, as in Ganeti;
    the new form C{[op, identifier, params]} any number.
    """
    if not mods:
        return []
    lengths = {len(mod) for mod in mods}
    if len(lengths) != 1:
        raise OpPrereqError(
            "%s modifications mix the forms [op, params] and [op, identifier,"
            " params]" % kind, ECODE_INVAL,
        )
    result = []
    if lengths == {2}:
        add_remove = 0
        for op, params in mods:
            if op in (DDM_ADD, DDM_REMOVE):
                add_remove += 1
                if add_remove > 1:
                    raise OpPrereqError(
                        "Only one %s add or remove operation is supported at a time"
                        % kind, ECODE_INVAL,
                    )
                result.append((op, -1, dict(params)))
            else:
                result.append((DDM_MODIFY, op, dict(params)))
        return result
    for op, identifier, params in mods:
        if op not in (DDM_ADD, DDM_MODIFY, DDM_REMOVE):
            raise OpPrereqError("Invalid %s operation '%s' (expected add, modify or"
                                " remove)" % (kind, op), ECODE_INVAL)
        result.append((op, identifier, dict(params)))
    return result


def _as_index(identifier):
    if isinstance(identifier, bool):
        return None
    if isinstance(identifier, int):
        return identifier
    if isinstance(identifier, str) and re.match(r"^-?[0-9]+$", identifier):
        return int(identifier)
    return None


def item_index(kind, identifier, items):
    """The position of an existing disk or NIC: an index (-1 is the last),
    a name or a uuid."""
    index = _as_index(identifier)
    if index is not None:
        if index == -1 and items:
            return len(items) - 1
        if 0 <= index < len(items):
            return index
        raise OpPrereqError(
            "Got %s index %s, but there are only %d" % (kind, identifier, len(items)),
            ECODE_INVAL,
        )
    for position, item in enumerate(items):
        if identifier in (item.name, item.uuid):
            return position
    raise OpPrereqError("Cannot find %s with identifier %s" % (kind, identifier),
                        ECODE_INVAL)


def insert_index(kind, identifier, items):
    """Where an added disk or NIC goes: an index up to the count, -1 for the end."""
    index = _as_index(identifier)
    if index == -1:
        return len(items)
    if index is None or not 0 <= index <= len(items):
        raise OpPrereqError(
            "Invalid %s index %s for an addition (0 to %d, or -1)"
            % (kind, identifier, len(items)), ECODE_INVAL,
        )
    return index


def _check_unique_names(kind, items):
    seen = set()
    for item in items:
        if item.name is None:
            continue
        if item.name in seen:
            raise OpPrereqError("Duplicated %s name: %s" % (kind, item.name),
                                ECODE_NOTUNIQUE)
        seen.add(item.name)


# -- shared checks -------------------------------------------------------------------


class _ChangeUnit(InstanceUnit):
    """Checks several instance changes need: live state, OS definitions."""

    @defer.inlineCallbacks
    def live_info(self, instance):
        """The hypervisor's info of the instance on its primary, None if stopped."""
        if not hasattr(self, "_live"):
            self._live = yield self.rpc(
                self.primary(instance), "instance_info",
                name=instance.name, hypervisor=instance.hypervisor,
            )
        return self._live

    @defer.inlineCallbacks
    def check_stopped(self, instance, states, what):
        """Ganeti's instance state check: marked as one of C{states} and not running."""
        if instance.admin_state not in states:
            raise OpPrereqError(
                "Instance '%s' is marked to be %s, %s"
                % (instance.name, instance.admin_state, what), ECODE_STATE,
            )
        if self.primary(instance).offline:
            return
        info = yield self.live_info(instance)
        if info is not None:
            raise OpPrereqError("Instance %s is running, %s" % (instance.name, what),
                                ECODE_STATE)

    @defer.inlineCallbacks
    def check_os(self, node, name, force_variant):
        """The OS definition C{name} (maybe C{name+variant}) is valid on C{node}."""
        base, _, variant = name.partition("+")
        try:
            info = yield self.rpc(node, "os_get", None, name=base)
        except OpExecError:
            raise OpPrereqError("OS '%s' not found on node %s" % (base, node.name),
                                ECODE_INVAL)
        if not info.get("status"):
            raise OpPrereqError(
                "OS '%s' on node %s is not valid: %s"
                % (base, node.name, info.get("diagnose")), ECODE_INVAL,
            )
        variants = info.get("variants") or []
        if variants and not force_variant:
            if not variant:
                raise OpPrereqError(
                    "OS '%s' requires a variant (one of %s)" % (base, ", ".join(variants)),
                    ECODE_INVAL,
                )
            if variant not in variants:
                raise OpPrereqError("OS '%s' has no variant '%s'" % (base, variant),
                                    ECODE_INVAL)

    @defer.inlineCallbacks
    def verify_osparams(self, node, os_name, osparams):
        """The OS on C{node} accepts C{osparams} (its parameter list and verify script)."""
        try:
            yield self.rpc(node, "os_verify", OS_SCRIPT_TIMEOUT, name=os_name,
                           osparams=osparams)
        except OpExecError as e:
            raise OpPrereqError("OS parameters for %s refused: %s" % (os_name, e.args[0]),
                                ECODE_INVAL)


# -- OP_INSTANCE_SET_PARAMS --------------------------------------------------------


class InstanceSetParams(_ChangeUnit):
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

    @defer.inlineCallbacks
    def check_hotplug(self, instance):
        """Whether the NIC and disk changes are hot-plugged into the running
        instance.

        Only a running instance with NIC or disk changes to plug in or out
        asks its primary node whether its hypervisor can
        (C{hotplug_supported}).  C{hotplug} is Ganeti's (default true);
        when it is not given (null) or C{hotplug_if_possible} is set, a
        hypervisor that cannot means the changes are made without
        hot-plug, which the job's log says; an explicit C{hotplug: true}
        then fails with C{wrong_state}, as Ganeti's check does.
        C{hotplug: false} without C{hotplug_if_possible} never hot-plugs.
        """
        op = self.op
        disks = bool(self.added_disks or self.removed_disks)
        if not (self.hot_actions or disks):
            return False
        wanted = op.get("hotplug")
        if wanted is False and not op.get("hotplug_if_possible"):
            return False
        try:
            info = yield self.live_info(instance)
        except (OpExecError, OpPrereqError):
            if disks:
                raise
            return False  # the NIC changes wait for the next start
        if info is None:
            return False
        try:
            yield self.rpc(self.primary(instance), "hotplug_supported",
                           instance=instance_wire(self.config, instance))
        except (OpExecError, OpPrereqError) as e:
            if wanted:
                raise OpPrereqError("Hotplug is not possible: %s" % e.args[0],
                                    ECODE_STATE)
            self.env.feedback("WARNING: %s" % e.args[0])
            self.env.feedback("Instance %s is modified without hot-plugging"
                              % instance.name)
            return False
        return True

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
            default = known[key]
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, int):
                ok = isinstance(value, int) and not isinstance(value, bool)
            else:
                ok = isinstance(value, str)
            if not ok:
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

    # NICs

    @property
    def hot_actions(self):
        """What hot-plug would do, disks first (as Ganeti applies them)."""
        return self.disk_hotplug + self.nic_hotplug

    def check_nics(self, instance):
        self.nic_hotplug = []
        mods = upgrade_mods("NIC", self.op.get("nics"))
        if not mods:
            return [], None
        cluster = self.config.cluster
        nics = [nic.copy() for nic in instance.nics]
        changes = []
        hot = []
        for op, identifier, params in mods:
            if op == DDM_REMOVE:
                if params:
                    raise OpPrereqError("No settings should be passed when removing a"
                                        " NIC", ECODE_INVAL)
                index = item_index("NIC", identifier, nics)
                removed = nics.pop(index)
                changes.append(["NIC/%d" % index, "remove"])
                hot.append(HotPlug(DDM_REMOVE, "nic", removed, index, "NIC/%d" % index,
                                   len(changes)))
                continue
            self.check_nic_params(params)
            if op == DDM_ADD:
                index = insert_index("NIC", identifier, nics)
                nic = Nic(nicparams={})
                self.apply_nic_params(nic, params, adding=True)
                nics.insert(index, nic)
                filled = nic_params(cluster, nic)
                changes.append([
                    "nic.%d" % index,
                    "add:mac=%s,ip=%s,mode=%s,link=%s,network=%s"
                    % (nic.mac, nic.ip, filled.get("mode"), filled.get("link"), None),
                ])
                hot.append(HotPlug(DDM_ADD, "nic", nic, index, "nic.%d" % index,
                                   len(changes)))
            else:
                index = item_index("NIC", identifier, nics)
                if nics[index].network and set(params) & _NETWORK_NIC_KEYS:
                    raise OpPrereqError(
                        "NIC %d is connected to a network; changing its address, mode"
                        " or link is not supported by this cluster yet" % index,
                        ECODE_INVAL,
                    )
                changes.extend(self.apply_nic_params(nics[index], params, adding=False,
                                                     index=index))
                if set(params) & _NIC_HOT_KEYS:
                    hot.append(HotPlug(DDM_MODIFY, "nic", nics[index], index,
                                       "nic/%d" % index, len(changes)))
        if len(nics) > defaults.MAX_NICS:
            raise OpPrereqError("Instance has too many network interfaces (%d), cannot"
                                " add more" % defaults.MAX_NICS, ECODE_STATE)
        _check_unique_names("NIC", nics)
        for nic in nics:
            filled = nic_params(cluster, nic)
            if filled.get("mode") == "routed" and not nic.ip:
                raise OpPrereqError("Cannot set the NIC IP address to None on a routed"
                                    " NIC", ECODE_INVAL)
        self.nic_hotplug = _net_hotplug(hot, {nic.uuid for nic in instance.nics})
        return changes, nics

    def check_nic_params(self, params):
        unknown = sorted(set(params) - NIC_KEYS)
        if unknown:
            raise OpPrereqError("Unknown NIC parameter(s): %s" % ", ".join(unknown),
                                ECODE_INVAL)
        if _none_value(params.get("network")) is not None:
            raise OpPrereqError("Connecting NICs to networks is not supported by this"
                                " cluster yet", ECODE_INVAL)
        mode = params.get("mode")
        if mode is not None and mode != "default" and mode not in defaults.NIC_MODES:
            raise OpPrereqError("Invalid NIC mode '%s'" % (mode,), ECODE_INVAL)
        for key in ("link", "bridge", "vlan", "name"):
            value = params.get(key)
            if value is not None and not isinstance(value, str):
                raise OpPrereqError("NIC parameter '%s' must be a string" % key,
                                    ECODE_INVAL)
        ip = _none_value(params.get("ip"))
        if ip is not None:
            if not isinstance(ip, str):
                raise OpPrereqError("Invalid IP address %r" % (ip,), ECODE_INVAL)
            if ip.lower() == "pool":
                raise OpPrereqError("If ip=pool, parameter network cannot be none",
                                    ECODE_INVAL)
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                raise OpPrereqError("Invalid IP address '%s'" % ip, ECODE_INVAL)

    def pick_mac(self, nic, value, adding):
        """The MAC a NIC gets: generated for auto/generate, else validated and unique."""
        if value is None:
            raise OpPrereqError("Cannot unset the NIC MAC address", ECODE_INVAL)
        if value == "auto" and not adding:
            raise OpPrereqError("'auto' is not a valid MAC address when modifying an"
                                " existing NIC", ECODE_INVAL)
        prefix = self.config.cluster.mac_prefix
        if value in ("auto", "generate"):
            mac = new_mac(self.config, prefix)
            while mac in self.reserved_macs:
                mac = new_mac(self.config, prefix)
        else:
            mac = value.lower() if isinstance(value, str) else value
            if not isinstance(mac, str) or not _MAC.match(mac):
                raise OpPrereqError("Invalid MAC address '%s'" % (value,), ECODE_INVAL)
            used = {n.mac for i in self.config.instances() for n in i.nics
                    if n.uuid != nic.uuid}
            if mac in used or mac in self.reserved_macs:
                raise OpPrereqError("MAC address '%s' already in use in cluster" % mac,
                                    ECODE_NOTUNIQUE)
        self.reserved_macs.add(mac)
        return mac

    def apply_nic_params(self, nic, params, adding, index=None):
        """Apply C{params} to C{nic} (a copy); the changes Ganeti reports."""
        changes = []
        if adding or "mac" in params:
            mac = params.get("mac")
            if adding and mac is None:
                mac = "auto"
            nic.mac = self.pick_mac(nic, mac, adding)
            if not adding:
                changes.append(["nic.mac/%d" % index, nic.mac])
        if "ip" in params:
            nic.ip = _none_value(params["ip"])
            if not adding:
                changes.append(["nic.ip/%d" % index, nic.ip])
        if "name" in params:
            nic.name = _none_value(params["name"])
            if not adding:
                changes.append(["nic.name/%d" % index, nic.name])
        update = {}
        for key in ("mode", "link", "vlan"):
            if key in params:
                update[key] = params[key]
        if "bridge" in params and "link" not in params:
            update["link"] = params["bridge"]
        if update:
            nic.nicparams = merge_params(nic.nicparams, update)
            if not adding:
                filled = nic_params(self.config.cluster, nic)
                for key in sorted(filled):
                    changes.append(["nic.%s/%d" % (key, index), filled[key]])
        return changes

    # disks

    def check_disks(self, instance):
        self.disk_hotplug = []
        mods = upgrade_mods("disk", self.op.get("disks"))
        if not mods:
            return [], None, [], []
        disks = [disk.copy() for disk in instance.disks]
        originals = {disk.uuid for disk in instance.disks}
        used_paths = {d.logical_id[1] for d in instance.disks
                      if d.logical_id and len(d.logical_id) > 1}
        driver = self.op.get("file_driver") or next(
            (d.logical_id[0] for d in instance.disks if d.logical_id), "loop")
        changes = []
        hot = []
        for op, identifier, params in mods:
            if op == DDM_REMOVE:
                if params:
                    raise OpPrereqError("No settings should be passed when removing a"
                                        " disk", ECODE_INVAL)
                index = item_index("disk", identifier, disks)
                if len(disks) == 1:
                    raise OpPrereqError("Cannot remove the last disk of an instance",
                                        ECODE_INVAL)
                removed = disks.pop(index)
                changes.append(["disk/%d" % index, "remove"])
                hot.append(HotPlug(DDM_REMOVE, "disk", removed, index, "disk/%d" % index,
                                   len(changes)))
            elif op == DDM_ADD:
                if instance.disk_template not in _ADDABLE_TEMPLATES:
                    raise OpPrereqError(
                        "Disks cannot be added to an instance of disk template '%s'"
                        % instance.disk_template, ECODE_INVAL,
                    )
                index = insert_index("disk", identifier, disks)
                disk = self.new_disk(instance, params, driver, used_paths, len(disks))
                disks.insert(index, disk)
                changes.append(["disk/%d" % index,
                                "add:size=%s,mode=%s" % (disk.size, disk.mode)])
                hot.append(HotPlug(DDM_ADD, "disk", disk, index, "disk/%d" % index,
                                   len(changes)))
            else:
                index = item_index("disk", identifier, disks)
                if "size" in params:
                    raise OpPrereqError("Disk size change not possible, use grow-disk",
                                        ECODE_INVAL)
                unknown = sorted(set(params) - DISK_MODIFY_KEYS)
                if unknown:
                    raise OpPrereqError(
                        "Disk parameter(s) %s cannot be modified" % ", ".join(unknown),
                        ECODE_INVAL,
                    )
                disk = disks[index]
                if "mode" in params:
                    disk.mode = self.disk_mode(params["mode"])
                    changes.append(["disk.mode/%d" % index, disk.mode])
                if "name" in params:
                    disk.name = _none_value(params["name"])
                    changes.append(["disk.name/%d" % index, disk.name])
        if len(disks) > defaults.MAX_DISKS:
            raise OpPrereqError("Instance has too many disks (%d), cannot add more"
                                % defaults.MAX_DISKS, ECODE_STATE)
        _check_unique_names("disk", disks)
        for index, disk in enumerate(disks):
            disk.iv_name = "disk/%d" % index
        final = {disk.uuid for disk in disks}
        added = [disk for disk in disks if disk.uuid not in originals]
        removed = [disk for disk in instance.disks if disk.uuid not in final]
        self.disk_hotplug = [h for h in hot if h.device.uuid in (originals - final)
                             or (h.action == DDM_ADD and h.device.uuid in final)]
        return changes, disks, added, removed

    @staticmethod
    def disk_mode(mode):
        if mode not in defaults.DISK_ACCESS_MODES:
            raise OpPrereqError("Invalid disk access mode '%s'" % (mode,), ECODE_INVAL)
        return mode

    def disk_path(self, instance, number):
        """The path of file disk C{number} of C{instance} (file or sharedfile)."""
        if instance.disk_template == disktemplates.DT_SHARED_FILE:
            return posixpath.join(
                disktemplates.SharedFileTemplate.directory(self.config.cluster),
                instance.name, "disk%d" % number)
        return file_disk_path(instance.name, number)

    def new_disk(self, instance, params, driver, used_paths, start):
        unknown = sorted(set(params) - DISK_ADD_KEYS)
        if unknown:
            raise OpPrereqError(
                "Disk parameter(s) %s are not supported for file disks" % ", ".join(unknown),
                ECODE_INVAL,
            )
        size = params.get("size")
        if size is None:
            raise OpPrereqError("Required disk parameter 'size' missing", ECODE_INVAL)
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise OpPrereqError("Invalid disk size %r" % (size,), ECODE_INVAL)
        # The file is named by the first index no disk file of the instance uses.
        number = start
        while self.disk_path(instance, number) in used_paths:
            number += 1
        path = self.disk_path(instance, number)
        used_paths.add(path)
        return Disk(
            dev_type=instance.disk_template, size=size,
            mode=self.disk_mode(params.get("mode") or "rw"),
            name=_none_value(params.get("name")), spindles=params.get("spindles"),
            logical_id=[driver, path], nodes=[instance.primary_node],
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
        reports = {"disk": {}, "nic": {}}
        if self.hotplug:
            wire = instance_wire(self.config, instance)
            for action in self.hot_actions:
                reports[action.dev_type][action.position] = (
                    yield self.hotplug_device(node, wire, action))
        result[changes_at:changes_at] = (
            _with_reports(self.disk_changes, self.disk_hotplug, reports["disk"])
            + _with_reports(self.nic_changes, self.nic_hotplug, reports["nic"])
        )
        for disk in self.removed_disks:
            yield self.remove_disk(node, disk)
        if self.nics_while_running:
            self.env.feedback("NIC changes take effect when %s is next started"
                              % instance.name)
        return result

    def create_disk(self, node, instance, disk):
        """Make an added disk on the primary node."""
        if disk.dev_type == disktemplates.DT_FILE:
            return self.rpc(node, "blockdev_create_file", None, path=disk.logical_id[1],
                            size_mib=disk.size)
        return disktemplates.driver(disk.dev_type).create(self.env.nodes, node, instance,
                                                          disk)

    @defer.inlineCallbacks
    def remove_disk(self, node, disk):
        """Remove a disk's file on the primary node; a failure is only reported."""
        if disk.dev_type not in _ADDABLE_TEMPLATES or not disk.logical_id:
            return
        try:
            if disk.dev_type == disktemplates.DT_FILE:
                yield self.rpc(node, "blockdev_remove_file", None, path=disk.logical_id[1])
            else:
                yield disktemplates.driver(disk.dev_type).remove(self.env.nodes, node, disk)
        except (OpExecError, OpPrereqError) as e:
            self.env.feedback("Could not remove disk %s on %s: %s"
                              % (disk.logical_id[1], node.name, e.args[0]))

    @defer.inlineCallbacks
    def hotplug_device(self, node, wire, action):
        """Plug one device in or out of the running instance; Ganeti's report
        (C{hotplug:done} or, with a warning in the log, C{hotplug:failed})."""
        what = "%s %s (%s)" % ("NIC" if action.dev_type == "nic" else "disk",
                               action.seq, action.device.uuid)
        verb = {DDM_ADD: "adding", DDM_REMOVE: "removing", DDM_MODIFY: "modifying"}
        self.env.feedback("Hot-plugging: %s %s of %s" % (verb[action.action], what,
                                                        wire["name"]))
        if action.dev_type == "nic":
            device = nic_wire(self.config.cluster, action.device)
        else:
            device = action.device.to_dict()
        try:
            answer = yield self.rpc(node, "hotplug_device", HOTPLUG_TIMEOUT, instance=wire,
                                    action=action.action, dev_type=action.dev_type,
                                    device=device, seq=action.seq)
        except (OpExecError, OpPrereqError) as e:
            self.env.feedback("WARNING: could not hot-plug %s: %s; the instance sees"
                              " the change when it is next started" % (what, e.args[0]))
            return "hotplug:failed"
        answer = answer if isinstance(answer, dict) else {}
        self.env.feedback("Hot-plugged %s: device %s%s" % (
            what, answer.get("id"),
            "" if answer.get("slot") is None else ", PCI slot %s" % answer["slot"]))
        return "hotplug:done"


# -- OP_INSTANCE_REINSTALL -------------------------------------------------------------


class InstanceReinstall(_ChangeUnit):
    """Run the OS create script again on a stopped instance's disks."""

    exclusive_nodes = True

    @defer.inlineCallbacks
    def check(self):
        op = self.op
        instance = self.instance()
        if instance.disk_template == "diskless":
            raise OpPrereqError("Instance '%s' has no disks" % instance.name, ECODE_INVAL)
        node = self.primary(instance)
        if node.offline:
            raise OpPrereqError("Primary node %s is offline" % node.name, ECODE_STATE)
        yield self.check_stopped(instance, ("down",), "cannot reinstall")
        os_name = op.get("os_type") or instance.os
        if not os_name:
            raise OpPrereqError(
                "Instance '%s' has no OS; give one to reinstall with" % instance.name,
                ECODE_INVAL,
            )
        if op.get("os_type"):
            yield self.check_os(node, os_name, op.get("force_variant"))
        osparams = None
        if op.get("osparams"):
            osparams = merge_params(instance.osparams, op["osparams"])
            yield self.verify_osparams(node, os_name, osparams)
        self.target, self.os_name, self.osparams = instance, os_name, osparams

    @defer.inlineCallbacks
    def execute(self):
        instance = self.target
        node = self.primary(instance)
        if self.op.get("os_type") and instance.os != self.os_name:
            self.env.feedback("Changing OS scripts to '%s'..." % self.os_name)
            instance.os = self.os_name
            self.config.touch(instance)
            yield self.save()
        wire = instance_wire(self.config, instance)
        if self.osparams is not None:
            # As in Ganeti, the parameters given apply to this installation.
            wire["osparams"] = dict(wire["osparams"], **self.osparams)
        self.env.feedback("Running the OS create script of %s on %s (reinstall)"
                          % (instance.os, node.name))
        result = yield self.rpc(node, "os_create", OS_SCRIPT_TIMEOUT, instance=wire,
                                reinstall=True, debug=self.op.get("debug_level") or 0)
        self.env.feedback("OS installation log: %s" % result.get("log_file"))


# -- disks -------------------------------------------------------------------------------


class InstanceActivateDisks(_ChangeUnit):
    """Make an instance's disks usable on its primary node and say where they are."""

    def check(self):
        instance = self.instance()
        node = self.primary(instance)
        if node.offline:
            raise OpPrereqError("Node %s is offline" % node.name, ECODE_STATE)
        self.target = instance

    @defer.inlineCallbacks
    def execute(self):
        instance = self.target
        node = self.primary(instance)
        devices = []
        for disk in instance.disks:
            path = None
            if disk.dev_type == "file" and disk.logical_id:
                info = yield self.rpc(node, "blockdev_file_info", None,
                                      path=disk.logical_id[1])
                if not info.get("exists"):
                    raise OpExecError(
                        "Cannot activate block devices: %s of %s (%s) is missing on"
                        " node %s" % (disk.iv_name, instance.name, disk.logical_id[1],
                                      node.name)
                    )
                path = info.get("path")
            devices.append([node.name, disk.iv_name, path])
        if not instance.disks_active:
            instance.disks_active = True
            self.config.touch(instance)
            yield self.save()
        return devices


class InstanceDeactivateDisks(_ChangeUnit):
    """Mark an instance's disks inactive; a running instance needs C{force}."""

    @defer.inlineCallbacks
    def check(self):
        instance = self.instance()
        if not self.op.get("force"):
            yield self.check_stopped(instance, ("down",), "cannot shutdown disks")
        self.target = instance

    @defer.inlineCallbacks
    def execute(self):
        instance = self.target
        if instance.disks_active:
            instance.disks_active = False
            self.config.touch(instance)
            yield self.save()


# -- OP_INSTANCE_MULTI_ALLOC ---------------------------------------------------------


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
