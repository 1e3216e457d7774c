package kernel

import (
	"errors"
	"math/rand/v2"

	"github.com/mvrun/multiverse/hv/abi"
	"github.com/mvrun/multiverse/hv/sched"
)

// This file is what debugging a moment of a run needs from the kernel: a
// look at every thread (a thread dump reads it between guest events, so it
// changes nothing), guest memory read without side effects, a signal sent
// by the host, the seed streams redrawn for a branch of a run, and an
// observer of system calls (strace decided after the fact).

// ThreadInfo is one guest thread as a thread dump shows it.
type ThreadInfo struct {
	TID    int
	Name   string // prctl(PR_SET_NAME), if the guest set one
	State  string // "running", "runnable", "blocked in futex", …
	Regs   Regs   // as of the last event: current between guest events
	FSBase uint64
}

// Threads describes the process's live threads in tid order.
func (k *Kernel) Threads() []ThreadInfo {
	var out []ThreadInfo
	for _, id := range k.tids() {
		t := k.threads[id]
		ti := ThreadInfo{TID: t.TID, Name: t.comm, Regs: t.Regs, FSBase: t.FSBase}
		switch t.state {
		case stateRunning:
			ti.State = "running"
		case stateRunnable:
			ti.State = "runnable"
		case stateBlocked:
			ti.State = "blocked"
			if c := t.restart; c != nil {
				ti.State += " in " + abi.SysName(c.nr)
			} else if c := t.call; c != nil {
				ti.State += " in " + abi.SysName(c.nr)
			}
		case stateExited:
			ti.State = "exited"
		}
		out = append(out, ti)
	}
	return out
}

// Peek reads guest memory at va into b without any effect on the guest:
// pages not populated yet read as zero rather than being populated (which
// a read through the guest's own view would do).
func (k *Kernel) Peek(b []byte, va uint64) { k.Space.Peek(b, va) }

// Signal sends sig to the process from the host, as kill(2) from another
// process would: to the first thread (by tid) that does not block it, else
// to the first thread. It must be called between guest events.
func (k *Kernel) Signal(sig int) {
	if k.exited || sig <= 0 || sig > abi.NSIG {
		return
	}
	ids := k.tids()
	if len(ids) == 0 {
		return
	}
	target := k.threads[ids[0]]
	for _, id := range ids {
		if k.threads[id].sigMask&sigBit(sig) == 0 {
			target = k.threads[id]
			break
		}
	}
	k.sendSignal(target, sig, sigInfo{code: abi.SiUser})
}

// RedrawEntropy replaces the process's entropy stream (getrandom,
// /dev/urandom) from now on: a branch of a run redraws its future.
func (k *Kernel) RedrawEntropy(rng *rand.Rand) { k.rng = rng }

// Redraw replaces the stream the scheduler draws the next thread from:
// a branch of a run redraws its future, its past unchanged.
func (w *World) Redraw(rng *rand.Rand) { w.picker = sched.NewPicker(rng) }

// CallObserver sees a system call as its handler returns: ret is the value
// the guest gets (meaningful when blocked and exited are false), blocked
// says the thread waits (the call runs again when woken, and is seen
// again), exited that the process ended in it.
type CallObserver func(t *Thread, nr uint64, args [6]uint64, ret uint64, blocked, exited bool)

// SetCallObserver makes fn see every system call of every process from
// now on (nil stops it). It only looks: it must not change guest state,
// so the run and its trace hash stay the same.
func (w *World) SetCallObserver(fn CallObserver) { w.callObs = fn }

// observeCall is the call observer's hook in dispatch.
func (w *World) observeCall(t *Thread, c *call, ret uint64, err error) {
	if w.callObs == nil {
		return
	}
	switch {
	case err == errBlock:
		w.callObs(t, c.nr, c.args, 0, true, false)
	case err == errExited:
		w.callObs(t, c.nr, c.args, 0, false, true)
	case err != nil:
		var en abi.Errno
		if !errors.As(err, &en) {
			en = abi.EINVAL
		}
		w.callObs(t, c.nr, c.args, errRet(en), false, false)
	default:
		w.callObs(t, c.nr, c.args, ret, false, false)
	}
}
