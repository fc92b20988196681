# -*- test-case-name: tests.test_noded_procedures -*-
"""Expected failures of node procedures, by kind.

Each is a L{ProcedureError}, so the node answers C{success: false} with the
class name as C{error.type} and logs a warning rather than a traceback.
"""

from ganeti_rapi.rpc.errors import ProcedureError


class InvalidArgument(ProcedureError):
    """An argument is malformed: a bad name, an unsafe path, a wrong type."""


class HypervisorError(ProcedureError):
    """The hypervisor refused or failed an operation on an instance."""


class StorageError(ProcedureError):
    """A storage operation failed or is not supported for the storage type."""


class OSDefinitionError(ProcedureError):
    """An OS definition is missing, invalid, or lacks the variant asked for."""


class OSScriptError(ProcedureError):
    """An OS script exited non-zero or ran past its timeout."""


class FileUploadError(ProcedureError):
    """A file may not be uploaded under that name, or its content is bad."""
