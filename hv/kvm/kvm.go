// Package kvm is hv's thin layer over the Linux KVM ioctl interface.
//
// It uses github.com/bobuhiro11/gokvm's kvm package for the ioctls that
// package wraps well (VM and vCPU creation, memory slots, general and special
// registers, CPUID, XCRs, MSRs). gokvm lacks what hv's hot path needs, so this
// package adds its own wrappers for them:
//
//   - KVM_RUN that reports EINTR instead of hiding it (hv uses signals to
//     preempt a guest thread that runs too long without a system call);
//   - the kvm_run shared page: exit reason, MMIO data, immediate_exit and the
//     KVM_CAP_SYNC_REGS area, which lets the VMM read and write registers on
//     every exit without extra ioctls (~27 µs per exit instead of ~39 µs);
//   - KVM_GET_XSAVE/KVM_SET_XSAVE, to keep each green thread's AVX state.
//
// gokvm passes file descriptors as raw uintptr and drops errors in places;
// this package hides descriptors inside [System], [VM] and [VCPU], and its
// API names its own types ([Capability], [ExitReason], [CPUID]) so no other
// hv package imports gokvm. Every ioctl error is returned, except where a
// method's comment says why one cannot matter. All unsafe code is in
// *_unsafe.go.
package kvm

//go:generate go run golang.org/x/tools/cmd/stringer -type=ExitReason -trimprefix=Exit

import (
	"errors"
	"fmt"
	"os"

	gokvm "github.com/bobuhiro11/gokvm/kvm"
	"golang.org/x/sys/unix"
)

// Regs are a vCPU's general purpose registers (struct kvm_regs). They are
// aliases of gokvm's declarations of the kernel's structs rather than
// copies, because the kvm_run page's synced registers are read in place
// with that layout; callers use them as plain structs and need not import
// gokvm.
type Regs = gokvm.Regs

// Sregs are a vCPU's special registers (struct kvm_sregs); see [Regs].
type Sregs = gokvm.Sregs

// Segment is one segment register (struct kvm_segment); see [Regs].
type Segment = gokvm.Segment

// ExitReason is why KVM_RUN returned (kvm_run.exit_reason, KVM_EXIT_*).
// Its String method names it (ExitMMIO prints "MMIO"), so errors about an
// unexpected exit are readable; unknown values print as ExitReason(n).
type ExitReason uint32

// Exit reasons hv handles or reports (KVM_EXIT_*).
const (
	ExitUnknown       ExitReason = 0
	ExitException     ExitReason = 1
	ExitIO            ExitReason = 2
	ExitHypercall     ExitReason = 3
	ExitDebug         ExitReason = 4
	ExitHlt           ExitReason = 5
	ExitMMIO          ExitReason = 6
	ExitShutdown      ExitReason = 8
	ExitFailEntry     ExitReason = 9
	ExitIntr          ExitReason = 10
	ExitInternalError ExitReason = 17
)

// Capability is a KVM capability number for [System.CheckExtension]
// (KVM_CAP_*).
type Capability uint

// Capabilities hv checks.
const (
	CapSyncRegs = Capability(gokvm.CapSyncRegs)
	CapXSave    = Capability(gokvm.CapXSave)
)

// Sync register groups (KVM_SYNC_X86_*).
const (
	SyncRegs   = 1 << 0
	SyncSregs  = 1 << 1
	SyncEvents = 1 << 2
)

// ErrIntr is returned by [VCPU.Run] when KVM_RUN was interrupted by a
// signal or by immediate_exit before or while the guest ran.
var ErrIntr = errors.New("kvm: run interrupted")

// System is an open /dev/kvm.
type System struct {
	f        *os.File
	runSize  int
	syncRegs bool
}

// Open opens /dev/kvm and checks the API version and the capabilities hv
// needs.
func Open() (*System, error) {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/kvm: %w (hv needs KVM: load kvm, or run as a user with access to /dev/kvm)", err)
	}
	s := &System{f: f}
	v, err := gokvm.GetAPIVersion(f.Fd())
	if err != nil || v != 12 {
		return nil, errors.Join(fmt.Errorf("KVM API version %d (%v), want 12", v, err), f.Close())
	}
	n, err := gokvm.GetVCPUMMmapSize(f.Fd())
	if err != nil {
		return nil, errors.Join(fmt.Errorf("KVM_GET_VCPU_MMAP_SIZE: %w", err), f.Close())
	}
	s.runSize = int(n)
	r, err := s.CheckExtension(CapSyncRegs)
	if err != nil {
		return nil, errors.Join(err, f.Close())
	}
	s.syncRegs = r&(SyncRegs|SyncSregs) == SyncRegs|SyncSregs
	return s, nil
}

// Close closes /dev/kvm.
func (s *System) Close() error { return s.f.Close() }

// HasSyncRegs reports whether KVM_CAP_SYNC_REGS covers regs and sregs.
func (s *System) HasSyncRegs() bool { return s.syncRegs }

// CheckExtension returns KVM_CHECK_EXTENSION for capability c: 0 when
// the capability is absent, else a capability-specific positive value.
func (s *System) CheckExtension(c Capability) (int, error) {
	r, err := gokvm.CheckExtension(s.f.Fd(), gokvm.Capability(c))
	if err != nil {
		return 0, fmt.Errorf("KVM_CHECK_EXTENSION %d: %w", c, err)
	}
	return int(r), nil
}

// CPUID is a set of CPUID leaves as KVM reports and accepts them
// (struct kvm_cpuid2). hv passes KVM's supported set to every vCPU
// unchanged, so its contents stay opaque outside this package.
type CPUID struct{ c *gokvm.CPUID }

// SupportedCPUID returns KVM_GET_SUPPORTED_CPUID.
func (s *System) SupportedCPUID() (CPUID, error) {
	c := &gokvm.CPUID{Nent: 128, Entries: make([]gokvm.CPUIDEntry2, 128)}
	if err := gokvm.GetSupportedCPUID(s.f.Fd(), c); err != nil {
		return CPUID{}, fmt.Errorf("KVM_GET_SUPPORTED_CPUID: %w", err)
	}
	return CPUID{c}, nil
}

// SupportedXCR0 returns the XCR0 bits KVM supports (CPUID leaf 0xD).
func (s *System) SupportedXCR0() (uint64, error) {
	cpuid, err := s.SupportedCPUID()
	if err != nil {
		return 0, err
	}
	c := cpuid.c
	for _, e := range c.Entries[:c.Nent] {
		if e.Function == 0xd && e.Index == 0 {
			return uint64(e.Eax) | uint64(e.Edx)<<32, nil
		}
	}
	return 0, errors.New("KVM reports no CPUID leaf 0xD: XSAVE unsupported")
}

// VM is one KVM virtual machine.
type VM struct {
	sys *System
	f   *os.File
}

// CreateVM creates a VM.
func (s *System) CreateVM() (*VM, error) {
	var fd uintptr
	err := retry(func() (e error) { fd, e = gokvm.CreateVM(s.f.Fd()); return e })
	if err != nil {
		return nil, fmt.Errorf("KVM_CREATE_VM: %w", err)
	}
	unix.CloseOnExec(int(fd))
	return &VM{sys: s, f: os.NewFile(fd, "kvm-vm")}, nil
}

// Close destroys the VM.
func (v *VM) Close() error { return v.f.Close() }

// SetMemory maps host memory mem at guest physical address gpa in slot.
func (v *VM) SetMemory(slot uint32, gpa uint64, mem []byte) error {
	r := &gokvm.UserspaceMemoryRegion{
		Slot:          slot,
		GuestPhysAddr: gpa,
		MemorySize:    uint64(len(mem)),
		UserspaceAddr: uint64(addrOf(mem)),
	}
	if err := retry(func() error { return gokvm.SetUserMemoryRegion(v.f.Fd(), r) }); err != nil {
		return fmt.Errorf("KVM_SET_USER_MEMORY_REGION: %w", err)
	}
	return nil
}

// VCPU is one virtual CPU and its mapped kvm_run page.
type VCPU struct {
	f   *os.File
	fd  uintptr
	run []byte
}

// CreateVCPU creates vCPU id and maps its kvm_run page.
func (v *VM) CreateVCPU(id int) (*VCPU, error) {
	var fd uintptr
	err := retry(func() (e error) { fd, e = gokvm.CreateVCPU(v.f.Fd(), id); return e })
	if err != nil {
		return nil, fmt.Errorf("KVM_CREATE_VCPU: %w", err)
	}
	unix.CloseOnExec(int(fd))
	run, err := unix.Mmap(int(fd), 0, v.sys.runSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		_ = unix.Close(int(fd)) // the mmap error is the one to report
		return nil, fmt.Errorf("mmap kvm_run: %w", err)
	}
	return &VCPU{f: os.NewFile(fd, "kvm-vcpu"), fd: fd, run: run}, nil
}

// Close unmaps the kvm_run page and closes the vCPU.
func (c *VCPU) Close() error {
	err := unix.Munmap(c.run)
	if err2 := c.f.Close(); err == nil {
		err = err2
	}
	return err
}

// Regs returns the general purpose registers (KVM_GET_REGS).
func (c *VCPU) Regs() (r *Regs, err error) {
	err = retry(func() (e error) { r, e = gokvm.GetRegs(c.fd); return e })
	return r, err
}

// SetRegs sets the general purpose registers (KVM_SET_REGS).
func (c *VCPU) SetRegs(r *Regs) error { return retry(func() error { return gokvm.SetRegs(c.fd, r) }) }

// Sregs returns the special registers (KVM_GET_SREGS).
func (c *VCPU) Sregs() (r *Sregs, err error) {
	err = retry(func() (e error) { r, e = gokvm.GetSregs(c.fd); return e })
	return r, err
}

// SetSregs sets the special registers (KVM_SET_SREGS).
func (c *VCPU) SetSregs(r *Sregs) error {
	return retry(func() error { return gokvm.SetSregs(c.fd, r) })
}

// SetCPUID sets the vCPU's CPUID entries (KVM_SET_CPUID2).
func (c *VCPU) SetCPUID(id CPUID) error {
	if id.c == nil {
		return errors.New("KVM_SET_CPUID2: empty CPUID (use System.SupportedCPUID)")
	}
	return retry(func() error { return gokvm.SetCPUID2(c.fd, id.c) })
}

// SetXCR0 sets extended control register 0 (KVM_SET_XCRS).
func (c *VCPU) SetXCR0(v uint64) error {
	x := &gokvm.XCRS{NrXRCS: 1}
	x.Registers[0].XRC = 0
	x.Registers[0].Value = v
	return retry(func() error { return gokvm.SetXCRS(c.fd, x) })
}

// MSR is one model specific register value.
type MSR struct {
	Index uint32
	Value uint64
}

// SetMSRs writes model specific registers (KVM_SET_MSRS).
func (c *VCPU) SetMSRs(ms ...MSR) error {
	m := &gokvm.MSRS{NMSRs: uint32(len(ms))}
	for _, x := range ms {
		m.Entries = append(m.Entries, gokvm.MSREntry{Index: x.Index, Data: x.Value})
	}
	return retry(func() error { return gokvm.SetMSRs(c.fd, m) })
}

// retry runs an ioctl again while it fails with EINTR: the Go runtime's
// preemption signal (SIGURG) and hv's own watchdog interrupt system calls
// of this process at any time, and these ioctls have no partial effect to
// undo. (KVM_RUN reports EINTR to its caller instead: there it means the
// watchdog stopped the guest.)
func retry(f func() error) error {
	for {
		err := f()
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
