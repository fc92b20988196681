# -*- test-case-name: tests.test_noded_procedures -*-
"""The procedures a node daemon offers over node RPC.

Each C{rpc_<name>} method of L{NodeProcedures} is reachable as
C{POST /<name>} (see L{ganeti_rapi.rpc.server}).  Methods take JSON values
as keyword arguments and return a Deferred of a JSON value; they do not
block the reactor thread: file-system work runs in threads and commands
through C{spawnProcess} (L{ganeti_rapi.noded.runtime}).  What each
procedure takes and returns is listed in C{doc/node-rpc.rst}.

Under the data directory the node keeps:

 - C{file-storage/}: file disks (unless another directory is configured);
 - C{os/}: OS definitions installed for this node only;
 - C{node/fake-hv/}: the fake hypervisor's running instances;
 - C{node/kvm-hv/}: state files, pidfiles and serial logs of the kvm
   hypervisor's QEMU processes;
 - C{node/os-logs/}: logs of OS scripts;
 - C{node/export/}: files written by OS export scripts, read by imports,
   and the instance exports kept on this node (C{<instance>/config.ini}...);
 - C{node/extstorage-logs/}: output of ExtStorage provider scripts;
 - C{extstorage/}: ExtStorage providers installed for this node only;
 - C{node/files/}: files uploaded by the master.
"""

import inspect

from twisted.internet import defer

import ganeti_rapi
from ganeti_rapi import paths
from ganeti_rapi.noded import extstorage, osapi
from ganeti_rapi.noded.disks import (
    DEFAULT_ADOPTABLE_ROOTS,
    DEFAULT_SHARED_FILE_STORAGE_DIR,
    NodeDisks,
)
from ganeti_rapi.noded.exports import MAX_CHUNK, Exports
from ganeti_rapi.noded.files import FileReceiver
from ganeti_rapi.noded.hypervisor import Hypervisors
from ganeti_rapi.noded.hypervisor.fake import FakeHypervisor
from ganeti_rapi.noded.hypervisor.kvm import KvmHypervisor
from ganeti_rapi.noded.instances import DEFAULT_SHUTDOWN_TIMEOUT, InstanceProcedures
from ganeti_rapi.noded.nodeinfo import HostFiles, NodeInfo
from ganeti_rapi.noded.runtime import Runtime
from ganeti_rapi.noded.storage import Storage, default_which
from ganeti_rapi.rpc.server import PROTOCOL_VERSION

#: Names under the data directory.
FILE_STORAGE_DIR = "file-storage"
FAKE_HV_DIR = ("node", "fake-hv")
KVM_HV_DIR = ("node", "kvm-hv")
OS_LOG_DIR = ("node", "os-logs")
EXPORT_DIR = ("node", "export")
UPLOAD_DIR = ("node", "files")
EXTSTORAGE_LOG_DIR = ("node", "extstorage-logs")


def _deferred(f, *args):
    """Call C{f}; always a Deferred, coroutines and exceptions included."""
    try:
        result = f(*args)
    except Exception:
        return defer.fail()
    if inspect.iscoroutine(result):
        return defer.Deferred.fromCoroutine(result)
    if isinstance(result, defer.Deferred):
        return result
    return defer.succeed(result)


class NodeProcedures:
    """Procedures of one node, working on its data directory.

    @param data_dir: a path or a L{paths.DataDir}.
    @param reactor: the reactor (the global one, imported when first
        needed, if L{None}).
    @param run_in_thread: C{f(*args) -> Deferred} for blocking work
        (C{deferToThread} if L{None}).
    @param file_storage_dir: directory of the C{file} storage type
        (C{<data-dir>/file-storage} if L{None}).
    @param os_search_path: directories searched for OS definitions
        (L{osapi.default_search_path} if L{None}).
    @param os_script_timeout: seconds an OS script may run.
    @param host_files: where C{/proc} and C{/sys} facts are read from.
    @param which: finds LVM tools by name (blocks; called in a thread).
    @param shared_file_storage_dir: the directory every node mounts for the
        C{sharedfile} disk template (Ganeti's default if L{None}).
    @param extstorage_search_path: directories searched for ExtStorage
        providers (L{extstorage.default_search_path} if L{None}).
    @param adoptable_roots: directories devices may be adopted from for
        the C{blockdev} disk template (Ganeti's C{/dev/disk} if L{None}).
    """

    def __init__(
        self,
        data_dir,
        reactor=None,
        run_in_thread=None,
        file_storage_dir=None,
        os_search_path=None,
        os_script_timeout=osapi.DEFAULT_SCRIPT_TIMEOUT,
        host_files=None,
        which=default_which,
        shared_file_storage_dir=None,
        extstorage_search_path=None,
        adoptable_roots=None,
    ):
        if not isinstance(data_dir, paths.DataDir):
            data_dir = paths.DataDir(data_dir)
        self.data_dir = data_dir
        self.runtime = Runtime(reactor, run_in_thread)
        host_files = host_files or HostFiles()
        self.storage = Storage(
            file_storage_dir or data_dir.join(FILE_STORAGE_DIR), self.runtime, which
        )
        runtime = self.runtime
        self.hypervisors = Hypervisors(
            {
                "fake": lambda: FakeHypervisor(data_dir.join(*FAKE_HV_DIR), runtime, host_files),
                "kvm": lambda: KvmHypervisor(data_dir.join(*KVM_HV_DIR), runtime,
                                             self.storage, host_files),
            }
        )
        self.instances = InstanceProcedures(self.hypervisors, self.storage)
        if os_search_path is None:
            os_search_path = osapi.default_search_path(data_dir)
        self.os_scripts = osapi.OSScripts(
            os_search_path,
            data_dir.join(*OS_LOG_DIR),
            data_dir.join(*EXPORT_DIR),
            self.runtime,
            self.storage,
            os_script_timeout,
        )
        self.files = FileReceiver(data_dir.join(*UPLOAD_DIR), self.runtime)
        self.node = NodeInfo(self.runtime, self.hypervisors.get, self.storage, host_files)
        if extstorage_search_path is None:
            extstorage_search_path = extstorage.default_search_path(data_dir)
        self.extstorage = extstorage.ExtStorage(
            extstorage_search_path, data_dir.join(*EXTSTORAGE_LOG_DIR), self.runtime
        )
        self.disks = NodeDisks(
            self.storage,
            Storage(shared_file_storage_dir or DEFAULT_SHARED_FILE_STORAGE_DIR,
                    self.runtime, which),
            self.extstorage,
            self.runtime,
            DEFAULT_ADOPTABLE_ROOTS if adoptable_roots is None else adoptable_roots,
        )
        self.exports = Exports(data_dir.join(*EXPORT_DIR), self.runtime)

    def _with_disks(self, instance, f, *args):
        """Call C{f(*args)} once the instance's ExtStorage volumes are attached."""

        async def run():
            if isinstance(instance, dict):
                await self.disks.attach(instance.get("disks") or [])
            return await f(*args)

        return _deferred(run)

    def rpc_version(self):
        """The node RPC protocol version and this software's version."""
        return {
            "protocol": PROTOCOL_VERSION,
            "software_version": ganeti_rapi.__version__,
        }

    # -- node ---------------------------------------------------------------

    def rpc_node_info(self, storage_units=None, hypervisor="fake"):
        """Memory, CPUs, disk space and boot id of this node."""
        return _deferred(self.node.node_info, storage_units, hypervisor)

    def rpc_node_powercycle(self, hypervisor="fake"):
        """Power-cycle this node through its hypervisor; a message."""
        return _deferred(lambda: self.hypervisors.get(hypervisor).powercycle())

    # -- instances ------------------------------------------------------------

    def rpc_instance_list(self, hypervisors=None):
        """Names of the instances running here under C{hypervisors}."""
        return _deferred(self.instances.list, hypervisors)

    def rpc_instance_info(self, name, hypervisor="fake"):
        """One running instance's info, or null if it is not running here."""
        return _deferred(self.instances.info, name, hypervisor)

    def rpc_all_instances_info(self, hypervisors=None):
        """C{{name: info}} of every instance running here."""
        return _deferred(self.instances.all_info, hypervisors)

    def rpc_instance_start(self, instance, startup_paused=False):
        """Start an instance (nothing to do if it runs); its ext volumes are attached."""
        return self._with_disks(instance, self.instances.start, instance, startup_paused)

    def rpc_instance_shutdown(self, instance, timeout=DEFAULT_SHUTDOWN_TIMEOUT):
        """Stop an instance (nothing to do if it does not run)."""
        return _deferred(self.instances.shutdown, instance, timeout)

    def rpc_instance_reboot(self, instance, reboot_type="soft",
                            shutdown_timeout=DEFAULT_SHUTDOWN_TIMEOUT):
        """Reboot a running instance: soft in place, hard/full by stop and start."""
        return _deferred(self.instances.reboot, instance, reboot_type, shutdown_timeout)

    def rpc_instance_migratable(self, instance):
        """True if the instance runs here and can be migrated."""
        return _deferred(self.instances.migratable, instance)

    def rpc_migration_info(self, instance):
        """Source side: what the target needs to accept the instance."""
        return _deferred(self.instances.migration_info, instance)

    def rpc_accept_instance(self, instance, info, target):
        """Target side: accept a migrating instance; its ext volumes are attached."""
        return self._with_disks(instance, self.instances.accept, instance, info, target)

    def rpc_instance_migrate(self, instance, target, live):
        """Source side: send the instance to the target."""
        return _deferred(self.instances.migrate, instance, target, live)

    def rpc_instance_get_migration_status(self, instance):
        """Source side: C{{"status": "completed"|"active"|"failed"}}."""
        return _deferred(self.instances.migration_status, instance)

    def rpc_finalize_migration_dst(self, instance, info, success):
        """Target side: keep the instance (success) or drop it."""
        return _deferred(self.instances.finalize_dst, instance, info, success)

    def rpc_finalize_migration_src(self, instance, success, live):
        """Source side: forget the instance (success) or take it back."""
        return _deferred(self.instances.finalize_src, instance, success, live)

    def rpc_instance_console_info(self, instance):
        """The console object of an instance."""
        return _deferred(self.instances.console, instance)

    def rpc_hotplug_supported(self, instance):
        """True if devices can be hot-plugged into the running instance; else
        an error saying why not."""
        return _deferred(self.instances.hotplug_supported, instance)

    def rpc_hotplug_device(self, instance, action, dev_type, device, seq=None):
        """Add, remove or modify a NIC or disk of the running instance."""

        async def run():
            if dev_type == "disk" and action == "add" and isinstance(device, dict):
                await self.disks.attach([device])
            return await self.instances.hotplug_device(instance, action, dev_type,
                                                       device, seq)

        return _deferred(run)

    # -- storage --------------------------------------------------------------

    def rpc_storage_list(self, storage_type, name_or_path=None, fields=None):
        """Rows of C{fields} for the units of a storage type."""
        return _deferred(self.storage.list, storage_type, name_or_path, fields)

    def rpc_storage_modify(self, storage_type, name, changes):
        """Change a storage unit (only lvm-pv's allocatable)."""
        return _deferred(self.storage.modify, storage_type, name, changes)

    def rpc_storage_repair(self, storage_type, name):
        """Repair a storage unit (only lvm-vg)."""
        return _deferred(self.storage.repair, storage_type, name)

    def rpc_blockdev_create_file(self, path, size_mib):
        """Create a sparse file disk of C{size_mib} MiB in the file storage directory."""
        return _deferred(self.storage.create_file, path, size_mib)

    def rpc_blockdev_grow_file(self, path, new_size_mib):
        """Grow a file disk to C{new_size_mib} MiB."""
        return _deferred(self.storage.grow_file, path, new_size_mib)

    def rpc_blockdev_remove_file(self, path):
        """Remove a file disk."""
        return _deferred(self.storage.remove_file, path)

    def rpc_blockdev_file_info(self, path):
        """Whether a file disk exists, and its size."""
        return _deferred(self.storage.file_info, path)

    # -- disks of every template ---------------------------------------------

    def rpc_blockdev_create(self, disk, size_mib, info=None):
        """Create an instance's disk (file, sharedfile, ext; blockdev: check it)."""
        return _deferred(self.disks.create, disk, size_mib, info)

    def rpc_blockdev_remove(self, disk):
        """Remove an instance's disk (an adopted device is only released)."""
        return _deferred(self.disks.remove, disk)

    def rpc_blockdev_grow(self, disk, new_size_mib):
        """Grow an instance's disk to C{new_size_mib} MiB."""
        return _deferred(self.disks.grow, disk, new_size_mib)

    def rpc_blockdev_info(self, disk):
        """Where an instance's disk is, whether it exists, and its size."""
        return _deferred(self.disks.info, disk)

    def rpc_blockdev_sizes(self, devices):
        """Sizes of devices to adopt, or why each cannot be adopted."""
        return _deferred(self.disks.sizes, devices)

    def rpc_extstorage_diagnose(self):
        """Every ExtStorage provider found on this node, valid or not."""
        return _deferred(self.extstorage.diagnose)

    def rpc_extstorage_verify(self, provider, params=None):
        """Check disk parameters with an ExtStorage provider."""
        return _deferred(self.extstorage.verify, provider, params)

    # -- exports --------------------------------------------------------------

    def rpc_export_list(self):
        """Names of the instances this node holds an export of."""
        return _deferred(self.exports.list)

    def rpc_export_info(self, instance_name):
        """The export of an instance: its config.ini and files."""
        return _deferred(self.exports.info, instance_name)

    def rpc_export_remove(self, instance_name):
        """Remove the export of an instance."""
        return _deferred(self.exports.remove, instance_name)

    def rpc_export_abort(self, instance_name):
        """Remove the unfinished export of an instance."""
        return _deferred(self.exports.abort, instance_name)

    def rpc_export_read(self, path, offset=0, length=MAX_CHUNK):
        """A chunk of a file in the export directory."""
        return _deferred(self.exports.read, path, offset, length)

    def rpc_export_receive(self, instance_name, name, offset, content_b64="", hole_bytes=0):
        """A chunk of a file of the export being made of an instance."""
        return _deferred(
            self.exports.receive, instance_name, name, offset, content_b64, hole_bytes
        )

    def rpc_export_finalize(self, instance_name, config):
        """Write config.ini and make the export being made the instance's export."""
        return _deferred(self.exports.finalize, instance_name, config)

    # -- OS definitions -------------------------------------------------------

    def rpc_os_diagnose(self):
        """Every OS definition found on this node, valid or not."""
        return _deferred(self.os_scripts.diagnose)

    def rpc_os_get(self, name):
        """One OS definition (C{name} may carry a C{+variant})."""
        return _deferred(self.os_scripts.get, name)

    def rpc_os_create(self, instance, reinstall=False, debug=0):
        """Run the OS create script for an instance."""
        return self._with_disks(instance, self.os_scripts.create, instance, reinstall, debug)

    def rpc_os_rename(self, instance, old_name, debug=0):
        """Run the OS rename script for an instance now called C{instance.name}."""
        return self._with_disks(instance, self.os_scripts.rename, instance, old_name, debug)

    def rpc_os_export(self, instance, disk_index, destination_path, debug=0):
        """Run the OS export script of one disk into a file in the export directory."""
        return self._with_disks(
            instance, self.os_scripts.export, instance, disk_index, destination_path, debug
        )

    def rpc_os_import(self, instance, disk_index, source_path, debug=0):
        """Run the OS import script of one disk from a file in the export directory."""
        return self._with_disks(
            instance, self.os_scripts.import_, instance, disk_index, source_path, debug
        )

    def rpc_os_verify(self, name, osparams=None):
        """Check OS parameters against the OS's parameter list and verify script."""
        return _deferred(self.os_scripts.verify, name, osparams)

    # -- files ----------------------------------------------------------------

    def rpc_upload_file(self, name, content_b64, mode=0o600):
        """Write one of the uploadable files (see L{files.UPLOADABLE_FILES})."""
        return _deferred(self.files.upload, name, content_b64, mode)
