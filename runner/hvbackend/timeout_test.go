package hvbackend

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/runner"
	"github.com/mvrun/multiverse/runner/backendtest"
	"github.com/mvrun/multiverse/specs"
)

// TestSeedTimeoutIsSimulated: on hv the seed timeout is measured on the
// cluster's clock. A driver that sleeps for an hour of simulated time makes
// the seed time out at exactly its seed_timeout of simulated time (a few
// host seconds), twice with the same trace hash, so whether a seed times out
// never depends on how loaded the host is.
func TestSeedTimeoutIsSimulated(t *testing.T) {
	needKVM(t)
	run := func() *runner.SeedOutcome {
		test := backendtest.NewTest([]string{"alpha"})
		test.Duration = 2 * time.Second
		test.SeedTimeout = 5 * time.Second
		test.Workload = []*specs.Command{{Role: specs.RoleFirst, Name: "nap", Service: "alpha", Argv: []string{"/bin/alpha", "sleep", "1h"}}}
		be := New(Options{})
		if err := be.Prepare(context.Background(), test, t.TempDir()); err != nil {
			t.Fatal(err)
		}
		oc, err := runner.Run(context.Background(), runner.Options{Test: test, Backend: be, BaseSeed: 0x5eed, Count: 1, OutDir: t.TempDir(), Jobs: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(oc.Seeds) != 1 {
			t.Fatalf("%d seeds", len(oc.Seeds))
		}
		return oc.Seeds[0]
	}
	a := run()
	if !a.TimedOut || a.Err != nil {
		t.Fatalf("seed: timed out %v, err %v; want a timeout", a.TimedOut, a.Err)
	}
	tl, err := os.ReadFile(filepath.Join(a.Dir, "timeline.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(tl), "5.000s  runner           seed timed out after 5s of simulated time") {
		t.Errorf("timeline does not show the timeout at 5s of simulated time:\n%s", tl)
	}
	b := run()
	if !b.TimedOut || b.TraceHash != a.TraceHash {
		t.Errorf("second run: timed out %v, trace %016x; first %016x", b.TimedOut, b.TraceHash, a.TraceHash)
	}
}
