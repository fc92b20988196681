# -*- test-case-name: tests.test_web_cluster -*-
"""C{OP_TAGS_SET} and C{OP_TAGS_DEL} for every kind of taggable object."""

from ganeti_rapi.engine import locks
from ganeti_rapi.engine import tags as tagrules
from ganeti_rapi.engine.errors import ECODE_NOENT, OpPrereqError
from ganeti_rapi.engine.units.base import Unit

_LOCK_LEVELS = {
    "cluster": locks.LEVEL_CLUSTER,
    "nodegroup": locks.LEVEL_GROUP,
    "node": locks.LEVEL_NODE,
    "instance": locks.LEVEL_INSTANCE,
    "network": locks.LEVEL_NETWORK,
}


def find_taggable(config, kind, name):
    """The object C{(kind, name)} of a tag opcode.

    @raise OpPrereqError: C{unknown_entity} if there is no such object.
    """
    if kind == "cluster":
        return config.cluster
    finders = {
        "nodegroup": config.find_group,
        "node": config.find_node,
        "instance": config.find_instance,
        "network": config.find_network,
    }
    if name is None:
        raise OpPrereqError("Missing name for %s tags" % kind)
    return finders[kind](name)


class _TagsUnit(Unit):
    def lock_requests(self):
        name = "cluster" if self.op["kind"] == "cluster" else self.op["name"]
        return [(_LOCK_LEVELS[self.op["kind"]], name, True)]

    def target(self):
        return find_taggable(self.config, self.op["kind"], self.op["name"])


class TagsSet(_TagsUnit):
    """Add tags to an object."""

    def check(self):
        obj = self.target()
        tagrules.validate_tags(self.op["tags"], obj.tags)

    def execute(self):
        obj = self.target()
        new = tagrules.validate_tags(self.op["tags"], obj.tags)
        if new - obj.tags:
            obj.tags |= new
            self.config.touch(obj)
        return self.finish_after_save()


class TagsDel(_TagsUnit):
    """Remove tags from an object; every tag named must be there."""

    def check(self):
        obj = self.target()
        missing = set(self.op["tags"]) - obj.tags
        if missing:
            raise OpPrereqError(
                "Tag(s) %s not found" % ", ".join("'%s'" % t for t in sorted(missing)),
                ECODE_NOENT,
            )

    def execute(self):
        self.check()
        obj = self.target()
        if self.op["tags"]:
            obj.tags -= set(self.op["tags"])
            self.config.touch(obj)
        return self.finish_after_save()
