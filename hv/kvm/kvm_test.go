package kvm

import "testing"

// TestExitReasonString checks that exit reasons print by name (errors about
// an unexpected exit quote them) and that an unknown number still prints.
func TestExitReasonString(t *testing.T) {
	for r, want := range map[ExitReason]string{
		ExitMMIO:          "MMIO",
		ExitHlt:           "Hlt",
		ExitInternalError: "InternalError",
		ExitReason(7):     "ExitReason(7)",
	} {
		if got := r.String(); got != want {
			t.Errorf("ExitReason(%d).String() = %q, want %q", uint32(r), got, want)
		}
	}
}
