#!/usr/bin/env bash
# Brings up a real libvirtd with tiny QEMU TCG guests: 32 MiB, an empty
# 32 MiB disk (they boot no OS, only SeaBIOS), a virtio NIC and balloon.
# Idempotent: packages are installed only when missing, daemons started only
# when not running, guests reused when already defined.
#
#   scripts/testbed.sh [PREFIX] [COUNT]     # default: vadv-demo 3
#   TESTBED_PACKAGES="..." adds Debian packages to install.
#
#   scripts/testbed.sh --linux PREFIX COUNT  # guests with a real OS instead
#   (scripts/linux-guest.sh): a Linux kernel, busybox and the guest agent,
#   128 MiB each; returns once each reports its memory statistics.
#
#   scripts/testbed.sh --stop PREFIX...     # stops the guests of these prefixes
#   (virsh destroy) that run or are paused: those named a PREFIX followed by
#   digits, nothing else. Definitions and disk images stay, so the next run
#   only starts them again. It first waits for tests that hold the test bed
#   (internal/testbed's lock) to end.
set -euo pipefail

if [ "${1:-}" = --stop ]; then
  shift
  [ $# -gt 0 ] || { echo "usage: $0 --stop PREFIX..." >&2; exit 2; }
  # The exclusive lock waits for running tests (they hold it shared) and
  # keeps new ones from starting guests while these stop.
  exec 9>>/run/vadvisor-testbed.lock
  flock -w 600 -x 9 || { echo "testbed: tests still hold the test bed after 10 minutes; guests not stopped" >&2; exit 1; }
  if ! active=$(virsh -c qemu:///system list --name 2>&1); then
    echo "testbed: cannot list guests to stop them: $active" >&2
    exit 1
  fi
  names=() pids=()
  while IFS= read -r name; do
    for p in "$@"; do
      rest=${name#"$p"}
      if [ "$rest" != "$name" ] && [[ $rest =~ ^[0-9]+$ ]]; then
        names+=("$name")
        virsh -c qemu:///system destroy "$name" >/dev/null 2>&1 &
        pids+=($!)
        break
      fi
    done
  done <<<"$active"
  failed=0
  for i in "${!names[@]}"; do
    # A guest that ended by itself meanwhile is as good as stopped.
    if ! wait "${pids[$i]}" && [ "$(virsh -c qemu:///system domstate "${names[$i]}" 2>&1)" != "shut off" ]; then
      echo "testbed: could not stop ${names[$i]}" >&2
      failed=1
    fi
  done
  echo "testbed: stopped ${#names[@]} guest(s)${names[*]:+: ${names[*]}}"
  exit $failed
fi

linux=
if [ "${1:-}" = --linux ]; then
  linux=1
  shift
  [ $# -eq 2 ] || { echo "usage: $0 --linux PREFIX COUNT" >&2; exit 2; }
fi
prefix=${1:-vadv-demo}
count=${2:-3}
imgdir=${TESTBED_IMAGE_DIR:-/var/lib/vadvisor-testbed}

need_pkgs=()
command -v libvirtd >/dev/null || need_pkgs+=(libvirt-daemon-system libvirt-clients libvirt-daemon-driver-qemu)
command -v qemu-system-x86_64 >/dev/null || need_pkgs+=(qemu-system-x86)
command -v qemu-img >/dev/null || need_pkgs+=(qemu-utils)
command -v dbus-daemon >/dev/null || need_pkgs+=(dbus)
[ -x /usr/lib/polkit-1/polkitd ] || need_pkgs+=(polkitd)
for p in ${TESTBED_PACKAGES:-}; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "testbed: installing ${need_pkgs[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_pkgs[@]}"
fi

# The daemons must not inherit our descriptors: a lock that a caller holds
# (flock make test) would stay held for as long as libvirtd runs.
daemon() (
  for fd in /proc/self/fd/*; do
    fd=${fd##*/}
    [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null
  done
  exec "$@"
)
# libvirtd lets a non-root client onto the read-only socket after asking
# polkit over the D-Bus system bus (auth_unix_ro = "polkit"), as on a host
# with systemd; it looks for the bus once, so both must run before it.
if ! pgrep -x dbus-daemon >/dev/null; then
  mkdir -p /run/dbus
  rm -f /run/dbus/pid
  daemon dbus-daemon --system --fork
fi
pgrep -x polkitd >/dev/null || { daemon setsid /usr/lib/polkit-1/polkitd --no-debug </dev/null >/dev/null 2>&1 & }
pgrep -x virtlogd >/dev/null || daemon virtlogd --daemon
# Without udev, /dev/kvm can stay root's alone (0600). libvirtd (root) then
# probes QEMU with KVM but finds KVM unusable to QEMU's user, judges its
# cached QEMU capabilities stale at every look and probes QEMU again: seconds
# per connection and per guest started. Give /dev/kvm the kvm group's access,
# as udev does.
if [ -c /dev/kvm ] && getent group kvm >/dev/null && [ "$(stat -c %G /dev/kvm)" != kvm ]; then
  chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
fi
if ! virsh -c qemu:///system version >/dev/null 2>&1; then
  pgrep -x libvirtd >/dev/null || daemon libvirtd --daemon
  for _ in $(seq 50); do
    virsh -c qemu:///system version >/dev/null 2>&1 && break
    sleep 0.2
  done
fi
virsh -c qemu:///system version >/dev/null

if [ -n "$linux" ]; then
  exec bash "$(dirname "$0")/linux-guest.sh" "$prefix" "$count"
fi
mkdir -p "$imgdir"
for i in $(seq 1 "$count"); do
  name="$prefix$i"
  img="$imgdir/$name.qcow2"
  [ -f "$img" ] || qemu-img create -q -f qcow2 "$img" 32M
  vcpus=$(( (i - 1) % 3 + 1 ))
  # Tap names must stay under 16 characters and must not start with "vnet".
  tap="tap$(echo -n "$name" | md5sum | cut -c1-8)"
  if ! virsh -c qemu:///system dominfo "$name" >/dev/null 2>&1; then
    virsh -c qemu:///system define /dev/stdin >/dev/null <<XML
<domain type='qemu'>
  <name>$name</name>
  <memory unit='MiB'>32</memory>
  <vcpu>$vcpus</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
      <source file='$img'/><target dev='vda' bus='virtio'/></disk>
    <interface type='ethernet'><target dev='$tap' managed='yes'/><model type='virtio'/></interface>
    <memballoon model='virtio'/>
  </devices>
</domain>
XML
  fi
  state=$(virsh -c qemu:///system domstate "$name")
  case "$state" in
    running) ;;
    paused) virsh -c qemu:///system resume "$name" >/dev/null ;;
    *) virsh -c qemu:///system start "$name" >/dev/null ;;
  esac
done
echo "testbed: libvirtd up, guests ${prefix}1..${prefix}${count} running"
