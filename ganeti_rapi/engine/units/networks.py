# -*- test-case-name: tests.test_web_networks -*-
"""Network opcodes: add, remove, connect to and disconnect from a group,
change, rename.

Networks live in the configuration only: connecting one to a node group
records the NIC mode, link and VLAN its NICs get there, and its address
pool (L{ganeti_rapi.engine.network}) hands out the instances' addresses.
No node is asked to do anything.
"""

from ganeti_rapi.engine import locks
from ganeti_rapi.engine import network as pools
from ganeti_rapi.engine import tags as tagrules
from ganeti_rapi.engine.errors import (
    ECODE_EXISTS,
    ECODE_INVAL,
    ECODE_STATE,
    OpPrereqError,
)
from ganeti_rapi.engine.objects import Network
from ganeti_rapi.engine.units.base import Unit, require_changes


def _network_lock(name):
    return (locks.LEVEL_NETWORK, name, True)


def _group_lock(name):
    return (locks.LEVEL_GROUP, name, True)


def _none(value):
    """C{None} for the value Ganeti reads as "unset" (C{none}, any case)."""
    if isinstance(value, str) and value.lower() == "none":
        return None
    return value


def _conflicts(instances, check):
    """C{"inst: NIC/0 (ip), ..."} for the NICs for which C{check(nic)} holds."""
    found = []
    for instance in instances:
        nics = ["NIC/%d (%s)" % (i, nic.ip) for i, nic in enumerate(instance.nics)
                if check(nic)]
        if nics:
            found.append("%s: %s" % (instance.name, ", ".join(nics)))
    return found


class NetworkAdd(Unit):
    """Create a network and its address pool."""

    def lock_requests(self):
        return [_network_lock(self.op["network_name"])]

    def build(self):
        """The new network (not yet in the configuration) and log messages."""
        op = self.op
        name = op["network_name"]
        if self.config.network_by_name(name) is not None:
            raise OpPrereqError(
                "Desired network name '%s' already exists as a network" % name,
                ECODE_EXISTS,
            )
        net = pools.parse_network(op["network"])
        tags = tagrules.validate_tags(op.get("tags") or [])
        mac_prefix = _none(op.get("mac_prefix"))
        if mac_prefix is not None:
            mac_prefix = pools.normalize_mac_prefix(mac_prefix)
        network = Network(
            name=name,
            network=str(net),
            gateway=op.get("gateway"),
            network6=op.get("network6"),
            gateway6=op.get("gateway6"),
            mac_prefix=mac_prefix,
            tags=tags,
        )
        try:
            pool = pools.AddressPool.initialize(network)
        except pools.AddressPoolError as e:
            raise OpPrereqError("Invalid gateway %s: %s" % (op.get("gateway"), e),
                                ECODE_INVAL) from None
        messages = []
        for address in op.get("add_reserved_ips") or []:
            try:
                pool.reserve(address, external=True)
            except pools.AddressPoolError as e:
                raise OpPrereqError("Cannot reserve IP address '%s': %s" % (address, e),
                                    ECODE_INVAL) from None
        if op.get("conflicts_check", True):
            # The nodes' own addresses must never go to an instance.
            for node in sorted(self.config.nodes(), key=lambda n: n.name):
                for address in sorted({node.primary_ip, node.secondary_ip}):
                    if pool.contains(address) and pool.is_free(address):
                        pool.reserve(address, external=True)
                        messages.append("Reserved IP address of node '%s' (%s)"
                                        % (node.name, address))
        pool.commit()
        return network, messages

    def check(self):
        self.build()

    def execute(self):
        network, messages = self.build()
        for message in messages:
            self.env.feedback(message)
        self.config.add_network(network)
        return self.save()


class NetworkRemove(Unit):
    """Remove a network that no group is connected to and no NIC uses."""

    def lock_requests(self):
        return [_network_lock(self.op["network_name"])]

    def check(self):
        network = self.config.find_network(self.op["network_name"])
        groups = sorted(g.name for g in self.config.groups() if network.uuid in g.networks)
        if groups:
            raise OpPrereqError(
                "Network '%s' is still connected to node group(s) %s"
                % (network.name, ", ".join(groups)), ECODE_STATE,
            )
        users = pools.instances_using(self.config, network.uuid)
        if users:
            raise OpPrereqError(
                "Network '%s' is still used by instance(s) %s"
                % (network.name, ", ".join(i.name for i in users)), ECODE_STATE,
            )
        return network

    def execute(self):
        network = self.check()
        self.config.remove_network(network.uuid)
        return self.save()


class _GroupConnectionUnit(Unit):
    def lock_requests(self):
        return [_group_lock(self.op["group_name"]),
                _network_lock(self.op["network_name"])]

    def targets(self):
        return (self.config.find_network(self.op["network_name"]),
                self.config.find_group(self.op["group_name"]))


class NetworkConnect(_GroupConnectionUnit):
    """Connect a network to a node group with the NIC parameters it gets there."""

    def netparams(self):
        mode = self.op["network_mode"]
        link = self.op["network_link"]
        if mode == "bridged" and not link:
            raise OpPrereqError("Missing bridged NIC link", ECODE_INVAL)
        return {"mode": mode, "link": link, "vlan": self.op.get("network_vlan") or ""}

    def check(self):
        network, group = self.targets()
        params = self.netparams()
        if network.uuid in group.networks:
            return network, group, None
        if self.op.get("conflicts_check", True):
            pool = pools.AddressPool(network)
            conflicts = _conflicts(
                pools.group_instances(self.config, group.uuid),
                lambda nic: (nic.ip and nic.network != network.uuid
                             and pool.contains(nic.ip)),
            )
            if conflicts:
                raise OpPrereqError(
                    "Conflicting IP addresses found; remove/modify the corresponding"
                    " network interfaces (IP addresses of network '%s' in use in node"
                    " group '%s': %s)" % (network.name, group.name, "; ".join(conflicts)),
                    ECODE_STATE,
                )
        return network, group, params

    def execute(self):
        network, group, params = self.check()
        if params is None:
            self.env.feedback("Network '%s' is already mapped to group '%s'"
                              % (network.name, group.name))
            return None
        group.networks[network.uuid] = params
        self.config.touch(group)
        return self.save()


class NetworkDisconnect(_GroupConnectionUnit):
    """Disconnect a network from a node group none of whose instances use it."""

    def check(self):
        network, group = self.targets()
        if network.uuid not in group.networks:
            return network, group, False
        conflicts = _conflicts(
            pools.group_instances(self.config, group.uuid),
            lambda nic: nic.network == network.uuid,
        )
        if conflicts:
            raise OpPrereqError(
                "Conflicting IP addresses found; remove/modify the corresponding"
                " network interfaces (NICs of node group '%s' connected to network"
                " '%s': %s)" % (group.name, network.name, "; ".join(conflicts)),
                ECODE_STATE,
            )
        return network, group, True

    def execute(self):
        network, group, connected = self.check()
        if not connected:
            self.env.feedback("Network '%s' is not mapped to group '%s'"
                              % (network.name, group.name))
            return None
        del group.networks[network.uuid]
        self.config.touch(group)
        return self.save()


_SET_PARAMS = ("gateway", "network6", "gateway6", "mac_prefix", "add_reserved_ips",
               "remove_reserved_ips")


class NetworkSetParams(Unit):
    """Change a network's gateway, IPv6 settings, MAC prefix or reservations."""

    def lock_requests(self):
        return [_network_lock(self.op["network_name"])]

    def check(self):
        op = self.op
        require_changes([k for k in _SET_PARAMS if op.get(k)],
                        "network '%s'" % op["network_name"])
        if op.get("gateway") and (op.get("add_reserved_ips")
                                  or op.get("remove_reserved_ips")):
            raise OpPrereqError("Cannot modify gateway and reserved ips at once",
                                ECODE_INVAL)
        network = self.config.find_network(op["network_name"])
        pool = pools.AddressPool(network)
        gateway = op.get("gateway")
        if gateway:
            if not pool.contains(gateway) or pool.is_boundary(gateway):
                raise OpPrereqError(
                    "Gateway IP address '%s' is not a host address of network %s"
                    % (gateway, network.network), ECODE_INVAL,
                )
            if gateway != network.gateway and pool.is_reserved(gateway):
                raise OpPrereqError("Gateway IP address '%s' is already reserved"
                                    % gateway, ECODE_STATE)
        mac_prefix = _none(op.get("mac_prefix"))
        if mac_prefix is not None:
            pools.normalize_mac_prefix(mac_prefix)
        return network, pool

    def execute(self):
        op = self.op
        network, pool = self.check()
        feedback = self.env.feedback
        gateway = op.get("gateway")
        if gateway:
            if gateway == network.gateway:
                feedback("Gateway is already %s" % gateway)
            else:
                if not pool.is_reserved(gateway, external=True):
                    pool.reserve(gateway, external=True)
                if network.gateway and pool.contains(network.gateway) and (
                    pool.is_reserved(network.gateway, external=True)
                ):
                    pool.release(network.gateway, external=True)
                network.gateway = gateway
        for address in op.get("add_reserved_ips") or []:
            try:
                pool.reserve(address, external=True)
            except pools.AddressPoolError as e:
                feedback("Cannot reserve IP address %s: %s" % (address, e))
        for address in op.get("remove_reserved_ips") or []:
            if address == network.gateway:
                feedback("Cannot unreserve Gateway's IP")
                continue
            try:
                if pool.is_boundary(address):
                    feedback("Cannot unreserve the network or broadcast address %s"
                             % address)
                    continue
                pool.release(address, external=True)
            except pools.AddressPoolError as e:
                feedback("Cannot release IP address %s: %s" % (address, e))
        if op.get("mac_prefix"):
            mac_prefix = _none(op["mac_prefix"])
            network.mac_prefix = (
                pools.normalize_mac_prefix(mac_prefix) if mac_prefix else None
            )
        if op.get("network6"):
            network.network6 = _none(op["network6"])
        if op.get("gateway6"):
            network.gateway6 = _none(op["gateway6"])
        pool.commit()
        self.config.touch(network)
        return self.save()


class NetworkRename(Unit):
    """Rename a network; the result is the new name."""

    def lock_requests(self):
        return [_network_lock(self.op["network_name"]), _network_lock(self.op["new_name"])]

    def check(self):
        network = self.config.find_network(self.op["network_name"])
        other = self.config.network_by_name(self.op["new_name"])
        if other is not None and other is not network:
            raise OpPrereqError(
                "Desired network name '%s' already exists as a network"
                % self.op["new_name"], ECODE_EXISTS,
            )
        return network

    def execute(self):
        network = self.check()
        self.config.rename_network(network.uuid, self.op["new_name"])
        return self.save(self.op["new_name"])
