package kvstore_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mvrun/multiverse/internal/seeds"
	"github.com/mvrun/multiverse/runner/hvbackend"
	"github.com/mvrun/multiverse/runner/search"
	"github.com/mvrun/multiverse/specs"
)

// TestHVShrinkAndAttribute shrinks a seed that loses acknowledged writes
// under hv, as `mvrun shrink` does: the minimal schedule has fewer faults
// than the seed's, its id replays to the same trace hash and the same
// failure, attribution names a necessary fault, and the run without that
// fault keeps every acknowledged write.
func TestHVShrinkAndAttribute(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: shrinks a kvstore seed under hv (about 15 runs)")
	}
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
	tt.Duration = 12 * time.Second
	dir := t.TempDir()
	if err := b.Prepare(ctx, tt, filepath.Join(dir, "work")); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	raw := search.Runs(tt, b, dir, log)
	run := search.Memo(raw)

	// The first of the test's seeds from 0x5eed that loses writes.
	var start search.Candidate
	var first *search.Result
	for i := range 3 {
		c := search.Candidate{Seed: seeds.Nth(0x5eed, i)}
		r, err := run(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if r.Fails(lostWrites) {
			start, first = c, r
			break
		}
	}
	if first == nil {
		t.Fatal("none of 3 seeds lost acknowledged writes under hv")
	}

	res, err := search.Shrink(ctx, run, start, search.ShrinkOptions{Property: lostWrites, Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("shrunk %s: %d faults -> %d in %d runs: %s", res.Start, res.Faults, res.Kept, len(res.Steps), res.Minimal)
	for _, l := range res.Schedule {
		t.Logf("  %s", l)
	}
	if res.Kept >= res.Faults {
		t.Fatalf("the minimal schedule keeps %d of %d faults", res.Kept, res.Faults)
	}

	// The minimal id, parsed as mvrun replay parses it, replays exactly.
	min, err := search.ParseID(res.Minimal)
	if err != nil {
		t.Fatal(err)
	}
	var shrunk *search.Step
	for i := range res.Steps {
		if res.Steps[i].ID == res.Minimal {
			shrunk = &res.Steps[i]
		}
	}
	if shrunk == nil && res.Minimal != start.ID() {
		t.Fatalf("no step of the shrink ran the minimal id %s", res.Minimal)
	}
	again, err := raw(ctx, min)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Fails(lostWrites) {
		t.Fatalf("the replay of %s fails %v, not %q", res.Minimal, again.Failing, lostWrites)
	}
	if shrunk != nil && again.TraceHash != shrunk.TraceHash {
		t.Errorf("the replay of %s has trace hash %s, the shrink's run %s", res.Minimal, again.TraceHash, shrunk.TraceHash)
	}

	a, err := search.Attribute(ctx, run, min, lostWrites, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	var necessary *search.Cause
	for i, c := range a.Causes {
		t.Logf("cause: %s", c.Line())
		if c.Necessary && necessary == nil {
			necessary = &a.Causes[i]
		}
	}
	if necessary == nil {
		t.Fatalf("attribution named no necessary fault of %s", res.Minimal)
	}
	// Removing it makes the replay pass (replayed again, not remembered).
	w, err := search.ParseID(necessary.Without)
	if err != nil {
		t.Fatal(err)
	}
	without, err := raw(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	if without.Fails(lostWrites) {
		t.Errorf("without the necessary fault (%s) the run still loses writes", necessary.Without)
	}
}
