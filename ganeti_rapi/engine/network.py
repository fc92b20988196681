# -*- test-case-name: tests.test_web_networks -*-
"""IPv4 address pools of networks, kept as Ganeti keeps them.

A network's pool covers every address of its IPv4 range with two bitmaps,
stored on the L{Network<ganeti_rapi.engine.objects.Network>} as strings of
C{0} and C{1}, one character per address:

 - C{reservations}: addresses that instances' NICs hold;
 - C{ext_reservations}: addresses kept out of the pool: the network and
   broadcast addresses, the gateway, the nodes' own addresses and whatever
   the administrator reserved.

An address is free when neither bitmap has it.  Pools are only ever changed
on the reactor thread and synchronously (load, change, L{AddressPool.commit}),
so two units never see a half-made change.
"""

import ipaddress
import re

from ganeti_rapi.engine.errors import (
    ECODE_INVAL,
    ECODE_NOTUNIQUE,
    ECODE_STATE,
    OpPrereqError,
)

#: The biggest network a pool may cover (a /16, 65536 addresses) and the
#: smallest (a /30), as in Ganeti.
IPV4_NETWORK_MAX_PREFIX = 16
IPV4_NETWORK_MIN_PREFIX = 30

#: The NIC parameters a group's connection to a network sets.
NETPARAM_KEYS = ("mode", "link", "vlan")

_MAC_PREFIX = re.compile(r"^[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$")


class AddressPoolError(Exception):
    """An address is outside the pool, or not in the state asked for."""


def parse_network(text):
    """The L{ipaddress.IPv4Network} of C{text}, if a pool can cover it.

    Host bits are allowed and dropped (C{192.0.2.7/24} is C{192.0.2.0/24}).

    @raise OpPrereqError: C{wrong_input} for something that is not an IPv4
        network, one larger than a /16 or smaller than a /30.
    """
    try:
        net = ipaddress.IPv4Network(text, strict=False)
    except (ValueError, TypeError):
        raise OpPrereqError("Invalid IPv4 network '%s'" % (text,), ECODE_INVAL) from None
    if net.prefixlen < IPV4_NETWORK_MAX_PREFIX:
        raise OpPrereqError(
            "A big network with %d addresses is not supported; please specify at"
            " most a /%d network" % (net.num_addresses, IPV4_NETWORK_MAX_PREFIX),
            ECODE_INVAL,
        )
    if net.prefixlen > IPV4_NETWORK_MIN_PREFIX:
        raise OpPrereqError(
            "A network with only %d address(es) is too small; please specify at"
            " least a /%d network" % (net.num_addresses, IPV4_NETWORK_MIN_PREFIX),
            ECODE_INVAL,
        )
    return net


def normalize_mac_prefix(prefix):
    """A three-octet MAC prefix in lower case (C{aa:BB:0c} -> C{aa:bb:0c}).

    @raise OpPrereqError: C{wrong_input} if it is not three hex octets.
    """
    value = prefix.strip().lower() if isinstance(prefix, str) else None
    if value is None or not _MAC_PREFIX.match(value):
        raise OpPrereqError("Invalid MAC address prefix '%s'" % (prefix,), ECODE_INVAL)
    return value


def _bitmap(text, size):
    if not text or len(text) != size:
        return bytearray(size)
    return bytearray(1 if c == "1" else 0 for c in text)


def _text(bits):
    return "".join("1" if b else "0" for b in bits)


class AddressPool:
    """The pool of one network, read from it and written back by L{commit}.

    @ivar network: the L{Network<ganeti_rapi.engine.objects.Network>}.
    @ivar net: its range, an L{ipaddress.IPv4Network}.
    """

    def __init__(self, network):
        self.network = network
        self.net = ipaddress.IPv4Network(network.network, strict=False)
        size = self.net.num_addresses
        self._reserved = _bitmap(network.reservations, size)
        self._external = _bitmap(network.ext_reservations, size)

    @classmethod
    def initialize(cls, network):
        """A fresh pool: network, broadcast and gateway addresses reserved.

        @raise AddressPoolError: the gateway is outside the network or is
            its network or broadcast address.
        """
        network.reservations = None
        network.ext_reservations = None
        pool = cls(network)
        pool.reserve(pool.net.network_address, external=True)
        pool.reserve(pool.net.broadcast_address, external=True)
        if network.gateway:
            pool.reserve(network.gateway, external=True)
        return pool

    @property
    def size(self):
        return len(self._reserved)

    def _index(self, address):
        try:
            ip = ipaddress.IPv4Address(str(address))
        except ValueError:
            raise AddressPoolError("'%s' is not an IPv4 address" % (address,)) from None
        if ip not in self.net:
            raise AddressPoolError("%s does not contain %s" % (self.net, ip))
        return int(ip) - int(self.net.network_address)

    def contains(self, address):
        """Whether C{address} (a string) lies in the network."""
        try:
            self._index(address)
        except AddressPoolError:
            return False
        return True

    def is_reserved(self, address, external=False):
        """Whether C{address} is in the instances' (or the external) bitmap."""
        bits = self._external if external else self._reserved
        return bool(bits[self._index(address)])

    def is_free(self, address):
        index = self._index(address)
        return not (self._reserved[index] or self._external[index])

    def is_boundary(self, address):
        """Whether C{address} is the network or the broadcast address."""
        index = self._index(address)
        return index in (0, self.size - 1)

    def reserve(self, address, external=False):
        """Mark C{address} in one bitmap.

        @raise AddressPoolError: outside the network or already marked there.
        """
        index = self._index(address)
        bits = self._external if external else self._reserved
        if bits[index]:
            if external:
                raise AddressPoolError("IP %s is already externally reserved" % address)
            raise AddressPoolError("IP %s is already used by an instance" % address)
        bits[index] = 1

    def release(self, address, external=False):
        """Clear C{address} in one bitmap.

        @raise AddressPoolError: outside the network or not marked there.
        """
        index = self._index(address)
        bits = self._external if external else self._reserved
        if not bits[index]:
            if external:
                raise AddressPoolError("IP %s is not externally reserved" % address)
            raise AddressPoolError("IP %s is not used by an instance" % address)
        bits[index] = 0

    def take_free(self):
        """Reserve the lowest free address for an instance; returns it.

        @raise AddressPoolError: the pool is full.
        """
        for index in range(self.size):
            if not (self._reserved[index] or self._external[index]):
                self._reserved[index] = 1
                return str(self.net.network_address + index)
        raise AddressPoolError("%s is full" % (self.net,))

    def reserved_count(self):
        return sum(1 for a, b in zip(self._reserved, self._external) if a or b)

    def free_count(self):
        return self.size - self.reserved_count()

    def map(self):
        """One character per address: C{X} reserved, C{.} free."""
        return "".join(
            "X" if a or b else "." for a, b in zip(self._reserved, self._external)
        )

    def external_reservations(self):
        """The externally reserved addresses, in order."""
        base = self.net.network_address
        return [str(base + i) for i, bit in enumerate(self._external) if bit]

    def commit(self):
        """Write the bitmaps back to the network object (the caller touches it)."""
        self.network.reservations = _text(self._reserved)
        self.network.ext_reservations = _text(self._external)


def group_instances(config, group_uuid):
    """Instances with a node in group C{group_uuid}, sorted by name."""
    members = {n.uuid for n in config.nodes_in_group(group_uuid)}
    return sorted(
        (i for i in config.instances() if members.intersection(i.all_nodes)),
        key=lambda i: i.name,
    )


def instances_using(config, network_uuid):
    """Instances with a NIC connected to network C{network_uuid}, sorted by name."""
    return sorted(
        (i for i in config.instances() if any(n.network == network_uuid for n in i.nics)),
        key=lambda i: i.name,
    )


def assign_addresses(config, instance, node, conflicts_check=True, reserve=False):
    """Connect the NICs of a new instance to their networks, on C{node}.

    A NIC naming a network takes its mode, link and VLAN from the
    connection of that network to C{node}'s group; an C{ip} of C{pool}
    becomes the lowest free address of the network, any other address
    must be free there (an externally reserved one is accepted when
    C{conflicts_check} is false).  A NIC without a network may not have an
    address of a network connected to the group unless C{conflicts_check}
    is false.  The NICs are changed in place.

    @param reserve: whether to reserve the addresses in the networks (and
        touch them); otherwise the pools are only consulted.
    @return: messages for the job's log.
    @raise OpPrereqError: C{wrong_input} for a network the group is not
        connected to, C{wrong_state} for an exhausted pool or a conflicting
        address, C{resource_not_unique} for an address that is taken or
        outside the network.
    """
    group = config.group(node.group)
    connections = group.networks if group is not None else {}
    pools = {}
    messages = []
    for index, nic in enumerate(instance.nics):
        if nic.network:
            network = config.network(nic.network)
            params = connections.get(nic.network)
            if network is None or params is None:
                raise OpPrereqError(
                    "No netparams found for network %s. Probably not connected to"
                    " node's %s nodegroup"
                    % (network.name if network else nic.network, node.name),
                    ECODE_INVAL,
                )
            nic.nicparams = {k: params[k] for k in NETPARAM_KEYS if k in params}
            pool = pools.get(network.uuid)
            if pool is None:
                pool = pools[network.uuid] = AddressPool(network)
            if nic.ip == "pool":
                try:
                    nic.ip = pool.take_free()
                except AddressPoolError:
                    raise OpPrereqError(
                        "Unable to get a free IP for NIC %d from the address pool"
                        % index, ECODE_STATE,
                    ) from None
                messages.append("Chose IP %s from network %s" % (nic.ip, network.name))
            elif nic.ip is not None:
                try:
                    if conflicts_check and pool.is_reserved(nic.ip, external=True):
                        raise AddressPoolError("IP is externally reserved")
                    pool.reserve(nic.ip)
                except AddressPoolError:
                    raise OpPrereqError(
                        "IP address %s already in use or does not belong to network %s"
                        % (nic.ip, network.name), ECODE_NOTUNIQUE,
                    ) from None
        elif nic.ip is not None and conflicts_check:
            for uuid in sorted(connections):
                network = config.network(uuid)
                if network is not None and AddressPool(network).contains(nic.ip):
                    raise OpPrereqError(
                        "The requested IP address (%s) belongs to network %s, but the"
                        " target NIC does not" % (nic.ip, network.name), ECODE_STATE,
                    )
    if reserve:
        for pool in pools.values():
            pool.commit()
            config.touch(pool.network)
    return messages


def release_addresses(config, instance):
    """Give the addresses of C{instance}'s NICs back to their networks.

    Addresses that are not (or no longer) reserved are skipped; the
    networks changed are touched.
    """
    release_nic_addresses(config, instance.nics)


def release_nic_addresses(config, nics):
    """Give the addresses of C{nics} back to their networks (see
    L{release_addresses})."""
    pools = {}
    changed = set()
    for nic in nics:
        if not (nic.network and nic.ip):
            continue
        network = config.network(nic.network)
        if network is None:
            continue
        pool = pools.get(network.uuid)
        if pool is None:
            pool = pools[network.uuid] = AddressPool(network)
        try:
            pool.release(nic.ip)
        except AddressPoolError:
            continue
        changed.add(network.uuid)
    for uuid in changed:
        pools[uuid].commit()
        config.touch(pools[uuid].network)


def netinfo(network):
    """What OS scripts learn of a NIC's network (C{NIC_<n>_NETWORK_*})."""
    return {
        "name": network.name,
        "uuid": network.uuid,
        "network": network.network,
        "gateway": network.gateway,
        "network6": network.network6,
        "gateway6": network.gateway6,
        "mac_prefix": network.mac_prefix,
        "tags": sorted(network.tags),
    }
