package kvstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mvrun/multiverse/internal/seeds"
	"github.com/mvrun/multiverse/runner/hvbackend"
	"github.com/mvrun/multiverse/runner/search"
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
	b, tt, dir := preparedHV(t, hvbackend.Options{}, "spec.hcl", 12*time.Second)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	run := search.Memo(search.Runs(tt, b, dir, log))

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
	// Candidates resume from earlier candidates' snapshots, just before
	// their schedules depart; the checks below replay from time zero.
	resumed := 0
	for _, st := range res.Steps {
		if st.Resumed > 0 {
			resumed++
		}
	}
	t.Logf("%d of %d runs resumed from a snapshot", resumed, len(res.Steps))
	if resumed == 0 {
		t.Error("no candidate resumed from an earlier one's snapshot")
	}
	fresh := func(c search.Candidate) *search.Result {
		t.Helper()
		r, err := search.Runs(tt, b, filepath.Join(dir, "fresh"), log)(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return r
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
	again := fresh(min)
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
	without := fresh(w)
	if without.Fails(lostWrites) {
		t.Errorf("without the necessary fault (%s) the run still loses writes", necessary.Without)
	}
}

// TestHVExploreTwiceSameTree runs a small guided search of the fixed store
// on hv twice from
// the same root seed and budget (at different --jobs): the trees, their
// hashes and the findings are the same, as docs/exploration.md promises.
func TestHVExploreTwiceSameTree(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: explores the kvstore example under hv (about 8 runs)")
	}
	ctx := context.Background()
	// The fixed store: a failing node is not expanded, and nearly every
	// run of the buggy one fails, so its tree would stop at the root.
	// Coverage read at every burst boundary, as mvrun test --explore does.
	b, tt, dir := preparedHV(t, hvbackend.Options{Cover: hvbackend.Cover{Period: 2 * time.Second}}, "safe.hcl", 6*time.Second)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var trees []*search.Tree
	for i, jobs := range []int{2, 1} {
		run := search.Runs(tt, b, filepath.Join(dir, fmt.Sprint(i)), log)
		tr, err := search.Explore(ctx, run, search.ExploreOptions{Root: 0x5eed, Burst: 2 * time.Second, Budget: 12, Width: 2, Jobs: jobs, Kinds: tt.Faults.Arms(tt.Faults.Kinds(), tt.Project.ServiceNames())})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("jobs %d: %d runs, %d bursts, tree hash %s, %d findings", jobs, len(tr.Nodes), tr.Spent, tr.Hash, len(tr.Findings))
		trees = append(trees, tr)
	}
	a, c := trees[0], trees[1]
	if len(a.Nodes) < 3 {
		t.Fatalf("the search ran %d runs; want the root and a round of children", len(a.Nodes))
	}
	if a.Hash != c.Hash {
		for i := range min(len(a.Nodes), len(c.Nodes)) {
			t.Logf("node %d: %s %s | %s %s", i, a.Nodes[i].ID, a.Nodes[i].TraceHash, c.Nodes[i].ID, c.Nodes[i].TraceHash)
		}
		t.Fatalf("tree hash %s, then %s", a.Hash, c.Hash)
	}
	fa, _ := json.Marshal(a.Findings)
	fc, _ := json.Marshal(c.Findings)
	if string(fa) != string(fc) {
		t.Errorf("findings differ:\n%s\n%s", fa, fc)
	}
	branched := false
	var resumed *search.Node
	for _, n := range a.Nodes {
		branched = branched || n.Parent >= 0
		if resumed == nil && n.Resumed > 0 {
			resumed = n
		}
	}
	if !branched {
		t.Error("no node of the tree is a branch")
	}
	// Children resume from their parent's snapshot; such a run is the run
	// its id names, as its replay from time zero shows.
	if resumed == nil {
		t.Fatal("no run of the tree resumed from a snapshot")
	}
	cand, err := search.ParseID(resumed.ID)
	if err != nil {
		t.Fatal(err)
	}
	r, err := search.Runs(tt, b, filepath.Join(dir, "zero"), log)(ctx, cand)
	if err != nil {
		t.Fatal(err)
	}
	if r.Resumed != 0 || r.TraceHash != resumed.TraceHash {
		t.Errorf("run %s resumed at %v has trace hash %s; from zero (resumed at %v) %s", resumed.ID, resumed.Resumed, resumed.TraceHash, r.Resumed, r.TraceHash)
	}
}
