"""Cluster-wide resources: info, tags, modify, redistribute-config, features."""

from twisted.trial.unittest import SynchronousTestCase

from ganeti_rapi.engine.master import open_engine
from tests.helpers import READER, EngineFixture, sync_runner

INFO_KEYS = [
    "software_version", "protocol_version", "config_version", "os_api_version",
    "export_version", "vcs_version", "architecture", "name", "master",
    "default_hypervisor", "enabled_hypervisors", "hvparams", "os_hvp", "beparams",
    "osparams", "ipolicy", "nicparams", "ndparams", "diskparams", "candidate_pool_size",
    "max_running_jobs", "max_tracked_jobs", "mac_prefix", "master_netdev",
    "master_netmask", "use_external_mip_script", "volume_group_name",
    "drbd_usermode_helper", "file_storage_dir", "shared_file_storage_dir",
    "gluster_storage_dir", "maintain_node_health", "ctime", "mtime", "uuid", "tags",
    "uid_pool", "default_iallocator", "default_iallocator_params", "reserved_lvs",
    "primary_ip_version", "prealloc_wipe_disks", "hidden_os", "blacklisted_os",
    "enabled_disk_templates", "install_image", "instance_communication_network",
    "zeroing_image", "compression_tools", "enabled_user_shutdown",
    "enabled_data_collectors", "data_collector_interval", "modify_ssh_setup",
    "ssh_key_type", "ssh_key_bits", "vg_name", "drbd_helper",
]


class InfoTests(SynchronousTestCase):
    def setUp(self):
        self.api = EngineFixture(self)

    def test_info(self):
        """/2/info has every key of Ganeti's, with the embedded default's values."""
        info = self.api.ok("GET", "/2/info", user=None)
        self.assertEqual(sorted(info), sorted(INFO_KEYS))
        self.assertRegex(info["software_version"], r"^\d+\.\d+\.\d+$")
        self.assertEqual(info["enabled_hypervisors"], ["fake"])
        self.assertEqual(info["default_hypervisor"], "fake")
        self.assertEqual(sorted(info["enabled_disk_templates"]), ["diskless", "file"])
        self.assertEqual(info["beparams"]["default"]["maxmem"], 128)
        self.assertIn("fake", info["hvparams"])
        node = self.api.ok("GET", "/2/groups/default")["node_list"][0]
        self.assertEqual(info["master"], node)

    def test_features_follow_units(self):
        """An optional feature is claimed exactly when its operation exists."""
        from ganeti_rapi.engine import units
        from ganeti_rapi.engine.cluster import FEATURE_OPCODES

        features = self.api.ok("GET", "/2/features", user=None)
        self.assertEqual(
            sorted(features),
            sorted(f for f, op_id in FEATURE_OPCODES.items() if units.supported(op_id)),
        )
        self.assertIn("node-evac-res1", features)
        self.assertIn("node-migrate-reqv1", features)

    def test_config_file(self):
        """The first start writes a readable config that a second start loads."""
        before = self.api.ok("GET", "/2/info")["uuid"]
        again = open_engine(self.api.data_dir, self.api.clock, run_in_thread=sync_runner)
        self.assertEqual(again.cluster.info()["uuid"], before)


class ClusterTagTests(SynchronousTestCase):
    def setUp(self):
        self.api = EngineFixture(self)

    def test_round_trip(self):
        """Tags added by query parameters are listed, and removed again."""
        job = self.api.run_job("PUT", "/2/tags?tag=web&tag=db&dry-run=0")
        self.assertEqual(job["status"], "success")
        self.assertEqual(self.api.ok("GET", "/2/tags", user=None), ["db", "web"])
        self.assertEqual(self.api.ok("GET", "/2/info")["tags"], ["db", "web"])
        self.api.run_job("DELETE", "/2/tags?tag=web")
        self.assertEqual(self.api.ok("GET", "/2/tags"), ["db"])

    def test_body_ignored(self):
        """A tag list in the body is ignored, as Ganeti does."""
        job = self.api.run_job("PUT", "/2/tags?tag=q", ["ignored"])
        self.assertEqual(job["status"], "success")
        self.assertEqual(self.api.ok("GET", "/2/tags"), ["q"])

    def test_invalid_tag(self):
        """An invalid tag fails the job with a TagError."""
        job = self.api.run_job("PUT", "/2/tags?tag=" + "x" * 129)
        self.assertEqual(job["status"], "error")
        self.assertEqual(job["opresult"][0][0], "TagError")
        job = self.api.run_job("PUT", "/2/tags?tag=bad%20tag")
        self.assertEqual(job["opresult"][0][0], "TagError")

    def test_delete_missing(self):
        """Removing a tag that is not there fails with unknown_entity."""
        job = self.api.run_job("DELETE", "/2/tags?tag=nothere")
        self.api.assert_job_error(job, "unknown_entity")

    def test_dry_run(self):
        """A dry run adds nothing."""
        self.assertEqual(self.api.run_job("PUT", "/2/tags?tag=a&dry-run=1")["status"],
                         "success")
        self.assertEqual(self.api.ok("GET", "/2/tags"), [])

    def test_needs_write(self):
        """Adding tags needs the write option."""
        self.assertEqual(self.api.request("PUT", "/2/tags?tag=a", user=None)[0], 401)
        self.assertEqual(self.api.request("PUT", "/2/tags?tag=a", user=READER)[0], 403)


class ModifyTests(SynchronousTestCase):
    def setUp(self):
        self.api = EngineFixture(self)

    def test_modify(self):
        """Cluster parameters change through a job."""
        job = self.api.run_job(
            "PUT", "/2/modify",
            {"candidate_pool_size": 5, "beparams": {"maxmem": 256}, "vg_name": "xenvg"},
        )
        self.assertEqual(job["status"], "success", job)
        info = self.api.ok("GET", "/2/info")
        self.assertEqual(info["candidate_pool_size"], 5)
        self.assertEqual(info["beparams"]["default"]["maxmem"], 256)
        self.assertEqual(info["beparams"]["default"]["minmem"], 128)
        self.assertEqual((info["vg_name"], info["volume_group_name"]), ("xenvg", "xenvg"))

    def test_forbidden(self):
        """compression_tools may not be set through the API (403)."""
        self.assertEqual(
            self.api.request("PUT", "/2/modify", {"compression_tools": ["gzip"]})[0], 403
        )
        self.assertEqual(
            self.api.request("PUT", "/2/modify?compression_tools=gzip", {})[0], 403
        )

    def test_bad_parameters(self):
        """Unknown parameters and wrong types are 400s."""
        self.assertEqual(self.api.request("PUT", "/2/modify", {"bogus": 1})[0], 400)
        self.assertEqual(
            self.api.request("PUT", "/2/modify", {"candidate_pool_size": "x"})[0], 400
        )

    def test_unavailable_template(self):
        """Enabling LVM-backed templates fails with a clear environment error."""
        job = self.api.run_job("PUT", "/2/modify",
                               {"enabled_disk_templates": ["plain", "file"]})
        self.api.assert_job_error(job, "environment_error", "device-mapper")

    def test_redistribute_config(self):
        """redistribute-config runs a job that rewrites the configuration."""
        serial = self.api.engine.config.serial_no
        job = self.api.run_job("PUT", "/2/redistribute-config")
        self.assertEqual(job["status"], "success")
        self.assertEqual(job["summary"], ["CLUSTER_REDIST_CONF"])
        self.assertGreater(self.api.engine.config.serial_no, serial)
        self.assertEqual(self.api.request("PUT", "/2/redistribute-config", {"x": 1})[0], 400)


class TagJobDurabilityTests(SynchronousTestCase):
    """A tag job lets go of its lock before its configuration write is on
    disk, and succeeds only once it is."""

    def setUp(self):
        from twisted.internet import task

        from tests.test_queue import HeldRunner

        self.clock = task.Clock()
        self.clock.advance(1800000000)
        self.runner = HeldRunner()
        self.data_dir = self.mktemp()
        self.engine = open_engine(self.data_dir, self.clock, run_in_thread=self.runner)
        self.engine.processor.start()

    def test_lock_released_before_config_durable(self):
        """While the configuration write of a tag job is pending, the group's
        lock is free and the job still runs; then it succeeds, with the tag
        on disk."""
        import json
        import os

        from ganeti_rapi.engine import opcodes

        op = opcodes.make_opcode(
            "OP_TAGS_SET", {}, {"kind": "nodegroup", "name": "default", "tags": ["t1"]}
        )
        d = self.engine.processor.submit([op])
        self.runner.run_one()  # the new job (and its serial)
        job_id = self.successResultOf(d)
        self.runner.run_one()  # "waiting": the unit runs now
        job = self.engine.queue.get_live(job_id)
        self.assertEqual(job.status, "running")
        self.assertEqual(self.engine.locks.snapshot(), [])
        with open(os.path.join(self.data_dir, "config.data")) as f:
            on_disk = json.load(f)
        (group,) = on_disk["nodegroups"].values()
        self.assertEqual(group["tags"], [])
        self.runner.run_all()
        self.assertEqual(job.status, "success")
        with open(os.path.join(self.data_dir, "config.data")) as f:
            on_disk = json.load(f)
        (group,) = on_disk["nodegroups"].values()
        self.assertEqual(group["tags"], ["t1"])

    def test_failed_config_write_fails_the_job(self):
        """A configuration write that fails fails the tag job."""
        from ganeti_rapi.engine import opcodes

        op = opcodes.make_opcode(
            "OP_TAGS_SET", {}, {"kind": "nodegroup", "name": "default", "tags": ["t1"]}
        )
        d = self.engine.processor.submit([op])
        self.runner.run_one()
        job_id = self.successResultOf(d)
        self.runner.run_one()  # "waiting"
        self.runner.run_one()  # "running"
        f, args, written = self.runner.calls.pop(0)  # the configuration
        self.assertIn("config.data", args[0])
        written.errback(OSError(28, "No space left on device"))
        self.runner.run_all()
        job = self.engine.queue.get_live(job_id)
        self.assertEqual(job.status, "error")
        self.flushLoggedErrors(OSError)
