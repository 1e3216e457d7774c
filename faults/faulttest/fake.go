package faulttest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/mvrun/multiverse/faults"
)

// Fake is an in-memory cluster that carries out fault actions by keeping a
// [faults.State]. It implements [faults.Injector], [Observer],
// [LinkObserver] and [ClockObserver], for testing code that drives
// injectors (the runner) and the suite itself. It is safe for concurrent
// use.
type Fake struct {
	mu          sync.Mutex
	nodes       []string
	st          *faults.State
	unsupported []faults.ActionKind
	applied     []faults.Action
}

var (
	_ faults.Injector = (*Fake)(nil)
	_ Observer        = (*Fake)(nil)
	_ LinkObserver    = (*Fake)(nil)
	_ ClockObserver   = (*Fake)(nil)
)

// NewFake returns a healthy fake cluster of nodes that returns an error
// wrapping [faults.ErrUnsupported] for the unsupported kinds.
func NewFake(nodes []string, unsupported ...faults.ActionKind) *Fake {
	return &Fake{nodes: slices.Clone(nodes), st: faults.NewState(nodes), unsupported: unsupported}
}

// Apply implements [faults.Injector]. Actions inconsistent with the faults
// in effect (see [faults.State.Apply]) fail.
func (f *Fake) Apply(ctx context.Context, a faults.Action) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if slices.Contains(f.unsupported, a.Kind) {
		return fmt.Errorf("fake: %s: %w", a.Kind, faults.ErrUnsupported)
	}
	if err := f.st.Apply(a); err != nil {
		return fmt.Errorf("fake: %w", err)
	}
	f.applied = append(f.applied, a)
	return nil
}

// Applied returns the actions carried out so far, in order.
func (f *Fake) Applied() []faults.Action {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.applied)
}

// Healthy reports whether no fault is in effect.
func (f *Fake) Healthy() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st.Healthy()
}

// Nodes implements [Observer].
func (f *Fake) Nodes() []string { return slices.Clone(f.nodes) }

func (f *Fake) known(n string) error {
	if !slices.Contains(f.nodes, n) {
		return fmt.Errorf("fake: no node %q", n)
	}
	return nil
}

// Reachable implements [Observer].
func (f *Fake) Reachable(_ context.Context, from, to string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.known(from); err != nil {
		return false, err
	}
	if err := f.known(to); err != nil {
		return false, err
	}
	return f.st.Reachable(from, to), nil
}

// Running implements [Observer].
func (f *Fake) Running(_ context.Context, n string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st.Running(n), f.known(n)
}

// Paused implements [Observer].
func (f *Fake) Paused(_ context.Context, n string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st.Paused(n), f.known(n)
}

// Link implements [LinkObserver].
func (f *Fake) Link(_ context.Context, from, to string) (faults.Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st.Link(from, to), f.known(from)
}

// Clock implements [ClockObserver].
func (f *Fake) Clock(_ context.Context, n string) (monotonic, wall time.Duration, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, w := f.st.Clock(n)
	return m, w, f.known(n)
}

// InstantClock is a [faults.Clock] whose Sleep returns at once, moving Now
// forward by the time slept, so a whole plan runs in no real time.
type InstantClock struct {
	mu  sync.Mutex
	now time.Duration
}

// Now implements [faults.Clock].
func (c *InstantClock) Now() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep implements [faults.Clock].
func (c *InstantClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now += max(d, 0)
	return nil
}
