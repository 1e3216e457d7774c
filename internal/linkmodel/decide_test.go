package linkmodel

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mvrun/multiverse/internal/seeds"
)

func TestDecideRates(t *testing.T) {
	const n = 20000
	tests := []struct {
		name string
		link Link
	}{
		{"clean", Link{}},
		{"loss", Link{Loss: 0.25}},
		{"all", Link{Loss: 0.1, Duplicate: 0.2, Reorder: 0.3,
			Latency: Range{Min: time.Millisecond, Max: 5 * time.Millisecond}}},
		{"total loss", Link{Loss: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := seeds.Stream(7, "network/a")
			var lost, dup, reord int
			for range n {
				f := Decide(r, tt.link)
				if f.Lost {
					if f != (Fate{Lost: true}) {
						t.Fatalf("lost packet with other fields set: %+v", f)
					}
					lost++
					continue
				}
				if f.Copies == 2 {
					dup++
				} else if f.Copies != 1 {
					t.Fatalf("%d copies, want 1 or 2", f.Copies)
				}
				if f.Reordered {
					reord++
				}
				lo, hi := tt.link.Latency.Min, tt.link.Latency.Max
				if f.Reordered {
					lo += ReorderHold
					hi += ReorderHold + tt.link.Latency.Max
				}
				if f.Delay < lo || f.Delay > hi {
					t.Fatalf("delay %v outside %v..%v", f.Delay, lo, hi)
				}
			}
			delivered := n - lost
			binomial(t, "lost", lost, n, tt.link.Loss)
			binomial(t, "duplicated", dup, delivered, tt.link.Duplicate)
			binomial(t, "reordered", reord, delivered, tt.link.Reorder)
		})
	}
}

// binomial fails t unless got of n trials is within five standard
// deviations of p·n: by chance about once in 3.5 million runs, and the
// seeds are fixed.
func binomial(t *testing.T, what string, got, n int, p float64) {
	t.Helper()
	if n == 0 {
		return
	}
	tol := 5*math.Sqrt(float64(n)*p*(1-p)) + 1
	if math.Abs(float64(got)-p*float64(n)) > tol {
		t.Errorf("%s: %d of %d, want about %.0f (p=%v)", what, got, n, p*float64(n), p)
	}
}

func TestDecideDeterministic(t *testing.T) {
	l := Link{Loss: 0.3, Duplicate: 0.3, Reorder: 0.3, Latency: Range{Max: time.Second}}
	a, b, c := seeds.Stream(1, "network/x"), seeds.Stream(1, "network/x"), seeds.Stream(2, "network/x")
	differ := false
	for i := range 1000 {
		fa, fb, fc := Decide(a, l), Decide(b, l), Decide(c, l)
		if fa != fb {
			t.Fatalf("packet %d: same seed gave %+v and %+v", i, fa, fb)
		}
		differ = differ || fa != fc
	}
	if !differ {
		t.Fatal("seeds 1 and 2 gave the same 1000 decisions")
	}
	// Settings must not shift later draws: a clean link in between
	// consumes as much of the stream as a faulty one.
	x, y := seeds.Stream(3, "network/x"), seeds.Stream(3, "network/x")
	Decide(x, Link{})
	Decide(y, l)
	if fx, fy := Decide(x, l), Decide(y, l); fx != fy {
		t.Fatalf("second decision depends on the first's link settings: %+v vs %+v", fx, fy)
	}
}

// TestDecideDraws pins the number of values Decide takes, for every kind
// of link: golden runs depend on it.
func TestDecideDraws(t *testing.T) {
	for _, l := range []Link{{}, {Loss: 1}, {Duplicate: 1, Reorder: 1, Latency: Range{Max: time.Second}}, {Loss: 0.5, Reorder: 0.5}} {
		for i := range 50 {
			r, ref := seeds.Stream(uint64(i), "d"), seeds.Stream(uint64(i), "d")
			Decide(r, l)
			skip(ref, DecideDraws)
			if got, want := r.Uint64(), ref.Uint64(); got != want {
				t.Fatalf("%+v: Decide took other than %d values", l, DecideDraws)
			}
		}
	}
}

// TestDecideGolden pins the first fates of one stream, so a change to the
// order or use of the draws, which would change every recorded run, shows.
// The values were printed by the switch's own decide function before it
// moved here.
func TestDecideGolden(t *testing.T) {
	r := seeds.Stream(42, "network/a")
	l := Link{Loss: 0.3, Duplicate: 0.2, Reorder: 0.2, Latency: Range{Min: time.Millisecond, Max: 9 * time.Millisecond}}
	want := []Fate{
		{Lost: true},
		{Copies: 1, Delay: 6732526},
		{Copies: 1, Delay: 8329577},
		{Copies: 2, Delay: 2959645},
		{Lost: true},
		{Copies: 1, Delay: 3615012},
		{Lost: true},
		{Copies: 1, Delay: 2671196},
		{Copies: 1, Delay: 13896154, Reordered: true},
		{Lost: true},
		{Copies: 1, Delay: 6592268},
		{Copies: 1, Delay: 4866736},
	}
	for i, w := range want {
		if got := Decide(r, l); got != w {
			t.Errorf("fate %d = %+v, want %+v", i, got, w)
		}
	}
}

func skip(r *rand.Rand, n int) {
	for range n {
		r.Float64()
	}
}

func BenchmarkDecide(b *testing.B) {
	r := seeds.Stream(1, "network/a")
	l := Link{Loss: 0.1, Duplicate: 0.1, Reorder: 0.1, Latency: Range{Max: time.Millisecond}}
	for b.Loop() {
		Decide(r, l)
	}
}
