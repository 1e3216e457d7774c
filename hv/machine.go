package hv

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/mvrun/multiverse/hv/kernel"
	"github.com/mvrun/multiverse/hv/kvm"
	"github.com/mvrun/multiverse/hv/mm"
	"golang.org/x/sys/unix"
)

// machine is one VM with one vCPU running one guest process. Processes
// are VMs of their own (there is no guest kernel to share), all driven by
// one run loop.
type machine struct {
	vm     *kvm.VM
	cpu    *kvm.VCPU
	phys   *mm.Physical
	space  *mm.Space
	kstack uint64 // guest physical address of the exception stack page
	strat  trapStrategy
	k      *kernel.Kernel

	loaded   *kernel.Thread
	userSegs bool // the vCPU is at CPL0 and needs user segments to resume
}

// newMachine creates the VM: guest memory, the address space with the
// VMM's pages, and a vCPU in 64-bit user mode.
func newMachine(sys *kvm.System, memory uint64, strat trapStrategy) (_ *machine, err error) {
	m := &machine{strat: strat}
	defer func() {
		if err != nil {
			err = errors.Join(err, m.close()) // what was made before the failure
		}
	}()
	if m.phys, err = mm.NewPhysical(memory); err != nil {
		return nil, err
	}
	if m.vm, err = sys.CreateVM(); err != nil {
		return nil, err
	}
	// Guest memory becomes KVM memory slots piece by piece as frames are
	// handed out (mm.Physical.OnGrow says why), one slot per piece.
	slot := uint32(0)
	m.phys.OnGrow(func(lo, hi uint64) error {
		if err := m.vm.SetMemory(slot, lo, m.phys.Host()[lo:hi]); err != nil {
			return err
		}
		slot++
		return nil
	})
	if m.space, err = mm.NewSpace(m.phys); err != nil {
		return nil, err
	}
	pt := m.space.PageTable()
	if m.kstack, err = kernelPages(m.phys, pt); err != nil {
		return nil, err
	}
	if err = stubPages(m.phys, pt, strat.stub()); err != nil {
		return nil, err
	}
	if err = m.newVCPU(sys); err != nil {
		return nil, err
	}
	return m, nil
}

// newVCPU creates the vCPU in 64-bit user mode on the address space's
// page table.
func (m *machine) newVCPU(sys *kvm.System) (err error) {
	if m.cpu, err = m.vm.CreateVCPU(0); err != nil {
		return err
	}
	if err = setupVCPU(sys, m.cpu, m.space.PageTable().Root()); err != nil {
		return err
	}
	// Seed the kvm_run copies of the registers so they can be written back
	// (marked dirty) before the first exit has filled them.
	s, err := m.cpu.Sregs()
	if err != nil {
		return err
	}
	*m.cpu.SyncedSregs() = *s
	m.cpu.EnableSync(kvm.SyncRegs | kvm.SyncSregs)
	return nil
}

// close releases the vCPU, the VM and guest memory. A failure leaks host
// resources (descriptors, a guest-sized mapping), so it is returned.
func (m *machine) close() error {
	var errs []error
	if m.cpu != nil {
		errs = append(errs, m.cpu.Close())
	}
	if m.vm != nil {
		errs = append(errs, m.vm.Close())
	}
	if m.phys != nil {
		errs = append(errs, m.phys.Close())
	}
	return errors.Join(errs...)
}

// GetFP implements [kernel.CPU].
func (m *machine) GetFP(fp *kernel.FPState) error { return m.cpu.GetXSave((*kvm.XSave)(fp)) }

// SetFP implements [kernel.CPU].
func (m *machine) SetFP(fp *kernel.FPState) error { return m.cpu.SetXSave((*kvm.XSave)(fp)) }

// switchTo saves the loaded thread's extended state and loads t's.
func (m *machine) switchTo(t *kernel.Thread) error {
	if m.loaded != nil && m.loaded != t && m.k.Alive(m.loaded) {
		if err := m.GetFP(m.loaded.FP); err != nil {
			return err
		}
	}
	if err := m.SetFP(t.FP); err != nil {
		return err
	}
	m.loaded = t
	return nil
}

// store writes t's registers into kvm_run for the next entry.
func (m *machine) store(t *kernel.Thread) {
	*m.cpu.SyncedRegs() = kvm.Regs(t.Regs)
	m.cpu.MarkDirty(kvm.SyncRegs)
	s := m.cpu.SyncedSregs()
	dirty := false
	if s.FS.Base != t.FSBase {
		s.FS.Base = t.FSBase
		dirty = true
	}
	if m.userSegs {
		s.CS = userSeg(selUserCS, true)
		s.SS = userSeg(selUserDS, false)
		m.userSegs = false
		dirty = true
	}
	if dirty {
		m.cpu.MarkDirty(kvm.SyncSregs)
	}
}

// step loads t on the vCPU, delivers its pending signals, runs it until
// its next exit and handles that exit. lp holds the run loop's preemption
// state.
func (m *machine) step(t *kernel.Thread, lp *loop) {
	if t != m.loaded {
		lp.stats.FPSwitches++
		if err := m.switchTo(t); err != nil {
			m.k.Fail(err)
			return
		}
	}
	m.k.Prepare(t)
	if m.k.Exited() || m.k.Current() != t {
		return
	}
	m.k.SyncTimePage()
	m.store(t)
	lp.kicked.Store(false)
	start := time.Now()
	lp.runStart.Store(start.UnixNano())
	err := m.cpu.Run()
	lp.runStart.Store(0)
	lp.stats.Entries++
	lp.stats.GuestWall += time.Since(start)
	t.Regs = kernel.Regs(*m.cpu.SyncedRegs())
	if err == kvm.ErrIntr {
		lp.stats.Interrupts++
		if lp.kicked.Load() {
			m.k.World().Preempt(int64(time.Since(start)))
		}
		return
	}
	if err != nil {
		m.k.Fail(fmt.Errorf("KVM_RUN: %w", err))
		return
	}
	m.exit(t, lp)
}

// exit handles one VM exit of thread t.
func (m *machine) exit(t *kernel.Thread, lp *loop) {
	switch r := m.cpu.ExitReason(); r {
	case kvm.ExitMMIO:
		lp.stats.Syscalls++
		mmio := m.cpu.MMIO()
		if mmio.Addr&^(mm.PageSize-1) != mmioGPA {
			m.k.Fail(fmt.Errorf("guest touched unbacked guest physical address %#x at rip %#x", mmio.Addr, t.Regs.RIP))
			return
		}
		if m.strat.userSegmentsAfterTrap() {
			m.userSegs = true
		}
		m.strat.enter(&t.Regs)
		m.k.Syscall(t)
	case kvm.ExitHlt:
		lp.stats.Exceptions++
		m.exception(t)
	case kvm.ExitShutdown:
		m.k.Fail(fmt.Errorf("guest triple fault at rip %#x", t.Regs.RIP))
	case kvm.ExitInternalError:
		sub, data := m.cpu.InternalError()
		m.k.Fail(fmt.Errorf("KVM internal error %d %x at rip %#x", sub, data, t.Regs.RIP))
	case kvm.ExitFailEntry:
		m.k.Fail(fmt.Errorf("KVM entry failed at rip %#x", t.Regs.RIP))
	default:
		m.k.Fail(fmt.Errorf("unexpected KVM exit %v (%d) at rip %#x", r, uint32(r), t.Regs.RIP))
	}
}

// exception reads the frame an exception stub left on the exception stack
// and turns it into a signal for t.
func (m *machine) exception(t *kernel.Thread) {
	rsp := t.Regs.RSP
	if rsp < kstackVA || rsp+56 > kstackVA+mm.PageSize {
		m.k.Fail(fmt.Errorf("guest halted outside an exception (rip %#x)", t.Regs.RIP))
		return
	}
	f := m.phys.Frame(m.kstack)[rsp-kstackVA:]
	w := func(i int) uint64 { return binary.LittleEndian.Uint64(f[8*i:]) }
	vec, code, rip, cs, rflags, usp := w(0), w(1), w(2), w(3), w(4), w(5)
	if cs&3 != 3 {
		m.k.Fail(fmt.Errorf("exception %d in VMM-owned code at rip %#x", vec, rip))
		return
	}
	t.Regs.RIP, t.Regs.RSP, t.Regs.RFLAGS = rip, usp, rflags
	m.userSegs = true
	m.k.Fault(t, int(vec), code, m.cpu.SyncedSregs().CR2)
}

// Stats counts what a cluster's run loop did, to show where wall time goes.
type Stats struct {
	Entries    uint64        // KVM_RUN calls (each ends in one VM exit)
	Syscalls   uint64        // exits that were system calls
	Exceptions uint64        // exits that were CPU exceptions (page faults, traps)
	Interrupts uint64        // KVM_RUN interrupted by the watchdog (preemption, ctx end)
	FPSwitches uint64        // thread switches on a vCPU: its FPU/XSAVE state swapped (two ioctls)
	GuestWall  time.Duration // host time spent inside KVM_RUN, exits included
	Wall       time.Duration // host time spent in Run
}

// loop is the state the run loop shares with its watchdog.
type loop struct {
	stats    Stats
	quantum  time.Duration
	runStart atomic.Int64 // host UnixNano when KVM_RUN was entered; 0 outside
	kicked   atomic.Bool
}

// watchdog kicks the vCPU out of KVM_RUN when a guest thread runs past the
// quantum without exiting, or when ctx ends. tid is the OS thread running
// the loop. It returns a stop function.
func (lp *loop) watchdog(ctx context.Context, tid int) func() {
	done := make(chan struct{})
	pid := unix.Getpid()
	timer := newRunTimer(tid)
	go func() {
		tick := time.NewTicker(lp.quantum / 4)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			s := lp.runStart.Load()
			if s == 0 {
				continue
			}
			if timer.ran(s) > lp.quantum || ctx.Err() != nil {
				lp.kicked.Store(true)
				// SIGURG is harmless to the Go runtime; it only makes
				// KVM_RUN return EINTR.
				_ = unix.Tgkill(pid, tid, unix.SIGURG)
			}
		}
	}()
	return func() { close(done) }
}
