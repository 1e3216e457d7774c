package kvstore_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/runner"
	"github.com/mvrun/multiverse/runner/hvbackend"
	"github.com/mvrun/multiverse/specs"
)

// TestHVResumeFromSnapshot: a branch of a seed resumed from a snapshot of
// a recorded run is the branch replayed from time zero — the same trace
// hash, failures and fault log, and the same artifacts the runner wrote
// (events, timeline, workload histories, the nodes' output, the trace
// log) byte for byte — and a branch of that branch resumes from the
// resumed run's own record (a search tree two levels deep), also from a
// snapshot that record took before its own branch's moment.
func TestHVResumeFromSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: runs the kvstore example under hv (7 runs of 12 s)")
	}
	ctx := context.Background()
	b, tt, dir := preparedHV(t, hvbackend.Options{}, "spec.hcl", 12*time.Second)
	const seed = 0x5eed
	run := func(name string, bk *hvbackend.Backend) *runner.SeedOutcome {
		t.Helper()
		oc, err := runner.Run(ctx, runner.Options{Test: tt, Backend: bk, Seeds: []uint64{seed}, Jobs: 1, OutDir: filepath.Join(dir, name)})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		so := oc.Seeds[0]
		if so.Err != nil {
			t.Fatalf("%s: %v", name, so.Err)
		}
		return so
	}
	keep := func(into **hvbackend.Record) func(*hvbackend.Record) {
		return func(r *hvbackend.Record) { *into = r }
	}

	// The seed, recorded with snapshots at 3 s and 7 s (virtual time since
	// the cluster was made; the fault phase starts once the services are
	// up).
	var trunk *hvbackend.Record
	run("trunk", b.Recording(hvbackend.RecordOptions{Snapshots: []time.Duration{3 * time.Second, 7 * time.Second}, Keep: keep(&trunk)}))
	if trunk == nil || len(trunk.Snapshots()) != 2 || trunk.Snapshots()[1] < 7*time.Second {
		t.Fatalf("the trunk's record: %v", trunk)
	}
	t.Logf("trunk record: snapshots at %v, %d MiB", trunk.Snapshots(), trunk.Bytes()>>20)

	br := &hvbackend.Branch{At: 7500 * time.Millisecond, N: 1}
	zero := run("zero", b.WithBranch(br))
	var mid *hvbackend.Record
	resumed := run("resumed", b.WithBranch(br).ResumingFrom(trunk).Recording(hvbackend.RecordOptions{Snapshots: []time.Duration{7400 * time.Millisecond, 9 * time.Second}, Keep: keep(&mid)}))
	sameRun(t, "branch "+br.ID(seed), zero, resumed, trunk.Snapshots()[1])

	// A branch of the branch, from the resumed run's own record (its
	// snapshot at 9 s, past the trunk's).
	br2 := br.Child(hvbackend.Branch{At: 9500 * time.Millisecond, N: 0})
	if mid == nil {
		t.Fatal("the resumed run kept no record")
	}
	zero2 := run("zero2", b.WithBranch(br2))
	resumed2 := run("resumed2", b.WithBranch(br2).ResumingFrom(mid))
	if len(mid.Snapshots()) != 2 {
		t.Fatalf("the resumed run's record has snapshots at %v; want its own two", mid.Snapshots())
	}
	sameRun(t, "branch "+br2.ID(seed), zero2, resumed2, mid.Snapshots()[1])

	// A branch of the branch at 8 s, from the snapshot at 7.4 s: taken
	// in the branch's run before the branch's own moment (7.5 s), so the
	// resumed run redraws the shared level there itself.
	br3 := br.Child(hvbackend.Branch{At: 8 * time.Second, N: 0})
	zero3 := run("zero3", b.WithBranch(br3))
	resumed3 := run("resumed3", b.WithBranch(br3).ResumingFrom(mid))
	sameRun(t, "branch "+br3.ID(seed), zero3, resumed3, mid.Snapshots()[0])
}

// wallTime matches the wall time a check took, in its timeline note.
var wallTime = regexp.MustCompile(` \([0-9.]+(ms|µs|s)\)`)

// preparedHV returns an hv backend with opts, prepared for spec's test cut
// to a fault phase of d, and the directory it works in; it skips when hv
// cannot run here.
func preparedHV(t *testing.T, opts hvbackend.Options, spec string, d time.Duration) (*hvbackend.Backend, *specs.Test, string) {
	t.Helper()
	ctx := context.Background()
	b := hvbackend.New(opts)
	if err := b.Available(ctx); err != nil {
		t.Skipf("skipping: %v", err)
	}
	s, err := specs.Load(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	tt := s.Tests[0]
	tt.Duration = d
	dir := t.TempDir()
	if err := b.Prepare(ctx, tt, filepath.Join(dir, "work")); err != nil {
		t.Fatal(err)
	}
	return b, tt, dir
}

// sameRun checks that run b, resumed at the snapshot at want (the clock
// can pass a snapshot's requested time by the event that crossed it), is
// run a.
func sameRun(t *testing.T, what string, a, b *runner.SeedOutcome, want time.Duration) {
	t.Helper()
	stats, err := os.ReadFile(filepath.Join(b.Dir, hvbackend.StatsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(stats), "resumed from a snapshot at "+want.String()+":") {
		t.Fatalf("%s: not resumed from the snapshot at %v; hv-stats.txt:\n%s", what, want, stats)
	}
	if b.ResumedAt != want {
		t.Errorf("%s: the outcome says resumed at %v, want %v", what, b.ResumedAt, want)
	}
	if a.TraceHash != b.TraceHash {
		t.Errorf("%s: resumed, trace hash %016x; from zero %016x", what, b.TraceHash, a.TraceHash)
	}
	if !slices.Equal(a.Failing, b.Failing) || !slices.Equal(a.Faults, b.Faults) {
		t.Errorf("%s: resumed, failing %v faults %v; from zero failing %v faults %v", what, b.Failing, b.Faults, a.Failing, a.Faults)
	}
	var files []string
	err = filepath.WalkDir(a.Dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(p) != hvbackend.StatsFile {
			rel, _ := filepath.Rel(a.Dir, p)
			files = append(files, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"events.jsonl", "timeline.txt", "trace.log", "faults.log", "nodes/kv1.stdout"} {
		if !slices.Contains(files, f) {
			t.Fatalf("%s: the run from zero wrote no %s (files: %v)", what, f, files)
		}
	}
	for _, f := range files {
		x, _ := os.ReadFile(filepath.Join(a.Dir, f))
		y, err := os.ReadFile(filepath.Join(b.Dir, f))
		if err != nil {
			t.Errorf("%s: the resumed run has no %s", what, f)
			continue
		}
		// A check's note in the timeline ends with its wall time.
		x, y = wallTime.ReplaceAll(x, nil), wallTime.ReplaceAll(y, nil)
		if !bytes.Equal(x, y) {
			xl, yl := strings.Split(string(x), "\n"), strings.Split(string(y), "\n")
			for i := range min(len(xl), len(yl)) {
				if xl[i] != yl[i] {
					t.Errorf("%s: %s differs at line %d:\nfrom zero: %s\nresumed:   %s", what, f, i+1, xl[i], yl[i])
					break
				}
			}
			if len(xl) != len(yl) {
				t.Errorf("%s: %s has %d lines from zero, %d resumed", what, f, len(xl), len(yl))
			}
		}
	}
}
