"""Drive a ganeti-rapi server with Ganeti's official RAPI client.

Run with Debian's interpreter, which sees the C{python3-ganeti-rapi}
package (C{ganeti.rapi.client}, on pycurl)::

    /usr/bin/python3 tests/conformance/official_client.py --port 5080 \\
        --user writer --password wpass --read-user reader --read-password rpass \\
        --cafile rapi-cert.pem

It calls the client's methods as applications do, checks what they return
and how the jobs they submit end, and prints one line per check::

    PASS <check>
    FAIL <check>: <reason>
    SKIP-UNSERVED <check>: <why the server does not serve it yet>

A check is named after the client method it exercises (C{GetNodes(bulk)},
C{CreateInstance(dry-run)}, ...).  A method counts as not served when its
resource answers 404 or 501, when its job fails with this server's
"Opcode ... is not supported" error, or when the feature that gates it is
missing from C{/2/features}; that is reported, never silently dropped, and
it is only allowed for methods outside L{SERVED}.  Add a method to
L{SERVED} once the server serves it, so that losing it again is a failure.

The exit status is 1 if any check failed, 0 otherwise.
"""

import argparse
import re
import sys
import time

import pycurl
from ganeti.rapi import client as rapi

#: Methods whose resources this server serves.  For these, "not served" is a
#: failure.  Methods missing here are still called: they pass when they work
#: and are reported as SKIP-UNSERVED while the server does not serve them.
SERVED = frozenset([
    # cluster
    "GetVersion", "GetFeatures", "GetInfo", "GetOperatingSystems",
    "GetClusterTags", "AddClusterTags", "DeleteClusterTags",
    "RedistributeConfig", "ModifyCluster",
    # jobs
    "GetJobs", "GetJobStatus", "WaitForJobCompletion", "WaitForJobChange",
    "CancelJob",
    # groups
    "GetGroups", "GetGroup", "CreateGroup", "ModifyGroup", "RenameGroup",
    "AssignGroupNodes", "DeleteGroup", "GetGroupTags", "AddGroupTags",
    "DeleteGroupTags",
    # nodes
    "GetNodes", "GetNode", "GetNodeRole", "SetNodeRole", "ModifyNode",
    "PowercycleNode", "GetNodeStorageUnits", "ModifyNodeStorageUnits",
    "RepairNodeStorageUnits", "EvacuateNode", "MigrateNode", "GetNodeTags",
    "AddNodeTags", "DeleteNodeTags",
    # query
    "Query", "QueryFields",
    # instances
    "CreateInstance", "GetInstances", "GetInstance", "GetInstanceInfo",
    "ShutdownInstance", "StartupInstance", "RebootInstance", "RenameInstance",
    "DeleteInstance", "GetInstanceTags", "AddInstanceTags",
    "DeleteInstanceTags",
    # transport, errors and access (not client methods)
    "Errors", "Access", "TLS",
    # instance operations beyond the lifecycle
    "GetInstanceConsole", "ModifyInstance", "ActivateInstanceDisks",
    "DeactivateInstanceDisks", "RecreateInstanceDisks", "GrowInstanceDisk",
    "ReinstallInstance", "ReplaceInstanceDisks", "MigrateInstance",
    "FailoverInstance", "PrepareExport", "ExportInstance", "InstancesMultiAlloc",
    # networks
    "GetNetworks", "GetNetwork", "CreateNetwork", "ConnectNetwork",
    "DisconnectNetwork", "ModifyNetwork", "RenameNetwork", "DeleteNetwork",
    "GetNetworkTags", "AddNetworkTags", "DeleteNetworkTags",
    # job filter rules
    "GetFilters", "GetFilter", "AddFilter", "ReplaceFilter", "DeleteFilter",
])

#: What this server's job queue says about an opcode it cannot carry out yet.
UNSUPPORTED_OPCODE = re.compile(r"^Opcode OP_\w+ is not supported")

FINAL = frozenset(["success", "error", "canceled"])
OS_NAME = "ganeti-rapi-noop"


class CheckFailed(Exception):
    """A check found something wrong."""


class Unserved(Exception):
    """The server does not serve what a check needs (yet)."""


def expect(condition, message, *args):
    if not condition:
        raise CheckFailed(message % args if args else message)


def method_of(check):
    """The client method (or area) a check name belongs to: its first name."""
    return re.split(r"[(/+: ]", check, 1)[0]


def api_error_code(error):
    return getattr(error, "code", None)


def unserved_answer(error):
    """Whether a GanetiApiError says the resource is not served (404, 501)."""
    return (isinstance(error, rapi.GanetiApiError)
            and not isinstance(error, rapi.CertificateError)
            and api_error_code(error) in (404, 501))


def job_error(job):
    """C{(error class, message, classification)} of a failed job, or None."""
    for result in job.get("opresult") or []:
        if (isinstance(result, list) and len(result) == 2
                and isinstance(result[0], str) and isinstance(result[1], list)):
            args = result[1]
            message = args[0] if args else ""
            classification = args[1] if len(args) > 1 else None
            return result[0], message, classification
    return None


class Driver:
    def __init__(self, options):
        self.options = options
        self.failures = 0
        host, port = options.host, options.port
        self.cl = rapi.GanetiRapiClient(
            host, port=port, username=options.user, password=options.password)
        self.reader = rapi.GanetiRapiClient(
            host, port=port, username=options.read_user,
            password=options.read_password)
        self.anonymous = rapi.GanetiRapiClient(host, port=port)
        self.features = []
        self.nodes = []
        self.master = None
        self.others = []

    # -- reporting ----------------------------------------------------------

    def line(self, text):
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def check(self, name, function, *args):
        """Run one check and print its line; the check's return value or None."""
        try:
            result = function(*args)
        except Unserved as e:
            if method_of(name) in SERVED:
                self.failures += 1
                self.line("FAIL %s: served, but answered as not served: %s" % (name, e))
            else:
                self.line("SKIP-UNSERVED %s: %s" % (name, e))
            return None
        except rapi.GanetiApiError as e:
            self.failures += 1
            self.line("FAIL %s: %s (code %s)" % (name, e, api_error_code(e)))
            return None
        except Exception as e:  # a failed check, or the client choking
            self.failures += 1
            self.line("FAIL %s: %s: %s" % (name, type(e).__name__, e))
            return None
        self.line("PASS %s" % name)
        return result

    def served(self, function, *args, **kwargs):
        """Call a client method whose resource may not be served yet.

        @raise Unserved: the resource answered 404 or 501.
        """
        try:
            return function(*args, **kwargs)
        except rapi.GanetiApiError as e:
            if unserved_answer(e):
                raise Unserved("the server answers %s" % (e,)) from None
            raise

    # -- jobs ---------------------------------------------------------------

    def job_id(self, value):
        expect(isinstance(value, int) and not isinstance(value, bool),
               "a job id should be a bare integer, got %r", value)
        return value

    def finish(self, job_id, timeout=120.0):
        """Wait for a job as applications do (WaitForJobCompletion); the job."""
        period = 0.1
        self.cl.WaitForJobCompletion(job_id, period=period,
                                     retries=int(timeout / period))
        job = self.cl.GetJobStatus(job_id)
        expect(job["status"] in FINAL, "job %s did not end within %ds (status %s)",
               job_id, timeout, job["status"])
        return job

    def succeeded(self, job_id, timeout=120.0):
        """Wait for a job that must succeed; its job object."""
        job = self.finish(self.job_id(job_id), timeout)
        if job["status"] != "success":
            error = job_error(job)
            if error and UNSUPPORTED_OPCODE.match(error[1]):
                raise Unserved("job %s: %s" % (job_id, error[1]))
            raise CheckFailed("job %s ended %s: %r" % (job_id, job["status"],
                                                     job.get("opresult")))
        expect(self.cl.WaitForJobCompletion(job_id, period=0, retries=1) is True,
               "WaitForJobCompletion is not True for successful job %s", job_id)
        return job

    def failed(self, job_id, error_class, classifications):
        """Wait for a job that must fail with a classified error; the error."""
        job = self.finish(self.job_id(job_id))
        expect(job["status"] == "error", "job %s should fail, it ended %s: %r",
               job_id, job["status"], job.get("opresult"))
        error = job_error(job)
        expect(error is not None, "job %s: no [class, [message, classification]]"
               " in opresult %r", job_id, job.get("opresult"))
        if UNSUPPORTED_OPCODE.match(error[1]):
            raise Unserved("job %s: %s" % (job_id, error[1]))
        expect(error[0] == error_class and error[2] in classifications,
               "job %s failed with %r, expected %s with one of %s",
               job_id, error, error_class, ", ".join(classifications))
        expect(self.cl.WaitForJobCompletion(job_id, period=0, retries=1) is False,
               "WaitForJobCompletion is not False for failed job %s", job_id)
        return error

    def result(self, job_id):
        """The first opcode's result of a job that must succeed."""
        return self.succeeded(job_id)["opresult"][0]

    # -- checks: cluster ----------------------------------------------------

    def cluster(self):
        def version():
            version = self.cl.GetVersion()
            expect(version == 2, "GET /version gave %r", version)

        def features():
            self.features = self.cl.GetFeatures()
            expect(isinstance(self.features, list), "features: %r", self.features)
            for feature in ("instance-create-reqv1", "node-migrate-reqv1",
                            "node-evac-res1"):
                expect(feature in self.features, "%s missing from %r",
                       feature, self.features)

        def info():
            info = self.cl.GetInfo()
            for key in ("name", "master", "software_version", "default_hypervisor",
                        "enabled_hypervisors", "ipolicy", "tags", "beparams",
                        "candidate_pool_size", "enabled_disk_templates"):
                expect(key in info, "no %r in /2/info", key)
            parts = info["software_version"].split(".")
            expect(all(p.isdigit() for p in parts) and len(parts) >= 2,
                   "software_version %r is not dotted integers",
                   info["software_version"])
            self.info = info

        def operating_systems():
            names = self.cl.GetOperatingSystems()
            expect(OS_NAME in names, "%s not among %r", OS_NAME, names)

        def tags():
            tags = ["conformance:one", "conformance:two"]
            self.succeeded(self.cl.AddClusterTags(tags, dry_run=True))
            expect(not set(tags) & set(self.cl.GetClusterTags()),
                   "a dry run added tags")
            self.succeeded(self.cl.AddClusterTags(tags, reason="conformance"))
            present = self.cl.GetClusterTags()
            expect(set(tags) <= set(present), "tags %r not in %r", tags, present)
            self.succeeded(self.cl.DeleteClusterTags(tags))
            expect(not set(tags) & set(self.cl.GetClusterTags()), "tags not removed")

        def bad_tag():
            self.failed(self.cl.DeleteClusterTags(["conformance:absent"]),
                        "OpPrereqError", ("unknown_entity",))

        def redistribute():
            self.succeeded(self.cl.RedistributeConfig())

        def modify():
            before = self.cl.GetInfo()["candidate_pool_size"]
            self.succeeded(self.cl.ModifyCluster(candidate_pool_size=before + 1))
            after = self.cl.GetInfo()["candidate_pool_size"]
            expect(after == before + 1, "candidate_pool_size %r after setting %r",
                   after, before + 1)
            self.succeeded(self.cl.ModifyCluster(candidate_pool_size=before))

        self.check("GetVersion", version)
        self.check("GetFeatures", features)
        self.check("GetInfo", info)
        self.check("GetOperatingSystems", operating_systems)
        self.check("AddClusterTags/GetClusterTags/DeleteClusterTags", tags)
        self.check("DeleteClusterTags(unknown tag)", bad_tag)
        self.check("RedistributeConfig", redistribute)
        self.check("ModifyCluster", modify)

    # -- checks: nodes ------------------------------------------------------

    def node_checks(self):
        def listing():
            names = self.cl.GetNodes()
            expect(names and all(isinstance(n, str) for n in names),
                   "node names: %r", names)
            self.nodes = names
            self.master = self.cl.GetInfo()["master"]
            expect(self.master in names, "master %r not among %r", self.master, names)
            self.others = [n for n in names if n != self.master]
            expect(len(self.others) >= 2, "expected two nodes besides the master: %r",
                   names)

        def bulk():
            nodes = self.cl.GetNodes(bulk=True)
            expect(sorted(n["name"] for n in nodes) == sorted(self.nodes),
                   "bulk names differ")
            for node in nodes:
                for key in ("mtotal", "mfree", "dtotal", "dfree", "ctotal", "role",
                            "pinst_list", "sinst_list", "offline", "drained",
                            "master_candidate", "group.uuid", "pip", "sip"):
                    expect(key in node, "node %s has no %r", node["name"], key)
                expect(isinstance(node["mtotal"], int) and node["mtotal"] > 0,
                       "node %s: mtotal %r", node["name"], node["mtotal"])

        def single():
            node = self.cl.GetNode(self.others[0])
            expect(node["name"] == self.others[0], "GetNode gave %r", node.get("name"))

        def roles():
            expect(self.cl.GetNodeRole(self.master) == "master", "master's role")
            node = self.others[1]
            expect(self.cl.GetNodeRole(node) in ("master-candidate", "regular"),
                   "role of %s", node)
            self.succeeded(self.cl.SetNodeRole(node, "drained"))
            expect(self.cl.GetNodeRole(node) == "drained", "role after drained")
            self.succeeded(self.cl.SetNodeRole(node, "master-candidate"))
            expect(self.cl.GetNodeRole(node) == "master-candidate",
                   "role after master-candidate")

        def master_role():
            self.failed(self.cl.SetNodeRole(self.master, "regular"),
                        "OpPrereqError", ("wrong_input",))

        def modify():
            node = self.others[0]
            self.succeeded(self.cl.ModifyNode(node, ndparams={"ssh_port": 2222}))
            expect(self.cl.GetNode(node)["ndparams"]["ssh_port"] == 2222,
                   "ssh_port not changed")
            self.succeeded(self.cl.ModifyNode(node, ndparams={"ssh_port": "default"}))
            expect(self.cl.GetNode(node)["ndparams"]["ssh_port"] != 2222,
                   "ssh_port not reset")

        def powercycle():
            result = self.result(self.cl.PowercycleNode(self.master, force=True))
            expect(isinstance(result, str), "powercycle result %r", result)

        def storage():
            rows = self.result(self.cl.GetNodeStorageUnits(
                self.others[0], "file", "name,size,free,allocatable"))
            expect(rows and len(rows[0]) == 4, "storage rows %r", rows)
            self.storage_name = rows[0][0]

        def storage_modify():
            self.failed(self.cl.ModifyNodeStorageUnits(
                self.others[0], "file", self.storage_name, allocatable=False),
                "OpPrereqError", ("wrong_input",))

        def storage_repair():
            self.failed(self.cl.RepairNodeStorageUnits(
                self.others[0], "file", self.storage_name),
                "OpPrereqError", ("wrong_input",))

        def evacuate():
            result = self.result(self.cl.EvacuateNode(
                self.master, mode=rapi.NODE_EVAC_SEC, remote_node=self.others[0]))
            expect(result == {"jobs": []}, "evacuating an empty node gave %r", result)

        def migrate():
            result = self.result(self.cl.MigrateNode(self.master, mode="live"))
            expect(result == {"jobs": []}, "migrating an empty node gave %r", result)

        def tags():
            node = self.others[0]
            self.succeeded(self.cl.AddNodeTags(node, ["conformance:node"]))
            expect("conformance:node" in self.cl.GetNodeTags(node), "node tag missing")
            self.succeeded(self.cl.DeleteNodeTags(node, ["conformance:node"]))
            expect("conformance:node" not in self.cl.GetNodeTags(node),
                   "node tag not removed")

        self.check("GetNodes", listing)
        if not self.others:
            return
        self.check("GetNodes(bulk)", bulk)
        self.check("GetNode", single)
        self.check("GetNodeRole/SetNodeRole", roles)
        self.check("SetNodeRole(master)", master_role)
        self.check("ModifyNode", modify)
        self.check("PowercycleNode", powercycle)
        self.check("GetNodeStorageUnits", storage)
        self.check("ModifyNodeStorageUnits(file)", storage_modify)
        self.check("RepairNodeStorageUnits(file)", storage_repair)
        self.check("EvacuateNode", evacuate)
        self.check("MigrateNode", migrate)
        self.check("AddNodeTags/GetNodeTags/DeleteNodeTags", tags)

    # -- checks: groups -----------------------------------------------------

    def group_checks(self):
        def listing():
            names = self.cl.GetGroups()
            expect("default" in names, "groups %r", names)
            groups = self.cl.GetGroups(bulk=True)
            default = [g for g in groups if g["name"] == "default"]
            expect(default and set(self.nodes) <= set(default[0]["node_list"]),
                   "default group's nodes: %r", default)
            expect(self.cl.GetGroup("default")["uuid"] == default[0]["uuid"],
                   "GetGroup uuid differs")

        def lifecycle():
            self.succeeded(self.cl.CreateGroup("conf-group"))
            expect(self.cl.GetGroup("conf-group")["name"] == "conf-group", "created")
            self.succeeded(self.cl.ModifyGroup("conf-group",
                                               alloc_policy="last_resort"))
            group = self.cl.GetGroup("conf-group")
            expect(group["alloc_policy"] == "last_resort", "alloc_policy %r",
                   group["alloc_policy"])
            self.succeeded(self.cl.RenameGroup("conf-group", "conf-group2"))
            expect("conf-group2" in self.cl.GetGroups(), "rename")
            self.succeeded(self.cl.AddGroupTags("conf-group2", ["conformance:g"]))
            expect(self.cl.GetGroupTags("conf-group2") == ["conformance:g"],
                   "group tags")
            self.succeeded(self.cl.DeleteGroupTags("conf-group2", ["conformance:g"]))
            expect(self.cl.GetGroupTags("conf-group2") == [], "group tags left")
            node = self.master
            self.succeeded(self.cl.AssignGroupNodes("conf-group2", [node]))
            expect(node in self.cl.GetGroup("conf-group2")["node_list"], "assign")
            self.succeeded(self.cl.AssignGroupNodes("default", [node]))
            self.succeeded(self.cl.DeleteGroup("conf-group2"))
            expect("conf-group2" not in self.cl.GetGroups(), "group not deleted")

        def duplicate():
            self.failed(self.cl.CreateGroup("default"), "OpPrereqError",
                        ("already_exists",))

        self.check("GetGroups/GetGroup", listing)
        self.check("CreateGroup/ModifyGroup/RenameGroup/AssignGroupNodes/DeleteGroup",
                   lifecycle)
        self.check("CreateGroup(existing)", duplicate)

    # -- checks: jobs and queries ------------------------------------------

    def job_checks(self):
        def listing():
            ids = self.cl.GetJobs()
            expect(ids and all(isinstance(i, int) for i in ids), "job ids %r", ids[:5])
            jobs = self.cl.GetJobs(bulk=True)
            for job in jobs:
                for key in ("id", "ops", "status", "summary", "opstatus",
                            "received_ts", "start_ts", "end_ts"):
                    expect(key in job, "bulk job %s lacks %r", job.get("id"), key)
            job = self.cl.GetJobStatus(ids[-1])
            for key in ("id", "status", "ops", "opresult", "opstatus", "oplog",
                        "summary"):
                expect(key in job, "job lacks %r", key)
            if job["status"] in FINAL:
                expect(isinstance(job["end_ts"], list) and len(job["end_ts"]) == 2,
                       "end_ts %r is not [sec, usec]", job["end_ts"])

        def cancel_finished():
            job_id = self.cl.RedistributeConfig()
            self.finish(job_id)
            answer = self.cl.CancelJob(job_id)
            expect(isinstance(answer, list) and len(answer) == 2
                   and answer[0] is False and isinstance(answer[1], str),
                   "cancelling a finished job gave %r", answer)

        def cancel_fresh():
            job_id = self.cl.RedistributeConfig()
            answer = self.cl.CancelJob(job_id)
            expect(isinstance(answer, list) and len(answer) == 2
                   and isinstance(answer[0], bool), "CancelJob gave %r", answer)
            job = self.finish(job_id)
            if answer[0]:
                expect(job["status"] == "canceled", "canceled job ended %s",
                       job["status"])
            else:
                expect(job["status"] != "canceled", "refused cancel, yet canceled")

        def unknown_job():
            try:
                self.cl.GetJobStatus(99999999)
            except rapi.GanetiApiError as e:
                expect(e.code == 404, "unknown job: code %s", e.code)
            else:
                raise CheckFailed("an unknown job was found")

        self.check("GetJobs/GetJobStatus", listing)
        self.check("CancelJob(finished)", cancel_finished)
        self.check("CancelJob(fresh)", cancel_fresh)
        self.check("GetJobStatus(unknown)", unknown_job)

    def poll_job(self, job_id):
        """Follow a job as client_utils.PollJob does, by long polls on /wait."""
        self.job_id(job_id)
        fields = ["status"]
        previous, serial, changes = None, None, 0
        deadline = time.time() + 120
        while time.time() < deadline:
            answer = self.cl.WaitForJobChange(job_id, fields, previous, serial)
            if answer is None:
                continue
            expect(set(answer) == {"job_info", "log_entries"}, "wait answered %r",
                   answer)
            changes += 1
            previous = answer["job_info"]
            for entry in answer["log_entries"]:
                expect(len(entry) == 4, "log entry %r", entry)
                serial = max(serial or 0, entry[0])
            if previous[0] in FINAL:
                break
        else:
            raise CheckFailed("job %s did not end in 120 s of long polls" % job_id)
        expect(changes >= 1, "no change reported")
        job = self.cl.GetJobStatus(job_id)
        expect(job["status"] == previous[0], "wait said %s, job says %s",
               previous[0], job["status"])
        return job

    def query_checks(self):
        def query(what, fields, qfilter=None):
            answer = self.cl.Query(what, fields, qfilter=qfilter)
            expect([f["name"] for f in answer["fields"]] == fields,
                   "query %s fields %r", what, answer["fields"])
            for row in answer["data"]:
                expect(len(row) == len(fields) and all(len(c) == 2 for c in row),
                       "query %s row %r", what, row)
            return answer["data"]

        def nodes():
            rows = query("node", ["name", "mtotal", "role"],
                         ["=", "name", self.others[0]])
            expect(len(rows) == 1 and rows[0][0] == [0, self.others[0]],
                   "filtered node query gave %r", rows)

        def groups():
            rows = query("group", ["name", "uuid"])
            expect([0, "default"] in [r[0] for r in rows], "groups %r", rows)

        def jobs():
            rows = query("job", ["id", "status"])
            expect(rows, "no jobs")

        def instances():
            self.served(query, "instance", ["name", "pnode", "status"])

        def fields(what):
            answer = self.served(self.cl.QueryFields, what)
            names = [f["name"] for f in answer["fields"]]
            expect("name" in names or "id" in names, "fields of %s: %r", what, names)
            answer = self.cl.QueryFields(what, fields=names[:2])
            expect([f["name"] for f in answer["fields"]] == names[:2],
                   "selected fields of %s", what)

        self.check("Query(node)", nodes)
        self.check("Query(group)", groups)
        self.check("Query(job)", jobs)
        self.check("Query(instance)", instances)
        for what in ("node", "group", "job", "instance"):
            self.check("QueryFields(%s)" % what, fields, what)

    # -- checks: instances --------------------------------------------------

    def create(self, name, template, pnode, memory, disks, **extra):
        return self.cl.CreateInstance(
            "create", name, template, disks, [{}], os=OS_NAME, pnode=pnode,
            beparams={"maxmem": memory, "minmem": memory, "vcpus": 1},
            ip_check=False, name_check=False, **extra)

    def instance(self, name):
        return self.cl.GetInstance(name)

    def gone(self, name):
        try:
            self.cl.GetInstance(name)
        except rapi.GanetiApiError as e:
            return e.code == 404
        return False

    def instance_checks(self):
        a, b = "conf-a", "conf-b"
        node_a, node_b = self.others[0], self.others[1]

        def dry_run():
            self.succeeded(self.create(a, "file", node_a, 256, [{"size": 128}],
                                       dry_run=True))
            expect(self.gone(a), "a dry-run creation created %s", a)

        def create():
            job = self.succeeded(self.create(a, "file", node_a, 256, [{"size": 128}]))
            expect(job["summary"] == ["INSTANCE_CREATE(%s)" % a], "summary %r",
                   job["summary"])
            self.succeeded(self.create(b, "diskless", node_b, 128, []))

        def listing():
            names = self.cl.GetInstances()
            expect({a, b} <= set(names), "instances %r", names)
            bulk = {i["name"]: i for i in self.cl.GetInstances(bulk=True)}
            expect({a, b} <= set(bulk), "bulk instances %r", sorted(bulk))
            for key in ("admin_state", "beparams", "disk.sizes", "disk_usage",
                        "disk_template", "nic.macs", "oper_state", "oper_ram",
                        "pnode", "snodes", "status", "tags", "uuid", "os"):
                expect(key in bulk[a], "instance lacks %r", key)

        def single():
            instance = self.instance(a)
            expect(instance["pnode"] == node_a, "pnode %r", instance["pnode"])
            expect(instance["status"] == "running", "status %r", instance["status"])
            expect(instance["beparams"]["memory"] == 256, "beparams.memory %r",
                   instance["beparams"].get("memory"))
            expect(instance["disk.sizes"] == [128], "disk.sizes %r",
                   instance["disk.sizes"])
            expect(instance["disk_template"] == "file", "template")
            expect(self.instance(b)["pnode"] == node_b, "pnode of %s", b)

        def info():
            data = self.result(self.cl.GetInstanceInfo(a))
            expect(a in data, "info result %r", data)
            expect(data[a].get("pnode") == node_a, "info pnode %r",
                   data[a].get("pnode"))
            static = self.result(self.cl.GetInstanceInfo(a, static=True))
            expect(a in static, "static info result %r", static)

        def tags():
            self.succeeded(self.cl.AddInstanceTags(a, ["conformance:i"]))
            expect(self.cl.GetInstanceTags(a) == ["conformance:i"], "instance tags")
            expect(self.instance(a)["tags"] == ["conformance:i"], "tags field")
            self.succeeded(self.cl.DeleteInstanceTags(a, ["conformance:i"]))
            expect(self.cl.GetInstanceTags(a) == [], "instance tags left")

        def console():
            console = self.served(self.reader.GetInstanceConsole, a)
            expect(console.get("instance") == a, "console %r", console)
            expect(console.get("kind") in ("ssh", "vnc", "spice", "message"),
                   "console kind %r", console.get("kind"))

        def reboot():
            job = self.poll_job(self.cl.RebootInstance(a, reboot_type="soft"))
            expect(job["status"] == "success", "reboot ended %s: %r",
                   job["status"], job.get("opresult"))
            self.succeeded(job["id"])
            expect(self.instance(a)["status"] == "running", "not running after reboot")

        def shutdown():
            self.succeeded(self.cl.ShutdownInstance(a, timeout=0))
            instance = self.instance(a)
            expect((instance["status"], instance["admin_state"]) == ("ADMIN_down", "down"),
                   "after shutdown: %s/%s", instance["status"], instance["admin_state"])

        def modify():
            self.succeeded(self.served(self.cl.ModifyInstance, a,
                                       beparams={"maxmem": 320}))
            memory = self.instance(a)["beparams"]
            expect(memory["maxmem"] == 320 and memory["memory"] == 320,
                   "beparams after modify: %r", memory)

        def disks_off_on():
            self.succeeded(self.served(self.cl.DeactivateInstanceDisks, a))
            self.succeeded(self.served(self.cl.ActivateInstanceDisks, a))

        def grow():
            self.succeeded(self.served(self.cl.GrowInstanceDisk, a, 0, 64,
                                       wait_for_sync=False))
            sizes = self.instance(a)["disk.sizes"]
            expect(sizes == [192], "disk.sizes after growing by 64: %r", sizes)

        def rename():
            self.succeeded(self.cl.RenameInstance(a, a + "x", ip_check=False,
                                                  name_check=False))
            expect(self.instance(a + "x")["pnode"] == node_a, "renamed instance")
            expect(self.gone(a), "old name still answers")
            self.succeeded(self.cl.RenameInstance(a + "x", a, ip_check=False,
                                                  name_check=False))

        def startup():
            self.succeeded(self.cl.StartupInstance(a))
            expect(self.instance(a)["status"] == "running", "not running")

        def reinstall():
            if "instance-reinstall-reqv1" not in self.cl.GetFeatures():
                raise Unserved("instance-reinstall-reqv1 is not in /2/features")
            self.succeeded(self.served(self.cl.ReinstallInstance, a, os=OS_NAME))
            instance = self.instance(a)
            expect((instance["os"], instance["status"]) == (OS_NAME, "running"),
                   "after reinstall: %s/%s", instance["os"], instance["status"])

        def replace_disks():
            # Only DRBD disks can be replaced; a file instance is refused.
            self.failed(self.served(self.cl.ReplaceInstanceDisks, a), "OpPrereqError",
                        ("wrong_input", "wrong_state"))

        def recreate_disks():
            # A diskless instance has no disks to recreate.
            self.failed(self.served(self.cl.RecreateInstanceDisks, b), "OpPrereqError",
                        ("wrong_input", "wrong_state"))

        def migrate():
            self.succeeded(self.served(self.cl.MigrateInstance, b, mode="live",
                                       target_node=node_a))
            instance = self.instance(b)
            expect((instance["pnode"], instance["status"]) == (node_a, "running"),
                   "after migrating: %s/%s", instance["pnode"], instance["status"])

        def failover():
            where = self.instance(b)["pnode"]
            target = node_b if where != node_b else node_a
            self.succeeded(self.served(self.cl.FailoverInstance, b, target_node=target))
            instance = self.instance(b)
            expect((instance["pnode"], instance["status"]) == (target, "running"),
                   "after failover: %s/%s", instance["pnode"], instance["status"])

        def prepare_export():
            self.succeeded(self.served(self.cl.PrepareExport, a, "local"))

        def export():
            self.succeeded(self.served(self.cl.ExportInstance, a, "local", node_b,
                                       shutdown=True))
            expect(self.instance(a)["status"] == "running",
                   "not running again after the export")

        def multi_alloc():
            allocations = [
                self.cl.InstanceAllocation(
                    "create", name, "diskless", [], [{}], os=OS_NAME, pnode=node,
                    beparams={"maxmem": 128, "minmem": 128}, ip_check=False,
                    name_check=False)
                for name, node in (("conf-m1", node_a), ("conf-m2", node_b))
            ]
            result = self.result(self.served(self.cl.InstancesMultiAlloc, allocations))
            for _, job_id in result.get("jobs", []):
                self.succeeded(job_id)
            for name in ("conf-m1", "conf-m2"):
                expect(self.instance(name)["status"] == "running", "%s not running",
                       name)

        def delete():
            for name in (a, b, "conf-m1", "conf-m2"):
                if self.gone(name):
                    continue
                self.succeeded(self.cl.DeleteInstance(name))
                expect(self.gone(name), "%s still there after delete", name)

        self.check("CreateInstance(dry-run)", dry_run)
        self.check("CreateInstance", create)
        self.check("GetInstances", listing)
        self.check("GetInstance", single)
        self.check("GetInstanceInfo", info)
        self.check("AddInstanceTags/GetInstanceTags/DeleteInstanceTags", tags)
        self.check("GetInstanceConsole", console)
        self.check("RebootInstance+WaitForJobChange", reboot)
        self.check("ShutdownInstance", shutdown)
        self.check("ModifyInstance", modify)
        self.check("DeactivateInstanceDisks/ActivateInstanceDisks", disks_off_on)
        self.check("GrowInstanceDisk", grow)
        self.check("RenameInstance", rename)
        self.check("StartupInstance", startup)
        self.check("ReinstallInstance", reinstall)
        self.check("ReplaceInstanceDisks(file)", replace_disks)
        self.check("RecreateInstanceDisks(diskless)", recreate_disks)
        self.check("MigrateInstance", migrate)
        self.check("FailoverInstance", failover)
        self.check("PrepareExport", prepare_export)
        self.check("ExportInstance", export)
        self.check("InstancesMultiAlloc", multi_alloc)
        self.check("DeleteInstance", delete)

    # -- checks: networks and filters --------------------------------------

    def rename_network(self, name, new_name):
        """RenameNetwork (Ganeti 3.1); older clients lack the method, so the
        request goes through the client's own transport then."""
        if hasattr(self.cl, "RenameNetwork"):
            return self.cl.RenameNetwork(name, new_name)
        return self.cl._SendRequest(rapi.HTTP_PUT, "/2/networks/%s/rename" % name,
                                    [], {"new_name": new_name})

    def network_checks(self):
        net = "conf-net"

        def group_of_master():
            for group in self.cl.GetGroups(bulk=True):
                if self.master in group["node_list"]:
                    return group["name"]
            raise CheckFailed("no group holds the master %s" % self.master)

        def dry_run():
            self.served(self.cl.GetNetworks)
            self.succeeded(self.cl.CreateNetwork(net, "192.0.2.0/24", dry_run=True))
            expect(net not in self.cl.GetNetworks(), "a dry run created the network")

        def create():
            self.succeeded(self.served(self.cl.CreateNetwork, net, "192.0.2.0/24",
                                       gateway="192.0.2.1", mac_prefix="aa:bb:cc",
                                       add_reserved_ips="192.0.2.10,192.0.2.11",
                                       tags="conformance:created"))
            expect(net in self.cl.GetNetworks(), "network not listed")
            network = self.cl.GetNetwork(net)
            for key, value in (("network", "192.0.2.0/24"), ("gateway", "192.0.2.1"),
                               ("mac_prefix", "aa:bb:cc"), ("reserved_count", 5),
                               ("free_count", 251), ("group_list", []),
                               ("inst_list", []), ("tags", ["conformance:created"])):
                expect(network.get(key) == value, "%s is %r, expected %r", key,
                       network.get(key), value)
            expect(len(network["map"]) == 256 and network["map"].startswith("XX"),
                   "map %r", network["map"][:16])
            bulk = [n for n in self.cl.GetNetworks(bulk=True) if n["name"] == net]
            expect(bulk == [network], "bulk entry differs: %r", bulk)

        def connect():
            group = group_of_master()
            self.succeeded(self.cl.ConnectNetwork(net, group, "bridged", "br0",
                                                  vlan="7"))
            connections = self.cl.GetNetwork(net)["group_list"]
            expect(connections == [[group, "bridged", "br0", "7"]],
                   "group_list after connecting: %r", connections)
            self.succeeded(self.cl.DisconnectNetwork(net, group))
            expect(self.cl.GetNetwork(net)["group_list"] == [], "still connected")

        def modify():
            self.succeeded(self.cl.ModifyNetwork(net, gateway="192.0.2.254"))
            network = self.cl.GetNetwork(net)
            expect(network["gateway"] == "192.0.2.254", "gateway %r", network["gateway"])
            expect("192.0.2.1," not in network["external_reservations"],
                   "old gateway still reserved: %r", network["external_reservations"])
            self.succeeded(self.cl.ModifyNetwork(net, remove_reserved_ips=["192.0.2.11"]))
            expect(self.cl.GetNetwork(net)["free_count"] == 252, "reservation kept")

        def rename():
            self.succeeded(self.served(self.rename_network, net, net + "2"))
            names = self.cl.GetNetworks()
            expect(net + "2" in names and net not in names, "rename: %r", names)
            self.succeeded(self.rename_network(net + "2", net))

        def tags():
            self.succeeded(self.cl.AddNetworkTags(net, ["conformance:n"]))
            tags = self.cl.GetNetworkTags(net)
            expect(tags == ["conformance:created", "conformance:n"], "tags %r", tags)
            self.succeeded(self.cl.DeleteNetworkTags(net, ["conformance:n"]))
            expect(self.cl.GetNetworkTags(net) == ["conformance:created"], "tag left")

        def delete():
            self.succeeded(self.cl.DeleteNetwork(net, dry_run=True))
            expect(net in self.cl.GetNetworks(), "a dry run deleted the network")
            self.succeeded(self.served(self.cl.DeleteNetwork, net))
            expect(net not in self.cl.GetNetworks(), "network not deleted")
            expect(self.gone_network(net), "GetNetwork still answers")

        def invalid():
            self.failed(self.cl.CreateNetwork("conf-big", "10.0.0.0/8"), "OpPrereqError",
                        ("wrong_input",))

        self.check("CreateNetwork(dry-run)", dry_run)
        self.check("CreateNetwork/GetNetworks/GetNetwork", create)
        self.check("ConnectNetwork/DisconnectNetwork", connect)
        self.check("ModifyNetwork", modify)
        self.check("RenameNetwork", rename)
        self.check("AddNetworkTags/GetNetworkTags/DeleteNetworkTags", tags)
        self.check("DeleteNetwork", delete)
        self.check("CreateNetwork(too big)", invalid)

    def gone_network(self, name):
        try:
            self.cl.GetNetwork(name)
        except rapi.GanetiApiError as e:
            return e.code == 404
        return False

    def filter_checks(self):
        def lifecycle():
            self.served(self.cl.GetFilters)
            uuid = self.cl.AddFilter(0, [["jobid", [">", "id", "watermark"]]],
                                     "CONTINUE", reason_trail=[])
            try:
                expect(isinstance(uuid, str), "AddFilter gave %r", uuid)
                expect(uuid in self.cl.GetFilters(), "filter not listed")
                rule = self.cl.GetFilter(uuid)
                expect(rule["uuid"] == uuid and rule["action"] == "CONTINUE"
                       and rule["reason_trail"][-1][0] == "gnt:client",
                       "GetFilter gave %r", rule)
                expect([r for r in self.cl.GetFilters(bulk=True) if r["uuid"] == uuid]
                       == [rule], "bulk entry differs")
                answer = self.cl.ReplaceFilter(uuid, 1, [], ["RATE_LIMIT", 5],
                                               reason_trail=[])
                expect(answer == uuid, "ReplaceFilter gave %r", answer)
                rule = self.cl.GetFilter(uuid)
                expect((rule["priority"], rule["action"]) == (1, ["RATE_LIMIT", 5]),
                       "after ReplaceFilter: %r", rule)
            finally:
                expect(self.cl.DeleteFilter(uuid) is None, "DeleteFilter answer")
            expect(uuid not in self.cl.GetFilters(), "filter not deleted")
            try:
                self.cl.GetFilter(uuid)
            except rapi.GanetiApiError as e:
                expect(e.code == 404, "GetFilter of a deleted rule: %s", e)
            else:
                raise CheckFailed("GetFilter of a deleted rule answered")

        def reject():
            tag = "conformance:rejected"
            uuid = self.served(self.cl.AddFilter, 0, [["opcode", ["=[]", "tags", tag]]],
                               "REJECT")
            try:
                job = self.finish(self.cl.AddClusterTags([tag]))
                expect(job["status"] == "canceled", "rejected job ended %s",
                       job["status"])
                expect(tag not in self.cl.GetClusterTags(), "rejected tag added")
                self.succeeded(self.cl.AddClusterTags(["conformance:accepted"]))
            finally:
                self.cl.DeleteFilter(uuid)
            self.succeeded(self.cl.DeleteClusterTags(["conformance:accepted"]))

        def pause():
            reason = "conformance-pause"
            uuid = self.served(self.cl.AddFilter, 0,
                               [["reason", ["=", "reason", reason]]], "PAUSE")
            try:
                job_id = self.cl.AddClusterTags(["conformance:paused"], reason=reason)
                time.sleep(1)
                status = self.cl.GetJobStatus(job_id)["status"]
                expect(status == "queued", "paused job is %s", status)
            finally:
                self.cl.DeleteFilter(uuid)
            self.succeeded(job_id)
            self.succeeded(self.cl.DeleteClusterTags(["conformance:paused"]))

        self.check("AddFilter/GetFilters/GetFilter/ReplaceFilter/DeleteFilter",
                   lifecycle)
        self.check("AddFilter(REJECT)", reject)
        self.check("AddFilter(PAUSE)", pause)

    # -- checks: errors, access, TLS ----------------------------------------

    def error_checks(self):
        options = self.options

        def raises(code, function, *args, **kwargs):
            try:
                function(*args, **kwargs)
            except rapi.CertificateError as e:
                raise CheckFailed("certificate error where HTTP %s was expected: %s"
                                  % (code, e))
            except rapi.GanetiApiError as e:
                expect(e.code == code, "expected HTTP %s, got %s: %s", code, e.code, e)
                return str(e)
            raise CheckFailed("expected HTTP %s, the call succeeded" % code)

        def not_found():
            for function, name in ((self.cl.GetInstance, "conf-missing"),
                                   (self.cl.GetNode, "conf-missing"),
                                   (self.cl.GetGroup, "conf-missing")):
                text = raises(404, function, name)
                expect(text == "404 Not Found: Nothing matches the given URI",
                       "404 text %r", text)

        def unauthorized():
            wrong = rapi.GanetiRapiClient(options.host, port=options.port,
                                          username=options.user,
                                          password=options.password + "-wrong")
            text = raises(401, wrong.GetInfo)
            expect(text.startswith("401 Unauthorized: "), "401 text %r", text)

        def forbidden():
            text = raises(403, self.reader.AddClusterTags, ["conformance:r"])
            expect(text.startswith("403 Forbidden: "), "403 text %r", text)

        def access():
            expect(self.anonymous.GetInfo()["name"], "anonymous GetInfo")
            expect(self.reader.GetNodes(), "read user GetNodes")
            raises(401, self.anonymous.Query, "node", ["name"])
            job_id = self.cl.RedistributeConfig()
            raises(401, self.anonymous.WaitForJobChange, job_id, ["status"], None,
                   None)
            self.finish(job_id)

        def verified(host, resolve=None, cafile=options.cafile):
            generic = rapi.GenericCurlConfig(cafile=cafile, verify_hostname=True)

            def configure(curl, logger):
                generic(curl, logger)
                if resolve:
                    curl.setopt(pycurl.RESOLVE, ["%s:%d:127.0.0.1" % (resolve,
                                                                     options.port)])
            return rapi.GanetiRapiClient(host, port=options.port,
                                         username=options.read_user,
                                         password=options.read_password,
                                         curl_config_fn=configure)

        def tls():
            expect(verified("127.0.0.1").GetVersion() == 2, "verified by IP address")
            expect(verified("localhost", resolve="localhost").GetVersion() == 2,
                   "verified by name")
            try:
                verified("rapi.invalid", resolve="rapi.invalid").GetVersion()
            except rapi.CertificateError:
                pass
            else:
                raise CheckFailed("a certificate without the host name was accepted")
            if options.other_cafile:
                try:
                    verified("127.0.0.1", cafile=options.other_cafile).GetVersion()
                except rapi.CertificateError:
                    pass
                else:
                    raise CheckFailed("a certificate from another CA was accepted")

        self.check("Errors: 404 text", not_found)
        self.check("Errors: 401 with a wrong password", unauthorized)
        self.check("Errors: 403 for the read user", forbidden)
        self.check("Access: anonymous and read user", access)
        self.check("TLS: cafile and verify_hostname", tls)

    def run(self):
        self.cluster()
        self.node_checks()
        if self.others:
            self.group_checks()
            self.job_checks()
            self.query_checks()
            self.instance_checks()
        if self.master:
            self.network_checks()
        self.filter_checks()
        self.error_checks()
        return 1 if self.failures else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--read-user", required=True)
    parser.add_argument("--read-password", required=True)
    parser.add_argument("--cafile", required=True,
                        help="the server's certificate, trusted as a CA")
    parser.add_argument("--other-cafile",
                        help="a certificate the server's is not signed by")
    options = parser.parse_args(argv)
    pycurl.global_init(pycurl.GLOBAL_ALL)
    try:
        return Driver(options).run()
    finally:
        pycurl.global_cleanup()


if __name__ == "__main__":
    sys.exit(main())
