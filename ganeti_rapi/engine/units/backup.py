# -*- test-case-name: tests.test_exports -*-
"""Instance exports: prepare, export to a node, remove.

A local export runs the instance's OS export script for each disk on the
primary node, into C{<instance>.new/} of that node's export directory;
the images then travel to the target node through node RPC in chunks
(L{copy_export_file}; chunks of zeros travel as holes), the master writes
C{config.ini} there (L{ganeti_rapi.engine.exports.export_config}) and the
target puts the new export in the place of the old one.  As in Ganeti,
an instance keeps one export in the cluster: after a successful export
those on other nodes are removed.

Remote exports (to another cluster, with X509 certificates and the
import/export daemons) are not supported.  Unlike Ganeti, which refuses to
export file-based disks, every disk template with an OS export script can
be exported, file disks included.
"""

from twisted.internet import defer

from ganeti_rapi.engine import disktemplates, exports, locks
from ganeti_rapi.engine.errors import (
    ECODE_INVAL,
    ECODE_STATE,
    OpExecError,
    OpPrereqError,
)
from ganeti_rapi.engine.noderpc import LIVE_DATA_TIMEOUT, shutdown_rpc_timeout
from ganeti_rapi.engine.units.base import Unit
from ganeti_rapi.engine.units.instances import (
    OS_SCRIPT_TIMEOUT,
    InstanceUnit,
    instance_wire,
)

#: Bytes moved per node RPC call when an export travels between nodes.
CHUNK_SIZE = 4 * 1024 * 1024

#: Ganeti's message for remote exports, which this cluster cannot make.
REMOTE_UNSUPPORTED = "Remote exports are not supported by this cluster"

STAGING_SUFFIX = ".new"


@defer.inlineCallbacks
def copy_export_file(runner, source, target, instance_name, name, chunk=CHUNK_SIZE,
                     source_path=None):
    """Copy file C{name} of the export being made from C{source} to C{target}.

    It lands in C{<instance_name>.new/} of the target's export directory.

    @param source_path: where the file is in the source's export directory
        (relative), when not in C{<instance_name>.new/} there.
    @return: the number of bytes copied.
    """
    path = source_path or "%s%s/%s" % (instance_name, STAGING_SUFFIX, name)
    offset = 0
    while True:
        piece = yield runner.run(source, "export_read", None, path=path, offset=offset,
                                 length=chunk)
        length = piece["length"]
        if length or offset == 0:
            if piece.get("hole"):
                kwargs = {"hole_bytes": length}
            else:
                kwargs = {"content_b64": piece.get("content_b64") or ""}
            yield runner.run(target, "export_receive", None, instance_name=instance_name,
                             name=name, offset=offset, **kwargs)
        offset += length
        if piece.get("eof") or not length:
            return offset


class BackupPrepare(InstanceUnit):
    """Prepare an export: nothing to do for local ones; remote ones are refused."""

    def check(self):
        instance = self.instance()
        if self.op["mode"] != "local":
            raise OpPrereqError(REMOTE_UNSUPPORTED, ECODE_INVAL)
        return instance

    def execute(self):
        self.check()
        return None


class BackupExport(InstanceUnit):
    """Export an instance to a node's export directory."""

    def lock_requests(self):
        # Exports of the instance on every node may be removed at the end.
        return [
            (locks.LEVEL_INSTANCE, self.op["instance_name"], True),
            (locks.LEVEL_NODE, locks.ALL, False),
        ]

    def target_node(self):
        target = self.op.get("target_node")
        if not isinstance(target, str) or not target:
            raise OpPrereqError(
                "A local export needs the name of the target node, not %r" % (target,),
                ECODE_INVAL,
            )
        node = self.config.find_node(target)
        if node.offline:
            raise OpPrereqError("Can't use offline node %s" % node.name, ECODE_STATE)
        if node.drained:
            raise OpPrereqError("Can't use drained node %s" % node.name, ECODE_STATE)
        return node

    @defer.inlineCallbacks
    def check(self):
        op = self.op
        if op["mode"] != "local":
            raise OpPrereqError(REMOTE_UNSUPPORTED, ECODE_INVAL)
        instance = self.instance()
        if (op.get("compress") or "none") != "none":
            raise OpPrereqError(
                "Compression tool '%s' is not supported for exports; only 'none'"
                % op["compress"], ECODE_INVAL,
            )
        if op.get("zero_free_space"):
            raise OpPrereqError(
                "Zeroing free space before an export is not supported by this cluster",
                ECODE_INVAL,
            )
        if (op.get("remove_instance") and instance.admin_state == "up"
                and not op.get("shutdown", True)):
            raise OpPrereqError(
                "Can not remove instance without shutting it down before", ECODE_STATE
            )
        target = self.target_node()
        if instance.disks and not instance.os:
            raise OpPrereqError(
                "Instance %s has no OS, whose export script would export its disks"
                % instance.name, ECODE_STATE,
            )
        source = self.primary(instance)
        if source.offline:
            raise OpPrereqError("Primary node %s is offline" % source.name, ECODE_STATE)
        running = yield self.is_running(instance)
        self.target = (instance, source, target, running)

    @defer.inlineCallbacks
    def execute(self):
        instance, source, target, running = self.target
        op = self.op
        feedback = self.env.feedback
        shutdown = op.get("shutdown", True)
        wire = instance_wire(self.config, instance)
        if running and shutdown:
            feedback("Shutting down instance %s" % instance.name)
            seconds = op.get("shutdown_timeout", 120)
            yield self.rpc(source, "instance_shutdown", shutdown_rpc_timeout(seconds),
                           instance=wire, timeout=seconds)
        elif running:
            feedback("Exporting the disks of %s while it runs; the images may not be"
                     " consistent" % instance.name)
        try:
            results, finalized = yield self.export(instance, source, target, wire)
        finally:
            if running and shutdown and not op.get("remove_instance"):
                feedback("Starting instance %s" % instance.name)
                yield self.rpc(source, "instance_start", None, instance=wire)
        if not (finalized and all(results)):
            failed = [str(i) for i, ok in enumerate(results) if not ok]
            raise OpExecError(
                "Export failed, errors in %s"
                % ("disk export: disk(s) %s" % ", ".join(failed) if failed
                   else "finalizing export")
            )
        yield self.remove_other_exports(instance.name, target)
        if op.get("remove_instance"):
            yield self.remove_instance(instance, source)
        return [finalized, results]

    @defer.inlineCallbacks
    def export(self, instance, source, target, wire):
        """Export every disk and finalize; C{([per-disk bools], finalized)}."""
        runner = self.env.nodes
        for node in {source.uuid: source, target.uuid: target}.values():
            yield self.rpc(node, "export_abort", None, instance_name=instance.name)
        results = []
        for index, disk in enumerate(instance.disks):
            name = exports.dump_name(index)
            try:
                self.env.feedback("Exporting disk %d (%s) of %s"
                                  % (index, disktemplates.driver(disk.dev_type).describe(disk),
                                     instance.name))
                yield self.rpc(source, "os_export", OS_SCRIPT_TIMEOUT, instance=wire,
                               disk_index=index,
                               destination_path="%s%s/%s" % (instance.name, STAGING_SUFFIX,
                                                              name))
                if target.uuid != source.uuid:
                    size = yield copy_export_file(runner, source, target, instance.name,
                                                  name)
                    self.env.feedback("Copied disk %d to %s (%d bytes)"
                                      % (index, target.name, size))
                results.append(True)
            except (OpExecError, OpPrereqError) as e:
                self.env.feedback("Exporting disk %d of %s failed: %s"
                                  % (index, instance.name, e.args[0]))
                results.append(False)
        finalized = False
        try:
            if all(results):
                config = exports.export_config(self.config, instance,
                                               self.env.clock.seconds(), source.name)
                yield self.rpc(target, "export_finalize", None,
                               instance_name=instance.name, config=config)
                finalized = True
        except (OpExecError, OpPrereqError) as e:
            self.env.feedback("Finalizing the export on %s failed: %s"
                              % (target.name, e.args[0]))
        finally:
            for node in ([source] if target.uuid != source.uuid else []) + (
                [] if finalized else [target]
            ):
                try:
                    yield self.rpc(node, "export_abort", None, instance_name=instance.name)
                except (OpExecError, OpPrereqError) as e:
                    self.env.feedback("Could not clean up on %s: %s"
                                      % (node.name, e.args[0]))
        return results, finalized

    @defer.inlineCallbacks
    def remove_other_exports(self, name, keep):
        """Remove the instance's exports on nodes other than C{keep}."""
        nodes = [n for n in self.config.nodes() if n.uuid != keep.uuid and not n.offline]
        outcomes = yield self.env.nodes.call_nodes(nodes, "export_list", LIVE_DATA_TIMEOUT)
        for node in nodes:
            ok, value = outcomes.get(node.uuid, (False, None))
            if ok and isinstance(value, list) and name in value:
                try:
                    yield self.rpc(node, "export_remove", None, instance_name=name)
                    self.env.feedback("Removed the older export of %s on %s"
                                      % (name, node.name))
                except (OpExecError, OpPrereqError) as e:
                    self.env.feedback("Could not remove the older export of %s on %s: %s"
                                      % (name, node.name, e.args[0]))

    @defer.inlineCallbacks
    def remove_instance(self, instance, node):
        self.env.feedback("Removing instance %s" % instance.name)
        failures = yield disktemplates.remove_disks(self.env.nodes, node, instance.disks,
                                                    self.env.feedback)
        if failures and not self.op.get("ignore_remove_failures"):
            raise OpExecError(
                "Could not remove the disks of instance %s after exporting it: %s"
                % (instance.name, failures[0][1].args[0])
            )
        self.config.remove_instance(instance.uuid)
        yield self.save()


class BackupRemove(Unit):
    """Remove an instance's exports from every node.

    The instance may no longer exist: its export outlives it, and is found
    by the name it had.
    """

    def lock_requests(self):
        return [
            (locks.LEVEL_INSTANCE, self.op["instance_name"], True),
            (locks.LEVEL_NODE, locks.ALL, False),
        ]

    def check(self):
        if self.env.nodes is None:
            raise OpPrereqError("This master cannot reach node daemons", ECODE_STATE)

    @defer.inlineCallbacks
    def execute(self):
        name = self.op["instance_name"]
        instance = self.config.instance_by_name(name)
        if instance is not None:
            name = instance.name
        nodes = [n for n in self.config.nodes() if not n.offline]
        outcomes = yield self.env.nodes.call_nodes(nodes, "export_list", LIVE_DATA_TIMEOUT)
        found = False
        for node in nodes:
            ok, value = outcomes.get(node.uuid, (False, None))
            if not ok:
                self.env.feedback("Failed to query node %s (continuing): %s"
                                  % (node.name, value))
                continue
            if name in (value or []):
                found = True
                try:
                    yield self.rpc(node, "export_remove", None, instance_name=name)
                except (OpExecError, OpPrereqError) as e:
                    self.env.feedback("Could not remove the export of %s on %s: %s"
                                      % (name, node.name, e.args[0]))
        if not found and instance is None:
            self.env.feedback(
                "Export not found. If trying to remove an export belonging to a deleted"
                " instance please use its Fully Qualified Domain Name."
            )
        return None

    def rpc(self, node, procedure, rpc_timeout=None, /, **kwargs):
        return self.env.nodes.run(node, procedure, rpc_timeout, **kwargs)
