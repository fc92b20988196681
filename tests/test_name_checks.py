"""C{name_check} and C{ip_check} of instance creation and rename.

Through the real tree and engine, with node procedures in-process
(L{local_cluster}).  Most tests resolve names from a table, so they never
depend on the host's DNS; two use the real system resolver on names that
need no traffic off the machine (C{localhost}, in C{/etc/hosts}, and a
name under the reserved C{.invalid} domain).  The IP checks connect to a
port of 127.0.0.1 that a test listens on, or that nothing listens on.
"""

import os

from twisted.internet import defer, error, protocol, reactor
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from ganeti_rapi.engine import locks, opcodes
from ganeti_rapi.engine.errors import OpPrereqError
from ganeti_rapi.engine.hostnames import NameChecks, table_resolver
from ganeti_rapi.engine.processor import OpcodeEnvironment
from ganeti_rapi.engine.units.instances import InstanceCreate
from tests.helpers import instance_body, local_cluster
from tests.test_disk_templates import finished_job

#: What the test resolver knows: name -> (canonical name, address).
TABLE = {
    "web1": ("web1.example.com", "192.0.2.10"),
    "web1.example.com": ("web1.example.com", "192.0.2.10"),
    "web2": ("Web2.Example.COM.", "192.0.2.12"),
    "alias": ("other.example.com", "192.0.2.11"),
    "local": ("local.test", "127.0.0.1"),
    "other": ("other.test", "127.0.0.1"),
}


def body(name, **extra):
    """A creation of C{name} on node1 (16 MiB file disk, one NIC, no OS install)."""
    return instance_body(name, pnode="node1", **extra)


class TableCluster:
    """A cluster whose names resolve from L{TABLE}."""

    def setUp(self):
        self.api = local_cluster(self, ["node1"], resolve=table_resolver(TABLE))

    def create(self, name, query="", **extra):
        return self.api.run_job("POST", "/2/instances" + query, body(name, **extra))

    def rename(self, name, **params):
        return self.api.run_job("PUT", "/2/instances/%s/rename" % name, params)

    def names(self):
        return [i["id"] for i in self.api.ok("GET", "/2/instances")]

    def storage(self):
        return self.api.nodes.procedures["node1"].storage.file_storage_dir


class CreateNameCheckTests(TableCluster, SynchronousTestCase):
    def test_takes_resolved_name(self):
        """With name_check the instance is called by its resolved full name;
        the job keeps the name it was given and logs the change."""
        job = self.create("web1", name_check=True)
        self.assertEqual((job["status"], job["opresult"]), ("success", [["node1"]]), job)
        self.assertEqual(self.names(), ["web1.example.com"])
        self.assertEqual(self.api.request("GET", "/2/instances/web1")[0], 404)
        self.assertTrue(os.path.exists(
            os.path.join(self.storage(), "web1.example.com", "disk0")))
        self.assertEqual(job["ops"][0]["instance_name"], "web1")
        messages = [entry[3] for entry in job["oplog"][0]]
        self.assertIn("The name 'web1' resolves to 'web1.example.com', the name the"
                      " instance takes", messages)

    def test_resolved_name_normalised(self):
        """A resolved name is lower case, without the trailing dot."""
        job = self.create("web2", name_check=True)
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(self.names(), ["web2.example.com"])

    def test_without_name_check(self):
        """Without name_check (the default) the name is neither resolved nor
        changed: one the resolver does not know is fine."""
        self.assertEqual(self.create("web1")["status"], "success")
        self.assertEqual(self.create("unknown")["status"], "success")
        self.assertEqual(self.names(), ["unknown", "web1"])

    def test_unresolvable(self):
        """A name that does not resolve is an OpPrereqError resolver_error."""
        job = self.create("ghost", name_check=True)
        self.api.assert_job_error(job, "resolver_error",
                                  "Cannot resolve the name 'ghost': Name or service"
                                  " not known")
        self.assertEqual(self.names(), [])

    def test_resolved_name_mismatch(self):
        """A resolved name that does not start with the given one and a dot
        is wrong_input."""
        job = self.create("alias", name_check=True)
        self.api.assert_job_error(
            job, "wrong_input",
            "Resolved hostname 'other.example.com' does not look the same as given"
            " hostname 'alias'",
        )
        self.assertEqual(self.names(), [])

    def test_resolved_name_exists(self):
        """The resolved name is the one checked: taken, it is already_exists."""
        self.assertEqual(self.create("web1.example.com")["status"], "success")
        job = self.create("web1", name_check=True)
        self.api.assert_job_error(job, "already_exists", "web1.example.com")

    def test_ip_auto_with_name_check(self):
        """A NIC with ip auto takes the address the name resolved to."""
        job = self.create("web1", name_check=True, nics=[{"ip": "auto"}, {}])
        self.assertEqual(job["status"], "success", job)
        instance = self.api.ok("GET", "/2/instances/web1.example.com")
        self.assertEqual(instance["nic.ips"], ["192.0.2.10", None])

    def test_ip_auto_without_name_check(self):
        """ip auto without name_check is wrong_input."""
        job = self.create("web1", nics=[{"ip": "auto"}])
        self.api.assert_job_error(job, "wrong_input", "IP address set to auto but name"
                                  " checks have been skipped")
        self.assertEqual(self.names(), [])

    def test_ip_check_without_name_check(self):
        """ip_check needs name_check: without it, wrong_input."""
        job = self.create("web1", ip_check=True)
        self.api.assert_job_error(job, "wrong_input",
                                  "Cannot do IP address check without a name check")

    def test_dry_run(self):
        """A dry run checks the name too, and creates nothing."""
        job = self.create("ghost", "?dry-run=1", name_check=True)
        self.api.assert_job_error(job, "resolver_error", "ghost")
        job = self.create("alias", "?dry-run=1", name_check=True)
        self.api.assert_job_error(job, "wrong_input", "does not look the same")
        job = self.create("web1", "?dry-run=1", nics=[{"ip": "auto"}])
        self.api.assert_job_error(job, "wrong_input", "IP address set to auto")
        job = self.create("web1", "?dry-run=1", ip_check=True)
        self.api.assert_job_error(job, "wrong_input", "Cannot do IP address check")
        job = self.create("web1", "?dry-run=1", name_check=True, nics=[{"ip": "auto"}])
        self.assertEqual((job["status"], job["opresult"]), ("success", [["node1"]]), job)
        self.assertEqual(self.names(), [])
        self.assertFalse(os.path.exists(os.path.join(self.storage(), "web1.example.com")))

    def test_import_checks_name(self):
        """An import is checked the same way, and looks for the export of its
        resolved name when C{src_path} is left out, as in Ganeti."""
        def import_(name, **extra):
            return self.api.run_job("POST", "/2/instances", dict(
                {"__version__": 1, "mode": "import", "name": name, "disks": [],
                 "nics": []}, **extra))

        self.api.assert_job_error(import_("ghost", name_check=True), "resolver_error")
        self.api.assert_job_error(import_("web1", ip_check=True), "wrong_input",
                                  "Cannot do IP address check")
        self.api.assert_job_error(import_("web1", name_check=True), "wrong_input",
                                  "No export found for relative path web1.example.com")

    def test_resolved_name_locked(self):
        """The lock is taken on the resolved name, as Ganeti resolves before
        locking: creations of the short and the full name never overlap."""
        messages = []
        env = OpcodeEnvironment(self.api.engine.processor.environment, 1, 0,
                                lambda message, log_type: messages.append(message))
        unit = InstanceCreate(dict(body("web1", name_check=True), instance_name="web1",
                                   nics=[]), env)
        self.successResultOf(unit.prepare())
        self.assertEqual(len(messages), 1)
        self.assertEqual(unit.lock_requests()[0],
                         (locks.LEVEL_INSTANCE, "web1.example.com", True))
        self.assertEqual(unit.resolved_ip, "192.0.2.10")


class MultiAllocTests(TableCluster, SynchronousTestCase):
    def test_children_check_names(self):
        """In a multi-allocation ip auto still needs name_check; with it each
        instance's own creation job resolves its name."""
        def multi(**extra):
            spec = dict(body("web1", **extra))
            del spec["__version__"]
            return self.api.run_job("POST", "/2/instances-multi-alloc",
                                    {"instances": [spec]})

        job = multi(nics=[{"ip": "auto"}])
        self.api.assert_job_error(job, "wrong_input", "IP address set to auto")
        job = multi(nics=[{"ip": "auto"}], name_check=True)
        self.assertEqual(job["status"], "success", job)
        [[ok, child]] = job["opresult"][0]["jobs"]
        self.assertTrue(ok)
        self.api.clock.advance(0)
        self.assertEqual(self.api.job(child)["status"], "success")
        instance = self.api.ok("GET", "/2/instances/web1.example.com")
        self.assertEqual(instance["nic.ips"], ["192.0.2.10"])


class RenameNameCheckTests(TableCluster, SynchronousTestCase):
    def setUp(self):
        TableCluster.setUp(self)
        job = self.create("bare", os=None, start=False)
        self.assertEqual(job["status"], "success", job)

    def test_rename_takes_resolved_name(self):
        """With name_check the new name is resolved and the full name taken."""
        job = self.rename("bare", new_name="web1", name_check=True)
        self.assertEqual((job["status"], job["opresult"]),
                         ("success", ["web1.example.com"]), job)
        self.assertEqual(self.names(), ["web1.example.com"])

    def test_rename_without_name_check(self):
        """Without name_check the new name is taken as given."""
        job = self.rename("bare", new_name="web1")
        self.assertEqual((job["status"], job["opresult"]), ("success", ["web1"]), job)

    def test_rename_errors(self):
        """Unresolvable, mismatching, ip_check without name_check, a taken
        resolved name: the instance keeps its name."""
        self.api.assert_job_error(self.rename("bare", new_name="ghost", name_check=True),
                                  "resolver_error", "ghost")
        self.api.assert_job_error(self.rename("bare", new_name="alias", name_check=True),
                                  "wrong_input", "does not look the same")
        self.api.assert_job_error(self.rename("bare", new_name="web1", ip_check=True),
                                  "wrong_input", "Cannot do IP address check")
        self.assertEqual(self.create("web1.example.com")["status"], "success")
        self.api.assert_job_error(self.rename("bare", new_name="web1", name_check=True),
                                  "already_exists", "web1.example.com")
        self.assertEqual(self.names(), ["bare", "web1.example.com"])

    def rename_dry_run(self, **params):
        """A dry-run rename job, submitted to the processor (the RAPI's
        C{.../rename} has no C{?dry-run}, as in Ganeti)."""
        op = opcodes.make_opcode("OP_INSTANCE_RENAME", dict(params, dry_run=True),
                                 {"instance_name": "bare"})
        job_id = self.successResultOf(self.api.engine.processor.submit([op]))
        self.api.clock.advance(0)
        return self.api.job(job_id)

    def test_rename_dry_run(self):
        """A dry run of a rename checks the new name too and renames nothing."""
        job = self.rename_dry_run(new_name="ghost", name_check=True)
        self.api.assert_job_error(job, "resolver_error", "ghost")
        job = self.rename_dry_run(new_name="web1", ip_check=True)
        self.api.assert_job_error(job, "wrong_input", "Cannot do IP address check")
        job = self.rename_dry_run(new_name="web1", name_check=True)
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(self.names(), ["bare"])


def free_port():
    """A TCP port of 127.0.0.1 that nothing listens on (any more)."""
    port = reactor.listenTCP(0, protocol.Factory(), interface="127.0.0.1")
    number = port.getHost().port
    return port.stopListening().addCallback(lambda _: number)


class SystemResolverTests(TestCase):
    """The real resolver, in a thread of the real reactor."""

    timeout = 60

    @defer.inlineCallbacks
    def test_localhost(self):
        """localhost resolves through getaddrinfo to itself and a loopback
        address; a creation with name_check and ip auto gets both."""
        host = yield NameChecks().resolve("localhost")
        self.assertEqual(host.name, "localhost")
        self.assertIn(host.address, ("127.0.0.1", "::1"))
        api = local_cluster(self, ["node1"])
        job = yield finished_job(api, "POST", "/2/instances",
                                 body("localhost", name_check=True, nics=[{"ip": "auto"}]))
        self.assertEqual(job["status"], "success", job)
        instance = api.ok("GET", "/2/instances/localhost")
        self.assertEqual(instance["nic.ips"], [host.address])

    @defer.inlineCallbacks
    def test_invalid_domain(self):
        """A name under the reserved .invalid domain does not resolve:
        resolver_error, raised by the resolver itself and in a job."""
        failure = yield self.assertFailure(NameChecks().resolve("nosuch.invalid"),
                                           OpPrereqError)
        self.assertEqual(failure.classification, "resolver_error")
        api = local_cluster(self, ["node1"])
        job = yield finished_job(api, "POST", "/2/instances",
                                 body("nosuch.invalid", name_check=True))
        api.assert_job_error(job, "resolver_error", "Cannot resolve the name"
                             " 'nosuch.invalid'")


class IpCheckTests(TestCase):
    """ip_check connects to 127.0.0.1 on a port of the test's, not 1811."""

    timeout = 60

    @defer.inlineCallbacks
    def cluster(self, listening):
        if listening:
            factory = protocol.Factory.forProtocol(protocol.Protocol)
            port = reactor.listenTCP(0, factory, interface="127.0.0.1")
            self.addCleanup(port.stopListening)
            number = port.getHost().port
        else:
            number = yield free_port()
        return local_cluster(self, ["node1"], resolve=table_resolver(TABLE),
                             ip_check_port=number)

    def test_default_port(self):
        """Without a port given the check connects to the node daemon's, 1811."""
        self.assertEqual(NameChecks().port, 1811)
        self.assertEqual(NameChecks(port=None).port, 1811)

    @defer.inlineCallbacks
    def test_address_in_use(self):
        """Something accepting connections at the address: resource_not_unique,
        for a creation and for a rename."""
        api = yield self.cluster(listening=True)
        job = yield finished_job(api, "POST", "/2/instances",
                                 body("local", name_check=True, ip_check=True))
        api.assert_job_error(job, "resource_not_unique",
                             "IP 127.0.0.1 of instance local.test already in use")
        job = yield finished_job(api, "POST", "/2/instances", body("local", start=False))
        self.assertEqual(job["status"], "success", job)
        job = yield finished_job(api, "PUT", "/2/instances/local/rename",
                                 {"new_name": "other", "name_check": True,
                                  "ip_check": True})
        api.assert_job_error(job, "resource_not_unique",
                             "IP 127.0.0.1 of instance other.test already in use")

    @defer.inlineCallbacks
    def test_address_refused(self):
        """A host refusing the connection is alive, so its address is in use
        (Ganeti's rule): the creation fails; without ip_check it goes on."""
        api = yield self.cluster(listening=False)
        job = yield finished_job(api, "POST", "/2/instances",
                                 body("local", name_check=True, ip_check=True,
                                      start=False, os=None))
        api.assert_job_error(job, "resource_not_unique",
                             "IP 127.0.0.1 of instance local.test already in use")
        job = yield finished_job(api, "POST", "/2/instances",
                                 body("local", name_check=True, start=False, os=None))
        self.assertEqual((job["status"], job["opresult"]), ("success", [["node1"]]), job)

    def test_no_answer_is_free(self):
        """No answer in time, or no route to the host, leaves the address free.

        Such a host cannot be reached from a test without sending traffic
        off this machine, so the connection's outcome is played on a
        memory reactor; accepted and refused outcomes are played too.
        """
        outcomes = [
            (error.TimeoutError(), False),
            (error.NoRouteError(), False),
            (error.ConnectError("Network is unreachable"), False),
            (error.ConnectionRefusedError(), True),
            (None, True),
        ]
        for outcome, in_use in outcomes:
            clock = MemoryReactorClock()
            checks = NameChecks(port=1811, reactor=clock)
            d = checks.in_use("192.0.2.10")
            host, port, factory = clock.tcpClients[-1][:3]
            self.assertEqual((host, port), ("192.0.2.10", 1811))
            if outcome is None:
                factory.buildProtocol(None).makeConnection(StringTransport())
            else:
                factory.clientConnectionFailed(None, Failure(outcome))
            self.assertEqual(self.successResultOf(d), in_use, outcome)
