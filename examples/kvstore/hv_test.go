package kvstore_test

import (
	"slices"
	"testing"

	"github.com/mvrun/multiverse/assertions"
	"github.com/mvrun/multiverse/runner"
	"github.com/mvrun/multiverse/runner/hvbackend"
)

// runHV runs spec's test on the hv backend with a shortened fault phase.
func runHV(t *testing.T, spec string, opts runner.Options) *runner.Outcome {
	t.Helper()
	oc := runOn(t, hvbackend.New(hvbackend.Options{}), spec, opts)
	for _, so := range oc.Seeds {
		if so.TraceLog == "" {
			t.Errorf("seed %#x has no trace hash", so.Seed)
		}
	}
	return oc
}

// TestHVFindsBugAndReplaysExactly runs the buggy store inside hv: a seed
// loses acknowledged writes, and its replay is the same run bit for bit —
// the same trace hash, fault log, failing properties and number of writes
// lost — so any failure seen once can be studied again exactly.
func TestHVFindsBugAndReplaysExactly(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: runs the kvstore example under hv")
	}
	oc := runHV(t, "spec.hcl", runner.Options{Count: 2, BaseSeed: 0x5eed})
	var found *runner.SeedOutcome
	for _, so := range oc.Seeds {
		if slices.Contains(so.Failing, lostWrites) {
			found = so
			break
		}
	}
	if found == nil {
		t.Fatalf("no seed of 2 found lost writes under hv; failing per seed: %v", failing(oc))
	}
	lost := lostIn(t, found.Dir)
	rep := runHV(t, "spec.hcl", runner.Options{Seeds: []uint64{found.Seed}})
	r := rep.Seeds[0]
	if r.TraceHash != found.TraceHash {
		t.Errorf("replay of seed %#x: trace hash %016x, first run %016x", found.Seed, r.TraceHash, found.TraceHash)
	}
	if !slices.Equal(r.Faults, found.Faults) {
		t.Errorf("replayed fault log differs:\nfirst:  %v\nreplay: %v", found.Faults, r.Faults)
	}
	if !slices.Equal(r.Failing, found.Failing) {
		t.Errorf("replay failed %v, first run %v", r.Failing, found.Failing)
	}
	if n := lostIn(t, r.Dir); n != lost {
		t.Errorf("replay lost %d writes, first run %d", n, lost)
	}
}

// TestHVFixedStoreHolds runs the fixed store inside hv: every safety
// property and built-in holds.
func TestHVFixedStoreHolds(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: runs the kvstore example under hv")
	}
	oc := runHV(t, "safe.hcl", runner.Options{Count: 2, BaseSeed: 0x5eed})
	if oc.Result.SeedsRun != 2 {
		t.Fatalf("%d seeds run, want 2", oc.Result.SeedsRun)
	}
	checked := false
	for _, p := range oc.Result.Properties {
		if p.ID == lostWrites {
			checked = p.HitsTrue == 2 && p.HitsFalse == 0
		}
	}
	if !checked {
		t.Errorf("the checker did not verify the acknowledged writes in both seeds")
	}
	for _, p := range oc.Result.Properties {
		if p.Verdict != assertions.Fail {
			continue
		}
		if p.Type == "always" || p.DisplayType == "Unreachable" || p.Builtin {
			t.Errorf("the fixed store failed %s %q under hv: %s", p.DisplayType, p.ID, p.Reason)
		} else {
			t.Logf("coverage property not hit in 2 short seeds: %s %q", p.DisplayType, p.ID)
		}
	}
}
