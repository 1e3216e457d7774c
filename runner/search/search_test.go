package search

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mvrun/multiverse/faults"
)

const sec = time.Second

var testCfg = faults.Config{
	Partition: &faults.PartitionConfig{Every: 3 * sec, HealAfter: faults.Range{Min: sec, Max: 3 * sec}},
	Kill:      &faults.KillConfig{Every: 4 * sec, RestartAfter: faults.Range{Min: sec, Max: 2 * sec}},
}

// fakeRun stands for hv: a run is a pure function of its candidate. The
// property fails when the schedule still holds the two faults that
// started at the base plan's times want[0] and want[1] and the first
// lasts at least 400ms.
func fakeRun(want []time.Duration) RunFunc {
	return func(_ context.Context, c Candidate) (*Result, error) {
		base := faults.Schedule(c.Seed, testCfg, []string{"a", "b", "c"}, 30*sec)
		plan, err := c.Edits.Apply(base)
		if c.Edits.Empty() {
			plan, err = base, nil
		}
		if err != nil {
			return nil, err
		}
		r := &Result{ID: c.ID(), Base: base, Plan: plan, End: 40 * sec, FaultStart: 5 * sec, Runs: 1}
		got := 0
		bfs := faults.Faults(base)
		for i, f := range bfs {
			if c.Edits.Dropped(i) {
				continue
			}
			at := base.Actions[f.Start].At
			if at == want[0] && (c.Edits.Length[i] == 0 || c.Edits.Length[i] >= 400*time.Millisecond) || at == want[1] {
				got++
			}
		}
		if got == 2 {
			r.Failing = []string{"p"}
		}
		r.TraceHash = fmt.Sprintf("%x", len(c.ID()))
		return r, nil
	}
}

func TestShrinkAndAttribute(t *testing.T) {
	base := faults.Schedule(1, testCfg, []string{"a", "b", "c"}, 30*sec)
	fs := faults.Faults(base)
	if len(fs) < 6 {
		t.Fatalf("want a plan with at least 6 faults, got %d", len(fs))
	}
	want := []time.Duration{base.Actions[fs[1].Start].At, base.Actions[fs[4].Start].At}
	run := fakeRun(want)
	for _, jobs := range []int{1, 3} {
		res, err := Shrink(context.Background(), run, Candidate{Seed: 1}, ShrinkOptions{Jobs: jobs})
		if err != nil {
			t.Fatal(err)
		}
		if res.Kept != 2 || res.Faults != len(fs) {
			t.Fatalf("jobs %d: kept %d of %d faults, want 2: %v", jobs, res.Kept, res.Faults, res.Schedule)
		}
		c, err := ParseID(res.Minimal)
		if err != nil {
			t.Fatal(err)
		}
		if r, _ := run(context.Background(), c); !r.Fails("p") {
			t.Fatalf("the minimal id %s does not fail", res.Minimal)
		}
		a, err := Attribute(context.Background(), run, c, "p", jobs, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Causes) != 2 || !a.Causes[0].Necessary || !a.Causes[1].Necessary {
			t.Fatalf("causes: %+v", a.Causes)
		}
		for _, cs := range a.Causes {
			w, _ := ParseID(cs.Without)
			if r, _ := run(context.Background(), w); r.Fails("p") {
				t.Fatalf("without a necessary fault (%s) the run still fails", cs.Without)
			}
		}
	}
	// Not failing: nothing to shrink.
	if _, err := Shrink(context.Background(), fakeRun([]time.Duration{-1, -1}), Candidate{Seed: 1}, ShrinkOptions{}); err == nil {
		t.Fatal("shrinking a passing run succeeded")
	}
}

// treeRun is a fake hv for Explore: hits and failures are functions of
// the candidate's id; a branch limited to kills two levels down sometimes
// fails.
func treeRun(_ context.Context, c Candidate) (*Result, error) {
	id := c.ID()
	h := fnv.New32a()
	h.Write([]byte(id))
	v := h.Sum32()
	r := &Result{ID: id, End: 10 * sec, Plan: faults.Plan{Duration: 8 * sec}, Runs: 1, TraceHash: fmt.Sprintf("%08x", v)}
	for i := range 3 {
		r.Hits = append(r.Hits, Hit{At: time.Duration(i+1) * sec, Kind: "assert", ID: fmt.Sprintf("s%d", (v>>(4*i))%5), Type: "sometimes", Cond: v>>(4*i+2)%7 == 0})
	}
	if c.Branch != nil && c.Branch.Depth() >= 2 && strings.Count(id, ":kill") >= 1 && v%3 == 0 {
		r.Failing = []string{"bug"}
	}
	return r, nil
}

// exploreRoot is a root whose tree over treeRun holds failures, more than
// one, after the first round: treeRun's failures are a hash of the id, so
// whether a 300-burst tree meets one depends on the root (with the
// current selection, 19 of roots 1–20 do; root 7 does not).
const exploreRoot = 8

func TestExploreDeterministicAtAnyJobs(t *testing.T) {
	var hashes []string
	var first *Tree
	for _, jobs := range []int{1, 4} {
		tr, err := Explore(context.Background(), treeRun, ExploreOptions{Root: exploreRoot, Burst: sec, Budget: 300, Jobs: jobs, Kinds: []string{"kill", "partition"}})
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, tr.Hash)
		if first == nil {
			first = tr
		}
		if tr.Spent < 300 || tr.Spent > 300+4*10 {
			t.Fatalf("spent %d bursts of a 300 budget", tr.Spent)
		}
	}
	if hashes[0] != hashes[1] {
		t.Fatalf("tree hash at jobs 1 and 4: %v", hashes)
	}
	if len(first.Findings) == 0 {
		t.Fatalf("no finding in %d nodes", len(first.Nodes))
	}
	for _, f := range first.Findings {
		c, err := ParseID(f.ID)
		if err != nil || c.Branch == nil {
			t.Fatalf("finding id %q: %v", f.ID, err)
		}
		if r, _ := treeRun(context.Background(), c); !slices.Equal(r.Failing, f.Failing) {
			t.Fatalf("finding %s does not replay", f.ID)
		}
	}
	depth := 0
	for _, n := range first.Nodes {
		depth = max(depth, n.Depth)
	}
	if depth < 2 {
		t.Fatalf("the tree never went deeper than %d", depth)
	}
	var rhash string
	for _, jobs := range []int{1, 3} {
		rt, err := Random(context.Background(), treeRun, RandomOptions{Root: 7, Burst: sec, Budget: 100, Jobs: jobs})
		if err != nil || rt.Spent < 100 || len(rt.Nodes) != 10 {
			t.Fatalf("random at jobs %d: %+v %v", jobs, rt, err)
		}
		if rhash != "" && rt.Hash != rhash {
			t.Fatalf("random tree hash at jobs 1 %s, at jobs 3 %s", rhash, rt.Hash)
		}
		rhash = rt.Hash
	}
}

// With First, both strategies stop once a run fails: the first finding is
// the one the whole budget would have found first, at any jobs.
func TestStopAtFirstFailure(t *testing.T) {
	seedRun := func(ctx context.Context, c Candidate) (*Result, error) {
		r, err := treeRun(ctx, c)
		if c.Branch == nil && c.Seed%5 == 3 {
			r.Failing = []string{"bug"}
		}
		return r, err
	}
	full, err := Random(context.Background(), seedRun, RandomOptions{Root: 7, Burst: sec, Budget: 400, Jobs: 2})
	if err != nil || len(full.Findings) < 2 {
		t.Fatalf("want at least two failing seeds in the whole budget: %+v %v", full, err)
	}
	for _, jobs := range []int{1, 3} {
		rt, err := Random(context.Background(), seedRun, RandomOptions{Root: 7, Burst: sec, Budget: 400, Jobs: jobs, First: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(rt.Findings) != 1 || rt.Findings[0].ID != full.Findings[0].ID || rt.FirstFailure != full.FirstFailure || rt.Nodes[len(rt.Nodes)-1].ID != full.Findings[0].ID {
			t.Fatalf("jobs %d: stopped with %+v after %d runs; the whole budget's first finding is %+v", jobs, rt.Findings, len(rt.Nodes), full.Findings[0])
		}
	}
	whole, err := Explore(context.Background(), treeRun, ExploreOptions{Root: exploreRoot, Burst: sec, Budget: 300, Jobs: 2, Kinds: []string{"kill", "partition"}})
	if err != nil || len(whole.Findings) == 0 {
		t.Fatalf("%+v %v", whole, err)
	}
	first, err := Explore(context.Background(), treeRun, ExploreOptions{Root: exploreRoot, Burst: sec, Budget: 300, Jobs: 2, Kinds: []string{"kill", "partition"}, First: true})
	if err != nil {
		t.Fatal(err)
	}
	if first.FirstFailure != whole.FirstFailure || first.Findings[0].ID != whole.Findings[0].ID || first.Spent >= whole.Spent {
		t.Fatalf("explore stopped at %v (%d bursts), the whole budget's first failure is at %v", first.FirstFailure, first.Spent, whole.FirstFailure)
	}
}

// With Probe, each fresh schedule (a child of the root) is cut Probe
// after its moment: its candidate carries the stop, its run judges
// nothing, and only deeper runs, which go to the end, find the failure.
// The tree is the same at any jobs.
func TestExploreProbes(t *testing.T) {
	var mu sync.Mutex
	stops := map[string]time.Duration{}
	probeRun := func(ctx context.Context, c Candidate) (*Result, error) {
		mu.Lock()
		stops[c.ID()] = c.Stop
		mu.Unlock()
		r, err := treeRun(ctx, c)
		if err == nil && c.Stop > 0 && r.End > c.Stop {
			r.Hits = slices.DeleteFunc(r.Hits, func(h Hit) bool { return h.At >= c.Stop })
			r.cut(c.Stop)
		}
		return r, err
	}
	opts := ExploreOptions{Root: exploreRoot, Burst: sec, Budget: 300, Kinds: []string{"kill", "partition"}, Probe: 2 * sec}
	var hashes []string
	for _, jobs := range []int{1, 4} {
		opts.Jobs = jobs
		tr, err := Explore(context.Background(), probeRun, opts)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, tr.Hash)
		probes, deeper := 0, 0
		for _, n := range tr.Nodes {
			switch stop := stops[n.ID]; {
			case n.Depth == 1:
				probes++
				if want := n.At + 2*sec - time.Millisecond; stop != want || n.Cut != want || len(n.Failing) > 0 {
					t.Fatalf("fresh schedule %s: stop %v cut %v failing %v; want cut at %v, failing nothing", n.ID, stop, n.Cut, n.Failing, want)
				}
			case stop != 0 || n.Cut != 0:
				t.Fatalf("run %s at depth %d: stop %v cut %v; only fresh schedules are probes", n.ID, n.Depth, stop, n.Cut)
			case n.Depth > 1:
				deeper++
			}
		}
		if probes == 0 || deeper == 0 || len(tr.Findings) == 0 {
			t.Fatalf("jobs %d: %d probes, %d deeper runs, findings %v", jobs, probes, deeper, tr.Findings)
		}
	}
	if hashes[0] != hashes[1] {
		t.Fatalf("tree hash at jobs 1 and 4: %v", hashes)
	}
}
