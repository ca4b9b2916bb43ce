package events

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/vadvisor/vadvisor/internal/testbed"
)

// BenchmarkStateCheck measures one check of the event state (see follow):
// the listing calls and the comparison, against the real libvirtd's
// domains and a 1000-domain test-driver node.
func BenchmarkStateCheck(b *testing.B) {
	for _, tc := range []struct{ name, uri string }{
		{"system", testbed.SystemURI},
		{"test1000", testbed.TestNode(b, "chk", 1000)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			store, err := NewStore(time.Hour, 100)
			if err != nil {
				b.Fatal(err)
			}
			s := NewSubscriber(testbed.Conn(b, tc.uri), store, slog.New(slog.DiscardHandler))
			ctx := context.Background()
			known, err := s.list(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				current, err := s.list(ctx, known)
				if err != nil {
					b.Fatal(err)
				}
				s.check(known, current, nil)
			}
			b.ReportMetric(float64(len(known)), "domains")
		})
	}
}
