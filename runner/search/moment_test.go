package search

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/mvrun/multiverse/faults"
)

// TestChildrenAt: the root's children branch where its fault phase
// starts; another node's children just after its run's step — the
// rarest assertion its run showed after its moment that it had not shown
// before and that at most half the runs have shown (the earliest on a
// tie, and only among those that leave a burst), with what came within a
// grain after it — or one burst after its moment without one.
func TestChildrenAt(t *testing.T) {
	const ms = time.Millisecond
	e := newTestExplorer(Weights{Rarity: 1})
	e.opts.Burst, e.opts.Grain = 2*sec, 125*ms
	hit := reach
	res := func(hits ...Hit) *Result {
		return &Result{End: 10 * sec, FaultStart: 930 * ms, Plan: faults.Plan{Duration: 8 * sec}, Hits: hits}
	}
	root := &Node{Parent: -1}
	e.fold(root, res(hit(500*ms, "acked"), hit(1200*ms, "acked")), nil)
	if root.ChildrenAt != sec {
		t.Fatalf("root's children at %v, want 1s: the first grid point after the fault phase's start (930ms)", root.ChildrenAt)
	}
	child := func(at time.Duration, hits ...Hit) *Node {
		n := &Node{Parent: 0, Depth: 1, At: at, Arm: "all"}
		root.arms[0].n++
		e.fold(n, res(hits...), root)
		return n
	}
	// "acked" was shown before the moment; the takeover and the write
	// turned away 50 ms later are one step; the resync is the next.
	a := child(sec, hit(500*ms, "acked"), hit(1500*ms, "acked"), hit(2*sec, "takeover"), hit(2050*ms, "turned away"), hit(2500*ms, "resynced"))
	if want := 2125 * ms; a.ChildrenAt != want {
		t.Errorf("children at %v, want %v: just after the takeover and the write turned away with it", a.ChildrenAt, want)
	}
	// A run with nothing new after its moment: one burst on.
	if b := child(sec, hit(500*ms, "acked")); b.ChildrenAt != 3*sec {
		t.Errorf("without a step: children at %v, want 3s", b.ChildrenAt)
	}
	// Once most runs have shown a takeover, it is no step: the write
	// turned away later is. (Four of six runs have shown it: with the
	// next one, five of seven.)
	for range 3 {
		child(sec, hit(2*sec, "takeover"))
	}
	c := child(sec, hit(2*sec, "takeover"), hit(3*sec, "turned away"))
	if want := 3125 * ms; c.ChildrenAt != want {
		t.Errorf("a common takeover then a rare write turned away: children at %v, want %v", c.ChildrenAt, want)
	}
	// Its reward is the step's rarity: one other run had turned a write
	// away, 1/(1+1); nothing in it was new.
	if c.New != 0 || c.Reward != 0.5 {
		t.Errorf("the run with a rare step: %d new features, reward %v; want 0 and 0.5", c.New, c.Reward)
	}
	// The rarest step, not the first: a resync one run has shown at 2 s,
	// then a step-down none has shown at 2.5 s; the children keep the
	// step-down. A rarer feature too late to leave a burst (7.5 s) is
	// passed over for the rarest before it.
	if d := child(sec, hit(2*sec, "resynced"), hit(2500*ms, "stepped down")); d.ChildrenAt != 2625*ms {
		t.Errorf("a resync then a rarer step-down: children at %v, want 2.625s", d.ChildrenAt)
	}
	if d := child(sec, hit(2*sec, "resynced"), hit(7500*ms, "both rejoining")); d.ChildrenAt != 2125*ms {
		t.Errorf("a resync then a rarer feature too late: children at %v, want 2.125s", d.ChildrenAt)
	}
	// A step less than a burst before the fault phase's end (8.93 s) is
	// not taken.
	if d := child(sec, hit(7500*ms, "resynced")); d.ChildrenAt != 3*sec {
		t.Errorf("a late step: children at %v, want 3s", d.ChildrenAt)
	}
}

// TestPriority: a run without a step is not expanded; of two nodes in
// the same state, the one whose child made a rare step goes before the
// one whose child found nothing; every other pick is the root's, and the
// others go first to a fresh node past a rarer step than any other.
func TestPriority(t *testing.T) {
	const ms = time.Millisecond
	e := newTestExplorer(Weights{Rarity: 1})
	e.opts.Burst, e.opts.Grain, e.opts.Width = 2*sec, 125*ms, 1
	e.start, e.last = 930*ms, 8930*ms
	hit := reach
	root, child := testTree(e)
	a := child(root, hit(2*sec, "takeover"))
	b := child(root, hit(2*sec, "takeover"))
	if c := child(root, hit(500*ms, "acked")); e.expandable(c) || !e.expandable(a) {
		t.Fatalf("expandable: without a step %v, after a takeover %v; want false, true", e.expandable(c), e.expandable(a))
	}
	a1 := child(a)
	b1 := child(b, hit(3*sec, "turned away"))
	if a1.Reward != 0 || b1.Reward == 0 {
		t.Fatalf("rewards: a's child %v, b's child %v; want 0 and more", a1.Reward, b1.Reward)
	}
	top := 0.0
	for _, n := range e.tree.Nodes {
		if e.expandable(n) {
			n.State = e.score(n)
			top = max(top, n.State)
		}
	}
	if pa, pb := e.priority(a, top), e.priority(b, top); pb <= pa {
		t.Errorf("priority of the node whose child found nothing %v, of the one whose child turned a write away %v; want the second higher", pa, pb)
	}
	// Every other pick is the root's; the others go by priority.
	if p := e.pick(); len(p) != 1 || p[0].parent != root {
		t.Errorf("first pick: %+v; want a child of the root", p)
	}
	if p := e.pick(); len(p) != 1 || p[0].parent != b1 {
		t.Errorf("second pick: %+v; want one of b's child, past the rarest step", p)
	}
}

// TestScoreGained: a state scores what its own run added to its path, in
// bits: a write turned away that two runs of four showed (the run and its
// child, which replayed it) scores log2(4/2) = 1 for the run that turned
// it away and nothing for its child, which inherited it and added
// nothing.
func TestScoreGained(t *testing.T) {
	const ms = time.Millisecond
	e := newTestExplorer(Weights{Rarity: 1})
	e.opts.Burst, e.opts.Grain = 2*sec, 125*ms
	hit := reach
	root, child := testTree(e)
	a := child(root, hit(500*ms, "acked"), hit(2*sec, "turned away"))
	child(root, hit(500*ms, "acked"))
	a1 := child(a, hit(500*ms, "acked"), hit(2*sec, "turned away"))
	if s := e.score(a); math.Abs(s-1) > 1e-9 {
		t.Errorf("score of the run that turned a write away: %v, want 1 (log2 of 4 runs / 2 that showed it)", s)
	}
	if s := e.score(a1); s != 0 {
		t.Errorf("score of its child, which added nothing: %v, want 0", s)
	}
}

// reach is a Reachable assertion id hit at virtual time at.
func reach(at time.Duration, id string) Hit {
	return Hit{At: at, Kind: "assert", ID: id, Type: "reachability", Cond: true}
}

// testTree folds a root run into e (fault phase 0.93–8.93 s, an
// acknowledged write at 500 ms) and returns the root and a function that
// folds in a child of a node at its children's moment, whose run has the
// given hits.
func testTree(e *explorer) (*Node, func(*Node, ...Hit) *Node) {
	res := func(hits ...Hit) *Result {
		return &Result{End: 10 * sec, FaultStart: 930 * time.Millisecond, Plan: faults.Plan{Duration: 8 * sec}, Hits: hits}
	}
	root := &Node{Parent: -1}
	e.fold(root, res(reach(500*time.Millisecond, "acked")), nil)
	child := func(p *Node, hits ...Hit) *Node {
		n := &Node{Parent: slices.Index(e.tree.Nodes, p), Depth: p.Depth + 1, At: p.ChildrenAt, Arm: "all"}
		p.Children++
		e.fold(n, res(hits...), p)
		return n
	}
	return root, child
}
