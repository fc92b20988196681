# -*- test-case-name: tests.test_noded_hypervisor -*-
"""What every hypervisor implements for the node daemon.

A hypervisor object belongs to one node.  Its methods take JSON values (an
instance is the dict the master sends; see L{validation.instance_dict})
and return Deferreds of JSON values, except L{get_console}, which needs no
I/O.  Expected failures raise L{HypervisorError}.

The C{fake} hypervisor (L{ganeti_rapi.noded.hypervisor.fake}) implements
all of it without virtual machines.  The C{kvm} hypervisor
(L{ganeti_rapi.noded.hypervisor.kvm}) implements the same methods with
real qemu processes, controlled over QMP:

 - C{start_instance}: build the qemu command line from C{hvparams} and
   the block devices, start qemu daemonised with a QMP socket under the
   node's run directory, paused if C{startup_paused};
 - C{stop_instance}: C{system_powerdown} over QMP, then C{quit} / SIGKILL
   once C{timeout} passes or at once with C{force};
 - C{reboot_instance}: C{system_reset} (hard) or a guest reboot (soft);
 - C{migration_info} / C{accept_instance}: the target starts qemu with
   C{-incoming} on a port named in C{info}; C{migrate_instance}: the
   source sends the memory with QMP C{migrate}; C{migration_status}
   polls C{query-migrate}; the C{finalize_*} calls resume the target or
   kill it, and stop the source or resume it;
 - C{get_console}: VNC/SPICE/serial console details from C{hvparams};
 - C{node_info}: host memory less what the running qemu processes use;
 - C{hotplug_supported} / C{hotplug_device}: NICs and disks plugged into
   and out of a running instance over QMP.  Here both fail: a hypervisor
   that cannot hot-plug (the fake one) says so.
"""

from twisted.internet import defer

from ganeti_rapi.noded import validation
from ganeti_rapi.noded.errors import HypervisorError

#: Reboot types of C{instance_reboot}.
REBOOT_SOFT = "soft"
REBOOT_HARD = "hard"
REBOOT_FULL = "full"
REBOOT_TYPES = (REBOOT_SOFT, REBOOT_HARD, REBOOT_FULL)

#: Migration statuses (Ganeti's names).
MIGRATION_COMPLETED = "completed"
MIGRATION_ACTIVE = "active"
MIGRATION_FAILED = "failed"


class BaseHypervisor:
    """The interface; every method raises L{NotImplementedError} here.

    @cvar name: the hypervisor's name, as in an instance's C{hypervisor}.
    @cvar needs_block_devices: whether L{start_instance} needs the paths
        of the instance's disks (the node resolves them first).
    """

    name = None
    needs_block_devices = True

    def list_instances(self):
        """The names of the instances running here: a Deferred of a sorted list."""
        raise NotImplementedError

    def instance_info(self, name):
        """What runs of instance C{name}: a Deferred of a dict or L{None}.

        The dict has C{name}, C{id}, C{memory} (MiB), C{vcpus}, C{state}
        (C{"running"}, C{"paused"}...) and C{time} (CPU seconds).
        L{None} means the instance is not running here.
        """
        raise NotImplementedError

    def all_instances_info(self):
        """L{instance_info} of every running instance: C{{name: info}}."""
        raise NotImplementedError

    def start_instance(self, instance, block_devices, startup_paused):
        """Start C{instance}; fails if it is running already.

        @param block_devices: C{[[path, access], ...]} per disk, in order.
        @param startup_paused: start with the CPUs stopped.
        """
        raise NotImplementedError

    def stop_instance(self, name, force=False, timeout=None):
        """Stop instance C{name}; fails if it is not running.

        @param force: do not wait for a clean shutdown.
        @param timeout: seconds to wait for a clean shutdown before forcing.
        """
        raise NotImplementedError

    def reboot_instance(self, name, reboot_type=REBOOT_SOFT):
        """Reboot a running instance in place (soft: guest reboot, hard: reset)."""
        raise NotImplementedError

    def migration_info(self, instance):
        """Source side: what the target needs to accept C{instance} (JSON)."""
        raise NotImplementedError

    def accept_instance(self, instance, info, target):
        """Target side: get ready to receive C{instance}; fails if it runs here.

        @param info: L{migration_info}'s result from the source.
        @param target: the target node's address, as the master knows it.
        """
        raise NotImplementedError

    def migrate_instance(self, name, target, live):
        """Source side: send the running instance C{name} to C{target}."""
        raise NotImplementedError

    def migration_status(self, name):
        """Source side: C{{"status": one of MIGRATION_*}}."""
        raise NotImplementedError

    def finalize_migration_dst(self, instance, info, success):
        """Target side, after the migration: keep it running or clean up."""
        raise NotImplementedError

    def finalize_migration_src(self, instance, success, live):
        """Source side, after the migration: forget the instance or resume it."""
        raise NotImplementedError

    def get_console(self, instance):
        """The console object (RAPI's C{…/console} shape) of C{instance}."""
        raise NotImplementedError

    def powercycle(self):
        """Power-cycle the node as this hypervisor can; a Deferred of a message."""
        raise NotImplementedError

    def node_info(self):
        """Host memory and CPUs as this hypervisor sees them.

        A Deferred of C{{"memory_total", "memory_free", "memory_dom0",
        "cpu_total", "cpu_dom0", "cpu_nodes", "cpu_sockets"}}, memory in MiB.
        """
        raise NotImplementedError

    def hotplug_supported(self, instance):
        """Whether devices can be hot-plugged into the running C{instance}.

        A Deferred of True, or a L{HypervisorError} saying why not.
        """
        return defer.fail(hotplug_unsupported(self.name))

    def hotplug_device(self, instance, action, dev_type, device, seq=None,
                       block_device=None):
        """Add, remove or modify (C{action}) a C{nic} or C{disk} (C{dev_type})
        of the running C{instance}; C{device} is its configuration object,
        C{seq} its index, C{block_device} C{[path, mode, backend]} of a
        disk to add.  A Deferred of what was done (JSON)."""
        return defer.fail(hotplug_unsupported(self.name))


def not_running(name):
    return HypervisorError(f"instance {name} is not running")


def already_running(name):
    return HypervisorError(f"instance {name} is already running")


def hotplug_unsupported(name):
    return HypervisorError(f"Hotplug is not supported by the {name} hypervisor")


class StateFileQueries:
    """The three queries of a hypervisor whose state is kept in files.

    Both hypervisors keep what runs in files of the node and read them in a
    thread of the node's runtime; a class using this provides C{runtime}
    and the blocking C{_names()}, C{_info(name)} and C{_all()}.
    """

    def _call(self, f, *args):
        return self.runtime.in_thread(f, *args)

    def list_instances(self):
        return self._call(self._names)

    def instance_info(self, name):
        validation.instance_name(name)
        return self._call(self._info, name)

    def all_instances_info(self):
        return self._call(self._all)
