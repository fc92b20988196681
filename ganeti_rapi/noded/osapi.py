# -*- test-case-name: tests.test_noded_osapi -*-
"""Ganeti's OS interface: finding OS definitions and running their scripts.

An OS definition is a directory, named after the OS, in one of the search
path's directories (the first directory holding a name wins).  It has:

 - C{ganeti_api_version}: the API versions it follows, one per line (this
   node runs versions 20, 15 and 10; 5 and older are not supported);
 - executable scripts C{create}, C{import}, C{export}, C{rename}, and for
   API 20 an optional C{verify};
 - optional C{variants.list} (API 15 and later; one variant a line, C{#}
   comments and blank lines ignored) and C{parameters.list} (API 20; lines
   of C{name description}).

Scripts run with the OS directory as working directory, stdin from
C{/dev/null} (the export script's stdout is the export file, the import
script's stdin the file to import), only the documented environment
(nothing of the daemon's own), stdout and stderr appended to a log file
C{<data-dir>/node/os-logs/<kind>-<os>-<instance>-<timestamp>.log}, in a
process group of its own (through util-linux's C{setsid} when present),
and a timeout after which the script and everything it started are
killed.  A script that fails has the last lines of its log quoted in the
error.
"""

import os
import shutil
import stat
import time

from ganeti_rapi.noded import validation
from ganeti_rapi.noded.errors import InvalidArgument, OSDefinitionError, OSScriptError
from ganeti_rapi.noded.storage import COMMAND_PATH

#: API versions this node can run scripts of, newest first.
SUPPORTED_API_VERSIONS = (20, 15, 10)
API_V15 = 15
API_V20 = 20

API_FILE = "ganeti_api_version"
VARIANTS_FILE = "variants.list"
PARAMETERS_FILE = "parameters.list"
REQUIRED_SCRIPTS = ("create", "export", "import", "rename")
VERIFY_SCRIPT = "verify"

#: The OS definitions shipped with this package (C{ganeti-rapi-noop}).
BUNDLED_OS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "os")

#: The system directories searched for OS definitions, in order.
SYSTEM_SEARCH_PATH = ("/srv/ganeti/os", "/usr/share/ganeti/os", "/usr/local/lib/ganeti/os")

#: Lines of the log quoted when a script fails.
LOG_TAIL_LINES = 20

#: Seconds an OS script may run by default.
DEFAULT_SCRIPT_TIMEOUT = 3600.0

#: Log file kinds (Ganeti's names).
KIND_CREATE = "add"
KIND_RENAME = "rename"
KIND_EXPORT = "export"
KIND_IMPORT = "import"


def default_search_path(data_dir):
    """The system directories, C{<data-dir>/os}, then the bundled OS directory.

    @param data_dir: a L{ganeti_rapi.paths.DataDir}.
    """
    return list(SYSTEM_SEARCH_PATH) + [data_dir.join("os"), BUNDLED_OS_DIR]


# -- reading definitions (these block) ----------------------------------------


def _read_lines(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read().splitlines()


def _list_file(path):
    """Non-blank, non-comment lines of C{path}; C{[]} if it is missing."""
    try:
        lines = _read_lines(path)
    except FileNotFoundError:
        return []
    return [s.strip() for s in lines if s.strip() and not s.strip().startswith("#")]


def _script_problem(path, name, required):
    """Why script C{name} cannot run, or L{None}."""
    script = os.path.join(path, name)
    try:
        st = os.stat(script)
    except FileNotFoundError:
        return f"script '{name}' is missing" if required else None
    except OSError as e:
        return f"script '{name}' cannot be examined: {e.strerror}"
    if not stat.S_ISREG(st.st_mode):
        return f"script '{name}' is not a regular file"
    if not os.access(script, os.X_OK):
        return f"script '{name}' is not executable"
    return None


def load_os(name, directory):
    """The description of OS C{name} in C{directory}, valid or not.

    @return: C{{"name", "path", "status", "diagnose", "variants",
        "parameters", "api_versions"}}; C{status} is false and
        C{diagnose} says why when the definition cannot be used.
    """
    path = os.path.join(directory, name)
    result = {
        "name": name,
        "path": path,
        "status": False,
        "diagnose": "",
        "variants": [],
        "parameters": [],
        "api_versions": [],
    }

    def invalid(message):
        result["diagnose"] = message
        return result

    if not os.path.isdir(path):
        return invalid(f"{path} is not a directory")
    try:
        lines = _read_lines(os.path.join(path, API_FILE))
    except FileNotFoundError:
        return invalid(f"the API version file {API_FILE} is missing")
    except OSError as e:
        return invalid(f"the API version file {API_FILE} cannot be read: {e.strerror}")
    versions = []
    for line in lines:
        if not line.strip():
            continue
        try:
            versions.append(int(line.strip()))
        except ValueError:
            return invalid(f"{API_FILE} holds {line.strip()!r}, not a version number")
    result["api_versions"] = sorted(set(versions), reverse=True)
    usable = set(versions) & set(SUPPORTED_API_VERSIONS)
    if not usable:
        return invalid(
            "API version(s) "
            + (", ".join(str(v) for v in result["api_versions"]) or "none")
            + " not supported; this node supports "
            + ", ".join(str(v) for v in SUPPORTED_API_VERSIONS)
        )
    api = max(usable)
    problems = [_script_problem(path, s, True) for s in REQUIRED_SCRIPTS]
    if api >= API_V20:
        problems.append(_script_problem(path, VERIFY_SCRIPT, False))
    problems = [p for p in problems if p]
    if problems:
        return invalid("; ".join(problems))
    try:
        if api >= API_V15:
            result["variants"] = _list_file(os.path.join(path, VARIANTS_FILE))
        if api >= API_V20:
            parameters = []
            for line in _list_file(os.path.join(path, PARAMETERS_FILE)):
                pname, _, description = line.partition(" ")
                if "\t" in pname:
                    pname, _, rest = pname.partition("\t")
                    description = rest + (" " + description if description else "")
                parameters.append([pname, description.strip()])
            result["parameters"] = parameters
    except OSError as e:
        return invalid(f"cannot read {e.filename}: {e.strerror}")
    result["status"] = True
    return result


def _os_names(directory):
    try:
        entries = sorted(os.listdir(directory))
    except OSError:
        return []
    return [n for n in entries if validation.INSTANCE_NAME.fullmatch(n)]


def diagnose(search_path):
    """Every OS found along C{search_path}, the first of each name (blocks)."""
    seen = set()
    result = []
    for directory in search_path:
        for name in _os_names(directory):
            if name in seen or not os.path.isdir(os.path.join(directory, name)):
                continue
            seen.add(name)
            result.append(load_os(name, directory))
    return result


def find_os(name, search_path):
    """The description of OS C{name} (no variant), or L{OSDefinitionError}."""
    for directory in search_path:
        if os.path.isdir(os.path.join(directory, name)):
            return load_os(name, directory)
    raise OSDefinitionError(
        f"OS {name!r} not found in the search path {':'.join(search_path)}"
    )


def split_os_name(full_name):
    """C{(name, variant or None)} of C{name+variant}, both checked."""
    if not isinstance(full_name, str):
        raise InvalidArgument(f"invalid OS name: {full_name!r}")
    name, plus, variant = full_name.partition("+")
    if not validation.INSTANCE_NAME.fullmatch(name):
        raise InvalidArgument(f"invalid OS name: {full_name!r}")
    if plus and not validation.INSTANCE_NAME.fullmatch(variant):
        raise InvalidArgument(f"invalid OS variant in {full_name!r}")
    return name, (variant if plus else None)


# -- the environment -----------------------------------------------------------


def _text(value):
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def core_environment(os_info, full_name, osparams, debug):
    """The variables every script gets: API version, OS, variant, OSP_*, PATH."""
    api = max(set(os_info["api_versions"]) & set(SUPPORTED_API_VERSIONS))
    _, variant = split_os_name(full_name)
    variants = os_info["variants"]
    if api >= API_V15 and variants:
        if variant is None:
            variant = variants[0]
        elif variant not in variants:
            raise OSDefinitionError(
                f"OS {os_info['name']} has no variant {variant!r}; it has: "
                + ", ".join(variants)
            )
    else:
        variant = ""
    env = {
        "OS_API_VERSION": str(api),
        "OS_NAME": os_info["name"],
        "OS_VARIANT": variant,
        "DEBUG_LEVEL": str(debug),
        "PATH": COMMAND_PATH,
        "LC_ALL": "C",
    }
    for pname, pvalue in osparams.items():
        env["OSP_" + str(pname).upper()] = _text(pvalue)
    return env


_NETWORK_KEYS = (
    ("name", "NAME"),
    ("uuid", "UUID"),
    ("family", "FAMILY"),
    ("network", "SUBNET"),
    ("subnet", "SUBNET"),
    ("gateway", "GATEWAY"),
    ("network6", "SUBNET6"),
    ("subnet6", "SUBNET6"),
    ("gateway6", "GATEWAY6"),
    ("mac_prefix", "MAC_PREFIX"),
)


def instance_environment(instance, os_info, debug, storage):
    """The environment of an instance's OS script (Ganeti's documented set).

    @param instance: from L{validation.instance_dict}.
    @param storage: a L{ganeti_rapi.noded.storage.Storage}, to find disks.
    """
    osparams = dict(instance["osparams"])
    private = instance.get("osparams_private")
    if isinstance(private, dict):
        osparams.update(private)
    env = core_environment(os_info, instance.get("os", os_info["name"]), osparams, debug)
    env["INSTANCE_NAME"] = instance["name"]
    env["INSTANCE_OS"] = _text(instance.get("os", os_info["name"]))
    for key in ("uuid", "ctime", "mtime", "primary_node"):
        if instance.get(key) is not None:
            env["INSTANCE_" + key.upper()] = _text(instance[key])
    secondaries = instance.get("secondary_nodes") or []
    env["INSTANCE_SECONDARY_NODES"] = " ".join(_text(s) for s in secondaries)
    env["HYPERVISOR"] = _text(instance["hypervisor"])
    hvparams = instance["hvparams"]

    env["DISK_COUNT"] = str(len(instance["disks"]))
    for index, disk in enumerate(instance["disks"]):
        path, backend = storage.disk_device(disk)
        prefix = f"DISK_{index}_"
        env[prefix + "PATH"] = path
        env[prefix + "ACCESS"] = _text(disk.get("mode") or "rw")
        if disk.get("uuid"):
            env[prefix + "UUID"] = _text(disk["uuid"])
        if disk.get("name"):
            env[prefix + "NAME"] = _text(disk["name"])
        if hvparams.get("disk_type") is not None:
            env[prefix + "FRONTEND_TYPE"] = _text(hvparams["disk_type"])
        env[prefix + "BACKEND_TYPE"] = backend

    env["NIC_COUNT"] = str(len(instance["nics"]))
    for index, nic in enumerate(instance["nics"]):
        prefix = f"NIC_{index}_"
        nicparams = nic.get("nicparams") if isinstance(nic.get("nicparams"), dict) else {}
        mode = nicparams.get("mode") or nic.get("mode") or "bridged"
        link = nicparams.get("link") or nic.get("link") or ""
        env[prefix + "MAC"] = _text(nic.get("mac"))
        if nic.get("uuid"):
            env[prefix + "UUID"] = _text(nic["uuid"])
        if nic.get("name"):
            env[prefix + "NAME"] = _text(nic["name"])
        if nic.get("ip"):
            env[prefix + "IP"] = _text(nic["ip"])
        env[prefix + "MODE"] = _text(mode)
        if mode == "bridged":
            env[prefix + "BRIDGE"] = _text(link)
        if link:
            env[prefix + "LINK"] = _text(link)
        netinfo = nic.get("netinfo")
        if isinstance(netinfo, dict):
            for key, suffix in _NETWORK_KEYS:
                if netinfo.get(key) is not None:
                    env[prefix + "NETWORK_" + suffix] = _text(netinfo[key])
            tags = netinfo.get("tags")
            if tags:
                env[prefix + "NETWORK_TAGS"] = " ".join(_text(t) for t in tags)
        if hvparams.get("nic_type") is not None:
            env[prefix + "FRONTEND_TYPE"] = _text(hvparams["nic_type"])

    for kind, params in (("BE", instance["beparams"]), ("HV", hvparams)):
        for key, value in params.items():
            env[f"INSTANCE_{kind}_{key}"] = _text(value)
    return env


# -- running scripts -----------------------------------------------------------


def _tail(path, lines=LOG_TAIL_LINES):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read()
    except OSError:
        return ""
    text = data.decode("utf-8", "replace").rstrip("\n")
    return "\n".join(text.split("\n")[-lines:])


_SETSID = []


def _setsid():
    """The path of util-linux's C{setsid}, or L{None} (blocks the first time)."""
    if not _SETSID:
        _SETSID.append(shutil.which("setsid", path=COMMAND_PATH))
    return _SETSID[0]


def _in_own_group(setsid, argv):
    """C{argv} run as the leader of a new session and process group.

    A script past its timeout is then killed together with everything it
    started (debootstrap, mounts helpers...), not just its shell.
    """
    if not setsid:
        return argv
    return [setsid, "--wait"] + argv


def _remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _close_all(fds):
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


class OSScripts:
    """The OS procedures of one node.

    @param search_path: directories searched for OS definitions, in order.
    @param log_dir: where script logs are written.
    @param export_dir: where export files are written and imports read.
    @param runtime: a L{ganeti_rapi.noded.runtime.Runtime}.
    @param storage: a L{ganeti_rapi.noded.storage.Storage}.
    @param timeout: seconds a script may run before it is killed.
    """

    def __init__(self, search_path, log_dir, export_dir, runtime, storage,
                 timeout=DEFAULT_SCRIPT_TIMEOUT):
        self.search_path = [os.path.abspath(p) for p in search_path]
        self.log_dir = os.path.abspath(log_dir)
        self.export_dir = os.path.abspath(export_dir)
        self.runtime = runtime
        self.storage = storage
        self.timeout = timeout

    # -- definitions

    def diagnose(self):
        return self.runtime.in_thread(diagnose, self.search_path)

    def get(self, name):
        base, _ = split_os_name(name)
        return self.runtime.in_thread(find_os, base, self.search_path)

    async def _usable_os(self, full_name):
        base, _ = split_os_name(full_name)
        os_info = await self.runtime.in_thread(find_os, base, self.search_path)
        if not os_info["status"]:
            raise OSDefinitionError(
                f"OS {base} at {os_info['path']} is not valid: {os_info['diagnose']}"
            )
        return os_info

    # -- files

    def _open_log(self, kind, os_name, instance_name):
        os.makedirs(self.log_dir, mode=0o750, exist_ok=True)
        stamp = time.strftime("%Y-%m-%d_%H_%M_%S")
        base = os.path.join(self.log_dir, f"{kind}-{os_name}-{instance_name}-{stamp}")
        for attempt in range(1000):
            path = base + (f"-{attempt}" if attempt else "") + ".log"
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o640)
            except FileExistsError:
                continue
            return path, fd
        raise OSScriptError(f"cannot create a log file like {base}.log")

    def _export_path(self, path, what):
        """An absolute path inside the export directory (blocks)."""
        full = os.path.join(self.export_dir, path)
        os.makedirs(os.path.dirname(full), mode=0o750, exist_ok=True)
        if not validation.inside(self.export_dir, full):
            raise InvalidArgument(f"{what} {path!r} leads out of the export directory")
        return full

    def _prepare(self, kind, os_name, instance_name, disk_files, stdin=None, stdout=None):
        """Open the log, stdin and stdout (blocks).

        @param disk_files: absolute paths of file disks, checked to stay
            inside the file storage directory.
        @param stdin: C{(path, what)} of a file in the export directory to
            read, or L{None} for C{/dev/null}.
        @param stdout: C{(path, what)} of a file in the export directory to
            write, or L{None} for the log.
        @return: C{(log_path, child_fds, fds_to_close, stdout_path)}.
        """
        for path in disk_files:
            self.storage.check_disk_file(path)
        fds = []
        try:
            if stdin is None:
                in_fd = os.open(os.devnull, os.O_RDONLY)
            else:
                full = self._export_path(*stdin)
                try:
                    in_fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW)
                except FileNotFoundError:
                    raise OSScriptError(f"{stdin[1]} {stdin[0]} does not exist") from None
            fds.append(in_fd)
            out_path = None
            if stdout is not None:
                out_path = self._export_path(*stdout)
                out_fd = os.open(
                    out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600
                )
                fds.append(out_fd)
            log_path, log_fd = self._open_log(kind, os_name, instance_name)
            fds.append(log_fd)
        except BaseException:
            _close_all(fds)
            raise
        child_fds = {0: in_fd, 1: out_fd if stdout is not None else log_fd, 2: log_fd}
        return log_path, child_fds, fds, out_path, _setsid()

    async def _run(self, kind, os_info, script, args, env, instance_name, disk_files,
                   stdin=None, stdout=None):
        log_path, child_fds, fds, out_path, setsid = await self.runtime.in_thread(
            self._prepare, kind, os_info["name"], instance_name, disk_files, stdin, stdout
        )
        try:
            d = self.runtime.run(
                _in_own_group(setsid, [os.path.join(os_info["path"], script)] + list(args)),
                env=env,
                path=os_info["path"],
                timeout=self.timeout,
                child_fds=child_fds,
                own_group=bool(setsid),
            )
        finally:
            await self.runtime.in_thread(_close_all, fds)
        result = await d
        if not result.succeeded:
            if out_path is not None:
                await self.runtime.in_thread(_remove_quietly, out_path)
            tail = await self.runtime.in_thread(_tail, log_path)
            raise OSScriptError(
                f"OS {script} script of {os_info['name']} for {instance_name} failed "
                f"({result.describe(self.timeout)}); last lines of {log_path}:\n{tail}"
            )
        return log_path, out_path

    async def _instance_run(self, kind, script, instance, debug, extra_env=None,
                            stdin=None, stdout=None, env_name=None):
        instance = validation.instance_dict(instance)
        debug = validation.int_param({"debug": debug}, "debug", 0)
        os_info = await self._usable_os(instance.get("os"))
        env = instance_environment(instance, os_info, debug, self.storage)
        env.update(extra_env or {})
        disk_files = [
            env[f"DISK_{i}_PATH"]
            for i in range(len(instance["disks"]))
            if env[f"DISK_{i}_BACKEND_TYPE"].startswith("file:")
        ]
        return await self._run(
            kind, os_info, script, [], env, instance["name"], disk_files, stdin, stdout
        )

    def _disk_env(self, instance, disk_index, prefix):
        instance = validation.instance_dict(instance)
        disks = instance["disks"]
        if (
            isinstance(disk_index, bool)
            or not isinstance(disk_index, int)
            or not 0 <= disk_index < len(disks)
        ):
            raise InvalidArgument(
                f"disk_index {disk_index!r} is not a disk of {instance['name']} "
                f"(it has {len(disks)})"
            )
        path, _ = self.storage.disk_device(disks[disk_index])
        return {
            f"{prefix}_INDEX": str(disk_index),
            f"{prefix}_DISK_PATH": path,
            f"{prefix}_DEVICE": path,
        }

    # -- procedures

    async def create(self, instance, reinstall=False, debug=0):
        extra = {"INSTANCE_REINSTALL": "1"} if reinstall else {}
        log_path, _ = await self._instance_run(KIND_CREATE, "create", instance, debug, extra)
        return {"log_file": log_path}

    async def rename(self, instance, old_name, debug=0):
        validation.instance_name(old_name)
        extra = {"OLD_INSTANCE_NAME": old_name}
        log_path, _ = await self._instance_run(KIND_RENAME, "rename", instance, debug, extra)
        return {"log_file": log_path}

    async def export(self, instance, disk_index, destination_path, debug=0):
        validation.relative_path(destination_path, "destination_path")
        extra = self._disk_env(instance, disk_index, "EXPORT")
        log_path, out_path = await self._instance_run(
            KIND_EXPORT, "export", instance, debug, extra,
            stdout=(destination_path, "destination_path"),
        )
        size = await self.runtime.in_thread(os.path.getsize, out_path)
        return {"log_file": log_path, "path": out_path, "size_bytes": size}

    async def import_(self, instance, disk_index, source_path, debug=0):
        validation.relative_path(source_path, "source_path")
        extra = self._disk_env(instance, disk_index, "IMPORT")
        log_path, _ = await self._instance_run(
            KIND_IMPORT, "import", instance, debug, extra,
            stdin=(source_path, "source_path"),
        )
        return {"log_file": log_path}

    async def verify(self, name, osparams=None):
        """Check OS parameters: known to the OS, and accepted by its C{verify}."""
        if osparams is None:
            osparams = {}
        if not isinstance(osparams, dict):
            raise InvalidArgument("osparams must be a JSON object")
        os_info = await self._usable_os(name)
        api = max(set(os_info["api_versions"]) & set(SUPPORTED_API_VERSIONS))
        if api < API_V20:
            if osparams:
                raise OSDefinitionError(
                    f"OS {os_info['name']} (API {api}) takes no parameters"
                )
            return {"name": os_info["name"], "verified": False}
        known = {p[0] for p in os_info["parameters"]}
        unknown = sorted(set(osparams) - known)
        if unknown:
            raise OSDefinitionError(
                f"OS {os_info['name']} has no parameter(s) {', '.join(unknown)}"
            )
        script = os.path.join(os_info["path"], VERIFY_SCRIPT)
        exists = await self.runtime.in_thread(os.path.exists, script)
        if not exists:
            return {"name": os_info["name"], "verified": False}
        env = core_environment(os_info, name, osparams, 0)
        setsid = await self.runtime.in_thread(_setsid)
        result = await self.runtime.run(
            _in_own_group(setsid, [script, "parameters"]),
            env=env,
            path=os_info["path"],
            timeout=self.timeout,
            own_group=bool(setsid),
        )
        if not result.succeeded:
            raise OSScriptError(
                f"OS parameters of {os_info['name']} were refused by its verify "
                f"script ({result.describe(self.timeout)}): {result.output_text()}"
            )
        return {"name": os_info["name"], "verified": True}
