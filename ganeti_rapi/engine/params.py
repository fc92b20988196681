"""Filled parameters: cluster defaults overlaid with a group's and an object's own.

Ganeti stores only what differs from the defaults on each object; whoever
shows or uses the effective values fills them the same way, here.
"""


def fill_dict(defaults, custom):
    """C{defaults} overlaid with C{custom} (both may be empty)."""
    result = dict(defaults or {})
    result.update(custom or {})
    return result


def fill_nested(defaults, custom):
    """Per-key fill for dicts of dicts (diskparams, hvparams)."""
    result = {key: dict(value) for key, value in (defaults or {}).items()}
    for key, value in (custom or {}).items():
        result[key] = fill_dict(result.get(key), value)
    return result


def instance_beparams(cluster, instance):
    """An instance's backend parameters, filled."""
    return fill_dict(cluster.beparams.get("default"), instance.beparams)


def instance_hvparams(cluster, instance):
    """An instance's hypervisor parameters: cluster, OS-specific, own."""
    filled = dict(cluster.hvparams.get(instance.hypervisor) or {})
    os_hvp = cluster.os_hvp
    if os_hvp:
        os_specific = (os_hvp.get(instance.os) or {}).get(instance.hypervisor)
        if os_specific:
            filled.update(os_specific)
    if instance.hvparams:
        filled.update(instance.hvparams)
    return filled


def nic_param(cluster, nic, key):
    """One of a NIC's parameters, filled: what C{nic_params(...)[key]} gives,
    without building the dict."""
    own = nic.nicparams
    if own and key in own:
        return own[key]
    return (cluster.nicparams.get("default") or {}).get(key)


def nic_params(cluster, nic):
    """A NIC's parameters (mode, link, vlan), filled."""
    return fill_dict(cluster.nicparams.get("default"), nic.nicparams)


def instance_osparams(cluster, instance):
    """An instance's OS parameters: the cluster's for its OS, then its own."""
    base_os = instance.os.split("+", 1)[0]
    return fill_dict(cluster.osparams.get(base_os), instance.osparams)
