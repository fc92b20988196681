# -*- test-case-name: tests.test_instance_changes -*-
"""C{OP_INSTANCE_REINSTALL}: the OS definition's C{create} script run
again, with C{INSTANCE_REINSTALL=1}, on a stopped instance's disks on its
primary node (maybe with another OS or other OS parameters).
"""

from twisted.internet import defer

from ganeti_rapi.engine.errors import ECODE_INVAL, ECODE_STATE, OpPrereqError
from ganeti_rapi.engine.units.base import merge_params
from ganeti_rapi.engine.units.change_checks import InstanceChangeUnit
from ganeti_rapi.engine.units.instances import OS_SCRIPT_TIMEOUT, instance_wire


class InstanceReinstall(InstanceChangeUnit):
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
