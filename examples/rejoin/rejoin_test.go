// Package rejoin_test runs the rejoin example on hv: a known failing id
// loses acknowledged writes through the planted bug's three steps, and
// replays exactly.
package rejoin_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

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
// docs/exploration.md (`mvrun test --random --seed 11`, its 10th run).
var failingIDs = []string{
	"0x2b007ce2a9167cc2",
}

// runs prepares the spec's test on a hv backend with options o (building
// the example's binaries) and returns a function running one id; it skips
// without /dev/kvm.
func runs(t *testing.T, o hvbackend.Options) search.RunFunc {
	t.Helper()
	ctx := context.Background()
	b := hvbackend.New(o)
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
	run := runs(t, hvbackend.Options{})
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

// The root and budget of TestHVSearchFindsLostWrite's search: the CLI's
// search from root 16 finds the lost write after 61 bursts (21 runs, tree
// hash 9c041fbf401d3a27).
const (
	searchRoot   = 16
	searchBudget = 100
)

// TestHVSearchFindsLostWrite runs a guided search from root seed 16 with
// the spec's explore settings (mvrun test spec.hcl --explore --seed 16
// --budget 100 --first: bursts of 2 s, width 2, probes of 4 s): it finds
// the lost write within 100 bursts in a branch of a state a probe
// reached, every run after the first round resumes from a snapshot of an
// ancestor's run (none replays from time zero), and the finding replayed
// from time zero is the same run, failing the same property.
// docs/exploration.md compares the search with independent seeds over
// roots 16–40.
func TestHVSearchFindsLostWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: a guided search of the rejoin example under hv (about 20 runs)")
	}
	// Coverage read at every burst, as mvrun test --explore does.
	run := runs(t, hvbackend.Options{Cover: hvbackend.Cover{Period: 2 * time.Second}})
	ctx := context.Background()
	s, err := specs.Load(ctx, "spec.hcl")
	if err != nil {
		t.Fatal(err)
	}
	tt := s.Tests[0]
	cfg := tt.Explore
	if cfg == nil || cfg.Burst != 2*time.Second || cfg.Width != 2 || cfg.Probe != 4*time.Second {
		t.Fatalf("the spec's explore block is %+v; this test follows bursts of 2s, width 2 and probes of 4s", cfg)
	}
	arms := tt.Faults.Arms(cfg.Arms, tt.Project.ServiceNames())
	tr, err := search.Explore(ctx, run, search.ExploreOptions{Root: searchRoot, Burst: cfg.Burst, Budget: searchBudget, Width: cfg.Width, Jobs: 2, Kinds: arms, C: cfg.Exploration, First: true, Probe: cfg.Probe,
		Weights: &search.Weights{Rarity: cfg.Rarity, Unmet: cfg.Unmet, Guidance: cfg.Guidance, Coverage: cfg.Coverage}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d runs, %d bursts, %v virtual, tree hash %s, first failure after %v", len(tr.Nodes), tr.Spent, tr.Virtual, tr.Hash, tr.FirstFailure)
	if len(tr.Findings) == 0 {
		t.Fatalf("no finding in %d runs (%d bursts)", len(tr.Nodes), tr.Spent)
	}
	// The first round's runs start together, before any snapshot of the
	// root's at their moment; every later one resumes from an ancestor's
	// snapshot (the tree is too small for any record to be dropped), also
	// the children of a node whose step came before its run took a
	// snapshot of its own.
	for i, n := range tr.Nodes[1+cfg.Width:] {
		if n.Resumed == 0 {
			t.Errorf("%s, run %d, replayed from time zero; want it resumed from an ancestor's snapshot", n.ID, 1+cfg.Width+i)
		}
	}
	// Fresh schedules are probes, cut two bursts in: they judge nothing,
	// and the finding is a branch of a state one of them reached.
	for _, n := range tr.Nodes {
		if n.Depth == 1 && (n.Cut == 0 || len(n.Failing) > 0) {
			t.Errorf("fresh schedule %s: cut %v, failing %v; want a probe, failing nothing", n.ID, n.Cut, n.Failing)
		}
	}
	f := tr.Findings[0]
	var node *search.Node
	for _, n := range tr.Nodes {
		if n.ID == f.ID {
			node = n
		}
	}
	if !slices.Contains(f.Failing, lostWrites) || node.Resumed == 0 {
		t.Fatalf("finding %s fails %v (resumed at %v); want %q from a resumed run", f.ID, f.Failing, node.Resumed, lostWrites)
	}
	c, err := search.ParseID(f.ID)
	if err != nil {
		t.Fatal(err)
	}
	r, err := run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if r.Resumed != 0 || r.TraceHash != node.TraceHash || !r.Fails(lostWrites) {
		t.Errorf("%s from time zero: trace hash %s failing %v; in the search (resumed at %v) %s", f.ID, r.TraceHash, r.Failing, node.Resumed, node.TraceHash)
	}
}
