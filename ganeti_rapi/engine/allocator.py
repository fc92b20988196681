# -*- test-case-name: tests.test_instances -*-
"""Placing instances on nodes: resource accounting and the built-in allocator.

What a node can take is read live from its daemon (C{node_info}: free
memory, less what running instances use, and file-storage space), as
Ganeti checks free memory before it starts an instance.  The built-in allocator picks, among the nodes that fit, the one
with the most free memory, the way htools' C{hail} prefers balanced nodes.
External allocators (C{hail} itself) are run by
L{ganeti_rapi.engine.iallocator}.
"""

import re

from twisted.internet import defer

from ganeti_rapi.engine.errors import ECODE_INVAL, ECODE_NORES, OpPrereqError
from ganeti_rapi.engine.noderpc import LIVE_DATA_TIMEOUT

#: The name of the built-in allocator (what C{iallocator} may say).
BUILTIN = "builtin"


class Need:
    """What an instance needs of a node: memory (MiB) and disk (MiB)."""

    def __init__(self, memory, disk):
        self.memory = memory
        self.disk = disk


def eligible_nodes(config, group_name=None):
    """Nodes an instance may be placed on: online, undrained, VM-capable."""
    nodes = [
        n for n in config.nodes() if n.vm_capable and not n.offline and not n.drained
    ]
    if group_name is not None:
        group = config.find_group(group_name)
        nodes = [n for n in nodes if n.group == group.uuid]
    return sorted(nodes, key=lambda n: n.name)


@defer.inlineCallbacks
def node_resources(env, nodes):
    """C{{node uuid: (free memory, free disk)}} of the nodes that answered."""
    outcomes = yield env.nodes.call_nodes(nodes, "node_info", LIVE_DATA_TIMEOUT)
    free = {}
    for node in nodes:
        ok, info = outcomes.get(node.uuid, (False, None))
        if ok and isinstance(info, dict) and info.get("mfree") is not None:
            free[node.uuid] = (info["mfree"], info.get("dfree"))
    return free


def fits(resources, need):
    memory, disk = resources
    if memory < need.memory:
        return False
    return need.disk == 0 or (disk is not None and disk >= need.disk)


@defer.inlineCallbacks
def check_fits(env, node, need, what):
    """Fail with C{insufficient_resources} unless C{node} can take C{need}."""
    free = yield node_resources(env, [node])
    if node.uuid not in free:
        # An unreachable node: the caller's RPC will say so more precisely.
        return
    memory, disk = free[node.uuid]
    if memory < need.memory:
        raise OpPrereqError(
            "Not enough memory on node %s for %s: needed %s MiB, available %s MiB"
            % (node.name, what, need.memory, memory),
            ECODE_NORES,
        )
    if need.disk and (disk is None or disk < need.disk):
        raise OpPrereqError(
            "Not enough disk space on node %s for %s: needed %s MiB, available %s MiB"
            % (node.name, what, need.disk, disk),
            ECODE_NORES,
        )


@defer.inlineCallbacks
def allocate(env, need, group_name=None, count=1, exclude=(), reserved=None):
    """Choose C{count} distinct nodes for an instance with the built-in allocator.

    @param reserved: C{{node uuid: (memory, disk)}} already promised to
        other instances of the same request (multi-allocation), taken off
        what the nodes report as free.
    @return: a list of node objects, the primary first.
    @raise OpPrereqError: C{insufficient_resources} if not enough nodes fit.
    """
    nodes = [n for n in eligible_nodes(env.config, group_name) if n.uuid not in exclude]
    if not nodes:
        raise OpPrereqError("No node can host instances", ECODE_NORES)
    free = yield node_resources(env, nodes)
    for uuid, (memory, disk) in (reserved or {}).items():
        if uuid in free:
            free_memory, free_disk = free[uuid]
            free[uuid] = (free_memory - memory,
                          None if free_disk is None else free_disk - disk)
    candidates = [n for n in nodes if n.uuid in free and fits(free[n.uuid], need)]
    candidates.sort(key=lambda n: (-free[n.uuid][0], n.name))
    if len(candidates) < count:
        raise OpPrereqError(
            "Can't find %d node(s) with %d MiB of memory and %d MiB of disk free:"
            " %d of %d nodes fit" % (count, need.memory, need.disk, len(candidates),
                                     len(nodes)),
            ECODE_NORES,
        )
    return candidates[:count]


#: What an external allocator's name may look like: a file name, never a path.
VALID_NAME = re.compile(r"^[\w.-]+$")


def check_allocator_name(name):
    """Refuse what cannot name an allocator.

    Allowed: nothing, Ganeti's C{"."} (the cluster's default),
    L{BUILTIN}, or the file name of an external allocator program
    (L{ganeti_rapi.engine.iallocator} looks it up in its search path).
    """
    if name in (None, "", ".", BUILTIN):
        return
    if not isinstance(name, str) or not VALID_NAME.match(name) or name == "..":
        raise OpPrereqError("Invalid instance allocator name %r" % (name,), ECODE_INVAL)
