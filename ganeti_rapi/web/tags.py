# -*- test-case-name: tests.test_web_cluster -*-
"""C{.../tags} of every kind of object: list, add, remove.

Tags to add or remove come from repeated C{?tag=} parameters; a body is
ignored, as in every Ganeti version (the official client sends the list
as a body for node tags too, and that must not fail).
"""

from ganeti_rapi.web.submit import OpcodeResource, depends_only


class TagsResource(OpcodeResource):
    """C{/2/tags}, C{/2/groups/[name]/tags}, C{/2/nodes/[name]/tags}, ...

    @ivar kind: the tag kind of C{OP_TAGS_*}: C{cluster}, C{nodegroup},
        C{node}, C{instance} or C{network}.
    @ivar name: the object's name (L{None} for the cluster).
    """

    def __init__(self, context, kind, name=None, rlib2_name="tags"):
        OpcodeResource.__init__(self, context)
        self.kind = kind
        self.name = name
        self.rlib2_name = rlib2_name

    def get(self, call):
        return self.context.cluster.get_tags(self.kind, self.name)

    def put(self, call):
        return self._change(call, "OP_TAGS_SET")

    def delete(self, call):
        return self._change(call, "OP_TAGS_DEL")

    def _change(self, call, op_id):
        static = {"kind": self.kind, "name": self.name, "tags": call.string_list("tag")}
        return self.submit(
            self.opcode(call, op_id, depends_only(call), static, dry_run=True)
        )
