# -*- test-case-name: tests.test_web_networks -*-
"""The fields of networks, named as Ganeti names them (its C{NET_FIELDS} and more).

The pool fields (C{free_count}, C{reserved_count}, C{map},
C{external_reservations}) count both bitmaps of the address pool: an
address is reserved when an instance holds it or it is kept out of the
pool.
"""

from ganeti_rapi.engine.network import AddressPool, instances_using
from ganeti_rapi.engine.query import (
    QFT_NUMBER,
    QFT_OTHER,
    QFT_TEXT,
    Field,
    Resource,
    attribute,
    common_fields,
)


def _pool(getter):
    return lambda ctx, network: getter(AddressPool(network))


def _connections(ctx, network):
    """C{[group name, mode, link, vlan]} per connected group, by group name."""
    result = []
    for group in sorted(ctx.config.groups(), key=lambda g: g.name):
        params = group.networks.get(network.uuid)
        if params is not None:
            result.append([group.name, params.get("mode"), params.get("link"),
                           params.get("vlan", "")])
    return result


def _instances(ctx, network):
    return [i.name for i in instances_using(ctx.config, network.uuid)]


NETWORK_FIELDS = common_fields("Network") + [
    Field("name", "Network", QFT_TEXT, "Name", attribute("name")),
    Field("network", "Subnet", QFT_TEXT, "IPv4 subnet", attribute("network")),
    Field("gateway", "Gateway", QFT_OTHER, "IPv4 gateway", attribute("gateway")),
    Field("network6", "IPv6Subnet", QFT_OTHER, "IPv6 subnet", attribute("network6")),
    Field("gateway6", "IPv6Gateway", QFT_OTHER, "IPv6 gateway", attribute("gateway6")),
    Field("mac_prefix", "MacPrefix", QFT_OTHER, "MAC address prefix",
          attribute("mac_prefix")),
    Field("free_count", "FreeCount", QFT_NUMBER, "Number of available addresses",
          _pool(lambda pool: pool.free_count())),
    Field("reserved_count", "ReservedCount", QFT_NUMBER,
          "Number of reserved addresses", _pool(lambda pool: pool.reserved_count())),
    Field("map", "Map", QFT_TEXT, "Actual mapping (X reserved, . free)",
          _pool(lambda pool: pool.map())),
    Field("external_reservations", "ExternalReservations", QFT_TEXT,
          "External reservations",
          _pool(lambda pool: ", ".join(pool.external_reservations()))),
    Field("group_list", "GroupList", QFT_OTHER,
          "List of nodegroups (group name, NIC mode, NIC link, NIC VLAN)",
          _connections),
    Field("group_cnt", "NodeGroups", QFT_NUMBER, "Number of nodegroups",
          lambda ctx, n: len(_connections(ctx, n))),
    Field("inst_list", "InstanceList", QFT_OTHER, "List of instances", _instances),
    Field("inst_cnt", "Instances", QFT_NUMBER, "Number of instances",
          lambda ctx, n: len(_instances(ctx, n))),
]

NETWORKS = Resource(
    "network",
    NETWORK_FIELDS,
    lambda ctx: sorted(((n.name, n) for n in ctx.config.networks()), key=lambda p: p[0]),
    lambda ctx, name: ctx.config.network_by_name(name),
)
