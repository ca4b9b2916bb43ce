package collector

import (
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// In OpenMetrics, which Prometheus asks for, a counter's family is named
// without its _total suffix: no other family may have that name.
func TestFamilyNamesDoNotClashInOpenMetrics(t *testing.T) {
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
	}
	for _, f := range families {
		if f.GetType() != dto.MetricType_COUNTER {
			continue
		}
		if !strings.HasSuffix(f.GetName(), "_total") {
			t.Errorf("counter %s does not end in _total", f.GetName())
			continue
		}
		if base := strings.TrimSuffix(f.GetName(), "_total"); names[base] {
			t.Errorf("counter %s and the family %s share the OpenMetrics family name %s", f.GetName(), base, base)
		}
	}
}
