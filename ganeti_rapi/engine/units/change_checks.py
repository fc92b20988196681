# -*- test-case-name: tests.test_instance_changes -*-
"""What the units that change an existing instance share: its live state
on the primary node (asked once per unit) and Ganeti's checks of instance
state and OS definitions.

The units are in modules named for what they change: parameters, NICs
and disks (L{instance_changes}, with L{nic_changes}, L{disk_changes} and
L{hotplug}), an OS reinstall (L{reinstall}) and disk activation
(L{disk_activation}).  What changes on a node goes through node RPC, as in
L{instances}.
"""

from twisted.internet import defer

from ganeti_rapi.engine.errors import ECODE_INVAL, ECODE_STATE, OpExecError, OpPrereqError
from ganeti_rapi.engine.units.instances import (
    OS_SCRIPT_TIMEOUT,
    InstanceUnit,
    check_os_definition,
)


class InstanceChangeUnit(InstanceUnit):
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

    def check_os(self, node, name, force_variant):
        """The OS definition C{name} (maybe C{name+variant}) is valid on C{node}."""
        return check_os_definition(self.rpc, node, name, force_variant)

    @defer.inlineCallbacks
    def verify_osparams(self, node, os_name, osparams):
        """The OS on C{node} accepts C{osparams} (its parameter list and verify script)."""
        try:
            yield self.rpc(node, "os_verify", OS_SCRIPT_TIMEOUT, name=os_name,
                           osparams=osparams)
        except OpExecError as e:
            raise OpPrereqError("OS parameters for %s refused: %s" % (os_name, e.args[0]),
                                ECODE_INVAL)
