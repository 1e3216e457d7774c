// Package noop benchmarks both SDKs with no transport configured.
package noop

import (
	"os"
	"testing"

	"benchcmp"
)

func TestMain(m *testing.M) {
	if os.Getenv("MVRUN_SDK") != "" || os.Getenv("ANTITHESIS_SDK_LOCAL_OUTPUT") != "" {
		println("noop benchmarks need MVRUN_SDK and ANTITHESIS_SDK_LOCAL_OUTPUT unset")
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// BenchmarkNoTransport compares the SDKs outside a run.
func BenchmarkNoTransport(b *testing.B) { benchcmp.Run(b) }
