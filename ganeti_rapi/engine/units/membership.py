# -*- test-case-name: tests.test_membership -*-
"""Adding nodes to the cluster and removing them (C{OP_NODE_ADD}, C{OP_NODE_REMOVE}).

These opcodes are not reachable through the RAPI (Ganeti's isn't either);
the administrator submits them through the master's control socket with
C{ganeti-rapi-admin node add|remove}.

A node joins only if its daemon proves it holds the cluster certificate:
the master calls it over node RPC, where both sides must present that
certificate, before anything is written to the configuration.
"""

from ganeti_rapi.engine import locks
from ganeti_rapi.engine.errors import (
    ECODE_ENVIRON,
    ECODE_EXISTS,
    ECODE_INVAL,
    ECODE_STATE,
    OpPrereqError,
)
from ganeti_rapi.engine.objects import Node
from ganeti_rapi.engine.units.base import Unit
from ganeti_rapi.engine.units.nodes import promote_candidates
from ganeti_rapi.rpc.errors import NodeRpcError


class NodeAdd(Unit):
    """Record a new node whose daemon holds the cluster certificate."""

    def lock_requests(self):
        return [(locks.LEVEL_NODE, self.op["node_name"], True)]

    def _group(self):
        if self.op.get("group"):
            return self.config.find_group(self.op["group"])
        master = self.config.node(self.config.cluster.master_node)
        return self.config.group(master.group)

    def check(self):
        name = self.op["node_name"]
        if self.config.node_by_name(name) is not None:
            raise OpPrereqError("Node '%s' is already in the cluster" % name, ECODE_EXISTS)
        if not self.op.get("primary_ip"):
            raise OpPrereqError(
                "The primary IP address of node '%s' must be given" % name, ECODE_INVAL
            )
        self._group()
        if self.env.nodes is None:
            raise OpPrereqError("This master cannot reach node daemons", ECODE_ENVIRON)
        return self._contact()

    def _new_node(self):
        op = self.op
        group = self._group()
        return Node(
            name=op["node_name"],
            primary_ip=op["primary_ip"],
            secondary_ip=op.get("secondary_ip") or op["primary_ip"],
            group=group.uuid,
            master_capable=op["master_capable"] if op.get("master_capable") is not None
            else True,
            vm_capable=op["vm_capable"] if op.get("vm_capable") is not None else True,
            ndparams=dict(op.get("ndparams") or {}),
            hv_state=dict(op.get("hv_state") or {}),
            disk_state=dict(op.get("disk_state") or {}),
            rpc_port=op["rpc_port"],
            # Every node holds the one cluster certificate, as the master does.
            cert_digest=self.config.node(self.config.cluster.master_node).cert_digest,
        )

    def _contact(self):
        """Ask the new node's daemon for its version over pinned mutual TLS."""
        node = self._new_node()
        d = self.env.nodes.call(node, "version", 15)

        def refused(failure):
            failure.trap(NodeRpcError)
            raise OpPrereqError(
                "Node daemon of '%s' at %s:%d did not answer with the cluster"
                " certificate: %s" % (node.name, node.primary_ip, node.rpc_port,
                                     failure.value),
                ECODE_ENVIRON,
            )

        d.addErrback(refused)
        return d

    def execute(self):
        d = self.check()
        d.addCallback(lambda _: self._record())
        return d

    def _record(self):
        node = self._new_node()
        self.config.add_node(node)
        promoted = promote_candidates(self.config)
        if promoted:
            self.env.feedback(
                "Promoted to master candidate: %s" % ", ".join(n.name for n in promoted)
            )
        return self.save()


class NodeRemove(Unit):
    """Forget a node; never the master, never one that holds instances."""

    def lock_requests(self):
        return [(locks.LEVEL_NODE, self.op["node_name"], True)]

    def check(self):
        node = self.config.find_node(self.op["node_name"])
        if node.uuid == self.config.cluster.master_node:
            raise OpPrereqError(
                "Node '%s' is the master node; it cannot be removed" % node.name,
                ECODE_INVAL,
            )
        used = self.config.instances_on_node(node.uuid)
        if used:
            raise OpPrereqError(
                "Instances %s still use node '%s'"
                % (", ".join(sorted(i.name for i in used)), node.name),
                ECODE_STATE,
            )
        return node

    def execute(self):
        node = self.check()
        self.config.remove_node(node.uuid)
        promote_candidates(self.config)
        return self.save()
