"""A tiny guest for the kvm hypervisor's tests, built from Debian packages.

The kernel is Debian's cloud kernel (C{linux-image-*-cloud-amd64}),
downloaded with C{apt-get download} and unpacked with C{dpkg -x}; the
initramfs holds busybox-static, the virtio modules the disk needs, and an
C{/init} that prints on the serial console:

 - C{GUEST-BOOTED <boot id>} once user space runs;
 - C{GUEST-DISK <sectors>}: the size of C{/dev/vda} in 512-byte sectors;
 - C{GUEST-NET <interface> <mac> ok|failed} for each C{iface:address:peer}
   of the kernel argument C{guest_net=...} (comma-separated) once that
   interface exists, at boot or when it is hot-plugged later: the
   interface is given the address and a route to the peer, and whether the
   peer answered a ping is printed; C{GUEST-NET-GONE <interface>} when it
   goes away (hot-unplugged);
 - C{GUEST-DISK <name> <sectors>} for every virtio disk (C{vda}, C{vdb}...)
   once it exists, at boot or hot-plugged, and C{GUEST-DISK-GONE <name>}
   when it goes away;
 - C{GUEST-COUNT <n> <boot id>} every second.

Interfaces and disks are looked for twice a second.

A press of the ACPI power button powers the guest off.  Everything is
cached in L{CACHE_DIR}; L{build} is blocking (call it in a thread).
"""

import fcntl
import glob
import hashlib
import os
import shutil
import stat
import subprocess
import tempfile

CACHE_DIR = os.environ.get("GANETI_RAPI_TEST_GUEST_CACHE",
                           "/var/cache/ganeti-rapi-tests/kvmguest")

QEMU = "/usr/bin/qemu-system-x86_64"
BUSYBOX = "/bin/busybox"
QBOOT = "/usr/share/qemu/qboot.rom"

#: Modules loaded in this order (the cloud kernel builds virtio as modules).
MODULES = ["virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev",
           "virtio_pci", "virtio_blk", "failover", "net_failover", "virtio_net",
           "button", "evdev"]

INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in %(modules)s; do insmod /lib/modules/$m.ko 2>/dev/null; done
boot=$(cat /proc/sys/kernel/random/boot_id)
echo "GUEST-BOOTED $boot"
for d in /sys/class/input/event*; do
    if grep -q "Power Button" $d/device/name 2>/dev/null; then
        (head -c 1 /dev/input/${d##*/} >/dev/null; echo GUEST-POWEROFF; poweroff -f) &
    fi
done
i=0
while [ ! -e /sys/block/vda/size ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
echo "GUEST-DISK $(cat /sys/block/vda/size 2>/dev/null || echo none)"
net_up() {
    dev=$1; addr=$2; peer=$3
    ip link set $dev up
    ip addr add $addr dev $dev
    ip route add $peer/32 dev $dev 2>/dev/null
    result=failed
    i=0
    while [ $i -lt 30 ]; do
        if ping -c 1 -W 1 $peer >/dev/null 2>&1; then result=ok; break; fi
        i=$((i+1)); sleep 0.5
    done
    echo "GUEST-NET $dev $(cat /sys/class/net/$dev/address 2>/dev/null) $result"
}
(
    specs=$(sed -n 's/.*guest_net=\([^ ]*\).*/\1/p' /proc/cmdline | tr , ' ')
    nets=" "; disks=" "
    while true; do
        for spec in $specs; do
            dev=${spec%%%%:*}; rest=${spec#*:}; addr=${rest%%%%:*}; peer=${rest#*:}
            [ -e /sys/class/net/$dev ] || continue
            case "$nets" in
                *" $dev "*) ;;
                *) nets="$nets$dev "; net_up $dev $addr $peer & ;;
            esac
        done
        kept=" "
        for dev in $nets; do
            if [ -e /sys/class/net/$dev ]; then
                kept="$kept$dev "
            else
                echo "GUEST-NET-GONE $dev"
            fi
        done
        nets=$kept
        for b in /sys/block/vd*; do
            [ -e $b/size ] || continue
            n=${b##*/}
            case "$disks" in
                *" $n "*) ;;
                *) disks="$disks$n "; echo "GUEST-DISK $n $(cat $b/size)" ;;
            esac
        done
        kept=" "
        for n in $disks; do
            if [ -e /sys/block/$n ]; then
                kept="$kept$n "
            else
                echo "GUEST-DISK-GONE $n"
            fi
        done
        disks=$kept
        sleep 0.5
    done
) &
n=0
while true; do echo "GUEST-COUNT $n $boot"; n=$((n+1)); sleep 1; done
"""


class GuestUnavailable(Exception):
    """The guest cannot be built here (the message says why)."""


def _cpio_entry(out, name, mode, data=b"", rdev=(0, 0), ino=[1000]):
    ino[0] += 1
    name_bytes = name.encode() + b"\0"
    fields = [ino[0], mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1],
              len(name_bytes), 0]
    header = b"070701" + b"".join(b"%08X" % f for f in fields)
    out.write(header + name_bytes)
    out.write(b"\0" * ((4 - (len(header) + len(name_bytes)) % 4) % 4))
    out.write(data)
    out.write(b"\0" * ((4 - len(data) % 4) % 4))


def _write_initramfs(path, modules_dir):
    tmp = path + ".tmp"
    with open(tmp, "wb") as out:
        for d in ("bin", "dev", "proc", "sys", "lib", "lib/modules"):
            _cpio_entry(out, d, stat.S_IFDIR | 0o755)
        _cpio_entry(out, "dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
        with open(BUSYBOX, "rb") as f:
            _cpio_entry(out, "bin/busybox", stat.S_IFREG | 0o755, f.read())
        for module in MODULES:
            found = glob.glob(os.path.join(modules_dir, "**", module + ".ko"), recursive=True)
            if not found:
                raise GuestUnavailable("kernel module %s not in the kernel package" % module)
            with open(found[0], "rb") as f:
                _cpio_entry(out, "lib/modules/%s.ko" % module, stat.S_IFREG | 0o644, f.read())
        init = INIT % {"modules": " ".join(MODULES)}
        _cpio_entry(out, "init", stat.S_IFREG | 0o755, init.encode())
        _cpio_entry(out, "TRAILER!!!", 0)
    os.replace(tmp, path)


def build(cache_dir=CACHE_DIR):
    """C{(kernel path, initrd path)}, built once and cached.

    Test processes running side by side (trial's workers, both lanes) may
    all find the cache empty; one builds while the others wait on a lock,
    then find what it built.
    """
    for tool in (QEMU, BUSYBOX):
        if not os.path.exists(tool):
            raise GuestUnavailable("%s is missing (tests/run installs it)" % tool)
    os.makedirs(cache_dir, exist_ok=True)
    with open(os.path.join(cache_dir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build(cache_dir)


def _build(cache_dir):
    kernel = os.path.join(cache_dir, "vmlinuz")
    # The initramfs is named after what goes into it, so a changed /init
    # or module list is built anew instead of taken from the cache.
    recipe = hashlib.sha256((INIT + " ".join(MODULES)).encode()).hexdigest()[:12]
    initrd = os.path.join(cache_dir, "initrd-%s.cpio" % recipe)
    if os.path.exists(kernel) and os.path.exists(initrd):
        return kernel, initrd
    debs = glob.glob(os.path.join(cache_dir, "linux-image-*-cloud-amd64_*.deb"))
    if not debs:
        env = dict(os.environ, PATH="/usr/sbin:/usr/bin:/sbin:/bin")
        try:
            depends = subprocess.run(
                ["apt-cache", "depends", "linux-image-cloud-amd64"], env=env,
                capture_output=True, text=True, timeout=120, check=True).stdout
            package = next(line.split()[-1] for line in depends.splitlines()
                           if "Depends: linux-image-" in line)
            subprocess.run(["apt-get", "download", package], cwd=cache_dir, env=env,
                           capture_output=True, timeout=600, check=True)
        except (OSError, subprocess.SubprocessError, StopIteration) as e:
            raise GuestUnavailable(
                "cannot download Debian's cloud kernel (linux-image-cloud-amd64) into"
                " %s: %s" % (cache_dir, getattr(e, "stderr", None) or e)) from None
        debs = glob.glob(os.path.join(cache_dir, "linux-image-*-cloud-amd64_*.deb"))
        if not debs:
            raise GuestUnavailable("apt-get download left no kernel package in %s"
                                   % cache_dir)
    unpacked = tempfile.mkdtemp(dir=cache_dir)
    try:
        subprocess.run(["dpkg", "-x", sorted(debs)[-1], unpacked], check=True,
                       capture_output=True, timeout=300)
        (vmlinuz,) = glob.glob(os.path.join(unpacked, "boot", "vmlinuz-*"))
        _write_initramfs(initrd, os.path.join(unpacked, "lib", "modules"))
        shutil.copyfile(vmlinuz, kernel + ".tmp")
        os.replace(kernel + ".tmp", kernel)
    finally:
        shutil.rmtree(unpacked, ignore_errors=True)
    return kernel, initrd
