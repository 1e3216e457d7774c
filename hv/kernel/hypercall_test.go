package kernel

import (
	"testing"

	"github.com/mvrun/multiverse/hv/abi"
	"github.com/mvrun/multiverse/sdk/hypercall"
)

// TestHypercallMatchesSDK keeps hv's copy of the channel constants equal to
// the SDK's, which guests compile in.
func TestHypercallMatchesSDK(t *testing.T) {
	tests := []struct {
		name    string
		hv, sdk int
	}{
		{"number", abi.SysHypercall, hypercall.Nr},
		{"emit op", abi.HypercallEmit, hypercall.OpEmit},
		{"max length", abi.HypercallMaxLen, hypercall.MaxLen},
	}
	for _, tc := range tests {
		if tc.hv != tc.sdk {
			t.Errorf("%s: hv %#x, sdk %#x", tc.name, tc.hv, tc.sdk)
		}
	}
}
