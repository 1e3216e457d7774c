// Package faulttest is the conformance suite for fault injectors, in the
// style of testing/fstest: [Run] applies each action kind, checks through an
// [Observer] that the fault took effect and that its undo (heal, restart,
// resume, clean link, zero offset) takes it back, and runs a whole seeded
// plan followed by [faults.HealAll]. A kind an injector cannot carry out
// must fail with [faults.ErrUnsupported]; its subtest is then skipped with
// that reason.
//
// Every backend runs the suite against its real clusters
// (TestFaultInjector in runner/process, runner/docker and runner/hvbackend,
// through runner/backendtest's RunFaults, which observes reachability with
// probes over the nodes' network and node states from the process table,
// the container engine or hv's own view of its nodes).
// [Fake] is an in-memory injector that passes the suite, for testing code
// that drives injectors.
package faulttest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/mvrun/multiverse/faults"
)

// Observer tells the suite what a cluster looks like from outside. Methods
// may take a moment (a real probe); they must answer within a few seconds.
type Observer interface {
	// Nodes returns the cluster's nodes. The suite needs at least 2; with
	// fewer than 4 it skips the partition shapes that need more.
	Nodes() []string
	// Reachable reports whether a packet sent now by from reaches to.
	Reachable(ctx context.Context, from, to string) (bool, error)
	// Running reports whether node's service process exists; a paused node
	// is running.
	Running(ctx context.Context, node string) (bool, error)
	// Paused reports whether node is paused.
	Paused(ctx context.Context, node string) (bool, error)
}

// LinkObserver is implemented by observers that can tell the link
// conditions in effect for packets from one node to another. Without it
// the suite only checks that link actions succeed or are unsupported.
type LinkObserver interface {
	Link(ctx context.Context, from, to string) (faults.Link, error)
}

// ClockObserver is implemented by observers that can read a node's clock
// offsets against the host: CLOCK_MONOTONIC's and the wall clock's.
// Without it the suite only checks that clock actions succeed or are
// unsupported.
type ClockObserver interface {
	Clock(ctx context.Context, node string) (monotonic, wall time.Duration, err error)
}

// Defaults of [Options].
const (
	DefaultPatience       = 10 * time.Second
	DefaultClockTolerance = 500 * time.Millisecond
)

// Options tunes the suite. The zero value is the defaults; options are
// passed to each run rather than kept in package variables, so suites with
// different settings can run in parallel.
type Options struct {
	// Patience is how long the suite waits for a fault or its undo to show
	// in the Observer; 0 means [DefaultPatience].
	Patience time.Duration
	// ClockTolerance is how far an observed clock offset may be from the
	// one set; 0 means [DefaultClockTolerance].
	ClockTolerance time.Duration
}

// NewInjector returns a fresh, healthy cluster's injector and an observer
// of the same cluster, and registers the cluster's cleanup with t.Cleanup.
type NewInjector = func(t *testing.T) (faults.Injector, Observer)

// suite is one run of the conformance suite, with its options resolved.
type suite struct {
	patience, clockTolerance time.Duration
}

// Run runs the conformance suite with the default [Options]. newInjector
// is called once per subtest and returns a fresh, healthy cluster's
// injector and an observer of the same cluster; it registers the
// cluster's cleanup with t.Cleanup.
func Run(t *testing.T, newInjector NewInjector) {
	t.Helper()
	Options{}.Run(t, newInjector)
}

// Run runs the conformance suite with these options; see the package
// function [Run].
func (o Options) Run(t *testing.T, newInjector NewInjector) {
	t.Helper()
	s := suite{patience: o.Patience, clockTolerance: o.ClockTolerance}
	if s.patience == 0 {
		s.patience = DefaultPatience
	}
	if s.clockTolerance == 0 {
		s.clockTolerance = DefaultClockTolerance
	}
	t.Run("unknown-kind", func(t *testing.T) { s.unknownKind(t, newInjector) })
	t.Run("unknown-node", func(t *testing.T) { s.unknownNode(t, newInjector) })
	for _, c := range partitionCases() {
		t.Run("partition/"+c.name, func(t *testing.T) { s.partition(t, newInjector, c) })
	}
	t.Run("kill-restart", func(t *testing.T) { s.killRestart(t, newInjector) })
	t.Run("pause-resume", func(t *testing.T) { s.pauseResume(t, newInjector) })
	t.Run("link", func(t *testing.T) { s.link(t, newInjector) })
	t.Run("clock", func(t *testing.T) { s.clock(t, newInjector) })
	t.Run("plan", func(t *testing.T) { s.plan(t, newInjector) })
}

// unknownKind: an action of a kind no injector knows fails with ErrUnsupported.
func (s suite) unknownKind(t *testing.T, newInjector NewInjector) {
	inj, _ := newInjector(t)
	err := inj.Apply(t.Context(), faults.Action{Kind: "no-such-kind"})
	if !errors.Is(err, faults.ErrUnsupported) {
		t.Errorf("Apply(kind no-such-kind) = %v, want an error wrapping faults.ErrUnsupported", err)
	}
}

// unknownNode: kills and pauses of a node the cluster does not have fail.
func (s suite) unknownNode(t *testing.T, newInjector NewInjector) {
	inj, _ := newInjector(t)
	for _, k := range []faults.ActionKind{faults.ActKill, faults.ActPause} {
		if err := inj.Apply(t.Context(), faults.Action{Kind: k, Nodes: []string{"no-such-node"}}); err == nil {
			t.Errorf("Apply(%s no-such-node) = nil, want an error", k)
		}
	}
}

// partition: the partition c cuts exactly the pairs it should, and a heal
// (twice: healing a healthy network is a no-op) restores every pair.
func (s suite) partition(t *testing.T, newInjector NewInjector, c partitionCase) {
	inj, obs := newInjector(t)
	nodes := needNodes(t, obs, c.kind.MinNodes())
	p := faults.NewPartition(rand.New(rand.NewPCG(uint64(len(nodes)), 7)), c.kind, nodes, c.oneWay)
	if c.oneWay && !p.OneWay {
		t.Fatalf("NewPartition(%s, one-way) gave a symmetric partition", c.kind)
	}
	apply(t, inj, faults.Action{Kind: faults.ActPartition, Partition: &p})
	s.checkReach(t, obs, nodes, func(a, b string) bool { return !p.Cuts(a, b) }, "under "+p.String())
	apply(t, inj, faults.Action{Kind: faults.ActHeal})
	s.checkReach(t, obs, nodes, func(a, b string) bool { return true }, "after heal")
	// Healing a healthy network is a no-op, not an error.
	apply(t, inj, faults.Action{Kind: faults.ActHeal})
}

// killRestart: a killed node stops running while the others run, and comes back on restart.
func (s suite) killRestart(t *testing.T, newInjector NewInjector) {
	inj, obs := newInjector(t)
	nodes := needNodes(t, obs, 2)
	victim, other := nodes[0], nodes[1]
	apply(t, inj, faults.Action{Kind: faults.ActKill, Nodes: []string{victim}})
	s.eventually(t, "killed "+victim+" not running", func(ctx context.Context) (bool, error) {
		r, err := obs.Running(ctx, victim)
		return !r, err
	})
	s.eventually(t, other+" still running while "+victim+" is killed", func(ctx context.Context) (bool, error) {
		return obs.Running(ctx, other)
	})
	apply(t, inj, faults.Action{Kind: faults.ActRestart, Nodes: []string{victim}})
	s.eventually(t, "restarted "+victim+" running", func(ctx context.Context) (bool, error) {
		return obs.Running(ctx, victim)
	})
	s.checkReach(t, obs, nodes, func(a, b string) bool { return true }, "after restart")
}

// pauseResume: a paused node keeps running but is paused until resumed, then reachable again.
func (s suite) pauseResume(t *testing.T, newInjector NewInjector) {
	inj, obs := newInjector(t)
	nodes := needNodes(t, obs, 2)
	victim := nodes[len(nodes)-1]
	apply(t, inj, faults.Action{Kind: faults.ActPause, Nodes: []string{victim}})
	s.eventually(t, victim+" paused", func(ctx context.Context) (bool, error) {
		return obs.Paused(ctx, victim)
	})
	s.eventually(t, "paused "+victim+" still running", func(ctx context.Context) (bool, error) {
		return obs.Running(ctx, victim)
	})
	apply(t, inj, faults.Action{Kind: faults.ActResume, Nodes: []string{victim}})
	s.eventually(t, victim+" resumed", func(ctx context.Context) (bool, error) {
		p, err := obs.Paused(ctx, victim)
		return !p, err
	})
	s.checkReach(t, obs, nodes, func(a, b string) bool { return true }, "after resume")
}

// link: link conditions take effect and a zero Link restores a clean network.
func (s suite) link(t *testing.T, newInjector NewInjector) {
	inj, obs := newInjector(t)
	nodes := needNodes(t, obs, 2)
	bad := faults.Link{Latency: faults.Range{Min: time.Millisecond, Max: 3 * time.Millisecond}, Loss: 0.2, Duplicate: 0.1, Reorder: 0.1}
	apply(t, inj, faults.Action{Kind: faults.ActLink, Link: &bad})
	lo, hasLinks := obs.(LinkObserver)
	if hasLinks {
		checkLink(t, lo, nodes, bad)
	}
	apply(t, inj, faults.Action{Kind: faults.ActLink, Link: &faults.Link{}})
	if hasLinks {
		checkLink(t, lo, nodes, faults.Link{})
	}
}

// clock: a clock skew moves one node's clocks, a jump moves its wall clock only, zero puts them back.
func (s suite) clock(t *testing.T, newInjector NewInjector) {
	inj, obs := newInjector(t)
	nodes := needNodes(t, obs, 2)
	n, other := nodes[0], nodes[1]
	co, hasClock := obs.(ClockObserver)
	apply(t, inj, faults.Action{Kind: faults.ActClockSkew, Nodes: []string{n}, Offset: 10 * time.Second})
	if hasClock {
		s.checkClock(t, co, n, 10*time.Second, 10*time.Second)
		s.checkClock(t, co, other, 0, 0)
	}
	jumped := true
	if err := inj.Apply(t.Context(), faults.Action{Kind: faults.ActClockJump, Nodes: []string{n}, Offset: -3 * time.Second}); errors.Is(err, faults.ErrUnsupported) {
		t.Logf("clock_jump unsupported: %v", err)
		jumped = false
	} else if err != nil {
		t.Fatalf("Apply(clock_jump): %v", err)
	}
	if hasClock && jumped {
		s.checkClock(t, co, n, 10*time.Second, 7*time.Second)
	}
	apply(t, inj, faults.Action{Kind: faults.ActClockSkew, Nodes: []string{n}})
	if hasClock {
		s.checkClock(t, co, n, 0, 0)
	}
}

// plan: a whole seeded plan applies without errors, and a plan cut short heals with HealAll.
func (s suite) plan(t *testing.T, newInjector NewInjector) {
	inj, obs := newInjector(t)
	nodes := needNodes(t, obs, 2)
	cfg := faults.Config{
		Partition: &faults.PartitionConfig{Every: 2 * time.Second, HealAfter: faults.Range{Min: 100 * time.Millisecond, Max: time.Second}, OneWay: true},
		Link:      &faults.LinkConfig{Latency: faults.Range{Max: 5 * time.Millisecond}, Loss: 0.1, Every: 3 * time.Second},
		Kill:      &faults.KillConfig{Every: 3 * time.Second, RestartAfter: faults.Range{Max: time.Second}},
		Pause:     &faults.PauseConfig{Every: 3 * time.Second, Duration: faults.Range{Min: 100 * time.Millisecond, Max: time.Second}},
		ClockSkew: &faults.ClockSkewConfig{MaxOffset: 5 * time.Second, Jumps: true, Every: 4 * time.Second},
	}
	p := faults.Schedule(1, cfg, nodes, 20*time.Second)
	if err := p.Validate(); err != nil {
		t.Fatalf("schedule for the suite: %v", err)
	}
	st := faults.NewState(nodes)
	var clk InstantClock
	unsupported := map[faults.ActionKind]bool{}
	logf := st.Track(func(ap faults.Applied) {
		switch {
		case ap.Unsupported():
			unsupported[ap.Action.Kind] = true
		case ap.Err != nil:
			t.Errorf("%v", ap)
		}
	})
	if err := faults.Run(t.Context(), p, &clk, inj, logf); err != nil {
		t.Fatalf("faults.Run: %v", err)
	}
	// Cut the plan short in the middle, as the runner does on a timeout,
	// then heal what is in effect.
	st2 := faults.NewState(nodes)
	ctx, cancel := context.WithCancel(t.Context())
	half := len(p.Actions) / 2
	n := 0
	err := faults.Run(ctx, p, &clk, inj, st2.Track(func(ap faults.Applied) {
		if n++; n == half {
			cancel()
		}
	}))
	if half > 0 && !errors.Is(err, context.Canceled) {
		t.Errorf("faults.Run with a cancelled context = %v, want context.Canceled", err)
	}
	if err := faults.HealAll(t.Context(), &clk, inj, st2, nil); err != nil {
		t.Errorf("HealAll: %v", err)
	}
	if !st2.Healthy() {
		t.Errorf("after HealAll, still in effect: %v", st2.Recovery())
	}
	for _, node := range nodes {
		s.eventually(t, node+" running after the plan", func(ctx context.Context) (bool, error) { return obs.Running(ctx, node) })
		if !unsupported[faults.ActPause] {
			s.eventually(t, node+" not paused after the plan", func(ctx context.Context) (bool, error) {
				p, err := obs.Paused(ctx, node)
				return !p, err
			})
		}
	}
	s.checkReach(t, obs, nodes, func(a, b string) bool { return true }, "after the plan and HealAll")
}

type partitionCase struct {
	name   string
	kind   faults.PartitionKind
	oneWay bool
}

func partitionCases() []partitionCase {
	var cs []partitionCase
	for _, k := range faults.AllPartitionKinds {
		cs = append(cs, partitionCase{string(k), k, false})
		if k.OneWayCapable() {
			cs = append(cs, partitionCase{"one-way-" + string(k), k, true})
		}
	}
	return cs
}

func needNodes(t *testing.T, obs Observer, n int) []string {
	t.Helper()
	nodes := obs.Nodes()
	slices.Sort(nodes)
	if len(nodes) < 2 {
		t.Fatalf("the suite needs a cluster of at least 2 nodes, the observer has %d", len(nodes))
	}
	if len(nodes) < n {
		t.Skipf("needs %d nodes, the cluster has %d", n, len(nodes))
	}
	return nodes
}

// apply carries out a, skipping the test if the injector does not support
// it and failing it on any other error.
func apply(t *testing.T, inj faults.Injector, a faults.Action) {
	t.Helper()
	err := inj.Apply(t.Context(), a)
	switch {
	case errors.Is(err, faults.ErrUnsupported):
		t.Skipf("%s: unsupported: %v", a.Kind, err)
	case err != nil:
		t.Fatalf("Apply(%s): %v", a, err)
	}
}

// eventually polls cond until it holds or the suite's patience runs out.
func (s suite) eventually(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), s.patience)
	defer cancel()
	var last error
	for {
		ok, err := cond(ctx)
		if ok && err == nil {
			return
		}
		last = err
		select {
		case <-ctx.Done():
			if last != nil {
				t.Fatalf("%s: not within %v: last error: %v", what, s.patience, last)
			}
			t.Fatalf("%s: not within %v", what, s.patience)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// checkReach checks every ordered pair of nodes against want.
func (s suite) checkReach(t *testing.T, obs Observer, nodes []string, want func(a, b string) bool, when string) {
	t.Helper()
	for _, a := range nodes {
		for _, b := range nodes {
			if a == b {
				continue
			}
			w := want(a, b)
			s.eventually(t, fmt.Sprintf("%s: %s->%s reachable = %v", when, a, b, w), func(ctx context.Context) (bool, error) {
				got, err := obs.Reachable(ctx, a, b)
				return got == w, err
			})
		}
	}
}

func checkLink(t *testing.T, lo LinkObserver, nodes []string, want faults.Link) {
	t.Helper()
	for _, a := range nodes {
		for _, b := range nodes {
			if a == b {
				continue
			}
			got, err := lo.Link(t.Context(), a, b)
			if err != nil || got != want {
				t.Errorf("Link(%s, %s) = %v, %v; want %v", a, b, got, err, want)
			}
		}
	}
}

func (s suite) checkClock(t *testing.T, co ClockObserver, n string, mono, wall time.Duration) {
	t.Helper()
	m, w, err := co.Clock(t.Context(), n)
	if err != nil {
		t.Fatalf("Clock(%s): %v", n, err)
	}
	near := func(a, b time.Duration) bool { return a-b <= s.clockTolerance && b-a <= s.clockTolerance }
	if !near(m, mono) || !near(w, wall) {
		t.Errorf("Clock(%s) = monotonic %v, wall %v; want %v, %v (±%v)", n, m, w, mono, wall, s.clockTolerance)
	}
}
