package hvbackend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/mvrun/multiverse/hv"
	"github.com/mvrun/multiverse/internal/seeds"
	"github.com/mvrun/multiverse/runner/backend"
)

// Resuming a run from a snapshot. A run on hv is a function of its id (the
// seed and its branch path), and so is everything the runner sees of it:
// what each of its calls returns, the events it is sent, what the commands
// it runs print, and when each of its participants may go on (turns.go).
// A Record keeps that, in order — the run's tape — with snapshots of the
// whole cluster taken along the way. Another run of the same seed whose id
// agrees with the record's up to a snapshot (a branch of it at a later
// moment: mvrun explore, the guided search) resumes from there instead of
// replaying the prefix:
//
//  1. its cluster starts with no simulation at all and catches up: the
//     runner runs from the start as always, and each of its calls, each
//     run of the simulation it waits for, is answered from the tape, so
//     the runner reaches the state it had at the snapshot — its
//     participants waiting where they waited, its artifacts written so
//     far — at the cost of the runner's own work, not the simulation's;
//  2. where the tape reaches the snapshot, the cluster restores it (hv
//     state, guest memory, the backend's own bookkeeping, the nodes'
//     output so far) and goes on live: the runner's waits now wait on the
//     restored processes.
//
// Catching up checks as it goes that the runner asks what the tape says it
// asked (the same calls, the same runs of the simulation); a difference is
// an error of the run, never papered over. The resumed run is the run its
// id names: the same trace hash as replaying it from time zero (tested).

// Record is a run's tape and snapshots (see above). It is made by a
// cluster of a backend from [Backend.Recording] and used by one from
// [Backend.ResumingFrom]. A Record is read-only once made and may be used
// by any number of runs at once.
type Record struct {
	seed   uint64
	branch *Branch // the run's branch path; nil for the seed itself
	ops    []top
	snaps  []rsnap
	lines  []string // the trace log's lines
	broken error    // a run of the simulation failed: not resumable
}

// ID returns the id of the run the record is of.
func (r *Record) ID() string {
	if r.branch == nil {
		return seeds.Format(r.seed)
	}
	return r.branch.ID(r.seed)
}

// Snapshots returns the virtual times of the record's snapshots.
func (r *Record) Snapshots() []time.Duration {
	var out []time.Duration
	for _, s := range r.snaps {
		out = append(out, s.s.At())
	}
	return out
}

// Before returns r limited to its snapshots taken before virtual time t
// (sharing its tape): what a run that departs from r's at t may resume
// from.
func (r *Record) Before(t time.Duration) *Record {
	cp := *r
	cp.snaps = nil
	for _, s := range r.snaps {
		if s.s.At() < t {
			cp.snaps = append(cp.snaps, s)
		}
	}
	return &cp
}

// Latest returns r with only its latest snapshot taken before virtual
// time t (none if there is none): all a run that departs from r's at t
// needs, and the others' memory can go.
func (r *Record) Latest(t time.Duration) *Record {
	cp := r.Before(t)
	if n := len(cp.snaps); n > 1 {
		cp.snaps = []rsnap{cp.snaps[n-1]} // a new array: the others are freed
	}
	return cp
}

// Bytes returns what the record's snapshots hold (guest memory and VMM
// state), counting each snapshot once.
func (r *Record) Bytes() int {
	n := 0
	for _, s := range r.snaps {
		n += s.s.Bytes()
	}
	return n
}

// topKind is what a tape entry records.
type topKind uint8

const (
	opCall  topKind = iota // a call of the runner's ended: key, err, and what it returned
	opEvent                // an event was sent to the runner
	opWrite                // a command started by Exec wrote to a writer the runner gave it
	opExit                 // a command started by Exec exited
	opRun                  // a run of the simulation the runner waited on ended
	opSnap                 // a snapshot was taken (inside the run that follows); rsnap.op points here
)

// top is one tape entry; which fields are set depends on kind.
type top struct {
	kind topKind
	key  string // call: what was called ("start kv1", "exec kv1 write", "exec-end 3", "apply …")
	err  string // call, run: the error returned; "" for none
	// call: Exec's result (exec-end), the started process's pid (exec)
	res backend.ExecResult
	pid int
	// write, exit: the Exec call's number; write: which stream and what
	exec   int
	stderr bool
	data   []byte
	ev     backend.Event // event
	// run: the limit it was given, where the clock stopped, and why
	limit, endAt time.Duration
	out          hv.Outcome
}

// rsnap is a snapshot with the backend's own state then.
type rsnap struct {
	s     *hv.Snapshot // taken with SnapshotWith(*volumes)
	op    int          // index of its opSnap entry
	lines int          // trace log lines before it
	dir   string       // the artifacts directory of the run that took it
	nodes map[string]resumeNode
	execs map[int]resumeExec // Exec calls whose command was running, by number
	calls int                // Exec calls made before it
	// cov is the coverage bookkeeping then (cover.go); each resume takes
	// a clone of it.
	cov *coverState
}

// resumeNode is a node's backend state in a snapshot.
type resumeNode struct {
	proc         int // pid of the service's process; 0 if none
	starts, sdkN int
	killed       bool
	execN        map[string]int
	sinkN        int    // SDK hypercall lines of the service's process so far
	sdkPath      string // the service process's SDK output file
	out, err     int64  // bytes of the node's stdout and stderr files so far
}

// resumeExec is a running Exec command's backend state in a snapshot.
type resumeExec struct {
	service, name, sdkPath string
	pid, sinkN             int
}

// SnapshotLead is how long before a moment a snapshot that branches at the
// moment resume from is taken: strictly before it, so that the branch's
// redraw at the moment is its own ([Record] shares a snapshot only with runs
// whose branch paths agree up to after it).
const SnapshotLead = time.Millisecond

// RecordOptions asks a backend's clusters to record their runs.
type RecordOptions struct {
	// Snapshots are the virtual times to snapshot the cluster at; times
	// past the run's end are not taken.
	Snapshots []time.Duration
	// Keep receives each cluster's record when the cluster closes; a run
	// that failed inside the simulation keeps none.
	Keep func(*Record)
}

// recorder is a cluster's recording in progress.
type recorder struct {
	rec  *Record
	opts RecordOptions
	next int // index in opts.Snapshots of the next one due
	err  error
}

// Recording returns a backend like b whose clusters record their runs for
// [Backend.ResumingFrom] (see [Record]).
func (b *Backend) Recording(o RecordOptions) *Backend {
	c := b.clone()
	o.Snapshots = slices.Sorted(slices.Values(o.Snapshots))
	c.record = &o
	return c
}

// ResumingFrom returns a backend like b whose clusters resume from r's
// latest snapshot that their run shares with r (the same seed, a branch
// path that agrees with r's up to after the snapshot); a cluster with no
// such snapshot replays from time zero as usual. Its ResumedAt
// ([backend.Resumer]) says which.
func (b *Backend) ResumingFrom(r *Record) *Backend {
	c := b.clone()
	c.resume = r
	return c
}

// Broken implements [backend.Broken]: why resuming failed, if it did.
func (c *cluster) Broken() error { return c.failure }

// ResumedAt implements [backend.Resumer].
func (c *cluster) ResumedAt() time.Duration { return c.resumedAt }

// resumable returns the record's latest snapshot taken before virtual time
// before that a run of seed with branch path br shares, and whether there
// is one.
func (r *Record) resumable(seed uint64, br *Branch, before time.Duration) (*rsnap, bool) {
	if r == nil || r.broken != nil || r.seed != seed {
		return nil, false
	}
	// The runs agree up to the first level where their paths differ. A
	// shared level after the snapshot redraws the future there in the
	// resumed run as it did in the recorded one (see resumeLive).
	diverge := time.Duration(1<<63 - 1)
	a, b := r.branch, br
	for a != nil || b != nil {
		if a == nil || b == nil || a.At != b.At || a.N != b.N || !slices.Equal(a.Kinds, b.Kinds) {
			switch {
			case a == nil:
				diverge = b.At
			case b == nil:
				diverge = a.At
			default:
				diverge = min(a.At, b.At)
			}
			break
		}
		a, b = a.Next, b.Next
	}
	for i := len(r.snaps) - 1; i >= 0; i-- {
		if at := r.snaps[i].s.At(); at < min(diverge, before) {
			return &r.snaps[i], true
		}
	}
	return nil, false
}

// startRecording makes c record its run.
func (c *cluster) startRecording(o *RecordOptions, br *Branch) {
	c.rec = &recorder{rec: &Record{seed: c.cfg.Seed, branch: br}, opts: *o}
}

// note appends a tape entry while recording.
func (c *cluster) note(op top) {
	if c.rec != nil {
		c.rec.rec.ops = append(c.rec.rec.ops, op)
	}
}

// noteCall records the end of a runner's call.
func (c *cluster) noteCall(key string, err error) {
	c.noteCallOp(top{kind: opCall, key: key, err: errText(err)})
}

// noteCallOp records the end of a runner's call (op), after the exits of
// commands it caused.
func (c *cluster) noteCallOp(op top) {
	if c.rec != nil {
		c.noteExits()
		c.note(op)
	}
}

// noteExits records the commands started by Exec that have exited since
// the last call or run. An Exec call waits until its command's process
// has exited, which the runner's waits see only between calls and runs
// (a run ends, or a call such as a kill fault returns), so that is where
// the tape says so too, and where catching up sees it.
func (c *cluster) noteExits() {
	if c.rec == nil {
		return
	}
	keep := c.running[:0]
	for _, h := range c.running {
		if h.p.Exited() {
			c.note(top{kind: opExit, exec: h.k})
		} else {
			keep = append(keep, h)
		}
	}
	clear(c.running[len(keep):])
	c.running = keep
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// snapshotDue takes the recording's snapshots due before limit on the way
// there: it runs the simulation to each (a run that stops there changes
// nothing, as RunUntil does not move an idle clock) and snapshots it. It
// reports whether stop became true first.
func (c *cluster) snapshotDue(ctx context.Context, limit time.Duration, stop func() bool) (bool, error) {
	r := c.rec
	for r.err == nil && r.next < len(r.opts.Snapshots) && r.opts.Snapshots[r.next] < limit {
		at := r.opts.Snapshots[r.next]
		if c.hc.Now() < at {
			stopped, err := c.hc.RunUntil(ctx, at, stop)
			if err != nil || stopped {
				return stopped, err
			}
		}
		r.next++
		c.takeResumeSnapshot()
	}
	return false, nil
}

// takeResumeSnapshot snapshots the cluster with the backend's state.
func (c *cluster) takeResumeSnapshot() {
	r := c.rec
	s, err := c.hc.SnapshotWith(&c.vols)
	if err != nil {
		r.err = err
		c.log.Warn("no snapshots of this run: it cannot be resumed from", "err", err)
		return
	}
	rs := rsnap{s: s, op: len(r.rec.ops), lines: len(r.rec.lines), dir: c.cfg.Dir, nodes: map[string]resumeNode{}, execs: map[int]resumeExec{}, calls: len(c.execs), cov: c.cov.clone()}
	for _, n := range c.order {
		st := resumeNode{starts: n.starts, sdkN: n.sdkN, killed: n.killed, execN: maps.Clone(n.execN), sdkPath: n.sdkPath}
		if n.proc != nil {
			st.proc = n.proc.Pid()
			st.sinkN = n.sink.n
		}
		st.out, st.err = fileSize(n.stdout), fileSize(n.stderr)
		rs.nodes[n.svc.Name] = st
	}
	for k, h := range c.execs {
		if h.p != nil && !h.p.Exited() {
			rs.execs[k] = resumeExec{service: h.service, name: h.name, sdkPath: h.sdkPath, pid: h.p.Pid(), sinkN: h.sink.n}
		}
	}
	r.rec.snaps = append(r.rec.snaps, rs)
	c.note(top{kind: opSnap})
}

func fileSize(f *os.File) int64 {
	st, err := f.Stat()
	if err != nil {
		return 0
	}
	return st.Size()
}

// finishRecording hands the record over at Close.
func (c *cluster) finishRecording() {
	r := c.rec
	if r == nil {
		return
	}
	c.rec = nil
	if r.rec.broken != nil || r.opts.Keep == nil {
		return
	}
	r.rec.ops = slices.Clip(r.rec.ops)
	r.opts.Keep(r.rec)
}

// execRun is one Exec call's command.
type execRun struct {
	service, name string
	k             int // its number among the cluster's Exec calls
	start         time.Duration
	pid           int
	p             *hv.Process // live; nil while catching up
	done          bool        // catching up: the tape says it exited
	stdout        io.Writer
	stderr        io.Writer
	tap           *tap
	sink          *sink
	sdkPath       string
	flush         func() // delivers a partial last SDK line (live)
}

// exited is the condition Exec waits on.
func (h *execRun) exited() bool {
	if h.p != nil {
		return h.p.Exited()
	}
	return h.done
}

// catchUp is a cluster's catching up from a record (see above).
type catchUp struct {
	rec   *Record
	snap  *rsnap
	pos   int           // next tape entry
	now   time.Duration // the simulated time the tape has reached
	began time.Time     // host time the cluster was made: what catching up took
}

// errDiverged wraps what catching up found different from the tape.
var errDiverged = errors.New("resuming from a snapshot: the runner did not do what the record says it did")

// diverged fails the catch-up: every later call and wait returns err.
func (c *cluster) diverged(format string, args ...any) error {
	p := c.play
	err := fmt.Errorf("%w: %s (record %s, entry %d of %d before its snapshot at %v)", errDiverged, fmt.Sprintf(format, args...), p.rec.ID(), p.pos, p.snap.op, p.snap.s.At())
	if c.failure == nil {
		c.failure = err
	}
	c.t.fail(err)
	return err
}

// playTo plays the tape up to the runner's call key and returns its entry:
// the events before it go to the runner.
func (c *cluster) playTo(key string) (top, error) {
	p := c.play
	for p.pos < p.snap.op {
		op := p.rec.ops[p.pos]
		p.pos++
		if op.kind == opCall {
			if op.key != key {
				return top{}, c.diverged("the runner called %q where the record has %q", key, op.key)
			}
			return op, nil
		}
		if err := c.playEntry(op); err != nil {
			return top{}, err
		}
	}
	return top{}, c.diverged("the runner called %q after the snapshot's point in the record", key)
}

// playEntry plays an event, a write or an exit.
func (c *cluster) playEntry(op top) error {
	switch op.kind {
	case opEvent:
		c.play.now = max(c.play.now, op.ev.At)
		if c.cfg.Events != nil {
			c.cfg.Events(op.ev)
		}
	case opWrite:
		h := c.execs[op.exec]
		w := h.stdout
		if op.stderr {
			w = h.stderr
		}
		if w != nil {
			_, _ = w.Write(op.data)
		}
	case opExit:
		c.execs[op.exec].done = true
	default:
		return c.diverged("tape entry %d of kind %d out of place", c.play.pos-1, op.kind)
	}
	return nil
}

// playRun answers a run of the simulation the runner waits on from the
// tape; where the tape reaches the snapshot, the cluster resumes from it
// and the rest of the run is live. simMu is held.
func (c *cluster) playRun(ctx context.Context, limit time.Duration, stop func() bool) (bool, error) {
	p := c.play
	for {
		if p.pos == p.snap.op {
			if err := c.resumeLive(ctx); err != nil {
				if c.failure == nil {
					c.failure = err
				}
				c.t.fail(err)
				return false, err
			}
			return c.advanceLive(ctx, limit, stop)
		}
		op := p.rec.ops[p.pos]
		p.pos++
		switch op.kind {
		case opRun:
			// The recorded run is this one if it had the same limit, or
			// if it stopped (a participant could go on) before either
			// limit: limits differ only by deadlines after the branch's
			// moment (its new faults), and the clock can pass a limit by
			// the length of the event that crossed it.
			same := op.limit == limit || op.out == hv.Stopped && op.endAt < min(limit, op.limit)
			if !same {
				return false, c.diverged("the simulation ran to %v where the record ran to %v (%v)", limit, op.limit, op.endAt)
			}
			p.now = op.endAt
			if op.err != "" {
				return false, errors.New(op.err)
			}
			return op.out == hv.Idle, nil
		case opCall:
			return false, c.diverged("the runner waited on the simulation where the record has its call %q", op.key)
		case opSnap:
			continue // an earlier snapshot than the one resumed from
		default:
			if err := c.playEntry(op); err != nil {
				return false, err
			}
		}
	}
}

// resumeLive ends catching up: the cluster becomes a restore of the
// snapshot, with the backend's bookkeeping, the nodes' output so far and
// the trace log as they were then, and the runner's waiting Exec calls
// bound to their restored processes.
func (c *cluster) resumeLive(ctx context.Context) error {
	p := c.play
	snap := p.snap
	if c.t.overdue(snap.s.At()) {
		return c.diverged("a participant's deadline passed before the snapshot at %v without it waking", snap.s.At())
	}
	began := time.Now()
	hc, extra, err := snap.s.RestoreWith()
	if err != nil {
		return fmt.Errorf("resuming from the snapshot at %v: %w", snap.s.At(), err)
	}
	c.hc = hc
	c.play = nil
	c.resumedAt = snap.s.At()
	if v, ok := extra.(*volumes); ok {
		c.vols = *v
	}
	for _, l := range p.rec.lines[:snap.lines] {
		c.trace.WriteString(l)
	}
	if c.rec != nil {
		// This run's own record starts with the tape of the record it
		// resumed from, up to here (shared, not copied). It keeps only
		// its own snapshots: an earlier one is in the record resumed
		// from, and holding it here too would keep every ancestor's
		// snapshots alive along a search path.
		r := c.rec.rec
		r.ops = slices.Clip(p.rec.ops[:snap.op+1])
		r.lines = slices.Clone(p.rec.lines[:snap.lines])
		for c.rec.next < len(c.rec.opts.Snapshots) && c.rec.opts.Snapshots[c.rec.next] <= snap.s.At() {
			c.rec.next++
		}
	}
	hc.SetTraceLog(c.traceLine)
	var errs []error
	for _, n := range c.order {
		if hn := hc.Node(n.svc.Name); hn != nil {
			n.n = hn
		} else {
			return fmt.Errorf("resuming from the snapshot at %v: it has no node %s", snap.s.At(), n.svc.Name)
		}
		errs = append(errs, c.resumeNode(n, snap))
	}
	for k, h := range c.execs {
		if h.done {
			continue
		}
		st, ok := snap.execs[k]
		if !ok {
			return c.diverged("Exec call %d (%s in %s) is running, but the snapshot has no command of it", k, h.name, h.service)
		}
		errs = append(errs, c.resumeExec(h, st))
		c.running = append(c.running, h)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("resuming from the snapshot at %v: %w", snap.s.At(), err)
	}
	// Coverage reads go on as the recorded run's would have.
	c.cov = snap.cov.clone()
	c.coverSetup()
	// The branch levels after the snapshot redraw the future there.
	parent := c.cfg.Seed
	for l := c.branch; l != nil; l = l.Next {
		s := l.seed(parent)
		if l.At > snap.s.At() {
			c.hc.Observe(l.At, func() { c.hc.Redraw(s) })
		}
		parent = s
	}
	if c.onResume != nil {
		if err := c.onResume(); err != nil {
			return err
		}
	}
	c.log.Debug("resumed from a snapshot", "record", p.rec.ID(), "at", snap.s.At(), "restore", time.Since(began), "catching up", began.Sub(p.began))
	return nil
}

// resumeNode gives node n of a restored cluster the backend's state at the
// snapshot: its bookkeeping, the output its files had (copied from the
// recorded run's), and its service process's writers, SDK sinks and exit.
func (c *cluster) resumeNode(n *node, snap *rsnap) error {
	st := snap.nodes[n.svc.Name]
	n.starts, n.sdkN, n.killed, n.execN = st.starts, st.sdkN, st.killed, maps.Clone(st.execN)
	if n.execN == nil {
		n.execN = map[string]int{}
	}
	n.sdkPath = st.sdkPath
	for _, f := range []struct {
		dst  *os.File
		name string
		size int64
	}{{n.stdout, n.svc.Name + ".stdout", st.out}, {n.stderr, n.svc.Name + ".stderr", st.err}} {
		if err := copyPrefix(f.dst, filepath.Join(snap.dir, "nodes", f.name), f.size); err != nil {
			return err
		}
	}
	c.onDiskHit(n)
	if st.proc == 0 {
		return nil
	}
	p := findProcess(n.n, st.proc)
	if p == nil {
		return fmt.Errorf("node %s: the snapshot has no process %d", n.svc.Name, st.proc)
	}
	tp := &tap{w: n.stderr}
	n.sink = &sink{c: c, node: n.svc.Name, n: st.sinkN}
	p.SetOutput(n.stdout, tp)
	p.SetOnMessage(n.sink.message)
	p.SetOnExit(n.exited)
	c.taps[p] = tp
	n.proc = p
	flush, err := c.watchSDK(n, "", st.sdkPath)
	n.flush = flush
	return err
}

// resumeExec binds a running Exec call's command to its restored process.
func (c *cluster) resumeExec(h *execRun, st resumeExec) error {
	n := c.nodes[h.service]
	p := findProcess(n.n, st.pid)
	if p == nil {
		return fmt.Errorf("node %s: the snapshot has no process %d (%s)", h.service, st.pid, h.name)
	}
	h.p, h.pid, h.sdkPath = p, st.pid, st.sdkPath
	h.sink = &sink{c: c, node: h.service, proc: h.name, n: st.sinkN}
	p.SetOutput(h.stdout, h.tap)
	p.SetOnMessage(h.sink.message)
	p.SetOnExit(c.execExited(h))
	c.taps[p] = h.tap
	flush, err := c.watchSDK(n, h.name, st.sdkPath)
	h.flush = flush
	return err
}

func findProcess(n *hv.Node, pid int) *hv.Process {
	for _, p := range n.Processes() {
		if p.Pid() == pid {
			return p
		}
	}
	return nil
}

// copyPrefix appends the first size bytes of file src to dst.
func copyPrefix(dst *os.File, src string, size int64) error {
	if size == 0 {
		return nil
	}
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("the recorded run's output: %w", err)
	}
	defer f.Close()
	n, err := io.Copy(dst, io.LimitReader(f, size))
	if err == nil && n < size {
		err = fmt.Errorf("%s has %d bytes, the snapshot saw %d", src, n, size)
	}
	return err
}

// recWriter records what a command started by Exec writes to a writer the
// runner gave it, and passes it on.
type recWriter struct {
	c      *cluster
	exec   int
	stderr bool
	w      io.Writer
}

func (w *recWriter) Write(b []byte) (int, error) {
	w.c.note(top{kind: opWrite, exec: w.exec, stderr: w.stderr, data: bytes.Clone(b)})
	return w.w.Write(b)
}
