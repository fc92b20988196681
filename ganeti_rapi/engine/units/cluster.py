# -*- test-case-name: tests.test_web_cluster -*-
"""Cluster opcodes: C{OP_CLUSTER_REDIST_CONF}, C{OP_CLUSTER_SET_PARAMS}."""

from ganeti_rapi.engine import locks
from ganeti_rapi.engine.errors import ECODE_ENVIRON, ECODE_INVAL, OpPrereqError
from ganeti_rapi.engine.units.base import Unit, merge_params

#: Hypervisors this engine knows.
KNOWN_HYPERVISORS = frozenset(["fake", "kvm"])

#: Ganeti's disk templates, and those this engine cannot offer on these
#: machines (no LVM device-mapper, no DRBD kernel module, no Ceph/Gluster).
#: The others (diskless, file, sharedfile, blockdev, ext) have drivers in
#: L{ganeti_rapi.engine.disktemplates}.
KNOWN_DISK_TEMPLATES = frozenset(
    ["diskless", "file", "sharedfile", "plain", "drbd", "blockdev", "rbd", "ext", "gluster"]
)
UNAVAILABLE_DISK_TEMPLATES = {
    "plain": "LVM volumes need device-mapper, which this cluster's nodes lack",
    "drbd": "DRBD needs the drbd kernel module, which this cluster's nodes lack",
    "rbd": "RBD needs a Ceph cluster, which this cluster does not have",
    "gluster": "Gluster needs a Gluster volume, which this cluster does not have",
}

#: Plain parameters copied as they are.
_SIMPLE = [
    "candidate_pool_size", "max_running_jobs", "max_tracked_jobs",
    "maintain_node_health", "prealloc_wipe_disks", "mac_prefix", "master_netdev",
    "master_netmask", "use_external_mip_script", "default_iallocator",
    "default_iallocator_params", "reserved_lvs", "file_storage_dir",
    "shared_file_storage_dir", "gluster_storage_dir", "install_image",
    "zeroing_image", "instance_communication_network", "enabled_user_shutdown",
    "uid_pool", "hv_state", "disk_state",
]
#: Parameters with another name in the configuration.
_RENAMED = {"vg_name": "volume_group_name", "drbd_helper": "drbd_usermode_helper"}
#: Dicts merged key by key.
_MERGED = ["ndparams", "ipolicy", "enabled_data_collectors", "data_collector_interval"]
#: Dicts of dicts merged per outer key.
_NESTED = ["hvparams", "os_hvp", "osparams", "osparams_private_cluster", "diskparams"]


class ClusterRedistConf(Unit):
    """Write the configuration again, which sends it to master candidates."""

    def lock_requests(self):
        return [(locks.LEVEL_CLUSTER, "cluster", False)]

    def execute(self):
        self.config.touch(self.config.cluster)
        return self.save()


class ClusterSetParams(Unit):
    """Change cluster parameters."""

    def lock_requests(self):
        return [(locks.LEVEL_CLUSTER, "cluster", True)]

    def check(self):
        op = self.op
        hypervisors = op.get("enabled_hypervisors")
        if hypervisors is not None:
            unknown = set(hypervisors) - KNOWN_HYPERVISORS
            if unknown or not hypervisors:
                raise OpPrereqError(
                    "Invalid hypervisor list: %s" % ", ".join(sorted(unknown) or ["(empty)"]),
                    ECODE_INVAL,
                )
        templates = op.get("enabled_disk_templates")
        if templates is not None:
            unknown = set(templates) - KNOWN_DISK_TEMPLATES
            if unknown or not templates:
                raise OpPrereqError(
                    "Invalid disk template list: %s"
                    % ", ".join(sorted(unknown) or ["(empty)"]),
                    ECODE_INVAL,
                )
            for template in sorted(templates):
                if template in UNAVAILABLE_DISK_TEMPLATES:
                    raise OpPrereqError(
                        "Cannot enable disk template '%s': %s"
                        % (template, UNAVAILABLE_DISK_TEMPLATES[template]),
                        ECODE_ENVIRON,
                    )
        self.check_shared_file_storage_dir()
        for key in ("beparams", "nicparams"):
            if op.get(key) is not None and not isinstance(op[key], dict):
                raise OpPrereqError("Parameter '%s' must be a dict" % key, ECODE_INVAL)

    def check_shared_file_storage_dir(self):
        """sharedfile needs a shared directory, absolute, for as long as it is enabled."""
        op, cluster = self.op, self.config.cluster
        directory = op.get("shared_file_storage_dir")
        if directory:
            if not isinstance(directory, str) or not directory.startswith("/"):
                raise OpPrereqError(
                    "The shared file storage directory must be an absolute path, not %r"
                    % (directory,), ECODE_INVAL,
                )
        elif directory is None:
            directory = cluster.shared_file_storage_dir
        templates = op.get("enabled_disk_templates")
        if templates is None:
            templates = cluster.enabled_disk_templates
        if "sharedfile" in templates and not directory:
            raise OpPrereqError(
                "Disk template 'sharedfile' needs a shared file storage directory"
                " (shared_file_storage_dir), a file system every node mounts at the"
                " same place", ECODE_INVAL,
            )

    def execute(self):
        self.check()
        op, cluster = self.op, self.config.cluster
        for key in _SIMPLE:
            if op.get(key) is not None:
                setattr(cluster, key, op[key])
        for key, attribute in _RENAMED.items():
            if op.get(key) is not None:
                setattr(cluster, attribute, op[key] or None)
        for key in _MERGED:
            if op.get(key) is not None:
                setattr(cluster, key, merge_params(getattr(cluster, key), op[key]))
        for key in _NESTED:
            if op.get(key) is not None:
                current = dict(getattr(cluster, key))
                for outer, values in op[key].items():
                    current[outer] = merge_params(current.get(outer), values)
                setattr(cluster, key, current)
        for key in ("beparams", "nicparams"):
            if op.get(key) is not None:
                current = dict(getattr(cluster, key))
                current["default"] = merge_params(current.get("default"), op[key])
                setattr(cluster, key, current)
        if op.get("enabled_hypervisors") is not None:
            cluster.enabled_hypervisors = list(op["enabled_hypervisors"])
            if cluster.default_hypervisor not in cluster.enabled_hypervisors:
                cluster.default_hypervisor = cluster.enabled_hypervisors[0]
        if op.get("enabled_disk_templates") is not None:
            added = [t for t in op["enabled_disk_templates"]
                     if t not in cluster.enabled_disk_templates]
            cluster.enabled_disk_templates = list(op["enabled_disk_templates"])
            if added and (op.get("ipolicy") or {}).get("disk-templates") is None:
                # A newly enabled template is allowed by the instance policy
                # too; otherwise allocators such as hail refuse its instances.
                allowed = list(cluster.ipolicy.get("disk-templates", []))
                cluster.ipolicy = dict(
                    cluster.ipolicy, **{"disk-templates": allowed + [
                        t for t in added if t not in allowed]}
                )
        for key in ("hidden_os", "blacklisted_os"):
            for action, name in op.get(key) or []:
                names = set(getattr(cluster, key))
                if action == "add":
                    names.add(name)
                else:
                    names.discard(name)
                setattr(cluster, key, sorted(names))
        self.config.touch(cluster)
        return self.save()
