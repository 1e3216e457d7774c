package faults

import (
	"math"
	"testing"
	"time"

	"github.com/mvrun/multiverse/internal/seeds"
)

func TestLogDet(t *testing.T) {
	// 1 - Float64() is never below 2^-53. (Subnormals are left out: there
	// math.Log on amd64 is itself off.)
	for _, x := range []float64{1, 0.999999, 0.75, 0.5, 0.3333, 0.1, 1e-3, 1e-9, 1e-300, 0x1p-53} {
		got, want := logDet(x), math.Log(x)
		if d := math.Abs(got - want); d > 1e-14*math.Max(1, math.Abs(want)) {
			t.Errorf("logDet(%g) = %.17g, want %.17g (off by %g)", x, got, want, d)
		}
	}
}

func TestExpDurationMean(t *testing.T) {
	r := seeds.Stream(42, "test")
	for _, mean := range []time.Duration{100 * time.Millisecond, 10 * time.Second, time.Hour} {
		const n = 20000
		var sum time.Duration
		for range n {
			d := expDuration(r, mean)
			if d < 0 || d%grain != 0 {
				t.Fatalf("expDuration(%v) = %v, want a non-negative multiple of %v", mean, d, grain)
			}
			sum += d
		}
		if got := sum / n; math.Abs(float64(got-mean)) > 0.03*float64(mean) {
			t.Errorf("mean of %d expDuration(%v) = %v, want within 3%%", n, mean, got)
		}
	}
}

func TestDrawRange(t *testing.T) {
	r := seeds.Stream(7, "test")
	for _, rg := range []Range{
		{Min: 0, Max: 0},
		{Min: time.Second, Max: time.Second},
		{Min: 0, Max: 5 * time.Millisecond},
		{Min: time.Second, Max: 8 * time.Second},
		{Min: 1500 * time.Microsecond, Max: 1700 * time.Microsecond}, // no whole ms inside
		{Min: -30 * time.Second, Max: 30 * time.Second},
	} {
		seen := map[time.Duration]bool{}
		for range 2000 {
			d := drawRange(r, rg)
			seen[d] = true
			if d%grain != 0 {
				t.Fatalf("drawRange(%v) = %v, not a multiple of %v", rg, d, grain)
			}
			if lo := ceilGrain(rg.Min); d < lo || (d > rg.Max && d != lo) {
				t.Fatalf("drawRange(%v) = %v, outside the range", rg, d)
			}
		}
		if rg.Max-rg.Min >= 5*grain && len(seen) < 5 {
			t.Errorf("drawRange(%v) drew only %d distinct values in 2000 draws", rg, len(seen))
		}
	}
}

func TestDrawProb(t *testing.T) {
	r := seeds.Stream(9, "test")
	for _, max := range []float64{0, 0.0004, 0.1, 1, 2, math.NaN()} {
		for range 500 {
			p := drawProb(r, max)
			if p < 0 || p > 1 || (max <= 1 && p > max+0.0005) {
				t.Fatalf("drawProb(%v) = %v", max, p)
			}
		}
	}
}
