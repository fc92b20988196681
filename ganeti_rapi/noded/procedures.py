# -*- test-case-name: tests.test_noded -*-
"""The procedures a node daemon offers over node RPC.

Each C{rpc_<name>} method of L{NodeProcedures} is reachable as
C{POST /<name>} (see L{ganeti_rapi.rpc.server}).  Methods take JSON values
as keyword arguments and return a JSON value or a Deferred of one; they
must not block the reactor thread.
"""

import ganeti_rapi
from ganeti_rapi import paths
from ganeti_rapi.rpc.server import PROTOCOL_VERSION


class NodeProcedures:
    """Procedures of one node, working on its data directory.

    @param data_dir: a path or a L{paths.DataDir}.
    """

    def __init__(self, data_dir):
        if not isinstance(data_dir, paths.DataDir):
            data_dir = paths.DataDir(data_dir)
        self.data_dir = data_dir

    def rpc_version(self):
        """The node RPC protocol version and this software's version."""
        return {
            "protocol": PROTOCOL_VERSION,
            "software_version": ganeti_rapi.__version__,
        }
