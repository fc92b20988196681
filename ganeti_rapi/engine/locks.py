# -*- test-case-name: tests.test_locks -*-
"""Shared and exclusive locks on the cluster's entities.

A lock is named by a level and a name, for example C{("instance",
"inst1.example.com")}.  The name L{ALL} stands for the whole level: an
exclusive C{ALL} conflicts with every lock of its level, a shared C{ALL}
with every exclusive one.

A job asks for all the locks an opcode needs at once with
L{LockManager.acquire} and gets a L{LockSet} back.  Deadlocks are avoided
by taking the levels in one fixed order (L{LEVELS}); within a level the
locks of one set are granted together, never some of them while the set
waits for the others, which is what taking them in sorted name order
amounts to, and which stays deadlock-free when C{ALL} and single names mix.

Waiting is fair: a request waits behind every earlier request at its level
that it conflicts with, even if the lock is free for it right now, so a
stream of shared requests cannot starve an exclusive one.  Requests for
unrelated locks do not wait for each other.
"""

from twisted.internet import defer
from twisted.logger import Logger

LEVEL_CLUSTER = "cluster"
LEVEL_INSTANCE = "instance"
LEVEL_GROUP = "nodegroup"
LEVEL_NODE = "node"
LEVEL_NETWORK = "network"

#: The levels in acquisition order.
LEVELS = (LEVEL_CLUSTER, LEVEL_INSTANCE, LEVEL_GROUP, LEVEL_NODE, LEVEL_NETWORK)

#: The name that means "every lock of the level".
ALL = None

MODE_EXCLUSIVE = "exclusive"
MODE_SHARED = "shared"


def _name_key(name):
    # ALL sorts before every name of its level.
    return (name is not ALL, name or "")


class _Table:
    """Counts of shared and exclusive claims per name of one level.

    Used both for what is held and for what earlier waiters want, so one
    conflict test serves both.
    """

    __slots__ = ("names", "exclusive", "total")

    def __init__(self):
        self.names = {}  # name -> [exclusive count, shared count]
        self.exclusive = 0
        self.total = 0

    def add(self, locks, sign=1):
        for name, exclusive in locks.items():
            counts = self.names.get(name)
            if counts is None:
                counts = self.names[name] = [0, 0]
            counts[0 if exclusive else 1] += sign
            if counts == [0, 0]:
                del self.names[name]
            self.total += sign
            if exclusive:
                self.exclusive += sign

    def remove(self, locks):
        self.add(locks, -1)

    def conflicts(self, locks):
        """Whether any of C{locks} ({name: exclusive}) conflicts with us."""
        whole = self.names.get(ALL, (0, 0))
        for name, exclusive in locks.items():
            if name is ALL:
                if self.total if exclusive else self.exclusive:
                    return True
                continue
            counts = self.names.get(name, (0, 0))
            if exclusive:
                if counts[0] or counts[1] or whole[0] or whole[1]:
                    return True
            elif counts[0] or whole[0]:
                return True
        return False


class _Level:
    """The holders and the waiters of one level."""

    __slots__ = ("name", "held", "holders", "queue", "waiting")

    def __init__(self, name):
        self.name = name
        self.held = _Table()
        # name -> {lock set: exclusive}, in the order the locks were granted
        self.holders = {}
        # lock set -> {name: exclusive}, first come first served
        self.queue = {}
        self.waiting = _Table()


class LockSet:
    """The locks one request holds; L{release} gives them all back.

    @ivar owner: whatever the requester passed (a job id, usually).
    """

    def __init__(self, manager, owner, plan):
        self.owner = owner
        self._manager = manager
        self._plan = plan  # [(level, {name: exclusive})] in level order
        self._next = 0  # index in _plan of the level not granted yet
        self._deferred = None
        self._done = False  # released or cancelled

    @property
    def locks(self):
        """C{[(level, name, exclusive)]}: what the set holds, in order."""
        if self._done:
            return []
        return [
            (level, name, exclusive)
            for level, locks in self._plan[: self._next]
            for name, exclusive in locks.items()
        ]

    @property
    def acquired(self):
        """Whether every lock of the set is held (and not yet released)."""
        return not self._done and self._next == len(self._plan)

    def release(self):
        """Release every lock of the set; calling it again does nothing."""
        self._manager._release(self)

    def __repr__(self):
        return "<LockSet owner=%r locks=%r>" % (self.owner, self.locks)


class LockManager:
    """The locks of the cluster; see the module docstring for the rules."""

    log = Logger()

    def __init__(self):
        self._levels = {level: _Level(level) for level in LEVELS}

    def acquire(self, requests, owner=None):
        """Acquire locks; the L{Deferred} fires with a L{LockSet}.

        @param requests: C{(level, name, exclusive)} triples; C{name} may be
            L{ALL}.  Repeated locks are merged, exclusive winning.
        @param owner: shown as the holder in L{holders} and L{snapshot}.
        @return: a L{Deferred} firing with the L{LockSet} once every lock is
            held.  Cancelling it while it waits withdraws the request and
            releases what the set already held; it then fails with
            L{CancelledError<twisted.internet.defer.CancelledError>}.
        @raise ValueError: for an unknown level or a name that is not a
            string.
        """
        plan = self._plan(requests)
        lockset = LockSet(self, owner, plan)
        d = defer.Deferred(lambda _: self._release(lockset))
        lockset._deferred = d
        self._advance(lockset)
        return d

    @staticmethod
    def _plan(requests):
        wanted = {}
        for level, name, exclusive in requests:
            if level not in wanted and level not in LEVELS:
                raise ValueError("unknown lock level %r" % (level,))
            if name is not ALL and not isinstance(name, str):
                raise ValueError("lock names are strings, not %r" % (name,))
            locks = wanted.setdefault(level, {})
            locks[name] = bool(exclusive) or locks.get(name, False)
        return [
            (level, dict(sorted(wanted[level].items(), key=lambda i: _name_key(i[0]))))
            for level in LEVELS
            if level in wanted
        ]

    def _advance(self, lockset):
        """Take the set's levels in order until one has to wait."""
        plan = lockset._plan
        while lockset._next < len(plan):
            name, locks = plan[lockset._next]
            level = self._levels[name]
            if level.held.conflicts(locks) or level.waiting.conflicts(locks):
                level.queue[lockset] = locks
                level.waiting.add(locks)
                return
            self._grant(level, lockset, locks)
        d, lockset._deferred = lockset._deferred, None
        d.callback(lockset)

    def _grant(self, level, lockset, locks):
        level.held.add(locks)
        for name, exclusive in locks.items():
            level.holders.setdefault(name, {})[lockset] = exclusive
        lockset._next += 1

    def _release(self, lockset):
        """Give back what C{lockset} holds and withdraw what it waits for."""
        if lockset._done:
            return
        lockset._done = True
        touched = []
        plan = lockset._plan
        if lockset._next < len(plan):
            level = self._levels[plan[lockset._next][0]]
            locks = level.queue.pop(lockset, None)
            if locks is not None:
                level.waiting.remove(locks)
                touched.append(level)
        for name, locks in reversed(plan[: lockset._next]):
            level = self._levels[name]
            level.held.remove(locks)
            for lock_name in locks:
                holders = level.holders[lock_name]
                del holders[lockset]
                if not holders:
                    del level.holders[lock_name]
            touched.append(level)
        touched.sort(key=lambda level: LEVELS.index(level.name))
        for level in touched:
            self._wake(level)

    def _wake(self, level):
        """Grant what became grantable at C{level}, in queue order."""
        blocked = _Table()
        granted = []
        for lockset, locks in list(level.queue.items()):
            if level.held.conflicts(locks) or blocked.conflicts(locks):
                blocked.add(locks)
                continue
            del level.queue[lockset]
            level.waiting.remove(locks)
            self._grant(level, lockset, locks)
            granted.append(lockset)
        # Continue only after the walk: continuing fires Deferreds, whose
        # callbacks may release or request locks at this level.
        for lockset in granted:
            if not lockset._done:
                self._advance(lockset)

    def is_held(self, level, name):
        """Whether the lock C{(level, name)} itself is held by anybody."""
        return name in self._levels[level].holders

    def holders(self, level, name):
        """The owners holding C{(level, name)}, in the order they got it."""
        return [
            lockset.owner
            for lockset in self._levels[level].holders.get(name, {})
        ]

    def lock_mode(self, level, name):
        """L{MODE_EXCLUSIVE}, L{MODE_SHARED}, or C{None} if not held."""
        holders = self._levels[level].holders.get(name)
        if not holders:
            return None
        return MODE_EXCLUSIVE if any(holders.values()) else MODE_SHARED

    def snapshot(self):
        """Every held or awaited lock, in acquisition order.

        @return: a list of C{{"level", "name", "mode", "owners",
            "pending"}} dicts: C{mode} is L{MODE_EXCLUSIVE}, L{MODE_SHARED}
            or C{None}; C{owners} lists the holders; C{pending} lists
            C{[mode, [owner]]} per waiting request, first in line first.
        """
        result = []
        for level_name in LEVELS:
            level = self._levels[level_name]
            pending = {}
            for lockset, locks in level.queue.items():
                for name, exclusive in locks.items():
                    mode = MODE_EXCLUSIVE if exclusive else MODE_SHARED
                    pending.setdefault(name, []).append([mode, [lockset.owner]])
            for name in sorted(set(level.holders) | set(pending), key=_name_key):
                result.append(
                    {
                        "level": level_name,
                        "name": name,
                        "mode": self.lock_mode(level_name, name),
                        "owners": self.holders(level_name, name),
                        "pending": pending.get(name, []),
                    }
                )
        return result
