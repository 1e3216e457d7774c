package hvbackend

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
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
	test := backendtest.NewTest([]string{"alpha", "beta"})
	test.Duration = 3 * time.Second
	test.Workload = []*specs.Command{{Role: specs.RoleFirst, Name: "nap", Service: "alpha", Argv: []string{"/bin/alpha", "sleep", "1500ms"}}}
	be := New(opts)
	if err := be.Prepare(context.Background(), test, t.TempDir()); err != nil {
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

// TestCoverageAfterRestore is what a cluster restored from a snapshot
// does about coverage: coverSetup arms its reads again (a snapshot drops
// them), and with the original's bookkeeping (coverState.clone, kept with
// the snapshot) it reports from then on exactly what the original
// reports — the same reads at the same times, the same new pairs — and
// reaches the same trace hash. Without the bookkeeping its first reads
// report a superset of the new pairs.
func TestCoverageAfterRestore(t *testing.T) {
	needKVM(t)
	ctx := context.Background()
	test := backendtest.NewTest([]string{"alpha", "beta"})
	b := New(Options{})
	h := backendtest.Boot(t, ctx, b, test)
	orig := h.Cluster.(*cluster)
	const at = 2500 * time.Millisecond
	// The part of the run both sides do after the snapshot: a command in
	// alpha at 3s (read as it exits), then on to 5s.
	after := func(c *cluster) {
		if err := c.Sleep(ctx, 500*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Exec(ctx, backend.ExecRequest{Service: "alpha", Name: "host", Argv: []string{"/bin/alpha", "hostname"}}); err != nil {
			t.Fatal(err)
		}
		if err := c.Sleep(ctx, 5*time.Second-c.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := orig.Sleep(ctx, at); err != nil {
		t.Fatal(err)
	}
	snap, err := orig.hc.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	saved := orig.cov.clone()
	st := map[string]nodeState{}
	for _, n := range orig.order {
		ns := nodeState{starts: n.starts, sdkN: n.sdkN, execN: maps.Clone(n.execN)}
		if n.proc != nil {
			ns.proc = n.proc.Pid()
		}
		st[n.svc.Name] = ns
	}
	after(orig)
	covAfter := func(r *backendtest.Recorder) []backend.Event {
		return r.Events(func(e backend.Event) bool { return e.Kind == backend.EventCoverage && e.At > at })
	}
	want := covAfter(h.Events)
	if len(want) == 0 {
		t.Fatal("the original reported no coverage after the snapshot")
	}
	restore := func(cov *coverState) (*cluster, *backendtest.Recorder) {
		rec := &backendtest.Recorder{}
		cfg := backend.ClusterConfig{Test: test, Seed: 0x5eed, Dir: t.TempDir(), Events: rec.Record}
		c, err := restoredCluster(ctx, cfg, b.programs, b.images, b.log, &journal{}, &jsnap{s: snap, nodes: st})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(ctx) })
		c.cov = cov
		c.coverSetup(b.coverPlan())
		after(c)
		return c, rec
	}
	c, rec := restore(saved)
	if c.TraceHash() != orig.TraceHash() {
		t.Errorf("restored: trace hash %016x at 5s, the original %016x", c.TraceHash(), orig.TraceHash())
	}
	got := covAfter(rec)
	if len(got) != len(want) {
		t.Fatalf("restored with the bookkeeping: %d coverage reads after the snapshot, the original %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.At != w.At || g.Node != w.Node || !reflect.DeepEqual(g.Cover, w.Cover) {
			t.Fatalf("read %d after the snapshot: restored %v %s %+v, original %v %s %+v", i, g.At, g.Node, *g.Cover, w.At, w.Node, *w.Cover)
		}
	}
	_, rec = restore(nil)
	fresh := covAfter(rec)
	if len(fresh) != len(want) {
		t.Fatalf("restored afresh: %d reads, the original %d", len(fresh), len(want))
	}
	for i := range want {
		if len(fresh[i].Cover.New) < len(want[i].Cover.New) {
			t.Errorf("read %d: restored afresh reports %d new pairs, fewer than the original's %d", i, len(fresh[i].Cover.New), len(want[i].Cover.New))
		}
	}
	total := func(es []backend.Event) (n int) {
		for _, e := range es {
			n += len(e.Cover.New)
		}
		return n
	}
	if total(fresh) <= total(want) {
		t.Errorf("restored afresh: %d new pairs after the snapshot, the original %d; want more (pairs the original had reported before)", total(fresh), total(want))
	}
	t.Logf("%d reads after the snapshot; %d new pairs in the original, %d restored afresh", len(want), total(want), total(fresh))
}
