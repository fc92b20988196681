# -*- test-case-name: tests.test_web_root -*-
"""The top of the tree: C{/}, C{/version}, C{/2} and C{/2/features}.

L{build_root} assembles the whole tree; each family of URIs adds its
resources under C{/2} from its own module.
"""

from ganeti_rapi import constants, jsonutil
from ganeti_rapi.web import (
    cluster,
    filters,
    groups,
    instances,
    jobs,
    networks,
    nodes,
    query,
    tags,
)
from ganeti_rapi.web.os import OsResource
from ganeti_rapi.web.base import ApiResource


class RootResource(ApiResource):
    """C{/}: answers C{null} (Ganeti 2.6 and later)."""

    def __init__(self, context):
        ApiResource.__init__(self, context)
        self.putChild(b"version", VersionResource(context))

    def getChild(self, path, request):
        if path == b"":
            return IndexResource(self.context)
        return ApiResource.getChild(self, path, request)


class IndexResource(ApiResource):
    """C{/} itself and C{/2}: C{null}, as Ganeti has answered since 2.6."""

    def get(self, call):
        return None


class VersionResource(ApiResource):
    """C{/version}: the RAPI version, the integer 2.

    An anonymous GET is answered even under C{--require-authentication},
    where Ganeti answers 401: C{ganeti-watcher} probes C{/version} without
    credentials and restarts a RAPI daemon that does not answer 2 (watchers
    from before the fix of ganeti#808 count a 401 as dead, too).  The
    answer is a constant and tells nobody anything.  Credentials that are
    sent are still checked, and other methods are refused as usual.
    """

    def render(self, request):
        if (
            self.context.gate.require_authentication
            and request.method == b"GET"
            and request.getHeader(b"authorization") is None
        ):
            request.setHeader(b"content-type", b"application/json")
            return jsonutil.dumps(constants.RAPI_VERSION)
        return ApiResource.render(self, request)

    def get(self, call):
        return constants.RAPI_VERSION


class VersionTwoResource(IndexResource):
    """C{/2}: C{null}; its children are the RAPI v2 resources."""


class FeaturesResource(ApiResource):
    """C{/2/features}: the optional features this server really supports.

    The list comes from the cluster, which knows what it can do; clients
    test membership (the order means nothing).
    """

    def get(self, call):
        cluster = self.context.cluster
        if cluster is None:
            return []
        return sorted(cluster.features())


def build_root(context):
    """The complete RAPI resource tree for C{context}."""
    root = RootResource(context)
    v2 = VersionTwoResource(context)
    root.putChild(b"2", v2)
    v2.putChild(b"features", FeaturesResource(context))
    v2.putChild(b"info", cluster.InfoResource(context))
    v2.putChild(b"tags", tags.TagsResource(context, "cluster"))
    v2.putChild(b"redistribute-config", cluster.RedistributeConfigResource(context))
    v2.putChild(b"modify", cluster.ModifyClusterResource(context))
    v2.putChild(b"jobs", jobs.JobsResource(context))
    v2.putChild(b"groups", groups.GroupsResource(context))
    v2.putChild(b"nodes", nodes.NodesResource(context))
    v2.putChild(b"instances", instances.InstancesResource(context))
    v2.putChild(
        b"instances-multi-alloc", instances.InstancesMultiAllocResource(context)
    )
    v2.putChild(b"os", OsResource(context))
    v2.putChild(b"networks", networks.NetworksResource(context))
    v2.putChild(b"filters", filters.FiltersResource(context))
    v2.putChild(b"query", query.QueryRootResource(context))
    return root
