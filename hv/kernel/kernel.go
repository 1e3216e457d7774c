// Package kernel is hv's Linux personality: it implements the system calls
// of guest processes in Go, on behalf of guest threads that run as green
// threads on one virtual CPU.
//
// A [Kernel] is one guest process; a [World] is what all processes of a
// simulation share (run queue, clock, timers, seeded choice, trace hash).
// The machine (package hv) runs each process's vCPU and calls
// [Kernel.Syscall] on every system call trap and [Kernel.Fault] on every
// exception; between events it asks [World.Schedule] which thread, of which
// process, runs next. The system call table is data (table.go); each family
// lives in its own sys_<family>.go. Threads are switched only when the
// running one blocks, yields or exits, in an order drawn from the seed, and
// time is a virtual clock that advances by modelled costs and jumps to the
// next timer when every thread is blocked.
package kernel

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"time"

	"github.com/mvrun/multiverse/hv/abi"
	"github.com/mvrun/multiverse/hv/mm"
	"github.com/mvrun/multiverse/hv/netsim"
	"github.com/mvrun/multiverse/hv/sched"
	"github.com/mvrun/multiverse/hv/vfs"
	"github.com/mvrun/multiverse/internal/seeds"
)

// FPState is a thread's saved extended CPU state in KVM_GET_XSAVE layout.
type FPState [4096]byte

// CPU is what the kernel needs from the machine for the thread that is
// loaded on the vCPU: its extended (FPU/SSE/AVX) state, which signal
// delivery saves and rt_sigreturn restores.
type CPU interface {
	GetFP(*FPState) error
	SetFP(*FPState) error
}

// Message is one SDK wire line a guest sent over the hypercall channel.
type Message struct {
	Time time.Duration // virtual time since boot
	TID  int
	Line []byte
}

// Config describes the process to start.
type Config struct {
	Seed uint64 // seed of this process's entropy (getrandom, AT_RANDOM)
	// World is the simulation the process joins; nil makes a world of its
	// own whose scheduler draws from Seed.
	World  *World
	Binary string // host path of the static ELF (for error messages)
	// Path is the program's path as the guest sees it: AT_EXECFN and the
	// main thread's name (comm); Binary if empty. It is guest-visible
	// state, so it must not depend on where the host keeps the binary.
	Path  string
	Image io.ReaderAt `snap:"keep"` // read while the process starts; snapshots share it
	Args  []string    // argv, including argv[0]
	Env   []string    // envp
	FS    *vfs.FS     // file system; a fresh empty one if nil
	Dir   string      // working directory in FS; the root if empty
	// Hostname is the node's name as uname(2) reports it; "hv" if empty.
	Hostname string
	Clock    *sched.Clock // the node's clock, a fork of the world's; the world's if nil
	// Stdin, Stdout, Stderr and OnMessage are the caller's: a snapshot
	// of the process shares them.
	Stdin  io.Reader `snap:"keep"`
	Stdout io.Writer `snap:"keep"`
	Stderr io.Writer `snap:"keep"`
	CPUs   int       // CPUs the guest sees (sched_getaffinity); default 1
	// NoVDSO leaves out the vDSO (no AT_SYSINFO_EHDR), so every clock read
	// is a system call: for measuring what the vDSO saves.
	NoVDSO bool
	// OnMessage receives SDK messages in order; may be nil.
	OnMessage func(Message) `snap:"keep"`
	Logger    *slog.Logger
	// SyncLatency is how long a flush to the node's disk takes on the
	// virtual clock (fsync with something to flush, sync); 0: free.
	SyncLatency time.Duration
	// SyscallCost is the virtual time every system call takes, standing
	// in for the CPU the guest spends in and around it; 0 means
	// [DefaultSyscallCost].
	SyscallCost time.Duration
	// Net is the node's network endpoint (sockets, sys_socket.go); nil
	// means no network: socket(2) fails and is reported.
	Net netsim.Stack
}

// DefaultSyscallCost is the virtual time a system call takes when
// [Config.SyscallCost] is not set. Guest instructions cannot be counted
// (there is no PMU to count them, and timing them would make the run depend
// on the host), so the clock advances by a fixed amount per call instead,
// and that amount stands for the call and the computation around it. It is
// what a Go network service spends natively: serving the kvstore example's
// HTTP workload, its processes use 12 µs of CPU per system call on the hosts
// mvrun is developed on (docs/backends.md#speed). A smaller figure makes a
// simulated second hold several times the work of a real one, so busy
// clusters run slower than real time and do more than they would.
const DefaultSyscallCost = 12 * time.Microsecond

// costTimeRead is the virtual time, in nanoseconds, of one clock read
// (clock_gettime, gettimeofday, or a vDSO read charged at the next exit).
const costTimeRead = 100

// Kernel is one guest process: its address space, threads, files, signal
// dispositions and scheduler state.
type Kernel struct {
	cfg   Config
	log   *slog.Logger
	cpu   CPU `snap:"zero"` // the machine's; a restored process gets its new one
	Space *mm.Space
	Phys  *mm.Physical
	clock *sched.Clock // the node's clock: world time, node wall offset
	w     *World
	trace *sched.Trace // the world's
	rng   *rand.Rand   // guest entropy: getrandom, /dev/urandom

	threads map[int]*Thread
	pid     int
	paused  bool      // descheduled by the host (a pause fault)
	frozen  []*Thread // threads that became runnable while paused

	fs    *vfs.FS
	cwd   *vfs.Inode
	files *fdTable
	disk  diskWaits // slow disk calls waiting out their latency (diskfault.go)

	watchers map[file][]*epollFile
	shm      []*sharedMap // this process's MAP_SHARED file mappings (shm.go)
	pipeIno  uint64
	net      netGlue // network coupling (sys_socket.go)

	sigactions  [abi.NSIG + 1]sigaction
	futexes     map[uint64]*waitQueue
	brk, brkMin uint64
	// vvar and counter are views of guest memory, found again in the
	// restored memory of a snapshot ([Kernel.Restored]).
	vvar       []byte `snap:"zero"` // host view of the vvar page; nil without a vDSO
	counter    []byte `snap:"zero"` // host view of the vDSO's read counter page
	vdsoReads  uint64 // clock reads the vDSO answered, all charged
	flushWaits uint64 // flushes that waited for the disk (flushWait)

	exited      bool
	poweredOff  bool          // ended by a power cut of its node (PowerOff)
	onExit      func(*Kernel) `snap:"zero"` // the machine's; set again on restore
	exitCode    int
	exitSig     int
	err         error
	notExact    []string
	unimpl      map[string]int
	syscallCost int64 // virtual ns per system call (Config.SyscallCost)
	syscalls    uint64
	switches    uint64
	demand      uint64 // page faults that populated a lazy mapping (Fault)
	delivered   map[int]int
	counts      map[uint64]uint64
}

// Exit states of a process.
var (
	// ErrDeadlock is reported when every thread is blocked with no timer
	// pending: the guest can never make progress.
	ErrDeadlock = errors.New("guest deadlocked: every thread is blocked and no timer is pending")
)

// New creates the process in space: it maps the ELF image, builds the
// initial stack and creates the main thread. Addresses from mm.UserTop up
// belong to the VMM and are never handed to the guest; the vDSO lives there.
func New(phys *mm.Physical, space *mm.Space, cfg Config) (*Kernel, error) {
	if cfg.CPUs <= 0 {
		cfg.CPUs = 1
	}
	if cfg.World == nil {
		clock := cfg.Clock
		if clock == nil {
			clock = sched.NewClock(sched.DefaultEpoch)
		}
		cfg.World = NewWorld(clock, seeds.Stream(cfg.Seed, "hv/sched"))
	}
	if cfg.Clock == nil {
		cfg.Clock = cfg.World.clock
	}
	if cfg.SyscallCost <= 0 {
		cfg.SyscallCost = DefaultSyscallCost
	}
	if cfg.Stdout == nil {
		cfg.Stdout = io.Discard
	}
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	k := &Kernel{
		cfg:         cfg,
		log:         log,
		Space:       space,
		Phys:        phys,
		clock:       cfg.Clock,
		w:           cfg.World,
		trace:       cfg.World.trace,
		rng:         seeds.Stream(cfg.Seed, "hv/entropy"),
		threads:     map[int]*Thread{},
		syscallCost: int64(cfg.SyscallCost),
		futexes:     map[uint64]*waitQueue{},
		unimpl:      map[string]int{},
		delivered:   map[int]int{},
		counts:      map[uint64]uint64{},
		fs:          cfg.FS,
	}
	if k.fs == nil {
		k.fs = vfs.New(k.clock)
	}
	if err := k.setupDevices(); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Binary, err)
	}
	space.SetFiller(k.fillLazy)
	k.cwd = k.fs.Root()
	if cfg.Dir != "" && cfg.Dir != "/" {
		d, err := k.fs.Lookup(k.fs.Root(), cfg.Dir, true)
		if err != nil || !d.IsDir() {
			return nil, fmt.Errorf("%s: working directory %s does not exist in the node's file system", cfg.Binary, cfg.Dir)
		}
		k.cwd = d
	}
	k.files = newFDTable(k, cfg.Stdin, cfg.Stdout, cfg.Stderr)
	img, err := mm.LoadELF(space, cfg.Image, cfg.Binary)
	if err != nil {
		return nil, err
	}
	k.brk, k.brkMin = img.BrkMin, img.BrkMin
	if !cfg.NoVDSO {
		if err := k.mapVDSO(); err != nil {
			return nil, fmt.Errorf("%s: map vDSO: %w", cfg.Binary, err)
		}
	}
	t := k.newThread()
	t.comm = filepath.Base(k.path())
	if len(t.comm) > 15 {
		t.comm = t.comm[:15]
	}
	k.pid = t.TID
	if err := k.setupStack(t, img); err != nil {
		return nil, fmt.Errorf("%s: build initial stack: %w", cfg.Binary, err)
	}
	t.Regs.RIP = img.Entry
	t.Regs.RFLAGS = 0x202
	return k, nil
}

// Begin makes the process's main thread runnable; the world's scheduler
// runs it when it draws it. The machine calls Begin once the vCPU is set up.
func (k *Kernel) Begin() {
	t := k.threads[k.pid]
	t.state = stateRunnable
	k.trace.Event('p', uint64(k.pid))
	k.w.enqueue(t)
}

// Main returns the process's main thread (it exists until the process ends).
func (k *Kernel) Main() *Thread { return k.threads[k.pid] }

// PID returns the process id (its main thread's id).
func (k *Kernel) PID() int { return k.pid }

// World returns the simulation the process belongs to.
func (k *Kernel) World() *World { return k.w }

func (k *Kernel) newThread() *Thread {
	t := &Thread{TID: k.w.newTID(), k: k, FP: new(FPState)}
	k.threads[t.TID] = t
	k.w.threads[t.TID] = t
	return t
}

// Clock returns the process's virtual clock.
func (k *Kernel) Clock() *sched.Clock { return k.clock }

// Current returns the running thread if it is one of this process's.
func (k *Kernel) Current() *Thread {
	if c := k.w.cur; c != nil && c.k == k {
		return c
	}
	return nil
}

// Exited reports whether the process has exited.
func (k *Kernel) Exited() bool { return k.exited }

// Summary describes a finished (or failed) run.
type Summary struct {
	ExitCode      int    // exit status, 128+signal if killed
	Signal        int    // signal that killed the process, or 0
	Pid           int    // process id
	Err           error  // why the run stopped early (deadlock, VMM error)
	TraceHash     uint64 // hash of scheduling decisions, syscalls, SDK messages of the whole world so far
	VirtualTime   time.Duration
	Syscalls      uint64
	Switches      uint64
	VDSOReads     uint64            // clock reads the vDSO answered without a system call (not in Syscalls or Calls)
	FlushWaits    uint64            // flushes that waited the disk's SyncLatency
	DemandFaults  uint64            // page faults that populated part of a lazily populated mapping (each a VM exit, no signal)
	Signals       map[int]int       // signals delivered to handlers, by number
	Calls         map[string]uint64 // system calls made, by name
	Unimplemented map[string]int    // unimplemented syscalls, or variants such as "futex(op 5)", → calls
	NotExact      []string          // reasons the run is not replay-exact
	// Memory is the guest physical memory size; MemoryExhausted counts
	// page allocations refused because it was used up (the guest saw
	// ENOMEM or was stopped).
	Memory, MemoryExhausted uint64
}

// ReplayExact reports whether the run is a pure function of the seed.
func (s *Summary) ReplayExact() bool { return len(s.NotExact) == 0 }

// UnimplementedNames returns the unimplemented syscalls' names, sorted.
func (s *Summary) UnimplementedNames() []string {
	var out []string
	for n := range s.Unimplemented {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Summary returns the run's summary so far.
func (k *Kernel) Summary() Summary {
	u := map[string]int{}
	for n, c := range k.unimpl {
		u[n] = c
	}
	s := Summary{
		ExitCode:      k.exitCode,
		Signal:        k.exitSig,
		Err:           k.err,
		TraceHash:     k.trace.Sum(),
		VirtualTime:   time.Duration(k.clock.Now()),
		Pid:           k.pid,
		Syscalls:      k.syscalls,
		Switches:      k.switches,
		VDSOReads:     k.vdsoReads,
		FlushWaits:    k.flushWaits,
		DemandFaults:  k.demand,
		Signals:       maps.Clone(k.delivered),
		Calls:         k.callCounts(),
		Unimplemented: u,
		NotExact:      append([]string(nil), k.notExact...),
	}
	if k.Phys != nil {
		s.Memory, s.MemoryExhausted = k.Phys.Size(), k.Phys.Exhausted()
	}
	return s
}

// Fail stops the process with a VMM-side error.
func (k *Kernel) Fail(err error) {
	if !k.exited {
		k.err = err
		k.exitProcess(128+abi.SIGKILL, abi.SIGKILL)
	}
}

// MarkNotExact records that something outside the seed influenced the run.
func (k *Kernel) MarkNotExact(reason string) {
	for _, r := range k.notExact {
		if r == reason {
			return
		}
	}
	k.notExact = append(k.notExact, reason)
}

func (k *Kernel) exitProcess(code, sig int) {
	if k.exited {
		return
	}
	k.exited = true
	k.exitCode = code
	k.exitSig = sig
	k.trace.Event('x', uint64(k.pid), uint64(code), uint64(sig))
	for _, id := range k.tids() {
		t := k.threads[id]
		if !k.poweredOff {
			k.exitRobustList(t)
		}
		t.cancelWait()
		t.state = stateExited
		delete(k.w.threads, id)
	}
	k.w.dequeueProcess(k)
	k.frozen = nil
	k.unshareAll()
	k.files.closeAll()
	if k.onExit != nil {
		k.onExit(k)
	}
}

// OnExit sets a function called once when the process exits, after its
// files are closed.
func (k *Kernel) OnExit(fn func(*Kernel)) { k.onExit = fn }

// Kill ends the process as SIGKILL does (a kill fault, or the host tearing
// a node down). It must be called between guest events.
func (k *Kernel) Kill() {
	if !k.exited {
		k.exitProcess(128+abi.SIGKILL, abi.SIGKILL)
	}
}

// PowerOff ends the process as a power cut does: like [Kernel.Kill], but
// nothing of the kernel's exit work that writes to memory runs (robust
// futex lists are not walked), since a machine that loses power does no
// more writes, not even to files mapped shared.
func (k *Kernel) PowerOff() {
	if !k.exited {
		k.poweredOff = true
		k.exitProcess(128+abi.SIGKILL, abi.SIGKILL)
	}
}

// Pause deschedules every thread of the process until [Kernel.Resume]:
// they keep their state and timers, and whatever wakes them while paused
// takes effect on resume (timers fire late, as after a real stall).
func (k *Kernel) Pause() {
	if k.paused || k.exited {
		return
	}
	k.paused = true
	k.trace.Event('P', uint64(k.pid))
	var keep []*Thread
	for _, t := range k.w.runq {
		if t.k == k {
			k.frozen = append(k.frozen, t)
		} else {
			keep = append(keep, t)
		}
	}
	k.w.runq = keep
	if c := k.w.cur; c != nil && c.k == k {
		c.state = stateRunnable
		k.frozen = appendThread(k.frozen, c)
		k.w.cur = nil
	}
}

// Resume undoes [Kernel.Pause].
func (k *Kernel) Resume() {
	if !k.paused {
		return
	}
	k.paused = false
	k.trace.Event('R', uint64(k.pid))
	ts := k.frozen
	k.frozen = nil
	sort.Slice(ts, func(i, j int) bool { return ts[i].TID < ts[j].TID })
	for _, t := range ts {
		if t.state == stateRunnable {
			k.w.enqueue(t)
		}
	}
}

// Paused reports whether the process is paused.
func (k *Kernel) Paused() bool { return k.paused }

// enqueue makes t runnable in the world.
func (k *Kernel) enqueue(t *Thread) { k.w.enqueue(t) }

// fireTimers carries out what became due as the clock moved during a
// system call: thread deadlines and network deliveries (host actions wait
// for the next scheduling point).
func (k *Kernel) fireTimers() { k.w.fire(false) }

// SetCPU tells the kernel how to reach the vCPU's extended state. The
// machine calls it once before the first event.
func (k *Kernel) SetCPU(c CPU) { k.cpu = c }

// Prepare is called by the machine once t's state is loaded on the vCPU
// and before it runs: it delivers t's pending signals.
func (k *Kernel) Prepare(t *Thread) {
	k.deliverSignals(t)
}

// tids returns the live thread ids in ascending order.
func (k *Kernel) tids() []int {
	ids := make([]int, 0, len(k.threads))
	for id := range k.threads {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}

// Alive reports whether t is still a live thread of the process.
func (k *Kernel) Alive(t *Thread) bool { return !k.exited && k.threads[t.TID] == t }

// Page fault error code bits (the CPU pushes them with #PF).
const (
	pfPresent = 1 << 0 // the page was present: a protection violation
	pfWrite   = 1 << 1
	pfUser    = 1 << 2
	pfFetch   = 1 << 4 // instruction fetch
)

// Fault handles CPU exception vec of the running thread t (with its error
// code and, for page faults, the faulting address). A page fault on a
// not-yet-populated page of a lazily populated mapping that allows the
// access is a demand fault: the page (with its neighbours, mm.FaultChunk)
// gets its frame and t resumes at the faulting instruction, with no signal
// and no virtual time charged, as eager population would have cost none.
// Everything else becomes the signal Linux would send.
func (k *Kernel) Fault(t *Thread, vec int, errCode, cr2 uint64) {
	k.chargeClockReads()
	if vec == 14 && errCode&(pfPresent|pfUser) == pfUser {
		ok, err := k.Space.Fault(cr2, errCode&pfWrite != 0, errCode&pfFetch != 0)
		if err != nil {
			k.Fail(fmt.Errorf("demand fault at %#x (rip %#x): %w (guest physical memory is %d MiB: raise hv.Config.Memory)", cr2, t.Regs.RIP, err, k.Phys.Size()>>20))
			return
		}
		if ok {
			k.demand++
			k.trace.Event('g', uint64(t.TID), cr2&^(mm.PageSize-1))
			return
		}
	}
	info := sigInfo{trap: uint64(vec), err: errCode}
	sig := abi.SIGSEGV
	switch vec {
	case 14: // #PF
		info.addr = cr2
		info.code = abi.SegvMaperr
		if _, ok := k.Space.Find(cr2); ok {
			info.code = abi.SegvAccerr
		}
	case 0: // #DE
		sig, info.code, info.addr = abi.SIGFPE, abi.FpeIntdiv, t.Regs.RIP
	case 16, 19: // x87, SIMD floating point
		sig, info.addr = abi.SIGFPE, t.Regs.RIP
	case 6: // #UD
		sig, info.code, info.addr = abi.SIGILL, abi.IllIllopn, t.Regs.RIP
	case 1, 3: // #DB, #BP
		sig, info.code = abi.SIGTRAP, abi.TrapBrkpt
	case 17: // #AC
		sig, info.code = abi.SIGBUS, abi.BusAdrerr
	default: // #GP, #SS and the rest
		info.code = 0x80 // SI_KERNEL
	}
	k.ForceSignal(t, sig, info)
}

func (k *Kernel) callCounts() map[string]uint64 {
	out := make(map[string]uint64, len(k.counts))
	for nr, n := range k.counts {
		out[abi.SysName(nr)] = n
	}
	return out
}
