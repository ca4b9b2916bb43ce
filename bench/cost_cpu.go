package main

// CPU accounting from /proc: libvirtd, the benchmark guests' QEMU
// processes and the client, per second.

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// usage is CPU per second: libvirtd's, the guests' QEMU processes', and
// the client's.
type usage struct{ libvirtd, qemu, client time.Duration }

func (u usage) total() time.Duration { return u.libvirtd + u.qemu + u.client }

func (u usage) minus(v usage) usage {
	return usage{u.libvirtd - v.libvirtd, u.qemu - v.qemu, u.client - v.client}
}

func (u usage) mean(v usage) usage {
	return usage{(u.libvirtd + v.libvirtd) / 2, (u.qemu + v.qemu) / 2, (u.client + v.client) / 2}
}

// subjectWindow runs s for one window and returns the CPU per second of
// libvirtd, QEMU and s's process.
func subjectWindow(s costSubject) (usage, error) {
	pid, stop, err := s.start()
	if err != nil {
		return usage{}, err
	}
	defer stop()
	return hostCPUPerSecond(pid), nil
}

func idleWindow() usage { return hostCPUPerSecond(0) }

// hostCPUPerSecond measures libvirtd, the guests' QEMU processes and
// client (if not 0) over one window.
func hostCPUPerSecond(client int) usage {
	daemon, guests := libvirtdPID(), qemuPIDs()
	sample := func() (u usage) {
		for _, pid := range guests {
			u.qemu += procCPU(pid)
		}
		u.libvirtd = procCPU(daemon)
		if client != 0 {
			u.client = procCPU(client)
		}
		return u
	}
	start, before := time.Now(), sample()
	time.Sleep(*costWindow)
	used, took := sample().minus(before), time.Since(start).Seconds()
	per := func(d time.Duration) time.Duration { return time.Duration(float64(d) / took) }
	return usage{per(used.libvirtd), per(used.qemu), per(used.client)}
}

// qemuPIDs are the QEMU processes of the benchmark's guests (others, a
// test's, may come and go on a shared host).
func qemuPIDs() []int {
	var pids []int
	matches, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, m := range matches {
		cmdline, err := os.ReadFile(m)
		if err != nil || !strings.HasPrefix(string(cmdline), "/usr/bin/qemu-system") || !strings.Contains(string(cmdline), "guest="+guestPrefix) {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(m, "/proc/%d/cmdline", &pid); err != nil {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

func runningGuests() int { return len(qemuPIDs()) }

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
