package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vadvisor/vadvisor/internal/testbed"
)

// TestHostileClients: absurd paths, huge headers, many concurrent
// connections and slowloris clients get no 5xx (but the documented 503 of
// --web.max-requests), do not crash vadvisor, and leave its memory bounded;
// ordinary scrapes keep working throughout.
func TestHostileClients(t *testing.T) {
	p := Start(t, "--libvirt.uri="+testbed.TestNode(t, "hostile", 20), "--web.max-requests=8")
	waitUp(t, p, "1")
	rssBefore := rss(t, p)

	t.Run("absurd paths", func(t *testing.T) {
		for _, path := range []string{
			"/" + strings.Repeat("a", 60000), "/metrics/../../../etc/passwd", "/%00", "/metrics%2f..",
			"/api/v1.0/stats/" + strings.Repeat("0", 5000), "/api/v1.0/stats/../../metrics", "//metrics",
			"/api/v1.0/specs/%ff%fe", "/api/v1.0/events?" + strings.Repeat("x=1&", 5000), "/-/healthy?%zz",
		} {
			status := rawRequest(t, p.Addr, "GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			if status >= 500 || status == 0 {
				t.Errorf("GET %.80s: status %d", path, status)
			}
		}
	})

	t.Run("huge headers", func(t *testing.T) {
		for _, size := range []int{8 << 10, 900 << 10, 4 << 20} {
			req := "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("h", size) + "\r\nConnection: close\r\n\r\n"
			status := rawRequest(t, p.Addr, req)
			if status >= 500 {
				t.Errorf("a %d-byte header: status %d", size, status)
			}
		}
		// Many headers, and a scrape timeout header that is not a number.
		var b strings.Builder
		for i := range 2000 {
			fmt.Fprintf(&b, "X-H%d: v\r\n", i)
		}
		if status := rawRequest(t, p.Addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n"+b.String()+"Connection: close\r\n\r\n"); status >= 500 {
			t.Errorf("2000 headers: status %d", status)
		}
		for _, v := range []string{"NaN", "-1", "1e308", "0", "abc", "Inf"} {
			if status := rawRequest(t, p.Addr, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Prometheus-Scrape-Timeout-Seconds: "+v+"\r\nConnection: close\r\n\r\n"); status != 200 {
				t.Errorf("X-Prometheus-Scrape-Timeout-Seconds: %s: status %d", v, status)
			}
		}
	})

	t.Run("many concurrent clients", func(t *testing.T) {
		var wg sync.WaitGroup
		statuses := make(chan int, 400)
		for i := range 400 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				path := []string{"/metrics", "/api/v1.0/stats", "/-/healthy", "/"}[i%4]
				resp, err := http.Get(p.URL(path))
				if err != nil {
					statuses <- 0
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				statuses <- resp.StatusCode
			}()
		}
		wg.Wait()
		close(statuses)
		counts := map[int]int{}
		for s := range statuses {
			counts[s]++
		}
		t.Logf("statuses of 400 concurrent requests: %v", counts)
		for s, n := range counts {
			// 503 is --web.max-requests turning scrapes away, by design.
			if s == 0 || (s >= 500 && s != http.StatusServiceUnavailable) {
				t.Errorf("%d requests got status %d", n, s)
			}
		}
	})

	t.Run("slowloris", func(t *testing.T) {
		// 200 clients that send headers a byte at a time and never finish:
		// the server drops them after its read-header timeout, and serves
		// others meanwhile.
		var conns []net.Conn
		for range 200 {
			c, err := net.Dial("tcp", p.Addr)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = c.Write([]byte("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: "))
			conns = append(conns, c)
		}
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		if _, took := scrape(t, p); took > 5*time.Second {
			t.Errorf("a scrape among 200 slow clients took %s", took)
		}
		if status, _ := p.Get(t, "/-/healthy"); status != 200 {
			t.Errorf("/-/healthy among slow clients: %d", status)
		}
		// After the read-header timeout (10s) the slow connections are closed.
		time.Sleep(11 * time.Second)
		closed := 0
		for _, c := range conns {
			_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
				closed++
			} else if err == nil { // an error response, then close
				closed++
			}
		}
		if closed < len(conns) {
			t.Errorf("%d of %d slowloris connections still open after the read-header timeout", len(conns)-closed, len(conns))
		}
	})

	p.MustRun(t)
	if status, _ := p.Get(t, "/metrics"); status != 200 {
		t.Errorf("/metrics after the hostile clients: %d", status)
	}
	rssAfter := rss(t, p)
	t.Logf("RSS %d MiB before, %d MiB after", rssBefore>>10, rssAfter>>10)
	if rssAfter > rssBefore+200<<10 {
		t.Errorf("RSS grew from %d KiB to %d KiB", rssBefore, rssAfter)
	}
}

// rawRequest writes a raw HTTP request and returns the response status (0
// if the server closed without one).
func rawRequest(t *testing.T, addr, req string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	go func() { _, _ = c.Write([]byte(req)) }() // the server may answer before reading it all
	line, err := readLine(c)
	if err != nil {
		return 0
	}
	fields := strings.Fields(line)
	if len(fields) < 2 {
		return 0
	}
	status, _ := strconv.Atoi(fields[1])
	return status
}

func readLine(c net.Conn) (string, error) {
	var b []byte
	buf := make([]byte, 1)
	for len(b) < 1000 {
		if _, err := c.Read(buf); err != nil {
			return string(b), err
		}
		if buf[0] == '\n' {
			break
		}
		b = append(b, buf[0])
	}
	return strings.TrimSpace(string(b)), nil
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// rss is the process's resident memory in KiB.
func rss(t *testing.T, p *Process) int {
	data := readFile(t, fmt.Sprintf("/proc/%d/status", p.Pid()))
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return kib
		}
	}
	return 0
}

// TestThousandsOfStreamClients opens 2000 event streams at once: all are
// served, scrapes go on, memory stays bounded by the per-client buffers,
// and every stream ends (goroutines back to where they were) when its
// client goes.
func TestThousandsOfStreamClients(t *testing.T) {
	p := Start(t, "--libvirt.uri="+testbed.TestNode(t, "streams", 5))
	waitUp(t, p, "1")
	body, _ := scrape(t, p)
	goroutinesBefore, _ := strconv.Atoi(value(body, "go_goroutines"))
	const clients = 2000
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range clients {
		c, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatalf("stream client %d: %v", i, err)
		}
		conns = append(conns, c)
		if _, err := c.Write([]byte("GET /api/v1.0/events?stream=true HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatalf("stream client %d: %v", i, err)
		}
	}
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if line, err := readLine(c); err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
			t.Fatalf("stream client %d: %q %v", i, line, err)
		}
	}
	body, took := scrape(t, p)
	if got := value(body, "vadvisor_events_stream_clients"); got != strconv.Itoa(clients) {
		t.Errorf("vadvisor_events_stream_clients = %s with %d streams open", got, clients)
	}
	if took > 5*time.Second {
		t.Errorf("a scrape among %d open streams took %s", clients, took)
	}
	mib := rss(t, p) >> 10
	t.Logf("RSS with %d streams open: %d MiB (race build; about 60 MiB without -race)", clients, mib)
	if mib > 1536 {
		t.Errorf("RSS %d MiB with %d streams open", mib, clients)
	}
	// Streams end when their clients go.
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	deadline := time.Now().Add(10 * time.Second)
	for {
		body, _ := scrape(t, p)
		if value(body, "vadvisor_events_stream_clients") == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("streams still open 10s after their clients left: %s", value(body, "vadvisor_events_stream_clients"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	body, _ = scrape(t, p)
	if after, _ := strconv.Atoi(value(body, "go_goroutines")); after > goroutinesBefore+10 {
		t.Errorf("goroutines: %d before the streams, %d after they ended", goroutinesBefore, after)
	}
}
