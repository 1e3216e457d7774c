// Package kernel is hv's Linux personality: it implements the system calls
// of one guest process in Go, on behalf of guest threads that run as green
// threads on one vCPU.
//
// The machine (package hv) runs the vCPU and calls [Kernel.Syscall] on every
// system call trap and [Kernel.Fault] on every exception; between events it
// asks [Kernel.Schedule] which thread runs next. The system call table is
// data (table.go); each family lives in its own sys_<family>.go. Threads are
// switched only when the running one blocks, yields or exits, in an order
// drawn from the seed, and time is a virtual clock that advances by
// modelled costs and jumps to the next timer when every thread is blocked.
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
	Seed   uint64 // root seed of this process
	Binary string // path of the static ELF (for error messages and AT_EXECFN)
	Image  io.ReaderAt
	Args   []string // argv, including argv[0]
	Env    []string // envp
	FS     *vfs.FS  // file system; a fresh empty one if nil
	Clock  *sched.Clock
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	CPUs   int // CPUs the guest sees (sched_getaffinity); default 1
	// NoVDSO leaves out the vDSO (no AT_SYSINFO_EHDR), so every clock read
	// is a system call: for measuring what the vDSO saves.
	NoVDSO bool
	// OnMessage receives SDK messages in order; may be nil.
	OnMessage func(Message)
	Logger    *slog.Logger
}

// Syscall costs in virtual nanoseconds: the virtual clock advances by these
// at every system call, since guest instructions cannot be counted.
const (
	costSyscall  = 1000
	costTimeRead = 100
)

// Kernel is one guest process: its address space, threads, files, signal
// dispositions and scheduler state.
type Kernel struct {
	cfg    Config
	log    *slog.Logger
	cpu    CPU
	Space  *mm.Space
	Phys   *mm.Physical
	clock  *sched.Clock
	timers sched.Timers
	picker *sched.Picker
	trace  *sched.Trace
	rng    *rand.Rand // guest entropy: getrandom, /dev/urandom

	threads map[int]*Thread
	runq    []*Thread // runnable, not running; kept sorted by tid
	cur     *Thread
	nextTID int
	pid     int

	fs    *vfs.FS
	cwd   *vfs.Inode
	files *fdTable

	watchers map[file][]*epollFile
	pipeIno  uint64

	sigactions  [abi.NSIG + 1]sigaction
	futexes     map[uint64]*waitQueue
	brk, brkMin uint64
	vvar        []byte // host view of the vvar page; nil without a vDSO
	counter     []byte // host view of the vDSO's read counter page
	vdsoReads   uint64 // clock reads the vDSO answered, all charged

	exited    bool
	exitCode  int
	exitSig   int
	err       error
	notExact  []string
	unimpl    map[string]int
	syscalls  uint64
	switches  uint64
	delivered map[int]int
	counts    map[uint64]uint64
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
	if cfg.Clock == nil {
		cfg.Clock = sched.NewClock(sched.DefaultEpoch)
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
		cfg:       cfg,
		log:       log,
		Space:     space,
		Phys:      phys,
		clock:     cfg.Clock,
		picker:    sched.NewPicker(seeds.Stream(cfg.Seed, "hv/sched")),
		trace:     sched.NewTrace(),
		rng:       seeds.Stream(cfg.Seed, "hv/entropy"),
		threads:   map[int]*Thread{},
		nextTID:   1000,
		futexes:   map[uint64]*waitQueue{},
		unimpl:    map[string]int{},
		delivered: map[int]int{},
		counts:    map[uint64]uint64{},
		fs:        cfg.FS,
	}
	if k.fs == nil {
		k.fs = vfs.New(k.clock.Wall)
	}
	k.setupDevices()
	k.cwd = k.fs.Root()
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
	t.comm = filepath.Base(cfg.Binary)
	if len(t.comm) > 15 {
		t.comm = t.comm[:15]
	}
	k.pid = t.TID
	if err := k.setupStack(t, img); err != nil {
		return nil, fmt.Errorf("%s: build initial stack: %w", cfg.Binary, err)
	}
	t.Regs.RIP = img.Entry
	t.Regs.RFLAGS = 0x202
	t.state = stateRunning
	k.cur = t
	return k, nil
}

func (k *Kernel) newThread() *Thread {
	t := &Thread{TID: k.nextTID, k: k, FP: new(FPState)}
	k.nextTID++
	k.threads[t.TID] = t
	return t
}

// Clock returns the process's virtual clock.
func (k *Kernel) Clock() *sched.Clock { return k.clock }

// Current returns the running thread, or nil.
func (k *Kernel) Current() *Thread { return k.cur }

// Exited reports whether the process has exited.
func (k *Kernel) Exited() bool { return k.exited }

// Summary describes a finished (or failed) run.
type Summary struct {
	ExitCode      int    // exit status, 128+signal if killed
	Signal        int    // signal that killed the process, or 0
	Err           error  // why the run stopped early (deadlock, VMM error)
	TraceHash     uint64 // hash of scheduling decisions, syscalls, SDK messages
	VirtualTime   time.Duration
	Syscalls      uint64
	Switches      uint64
	VDSOReads     uint64            // clock reads the vDSO answered without a system call (not in Syscalls or Calls)
	Signals       map[int]int       // signals delivered to handlers, by number
	Calls         map[string]uint64 // system calls made, by name
	Unimplemented map[string]int    // unimplemented syscalls, or variants such as "futex(op 5)", → calls
	NotExact      []string          // reasons the run is not replay-exact
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
	return Summary{
		ExitCode:      k.exitCode,
		Signal:        k.exitSig,
		Err:           k.err,
		TraceHash:     k.trace.Sum(),
		VirtualTime:   time.Duration(k.clock.Now()),
		Syscalls:      k.syscalls,
		Switches:      k.switches,
		VDSOReads:     k.vdsoReads,
		Signals:       maps.Clone(k.delivered),
		Calls:         k.callCounts(),
		Unimplemented: u,
		NotExact:      append([]string(nil), k.notExact...),
	}
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
	k.trace.Event('x', uint64(code), uint64(sig))
	for _, t := range k.threads {
		t.cancelWait()
		t.state = stateExited
	}
	k.runq = nil
	k.cur = nil
	k.files.closeAll()
}

// Preempt takes the CPU from the running thread (after it ran too long
// without a system call, on host time) and lets the scheduler choose again.
// elapsed is the host time it ran; the virtual clock advances by it. Such
// a run depends on host timing and is marked not replay-exact.
func (k *Kernel) Preempt(elapsed time.Duration) {
	t := k.cur
	if t == nil || len(k.runq) == 0 && k.timers.Len() == 0 {
		// Nothing else could run or become due: no decision to make.
		return
	}
	k.MarkNotExact("a guest thread ran past the host-time quantum without a system call and was preempted")
	k.chargeClockReads()
	k.clock.Advance(int64(elapsed))
	k.fireTimers()
	t.state = stateRunnable
	k.enqueue(t)
	k.cur = nil
}

func (k *Kernel) enqueue(t *Thread) {
	i := sort.Search(len(k.runq), func(i int) bool { return k.runq[i].TID >= t.TID })
	if i < len(k.runq) && k.runq[i] == t {
		return
	}
	k.runq = append(k.runq, nil)
	copy(k.runq[i+1:], k.runq[i:])
	k.runq[i] = t
}

// fireTimers wakes the threads whose deadlines have passed.
func (k *Kernel) fireTimers() {
	for {
		tm, ok := k.timers.PopDue(k.clock.Now())
		if !ok {
			return
		}
		if t := k.threads[tm.ID]; t != nil && t.wait != nil && t.wait.timer == tm {
			t.wait.timer = nil
			t.timeout()
		}
	}
}

// Schedule returns the thread that runs next, or nil when the process has
// exited (see [Kernel.Summary]). When every thread is blocked it advances the
// virtual clock to the next timer.
func (k *Kernel) Schedule() *Thread {
	for !k.exited {
		if k.cur != nil && k.cur.state == stateRunning {
			return k.cur
		}
		k.cur = nil
		if len(k.runq) == 0 {
			when, ok := k.timers.Next()
			if !ok {
				k.err = ErrDeadlock
				k.exitProcess(128+abi.SIGKILL, abi.SIGKILL)
				return nil
			}
			k.clock.AdvanceTo(when)
			k.trace.Event('j', uint64(when))
			k.fireTimers()
			continue
		}
		i := k.picker.Pick(len(k.runq))
		t := k.runq[i]
		k.runq = append(k.runq[:i], k.runq[i+1:]...)
		k.trace.Event('s', uint64(t.TID))
		k.switches++
		t.state = stateRunning
		k.cur = t
		if t.restart != nil {
			// The thread was woken to retry a system call that blocked.
			k.dispatch(t, t.restart)
		}
	}
	return nil
}

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

// Fault turns CPU exception vec of the running thread t (with its error
// code and, for page faults, the faulting address) into the signal Linux
// would send.
func (k *Kernel) Fault(t *Thread, vec int, errCode, cr2 uint64) {
	k.chargeClockReads()
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
