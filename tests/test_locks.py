"""Tests for L{ganeti_rapi.engine.locks}."""

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from ganeti_rapi.engine import locks
from ganeti_rapi.engine.locks import (
    ALL,
    LEVEL_CLUSTER,
    LEVEL_GROUP,
    LEVEL_INSTANCE,
    LEVEL_NODE,
    LockManager,
)

X = True  # exclusive
S = False  # shared


class LockTestCase(SynchronousTestCase):
    def setUp(self):
        self.manager = LockManager()

    def acquired(self, requests, owner=None):
        """Acquire C{requests}, which must be granted at once."""
        return self.successResultOf(self.manager.acquire(requests, owner))

    def waiting(self, requests, owner=None):
        """Acquire C{requests}, which must have to wait."""
        d = self.manager.acquire(requests, owner)
        self.assertNoResult(d)
        return d


class ExclusiveSharedTests(LockTestCase):
    """Shared and exclusive modes of a single lock."""

    def test_shared_locks_coexist(self):
        """Two shared requests for the same lock are granted together."""
        self.acquired([(LEVEL_NODE, "n1", S)], "a")
        self.acquired([(LEVEL_NODE, "n1", S)], "b")
        self.assertEqual(self.manager.holders(LEVEL_NODE, "n1"), ["a", "b"])
        self.assertEqual(self.manager.lock_mode(LEVEL_NODE, "n1"), locks.MODE_SHARED)

    def test_exclusive_waits_for_shared(self):
        """An exclusive request waits until the shared holders release."""
        first = self.acquired([(LEVEL_NODE, "n1", S)], "a")
        d = self.waiting([(LEVEL_NODE, "n1", X)], "b")
        first.release()
        lockset = self.successResultOf(d)
        self.assertEqual(self.manager.holders(LEVEL_NODE, "n1"), ["b"])
        self.assertEqual(
            self.manager.lock_mode(LEVEL_NODE, "n1"), locks.MODE_EXCLUSIVE
        )
        self.assertEqual(lockset.locks, [(LEVEL_NODE, "n1", True)])

    def test_shared_waits_for_exclusive(self):
        """A shared request waits while another set holds the lock exclusively."""
        first = self.acquired([(LEVEL_NODE, "n1", X)], "a")
        d = self.waiting([(LEVEL_NODE, "n1", S)], "b")
        first.release()
        self.successResultOf(d)

    def test_different_names_independent(self):
        """Exclusive locks on different names do not conflict."""
        self.acquired([(LEVEL_NODE, "n1", X)])
        self.acquired([(LEVEL_NODE, "n2", X)])

    def test_same_name_other_level_independent(self):
        """The same name at two levels is two different locks."""
        self.acquired([(LEVEL_NODE, "x", X)])
        self.acquired([(LEVEL_INSTANCE, "x", X)])

    def test_release_idempotent(self):
        """Releasing twice is harmless and frees the locks once."""
        lockset = self.acquired([(LEVEL_NODE, "n1", X)])
        lockset.release()
        lockset.release()
        self.assertFalse(self.manager.is_held(LEVEL_NODE, "n1"))
        self.assertEqual(lockset.locks, [])
        self.assertEqual(self.manager.snapshot(), [])

    def test_duplicates_merged_exclusive_wins(self):
        """Repeated requests for a lock are merged, exclusive winning."""
        lockset = self.acquired(
            [(LEVEL_NODE, "n1", S), (LEVEL_NODE, "n1", X), (LEVEL_NODE, "n1", S)]
        )
        self.assertEqual(lockset.locks, [(LEVEL_NODE, "n1", True)])
        self.waiting([(LEVEL_NODE, "n1", S)])

    def test_empty_request(self):
        """A request for no locks is granted at once."""
        lockset = self.acquired([])
        self.assertTrue(lockset.acquired)
        lockset.release()

    def test_unknown_level(self):
        """An unknown level is refused."""
        self.assertRaises(ValueError, self.manager.acquire, [("disk", "d", X)])

    def test_bad_name(self):
        """A lock name must be a string or ALL."""
        self.assertRaises(ValueError, self.manager.acquire, [(LEVEL_NODE, 1, X)])


class FairnessTests(LockTestCase):
    """Waiting is first come, first served per lock."""

    def test_shared_does_not_overtake_exclusive(self):
        """A shared request queued after an exclusive one waits behind it."""
        first = self.acquired([(LEVEL_NODE, "n1", S)], "a")
        exclusive = self.waiting([(LEVEL_NODE, "n1", X)], "b")
        shared = self.waiting([(LEVEL_NODE, "n1", S)], "c")
        first.release()
        second = self.successResultOf(exclusive)
        self.assertNoResult(shared)
        second.release()
        self.successResultOf(shared)

    def test_waiters_served_in_order(self):
        """Exclusive waiters get the lock in the order they asked."""
        holder = self.acquired([(LEVEL_NODE, "n1", X)], 0)
        order = []
        pending = []
        for owner in (1, 2, 3):
            d = self.waiting([(LEVEL_NODE, "n1", X)], owner)
            d.addCallback(lambda lockset: order.append(lockset.owner) or lockset)
            pending.append(d)
        holder.release()
        for d in pending:
            self.successResultOf(d).release()
        self.assertEqual(order, [1, 2, 3])

    def test_shared_waiters_granted_together(self):
        """All shared waiters queued behind an exclusive holder are granted at once."""
        holder = self.acquired([(LEVEL_NODE, "n1", X)])
        first = self.waiting([(LEVEL_NODE, "n1", S)], "a")
        second = self.waiting([(LEVEL_NODE, "n1", S)], "b")
        holder.release()
        self.successResultOf(first)
        self.successResultOf(second)

    def test_unrelated_request_not_blocked_by_waiter(self):
        """A waiter for one lock does not hold up requests for another."""
        self.acquired([(LEVEL_NODE, "n1", X)])
        self.waiting([(LEVEL_NODE, "n1", X)])
        self.acquired([(LEVEL_NODE, "n2", X)])

    def test_snapshot_lists_holders_and_pending(self):
        """The snapshot shows mode, owners and waiters of each lock."""
        self.acquired([(LEVEL_NODE, "n1", S)], "a")
        self.waiting([(LEVEL_NODE, "n1", X)], "b")
        self.acquired([(LEVEL_CLUSTER, "BGL", S)], "c")
        self.assertEqual(
            self.manager.snapshot(),
            [
                {
                    "level": LEVEL_CLUSTER,
                    "name": "BGL",
                    "mode": locks.MODE_SHARED,
                    "owners": ["c"],
                    "pending": [],
                },
                {
                    "level": LEVEL_NODE,
                    "name": "n1",
                    "mode": locks.MODE_SHARED,
                    "owners": ["a"],
                    "pending": [[locks.MODE_EXCLUSIVE, ["b"]]],
                },
            ],
        )


class OrderTests(LockTestCase):
    """Locks are taken in the fixed order, so sets never deadlock."""

    def test_opposite_request_orders_do_not_deadlock(self):
        """Two sets naming the same locks in opposite orders both finish."""
        blocker = self.acquired([(LEVEL_INSTANCE, "i1", X)], "blocker")
        first = self.waiting(
            [(LEVEL_NODE, "n1", X), (LEVEL_INSTANCE, "i1", X)], "first"
        )
        second = self.waiting(
            [(LEVEL_INSTANCE, "i1", X), (LEVEL_NODE, "n1", X)], "second"
        )
        # Neither holds the node lock while waiting for the instance lock.
        self.assertFalse(self.manager.is_held(LEVEL_NODE, "n1"))
        blocker.release()
        self.successResultOf(first).release()
        self.successResultOf(second).release()
        self.assertEqual(self.manager.snapshot(), [])

    def test_names_in_opposite_orders_do_not_deadlock(self):
        """Sets asking for two names of a level in opposite orders both finish."""
        blocker = self.acquired([(LEVEL_NODE, "b", X)], "blocker")
        first = self.waiting([(LEVEL_NODE, "b", X), (LEVEL_NODE, "a", X)], 1)
        second = self.waiting([(LEVEL_NODE, "a", X), (LEVEL_NODE, "b", X)], 2)
        # A set waiting at a level holds none of that level's locks.
        self.assertFalse(self.manager.is_held(LEVEL_NODE, "a"))
        blocker.release()
        self.successResultOf(first).release()
        self.successResultOf(second).release()

    def test_levels_taken_in_order(self):
        """A set's locks are held level by level in the fixed order."""
        self.acquired([(LEVEL_NODE, "n1", X)], "node holder")
        d = self.waiting(
            [(LEVEL_NODE, "n1", S), (LEVEL_CLUSTER, "BGL", S), (LEVEL_GROUP, "g", X)],
            "set",
        )
        # The levels before the node level are held already.
        self.assertEqual(self.manager.holders(LEVEL_CLUSTER, "BGL"), ["set"])
        self.assertEqual(self.manager.holders(LEVEL_GROUP, "g"), ["set"])
        self.assertEqual(self.manager.holders(LEVEL_NODE, "n1"), ["node holder"])
        self.assertNoResult(d)

    def test_locks_listed_in_order(self):
        """The lock set lists its locks by level, then name."""
        lockset = self.acquired(
            [
                (LEVEL_NODE, "b", S),
                (LEVEL_NODE, "a", X),
                (LEVEL_INSTANCE, "i", X),
                (LEVEL_CLUSTER, "BGL", S),
            ]
        )
        self.assertEqual(
            lockset.locks,
            [
                (LEVEL_CLUSTER, "BGL", False),
                (LEVEL_INSTANCE, "i", True),
                (LEVEL_NODE, "a", True),
                (LEVEL_NODE, "b", False),
            ],
        )


class AllTests(LockTestCase):
    """The level-wide lock ALL."""

    def test_exclusive_all_waits_for_named_holders(self):
        """An exclusive ALL waits until no lock of its level is held."""
        holder = self.acquired([(LEVEL_NODE, "n1", S)])
        d = self.waiting([(LEVEL_NODE, ALL, X)])
        holder.release()
        self.successResultOf(d)
        self.assertTrue(self.manager.is_held(LEVEL_NODE, ALL))

    def test_exclusive_all_blocks_named(self):
        """While an exclusive ALL is held no lock of the level is granted."""
        whole = self.acquired([(LEVEL_NODE, ALL, X)])
        shared = self.waiting([(LEVEL_NODE, "n1", S)])
        self.acquired([(LEVEL_INSTANCE, "n1", X)])
        whole.release()
        self.successResultOf(shared)

    def test_shared_all_with_shared_named(self):
        """A shared ALL and shared named locks coexist."""
        self.acquired([(LEVEL_NODE, ALL, S)])
        self.acquired([(LEVEL_NODE, "n1", S)])
        self.acquired([(LEVEL_NODE, ALL, S)])

    def test_shared_all_conflicts_with_exclusive_named(self):
        """A shared ALL conflicts with an exclusive lock of any name."""
        holder = self.acquired([(LEVEL_NODE, "n1", X)])
        whole = self.waiting([(LEVEL_NODE, ALL, S)])
        holder.release()
        self.successResultOf(whole)
        self.waiting([(LEVEL_NODE, "n2", X)])

    def test_waiting_all_holds_back_later_named(self):
        """Named requests queued after a waiting exclusive ALL wait behind it."""
        holder = self.acquired([(LEVEL_NODE, "n1", S)], "holder")
        whole = self.waiting([(LEVEL_NODE, ALL, X)], "whole")
        later = self.waiting([(LEVEL_NODE, "n2", S)], "later")
        holder.release()
        self.successResultOf(whole).release()
        self.successResultOf(later)

    def test_all_and_names_no_deadlock(self):
        """A set holding one name never waits on that level while an ALL waits."""
        holder = self.acquired([(LEVEL_NODE, "x", X)], "holder")
        names = self.waiting([(LEVEL_NODE, "x", X), (LEVEL_NODE, "y", X)], "names")
        whole = self.waiting([(LEVEL_NODE, ALL, X)], "whole")
        holder.release()
        self.successResultOf(names).release()
        self.successResultOf(whole)


class CancelTests(LockTestCase):
    """Cancelling a waiting acquisition."""

    def test_cancel_releases_partial_holdings(self):
        """Cancelling releases the levels already taken and withdraws the wait."""
        holder = self.acquired([(LEVEL_NODE, "n1", X)], "holder")
        d = self.waiting(
            [
                (LEVEL_CLUSTER, "BGL", X),
                (LEVEL_INSTANCE, "i1", X),
                (LEVEL_NODE, "n1", X),
            ],
            "canceled",
        )
        self.assertTrue(self.manager.is_held(LEVEL_CLUSTER, "BGL"))
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)
        self.assertFalse(self.manager.is_held(LEVEL_CLUSTER, "BGL"))
        self.assertFalse(self.manager.is_held(LEVEL_INSTANCE, "i1"))
        holder.release()
        self.assertEqual(self.manager.snapshot(), [])

    def test_cancel_lets_later_waiter_through(self):
        """A waiter held back only by a canceled one is granted at once."""
        self.acquired([(LEVEL_NODE, "n1", S)], "holder")
        exclusive = self.waiting([(LEVEL_NODE, "n1", X)], "exclusive")
        shared = self.waiting([(LEVEL_NODE, "n1", S)], "shared")
        exclusive.cancel()
        self.failureResultOf(exclusive, defer.CancelledError)
        self.successResultOf(shared)
        self.assertEqual(self.manager.holders(LEVEL_NODE, "n1"), ["holder", "shared"])

    def test_cancel_after_grant_does_nothing(self):
        """Cancelling a fired acquisition leaves the locks held."""
        d = self.manager.acquire([(LEVEL_NODE, "n1", X)])
        d.cancel()
        lockset = self.successResultOf(d)
        self.assertTrue(self.manager.is_held(LEVEL_NODE, "n1"))
        lockset.release()

    def test_callback_releasing_during_grant(self):
        """A set released from its own grant callback frees its locks for the next."""
        holder = self.acquired([(LEVEL_NODE, "n1", X)])
        first = self.manager.acquire([(LEVEL_NODE, "n1", X)], "first")
        first.addCallback(lambda lockset: lockset.release())
        second = self.waiting([(LEVEL_NODE, "n1", X)], "second")
        holder.release()
        self.successResultOf(first)
        self.assertEqual(self.successResultOf(second).owner, "second")
