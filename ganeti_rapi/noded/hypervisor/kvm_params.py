# -*- test-case-name: tests.test_kvm -*-
"""The kvm hypervisor's parameters: what values are valid.

The names and defaults are Ganeti's (L{ganeti_rapi.engine.defaults.HVPARAMS});
this module says which values each one takes, for the master (errors
become C{wrong_input}) and the node (which checks again before it builds a
command line).  Pure functions: no I/O.

C{kvm_flag} chooses the accelerator: C{enabled} is KVM only, C{disabled}
is TCG (software emulation, what tests use), and the default C{""} asks
for KVM and falls back to TCG where the host has none.  C{migration_port}
0 means "a free port chosen for each migration".
"""

import os

from ganeti_rapi.paramtypes import same_type

CHOICES = {
    "boot_order": ("floppy", "cdrom", "disk", "network"),
    "disk_type": ("paravirtual", "ide", "scsi", "sd", "mtd", "pflash"),
    "cdrom_disk_type": ("", "paravirtual", "ide", "scsi", "sd", "mtd", "pflash"),
    "nic_type": ("paravirtual", "rtl8139", "ne2k_pci", "ne2k_isa", "i82551",
                 "i82557b", "i82559er", "pcnet", "e1000"),
    "disk_cache": ("default", "none", "writethrough", "writeback"),
    "disk_aio": ("threads", "native", "io_uring"),
    "kvm_flag": ("", "enabled", "disabled"),
    "migration_mode": ("live", "non-live"),
    "reboot_behavior": ("reboot", "exit"),
    "security_model": ("none", "user", "pool"),
}

#: Parameters that are paths: absolute, or empty where that means "none".
PATHS = ("kernel_path", "initrd_path", "kvm_path", "cdrom_image_path",
         "cdrom2_image_path", "floppy_image_path", "mem_path",
         "vnc_password_file", "vnc_x509_path")

#: Integer parameters with their smallest and largest values.
RANGES = {
    "migration_port": (0, 65535),
    "migration_bandwidth": (1, None),
    "migration_downtime": (1, None),
    "serial_speed": (1, None),
    "cpu_cores": (0, None),
    "cpu_sockets": (0, None),
    "cpu_threads": (0, None),
    "virtio_net_queues": (1, 8),
}


def check(params, defaults):
    """Errors (a list of messages) of the kvm parameters C{params}.

    @param defaults: Ganeti's kvm defaults: every known name, with a value
        of the right type.
    """
    errors = []
    for key, value in sorted(params.items()):
        if key not in defaults:
            errors.append("Unknown hypervisor parameter '%s'" % key)
            continue
        if not same_type(value, defaults[key]):
            errors.append("Hypervisor parameter '%s' has the wrong type: %r" % (key, value))
            continue
        if key in CHOICES and value not in CHOICES[key]:
            errors.append("Hypervisor parameter '%s' must be one of %s, not %r"
                          % (key, ", ".join(repr(c) for c in CHOICES[key]), value))
        elif key in PATHS and value and not os.path.isabs(value):
            errors.append("Hypervisor parameter '%s' must be an absolute path: %r"
                          % (key, value))
        elif key == "kvm_path" and not value:
            errors.append("Hypervisor parameter 'kvm_path' must not be empty")
        elif key in RANGES:
            low, high = RANGES[key]
            if value < low or (high is not None and value > high):
                errors.append("Hypervisor parameter '%s' is out of range: %d" % (key, value))
        elif key == "vnc_bind_address" and value and not _address(value):
            errors.append("Hypervisor parameter 'vnc_bind_address' must be an IP"
                          " address: %r" % value)
    return errors


def _address(value):
    import ipaddress

    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def accelerator(kvm_flag):
    """QEMU's C{-machine accel=} value for a C{kvm_flag}."""
    return {"enabled": "kvm", "disabled": "tcg"}.get(kvm_flag, "kvm:tcg")
