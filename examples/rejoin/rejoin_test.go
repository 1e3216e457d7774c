// Package rejoin_test runs the rejoin example on hv: a known failing id
// loses acknowledged writes through the planted bug's three steps, and
// replays exactly.
package rejoin_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/mvrun/multiverse/runner/hvbackend"
	"github.com/mvrun/multiverse/runner/search"
	"github.com/mvrun/multiverse/specs"
)

const (
	lostWrites = "acknowledged writes survive a rejoin"
	takeover   = "the backup took over after the primary's lease expired"
	resynced   = "a deposed primary resynced from the new primary"
	turnedAway = "a resyncing replica turned a replicated write away"
)

// failingIDs fail the property, found on hv with the commands in
// docs/exploration.md (`mvrun test --random --seed 9`, its 35th run).
var failingIDs = []string{
	"0x98c2b399c032fce9",
}

// runs prepares the spec's test on hv (building the example's binaries)
// and returns a function running one id; it skips without /dev/kvm.
func runs(t *testing.T) search.RunFunc {
	t.Helper()
	ctx := context.Background()
	b := hvbackend.New(hvbackend.Options{})
	if err := b.Available(ctx); err != nil {
		t.Skipf("skipping: %v", err)
	}
	s, err := specs.Load(ctx, "spec.hcl")
	if err != nil {
		t.Fatal(err)
	}
	tt := s.Tests[0]
	dir := t.TempDir()
	if err := b.Prepare(ctx, tt, filepath.Join(dir, "work")); err != nil {
		t.Fatalf("building the example for hv: %v", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return search.Runs(tt, b, dir, log)
}

// marks counts the run's true evaluations of each assertion id.
func marks(r *search.Result) map[string]int {
	m := map[string]int{}
	for _, h := range r.Hits {
		if h.Kind == "assert" && h.Cond {
			m[h.ID]++
		}
	}
	return m
}

// TestHVKnownIDsLoseWrites runs each known failing id on hv: it loses
// acknowledged writes, its SDK marks show the bug's steps (two takeovers,
// a deposed primary's resync that turned a replicated write away), and a
// second run of it is the same run (the same trace hash and failures).
func TestHVKnownIDsLoseWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: runs the rejoin example under hv (2 runs of 10 s)")
	}
	run := runs(t)
	ctx := context.Background()
	for _, id := range failingIDs {
		c, err := search.ParseID(id)
		if err != nil {
			t.Fatal(err)
		}
		r, err := run(ctx, c)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		m := marks(r)
		t.Logf("%s: failing %v, trace hash %s, takeovers %d, resyncs %d, writes turned away %d", id, r.Failing, r.TraceHash, m[takeover], m[resynced], m[turnedAway])
		if !r.Fails(lostWrites) {
			t.Errorf("%s: failing %v, want %q", id, r.Failing, lostWrites)
		}
		if m[takeover] < 2 || m[resynced] < 1 || m[turnedAway] < 1 {
			t.Errorf("%s: the marks do not show the bug's steps (takeovers %d, want 2; resyncs %d and writes turned away %d, want 1 each)", id, m[takeover], m[resynced], m[turnedAway])
		}
		again, err := run(ctx, c)
		if err != nil {
			t.Fatalf("%s again: %v", id, err)
		}
		if again.TraceHash != r.TraceHash || !again.Fails(lostWrites) {
			t.Errorf("%s replayed: trace hash %s failing %v; first run %s failing %v", id, again.TraceHash, again.Failing, r.TraceHash, r.Failing)
		}
	}
}
