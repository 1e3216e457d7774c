package kvm

import (
	"unsafe"

	gokvm "github.com/bobuhiro11/gokvm/kvm"
	"golang.org/x/sys/unix"
)

// Offsets inside struct kvm_run (include/uapi/linux/kvm.h).
const (
	runImmediateExit = 1
	runExitReason    = 8
	runUnion         = 32
	runValidRegs     = 288
	runDirtyRegs     = 296
	runSyncRegs      = 304
	runSyncSregs     = runSyncRegs + 144
)

const ioctlRun = 0xAE80

func addrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }

// Run enters the guest (KVM_RUN) and returns when it exits. It returns
// [ErrIntr] if a signal or immediate_exit stopped it.
func (c *VCPU) Run() error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, c.fd, ioctlRun, 0)
	switch e {
	case 0:
		return nil
	case unix.EINTR, unix.EAGAIN:
		return ErrIntr
	}
	return e
}

// ExitReason returns the exit reason of the last Run.
func (c *VCPU) ExitReason() ExitReason {
	return ExitReason(*(*uint32)(unsafe.Pointer(&c.run[runExitReason])))
}

// SetImmediateExit sets kvm_run.immediate_exit: while set, Run returns
// [ErrIntr] without entering the guest. It is safe to call from another
// goroutine.
func (c *VCPU) SetImmediateExit(on bool) {
	var v uint8
	if on {
		v = 1
	}
	*(*uint8)(unsafe.Pointer(&c.run[runImmediateExit])) = v
}

// MMIO describes a KVM_EXIT_MMIO.
type MMIO struct {
	Addr    uint64
	Data    [8]byte
	Len     uint32
	IsWrite bool
}

// MMIO returns the MMIO exit data of the last Run.
func (c *VCPU) MMIO() MMIO {
	p := unsafe.Pointer(&c.run[runUnion])
	m := MMIO{Addr: *(*uint64)(p), Len: *(*uint32)(unsafe.Add(p, 16))}
	copy(m.Data[:], c.run[runUnion+8:runUnion+16])
	m.IsWrite = c.run[runUnion+20] != 0
	return m
}

// InternalError returns the suberror and data words of a
// KVM_EXIT_INTERNAL_ERROR, for diagnostics.
func (c *VCPU) InternalError() (suberror uint32, data []uint64) {
	p := unsafe.Pointer(&c.run[runUnion])
	n := *(*uint32)(unsafe.Add(p, 4))
	if n > 16 {
		n = 16
	}
	for i := uint32(0); i < n; i++ {
		data = append(data, *(*uint64)(unsafe.Add(p, 8+8*uintptr(i))))
	}
	return *(*uint32)(p), data
}

// EnableSync asks KVM to copy the register groups in mask (SyncRegs,
// SyncSregs) into the kvm_run page on every exit.
func (c *VCPU) EnableSync(mask uint64) {
	*(*uint64)(unsafe.Pointer(&c.run[runValidRegs])) = mask
}

// SyncedRegs returns the general registers KVM copied into kvm_run at the
// last exit. Changes take effect on the next Run after [VCPU.MarkDirty].
func (c *VCPU) SyncedRegs() *Regs {
	return (*gokvm.Regs)(unsafe.Pointer(&c.run[runSyncRegs]))
}

// SyncedSregs returns the special registers KVM copied into kvm_run at the
// last exit. Changes take effect on the next Run after [VCPU.MarkDirty].
func (c *VCPU) SyncedSregs() *Sregs {
	return (*gokvm.Sregs)(unsafe.Pointer(&c.run[runSyncSregs]))
}

// MarkDirty tells KVM to load the register groups in mask from kvm_run on the
// next Run.
func (c *VCPU) MarkDirty(mask uint64) {
	*(*uint64)(unsafe.Pointer(&c.run[runDirtyRegs])) |= mask
}
