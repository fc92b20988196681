# -*- test-case-name: tests.test_noded_nodeinfo -*-
"""What a node reports about itself: memory, CPUs, disk space, boot id.

The readers here block (they read C{/proc}, C{/sys} and call C{statvfs});
L{NodeInfo} runs them through the runtime's thread runner.
"""

import os
import re
import socket

MIB = 1024 * 1024


class HostFiles:
    """Where the kernel's facts are read from (tests point these elsewhere)."""

    def __init__(
        self,
        meminfo="/proc/meminfo",
        cpuinfo="/proc/cpuinfo",
        numa_dir="/sys/devices/system/node",
        boot_id="/proc/sys/kernel/random/boot_id",
    ):
        self.meminfo = meminfo
        self.cpuinfo = cpuinfo
        self.numa_dir = numa_dir
        self.boot_id = boot_id


def read_meminfo(path):
    """The lines of C{/proc/meminfo} as C{{key: value in KiB}}."""
    values = {}
    with open(path, encoding="ascii", errors="replace") as f:
        for line in f:
            key, _, rest = line.partition(":")
            fields = rest.split()
            if fields and fields[0].isdigit():
                values[key.strip()] = int(fields[0])
    return values


def memory_mib(meminfo):
    """C{(total, available)} in MiB from L{read_meminfo}'s result.

    Available is C{MemAvailable} where the kernel has it (3.14 and later),
    else C{MemFree + Buffers + Cached}.
    """
    total = meminfo.get("MemTotal", 0)
    if "MemAvailable" in meminfo:
        free = meminfo["MemAvailable"]
    else:
        free = sum(meminfo.get(k, 0) for k in ("MemFree", "Buffers", "Cached"))
    return total // 1024, free // 1024


def cpu_sockets(path):
    """The number of distinct C{physical id}s in C{/proc/cpuinfo}, at least 1."""
    ids = set()
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "physical id":
                    ids.add(value.strip())
    except OSError:
        return 1
    return max(1, len(ids))


_NUMA_NODE = re.compile(r"node\d+")


def numa_nodes(directory):
    """The number of C{node<N>} entries in C{/sys/devices/system/node}, at least 1."""
    try:
        names = os.listdir(directory)
    except OSError:
        return 1
    return max(1, sum(1 for n in names if _NUMA_NODE.fullmatch(n)))


def read_boot_id(path):
    """The kernel's boot id (changes at every boot), or L{None}."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().strip() or None
    except OSError:
        return None


def statvfs_mib(path):
    """C{(total, free)} MiB of the file system holding C{path}.

    Free is what an unprivileged user may use (C{f_bavail}).
    """
    st = os.statvfs(path)
    return (st.f_blocks * st.f_frsize) // MIB, (st.f_bavail * st.f_frsize) // MIB


def host_facts(files):
    """Name, CPU layout and boot id of this host (blocks)."""
    return {
        "name": socket.gethostname(),
        "ctotal": os.cpu_count() or 1,
        "cnodes": numa_nodes(files.numa_dir),
        "csockets": cpu_sockets(files.cpuinfo),
        "bootid": read_boot_id(files.boot_id),
    }


class NodeInfo:
    """The C{node_info} procedure.

    @param runtime: a L{ganeti_rapi.noded.runtime.Runtime}.
    @param hypervisor: C{name -> hypervisor} (raises for unknown names).
    @param storage: a L{ganeti_rapi.noded.storage.Storage}.
    """

    def __init__(self, runtime, hypervisor, storage, files=None):
        self.runtime = runtime
        self.hypervisor = hypervisor
        self.storage = storage
        self.files = files or HostFiles()

    async def node_info(self, storage_units=None, hypervisor="fake"):
        hv = self.hypervisor(hypervisor)
        units = self.storage.check_units(storage_units)
        facts = await self.runtime.in_thread(host_facts, self.files)
        hv_info = await hv.node_info()
        storage = []
        for storage_type, name in units:
            entry = {"type": storage_type, "name": name}
            try:
                space = await self.storage.space(storage_type, name)
            except Exception as e:
                entry["error"] = str(e)
            else:
                entry["storage_size"] = space["size"]
                entry["storage_free"] = space["free"]
            storage.append(entry)
        first = storage[0] if storage else {}
        return {
            "name": facts["name"],
            "mtotal": hv_info["memory_total"],
            "mfree": hv_info["memory_free"],
            "mnode": hv_info["memory_dom0"],
            "ctotal": facts["ctotal"],
            "cnodes": facts["cnodes"],
            "csockets": facts["csockets"],
            "cnos": 1,
            "dtotal": first.get("storage_size"),
            "dfree": first.get("storage_free"),
            "sptotal": 0,
            "spfree": 0,
            "bootid": facts["bootid"],
            "hv_name": hv.name,
            "hv_memory_total": hv_info["memory_total"],
            "hv_memory_free": hv_info["memory_free"],
            "storage": storage,
        }
