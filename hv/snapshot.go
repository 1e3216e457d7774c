package hv

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mvrun/multiverse/hv/internal/deep"
	"github.com/mvrun/multiverse/hv/kernel"
	"github.com/mvrun/multiverse/hv/kvm"
	"github.com/mvrun/multiverse/hv/mm"
)

// Snapshots. A snapshot is the whole cluster at one moment between runs:
// the guest memory of every live process (the frames in use, copied from
// the host mapping) and all VMM state — nodes, processes, threads with
// their registers, FS base and extended state, waits, file descriptors,
// pipes, epoll sets, sockets and the network's pending deliveries,
// partitions and link model, file systems with their durable/undurable
// split and disk faults, timers, the scheduler's queues, clocks and node
// offsets, every seeded stream, the trace hash and the counters reports
// use. The VMM state is copied as a plain object graph (hv/internal/deep)
// that keeps its shape; what is not state is not copied:
//
//   - host resources (KVM, VMs, vCPUs, guest memory mappings) are created
//     anew by [Snapshot.Restore], which loads the saved memory into fresh
//     VMs and each thread's registers at its next run;
//   - the caller's attachments to processes and nodes (stdin, stdout and
//     stderr, OnMessage, OnExit, OnDiskHit, a file's OnWrite) are shared:
//     a restored cluster calls the same functions and writes to the same
//     writers;
//   - looks (observers from [Cluster.Observe], [Cluster.ObserveCalls],
//     [Cluster.ObserveExits], the network's delivery observers) and the
//     trace log ([Cluster.SetTraceLog]) are dropped: they never change the
//     run, and the caller sets them again on the restored cluster;
//   - host actions scheduled with [Cluster.At] are functions that would
//     change the run: a snapshot with one pending fails.
//
// Restoring into fresh VMs rather than the original's ones costs a VM and
// vCPU per process (a few ms), and needs neither a TLB flush nor undoing
// what the original did since: KVM sees only the restored memory.

// Snapshot is a cluster at one moment. It never runs itself: each
// [Snapshot.Restore] makes a new cluster from it, so one snapshot can be
// restored any number of times (branches), and the cluster it was taken
// of may run on or be closed.
type Snapshot struct {
	state *Cluster // a copy that never runs
	extra any      // the copy of SnapshotWith's extra; nil if none
	procs []*savedProcess
	at    time.Duration
	hash  uint64
	vmm   int // bytes of VMM state copied
}

// savedProcess is one live process's part of a snapshot.
type savedProcess struct {
	proc   *Process     // in the snapshot's state
	phys   *mm.Physical // what the state's kernel points to for its memory
	mem    *mm.Saved
	kstack uint64
}

// At returns the virtual time the snapshot was taken at.
func (s *Snapshot) At() time.Duration { return s.at }

// TraceHash returns the trace hash at the snapshot.
func (s *Snapshot) TraceHash() uint64 { return s.hash }

// Bytes returns the size of the snapshot: guest memory kept plus VMM state.
func (s *Snapshot) Bytes() int {
	n := s.vmm
	for _, p := range s.procs {
		n += p.mem.Bytes()
	}
	return n
}

// Snapshot captures the cluster. Call it between runs ([Cluster.Run],
// [Cluster.Advance]; not from a function running inside one). It fails,
// naming what, when the cluster holds something that cannot be copied: a
// pending host action ([Cluster.At]), or state that is not data (a
// function value where VMM state should be).
func (c *Cluster) Snapshot() (*Snapshot, error) { return c.SnapshotWith(nil) }

// SnapshotWith is [Cluster.Snapshot] that also copies extra, a non-nil
// pointer to the caller's data that point into the cluster (a volume's
// file system a node mounts, say), in the same copy: the copy points into
// the snapshot's cluster as extra points into this one, and
// [Snapshot.RestoreWith] returns the restored cluster's. extra must be
// data, as the cluster's state is (no functions, no host resources).
func (c *Cluster) SnapshotWith(extra any) (*Snapshot, error) {
	if c.closed {
		return nil, ErrClosed
	}
	c.reap() // exited processes' VMs are released, as the next run would
	if n := c.world.PendingHostActions(); n > 0 {
		return nil, fmt.Errorf("hv: snapshot at %v: %d host actions scheduled with At are pending; they are the caller's functions and cannot be copied", c.Now(), n)
	}
	cp := deep.New()
	var live []any
	var procs []*savedProcess
	for _, n := range c.nodes {
		for _, p := range n.procs {
			m := p.m
			if t := m.loaded; t != nil && m.k.Alive(t) {
				// The loaded thread's extended state lives in the vCPU.
				if err := m.GetFP(t.FP); err != nil {
					return nil, fmt.Errorf("hv: snapshot: node %s pid %d: save the extended state: %w", n.name, p.Pid(), err)
				}
			}
			sp := &savedProcess{phys: new(mm.Physical), mem: m.phys.Save(), kstack: m.kstack}
			cp.Pin(m.phys, sp.phys)
			cp.Extern(m.phys.Host(), fmt.Sprintf("the guest memory of node %s pid %d", n.name, p.Pid()))
			live = append(live, p)
			procs = append(procs, sp)
		}
	}
	roots := append([]any{c}, live...)
	if extra != nil {
		roots = append(roots, extra)
	}
	out, err := cp.CopyAll(roots...)
	if err != nil {
		return nil, fmt.Errorf("hv: snapshot at %v: %w", c.Now(), err)
	}
	for i, sp := range procs {
		sp.proc = out[i+1].(*Process)
	}
	s := &Snapshot{state: out[0].(*Cluster), procs: procs, at: c.Now(), hash: c.TraceHash(), vmm: cp.Bytes}
	if extra != nil {
		s.extra = out[len(out)-1]
	}
	return s, nil
}

// Restore makes a new cluster that is the snapshot's: it continues
// exactly as the cluster the snapshot was taken of would have (the same
// trace hash), given the same calls. It opens KVM and its own VMs; close
// it as any cluster.
func (s *Snapshot) Restore() (*Cluster, error) {
	c, _, err := s.RestoreWith()
	return c, err
}

// RestoreWith is [Snapshot.Restore] that also returns a copy of the extra
// data [Cluster.SnapshotWith] was given, pointing into the restored
// cluster (nil for a snapshot taken without).
func (s *Snapshot) RestoreWith() (_ *Cluster, extra any, err error) {
	sys, strat, err := openKVM()
	if err != nil {
		return nil, nil, err
	}
	phys := make([]*mm.Physical, len(s.procs))
	machines := make([]*machine, len(s.procs))
	defer func() {
		if err == nil {
			return
		}
		for i, p := range phys {
			switch {
			case machines[i] != nil:
				err = errors.Join(err, machines[i].close())
			case p != nil:
				err = errors.Join(err, p.Close())
			}
		}
		err = errors.Join(err, sys.Close())
	}()
	cp := deep.New()
	roots := []any{s.state}
	if s.extra != nil {
		roots = append(roots, s.extra)
	}
	first := len(roots) // the processes' copies follow the roots
	for i, sp := range s.procs {
		if phys[i], err = mm.Restore(sp.mem); err != nil {
			return nil, nil, fmt.Errorf("hv: restore: %w", err)
		}
		cp.Pin(sp.phys, phys[i])
		roots = append(roots, sp.proc)
	}
	out, err := cp.CopyAll(roots...)
	if err != nil {
		return nil, nil, fmt.Errorf("hv: restore: %w", err)
	}
	c := out[0].(*Cluster)
	c.sys, c.strat = sys, strat
	for i, sp := range s.procs {
		p := out[first+i].(*Process)
		if machines[i], err = restoreMachine(sys, phys[i], strat, sp.kstack, p.k); err != nil {
			return nil, nil, fmt.Errorf("hv: restore node %s pid %d: %w", p.node.name, p.Pid(), err)
		}
		p.m = machines[i]
	}
	c.rebind()
	// Stats measure this host's work on this cluster (VM entries, wall
	// time): a restore starts them from zero.
	c.lp.stats = Stats{}
	if s.extra != nil {
		extra = out[1]
	}
	return c, extra, nil
}

// rebind sets again, on a cluster copied from a snapshot, the callbacks
// that tie its parts to it (copies leave them unset).
func (c *Cluster) rebind() {
	c.net.SetTrace(c.netTrace)
	for _, n := range c.nodes {
		if n.disk != nil {
			n.fs.SetFaultHook(n.disk.hook)
		}
		for _, p := range n.procs {
			p.k.OnExit(func(*kernel.Kernel) { c.exited(p) })
		}
	}
}

// restoreMachine makes a VM for process k whose memory phys was restored
// from a snapshot: the memory pieces the original VM had are registered
// again, and a fresh vCPU gets the user-mode setup; each thread's own
// registers and extended state are loaded when it next runs (loaded is
// unset, so the first step loads them).
func restoreMachine(sys *kvm.System, phys *mm.Physical, strat trapStrategy, kstack uint64, k *kernel.Kernel) (_ *machine, err error) {
	m := &machine{phys: phys, space: k.Space, kstack: kstack, strat: strat, k: k}
	defer func() {
		if err != nil {
			err = errors.Join(err, m.close())
		}
	}()
	if m.vm, err = sys.CreateVM(); err != nil {
		return nil, err
	}
	slot := uint32(0)
	if err = phys.Regrow(func(lo, hi uint64) error {
		if err := m.vm.SetMemory(slot, lo, phys.Host()[lo:hi]); err != nil {
			return err
		}
		slot++
		return nil
	}); err != nil {
		return nil, err
	}
	if err = m.newVCPU(sys); err != nil {
		return nil, err
	}
	if err = k.Restored(m); err != nil {
		return nil, err
	}
	return m, nil
}

// SetOutput replaces the writers of the process's standard output and
// error: a process restored from a snapshot shares its original's, which
// belong to the run the snapshot was taken in.
func (p *Process) SetOutput(stdout, stderr io.Writer) {
	if !p.done {
		p.k.SetOutput(stdout, stderr)
	}
}

// SetOnMessage replaces the function that receives the process's SDK
// messages ([ProcessConfig.OnMessage]).
func (p *Process) SetOnMessage(fn func(kernel.Message)) {
	if !p.done {
		p.k.SetOnMessage(fn)
	}
}

// SetOnExit replaces the function called when the process has exited
// ([ProcessConfig.OnExit]).
func (p *Process) SetOnExit(fn func(*Process)) { p.onExit = fn }
