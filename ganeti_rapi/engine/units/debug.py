# -*- test-case-name: tests.test_debug_units -*-
"""C{OP_TEST_DELAY}: a job that sleeps, as Ganeti's C{gnt-debug delay}.

It exists for tests of the job queue and its watchers (the benchmark's
long-poll scenario keeps thousands of C{/2/jobs/[id]/wait} requests on
one): the job runs for a known time and changes nothing.  The RAPI has no
resource for it, as in Ganeti; it comes in through the control socket.

The sleep is on the master only, without locks; sleeping on nodes
(C{on_nodes}) is refused.
"""

from twisted.internet import task

from ganeti_rapi.engine.errors import ECODE_INVAL, OpPrereqError
from ganeti_rapi.engine.units.base import Unit


class TestDelay(Unit):
    """Sleep C{duration} seconds, C{repeat} more times if asked."""

    def check(self):
        if self.op.get("on_nodes") or self.op.get("on_node_uuids"):
            raise OpPrereqError("Delays on nodes are not supported", ECODE_INVAL)
        if self.op["duration"] < 0:
            raise OpPrereqError("The duration must not be negative", ECODE_INVAL)

    async def execute(self):
        repeat = self.op.get("repeat") or 0
        for iteration in range(repeat + 1):
            if repeat:
                self.env.feedback("Test delay iteration %d/%d" % (iteration, repeat))
            if self.op.get("on_master", True):
                await task.deferLater(self.env.clock, self.op["duration"], lambda: None)
        return None
