#!/usr/bin/env bash
# Tiny guests with a real OS: Debian's cloud kernel, busybox and
# qemu-guest-agent, unpacked from Debian's packages (never installed on the
# host) into a 4 MB initramfs that QEMU boots directly. 128 MiB each, a
# virtio balloon that reports the guest's memory every 2 s, a 64 MiB virtio
# disk, a virtio NIC on a tap, the guest agent's channel, and a loop in the
# guest that keeps disk, network and memory figures moving.
#
#   scripts/linux-guest.sh PREFIX COUNT   # via scripts/testbed.sh --linux
#
# Defines and starts PREFIX1..PREFIXCOUNT (resumes them if paused), then
# waits until each reports its memory statistics. Idempotent: the packages
# are downloaded once and kept under $TESTBED_IMAGE_DIR/linux (offline from
# then on), the initramfs is rebuilt only when this script or the kernel
# changed, running guests are left running. KVM when libvirt can use it,
# TCG otherwise (TESTBED_ACCEL=qemu forces TCG). Expects libvirtd running.
#   LINUX_GUEST_TIMEOUT  seconds to wait for a guest's statistics (180)
set -euo pipefail

prefix=$1 count=$2
dir=${TESTBED_IMAGE_DIR:-/var/lib/vadvisor-testbed}/linux
timeout=${LINUX_GUEST_TIMEOUT:-180}
uri=qemu:///system
virsh() { command virsh -q -c "$uri" "$@"; }
log() { echo "linux-guest: $*" >&2; }

mkdir -p "$dir/debs"
# One builder at a time: two runs must not unpack into the same folders.
exec 8>"$dir/.lock"
flock 8

# ---- the guest's parts, downloaded once
if [ ! -s "$dir/parts/kernel-version" ]; then
  kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
  if [ -z "$kpkg" ]; then
    apt-get update -q >&2
    kpkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/{print $2; exit}')
  fi
  log "downloading $kpkg busybox-static qemu-guest-agent (once)"
  (cd "$dir/debs" && apt-get -q -o APT::Sandbox::User=root download "$kpkg" busybox-static qemu-guest-agent >&2)
  rm -rf "$dir/parts.new"
  mkdir -p "$dir/parts.new"
  for deb in "$dir/debs/$kpkg"_*.deb "$dir"/debs/busybox-static_*.deb "$dir"/debs/qemu-guest-agent_*.deb; do
    dpkg-deb -x "$deb" "$dir/parts.new/root"
  done
  ls "$dir/parts.new/root/lib/modules" | head -n1 >"$dir/parts.new/kernel-version"
  rm -rf "$dir/parts"
  mv "$dir/parts.new" "$dir/parts"
fi
kver=$(cat "$dir/parts/kernel-version")
parts=$dir/parts/root
bb=$parts/bin/busybox

# ---- the initramfs, rebuilt when this script or the kernel changed
key=$( (cat "$0"; echo "$kver") | sha256sum | cut -c1-16)
if [ "$(cat "$dir/initrd.key" 2>/dev/null)" != "$key" ] || [ ! -s "$dir/initrd.img" ]; then
  r=$dir/initramfs
  rm -rf "$r"
  mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc/acpi/PWRF,lib/modules,proc,sys,dev,run,tmp,mnt,root}
  cp "$bb" "$r/bin/busybox"
  for applet in $("$bb" --list-full); do
    [ -e "$r/$applet" ] || ln -s /bin/busybox "$r/$applet"
  done
  ln -s bin/busybox "$r/init"
  # None of these is built into the cloud kernel; listed in load order (each
  # after what its .ko's depends= names).
  for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci \
           virtio_balloon virtio_blk failover net_failover virtio_net virtio_console button evdev; do
    ko=$(find "$parts/lib/modules/$kver" -name "$m.ko" -print -quit)
    [ -n "$ko" ] || { log "kernel $kver has no module $m"; exit 1; }
    cp "$ko" "$r/lib/modules/"
    echo "$m" >>"$r/lib/modules/load-order"
  done
  # qemu-ga with the host's libraries: the same Debian release built both.
  cp "$parts/usr/sbin/qemu-ga" "$r/usr/sbin/qemu-ga"
  if ldd "$parts/usr/sbin/qemu-ga" | grep -q 'not found'; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      libglib2.0-0 libnuma1 libudev1 liburing2 >&2
  fi
  if ldd "$parts/usr/sbin/qemu-ga" | grep 'not found'; then
    log "the host lacks libraries qemu-guest-agent needs"
    exit 1
  fi
  for lib in $(ldd "$parts/usr/sbin/qemu-ga" | awk '/=> \//{print $3} /^\t\//{print $1}'); do
    mkdir -p "$r$(dirname "$lib")"
    cp -L "$lib" "$r$lib"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$r/etc/passwd"
  echo 'root:x:0:' >"$r/etc/group"
  printf 'ID=vadvisor-testbed\nNAME="vAdvisor test guest"\nVERSION_ID=1\n' >"$r/etc/os-release"
  cat >"$r/etc/inittab" <<'EOF'
::sysinit:/etc/rcS
::respawn:/bin/guest-load
::respawn:/bin/guest-agent
::respawn:/sbin/acpid -f -c /etc/acpi -l /dev/null
::ctrlaltdel:/sbin/poweroff
::shutdown:/bin/umount -a -r
EOF
  cat >"$r/etc/rcS" <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mount -t tmpfs -o size=48m tmpfs /tmp
for m in $(cat /lib/modules/load-order); do insmod /lib/modules/$m.ko; done
for w in $(cat /proc/cmdline); do case $w in guest.name=*) hostname "${w#guest.name=}";; esac; done
echo 1 >/proc/sys/kernel/printk
# The NIC sends to a neighbour that does not exist, at a link-local address
# (never routed) and a MAC no host device has (the host drops the frames).
ip link set lo up
for i in $(seq 50); do [ -e /sys/class/net/eth0 ] && break; sleep 0.1; done
ip link set eth0 up
ip addr add 169.254.77.2/24 dev eth0
arp -i eth0 -s 169.254.77.1 02:00:00:00:00:01
# The disk: formatted at every boot, since a guest is stopped by virsh
# destroy and busybox has no fsck (blocks of files open at the time leak
# until the disk is full); a swap file on it so that swap and major-fault
# figures can move.
for i in $(seq 50); do [ -b /dev/vda ] && break; sleep 0.1; done
mke2fs -q -F /dev/vda >/dev/null 2>&1
mount /dev/vda /mnt
dd if=/dev/zero of=/mnt/swap bs=1M count=16 2>/dev/null
mkswap /mnt/swap >/dev/null
swapon /mnt/swap
mkdir -p /dev/virtio-ports
for p in /sys/class/virtio-ports/*; do
  [ -e "$p/name" ] && ln -sf "/dev/${p##*/}" "/dev/virtio-ports/$(cat "$p/name")"
done
printf '#!/bin/sh\npoweroff\n' >/etc/acpi/PWRF/00000080
chmod +x /etc/acpi/PWRF/00000080
echo "guest $(hostname) up after $(cut -d' ' -f1 /proc/uptime)s" >/dev/console
EOF
  cat >"$r/bin/guest-agent" <<'EOF'
#!/bin/sh
p=/dev/virtio-ports/org.qemu.guest_agent.0
[ -e $p ] || { sleep 5; exit 1; }
exec /usr/sbin/qemu-ga -m virtio-serial -p $p -t /run -l /dev/null
EOF
  # One round every 5 s or so: 1 MiB written and synced, read back past the
  # page cache, pings, a few MiB of tmpfs churn. Once, in the third round, a
  # short squeeze pushes a few MiB to swap so that the swap figures are not
  # all 0; repeated, it would stall the disk for long stretches under TCG.
  cat >"$r/bin/guest-load" <<'EOF'
#!/bin/sh
n=0
while :; do
  n=$((n+1))
  dd if=/dev/zero of=/mnt/data bs=64k count=16 conv=fsync 2>/dev/null
  echo 3 >/proc/sys/vm/drop_caches
  dd if=/mnt/data of=/dev/null bs=64k 2>/dev/null
  ping -c 3 -i 1 -W 1 169.254.77.1 >/dev/null 2>&1
  dd if=/dev/zero of=/tmp/churn bs=1M count=$((4 + n % 12)) 2>/dev/null
  [ $((n % 2)) = 0 ] && rm -f /tmp/churn
  if [ $n = 3 ]; then
    rm -f /tmp/churn
    av=$(awk '/MemAvailable/{print int($2/1024)}' /proc/meminfo)
    mkdir -p /run/squeeze && mount -t tmpfs -o size=$((av+8))m tmpfs /run/squeeze &&
      dd if=/dev/zero of=/run/squeeze/f bs=1M count=$((av+4)) 2>/dev/null
    cat /run/squeeze/f >/dev/null 2>&1
    rm -f /run/squeeze/f; umount /run/squeeze 2>/dev/null
  fi
  sleep 2
done
EOF
  # qemu-ga's guest-shutdown runs "shutdown -h|-r ...".
  printf '#!/bin/sh\ncase " $* " in *" -r "*) exec reboot;; *) exec poweroff;; esac\n' >"$r/sbin/shutdown"
  chmod 0755 "$r/etc/rcS" "$r/bin/guest-agent" "$r/bin/guest-load" "$r/sbin/shutdown"
  (cd "$r" && find . | "$bb" cpio -o -H newc 2>/dev/null | gzip -6 >"$dir/initrd.img.new")
  # A running guest keeps what it booted: QEMU read the file at start.
  mv "$dir/initrd.img.new" "$dir/initrd.img"
  install -m 0644 "$parts/boot/vmlinuz-$kver" "$dir/vmlinuz"
  echo "$key" >"$dir/initrd.key"
  rm -rf "$r"
  log "kernel $kver, initramfs $(du -k "$dir/initrd.img" | cut -f1) KiB"
fi
chmod 0644 "$dir/initrd.img" "$dir/vmlinuz"
flock -u 8

# ---- the guests
accel=qemu features="<acpi/><tcg><tb-cache unit='MiB'>32</tb-cache></tcg>"
# TCG unless TESTBED_ACCEL=kvm: a /dev/kvm that opens does not make a KVM that
# runs this kernel (on the test machines, a nested KVM stops it at boot with
# "KVM internal error ... emulation failure" on a cmpxchg16b).
if [ "${TESTBED_ACCEL:-}" = kvm ]; then
  accel=kvm features="<acpi/>"
fi
started=()
t0=$(date +%s%N)
for i in $(seq 1 "$count"); do
  name=$prefix$i
  img=$dir/$name.qcow2
  [ -f "$img" ] || qemu-img create -q -f qcow2 "$img" 64M
  # Tap names stay under 16 characters and never start with "vnet".
  hash=$(echo -n "$name" | md5sum)
  tap=tap${hash:0:8}
  mac=52:54:00:${hash:8:2}:${hash:10:2}:${hash:12:2}
  uuid=$(virsh domuuid "$name" 2>/dev/null || true)
  cat >"$dir/$name.xml.new" <<XML
<domain type='$accel'>
  <name>$name</name>
  ${uuid:+<uuid>$uuid</uuid>}
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <!-- acpi=noirq: routing PCI interrupts through ACPI costs about a second
       per device under TCG; the BIOS's table does it at once. -->
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$dir/vmlinuz</kernel>
    <initrd>$dir/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet acpi=noirq mitigations=off guest.name=$name</cmdline>
  </os>
  <features>$features</features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
      <source file='$img'/><target dev='vda' bus='virtio'/></disk>
    <interface type='ethernet'><mac address='$mac'/><target dev='$tap' managed='yes'/><model type='virtio'/></interface>
    <serial type='file'><source path='$dir/$name.console.log'/><target port='0'/></serial>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <memballoon model='virtio'><stats period='2'/></memballoon>
  </devices>
</domain>
XML
  # Defined again only when the definition changed: each define is a
  # lifecycle event that every event client sees.
  if [ -z "$uuid" ] || ! cmp -s "$dir/$name.xml.new" "$dir/$name.xml"; then
    virsh define "$dir/$name.xml.new" >/dev/null
  fi
  mv "$dir/$name.xml.new" "$dir/$name.xml"
  case $(virsh domstate "$name") in
    running) ;;
    paused) virsh resume "$name" >/dev/null ;;
    *) virsh start "$name" >/dev/null; started+=("$name") ;;
  esac
done

# ---- ready: every guest reports its memory statistics
for i in $(seq 1 "$count"); do
  name=$prefix$i
  until virsh domstats --balloon "$name" | grep -q 'balloon.usable='; do
    if [ $(( ($(date +%s%N) - t0) / 1000000000 )) -ge "$timeout" ]; then
      log "$name: no memory statistics after ${timeout}s; its console: $dir/$name.console.log"
      exit 1
    fi
    sleep 0.2
  done
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
log "${prefix}1..${prefix}${count} ($accel) report memory statistics${started[*]:+; started ${started[*]}, ready ${ms} ms after start}"
