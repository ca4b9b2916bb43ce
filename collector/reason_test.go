package collector

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vadvisor/vadvisor/domstats"
)

// One reason number means different things in different states, and a
// reason this client does not know keeps its number.
func TestStateReasonNamedPerState(t *testing.T) {
	var doms []domstats.Domain
	for i, rec := range []struct{ name, lines string }{
		{"booted", "state.state=1\nstate.reason=1"},
		{"unpaused", "state.state=1\nstate.reason=5"},
		{"io", "state.state=3\nstate.reason=5"},
		{"suspended", "state.state=3\nstate.reason=1"},
		{"saved", "state.state=5\nstate.reason=5"},
		{"panicked", "state.state=6\nstate.reason=1"},
		{"future", "state.state=3\nstate.reason=99"},
		{"noreason", "state.state=1"},
	} {
		id := int32(i + 1)
		if strings.HasPrefix(rec.lines, "state.state=5") {
			id = -1
		}
		doms = append(doms, domstats.Decode(record(rec.name, byte(i+1), id, rec.lines)))
	}
	c := &cannedCollector{
		s:    scrape{ctx: context.Background(), reading: &domstats.Reading{Domains: doms}},
		subs: []string{"domain"},
	}
	want := `
# HELP libvirt_domain_state_reason Why the domain is in its state, as libvirt names the reason for that state (paused: user, ioerror, watchdog, migration, ...; shut off: shutdown, destroyed, crashed, ...); always 1.
# TYPE libvirt_domain_state_reason gauge
libvirt_domain_state_reason{domain="booted",reason="booted",state="running"} 1
libvirt_domain_state_reason{domain="unpaused",reason="unpaused",state="running"} 1
libvirt_domain_state_reason{domain="io",reason="ioerror",state="paused"} 1
libvirt_domain_state_reason{domain="suspended",reason="user",state="paused"} 1
libvirt_domain_state_reason{domain="saved",reason="saved",state="shut off"} 1
libvirt_domain_state_reason{domain="panicked",reason="panicked",state="crashed"} 1
libvirt_domain_state_reason{domain="future",reason="99",state="paused"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "libvirt_domain_state_reason"); err != nil {
		t.Error(err)
	}
}
