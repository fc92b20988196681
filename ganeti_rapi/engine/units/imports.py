# -*- test-case-name: tests.test_imports -*-
"""Instance creation from an export (C{OP_INSTANCE_CREATE} in mode C{import}).

The export is named by C{src_path} (by default, as in Ganeti, the new
instance's own name): its name (the name of the instance it was made of),
looked for on C{src_node} or, without one, on every online
node; or, with C{src_node}, the absolute path of its directory in that
node's export directory.  Its C{config.ini}
(L{ganeti_rapi.engine.exports.ExportDescription}) supplies what the request
leaves out, as in Ganeti: the OS, the disks (count, sizes, names) when
C{disks} is empty, the NICs when C{nics} is empty, the disk template, the
hypervisor, the backend, hypervisor and OS parameters the request does not
set, and the tags.

The instance is then placed and its disks made as for a creation
(L{InstanceCreate}); instead of the OS create script, the OS definition's
C{import} script runs on the primary node for each disk, reading the
disk's image.  An image on another node first travels to the primary
through node RPC in chunks (zeros as holes) into C{<instance>.new/} of the
primary's export directory, which is removed once the disk is imported,
also when that fails.  Then the OS C{rename} script runs, from the name of
the exported instance (a failure there is only reported, as in Ganeti).
"""

import posixpath

from twisted.internet import defer

from ganeti_rapi.engine import disktemplates, locks
from ganeti_rapi.engine.errors import (
    ECODE_ENVIRON,
    ECODE_EXISTS,
    ECODE_INVAL,
    ECODE_STATE,
    OpExecError,
    OpPrereqError,
)
from ganeti_rapi.engine.exports import EXPORT_NAME, ExportDescription
from ganeti_rapi.engine.noderpc import LIVE_DATA_TIMEOUT
from ganeti_rapi.engine.units.backup import STAGING_SUFFIX, copy_export_file
from ganeti_rapi.engine.units.instances import (
    OS_SCRIPT_TIMEOUT,
    InstanceCreate,
    instance_wire,
)

#: Bytes in a MiB, the unit of disk sizes.
MIB = 1024 * 1024


def export_name(src_path):
    """The name of the export C{src_path} names, or L{None} if it names none.

    C{src_path} is an export's name, or an absolute, normalised path
    (without C{.} or C{..}) whose last part is one.
    """
    if not isinstance(src_path, str) or not src_path or "\0" in src_path:
        return None
    if src_path.startswith("/"):
        parts = src_path.split("/")[1:]
        if (posixpath.normpath(src_path) != src_path
                or any(part in ("", ".", "..") for part in parts)):
            return None
        src_path = parts[-1]
    return src_path if EXPORT_NAME.fullmatch(src_path) else None


class ExportSource:
    """The export an import reads: where it is and what it says.

    @ivar node: the node holding it.
    @ivar name: its name, the directory in the node's export directory.
    @ivar description: its L{ExportDescription}.
    @ivar files: C{{file name: bytes}} of its directory.
    """

    def __init__(self, node, name, description, files):
        self.node = node
        self.name = name
        self.description = description
        self.files = files


def _missing(value):
    return value is None or value == "" or value == [] or value == {}


class InstanceImport(InstanceCreate):
    """Create an instance from an export: its disks hold the exported images."""

    mode = "import"

    #: The L{ExportSource}, found by L{check}.
    source = None

    def lock_requests(self):
        requests = InstanceCreate.lock_requests(self)
        # The export's node, shared: it is only read.
        requests.append((locks.LEVEL_NODE, self.op.get("src_node") or locks.ALL, False))
        name = export_name(self.src_path())
        if name is not None:
            # Its instance name, shared: an export of that name is neither
            # replaced nor removed while it is read.
            requests.append((locks.LEVEL_INSTANCE, name, False))
        if not self.op.get("nics"):
            # The NICs come from the export, maybe on networks not known yet.
            requests.append((locks.LEVEL_NETWORK, locks.ALL, False))
        return requests

    # -- finding and reading the export

    def src_path(self):
        """C{src_path}, or the instance's name when it is missing (Ganeti's default)."""
        src_path = self.op.get("src_path")
        return self.op["instance_name"] if _missing(src_path) else src_path

    @defer.inlineCallbacks
    def find_export(self):
        """The L{ExportSource} named by C{src_node} and C{src_path}.

        @raise OpPrereqError: C{wrong_input} for a missing or invalid
            C{src_path} and an export not found.
        """
        src_path, src_node = self.src_path(), self.op.get("src_node")
        name = export_name(src_path)
        if name is None:
            raise OpPrereqError(
                "Invalid export path %r: give an export's name (the exported instance's"
                " name) or the absolute path of its directory on the source node"
                % (src_path,), ECODE_INVAL,
            )
        absolute = src_path.startswith("/")
        if src_node:
            node = self.config.find_node(src_node)
            if node.offline:
                raise OpPrereqError("Can't use offline node %s" % node.name, ECODE_STATE)
        elif absolute:
            raise OpPrereqError("Importing an instance from a path requires a source"
                                " node option (src_node)", ECODE_INVAL)
        else:
            node = yield self.search(name)
        try:
            info = yield self.env.nodes.run(node, "export_info", None, instance_name=name)
        except OpExecError as e:
            raise OpPrereqError("No export of %s found on node %s: %s"
                                % (name, node.name, e.args[0]), ECODE_INVAL) from None
        if absolute and info.get("path") != src_path:
            raise OpPrereqError(
                "%s is not an export directory of node %s (its export of %s is %s)"
                % (src_path, node.name, name, info.get("path")), ECODE_INVAL,
            )
        return ExportSource(node, name, ExportDescription(info.get("config") or ""),
                            dict(info.get("files") or {}))

    @defer.inlineCallbacks
    def search(self, name):
        """The first online node (by name) holding an export called C{name}."""
        nodes = sorted((n for n in self.config.nodes() if not n.offline),
                       key=lambda n: n.name)
        outcomes = yield self.env.nodes.call_nodes(nodes, "export_list", LIVE_DATA_TIMEOUT)
        for node in nodes:
            ok, value = outcomes.get(node.uuid, (False, None))
            if ok and isinstance(value, list) and name in value:
                return node
        raise OpPrereqError("No export found for relative path %s on any online node"
                            % name, ECODE_INVAL)

    def with_export(self, source):
        """The opcode with what it leaves out taken from the export (a new dict)."""
        op = dict(self.op)
        export = source.description
        if _missing(op.get("os_type")):
            op["os_type"] = export.os
        if _missing(op.get("disk_template")):
            template = export.get("disk_template")
            if template is None:
                raise OpPrereqError("No disk template specified and the export is missing"
                                    " the disk_template information", ECODE_INVAL)
            op["disk_template"] = template
        if not op.get("disks"):
            op["disks"] = export.disks()
            if not op["disks"] and op["disk_template"] != "diskless":
                raise OpPrereqError("No disk info specified and the export is missing the"
                                    " disk information", ECODE_INVAL)
        from_export = not op.get("nics")
        if from_export:
            op["nics"] = export.nics()
        op["nics"] = self.exported_macs(export, op["nics"], from_export,
                                        op["instance_name"] == export.name)
        if not op.get("tags"):
            op["tags"] = export.tags
        if _missing(op.get("hypervisor")) and export.get("hypervisor") is not None:
            op["hypervisor"] = export.get("hypervisor")
        beparams = dict(op.get("beparams") or {})
        given = set(beparams) | ({"maxmem", "minmem"} if "memory" in beparams else set())
        beparams.update((k, v) for k, v in export.backend().items() if k not in given)
        op["beparams"] = beparams
        if (op.get("hypervisor") or self.config.cluster.default_hypervisor) == export.get(
                "hypervisor"):
            # Parameters of another hypervisor would mean nothing to this one.
            hvparams = export.hypervisor_params(export.get("hypervisor"))
            hvparams.update(op.get("hvparams") or {})
            op["hvparams"] = hvparams
        if (op["os_type"] or "").split("+")[0] == (export.os or "").split("+")[0]:
            # Those of another OS would mean nothing to this one.
            for key, section in (("osparams", "os"), ("osparams_private", "os_private")):
                params = export.section(section)
                params.update(op.get(key) or {})
                op[key] = params
        # As in Ganeti, an import fills the disks whatever no_install says.
        op.pop("no_install", None)
        return op

    def exported_macs(self, export, nics, from_export, same_name):
        """NIC specs, with the exported NICs' MAC addresses where they keep them.

        NICs taken from the export keep theirs, and so do the request's NICs
        without one (or with C{auto}) when the instance keeps the exported
        instance's name, as in Ganeti; unless another instance uses that
        address: then a new one is made.
        """
        used = {nic.mac for instance in self.config.instances() for nic in instance.nics}
        result = []
        for index, spec in enumerate(nics):
            if isinstance(spec, dict) and (
                from_export or (same_name and spec.get("mac") in (None, "", "auto"))
            ):
                mac = export.get("nic%d_mac" % index)
                spec = dict(spec, mac=mac if mac is not None and mac not in used else "auto")
            result.append(spec)
        return result

    # -- checks

    @defer.inlineCallbacks
    def check(self):
        name = self.op["instance_name"]
        if self.config.instance_by_name(name) is not None:
            raise OpPrereqError("Instance '%s' is already in the cluster" % name,
                                ECODE_EXISTS)
        if self.env.nodes is None:
            raise OpPrereqError("This master cannot reach node daemons", ECODE_STATE)
        self.source = yield self.find_export()
        self.op = self.with_export(self.source)
        if any(isinstance(d, dict) and d.get("adopt") is not None for d in self.op["disks"]):
            raise OpPrereqError("Disk adoption not allowed for instance import", ECODE_INVAL)
        node = yield InstanceCreate.check(self)
        self.images = self.check_images(self.build(node))
        return node

    def check_images(self, probe):
        """The file name of each disk's image (L{None}: none), checked against
        the new disks.

        @raise OpPrereqError: C{wrong_input} for fewer or smaller disks than
            the export's, C{environment_error} for an image the export lacks.
        """
        source = self.source
        images = source.description.images()
        if len(probe.disks) < len(images):
            raise OpPrereqError("Not enough disks to import. (instance: %d, export: %d)"
                                % (len(probe.disks), len(images)), ECODE_INVAL)
        for index, image in enumerate(images):
            if image is None:
                continue
            if not EXPORT_NAME.fullmatch(image) or image not in source.files:
                raise OpPrereqError(
                    "The export of %s on node %s has no image %r of disk %d"
                    % (source.name, source.node.name, image, index), ECODE_ENVIRON,
                )
            size = source.files[image]
            if size > probe.disks[index].size * MIB:
                raise OpPrereqError(
                    "Disk %d (%d MiB) is smaller than its image in the export (%d bytes)"
                    % (index, probe.disks[index].size, size), ECODE_INVAL,
                )
        return images

    def build(self, pnode):
        instance = InstanceCreate.build(self, pnode)
        instance.osparams_private = dict(self.op.get("osparams_private") or {})
        return instance

    # -- execution

    @defer.inlineCallbacks
    def install(self, instance, node):
        """Import each disk's image with the OS import script, then run its
        rename script from the exported instance's name."""
        wire = instance_wire(self.config, instance)
        self.env.feedback("Importing %s on %s from the export of %s on %s"
                          % (instance.name, node.name, self.source.name,
                             self.source.node.name))
        for index, image in enumerate(self.images):
            if image is not None:
                yield self.import_disk(instance, node, wire, index, image)
        old_name = self.source.description.name or self.source.name
        if instance.disks and instance.os:
            self.env.feedback("Running the OS rename script of %s for %s (exported as %s)"
                              % (instance.os, instance.name, old_name))
            try:
                yield self.env.nodes.run(node, "os_rename", OS_SCRIPT_TIMEOUT,
                                         instance=wire, old_name=old_name)
            except (OpExecError, OpPrereqError) as e:
                self.env.feedback("Failed to run the rename script for %s on node %s: %s"
                                  % (instance.name, node.name, e.args[0]))

    @defer.inlineCallbacks
    def import_disk(self, instance, node, wire, index, image):
        """Import disk C{index} from C{image}, brought to the primary first if
        it is on another node (and removed from there afterwards)."""
        source, feedback = self.source, self.env.feedback
        path = "%s/%s" % (source.name, image)
        staged = source.node.uuid != node.uuid
        try:
            if staged:
                size = yield copy_export_file(self.env.nodes, source.node, node,
                                              instance.name, image, source_path=path)
                feedback("Copied the image of disk %d from %s to %s (%d bytes)"
                         % (index, source.node.name, node.name, size))
                path = "%s%s/%s" % (instance.name, STAGING_SUFFIX, image)
            feedback("Importing disk %d (%s) of %s from the export of %s"
                     % (index, disktemplates.driver(instance.disks[index].dev_type).describe(
                         instance.disks[index]), instance.name, source.name))
            result = yield self.env.nodes.run(node, "os_import", OS_SCRIPT_TIMEOUT,
                                              instance=wire, disk_index=index,
                                              source_path=path)
            feedback("OS import log of disk %d: %s" % (index, result.get("log_file")))
        finally:
            if staged:
                try:
                    yield self.env.nodes.run(node, "export_abort", None,
                                             instance_name=instance.name)
                except (OpExecError, OpPrereqError) as e:
                    feedback("Could not remove the copy of the image of disk %d on %s: %s"
                             % (index, node.name, e.args[0]))


def create_unit(op, env):
    """The unit of an C{OP_INSTANCE_CREATE}, by its C{mode}."""
    if op.get("mode") == InstanceImport.mode:
        return InstanceImport(op, env)
    return InstanceCreate(op, env)
