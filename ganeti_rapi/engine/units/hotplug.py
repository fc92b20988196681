# -*- test-case-name: tests.test_instance_changes -*-
"""Hot-plug of the NIC and disk changes of C{OP_INSTANCE_SET_PARAMS} into
a running instance.

The NIC (L{nic_changes}) and disk (L{disk_changes}) checks say which
devices would be plugged in or out (L{HotPlug}); L{HotplugChangesMixin}
decides whether they are (the instance runs and its primary node's
hypervisor can: C{hotplug_supported}), asks the primary to plug each one
(C{hotplug_device}) after the configuration is saved, and puts Ganeti's
report of each (C{hotplug:done} or C{hotplug:failed}) after the change it
belongs to.  Kept apart from the configuration changes because it is the
only part of the unit that touches a running guest.
"""

import collections

from twisted.internet import defer

from ganeti_rapi.engine.errors import ECODE_STATE, OpExecError, OpPrereqError
from ganeti_rapi.engine.units.device_mods import DDM_ADD, DDM_MODIFY, DDM_REMOVE
from ganeti_rapi.engine.units.instances import instance_wire, nic_wire

#: Seconds a node may take to hot-plug a device (unplugging waits for the guest).
HOTPLUG_TIMEOUT = 180

#: One device to plug in or out of a running instance: Ganeti's C{action}
#: (add, remove, modify), C{dev_type} (nic, disk), the device object, its
#: index (C{seq}), the result key its outcome is reported under, and where
#: in the list of changes that report goes.
HotPlug = collections.namedtuple("HotPlug", "action dev_type device seq key position")


def net_hotplug(actions, originals):
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


class HotplugChangesMixin:
    """Hot-plug for L{instance_changes.InstanceSetParams}.

    Needs, from the unit it is mixed into, the NIC and disk checks' results
    (C{nic_changes}, C{nic_hotplug}, C{disk_changes}, C{disk_hotplug},
    C{added_disks}, C{removed_disks}) and C{live_info}; the unit's C{check}
    keeps L{check_hotplug}'s answer as C{hotplug}.
    """

    @property
    def hot_actions(self):
        """What hot-plug would do, disks first (as Ganeti applies them)."""
        return self.disk_hotplug + self.nic_hotplug

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

    @defer.inlineCallbacks
    def hotplug_changes(self, node, instance):
        """Plug the devices in or out of the running instance if
        L{check_hotplug} said so; the disk and NIC changes, each hot-plug
        report after the change it belongs to."""
        reports = {"disk": {}, "nic": {}}
        if self.hotplug:
            wire = instance_wire(self.config, instance)
            for action in self.hot_actions:
                reports[action.dev_type][action.position] = (
                    yield self.hotplug_device(node, wire, action))
        return (
            _with_reports(self.disk_changes, self.disk_hotplug, reports["disk"])
            + _with_reports(self.nic_changes, self.nic_hotplug, reports["nic"])
        )

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
