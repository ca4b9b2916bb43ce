package e2e

import (
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vadvisor/vadvisor/internal/testbed"
)

// guestInfo is `virsh guestinfo` of one domain, field -> value.
func guestInfo(t *testing.T, name string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, line := range strings.Split(testbed.Virsh(t, "guestinfo", "--user", "--os", "--hostname", "--filesystem", name), "\n") {
		field, v, ok := strings.Cut(line, ":")
		if ok {
			m[strings.TrimSpace(field)] = strings.TrimSpace(v)
		}
	}
	return m
}

// waitAgentUp scrapes until libvirt_domain_guest_agent_up of each domain
// is want, and returns that scrape.
func waitAgentUp(t *testing.T, p *Process, want string, timeout time.Duration, names ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		body, _ := scrape(t, p)
		all := true
		for _, name := range names {
			all = all && value(body, `libvirt_domain_guest_agent_up{domain="`+name+`"}`) == want
		}
		if all {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("libvirt_domain_guest_agent_up of %v did not become %s within %s:\n%s", names, want, timeout, metricLines(body, "libvirt_domain_guest_"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The guest-agent collector reports what `virsh guestinfo` shows, over
// its own read-write connection, for the test bed's real agents.
func TestGuestAgentMatchesVirsh(t *testing.T) {
	names := linuxGuests(t)
	p := Start(t, "--collector.guest-agent", "--collector.guest-agent.interval=1s")
	body := waitAgentUp(t, p, "1", 30*time.Second, names...)
	got := series(body)
	lint := exec.Command("promtool", "check", "metrics")
	lint.Stdin = strings.NewReader(body)
	if out, err := lint.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	for _, name := range names {
		virsh := guestInfo(t, name)
		info := fmt.Sprintf(`libvirt_domain_guest_info{domain="%s",hostname="%s",kernel_release="%s",os_id="%s",os_version_id="%s"}`,
			name, virsh["hostname"], virsh["os.kernel-release"], virsh["os.id"], virsh["os.version-id"])
		if got[info] != "1" || virsh["hostname"] != name {
			t.Errorf("%s: no series %s = 1 (virsh: %v):\n%s", name, info, virsh, metricLines(body, "libvirt_domain_guest_info"))
		}
		if users := got[`libvirt_domain_guest_users{domain="`+name+`"}`]; users != virsh["user.count"] {
			t.Errorf("%s: users %q, virsh says %q", name, users, virsh["user.count"])
		}
		n, _ := strconv.Atoi(virsh["fs.count"])
		if n == 0 {
			t.Fatalf("%s: virsh guestinfo shows no filesystem: %v", name, virsh)
		}
		for i := range n {
			fs := fmt.Sprintf("fs.%d.", i)
			labels := fmt.Sprintf(`{device="%s",domain="%s",fstype="%s",mountpoint="%s"}`,
				virsh[fs+"name"], name, virsh[fs+"fstype"], virsh[fs+"mountpoint"])
			size, err1 := strconv.ParseFloat(got["libvirt_domain_guest_filesystem_size_bytes"+labels], 64)
			vsize, err2 := strconv.ParseFloat(virsh[fs+"total-bytes"], 64)
			if err1 != nil || err2 != nil || size != vsize {
				t.Errorf("%s: filesystem size %s = %v, virsh says %v", name, labels, size, vsize)
			}
			// The guest writes to its disk all the time: used bytes move
			// between the two readings, but not by much.
			used, err1 := strconv.ParseFloat(got["libvirt_domain_guest_filesystem_used_bytes"+labels], 64)
			vused, err2 := strconv.ParseFloat(virsh[fs+"used-bytes"], 64)
			if err1 != nil || err2 != nil || used <= 0 || math.Abs(used-vused) > size/10 {
				t.Errorf("%s: filesystem used %s = %v, virsh says %v of %v", name, labels, used, vused, size)
			}
		}
	}
	// Only running domains have an agent to ask: the no-OS guests, which
	// have none, report down, and nothing else shows for them.
	for _, name := range testbed.Guests(t, "vadv-ga", 1) {
		body := waitAgentUp(t, p, "0", 30*time.Second, name)
		if lines := metricLines(body, "libvirt_domain_guest_info{domain=\""+name); len(lines) > 0 {
			t.Errorf("%s has no agent, yet: %v", name, lines)
		}
	}
}

// An agent that stops answering is reported down within its timeout and
// the interval, never delays a scrape, costs the other guests nothing, and
// is read again once it answers.
func TestGuestAgentHung(t *testing.T) {
	names := linuxGuests(t)
	hung, healthy := names[1], names[0]
	const stopped = 20 * time.Second
	p := Start(t, "--collector.guest-agent", "--collector.guest-agent.interval=1s", "--collector.guest-agent.timeout=3s")
	waitAgentUp(t, p, "1", 30*time.Second, names...)

	// The agent stops itself: guest-exec runs a shell that sends qemu-ga
	// SIGSTOP, and SIGCONT after a while.
	cmd := fmt.Sprintf(`{"execute":"guest-exec","arguments":{"path":"/bin/sh","arg":["-c","sleep 1; kill -STOP $(pidof qemu-ga); sleep %d; kill -CONT $(pidof qemu-ga)"]}}`, int(stopped/time.Second))
	testbed.Virsh(t, "qemu-agent-command", hung, cmd)
	stoppedAt := time.Now()

	deadline := stoppedAt.Add(stopped)
	var down bool
	for time.Now().Before(deadline) {
		body, took := scrape(t, p)
		if took > 2*time.Second {
			t.Errorf("a scrape took %s while %s's agent hangs", took, hung)
		}
		if value(body, `libvirt_domain_guest_agent_up{domain="`+healthy+`"}`) != "1" {
			t.Errorf("%s's agent reported down while only %s's hangs:\n%s", healthy, hung, metricLines(body, "libvirt_domain_guest_agent_up"))
		}
		if !down && value(body, `libvirt_domain_guest_agent_up{domain="`+hung+`"}`) == "0" {
			down = true
			t.Logf("%s's agent reported down %s after it stopped", hung, time.Since(stoppedAt).Round(100*time.Millisecond))
		}
		time.Sleep(250 * time.Millisecond)
	}
	if !down {
		t.Fatalf("%s's agent was never reported down in the %s it was stopped", hung, stopped)
	}
	waitAgentUp(t, p, "1", 40*time.Second, hung)
	t.Logf("%s's agent read again %s after it stopped", hung, time.Since(stoppedAt).Round(100*time.Millisecond))
}

// On a read-only connection libvirt refuses guest-agent calls: every agent
// reports down, and the log says what to change.
func TestGuestAgentOnReadOnlySocket(t *testing.T) {
	names := linuxGuests(t)
	p := Start(t, "--collector.guest-agent", "--collector.guest-agent.interval=1s", "--collector.guest-agent.libvirt-uri=qemu:///system")
	waitAgentUp(t, p, "0", 30*time.Second, names...)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Log(), "libvirt refuses guest-agent calls on this connection") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning about the read-only connection in the log:\n%s", p.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := strings.Count(p.Log(), "libvirt refuses guest-agent calls"); n != 1 {
		t.Errorf("the warning came %d times, want once per outage", n)
	}
}
