package rejoin_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/mvrun/multiverse/runner/hvbackend"
	"github.com/mvrun/multiverse/runner/search"
)

// TestHVProbeIsTheRunsPrefix runs a known failing id cut at 4 s of
// virtual time (a search's probe, [search.Candidate.Stop]): the cut run
// judges no property, shows exactly the SDK lines the whole run shows
// before 4 s, gives the same trace hash when run again, and a run of the
// id resumed from the probe's snapshot is the whole run (its trace hash
// and its lost write).
func TestHVProbeIsTheRunsPrefix(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: runs the rejoin example under hv (two runs of 10 s, two of 4 s)")
	}
	run := runs(t, hvbackend.Options{})
	ctx := context.Background()
	c, err := search.ParseID(failingIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	whole, err := run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	const stop = 4 * time.Second
	probe := c
	probe.Stop, probe.Snapshots = stop, []time.Duration{2 * time.Second}
	p1, err := run(ctx, probe)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("whole run: trace hash %s, ended at %v, failing %v; probe: trace hash %s, %d SDK lines", whole.TraceHash, whole.End, whole.Failing, p1.TraceHash, len(p1.Hits))
	if !p1.Cut || p1.End != stop || len(p1.Failing) > 0 {
		t.Errorf("probe: cut %v at %v failing %v; want cut at %v, failing nothing", p1.Cut, p1.End, p1.Failing, stop)
	}
	before := func(hs []search.Hit) []search.Hit {
		var out []search.Hit
		for _, h := range hs {
			if h.At < stop {
				out = append(out, h)
			}
		}
		return out
	}
	if got, want := before(p1.Hits), before(whole.Hits); len(want) == 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("probe's SDK lines before %v: %d, the whole run's: %d (want the same, and some)", stop, len(got), len(want))
	}
	p2, err := run(ctx, probe)
	if err != nil {
		t.Fatal(err)
	}
	if p2.TraceHash != p1.TraceHash || p1.TraceHash == "" {
		t.Errorf("probe run twice: trace hashes %s and %s", p1.TraceHash, p2.TraceHash)
	}
	if p1.Record == nil || len(p1.Record.Snapshots()) == 0 {
		t.Fatalf("the probe kept no snapshot to resume from")
	}
	resumed := c
	resumed.From = p1.Record
	r, err := run(ctx, resumed)
	if err != nil {
		t.Fatal(err)
	}
	if r.Resumed == 0 || r.TraceHash != whole.TraceHash || !r.Fails(lostWrites) {
		t.Errorf("resumed from the probe's snapshot: at %v, trace hash %s failing %v; want resumed, %s failing %q", r.Resumed, r.TraceHash, r.Failing, whole.TraceHash, lostWrites)
	}
}
