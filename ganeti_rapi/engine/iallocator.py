# -*- test-case-name: tests.test_migration -*-
"""External instance allocators, spoken to by Ganeti's iallocator protocol.

An allocator is a program (htools' C{hail} is the usual one) given the
path of a JSON file describing the cluster and one request; it prints a
JSON object C{{"success": bool, "info": str, "result": ...}}.  The input
is built here from the configuration and live node data (C{node_info} and
C{all_instances_info} of every node), with the keys Ganeti's masters send
(C{doc/iallocator.rst} of Ganeti): C{version}, C{cluster_name},
C{cluster_tags}, C{enabled_hypervisors}, C{ipolicy}, C{nodegroups},
C{nodes}, C{instances} and C{request}.

Request types: C{allocate} (a new instance; the result lists its nodes),
C{relocate} (an existing instance leaves the nodes in C{relocate_from};
the result lists where it goes) and C{multi-allocate} (several new
instances; the result is C{[[[name, [nodes]], ...], [failed names]]}).

Programs are looked up by name only (C{^[\\w.-]+$}), never by a path from
a request: in Ganeti's search path (L{SEARCH_PATH}), and for the htools
allocators (L{PATH_NAMES}) also in C{$PATH}.  The master runs them itself
with the reactor's C{spawnProcess}; the input file is written, and
removed, in a thread, and a program running past its timeout is killed.
A node that does not answer is described as offline, so one dead node
does not stop every placement.
"""

import os
import tempfile

from twisted.internet import defer, error, protocol
from twisted.logger import Logger

from ganeti_rapi import jsonutil
from ganeti_rapi.engine import allocator
from ganeti_rapi.engine.errors import (
    ECODE_ENVIRON,
    ECODE_INVAL,
    ECODE_NORES,
    OpExecError,
    OpPrereqError,
)
from ganeti_rapi.engine.noderpc import LIVE_DATA_TIMEOUT
from ganeti_rapi.engine.objects import copy_json
from ganeti_rapi.engine.params import fill_dict, instance_beparams, nic_params

log = Logger()

#: Where allocators are looked for, in order (Ganeti's IALLOCATOR_SEARCH_PATH).
SEARCH_PATH = ("/usr/local/lib/ganeti/iallocators", "/usr/lib/ganeti/iallocators")

#: Allocators also looked for in C{$PATH} (htools installs C{hail} there on
#: some systems).  Other names are not: a name from a request must never
#: run an arbitrary program.
PATH_NAMES = frozenset(["hail"])

#: The protocol version in the input (Ganeti's IALLOCATOR_VERSION).
PROTOCOL_VERSION = 2

#: Seconds an allocator may run before it is killed.
DEFAULT_TIMEOUT = 300

#: The most output read from an allocator, in bytes.
MAX_OUTPUT = 32 * 1024 * 1024

#: What Ganeti calls "the cluster's default allocator" in an opcode.
DEFAULT_SHORTCUT = "."

MODE_ALLOCATE = "allocate"
MODE_RELOCATE = "relocate"
MODE_MULTI_ALLOCATE = "multi-allocate"

#: Templates whose disks the instance's nodes keep (Ganeti's DTS_INT_MIRROR):
#: an allocation needs a secondary node too.
INT_MIRROR = frozenset(["drbd"])

#: Templates whose size does not count on any node (Ganeti's ComputeDiskSize).
_NO_DISK_SPACE = frozenset(["diskless", "blockdev"])

#: DRBD metadata per disk, in MiB.
_DRBD_META_SIZE = 128


# -- which allocator -----------------------------------------------------------------


def effective_name(config, name):
    """The allocator an opcode's C{iallocator} means.

    Nothing (or Ganeti's C{"."}) means the cluster's C{default_iallocator},
    and without one the built-in allocator (L{allocator.BUILTIN}).

    @raise OpPrereqError: C{wrong_input} for a name that is not one.
    """
    allocator.check_allocator_name(name)
    if name in (None, "", DEFAULT_SHORTCUT):
        name = config.cluster.default_iallocator or allocator.BUILTIN
        allocator.check_allocator_name(name)
    return name


def is_external(name):
    return name not in (None, "", DEFAULT_SHORTCUT, allocator.BUILTIN)


# -- the input ---------------------------------------------------------------------


def disk_space(template, sizes):
    """The space an instance's disks take on a node (Ganeti's ComputeDiskSize)."""
    if template in _NO_DISK_SPACE:
        return 0
    if template in INT_MIRROR:
        return sum(size + _DRBD_META_SIZE for size in sizes)
    return sum(sizes)


def required_nodes(template):
    return 2 if template in INT_MIRROR else 1


def _nic_data(cluster, nic):
    params = nic_params(cluster, nic)
    data = {
        "mac": nic.mac,
        "ip": nic.ip,
        "mode": params.get("mode"),
        "link": params.get("link"),
        "network": nic.network,
    }
    if params.get("mode") == "bridged":
        data["bridge"] = params.get("link")
    return data


def _instance_spec(cluster, instance):
    """What allocation requests and instance entries share."""
    beparams = instance_beparams(cluster, instance)
    disks = [
        {"size": d.size, "mode": d.mode, "spindles": d.spindles} for d in instance.disks
    ]
    return {
        "tags": sorted(instance.tags),
        "vcpus": beparams.get("vcpus", 1),
        "memory": beparams.get("maxmem", 0),
        "spindle_use": beparams.get("spindle_use", 1),
        "os": instance.os,
        "nics": [_nic_data(cluster, n) for n in instance.nics],
        "disks": disks,
        "disk_template": instance.disk_template,
        "disk_space_total": disk_space(instance.disk_template, [d.size for d in instance.disks]),
        "hypervisor": instance.hypervisor,
    }


def group_ipolicy(cluster, group):
    """A group's instance policy filled from the cluster's."""
    policy = fill_dict(cluster.ipolicy, group.ipolicy)
    if "std" in (group.ipolicy or {}):
        policy["std"] = fill_dict(cluster.ipolicy.get("std"), group.ipolicy["std"])
    return copy_json(policy)


def node_ndparams(config, node):
    group = config.group(node.group)
    filled = fill_dict(config.cluster.ndparams, group.ndparams if group else None)
    return copy_json(fill_dict(filled, node.ndparams))


class LiveData:
    """What the nodes said: C{node_info} and C{all_instances_info} per node uuid."""

    def __init__(self, info, instances):
        self.info = info
        self.instances = instances


@defer.inlineCallbacks
def gather(env, nodes):
    """Ask every online, VM-capable node of C{nodes} at once; a L{LiveData}."""
    asked = [n for n in nodes if n.vm_capable and not n.offline]
    info, running = yield defer.gatherResults([
        env.nodes.call_nodes(asked, "node_info", LIVE_DATA_TIMEOUT),
        env.nodes.call_nodes(asked, "all_instances_info", LIVE_DATA_TIMEOUT),
    ])
    infos, instances = {}, {}
    for node in asked:
        ok, value = info.get(node.uuid, (False, None))
        ok2, value2 = running.get(node.uuid, (False, None))
        if ok and ok2 and isinstance(value, dict) and isinstance(value2, dict):
            if value.get("mfree") is not None:
                infos[node.uuid] = value
                instances[node.uuid] = value2
    return LiveData(infos, instances)


def _int(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def build_input(config, live, request):
    """The allocator's input document (a dict) for C{request}."""
    cluster = config.cluster
    filled_be = {i.uuid: instance_beparams(cluster, i) for i in config.instances()}

    groups = {}
    for group in config.groups():
        groups[group.uuid] = {
            "name": group.name,
            "alloc_policy": group.alloc_policy,
            "networks": sorted(group.networks),
            "ipolicy": group_ipolicy(cluster, group),
            "tags": sorted(group.tags),
        }

    nodes = {}
    for node in config.nodes():
        answered = node.uuid in live.info
        entry = {
            "tags": sorted(node.tags),
            "primary_ip": node.primary_ip,
            "secondary_ip": node.secondary_ip,
            # A node that did not answer cannot take anything.
            "offline": node.offline or (node.vm_capable and not answered),
            "drained": node.drained,
            "master_candidate": node.master_candidate,
            "group": node.group,
            "master_capable": node.master_capable,
            "vm_capable": node.vm_capable,
            "ndparams": node_ndparams(config, node),
            "hv_state": copy_json(node.hv_state),
        }
        if answered:
            info = live.info[node.uuid]
            running = live.instances[node.uuid]
            free = _int(info.get("mfree"))
            pri_memory = pri_up_memory = 0
            for instance in config.instances():
                if instance.primary_node != node.uuid:
                    continue
                maxmem = _int(filled_be[instance.uuid].get("maxmem"))
                pri_memory += maxmem
                if instance.admin_state == "up":
                    pri_up_memory += maxmem
                    used = _int((running.get(instance.name) or {}).get("memory"))
                    # Memory an instance that should run may still claim.
                    free -= max(0, maxmem - used)
            entry.update({
                "total_memory": _int(info.get("mtotal")),
                "reserved_memory": _int(info.get("mnode")),
                "free_memory": max(0, free),
                "total_disk": _int(info.get("dtotal")),
                "free_disk": _int(info.get("dfree")),
                "total_spindles": _int(info.get("sptotal")),
                "free_spindles": _int(info.get("spfree")),
                "total_cpus": _int(info.get("ctotal")) or 1,
                "reserved_cpus": min(_int(info.get("cnos")), _int(info.get("ctotal"))),
                "i_pri_memory": pri_memory,
                "i_pri_up_memory": pri_up_memory,
            })
        nodes[node.name] = entry

    instances = {}
    for instance in config.instances():
        spec = _instance_spec(cluster, instance)
        primary = config.node(instance.primary_node)
        spec.update({
            "admin_state": instance.admin_state,
            "nodes": [primary.name if primary else instance.primary_node]
            + [config.node(n).name for n in instance.secondary_nodes if config.node(n)],
            "disks_active": instance.disks_active,
        })
        instances[instance.name] = spec

    return {
        "version": PROTOCOL_VERSION,
        "cluster_name": cluster.cluster_name,
        "cluster_tags": sorted(cluster.tags),
        "enabled_hypervisors": list(cluster.enabled_hypervisors),
        "hypervisor_type": cluster.default_hypervisor,
        "ipolicy": copy_json(cluster.ipolicy),
        "nodegroups": groups,
        "nodes": nodes,
        "instances": instances,
        "request": request,
    }


def allocate_request(config, instance, group_name=None):
    """An C{allocate} request for C{instance}, an object not yet in the config."""
    request = _instance_spec(config.cluster, instance)
    request.update({
        "type": MODE_ALLOCATE,
        "name": instance.name,
        "group_name": group_name,
        "required_nodes": required_nodes(instance.disk_template),
    })
    return request


def relocate_request(config, instance, relocate_from):
    """A C{relocate} request: C{instance} leaves the nodes C{relocate_from}."""
    return {
        "type": MODE_RELOCATE,
        "name": instance.name,
        "disk_space_total": disk_space(instance.disk_template,
                                       [d.size for d in instance.disks]),
        "required_nodes": 1,
        "relocate_from": [n.name for n in relocate_from],
    }


def multi_allocate_request(config, instances, group_name=None):
    """A C{multi-allocate} request for new instances (objects not in the config)."""
    return {
        "type": MODE_MULTI_ALLOCATE,
        "instances": [allocate_request(config, i, group_name) for i in instances],
    }


# -- the output --------------------------------------------------------------------


def parse_output(name, text):
    """C{(success, info, result)} from an allocator's output.

    @raise OpExecError: the output is not what the protocol says.
    """
    try:
        data = jsonutil.loads(text)
    except jsonutil.JSONDecodeError as e:
        raise OpExecError("Can't parse iallocator results of '%s': %s" % (name, e))
    if not isinstance(data, dict):
        raise OpExecError("Can't parse iallocator results of '%s': not a dict" % name)
    if "nodes" in data and "result" not in data:
        # The protocol's first version.
        data["result"] = data.pop("nodes")
    for key in ("success", "info", "result"):
        if key not in data:
            raise OpExecError(
                "Can't parse iallocator results of '%s': missing key '%s'" % (name, key)
            )
    return bool(data["success"]), str(data["info"]), data["result"]


def _node_list(config, name, result, count):
    """Nodes named by a result that must be C{count} distinct known node names."""
    if (not isinstance(result, list) or len(result) != count
            or not all(isinstance(n, str) for n in result) or len(set(result)) != count):
        raise OpExecError(
            "iallocator '%s' returned an invalid result: expected %d node name(s), got %r"
            % (name, count, result)
        )
    nodes = []
    for node_name in result:
        node = config.node_by_name(node_name)
        if node is None:
            raise OpExecError(
                "iallocator '%s' chose node '%s', which is not in the cluster"
                % (name, node_name)
            )
        nodes.append(node)
    return nodes


# -- running a program -------------------------------------------------------------


def find_program(name, search_path=SEARCH_PATH, path_names=PATH_NAMES, environ=None):
    """The executable of allocator C{name}, or L{None} (blocking: stats files)."""
    allocator.check_allocator_name(name)
    directories = list(search_path)
    if name in path_names:
        environ = os.environ if environ is None else environ
        directories += [d for d in environ.get("PATH", "").split(os.pathsep) if d]
    for directory in directories:
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


class _Collector(protocol.ProcessProtocol):
    def __init__(self, limit):
        self.limit = limit
        self.out = bytearray()
        self.err = bytearray()
        self.too_much = False
        self.ended = defer.Deferred()

    def outReceived(self, data):
        if len(self.out) + len(data) > self.limit:
            self.too_much = True
            self._kill()
            return
        self.out += data

    def errReceived(self, data):
        # Only the end of what it wrote to stderr is kept, for messages.
        self.err += data
        del self.err[:-8192]

    def _kill(self):
        try:
            self.transport.signalProcess("KILL")
        except (error.ProcessExitedAlready, OSError):
            pass

    def processEnded(self, reason):
        self.ended.callback(reason.value)


def _threads(f, *args):
    from twisted.internet import threads

    return threads.deferToThread(f, *args)


class AllocatorRunner:
    """Runs allocator programs on the master.

    @param reactor: provides C{spawnProcess} and C{callLater}.
    @param run_in_thread: C{run_in_thread(f, *args) -> Deferred} for the
        input file (C{deferToThread} when not given).
    @param search_path: directories searched for allocators.
    @param path_names: names also searched in C{$PATH}.
    @param timeout: seconds before a running allocator is killed.
    """

    def __init__(self, reactor, run_in_thread=None, search_path=SEARCH_PATH,
                 path_names=PATH_NAMES, timeout=DEFAULT_TIMEOUT, tmp_dir=None):
        self.reactor = reactor
        self.run_in_thread = run_in_thread or _threads
        self.search_path = tuple(search_path)
        self.path_names = frozenset(path_names)
        self.timeout = timeout
        self.tmp_dir = tmp_dir

    def _prepare(self, name, document):
        """In a thread: find the program and write its input file."""
        program = find_program(name, self.search_path, self.path_names)
        if program is None:
            raise OpPrereqError(
                "iallocator '%s' not found in the search path (%s)"
                % (name, ", ".join(self.search_path)),
                ECODE_INVAL,
            )
        data = jsonutil.dumps_text(document).encode("utf-8")
        fd, path = tempfile.mkstemp(prefix="ganeti-iallocator.", dir=self.tmp_dir)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        except BaseException:
            os.unlink(path)
            raise
        return program, path

    @staticmethod
    def _remove(path):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    @defer.inlineCallbacks
    def run(self, name, document, args=()):
        """Run allocator C{name} on C{document}; a Deferred of its output (bytes).

        @raise OpPrereqError: C{wrong_input} if there is no such allocator.
        @raise OpExecError: it could not run, failed, or ran too long.
        """
        program, path = yield self.run_in_thread(self._prepare, name, document)
        try:
            collector = _Collector(MAX_OUTPUT)
            env = dict(os.environ)
            env["LC_ALL"] = "C.UTF-8"
            argv = [program, path] + [str(a) for a in args]
            try:
                self.reactor.spawnProcess(collector, program, argv, env=env, path="/")
            except OSError as e:
                raise OpExecError("Can't run iallocator '%s': %s" % (name, e))
            timed_out = []

            def expire():
                timed_out.append(True)
                collector._kill()

            timer = self.reactor.callLater(self.timeout, expire)
            try:
                ended = yield collector.ended
            finally:
                if timer.active():
                    timer.cancel()
        finally:
            yield self.run_in_thread(self._remove, path)
        stderr = collector.err.decode("utf-8", "replace").strip()
        if timed_out:
            raise OpExecError(
                "iallocator '%s' did not finish within %d seconds" % (name, self.timeout)
            )
        if collector.too_much:
            raise OpExecError("iallocator '%s' wrote more than %d bytes" % (name, MAX_OUTPUT))
        if not isinstance(ended, error.ProcessDone):
            raise OpExecError(
                "iallocator '%s' failed (exit code %s, signal %s): %s"
                % (name, ended.exitCode, ended.signal, stderr or bytes(collector.out)[-2000:])
            )
        return bytes(collector.out)


# -- what units call -------------------------------------------------------------------


def _runner(env):
    runner = getattr(env, "iallocators", None)
    if runner is None:
        raise OpPrereqError(
            "This master cannot run external instance allocators", ECODE_ENVIRON
        )
    if getattr(env, "nodes", None) is None:
        raise OpPrereqError("This master cannot reach node daemons", ECODE_ENVIRON)
    return runner


def allocator_args(config, name):
    """Command-line arguments from the cluster's C{default_iallocator_params}."""
    if name != config.cluster.default_iallocator:
        return []
    params = config.cluster.default_iallocator_params or {}
    return ["--%s=%s" % (key, params[key]) for key in sorted(params)]


@defer.inlineCallbacks
def run(env, name, request):
    """Run allocator C{name} on C{request}; its C{result} when it succeeded.

    @raise OpPrereqError: C{insufficient_resources} with the allocator's
        C{info} when it says it could not.
    """
    runner = _runner(env)
    config = env.config
    live = yield gather(env, config.nodes())
    document = build_input(config, live, request)
    output = yield runner.run(name, document, allocator_args(config, name))
    success, info, result = parse_output(name, output)
    if not success:
        raise OpPrereqError(
            "Can't compute nodes using iallocator '%s': %s" % (name, info), ECODE_NORES
        )
    if hasattr(env, "feedback") and info:
        yield env.feedback("iallocator '%s': %s" % (name, info))
    return result


@defer.inlineCallbacks
def allocate(env, name, instance, group_name=None):
    """The nodes allocator C{name} chooses for new C{instance}, primary first."""
    request = allocate_request(env.config, instance, group_name)
    result = yield run(env, name, request)
    return _node_list(env.config, name, result, request["required_nodes"])


@defer.inlineCallbacks
def relocate(env, name, instance, relocate_from):
    """The node allocator C{name} moves C{instance} to, away from C{relocate_from}."""
    request = relocate_request(env.config, instance, relocate_from)
    result = yield run(env, name, request)
    (node,) = _node_list(env.config, name, result, 1)
    if node.uuid in {n.uuid for n in relocate_from}:
        raise OpExecError(
            "iallocator '%s' chose node %s, which the instance is to leave"
            % (name, node.name)
        )
    return node


@defer.inlineCallbacks
def multi_allocate(env, name, instances, group_name=None):
    """Place several new instances at once.

    @return: C{({instance name: [node, ...]}, [names that could not be placed])}.
    """
    request = multi_allocate_request(env.config, instances, group_name)
    result = yield run(env, name, request)
    wanted = {i.name: required_nodes(i.disk_template) for i in instances}
    if not (isinstance(result, list) and len(result) == 2
            and isinstance(result[0], list) and isinstance(result[1], list)):
        raise OpExecError("iallocator '%s' returned an invalid result: %r" % (name, result))
    placed = {}
    for item in result[0]:
        if (not isinstance(item, list) or len(item) != 2 or item[0] not in wanted
                or item[0] in placed):
            raise OpExecError(
                "iallocator '%s' returned an invalid result: %r" % (name, result)
            )
        placed[item[0]] = _node_list(env.config, name, item[1], wanted[item[0]])
    failed = [n for n in result[1] if n in wanted and n not in placed]
    return placed, failed
