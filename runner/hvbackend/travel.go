package hvbackend

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mvrun/multiverse/hv"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/specs"
)

// Travel makes looks at the moments of a seed fast (mvrun debug). A
// replay that goes to a moment records a journal of the cluster's life —
// each run of the simulation (up to which virtual time, stopping after
// which trace event) and each thing the runner's calls did to the cluster
// (start a service, run a command, apply a fault) — and snapshots the
// whole cluster along the way ([hv.Cluster.Snapshot]). A later look at a
// moment the journal reaches restores the last snapshot before it and
// replays the journal from there: the same simulation runs and the same
// actions are taken at the same points, so the look sees the seed's
// cluster at the moment, with the same trace (checked as replays are).
//
// The runner is not needed for that: a look stops the runner at its
// moment anyway (looks that act run in a branch; the others look and
// stop). Looks that need the seed's past, not just its state at the
// moment — packets from the start (pcap), a node's output so far (log) —
// and system calls in a window that starts before the snapshot still
// replay from zero.
type Travel struct {
	mu   sync.Mutex
	best map[uint64]*journal // per seed: the journal that reaches furthest
}

// NewTravel returns an empty record.
func NewTravel() *Travel { return &Travel{best: map[uint64]*journal{}} }

// journal is one replay's record.
type journal struct {
	seed  uint64
	ops   []jop
	snaps []jsnap
	lines []string      // the trace log so far
	every time.Duration // virtual time between snapshots
	next  time.Duration // when the next snapshot is due
	end   time.Duration // how far the record reaches
	err   error         // why snapshots stopped, if they did
	// broken is set when a run of the simulation failed (the context
	// ended): the journal does not say where it stopped, so it is dropped.
	broken bool
}

// jop is one entry of a journal: a run of the simulation, or an action.
type jop struct {
	run       bool
	until     bool          // run: RunUntil rather than Advance
	limit     time.Duration // run: the limit it was given
	outcome   hv.Outcome
	endAt     time.Duration // run: where it stopped
	endEvents uint64        // run: the trace's event count there
	do        func(*cluster) error
}

// jsnap is a snapshot taken after ops[:op] with the cluster's own state
// then.
type jsnap struct {
	s     *hv.Snapshot
	op    int
	lines int
	nodes map[string]nodeState
}

// nodeState is what the backend keeps about a node besides hv's state.
type nodeState struct {
	proc         int // pid of the service's process; 0 if none
	starts, sdkN int
	killed       bool
	execN        map[string]int
}

// snapshotsPerMoment is how many snapshots a replay to a moment takes, at
// even spacing: a later look costs a restore plus at most this fraction
// of the moment's prefix.
const snapshotsPerMoment = 8

// begin starts recording c's replay to moment at.
func (t *Travel) begin(c *cluster, at time.Duration) {
	every := max(at/snapshotsPerMoment, 10*time.Millisecond)
	c.jr = &journal{seed: c.cfg.Seed, every: every, next: every}
}

// finish ends c's recording and keeps it if it reaches further than what
// the travel holds for the seed.
func (t *Travel) finish(c *cluster) {
	jr := c.jr
	if jr == nil {
		return
	}
	c.jr = nil
	jr.end = c.hc.Now()
	if jr.broken {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if old := t.best[jr.seed]; old == nil || old.end < jr.end {
		t.best[jr.seed] = jr
	}
}

// record appends an action of the runner's to the journal: do carries it
// out again on a cluster restored from a snapshot.
func (c *cluster) record(do func(*cluster) error) {
	if c.jr != nil {
		c.jr.ops = append(c.jr.ops, jop{do: do})
	}
}

// recordRun appends a run of the simulation that just ended: until says
// it was [hv.Cluster.RunUntil] (no idle jump), else [hv.Cluster.Advance].
func (c *cluster) recordRun(until bool, limit time.Duration, out hv.Outcome) {
	c.jr.ops = append(c.jr.ops, jop{run: true, until: until, limit: limit, outcome: out, endAt: c.hc.Now(), endEvents: c.hc.World().Trace().Events()})
}

// runToSnapshots runs the simulation, on the way to limit, up to each
// snapshot time due before it and takes the snapshot there. Stopping a run
// there changes nothing in it: the next run goes on from the same point
// (RunUntil, unlike Advance, does not move an idle cluster's clock). It
// reports whether stop became true.
func (c *cluster) runToSnapshots(ctx context.Context, limit time.Duration, stop func() bool) (bool, error) {
	jr := c.jr
	for jr.err == nil && jr.next < limit {
		at := jr.next
		if c.hc.Now() < at {
			stopped, err := c.hc.RunUntil(ctx, at, stop)
			if err != nil {
				jr.broken = true
				return false, err
			}
			out := hv.ReachedLimit
			if stopped {
				out = hv.Stopped
			}
			c.recordRun(true, at, out)
			if stopped {
				return true, nil
			}
		}
		c.takeSnapshot()
		jr.next = max(c.hc.Now(), at) + jr.every
		if c.hc.Now() < at {
			break // idle: the cluster stays as it is until limit
		}
	}
	return false, nil
}

// takeSnapshot snapshots the cluster with the backend's own state.
func (c *cluster) takeSnapshot() {
	jr := c.jr
	s, err := c.hc.Snapshot()
	if err != nil {
		jr.err = err // later looks then replay from zero, as without travel
		c.log.Warn("no snapshots of this replay", "err", err)
		return
	}
	st := map[string]nodeState{}
	for _, n := range c.order {
		ns := nodeState{starts: n.starts, sdkN: n.sdkN, killed: n.killed, execN: maps.Clone(n.execN)}
		if n.proc != nil {
			ns.proc = n.proc.Pid()
		}
		st[n.svc.Name] = ns
	}
	jr.snaps = append(jr.snaps, jsnap{s: s, op: len(jr.ops), lines: len(jr.lines), nodes: st})
}

// killProcess kills the process pid of service if it still runs.
func (c *cluster) killProcess(service string, pid int) error {
	n, err := c.node(service)
	if err != nil {
		return err
	}
	for _, p := range n.n.Processes() {
		if p.Pid() == pid {
			p.Kill()
		}
	}
	return nil
}

// Travels reports whether a look can start from a snapshot
// ([Backend.LookFromSnapshot]): it stops the replay at its moment, and
// needs only the cluster's state there, not its past (packets since the
// start, a node's output so far).
func (m *Moment) Travels() bool { return m.Branches() && m.Pcap == "" && len(m.Logs) == 0 }

// errJournalEnd: the journal ended before the moment (it cannot, when the
// moment is within its reach; a bug if seen).
var errJournalEnd = errors.New("the travel journal ended before the moment")

// LookFromSnapshot carries out the looks of m at m.At for seed, as a replay
// with m ([Backend.WithMoment]) would, from a snapshot taken by an earlier
// replay of the seed with this backend's [Travel], if one can serve it. It
// reports whether it did; if so, cfg.Dir holds the look's trace log
// ([TraceLog]: the seed's lines up to the snapshot, then the ones the
// restored cluster made) and m.Report got the looks' results.
func (b *Backend) LookFromSnapshot(ctx context.Context, cfg backend.ClusterConfig, m *Moment) (bool, error) {
	if b.travel == nil || b.branch != nil || !m.Travels() {
		return false, nil
	}
	b.travel.mu.Lock()
	jr := b.travel.best[cfg.Seed]
	b.travel.mu.Unlock()
	if jr == nil || jr.end < m.At {
		return false, nil
	}
	before := m.At
	if m.Strace != nil {
		before = min(before, m.Strace.From)
	}
	var snap *jsnap
	for i := range jr.snaps {
		if jr.snaps[i].s.At() < before {
			snap = &jr.snaps[i]
		}
	}
	if snap == nil {
		return false, nil
	}
	b.mu.Lock()
	programs, images := b.programs, b.images
	b.mu.Unlock()
	if programs == nil {
		return false, errors.New("hv backend: LookFromSnapshot before Prepare")
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return false, err
	}
	c, err := restoredCluster(ctx, cfg, programs, images, b.log, jr, snap)
	if err != nil {
		return false, err
	}
	err = c.moment(m)
	if err == nil {
		err = c.replayJournal(ctx, jr, snap.op)
	}
	return true, errors.Join(err, c.Close(ctx))
}

// replayJournal carries out jr's entries from index from on, up to the
// look's moment: runs of the simulation stop where they stopped in the
// recorded replay (checked), and the runner's actions are taken again.
// The run that reaches the moment is capped there, as in a replay from
// zero, which then branches for the looks.
func (c *cluster) replayJournal(ctx context.Context, jr *journal, from int) error {
	tr := c.hc.World().Trace()
	at := c.look.At
	for _, op := range jr.ops[from:] {
		if !op.run {
			_ = op.do(c) // it fails as it failed when recorded
			continue
		}
		var stop func() bool
		if op.outcome == hv.Stopped {
			// The recorded run stopped after the event that brought the
			// trace to endEvents, or at its limit with no event at all.
			end, endAt := op.endEvents, op.endAt
			stop = func() bool { return tr.Events() >= end && c.hc.Now() >= endAt }
		}
		var err error
		if op.until && op.limit < at {
			_, err = c.hc.RunUntil(ctx, op.limit, stop)
		} else {
			_, err = c.advance(ctx, op.limit, stop)
		}
		switch {
		case ErrBranched(err):
			return nil
		case err != nil:
			return err
		case c.hc.Now() != op.endAt || tr.Events() != op.endEvents:
			return fmt.Errorf("the replay from a snapshot diverged from the recorded replay: a run ended at %v after %d trace events, recorded %v after %d", c.hc.Now(), tr.Events(), op.endAt, op.endEvents)
		}
	}
	return errJournalEnd
}

// restoredCluster makes the backend's cluster around a restore of snap:
// the nodes' processes get this cluster's output files and callbacks, and
// its trace log starts with the recorded replay's lines up to the
// snapshot.
func restoredCluster(ctx context.Context, cfg backend.ClusterConfig, programs map[string]string, images map[string]*specs.Service, log *slog.Logger, jr *journal, snap *jsnap) (_ *cluster, err error) {
	hc, err := snap.s.Restore()
	if err != nil {
		return nil, err
	}
	life, stop := context.WithCancel(ctx)
	c := &cluster{cfg: cfg, log: log, hc: hc, nodes: map[string]*node{}, life: life, stop: stop, taps: map[*hv.Process]*tap{}}
	c.t = newTurns(c, life)
	defer func() {
		if err != nil {
			c.abort()
		}
	}()
	if c.traceF, err = os.Create(filepath.Join(cfg.Dir, TraceLog)); err != nil {
		return nil, err
	}
	c.trace = bufio.NewWriter(c.traceF)
	for _, l := range jr.lines[:snap.lines] {
		c.trace.WriteString(l)
	}
	hc.SetTraceLog(c.traceLine)
	proj := cfg.Test.Project
	for _, s := range proj.Services {
		if img := images[s.Name]; img != nil {
			s = img
		}
		hn := hc.Node(s.Name)
		if hn == nil {
			return nil, fmt.Errorf("hv backend: the snapshot has no node %s", s.Name)
		}
		st := snap.nodes[s.Name]
		n := &node{c: c, svc: s, n: hn, prog: programs[s.Name], starts: st.starts, sdkN: st.sdkN, killed: st.killed, execN: maps.Clone(st.execN)}
		if n.execN == nil {
			n.execN = map[string]int{}
		}
		c.nodes[s.Name] = n
		c.order = append(c.order, n)
		if n.path, n.argv, err = backend.NodeArgv(s, n.prog, proj.Dir); err != nil {
			return nil, err
		}
		if n.stdout, err = outFile(cfg.Dir, s.Name+".stdout"); err == nil {
			n.stderr, err = outFile(cfg.Dir, s.Name+".stderr")
		}
		if err != nil {
			return nil, err
		}
		c.rebindNode(n, st.proc)
	}
	return c, nil
}

// rebindNode gives the processes of n restored from a snapshot, and its
// disk fault log, this cluster's writers and callbacks (the restored ones
// are the recorded replay's). proc is the pid of the service's process.
func (c *cluster) rebindNode(n *node, proc int) {
	name := n.svc.Name
	n.n.OnDiskHit(func(h hv.DiskHit) {
		c.emit(backend.Event{At: h.At, Kind: backend.EventDiskFault, Node: name, Line: []byte(h.Hit.String())})
	})
	for _, p := range n.n.Processes() {
		if p.Pid() == proc {
			tp := &tap{w: n.stderr}
			p.SetOutput(n.stdout, tp)
			n.sink = &sink{c: c, node: name}
			p.SetOnMessage(n.sink.message)
			p.SetOnExit(n.exited)
			c.taps[p] = tp
			n.proc = p
			continue
		}
		tp := &tap{w: io.Discard}
		p.SetOutput(io.Discard, tp)
		p.SetOnMessage(nil)
		p.SetOnExit(func(p *hv.Process) { delete(c.taps, p) })
		c.taps[p] = tp
	}
	// The SDK output files' watchers are the recorded replay's.
	fs := n.n.FS()
	if dir, err := fs.Lookup(fs.Root(), "/run/mvrun/sdk", true); err == nil && dir.IsDir() {
		for _, nm := range dir.Names() {
			dir.Child(nm).OnWrite = nil
		}
	}
}
