package packaging

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vadvisor/vadvisor/internal/testbed"
)

// startGuest makes sure one real guest runs and returns its name, and that
// libvirtd serves non-root clients on its read-only socket, as the
// packages' users are.
func startGuest(t *testing.T) string {
	t.Helper()
	guest := testbed.Guests(t, guests, 1)[0]
	probe := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "virsh", "-r", "-c", "qemu:///system", "version")
	if out, err := probe.CombinedOutput(); err != nil {
		t.Fatalf("libvirtd refuses the user nobody on its read-only socket: %v\n%s"+
			"(\"Unable to get system bus connection\": libvirtd started before D-Bus and polkit; restart it, scripts/testbed.sh starts them first)", err, out)
	}
	return guest
}

// scrapeGuest waits until addr's /metrics lists guest with libvirt up.
func scrapeGuest(t *testing.T, addr, guest string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		resp, err := client.Get("http://" + addr + "/metrics")
		if err != nil {
			last = err.Error()
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		last = string(body)
		if strings.Contains(last, `libvirt_domain_info{domain="`+guest+`"`) && strings.Contains(last, "\nlibvirt_up 1\n") {
			return
		}
	}
	t.Fatalf("http://%s/metrics never listed %s with libvirt_up 1 in 30s; last answer:\n%.2000s", addr, guest, last)
}

// unitValue is the value of key in a unit file's text.
func unitValue(t *testing.T, unit, key string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + key + `=(.*)$`).FindStringSubmatch(unit)
	if m == nil {
		t.Fatalf("the unit has no %s=", key)
	}
	return m[1]
}

// serveAsUnit starts vadvisor as the installed service unit would: its
// ExecStart, with $VADVISOR_ARGS from its EnvironmentFile, as its User and
// Group, on a socket handed over as its socket unit does (on a free port
// instead of 8181). systemd itself does not run here (no systemd as PID 1),
// so the sandboxing options are not applied. It waits for guest's series.
func serveAsUnit(t *testing.T, guest, unitPath string) {
	t.Helper()
	data, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	unit := string(data)
	execStart := unitValue(t, unit, "ExecStart")
	envFile := strings.TrimPrefix(unitValue(t, unit, "EnvironmentFile"), "-")
	userName, group := unitValue(t, unit, "User"), unitValue(t, unit, "Group")
	if !strings.Contains(execStart, "--web.systemd-socket") || !strings.Contains(execStart, "$VADVISOR_ARGS") {
		t.Fatalf("ExecStart=%s: want --web.systemd-socket and $VADVISOR_ARGS", execStart)
	}
	u, err := user.Lookup(userName)
	if err != nil {
		t.Fatalf("the unit's User=%s: %v", userName, err)
	}
	addr := testbed.FreeAddr(t)
	// systemd splits an unquoted $VAR on white space without globbing: so
	// does sh with set -f. setpriv execs, keeping the pid LISTEN_PID names.
	script := `set -f; if [ -r "$1" ]; then . "$1"; fi; exec systemd-socket-activate --listen="$2" setpriv --reuid="$3" --regid="$4" --init-groups -- ` + execStart
	cmd := exec.Command("sh", "-c", script, "sh", envFile, addr, userName, group)
	p := testbed.Launch(t, cmd)
	// As prerm stops the service: a running process would keep postrm from
	// removing its user.
	defer p.Stop(t)
	scrapeGuest(t, addr, guest)
	if !strings.Contains(p.Log(), "systemd activated listeners") {
		t.Errorf("vadvisor did not serve on the activated socket:\n%s", p.Log())
	}
	// sh, systemd-socket-activate and setpriv each exec the next.
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	uid := regexp.MustCompile(`(?m)^Uid:\s+(\d+)`).FindStringSubmatch(string(status))
	if uid == nil || uid[1] != u.Uid {
		t.Errorf("vadvisor runs as uid %v, want %s's %s", uid, userName, u.Uid)
	}
}
