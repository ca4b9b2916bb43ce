package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

	// The test driver may not answer job calls (libvirt 9.0 does not):
	// then vadvisor goes through the proxy.
	uri, socket := nodeURI, libvirtconn.ReadOnlySocket
	var proxy *jobProxy
	if _, _, jobErr := direct.DomainGetJobStats(active[0], 0); jobErr != nil {
		if !strings.Contains(jobErr.Error(), "not supported") {
			return fmt.Errorf("DomainGetJobStats on the test node: %w", jobErr)
		}
		proxy, err = startJobProxy(filepath.Join(dir, "job-proxy.sock"), libvirtconn.ReadOnlySocket)
		if err != nil {
			return err
		}
		defer proxy.Close()
		socket = proxy.path
		uri = nodeURI + "?socket=" + proxy.path
		r.via = fmt.Sprintf("through the benchmark's RPC proxy: libvirtd's test driver answers DomainGetJobStats with %q, "+
			"so the proxy turns each into a DomainGetState of the same domain and its answer into that of a domain with no job "+
			"(every call is still a round trip through libvirtd)", jobErr.Error())
	} else {
		r.via = "directly: the test driver answers DomainGetJobStats"
	}

	// The floor: the same calls on Workers goroutines over one connection.
	l, err := dialLibvirt(socket, "test://"+node)
	if err != nil {
		return err
	}
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
			l.Disconnect()
			return fmt.Errorf("raw DomainGetJobStats: %w", callErr)
		}
		raws = append(raws, time.Since(start))
	}
	l.Disconnect()
	r.raw, _ = percentiles(raws[2:])

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
	// The scrape without the job collector, for what the calls add; then
	// each build with the default call timeout, a smaller one, and the
	// smaller one with job calls answered late, so that the fan-out takes
	// longer than one call may.
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
	return nil
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

// scrapeJob runs one vadvisor on the node and scrapes it as Prometheus
// would (10 s scrape timeout announced), reading the job collector's
// outcome from each scrape's body: complete when it succeeded with one
// series per active domain.
func scrapeJob(dir string, run *jobRun, bin, uri string, active int) *jobRun {
	run.minSeries = -1
	jobOn, timeout, label := run.jobOn, run.timeout, run.label
	if run.timeout == "" {
		run.timeout = "3s (default)"
	}
	addr, err := freeAddr()
	if err != nil {
		run.failed = err.Error()
		return run
	}
	args := []string{"--web.listen-address=" + addr, "--libvirt.uri=" + uri, "--log.level=debug"}
	if jobOn {
		args = append(args, "--collector.job")
	}
	if timeout != "" {
		args = append(args, "--libvirt.timeout="+timeout)
	}
	logPath := filepath.Join(dir, fmt.Sprintf("vadvisor-%s.log", addr[strings.LastIndexByte(addr, ':')+1:]))
	logFile, err := os.Create(logPath)
	if err != nil {
		run.failed = err.Error()
		return run
	}
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		run.failed = err.Error()
		return run
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if err := waitListening(addr); err != nil {
		run.failed = err.Error()
		return run
	}
	logf("job: scraping %s, %s, job calls answered %s late", label, strings.Join(args[1:], " "), run.delay)
	url := "http://" + addr + "/metrics"
	// Opening a 1000-domain test node takes libvirtd a second or more, and
	// vadvisor gives a dial no longer than a call.
	if err := waitMetric(url, "libvirt_up", "1", time.Minute); err != nil {
		run.failed = "never connected: " + lastLogError(logPath)
		return run
	}
	client := &http.Client{Timeout: 30 * time.Second}
	var logFrom int64
	for i := range 3 + *jobScrapes {
		if i == 3 {
			if st, err := os.Stat(logPath); err == nil {
				logFrom = st.Size() // errors of the warm-up are not counted
			}
		}
		s, err := scrapeJobOnce(client, url)
		if err != nil {
			run.failed = err.Error()
			return run
		}
		if i < 3 {
			continue // warm-up
		}
		run.scrapes++
		run.times = append(run.times, s.took)
		if !jobOn {
			continue
		}
		if s.jobDuration >= 0 {
			run.jobTimes = append(run.jobTimes, s.jobDuration)
		}
		if s.success {
			run.succeeded++
		}
		if run.minSeries < 0 || s.series < run.minSeries {
			run.minSeries = s.series
		}
		run.maxSeries = max(run.maxSeries, s.series)
		if s.success && s.series == active {
			run.complete++
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	_ = logFile.Sync()
	if data, err := os.ReadFile(logPath); err == nil && int64(len(data)) >= logFrom {
		for _, line := range strings.Split(string(data[logFrom:]), "\n") {
			if strings.Contains(line, `msg="collector failed"`) && strings.Contains(line, "collector=job") {
				run.logErrs++
				if strings.Contains(line, "timed out") {
					run.timeoutErrs++
				}
				if i := strings.Index(line, "err="); i >= 0 {
					run.lastErr = line[i+4:]
				}
			}
		}
	}
	return run
}

// lastLogError is the err of vadvisor's last log line that has one.
func lastLogError(logPath string) string {
	data, _ := os.ReadFile(logPath)
	last := "no error logged"
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.Index(line, "err="); i >= 0 {
			last = line[i+4:]
		}
	}
	return last
}

type jobScrape struct {
	took        time.Duration
	success     bool
	series      int
	jobDuration time.Duration
}

func scrapeJobOnce(client *http.Client, url string) (jobScrape, error) {
	s := jobScrape{jobDuration: -1}
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "10")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return s, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	s.took = time.Since(start)
	if err != nil {
		return s, err
	}
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "libvirt_domain_job_info_type{"):
			s.series++
		case strings.HasPrefix(line, `vadvisor_scrape_collector_success{collector="job"} `):
			s.success = strings.HasSuffix(line, " 1")
		case strings.HasPrefix(line, `vadvisor_scrape_collector_duration_seconds{collector="job"} `):
			if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
				s.jobDuration = time.Duration(v * float64(time.Second))
			}
		}
	}
	return s, nil
}
