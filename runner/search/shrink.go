package search

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/mvrun/multiverse/faults"
)

// ShrinkOptions configures [Shrink].
type ShrinkOptions struct {
	// Property is the failing property to keep failing; "" means the
	// first property (in id order) the starting run fails.
	Property string
	// Jobs is how many candidates run at once. The result does not depend
	// on it: candidates of one step run together and the first of them in
	// a fixed order that still fails is taken.
	Jobs int
	// Progress receives a line per run; nil means none.
	Progress io.Writer
}

// Step is one run a search made, for its record.
type Step struct {
	ID        string   `json:"id"`
	What      string   `json:"what"` // what the candidate tried
	Failing   []string `json:"failing"`
	Fails     bool     `json:"fails"` // it failed the property searched for
	TraceHash string   `json:"trace_hash,omitempty"`
	Runs      int      `json:"runs,omitempty"` // repetitions (not exact backends)
	FailRuns  int      `json:"fail_runs,omitempty"`
	// Resumed is the virtual time the run resumed at from a snapshot of
	// an earlier candidate's run (hv), 0 if it ran from the start.
	Resumed time.Duration `json:"resumed_ns,omitempty"`
	Dir     string        `json:"dir"`
	Error   string        `json:"error,omitempty"`
}

// ShrinkResult is a shrink's outcome.
type ShrinkResult struct {
	Property string `json:"property"`
	Start    string `json:"start"` // the id shrinking started from
	// Faults is how many faults the starting schedule had, Kept how many
	// the minimal one has.
	Faults, Kept int
	// Minimal is the id of the minimal schedule and Schedule its faults,
	// described ("kill kv1 at 12.3s for 1.2s").
	Minimal  string   `json:"minimal"`
	Schedule []string `json:"schedule"`
	Plan     faults.Plan
	Steps    []Step `json:"steps"`
	// Statistical is set when runs were repeated on a backend that does
	// not replay exactly: then "fails" means failed in at least one of
	// the repetitions.
	Statistical bool `json:"statistical,omitempty"`
}

// shrinker holds one shrink's state.
type shrinker struct {
	run   RunFunc
	opts  ShrinkOptions
	base  Candidate
	prop  string
	plan  faults.Plan // the plan before edits
	fs    []faults.Fault
	steps []Step
	stat  bool
}

// Shrink makes the fault schedule of a failing run as small as it can
// while the run still fails the same property: delta debugging over the
// faults (an action with its undo) of the plan the run carried out —
// dropping sets of them, then halving the length of each lasting one,
// then moving each later — replaying each candidate. It ends when no
// single fault can be dropped (1-minimal). start may itself carry edits;
// they are kept and added to.
func Shrink(ctx context.Context, run RunFunc, start Candidate, opts ShrinkOptions) (*ShrinkResult, error) {
	s := &shrinker{run: run, opts: opts, base: start}
	r0, err := run(ctx, start)
	if err != nil {
		return nil, err
	}
	s.stat = r0.Runs > 1
	s.prop = opts.Property
	if s.prop == "" {
		if len(r0.Failing) == 0 {
			return nil, fmt.Errorf("search: %s fails no property: nothing to shrink", start.ID())
		}
		f := slices.Clone(r0.Failing)
		slices.Sort(f)
		s.prop = f[0]
	}
	s.record(start, "the starting run", r0, nil)
	if !r0.Fails(s.prop) {
		return nil, fmt.Errorf("search: %s does not fail %q", start.ID(), s.prop)
	}
	s.plan = r0.Base
	s.fs = faults.Faults(s.plan)
	cur := start.Edits.Clone()
	// Phase 1: drop faults, ddmin style: chunks of the faults still in,
	// halving the chunk size when no chunk can go.
	live := func(e faults.Edits) []int {
		var in []int
		for i := range s.fs {
			if !e.Dropped(i) {
				in = append(in, i)
			}
		}
		return in
	}
	n := 2
	for {
		in := live(cur)
		if len(in) == 0 {
			break
		}
		n = min(n, len(in))
		var cands []faults.Edits
		var whats []string
		for k := range n {
			lo, hi := k*len(in)/n, (k+1)*len(in)/n
			e := cur.Clone()
			e.Drop = append(e.Drop, in[lo:hi]...)
			slices.Sort(e.Drop)
			cands = append(cands, e)
			whats = append(whats, "drop "+s.names(in[lo:hi]))
		}
		i, err := s.first(ctx, cands, whats)
		if err != nil {
			return nil, err
		}
		if i >= 0 {
			cur = cands[i]
			n = max(n-1, 2)
			continue
		}
		if n >= len(in) {
			break
		}
		n = min(2*n, len(in))
	}
	// Phase 2: shorten each lasting fault, halving while it still fails.
	for _, i := range live(cur) {
		f := s.fs[i]
		if f.End < 0 {
			continue
		}
		length := s.plan.Actions[f.End].At - s.plan.Actions[f.Start].At
		if l, ok := cur.Length[i]; ok {
			length = l
		}
		for range 3 {
			half := (length / 2).Round(10 * time.Millisecond)
			if half < 100*time.Millisecond {
				break
			}
			e := cur.Clone()
			if e.Length == nil {
				e.Length = map[int]time.Duration{}
			}
			e.Length[i] = half
			j, err := s.first(ctx, []faults.Edits{e}, []string{fmt.Sprintf("shorten %s to %v", s.names([]int{i}), half)})
			if err != nil {
				return nil, err
			}
			if j < 0 {
				break
			}
			cur, length = e, half
		}
	}
	// Phase 3: move each fault later, by half its distance to the plan's
	// end, once: a fault that can start later without the failure going
	// away tells when the bug's window opens.
	for _, i := range live(cur) {
		f := s.fs[i]
		at := s.plan.Actions[f.Start].At + cur.Delay[i]
		room := s.plan.Duration - at
		if f.End >= 0 {
			end := s.plan.Actions[f.End].At
			if l, ok := cur.Length[i]; ok {
				end = s.plan.Actions[f.Start].At + l
			}
			room = s.plan.Duration - (end + cur.Delay[i])
		}
		d := (room / 2).Round(10 * time.Millisecond)
		if d < 100*time.Millisecond {
			continue
		}
		e := cur.Clone()
		if e.Delay == nil {
			e.Delay = map[int]time.Duration{}
		}
		e.Delay[i] += d
		j, err := s.first(ctx, []faults.Edits{e}, []string{fmt.Sprintf("move %s %v later", s.names([]int{i}), d)})
		if err != nil {
			return nil, err
		}
		if j >= 0 {
			cur = e
		}
	}
	min := Candidate{Seed: start.Seed, Branch: start.Branch, Edits: cur}
	plan, err := cur.Apply(s.plan)
	if err != nil {
		return nil, fmt.Errorf("search: the minimal schedule: %w", err)
	}
	res := &ShrinkResult{
		Property: s.prop, Start: start.ID(), Faults: len(s.fs) - len(start.Edits.Drop), Kept: len(faults.Faults(plan)),
		Minimal: min.ID(), Plan: plan, Steps: s.steps, Statistical: s.stat,
	}
	for _, f := range faults.Faults(plan) {
		res.Schedule = append(res.Schedule, faults.Describe(plan, f))
	}
	return res, nil
}

// names describes faults by number: "fault 3 (kill kv1 at 2.1s)".
func (s *shrinker) names(is []int) string {
	if len(is) > 2 {
		return fmt.Sprintf("%d faults (%d..%d)", len(is), is[0], is[len(is)-1])
	}
	out := ""
	for k, i := range is {
		if k > 0 {
			out += ", "
		}
		out += fmt.Sprintf("fault %d (%s)", i, s.plan.Actions[s.fs[i].Start])
	}
	return out
}

// first runs the candidates (up to Jobs at once) and returns the index of
// the first, in order, that still fails the property, or -1. A candidate
// whose edits do not give a valid schedule is skipped without a run.
func (s *shrinker) first(ctx context.Context, es []faults.Edits, whats []string) (int, error) {
	type out struct {
		r   *Result
		err error
		ok  bool // the schedule is valid
	}
	outs := make([]out, len(es))
	jobs := max(s.opts.Jobs, 1)
	var wg sync.WaitGroup
	sem := make(chan struct{}, jobs)
	for i, e := range es {
		if _, err := e.Apply(s.plan); err != nil {
			continue
		}
		outs[i].ok = true
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c := Candidate{Seed: s.base.Seed, Branch: s.base.Branch, Edits: e}
			outs[i].r, outs[i].err = s.run(ctx, c)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return -1, ctx.Err()
	}
	found := -1
	for i, o := range outs {
		if !o.ok {
			continue
		}
		c := Candidate{Seed: s.base.Seed, Branch: s.base.Branch, Edits: es[i]}
		s.record(c, whats[i], o.r, o.err)
		if found < 0 && o.err == nil && o.r.Fails(s.prop) {
			found = i
		}
	}
	return found, nil
}

func (s *shrinker) record(c Candidate, what string, r *Result, err error) {
	st := Step{ID: c.ID(), What: what}
	if err != nil {
		st.Error = err.Error()
	} else {
		st.Failing, st.Fails, st.TraceHash, st.Dir, st.Resumed = r.Failing, r.Fails(s.prop), r.TraceHash, r.Dir, r.Resumed
		if r.Runs > 1 {
			st.Runs, st.FailRuns = r.Runs, r.FailRuns
		}
	}
	s.steps = append(s.steps, st)
	if s.opts.Progress != nil {
		verdict := "passes"
		switch {
		case err != nil:
			verdict = "error: " + err.Error()
		case st.Fails && st.Runs > 1:
			verdict = fmt.Sprintf("still fails (%d of %d runs)", st.FailRuns, st.Runs)
		case st.Fails:
			verdict = "still fails"
		}
		if st.Resumed > 0 {
			verdict += fmt.Sprintf(" (resumed at %v)", st.Resumed)
		}
		fmt.Fprintf(s.opts.Progress, "  [%d] %s: %s: %s\n", len(s.steps), c.ID(), what, verdict)
	}
}
