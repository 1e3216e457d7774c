package search

import (
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
	// turned away later is.
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
	if c.New != 0 || c.value != 0.5 {
		t.Errorf("the run with a rare step: %d new features, reward %v; want 0 and 0.5", c.New, c.value)
	}
	// A step less than a burst before the fault phase's end (8.93 s) is
	// not taken.
	if d := child(sec, hit(7500*ms, "resynced")); d.ChildrenAt != 3*sec {
		t.Errorf("a late step: children at %v, want 3s", d.ChildrenAt)
	}
}
