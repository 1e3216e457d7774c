package linkmodel

import (
	"fmt"
	"testing"
	"time"

	"github.com/mvrun/multiverse/internal/seeds"
)

func TestBackoff(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		rto  time.Duration
		n    int
		want time.Duration
	}{
		{MinRTO, 0, 0},
		{MinRTO, 1, 200 * ms},
		{MinRTO, 3, 1400 * ms}, // 200 + 400 + 800
		{MinRTO, 11, 204600*ms + 120*time.Second},
		// Linux's documented 924.6 s for tcp_retries2 = 15 and 127 s
		// for tcp_syn_retries = 6.
		{MinRTO, MaxRetransmits + 1, 924600 * ms},
		{InitRTO, SynRetries + 1, 127 * time.Second},
		{50 * ms, 2, 600 * ms},                     // raised to MinRTO
		{1000 * time.Second, 2, 240 * time.Second}, // cut to MaxRTO
		{MinRTO, -3, 0},
		{MaxRTO, 1 << 30, (RetryLimit + 1) * MaxRTO}, // bounded
	}
	for _, tt := range tests {
		if got := Backoff(tt.rto, tt.n); got != tt.want {
			t.Errorf("Backoff(%v, %d) = %v, want %v", tt.rto, tt.n, got, tt.want)
		}
	}
}

func TestStreamDelayNoLoss(t *testing.T) {
	lat := Range{Min: 2 * time.Millisecond, Max: 30 * time.Millisecond}
	// Duplication and reordering do not apply to a byte stream.
	l := Link{Latency: lat, Duplicate: 1, Reorder: 1}
	r := seeds.Stream(5, "hv/stream")
	lo, hi := lat.Max, lat.Min
	for range 5000 {
		f := StreamDelay(r, l, MinRTO, MaxRetransmits)
		if f.TimedOut || f.Retransmits != 0 {
			t.Fatalf("clean link: %+v, want delivery without retransmission", f)
		}
		if f.Delay < lat.Min || f.Delay > lat.Max {
			t.Fatalf("delay %v outside the latency %v", f.Delay, lat)
		}
		lo, hi = min(lo, f.Delay), max(hi, f.Delay)
	}
	// The draws cover the range rather than sitting on one value.
	if spread := lat.Max - lat.Min; hi-lo < spread*9/10 {
		t.Errorf("delays span only %v..%v of %v", lo, hi, lat)
	}
	if f := StreamDelay(r, Link{}, MinRTO, MaxRetransmits); f != (StreamFate{}) {
		t.Errorf("zero link: %+v, want an instant delivery", f)
	}
}

func TestStreamDelayLoss(t *testing.T) {
	const n = 40000
	lat := Range{Min: time.Millisecond, Max: 3 * time.Millisecond}
	l := Link{Latency: lat, Loss: 0.5}
	r := seeds.Stream(9, "hv/stream")
	atLeast := make([]int, MaxRetransmits+2) // atLeast[k]: writes with k or more lost transmissions
	for range n {
		f := StreamDelay(r, l, MinRTO, MaxRetransmits)
		lost := f.Retransmits
		if f.TimedOut {
			lost = MaxRetransmits + 1
			if f.Delay != Backoff(MinRTO, MaxRetransmits+1) {
				t.Errorf("timed out after %v, want %v", f.Delay, Backoff(MinRTO, MaxRetransmits+1))
			}
		} else if d := f.Delay - Backoff(MinRTO, lost); d < lat.Min || d > lat.Max {
			// Each lost transmission costs one timeout, doubling from
			// 200 ms: 200, 400, 800 ms, ... on top of the latency.
			t.Fatalf("%+v: delay minus the doubling timeouts is %v, outside %v", f, d, lat)
		}
		for k := 0; k <= lost; k++ {
			atLeast[k]++
		}
	}
	// Independent losses: P(at least k lost) = 0.5^k.
	p := 1.0
	for k := 1; k <= 6; k++ {
		p *= l.Loss
		binomial(t, fmt.Sprintf("writes losing at least %d transmissions", k), atLeast[k], n, p)
	}
}

func TestStreamDelayTimeout(t *testing.T) {
	r := seeds.Stream(1, "hv/stream")
	l := Link{Loss: 1, Latency: Range{Max: time.Second}}
	tests := []struct {
		rto     time.Duration
		retries int
		want    StreamFate
	}{
		{MinRTO, MaxRetransmits, StreamFate{Delay: 924600 * time.Millisecond, Retransmits: 15, TimedOut: true}},
		{InitRTO, SynRetries, StreamFate{Delay: 127 * time.Second, Retransmits: 6, TimedOut: true}},
		{MinRTO, 0, StreamFate{Delay: MinRTO, Retransmits: 0, TimedOut: true}},
		{MinRTO, -1, StreamFate{Delay: MinRTO, Retransmits: 0, TimedOut: true}},
		{MaxRTO, 1 << 40, StreamFate{Delay: (RetryLimit + 1) * MaxRTO, Retransmits: RetryLimit, TimedOut: true}},
	}
	for _, tt := range tests {
		if got := StreamDelay(r, l, tt.rto, tt.retries); got != tt.want {
			t.Errorf("StreamDelay(total loss, %v, %d) = %+v, want %+v", tt.rto, tt.retries, got, tt.want)
		}
	}
}

func TestStreamDelayDeterministic(t *testing.T) {
	links := []Link{{}, {Loss: 1}, {Loss: 0.4, Latency: Range{Max: 50 * time.Millisecond}}, {Loss: 0.9, Duplicate: 1, Reorder: 1}}
	a, b := seeds.Stream(4, "hv/stream"), seeds.Stream(4, "hv/stream")
	for i := range 2000 {
		l := links[i%len(links)]
		if fa, fb := StreamDelay(a, l, MinRTO, MaxRetransmits), StreamDelay(b, l, MinRTO, MaxRetransmits); fa != fb {
			t.Fatalf("write %d: same seed gave %+v and %+v", i, fa, fb)
		}
	}
	// The draw count depends neither on the link nor on the retry limit.
	for _, l := range links {
		for _, retries := range []int{0, SynRetries, MaxRetransmits, RetryLimit} {
			r, ref := seeds.Stream(8, "hv/stream"), seeds.Stream(8, "hv/stream")
			StreamDelay(r, l, MinRTO, retries)
			skip(ref, StreamDraws)
			if r.Uint64() != ref.Uint64() {
				t.Fatalf("%+v, %d retries: StreamDelay took other than %d values", l, retries, StreamDraws)
			}
		}
	}
}

func TestRTO(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		lat  Range
		want time.Duration
	}{
		{Range{}, MinRTO},
		{Range{ms, 5 * ms}, 206 * ms},                        // 6 ms round trip + the 200 ms floor
		{Range{100 * ms, 700 * ms}, 1600 * ms},               // 800 ms + 4·600/3 ms
		{Range{50 * time.Second, 100 * time.Second}, MaxRTO}, // capped
		{Range{Max: 1 << 62}, MaxRTO},                        // no overflow
	}
	for _, tt := range tests {
		if got := RTO(Link{Latency: tt.lat}); got != tt.want {
			t.Errorf("RTO(latency %v) = %v, want %v", tt.lat, got, tt.want)
		}
	}
}

func BenchmarkStreamDelay(b *testing.B) {
	r := seeds.Stream(1, "hv/stream")
	l := Link{Loss: 0.1, Latency: Range{Max: time.Millisecond}}
	for b.Loop() {
		StreamDelay(r, l, MinRTO, MaxRetransmits)
	}
}
