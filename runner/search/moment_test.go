package search

import (
	"slices"
	"testing"
	"time"

	"github.com/mvrun/multiverse/faults"
)

// TestChildrenAt: the root's children branch where its fault phase
// starts; another node's children just after its run's step — the first
// assertion its run showed after its moment that it had not shown before
// and that at most half the runs have shown, with what came within a
// grain of it — or one burst after its moment without one.
func TestChildrenAt(t *testing.T) {
	const ms = time.Millisecond
	e := newTestExplorer(Weights{Rarity: 1})
	e.opts.Burst, e.opts.Grain = 2*sec, 125*ms
	hit := func(at time.Duration, id string) Hit {
		return Hit{At: at, Kind: "assert", ID: id, Type: "reachability", Cond: true}
	}
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
	hit := func(at time.Duration, id string) Hit {
		return Hit{At: at, Kind: "assert", ID: id, Type: "reachability", Cond: true}
	}
	res := func(hits ...Hit) *Result {
		return &Result{End: 10 * sec, FaultStart: 930 * ms, Plan: faults.Plan{Duration: 8 * sec}, Hits: hits}
	}
	root := &Node{Parent: -1}
	e.fold(root, res(hit(500*ms, "acked")), nil)
	child := func(p *Node, hits ...Hit) *Node {
		n := &Node{Parent: slices.Index(e.tree.Nodes, p), Depth: p.Depth + 1, At: p.ChildrenAt, Arm: "all"}
		p.Children++
		e.fold(n, res(hits...), p)
		return n
	}
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
