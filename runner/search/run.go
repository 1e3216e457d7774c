package search

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/runner"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/runner/hvbackend"
	"github.com/mvrun/multiverse/specs"
)

// Result is what one run of a candidate showed.
type Result struct {
	ID string
	// Failing are the ids of the properties the run failed, leaving out
	// Sometimes and Reachable ones (judged over many runs, not one).
	Failing []string
	// TraceHash is the run's trace hash on hv ("" elsewhere).
	TraceHash string
	// Base is the fault plan the run would have carried out without the
	// candidate's edits, and Plan the one it carried out; FaultStart is the
	// cluster time at which the plan's times count from.
	Base, Plan faults.Plan
	FaultStart time.Duration
	// End is the virtual (hv) or wall time the run lasted, and Resumed
	// the virtual time it resumed at from a snapshot (0: from the start);
	// what it cost is End − Resumed.
	End, Resumed time.Duration
	// Record is the run's record, when the candidate asked for a snapshot.
	Record *hvbackend.Record
	// Hits are the run's SDK lines, in order, for a search's score.
	Hits []Hit
	Dir  string

	// Cover are the coverage features the run reached (hv, programs
	// built with counters), in the order they were read; Uncovered the
	// nodes whose programs have no counters.
	Cover     []CoverHit
	Uncovered []string

	// Cut says the run ended at its candidate's Stop, before the end of
	// its test: Failing then holds only the Always assertions it saw fail
	// before the stop (a check that did not run is no failure), and End
	// is the stop.
	Cut bool

	// Runs and FailRuns count the repetitions of a candidate on a backend
	// that does not replay exactly, and how many of them failed the
	// property a shrink is after; both 1 or 0 on hv.
	Runs, FailRuns int
}

// Fails reports whether the run failed property p.
func (r *Result) Fails(p string) bool { return slices.Contains(r.Failing, p) }

// Hit is one SDK line of a run: an assertion evaluation, guidance or a
// plain event.
type Hit struct {
	At   time.Duration
	Kind string // "assert", "guidance" or "event"
	ID   string
	// Assertions: Type is "always", "sometimes" or "reachability" and
	// Cond the condition; guidance: Type is its guidance_type, Max
	// whether a numeric value is maximized, Value the left−right gap of
	// numeric guidance, Data the raw data of other guidance.
	Type  string
	Cond  bool
	Max   bool
	Value float64
	Data  string
}

// RunFunc runs one candidate to the end of its test.
type RunFunc func(ctx context.Context, c Candidate) (*Result, error)

// Runs makes a [RunFunc] that runs candidates of test t on backend b
// with the runner, one seed per call, writing artifacts under dir (one
// directory per run, named by n, a count the caller passes through
// c's id). On hv (b an *hvbackend.Backend) a branch path is run as such;
// elsewhere a candidate with a branch is an error.
//
// On hv, runs of candidates that differ only in their edits (a shrink's,
// an attribution's) resume from each other: each such run keeps a
// snapshot just before each action of its fault plan, and a later
// candidate resumes from the latest one before the point where its plan
// departs from that run's (see [editPool]).
func Runs(t *specs.Test, b backend.Backend, dir string, log *slog.Logger) RunFunc {
	var mu sync.Mutex
	n := 0
	pool := &editPool{bases: map[string]poolBase{}}
	return func(ctx context.Context, c Candidate) (*Result, error) {
		mu.Lock()
		n++
		out := filepath.Join(dir, fmt.Sprintf("run-%04d", n))
		mu.Unlock()
		r := &Result{ID: c.ID(), Dir: out}
		var kept *hvbackend.Record // the run's record for the pool
		bk := b
		if hb, ok := b.(*hvbackend.Backend); ok {
			if c.Branch != nil {
				hb = hb.WithBranch(c.Branch)
			}
			if c.From != nil && c.Edits.Empty() {
				hb = hb.ResumingFrom(c.From)
			}
			if c.Stop > 0 {
				hb = hb.StoppingAt(c.Stop)
			}
			if len(c.Snapshots) > 0 && c.Edits.Empty() {
				hb = hb.Recording(hvbackend.RecordOptions{Snapshots: c.Snapshots, Keep: func(rec *hvbackend.Record) { r.Record = rec }})
			}
			if c.From == nil && len(c.Snapshots) == 0 {
				hb = pool.prepare(hb, c, &kept)
			}
			bk = hb
		} else if c.Branch != nil {
			return nil, fmt.Errorf("search: candidate %s is a branch of its seed, which only the hv backend runs", c.ID())
		} else if c.Stop > 0 {
			return nil, fmt.Errorf("search: candidate %s is to stop at %v of virtual time, which only the hv backend can do", c.ID(), c.Stop)
		}
		var pmu sync.Mutex
		edit := func(p faults.Plan) (faults.Plan, error) {
			q, err := p, error(nil)
			if !c.Edits.Empty() {
				q, err = c.Edits.Apply(p)
			}
			pmu.Lock()
			r.Base, r.Plan = p, q
			pmu.Unlock()
			return q, err
		}
		oc, err := runner.Run(ctx, runner.Options{Test: t, Backend: bk, Seeds: []uint64{c.Seed}, Jobs: 1, Log: log, OutDir: out, EditPlan: edit})
		switch {
		case err != nil && oc == nil:
			return nil, err
		case len(oc.Seeds) != 1:
			return nil, fmt.Errorf("search: run %s did not finish: %w", c.ID(), ctx.Err())
		case oc.Seeds[0].Err != nil && !(c.Stop > 0 && errors.Is(oc.Seeds[0].Err, backend.ErrStopped)):
			return nil, fmt.Errorf("search: run %s: %w", c.ID(), oc.Seeds[0].Err)
		}
		so := oc.Seeds[0]
		// A Sometimes or Reachable property is judged over many runs: one
		// run not meeting it is no failure of that run, and would make
		// every run of a search a "finding" (and never expanded).
		existential := map[string]bool{}
		for _, p := range oc.Result.Properties {
			if p.Type == "sometimes" || p.DisplayType == "Reachable" {
				existential[p.ID] = true
			}
		}
		for _, p := range so.Failing {
			if !existential[p] {
				r.Failing = append(r.Failing, p)
			}
		}
		if so.TraceHash != 0 {
			r.TraceHash = fmt.Sprintf("%016x", so.TraceHash)
		}
		r.Runs = 1
		r.Dir = so.Dir
		r.Resumed = so.ResumedAt
		if err := readTimeline(so.Dir, r); err != nil {
			return nil, err
		}
		pool.add(c, r, kept)
		if err := readHits(so.Dir, r); err != nil {
			return nil, err
		}
		if err := readCoverage(so.Dir, r); err != nil {
			return nil, err
		}
		if c.Stop > 0 && r.End >= c.Stop {
			r.cut(c.Stop)
		}
		return r, nil
	}
}

// cut marks r as a run cut at stop: only the failures of Always
// assertions seen before it stand; the rest (a check that never ran, a
// Sometimes not yet met) were not judged.
func (r *Result) cut(stop time.Duration) {
	r.Cut, r.End = true, stop
	seen := map[string]bool{}
	for _, h := range r.Hits {
		if h.Kind == "assert" && h.Type == "always" && !h.Cond { // Always and AlwaysOrUnreachable
			seen[h.ID] = true
		}
	}
	r.Failing = slices.DeleteFunc(r.Failing, func(p string) bool { return !seen[p] })
}

// editPool lets runs of one seed and branch path that differ only in their
// fault plan's edits resume from each other. The plan before edits and
// the fault phase's start are the same for all of them (the run before
// the fault phase is the same), so once one has run, the plan of any
// other candidate is known before it runs, and so is the first virtual
// time at which it departs from a kept run's: the earliest action either
// plan has and the other has not. Runs before that are the same run; a
// candidate resumes from the kept run's latest snapshot before it (the
// runner's catching up checks the claim). Each run keeps a snapshot 1 ms
// before each of its plan's actions.
type editPool struct {
	mu    sync.Mutex
	bases map[string]poolBase // by Candidate{Seed, Branch}.ID()
	kept  []pooled            // newest last, at most poolSize
}

// poolSize is how many runs' records an editPool keeps: each holds a
// snapshot per fault action, tens of MiB each.
const poolSize = 2

type poolBase struct {
	plan  faults.Plan   // before edits
	start time.Duration // the fault phase's start
}

type pooled struct {
	key  string
	plan faults.Plan // as carried out
	rec  *hvbackend.Record
}

// prepare makes b record the run of c into *into, and resume it from a
// kept run, when the pool knows c's seed and branch path.
func (p *editPool) prepare(b *hvbackend.Backend, c Candidate, into **hvbackend.Record) *hvbackend.Backend {
	key := Candidate{Seed: c.Seed, Branch: c.Branch}.ID()
	p.mu.Lock()
	defer p.mu.Unlock()
	base, ok := p.bases[key]
	if !ok {
		return b
	}
	plan, err := c.Edits.Apply(base.plan)
	if err != nil {
		return b // the run reports the bad edit
	}
	var from *hvbackend.Record
	var at time.Duration
	for _, k := range p.kept {
		if k.key != key {
			continue
		}
		if rec := k.rec.Before(base.start + departs(plan, k.plan)); len(rec.Snapshots()) > 0 {
			if s := rec.Snapshots(); s[len(s)-1] > at {
				from, at = rec, s[len(s)-1]
			}
		}
	}
	if from != nil {
		b = b.ResumingFrom(from)
	}
	var snaps []time.Duration
	for _, a := range plan.Actions {
		if t := base.start + a.At - hvbackend.SnapshotLead; t > 0 && (len(snaps) == 0 || t > snaps[len(snaps)-1]) {
			snaps = append(snaps, t)
		}
	}
	return b.Recording(hvbackend.RecordOptions{Snapshots: snaps, Keep: func(rec *hvbackend.Record) { *into = rec }})
}

// add learns c's base plan from its run r and keeps its record rec.
func (p *editPool) add(c Candidate, r *Result, rec *hvbackend.Record) {
	key := Candidate{Seed: c.Seed, Branch: c.Branch}.ID()
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.bases[key]; !ok && len(r.Base.Actions) > 0 {
		p.bases[key] = poolBase{plan: r.Base, start: r.FaultStart}
	}
	if rec == nil {
		return
	}
	p.kept = append(p.kept, pooled{key: key, plan: r.Plan, rec: rec})
	if len(p.kept) > poolSize {
		p.kept = slices.Delete(p.kept, 0, 1)
	}
}

// departs returns the earliest time (since the fault phase's start) at
// which plans a and b differ: the first action one has and the other has
// not; a time after both when they are the same.
func departs(a, b faults.Plan) time.Duration {
	for i := range max(len(a.Actions), len(b.Actions)) {
		switch {
		case i >= len(a.Actions):
			return b.Actions[i].At
		case i >= len(b.Actions):
			return a.Actions[i].At
		case !reflect.DeepEqual(a.Actions[i], b.Actions[i]):
			return min(a.Actions[i].At, b.Actions[i].At)
		}
	}
	return max(a.Duration, b.Duration) + time.Hour
}

// Memo makes a RunFunc that runs each candidate id once and returns the
// same result for it afterwards. It is exact only on a backend that
// replays exactly (hv), where a run is a function of its id; there it
// spares the runs a shrink and the attribution after it repeat (the
// minimal schedule's run is the last candidate the shrink kept).
func Memo(run RunFunc) RunFunc {
	var mu sync.Mutex
	done := map[string]*Result{}
	return func(ctx context.Context, c Candidate) (*Result, error) {
		id := c.ID()
		mu.Lock()
		r, ok := done[id]
		mu.Unlock()
		if ok {
			return r, nil
		}
		r, err := run(ctx, c)
		if err != nil {
			return nil, err // not kept: an error may be the host's, not the run's
		}
		mu.Lock()
		done[id] = r
		mu.Unlock()
		return r, nil
	}
}

// Repeat makes a RunFunc that runs each candidate k times (for a backend
// that does not replay exactly) and returns the first run's result with
// the failing properties of all runs merged and Runs and FailRuns counted
// for prop (any property when prop is ""). A shrink then says its result
// is statistical.
func Repeat(run RunFunc, k int, prop string) RunFunc {
	return func(ctx context.Context, c Candidate) (*Result, error) {
		var first *Result
		fails := 0
		for range max(k, 1) {
			r, err := run(ctx, c)
			if err != nil {
				return nil, err
			}
			if prop == "" && len(r.Failing) > 0 || prop != "" && r.Fails(prop) {
				fails++
			}
			if first == nil {
				first = r
				continue
			}
			for _, p := range r.Failing {
				if !first.Fails(p) {
					first.Failing = append(first.Failing, p)
				}
			}
		}
		slices.Sort(first.Failing)
		first.Runs, first.FailRuns = max(k, 1), fails
		return first, nil
	}
}

// readTimeline reads the run's end time and its fault phase's start from
// the seed's timeline.jsonl.
func readTimeline(dir string, r *Result) error {
	f, err := os.Open(filepath.Join(dir, "timeline.jsonl"))
	if err != nil {
		return fmt.Errorf("search: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var rec struct {
			AtNS  int64  `json:"at_ns"`
			Kind  string `json:"kind"`
			Phase string `json:"phase"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			continue
		}
		r.End = max(r.End, time.Duration(rec.AtNS))
		if rec.Kind == "phase" && rec.Phase == "faults" {
			r.FaultStart = time.Duration(rec.AtNS)
		}
	}
	return sc.Err()
}

// readHits reads the run's SDK lines from the seed's events.jsonl.
func readHits(dir string, r *Result) error {
	f, err := os.Open(filepath.Join(dir, "events.jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("search: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if h, ok := parseHit(sc.Bytes()); ok {
			r.Hits = append(r.Hits, h)
		}
	}
	return sc.Err()
}

// parseHit reads one events.jsonl line.
func parseHit(line []byte) (Hit, bool) {
	var rec struct {
		AtNS  int64                      `json:"at_ns"`
		Event map[string]json.RawMessage `json:"event"`
	}
	if json.Unmarshal(line, &rec) != nil || len(rec.Event) != 1 {
		return Hit{}, false
	}
	h := Hit{At: time.Duration(rec.AtNS)}
	for k, v := range rec.Event {
		switch k {
		case "antithesis_sdk", "antithesis_setup":
			return Hit{}, false
		case "antithesis_assert":
			var a struct {
				ID        string `json:"id"`
				Condition bool   `json:"condition"`
				Hit       bool   `json:"hit"`
				Type      string `json:"assert_type"`
			}
			if json.Unmarshal(v, &a) != nil || !a.Hit {
				return Hit{}, false // catalog entries are not hits
			}
			h.Kind, h.ID, h.Type, h.Cond = "assert", a.ID, a.Type, a.Condition
		case "antithesis_guidance":
			var g struct {
				ID   string          `json:"id"`
				Type string          `json:"guidance_type"`
				Max  bool            `json:"maximize"`
				Hit  bool            `json:"hit"`
				Data json.RawMessage `json:"guidance_data"`
			}
			if json.Unmarshal(v, &g) != nil || !g.Hit {
				return Hit{}, false
			}
			h.Kind, h.ID, h.Type, h.Max, h.Data = "guidance", g.ID, g.Type, g.Max, string(g.Data)
			var n struct{ Left, Right *float64 }
			if g.Type == "numeric" && json.Unmarshal(g.Data, &n) == nil && n.Left != nil && n.Right != nil {
				h.Value = *n.Left - *n.Right
			}
		default:
			h.Kind, h.ID = "event", k
		}
	}
	return h, true
}
