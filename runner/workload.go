package runner

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/mvrun/multiverse/assertions"
	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/internal/seeds"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/specs"
)

// Kinds of built-in properties, named after the verdict table rows they use.
const (
	builtinAlways    = assertions.BuiltinAlways
	builtinSometimes = assertions.BuiltinSometimes
)

// Workload pacing. A driver whose command ends in less than minRun waits
// restartGap before running it again, so a command that fails at once does
// not spin; a command that could not be run at all waits execErrorGap.
const (
	minRun           = 50 * time.Millisecond
	restartGap       = 50 * time.Millisecond
	execErrorGap     = 500 * time.Millisecond
	defaultInstances = 2
	maxCodes         = 20
)

// faultPhase runs, for the test's duration of cluster time, the fault plan
// and the drivers and anytime commands, then stops them and heals every
// fault still in effect.
func (s *seedRun) faultPhase(ctx context.Context, cl backend.Cluster) {
	t := s.t
	plan := faults.Schedule(s.cfg.seed, t.Faults, t.Project.ServiceNames(), t.Duration)
	if r, ok := cl.(backend.Replanner); ok {
		plan = r.Replan(plan, cl.Now())
	}
	if s.cfg.editPlan != nil {
		p, err := s.cfg.editPlan(plan)
		if err != nil {
			s.so.Err = fmt.Errorf("editing the seed's fault plan: %w", err)
			s.cancelSeed(s.so.Err)
			return
		}
		plan = p
	}
	s.art.plan(cl.Now(), plan)
	state := faults.NewState(plan.Nodes)
	logf := state.Track(s.logFault)

	// All workload randomness comes from one stream, drawn in a fixed order:
	// the anytime schedule first, then (only by the serial driver loop) the
	// choice of serial driver.
	rng := seeds.Stream(s.cfg.seed, "workload")
	anytime := s.anytimeSchedule(rng)

	s.art.phase(cl.Now(), "faults")
	pctx, stop := context.WithCancel(ctx)
	start := cl.Now()
	var joins []func()
	faultsDone := spawn(cl, func() {
		// The plan runs to its end (its last actions, at Duration, undo
		// its faults) rather than being cut when the drivers stop, so the
		// fault log of a seed does not depend on which timer fires first.
		if err := faults.Run(ctx, plan, cl, cl, logf); err != nil && ctx.Err() == nil {
			s.art.note(cl.Now(), "faults", "fault plan stopped: %v", err)
		}
	})
	joins = append(joins, spawn(cl, func() { s.drivers(pctx, cl, rng) }))
	for _, a := range anytime {
		joins = append(joins, spawn(cl, func() {
			for k, at := range a.at {
				if wait := start + at - cl.Now(); wait > 0 {
					if cl.Sleep(pctx, wait) != nil {
						return
					}
				}
				s.runCmd(pctx, cl, a.cmd, "", k)
			}
		}))
	}
	err := cl.Sleep(ctx, t.Duration)
	stop()
	joinAll(joins)
	faultsDone()
	if err != nil || ctx.Err() != nil {
		return
	}
	s.art.phase(cl.Now(), "heal")
	if err := faults.HealAll(ctx, cl, cl, state, s.logFault); err != nil {
		s.art.note(cl.Now(), "faults", "healing: %v", err)
		s.log.Warn("healing faults", "err", err)
	}
}

// anytimeRun is when one anytime command runs during the fault phase.
type anytimeRun struct {
	cmd *specs.Command
	at  []time.Duration // since the start of the phase, ascending
}

// anytimeSchedule draws, for each anytime command in spec order, one to
// three times in the fault phase to run it.
func (s *seedRun) anytimeSchedule(rng *rand.Rand) []anytimeRun {
	var out []anytimeRun
	for _, c := range s.role(specs.RoleAnytime) {
		n := 1 + rng.IntN(3)
		ats := make([]time.Duration, n)
		for i := range ats {
			if s.t.Duration > 0 {
				ats[i] = time.Duration(rng.Int64N(int64(s.t.Duration)))
			}
		}
		slices.Sort(ats)
		out = append(out, anytimeRun{cmd: c, at: ats})
	}
	return out
}

// drivers runs the singleton drivers once each, alone, and then the
// parallel drivers (each Instances loops) alongside one loop of serial
// drivers chosen from rng, until ctx ends.
func (s *seedRun) drivers(ctx context.Context, cl backend.Cluster, rng *rand.Rand) {
	for _, c := range s.role(specs.RoleSingletonDriver) {
		if ctx.Err() != nil {
			return
		}
		s.runCmd(ctx, cl, c, "", 0)
	}
	var joins []func()
	for _, c := range s.role(specs.RoleParallelDriver) {
		inst := c.Instances
		if inst <= 0 {
			inst = defaultInstances
		}
		for i := range inst {
			joins = append(joins, spawn(cl, func() {
				for k := 0; ctx.Err() == nil; k++ {
					s.loopCmd(ctx, cl, c, strconv.Itoa(i)+".", k)
				}
			}))
		}
	}
	if serial := s.role(specs.RoleSerialDriver); len(serial) > 0 {
		joins = append(joins, spawn(cl, func() {
			n := map[string]int{}
			for ctx.Err() == nil {
				c := serial[rng.IntN(len(serial))]
				s.loopCmd(ctx, cl, c, "", n[c.Name])
				n[c.Name]++
			}
		}))
	}
	joinAll(joins)
}

// loopCmd runs one iteration of a driver loop, pacing commands that end at
// once.
func (s *seedRun) loopCmd(ctx context.Context, cl backend.Cluster, c *specs.Command, prefix string, k int) {
	began := cl.Now()
	ran := s.runCmd(ctx, cl, c, prefix, k)
	if ctx.Err() != nil {
		return
	}
	switch {
	case !ran:
		_ = cl.Sleep(ctx, execErrorGap)
	case cl.Now()-began < minRun:
		_ = cl.Sleep(ctx, restartGap)
	}
}

// runCmd runs workload command c once and records it. The run is called
// "<name>#<prefix><k>"; its MVRUN_SEED is seeds.Derive(seed,
// "cmd/<name>/<prefix><k>"), where prefix names a parallel driver's
// instance ("0.", "1.") and k counts that loop's runs. It reports whether
// the command ran (whatever its exit code).
func (s *seedRun) runCmd(ctx context.Context, cl backend.Cluster, c *specs.Command, prefix string, k int) bool {
	if ctx.Err() != nil {
		return false
	}
	run := prefix + strconv.Itoa(k)
	env := maps.Clone(c.Environment)
	if env == nil {
		env = map[string]string{}
	}
	env["MVRUN_SEED"] = seeds.Format(seeds.Derive(s.cfg.seed, "cmd/"+c.Name+"/"+run))
	cctx := ctx
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		cctx, cancel = withTimeout(cl, ctx, c.Timeout)
		defer cancel()
	}
	out := s.art.cmdOutput(c.Name)
	at := cl.Now()
	s.art.cmdStart(at, c, run)
	res, err := cl.Exec(cctx, backend.ExecRequest{
		Service: c.Service, Name: c.Name, Argv: c.Argv, Env: env, Stdout: out, Stderr: out,
	})
	end := cl.Now()
	switch {
	case ctx.Err() != nil && (err != nil || res.ExitCode != 0 || res.Signal != ""):
		// Killed because its phase ended: not a run that counts.
		s.art.cmdEnd(end, c, run, end-at, "cut short at the end of its phase", "cut")
		return true
	case cctx.Err() != nil && (err != nil || res.ExitCode != 0 || res.Signal != ""):
		s.art.cmdEnd(end, c, run, end-at, fmt.Sprintf("killed: timeout %v", c.Timeout), "fail")
		s.countCmd(c.Name, -1)
		return true
	case errors.Is(err, backend.ErrStopped):
		// The run was cut at the time it was asked to end at.
		s.art.cmdEnd(end, c, run, end-at, "cut short: the run was stopped", "cut")
		return true
	case err != nil:
		s.art.cmdEnd(end, c, run, end-at, "could not run: "+err.Error(), "fail")
		s.log.Warn("workload command could not run", "command", c.Name, "service", c.Service, "err", err)
		return false
	}
	status := "exit " + strconv.Itoa(res.ExitCode)
	if res.Signal != "" {
		status += " signal " + res.Signal
	}
	result := "ok"
	if res.ExitCode != 0 || res.Signal != "" {
		result = "fail"
	}
	s.art.cmdEnd(end, c, run, end-at, status, result)
	code := res.ExitCode
	if res.Signal != "" && code == 0 {
		code = -1
	}
	s.countCmd(c.Name, code)
	return true
}

func (s *seedRun) countCmd(name string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.cmds[name]
	if st == nil {
		st = &cmdStats{}
		s.cmds[name] = st
	}
	st.runs++
	if code == 0 {
		st.ok++
	}
	if len(st.codes) < maxCodes {
		st.codes = append(st.codes, code)
	}
}

// logFault records one applied fault action.
func (s *seedRun) logFault(ap faults.Applied) {
	s.art.fault(ap)
	if ap.Unsupported() {
		s.mu.Lock()
		s.so.unsupported[ap.Err.Error()]++
		s.mu.Unlock()
	}
}
