package hvbackend

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/mvrun/multiverse/runner"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/runner/backendtest"
	"github.com/mvrun/multiverse/specs"
)

// coverSeed runs one seed of two echo services, with a workload command
// that sleeps 1.5 s and exits, on an hv backend with opts, and returns
// the seed's outcome and its coverage.jsonl records.
func coverSeed(t *testing.T, opts Options) (*runner.SeedOutcome, []byte, []runner.CoverageRecord) {
	t.Helper()
	return coverSeedIn(t, opts, t.TempDir())
}

// coverSeedIn is coverSeed with the backend's work directory (where its
// programs are built) at workDir.
func coverSeedIn(t *testing.T, opts Options, workDir string) (*runner.SeedOutcome, []byte, []runner.CoverageRecord) {
	t.Helper()
	test := backendtest.NewTest([]string{"alpha", "beta"})
	test.Duration = 3 * time.Second
	test.Workload = []*specs.Command{{Role: specs.RoleFirst, Name: "nap", Service: "alpha", Argv: []string{"/bin/alpha", "sleep", "1500ms"}}}
	be := New(opts)
	if err := be.Prepare(context.Background(), test, workDir); err != nil {
		t.Fatal(err)
	}
	oc, err := runner.Run(context.Background(), runner.Options{Test: test, Backend: be, BaseSeed: 0x5eed, Count: 1, OutDir: t.TempDir(), Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	so := oc.Seeds[0]
	if so.Err != nil {
		t.Fatal(so.Err)
	}
	data, err := os.ReadFile(filepath.Join(so.Dir, runner.CoverageFile))
	if err != nil {
		t.Fatal(err)
	}
	var recs []runner.CoverageRecord
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var r runner.CoverageRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v", sc.Bytes(), err)
		}
		recs = append(recs, r)
	}
	return so, data, recs
}

// TestCoverageSamples: the echo services, built by mvrun, have counters;
// each node is sampled at every second of virtual time (due exactly
// then), the workload command as it exits, and everything when the
// cluster closes. Nodes running one build share a program name. The same
// seed gives the same reads twice, and sampling leaves the run alone: a
// backend that samples only at Close runs to the same trace hash.
func TestCoverageSamples(t *testing.T) {
	needKVM(t)
	a, data, recs := coverSeed(t, Options{})
	due := map[string][]int64{}
	exits, finals := 0, 0
	for _, r := range recs {
		if r.Without != "" {
			t.Errorf("node %s: no counters: %s", r.Node, r.Without)
			continue
		}
		if r.Program != "echo" {
			t.Errorf("node %s: program %q, want echo (the build context's name)", r.Node, r.Program)
		}
		if r.Hit == 0 || r.Hit < r.Counters && !r.Exit {
			t.Errorf("record %+v: counters %d, hit %d", r, r.Counters, r.Hit)
		}
		switch {
		case r.Exit:
			exits++
		case r.Final:
			finals++
		default:
			due[r.Node] = append(due[r.Node], r.DueNS)
			if r.AtNS < r.DueNS {
				t.Errorf("a sample due at %d read at %d, before it", r.DueNS, r.AtNS)
			}
		}
	}
	for _, n := range []string{"alpha", "beta"} {
		if len(due[n]) < 3 || due[n][0] != int64(time.Second) || due[n][1] != int64(2*time.Second) {
			t.Errorf("node %s sampled at %v, want every second from 1s", n, due[n])
		}
	}
	if exits == 0 || finals != 2 {
		t.Errorf("%d reads at exit (want the workload command's), %d at close (want 2)", exits, finals)
	}
	if len(recs) > 0 && len(recs[0].New) == 0 {
		t.Errorf("the first read reports no new (index, bucket) pairs: %+v", recs[0])
	}
	b, data2, _ := coverSeed(t, Options{})
	if b.TraceHash != a.TraceHash || !bytes.Equal(data, data2) {
		t.Errorf("same seed twice: trace %016x vs %016x, coverage.jsonl equal %t", a.TraceHash, b.TraceHash, bytes.Equal(data, data2))
	}
	c, _, _ := coverSeed(t, Options{Cover: Cover{Period: time.Hour}})
	if c.TraceHash != a.TraceHash {
		t.Errorf("sampling changed the run: trace %016x with a sample every second, %016x without", a.TraceHash, c.TraceHash)
	}
}

// TestCoverageWorkDirs: a seed is the same run wherever its programs are
// built. Every command builds them under its own artifacts directory
// (mvrun test, mvrun replay and a search each name theirs differently, a
// Go test uses a temporary one), so the host path of a program differs
// between commands, in length too; the guest must not see it. It did, as
// argv[0], and a -cover program writes its argv into its counter file at
// exit: the same seed gave a different trace hash in each command. Two
// work directories whose paths differ by 38 bytes (more than any padding
// of the counter file's strings) give the same trace hash and the same
// coverage records.
func TestCoverageWorkDirs(t *testing.T) {
	needKVM(t)
	dir := t.TempDir()
	a, data, _ := coverSeedIn(t, Options{}, filepath.Join(dir, "w"))
	b, data2, _ := coverSeedIn(t, Options{}, filepath.Join(dir, "a-longer-work-directory-for-this-test", "w"))
	if a.TraceHash != b.TraceHash || !bytes.Equal(data, data2) {
		t.Errorf("the same seed built in two work directories: trace %016x vs %016x, coverage.jsonl equal %t", a.TraceHash, b.TraceHash, bytes.Equal(data, data2))
	}
}

// TestGuestArgv: the guest's argv[0] is the name as written, or
// /bin/<base name> where the runner put the host path of the program;
// the host path never reaches the guest.
func TestGuestArgv(t *testing.T) {
	const host = "/tmp/run-1/work/bin/hv/client"
	for _, c := range []struct{ argv, want []string }{
		{[]string{"/bin/client", "load", "300"}, []string{"/bin/client", "load", "300"}}, // a workload command as the spec wrote it
		{[]string{"client", "idle"}, []string{"client", "idle"}},
		{[]string{host, "idle"}, []string{"/bin/client", "idle"}}, // a built service's program, named by no argv
		{nil, []string{"/bin/client"}},
	} {
		if got := guestArgv(c.argv, host); !slices.Equal(got, c.want) {
			t.Errorf("guestArgv(%q) = %q, want %q", c.argv, got, c.want)
		}
	}
}

// TestCoverageOff: with counters off, every node gets one record saying
// why, and the timeline says it too.
func TestCoverageOff(t *testing.T) {
	needKVM(t)
	so, _, recs := coverSeed(t, Options{Cover: Cover{Off: true}})
	if len(recs) != 2 || recs[0].Without == "" || recs[1].Without == "" {
		t.Fatalf("records %+v, want one per node saying why it has no counters", recs)
	}
	tl, err := os.ReadFile(filepath.Join(so.Dir, "timeline.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(tl, []byte("coverage: coverage counters are off")) {
		t.Errorf("the timeline does not say coverage is off:\n%s", tl)
	}
}

// coverTapeRun boots the echo cluster, has alpha dial beta every 400 ms
// five times (commands read as they exit) and sleeps to 3 s, on backend
// b; it returns the coverage events the runner got, the trace log and
// where the run resumed (0 for a run from zero).
func coverTapeRun(t *testing.T, b *Backend, test *specs.Test) ([]backend.Event, []string, time.Duration) {
	t.Helper()
	ctx := context.Background()
	h := backendtest.BootPrepared(t, ctx, b, test)
	h.WaitServing(t, 60*time.Second)
	for i := range 5 {
		if err := h.Cluster.Sleep(ctx, 400*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Cluster.Exec(ctx, backend.ExecRequest{Service: "alpha", Name: "dial", Argv: []string{"/bin/alpha", "dial", "beta:7000", fmt.Sprint("hello ", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Cluster.Sleep(ctx, 3*time.Second-h.Cluster.Now()); err != nil {
		t.Fatal(err)
	}
	resumed := h.Cluster.(backend.Resumer).ResumedAt()
	if err := h.Cluster.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return h.Events.Events(func(e backend.Event) bool { return e.Kind == backend.EventCoverage }), readLines(t, filepath.Join(h.Dir, TraceLog)), resumed
}

// TestCoverageAfterRestore: a run resumed from a snapshot of its record
// reads coverage as the recorded run did — the reads before the snapshot
// come from the record, the later ones from the restored cluster, which
// sets its reads up again (coverSetup) with the snapshot's bookkeeping —
// so the runner gets the same coverage events, the same new pairs, and
// the trace log is the same. Snapshots at a sample time (1 s) and between
// two (1.5 s).
func TestCoverageAfterRestore(t *testing.T) {
	needKVM(t)
	ctx := context.Background()
	test := backendtest.NewTest([]string{"alpha", "beta"})
	b := New(Options{})
	if err := b.Prepare(ctx, test, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Duration{time.Second, 1500 * time.Millisecond} {
		var rec *Record
		want, log, _ := coverTapeRun(t, b.Recording(RecordOptions{Snapshots: []time.Duration{at}, Keep: func(r *Record) { rec = r }}), test)
		if rec == nil || len(want) == 0 {
			t.Fatalf("snapshot at %v: record %v, %d coverage events", at, rec, len(want))
		}
		got, rlog, resumed := coverTapeRun(t, b.ResumingFrom(rec), test)
		if resumed != at {
			t.Fatalf("the run resumed at %v, want %v", resumed, at)
		}
		if !slices.Equal(log, rlog) {
			t.Errorf("snapshot at %v: the resumed run's trace log differs", at)
		}
		after := 0
		for i := range min(len(got), len(want)) {
			g, w := got[i], want[i]
			if g.At != w.At || g.Node != w.Node || !reflect.DeepEqual(g.Cover, w.Cover) {
				t.Fatalf("snapshot at %v: coverage event %d: resumed %v %s %+v, recorded %v %s %+v", at, i, g.At, g.Node, *g.Cover, w.At, w.Node, *w.Cover)
			}
			if g.At > at {
				after++
			}
		}
		if len(got) != len(want) || after == 0 {
			t.Fatalf("snapshot at %v: %d coverage events resumed (%d after the snapshot), %d recorded", at, len(got), after, len(want))
		}
	}
}
