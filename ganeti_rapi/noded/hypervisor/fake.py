# -*- test-case-name: tests.test_noded_hypervisor -*-
"""The C{fake} hypervisor: instances that "run" without a virtual machine.

As with Ganeti's fake hypervisor, a running instance is a file named after
it in the state directory (C{<data-dir>/node/fake-hv/<name>}) holding three
lines: an id (C{0}), its memory in MiB and its vCPU count.  The file exists
exactly while the instance runs.  Memory is the host's own, from
C{/proc/meminfo}, less what the fake instances hold.

Migration moves the file: the target's C{accept_instance} writes it, the
source's C{migrate_instance} sets its own aside (under C{.migrated/}), and
the C{finalize_migration_*} calls make the outcome final either way:
success removes the source's copy, failure removes the target's and puts
the source's back.  The finalize calls also complete a migration on their
own, so a master that calls only them (as Ganeti's does for this
hypervisor) gets the same result.

There is nothing to plug devices into: C{hotplug_supported} and
C{hotplug_device} fail with "Hotplug is not supported by the fake
hypervisor" (L{base.BaseHypervisor}'s answer).
"""

import os
import tempfile

from ganeti_rapi.noded import nodeinfo, validation
from ganeti_rapi.noded.errors import HypervisorError
from ganeti_rapi.noded.hypervisor import base

#: Where instances set aside by C{migrate_instance} wait for finalize.
MIGRATED_DIR = ".migrated"

#: The console message (kind C{message}).
CONSOLE_MESSAGE = "Console not available for fake hypervisor"

#: Memory and vCPUs when an instance's beparams do not say.
DEFAULT_MEMORY = 128
DEFAULT_VCPUS = 1


class FakeHypervisor(base.StateFileQueries, base.BaseHypervisor):
    """The fake hypervisor of one node.

    @param state_dir: the directory of state files (made when needed).
    @param runtime: a L{ganeti_rapi.noded.runtime.Runtime}.
    @param files: a L{nodeinfo.HostFiles} (where C{/proc/meminfo} is).
    """

    name = "fake"

    #: Instances run without disks, so none are looked up for it.
    needs_block_devices = False

    def __init__(self, state_dir, runtime, files=None):
        self.state_dir = os.path.abspath(state_dir)
        self.runtime = runtime
        self.files = files or nodeinfo.HostFiles()

    # -- blocking helpers, run in a thread --------------------------------

    def _path(self, name):
        return os.path.join(self.state_dir, validation.instance_name(name))

    def _stash_path(self, name):
        return os.path.join(self.state_dir, MIGRATED_DIR, validation.instance_name(name))

    def _read(self, path):
        """C{(memory, vcpus)} from a state file, or L{None} if it is missing."""
        try:
            with open(path, encoding="ascii", errors="replace") as f:
                lines = f.read().split("\n")
        except FileNotFoundError:
            return None
        values = []
        for index in (1, 2):
            try:
                values.append(int(lines[index]))
            except (IndexError, ValueError):
                values.append(0)
        return tuple(values)

    def _names(self):
        try:
            entries = list(os.scandir(self.state_dir))
        except FileNotFoundError:
            return []
        return sorted(
            e.name
            for e in entries
            if not e.name.startswith(".")
            and validation.INSTANCE_NAME.fullmatch(e.name)
            and e.is_file(follow_symlinks=False)
        )

    def _info(self, name):
        state = self._read(self._path(name))
        if state is None:
            return None
        memory, vcpus = state
        return {
            "name": name,
            "id": 0,
            "memory": memory,
            "vcpus": vcpus,
            "state": "running",
            "time": 0,
        }

    def _all(self):
        result = {}
        for name in self._names():
            info = self._info(name)
            if info is not None:
                result[name] = info
        return result

    def _write(self, name, memory, vcpus, exclusive):
        """Write the state file; with C{exclusive}, fail if it exists."""
        os.makedirs(self.state_dir, mode=0o750, exist_ok=True)
        path = self._path(name)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.state_dir)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(f"0\n{memory}\n{vcpus}\n")
            if exclusive:
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    raise base.already_running(name) from None
            else:
                os.replace(tmp, path)
                tmp = None
        finally:
            if tmp is not None:
                os.unlink(tmp)

    def _remove(self, path):
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        return True

    def _node_info(self):
        meminfo = nodeinfo.read_meminfo(self.files.meminfo)
        total, available = nodeinfo.memory_mib(meminfo)
        used_by_instances = sum(i["memory"] for i in self._all().values())
        cpus = _count_processors(self.files.cpuinfo) or os.cpu_count() or 1
        return {
            "memory_total": total,
            "memory_free": max(0, available - used_by_instances),
            "memory_dom0": total - available,
            "memory_instances": used_by_instances,
            "cpu_total": cpus,
            "cpu_dom0": cpus,
            "cpu_nodes": 1,
            "cpu_sockets": 1,
        }

    def _startup_memory(self, instance):
        """Max memory, or what is free if less, but never below min memory."""
        beparams = instance["beparams"]
        maxmem = validation.int_param(beparams, "maxmem", DEFAULT_MEMORY)
        minmem = validation.int_param(beparams, "minmem", maxmem)
        free = self._node_info()["memory_free"]
        memory = min(maxmem, free)
        if memory < minmem:
            raise HypervisorError(
                f"not enough memory to start instance {instance['name']}: "
                f"it needs at least {minmem} MiB, {free} MiB are free"
            )
        return memory

    def _vcpus(self, instance):
        return validation.int_param(instance["beparams"], "vcpus", DEFAULT_VCPUS, 1)

    def _start(self, instance):
        name = instance["name"]
        if os.path.exists(self._path(name)):
            raise base.already_running(name)
        self._remove(self._stash_path(name))
        memory = self._startup_memory(instance)
        self._write(name, memory, self._vcpus(instance), exclusive=True)

    def _stop(self, name):
        if not self._remove(self._path(name)):
            raise base.not_running(name)

    def _reboot(self, name):
        if self._read(self._path(name)) is None:
            raise base.not_running(name)

    def _migration_info(self, name):
        state = self._read(self._path(name))
        if state is None:
            raise base.not_running(name)
        return {"memory": state[0], "vcpus": state[1]}

    def _accepted_state(self, instance, info):
        """Memory and vCPUs for the target: from C{info}, else as at start."""
        info = info if isinstance(info, dict) else {}
        memory = info.get("memory")
        if isinstance(memory, bool) or not isinstance(memory, int) or memory < 0:
            memory = self._startup_memory(instance)
        vcpus = info.get("vcpus")
        if isinstance(vcpus, bool) or not isinstance(vcpus, int) or vcpus < 1:
            vcpus = self._vcpus(instance)
        return memory, vcpus

    def _accept(self, instance, info):
        name = instance["name"]
        if os.path.exists(self._path(name)):
            raise HypervisorError(f"cannot accept instance {name}: already running here")
        self._write(name, *self._accepted_state(instance, info), exclusive=True)

    def _migrate(self, name):
        path = self._path(name)
        if self._read(path) is None:
            raise base.not_running(name)
        stash = self._stash_path(name)
        os.makedirs(os.path.dirname(stash), mode=0o750, exist_ok=True)
        os.replace(path, stash)

    def _finalize_dst(self, instance, info, success):
        name = instance["name"]
        if not success:
            self._remove(self._path(name))
        elif self._read(self._path(name)) is None:
            self._write(name, *self._accepted_state(instance, info), exclusive=False)

    def _finalize_src(self, name, success):
        path = self._path(name)
        stash = self._stash_path(name)
        if success:
            self._remove(path)
            self._remove(stash)
        elif os.path.exists(stash):
            if os.path.exists(path):
                self._remove(stash)
            else:
                os.replace(stash, path)

    # -- the interface ----------------------------------------------------

    def start_instance(self, instance, block_devices=(), startup_paused=False):
        instance = validation.instance_dict(instance)
        return self._call(self._start, instance)

    def stop_instance(self, name, force=False, timeout=None):
        validation.instance_name(name)
        return self._call(self._stop, name)

    def reboot_instance(self, name, reboot_type=base.REBOOT_SOFT):
        validation.instance_name(name)
        return self._call(self._reboot, name)

    def migration_info(self, instance):
        instance = validation.instance_dict(instance)
        return self._call(self._migration_info, instance["name"])

    def accept_instance(self, instance, info, target):
        instance = validation.instance_dict(instance)
        return self._call(self._accept, instance, info)

    def migrate_instance(self, name, target, live):
        validation.instance_name(name)
        return self._call(self._migrate, name)

    def migration_status(self, name):
        validation.instance_name(name)
        from twisted.internet import defer

        return defer.succeed({"status": base.MIGRATION_COMPLETED})

    def finalize_migration_dst(self, instance, info, success):
        instance = validation.instance_dict(instance)
        return self._call(self._finalize_dst, instance, info, bool(success))

    def finalize_migration_src(self, instance, success, live):
        instance = validation.instance_dict(instance)
        return self._call(self._finalize_src, instance["name"], bool(success))

    def get_console(self, instance):
        instance = validation.instance_dict(instance)
        return {
            "instance": instance["name"],
            "kind": "message",
            "message": CONSOLE_MESSAGE,
        }

    def node_info(self):
        return self._call(self._node_info)

    def _powercycle(self):
        stopped = []
        for name in self._names():
            if self._remove(self._path(name)):
                stopped.append(name)
        return stopped

    def powercycle(self):
        """What a power cycle does to a fake node: every instance stops.

        The machine itself keeps running (Ganeti's fake hypervisor would
        really reboot the host, which no test machine can allow).
        """
        d = self._call(self._powercycle)
        d.addCallback(
            lambda stopped: "Fake hypervisor: power cycle stopped %d instance(s)%s"
            % (len(stopped), (": " + ", ".join(stopped)) if stopped else "")
        )
        return d


def _count_processors(path):
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return sum(1 for line in f if line.split(":")[0].strip() == "processor")
    except OSError:
        return 0
