package main

// One run of the job part: a vadvisor on the test node, scraped
// -job-scrapes times, its log read for the job collector's errors.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// scrapeJob runs one vadvisor on the node and scrapes it as Prometheus
// would (10 s scrape timeout announced), reading the job collector's
// outcome from each scrape's body: complete when it succeeded with one
// series per active domain.
func scrapeJob(dir string, run *jobRun, bin, uri string, active int) *jobRun {
	run.minSeries = -1
	timeout := run.timeout
	if run.timeout == "" {
		run.timeout = "3s (default)"
	}
	if err := run.measure(dir, bin, uri, timeout, active); err != nil {
		run.failed = err.Error()
	}
	return run
}

// measure starts vadvisor with the run's flags (the call timeout its
// default if empty), logging to a file of dir, and scrapes it.
func (run *jobRun) measure(dir, bin, uri, timeout string, active int) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	args := []string{"--web.listen-address=" + addr, "--libvirt.uri=" + uri, "--log.level=debug"}
	if run.jobOn {
		args = append(args, "--collector.job")
	}
	if timeout != "" {
		args = append(args, "--libvirt.timeout="+timeout)
	}
	logPath := filepath.Join(dir, fmt.Sprintf("vadvisor-%s.log", addr[strings.LastIndexByte(addr, ':')+1:]))
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if err := waitListening(addr); err != nil {
		return err
	}
	logf("job: scraping %s, %s, job calls answered %s late", run.label, strings.Join(args[1:], " "), run.delay)
	url := "http://" + addr + "/metrics"
	// Opening a 1000-domain test node takes libvirtd a second or more, and
	// vadvisor gives a dial no longer than a call.
	if err := waitMetric(url, "libvirt_up", "1", time.Minute); err != nil {
		return errors.New("never connected: " + lastLogError(logPath))
	}
	logFrom, err := run.scrapeAll(url, logPath, active)
	if err != nil {
		return err
	}
	cmd.Process.Kill()
	cmd.Wait()
	_ = logFile.Sync()
	run.countLogErrors(logPath, logFrom)
	return nil
}

// scrapeAll makes 3 warm-up scrapes, then -job-scrapes measured ones, and
// returns where in vadvisor's log the measured ones begin.
func (run *jobRun) scrapeAll(url, logPath string, active int) (logFrom int64, err error) {
	client := &http.Client{Timeout: 30 * time.Second}
	for i := range 3 + *jobScrapes {
		if i == 3 {
			if st, err := os.Stat(logPath); err == nil {
				logFrom = st.Size() // errors of the warm-up are not counted
			}
		}
		s, err := scrapeJobOnce(client, url)
		if err != nil {
			return logFrom, err
		}
		if i < 3 {
			continue // warm-up
		}
		run.scrapes++
		run.times = append(run.times, s.took)
		if !run.jobOn {
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
	return logFrom, nil
}

// countLogErrors counts the job collector's "collector failed" lines in
// vadvisor's log from the offset from on, and keeps the last one's error.
func (run *jobRun) countLogErrors(logPath string, from int64) {
	data, err := os.ReadFile(logPath)
	if err != nil || int64(len(data)) < from {
		return
	}
	for _, line := range strings.Split(string(data[from:]), "\n") {
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
