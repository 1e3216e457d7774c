package faults

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrUnsupported is wrapped by the error an [Injector] returns for an action
// it cannot carry out, such as a wall-clock jump on the process backend.
// [Run] logs such actions and goes on; reports list them. It is the same
// value as runner/backend.ErrUnsupported.
var ErrUnsupported = errors.New("not supported")

// Applied is one entry of a fault log: an action, the cluster time at which
// it was carried out (the clock's Now, the same time base as the cluster's
// events) and its error, if any.
type Applied struct {
	Action Action
	At     time.Duration
	Err    error
}

// Unsupported reports whether the action was skipped because the injector
// cannot do it.
func (ap Applied) Unsupported() bool { return errors.Is(ap.Err, ErrUnsupported) }

// Run carries out p on a cluster: it applies each action when clk reaches
// its time, counted from when Run was called, and reports each one to log
// (which may be nil) with the time it was applied and its error. Faults
// must not stop a test, so an action that fails, whether unsupported or
// not, is logged and Run goes on with the next one. Run returns nil after
// the last action, or ctx's error if ctx ends first; then some faults may
// still be in effect, and the caller undoes them with [HealAll] (tracking
// what was applied with [State.Track]) or [Recover].
func Run(ctx context.Context, p Plan, clk Clock, inj Injector, log func(Applied)) error {
	start := clk.Now()
	for _, a := range p.Actions {
		if err := ctx.Err(); err != nil {
			return err
		}
		if wait := start + a.At - clk.Now(); wait > 0 {
			if err := clk.Sleep(ctx, wait); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("faults: waiting for action at %v: %w", a.At, err)
			}
		}
		apply(ctx, clk, inj, a, log)
	}
	return ctx.Err()
}

func apply(ctx context.Context, clk Clock, inj Injector, a Action, log func(Applied)) error {
	err := inj.Apply(ctx, a)
	if log != nil {
		log(Applied{Action: a, At: clk.Now(), Err: err})
	}
	return err
}

// Track returns a log function that records each successfully applied
// action in s and then calls next (which may be nil). Pass it to [Run] so
// that s knows what [HealAll] must undo.
func (s *State) Track(next func(Applied)) func(Applied) {
	return func(ap Applied) {
		if ap.Err == nil {
			// The injector did it; an inconsistent action is the plan's
			// problem, and Validate reports it.
			_ = s.Apply(ap.Action)
		}
		if next != nil {
			next(ap)
		}
	}
}

// HealAll brings a cluster back to health: it applies s.Recovery(),
// reports each action to log (which may be nil) and records the ones that
// succeed in s. Unsupported actions are skipped; HealAll returns the other
// errors joined, each naming its action. The runner calls it when the fault
// phase ends or is cut short, with a context that is still live.
func HealAll(ctx context.Context, clk Clock, inj Injector, s *State, log func(Applied)) error {
	var errs []error
	for _, a := range s.Recovery() {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		a.At = 0
		err := apply(ctx, clk, inj, a, log)
		switch {
		case err == nil:
			_ = s.Apply(a)
		case !errors.Is(err, ErrUnsupported):
			errs = append(errs, fmt.Errorf("faults: heal: %s: %w", a, err))
		}
	}
	return errors.Join(errs...)
}
