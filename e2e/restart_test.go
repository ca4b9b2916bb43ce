package e2e

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vadvisor/vadvisor/internal/testbed"
)

// restartPrefix names the guest whose events the restart tests cause.
const restartPrefix = "vadv-r"

// apiEvent is a line of /api/v1.0/events.
type apiEvent struct {
	DomainName string    `json:"domain_name"`
	Timestamp  time.Time `json:"timestamp"`
	EventType  string    `json:"event_type"`
	Reason     string    `json:"reason"`
	ID         uint64    `json:"id"`
}

// guestEvents is the event history of guest.
func guestEvents(t *testing.T, p *Process, guest string) []apiEvent {
	t.Helper()
	status, body := p.Get(t, "/api/v1.0/events?all_events=true&max_events=100000")
	if status != 200 {
		t.Fatalf("GET /api/v1.0/events: %d %s", status, body)
	}
	var out []apiEvent
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		if line == "" {
			continue
		}
		var e apiEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("event line %q: %v", line, err)
		}
		if e.DomainName == guest {
			out = append(out, e)
		}
	}
	return out
}

// pauseAndResume suspends and resumes guest once vadvisor follows the
// events, and returns guest's events once these two are the last (unlike
// suspendResume, it does not take a loaded Resumed event for the new one).
func pauseAndResume(t *testing.T, p *Process, guest string) []apiEvent {
	t.Helper()
	waitSubscribed(t, p)
	before := len(guestEvents(t, p, guest))
	testbed.Virsh(t, "suspend", guest)
	testbed.Virsh(t, "resume", guest)
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs := guestEvents(t, p, guest)
		if n := len(evs); n >= before+2 && evs[n-2].EventType == "Suspended" && evs[n-1].EventType == "Resumed" {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Suspended and Resumed events of %s within 10s: %+v", guest, evs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop stops p with SIGTERM and fails unless it exited cleanly, having
// saved the events.
func stop(t *testing.T, p *Process) {
	t.Helper()
	p.Stop(t)
	if err := p.ExitErr(); err != nil {
		t.Fatalf("vadvisor exited with %v:\n%s", err, p.Log())
	}
	if !strings.Contains(p.Log(), `msg="saved the state" component=storage state=events`) {
		t.Fatalf("vadvisor did not save the events on SIGTERM:\n%s", p.Log())
	}
}

// The events from before a restart (SIGTERM, start on the same
// --storage.path) are served after it, with the same IDs, and new events
// get greater IDs, so that a client resuming a stream misses nothing.
func TestRestartKeepsEvents(t *testing.T) {
	guest := testbed.Guests(t, restartPrefix, 1)[0]
	t.Cleanup(func() { _ = testbed.TryVirsh("resume", guest) })
	dir := t.TempDir()

	first := Start(t, "--storage.path="+dir)
	before := pauseAndResume(t, first, guest)
	stop(t, first)

	second := Start(t, "--storage.path="+dir)
	if after := guestEvents(t, second, guest); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("after the restart, %s's events are\n  %+v\nwant\n  %+v", guest, after, before)
	}
	if !strings.Contains(second.Log(), `msg="loaded the saved state" component=storage state=events`) {
		t.Errorf("the load is not logged:\n%s", second.Log())
	}
	newer := pauseAndResume(t, second, guest)
	last := before[len(before)-1].ID
	for _, e := range newer[len(before):] {
		if e.ID <= last {
			t.Errorf("new event %+v has an ID not above the last one before the restart, %d", e, last)
		}
	}
	status, body := second.Get(t, fmt.Sprintf("/api/v1.0/events?all_events=true&stream=false&max_events=100000&start_time=%s", before[0].Timestamp.Format(time.RFC3339Nano)))
	if status != 200 || !strings.Contains(body, fmt.Sprintf(`"id":%d`, before[0].ID)) {
		t.Errorf("a time range query does not find the loaded events: %d\n%s", status, body)
	}
}

// A truncated file, garbage and a file from another host are each logged
// and ignored: vadvisor starts, serves, and serves none of their events.
func TestRestartIgnoresBadStateFiles(t *testing.T) {
	guest := testbed.Guests(t, restartPrefix, 1)[0]
	t.Cleanup(func() { _ = testbed.TryVirsh("resume", guest) })

	// This host's file, with events.
	here := t.TempDir()
	p := Start(t, "--storage.path="+here)
	hereEvents := pauseAndResume(t, p, guest)
	stop(t, p)
	good := readFile(t, filepath.Join(here, "events.vadv"))

	// Another host's: the same vadvisor, seeing another machine ID.
	elsewhere := t.TempDir()
	machineID := filepath.Join(t.TempDir(), "machine-id")
	if err := os.WriteFile(machineID, []byte(strings.Repeat("0f", 16)+"\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	p = StartCmd(t, func(addr string) *exec.Cmd {
		script := `set -e
mount --bind "$1" /etc/machine-id
shift
exec "$@"`
		return exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", script, "sh", machineID},
			Command(binary, addr, "--storage.path="+elsewhere).Args...)...)
	})
	otherEvents := pauseAndResume(t, p, guest)
	stop(t, p)

	garbage := make([]byte, 4096)
	rand.Read(garbage)
	for _, tc := range []struct {
		name    string
		content []byte
		gone    []apiEvent
		want    string
	}{
		{"truncated", good[:len(good)-10], hereEvents, "checksum mismatch"},
		{"garbage", garbage, nil, "not a vAdvisor state file"},
		{"another host", readFile(t, filepath.Join(elsewhere, "events.vadv")), otherEvents, "written on another host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "events.vadv"), tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			p := Start(t, "--storage.path="+dir)
			for _, path := range []string{"/-/ready", "/api/v1.0/events?all_events=true"} {
				if status, body := p.Get(t, path); status != 200 {
					t.Errorf("GET %s: %d %s", path, status, body)
				}
			}
			served := map[uint64]bool{}
			for _, e := range guestEvents(t, p, guest) {
				served[e.ID] = true
			}
			for _, e := range tc.gone {
				if served[e.ID] {
					t.Errorf("event %+v of the ignored file is served", e)
				}
			}
			log := p.Log()
			if !regexp.MustCompile(`level=WARN .*msg="ignoring the saved state, starting empty" component=storage state=events .*` + tc.want).MatchString(log) {
				t.Errorf("no warning that says %q:\n%s", tc.want, log)
			}
		})
	}
}

// historySamples is the raw JSON of uuid's samples from query (none
// before the first).
func historySamples(t *testing.T, p *Process, uuid, query string) []json.RawMessage {
	t.Helper()
	status, body := p.Get(t, "/api/v1.0/stats/"+uuid+query)
	if status == 404 {
		return nil
	}
	var out map[string][]json.RawMessage
	if status != 200 || json.Unmarshal([]byte(body), &out) != nil {
		t.Fatalf("GET /api/v1.0/stats/%s%s: %d %s", uuid, query, status, body)
	}
	return out[uuid]
}

// sampleTime is a sample's timestamp.
func sampleTime(t *testing.T, raw json.RawMessage) time.Time {
	t.Helper()
	var s struct {
		Timestamp time.Time `json:"timestamp"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	return s.Timestamp
}

// The history from before a restart is served after it, sample for
// sample, and the sampler goes on after it; with a retention shorter than
// the downtime, nothing of it comes back.
func TestRestartKeepsHistory(t *testing.T) {
	guest := testbed.Guests(t, restartPrefix, 1)[0]
	uuid := testbed.Virsh(t, "domuuid", guest)
	dir := t.TempDir()
	args := []string{"--storage.path=" + dir, "--history.interval=250ms"}

	first := Start(t, args...)
	var before []json.RawMessage
	for deadline := time.Now().Add(30 * time.Second); len(before) < 8; time.Sleep(250 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d samples of %s after 30 s", len(before), guest)
		}
		before = historySamples(t, first, uuid, "")
	}
	stop(t, first)
	if !strings.Contains(first.Log(), `msg="saved the state" component=storage state=history`) {
		t.Fatalf("the history was not saved on SIGTERM:\n%s", first.Log())
	}
	from := "?start_time=" + sampleTime(t, before[0]).Format(time.RFC3339Nano)

	second := Start(t, args...)
	if !strings.Contains(second.Log(), `msg="loaded the saved state" component=storage state=history`) {
		t.Errorf("the history's load is not logged:\n%s", second.Log())
	}
	after := historySamples(t, second, uuid, from)
	if len(after) < len(before) {
		t.Fatalf("after the restart %d samples from the first one, want the %d from before", len(after), len(before))
	}
	for i := range before {
		if string(after[i]) != string(before[i]) {
			t.Fatalf("sample %d after the restart:\n  %s\nbefore:\n  %s", i, after[i], before[i])
		}
	}
	// New samples follow the loaded ones.
	last := sampleTime(t, before[len(before)-1])
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		all := historySamples(t, second, uuid, from)
		if n := len(all); n > len(before) {
			for i := len(before); i < n; i++ {
				if at := sampleTime(t, all[i]); !at.After(last) {
					t.Fatalf("sample %d at %v, not after the one before at %v", i, at, last)
				} else {
					last = at
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no new sample after the restart within 30 s")
		}
	}
	stop(t, second)

	// Saved more than a second ago: a 1 s retention keeps none of it.
	time.Sleep(1100 * time.Millisecond) // the downtime, not a wait for a condition
	third := Start(t, "--storage.path="+dir, "--history.interval=250ms", "--history.retention=1s")
	if got := historySamples(t, third, uuid, from); len(got) > 0 && !sampleTime(t, got[0]).After(last) {
		t.Errorf("with a 1 s retention, a sample from before the restart is served: %s", got[0])
	}
}
