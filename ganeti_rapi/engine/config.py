# -*- test-case-name: tests.test_config -*-
"""The cluster configuration: one in-memory object model, saved atomically.

The file (``config.data`` in the data directory) is laid out like Ganeti's::

    {"version": 3010000,
     "cluster": {...},
     "nodegroups": {"<uuid>": {...}, ...},
     "nodes": {"<uuid>": {...}, ...},
     "instances": {"<uuid>": {...}, ...},
     "networks": {"<uuid>": {...}, ...},
     "serial_no": 7, "ctime": 1700000000.0, "mtime": 1700000100.5}

It is indented JSON with sorted keys, mode 0640, so an administrator can read
it, diff it and back it up.  Every write replaces it atomically (temporary
file, fsync, rename, fsync of the directory) and bumps the top-level
C{serial_no} and C{mtime}.

Changes are made in memory, on the reactor thread, through the methods of
L{ConfigStore}; L{ConfigStore.save} then makes them durable.  Saves that
overlap are coalesced: while one write is in progress, any number of further
saves are covered by a single following write.

A file that cannot be read or parsed stops the start-up with
L{ConfigCorrupt}; it is never overwritten.
"""

import gc
import ipaddress
import os

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from ganeti_rapi import fileutil, jsonutil
from ganeti_rapi.engine import defaults, objects, tags as tagsmod
from ganeti_rapi.engine import network as network_pools
from ganeti_rapi.engine.errors import (
    ECODE_EXISTS,
    ECODE_NOENT,
    ECODE_STATE,
    ConfigurationError,
    OpPrereqError,
)

_log = Logger()

#: File name of the configuration inside the data directory.
CONFIG_FILE = "config.data"

#: Mode of the configuration file.
CONFIG_FILE_MODE = 0o640

#: Format version, Ganeti-style (major * 1000000 + minor * 10000 + revision):
#: the configuration format of Ganeti 3.1.
CONFIG_VERSION = 3010000

#: Name of the node group a new cluster starts with.
INITIAL_GROUP_NAME = "default"

#: Disk templates and hypervisors of the embedded single-node cluster.
EMBEDDED_DISK_TEMPLATES = [defaults.DT_FILE, defaults.DT_DISKLESS]
EMBEDDED_HYPERVISORS = [defaults.HT_FAKE]


class ConfigMissing(ConfigurationError):
    """There is no configuration file."""


class ConfigCorrupt(ConfigurationError):
    """The configuration file cannot be read or does not make sense."""


def _defer_to_thread(f, *args):
    from twisted.internet import threads

    return threads.deferToThread(f, *args)


def _match_name_component(name, key):
    """Whether C{key} names C{name} exactly or as its first dot components."""
    return name == key or name.startswith(key + ".")


class _Kind:
    """The objects of one kind (groups, nodes, ...) with a name index."""

    def __init__(self, label, cls):
        self.label = label
        self.cls = cls
        self.by_uuid = {}
        self.by_name = {}

    def reindex(self):
        self.by_name = {obj.name: obj for obj in self.by_uuid.values()}

    def lookup_name(self, name):
        obj = self.by_name.get(name)
        if obj is not None and obj.name == name and obj.uuid in self.by_uuid:
            return obj
        # Stale or missing entry: someone renamed without rename_*.
        for candidate in self.by_uuid.values():
            if candidate.name == name:
                self.reindex()
                return candidate
        return None

    def add(self, obj):
        self.by_uuid[obj.uuid] = obj
        self.by_name[obj.name] = obj

    def remove(self, obj):
        del self.by_uuid[obj.uuid]
        if self.by_name.get(obj.name) is obj:
            del self.by_name[obj.name]


class ConfigStore:
    """The cluster configuration in memory, and its file.

    @param path: the configuration file.
    @param clock: an C{IReactorTime}; its C{seconds()} sets C{ctime}/C{mtime}.
    @param run_in_thread: C{run_in_thread(f, *args) -> Deferred} runs the
        blocking write; C{deferToThread} when not given.
    """

    def __init__(self, path, clock, run_in_thread=None):
        self._path = path
        self._clock = clock
        self._run_in_thread = run_in_thread or _defer_to_thread
        self._listeners = []
        self._version = CONFIG_VERSION
        self._serial_no = 0
        self._ctime = 0.0
        self._mtime = 0.0
        self._cluster = None
        self._groups = _Kind("nodegroups", objects.NodeGroup)
        self._nodes = _Kind("nodes", objects.Node)
        self._instances = _Kind("instances", objects.Instance)
        self._networks = _Kind("networks", objects.Network)
        self._filters = {}
        self._extra = {}
        # Save machinery: Deferreds of saves not yet covered by a write, and
        # whether a write is in progress.
        self._waiting = []
        self._writing = False
        self._durable_serial_no = None

    # -- Loading and creating ------------------------------------------------

    @property
    def path(self):
        """The configuration file."""
        return self._path

    @property
    def loaded(self):
        """Whether a configuration was loaded or created."""
        return self._cluster is not None

    def load(self):
        """Read the configuration file (blocking; for start-up).

        @raise ConfigMissing: if the file does not exist.
        @raise ConfigCorrupt: if it cannot be read or parsed, or its content
            is inconsistent.  The file is left as it is.
        """
        try:
            with open(self._path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            raise ConfigMissing(
                "Configuration file %s does not exist" % (self._path,)
            ) from None
        except OSError as e:
            raise ConfigCorrupt(
                "Cannot read configuration file %s: %s"
                % (self._path, e.strerror or e)
            ) from None
        try:
            document = jsonutil.loads(raw)
        except jsonutil.JSONDecodeError as e:
            raise ConfigCorrupt(
                "Configuration file %s is not valid JSON: %s" % (self._path, e)
            ) from None
        try:
            self._install(document)
        except ValueError as e:
            raise ConfigCorrupt(
                "Configuration file %s is invalid: %s" % (self._path, e)
            ) from None
        self._durable_serial_no = self._serial_no
        _log.info(
            "Loaded configuration {path} (serial {serial_no})",
            path=self._path,
            serial_no=self._serial_no,
        )

    def _install(self, document):
        """Replace the in-memory state by C{document}; ValueError if bad."""
        if not isinstance(document, dict):
            raise ValueError("the top level is not an object")
        version = document.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValueError("no valid 'version'")
        if version != CONFIG_VERSION:
            raise ValueError(
                "configuration version mismatch, got %s instead of %s"
                % (version, CONFIG_VERSION)
            )
        for key, (check, description) in (
            ("serial_no", objects.INT),
            ("ctime", objects.NUMBER),
            ("mtime", objects.NUMBER),
        ):
            if not check(document.get(key)):
                raise ValueError("'%s' is not %s" % (key, description))
        if "cluster" not in document:
            raise ValueError("no 'cluster' section")
        cluster = objects.ClusterInfo.from_dict(document["cluster"], "cluster")
        kinds = {}
        for label, cls in (
            ("nodegroups", objects.NodeGroup),
            ("nodes", objects.Node),
            ("instances", objects.Instance),
            ("networks", objects.Network),
        ):
            kind = _Kind(label, cls)
            section = document.get(label, {})
            if not isinstance(section, dict):
                raise ValueError("'%s' is not an object" % label)
            for key, data in section.items():
                where = "%s[%s]" % (label, key)
                obj = cls.from_dict(data, where)
                if obj.uuid != key:
                    raise ValueError(
                        "%s: uuid %r differs from its key" % (where, obj.uuid)
                    )
                if obj.name in kind.by_name:
                    raise ValueError("%s: duplicate name %r" % (where, obj.name))
                kind.add(obj)
            kinds[label] = kind
        groups, nodes = kinds["nodegroups"], kinds["nodes"]
        if cluster.master_node not in nodes.by_uuid:
            raise ValueError("master node %r is not a node" % cluster.master_node)
        for node in nodes.by_uuid.values():
            if node.group not in groups.by_uuid:
                raise ValueError(
                    "node %r is in unknown group %r" % (node.name, node.group)
                )
        for inst in kinds["instances"].by_uuid.values():
            for node_uuid in inst.all_nodes:
                if node_uuid not in nodes.by_uuid:
                    raise ValueError(
                        "instance %r uses unknown node %r" % (inst.name, node_uuid)
                    )
        filters = {}
        section = document.get("filters", {})
        if not isinstance(section, dict):
            raise ValueError("'filters' is not an object")
        for key, data in section.items():
            where = "filters[%s]" % key
            rule = objects.FilterRule.from_dict(data, where)
            if rule.uuid != key:
                raise ValueError("%s: uuid %r differs from its key" % (where, rule.uuid))
            filters[key] = rule
        known = {
            "version",
            "cluster",
            "nodegroups",
            "nodes",
            "instances",
            "networks",
            "filters",
            "serial_no",
            "ctime",
            "mtime",
        }
        self._version = version
        self._serial_no = document["serial_no"]
        self._ctime = document["ctime"]
        self._mtime = document["mtime"]
        self._cluster = cluster
        self._groups = groups
        self._nodes = nodes
        self._instances = kinds["instances"]
        self._networks = kinds["networks"]
        self._filters = filters
        self._extra = {k: v for k, v in document.items() if k not in known}

    def create_default(
        self,
        cluster_name,
        node_name,
        node_ip,
        rpc_port,
        node_cert_digest,
        file_storage_dir,
    ):
        """Create and write (blocking) the embedded single-node cluster.

        One node group C{default}; the local node is its only member and the
        master (master candidate, master and VM capable); the fake
        hypervisor and the file and diskless disk templates are enabled;
        parameters are Ganeti's defaults.

        @raise FileExistsError: if the configuration file exists; it is
            never replaced by a new cluster.
        """
        if os.path.lexists(self._path):
            raise FileExistsError(
                "Configuration file %s already exists; not creating a new cluster"
                % (self._path,)
            )
        now = self._clock.seconds()
        family = ipaddress.ip_address(node_ip).version
        group = objects.NodeGroup(
            name=INITIAL_GROUP_NAME,
            alloc_policy=defaults.ALLOC_POLICY_PREFERRED,
            ctime=now,
            mtime=now,
        )
        node = objects.Node(
            name=node_name,
            primary_ip=node_ip,
            secondary_ip=node_ip,
            group=group.uuid,
            master_candidate=True,
            master_capable=True,
            vm_capable=True,
            rpc_port=rpc_port,
            cert_digest=node_cert_digest,
            ctime=now,
            mtime=now,
        )
        ipolicy = defaults.copy_defaults(defaults.IPOLICY)
        ipolicy["disk-templates"] = list(EMBEDDED_DISK_TEMPLATES)
        cluster = objects.ClusterInfo(
            cluster_name=cluster_name,
            master_node=node.uuid,
            default_hypervisor=EMBEDDED_HYPERVISORS[0],
            enabled_hypervisors=list(EMBEDDED_HYPERVISORS),
            hvparams=defaults.copy_defaults(defaults.HVPARAMS),
            beparams={"default": defaults.copy_defaults(defaults.BEPARAMS)},
            nicparams={"default": defaults.copy_defaults(defaults.NICPARAMS)},
            ndparams=defaults.copy_defaults(defaults.NDPARAMS),
            diskparams=defaults.copy_defaults(defaults.DISKPARAMS),
            ipolicy=ipolicy,
            candidate_pool_size=defaults.MASTER_POOL_SIZE_DEFAULT,
            max_running_jobs=defaults.MAX_RUNNING_JOBS_DEFAULT,
            max_tracked_jobs=defaults.MAX_TRACKED_JOBS_DEFAULT,
            mac_prefix=defaults.DEFAULT_MAC_PREFIX,
            master_netdev=defaults.DEFAULT_BRIDGE,
            master_netmask=32 if family == 4 else 128,
            volume_group_name=None,
            drbd_usermode_helper=None,
            file_storage_dir=file_storage_dir,
            primary_ip_family=(
                defaults.IP4_FAMILY if family == 4 else defaults.IP6_FAMILY
            ),
            enabled_disk_templates=list(EMBEDDED_DISK_TEMPLATES),
            compression_tools=list(defaults.IEC_DEFAULT_TOOLS),
            enabled_data_collectors={
                name: True for name in defaults.DATA_COLLECTOR_NAMES
            },
            data_collector_interval={
                name: defaults.DATA_COLLECTOR_INTERVAL_DEFAULT
                for name in defaults.DATA_COLLECTOR_NAMES
            },
            modify_ssh_setup=False,
            ssh_key_type=defaults.SSH_KEY_TYPE_DEFAULT,
            ssh_key_bits=defaults.SSH_KEY_BITS_DEFAULT,
            highest_used_port=defaults.FIRST_DRBD_PORT - 1,
            ctime=now,
            mtime=now,
        )
        self._version = CONFIG_VERSION
        self._cluster = cluster
        self._groups = _Kind("nodegroups", objects.NodeGroup)
        self._nodes = _Kind("nodes", objects.Node)
        self._instances = _Kind("instances", objects.Instance)
        self._networks = _Kind("networks", objects.Network)
        self._groups.add(group)
        self._nodes.add(node)
        self._filters = {}
        self._extra = {}
        self._serial_no = 1
        self._ctime = now
        self._mtime = now
        data = self.serialize()
        fileutil.atomic_write(self._path, data, CONFIG_FILE_MODE)
        self._durable_serial_no = self._serial_no

    # -- The document --------------------------------------------------------

    @property
    def version(self):
        """The format version of the configuration."""
        return self._version

    @property
    def serial_no(self):
        """The top-level serial number (bumped by every write)."""
        return self._serial_no

    @property
    def durable_serial_no(self):
        """The serial number of the last configuration known to be on disk."""
        return self._durable_serial_no

    @property
    def ctime(self):
        return self._ctime

    @property
    def mtime(self):
        return self._mtime

    def to_dict(self, copy=True):
        """The whole configuration as the JSON document written to disk.

        @param copy: if false, the document shares the objects' own dicts
            and lists (L{objects.ConfigObject.json_tree}): only for
            encoding it at once, as L{serialize} does.
        """
        if copy:
            document = objects.copy_json(self._extra)

            def tree(obj):
                return obj.to_dict()
        else:
            document = dict(self._extra)

            def tree(obj):
                return obj.json_tree()

        document.update(
            {
                "version": self._version,
                "cluster": tree(self._cluster),
                "nodegroups": {
                    u: tree(g) for u, g in self._groups.by_uuid.items()
                },
                "nodes": {u: tree(n) for u, n in self._nodes.by_uuid.items()},
                "instances": {
                    u: tree(i) for u, i in self._instances.by_uuid.items()
                },
                "networks": {
                    u: tree(n) for u, n in self._networks.by_uuid.items()
                },
                "filters": {u: tree(f) for u, f in self._filters.items()},
                "serial_no": self._serial_no,
                "ctime": self._ctime,
                "mtime": self._mtime,
            }
        )
        return document

    def serialize(self):
        """The bytes of the configuration file for the current state.

        Made on the reactor thread (the objects change there), so kept
        cheap: the document is not copied before encoding, and the cyclic
        garbage collector, which would walk the whole configuration again
        and again while the document is built, is off meanwhile.
        """
        enabled = gc.isenabled()
        if enabled:
            gc.disable()
        try:
            document = self.to_dict(copy=False)
            return jsonutil.dumps_text(document, indent=1).encode("utf-8")
        finally:
            if enabled:
                gc.enable()

    # -- Lookups --------------------------------------------------------------

    @property
    def cluster(self):
        """The L{ClusterInfo<objects.ClusterInfo>}."""
        return self._cluster

    def groups(self):
        """All node groups, as a new list."""
        return list(self._groups.by_uuid.values())

    def nodes(self):
        """All nodes, as a new list."""
        return list(self._nodes.by_uuid.values())

    def instances(self):
        """All instances, as a new list."""
        return list(self._instances.by_uuid.values())

    def networks(self):
        """All networks, as a new list."""
        return list(self._networks.by_uuid.values())

    def group(self, uuid):
        return self._groups.by_uuid.get(uuid)

    def node(self, uuid):
        return self._nodes.by_uuid.get(uuid)

    def instance(self, uuid):
        return self._instances.by_uuid.get(uuid)

    def network(self, uuid):
        return self._networks.by_uuid.get(uuid)

    def group_by_name(self, name):
        return self._groups.lookup_name(name)

    def node_by_name(self, name):
        return self._nodes.lookup_name(name)

    def instance_by_name(self, name):
        return self._instances.lookup_name(name)

    def network_by_name(self, name):
        return self._networks.lookup_name(name)

    def master_node(self):
        """The master L{Node<objects.Node>}."""
        return self._nodes.by_uuid.get(self._cluster.master_node)

    def nodes_in_group(self, group_uuid):
        """The nodes whose group is C{group_uuid}."""
        return [n for n in self._nodes.by_uuid.values() if n.group == group_uuid]

    def instances_on_node(self, node_uuid, primary_only=False):
        """The instances using node C{node_uuid} (as primary, or at all)."""
        result = []
        for inst in self._instances.by_uuid.values():
            if inst.primary_node == node_uuid or (
                not primary_only and node_uuid in inst.secondary_nodes
            ):
                result.append(inst)
        return result

    def _find(self, kind, key, message, expand):
        obj = kind.lookup_name(key)
        if obj is None:
            obj = kind.by_uuid.get(key)
        if obj is None and expand and isinstance(key, str) and key:
            matches = [
                o
                for o in kind.by_uuid.values()
                if _match_name_component(o.name, key)
            ]
            if len(matches) == 1:
                obj = matches[0]
        if obj is None:
            raise OpPrereqError(message % (key,), ECODE_NOENT)
        return obj

    def find_group(self, name):
        """The group named (or with uuid) C{name}.

        @raise OpPrereqError: C{unknown_entity} if there is none.
        """
        return self._find(self._groups, name, "Group '%s' not known", False)

    def find_node(self, name):
        """The node named C{name}, its uuid, or the one name it abbreviates.

        C{node1} finds C{node1.example.com} when no other node name starts
        with C{node1.}, as in Ganeti.

        @raise OpPrereqError: C{unknown_entity} if there is none.
        """
        return self._find(self._nodes, name, "Node '%s' not known", True)

    def find_instance(self, name):
        """The instance named C{name}, its uuid, or the one name it abbreviates.

        @raise OpPrereqError: C{unknown_entity} if there is none.
        """
        return self._find(self._instances, name, "Instance '%s' not known", True)

    def find_network(self, name):
        """The network named (or with uuid) C{name}.

        @raise OpPrereqError: C{unknown_entity} if there is none.
        """
        return self._find(self._networks, name, "Network '%s' not known", False)

    # -- Changes ---------------------------------------------------------------

    def touch(self, obj):
        """Record that C{obj} changed: bump its serial number, set its mtime."""
        obj.serial_no += 1
        obj.mtime = self._clock.seconds()

    def _new_object(self, obj):
        now = self._clock.seconds()
        obj.ctime = now
        obj.mtime = now
        obj.serial_no = 1

    def _check_new(self, kind, obj, message):
        if not isinstance(obj, kind.cls):
            raise TypeError("expected a %s, got %r" % (kind.cls.__name__, obj))
        if kind.lookup_name(obj.name) is not None:
            raise OpPrereqError(message % (obj.name,), ECODE_EXISTS)
        if obj.uuid in kind.by_uuid:
            raise ConfigurationError(
                "Duplicate uuid %s in %s" % (obj.uuid, kind.label)
            )
        tagsmod.validate_tags(obj.tags)

    def _check_rename(self, kind, obj, new_name, message):
        other = kind.lookup_name(new_name)
        if other is not None and other is not obj:
            raise OpPrereqError(message % (new_name,), ECODE_EXISTS)

    def _get(self, kind, uuid, message):
        obj = kind.by_uuid.get(uuid)
        if obj is None:
            raise OpPrereqError(message % (uuid,), ECODE_NOENT)
        return obj

    def add_group(self, group):
        """Add a new node group (sets its ctime, mtime and serial number).

        @raise OpPrereqError: C{already_exists} if the name is taken.
        """
        self._check_new(
            self._groups,
            group,
            "Desired group name '%s' already exists as a node group",
        )
        self._new_object(group)
        self._groups.add(group)
        self.touch(self._cluster)
        return group

    def remove_group(self, uuid):
        """Remove node group C{uuid}; it must have no nodes.

        @raise OpPrereqError: C{unknown_entity} or C{wrong_state}.
        """
        group = self._get(self._groups, uuid, "Group '%s' not known")
        members = self.nodes_in_group(uuid)
        if members:
            raise OpPrereqError(
                "Group '%s' not empty, has the following nodes: %s"
                % (group.name, ", ".join(sorted(n.name for n in members))),
                ECODE_STATE,
            )
        self._groups.remove(group)
        self.touch(self._cluster)
        return group

    def rename_group(self, uuid, new_name):
        """Rename node group C{uuid}.

        @raise OpPrereqError: C{unknown_entity}, or C{already_exists} if
            C{new_name} is taken.
        """
        group = self._get(self._groups, uuid, "Group '%s' not known")
        self._check_rename(
            self._groups,
            group,
            new_name,
            "Desired new name '%s' clashes with existing node group",
        )
        self._groups.remove(group)
        group.name = new_name
        self._groups.add(group)
        self.touch(group)
        self.touch(self._cluster)
        return group

    def add_node(self, node):
        """Add a new node; its group must exist.

        @raise OpPrereqError: C{already_exists} if the name is taken,
            C{unknown_entity} if its group does not exist.
        """
        self._check_new(self._nodes, node, "Node '%s' is already in the cluster")
        group = self._get(self._groups, node.group, "Group '%s' not known")
        self._new_object(node)
        self._nodes.add(node)
        self.touch(group)
        self.touch(self._cluster)
        return node

    def remove_node(self, uuid):
        """Remove node C{uuid}; it must not be the master nor host instances.

        @raise OpPrereqError: C{unknown_entity} or C{wrong_state}.
        """
        node = self._get(self._nodes, uuid, "Node '%s' not known")
        if uuid == self._cluster.master_node:
            raise OpPrereqError(
                "Node '%s' is the master node, cannot remove it" % (node.name,),
                ECODE_STATE,
            )
        used = self.instances_on_node(uuid)
        if used:
            raise OpPrereqError(
                "Node '%s' is used by instances: %s"
                % (node.name, ", ".join(sorted(i.name for i in used))),
                ECODE_STATE,
            )
        self._nodes.remove(node)
        group = self._groups.by_uuid.get(node.group)
        if group is not None:
            self.touch(group)
        self.touch(self._cluster)
        return node

    def set_node_group(self, node_uuid, group_uuid):
        """Move node C{node_uuid} into group C{group_uuid}."""
        node = self._get(self._nodes, node_uuid, "Node '%s' not known")
        new_group = self._get(self._groups, group_uuid, "Group '%s' not known")
        old_group = self._groups.by_uuid.get(node.group)
        if old_group is new_group:
            return node
        node.group = group_uuid
        self.touch(node)
        if old_group is not None:
            self.touch(old_group)
        self.touch(new_group)
        return node

    def add_instance(self, instance):
        """Add a new instance; its nodes must exist.

        @raise OpPrereqError: C{already_exists} if the name is taken,
            C{unknown_entity} if a node does not exist.
        """
        self._check_new(
            self._instances, instance, "Instance '%s' is already in the cluster"
        )
        for node_uuid in instance.all_nodes:
            self._get(self._nodes, node_uuid, "Node '%s' not known")
        self._new_object(instance)
        self._instances.add(instance)
        self.touch(self._cluster)
        return instance

    def remove_instance(self, uuid):
        """Remove instance C{uuid}.

        @raise OpPrereqError: C{unknown_entity}.
        """
        instance = self._get(self._instances, uuid, "Instance '%s' not known")
        self._instances.remove(instance)
        # Its NICs' addresses go back to their networks' pools, as in Ganeti.
        network_pools.release_addresses(self, instance)
        if instance.network_port is not None:
            self._cluster.tcpudp_port_pool.append(instance.network_port)
        self.touch(self._cluster)
        return instance

    def rename_instance(self, uuid, new_name):
        """Rename instance C{uuid}.

        @raise OpPrereqError: C{unknown_entity}, or C{already_exists}.
        """
        instance = self._get(self._instances, uuid, "Instance '%s' not known")
        self._check_rename(
            self._instances,
            instance,
            new_name,
            "Instance '%s' is already in the cluster",
        )
        self._instances.remove(instance)
        instance.name = new_name
        self._instances.add(instance)
        self.touch(instance)
        self.touch(self._cluster)
        return instance

    def add_network(self, network):
        """Add a new network.

        @raise OpPrereqError: C{already_exists} if the name is taken.
        """
        self._check_new(
            self._networks,
            network,
            "Desired network name '%s' already exists as a network",
        )
        self._new_object(network)
        self._networks.add(network)
        self.touch(self._cluster)
        return network

    def remove_network(self, uuid):
        """Remove network C{uuid} and its connections to groups.

        @raise OpPrereqError: C{unknown_entity}.
        """
        network = self._get(self._networks, uuid, "Network '%s' not known")
        self._networks.remove(network)
        for group in self._groups.by_uuid.values():
            if uuid in group.networks:
                del group.networks[uuid]
                self.touch(group)
        self.touch(self._cluster)
        return network

    def rename_network(self, uuid, new_name):
        """Rename network C{uuid}.

        @raise OpPrereqError: C{unknown_entity}, or C{already_exists}.
        """
        network = self._get(self._networks, uuid, "Network '%s' not known")
        self._check_rename(
            self._networks,
            network,
            new_name,
            "Desired network name '%s' already exists as a network",
        )
        self._networks.remove(network)
        network.name = new_name
        self._networks.add(network)
        self.touch(network)
        self.touch(self._cluster)
        return network

    # -- Job filter rules ----------------------------------------------------

    def filters(self):
        """All job filter rules, as a new list (in no particular order)."""
        return list(self._filters.values())

    def filter_rule(self, uuid):
        """The filter rule C{uuid}, or L{None}."""
        return self._filters.get(uuid)

    def set_filter(self, rule):
        """Add C{rule}, or replace the rule with its uuid."""
        if not isinstance(rule, objects.FilterRule):
            raise TypeError("expected a FilterRule, got %r" % (rule,))
        self._filters[rule.uuid] = rule
        return rule

    def remove_filter(self, uuid):
        """Remove filter rule C{uuid}.

        @raise OpPrereqError: C{unknown_entity} if there is none.
        """
        rule = self._get_filter(uuid)
        del self._filters[uuid]
        return rule

    def _get_filter(self, uuid):
        rule = self._filters.get(uuid)
        if rule is None:
            raise OpPrereqError("Filter rule '%s' not known" % (uuid,), ECODE_NOENT)
        return rule

    def set_tags(self, obj, tags):
        """Replace the tags of C{obj}.

        @raise TagError: if a tag is invalid or there are too many.
        """
        obj.tags = tagsmod.validate_tags(tags)
        self.touch(obj)

    def add_tags(self, obj, tags):
        """Add C{tags} to those of C{obj} (Ganeti's C{OP_TAGS_SET}).

        @raise TagError: if a tag is invalid or there would be too many.
        """
        new = tagsmod.validate_tags(tags, obj.tags)
        obj.tags = set(obj.tags) | new
        self.touch(obj)

    def remove_tags(self, obj, tags):
        """Remove C{tags} from C{obj} (Ganeti's C{OP_TAGS_DEL}).

        @raise OpPrereqError: C{unknown_entity} if a tag is not there;
            nothing is removed then.
        """
        tags = set(tags)
        missing = tags - set(obj.tags)
        if missing:
            raise OpPrereqError(
                "Tag(s) %s not found" % ", ".join("'%s'" % t for t in sorted(missing)),
                ECODE_NOENT,
            )
        obj.tags = set(obj.tags) - tags
        self.touch(obj)

    def allocate_port(self):
        """A free TCP/UDP port for an instance (VNC console, DRBD).

        Ports given back by removed instances are reused first.

        @raise ConfigurationError: if the port range is exhausted.
        """
        cluster = self._cluster
        if cluster.tcpudp_port_pool:
            port = cluster.tcpudp_port_pool.pop(0)
        else:
            port = cluster.highest_used_port + 1
            if port > defaults.LAST_DRBD_PORT:
                raise ConfigurationError(
                    "The free port range is exhausted (last port %d)"
                    % defaults.LAST_DRBD_PORT
                )
            cluster.highest_used_port = port
        self.touch(cluster)
        return port

    # -- Saving ----------------------------------------------------------------

    def add_listener(self, listener):
        """Call C{listener(serial_no, data)} after every durable write.

        C{data} is the bytes written.  Listeners run on the reactor thread
        and must not block; an exception they raise is logged and ignored.
        """
        self._listeners.append(listener)

    def remove_listener(self, listener):
        self._listeners.remove(listener)

    def save(self):
        """Make the current in-memory state durable.

        @return: a Deferred that fires with the serial number written once a
            write that includes every change made before this call is on
            disk, or fails if that write failed.
        """
        if self._cluster is None:
            raise ConfigurationError("No configuration loaded")
        d = defer.Deferred()
        self._waiting.append(d)
        if not self._writing:
            self._write_next()
        return d

    def _write_next(self):
        waiters, self._waiting = self._waiting, []
        self._serial_no += 1
        self._mtime = self._clock.seconds()
        serial_no = self._serial_no
        try:
            data = self.serialize()
        except Exception:
            failure = Failure()
            _log.failure("Cannot serialize the configuration", failure)
            for d in waiters:
                d.errback(failure)
            return
        self._writing = True
        written = defer.maybeDeferred(
            self._run_in_thread,
            fileutil.atomic_write,
            self._path,
            data,
            CONFIG_FILE_MODE,
        )
        written.addBoth(self._written, waiters, serial_no, data)

    def _written(self, result, waiters, serial_no, data):
        self._writing = False
        if isinstance(result, Failure):
            _log.failure(
                "Writing configuration {path} (serial {serial_no}) failed",
                result,
                path=self._path,
                serial_no=serial_no,
            )
            for d in waiters:
                d.errback(result)
        else:
            self._durable_serial_no = serial_no
            for listener in list(self._listeners):
                try:
                    listener(serial_no, data)
                except Exception:
                    _log.failure(
                        "Configuration listener {listener!r} failed",
                        listener=listener,
                    )
            for d in waiters:
                d.callback(serial_no)
        if self._waiting and not self._writing:
            self._write_next()
