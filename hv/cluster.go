package hv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mvrun/multiverse/hv/kernel"
	"github.com/mvrun/multiverse/hv/kvm"
	"github.com/mvrun/multiverse/hv/mm"
	"github.com/mvrun/multiverse/hv/netsim"
	"github.com/mvrun/multiverse/hv/sched"
	"github.com/mvrun/multiverse/hv/vfs"
	"github.com/mvrun/multiverse/internal/seeds"
	"golang.org/x/sys/unix"
)

// ClusterConfig describes a simulation of many nodes.
type ClusterConfig struct {
	Seed uint64 // root seed: scheduling, entropy, network
	// Memory is each process's guest physical memory size; default 32 GiB,
	// at most 60 GiB (the MMIO trap page's guest physical address lies
	// above). Host memory is only used as the guest touches it, and large
	// mappings get frames only as they are touched (docs/hv.md, Memory).
	Memory uint64
	// Quantum is the host time a guest thread may run without a system
	// call before it is preempted (making the run not replay-exact);
	// default 100ms.
	Quantum time.Duration
	// SyncLatency is how long a node's disk takes to make data durable:
	// an fsync or fdatasync with something to flush, a directory fsync
	// after a change, sync and syncfs park the calling thread this long on
	// the virtual clock (other threads run meanwhile) before they complete.
	// Zero means [DefaultSyncLatency]; negative means flushes are free.
	SyncLatency time.Duration
	// SyscallCost is the virtual time each system call of a guest takes,
	// the stand-in for the CPU a process spends in and around it (guest
	// instructions cannot be counted). Zero means
	// [kernel.DefaultSyscallCost]; it must not be negative.
	SyscallCost time.Duration
	// Epoch is the wall-clock time at virtual boot; default
	// [sched.DefaultEpoch].
	Epoch time.Time
	// Clock, if set, is the cluster's clock (Epoch is then unused), for a
	// caller that reads or moves it itself; node clocks fork from it.
	Clock  *sched.Clock
	Logger *slog.Logger
}

// DefaultSyncLatency is a disk flush's duration when ClusterConfig does not
// set one: the median of fsync after a small append on the ext4/virtio
// disks of the hosts mvrun is developed on (150 µs p10, 200 µs p50, 590 µs
// p90), the same order as a datacenter SSD's. Without it a simulated
// database would commit as fast as the network allowed, faster than any
// real disk, and a workload would do many times more work per simulated
// second than on real hardware.
const DefaultSyncLatency = 200 * time.Microsecond

// Cluster is one deterministic simulation: nodes, each with a file system,
// a wall clock and guest processes, all run by one loop on one virtual
// clock. Every choice it makes is drawn from the seed, so the same calls
// with the same seed give the same run (the same [Cluster.TraceHash]).
//
// A Cluster is not safe for concurrent use: call its methods from one
// goroutine, between [Cluster.Run] calls or from functions scheduled with
// [Cluster.At] (which run inside Run at their virtual time).
type Cluster struct {
	cfg    ClusterConfig
	log    *slog.Logger `snap:"keep"`
	sys    *kvm.System  `snap:"zero"` // a restored cluster opens its own
	strat  trapStrategy
	world  *kernel.World
	clock  *sched.Clock
	nodes  []*Node
	byName map[string]*Node
	live   map[*kernel.Kernel]*Process
	dead   []*Process // exited, machine not yet closed
	net    *netsim.Network
	links  *links
	// branch is the seed of the latest Redraw (0 before any): processes
	// started after it draw their entropy from it too.
	branch uint64
	lp     loop
	closed bool
	// closeErr collects failures to close exited processes' VMs (host
	// resources leaked); Close returns it.
	closeErr error
	// exitObs sees exited processes before their memory goes
	// (ObserveExits); a look, so snapshots drop it.
	exitObs func(*Process) `snap:"zero"`
}

// Node is one machine of the cluster: a hostname, a file system that
// outlives its processes, a wall clock with its own offset, and the guest
// processes running in it.
type Node struct {
	c      *Cluster
	name   string
	fs     *vfs.FS
	clock  *sched.Clock
	procs  []*Process // live, in start order
	all    []*Process // every process ever started, in start order
	nstart int        // processes ever started, for their seeds
	paused bool
	host   *netsim.Host
	disk   *nodeDisk // disk faults (diskfault.go); nil until armed
}

// NodeConfig describes a node.
type NodeConfig struct {
	Name string // unique; also the node's hostname
	// FS is the node's file system; if nil a fresh one is made and, if
	// FSDir is set, seeded from that host directory.
	FS          *vfs.FS
	FSDir       string
	ClockOffset time.Duration // initial wall-clock skew
	// Addr is the node's address on the cluster's network; by default
	// nodes get 10.89.0.2, 10.89.0.3, ... in the order they are added.
	Addr netip.Addr
}

// ProcessConfig describes a guest process to start in a node.
type ProcessConfig struct {
	Binary string // host path of the static ELF executable
	// Path is the program's path inside the node, the one its guest sees:
	// AT_EXECFN, the main thread's name (comm), and argv[0] when Args is
	// empty. Empty means Binary, which makes the run depend on where the
	// host keeps the binary: a guest that writes its argv somewhere (a
	// `go build -cover` program does, into its counter file at exit) then
	// runs differently from another directory. Callers whose runs must not
	// depend on it (every runner command) set it.
	Path   string
	Args   []string // argv; Args[0] defaults to Path
	Env    []string // environment; MVRUN_SDK=hv is added unless present
	Dir    string   // working directory in the node's file system
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	CPUs   int // CPUs the guest sees; default 1 (see [Config.CPUs])
	// NoVDSO leaves out the vDSO, so every clock read is a system call
	// (for measuring what the vDSO saves).
	NoVDSO bool
	// OnMessage receives the process's SDK messages in order.
	OnMessage func(kernel.Message)
	// OnExit is called once, on the run loop, when the process has exited.
	OnExit func(*Process)
}

// Process is a guest process running (or that ran) in a node.
type Process struct {
	node   *Node
	binary string
	k      *kernel.Kernel
	m      *machine       `snap:"zero"` // re-created on restore
	onExit func(*Process) `snap:"keep"` // the caller's: shared by snapshots
	done   bool
	sum    kernel.Summary
	start  time.Duration
	end    time.Duration
}

// DefaultMemory is a process's guest physical memory unless configured:
// room for a 10 GiB mapping (bbolt's default) and a large heap. It costs
// host memory only as the guest touches it and KVM bookkeeping only for
// what the process uses (mm.Physical.OnGrow).
const DefaultMemory = 32 << 30

// ErrClosed is returned by calls on a closed cluster.
var ErrClosed = errors.New("hv: cluster is closed")

// NewCluster opens KVM and returns an empty cluster at virtual time zero.
func NewCluster(cfg ClusterConfig) (*Cluster, error) {
	if cfg.Memory == 0 {
		cfg.Memory = DefaultMemory
	}
	if cfg.Memory > mmioGPA {
		return nil, fmt.Errorf("hv: guest memory of %d GiB is above the %d GiB limit", cfg.Memory>>30, uint64(mmioGPA)>>30)
	}
	switch {
	case cfg.SyncLatency == 0:
		cfg.SyncLatency = DefaultSyncLatency
	case cfg.SyncLatency < 0:
		cfg.SyncLatency = 0
	}
	if cfg.SyscallCost < 0 {
		return nil, fmt.Errorf("hv: a system call cannot cost negative time (SyscallCost %v)", cfg.SyscallCost)
	}
	if cfg.SyscallCost == 0 {
		cfg.SyscallCost = kernel.DefaultSyscallCost
	}
	if cfg.Quantum <= 0 {
		cfg.Quantum = 100 * time.Millisecond
	}
	if cfg.Epoch.IsZero() {
		cfg.Epoch = sched.DefaultEpoch
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sys, strat, err := openKVM()
	if err != nil {
		return nil, err
	}
	clock := cfg.Clock
	if clock == nil {
		clock = sched.NewClock(cfg.Epoch)
	}
	c := &Cluster{
		cfg:    cfg,
		log:    log,
		sys:    sys,
		strat:  strat,
		clock:  clock,
		world:  kernel.NewWorld(clock, seeds.Stream(cfg.Seed, "hv/sched")),
		byName: map[string]*Node{},
		live:   map[*kernel.Kernel]*Process{},
	}
	c.lp.quantum = cfg.Quantum
	c.newNetwork()
	return c, nil
}

// World returns the simulation's shared scheduler state, for packages that
// plug into it (the network registers itself as an event source).
func (c *Cluster) World() *kernel.World { return c.world }

// Strategy names the trap strategy in use.
func (c *Cluster) Strategy() string { return c.strat.Name() }

// Now returns the virtual time since the cluster was created.
func (c *Cluster) Now() time.Duration { return time.Duration(c.clock.Now()) }

// TraceHash fingerprints everything the cluster did so far: every
// scheduling decision, clock jump, system call with its result, signal,
// SDK message and host action, of every process of every node.
func (c *Cluster) TraceHash() uint64 { return c.world.Trace().Sum() }

// NotExact returns why the run is not a pure function of the seed (a
// thread was preempted on host time); empty when it is.
func (c *Cluster) NotExact() []string { return c.world.NotExact() }

// Observe calls fn once the simulation reaches virtual time t, between
// guest events, without changing the run (see [kernel.World.Observe]): the
// way to look at a moment of a replayed seed — copy a node's files, say —
// and still get the seed's trace hash. If the cluster goes idle before t,
// fn runs when Advance moves the clock on.
func (c *Cluster) Observe(t time.Duration, fn func()) { c.world.Observe(int64(t), fn) }

// Stats returns counts of VM entries and exits and where host time went,
// over every Run so far.
func (c *Cluster) Stats() Stats { return c.lp.stats }

// Milestones are the trace event kinds [Cluster.SetTraceLog] always
// records: processes starting and exiting, host actions, SDK messages,
// node kills, pauses and resumes, clock offsets, partitions, heals and
// link changes.
const Milestones = "pxhmKPROHL"

// SetTraceLog makes the cluster call fn at every milestone of its trace
// and every [sched.CheckpointEvery] events, with the virtual time, the
// event count, the event's kind and the trace hash so far. Two runs of one
// seed log the same lines; the first line where they differ says where
// they diverged.
func (c *Cluster) SetTraceLog(fn func(at time.Duration, n uint64, kind byte, sum uint64)) {
	tr := c.world.Trace()
	tr.Milestones = Milestones
	tr.Checkpoint = func(n uint64, kind byte, sum uint64) { fn(c.Now(), n, kind, sum) }
}

// At schedules fn to run inside [Cluster.Run] at virtual time t (at once if
// t has passed), between guest events. fn may start, kill and pause
// processes and nodes. Functions due at the same time run in the order
// they were scheduled.
func (c *Cluster) At(t time.Duration, fn func()) {
	c.world.At(int64(t), fn)
}

// Nodes returns the nodes in the order they were added.
func (c *Cluster) Nodes() []*Node { return slices.Clone(c.nodes) }

// Node returns the node called name, or nil.
func (c *Cluster) Node(name string) *Node { return c.byName[name] }

// AddNode adds a node. Its name must be new and non-empty.
func (c *Cluster) AddNode(cfg NodeConfig) (*Node, error) {
	if c.closed {
		return nil, ErrClosed
	}
	if cfg.Name == "" {
		return nil, errors.New("hv: a node needs a name")
	}
	if _, ok := c.byName[cfg.Name]; ok {
		return nil, fmt.Errorf("hv: node %q already exists", cfg.Name)
	}
	clock := c.clock.Fork()
	clock.SetOffset(cfg.ClockOffset)
	fs := cfg.FS
	if fs == nil {
		fs = vfs.New(clock)
		if cfg.FSDir != "" {
			if err := fs.SeedFrom(cfg.FSDir); err != nil {
				return nil, fmt.Errorf("hv: node %s: seed file system from %s: %w", cfg.Name, cfg.FSDir, err)
			}
		}
	}
	n := &Node{c: c, name: cfg.Name, fs: fs, clock: clock}
	c.nodes = append(c.nodes, n)
	c.byName[n.name] = n
	if err := c.attachNode(n, cfg.Addr); err != nil {
		c.nodes = c.nodes[:len(c.nodes)-1]
		delete(c.byName, n.name)
		return nil, err
	}
	c.world.Trace().Bytes('N', []byte(n.name))
	return n, nil
}

// Name returns the node's name.
func (n *Node) Name() string { return n.name }

// FS returns the node's file system.
func (n *Node) FS() *vfs.FS { return n.fs }

// Clock returns the node's clock (the cluster's time with the node's
// wall-clock offset).
func (n *Node) Clock() *sched.Clock { return n.clock }

// Processes returns the node's live processes in start order.
func (n *Node) Processes() []*Process { return slices.Clone(n.procs) }

// Start starts a guest process in the node at the current virtual time. It
// becomes runnable at once; the scheduler runs it when it draws it.
func (n *Node) Start(cfg ProcessConfig) (*Process, error) {
	name := "hv/node/" + n.name + "/proc/" + strconv.Itoa(n.nstart)
	seed := seeds.Derive(n.c.cfg.Seed, name)
	if b := n.c.branch; b != 0 {
		// After a branch (Redraw) a new process is part of the redrawn
		// future: the same start in another branch draws other values.
		seed = seeds.Derive(b, name)
	}
	return n.startSeeded(cfg, seed)
}

// startSeeded starts a process whose entropy comes from seed.
func (n *Node) startSeeded(cfg ProcessConfig, seed uint64) (*Process, error) {
	c := n.c
	if c.closed {
		return nil, ErrClosed
	}
	if cfg.Path == "" {
		cfg.Path = cfg.Binary
	}
	if len(cfg.Args) == 0 {
		cfg.Args = []string{cfg.Path}
	}
	env := cfg.Env
	if !hasEnv(env, "MVRUN_SDK") {
		env = append(slices.Clone(env), "MVRUN_SDK=hv")
	}
	f, err := os.Open(cfg.Binary)
	if err != nil {
		return nil, fmt.Errorf("hv: node %s: %w", n.name, err)
	}
	defer func() { _ = f.Close() }() // opened read-only: closing loses nothing
	if err := mm.CheckELF(f, cfg.Binary); err != nil {
		return nil, err
	}
	if !n.host.Up() {
		// The first process after a kill restarts the node's network
		// stack: peers' segments for its old connections now draw resets.
		if err := c.net.RestartHost(n.name); err != nil {
			return nil, fmt.Errorf("hv: node %s: %w", n.name, err)
		}
	}
	m, err := newMachine(c.sys, c.cfg.Memory, c.strat)
	if err != nil {
		return nil, fmt.Errorf("hv: node %s: %w", n.name, err)
	}
	n.nstart++
	k, err := kernel.New(m.phys, m.space, kernel.Config{
		Seed: seed, World: c.world, Binary: cfg.Binary, Path: cfg.Path, Image: f, Args: cfg.Args, Env: env,
		FS: n.fs, Dir: cfg.Dir, Hostname: n.name, Net: n.host, Clock: n.clock, Stdin: cfg.Stdin, Stdout: cfg.Stdout, Stderr: cfg.Stderr,
		CPUs: cfg.CPUs, NoVDSO: cfg.NoVDSO, OnMessage: cfg.OnMessage, Logger: c.log.With("node", n.name),
		SyncLatency: c.cfg.SyncLatency, SyscallCost: c.cfg.SyscallCost,
	})
	if err != nil {
		return nil, errors.Join(err, m.close())
	}
	k.SetCPU(m)
	m.k = k
	// The main thread starts with the vCPU's reset extended state.
	if err := m.GetFP(k.Main().FP); err != nil {
		return nil, errors.Join(err, m.close())
	}
	m.loaded = k.Main()
	p := &Process{node: n, binary: cfg.Binary, k: k, m: m, onExit: cfg.OnExit, start: c.Now()}
	k.OnExit(func(*kernel.Kernel) { c.exited(p) })
	c.live[k] = p
	n.procs = append(n.procs, p)
	n.all = append(n.all, p)
	if n.paused {
		k.Pause()
	}
	k.Begin()
	return p, nil
}

// exited records that p's process ended; its VM is closed by the loop once
// the current event is handled.
func (c *Cluster) exited(p *Process) {
	if p.done {
		return
	}
	p.done = true
	p.end = c.Now()
	delete(c.live, p.k)
	n := p.node
	if i := slices.Index(n.procs, p); i >= 0 {
		n.procs = slices.Delete(n.procs, i, i+1)
	}
	c.dead = append(c.dead, p)
}

// reap closes the VMs of exited processes and tells their owners.
func (c *Cluster) reap() {
	for len(c.dead) > 0 {
		p := c.dead[0]
		c.dead = c.dead[1:]
		p.sum = p.k.Summary()
		if c.exitObs != nil {
			c.exitObs(p)
		}
		// A VM that does not close leaks host resources but not the
		// simulation: the run goes on and Close reports it.
		c.closeErr = errors.Join(c.closeErr, p.m.close())
		p.m = nil
		if p.onExit != nil {
			p.onExit(p)
		}
	}
}

// Unimplemented is a system call (or a variant of one, such as
// "futex(op 5)" or "setsockopt(SOL_SOCKET, 99)") that a guest used and hv
// does not implement; the guest got an error for it.
type Unimplemented struct {
	Node   string
	Binary string
	Name   string
	Calls  int
}

// Unimplemented lists what the processes of every node called that hv does
// not implement, by node (in the order nodes were added), binary and name.
func (c *Cluster) Unimplemented() []Unimplemented {
	var out []Unimplemented
	for _, n := range c.nodes {
		byKey := map[[2]string]int{}
		var keys [][2]string
		for _, p := range n.all {
			s := p.Summary()
			for _, name := range s.UnimplementedNames() {
				key := [2]string{p.binary, name}
				if _, ok := byKey[key]; !ok {
					keys = append(keys, key)
				}
				byKey[key] += s.Unimplemented[name]
			}
		}
		slices.SortFunc(keys, func(a, b [2]string) int {
			if a[0] != b[0] {
				return strings.Compare(a[0], b[0])
			}
			return strings.Compare(a[1], b[1])
		})
		for _, k := range keys {
			out = append(out, Unimplemented{Node: n.name, Binary: k[0], Name: k[1], Calls: byKey[k]})
		}
	}
	return out
}

// Calls counts the system calls every process of every node made, by name.
func (c *Cluster) Calls() map[string]uint64 {
	out := map[string]uint64{}
	for _, n := range c.nodes {
		for _, p := range n.all {
			for name, k := range p.Summary().Calls {
				out[name] += k
			}
		}
	}
	return out
}

// Kill kills every process of the node, as a power cut would: nothing
// runs in it until a process is started again. Its file system keeps what
// a disk keeps (see [vfs.FS.Crash]): data and directory entries not synced
// since they changed are lost.
func (n *Node) Kill() {
	n.c.world.Trace().Bytes('K', []byte(n.name))
	for _, p := range slices.Clone(n.procs) {
		p.k.PowerOff()
	}
	n.c.reap()
	n.crashDisk()
	_ = n.c.net.KillHost(n.name) // the node exists, so this cannot fail
}

// Pause stops scheduling every process of the node (running ones and any
// started while paused) until [Node.Resume].
func (n *Node) Pause() {
	if n.paused {
		return
	}
	n.paused = true
	for _, p := range n.procs {
		p.k.Pause()
	}
}

// Resume lets a paused node run again.
func (n *Node) Resume() {
	if !n.paused {
		return
	}
	n.paused = false
	for _, p := range n.procs {
		p.k.Resume()
	}
}

// ClockOffset returns the node's wall-clock offset.
func (n *Node) ClockOffset() time.Duration { return n.clock.Offset() }

// Paused reports whether the node is paused.
func (n *Node) Paused() bool { return n.paused }

// SetClockOffset sets the node's wall-clock offset: CLOCK_REALTIME jumps
// by the change, monotonic clocks do not move.
func (n *Node) SetClockOffset(d time.Duration) {
	n.c.world.Trace().Event('O', uint64(d))
	n.clock.SetOffset(d)
}

// Node returns the node the process runs in.
func (p *Process) Node() *Node { return p.node }

// Pid returns the process id.
func (p *Process) Pid() int { return p.k.PID() }

// Binary returns the host path of the process's executable.
func (p *Process) Binary() string { return p.binary }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool { return p.done }

// Started returns the virtual time the process started at.
func (p *Process) Started() time.Duration { return p.start }

// Ended returns the virtual time the process ended at (zero while running).
func (p *Process) Ended() time.Duration { return p.end }

// Summary describes the process: final once it has exited.
func (p *Process) Summary() kernel.Summary {
	if p.done && p.m == nil {
		return p.sum
	}
	return p.k.Summary()
}

// Kill kills the process (SIGKILL).
func (p *Process) Kill() {
	p.k.Kill()
	p.node.c.reap()
}

// Run runs the simulation until virtual time until, until ctx ends (it
// returns ctx's error; the cluster can run on or be closed), or until
// nothing can ever run again: every process blocked with no timer or event
// pending, or no process left (idle is then true and the clock stops where
// the last event happened).
func (c *Cluster) Run(ctx context.Context, until time.Duration) (idle bool, err error) {
	idle, _, err = c.run(ctx, until, nil)
	return idle, err
}

// RunUntil is [Cluster.Run] that also stops as soon as done reports true;
// done is checked before the first event and after every event. It reports
// whether done became true.
func (c *Cluster) RunUntil(ctx context.Context, until time.Duration, done func() bool) (bool, error) {
	_, ok, err := c.run(ctx, until, done)
	return ok, err
}

// Outcome says why [Cluster.Advance] returned.
type Outcome int

// Outcomes of [Cluster.Advance].
const (
	ReachedLimit Outcome = iota // the clock reached the limit
	Stopped                     // the stop function reported true
	Idle                        // nothing can run and nothing is pending
)

// Advance is [Cluster.RunUntil] that says why it returned. When the
// cluster is idle and limit is finite, the clock moves on to limit: nothing
// was going to happen before it.
func (c *Cluster) Advance(ctx context.Context, limit time.Duration, stop func() bool) (Outcome, error) {
	idle, stopped, err := c.run(ctx, limit, stop)
	switch {
	case err != nil:
		return ReachedLimit, err
	case stopped:
		return Stopped, nil
	case idle:
		if limit < time.Duration(1<<62) && c.Now() < limit {
			c.world.Trace().Event('i', uint64(limit))
			c.world.ObserveUntil(int64(limit))
			c.clock.AdvanceTo(int64(limit))
		}
		return Idle, nil
	}
	return ReachedLimit, nil
}

func (c *Cluster) run(ctx context.Context, until time.Duration, done func() bool) (idle, stopped bool, err error) {
	if c.closed {
		return false, false, ErrClosed
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	stop := c.lp.watchdog(ctx, unix.Gettid())
	defer stop()
	began := time.Now()
	defer func() { c.lp.stats.Wall += time.Since(began) }()
	limit := int64(until)
	for {
		c.reap()
		if done != nil && done() {
			return false, true, nil
		}
		if err := ctx.Err(); err != nil {
			return false, false, err
		}
		t, idle := c.world.Schedule(limit)
		c.reap()
		if t == nil {
			return idle, done != nil && done(), nil
		}
		p := c.live[t.Process()]
		if p == nil {
			return false, false, fmt.Errorf("hv: scheduler chose thread %d of a process the cluster does not know", t.TID)
		}
		p.m.step(t, &c.lp)
	}
}

// Close kills every process and releases the VMs and KVM. It is safe to
// call more than once.
func (c *Cluster) Close() error {
	if c.closed {
		return nil
	}
	for _, n := range c.nodes {
		for _, p := range slices.Clone(n.procs) {
			p.k.Kill()
		}
	}
	c.reap()
	c.closed = true
	return errors.Join(c.closeErr, c.sys.Close())
}

// openKVM opens /dev/kvm and probes the trap strategy this host needs.
func openKVM() (*kvm.System, trapStrategy, error) {
	sys, err := kvm.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrNoKVM, err)
	}
	strat, _, err := strategy(sys)
	if err != nil {
		return nil, nil, errors.Join(err, sys.Close())
	}
	return sys, strat, nil
}
