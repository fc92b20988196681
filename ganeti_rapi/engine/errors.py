# -*- test-case-name: tests.test_engine_errors -*-
"""The errors of the engine, and how they appear in a job's C{opresult}.

A failed opcode's result is C{[<class name>, <args>]}, for example
C{["OpPrereqError", ["Group 'x' not known", "unknown_entity"]]}: clients
match on the class name and on the classification, so both are Ganeti's.
"""

from ganeti_rapi.interfaces import InvalidRequest

#: Classifications of prerequisite errors (second element of the args).
ECODE_RESOLVER = "resolver_error"
ECODE_NORES = "insufficient_resources"
ECODE_TEMP_NORES = "temp_insufficient_resources"
ECODE_INVAL = "wrong_input"
ECODE_STATE = "wrong_state"
ECODE_NOENT = "unknown_entity"
ECODE_EXISTS = "already_exists"
ECODE_NOTUNIQUE = "resource_not_unique"
ECODE_FAULT = "internal_error"
ECODE_ENVIRON = "environment_error"

ECODES = frozenset(
    [
        ECODE_RESOLVER,
        ECODE_NORES,
        ECODE_TEMP_NORES,
        ECODE_INVAL,
        ECODE_STATE,
        ECODE_NOENT,
        ECODE_EXISTS,
        ECODE_NOTUNIQUE,
        ECODE_FAULT,
        ECODE_ENVIRON,
    ]
)


class GanetiError(Exception):
    """Base of the errors that end up in a job's C{opresult} as they are."""

    def encode(self):
        """C{[class name, args]}, the form stored in C{opresult}."""
        return [type(self).__name__, list(self.args)]


class OpPrereqError(GanetiError):
    """A prerequisite of an opcode does not hold; nothing was changed.

    @param classification: one of the C{ECODE_*} values.
    """

    def __init__(self, message, classification=ECODE_INVAL):
        if classification not in ECODES:
            raise ValueError("unknown error classification %r" % (classification,))
        GanetiError.__init__(self, message, classification)

    @property
    def classification(self):
        return self.args[1]


class OpExecError(GanetiError):
    """Carrying out an opcode failed."""


class TagError(GanetiError):
    """A tag is invalid, or there are too many."""


class ConfigurationError(GanetiError):
    """The configuration is inconsistent or cannot be used."""


class ParameterError(GanetiError):
    """A parameter has a bad value."""


class ResolverError(GanetiError):
    """A host name could not be resolved."""


class HypervisorError(GanetiError):
    """The hypervisor failed."""


class BlockDeviceError(GanetiError):
    """A disk operation failed."""


class JobQueueError(GanetiError):
    """The job queue cannot take or find a job."""


class JobQueueDrainError(JobQueueError):
    """The job queue is drained; no new jobs are accepted."""


class JobQueueFull(JobQueueError):
    """The job queue holds as many jobs as it may."""


class ProgrammerError(GanetiError):
    """A bug: something that must not happen did."""


class OpcodeValidationError(InvalidRequest, ValueError):
    """The parameters given for an opcode are wrong (a 400 at the API).

    Raised when a job is submitted, before anything is queued.
    """


def encode_exception(exc):
    """The C{opresult} form of any exception.

    Engine errors keep their class name and arguments; anything else is
    wrapped as C{OpExecError} with its text, as Ganeti does.
    """
    if isinstance(exc, GanetiError):
        return exc.encode()
    return ["OpExecError", [str(exc) or type(exc).__name__]]
