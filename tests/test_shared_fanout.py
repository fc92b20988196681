"""Live-data fan-outs shared by concurrent listings (L{SharedFanOut}), and
what the query layer does to keep big listings cheap."""

import gc

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from ganeti_rapi.engine.noderpc import SharedFanOut
from ganeti_rapi.engine.query import Field, Resource, Unavailable
from tests.helpers import EngineFixture, FakeNodes


class Node:
    def __init__(self, uuid):
        self.uuid = uuid
        self.name = uuid


class HeldRunner:
    """A node runner whose fan-outs end when the test says."""

    def __init__(self):
        self.rounds = []

    def call_nodes(self, nodes, procedure, timeout=None, /, **kwargs):
        d = defer.Deferred()
        self.rounds.append(([n.uuid for n in nodes], procedure, kwargs, d))
        return d

    def finish(self, index, outcomes):
        self.rounds[index][3].callback(outcomes)


class SharedFanOutTests(SynchronousTestCase):
    def setUp(self):
        self.runner = HeldRunner()
        self.fanout = SharedFanOut(self.runner)
        self.nodes = [Node("a"), Node("b")]

    def gather(self, procedure="node_info", **kwargs):
        return self.fanout.gather(self.nodes, procedure, 10, **kwargs)

    def test_one_query(self):
        """A query alone gets its own fan-out's outcomes."""
        d = self.gather()
        self.assertEqual(len(self.runner.rounds), 1)
        self.assertEqual(self.runner.rounds[0][:2], (["a", "b"], "node_info"))
        self.runner.finish(0, {"a": (True, 1), "b": (True, 2)})
        self.assertEqual(self.successResultOf(d).outcomes, {"a": (True, 1), "b": (True, 2)})

    def test_later_queries_share_the_next_round(self):
        """Queries arriving while a fan-out is under way are not answered
        from it (it began before them) but all share the one after it."""
        first = self.gather()
        second = self.gather()
        third = self.gather()
        self.assertEqual(len(self.runner.rounds), 1)
        self.runner.finish(0, {"a": (True, "old")})
        self.assertEqual(self.successResultOf(first).outcomes, {"a": (True, "old")})
        self.assertNoResult(second)
        self.assertEqual(len(self.runner.rounds), 2)
        self.runner.finish(1, {"a": (True, "new")})
        two, three = self.successResultOf(second), self.successResultOf(third)
        self.assertIs(two, three)
        self.assertEqual(two.outcomes, {"a": (True, "new")})
        self.assertEqual(len(self.runner.rounds), 2)

    def test_different_calls_do_not_share(self):
        """Other procedures, arguments or nodes make fan-outs of their own."""
        self.gather("node_info")
        self.gather("all_instances_info", hypervisors=["fake"])
        self.gather("all_instances_info", hypervisors=["kvm"])
        self.fanout.gather([Node("a")], "node_info", 10)
        self.assertEqual(len(self.runner.rounds), 4)

    def test_cancel_one_waiter(self):
        """A query whose client left is dropped; the others still get answers."""
        self.gather()
        second = self.gather()
        third = self.gather()
        second.cancel()
        self.failureResultOf(second, defer.CancelledError)
        self.runner.finish(0, {})
        self.runner.finish(1, {"b": (True, 3)})
        self.assertEqual(self.successResultOf(third).outcomes, {"b": (True, 3)})

    def test_nobody_waiting_starts_nothing(self):
        """When every query waiting for the next round left, it is not started."""
        self.gather()
        second = self.gather()
        second.cancel()
        self.failureResultOf(second, defer.CancelledError)
        self.runner.finish(0, {})
        self.assertEqual(len(self.runner.rounds), 1)

    def test_memo_lives_while_answering(self):
        """Answers computed from a round are shared while its queries are
        answered, and forgotten afterwards."""
        seen = []

        def answer(gathering):
            seen.append(gathering.memo.setdefault("rows", object()))
            return gathering

        first = self.gather().addCallback(answer)
        second = self.gather().addCallback(answer)
        third = self.gather().addCallback(answer)
        self.runner.finish(0, {})
        self.runner.finish(1, {})
        self.assertIs(seen[1], seen[2])
        self.assertIsNot(seen[0], seen[1])
        self.assertEqual(self.successResultOf(second).memo, {})
        self.successResultOf(first)
        self.successResultOf(third)


class ConcurrentListingTests(SynchronousTestCase):
    """Bulk listings through the engine share node calls and answers."""

    def setUp(self):
        self.held = []
        self.nodes = FakeNodes()

        def all_instances(node, **kwargs):
            d = defer.Deferred()
            self.held.append(d)
            return d

        self.nodes.answer("all_instances_info", all_instances)
        self.api = EngineFixture(self, nodes=self.nodes)

    def listing(self):
        return self.api.start("GET", "/2/instances?bulk=1")

    def answer_held(self, value):
        held, self.held = self.held, []
        for d in held:
            d.callback(value)
        self.api.client.flush()

    def test_one_round_for_a_burst(self):
        """Listings made while one waits for its node calls share one more
        round of calls, not one each, and get equal answers."""
        first = self.listing()
        self.assertEqual(len(self.nodes.calls), 1)
        others = [self.listing() for _ in range(5)]
        self.assertEqual(len(self.nodes.calls), 1)
        self.answer_held({})
        self.assertEqual(self.successResultOf(first).code, 200)
        self.assertEqual(len(self.nodes.calls), 2)
        self.answer_held({})
        bodies = set()
        for d in others:
            response = self.successResultOf(d)
            self.assertEqual(response.code, 200)
            bodies.add(self.successResultOf(response.content()))
        self.assertEqual(len(bodies), 1)
        self.assertEqual(len(self.nodes.calls), 2)


class BulkAllocationTests(SynchronousTestCase):
    """Building a listing switches the cyclic collector off, and back."""

    def resource(self, getter):
        return Resource("thing", [Field("x", "X", "text", "x", getter)],
                        lambda ctx: [("a", 1), ("b", 2)], lambda ctx, name: None)

    def test_collector_off_while_building(self):
        """The getters run with the collector off; it is on again after."""
        states = []
        resource = self.resource(lambda ctx, item: states.append(gc.isenabled()))
        self.assertTrue(gc.isenabled())
        resource.rows(None, ["x"])
        resource.cells(None, ["x"])
        self.assertEqual(states, [False] * 4)
        self.assertTrue(gc.isenabled())

    def test_collector_on_after_error(self):
        """A getter that raises leaves the collector on."""

        def broken(ctx, item):
            raise ZeroDivisionError()

        self.assertRaises(ZeroDivisionError, self.resource(broken).rows, None, ["x"])
        self.assertTrue(gc.isenabled())

    def test_collector_left_off(self):
        """A collector someone else switched off stays off."""
        gc.disable()
        self.addCleanup(gc.enable)
        self.resource(lambda ctx, item: 1).rows(None, ["x"])
        self.assertFalse(gc.isenabled())

    def test_unavailable_is_null(self):
        """An unavailable value is null in rows and its status in cells."""

        def unavailable(ctx, item):
            raise Unavailable(4)

        resource = self.resource(unavailable)
        self.assertEqual(resource.rows(None, ["x"]), [{"x": None}, {"x": None}])
        self.assertEqual(resource.cells(None, ["x", "y"])["data"],
                         [[[4, None], [1, None]], [[4, None], [1, None]]])


class NodeIndexTests(SynchronousTestCase):
    """Per-node instance lists, indexed once per query."""

    def context(self):
        from ganeti_rapi.engine.queryfields import QueryContext

        class Instance:
            def __init__(self, name, primary, secondaries=()):
                self.name = name
                self.primary_node = primary
                self.secondary_nodes = list(secondaries)

        class Config:
            scans = 0

            def instances(self):
                Config.scans += 1
                return [
                    Instance("i1", "n1", ["n2"]),
                    Instance("i2", "n2", ["n1", "n1"]),
                    Instance("i3", "n1", ["n1"]),
                    Instance("i4", "n3"),
                ]

        return QueryContext(Config()), Config

    def test_primary_and_secondary(self):
        """Primaries by primary node; secondaries once each, never the
        instance's own primary."""
        ctx, config = self.context()
        names = lambda instances: [i.name for i in instances]  # noqa: E731
        self.assertEqual(names(ctx.primary_instances("n1")), ["i1", "i3"])
        self.assertEqual(names(ctx.secondary_instances("n1")), ["i2"])
        self.assertEqual(names(ctx.secondary_instances("n2")), ["i1"])
        self.assertEqual(names(ctx.primary_instances("n4")), [])
        self.assertEqual(config.scans, 1)

    def test_node_fields(self):
        """The node fields read the index."""
        from ganeti_rapi.engine.queryfields import NODES

        ctx, _ = self.context()

        class Node:
            uuid = "n1"

        fields = NODES.fields
        self.assertEqual(fields["pinst_list"].getter(ctx, Node()), ["i1", "i3"])
        self.assertEqual(fields["sinst_list"].getter(ctx, Node()), ["i2"])
        self.assertEqual(fields["pinst_cnt"].getter(ctx, Node()), 2)
        self.assertEqual(fields["sinst_cnt"].getter(ctx, Node()), 1)
