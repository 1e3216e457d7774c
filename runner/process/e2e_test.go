package process_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/runner"
	"github.com/mvrun/multiverse/runner/process"
	"github.com/mvrun/multiverse/specs"
)

// TestKVStoreExample runs one short seed of examples/kvstore on the process
// backend through the runner: the services build, boot, resolve each other,
// take faults and run the workload, and nothing is left behind.
func TestKVStoreExample(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: builds and runs the kvstore example")
	}
	b := process.New(process.Options{})
	ctx := context.Background()
	if err := b.Available(ctx); err != nil {
		t.Skipf("skipping: %v", err)
	}
	spec, err := specs.Load(ctx, filepath.Join("..", "..", "examples", "kvstore", "spec.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	test := spec.Tests[0]
	test.Duration = 4 * time.Second
	out := t.TempDir()
	if d := os.Getenv("MVRUN_E2E_OUT"); d != "" {
		out = d
	}
	oc, err := runner.Run(ctx, runner.Options{Test: test, Backend: b, Count: 1, BaseSeed: 1, OutDir: out, Jobs: 1})
	if err != nil {
		t.Fatalf("runner.Run: %v", err)
	}
	if len(oc.Seeds) != 1 {
		t.Fatalf("%d seeds finished, want 1", len(oc.Seeds))
	}
	so := oc.Seeds[0]
	if so.Err != nil {
		t.Errorf("seed error: %v", so.Err)
	}
	if len(so.Faults) == 0 {
		t.Errorf("no faults were applied in %v", test.Duration)
	}
	for _, u := range oc.Unsupported {
		if !strings.HasPrefix(u, "clock_") {
			t.Errorf("unexpected unsupported fault kind: %s", u)
		}
	}
	for _, s := range []string{"kv1", "kv2", "kv3", "client"} {
		if _, err := os.Stat(filepath.Join(so.Dir, "nodes", s+".stdout")); err != nil {
			t.Errorf("node %s has no stdout artifact: %v", s, err)
		}
	}
	t.Logf("faults: %d, failing properties: %v, unsupported: %v, elapsed %v", len(so.Faults), so.Failing, oc.Unsupported, oc.Elapsed)
	if err := process.Leftovers(b.RunID()); err != nil {
		t.Errorf("left behind: %v", err)
	}
}

// TestKVStoreExampleCancelled cancels a run of examples/kvstore while its
// workload and faults are running; the run's processes, namespaces and state
// must be gone when runner.Run returns.
func TestKVStoreExampleCancelled(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: builds and runs the kvstore example")
	}
	b := process.New(process.Options{})
	if err := b.Available(context.Background()); err != nil {
		t.Skipf("skipping: %v", err)
	}
	spec, err := specs.Load(context.Background(), filepath.Join("..", "..", "examples", "kvstore", "spec.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	test := spec.Tests[0]
	test.Duration = time.Minute
	// A first Prepare fills the build cache, so the run's own Prepare is
	// quick and the cancel lands mid-seed.
	if err := b.Prepare(context.Background(), test, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(4*time.Second, cancel)
	oc, err := runner.Run(ctx, runner.Options{Test: test, Backend: b, Count: 1, OutDir: t.TempDir(), Jobs: 1})
	if err == nil && (oc == nil || !oc.Cancelled) {
		t.Errorf("run was not cancelled: %+v", oc)
	}
	if err := process.Leftovers(b.RunID()); err != nil {
		t.Errorf("left behind after a cancelled run: %v", err)
	}
}
