# -*- test-case-name: tests.test_web_nodes -*-
"""C{OP_OS_DIAGNOSE}: the OS definitions the nodes offer, merged per name.

Every online VM-capable node is asked (C{os_diagnose}); a node that fails
to answer is reported in C{node_status} and left out of the verdict, and
only when no node answers does the opcode fail.  An OS is C{valid} when it
is valid on every node that answered; its variants, parameters and API
versions are those all of those nodes agree on.

As in Ganeti, hidden and blacklisted OSes are left out unless the fields
C{hidden} or C{blacklisted} are asked for, and invalid ones unless
C{valid} is.
"""

from ganeti_rapi.engine.errors import ECODE_INVAL, OpExecError, OpPrereqError
from ganeti_rapi.engine.units.base import Unit
from ganeti_rapi.engine.units.nodes import nice_key, node_runner

#: Fields of an OS row.
OS_FIELDS = (
    "name", "valid", "hidden", "blacklisted", "variants", "parameters",
    "api_versions", "node_status", "os_hvp", "osparams",
)

#: Seconds the slowest node may take to list its OS definitions.
DIAGNOSE_TIMEOUT = 60


def _str_list(value):
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, str)]


def _parameters(value):
    """C{[[name, description]]} from what a node sent, leniently."""
    result = []
    if not isinstance(value, list):
        return result
    for item in value:
        if isinstance(item, dict):
            item = [item.get("name"), item.get("description", "")]
        if isinstance(item, (list, tuple)) and item and isinstance(item[0], str):
            description = item[1] if len(item) > 1 else ""
            result.append([item[0], "" if description is None else str(description)])
    return result


def _api_versions(value):
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, int) and not isinstance(v, bool)]


def parse_answer(answer):
    """C{{name: [path, status, diagnose, variants, parameters, api_versions]}}
    from one node's C{os_diagnose} answer; malformed entries are skipped."""
    entries = {}
    if not isinstance(answer, list):
        return entries
    for item in answer:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        if item["name"] in entries:
            continue
        diagnose = item.get("diagnose")
        entries[item["name"]] = [
            item.get("path") if isinstance(item.get("path"), str) else None,
            bool(item.get("status")),
            diagnose if isinstance(diagnose, str) else "",
            _str_list(item.get("variants")),
            _parameters(item.get("parameters")),
            _api_versions(item.get("api_versions")),
        ]
    return entries


def _agreed(lists):
    """The items of the first list that every other list holds too, in order."""
    if not lists:
        return []
    first, rest = lists[0], lists[1:]
    return [item for item in first if all(item in other for other in rest)]


class OsDiagnose(Unit):
    """Ask the nodes for their OS definitions; rows in C{output_fields} order."""

    def check(self):
        unknown = [f for f in self.op["output_fields"] if f not in OS_FIELDS]
        if unknown:
            raise OpPrereqError(
                "Unknown output fields selected: %s" % ", ".join(unknown), ECODE_INVAL
            )

    async def execute(self):
        self.check()
        runner = node_runner(self.env)
        nodes = sorted(
            (n for n in self.config.nodes() if n.vm_capable and not n.offline),
            key=lambda n: nice_key(n.name),
        )
        if not nodes:
            return []
        outcomes = await runner.call_nodes(nodes, "os_diagnose", DIAGNOSE_TIMEOUT)
        answered, failed = [], []
        for node in nodes:
            ok, value = outcomes.get(node.uuid, (False, "no answer"))
            if ok and isinstance(value, list):
                answered.append((node, parse_answer(value)))
            else:
                failed.append((node, value if not ok else "malformed answer"))
        if not answered:
            raise OpExecError(
                "No node could list its OS definitions: %s"
                % "; ".join("%s: %s" % (node.name, error) for node, error in failed)
            )
        for node, error in failed:
            await self.env.feedback(
                "Node %s did not list its OS definitions: %s" % (node.name, error)
            )
        names = set()
        for _, entries in answered:
            names.update(entries)
        if self.op.get("names"):
            names &= set(self.op["names"])
        rows = []
        for name in sorted(names, key=nice_key):
            info = self._merge(name, answered, failed)
            if not self._shown(info):
                continue
            rows.append([info[field] for field in self.op["output_fields"]])
        return rows

    def _merge(self, name, answered, failed):
        cluster = self.config.cluster
        present = [entries.get(name) for _, entries in answered]
        valid = all(entry is not None and entry[1] for entry in present)
        agreeing = [entry for entry in present if entry is not None and entry[1]]
        if not agreeing:
            agreeing = [entry for entry in present if entry is not None]
        node_status = {}
        for node, entries in answered:
            entry = entries.get(name)
            node_status[node.name] = [entry] if entry is not None else []
        for node, error in failed:
            node_status[node.name] = [[None, False, "No answer: %s" % (error,), [], [], []]]
        return {
            "name": name,
            "valid": valid,
            "hidden": name in cluster.hidden_os,
            "blacklisted": name in cluster.blacklisted_os,
            "variants": _agreed([entry[3] for entry in agreeing]),
            "parameters": _agreed([entry[4] for entry in agreeing]),
            "api_versions": _agreed([entry[5] for entry in agreeing]),
            "node_status": node_status,
            "os_hvp": dict(cluster.os_hvp.get(name, {})),
            "osparams": dict(cluster.osparams.get(name, {})),
        }

    def _shown(self, info):
        fields = self.op["output_fields"]
        for flag in ("hidden", "blacklisted"):
            if flag not in fields and info[flag]:
                return False
        return "valid" in fields or info["valid"]
