# -*- test-case-name: tests.test_web_cluster -*-
"""Cluster-wide resources: C{/2/info}, C{/2/redistribute-config}, C{/2/modify}."""

from ganeti_rapi import errors
from ganeti_rapi.web.base import ApiResource
from ganeti_rapi.web.submit import OpcodeResource, body_object

#: Parameters /2/modify refuses outright (403), in the body or the query.
FORBIDDEN_CLUSTER_PARAMS = frozenset(["compression_tools"])


class InfoResource(ApiResource):
    """C{/2/info}: the cluster's configuration and software versions."""

    def get(self, call):
        return self.context.cluster.info()


class RedistributeConfigResource(OpcodeResource):
    """C{/2/redistribute-config}: push the configuration to master candidates.

    The body may only carry the parameters every opcode takes.
    """

    rlib2_name = "redist_config"

    def put(self, call):
        return self.submit(
            self.opcode(call, "OP_CLUSTER_REDIST_CONF", body_object(call))
        )


class ModifyClusterResource(OpcodeResource):
    """C{/2/modify}: change cluster parameters (C{OP_CLUSTER_SET_PARAMS})."""

    rlib2_name = "cluster_modify"

    def put(self, call):
        params = body_object(call)
        forbidden = FORBIDDEN_CLUSTER_PARAMS.intersection(params) or (
            FORBIDDEN_CLUSTER_PARAMS.intersection(call.query)
        )
        if forbidden:
            raise errors.Forbidden(
                "Parameters %s may not be changed through the remote API"
                % ", ".join(sorted(forbidden))
            )
        return self.submit(self.opcode(call, "OP_CLUSTER_SET_PARAMS", params))
