"""Helpers for tests of the node daemon and of code that talks to it.

Nothing here is used by the daemon itself.
"""

import os
import stat

from twisted.internet import defer

from ganeti_rapi.noded.nodeinfo import HostFiles


def run_synchronously(f, *args):
    """A C{run_in_thread} that runs C{f} at once on the calling thread."""
    return defer.maybeDeferred(f, *args)


def write_host_files(directory, total_mib=4096, available_mib=3072, sockets=1,
                     numa_nodes=1, boot_id="00000000-1111-2222-3333-444444444444",
                     mem_available=True):
    """Fake C{/proc} and C{/sys} files under C{directory}; a L{HostFiles}.

    With C{mem_available} false, C{meminfo} lacks C{MemAvailable} and the
    available memory is split over C{MemFree}, C{Buffers} and C{Cached}.
    """
    os.makedirs(directory, exist_ok=True)
    meminfo = os.path.join(directory, "meminfo")
    with open(meminfo, "w") as f:
        f.write(f"MemTotal:       {total_mib * 1024} kB\n")
        if mem_available:
            f.write(f"MemFree:        {available_mib * 512} kB\n")
            f.write(f"MemAvailable:   {available_mib * 1024} kB\n")
            f.write("Buffers:          1024 kB\n")
            f.write("Cached:           2048 kB\n")
        else:
            third = available_mib * 1024 // 3
            f.write(f"MemFree:        {available_mib * 1024 - 2 * third} kB\n")
            f.write(f"Buffers:        {third} kB\n")
            f.write(f"Cached:         {third} kB\n")
        f.write("HugePages_Total:       0\n")
    cpuinfo = os.path.join(directory, "cpuinfo")
    with open(cpuinfo, "w") as f:
        for socket in range(sockets):
            for core in range(2):
                f.write(f"processor\t: {socket * 2 + core}\n")
                f.write(f"physical id\t: {socket}\n")
                f.write("model name\t: Test CPU\n\n")
    numa_dir = os.path.join(directory, "node")
    os.makedirs(numa_dir, exist_ok=True)
    for index in range(numa_nodes):
        os.makedirs(os.path.join(numa_dir, f"node{index}"), exist_ok=True)
    os.makedirs(os.path.join(numa_dir, "power"), exist_ok=True)
    boot = os.path.join(directory, "boot_id")
    with open(boot, "w") as f:
        f.write(boot_id + "\n")
    return HostFiles(meminfo=meminfo, cpuinfo=cpuinfo, numa_dir=numa_dir, boot_id=boot)


def write_script(path, text):
    """Write an executable script."""
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


#: A script body that does nothing.
NOOP_SCRIPT = "#!/bin/sh\nexit 0\n"


def make_os(directory, name, api_versions=(20,), scripts=None, variants=None,
            parameters=None, verify=NOOP_SCRIPT):
    """Create an OS definition C{directory/name}; its path.

    @param scripts: C{{script name: text}} replacing the no-op default of
        C{create}, C{export}, C{import} and C{rename}.
    @param variants: lines of C{variants.list} (no file if L{None}).
    @param parameters: C{[(name, description)]} of C{parameters.list}.
    @param verify: the text of C{verify}, or L{None} for none.
    """
    path = os.path.join(directory, name)
    os.makedirs(path, exist_ok=True)
    if api_versions is not None:
        with open(os.path.join(path, "ganeti_api_version"), "w") as f:
            f.write("".join(f"{v}\n" for v in api_versions))
    texts = dict.fromkeys(("create", "export", "import", "rename"), NOOP_SCRIPT)
    texts.update(scripts or {})
    if verify is not None:
        texts["verify"] = verify
    for script, text in texts.items():
        write_script(os.path.join(path, script), text)
    if variants is not None:
        with open(os.path.join(path, "variants.list"), "w") as f:
            f.write("".join(f"{v}\n" for v in variants))
    if parameters is not None:
        with open(os.path.join(path, "parameters.list"), "w") as f:
            f.write("".join(f"{n} {d}\n" for n, d in parameters))
    return path


def sample_instance(name="inst1.example.com", **overrides):
    """An instance dict as the master would send it (fake hypervisor)."""
    instance = {
        "name": name,
        "uuid": "6f1c3c6e-0000-4000-8000-000000000001",
        "os": "ganeti-rapi-noop",
        "hypervisor": "fake",
        "primary_node": "node1.example.com",
        "secondary_nodes": [],
        "beparams": {"maxmem": 256, "minmem": 128, "vcpus": 2},
        "hvparams": {},
        "osparams": {},
        "disks": [],
        "nics": [],
    }
    instance.update(overrides)
    return instance


def alive(pid):
    """Whether process C{pid} exists and is not a zombie (Linux)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _sleep(seconds):
    from twisted.internet import reactor, task

    return task.deferLater(reactor, seconds, lambda: None)


@defer.inlineCallbacks
def wait_until_dead(pid, seconds=10.0):
    """A Deferred firing with whether C{pid} died within C{seconds}."""
    for _ in range(int(seconds / 0.05)):
        if not alive(pid):
            return True
        yield _sleep(0.05)
    return not alive(pid)


@defer.inlineCallbacks
def read_pid(path, seconds=10.0):
    """A Deferred firing with the process id a script wrote to C{path}."""
    for _ in range(int(seconds / 0.05)):
        if os.path.exists(path):
            with open(path) as f:
                text = f.read()
            if text.endswith("\n"):  # the whole line is there
                return int(text)
        yield _sleep(0.05)
    raise AssertionError(f"no process id written to {path}")
