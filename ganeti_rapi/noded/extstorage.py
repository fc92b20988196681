# -*- test-case-name: tests.test_disk_templates -*-
"""Ganeti's ExtStorage interface: volumes made by provider scripts.

A provider is a directory, named after the provider, in one of the search
path's directories (the first one holding the name wins; by default
C{/srv/ganeti/extstorage}, then C{<data-dir>/extstorage}).  It holds the
executable scripts C{create}, C{remove}, C{grow}, C{attach}, C{detach},
C{setinfo} and C{verify}, and a C{parameters.list} file (lines of
C{name description}; it may be empty) naming the parameters a disk of the
provider may carry.

Scripts run with the provider directory as working directory, stdin from
C{/dev/null}, in a process group of their own (util-linux's C{setsid} when
present), with a timeout, and only this environment:

 - C{VOL_NAME}: the volume's name (the second item of the disk's
   C{logical_id}); C{VOL_CNAME} and C{VOL_UUID}: the disk's name and uuid
   when it has them;
 - C{VOL_SIZE}: the size in MiB (C{create}; C{grow}: the current size);
 - C{VOL_NEW_SIZE}: the size to grow to (C{grow});
 - C{VOL_METADATA}: the text to record with the volume (C{setinfo});
 - C{EXTP_<NAME>}: one per disk parameter, the name upper-cased;
 - C{PATH} and C{LC_ALL=C}.

C{attach} prints the path of the volume's device on its first line of
output; it must exist and be a block device or a regular file (Ganeti
accepts only block devices; providers built on files are useful for
tests and on machines without loop devices).  The node remembers attached
paths, so OS scripts and hypervisors find the device.

Output of every script is appended to a log file in
C{<data-dir>/node/extstorage-logs}; a failing script's error quotes the
end of its output.
"""

import os
import stat
import time

from ganeti_rapi.noded import validation
from ganeti_rapi.noded.errors import InvalidArgument, StorageError
from ganeti_rapi.noded.osapi import _in_own_group, _setsid
from ganeti_rapi.noded.storage import COMMAND_PATH

#: The scripts a provider must have (Ganeti's C{ES_SCRIPTS}).
SCRIPTS = ("create", "remove", "grow", "attach", "detach", "setinfo", "verify")

#: The provider's parameter list.
PARAMETERS_FILE = "parameters.list"

#: System directories searched for providers, before C{<data-dir>/extstorage}.
SYSTEM_SEARCH_PATH = ("/srv/ganeti/extstorage",)

#: Seconds a provider script may run.
DEFAULT_TIMEOUT = 600.0

#: Lines of output quoted when a script fails.
OUTPUT_TAIL_LINES = 20


def default_search_path(data_dir):
    """C{/srv/ganeti/extstorage}, then C{<data-dir>/extstorage}.

    @param data_dir: a L{ganeti_rapi.paths.DataDir}.
    """
    return list(SYSTEM_SEARCH_PATH) + [data_dir.join("extstorage")]


def _parameter_names(path):
    names = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name = line.split(None, 1)[0]
            description = line[len(name):].strip()
            names.append([name, description])
    return names


def load_provider(name, directory):
    """The description of provider C{name} in C{directory}, valid or not (blocks).

    @return: C{{"name", "path", "status", "diagnose", "parameters"}};
        C{status} is false and C{diagnose} says why when it cannot be used.
    """
    path = os.path.join(directory, name)
    result = {"name": name, "path": path, "status": False, "diagnose": "",
              "parameters": []}
    if not os.path.isdir(path):
        result["diagnose"] = f"{path} is not a directory"
        return result
    problems = []
    for script in SCRIPTS:
        full = os.path.join(path, script)
        try:
            st = os.stat(full)
        except FileNotFoundError:
            problems.append(f"script '{script}' is missing")
            continue
        except OSError as e:
            problems.append(f"script '{script}' cannot be examined: {e.strerror}")
            continue
        if not stat.S_ISREG(st.st_mode):
            problems.append(f"script '{script}' is not a regular file")
        elif not os.access(full, os.X_OK):
            problems.append(f"script '{script}' is not executable")
    try:
        result["parameters"] = _parameter_names(os.path.join(path, PARAMETERS_FILE))
    except FileNotFoundError:
        problems.append(f"the parameter list {PARAMETERS_FILE} is missing")
    except OSError as e:
        problems.append(f"the parameter list {PARAMETERS_FILE} cannot be read: {e.strerror}")
    if problems:
        result["diagnose"] = "; ".join(problems)
        return result
    result["status"] = True
    return result


def _provider_names(directory):
    try:
        entries = sorted(os.listdir(directory))
    except OSError:
        return []
    return [n for n in entries if validation.SIMPLE_NAME.fullmatch(n)]


def diagnose(search_path):
    """Every provider found along C{search_path}, the first of each name (blocks)."""
    seen = set()
    result = []
    for directory in search_path:
        for name in _provider_names(directory):
            if name in seen or not os.path.isdir(os.path.join(directory, name)):
                continue
            seen.add(name)
            result.append(load_provider(name, directory))
    return result


def find_provider(name, search_path):
    """The description of provider C{name}, or L{StorageError} (blocks)."""
    for directory in search_path:
        if os.path.isdir(os.path.join(directory, name)):
            return load_provider(name, directory)
    raise StorageError(
        f"ExtStorage provider {name!r} not found in the search path "
        f"{':'.join(search_path)}"
    )


def _device_kind(path):
    """C{"block"} or C{"file"} for an existing device path, else L{StorageError}."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise StorageError(f"the attached device {path} cannot be used: {e.strerror}") from None
    if stat.S_ISBLK(st.st_mode):
        return "block"
    if stat.S_ISREG(st.st_mode):
        return "file"
    raise StorageError(f"the attached device {path} is neither a block device nor a file")


def _tail(text, lines=OUTPUT_TAIL_LINES):
    return "\n".join(text.strip().split("\n")[-lines:])


class ExtStorage:
    """The ExtStorage volumes of one node.

    @param search_path: directories searched for providers, in order.
    @param log_dir: where script output is logged.
    @param runtime: a L{ganeti_rapi.noded.runtime.Runtime}.
    @param timeout: seconds a script may run before it is killed.
    @ivar attached: C{{(provider, volume name): device path}} of the
        volumes attached since the daemon started.
    """

    def __init__(self, search_path, log_dir, runtime, timeout=DEFAULT_TIMEOUT):
        self.search_path = [os.path.abspath(p) for p in search_path]
        self.log_dir = os.path.abspath(log_dir)
        self.runtime = runtime
        self.timeout = timeout
        self.attached = {}

    # -- arguments

    @staticmethod
    def volume(disk):
        """C{(provider, volume name, parameters)} of an C{ext} disk, checked."""
        if not isinstance(disk, dict):
            raise InvalidArgument("disk must be a JSON object")
        logical_id = disk.get("logical_id")
        if not isinstance(logical_id, list) or len(logical_id) != 2:
            raise InvalidArgument(f"ext disk logical_id must be [provider, volume name], "
                                  f"not {logical_id!r}")
        provider = validation.simple_name(logical_id[0], "ExtStorage provider name")
        name = validation.simple_name(logical_id[1], "ExtStorage volume name")
        params = disk.get("params") or {}
        if not isinstance(params, dict):
            raise InvalidArgument("ext disk params must be a JSON object")
        return provider, name, ExtStorage.parameters(params)

    @staticmethod
    def parameters(params):
        if not isinstance(params, dict):
            raise InvalidArgument("ExtStorage parameters must be a JSON object")
        checked = {}
        for key, value in params.items():
            validation.simple_name(key, "ExtStorage parameter name")
            if isinstance(value, (dict, list)):
                raise InvalidArgument(f"ExtStorage parameter {key} must be a plain value")
            checked[key] = "" if value is None else str(value)
        return checked

    # -- providers

    def diagnose(self):
        return self.runtime.in_thread(diagnose, self.search_path)

    async def provider(self, name, params=None):
        """A valid provider's description; C{params} must be in its list."""
        validation.simple_name(name, "ExtStorage provider name")
        info = await self.runtime.in_thread(find_provider, name, self.search_path)
        if not info["status"]:
            raise StorageError(
                f"ExtStorage provider {name} at {info['path']} is not valid: "
                f"{info['diagnose']}"
            )
        known = {p[0] for p in info["parameters"]}
        unknown = sorted(set(params or {}) - known)
        if unknown:
            raise StorageError(
                f"ExtStorage provider {name} has no parameter(s) {', '.join(unknown)}"
                f"; it takes: {', '.join(sorted(known)) or 'none'}"
            )
        return info

    # -- running scripts

    def _write_log(self, action, provider, volume, result):
        os.makedirs(self.log_dir, mode=0o750, exist_ok=True)
        stamp = time.strftime("%Y-%m-%d_%H_%M_%S")
        path = os.path.join(self.log_dir, f"{action}-{provider}-{volume}-{stamp}.log")
        with open(path, "ab") as f:
            f.write(bytes(result.stdout) + bytes(result.stderr))
        return path

    async def _run(self, action, info, volume, params, disk=None, extra=None):
        env = {"PATH": COMMAND_PATH, "LC_ALL": "C", "VOL_NAME": volume}
        for key, value in params.items():
            env["EXTP_" + key.upper()] = value
        if disk is not None:
            if disk.get("name"):
                env["VOL_CNAME"] = str(disk["name"])
            if disk.get("uuid"):
                env["VOL_UUID"] = str(disk["uuid"])
        env.update(extra or {})
        script = os.path.join(info["path"], action)
        setsid = await self.runtime.in_thread(_setsid)
        result = await self.runtime.run(
            _in_own_group(setsid, [script]),
            env=env,
            path=info["path"],
            timeout=self.timeout,
            own_group=bool(setsid),
        )
        try:
            await self.runtime.in_thread(
                self._write_log, action, info["name"], volume, result
            )
        except OSError:
            pass
        if not result.succeeded:
            raise StorageError(
                f"ExtStorage {action} script of {info['name']} for volume {volume} "
                f"failed ({result.describe(self.timeout)}): "
                f"{_tail(result.output_text())}"
            )
        return result

    # -- procedures

    async def verify(self, provider, params=None):
        """Check parameters against the provider's list and its C{verify} script."""
        params = self.parameters(params or {})
        info = await self.provider(provider, params)
        await self._run("verify", info, "", params)
        return {"provider": info["name"], "verified": True}

    async def create(self, disk, size, metadata=None):
        """Verify, create, record C{metadata} (C{setinfo}) and attach a volume."""
        provider, volume, params = self.volume(disk)
        info = await self.provider(provider, params)
        await self._run("verify", info, volume, params, disk)
        await self._run("create", info, volume, params, disk, {"VOL_SIZE": str(size)})
        if metadata:
            await self._run("setinfo", info, volume, params, disk,
                            {"VOL_METADATA": str(metadata)})
        path = await self._attach(info, provider, volume, params, disk)
        return {"path": path, "size": size}

    async def _attach(self, info, provider, volume, params, disk):
        result = await self._run("attach", info, volume, params, disk)
        lines = result.stdout.decode("utf-8", "replace").splitlines()
        path = lines[0].strip() if lines else ""
        if not path.startswith("/"):
            raise StorageError(
                f"ExtStorage attach script of {provider} printed no device path "
                f"for volume {volume}"
            )
        await self.runtime.in_thread(_device_kind, path)
        self.attached[(provider, volume)] = path
        return path

    async def attach(self, disk):
        """Attach a volume; the path of its device."""
        provider, volume, params = self.volume(disk)
        info = await self.provider(provider)
        return await self._attach(info, provider, volume, params, disk)

    async def detach(self, disk):
        provider, volume, params = self.volume(disk)
        info = await self.provider(provider)
        await self._run("detach", info, volume, params, disk)
        self.attached.pop((provider, volume), None)
        return None

    async def remove(self, disk):
        """Remove a volume (its provider detaches it if needed)."""
        provider, volume, params = self.volume(disk)
        info = await self.provider(provider)
        await self._run("remove", info, volume, params, disk)
        self.attached.pop((provider, volume), None)
        return {"removed": True}

    async def grow(self, disk, size, new_size):
        """Grow a volume from C{size} to C{new_size} MiB."""
        provider, volume, params = self.volume(disk)
        info = await self.provider(provider)
        await self._run("grow", info, volume, params, disk,
                        {"VOL_SIZE": str(size), "VOL_NEW_SIZE": str(new_size)})
        return {"size": new_size}

    async def set_info(self, disk, metadata):
        provider, volume, params = self.volume(disk)
        info = await self.provider(provider)
        await self._run("setinfo", info, volume, params, disk,
                        {"VOL_METADATA": str(metadata)})
        return None
