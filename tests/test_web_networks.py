"""Networks through the real tree into the real engine, and instances' NICs on them."""

import os

from twisted.trial.unittest import SynchronousTestCase

from ganeti_rapi.engine.objects import Node
from ganeti_rapi.engine.units.instances import instance_wire
from tests.helpers import READER, EngineFixture, local_nodes

NET_FIELDS = [
    "name", "network", "gateway", "network6", "gateway6", "mac_prefix", "free_count",
    "reserved_count", "map", "group_list", "inst_list", "external_reservations",
    "ctime", "mtime", "uuid", "serial_no", "tags",
]


class NetworkTests(SynchronousTestCase):
    def setUp(self):
        self.api = EngineFixture(self)

    def add(self, name="net1", network="192.0.2.0/24", **extra):
        body = dict(network_name=name, network=network, **extra)
        return self.api.run_job("POST", "/2/networks", body)

    def network(self, name="net1"):
        return self.api.ok("GET", "/2/networks/%s" % name, user=None)

    def test_empty(self):
        """A new cluster has no networks."""
        self.assertEqual(self.api.ok("GET", "/2/networks", user=None), [])
        self.assertEqual(self.api.ok("GET", "/2/networks?bulk=1", user=None), [])

    def test_add(self):
        """A new network reserves its network, broadcast and gateway addresses
        and those asked for; its fields are Ganeti's NET_FIELDS."""
        job = self.add(gateway="192.0.2.1", add_reserved_ips=["192.0.2.10"],
                       mac_prefix="AA:BB:0C", network6="2001:db8::/64",
                       gateway6="2001:db8::1", tags=["dc:one"])
        self.assertEqual((job["status"], job["opresult"]), ("success", [None]), job)
        self.assertEqual(job["summary"], ["NETWORK_ADD(net1)"])
        self.assertEqual(self.api.ok("GET", "/2/networks", user=None),
                         [{"name": "net1", "uri": "/2/networks/net1"}])
        network = self.network()
        self.assertEqual(sorted(network), sorted(NET_FIELDS))
        self.assertEqual(
            {k: network[k] for k in ("name", "network", "gateway", "network6", "gateway6",
                                     "mac_prefix", "free_count", "reserved_count",
                                     "group_list", "inst_list", "tags")},
            {"name": "net1", "network": "192.0.2.0/24", "gateway": "192.0.2.1",
             "network6": "2001:db8::/64", "gateway6": "2001:db8::1",
             "mac_prefix": "aa:bb:0c", "free_count": 252, "reserved_count": 4,
             "group_list": [], "inst_list": [], "tags": ["dc:one"]},
        )
        self.assertEqual(network["external_reservations"],
                         "192.0.2.0, 192.0.2.1, 192.0.2.10, 192.0.2.255")
        self.assertEqual(len(network["map"]), 256)
        self.assertEqual(network["map"][:12], "XX........X.")
        self.assertEqual(network["map"][-1], "X")
        self.assertEqual(self.api.ok("GET", "/2/networks?bulk=1", user=None), [network])
        stored = self.api.engine.config.network_by_name("net1")
        self.assertEqual(stored.ext_reservations.count("1"), 4)
        self.assertEqual(stored.reservations, "0" * 256)

    def test_node_addresses_reserved(self):
        """The nodes' own addresses inside a new network are kept out of its
        pool, unless conflicts_check is off."""
        self.add("local", "127.0.0.0/29")
        self.assertIn("127.0.0.1", self.network("local")["external_reservations"])
        self.add("local2", "127.0.0.0/29", conflicts_check=False)
        self.assertEqual(self.network("local2")["external_reservations"],
                         "127.0.0.0, 127.0.0.7")

    def test_lifecycle(self):
        """Connect, modify, rename, tag, disconnect and delete a network."""
        self.add(gateway="192.0.2.1")
        job = self.api.run_job("PUT", "/2/networks/net1/connect",
                               {"group_name": "default", "network_mode": "bridged",
                                "network_link": "br0", "network_vlan": "100"})
        self.assertEqual((job["status"], job["summary"]),
                         ("success", ["NETWORK_CONNECT(net1)"]), job)
        self.assertEqual(self.network()["group_list"],
                         [["default", "bridged", "br0", "100"]])
        group = self.api.engine.config.group_by_name("default")
        uuid = self.network()["uuid"]
        self.assertEqual(group.networks, {uuid: {"mode": "bridged", "link": "br0",
                                                 "vlan": "100"}})
        # Connecting again changes nothing and says so.
        job = self.api.run_job("PUT", "/2/networks/net1/connect",
                               {"group_name": "default", "network_mode": "routed",
                                "network_link": "rt1"})
        self.assertEqual(job["status"], "success")
        self.assertIn("already mapped", job["oplog"][0][0][3])
        self.assertEqual(self.network()["group_list"][0][1], "bridged")

        job = self.api.run_job("PUT", "/2/networks/net1/modify",
                               {"gateway": "192.0.2.254", "mac_prefix": "aa:00:01"})
        self.assertEqual((job["status"], job["opresult"]), ("success", [None]), job)
        network = self.network()
        self.assertEqual((network["gateway"], network["mac_prefix"]),
                         ("192.0.2.254", "aa:00:01"))
        self.assertEqual(network["external_reservations"],
                         "192.0.2.0, 192.0.2.254, 192.0.2.255")
        self.api.run_job("PUT", "/2/networks/net1/modify",
                         {"add_reserved_ips": ["192.0.2.20", "192.0.2.21"]})
        job = self.api.run_job("PUT", "/2/networks/net1/modify",
                               {"remove_reserved_ips": ["192.0.2.20", "192.0.2.254",
                                                        "192.0.2.30"]})
        self.assertEqual(job["status"], "success")
        self.assertEqual(self.network()["external_reservations"],
                         "192.0.2.0, 192.0.2.21, 192.0.2.254, 192.0.2.255")
        messages = [entry[3] for entry in job["oplog"][0]]
        self.assertTrue(any("Gateway" in m for m in messages), messages)
        self.assertTrue(any("192.0.2.30" in m for m in messages), messages)

        job = self.api.run_job("PUT", "/2/networks/net1/rename", {"new_name": "net2"})
        self.assertEqual((job["status"], job["opresult"]), ("success", ["net2"]))
        self.assertEqual(self.api.request("GET", "/2/networks/net1")[0], 404)
        self.assertEqual(self.network("net2")["uuid"], uuid)
        self.assertEqual(self.api.ok("GET", "/2/groups?bulk=1")[0]["name"], "default")
        cells = self.api.ok("GET", "/2/query/group?fields=name,networks", user=READER)
        self.assertEqual(cells["data"], [[[0, "default"], [0, ["net2"]]]])

        self.api.run_job("PUT", "/2/networks/net2/tags?tag=a&tag=b")
        self.assertEqual(self.api.ok("GET", "/2/networks/net2/tags", user=None),
                         ["a", "b"])
        self.api.run_job("DELETE", "/2/networks/net2/tags?tag=a")
        self.assertEqual(self.network("net2")["tags"], ["b"])

        job = self.api.run_job("DELETE", "/2/networks/net2")
        self.api.assert_job_error(job, "wrong_state", "still connected")
        job = self.api.run_job("PUT", "/2/networks/net2/disconnect",
                               {"group_name": "default"})
        self.assertEqual(job["status"], "success")
        self.assertEqual(self.network("net2")["group_list"], [])
        self.assertEqual(self.api.engine.config.group_by_name("default").networks, {})
        job = self.api.run_job("PUT", "/2/networks/net2/disconnect",
                               {"group_name": "default"})
        self.assertEqual(job["status"], "success")
        self.assertIn("not mapped", job["oplog"][0][0][3])
        self.assertEqual(self.api.run_job("DELETE", "/2/networks/net2")["status"],
                         "success")
        self.assertEqual(self.api.ok("GET", "/2/networks"), [])
        self.assertEqual(self.api.request("GET", "/2/networks/net2")[0], 404)

    def test_old_name_parameter(self):
        """C{name} is accepted for C{network_name}; both at once is a 400."""
        job = self.api.run_job("POST", "/2/networks",
                               {"name": "old", "network": "198.51.100.0/24"})
        self.assertEqual(job["status"], "success")
        code, _ = self.api.request("POST", "/2/networks",
                                   {"name": "a", "network_name": "b",
                                    "network": "198.51.100.0/24"})
        self.assertEqual(code, 400)

    def test_official_client_body(self):
        """CreateNetwork sends every key, most of them null."""
        job = self.api.run_job("POST", "/2/networks", {
            "network_name": "conf", "gateway": None, "network": "192.0.2.0/28",
            "gateway6": None, "network6": None, "mac_prefix": None,
            "add_reserved_ips": None, "tags": None,
        })
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(self.network("conf")["free_count"], 14)

    def test_refused(self):
        """Networks too big or too small, gateways and reservations outside
        the network, bad MAC prefixes and taken names fail the job."""
        cases = [
            (dict(network="10.0.0.0/15"), "wrong_input", "at most a /16"),
            (dict(network="192.0.2.0/31"), "wrong_input", "at least a /30"),
            (dict(gateway="198.51.100.1"), "wrong_input", None),
            (dict(gateway="192.0.2.0"), "wrong_input", None),
            (dict(add_reserved_ips=["198.51.100.1"]), "wrong_input", None),
            (dict(mac_prefix="aa:bb"), "wrong_input", "MAC"),
            (dict(tags=["bad tag"]), None, None),
        ]
        for extra, classification, part in cases:
            job = self.add(**extra)
            if classification is None:
                self.assertEqual(job["status"], "error", (extra, job))
            else:
                self.api.assert_job_error(job, classification, part)
        self.assertEqual(self.api.ok("GET", "/2/networks"), [])
        self.assertEqual(self.add()["status"], "success")
        self.api.assert_job_error(self.add(), "already_exists")
        self.assertEqual(self.add("slash16", "10.1.0.0/16")["status"], "success")
        self.assertEqual(self.network("slash16")["free_count"], 65534)

    def test_modify_refused(self):
        """A modification without changes, gateway and reservations together,
        a gateway outside or on the boundary are refused."""
        self.add(gateway="192.0.2.1")
        for body, classification in [
            ({}, "wrong_input"),
            ({"gateway": "192.0.2.2", "add_reserved_ips": ["192.0.2.3"]}, "wrong_input"),
            ({"gateway": "198.51.100.1"}, "wrong_input"),
            ({"gateway": "192.0.2.255"}, "wrong_input"),
            ({"mac_prefix": "nonsense"}, "wrong_input"),
        ]:
            job = self.api.run_job("PUT", "/2/networks/net1/modify", body)
            self.api.assert_job_error(job, classification)
        self.assertEqual(self.network()["gateway"], "192.0.2.1")
        code, _ = self.api.request("PUT", "/2/networks/net1/modify",
                                   {"gateway": "not-an-ip"})
        self.assertEqual(code, 400)

    def test_dry_run(self):
        """Dry runs check and change nothing."""
        serial = self.api.engine.config.serial_no
        job = self.api.run_job("POST", "/2/networks?dry-run=1",
                               {"network_name": "dry", "network": "192.0.2.0/24"})
        self.assertEqual(job["status"], "success")
        self.assertTrue(job["ops"][0]["dry_run"])
        self.assertEqual(self.api.engine.config.serial_no, serial)
        self.assertEqual(self.api.request("GET", "/2/networks/dry")[0], 404)
        job = self.api.run_job("POST", "/2/networks?dry-run=1",
                               {"network_name": "dry", "network": "192.0.2.0/8"})
        self.api.assert_job_error(job, "wrong_input")
        self.add()
        for method, path, body in [
            ("DELETE", "/2/networks/net1?dry-run=1", None),
            ("PUT", "/2/networks/net1/connect?dry-run=1",
             {"group_name": "default", "network_mode": "bridged", "network_link": "br0"}),
            ("PUT", "/2/networks/net1/rename?dry-run=1", {"new_name": "x"}),
        ]:
            job = self.api.run_job(method, path, body)
            self.assertEqual(job["status"], "success", (path, job))
            self.assertTrue(job["ops"][0]["dry_run"])
        network = self.network()
        self.assertEqual((network["name"], network["group_list"]), ("net1", []))

    def test_unknown(self):
        """An unknown network is a 404 on GET and unknown_entity in jobs."""
        self.assertEqual(self.api.request("GET", "/2/networks/nosuch", user=None)[0], 404)
        self.assertEqual(self.api.request("GET", "/2/networks/nosuch/tags")[0], 404)
        self.assertEqual(self.api.request("GET", "/2/networks/no%20such")[0], 404)
        for method, path, body in [
            ("DELETE", "/2/networks/nosuch", None),
            ("PUT", "/2/networks/nosuch/modify", {"gateway": "192.0.2.1"}),
            ("PUT", "/2/networks/nosuch/rename", {"new_name": "x"}),
            ("PUT", "/2/networks/nosuch/connect",
             {"group_name": "default", "network_mode": "bridged", "network_link": "br0"}),
            ("PUT", "/2/networks/nosuch/disconnect", {"group_name": "default"}),
        ]:
            self.api.assert_job_error(self.api.run_job(method, path, body),
                                      "unknown_entity")
        self.add()
        job = self.api.run_job("PUT", "/2/networks/net1/connect",
                               {"group_name": "nosuch", "network_mode": "bridged",
                                "network_link": "br0"})
        self.api.assert_job_error(job, "unknown_entity")

    def test_rename_clash(self):
        """Renaming onto another network's name fails with already_exists."""
        self.add()
        self.add("net2", "198.51.100.0/24")
        job = self.api.run_job("PUT", "/2/networks/net1/rename", {"new_name": "net2"})
        self.api.assert_job_error(job, "already_exists")

    def test_bad_bodies(self):
        """Unknown parameters, wrong types, static values in the body are 400s."""
        for body in [
            {"network_name": "x"},
            {"network_name": "x", "network": "192.0.2.0"},
            {"network_name": "x", "network": "192.0.2.0/24", "bogus": 1},
            {"network_name": "x", "network": "192.0.2.0/24", "gateway": "2001:db8::1"},
            {"network_name": "x", "network": "192.0.2.0/24", "add_reserved_ips": "a"},
            ["x"],
        ]:
            code, result = self.api.request("POST", "/2/networks", body)
            self.assertEqual(code, 400, (body, result))
        self.add()
        for path, body in [
            ("/2/networks/net1/connect", {"group_name": "default", "network_mode": "x",
                                          "network_link": "br0"}),
            ("/2/networks/net1/connect", {"group_name": "default"}),
            ("/2/networks/net1/connect", {"network_name": "other",
                                          "group_name": "default",
                                          "network_mode": "bridged",
                                          "network_link": "br0"}),
            ("/2/networks/net1/disconnect", {}),
            ("/2/networks/net1/rename", {}),
            ("/2/networks/net1/modify", {"remove_reserved_ips": "192.0.2.1"}),
        ]:
            code, result = self.api.request("PUT", path, body)
            self.assertEqual(code, 400, (path, body, result))
        job = self.api.run_job("PUT", "/2/networks/net1/connect",
                               {"group_name": "default", "network_mode": "bridged",
                                "network_link": ""})
        self.api.assert_job_error(job, "wrong_input", "link")

    def test_access(self):
        """Reading is anonymous; every change needs the write option."""
        self.add()
        self.assertEqual(self.api.request("GET", "/2/networks/net1", user=None)[0], 200)
        body = {"network_name": "x", "network": "192.0.2.0/24"}
        self.assertEqual(self.api.request("POST", "/2/networks", body, user=None)[0], 401)
        self.assertEqual(self.api.request("POST", "/2/networks", body, user=READER)[0],
                         403)
        for method, path in [("DELETE", "/2/networks/net1"),
                             ("PUT", "/2/networks/net1/modify"),
                             ("PUT", "/2/networks/net1/rename"),
                             ("PUT", "/2/networks/net1/connect"),
                             ("PUT", "/2/networks/net1/disconnect"),
                             ("PUT", "/2/networks/net1/tags?tag=x")]:
            self.assertEqual(self.api.request(method, path, {}, user=READER)[0], 403,
                             path)
        self.assertEqual(self.api.request("POST", "/2/networks/net1/modify", {})[0], 501)

    def test_reason_trail(self):
        """The opcodes name the client's reason and the resource."""
        job = self.add()
        self.assertEqual(job["ops"][0]["reason"][0][:2], ["gnt:library:rlib2:networks", ""])
        job = self.api.run_job("PUT", "/2/networks/net1/rename?reason=why",
                               {"new_name": "net2"})
        reason = job["ops"][0]["reason"]
        self.assertEqual(reason[0][:2], ["gnt:user", "why"])
        self.assertEqual(reason[1][:2], ["gnt:library:rlib2:networks_name_rename", ""])

    def test_query(self):
        """/2/query/network serves the same fields."""
        self.add(gateway="192.0.2.1")
        cells = self.api.ok("GET", "/2/query/network?fields=name,free_count,inst_cnt",
                            user=READER)
        self.assertEqual(cells["data"], [[[0, "net1"], [0, 253], [0, 0]]])
        result = self.api.ok("PUT", "/2/query/network",
                             {"fields": ["name"], "qfilter": ["=", "name", "nosuch"]},
                             user=READER)
        self.assertEqual(result["data"], [])
        names = [f["name"] for f in
                 self.api.ok("GET", "/2/query/network/fields", user=None)["fields"]]
        self.assertTrue(set(NET_FIELDS) <= set(names), names)

    def test_persisted(self):
        """Networks and group connections survive a restart."""
        self.add(gateway="192.0.2.1")
        self.api.run_job("PUT", "/2/networks/net1/connect",
                         {"group_name": "default", "network_mode": "routed",
                          "network_link": "rt0"})
        again = EngineFixture(self, data_dir=self.api.data_dir)
        network = again.ok("GET", "/2/networks/net1")
        self.assertEqual(network, self.network())
        self.assertEqual(network["group_list"], [["default", "routed", "rt0", ""]])


class NetworkInstanceTests(SynchronousTestCase):
    """Instances whose NICs are connected to networks."""

    def setUp(self):
        master = os.uname().nodename
        self.nodes = local_nodes(self, [master, "node1"])
        self.api = EngineFixture(self, nodes=self.nodes)
        config = self.api.engine.config
        self.master = config.node(config.cluster.master_node).name
        if self.master not in self.nodes.procedures:
            self.nodes.procedures[self.master] = self.nodes.procedures[master]
        group = config.node(config.cluster.master_node).group
        config.add_node(Node(name="node1", primary_ip="127.0.0.1", group=group))
        self.successResultOf(config.save())
        job = self.api.run_job("POST", "/2/networks",
                               {"network_name": "net1", "network": "192.0.2.0/29",
                                "gateway": "192.0.2.1", "mac_prefix": "ab:cd:ef"})
        self.assertEqual(job["status"], "success", job)
        self.connect("net1")

    def connect(self, network, group="default", **extra):
        body = dict(group_name=group, network_mode="bridged", network_link="br-net",
                    network_vlan="", **extra)
        return self.api.run_job("PUT", "/2/networks/%s/connect" % network, body)

    def create(self, name, nics, **extra):
        body = {
            "__version__": 1, "mode": "create", "name": name,
            "os": "ganeti-rapi-noop", "no_install": True, "disk_template": "diskless",
            "disks": [], "nics": nics, "pnode": "node1",
            "beparams": {"maxmem": 128, "minmem": 128},
        }
        body.update(extra)
        return self.api.run_job("POST", "/2/instances", body)

    def instance(self, name):
        return self.api.ok("GET", "/2/instances/%s" % name, user=None)

    def network(self, name="net1"):
        return self.api.ok("GET", "/2/networks/%s" % name, user=None)

    def test_pool_address(self):
        """ip=pool takes the lowest free address; mode and link come from the
        group's connection, the MAC prefix from the network; removing the
        instance gives the address back."""
        job = self.create("web1", [{"network": "net1", "ip": "pool"}])
        self.assertEqual(job["status"], "success", job)
        self.assertIn("Chose IP 192.0.2.2 from network net1",
                      [entry[3] for entry in job["oplog"][0]])
        instance = self.instance("web1")
        uuid = self.network()["uuid"]
        self.assertEqual(
            {k: instance[k] for k in ("nic.ips", "nic.networks", "nic.networks.names",
                                      "nic.modes", "nic.links", "nic.bridges")},
            {"nic.ips": ["192.0.2.2"], "nic.networks": [uuid],
             "nic.networks.names": ["net1"], "nic.modes": ["bridged"],
             "nic.links": ["br-net"], "nic.bridges": ["br-net"]},
        )
        self.assertTrue(instance["nic.macs"][0].startswith("ab:cd:ef:"))
        network = self.network()
        self.assertEqual((network["inst_list"], network["free_count"], network["map"]),
                         (["web1"], 4, "XXX....X"))
        self.assertEqual(self.create("web2", [{"network": "net1", "ip": "pool"}])
                         ["opresult"], [["node1"]])
        self.assertEqual(self.instance("web2")["nic.ips"], ["192.0.2.3"])
        config = self.api.engine.config
        wire = instance_wire(config, config.instance_by_name("web1"))
        self.assertEqual(wire["nics"][0]["netinfo"]["name"], "net1")
        self.assertEqual(wire["nics"][0]["netinfo"]["gateway"], "192.0.2.1")

        self.assertEqual(self.api.run_job("DELETE", "/2/instances/web1")["status"],
                         "success")
        network = self.network()
        self.assertEqual((network["inst_list"], network["free_count"]), (["web2"], 4))
        self.assertEqual(network["map"], "XX.X...X")
        job = self.create("web3", [{"network": "net1", "ip": "pool"}])
        self.assertEqual(self.instance("web3")["nic.ips"], ["192.0.2.2"], job)

    def test_pool_exhausted(self):
        """A full pool fails the creation with wrong_state and reserves nothing."""
        for index in range(5):
            job = self.create("web%d" % index, [{"network": "net1", "ip": "pool"}])
            self.assertEqual(job["status"], "success", job)
        self.assertEqual(self.network()["free_count"], 0)
        job = self.create("full", [{"network": "net1", "ip": "pool"}])
        self.api.assert_job_error(job, "wrong_state", "free IP")
        job = self.create("two", [{"network": "net1", "ip": "pool"},
                                  {"network": "net1", "ip": "pool"}])
        self.api.assert_job_error(job, "wrong_state")

    def test_failed_creation_releases(self):
        """An instance whose installation fails is removed, and so is its
        address reservation."""

        def fail(**kwargs):
            raise RuntimeError("the create script failed")

        self.nodes.procedures["node1"].rpc_os_create = fail
        job = self.create("web1", [{"network": "net1", "ip": "pool"}], no_install=False)
        self.assertEqual(job["status"], "error", job)
        self.assertIn("the create script failed", job["opresult"][0][1][0])
        self.assertEqual(self.api.request("GET", "/2/instances/web1")[0], 404)
        network = self.network()
        self.assertEqual((network["free_count"], network["inst_list"]), (5, []))
        stored = self.api.engine.config.network_by_name("net1")
        self.assertEqual(stored.reservations, "0" * 8)

    def test_modify_nics(self):
        """Removing a NIC gives its address back; the address, mode or link
        of a NIC on a network cannot be changed through modify yet."""
        job = self.create("web1", [{"network": "net1", "ip": "pool"},
                                   {"network": "net1", "ip": "pool"}])
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(self.network()["free_count"], 3)
        job = self.api.run_job("PUT", "/2/instances/web1/modify",
                               {"nics": [["modify", 1, {"ip": "192.0.2.6"}]]})
        self.api.assert_job_error(job, "wrong_input", "connected to a network")
        job = self.api.run_job("PUT", "/2/instances/web1/modify",
                               {"nics": [["remove", 1, {}]]})
        self.assertEqual(job["status"], "success", job)
        network = self.network()
        self.assertEqual((network["free_count"], network["map"]), (4, "XXX....X"))
        self.assertEqual(self.instance("web1")["nic.ips"], ["192.0.2.2"])

    def test_given_address(self):
        """A given address must be free in the network; an externally
        reserved one is accepted only without conflicts_check."""
        job = self.create("web1", [{"network": "net1", "ip": "192.0.2.5"}])
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(self.network()["map"], "XX...X.X")
        for ip in ("192.0.2.5", "192.0.2.1", "198.51.100.1"):
            job = self.create("web2", [{"network": "net1", "ip": ip}])
            self.api.assert_job_error(job, "resource_not_unique", ip)
        job = self.create("gw", [{"network": "net1", "ip": "192.0.2.1"}],
                          conflicts_check=False)
        self.assertEqual(job["status"], "success", job)
        self.assertEqual(self.instance("gw")["nic.ips"], ["192.0.2.1"])

    def test_refused_nics(self):
        """Mode or link next to a network, ip=pool without one, unknown
        networks, bad addresses and unconnected networks are refused."""
        self.api.run_job("POST", "/2/networks",
                         {"network_name": "lonely", "network": "198.51.100.0/24"})
        for nics, classification in [
            ([{"network": "net1", "mode": "routed"}], "wrong_input"),
            ([{"network": "net1", "link": "br0"}], "wrong_input"),
            ([{"ip": "pool"}], "wrong_input"),
            ([{"ip": "not-an-ip"}], "wrong_input"),
            ([{"network": "nosuch"}], "unknown_entity"),
            ([{"network": "lonely", "ip": "pool"}], "wrong_input"),
        ]:
            job = self.create("bad", nics)
            self.api.assert_job_error(job, classification)
        self.assertEqual(self.api.request("GET", "/2/instances/bad")[0], 404)
        self.assertEqual(self.network()["free_count"], 5)

    def test_conflicting_address(self):
        """A NIC outside a network may not take an address of a network
        connected to its group, unless conflicts_check is off."""
        job = self.create("web1", [{"ip": "192.0.2.4"}])
        self.api.assert_job_error(job, "wrong_state", "belongs to network net1")
        job = self.create("web1", [{"ip": "192.0.2.4"}], conflicts_check=False)
        self.assertEqual(job["status"], "success", job)

    def test_connect_conflicts(self):
        """Connecting a network to a group whose instances use its addresses
        fails unless conflicts_check is off; disconnecting one in use fails."""
        self.api.run_job("POST", "/2/networks",
                         {"network_name": "net2", "network": "198.51.100.0/24"})
        self.assertEqual(self.create("web1", [{"ip": "198.51.100.7"}])["status"],
                         "success")
        job = self.connect("net2")
        self.api.assert_job_error(job, "wrong_state", "web1")
        self.assertEqual(self.connect("net2", conflicts_check=False)["status"], "success")

        self.assertEqual(self.create("web2", [{"network": "net1"}])["status"], "success")
        self.assertEqual(self.instance("web2")["nic.ips"], [None])
        job = self.api.run_job("PUT", "/2/networks/net1/disconnect",
                               {"group_name": "default"})
        self.api.assert_job_error(job, "wrong_state", "web2")
        self.api.run_job("DELETE", "/2/instances/web2")
        job = self.api.run_job("PUT", "/2/networks/net1/disconnect",
                               {"group_name": "default"})
        self.assertEqual(job["status"], "success", job)

    def test_dry_run_reserves_nothing(self):
        """A dry-run creation checks the pool but takes no address."""
        job = self.create("dry", [{"network": "net1", "ip": "pool"}])
        self.assertEqual(job["status"], "success")
        self.api.run_job("DELETE", "/2/instances/dry")
        serial = self.network()["serial_no"]
        job = self.api.run_job("POST", "/2/instances?dry-run=1", {
            "__version__": 1, "mode": "create", "name": "dry2", "os": "ganeti-rapi-noop",
            "no_install": True, "disk_template": "diskless", "disks": [],
            "nics": [{"network": "net1", "ip": "pool"}], "pnode": "node1",
        })
        self.assertEqual(job["status"], "success", job)
        network = self.network()
        self.assertEqual((network["free_count"], network["serial_no"]), (5, serial))
