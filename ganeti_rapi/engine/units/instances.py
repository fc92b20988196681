# -*- test-case-name: tests.test_instances -*-
"""The instance lifecycle: create, remove, start, stop, reboot, rename, query.

Every change to a node goes through node RPC to its daemon: disks are
created and removed through the disk template drivers of
L{ganeti_rapi.engine.disktemplates} (file disks are real sparse files in
the node's file-storage directory, named by their index inside a directory
per instance), the OS definition's create script runs on the primary node,
and the hypervisor starts and stops the instance there.  Creation from an
export (mode C{import}) is L{ganeti_rapi.engine.units.imports}.
"""

import ipaddress
import random

from twisted.internet import defer

from ganeti_rapi.engine import allocator, defaults, disktemplates, iallocator, locks
from ganeti_rapi.engine import network as network_pools
from ganeti_rapi.engine.hostnames import check_new_name
from ganeti_rapi.engine.noderpc import shutdown_rpc_timeout
from ganeti_rapi.engine.errors import (
    ECODE_EXISTS,
    ECODE_INVAL,
    ECODE_STATE,
    OpExecError,
    OpPrereqError,
)
from ganeti_rapi.engine.objects import Instance, Nic
from ganeti_rapi.engine.params import (
    instance_beparams,
    instance_hvparams,
    instance_osparams,
    nic_params,
)
from ganeti_rapi.engine.units.base import Unit

#: Disk templates this engine creates disks for (see L{disktemplates}).
SUPPORTED_TEMPLATES = disktemplates.SUPPORTED

#: Seconds an OS create script may run.
OS_SCRIPT_TIMEOUT = 3600

#: Why C{remote-import} creations are refused.
REMOTE_IMPORT_UNSUPPORTED = (
    "Remote imports (instance creation mode 'remote-import', from another"
    " cluster) are not supported by this cluster"
)


# -- what node daemons are told about an instance ------------------------------


def disk_wire(disk):
    return disk.to_dict()


def nic_wire(cluster, nic):
    data = nic.to_dict()
    data["nicparams"] = nic_params(cluster, nic)
    return data


def instance_wire(config, instance):
    """The instance as node procedures see it: parameters filled, names not uuids."""
    cluster = config.cluster
    node = config.node(instance.primary_node)
    return {
        "name": instance.name,
        "uuid": instance.uuid,
        "os": instance.os,
        "hypervisor": instance.hypervisor,
        "primary_node": node.name if node else None,
        "secondary_nodes": [config.node(n).name for n in instance.secondary_nodes],
        "disk_template": instance.disk_template,
        "admin_state": instance.admin_state,
        "beparams": instance_beparams(cluster, instance),
        "hvparams": instance_hvparams(cluster, instance),
        "osparams": instance_osparams(cluster, instance),
        "disks": [disk_wire(d) for d in instance.disks],
        "nics": [_with_netinfo(config, nic_wire(cluster, n), n) for n in instance.nics],
        "network_port": instance.network_port,
    }


def _with_netinfo(config, data, nic):
    """C{data} with the C{netinfo} of the NIC's network, if it has one."""
    network = config.network(nic.network) if nic.network else None
    if network is not None:
        data["netinfo"] = network_pools.netinfo(network)
    return data


def check_kvm_hvparams(cluster, hypervisor, hvparams):
    """Ganeti's checks of kvm parameters (the cluster's filled with C{hvparams})."""
    if hypervisor != "kvm":
        return
    from ganeti_rapi.noded.hypervisor import kvm_params

    filled = dict(cluster.hvparams.get("kvm") or {})
    filled.update((k, v) for k, v in hvparams.items() if v not in (None, "default"))
    errors = kvm_params.check(filled, defaults.HVPARAMS["kvm"])
    if errors:
        raise OpPrereqError("; ".join(errors), ECODE_INVAL)


def file_disk_path(instance_name, index):
    """Where file disk C{index} of an instance lives, inside the storage directory."""
    return "%s/disk%d" % (instance_name, index)


# -- base ----------------------------------------------------------------------------


class InstanceUnit(Unit):
    """An opcode on one existing instance (C{instance_name})."""

    #: Whether the instance's nodes are locked exclusively.
    exclusive_nodes = False

    def instance(self):
        return self.config.find_instance(self.op["instance_name"])

    def lock_requests(self):
        requests = [(locks.LEVEL_INSTANCE, self.op["instance_name"], True)]
        instance = self.config.instance_by_name(self.op["instance_name"])
        if instance is not None:
            for uuid in instance.all_nodes:
                node = self.config.node(uuid)
                if node is not None:
                    requests.append((locks.LEVEL_NODE, node.name, self.exclusive_nodes))
        return requests

    def primary(self, instance):
        return self.config.node(instance.primary_node)

    def rpc(self, node, procedure, rpc_timeout=None, /, **kwargs):
        """Call a node procedure; failures become Ganeti errors."""
        if self.env.nodes is None:
            raise OpExecError("This master cannot reach node daemons")
        return self.env.nodes.run(node, procedure, rpc_timeout, **kwargs)

    @defer.inlineCallbacks
    def is_running(self, instance):
        """Whether the hypervisor of the primary node runs the instance."""
        info = yield self.rpc(
            self.primary(instance), "instance_info",
            name=instance.name, hypervisor=instance.hypervisor,
        )
        return info is not None

    def check_not_offline(self, instance):
        if instance.admin_state == "offline":
            raise OpPrereqError(
                "Instance '%s' is marked offline" % instance.name, ECODE_STATE
            )


def need_of(cluster, instance):
    beparams = instance_beparams(cluster, instance)
    disk = (
        sum(d.size for d in instance.disks)
        if disktemplates.uses_node_storage(instance.disk_template) else 0
    )
    return allocator.Need(beparams.get("maxmem", 0), disk)


# -- create ----------------------------------------------------------------------------


def new_mac(config, prefix):
    """A MAC address with the cluster's prefix that no NIC uses yet."""
    used = {nic.mac for i in config.instances() for nic in i.nics}
    rng = random.SystemRandom()
    while True:
        suffix = ":".join("%02x" % rng.randrange(256) for _ in range(3))
        mac = "%s:%s" % (prefix, suffix)
        if mac not in used:
            return mac


def _nic_network_name(spec):
    """The network a NIC definition names, or L{None} (also for C{"none"})."""
    network = spec.get("network") if isinstance(spec, dict) else None
    if not isinstance(network, str) or not network or network.lower() == "none":
        return None
    return network


def _nic_ip(ip, network, index, name_check=False, resolved_ip=None):
    """A NIC's C{ip}: L{None}, C{"pool"} (with a network) or an address.

    C{auto} is the address the instance's name resolved to (C{resolved_ip},
    L{None} while it is not known yet), which needs C{name_check}.

    @raise OpPrereqError: C{wrong_input} for C{pool} without a network,
        C{auto} without C{name_check} or something that is not an IP address.
    """
    if ip is None or ip == "" or (isinstance(ip, str) and ip.lower() == "none"):
        return None
    if isinstance(ip, str) and ip.lower() == "auto":
        if not name_check:
            raise OpPrereqError("IP address set to auto but name checks have been"
                                " skipped", ECODE_INVAL)
        return resolved_ip
    if isinstance(ip, str) and ip.lower() == "pool":
        if network is None:
            raise OpPrereqError("NIC %d: if ip=pool, parameter network must be passed"
                                " too" % index, ECODE_INVAL)
        return "pool"
    try:
        ipaddress.ip_address(ip)
    except (ValueError, TypeError):
        raise OpPrereqError("Invalid IP address '%s' of NIC %d" % (ip, index),
                            ECODE_INVAL) from None
    return ip


@defer.inlineCallbacks
def check_os_definition(run, node, name, force_variant):
    """The OS definition C{name} (maybe C{name+variant}) is valid on C{node}.

    @param run: how node procedures are called (a L{NodeRunner}'s C{run}).
    @raise OpPrereqError: C{wrong_input} for an OS missing or invalid there,
        or a variant missing or unknown (unless C{force_variant}).
    """
    base, _, variant = name.partition("+")
    try:
        info = yield run(node, "os_get", None, name=base)
    except OpExecError:
        raise OpPrereqError("OS '%s' not found on node %s" % (base, node.name),
                            ECODE_INVAL)
    if not info.get("status"):
        raise OpPrereqError(
            "OS '%s' on node %s is not valid: %s"
            % (base, node.name, info.get("diagnose")), ECODE_INVAL,
        )
    variants = info.get("variants") or []
    if variants and not force_variant:
        if not variant:
            raise OpPrereqError(
                "OS '%s' requires a variant (one of %s)" % (base, ", ".join(variants)),
                ECODE_INVAL,
            )
        if variant not in variants:
            raise OpPrereqError("OS '%s' has no variant '%s'" % (base, variant),
                                ECODE_INVAL)


class InstanceCreate(Unit):
    """Create an instance: place it, make its disks, install its OS, start it."""

    #: The creation mode this unit carries out.
    mode = "create"

    #: The address the name resolved to (C{name_check}), found by L{prepare}.
    resolved_ip = None

    @defer.inlineCallbacks
    def prepare(self):
        """C{name_check} and C{ip_check}, before the locks: the resolved name,
        which becomes the instance's, is the one locked."""
        host = yield check_new_name(self, "instance_name")
        if host is not None:
            self.resolved_ip = host.address

    def lock_requests(self):
        requests = [(locks.LEVEL_INSTANCE, self.op["instance_name"], True)]
        if self.op.get("pnode"):
            requests.append((locks.LEVEL_NODE, self.op["pnode"], True))
        else:
            # The allocator looks at every node's free resources.
            requests.append((locks.LEVEL_NODE, locks.ALL, True))
        # The networks of the NICs, shared: a network is not disconnected or
        # removed under a creation; addresses are reserved synchronously.
        networks = {_nic_network_name(spec) for spec in self.op["nics"]} - {None}
        for name in sorted(networks):
            requests.append((locks.LEVEL_NETWORK, name, False))
        return requests

    # parameters

    def template(self):
        cluster = self.config.cluster
        template = self.op.get("disk_template") or cluster.enabled_disk_templates[0]
        if template not in cluster.enabled_disk_templates:
            raise OpPrereqError(
                "Disk template '%s' is not enabled in cluster; enabled: %s"
                % (template, ", ".join(cluster.enabled_disk_templates)),
                ECODE_STATE,
            )
        if template not in SUPPORTED_TEMPLATES:
            raise OpPrereqError(
                "Disk template '%s' is not supported by this cluster yet" % template,
                ECODE_INVAL,
            )
        return template

    def hypervisor(self):
        cluster = self.config.cluster
        hypervisor = self.op.get("hypervisor") or cluster.default_hypervisor
        if hypervisor not in cluster.enabled_hypervisors:
            raise OpPrereqError(
                "Hypervisor '%s' is not enabled in the cluster" % hypervisor, ECODE_STATE
            )
        return hypervisor

    def beparams(self):
        params = dict(self.op.get("beparams") or {})
        if "memory" in params:
            # The old single memory size sets both bounds.
            memory = params.pop("memory")
            params.setdefault("maxmem", memory)
            params.setdefault("minmem", memory)
        for key in ("maxmem", "minmem", "vcpus", "spindle_use"):
            if key in params and (
                isinstance(params[key], bool) or not isinstance(params[key], int)
                or params[key] < 0
            ):
                raise OpPrereqError(
                    "Backend parameter '%s' must be a non-negative integer" % key,
                    ECODE_INVAL,
                )
        filled = dict(self.config.cluster.beparams.get("default", {}), **params)
        if filled.get("minmem", 0) > filled.get("maxmem", 0):
            raise OpPrereqError(
                "Minimum memory (%s) is larger than maximum memory (%s)"
                % (filled["minmem"], filled["maxmem"]),
                ECODE_INVAL,
            )
        return params

    def disks(self, template):
        # Adopted devices get their sizes from the node, found by check().
        return disktemplates.parse_disks(
            template, self.op["disks"], getattr(self, "adopted_sizes", None)
        )

    def nics(self):
        nics = []
        for index, spec in enumerate(self.op["nics"]):
            if not isinstance(spec, dict):
                raise OpPrereqError("NIC %d is not an object" % index, ECODE_INVAL)
            params = {}
            if spec.get("mode"):
                if spec["mode"] not in ("bridged", "routed", "openvswitch"):
                    raise OpPrereqError("Invalid mode of NIC %d: %r" % (index, spec["mode"]),
                                        ECODE_INVAL)
                params["mode"] = spec["mode"]
            link = spec.get("link") or spec.get("bridge")
            if link:
                params["link"] = link
            if spec.get("vlan"):
                params["vlan"] = spec["vlan"]
            network = None
            if _nic_network_name(spec) is not None:
                if spec.get("mode") or link:
                    raise OpPrereqError("If network is given, no mode or link is allowed"
                                        " to be passed", ECODE_INVAL)
                network = self.config.find_network(spec["network"]).uuid
            mac = spec.get("mac") or "auto"
            ip = _nic_ip(spec.get("ip"), network, index, self.op.get("name_check"),
                         self.resolved_ip)
            nics.append(Nic(mac=mac, ip=ip, name=spec.get("name"), network=network,
                            nicparams=params))
        return nics

    def build(self, pnode):
        """The new instance object (not yet in the configuration)."""
        template = self.template()
        instance = Instance(
            name=self.op["instance_name"],
            primary_node=pnode.uuid,
            os=self.op.get("os_type") or "",
            hypervisor=self.hypervisor(),
            admin_state="up" if self.op.get("start", True) else "down",
            disk_template=template,
            disks=self.disks(template),
            nics=self.nics(),
            beparams=self.beparams(),
            hvparams=dict(self.op.get("hvparams") or {}),
            osparams=dict(self.op.get("osparams") or {}),
            tags=set(self.op.get("tags") or []),
        )
        return instance

    # checks

    def check_basics(self):
        op = self.op
        if op["mode"] == "remote-import":
            raise OpPrereqError(REMOTE_IMPORT_UNSUPPORTED, ECODE_INVAL)
        if op["mode"] != self.mode:
            # Imports read their export first (L{imports.InstanceImport}),
            # which a multi-allocation does not.
            raise OpPrereqError(
                "Instance creation mode '%s' is not possible here; an import is"
                " a creation job of its own" % op["mode"], ECODE_INVAL,
            )
        name = op["instance_name"]
        if self.config.instance_by_name(name) is not None:
            raise OpPrereqError("Instance '%s' is already in the cluster" % name,
                                ECODE_EXISTS)
        if not op.get("os_type") and not op.get("no_install"):
            raise OpPrereqError("No guest OS specified", ECODE_INVAL)
        if op.get("pnode") and op.get("iallocator"):
            raise OpPrereqError("Give either a primary node or an allocator, not both",
                                ECODE_INVAL)
        if op.get("snode"):
            raise OpPrereqError(
                "Disk template '%s' has no secondary node" % self.template(), ECODE_INVAL
            )
        allocator.check_allocator_name(op.get("iallocator"))
        # Parameters are checked by building the object once.
        self.template()
        check_kvm_hvparams(self.config.cluster, self.hypervisor(),
                           self.op.get("hvparams") or {})
        self.beparams()
        self.disks(self.template())
        if disktemplates.driver(self.template()).adopts and (
            op.get("iallocator") or not op.get("pnode")
        ):
            raise OpPrereqError(
                "Disk adoption not allowed with an iallocator script; name the primary"
                " node (pnode) holding the devices", ECODE_INVAL,
            )
        self.nics()

    @defer.inlineCallbacks
    def choose_node(self, probe):
        """The primary node: the one named, or the allocator's choice."""
        need = need_of(self.config.cluster, probe)
        if self.op.get("pnode"):
            node = self.config.find_node(self.op["pnode"])
            if not node.vm_capable or node.offline or node.drained:
                raise OpPrereqError(
                    "Node '%s' cannot host instances (offline, drained or not"
                    " VM-capable)" % node.name, ECODE_STATE,
                )
            if self.op.get("start", True):
                yield allocator.check_fits(self.env, node, need,
                                           "instance %s" % probe.name)
            elif need.disk:
                yield allocator.check_fits(self.env, node, allocator.Need(0, need.disk),
                                           "instance %s" % probe.name)
            return node
        name = iallocator.effective_name(self.config, self.op.get("iallocator"))
        if iallocator.is_external(name):
            nodes = yield iallocator.allocate(self.env, name, probe,
                                              self.op.get("group_name"))
            node = nodes[0]
            if not node.vm_capable or node.offline or node.drained:
                raise OpPrereqError(
                    "iallocator '%s' chose node %s, which cannot host instances"
                    % (name, node.name), ECODE_STATE,
                )
            return node
        nodes = yield allocator.allocate(self.env, need, self.op.get("group_name"))
        return nodes[0]

    def check_os(self, node):
        name = self.op.get("os_type")
        if not name or self.op.get("no_install"):
            return defer.succeed(None)
        return check_os_definition(self.env.nodes.run, node, name,
                                   self.op.get("force_variant"))

    @defer.inlineCallbacks
    def check(self):
        self.check_basics()
        if self.env.nodes is None:
            raise OpPrereqError("This master cannot reach node daemons", ECODE_STATE)
        probe = self.build(self.config.node(self.config.cluster.master_node))
        node = yield self.choose_node(probe)
        # The NICs' networks must be connected to the node's group and have
        # the addresses asked for; nothing is reserved yet.
        network_pools.assign_addresses(self.config, self.build(node), node,
                                       self.op.get("conflicts_check", True))
        self.adopted_sizes = yield disktemplates.driver(probe.disk_template).check_create(
            self, node, probe.disks
        )
        yield self.check_os(node)
        self.node = node
        return node

    def dry_run_result(self):
        return [self.node.name]

    # execution

    @defer.inlineCallbacks
    def execute(self):
        node = self.node  # chosen by check(), which the processor ran first
        instance = self.build(node)
        # Reserved at once (no yield in between), so concurrent creations
        # never get the same address; given back if the creation fails.
        for message in network_pools.assign_addresses(
            self.config, instance, node, self.op.get("conflicts_check", True),
            reserve=True,
        ):
            self.env.feedback(message)
        for nic in instance.nics:
            if nic.mac in ("auto", "generate"):
                network = self.config.network(nic.network) if nic.network else None
                prefix = (network.mac_prefix if network is not None and network.mac_prefix
                          else self.config.cluster.mac_prefix)
                nic.mac = new_mac(self.config, prefix)
        if instance.hypervisor == "kvm":
            instance.network_port = self.config.allocate_port()
        driver = disktemplates.driver(instance.disk_template)
        created = []
        try:
            for index, disk in enumerate(instance.disks):
                driver.assign(self.config.cluster, instance, index, disk, node,
                              self.op.get("file_driver"))
                yield driver.create(self.env.nodes, node, instance, disk)
                created.append(disk)
            self.config.add_instance(instance)
            yield self.save()
        except Exception:
            if self.config.instance(instance.uuid) is None:
                network_pools.release_addresses(self.config, instance)
            yield self.remove_disks(node, created)
            raise
        try:
            yield self.install(instance, node)
            if self.op.get("start", True):
                yield self.env.nodes.run(
                    node, "instance_start", None,
                    instance=instance_wire(self.config, instance),
                )
        except Exception:
            # Ganeti removes an instance whose installation failed.
            self.config.remove_instance(instance.uuid)
            yield self.save()
            yield self.remove_disks(node, created)
            raise
        return [node.name]

    @defer.inlineCallbacks
    def install(self, instance, node):
        """Fill the new instance's disks: the OS create script, unless C{no_install}.

        The instance is in the configuration; a failure removes it.
        """
        if not self.op.get("no_install") and instance.os:
            self.env.feedback("Running the OS create script of %s on %s"
                              % (instance.os, node.name))
            result = yield self.env.nodes.run(
                node, "os_create", OS_SCRIPT_TIMEOUT,
                instance=instance_wire(self.config, instance), reinstall=False,
            )
            self.env.feedback("OS installation log: %s" % result.get("log_file"))

    def remove_disks(self, node, disks):
        """Remove disks made so far; failures are only reported."""
        return disktemplates.remove_disks(self.env.nodes, node, disks, self.env.feedback)


# -- remove --------------------------------------------------------------------------


class InstanceRemove(InstanceUnit):
    """Stop the instance and remove it with all its disks."""

    exclusive_nodes = True

    def check(self):
        return self.instance()

    @defer.inlineCallbacks
    def execute(self):
        instance = self.check()
        node = self.primary(instance)
        wire = instance_wire(self.config, instance)
        try:
            seconds = self.op.get("shutdown_timeout", 120)
            yield self.rpc(node, "instance_shutdown", shutdown_rpc_timeout(seconds),
                           instance=wire, timeout=seconds)
            for disk in instance.disks:
                if disk.logical_id:
                    yield disktemplates.driver(disk.dev_type).remove(self.env.nodes, node,
                                                                     disk)
        except (OpExecError, OpPrereqError):
            if not self.op.get("ignore_failures"):
                raise
        self.config.remove_instance(instance.uuid)
        yield self.save()


# -- power -----------------------------------------------------------------------------


class InstanceStartup(InstanceUnit):
    """Start the instance on its primary node."""

    @defer.inlineCallbacks
    def check(self):
        instance = self.instance()
        self.check_not_offline(instance)
        node = self.primary(instance)
        if node.offline:
            raise OpPrereqError("Primary node %s is offline" % node.name, ECODE_STATE)
        running = yield self.is_running(instance)
        if not running:
            yield allocator.check_fits(self.env, node,
                                       allocator.Need(need_of(self.config.cluster,
                                                              instance).memory, 0),
                                       "starting instance %s" % instance.name)
        self.target, self.running = instance, running

    @defer.inlineCallbacks
    def execute(self):
        instance, running = self.target, self.running
        remember = not self.op.get("no_remember") and instance.admin_state != "up"
        if remember or not instance.disks_active:
            if remember:
                instance.admin_state = "up"
                instance.admin_state_source = "admin"
            # A running instance has its disks active, as in Ganeti.
            instance.disks_active = True
            self.config.touch(instance)
            yield self.save()
        if not running:
            wire = instance_wire(self.config, instance)
            if self.op.get("beparams"):
                wire["beparams"].update(self.op["beparams"])
            if self.op.get("hvparams"):
                wire["hvparams"].update(self.op["hvparams"])
            yield self.rpc(self.primary(instance), "instance_start", None, instance=wire,
                           startup_paused=self.op.get("startup_paused", False))


class InstanceShutdown(InstanceUnit):
    """Stop the instance."""

    def check(self):
        instance = self.instance()
        self.check_not_offline(instance)
        return instance

    @defer.inlineCallbacks
    def execute(self):
        instance = self.check()
        remember = not self.op.get("no_remember") and instance.admin_state != "down"
        if remember or instance.disks_active:
            if remember:
                instance.admin_state = "down"
                instance.admin_state_source = self.op.get("admin_state_source") or "admin"
            instance.disks_active = False
            self.config.touch(instance)
            yield self.save()
        node = self.primary(instance)
        try:
            seconds = self.op.get("timeout", 120)
            yield self.rpc(node, "instance_shutdown", shutdown_rpc_timeout(seconds),
                           instance=instance_wire(self.config, instance), timeout=seconds)
        except OpPrereqError:
            if not self.op.get("ignore_offline_nodes"):
                raise


class InstanceReboot(InstanceUnit):
    """Reboot: soft and hard in the hypervisor, full as stop and start.

    An instance that is not running is started, as Ganeti does.
    """

    @defer.inlineCallbacks
    def check(self):
        instance = self.instance()
        self.check_not_offline(instance)
        self.target, self.running = instance, (yield self.is_running(instance))

    @defer.inlineCallbacks
    def execute(self):
        instance, running = self.target, self.running
        node = self.primary(instance)
        wire = instance_wire(self.config, instance)
        reboot_type = self.op["reboot_type"]
        seconds = self.op.get("shutdown_timeout", 120)
        if running and reboot_type in ("soft", "hard"):
            yield self.rpc(node, "instance_reboot", shutdown_rpc_timeout(seconds),
                           instance=wire, reboot_type=reboot_type, shutdown_timeout=seconds)
        else:
            if running:
                yield self.rpc(node, "instance_shutdown", shutdown_rpc_timeout(seconds),
                               instance=wire, timeout=seconds)
            yield self.rpc(node, "instance_start", None, instance=wire)
        if instance.admin_state != "up":
            instance.admin_state = "up"
            instance.admin_state_source = "admin"
            self.config.touch(instance)
            yield self.save()


# -- rename and info ---------------------------------------------------------------


class InstanceRename(InstanceUnit):
    """Rename a stopped instance; the OS rename script runs on the primary node."""

    def prepare(self):
        """C{name_check} and C{ip_check} of the new name, before the locks:
        the resolved name is the one locked and taken."""
        return check_new_name(self, "new_name")

    def lock_requests(self):
        return InstanceUnit.lock_requests(self) + [
            (locks.LEVEL_INSTANCE, self.op["new_name"], True)
        ]

    @defer.inlineCallbacks
    def check(self):
        instance = self.instance()
        new_name = self.op["new_name"]
        if self.config.instance_by_name(new_name) not in (None, instance):
            raise OpPrereqError("Instance '%s' is already in the cluster" % new_name,
                                ECODE_EXISTS)
        running = yield self.is_running(instance)
        if running:
            raise OpPrereqError(
                "Instance '%s' is running; it must be stopped to be renamed"
                % instance.name, ECODE_STATE,
            )
        self.target = instance

    @defer.inlineCallbacks
    def execute(self):
        instance = self.target
        old_name = instance.name
        self.config.rename_instance(instance.uuid, self.op["new_name"])
        yield self.save()
        if instance.os:
            try:
                yield self.rpc(self.primary(instance), "os_rename", OS_SCRIPT_TIMEOUT,
                               instance=instance_wire(self.config, instance),
                               old_name=old_name)
            except OpExecError as e:
                # As in Ganeti, the rename stands; the OS script's failure is reported.
                self.env.feedback("The OS rename script failed: %s" % e.args[0])
        return self.op["new_name"]


class InstanceQueryData(Unit):
    """Detailed information on instances (C{…/info}): config and, unless static, live state."""

    def lock_requests(self):
        return []

    def check(self):
        names = self.op.get("instances") or [i.name for i in self.config.instances()]
        return [self.config.find_instance(name) for name in names]

    @defer.inlineCallbacks
    def execute(self):
        result = {}
        for instance in self.check():
            run_state = None
            if not self.op.get("static"):
                try:
                    info = yield self.env.nodes.run(
                        self.config.node(instance.primary_node), "instance_info", None,
                        name=instance.name, hypervisor=instance.hypervisor,
                    )
                    run_state = "up" if info is not None else "down"
                except (OpExecError, OpPrereqError):
                    run_state = None
            result[instance.name] = self.describe(instance, run_state)
        return result

    def describe(self, instance, run_state):
        config, cluster = self.config, self.config.cluster
        node = config.node(instance.primary_node)
        return {
            "name": instance.name,
            "config_state": instance.admin_state,
            "run_state": run_state,
            "pnode": node.name if node else None,
            "pnode_group_uuid": node.group if node else None,
            "snodes": [config.node(n).name for n in instance.secondary_nodes],
            "os": instance.os,
            "network_port": instance.network_port,
            "nics": [
                [nic.ip, nic.mac, nic_params(cluster, nic).get("mode"),
                 nic_params(cluster, nic).get("link"), nic.network, nic.network]
                for nic in instance.nics
            ],
            "disk_template": instance.disk_template,
            "disks": [
                {"dev_type": d.dev_type, "logical_id": d.logical_id, "iv_name": d.iv_name,
                 "size": d.size, "mode": d.mode, "name": d.name, "uuid": d.uuid,
                 "spindles": d.spindles, "pstatus": None, "sstatus": None, "children": []}
                for d in instance.disks
            ],
            "hypervisor": instance.hypervisor,
            "hv_instance": dict(instance.hvparams),
            "hv_actual": instance_hvparams(cluster, instance),
            "be_instance": dict(instance.beparams),
            "be_actual": instance_beparams(cluster, instance),
            "os_instance": dict(instance.osparams),
            "os_actual": instance_osparams(cluster, instance),
            "ctime": instance.ctime,
            "mtime": instance.mtime,
            "uuid": instance.uuid,
            "serial_no": instance.serial_no,
            "tags": sorted(instance.tags),
        }
