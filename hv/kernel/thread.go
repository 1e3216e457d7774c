package kernel

import (
	"github.com/mvrun/multiverse/hv/abi"
	"github.com/mvrun/multiverse/hv/sched"
)

// Regs are a guest thread's general purpose registers, in the layout of
// struct kvm_regs.
type Regs struct {
	RAX, RBX, RCX, RDX, RSI, RDI, RSP, RBP uint64
	R8, R9, R10, R11, R12, R13, R14, R15   uint64
	RIP, RFLAGS                            uint64
}

type threadState int

const (
	stateRunnable threadState = iota
	stateRunning
	stateBlocked
	stateExited
)

// Thread is one guest thread (a green thread on the process's vCPU).
type Thread struct {
	TID int
	// Regs is the thread's register state. While the thread is loaded on the
	// vCPU the machine copies the registers in before each event and out
	// after it.
	Regs Regs
	// FSBase is the thread's FS segment base (its TLS pointer).
	FSBase uint64
	// FP is the thread's extended state while it is not on the vCPU.
	FP *FPState

	k       *Kernel
	state   threadState
	wait    *wait
	restart *call // system call to re-run when woken

	sigMask    uint64
	sigPending uint64
	sigInfo    [abi.NSIG + 1]sigInfo
	altStack   stackT
	frames     []sigFrame
	clearTID   uint64
	robustList uint64 // set_robust_list's head, walked when the thread ends
	comm       string // name (prctl PR_SET_NAME), at most 15 bytes

	// retrying is set while a woken thread re-runs its blocked system call;
	// timedOut is set when that wakeup was its deadline passing; deadline
	// is the call's absolute virtual deadline, fixed at its first run.
	futexMask uint32
	call      *call // the system call being handled

	retrying bool
	timedOut bool
	deadline int64
}

// Process returns the process t belongs to.
func (t *Thread) Process() *Kernel { return t.k }

// callDeadline returns the absolute virtual deadline of the running call
// for a relative timeout rel (negative: none), computed on its first run
// and kept across retries.
func (t *Thread) callDeadline(rel int64) int64 {
	if !t.retrying {
		if rel < 0 {
			t.deadline = -1
		} else {
			t.deadline = t.k.clock.Now() + rel
		}
	}
	return t.deadline
}

// call is one system call's number and arguments.
type call struct {
	nr   uint64
	args [6]uint64
}

// waitQueue is a list of threads waiting for something.
type waitQueue struct{ ts []*Thread }

func (q *waitQueue) add(t *Thread) { q.ts = append(q.ts, t) }

func (q *waitQueue) remove(t *Thread) {
	for i, x := range q.ts {
		if x == t {
			q.ts = append(q.ts[:i], q.ts[i+1:]...)
			return
		}
	}
}

// wakeAll makes every waiter retry its system call.
func (q *waitQueue) wakeAll() {
	ts := q.ts
	q.ts = nil
	for _, t := range ts {
		if t.wait != nil {
			t.wait.queue = nil
		}
		t.wakeup(0, true)
	}
}

// wait is what a blocked thread waits for.
type wait struct {
	queue     *waitQueue
	timer     *sched.Timer
	onTimeout *timeoutResult // the result when the deadline passes; nil: retry
}

// timeoutResult is the value a system call returns when its wait's
// deadline passes (data rather than a callback, so a blocked thread can be
// snapshotted).
type timeoutResult struct{ rax uint64 }

// block parks t on q (may be nil) until woken or until the virtual
// deadline (negative: none). With c set, a wakeup re-runs the system call
// c; otherwise the waker supplies the result. When the deadline passes the
// call returns onTimeout's value or, if it is nil, runs again with
// timedOut set.
func (t *Thread) block(q *waitQueue, deadline int64, c *call, onTimeout *timeoutResult) error {
	w := &wait{queue: q, onTimeout: onTimeout}
	if q != nil {
		q.add(t)
	}
	if deadline >= 0 {
		w.timer = t.k.w.timers.Add(deadline, t.TID)
	}
	t.wait = w
	t.restart = c
	t.state = stateBlocked
	if t.k.w.cur == t {
		t.k.w.cur = nil
	}
	return errBlock
}

func (t *Thread) cancelWait() {
	if t.wait == nil {
		return
	}
	if t.wait.queue != nil {
		t.wait.queue.remove(t)
	}
	t.k.w.timers.Cancel(t.wait.timer)
	t.wait = nil
}

// wakeup makes a blocked t runnable. With retry it re-runs its system call
// when scheduled; otherwise ret becomes the call's result.
func (t *Thread) wakeup(ret uint64, retry bool) {
	if t.state != stateBlocked {
		return
	}
	t.cancelWait()
	if !retry {
		t.restart = nil
		t.Regs.RAX = ret
	}
	t.state = stateRunnable
	t.k.enqueue(t)
}

// timeout ends t's wait because its deadline passed.
func (t *Thread) timeout() {
	w := t.wait
	if w == nil {
		return
	}
	if w.onTimeout != nil {
		t.cancelWait()
		t.Regs.RAX = w.onTimeout.rax
		t.restart = nil
		t.state = stateRunnable
		t.k.enqueue(t)
		return
	}
	// Retry with the deadline marked as passed; the handler sees timedOut.
	t.cancelWait()
	t.timedOut = true
	t.state = stateRunnable
	t.k.enqueue(t)
}
