"""The base of every logical unit: one opcode, checked then carried out.

A unit runs under the locks it asked for.  C{check} reads the configuration
and raises L{OpPrereqError} when the opcode cannot be done, changing
nothing (a dry run stops after it); C{execute} changes the configuration
and the nodes, and returns the opcode's result once the change is durable.
"""

from ganeti_rapi.engine.errors import ECODE_INVAL, OpPrereqError
from ganeti_rapi.engine.processor import AfterSave


class Unit:
    """Base class of logical units.

    @ivar op: the opcode, a dict of its parameters.
    @ivar env: the opcode environment: C{config}, C{clock}, C{feedback()}
        and whatever the engine added (node RPC, ...).
    """

    def __init__(self, op, env):
        self.op = op
        self.env = env

    @property
    def config(self):
        return self.env.config

    def lock_requests(self):
        return []

    def check(self):
        pass

    def execute(self):
        raise NotImplementedError

    def dry_run_result(self):
        return None

    def save(self, result=None):
        """Make the configuration durable; fires with C{result}."""
        d = self.config.save()
        d.addCallback(lambda _: result)
        return d

    def finish_after_save(self, result=None):
        """The end of an C{execute} whose last step is saving the configuration.

        The save starts now; the opcode's locks are released at once and
        it succeeds with C{result} once the save is on disk (see
        L{AfterSave}).  Only for the very end: nothing may happen after it.
        """
        return AfterSave(self.config.save(), result)


def require_changes(changes, what):
    """Refuse an opcode that changes nothing, as Ganeti does."""
    if not changes:
        raise OpPrereqError("Please pass at least one modification for %s" % what,
                            ECODE_INVAL)


def merge_params(current, update):
    """A parameter dict updated with C{update}.

    The value C{"default"} (or C{None}) removes a key, so the object falls
    back to the inherited value, as Ganeti's C{gnt-* modify} allows.
    """
    result = dict(current or {})
    for key, value in (update or {}).items():
        if value is None or value == "default":
            result.pop(key, None)
        else:
            result[key] = value
    return result
