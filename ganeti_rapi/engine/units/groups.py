# -*- test-case-name: tests.test_web_groups -*-
"""Node group opcodes: add, remove, rename, set parameters, assign nodes."""

from ganeti_rapi.engine import locks
from ganeti_rapi.engine.errors import ECODE_EXISTS, ECODE_STATE, OpPrereqError
from ganeti_rapi.engine.objects import NodeGroup
from ganeti_rapi.engine.units.base import Unit, merge_params, require_changes

#: Parameters of OP_GROUP_SET_PARAMS and whether they merge into a dict.
_GROUP_PARAMS = {
    "alloc_policy": False,
    "ndparams": True,
    "diskparams": True,
    "ipolicy": True,
    "hv_state": True,
    "disk_state": True,
}


def _group_lock(name):
    return (locks.LEVEL_GROUP, name, True)


class GroupAdd(Unit):
    """Create a node group."""

    def lock_requests(self):
        return [_group_lock(self.op["group_name"])]

    def check(self):
        name = self.op["group_name"]
        if self.config.group_by_name(name) is not None:
            raise OpPrereqError(
                "Desired group name '%s' already exists as a node group" % name,
                ECODE_EXISTS,
            )

    def execute(self):
        self.check()
        group = NodeGroup(name=self.op["group_name"])
        group.alloc_policy = self.op.get("alloc_policy") or "preferred"
        for key in ("ndparams", "diskparams", "ipolicy", "hv_state", "disk_state"):
            if self.op.get(key):
                setattr(group, key, dict(self.op[key]))
        self.config.add_group(group)
        return self.save()


class GroupRemove(Unit):
    """Remove an empty node group; never the last one."""

    def lock_requests(self):
        return [_group_lock(self.op["group_name"])]

    def check(self):
        group = self.config.find_group(self.op["group_name"])
        members = self.config.nodes_in_group(group.uuid)
        if members:
            raise OpPrereqError(
                "Group '%s' not empty, has the following nodes: %s"
                % (group.name, ", ".join(sorted(n.name for n in members))),
                ECODE_STATE,
            )
        if len(self.config.groups()) == 1:
            raise OpPrereqError(
                "Group '%s' is the only group, cannot be removed" % group.name,
                ECODE_STATE,
            )
        return group

    def execute(self):
        group = self.check()
        self.config.remove_group(group.uuid)
        return self.save()


class GroupRename(Unit):
    """Rename a node group; the result is the new name."""

    def lock_requests(self):
        return [_group_lock(self.op["group_name"]), _group_lock(self.op["new_name"])]

    def check(self):
        group = self.config.find_group(self.op["group_name"])
        other = self.config.group_by_name(self.op["new_name"])
        if other is not None and other is not group:
            raise OpPrereqError(
                "Desired new name '%s' clashes with existing node group"
                % self.op["new_name"],
                ECODE_EXISTS,
            )
        return group

    def execute(self):
        group = self.check()
        self.config.rename_group(group.uuid, self.op["new_name"])
        return self.save(self.op["new_name"])


class GroupSetParams(Unit):
    """Change a group's parameters; the result lists C{[param, new value]}."""

    def lock_requests(self):
        return [_group_lock(self.op["group_name"])]

    def changes(self):
        return {k: self.op[k] for k in _GROUP_PARAMS if self.op.get(k) is not None}

    def check(self):
        require_changes(self.changes(), "node group '%s'" % self.op["group_name"])
        return self.config.find_group(self.op["group_name"])

    def execute(self):
        group = self.check()
        result = []
        for key, value in sorted(self.changes().items()):
            if _GROUP_PARAMS[key]:
                value = merge_params(getattr(group, key), value)
            setattr(group, key, value)
            result.append([key, value])
        self.config.touch(group)
        return self.save(result)


class GroupAssignNodes(Unit):
    """Move nodes into a group."""

    def lock_requests(self):
        requests = [_group_lock(self.op["group_name"])]
        for name in self.op["nodes"]:
            requests.append((locks.LEVEL_NODE, name, True))
            node = self.config.node_by_name(name)
            group = self.config.group(node.group) if node is not None else None
            if group is not None:
                # The group the node leaves changes too.
                requests.append(_group_lock(group.name))
        return _merge(requests)

    def check(self):
        group = self.config.find_group(self.op["group_name"])
        nodes = [self.config.find_node(name) for name in self.op["nodes"]]
        if not self.op.get("force"):
            self._check_split_instances(group, nodes)
        return group, nodes

    def _check_split_instances(self, group, nodes):
        moving = {n.uuid for n in nodes}
        for node in nodes:
            for instance in self.config.instances_on_node(node.uuid):
                for other in instance.all_nodes:
                    other_node = self.config.node(other)
                    if other not in moving and other_node.group != group.uuid:
                        raise OpPrereqError(
                            "Instance '%s' would be split across node groups;"
                            " use force to assign anyway" % instance.name,
                            ECODE_STATE,
                        )

    def execute(self):
        group, nodes = self.check()
        for node in nodes:
            self.config.set_node_group(node.uuid, group.uuid)
        return self.save()


def _merge(requests):
    """One request per lock, exclusive if any request for it was."""
    seen = {}
    for level, name, exclusive in requests:
        seen[(level, name)] = seen.get((level, name), False) or exclusive
    return [(level, name, exclusive) for (level, name), exclusive in seen.items()]
