// Package hv is mvrun's deterministic hypervisor: it runs an unmodified
// static linux/amd64 binary (Go, CGO_ENABLED=0 first) as a KVM guest at CPL3
// with no guest kernel. Every system call and exception exits to this
// process, where package kernel implements Linux in Go, so time, entropy,
// thread scheduling and files are functions of the seed and a run replays
// bit for bit (same trace hash).
//
// The packages below hv split the work: abi (Linux ABI constants), kvm (the
// ioctl layer), mm (guest memory, page tables, ELF loader), sched (virtual
// clock, timers, seeded choice, trace hash), vfs (in-memory file system),
// kernel (threads, signals and the system call table) and hvcli (the `mvrun
// hv` command). This package owns the VM: its layout, the probed trap
// strategy and the run loop.
package hv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mvrun/multiverse/hv/kernel"
	"github.com/mvrun/multiverse/hv/kvm"
	"github.com/mvrun/multiverse/hv/mm"
	"github.com/mvrun/multiverse/hv/sched"
	"github.com/mvrun/multiverse/hv/vfs"
)

// Config describes one guest process run.
type Config struct {
	Binary string   // host path of the static ELF executable
	Args   []string // argv; Args[0] defaults to Binary
	Env    []string // environment; MVRUN_SDK=hv is added unless present
	Seed   uint64   // root seed
	// FSDir, if set, is a host directory copied into the guest's root file
	// system before start. FS, if set, is used instead (shared by a node).
	FSDir  string
	FS     *vfs.FS
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Memory is the guest physical memory size; default DefaultMemory
	// (32 GiB; host memory is only used as the guest touches it).
	Memory uint64
	// CPUs is the number of CPUs the guest sees; default 1. Guest threads
	// run one at a time whatever this says, and with more than one CPU Go's
	// runtime waits actively for other Ms (runtime.GC loops on Gosched until
	// the sweeper is done), which only host-time preemption ends: such runs
	// are not replay-exact (docs/hv.md, Guest CPUs).
	CPUs int
	// NoVDSO runs the guest without the vDSO, so that every clock read is
	// a system call (a VM exit), as before hv had one; for comparisons.
	NoVDSO bool
	// Quantum is the host CPU time (of the vCPU thread, so time spent
	// waiting for a core on a loaded host does not count) a guest thread may
	// run without a system call before it is preempted (making the run not
	// replay-exact); default 100ms.
	Quantum time.Duration
	// SyncLatency is the disk's flush latency ([ClusterConfig.SyncLatency]).
	SyncLatency time.Duration
	// SyscallCost is the virtual time of one system call
	// ([ClusterConfig.SyscallCost]).
	SyscallCost time.Duration
	// ClockOffset skews the guest's wall clock (CLOCK_REALTIME).
	ClockOffset time.Duration
	// Clock, if set, is the VM's virtual clock, for callers that drive skew
	// and jumps (sched.Clock.SetOffset) from the run loop's goroutine, e.g.
	// through OnMessage. ClockOffset is applied to it at start.
	Clock *sched.Clock
	// OnMessage receives SDK messages (hypercalls) in order.
	OnMessage func(kernel.Message)
	Logger    *slog.Logger
}

// Result is the outcome of a run.
type Result struct {
	kernel.Summary
	Strategy string        // trap strategy used
	Wall     time.Duration // host time from VM creation to exit
}

// ErrNoKVM wraps errors that mean KVM cannot be used on this host.
var ErrNoKVM = errors.New("KVM unavailable")

var (
	probeOnce  sync.Once
	probeStrat trapStrategy
	probeWhy   string
	probeErr   error
)

// strategy returns the probed trap strategy, probing once per process.
func strategy(sys *kvm.System) (trapStrategy, string, error) {
	probeOnce.Do(func() { probeStrat, probeWhy, probeErr = probe(sys) })
	return probeStrat, probeWhy, probeErr
}

// probe runs a two-instruction guest (SYSCALL at CPL3) and looks at the
// privilege level the trap arrives at.
func probe(sys *kvm.System) (_ trapStrategy, _ string, err error) {
	m, err := newMachine(sys, 64<<20, cpl3Trap{})
	if err != nil {
		return nil, "", err
	}
	defer func() { err = errors.Join(err, m.close()) }()
	const code = 0x400000
	if _, err := m.space.Map(code, mm.PageSize, mm.ProtRead|mm.ProtExec, true, false, "probe"); err != nil {
		return nil, "", err
	}
	if err := m.space.Poke([]byte{0x0f, 0x05, 0xeb, 0xfe}, code); err != nil { // syscall; jmp .
		return nil, "", err
	}
	r := m.cpu.SyncedRegs()
	*r = kvm.Regs{RIP: code, RFLAGS: 0x202, RAX: 39}
	m.cpu.MarkDirty(kvm.SyncRegs)
	if err := m.cpu.Run(); err != nil {
		return nil, "", fmt.Errorf("probe: KVM_RUN: %w", err)
	}
	if reason := m.cpu.ExitReason(); reason != kvm.ExitMMIO || m.cpu.MMIO().Addr&^(mm.PageSize-1) != mmioGPA {
		return nil, "", fmt.Errorf("probe: SYSCALL did not reach the trap page (exit %v at rip %#x); this KVM is not supported", reason, m.cpu.SyncedRegs().RIP)
	}
	if rcx := m.cpu.SyncedRegs().RCX; rcx != code+2 {
		return nil, "", fmt.Errorf("probe: SYSCALL saved return address %#x, want %#x", rcx, code+2)
	}
	cpl := m.cpu.SyncedSregs().CS.Selector & 3
	if cpl == 3 {
		return cpl3Trap{}, "SYSCALL from guest user mode stays at CPL3 (PVM-style KVM): the stub traps with an MMIO store and the VMM resumes the thread at its return address", nil
	}
	return cpl0Trap{}, fmt.Sprintf("SYSCALL enters CPL%d (hardware virtualization): the stub traps with an MMIO store and returns with SYSRETQ", cpl), nil
}

// Run runs one guest process to completion and returns its summary. An
// error means the VM could not be set up or its host resources could not
// be released; guest failures (crashes, deadlocks, unimplemented system
// calls) are in the Result. It is a cluster of one node running one process.
func Run(ctx context.Context, cfg Config) (_ *Result, err error) {
	start := time.Now()
	if err := CheckBinary(cfg.Binary); err != nil {
		return nil, err
	}
	c, err := NewCluster(ClusterConfig{Seed: cfg.Seed, Memory: cfg.Memory, Quantum: cfg.Quantum, SyncLatency: cfg.SyncLatency, SyscallCost: cfg.SyscallCost, Logger: cfg.Logger, Clock: cfg.Clock})
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := c.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("hv: closing the VM: %w", cerr))
		}
	}()
	fs := cfg.FS
	if fs == nil {
		fs = vfs.New(c.clock)
		if cfg.FSDir != "" {
			if err := fs.SeedFrom(cfg.FSDir); err != nil {
				return nil, fmt.Errorf("hv: seed file system from %s: %w", cfg.FSDir, err)
			}
		}
	}
	// One node, called as uname reported before there were clusters, with
	// an address from TEST-NET-1 (RFC 5737).
	n, err := c.AddNode(NodeConfig{Name: "hv", FS: fs, ClockOffset: cfg.ClockOffset, Addr: netip.MustParseAddr("192.0.2.1")})
	if err != nil {
		return nil, err
	}
	if cfg.Clock != nil {
		// The caller drives this process's skew through its own clock
		// (sched.Clock.SetOffset), so the node uses it rather than a fork.
		n.clock = cfg.Clock
		cfg.Clock.SetOffset(cfg.ClockOffset)
	}
	p, err := n.startSeeded(ProcessConfig{
		Binary: cfg.Binary, Args: cfg.Args, Env: cfg.Env, Stdin: cfg.Stdin,
		Stdout: cfg.Stdout, Stderr: cfg.Stderr, CPUs: cfg.CPUs, NoVDSO: cfg.NoVDSO, OnMessage: cfg.OnMessage,
	}, cfg.Seed)
	if err != nil {
		return nil, err
	}
	idle, err := c.RunUntil(ctx, time.Duration(1<<63-1), p.Exited)
	switch {
	case err != nil:
		p.k.Fail(fmt.Errorf("run stopped: %w", err))
	case !p.Exited() && idle:
		p.k.Fail(kernel.ErrDeadlock)
	}
	c.reap()
	return &Result{Summary: p.Summary(), Strategy: c.Strategy(), Wall: time.Since(start)}, nil
}

// CheckBinary reports whether the file at path is an executable hv can run
// (a static, non-PIE linux/amd64 ELF), without needing KVM. Its errors name
// the file and say how to rebuild it.
func CheckBinary(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }() // opened read-only: closing loses nothing
	return mm.CheckELF(f, path)
}

func hasEnv(env []string, key string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, key+"=") {
			return true
		}
	}
	return false
}
