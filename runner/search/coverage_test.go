package search

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/faults"
)

// newTestExplorer is Explore's state with weights w and no runs yet.
func newTestExplorer(w Weights) *explorer {
	return &explorer{opts: ExploreOptions{Burst: sec, C: 1, Weights: &w, Kinds: []string{"kill"}},
		count: map[string]int{}, cover: map[string]int{}, seen: map[string]bool{}, shown: map[string]int{}, met: map[string]bool{}, best: map[string]float64{}, found: map[string]bool{}, ran: map[string]bool{}, kinds: map[string]arm{},
		tree: &Tree{}}
}

// TestScoreCoverage: two children of one root whose runs differ only in
// one coverage feature the other never reached score apart by exactly the
// coverage weight times the feature's surprisal (one run of three ran it:
// log2 3 bits; the features all three ran count 0), and not at all with
// the weight 0; the parent's arm that produced the new coverage is
// rewarded for it (1 new feature: 1/4), the other arm not. The progress
// names the nodes without counters.
func TestScoreCoverage(t *testing.T) {
	common := []CoverHit{{At: sec, Feature: "c:svc:10:1"}, {At: sec, Feature: "c:svc:11:4"}}
	res := func(extra ...CoverHit) *Result {
		return &Result{End: 5 * sec, Plan: faults.Plan{Duration: 4 * sec}, Cover: append(append([]CoverHit(nil), common...), extra...)}
	}
	for _, w := range []float64{1, 0, 2.5} {
		e := newTestExplorer(Weights{Rarity: 1, Unmet: 2, Guidance: 1, Coverage: w})
		var progress strings.Builder
		e.opts.Progress = &progress
		root := &Node{Parent: -1}
		rr := res()
		rr.Uncovered = []string{"db"}
		e.fold(root, rr, nil)
		if !strings.Contains(progress.String(), "no coverage counters on db") {
			t.Errorf("progress does not name the node without counters:\n%s", progress.String())
		}
		if root.Coverage != 2 {
			t.Fatalf("root has %d coverage features, want 2", root.Coverage)
		}
		a := &Node{Parent: 0, Depth: 1, At: sec, Arm: "all"}
		b := &Node{Parent: 0, Depth: 1, At: sec, Arm: "kill"}
		root.arms[0].n, root.arms[1].n = 1, 1 // both pulled, as pick leaves them
		e.fold(a, res(), root)
		e.fold(b, res(CoverHit{At: 1500 * time.Millisecond, Feature: "c:svc:42:2"}), root)
		if a.NewCoverage != 0 || b.NewCoverage != 1 || b.Coverage != 3 {
			t.Fatalf("new coverage a %d, b %d; b has %d features", a.NewCoverage, b.NewCoverage, b.Coverage)
		}
		if d := e.score(b) - e.score(a); math.Abs(d-w*math.Log2(3)) > 1e-9 {
			t.Errorf("weight %v: score(b) - score(a) = %v, want %v", w, d, w*math.Log2(3))
		}
		var kill, all arm
		for _, x := range root.arms {
			switch x.name {
			case "kill":
				kill = x
			case "all":
				all = x
			}
		}
		want := 0.25 // its run's one new counter; with the weight 0 coverage earns nothing
		if w == 0 {
			want = 0
		}
		if kill.n != 1 || kill.reward != want || all.n != 1 || all.reward != 0 || e.kinds["kill"].reward != want {
			t.Errorf("weight %v: arms after one child each: kill %+v, all %+v, kill over the tree %+v; want kill rewarded %v for its new counter", w, kill, all, e.kinds["kill"], want)
		}
	}
}

// coverRun is a fake hv whose kill branches reach code nothing else
// does: each run's coverage is the root's, plus, in a branch limited to
// kills, a feature of its own after its moment.
func coverRun(_ context.Context, c Candidate) (*Result, error) {
	id := c.ID()
	h := fnv.New32a()
	h.Write([]byte(id))
	r := &Result{ID: id, End: 10 * sec, Plan: faults.Plan{Duration: 8 * sec}, Runs: 1, TraceHash: fmt.Sprintf("%08x", h.Sum32())}
	r.Cover = []CoverHit{{At: sec, Feature: "c:svc:1:1"}, {At: 2 * sec, Feature: "c:svc:2:1"}}
	if c.Branch != nil && strings.HasSuffix(id, ":kill") {
		r.Cover = append(r.Cover, CoverHit{At: c.Branch.Last().At + sec/2, Feature: "c:svc:restart:" + id})
	}
	return r, nil
}

// TestExploreFollowsCoverage: when only kill branches reach new code,
// the search expands kill branches (at least three quarters of the nodes
// below the root it expands: in the first rounds, with few runs to compare
// with, a counter every run reaches still counts as uncommon) and goes
// deeper along them; with the coverage weight 0, where nothing
// tells the branches apart, only the root gets children. The tree is the
// same at any number of jobs.
func TestExploreFollowsCoverage(t *testing.T) {
	explore := func(w *Weights, jobs int) *Tree {
		tr, err := Explore(context.Background(), coverRun, ExploreOptions{Root: 3, Burst: sec, Budget: 600, Width: 4, Jobs: jobs, Kinds: []string{"partition", "pause", "kill"}, Weights: w})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	// expanded returns the non-root nodes that got children, and how many
	// of them are kill branches.
	expanded := func(tr *Tree) (all, kills int) {
		parents := map[int]bool{}
		for _, n := range tr.Nodes {
			if n.Parent > 0 {
				parents[n.Parent] = true
			}
		}
		for i := range parents {
			all++
			if tr.Nodes[i].Arm == "kill" {
				kills++
			}
		}
		return all, kills
	}
	tr := explore(nil, 1)
	if all, kills := expanded(tr); all == 0 || 4*kills < 3*all {
		t.Errorf("with the coverage term: %d nodes below the root expanded, %d of them kill branches; want some, at least three quarters kill branches", all, kills)
	}
	depth := 0
	for _, n := range tr.Nodes {
		depth = max(depth, n.Depth)
	}
	if depth < 3 {
		t.Errorf("with the coverage term the tree is %d deep; want at least 3", depth)
	}
	if all, _ := expanded(explore(&Weights{Rarity: 1, Unmet: 2, Guidance: 1}, 1)); all != 0 {
		t.Errorf("with the coverage weight 0: %d nodes below the root expanded; want none", all)
	}
	kills, newCov := 0, 0
	for _, n := range tr.Nodes {
		if n.Arm == "kill" {
			kills++
		}
		newCov += n.NewCoverage
	}
	if newCov != kills+2 {
		t.Errorf("%d new coverage features; want one per kill branch (%d) and the root's 2", newCov, kills)
	}
	if tr3 := explore(nil, 3); tr3.Hash != tr.Hash {
		t.Errorf("tree hash at jobs 1 and 3: %s, %s", tr.Hash, tr3.Hash)
	}
}
