package main

import (
	"time"

	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/vadvisor/vadvisor/domstats"
	"github.com/vadvisor/vadvisor/internal/libvirtval"
)

// The history part compares vAdvisor's own encoding with Prometheus' XOR
// chunks (tsdb/chunkenc, the Gorilla encoding), each field a series of
// its own with its timestamps, in chunks of as many samples.

var (
	xorDomain = domstats.Sampled(domstats.StateFields, domstats.CPUFields, domstats.BalloonFields)
	xorVCPU   = domstats.Sampled(domstats.VCPUFields)
	xorNet    = domstats.Sampled(domstats.NetFields)
	xorBlock  = domstats.Sampled(domstats.BlockFields)
)

type point struct {
	t int64 // ms, as Prometheus keeps time
	v uint64
}

// columns are a VM's samples by field, in the order of its first sample;
// a sample whose devices differ from the first's is left out.
type columns struct {
	width, n int
	cols     [][]point
}

func (c *columns) add(t time.Time, d *domstats.Domain) {
	var vals []libvirtval.Value
	vals = appendValues(vals, d, xorDomain)
	for i := range d.VCPUs {
		vals = appendValues(vals, &d.VCPUs[i], xorVCPU)
	}
	for i := range d.Nets {
		vals = appendValues(vals, &d.Nets[i], xorNet)
	}
	for i := range d.Blocks {
		vals = appendValues(vals, &d.Blocks[i], xorBlock)
	}
	if c.cols == nil {
		c.width, c.cols = len(vals), make([][]point, len(vals))
	}
	if len(vals) != c.width {
		return
	}
	c.n++
	for i, v := range vals {
		if v.OK { // XOR chunks have no absent value
			c.cols[i] = append(c.cols[i], point{t.UnixMilli(), v.V})
		}
	}
}

func appendValues[T any](dst []libvirtval.Value, t *T, at domstats.FieldSet[T]) []libvirtval.Value {
	for i := range at.Len() {
		dst = append(dst, *at.At(t, i))
	}
	return dst
}

// xorSize is what the columns take as XOR chunks, and how long encoding
// them took.
type xorSize struct {
	samples, bytes, values int
	encode                 time.Duration
}

func (c *columns) xor() xorSize {
	s := xorSize{samples: c.n}
	start := time.Now()
	for _, col := range c.cols {
		for len(col) > 0 {
			n := min(len(col), 120)
			chunk := chunkenc.NewXORChunk()
			app, err := chunk.Appender()
			if err != nil {
				return xorSize{samples: c.n}
			}
			for _, p := range col[:n] {
				app.Append(0, p.t, float64(p.v))
			}
			s.bytes += len(chunk.Bytes())
			s.values += n
			col = col[n:]
		}
	}
	s.encode = time.Since(start)
	return s
}
