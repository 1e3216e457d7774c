package backendtest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/runner/backend"
)

// brokenCluster is a cluster whose every command fails to run.
type brokenCluster struct{ backend.WallClock }

func (brokenCluster) Start(context.Context, string) error { return nil }
func (brokenCluster) Exec(context.Context, backend.ExecRequest) (backend.ExecResult, error) {
	return backend.ExecResult{}, errors.New("cannot run anything")
}
func (brokenCluster) Apply(context.Context, faults.Action) error { return nil }
func (brokenCluster) Close(context.Context) error                { return nil }

// TestBrokenExecHelper runs two checks on a cluster whose commands fail
// when TestExecFailureStaysInItsCheck asks it to; the first is meant to
// fail.
func TestBrokenExecHelper(t *testing.T) {
	if os.Getenv("BACKENDTEST_BROKEN_EXEC") == "" {
		t.Skip("only run by TestExecFailureStaysInItsCheck")
	}
	h := &Harness{Ctx: context.Background(), Cluster: brokenCluster{backend.NewWallClock()},
		Events: &Recorder{}, Services: []string{"a", "b"}}
	t.Run("Resolve", func(t *testing.T) { CheckResolve(t, h) })
	t.Run("StartEvents", func(t *testing.T) { CheckStartEvents(t, h) })
}

// TestExecFailureStaysInItsCheck checks that a command that cannot run
// fails the check that ran it, and that the next check still runs: the
// harness must not call FailNow on a test other than the check's own.
func TestExecFailureStaysInItsCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the test binary again")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestBrokenExecHelper$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "BACKENDTEST_BROKEN_EXEC=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the helper passed with a cluster that runs nothing:\n%s", out)
	}
	for _, want := range []string{
		"--- FAIL: TestBrokenExecHelper/Resolve",
		"cannot run anything",
		"--- FAIL: TestBrokenExecHelper/StartEvents", // it ran: no node_start events
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("helper output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "FailNow on a parent test") || strings.Contains(string(out), "panic:") {
		t.Errorf("a check failed its parent:\n%s", out)
	}
}
