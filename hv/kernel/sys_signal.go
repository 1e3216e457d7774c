package kernel

import (
	"math/bits"

	"github.com/mvrun/multiverse/hv/abi"
)

// sigaction is one signal's disposition (struct sigaction as rt_sigaction
// passes it on x86-64).
type sigaction struct {
	handler, flags, restorer, mask uint64
}

// sigInfo is what a pending signal's siginfo will carry.
type sigInfo struct {
	code int32
	addr uint64 // fault address (SIGSEGV, SIGBUS, ...)
	pid  int32
	trap uint64 // exception vector, for mcontext.trapno
	err  uint64 // exception error code
}

// stackT is a signal stack (stack_t).
type stackT struct {
	sp    uint64
	flags int32
	size  uint64
}

// sigFrame is the VMM-side part of a delivered signal frame: the extended
// state to restore at rt_sigreturn.
type sigFrame struct {
	uc uint64
	fp *FPState
}

func sigBit(sig int) uint64 { return 1 << uint(sig-1) }

// Signals that can be neither caught nor blocked.
const unblockable = 1<<(abi.SIGKILL-1) | 1<<(abi.SIGSTOP-1)

// sysRtSigaction implements Linux syscall rt_sigaction(2).
func sysRtSigaction(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	sig, act, old := int(a[0]), a[1], a[2]
	if sig < 1 || sig > abi.NSIG || a[3] != 8 {
		return 0, abi.EINVAL
	}
	if old != 0 {
		s := k.sigactions[sig]
		b := make(le, 32)
		b.u64(0, s.handler)
		b.u64(8, s.flags)
		b.u64(16, s.restorer)
		b.u64(24, s.mask)
		if err := k.copyOut(b, old); err != nil {
			return 0, err
		}
	}
	if act != 0 {
		if sig == abi.SIGKILL || sig == abi.SIGSTOP {
			return 0, abi.EINVAL
		}
		b := make([]byte, 32)
		if err := k.copyIn(b, act); err != nil {
			return 0, err
		}
		k.sigactions[sig] = sigaction{
			handler:  leU64(b, 0),
			flags:    leU64(b, 8),
			restorer: leU64(b, 16),
			mask:     leU64(b, 24) &^ unblockable,
		}
	}
	return 0, nil
}

// sysRtSigprocmask implements Linux syscall rt_sigprocmask(2).
func sysRtSigprocmask(t *Thread, a *[6]uint64) (uint64, error) {
	how, set, old := a[0], a[1], a[2]
	if a[3] != 8 {
		return 0, abi.EINVAL
	}
	if old != 0 {
		if err := t.k.writeU64(old, t.sigMask); err != nil {
			return 0, err
		}
	}
	if set == 0 {
		return 0, nil
	}
	m, err := t.k.readU64(set)
	if err != nil {
		return 0, err
	}
	switch how {
	case abi.SigBlock:
		t.sigMask |= m
	case abi.SigUnblock:
		t.sigMask &^= m
	case abi.SigSetmask:
		t.sigMask = m
	default:
		return 0, abi.EINVAL
	}
	t.sigMask &^= unblockable
	return 0, nil
}

func (t *Thread) onAltStack(sp uint64) bool {
	s := t.altStack
	return s.flags&abi.SsDisable == 0 && s.size != 0 && sp > s.sp && sp-s.sp <= s.size
}

// sysSigaltstack implements Linux syscall sigaltstack(2).
func sysSigaltstack(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	if a[1] != 0 {
		s := t.altStack
		flags := s.flags
		if s.size == 0 {
			flags = abi.SsDisable
		}
		if t.onAltStack(t.Regs.RSP) {
			flags = abi.SsOnstack
		}
		b := make(le, 24)
		b.u64(0, s.sp)
		b.u32(8, uint32(flags))
		b.u64(16, s.size)
		if err := k.copyOut(b, a[1]); err != nil {
			return 0, err
		}
	}
	if a[0] != 0 {
		if t.onAltStack(t.Regs.RSP) {
			return 0, abi.EPERM
		}
		b := make([]byte, 24)
		if err := k.copyIn(b, a[0]); err != nil {
			return 0, err
		}
		s := stackT{sp: leU64(b, 0), flags: int32(leU64(b, 8)), size: leU64(b, 16)}
		if s.flags&^abi.SsDisable != 0 {
			return 0, abi.EINVAL
		}
		if s.flags&abi.SsDisable == 0 && s.size < 2048 {
			return 0, abi.ENOMEM
		}
		t.altStack = s
	}
	return 0, nil
}

// sysTgkill implements Linux syscall tgkill(2).
func sysTgkill(t *Thread, a *[6]uint64) (uint64, error) {
	if int(a[0]) != t.k.pid {
		return 0, abi.ESRCH
	}
	return sysTkill(t, &[6]uint64{a[1], a[2]})
}

// sysTkill implements Linux syscall tkill(2).
func sysTkill(t *Thread, a *[6]uint64) (uint64, error) {
	sig := int(a[1])
	target := t.k.threads[int(a[0])]
	if target == nil {
		return 0, abi.ESRCH
	}
	if sig < 0 || sig > abi.NSIG {
		return 0, abi.EINVAL
	}
	if sig != 0 {
		t.k.sendSignal(target, sig, sigInfo{code: abi.SiTkill, pid: int32(t.k.pid)})
	}
	return 0, nil
}

// sysKill implements Linux syscall kill(2) for the process itself.
func sysKill(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	pid, sig := int(int32(a[0])), int(a[1])
	if pid != k.pid && pid != 0 && pid != -1 {
		return 0, abi.ESRCH
	}
	if sig < 0 || sig > abi.NSIG {
		return 0, abi.EINVAL
	}
	if sig == 0 {
		return 0, nil
	}
	// A process-directed signal goes to the first thread (by tid) that does
	// not block it, which is deterministic.
	target := t
	if t.sigMask&sigBit(sig) != 0 {
		for _, id := range k.tids() {
			if k.threads[id].sigMask&sigBit(sig) == 0 {
				target = k.threads[id]
				break
			}
		}
	}
	k.sendSignal(target, sig, sigInfo{code: abi.SiUser, pid: int32(k.pid)})
	return 0, nil
}

// sendSignal makes sig pending on t and interrupts t's blocking call if the
// signal will run a handler.
func (k *Kernel) sendSignal(t *Thread, sig int, info sigInfo) {
	act := k.sigactions[sig]
	if act.handler == abi.SigIgn || (act.handler == abi.SigDfl && abi.DefaultAction(sig) == abi.SigActIgnore) {
		return
	}
	k.trace.Event('k', uint64(t.TID), uint64(sig))
	t.sigPending |= sigBit(sig)
	t.sigInfo[sig] = info
	if t.state == stateBlocked && t.sigMask&sigBit(sig) == 0 {
		t.wakeup(errRet(abi.EINTR), false)
	}
}

// ForceSignal delivers a synchronous signal (a CPU exception) to the running
// thread t. If t blocks or ignores it, the process dies of it, as on Linux.
func (k *Kernel) ForceSignal(t *Thread, sig int, info sigInfo) {
	act := k.sigactions[sig]
	if act.handler == abi.SigIgn || t.sigMask&sigBit(sig) != 0 || act.handler == abi.SigDfl {
		k.log.Debug("fatal signal", "tid", t.TID, "sig", sig, "rip", t.Regs.RIP, "addr", info.addr)
		k.exitProcess(128+sig, sig)
		return
	}
	k.trace.Event('f', uint64(t.TID), uint64(sig), info.addr)
	t.sigPending |= sigBit(sig)
	t.sigInfo[sig] = info
}

// deliverSignals runs the handler of t's lowest pending unblocked signal by
// building a signal frame on t's stack.
func (k *Kernel) deliverSignals(t *Thread) {
	for !k.exited {
		ready := t.sigPending &^ t.sigMask
		if ready == 0 {
			return
		}
		sig := bits.TrailingZeros64(ready) + 1
		t.sigPending &^= sigBit(sig)
		act := k.sigactions[sig]
		switch act.handler {
		case abi.SigIgn:
			continue
		case abi.SigDfl:
			switch abi.DefaultAction(sig) {
			case abi.SigActIgnore, abi.SigActContinue, abi.SigActStop:
				continue
			}
			k.exitProcess(128+sig, sig)
			return
		}
		if err := k.pushFrame(t, sig, act); err != nil {
			// No room for the frame: Linux kills the process with SIGSEGV.
			k.exitProcess(128+abi.SIGSEGV, abi.SIGSEGV)
		}
		return
	}
}

func (k *Kernel) pushFrame(t *Thread, sig int, act sigaction) error {
	r := t.Regs
	sp := r.RSP
	if act.flags&abi.SaOnstack != 0 && t.altStack.flags&abi.SsDisable == 0 && t.altStack.size != 0 && !t.onAltStack(sp) {
		sp = t.altStack.sp + t.altStack.size
	} else {
		sp -= 128 // the x86-64 red zone
	}
	const frameSize = abi.SigframeUcontext + abi.UcontextSize + abi.SiginfoSize
	sp = (sp-frameSize)&^15 - 8 // as after a call: (sp+8) is 16-byte aligned
	uc := sp + abi.SigframeUcontext
	infoAddr := uc + abi.UcontextSize

	b := make(le, frameSize)
	b.u64(0, act.restorer)
	u := b[abi.SigframeUcontext:]
	u.u64(abi.UcStack, t.altStack.sp)
	u.u32(abi.UcStack+8, uint32(t.altStack.flags))
	u.u64(abi.UcStack+16, t.altStack.size)
	m := u[abi.UcMcontext:]
	for _, f := range []struct {
		off int
		v   uint64
	}{
		{abi.McR8, r.R8}, {abi.McR9, r.R9}, {abi.McR10, r.R10}, {abi.McR11, r.R11},
		{abi.McR12, r.R12}, {abi.McR13, r.R13}, {abi.McR14, r.R14}, {abi.McR15, r.R15},
		{abi.McRDI, r.RDI}, {abi.McRSI, r.RSI}, {abi.McRBP, r.RBP}, {abi.McRBX, r.RBX},
		{abi.McRDX, r.RDX}, {abi.McRAX, r.RAX}, {abi.McRCX, r.RCX}, {abi.McRSP, r.RSP},
		{abi.McRIP, r.RIP}, {abi.McEflags, r.RFLAGS},
		{abi.McErr, t.sigInfo[sig].err}, {abi.McTrapno, t.sigInfo[sig].trap},
		{abi.McOldmask, t.sigMask}, {abi.McCR2, t.sigInfo[sig].addr},
	} {
		m.u64(f.off, f.v)
	}
	m.u16(abi.McCSGSFS, 0x33)
	m.u16(abi.McCSGSFS+6, 0x2b)
	u.u64(abi.UcSigmask, t.sigMask)
	in := b[abi.SigframeUcontext+abi.UcontextSize:]
	info := t.sigInfo[sig]
	in.u32(0, uint32(sig))
	in.u32(8, uint32(info.code))
	if info.addr != 0 || sig == abi.SIGSEGV || sig == abi.SIGBUS || sig == abi.SIGFPE || sig == abi.SIGILL {
		in.u64(16, info.addr)
	} else {
		in.u32(16, uint32(info.pid))
	}
	if err := k.copyOut(b, sp); err != nil {
		return err
	}
	fp := new(FPState)
	if err := k.cpu.GetFP(fp); err != nil {
		return err
	}
	t.frames = append(t.frames, sigFrame{uc: uc, fp: fp})
	t.sigMask |= act.mask
	if act.flags&abi.SaNodefer == 0 {
		t.sigMask |= sigBit(sig)
	}
	t.sigMask &^= unblockable
	if act.flags&abi.SaResethand != 0 {
		k.sigactions[sig] = sigaction{}
	}
	t.Regs.RSP = sp
	t.Regs.RIP = act.handler
	t.Regs.RDI = uint64(sig)
	t.Regs.RSI = infoAddr
	t.Regs.RDX = uc
	t.Regs.RAX = 0
	t.Regs.RFLAGS &^= 1<<10 | 1<<8 // DF, TF
	k.trace.Event('d', uint64(t.TID), uint64(sig))
	k.delivered[sig]++
	return nil
}

// sysRtSigreturn implements Linux syscall rt_sigreturn(2): it restores the
// registers (as the handler may have changed them), the signal mask and the
// extended state saved when the signal was delivered.
func sysRtSigreturn(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	uc := t.Regs.RSP // the handler's ret popped the restorer address
	var fp *FPState
	if n := len(t.frames); n > 0 {
		f := t.frames[n-1]
		t.frames = t.frames[:n-1]
		uc, fp = f.uc, f.fp
	}
	b := make([]byte, abi.UcSigmask+8)
	if err := k.copyIn(b, uc); err != nil {
		k.exitProcess(128+abi.SIGSEGV, abi.SIGSEGV)
		return 0, errExited
	}
	m := b[abi.UcMcontext:]
	g := func(off int) uint64 { return leU64(m, off) }
	r := &t.Regs
	r.R8, r.R9, r.R10, r.R11 = g(abi.McR8), g(abi.McR9), g(abi.McR10), g(abi.McR11)
	r.R12, r.R13, r.R14, r.R15 = g(abi.McR12), g(abi.McR13), g(abi.McR14), g(abi.McR15)
	r.RDI, r.RSI, r.RBP, r.RBX = g(abi.McRDI), g(abi.McRSI), g(abi.McRBP), g(abi.McRBX)
	r.RDX, r.RCX, r.RSP, r.RIP = g(abi.McRDX), g(abi.McRCX), g(abi.McRSP), g(abi.McRIP)
	// User code may change only the arithmetic flags, DF, TF and AC.
	const userFlags = 0x40dd5
	r.RFLAGS = r.RFLAGS&^userFlags | g(abi.McEflags)&userFlags | 0x202
	t.sigMask = leU64(b, abi.UcSigmask) &^ unblockable
	if fp != nil {
		if err := k.cpu.SetFP(fp); err != nil {
			k.Fail(err)
			return 0, errExited
		}
	}
	return g(abi.McRAX), nil
}
