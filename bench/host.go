package main

// The benchmark's own calls to libvirt, to QEMU processes and to an
// exporter's /metrics, shared by its parts.

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
)

func dialLibvirt(socket, uri string) (*libvirt.Libvirt, error) {
	l := libvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(socket), dialers.WithLocalTimeout(5*time.Second)))
	if err := l.ConnectToURI(libvirt.ConnectURI(uri)); err != nil {
		return nil, fmt.Errorf("connecting to %s through %s: %w", uri, socket, err)
	}
	return l, nil
}

func defineEventDomain(l *libvirt.Libvirt, uuid string) (libvirt.Domain, error) {
	xml := fmt.Sprintf(`<domain type='qemu'><name>%s</name><uuid>%s</uuid><memory unit='MiB'>32</memory><vcpu>1</vcpu>`+
		`<os><type arch='x86_64' machine='pc'>hvm</type></os></domain>`, eventDomain, uuid)
	dom, err := l.DomainDefineXML(xml)
	if err != nil {
		return dom, fmt.Errorf("defining %s: %w", eventDomain, err)
	}
	return dom, nil
}

func defineUndefine(l *libvirt.Libvirt, uuid string) error {
	dom, err := defineEventDomain(l, uuid)
	if err != nil {
		return err
	}
	if err := l.DomainUndefine(dom); err != nil {
		return fmt.Errorf("undefining %s: %w", eventDomain, err)
	}
	return nil
}

// undefineLeftover removes the event domain should an earlier run have
// left it defined.
func undefineLeftover(l *libvirt.Libvirt) error {
	dom, err := l.DomainLookupByName(eventDomain)
	if err != nil {
		return nil // not defined
	}
	if err := l.DomainUndefine(dom); err != nil {
		return fmt.Errorf("undefining a leftover %s: %w", eventDomain, err)
	}
	return nil
}

func uuidString(u libvirt.UUID) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// qemuPID is the pid of a running guest's QEMU, from libvirt's pid file.
func qemuPID(name string) (int, error) {
	data, err := os.ReadFile("/run/libvirt/qemu/" + name + ".pid")
	if err != nil {
		return 0, fmt.Errorf("%s does not run: %w", name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, fmt.Errorf("pid file of %s: %w", name, err)
	}
	return pid, nil
}

// hang stops a process (SIGSTOP) and returns its release (SIGCONT), which
// may be called any number of times. An interrupt of the benchmark releases
// it too before the benchmark dies.
func hang(pid int) (release func()) {
	var once sync.Once
	sigs := make(chan os.Signal, 1)
	done := make(chan struct{})
	release = func() {
		once.Do(func() {
			syscall.Kill(pid, syscall.SIGCONT)
			signal.Stop(sigs)
			close(done)
		})
	}
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		select {
		case sig := <-sigs:
			syscall.Kill(pid, syscall.SIGCONT)
			fmt.Fprintf(os.Stderr, "bench: %v: released the hung guest (SIGCONT to %d)\n", sig, pid)
			os.Exit(1)
		case <-done:
		}
	}()
	syscall.Kill(pid, syscall.SIGSTOP)
	return release
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)`)

// scrapeValues reads the given series (name with labels, as written) from
// one scrape; a series not found is left out.
func scrapeValues(url string, names ...string) map[string]string {
	vals := map[string]string{}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return vals
	}
	defer resp.Body.Close()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if m := sampleLine.FindStringSubmatch(sc.Text()); m != nil && want[m[1]] {
			vals[m[1]] = m[2]
		}
	}
	return vals
}

// waitMetric waits until a series of url has the value want.
func waitMetric(url, name, want string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		if scrapeValues(url, name)[name] == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not become %s within %s", name, want, d)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
