package faulttest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/faults"
)

func TestFake(t *testing.T) {
	for _, nodes := range [][]string{
		{"a", "b"},
		{"a", "b", "c"},
		{"n1", "n2", "n3", "n4", "n5"},
	} {
		t.Run(strings.Join(nodes, ","), func(t *testing.T) {
			Run(t, func(t *testing.T) (faults.Injector, Observer) {
				f := NewFake(nodes)
				return f, f
			})
		})
	}
}

func TestFakeUnsupported(t *testing.T) {
	Run(t, func(t *testing.T) (faults.Injector, Observer) {
		f := NewFake([]string{"a", "b", "c", "d"}, faults.ActClockJump, faults.ActPause, faults.ActResume)
		return f, f
	})
}

// broken wraps a Fake and misbehaves in one way, to show the suite notices.
type broken struct {
	*Fake
	mode string
}

func (b broken) Apply(ctx context.Context, a faults.Action) error {
	switch {
	case b.mode == "kill-noop" && a.Kind == faults.ActKill:
		return nil
	case b.mode == "unknown-nil" && a.Kind == "no-such-kind":
		return nil
	case b.mode == "heal-noop" && a.Kind == faults.ActHeal:
		return nil
	case b.mode == "oneway-as-symmetric" && a.Kind == faults.ActPartition && a.Partition.OneWay:
		p := *a.Partition
		p.OneWay = false
		a.Partition = &p
	case b.mode == "restart-fails" && a.Kind == faults.ActRestart:
		return os.ErrPermission
	}
	return b.Fake.Apply(ctx, a)
}

// TestBrokenHelper runs the suite against a broken injector when
// TestSuiteCatchesBrokenInjectors asks it to; it is meant to fail.
func TestBrokenHelper(t *testing.T) {
	mode := os.Getenv("FAULTTEST_BROKEN")
	if mode == "" {
		t.Skip("only run by TestSuiteCatchesBrokenInjectors")
	}
	// Fail at the first wrong observation instead of waiting for it.
	Options{Patience: time.Nanosecond}.Run(t, func(t *testing.T) (faults.Injector, Observer) {
		f := NewFake([]string{"a", "b", "c", "d"})
		return broken{f, mode}, f
	})
}

func TestSuiteCatchesBrokenInjectors(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the test binary again")
	}
	for _, mode := range []string{"kill-noop", "unknown-nil", "heal-noop", "oneway-as-symmetric", "restart-fails"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestBrokenHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), "FAULTTEST_BROKEN="+mode)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed an injector with %s:\n%s", mode, out)
			}
			if !strings.Contains(string(out), "--- FAIL") {
				t.Fatalf("the suite did not report a failing test for %s (err %v):\n%s", mode, err, out)
			}
		})
	}
}
