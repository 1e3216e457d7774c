package kernel

// Unit tests of signal delivery without /dev/kvm: the frame pushFrame
// builds on the guest stack (the layout a handler and Go's runtime read:
// restorer, ucontext with mcontext and the saved mask, siginfo), the
// registers the handler starts with, the mask while it runs, and what
// rt_sigreturn restores from the frame the handler may have edited.

import (
	"testing"

	"github.com/mvrun/multiverse/hv/abi"
	"github.com/mvrun/multiverse/hv/mm"
)

// fakeCPU stands in for the vCPU's extended state: GetFP hands out a
// recognizable pattern, SetFP records what rt_sigreturn restores.
type fakeCPU struct {
	gets, sets int
	set        *FPState
}

func (c *fakeCPU) GetFP(fp *FPState) error {
	c.gets++
	for i := range fp {
		fp[i] = byte(i*7 + c.gets)
	}
	return nil
}

func (c *fakeCPU) SetFP(fp *FPState) error {
	c.sets++
	c.set = fp
	return nil
}

// signalProc is a process with a fake CPU and a 64 KiB stack mapped for
// its main thread, whose registers hold distinct values so that the saved
// mcontext can be checked field by field.
func signalProc(t *testing.T) (*proc, *fakeCPU, uint64) {
	t.Helper()
	p := unitProc(t)
	cpu := &fakeCPU{}
	p.k.SetCPU(cpu)
	const size = 64 << 10
	base, err := p.k.Space.Map(0, size, mm.ProtRead|mm.ProtWrite, false, false, "stack")
	if err != nil {
		t.Fatal(err)
	}
	th := p.k.Main()
	th.Regs = Regs{
		RAX: 0xa0, RBX: 0xb0, RCX: 0xc0, RDX: 0xd0, RSI: 0x51, RDI: 0xd1, RBP: 0xb9,
		R8: 8, R9: 9, R10: 10, R11: 11, R12: 12, R13: 13, R14: 14, R15: 15,
		RSP: base + size - 0x1003, RIP: 0x401234, RFLAGS: 0x202 | 1<<10 | 1<<8, // DF and TF set
	}
	return p, cpu, base
}

// setAction installs act for sig through rt_sigaction.
func (p *proc) setAction(sig int, act sigaction) {
	p.t.Helper()
	b := make(le, 32)
	b.u64(0, act.handler)
	b.u64(8, act.flags)
	b.u64(16, act.restorer)
	b.u64(24, act.mask)
	p.poke(p.scratch, b)
	p.must(abi.SysRtSigaction, uint64(sig), p.scratch, 0, 8)
}

func (p *proc) u64(va uint64) uint64 {
	p.t.Helper()
	v, err := p.k.readU64(va)
	if err != nil {
		p.t.Fatal(err)
	}
	return v
}

const (
	testHandler  = 0x402000
	testRestorer = 0x403000
)

// TestSignalFrame delivers a caught SIGUSR1 and checks the frame and the
// handler's registers against the x86-64 rt_sigframe layout.
func TestSignalFrame(t *testing.T) {
	p, cpu, _ := signalProc(t)
	th := p.k.Main()
	before := th.Regs
	th.sigMask = sigBit(abi.SIGUSR2)
	p.setAction(abi.SIGUSR1, sigaction{
		handler: testHandler, restorer: testRestorer,
		flags: abi.SaSiginfo | abi.SaRestorer, mask: sigBit(abi.SIGTERM) | sigBit(abi.SIGKILL),
	})
	p.must(abi.SysTkill, uint64(th.TID), abi.SIGUSR1)
	if th.sigPending&sigBit(abi.SIGUSR1) == 0 {
		t.Fatal("tkill left SIGUSR1 not pending")
	}
	p.k.deliverSignals(th)
	if p.k.Exited() {
		t.Fatalf("the process exited (code %d) instead of running the handler", p.k.exitCode)
	}

	r := th.Regs
	sp := r.RSP
	switch {
	case r.RIP != testHandler:
		t.Errorf("RIP = %#x, want the handler %#x", r.RIP, testHandler)
	case r.RDI != abi.SIGUSR1:
		t.Errorf("RDI = %d, want the signal number", r.RDI)
	case (sp+8)%16 != 0:
		t.Errorf("RSP = %#x: (RSP+8) must be 16-byte aligned, as after a call", sp)
	case sp > before.RSP-128-abi.UcontextSize:
		t.Errorf("RSP = %#x: the frame must sit below the interrupted RSP %#x less the 128-byte red zone", sp, before.RSP)
	case r.RDX != sp+abi.SigframeUcontext:
		t.Errorf("RDX = %#x, want the ucontext at RSP+%d", r.RDX, abi.SigframeUcontext)
	case r.RSI != r.RDX+abi.UcontextSize:
		t.Errorf("RSI = %#x, want the siginfo after the ucontext", r.RSI)
	case r.RAX != 0:
		t.Errorf("RAX = %d, want 0", r.RAX)
	case r.RFLAGS&(1<<10|1<<8) != 0:
		t.Errorf("RFLAGS = %#x: the handler must start with DF and TF clear", r.RFLAGS)
	}
	if got := p.u64(sp); got != testRestorer {
		t.Errorf("return address at RSP = %#x, want the restorer %#x", got, testRestorer)
	}

	mc := r.RDX + abi.UcMcontext
	for _, f := range []struct {
		name string
		off  int
		want uint64
	}{
		{"r8", abi.McR8, before.R8}, {"r9", abi.McR9, before.R9}, {"r10", abi.McR10, before.R10},
		{"r11", abi.McR11, before.R11}, {"r12", abi.McR12, before.R12}, {"r13", abi.McR13, before.R13},
		{"r14", abi.McR14, before.R14}, {"r15", abi.McR15, before.R15}, {"rdi", abi.McRDI, before.RDI},
		{"rsi", abi.McRSI, before.RSI}, {"rbp", abi.McRBP, before.RBP}, {"rbx", abi.McRBX, before.RBX},
		{"rdx", abi.McRDX, before.RDX}, {"rax", abi.McRAX, before.RAX}, {"rcx", abi.McRCX, before.RCX},
		{"rsp", abi.McRSP, before.RSP}, {"rip", abi.McRIP, before.RIP}, {"eflags", abi.McEflags, before.RFLAGS},
		{"oldmask", abi.McOldmask, sigBit(abi.SIGUSR2)},
	} {
		if got := p.u64(mc + uint64(f.off)); got != f.want {
			t.Errorf("mcontext.%s = %#x, want %#x", f.name, got, f.want)
		}
	}
	if cs := uint16(p.u32(mc + abi.McCSGSFS)); cs != 0x33 {
		t.Errorf("mcontext.cs = %#x, want the user code segment 0x33", cs)
	}
	if got := p.u64(r.RDX + abi.UcSigmask); got != sigBit(abi.SIGUSR2) {
		t.Errorf("uc_sigmask = %#x, want the mask before delivery %#x", got, sigBit(abi.SIGUSR2))
	}
	if signo, code, pid := p.u32(r.RSI), int32(p.u32(r.RSI+8)), p.u32(r.RSI+16); signo != abi.SIGUSR1 || code != abi.SiTkill || int(pid) != p.k.pid {
		t.Errorf("siginfo = signo %d code %d pid %d; want %d, SI_TKILL (%d), %d", signo, code, pid, abi.SIGUSR1, abi.SiTkill, p.k.pid)
	}

	// While the handler runs: the old mask, the action's mask (SIGKILL
	// dropped from it) and the signal itself are blocked.
	if want := sigBit(abi.SIGUSR2) | sigBit(abi.SIGTERM) | sigBit(abi.SIGUSR1); th.sigMask != want {
		t.Errorf("mask in the handler = %#x, want %#x", th.sigMask, want)
	}
	if th.sigPending != 0 {
		t.Errorf("pending after delivery = %#x, want none", th.sigPending)
	}
	if cpu.gets != 1 || len(th.frames) != 1 {
		t.Fatalf("delivery saved the extended state %d times and has %d frames, want 1 and 1", cpu.gets, len(th.frames))
	}
	if n := p.k.delivered[abi.SIGUSR1]; n != 1 {
		t.Errorf("delivered[SIGUSR1] = %d, want 1", n)
	}

	// The handler edits the saved context (as Go's runtime does to inject
	// a call), including flags user code may not set (IOPL, VM), and
	// returns through the restorer: its ret pops the return address.
	p.poke(mc+abi.McRIP, le64(0x405678))
	p.poke(mc+abi.McRAX, le64(77))
	p.poke(mc+abi.McRBX, le64(0xbb))
	p.poke(mc+abi.McEflags, le64(0x3000|1<<17|0x1|1<<10))
	p.poke(r.RDX+abi.UcSigmask, le64(sigBit(abi.SIGINT)|sigBit(abi.SIGSTOP)))
	saved := th.frames[0].fp
	th.Regs.RSP = sp + 8
	th.Regs.RFLAGS = 0x202
	ret, err := p.call(abi.SysRtSigreturn)
	if err != nil {
		t.Fatalf("rt_sigreturn: %v", err)
	}
	r = th.Regs
	switch {
	case ret != 77:
		t.Errorf("rt_sigreturn returned %d, want the saved RAX 77 (it becomes RAX)", ret)
	case r.RIP != 0x405678 || r.RBX != 0xbb:
		t.Errorf("RIP, RBX = %#x, %#x; want the handler's edits 0x405678, 0xbb", r.RIP, r.RBX)
	case r.RSP != before.RSP || r.R15 != before.R15 || r.RDI != before.RDI:
		t.Errorf("RSP, R15, RDI = %#x, %d, %#x; want them as before the signal", r.RSP, r.R15, r.RDI)
	case r.RFLAGS != 0x202|0x1|1<<10:
		t.Errorf("RFLAGS = %#x, want %#x: carry and DF taken, IOPL and VM refused, IF kept", r.RFLAGS, 0x202|0x1|1<<10)
	}
	if want := sigBit(abi.SIGINT); th.sigMask != want {
		t.Errorf("mask after rt_sigreturn = %#x, want the saved uc_sigmask without SIGSTOP, %#x", th.sigMask, want)
	}
	if cpu.sets != 1 || cpu.set != saved || len(th.frames) != 0 {
		t.Errorf("rt_sigreturn restored the extended state %d times (same as saved: %t), %d frames left; want once, the saved one, none left",
			cpu.sets, cpu.set == saved, len(th.frames))
	}
}

func le64(v uint64) []byte {
	b := make(le, 8)
	b.u64(0, v)
	return b
}

// TestSignalAltStack: with SA_ONSTACK the frame goes on the alternate
// stack, sigaltstack then reports SS_ONSTACK and refuses a change, and a
// signal taken while on the alternate stack nests on it.
func TestSignalAltStack(t *testing.T) {
	p, _, _ := signalProc(t)
	th := p.k.Main()
	alt, err := p.k.Space.Map(0, 16<<10, mm.ProtRead|mm.ProtWrite, false, false, "altstack")
	if err != nil {
		t.Fatal(err)
	}
	ss := make(le, 24)
	ss.u64(0, alt)
	ss.u64(16, 1024)
	p.poke(p.scratch, ss)
	if en := p.errno(abi.SysSigaltstack, p.scratch, 0); en != abi.ENOMEM {
		t.Errorf("sigaltstack smaller than MINSIGSTKSZ: %v, want ENOMEM", en)
	}
	ss.u64(16, 16<<10)
	p.poke(p.scratch, ss)
	p.must(abi.SysSigaltstack, p.scratch, 0)
	p.setAction(abi.SIGUSR1, sigaction{handler: testHandler, restorer: testRestorer, flags: abi.SaSiginfo | abi.SaRestorer | abi.SaOnstack | abi.SaNodefer})

	p.must(abi.SysTkill, uint64(th.TID), abi.SIGUSR1)
	p.k.deliverSignals(th)
	first := th.Regs.RSP
	if first <= alt || first > alt+16<<10 {
		t.Fatalf("frame at %#x, want it on the alternate stack [%#x, %#x)", first, alt, alt+16<<10)
	}
	if th.sigMask&sigBit(abi.SIGUSR1) != 0 {
		t.Errorf("SA_NODEFER: SIGUSR1 blocked in its own handler")
	}
	if got := int32(p.u32(th.Regs.RDX + abi.UcStack + 8)); got != 0 {
		t.Errorf("uc_stack.ss_flags = %d, want 0 (the stack in use when the signal came was not the alternate one)", got)
	}
	out := p.scratch + 512
	p.must(abi.SysSigaltstack, 0, out)
	if flags := p.u32(out + 8); flags != abi.SsOnstack {
		t.Errorf("sigaltstack in the handler reports flags %d, want SS_ONSTACK", flags)
	}
	if en := p.errno(abi.SysSigaltstack, p.scratch, 0); en != abi.EPERM {
		t.Errorf("changing the alternate stack while on it: %v, want EPERM", en)
	}

	// A nested delivery stays on the alternate stack, below the first frame.
	p.must(abi.SysTkill, uint64(th.TID), abi.SIGUSR1)
	p.k.deliverSignals(th)
	if second := th.Regs.RSP; second >= first-128 || second <= alt {
		t.Errorf("nested frame at %#x, want it below the first (%#x) and its red zone, on the alternate stack", second, first)
	}
	if len(th.frames) != 2 {
		t.Errorf("%d frames, want 2 nested", len(th.frames))
	}
}

// TestSignalMaskAndDisposition: a blocked signal waits until it is
// unblocked, SIGKILL and SIGSTOP can be neither caught nor blocked,
// SA_RESETHAND restores the default after one delivery, an ignored signal
// is dropped when sent.
func TestSignalMaskAndDisposition(t *testing.T) {
	p, _, _ := signalProc(t)
	th := p.k.Main()
	set := p.scratch + 256
	p.poke(set, le64(sigBit(abi.SIGUSR1)|sigBit(abi.SIGKILL)|sigBit(abi.SIGSTOP)))
	p.must(abi.SysRtSigprocmask, abi.SigBlock, set, 0, 8)
	if th.sigMask != sigBit(abi.SIGUSR1) {
		t.Errorf("mask after blocking USR1, KILL, STOP = %#x, want USR1 only", th.sigMask)
	}
	if en := p.errno(abi.SysRtSigaction, abi.SIGKILL, p.scratch, 0, 8); en != abi.EINVAL {
		t.Errorf("rt_sigaction(SIGKILL): %v, want EINVAL", en)
	}
	if en := p.errno(abi.SysRtSigprocmask, 7, set, 0, 8); en != abi.EINVAL {
		t.Errorf("rt_sigprocmask with an unknown how: %v, want EINVAL", en)
	}

	p.setAction(abi.SIGUSR1, sigaction{handler: testHandler, restorer: testRestorer, flags: abi.SaRestorer | abi.SaResethand})
	rip := th.Regs.RIP
	p.must(abi.SysTkill, uint64(th.TID), abi.SIGUSR1)
	p.k.deliverSignals(th)
	if th.Regs.RIP != rip || th.sigPending&sigBit(abi.SIGUSR1) == 0 {
		t.Fatalf("a blocked signal was delivered (RIP %#x) or dropped (pending %#x)", th.Regs.RIP, th.sigPending)
	}
	p.must(abi.SysRtSigprocmask, abi.SigUnblock, set, 0, 8)
	p.k.deliverSignals(th)
	if th.Regs.RIP != testHandler {
		t.Fatalf("unblocking did not deliver the pending signal (RIP %#x)", th.Regs.RIP)
	}
	if p.k.sigactions[abi.SIGUSR1] != (sigaction{}) {
		t.Errorf("SA_RESETHAND: disposition after delivery %+v, want the default", p.k.sigactions[abi.SIGUSR1])
	}

	p.setAction(abi.SIGUSR2, sigaction{handler: abi.SigIgn})
	p.must(abi.SysTkill, uint64(th.TID), abi.SIGUSR2)
	if th.sigPending&sigBit(abi.SIGUSR2) != 0 {
		t.Errorf("an ignored signal was left pending")
	}
}

// TestSignalFault: a synchronous fault carries its address, vector and
// error code into siginfo and mcontext; without a handler it kills the
// process with 128+signal; a frame that cannot be written kills it with
// SIGSEGV.
func TestSignalFault(t *testing.T) {
	p, _, _ := signalProc(t)
	th := p.k.Main()
	p.setAction(abi.SIGSEGV, sigaction{handler: testHandler, restorer: testRestorer, flags: abi.SaSiginfo | abi.SaRestorer})
	p.k.ForceSignal(th, abi.SIGSEGV, sigInfo{code: 1, addr: 0xdead0, trap: 14, err: 6})
	p.k.deliverSignals(th)
	uc := th.Regs.RDX
	mc := uc + abi.UcMcontext
	if got := p.u64(th.Regs.RSI + 16); got != 0xdead0 {
		t.Errorf("siginfo si_addr = %#x, want the fault address", got)
	}
	if cr2, trap, code := p.u64(mc+abi.McCR2), p.u64(mc+abi.McTrapno), p.u64(mc+abi.McErr); cr2 != 0xdead0 || trap != 14 || code != 6 {
		t.Errorf("mcontext cr2, trapno, err = %#x, %d, %d; want 0xdead0, 14, 6", cr2, trap, code)
	}

	// No handler: the fault is fatal.
	q, _, _ := signalProc(t)
	q.k.ForceSignal(q.k.Main(), abi.SIGBUS, sigInfo{addr: 8})
	if !q.k.Exited() || q.k.exitCode != 128+abi.SIGBUS || q.k.exitSig != abi.SIGBUS {
		t.Errorf("an unhandled SIGBUS: exited %t, code %d, signal %d; want 128+%d", q.k.Exited(), q.k.exitCode, q.k.exitSig, abi.SIGBUS)
	}

	// A stack the frame cannot be written to.
	r, _, _ := signalProc(t)
	rt := r.k.Main()
	r.setAction(abi.SIGUSR1, sigaction{handler: testHandler, restorer: testRestorer, flags: abi.SaRestorer})
	rt.Regs.RSP = 0x1000 // below every mapping
	r.must(abi.SysTkill, uint64(rt.TID), abi.SIGUSR1)
	r.k.deliverSignals(rt)
	if !r.k.Exited() || r.k.exitSig != abi.SIGSEGV {
		t.Errorf("no room for the frame: exited %t, signal %d; want killed by SIGSEGV", r.k.Exited(), r.k.exitSig)
	}
}
