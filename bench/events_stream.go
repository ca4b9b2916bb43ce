package main

// The event stream clients of the events part.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// followStreams opens n event streams at url, each noting its lines in
// a log of its own.
func followStreams(ctx context.Context, t *http.Transport, url string, n int) ([]*eventLog, error) {
	logs := make([]*eventLog, n)
	for i := range logs {
		logs[i] = newEventLog()
		if err := followStream(ctx, t, url, logs[i]); err != nil {
			return nil, err
		}
	}
	return logs, nil
}

// followStream opens an event stream and notes each line's arrival in log
// until ctx ends.
func followStream(ctx context.Context, t *http.Transport, url string, log *eventLog) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := (&http.Client{Transport: t}).Do(req)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	go func() {
		defer resp.Body.Close()
		br := bufio.NewReaderSize(resp.Body, 64<<10)
		for {
			line, err := br.ReadBytes('\n')
			at := time.Now()
			if err != nil {
				if ctx.Err() == nil {
					log.fail(fmt.Errorf("stream ended: %v", err))
				}
				return
			}
			if len(bytes.TrimSpace(line)) == 0 {
				continue // heartbeat
			}
			var ev struct {
				UUID       string `json:"domain_id"`
				Type       string `json:"event_type"`
				Reconciled bool   `json:"reconciled"`
				Error      string `json:"error"`
			}
			if err := json.Unmarshal(line, &ev); err != nil {
				log.fail(fmt.Errorf("bad line %q: %v", line, err))
				continue
			}
			if ev.Error != "" {
				log.fail(errors.New(ev.Error))
				continue
			}
			if ev.Reconciled {
				if strings.HasPrefix(ev.UUID, "be") {
					log.mu.Lock()
					log.reconciled++
					log.mu.Unlock()
				}
				continue
			}
			log.add(eventKey{ev.UUID, ev.Type}, at)
		}
	}()
	return nil
}

// waitEvents waits until every reader has every key, at most d; it returns
// how many (reader, key) pairs are still missing.
func waitEvents(readers []*eventLog, keys []eventKey, d time.Duration) int {
	deadline := time.Now().Add(d)
	for {
		missing := 0
		for _, r := range readers {
			for _, k := range keys {
				if _, ok := r.get(k); !ok {
					missing++
				}
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			return missing
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readerErrors(readers []*eventLog) string {
	var errs []string
	for i, r := range readers {
		r.mu.Lock()
		if r.err != nil {
			name := "the bench's own subscription"
			if i > 0 {
				name = fmt.Sprintf("stream client %d", i)
			}
			errs = append(errs, name+": "+r.err.Error())
		}
		r.mu.Unlock()
	}
	if len(errs) == 0 {
		return ""
	}
	return " (" + strings.Join(errs, "; ") + ")"
}
