# -*- test-case-name: tests.test_config -*-
"""Ganeti's documented default parameters, and the value sets they draw from.

The dictionaries below are Ganeti's cluster-wide defaults (``BEC_DEFAULTS``,
``NICC_DEFAULTS``, ``HVC_DEFAULTS``, ``NDC_DEFAULTS``, ``IPOLICY_DEFAULTS``
and ``DISK_DT_DEFAULTS`` in Ganeti's constants), written out as data with
Ganeti's parameter names and numbers, because clients and htools read these
names and compare against these values.  A new cluster starts from them; an
object's own parameters override them key by key.

They are module-level constants shared by everybody: never mutate them, take
a copy with L{copy_defaults} (or C{copy.deepcopy}) first.

Sizes are in MiB, times in seconds unless a name says otherwise
(C{migration_downtime} is in milliseconds, C{data_collector_interval} in
microseconds, as in Ganeti).
"""

import copy

# -- Names ------------------------------------------------------------------

#: Hypervisor names (Ganeti's C{HYPER_TYPES}).
HT_XEN_PVM = "xen-pvm"
HT_XEN_HVM = "xen-hvm"
HT_KVM = "kvm"
HT_CHROOT = "chroot"
HT_FAKE = "fake"
HT_LXC = "lxc"
HYPER_TYPES = (HT_CHROOT, HT_FAKE, HT_KVM, HT_LXC, HT_XEN_HVM, HT_XEN_PVM)

#: Disk templates (Ganeti's C{DISK_TEMPLATES}).
DT_BLOCK = "blockdev"
DT_DISKLESS = "diskless"
DT_DRBD8 = "drbd"
DT_EXT = "ext"
DT_FILE = "file"
DT_GLUSTER = "gluster"
DT_PLAIN = "plain"
DT_RBD = "rbd"
DT_SHARED_FILE = "sharedfile"
DISK_TEMPLATES = (
    DT_BLOCK,
    DT_DISKLESS,
    DT_DRBD8,
    DT_EXT,
    DT_FILE,
    DT_GLUSTER,
    DT_PLAIN,
    DT_RBD,
    DT_SHARED_FILE,
)

#: Storage types (Ganeti's C{STORAGE_TYPES}).
STORAGE_TYPES = (
    "blockdev",
    "diskless",
    "ext",
    "file",
    "gluster",
    "lvm-pv",
    "lvm-vg",
    "rados",
    "sharedfile",
)

#: NIC modes.
NIC_MODE_BRIDGED = "bridged"
NIC_MODE_ROUTED = "routed"
NIC_MODE_OVS = "openvswitch"
NIC_MODES = (NIC_MODE_BRIDGED, NIC_MODE_ROUTED, NIC_MODE_OVS)

#: Disk access modes.
DISK_RDONLY = "ro"
DISK_RDWR = "rw"
DISK_ACCESS_MODES = (DISK_RDONLY, DISK_RDWR)

#: Node group allocation policies.
ALLOC_POLICY_PREFERRED = "preferred"
ALLOC_POLICY_LAST_RESORT = "last_resort"
ALLOC_POLICY_UNALLOCABLE = "unallocable"
ALLOC_POLICIES = (
    ALLOC_POLICY_PREFERRED,
    ALLOC_POLICY_LAST_RESORT,
    ALLOC_POLICY_UNALLOCABLE,
)

#: Instance administrative states, and who set them.
ADMINST_UP = "up"
ADMINST_DOWN = "down"
ADMINST_OFFLINE = "offline"
ADMINST_ALL = (ADMINST_UP, ADMINST_DOWN, ADMINST_OFFLINE)
ADMIN_SOURCE = "admin"
USER_SOURCE = "user"
ADMIN_STATE_SOURCES = (ADMIN_SOURCE, USER_SOURCE)

#: Tag kinds (the C{kind} of the tags opcodes).
TAG_CLUSTER = "cluster"
TAG_NODEGROUP = "nodegroup"
TAG_NODE = "node"
TAG_INSTANCE = "instance"
TAG_NETWORK = "network"
TAG_KINDS = (TAG_CLUSTER, TAG_INSTANCE, TAG_NETWORK, TAG_NODE, TAG_NODEGROUP)

#: Ganeti's default bridge and Open vSwitch name.
DEFAULT_BRIDGE = "xen-br0"
DEFAULT_OVS = "switch1"

#: Default volume group (used by the drbd defaults).
DEFAULT_VG = "xenvg"

#: Port range used for instance network ports (VNC) and DRBD.
FIRST_DRBD_PORT = 11000
LAST_DRBD_PORT = 14999

#: Default size of the master candidate pool, and job limits.
MASTER_POOL_SIZE_DEFAULT = 10
MAX_RUNNING_JOBS_DEFAULT = 20
MAX_TRACKED_JOBS_DEFAULT = 25

#: Default MAC prefix of a new cluster.
DEFAULT_MAC_PREFIX = "aa:00:00"

#: Largest number of disks and NICs of one instance.
MAX_DISKS = 16
MAX_NICS = 8

#: Compression tools enabled on a new cluster.
IEC_DEFAULT_TOOLS = ["gzip", "gzip-fast", "gzip-slow"]

#: Data collectors of the monitoring daemon, all enabled by default.
DATA_COLLECTOR_NAMES = (
    "cpu-avg-load",
    "diskstats",
    "drbd",
    "inst-status-xen",
    "lv",
    "xen-cpu-avg-load",
)

#: Default data collector interval: 5 seconds, in microseconds.
DATA_COLLECTOR_INTERVAL_DEFAULT = 5 * 1000 * 1000

#: SSH key defaults.
SSH_KEY_TYPE_DEFAULT = "rsa"
SSH_KEY_BITS_DEFAULT = 2048

#: Address families as Ganeti stores them (C{socket.AF_INET}/C{AF_INET6}).
IP4_FAMILY = 2
IP6_FAMILY = 10

# -- Parameter defaults ------------------------------------------------------

#: Backend parameters (C{BEC_DEFAULTS}).
BEPARAMS = {
    "always_failover": False,
    "auto_balance": True,
    "maxmem": 128,
    "minmem": 128,
    "spindle_use": 1,
    "vcpus": 1,
}

#: NIC parameters (C{NICC_DEFAULTS}).
NICPARAMS = {
    "link": DEFAULT_BRIDGE,
    "mode": NIC_MODE_BRIDGED,
    "vlan": "",
}

#: Node parameters (C{NDC_DEFAULTS}).
NDPARAMS = {
    "cpu_speed": 1.0,
    "exclusive_storage": False,
    "oob_program": "",
    "ovs": False,
    "ovs_link": "",
    "ovs_name": DEFAULT_OVS,
    "spindle_count": 1,
    "ssh_port": 22,
}

#: Hypervisor parameters per hypervisor (C{HVC_DEFAULTS}), for the
#: hypervisors this project implements.
HVPARAMS = {
    HT_FAKE: {
        "migration_mode": "live",
    },
    HT_KVM: {
        "acpi": True,
        "boot_order": "disk",
        "cdrom2_image_path": "",
        "cdrom_disk_type": "",
        "cdrom_image_path": "",
        "cpu_cores": 0,
        "cpu_mask": "all",
        "cpu_sockets": 0,
        "cpu_threads": 0,
        "cpu_type": "",
        "disk_aio": "threads",
        "disk_cache": "default",
        "disk_type": "paravirtual",
        "floppy_image_path": "",
        "initrd_path": "",
        "kernel_args": "ro",
        "kernel_path": "/boot/vmlinuz-3-kvmU",
        "keymap": "",
        "kvm_extra": "",
        "kvm_flag": "",
        "kvm_path": "/usr/bin/kvm",
        "machine_version": "",
        "mem_path": "",
        "migration_bandwidth": 32,
        "migration_downtime": 30,
        "migration_mode": "live",
        "migration_port": 8102,
        "nic_type": "paravirtual",
        "reboot_behavior": "reboot",
        "root_path": "/dev/vda1",
        "security_domain": "",
        "security_model": "none",
        "serial_console": True,
        "serial_speed": 38400,
        "soundhw": "",
        "usb_devices": "",
        "usb_mouse": "",
        "use_chroot": False,
        "use_localtime": False,
        "user_shutdown": False,
        "vga": "",
        "vhost_net": False,
        "virtio_net_queues": 1,
        "vnc_bind_address": "",
        "vnc_password_file": "",
        "vnc_tls": False,
        "vnc_x509_path": "",
        "vnc_x509_verify": False,
        "vnet_hdr": True,
    },
}

#: Instance specs of the default instance policy.
ISPECS_MIN = {
    "cpu-count": 1,
    "disk-count": 1,
    "disk-size": 1024,
    "memory-size": 128,
    "nic-count": 1,
    "spindle-use": 1,
}
ISPECS_MAX = {
    "cpu-count": 8,
    "disk-count": MAX_DISKS,
    "disk-size": 1024 * 1024,
    "memory-size": 32768,
    "nic-count": MAX_NICS,
    "spindle-use": 12,
}
ISPECS_STD = {
    "cpu-count": 1,
    "disk-count": 1,
    "disk-size": 1024,
    "memory-size": 128,
    "nic-count": 1,
    "spindle-use": 1,
}

#: The default instance policy (C{IPOLICY_DEFAULTS}).  Ganeti 3.1 added a
#: C{memory-ratio} key; htools 3.0 (Debian bookworm's, what operators run
#: against this server) refuses a policy that has it, so it is left out.
IPOLICY = {
    "disk-templates": list(DISK_TEMPLATES),
    "minmax": [{"max": ISPECS_MAX, "min": ISPECS_MIN}],
    "spindle-ratio": 32.0,
    "std": ISPECS_STD,
    "vcpu-ratio": 4.0,
}

#: DRBD resync speed in KiB/s (Ganeti's C{CLASSIC_DRBD_SYNC_SPEED}).
CLASSIC_DRBD_SYNC_SPEED = 60 * 1024

#: Disk parameters per disk template (C{DISK_DT_DEFAULTS}).
DISKPARAMS = {
    DT_BLOCK: {},
    DT_DISKLESS: {},
    DT_DRBD8: {
        "c-delay-target": 1,
        "c-fill-target": 0,
        "c-max-rate": CLASSIC_DRBD_SYNC_SPEED,
        "c-min-rate": 4 * 1024,
        "c-plan-ahead": 20,
        "data-stripes": 1,
        "disk-barriers": "n",
        "disk-custom": "",
        "dynamic-resync": False,
        "meta-barriers": False,
        "meta-stripes": 1,
        "metavg": DEFAULT_VG,
        "net-custom": "",
        "protocol": "C",
        "resync-rate": CLASSIC_DRBD_SYNC_SPEED,
    },
    DT_EXT: {"access": "kernel"},
    DT_FILE: {},
    DT_GLUSTER: {
        "access": "kernel",
        "host": "127.0.0.1",
        "port": 24007,
        "volume": "gv0",
    },
    DT_PLAIN: {"stripes": 1},
    DT_RBD: {"access": "kernel", "pool": "rbd"},
    DT_SHARED_FILE: {},
}


def copy_defaults(value):
    """An independent copy of one of the default dictionaries above."""
    return copy.deepcopy(value)
