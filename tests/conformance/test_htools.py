"""htools from Debian's ganeti-htools, in their RAPI mode (C{-m URL}), against our server.

hinfo, hspace, hbal and hcheck read the cluster through four GETs
(C{/2/groups?bulk=1}, C{/2/nodes?bulk=1}, C{/2/instances?bulk=1},
C{/2/info}); each must load it without error, and the figures they print
(nodes, instances, memory, disk, CPUs) must be what the API says the
cluster holds.  The URLs are written as users write them: plain HTTP
without credentials, and HTTPS with credentials in the URL (htools do not
verify certificates).
"""

import os
import re

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from tests.conformance.fixture import DEBIAN_BIN, ConformanceCluster, Report, installed, run_program
from tests.helpers import READER, WRITER

TOOLS = ("hinfo", "hspace", "hbal", "hcheck")


def url_with(cluster, user, https=True):
    base = cluster.https_url if https else cluster.http_url
    if user is None:
        return base
    scheme, rest = base.split("://", 1)
    return "%s://%s:%s@%s" % (scheme, user[0], user[1], rest)


def key_values(text, prefix):
    """C{KEY=value} lines of a C{--machine-readable} output starting with C{prefix}."""
    values = {}
    for line in text.splitlines():
        if line.startswith(prefix) and "=" in line:
            key, _, value = line.partition("=")
            values[key] = value.strip().strip("'")
    return values


def table_after(text, title):
    """Rows of the table printed under the line C{title}: dicts by column.

    htools leave the flag column (C{F}) blank when there is nothing to flag,
    so a row one cell short lines up from the second column.
    """
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.strip() == title:
            break
    else:
        return None
    header = lines[index + 1].split()
    rows = []
    for line in lines[index + 2:]:
        cells = line.split()
        if not cells:
            break
        if len(cells) == len(header) - 1:
            cells = [""] + cells
        if len(cells) != len(header):
            return None
        rows.append(dict(zip(header, cells)))
    return rows


def instance_rows(text, names):
    """The rows of an instance map: C{{name: {pnode, vcpu, mem, dsk}}}.

    The secondary node column is blank for instances without one, so cells
    are read around the name: the primary node follows it, and C{vcpu},
    C{mem}, C{dsk} come before the last four (load) columns.
    """
    rows = {}
    for line in text.splitlines():
        cells = line.split()
        for position, cell in enumerate(cells):
            if cell in names and len(cells) >= position + 9:
                rows[cell] = {"pnode": cells[position + 1], "vcpu": cells[-7],
                              "mem": cells[-6], "dsk": cells[-5]}
                break
    return rows


def instance_memory(instance):
    """The memory htools count for an instance: live if known, else configured."""
    if isinstance(instance["oper_ram"], int) and not isinstance(instance["oper_ram"], bool):
        return instance["oper_ram"]
    return instance["beparams"]["memory"]


class Expected:
    """The figures htools should print, from what the API answers."""

    def __init__(self, state):
        self.nodes = state["nodes"]
        self.instances = state["instances"]
        self.groups = state["groups"]
        self.live = [n for n in self.nodes if not n["offline"] and n.get("vm_capable", True)]
        self.running = [i for i in self.instances if i["status"] == "running"]

    def node_memory(self, name):
        return sum(instance_memory(i) for i in self.running if i["pnode"] == name)

    @property
    def total_memory(self):
        return sum(n["mtotal"] for n in self.live)

    @property
    def total_disk(self):
        return sum(n["dtotal"] for n in self.live)

    @property
    def total_cpus(self):
        return sum(n["ctotal"] for n in self.live)

    @property
    def instance_memory(self):
        return sum(instance_memory(i) for i in self.running)


def gib(mib):
    return mib / 1024.0


class HtoolsTests(TestCase):
    timeout = 600

    def run_tool(self, report, tool, args, expect_codes=(0,)):
        """Run one tool; its L{ProgramResult}, or None after failing the check."""
        d = run_program([os.path.join(DEBIAN_BIN, tool)] + args, timeout=120)

        def ran(result):
            if result.code not in expect_codes or result.timed_out:
                report.failed("%s runs" % tool, result.describe())
                return None
            if "Error" in result.err or "Error" in result.out:
                report.failed("%s runs" % tool, "printed an error:\n" + result.describe())
                return None
            report.passed("%s runs (%s)" % (tool, " ".join(args)))
            return result

        return d.addCallback(ran)

    def check_loaded(self, report, tool, output, expected):
        match = re.search(r"Loaded (\d+) nodes, (\d+) instances", output)
        if not report.expect("%s: loaded counts" % tool, match is not None,
                             "no 'Loaded N nodes, M instances' line:\n" + output):
            return
        report.equal("%s: nodes and instances loaded" % tool,
                     (int(match.group(1)), int(match.group(2))),
                     (len(expected.nodes), len(expected.instances)))

    def check_node_table(self, report, tool, rows, expected):
        if not report.expect("%s: node table" % tool, rows is not None,
                             "no node table could be read"):
            return
        by_name = {row["Name"]: row for row in rows}
        report.equal("%s: node names" % tool, sorted(by_name),
                     sorted(n["name"] for n in expected.nodes))
        for node in expected.live:
            row = by_name.get(node["name"])
            if row is None:
                continue
            wrong = []
            for column, got, want in (
                ("t_mem", int(row["t_mem"]), node["mtotal"]),
                ("i_mem", int(row["i_mem"]), expected.node_memory(node["name"])),
                ("pcpu", int(row["pcpu"]), node["ctotal"]),
                ("pcnt", int(row["pcnt"]), node["pinst_cnt"]),
                ("scnt", int(row["scnt"]), node["sinst_cnt"]),
            ):
                if got != want:
                    wrong.append("%s %s, expected %s" % (column, got, want))
            if abs(int(row["t_dsk"]) - gib(node["dtotal"])) > 0.5:
                wrong.append("t_dsk %s GiB for dtotal %s MiB" % (row["t_dsk"],
                                                                 node["dtotal"]))
            report.expect(
                "%s: node %s (memory t_mem, i_mem; disk t_dsk; pcpu, pcnt, scnt)"
                % (tool, node["name"]), not wrong, "; ".join(wrong))

    def check_instance_map(self, report, tool, output, expected):
        names = {i["name"] for i in expected.instances}
        rows = instance_rows(output, names)
        report.equal("%s: instance names" % tool, sorted(rows), sorted(names))
        for instance in expected.instances:
            row = rows.get(instance["name"])
            if row is None:
                continue
            wrong = []
            for column, got, want in (
                ("pnode", row["pnode"], instance["pnode"]),
                ("mem", int(row["mem"]), instance_memory(instance)),
                ("vcpu", int(row["vcpu"]), instance["beparams"]["vcpus"]),
            ):
                if got != want:
                    wrong.append("%s %s, expected %s" % (column, got, want))
            if abs(int(row["dsk"]) - gib(instance["disk_usage"])) > 0.5:
                wrong.append("dsk %s GiB for disk_usage %s MiB" % (row["dsk"],
                                                                   instance["disk_usage"]))
            report.expect("%s: instance %s (pnode, mem, vcpu, dsk)"
                          % (tool, instance["name"]), not wrong, "; ".join(wrong))

    @defer.inlineCallbacks
    def test_htools(self):
        """hinfo, hspace, hbal and hcheck load the cluster over RAPI and print
        the nodes, instances, memory and disk the cluster holds."""
        report = Report("htools (ganeti-htools)")
        if not all([installed(os.path.join(DEBIAN_BIN, tool), "ganeti-htools", report)
                    for tool in TOOLS]):
            report.finish(self)
            return
        cluster = yield ConformanceCluster(self).start()
        expected = Expected((yield cluster.snapshot()))
        report.equal("fixture: every instance runs", len(expected.running),
                     len(expected.instances))
        templates = (yield cluster.api("GET", "/2/info"))[1]["enabled_disk_templates"]
        template = "file" if "file" in templates else templates[0]

        # hinfo: plain HTTP without credentials, and HTTPS with a read user.
        for label, url in (("hinfo over http", url_with(cluster, None, https=False)),
                           ("hinfo over https", url_with(cluster, READER))):
            result = yield self.run_tool(report, "hinfo",
                                         ["-m", url, "-p", "--print-instances"])
            if result is not None:
                # The tables go to standard error, the summary to standard output.
                output = result.out + result.err
                self.check_loaded(report, label, output, expected)
                self.check_node_table(report, label,
                                      table_after(output, "Cluster status:"), expected)
                self.check_instance_map(report, label, output, expected)

        # hspace: HTTPS with a read user, machine-readable figures.
        result = yield self.run_tool(
            report, "hspace",
            ["-m", url_with(cluster, READER), "--disk-template=%s" % template,
             "--standard-alloc=1024,128,1", "--machine-readable=yes"],
        )
        if result is not None:
            values = key_values(result.out, "HTS_")
            report.equal("hspace: HTS_OK", values.get("HTS_OK"), "1")
            for key, want in (
                ("HTS_CLUSTER_NODES", len(expected.live)),
                ("HTS_INI_INST_CNT", len(expected.instances)),
                ("HTS_CLUSTER_MEM", expected.total_memory),
                ("HTS_CLUSTER_DSK", expected.total_disk),
                ("HTS_CLUSTER_CPU", expected.total_cpus),
                ("HTS_INI_MEM_INST", expected.instance_memory),
                ("HTS_SPEC_MEM", 128),
                ("HTS_SPEC_DSK", 1024),
                ("HTS_SPEC_CPU", 1),
            ):
                got = values.get(key)
                report.equal("hspace: %s" % key, int(got) if got is not None else None,
                             want)
            report.equal("hspace: HTS_SPEC_DISK_TEMPLATE",
                         values.get("HTS_SPEC_DISK_TEMPLATE"), template)
            report.expect("hspace: HTS_ALLOC_INSTANCES",
                          values.get("HTS_ALLOC_INSTANCES", "").isdigit(),
                          "not a count: %r" % values.get("HTS_ALLOC_INSTANCES"))

        # hbal: HTTPS with the write user, as the Prometheus exporter runs it.
        result = yield self.run_tool(
            report, "hbal", ["-m", url_with(cluster, WRITER), "-G", "default", "-v"])
        if result is not None:
            self.check_loaded(report, "hbal", result.out, expected)
            match = re.search(r"Group size (\d+) nodes, (\d+) instances", result.out)
            report.expect("hbal: group size", match is not None
                          and (int(match.group(1)), int(match.group(2)))
                          == (len(expected.nodes), len(expected.instances)),
                          "group size line: %r" % (match.group(0) if match else None))
            report.expect("hbal: initial score",
                          re.search(r"Initial score: \d+\.\d+", result.out) is not None,
                          "no initial score:\n" + result.out)

        # hcheck: plain HTTP with a read user; exit 1 means "needs rebalancing".
        result = yield self.run_tool(
            report, "hcheck",
            ["-m", url_with(cluster, READER, https=False), "--machine-readable"],
            expect_codes=(0, 1),
        )
        if result is not None:
            values = key_values(result.out, "HCHECK_")
            report.equal("hcheck: HCHECK_OK", values.get("HCHECK_OK"), "1")
            need = values.get("HCHECK_INIT_CLUSTER_NEED_REBALANCE")
            report.equal("hcheck: exit status follows NEED_REBALANCE", result.code,
                         1 if need == "1" else 0)
            default = [g for g in expected.groups if g["name"] == "default"][0]
            report.equal("hcheck: group uuid", values.get("HCHECK_GROUP_UUID_0"),
                         default["uuid"])
            report.equal("hcheck: instances on offline nodes",
                         values.get("HCHECK_INIT_CLUSTER_OFFLINE_PRI"), "0")

        # Credentials are checked: a wrong password makes the tools fail to load.
        result = yield run_program(
            [os.path.join(DEBIAN_BIN, "hinfo"), "-m",
             url_with(cluster, (READER[0], "wrong"))], timeout=120)
        report.expect("hinfo: a wrong password fails to load", result.code != 0
                      and "failed to load data" in result.err, result.describe())
        report.finish(self)
