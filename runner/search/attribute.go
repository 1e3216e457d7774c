package search

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/mvrun/multiverse/faults"
)

// Cause is one fault of a failing run and whether the failure needs it.
type Cause struct {
	Fault int    `json:"fault"` // its number in the plan ([faults.Faults])
	What  string `json:"what"`  // "kill kv1 at 12.3s for 1.2s (cluster time)"
	// During lists the lasting faults in effect when it started.
	During []string `json:"during,omitempty"`
	// Necessary is set when the run without this fault (everything else
	// the same) no longer fails the property.
	Necessary bool   `json:"necessary"`
	Without   string `json:"without"` // the id of the run without it
	Error     string `json:"error,omitempty"`
}

// Attribution is the outcome of [Attribute].
type Attribution struct {
	ID       string  `json:"id"`
	Property string  `json:"property"`
	Causes   []Cause `json:"causes"`
	Steps    []Step  `json:"steps"`
}

// Line renders a cause for people: "kill kv1 at 12.3s for 1.2s during
// partition halves kv1 | kv2,kv3: necessary".
func (c Cause) Line() string {
	s := c.What
	if len(c.During) > 0 {
		s += " during " + strings.Join(c.During, " and ")
	}
	switch {
	case c.Error != "":
		return s + ": unknown (" + c.Error + ")"
	case c.Necessary:
		return s + ": necessary (without it the property holds; " + c.Without + ")"
	}
	return s + ": not needed"
}

// Attribute replays a failing run once per fault of its schedule with
// that one fault removed (on hv each replay is exact, so once is enough)
// and reports which faults the failure of prop needs. prop "" means the
// first property the run fails.
func Attribute(ctx context.Context, run RunFunc, c Candidate, prop string, jobs int, progress io.Writer) (*Attribution, error) {
	r0, err := run(ctx, c)
	if err != nil {
		return nil, err
	}
	if prop == "" {
		if len(r0.Failing) == 0 {
			return nil, fmt.Errorf("search: %s fails no property: nothing to attribute", c.ID())
		}
		f := slices.Clone(r0.Failing)
		slices.Sort(f)
		prop = f[0]
	}
	if !r0.Fails(prop) {
		return nil, fmt.Errorf("search: %s does not fail %q", c.ID(), prop)
	}
	s := &shrinker{run: run, opts: ShrinkOptions{Jobs: jobs, Progress: progress}, base: c, prop: prop, plan: r0.Base}
	s.fs = faults.Faults(s.plan)
	s.record(c, "the failing run", r0, nil)
	a := &Attribution{ID: c.ID(), Property: prop}
	cur, err := c.Edits.Apply(s.plan)
	if c.Edits.Empty() {
		cur, err = s.plan, nil
	}
	if err != nil {
		return nil, err
	}
	var idx []int
	var cands []faults.Edits
	var whats []string
	for i := range s.fs {
		if c.Edits.Dropped(i) {
			continue
		}
		e := c.Edits.Clone()
		e.Drop = append(e.Drop, i)
		slices.Sort(e.Drop)
		idx = append(idx, i)
		cands = append(cands, e)
		whats = append(whats, "without "+s.names([]int{i}))
	}
	before := len(s.steps)
	if _, err := s.firstAll(ctx, cands, whats); err != nil {
		return nil, err
	}
	// The edited plan's faults, to describe each one as it ran (shortened
	// or moved) and what was in effect then.
	curFs := faults.Faults(cur)
	for k, i := range idx {
		st := s.steps[before+k]
		cause := Cause{Fault: i, Without: st.ID, Error: st.Error, Necessary: st.Error == "" && !st.Fails}
		start := s.plan.Actions[s.fs[i].Start]
		for _, f := range curFs {
			b := cur.Actions[f.Start]
			if b.Kind == start.Kind && b.String() == start.String() && b.At-c.Edits.Delay[i] == start.At {
				cause.What = faults.Describe(shift(cur, r0.FaultStart), f) + " (cluster time)"
				cause.During = faults.During(cur, curFs, f)
				break
			}
		}
		if cause.What == "" {
			cause.What = start.String()
		}
		a.Causes = append(a.Causes, cause)
	}
	a.Steps = s.steps
	return a, nil
}

// shift returns p with every action's time moved by d: plan times count
// from the fault phase's start, people read cluster times.
func shift(p faults.Plan, d time.Duration) faults.Plan {
	q := p
	q.Actions = slices.Clone(p.Actions)
	for i := range q.Actions {
		q.Actions[i].At += d
	}
	return q
}

// firstAll runs every candidate and records each; unlike first it does
// not stop at a failing one. Invalid schedules are recorded as errors.
func (s *shrinker) firstAll(ctx context.Context, es []faults.Edits, whats []string) (int, error) {
	for i, e := range es {
		if _, err := e.Apply(s.plan); err != nil {
			// Dropping one fault of a valid plan keeps it valid; this is
			// a bug, and said so.
			return -1, fmt.Errorf("search: %s: %w", whats[i], err)
		}
	}
	return s.first(ctx, es, whats)
}
