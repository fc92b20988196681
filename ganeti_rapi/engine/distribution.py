# -*- test-case-name: tests.test_cluster_integration -*-
"""Copies of the configuration on master candidates.

Every durable configuration write is pushed to every online master
candidate other than the master (node procedure C{upload_file}), so a
candidate holds what it needs to take over.  A candidate that misses a copy
gets the next one; C{/2/redistribute-config} forces one.
"""

import base64

from twisted.logger import Logger

log = Logger()


class ConfigDistributor:
    """A configuration listener sending each written file to the candidates.

    @ivar last: C{{node name: serial number}} of the last copy each
        candidate acknowledged (for operators and tests).
    """

    def __init__(self, config, nodes):
        self.config = config
        self.nodes = nodes
        self.last = {}

    def __call__(self, serial_no, data):
        master = self.config.cluster.master_node
        candidates = [
            n for n in self.config.nodes()
            if n.master_candidate and not n.offline and n.uuid != master
        ]
        if not candidates:
            return None
        content = base64.b64encode(data).decode("ascii")
        calls = []
        for node in candidates:
            d = self.nodes.call(
                node, "upload_file", None, name="config.data", content_b64=content, mode=0o640
            )
            d.addCallbacks(
                self._copied, self._failed, callbackArgs=(node.name, serial_no),
                errbackArgs=(node.name, serial_no),
            )
            calls.append(d)
        return calls

    def _copied(self, result, name, serial_no):
        self.last[name] = max(serial_no, self.last.get(name, 0))

    def _failed(self, failure, name, serial_no):
        log.warn(
            "Could not copy configuration {serial} to {node}: {error}",
            serial=serial_no, node=name, error=failure.getErrorMessage(),
        )
