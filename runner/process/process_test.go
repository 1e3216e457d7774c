package process

import (
	"context"
	"os"
	"testing"

	"github.com/mvrun/multiverse/runner/backendtest"
)

func TestMain(m *testing.M) {
	MaybeRunShim()
	if os.Getenv("MVRUN_REAL_NET") == "" {
		newClusterNet = newFakeNet
	}
	os.Exit(m.Run())
}

func TestConformance(t *testing.T) {
	b := New(Options{})
	backendtest.Run(t, b, backendtest.Options{
		Clean: func(ctx context.Context) error { return leftovers(b.RunID()) },
	})
}
