package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mvrun/multiverse/assertions"
	"github.com/mvrun/multiverse/assertions/history"
	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/internal/seeds"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/specs"
)

// Timeouts the runner uses around a seed.
const (
	// closeTimeout bounds Cluster.Close.
	closeTimeout = 30 * time.Second
	// defaultSetupTimeout bounds the wait for antithesis_setup "complete".
	defaultSetupTimeout = 30 * time.Second
)

// abandonGrace is how long a seed may take to wind down after its timeout
// before the runner stops waiting for it and closes its cluster under it.
// A variable so tests can shorten it.
var abandonGrace = 15 * time.Second

// errSeedTimeout is the cause of a seed context that ran past the test's
// seed timeout.
var errSeedTimeout = errors.New("seed timeout")

// errSeedHung is the cause of a seed context on simulated time whose
// simulation used hangFactor times the seed timeout in host time: the
// host is far too slow or hv is stuck. It is an error of the run, not a
// verdict, since host speed must not decide one.
var errSeedHung = errors.New("simulation hung")

// hangFactor bounds a simulated seed's host time: hangFactor × seed_timeout.
const hangFactor = 10

// seedConfig is what one seed needs from the run.
type seedConfig struct {
	test         *specs.Test
	backend      backend.Backend
	index        int // position among the seeds this run runs (backends use it)
	runIndex     int // position in the whole run's seed list (differs in a shard)
	seed         uint64
	dir          string
	col          *assertions.Collector
	log          *slog.Logger
	setupTimeout time.Duration
	templates    []*specs.Template // test-composer templates; one is picked per seed
	editPlan     func(faults.Plan) (faults.Plan, error)
}

// seedRun is the state of one running seed. Fields under mu are written by
// the backend's event callback and read by the phases.
type seedRun struct {
	cfg seedConfig
	t   *specs.Test
	log *slog.Logger
	art *artifacts
	so  *SeedOutcome
	// workload is what this seed runs: the spec's commands plus those of
	// the seed's test-composer template.
	workload []*specs.Command
	rec      recorder // what the seed observed, for the collector once it finishes

	histMu sync.Mutex
	hist   history.Recorder // history lines, checked once the seed ends

	// The seed timeout (runSeed, simulated).
	timeout     time.Duration
	wallTimer   *time.Timer
	cancelSeed  context.CancelCauseFunc // ends the seed with a cause
	simClock    atomic.Bool             // the timeout is on the cluster's clock; wallTimer guards a hang
	simTimedOut atomic.Bool             // the timeout passed on the cluster's clock

	mu        sync.Mutex
	cl        backend.Cluster
	changed   chan struct{} // closed and replaced whenever node or setup state changes
	running   map[string]bool
	exits     map[string][]backend.Event
	crashes   []backend.Event
	sdkNodes  map[string]bool  // service nodes that announced the SDK
	sdkBytes  map[string]int64 // SDK bytes taken per node and process
	setupDone bool
	setupEval bool // PropSetup evaluated
	cmds      map[string]*cmdStats
	oneshot   map[string]bool // services others wait on to complete successfully
}

// cmdStats counts the runs of one workload command in a seed.
type cmdStats struct {
	runs, ok int
	codes    []int // exit codes of runs that ended, bounded
}

// runSeed runs one seed. It returns nil if ctx ended before the seed
// finished (the seed is then not part of the outcome).
func runSeed(ctx context.Context, cfg seedConfig) *SeedOutcome {
	if ctx.Err() != nil {
		return nil
	}
	start := time.Now()
	t := cfg.test
	so := &SeedOutcome{Index: cfg.runIndex, Seed: cfg.seed, Dir: cfg.dir, unsupported: map[string]int{}}
	s := &seedRun{
		cfg: cfg, t: t, so: so,
		log:      cfg.log.With("seed", seeds.Format(cfg.seed)),
		changed:  make(chan struct{}),
		running:  map[string]bool{},
		exits:    map[string][]backend.Event{},
		sdkNodes: map[string]bool{},
		cmds:     map[string]*cmdStats{},
		oneshot:  map[string]bool{},
	}
	for _, svc := range t.Project.Services {
		for _, d := range svc.DependsOn {
			if d.Condition == specs.ServiceCompletedSuccessfully {
				s.oneshot[d.Service] = true
			}
		}
	}
	s.workload = t.Workload
	if tpl := pickTemplate(cfg.seed, cfg.templates); tpl != nil {
		s.workload = append(slices.Clone(t.Workload), tpl.Commands...)
		so.Template = tpl.Service + ":" + tpl.Name
	}
	for _, c := range s.workload {
		s.cmds[c.Name] = &cmdStats{}
	}
	art, err := newArtifacts(cfg.dir)
	if err != nil {
		so.Err = err
		so.Elapsed = time.Since(start)
		return so
	}
	s.art = art

	timeout := SeedTimeout(t)
	s.timeout = timeout
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The seed timeout is host time until the cluster exists; on a cluster
	// with simulated time run switches it to the cluster's clock and makes
	// this timer a guard against a hung simulation (simulated).
	s.wallTimer = time.AfterFunc(timeout, func() {
		if s.simClock.Load() {
			cancel(errSeedHung)
		} else {
			cancel(errSeedTimeout)
		}
	})
	s.cancelSeed = cancel
	defer s.wallTimer.Stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.run(sctx)
	}()
	select {
	case <-done:
	case <-sctx.Done():
		select {
		case <-done:
		case <-time.After(abandonGrace):
			s.log.Error("seed did not wind down after its context ended; closing its cluster under it", "grace", abandonGrace)
			s.art.note(s.now(), "runner", "seed did not stop within %v of its end; cluster closed under it", abandonGrace)
		}
	}
	s.closeCluster()
	timedOut := ctx.Err() == nil && (errors.Is(context.Cause(sctx), errSeedTimeout) || s.simTimedOut.Load())
	if ctx.Err() == nil && errors.Is(context.Cause(sctx), errSeedHung) && so.Err == nil {
		so.Err = fmt.Errorf("the simulation ran %v of host time without reaching the end of the seed (its seed_timeout is %v of simulated time): %w",
			hangFactor*timeout, timeout, errSeedHung)
	}
	if ctx.Err() != nil {
		s.rec.flush(nil)
		s.art.note(s.now(), "runner", "run cancelled; seed discarded")
		s.closeArtifacts()
		return nil
	}
	so.TimedOut = timedOut
	if timedOut {
		clock := ""
		if s.simTimedOut.Load() {
			clock = " of simulated time"
		}
		s.art.note(s.now(), "runner", "seed timed out after %v%s (seed_timeout)", timeout, clock)
	}
	if so.Err == nil {
		s.builtins(timedOut, timeout)
		s.sdkLosses()
		s.checkHistories()
		s.rec.flush(cfg.col)
		cfg.col.SeedDone(cfg.seed)
	} else {
		s.rec.flush(nil)
		s.art.note(s.now(), "runner", "infrastructure error: %v", so.Err)
	}
	s.mu.Lock()
	so.Faults = slices.Clone(s.art.faultLog)
	s.mu.Unlock()
	so.FaultParams = s.art.faultParams()
	s.closeArtifacts()
	so.Elapsed = time.Since(start)
	return so
}

// closeArtifacts writes the seed's remaining artifacts; a failure (a full
// disk, say) is logged, since the report would otherwise point at files
// that are incomplete.
func (s *seedRun) closeArtifacts() {
	if err := s.art.close(); err != nil {
		s.log.Error("the seed's artifacts are incomplete", "err", err)
	}
}

// SeedTimeout returns t's seed timeout, defaulting to 4×Duration + 60s.
func SeedTimeout(t *specs.Test) time.Duration {
	if t.SeedTimeout > 0 {
		return t.SeedTimeout
	}
	return 4*t.Duration + time.Minute
}

// now returns the cluster's time, or 0 before it exists.
func (s *seedRun) now() time.Duration {
	s.mu.Lock()
	cl := s.cl
	s.mu.Unlock()
	if cl == nil {
		return 0
	}
	return cl.Now()
}

func (s *seedRun) closeCluster() {
	s.mu.Lock()
	cl := s.cl
	s.mu.Unlock()
	if cl == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	if err := cl.Close(ctx); err != nil {
		s.log.Error("closing cluster", "err", err)
		s.art.note(cl.Now(), "runner", "closing the cluster failed: %v", err)
	}
	if g, ok := cl.(backend.Gaps); ok {
		for _, gap := range g.Gaps() {
			if s.so.gaps == nil {
				s.so.gaps = map[string]int{}
			}
			s.so.gaps[gap.What] += gap.Calls
			s.art.note(cl.Now(), "runner", "%s, which the backend does not implement (%d calls)", gap.What, gap.Calls)
		}
	}
	if b, ok := cl.(backend.Broken); ok && s.so.Err == nil {
		if err := b.Broken(); err != nil {
			s.so.Err = err
		}
	}
	if r, ok := cl.(backend.Resumer); ok {
		s.so.ResumedAt = r.ResumedAt()
	}
	if tr, ok := cl.(backend.Traced); ok {
		// After Close: the hash covers the processes' ends too.
		s.so.TraceHash, s.so.TraceLog = tr.TraceHash(), tr.TraceLogFile()
		s.art.note(cl.Now(), "runner", "trace hash %016x", s.so.TraceHash)
	}
}

// run is the body of a seed: its phases in order. It returns when they are
// done, when one fails in a way that makes the rest meaningless, or when
// ctx ends.
func (s *seedRun) run(ctx context.Context) {
	cl, err := s.cfg.backend.NewCluster(ctx, backend.ClusterConfig{
		Test: s.t, Seed: s.cfg.seed, Index: s.cfg.index, Dir: s.cfg.dir,
		Events: s.onEvent, Log: s.log,
	})
	if err != nil {
		if ctx.Err() == nil {
			s.so.Err = fmt.Errorf("creating the cluster: %w", err)
		}
		return
	}
	s.mu.Lock()
	s.cl = cl
	s.mu.Unlock()
	if _, ok := cl.(backend.Turns); ok {
		var stop func()
		ctx, stop = s.simulated(ctx, cl)
		defer stop()
	}
	if s.so.Template != "" {
		s.art.note(cl.Now(), "runner", "test-composer template %s", s.so.Template)
	}

	if err := s.startServices(ctx, cl); err != nil {
		if ctx.Err() != nil {
			return
		}
		var ue *unhealthyError
		if errors.As(err, &ue) {
			// The system under test did not come up: a finding, not an
			// infrastructure error.
			s.evalSetup(false, map[string]any{"error": err.Error()})
			return
		}
		s.so.Err = err
		return
	}
	s.waitSetup(ctx, cl)
	if ctx.Err() != nil {
		return
	}
	s.art.phase(cl.Now(), "first")
	for _, c := range s.role(specs.RoleFirst) {
		s.runCmd(ctx, cl, c, "", 0)
	}
	if ctx.Err() != nil {
		return
	}
	s.faultPhase(ctx, cl)
	if ctx.Err() != nil {
		return
	}
	s.art.phase(cl.Now(), "recover")
	s.waitRecovered(ctx, cl)
	s.art.phase(cl.Now(), "eventually")
	for _, c := range s.role(specs.RoleEventually) {
		s.runCmd(ctx, cl, c, "", 0)
	}
	s.art.phase(cl.Now(), "finally")
	for _, c := range s.role(specs.RoleFinally) {
		s.runCmd(ctx, cl, c, "", 0)
	}
	s.art.phase(cl.Now(), "done")
}

// role returns the test's workload commands of role r, in spec order.
func (s *seedRun) role(r specs.Role) []*specs.Command {
	var cs []*specs.Command
	for _, c := range s.workload {
		if c.Role == r {
			cs = append(cs, c)
		}
	}
	return cs
}

// onEvent is the cluster's event callback.
func (s *seedRun) onEvent(ev backend.Event) {
	switch ev.Kind {
	case backend.EventSDK:
		if !s.takeSDK(&ev) {
			return
		}
		s.art.sdk(ev)
		if ev.Cut > 0 {
			return
		}
		s.rec.Add(s.cfg.seed, ev.Node, ev.Proc, ev.LineNo, ev.Line)
		s.addHistory(ev)
		setup, sdk := sniffLine(ev.Line)
		if setup || sdk && ev.Proc == "" {
			s.mu.Lock()
			if setup {
				s.setupDone = true
			}
			if sdk && ev.Proc == "" {
				s.sdkNodes[ev.Node] = true
			}
			s.broadcastLocked()
			s.mu.Unlock()
		}
	case backend.EventNodeStart:
		s.art.node(ev)
		s.mu.Lock()
		s.running[ev.Node] = true
		s.broadcastLocked()
		s.mu.Unlock()
	case backend.EventNodeExit:
		s.art.node(ev)
		s.mu.Lock()
		s.running[ev.Node] = false
		if len(s.exits[ev.Node]) < 100 {
			s.exits[ev.Node] = append(s.exits[ev.Node], ev)
		}
		clean := ev.ExitCode == 0 && ev.Signal == "" && s.oneshot[ev.Node]
		if !ev.Expected && !clean {
			s.crashes = append(s.crashes, ev)
		}
		s.broadcastLocked()
		s.mu.Unlock()
	case backend.EventDiskFault:
		s.art.diskHit(ev)
	case backend.EventCoverage:
		s.art.cover(ev)
	default:
		s.art.note(ev.At, ev.Node, "unknown event kind %q", ev.Kind)
	}
}

func (s *seedRun) broadcastLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitState waits until cond (called with mu held) is true, or ctx ends.
func (s *seedRun) waitState(ctx context.Context, cond func() bool) error {
	s.mu.Lock()
	cl := s.cl
	s.mu.Unlock()
	if t, ok := cl.(backend.Turns); ok {
		return t.Until(ctx, func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return cond()
		})
	}
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// sniffLine reports whether an SDK line is antithesis_setup "complete" and
// whether it is the SDK's hello (antithesis_sdk). The collector does the
// real parsing; this only drives the setup phase.
func sniffLine(line []byte) (setup, sdk bool) {
	if !bytes.Contains(line, []byte(`"antithesis_s`)) {
		return false, false
	}
	var m struct {
		Setup *struct {
			Status string `json:"status"`
		} `json:"antithesis_setup"`
		SDK json.RawMessage `json:"antithesis_sdk"`
	}
	if json.Unmarshal(line, &m) != nil {
		return false, false
	}
	return m.Setup != nil && m.Setup.Status == "complete", m.SDK != nil
}

// evalSetup records the "setup completed" property once per seed.
func (s *seedRun) evalSetup(ok bool, details map[string]any) {
	s.mu.Lock()
	done := s.setupEval
	s.setupEval = true
	s.mu.Unlock()
	if done {
		return
	}
	s.rec.Builtin(s.cfg.seed, PropSetup, builtinAlways, ok, details)
	if ok {
		s.art.note(s.now(), "runner", "setup completed")
	} else {
		s.art.note(s.now(), "runner", "setup did not complete: %v", details)
	}
}

// waitSetup waits for setup to complete: antithesis_setup "complete" from
// any node when a service announced the SDK, else every service with a
// healthcheck being healthy (startServices already waited for those).
func (s *seedRun) waitSetup(ctx context.Context, cl backend.Cluster) {
	s.art.phase(cl.Now(), "setup")
	s.mu.Lock()
	done, uses := s.setupDone, len(s.sdkNodes) > 0
	s.mu.Unlock()
	switch {
	case done:
		s.evalSetup(true, map[string]any{"via": "antithesis_setup"})
		return
	case !uses:
		s.evalSetup(true, map[string]any{"via": "healthchecks"})
		return
	}
	wait := s.cfg.setupTimeout
	if wait <= 0 {
		wait = defaultSetupTimeout
	}
	wctx, cancel := withTimeout(cl, ctx, wait)
	defer cancel()
	err := s.waitState(wctx, func() bool { return s.setupDone })
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		s.mu.Lock()
		nodes := sortedKeys(s.sdkNodes)
		s.mu.Unlock()
		s.evalSetup(false, map[string]any{
			"error":     fmt.Sprintf("no antithesis_setup \"complete\" within %v", wait),
			"sdk_nodes": nodes,
			"hint":      "a service that uses the SDK must call lifecycle.SetupComplete once it is ready",
		})
		return
	}
	s.evalSetup(true, map[string]any{"via": "antithesis_setup"})
}

// builtins evaluates the per-seed built-in properties.
func (s *seedRun) builtins(timedOut bool, timeout time.Duration) {
	col, seed := &s.rec, s.cfg.seed
	s.mu.Lock()
	crashes := slices.Clone(s.crashes)
	setupEval := s.setupEval
	cmds := map[string]cmdStats{}
	for n, st := range s.cmds {
		cmds[n] = *st
	}
	s.mu.Unlock()

	if len(crashes) == 0 {
		col.Builtin(seed, PropNoCrash, builtinAlways, true, nil)
	} else {
		c := crashes[0]
		col.BuiltinOn(seed, c.Node, PropNoCrash, builtinAlways, false, map[string]any{
			"node": c.Node, "exit_code": c.ExitCode, "signal": c.Signal,
			"at": c.At.String(), "crashes": len(crashes),
		})
	}
	if !setupEval {
		s.evalSetup(false, map[string]any{"error": "the seed ended before setup completed"})
	}
	if timedOut {
		col.Builtin(seed, PropTimeout, builtinAlways, false, map[string]any{
			"seed_timeout": timeout.String(),
			"hint":         "raise seed_timeout in the spec if the test is merely slow; otherwise replay the seed and look at timeline.txt for what hung",
		})
	} else {
		col.Builtin(seed, PropTimeout, builtinAlways, true, nil)
	}
	for _, c := range s.workload {
		st := cmds[c.Name]
		d := map[string]any{"runs": st.runs, "exited_0": st.ok}
		if len(st.codes) > 0 {
			d["exit_codes"] = st.codes
		}
		col.Builtin(seed, PropCommandExited(c.Name), builtinSometimes, st.ok > 0, d)
	}
}

// sdkStreamLimit is [backend.MaxSDKStreamBytes]; tests lower it.
var sdkStreamLimit int64 = backend.MaxSDKStreamBytes

// takeSDK applies the SDK output bounds to ev: a line over
// [backend.MaxSDKLine] is cut (ev.Cut set) and recorded as malformed; once
// a process has sent [backend.MaxSDKStreamBytes] in this seed, its later
// lines are dropped and counted as lost. It reports whether ev is kept.
func (s *seedRun) takeSDK(ev *backend.Event) bool {
	if ev.Cut == 0 && len(ev.Line) > backend.MaxSDKLine {
		ev.Cut = int64(len(ev.Line))
		ev.Line = ev.Line[:backend.MaxSDKLine]
	}
	key := ev.Node + "\x00" + ev.Proc
	s.mu.Lock()
	if s.sdkBytes == nil {
		s.sdkBytes = map[string]int64{}
	}
	n := max(ev.Cut, int64(len(ev.Line)))
	over := s.sdkBytes[key]+n > sdkStreamLimit
	if !over {
		s.sdkBytes[key] += n
	}
	s.mu.Unlock()
	if over {
		s.rec.AddLost(s.cfg.seed, ev.Node, ev.Proc, 1,
			fmt.Sprintf("over the runner's limit of %d bytes of SDK output per process and seed; later lines dropped", sdkStreamLimit))
		return false
	}
	if ev.Cut > 0 {
		s.rec.AddOversized(s.cfg.seed, ev.Node, ev.Proc, ev.LineNo, ev.Line[:min(len(ev.Line), assertions.MaxLineBytes)], ev.Cut)
	}
	return true
}

// recorder holds a seed's SDK lines and built-in evaluations until the seed
// has finished, so that a seed cut short by an interrupt or an
// infrastructure error adds nothing to the run's verdicts.
type recorder struct {
	mu   sync.Mutex
	done bool
	ops  []func(*assertions.Collector)
}

// Add records an SDK line for [assertions.Collector.Add].
func (r *recorder) Add(seed uint64, node, proc string, lineNo int, line []byte) {
	line = bytes.Clone(line)
	r.push(func(c *assertions.Collector) { c.Add(seed, node, proc, lineNo, line) })
}

// BuiltinOn records an evaluation about one node for
// [assertions.Collector.BuiltinOn].
func (r *recorder) BuiltinOn(seed uint64, node, id string, kind assertions.BuiltinKind, ok bool, details map[string]any) {
	r.push(func(c *assertions.Collector) { c.BuiltinOn(seed, node, id, kind, ok, details) })
}

// AddOversized records a cut line for [assertions.Collector.AddOversized].
func (r *recorder) AddOversized(seed uint64, node, proc string, lineNo int, head []byte, size int64) {
	head = bytes.Clone(head)
	r.push(func(c *assertions.Collector) { c.AddOversized(seed, node, proc, lineNo, head, size) })
}

// AddLost records SDK losses for [assertions.Collector.AddLost].
func (r *recorder) AddLost(seed uint64, node, proc string, count int64, reason string) {
	r.push(func(c *assertions.Collector) { c.AddLost(seed, node, proc, count, reason) })
}

// Builtin records an evaluation for [assertions.Collector.Builtin].
func (r *recorder) Builtin(seed uint64, id string, kind assertions.BuiltinKind, ok bool, details map[string]any) {
	r.push(func(c *assertions.Collector) { c.Builtin(seed, id, kind, ok, details) })
}

// Check records a history check for [assertions.Collector.Check].
func (r *recorder) Check(seed uint64, id string, outcome assertions.CheckOutcome, details map[string]any) {
	r.push(func(c *assertions.Collector) { c.Check(seed, id, outcome, details) })
}

func (r *recorder) push(op func(*assertions.Collector)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.done {
		r.ops = append(r.ops, op)
	}
}

// flush hands everything recorded to col (nil discards it) and ignores
// whatever comes later, from a seed abandoned past its timeout.
func (r *recorder) flush(col *assertions.Collector) {
	r.mu.Lock()
	ops := r.ops
	r.ops, r.done = nil, true
	r.mu.Unlock()
	if col == nil {
		return
	}
	for _, op := range ops {
		op(col)
	}
}

// simulated moves the seed timeout onto the cluster's clock, for a cluster
// with simulated time: whether a seed times out is then a function of its
// seed, whatever the host's speed or load. The host-time timer becomes a
// guard (hangFactor × the timeout) whose expiry is an error of the run.
// The returned stop must be called when the seed's phases are done.
func (s *seedRun) simulated(ctx context.Context, cl backend.Cluster) (context.Context, func()) {
	s.simClock.Store(true)
	s.wallTimer.Reset(hangFactor * s.timeout)
	vctx, cancel := withTimeout(cl, ctx, s.timeout-cl.Now())
	return vctx, func() {
		if errors.Is(vctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			s.simTimedOut.Store(true)
		}
		cancel()
	}
}
