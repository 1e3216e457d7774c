// Package diskstore_test runs the diskstore example end to end under hv
// and on the process backend: the store that ignores fsync errors must
// lose acknowledged writes under disk faults (under hv, the seed that
// found it must replay bit for bit), and the fixed store must keep every
// property.
package diskstore_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/assertions"
	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/runner"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/runner/docker"
	"github.com/mvrun/multiverse/runner/hvbackend"
	"github.com/mvrun/multiverse/runner/process"
	"github.com/mvrun/multiverse/specs"
)

const lost = "acknowledged writes survive disk faults"

func TestMain(m *testing.M) {
	process.MaybeRunShim() // process nodes re-exec this test binary as their init shim
	os.Exit(m.Run())
}

// runOn runs spec's test on b with a shortened fault phase; it skips when
// b is not available here.
func runOn(t *testing.T, b backend.Backend, spec string, opts runner.Options) *runner.Outcome {
	t.Helper()
	ctx := context.Background()
	if err := b.Available(ctx); err != nil {
		t.Skipf("skipping: %v", err)
	}
	s, err := specs.Load(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	opts.Test = s.Tests[0]
	opts.Test.Duration = 10 * time.Second
	opts.Backend = b
	opts.OutDir = t.TempDir()
	opts.Jobs = 2
	oc, err := runner.Run(ctx, opts)
	if err != nil {
		t.Fatalf("runner.Run: %v", err)
	}
	for _, so := range oc.Seeds {
		if so.Err != nil {
			t.Fatalf("seed %#x: %v", so.Seed, so.Err)
		}
	}
	return oc
}

// TestHVFindsIgnoredFsyncAndReplays: under hv a seed of the buggy store
// loses acknowledged writes, its fault log names the failed fsyncs, and
// its replay has the same trace hash and fault log.
func TestHVFindsIgnoredFsyncAndReplays(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: runs the diskstore example under hv")
	}
	hv := func() backend.Backend { return hvbackend.New(hvbackend.Options{}) }
	oc := runOn(t, hv(), "spec.hcl", runner.Options{Count: 2, BaseSeed: 0x5eed})
	var found *runner.SeedOutcome
	for _, so := range oc.Seeds {
		if slices.Contains(so.Failing, lost) {
			found = so
			break
		}
	}
	if found == nil {
		t.Fatalf("no seed of 2 lost acknowledged writes under hv")
	}
	fsyncs := 0
	for _, l := range found.Faults {
		if strings.Contains(l, "disk_hit ") && strings.Contains(l, "fsync_error fsync wal.log") {
			fsyncs++
		}
	}
	if fsyncs == 0 {
		t.Errorf("the fault log of seed %#x names no failed fsync of wal.log:\n%s", found.Seed, strings.Join(found.Faults, "\n"))
	}
	rep := runOn(t, hv(), "spec.hcl", runner.Options{Seeds: []uint64{found.Seed}})
	r := rep.Seeds[0]
	if r.TraceHash != found.TraceHash {
		t.Errorf("replay of seed %#x: trace hash %016x, first run %016x", found.Seed, r.TraceHash, found.TraceHash)
	}
	if !slices.Equal(r.Faults, found.Faults) {
		t.Errorf("replayed fault log differs (%d vs %d lines)", len(r.Faults), len(found.Faults))
	}
	if !slices.Equal(r.Failing, found.Failing) {
		t.Errorf("replay failed %v, first run %v", r.Failing, found.Failing)
	}
}

// TestHVFixedStoreHolds: the store that refuses a put whose fsync failed
// keeps every property under the same faults.
func TestHVFixedStoreHolds(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: runs the diskstore example under hv")
	}
	oc := runOn(t, hvbackend.New(hvbackend.Options{}), "fixed.hcl", runner.Options{Count: 2, BaseSeed: 0x5eed})
	for _, p := range oc.Result.Properties {
		if p.ID == lost && (p.HitsTrue != 2 || p.HitsFalse != 0) {
			t.Errorf("the checker verified the writes in %d of 2 seeds, failed in %d", p.HitsTrue, p.HitsFalse)
		}
		if p.Verdict == assertions.Fail && (p.Type == "always" || p.Builtin) {
			t.Errorf("the fixed store failed %s %q: %s", p.DisplayType, p.ID, p.Reason)
		}
	}
}

// faultBackend returns the backend new makes, skipping when it cannot run
// here or cannot inject disk faults (no root, no FUSE, no Docker engine).
func faultBackend(t *testing.T, new func() backend.Backend) backend.Backend {
	t.Helper()
	b := new()
	if testing.Short() {
		t.Skipf("skipping: runs the diskstore example on the %s backend", b.Name())
	}
	if err := b.Available(context.Background()); err != nil {
		t.Skipf("skipping: %v", err)
	}
	if err := b.Supports(faults.ActDisk); err != nil {
		t.Skipf("skipping: %v", err)
	}
	return b
}

// hostBackends are the backends whose disk faults go through the FUSE
// file system.
var hostBackends = []struct {
	name string
	new  func() backend.Backend
}{
	{"process", func() backend.Backend { return process.New(process.Options{}) }},
	{"docker", func() backend.Backend { return docker.New(docker.Options{}) }},
}

// TestHostFindsIgnoredFsync: on the process and docker backends, through
// the FUSE disk fault file system, a seed of the buggy store loses
// acknowledged writes and its fault log names failed fsyncs of wal.log.
func TestHostFindsIgnoredFsync(t *testing.T) {
	for _, hb := range hostBackends {
		t.Run(hb.name, func(t *testing.T) {
			oc := runOn(t, faultBackend(t, hb.new), "spec.hcl", runner.Options{Count: 2, BaseSeed: 0x5eed})
			var found *runner.SeedOutcome
			for _, so := range oc.Seeds {
				if slices.Contains(so.Failing, lost) {
					found = so
					break
				}
			}
			if found == nil {
				t.Fatalf("no seed of 2 lost acknowledged writes")
			}
			fsyncs := 0
			for _, l := range found.Faults {
				if strings.Contains(l, "disk_hit ") && strings.Contains(l, "fsync_error fsync wal.log") {
					fsyncs++
				}
			}
			if fsyncs == 0 {
				t.Errorf("the fault log of seed %#x names no failed fsync of wal.log:\n%s", found.Seed, strings.Join(found.Faults, "\n"))
			}
			if len(oc.Unsupported) > 0 {
				t.Errorf("unsupported fault kinds: %v", oc.Unsupported)
			}
		})
	}
}

// TestHostFixedStoreHolds: on the process and docker backends the store
// that refuses a put whose fsync failed keeps every property.
func TestHostFixedStoreHolds(t *testing.T) {
	for _, hb := range hostBackends {
		t.Run(hb.name, func(t *testing.T) {
			oc := runOn(t, faultBackend(t, hb.new), "fixed.hcl", runner.Options{Count: 2, BaseSeed: 0x5eed})
			for _, p := range oc.Result.Properties {
				if p.ID == lost && (p.HitsTrue != 2 || p.HitsFalse != 0) {
					t.Errorf("the checker verified the writes in %d of 2 seeds, failed in %d", p.HitsTrue, p.HitsFalse)
				}
				if p.Verdict == assertions.Fail && (p.Type == "always" || p.Builtin) {
					t.Errorf("the fixed store failed %s %q: %s", p.DisplayType, p.ID, p.Reason)
				}
			}
		})
	}
}
