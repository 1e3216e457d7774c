package hv

import (
	"fmt"
	"strings"

	"github.com/mvrun/multiverse/hv/kvm"
)

// Report is hv's view of this host, for `mvrun doctor`.
type Report struct {
	OK       bool     // hv can run guests here
	KVM      string   // "available" or why not
	Strategy string   // trap strategy picked, empty if none
	Why      string   // why that strategy
	Notes    []string // limits worth knowing
}

// String renders the report as doctor lines.
func (r Report) String() string {
	var b strings.Builder
	status := "ok"
	if !r.OK {
		status = "missing: hv cannot run guests on this host"
	}
	// The column matches the other checks of `mvrun doctor`.
	fmt.Fprintf(&b, "%-20s %s\n  kvm: %s\n", "hv:", status, r.KVM)
	if r.Strategy != "" {
		fmt.Fprintf(&b, "  trap strategy: %s (%s)\n", r.Strategy, r.Why)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	return b.String()
}

// Doctor checks KVM and probes the trap strategy.
func Doctor() Report {
	var r Report
	sys, err := kvm.Open()
	if err != nil {
		r.KVM = err.Error()
		return r
	}
	defer func() { _ = sys.Close() }() // the report is made; a close error changes none of it
	r.KVM = "available"
	if !sys.HasSyncRegs() {
		r.KVM = "available, but without KVM_CAP_SYNC_REGS for regs and sregs"
		return r
	}
	if n, err := sys.CheckExtension(kvm.CapXSave); err != nil || n == 0 {
		r.KVM = "available, but without KVM_CAP_XSAVE"
		if err != nil {
			r.KVM += ": " + err.Error()
		}
		return r
	}
	s, why, err := strategy(sys)
	if err != nil {
		r.Why = err.Error()
		r.Notes = append(r.Notes, "trap probe failed: "+err.Error())
		return r
	}
	r.OK, r.Strategy, r.Why = true, s.Name(), why
	r.Notes = append(r.Notes,
		"RDTSC, RDRAND and CPUID run natively and are not virtualised: Go programs stay deterministic, other binaries may not",
		"no PMU instruction counting: a thread that runs past the quantum without a system call is preempted on host time (run marked not replay-exact)")
	return r
}
