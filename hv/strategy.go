package hv

import (
	"encoding/binary"

	"github.com/mvrun/multiverse/hv/kernel"
)

// trapStrategy is how a guest SYSCALL reaches the VMM and how the guest
// resumes. Which one works depends on the host's KVM, so it is probed at
// start (see [probe]).
type trapStrategy interface {
	// Name identifies the strategy in reports.
	Name() string
	// stub returns the code placed at LSTAR.
	stub() []byte
	// enter turns the registers at the trap into the thread's user state
	// at the system call's return address.
	enter(r *kernel.Regs)
	// userSegmentsAfterTrap reports whether the trap left the vCPU at CPL0,
	// so the VMM must load user segments before resuming at user code.
	userSegmentsAfterTrap() bool
}

// mmioStore is `mov [rip+disp32], eax` aimed at mmioVA from stubVA.
func mmioStore() []byte {
	b := []byte{0x89, 0x05, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(b[2:], uint32(mmioVA-(stubVA+6)))
	return b
}

// cpl3Trap is the strategy for PVM-style KVM, where SYSCALL from guest user
// mode stays at CPL3 (docs/hv.md, Trap path): the stub's store to an unmapped guest
// physical address exits to the VMM (KVM_EXIT_MMIO), the VMM answers through
// the synced registers and resumes the thread directly at its return address
// (RCX), so the stub's trailing `jmp rcx` only runs if the VMM does not.
type cpl3Trap struct{}

func (cpl3Trap) Name() string                { return "cpl3-mmio" }
func (cpl3Trap) stub() []byte                { return append(mmioStore(), 0xff, 0xe1) }
func (cpl3Trap) userSegmentsAfterTrap() bool { return false }
func (cpl3Trap) enter(r *kernel.Regs) {
	r.RIP = r.RCX
	r.RFLAGS = r.R11 | 0x2
}

// cpl0Trap is the strategy for hardware VT-x/SVM hosts, where SYSCALL enters
// CPL0: the same store traps, and the VMM resumes at the return address
// with user segments loaded (the stub's SYSRETQ is the fallback path).
// It is selected when the probe sees CPL0 at the trap; it has not been
// exercised on the PVM hosts hv was developed on.
type cpl0Trap struct{}

func (cpl0Trap) Name() string                { return "cpl0-sysret" }
func (cpl0Trap) stub() []byte                { return append(mmioStore(), 0x48, 0x0f, 0x07) }
func (cpl0Trap) userSegmentsAfterTrap() bool { return true }
func (cpl0Trap) enter(r *kernel.Regs) {
	r.RIP = r.RCX
	r.RFLAGS = r.R11 | 0x2
}
