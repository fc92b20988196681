# -*- test-case-name: tests.test_kvm -*-
"""The C{kvm} hypervisor: instances are QEMU processes controlled over QMP.

Every running instance is a daemonised QEMU (C{-daemonize}, a pidfile)
with a QMP socket and, if C{serial_console} is on, its first serial port
on a unix socket whose output is also appended to a log file.  What the
node knows of it is a JSON state file, C{<state-dir>/<name>.json}: QEMU's
pidfile, sockets, memory, vCPUs and the parameters migration needs.  The
state lives in files only, so a restarted node daemon finds its running
instances again; an instance runs while the pid in its pidfile is a live
process whose command line names that pidfile (two node daemons on one
machine never mistake each other's QEMU for their own).

Sockets go to C{<state-dir>/ctrl/} unless that path is too long for a unix
socket, then to a directory of the temporary directory named after a hash
of the state directory.

Start builds QEMU's command line from C{hvparams} (see
L{kvm_command.build_command}); NICs are tap devices, opened and
connected by L{kvm_nics}, handed to QEMU as file descriptors; a tap goes
away with its QEMU.  Stop asks the guest to power off (ACPI C{system_powerdown})
and, after the timeout, makes QEMU C{quit} and then kills it.  Migration:
the source's C{migration_info} chooses the port (C{migration_port}, or a
free one if that is 0), the target starts QEMU with C{-incoming}, the
source sends the memory with QMP C{migrate} and the master polls
C{query-migrate}; the target is resumed and the source quits once the
master finalizes.

Every NIC and disk has a QEMU id and, when it is a PCI device, an explicit
slot (L{kvm_command}), remembered in the state file's C{devices}.  NICs and
paravirtual disks can be hot-plugged into a running instance and unplugged
again (L{kvm_hotplug}).  A migration hands the source's slots to the
target (C{kvm_pci} in L{KvmHypervisor.migration_info}'s result), which
starts QEMU with an identical device layout, hot-plugged devices included
(they are in the instance's configuration by then).

This module holds the lifecycle (start, stop, reboot, migration, console,
state files).  The command line (pure functions, L{kvm_command}), the taps
(L{kvm_nics}) and hot-plug (L{kvm_hotplug}) have modules of their own, the
last two as mixins of L{KvmHypervisor}.  Nothing here blocks the
reactor: file-system work runs through C{runtime.in_thread}, commands
through C{runtime.run}, QMP through Twisted protocols (L{kvm_qmp}).
"""

import hashlib
import json
import os
import signal
import socket
import tempfile

from twisted.internet import defer, task

from ganeti_rapi.noded import nodeinfo, validation
from ganeti_rapi.noded.errors import HypervisorError, InvalidArgument
from ganeti_rapi.noded.hypervisor import base
from ganeti_rapi.noded.hypervisor.kvm_command import (
    SBIN_PATH,
    build_command,
    check_hvparams,
    command_layout,
)
from ganeti_rapi.noded.hypervisor.kvm_hotplug import HotplugMixin
from ganeti_rapi.noded.hypervisor.kvm_nics import TapsMixin, nic_record
from ganeti_rapi.noded.hypervisor.kvm_qmp import qmp_commands, qmp_session

#: Seconds QEMU may take to initialise and daemonise.
START_TIMEOUT = 120.0

#: Seconds between looks at a QEMU that should end.
POLL_INTERVAL = 0.25

#: Seconds between QMP C{quit} and SIGKILL in a hard stop.
QUIT_GRACE = 5.0

#: Longest unix socket path the kernel takes, less room for the name.
_SOCKET_PATH_MAX = 100

#: The console command Ganeti gives clients of a serial console.
SOCAT = "/usr/bin/socat"

#: The first file descriptor handed to QEMU for taps.
_FIRST_TAP_FD = 3


def _alive(pid, pidfile):
    """Whether C{pid} is a live QEMU started with C{pidfile}."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            args = f.read().split(b"\0")
        with open("/proc/%d/stat" % pid, "rb") as f:
            stat = f.read()
    except OSError:
        return False
    state = stat.rsplit(b")", 1)[-1].split()[:1]
    if state == [b"Z"]:
        return False
    return pidfile.encode() in args


def _free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class KvmHypervisor(HotplugMixin, TapsMixin, base.StateFileQueries, base.BaseHypervisor):
    """The kvm hypervisor of one node.

    @param state_dir: the directory of state files (made when needed).
    @param runtime: a L{ganeti_rapi.noded.runtime.Runtime}.
    @param storage: a L{ganeti_rapi.noded.storage.Storage}, to find disks
        (a migration target resolves them itself).
    @param files: a L{nodeinfo.HostFiles}.
    @param ssh_port: the port of the console's C{ssh} kind.
    """

    name = "kvm"
    needs_block_devices = True

    def __init__(self, state_dir, runtime, storage=None, files=None, ssh_port=22):
        self.state_dir = os.path.abspath(state_dir)
        self.runtime = runtime
        self.storage = storage
        self.files = files or nodeinfo.HostFiles()
        self.ssh_port = ssh_port
        ctrl = os.path.join(self.state_dir, "ctrl")
        if len(ctrl) + 1 + 64 + len(".serial") > _SOCKET_PATH_MAX:
            digest = hashlib.sha256(self.state_dir.encode()).hexdigest()[:16]
            ctrl = os.path.join(tempfile.gettempdir(), "ganeti-rapi-kvm-" + digest)
        self.ctrl_dir = ctrl
        self._locks = {}

    # -- paths and state (blocking; in threads) ---------------------------

    def paths(self, name):
        validation.instance_name(name)
        return {
            "state": os.path.join(self.state_dir, name + ".json"),
            "pidfile": os.path.join(self.state_dir, name + ".pid"),
            "serial_log": os.path.join(self.state_dir, name + ".serial.log"),
            "qmp": os.path.join(self.ctrl_dir, name + ".qmp"),
            "serial": os.path.join(self.ctrl_dir, name + ".serial"),
        }

    def _make_dirs(self):
        os.makedirs(self.state_dir, mode=0o750, exist_ok=True)
        os.makedirs(self.ctrl_dir, mode=0o700, exist_ok=True)
        if os.stat(self.ctrl_dir).st_uid != os.getuid():
            raise HypervisorError("control directory %s belongs to another user"
                                  % self.ctrl_dir)

    def _read_state(self, name):
        """The state of a running instance, or L{None} (stale state is removed)."""
        paths = self.paths(name)
        try:
            with open(paths["state"], encoding="utf-8") as f:
                state = json.load(f)
        except (OSError, ValueError):
            return None
        pid = self._read_pid(paths["pidfile"])
        if pid is None or not _alive(pid, paths["pidfile"]):
            self._cleanup(name)
            return None
        state["pid"] = pid
        return state

    def _read_pid(self, path):
        try:
            with open(path, encoding="ascii") as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def _write_state(self, name, state):
        path = self.paths(name)["state"]
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.state_dir)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(state, f, sort_keys=True)
        os.replace(tmp, path)

    def _cleanup(self, name):
        """Remove every file of an instance that no longer runs."""
        paths = self.paths(name)
        for key in ("state", "pidfile", "serial_log", "qmp", "serial"):
            try:
                os.unlink(paths[key])
            except FileNotFoundError:
                pass

    def _names(self):
        try:
            entries = list(os.scandir(self.state_dir))
        except FileNotFoundError:
            return []
        names = []
        for entry in entries:
            if entry.name.endswith(".json") and not entry.name.startswith("."):
                name = entry.name[:-len(".json")]
                if validation.INSTANCE_NAME.fullmatch(name) and self._read_state(name):
                    names.append(name)
        return sorted(names)

    def _info(self, name):
        state = self._read_state(name)
        if state is None:
            return None
        return {
            "name": name,
            "id": state["pid"],
            "memory": state["memory"],
            "vcpus": state["vcpus"],
            "state": "running",
            "time": _cpu_seconds(state["pid"]),
        }

    def _all(self):
        result = {}
        for name in self._names():
            info = self._info(name)
            if info is not None:
                result[name] = info
        return result

    def _node_info(self):
        meminfo = nodeinfo.read_meminfo(self.files.meminfo)
        total, available = nodeinfo.memory_mib(meminfo)
        used = sum(i["memory"] for i in self._all().values())
        cpus = os.cpu_count() or 1
        return {
            "memory_total": total,
            "memory_free": available,
            "memory_dom0": max(0, total - available - used),
            "memory_instances": used,
            "cpu_total": cpus,
            "cpu_dom0": cpus,
            "cpu_nodes": 1,
            "cpu_sockets": 1,
        }


    # -- helpers ----------------------------------------------------------

    def _lock(self, name):
        lock = self._locks.get(name)
        if lock is None:
            lock = self._locks[name] = defer.DeferredLock()
        return lock

    async def _qmp(self, name, *commands):
        """Run QMP commands on instance C{name}, one client at a time."""
        path = self.paths(name)["qmp"]
        lock = self._lock(name)
        await lock.acquire()
        try:
            return await qmp_commands(self.runtime.reactor, path, list(commands))
        finally:
            lock.release()

    async def _qmp_session(self, name, work):
        """C{await work(session)} on one QMP connection to instance C{name}."""
        path = self.paths(name)["qmp"]
        lock = self._lock(name)
        await lock.acquire()
        try:
            return await qmp_session(self.runtime.reactor, path, work)
        finally:
            lock.release()

    async def _running_state(self, name):
        state = await self._call(self._read_state, name)
        if state is None:
            raise base.not_running(name)
        return state

    def _disk_paths(self, instance):
        if self.storage is None:
            raise HypervisorError("this node cannot find the disks of instance %s"
                                  % instance["name"])
        devices = []
        for disk in instance["disks"]:
            path, _ = self.storage.disk_device(disk)
            devices.append([path, disk.get("mode") or "rw"])
        return devices

    async def _start(self, instance, block_devices, paused, incoming=None,
                     migration_port=None, slots=None):
        name = instance["name"]
        hv = check_hvparams(instance["hvparams"])
        if await self._call(self._read_state, name) is not None:
            raise base.already_running(name)
        paths = self.paths(name)
        await self._call(self._make_dirs)
        await self._call(self._cleanup, name)
        memory = validation.int_param(instance["beparams"], "maxmem", 128, 1)
        vcpus = validation.int_param(instance["beparams"], "vcpus", 1, 1)
        taps = await self._call(self._open_taps, instance.get("nics") or [], hv["vnet_hdr"])
        try:
            tap_fds = [(tap, _FIRST_TAP_FD + i, nic) for i, (tap, _, nic) in enumerate(taps)]
            disk_ids, nic_ids, layout = command_layout(
                instance, hv, len(block_devices), [nic for _, _, nic in taps], slots)
            argv = build_command(instance, hv, paths, block_devices, tap_fds, memory,
                                 vcpus, paused, incoming, layout)
            child_fds = {0: "w", 1: "r", 2: "r"}
            for i, (_, fd, _) in enumerate(taps):
                child_fds[_FIRST_TAP_FD + i] = fd
            if taps:
                await self._connect_taps(taps)
            result = await self.runtime.run(argv, env={"PATH": SBIN_PATH},
                                            timeout=START_TIMEOUT, child_fds=child_fds)
        finally:
            for _, fd, _ in taps:
                os.close(fd)
        if not result.succeeded:
            await self._call(self._cleanup, name)
            raise HypervisorError("could not start instance %s: QEMU %s: %s" % (
                name, result.describe(START_TIMEOUT), result.output_text()))
        devices = {disk: {"type": "disk", "slot": layout.get(disk)} for disk in disk_ids}
        for nic_id, (tap, _, nic) in zip(nic_ids, taps):
            devices[nic_id] = dict(nic_record(nic, tap), slot=layout.get(nic_id))
        state = {
            "name": name,
            "memory": memory,
            "vcpus": vcpus,
            "taps": [t[0] for t in taps],
            "devices": devices,
            "migration_bandwidth": hv["migration_bandwidth"],
            "migration_downtime": hv["migration_downtime"],
            "migration_port": migration_port,
            "incoming": bool(incoming),
        }
        await self._call(self._write_state, name, state)
        if await self._call(self._read_state, name) is None:
            raise HypervisorError("instance %s: QEMU exited right after starting" % name)

    async def _wait_gone(self, name, pid, timeout):
        """Whether QEMU C{pid} of instance C{name} ended within C{timeout}."""
        pidfile = self.paths(name)["pidfile"]
        reactor = self.runtime.reactor
        waited = 0.0
        while _alive(pid, pidfile):
            if waited >= timeout:
                return False
            await task.deferLater(reactor, POLL_INTERVAL, lambda: None)
            waited += POLL_INTERVAL
        return True

    async def _hard_stop(self, name, pid):
        try:
            await self._qmp(name, ("quit", None))
        except HypervisorError:
            pass
        if not await self._wait_gone(name, pid, QUIT_GRACE):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await self._wait_gone(name, pid, QUIT_GRACE)
        await self._call(self._cleanup, name)

    # -- the interface ----------------------------------------------------

    def start_instance(self, instance, block_devices=(), startup_paused=False):
        instance = validation.instance_dict(instance)
        return defer.Deferred.fromCoroutine(
            self._start(instance, [list(d) for d in block_devices], bool(startup_paused)))

    def stop_instance(self, name, force=False, timeout=None):
        validation.instance_name(name)

        async def stop():
            state = await self._running_state(name)
            pid = state["pid"]
            if not force:
                try:
                    await self._qmp(name, ("system_powerdown", None))
                except HypervisorError:
                    pass
                else:
                    if await self._wait_gone(name, pid, float(timeout or 0)):
                        await self._call(self._cleanup, name)
                        return None
            await self._hard_stop(name, pid)
            return None

        return defer.Deferred.fromCoroutine(stop())

    def reboot_instance(self, name, reboot_type=base.REBOOT_SOFT):
        validation.instance_name(name)

        async def reboot():
            await self._running_state(name)
            await self._qmp(name, ("system_reset", None))

        return defer.Deferred.fromCoroutine(reboot())

    def migration_info(self, instance):
        instance = validation.instance_dict(instance)
        name = instance["name"]

        async def info():
            state = await self._running_state(name)
            hv = check_hvparams(instance["hvparams"])
            port = hv["migration_port"] or _free_port()
            slots = await self._slots(name, instance, hv, state)
            state["migration_port"] = port
            state.pop("pid", None)
            await self._call(self._write_state, name, state)
            return {"migration_port": port, "kvm_memory": state["memory"],
                    "vcpus": state["vcpus"], "kvm_pci": slots}

        return defer.Deferred.fromCoroutine(info())

    def accept_instance(self, instance, info, target):
        instance = validation.instance_dict(instance)
        info = info if isinstance(info, dict) else {}
        port = info.get("migration_port")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise InvalidArgument("migration info without a valid migration_port")
        if not isinstance(target, str) or not target:
            raise InvalidArgument("target must be the target node's address")
        memory = info.get("kvm_memory")
        if isinstance(memory, int) and not isinstance(memory, bool) and memory > 0:
            instance = dict(instance, beparams=dict(instance["beparams"], maxmem=memory))
        slots = info.get("kvm_pci")
        if slots is not None and not (
            isinstance(slots, dict)
            and all(isinstance(v, int) and not isinstance(v, bool) for v in slots.values())
        ):
            raise InvalidArgument("migration info kvm_pci must map device ids to slots")
        host = "[%s]" % target if ":" in target else target

        async def accept():
            await self._start(instance, self._disk_paths(instance), False,
                              incoming="tcp:%s:%d" % (host, port), migration_port=port,
                              slots=slots)

        return defer.Deferred.fromCoroutine(accept())

    def migrate_instance(self, name, target, live):
        validation.instance_name(name)

        async def migrate():
            state = await self._running_state(name)
            port = state.get("migration_port")
            if not port:
                raise HypervisorError("instance %s: no migration prepared" % name)
            host = "[%s]" % target if ":" in target else target
            commands = []
            if not live:
                commands.append(("stop", None))
            commands.append(("migrate-set-parameters", {
                "max-bandwidth": int(state["migration_bandwidth"]) * 1024 * 1024,
                "downtime-limit": int(state["migration_downtime"]),
            }))
            commands.append(("migrate", {"uri": "tcp:%s:%d" % (host, port)}))
            await self._qmp(name, *commands)

        return defer.Deferred.fromCoroutine(migrate())

    def migration_status(self, name):
        validation.instance_name(name)

        async def status():
            await self._running_state(name)
            (result,) = await self._qmp(name, ("query-migrate", None))
            value = (result or {}).get("status")
            if value == "completed":
                return {"status": base.MIGRATION_COMPLETED}
            if value in ("failed", "cancelled", None):
                return {"status": base.MIGRATION_FAILED,
                        "error": (result or {}).get("error-desc", value)}
            return {"status": base.MIGRATION_ACTIVE, "qemu_status": value}

        return defer.Deferred.fromCoroutine(status())

    def finalize_migration_dst(self, instance, info, success):
        instance = validation.instance_dict(instance)
        name = instance["name"]

        async def finalize():
            state = await self._call(self._read_state, name)
            if state is None:
                if success:
                    raise HypervisorError("instance %s did not arrive here" % name)
                return None
            if not success:
                await self._hard_stop(name, state["pid"])
                return None
            reactor = self.runtime.reactor
            for _ in range(int(60 / POLL_INTERVAL)):
                (status,) = await self._qmp(name, ("query-status", None))
                if status.get("status") != "inmigrate":
                    break
                await task.deferLater(reactor, POLL_INTERVAL, lambda: None)
            else:
                raise HypervisorError("instance %s: the incoming migration did not end"
                                      % name)
            if not status.get("running"):
                await self._qmp(name, ("cont", None))
            state.pop("pid", None)
            state["incoming"] = False
            state["migration_port"] = None
            await self._call(self._write_state, name, state)
            return None

        return defer.Deferred.fromCoroutine(finalize())

    def finalize_migration_src(self, instance, success, live):
        instance = validation.instance_dict(instance)
        name = instance["name"]

        async def finalize():
            state = await self._call(self._read_state, name)
            if state is None:
                return None
            if success:
                await self._hard_stop(name, state["pid"])
                return None
            try:
                await self._qmp(name, ("migrate_cancel", None))
            except HypervisorError:
                pass
            (status,) = await self._qmp(name, ("query-status", None))
            if not status.get("running"):
                await self._qmp(name, ("cont", None))
            return None

        return defer.Deferred.fromCoroutine(finalize())

    def get_console(self, instance):
        instance = validation.instance_dict(instance)
        name = instance["name"]
        hv = check_hvparams(instance["hvparams"])
        if hv["serial_console"]:
            return {
                "instance": name,
                "kind": "ssh",
                "host": instance.get("primary_node"),
                "port": self.ssh_port,
                "user": "root",
                "command": [SOCAT, "STDIO,raw,echo=0,escape=0x1d",
                            "UNIX-CONNECT:%s" % self.paths(name)["serial"]],
            }
        if hv["vnc_bind_address"] and instance.get("network_port"):
            port = int(instance["network_port"])
            return {
                "instance": name,
                "kind": "vnc",
                "host": hv["vnc_bind_address"],
                "port": port,
                "display": port - 5900,
            }
        return {"instance": name, "kind": "message",
                "message": "No serial shell for instance %s" % name}

    def node_info(self):
        return self._call(self._node_info)

    def powercycle(self):
        """Stop every instance at once (the host itself keeps running)."""

        async def powercycle():
            stopped = []
            for name, info in (await self._call(self._all)).items():
                await self._hard_stop(name, info["id"])
                stopped.append(name)
            return "kvm hypervisor: power cycle stopped %d instance(s)%s" % (
                len(stopped), (": " + ", ".join(stopped)) if stopped else "")

        return defer.Deferred.fromCoroutine(powercycle())


def _cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            fields = f.read().rsplit(b")", 1)[-1].split()
        ticks = int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return 0
    return ticks // (os.sysconf("SC_CLK_TCK") or 100)
