# -*- test-case-name: tests.test_instance_changes -*-
"""The NIC part of C{OP_INSTANCE_SET_PARAMS}: NICs added, modified and
removed, their MACs, addresses and parameters checked, and the hot-plug
actions (L{hotplug}) the changes would take on a running instance.
"""

import ipaddress
import re

from ganeti_rapi.engine import defaults
from ganeti_rapi.engine.errors import (
    ECODE_INVAL,
    ECODE_NOTUNIQUE,
    ECODE_STATE,
    OpPrereqError,
)
from ganeti_rapi.engine.objects import Nic
from ganeti_rapi.engine.params import nic_params
from ganeti_rapi.engine.units.base import merge_params
from ganeti_rapi.engine.units import device_mods
from ganeti_rapi.engine.units.device_mods import DDM_ADD, DDM_MODIFY, DDM_REMOVE
from ganeti_rapi.engine.units.hotplug import HotPlug, net_hotplug
from ganeti_rapi.engine.units.instances import new_mac

#: NIC parameters a modification may carry (C{bridge} is the old C{link}).
NIC_KEYS = frozenset(["mac", "ip", "mode", "link", "bridge", "vlan", "name", "network"])

#: NIC parameters that a NIC connected to a network takes from it.
_NETWORK_NIC_KEYS = frozenset(["ip", "mode", "link", "bridge", "vlan"])

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")

#: NIC parameters whose change a running NIC must be plugged in anew for.
_NIC_HOT_KEYS = frozenset(["mac", "ip", "mode", "link", "bridge", "vlan"])


class NicChangesMixin:
    """NIC modifications for L{instance_changes.InstanceSetParams}.

    L{check_nics} sets C{nic_hotplug}; C{reserved_macs} must be a set.
    """

    def check_nics(self, instance):
        self.nic_hotplug = []
        mods = device_mods.upgrade_mods("NIC", self.op.get("nics"))
        if not mods:
            return [], None
        cluster = self.config.cluster
        nics = [nic.copy() for nic in instance.nics]
        changes = []
        hot = []
        for op, identifier, params in mods:
            if op == DDM_REMOVE:
                index = device_mods.removal_index("NIC", identifier, params, nics)
                removed = nics.pop(index)
                changes.append(["NIC/%d" % index, "remove"])
                hot.append(HotPlug(DDM_REMOVE, "nic", removed, index, "NIC/%d" % index,
                                   len(changes)))
                continue
            self.check_nic_params(params)
            if op == DDM_ADD:
                index = device_mods.insert_index("NIC", identifier, nics)
                nic = Nic(nicparams={})
                self.apply_nic_params(nic, params, adding=True)
                nics.insert(index, nic)
                filled = nic_params(cluster, nic)
                changes.append([
                    "nic.%d" % index,
                    "add:mac=%s,ip=%s,mode=%s,link=%s,network=%s"
                    % (nic.mac, nic.ip, filled.get("mode"), filled.get("link"), None),
                ])
                hot.append(HotPlug(DDM_ADD, "nic", nic, index, "nic.%d" % index,
                                   len(changes)))
            else:
                index = device_mods.item_index("NIC", identifier, nics)
                if nics[index].network and set(params) & _NETWORK_NIC_KEYS:
                    raise OpPrereqError(
                        "NIC %d is connected to a network; changing its address, mode"
                        " or link is not supported by this cluster yet" % index,
                        ECODE_INVAL,
                    )
                changes.extend(self.apply_nic_params(nics[index], params, adding=False,
                                                     index=index))
                if set(params) & _NIC_HOT_KEYS:
                    hot.append(HotPlug(DDM_MODIFY, "nic", nics[index], index,
                                       "nic/%d" % index, len(changes)))
        if len(nics) > defaults.MAX_NICS:
            raise OpPrereqError("Instance has too many network interfaces (%d), cannot"
                                " add more" % defaults.MAX_NICS, ECODE_STATE)
        device_mods.check_unique_names("NIC", nics)
        for nic in nics:
            filled = nic_params(cluster, nic)
            if filled.get("mode") == "routed" and not nic.ip:
                raise OpPrereqError("Cannot set the NIC IP address to None on a routed"
                                    " NIC", ECODE_INVAL)
        self.nic_hotplug = net_hotplug(hot, {nic.uuid for nic in instance.nics})
        return changes, nics

    def check_nic_params(self, params):
        unknown = sorted(set(params) - NIC_KEYS)
        if unknown:
            raise OpPrereqError("Unknown NIC parameter(s): %s" % ", ".join(unknown),
                                ECODE_INVAL)
        if device_mods.none_value(params.get("network")) is not None:
            raise OpPrereqError("Connecting NICs to networks is not supported by this"
                                " cluster yet", ECODE_INVAL)
        mode = params.get("mode")
        if mode is not None and mode != "default" and mode not in defaults.NIC_MODES:
            raise OpPrereqError("Invalid NIC mode '%s'" % (mode,), ECODE_INVAL)
        for key in ("link", "bridge", "vlan", "name"):
            value = params.get(key)
            if value is not None and not isinstance(value, str):
                raise OpPrereqError("NIC parameter '%s' must be a string" % key,
                                    ECODE_INVAL)
        ip = device_mods.none_value(params.get("ip"))
        if ip is not None:
            if not isinstance(ip, str):
                raise OpPrereqError("Invalid IP address %r" % (ip,), ECODE_INVAL)
            if ip.lower() == "pool":
                raise OpPrereqError("If ip=pool, parameter network cannot be none",
                                    ECODE_INVAL)
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                raise OpPrereqError("Invalid IP address '%s'" % ip, ECODE_INVAL)

    def pick_mac(self, nic, value, adding):
        """The MAC a NIC gets: generated for auto/generate, else validated and unique."""
        if value is None:
            raise OpPrereqError("Cannot unset the NIC MAC address", ECODE_INVAL)
        if value == "auto" and not adding:
            raise OpPrereqError("'auto' is not a valid MAC address when modifying an"
                                " existing NIC", ECODE_INVAL)
        prefix = self.config.cluster.mac_prefix
        if value in ("auto", "generate"):
            mac = new_mac(self.config, prefix)
            while mac in self.reserved_macs:
                mac = new_mac(self.config, prefix)
        else:
            mac = value.lower() if isinstance(value, str) else value
            if not isinstance(mac, str) or not _MAC.match(mac):
                raise OpPrereqError("Invalid MAC address '%s'" % (value,), ECODE_INVAL)
            used = {n.mac for i in self.config.instances() for n in i.nics
                    if n.uuid != nic.uuid}
            if mac in used or mac in self.reserved_macs:
                raise OpPrereqError("MAC address '%s' already in use in cluster" % mac,
                                    ECODE_NOTUNIQUE)
        self.reserved_macs.add(mac)
        return mac

    def apply_nic_params(self, nic, params, adding, index=None):
        """Apply C{params} to C{nic} (a copy); the changes Ganeti reports."""
        changes = []
        if adding or "mac" in params:
            mac = params.get("mac")
            if adding and mac is None:
                mac = "auto"
            nic.mac = self.pick_mac(nic, mac, adding)
            if not adding:
                changes.append(["nic.mac/%d" % index, nic.mac])
        if "ip" in params:
            nic.ip = device_mods.none_value(params["ip"])
            if not adding:
                changes.append(["nic.ip/%d" % index, nic.ip])
        if "name" in params:
            nic.name = device_mods.none_value(params["name"])
            if not adding:
                changes.append(["nic.name/%d" % index, nic.name])
        update = {}
        for key in ("mode", "link", "vlan"):
            if key in params:
                update[key] = params[key]
        if "bridge" in params and "link" not in params:
            update["link"] = params["bridge"]
        if update:
            nic.nicparams = merge_params(nic.nicparams, update)
            if not adding:
                filled = nic_params(self.config.cluster, nic)
                for key in sorted(filled):
                    changes.append(["nic.%s/%d" % (key, index), filled[key]])
        return changes
