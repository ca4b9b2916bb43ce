package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/digitalocean/go-libvirt"

	"github.com/vadvisor/vadvisor/libvirtconn"
)

// The job part: the job collector makes one DomainGetJobStats per active
// domain, on at most libvirtconn.Workers goroutines. On a 1000-domain
// test-driver node every scrape must come out complete (the collector's
// success 1, one job series per active domain), also with a small
// --libvirt.timeout, as the wait for a request slot is not charged to a
// call's own timeout. With -job-before, the vadvisor of an older revision is
// scraped the same way for contrast.

var (
	jobScrapes = flag.Int("job-scrapes", 20, "job part: measured scrapes per vadvisor run")
	jobTimeout = flag.Duration("job-timeout", 2*time.Second, "job part: the smaller --libvirt.timeout of the later runs (vadvisor must still connect within it)")
	jobDelay   = flag.Duration("job-delay", 10*time.Millisecond, "job part: in the last run, how late each job call is answered (when the proxy is used)")
	jobBefore  = flag.String("job-before", "", "job part: also scrape the vadvisor of this git revision, e.g. c2a61ff^ (before the bounded fan-outs)")
)

type jobRun struct {
	label, timeout string
	jobOn          bool
	delay          time.Duration
	failed         string

	scrapes, complete    int
	minSeries, maxSeries int
	succeeded            int
	times, jobTimes      []time.Duration
	logErrs              int    // "collector failed" lines of the job collector in vadvisor's debug log
	timeoutErrs          int    // of which timeouts
	lastErr              string // the last of them
}

type jobResult struct {
	failed     string
	via        string // how vadvisor reaches libvirtd
	total      int    // domains of the node
	active     int
	raw        time.Duration // median of the raw fan-out
	open       time.Duration // the benchmark's own connect to the node
	runs       []*jobRun
	loadStart  string
	loadEnd    string
	beforeRev  string
	beforeNote string // its commit: short hash and subject
	beforeErr  string // why it could not be built
}

func jobPart(root, dir, bin, nodeURI string) *jobResult {
	r := &jobResult{loadStart: loadAvg()}
	if err := r.measure(root, dir, bin, nodeURI); err != nil {
		r.failed = err.Error()
	}
	r.loadEnd = loadAvg()
	return r
}

// measure counts the node's domains, finds how vadvisor can reach it,
// times the floor and makes the runs.
func (r *jobResult) measure(root, dir, bin, nodeURI string) error {
	node := strings.TrimPrefix(nodeURI, "test+unix://")
	start := time.Now()
	direct, err := dialLibvirt(libvirtconn.ReadOnlySocket, "test://"+node)
	if err != nil {
		return err
	}
	r.open = time.Since(start)
	defer direct.Disconnect()
	all, _, err := direct.ConnectListAllDomains(1, 0)
	if err != nil {
		return err
	}
	active, _, err := direct.ConnectListAllDomains(1, libvirt.ConnectListDomainsActive)
	if err != nil {
		return err
	}
	r.total, r.active = len(all), len(active)
	if r.active == 0 {
		return errors.New("no active domain on the test node")
	}

	uri, socket, proxy, err := r.route(direct, active[0], dir, nodeURI)
	if err != nil {
		return err
	}
	if proxy != nil {
		defer proxy.Close()
	}
	if r.raw, err = rawJobFanOut(socket, "test://"+node, active); err != nil {
		return err
	}
	r.scrapeRuns(root, dir, bin, uri, proxy)
	return nil
}

// route is how vadvisor reaches the node: directly if the test driver
// answers job calls, else (libvirt 9.0 does not) through a jobProxy, which
// the caller closes.
func (r *jobResult) route(direct *libvirt.Libvirt, dom libvirt.Domain, dir, nodeURI string) (uri, socket string, proxy *jobProxy, err error) {
	_, _, jobErr := direct.DomainGetJobStats(dom, 0)
	if jobErr == nil {
		r.via = "directly: the test driver answers DomainGetJobStats"
		return nodeURI, libvirtconn.ReadOnlySocket, nil, nil
	}
	if !strings.Contains(jobErr.Error(), "not supported") {
		return "", "", nil, fmt.Errorf("DomainGetJobStats on the test node: %w", jobErr)
	}
	proxy, err = startJobProxy(filepath.Join(dir, "job-proxy.sock"), libvirtconn.ReadOnlySocket)
	if err != nil {
		return "", "", nil, err
	}
	r.via = fmt.Sprintf("through the benchmark's RPC proxy: libvirtd's test driver answers DomainGetJobStats with %q, "+
		"so the proxy turns each into a DomainGetState of the same domain and its answer into that of a domain with no job "+
		"(every call is still a round trip through libvirtd)", jobErr.Error())
	return nodeURI + "?socket=" + proxy.path, proxy.path, proxy, nil
}

// rawJobFanOut is the floor: the median time of vadvisor's job calls made
// by the benchmark itself on Workers goroutines over one connection (the
// first two of seven rounds are a warm-up).
func rawJobFanOut(socket, uri string, active []libvirt.Domain) (time.Duration, error) {
	l, err := dialLibvirt(socket, uri)
	if err != nil {
		return 0, err
	}
	defer l.Disconnect()
	var raws []time.Duration
	for range 7 {
		start := time.Now()
		var mu sync.Mutex
		var callErr error
		libvirtconn.Each(len(active), func(i int) {
			if _, _, err := l.DomainGetJobStats(active[i], 0); err != nil {
				mu.Lock()
				callErr = err
				mu.Unlock()
			}
		})
		if callErr != nil {
			return 0, fmt.Errorf("raw DomainGetJobStats: %w", callErr)
		}
		raws = append(raws, time.Since(start))
	}
	raw, _ := percentiles(raws[2:])
	return raw, nil
}

// scrapeRuns scrapes the vadvisor of this tree without the job collector,
// for what the calls add; then each build (this tree's, and -job-before's)
// with the default call timeout, a smaller one, and the smaller one with
// job calls answered late, so that the fan-out takes longer than one call
// may.
func (r *jobResult) scrapeRuns(root, dir, bin, uri string, proxy *jobProxy) {
	builds := []struct{ label, bin string }{{"this tree", bin}}
	if *jobBefore != "" {
		old, note, err := buildRevision(root, dir, *jobBefore)
		r.beforeRev, r.beforeNote = *jobBefore, note
		if err != nil {
			r.beforeErr = err.Error()
		} else {
			short, _, _ := strings.Cut(note, " ")
			builds = append(builds, struct{ label, bin string }{*jobBefore + " = " + short, old})
		}
	}
	r.runs = append(r.runs, scrapeJob(dir, &jobRun{label: "this tree"}, bin, uri, r.active))
	for _, b := range builds {
		configs := []*jobRun{
			{label: b.label, jobOn: true},
			{label: b.label, jobOn: true, timeout: jobTimeout.String()},
		}
		if proxy != nil && *jobDelay > 0 {
			configs = append(configs, &jobRun{label: b.label, jobOn: true, timeout: jobTimeout.String(), delay: *jobDelay})
		}
		for _, c := range configs {
			if proxy != nil {
				proxy.delay.Store(int64(c.delay))
			}
			r.runs = append(r.runs, scrapeJob(dir, c, b.bin, uri, r.active))
		}
	}
	if proxy != nil {
		proxy.delay.Store(0)
	}
}

// buildRevision builds the vadvisor of a git revision from an export of
// its tree (git archive: the repository and its worktrees are left alone).
func buildRevision(root, dir, rev string) (bin, note string, err error) {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--verify", rev+"^{commit}").Output()
	if err != nil {
		return "", "", fmt.Errorf("git rev-parse %s: %v", rev, err)
	}
	sha := strings.TrimSpace(string(out))
	subject, _ := exec.Command("git", "-C", root, "log", "-1", "--format=%h %s", sha).Output()
	note = strings.TrimSpace(string(subject))
	src := filepath.Join(dir, "src-"+sha[:12])
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", note, err
	}
	defer os.RemoveAll(src)
	archive := exec.Command("sh", "-c", `git -C "$1" archive "$2" | tar -x -C "$3"`, "sh", root, sha, src)
	if out, err := archive.CombinedOutput(); err != nil {
		return "", note, fmt.Errorf("git archive %s: %v\n%s", sha, err, out)
	}
	bin = filepath.Join(dir, "vadvisor-"+sha[:12])
	logf("job: building vadvisor at %s", note)
	if err := buildVadvisor(src, bin); err != nil {
		return "", note, err
	}
	return bin, note, nil
}
