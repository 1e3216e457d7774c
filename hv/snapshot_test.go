package hv_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/hv"
	"github.com/mvrun/multiverse/internal/linkmodel"
)

// snapWorkload is a three-node networked run driven in steps: an HTTP
// key-value server on db and a client on each of app1 and app2, with a
// partition, a heal, a kill and a restart of db applied between steps.
// Each step advances the cluster to its time and then acts on it, so a run
// resumed from a snapshot taken between two steps takes the same steps.
type snapWorkload struct {
	bin   string
	steps []snapStep
	end   time.Duration
}

type snapStep struct {
	at time.Duration
	do func(t testing.TB, c *hv.Cluster)
}

func newSnapWorkload(t testing.TB) *snapWorkload {
	w := &snapWorkload{bin: guest(t, "httpkv"), end: 16 * time.Second}
	w.steps = []snapStep{
		{at: 2 * time.Second},
		{at: 3500 * time.Millisecond, do: func(t testing.TB, c *hv.Cluster) {
			if err := c.Partition(linkmodel.Partition{Groups: [][]string{{"db", "app1"}, {"app2"}}}); err != nil {
				t.Error(err)
			}
		}},
		{at: 6 * time.Second, do: func(t testing.TB, c *hv.Cluster) { c.Heal() }},
		{at: 8 * time.Second, do: func(t testing.TB, c *hv.Cluster) { c.Node("db").Kill() }},
		{at: 9500 * time.Millisecond, do: func(t testing.TB, c *hv.Cluster) { w.startServer(t, c) }},
		{at: 12 * time.Second},
		{at: w.end},
	}
	return w
}

func (w *snapWorkload) startServer(t testing.TB, c *hv.Cluster) {
	if _, err := c.Node("db").Start(hv.ProcessConfig{Binary: w.bin, Args: []string{"httpkv", "server", ":8080"}, Stdout: io.Discard, Stderr: io.Discard}); err != nil {
		t.Error(err)
	}
}

// boot makes the cluster and starts its processes at time zero.
func (w *snapWorkload) boot(t testing.TB, seed uint64) *hv.Cluster {
	t.Helper()
	c, err := hv.NewCluster(hv.ClusterConfig{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"db", "app1", "app2"} {
		if _, err := c.AddNode(hv.NodeConfig{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	w.startServer(t, c)
	for _, name := range []string{"app1", "app2"} {
		if _, err := c.Node(name).Start(hv.ProcessConfig{Binary: w.bin, Args: []string{"httpkv", "client", "http://db:8080", "14", "1s", "2s"}, Stdout: io.Discard, Stderr: io.Discard}); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// run takes the steps after step from (-1: all of them), calling at after
// each with its index; it returns the trace hash after every step.
func (w *snapWorkload) run(t *testing.T, c *hv.Cluster, from int, at func(i int)) []uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	hashes := make([]uint64, len(w.steps))
	for i := from + 1; i < len(w.steps); i++ {
		s := w.steps[i]
		if _, err := c.Advance(ctx, s.at, nil); err != nil {
			t.Fatal(err)
		}
		if s.do != nil {
			s.do(t, c)
		}
		hashes[i] = c.TraceHash()
		if at != nil {
			at(i)
		}
	}
	if ne := c.NotExact(); len(ne) > 0 {
		t.Fatalf("run not replay-exact: %v", ne)
	}
	return hashes
}

// TestSnapshotContinuesExactly snapshots a three-node networked run at
// several moments (a partition in force, a node killed, after its
// restart), and each restored snapshot continues with the trace hashes of
// the run that was never interrupted; restoring a snapshot twice gives the
// same run twice, and redrawing the future after a restore is the same
// branch as redrawing it at that moment of a straight run.
func TestSnapshotContinuesExactly(t *testing.T) {
	requireKVM(t)
	w := newSnapWorkload(t)
	const seed = 11

	straight := w.boot(t, seed)
	want := w.run(t, straight, -1, nil)
	straight.Close()

	c := w.boot(t, seed)
	defer c.Close()
	snaps := map[int]*hv.Snapshot{}
	got := w.run(t, c, -1, func(i int) {
		if i == 2 || i == 3 || i == 5 {
			s, err := c.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			if s.TraceHash() != c.TraceHash() || s.At() != c.Now() {
				t.Errorf("snapshot at step %d: hash %x at %v, cluster %x at %v", i, s.TraceHash(), s.At(), c.TraceHash(), c.Now())
			}
			snaps[i] = s
		}
	})
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("taking snapshots changed the run:\n got %x\nwant %x", got, want)
	}
	for _, i := range []int{2, 3, 5} {
		s := snaps[i]
		t.Logf("snapshot at %v: %d MiB", s.At(), s.Bytes()>>20)
		for round := range 2 { // the same snapshot twice: branches
			r, err := s.Restore()
			if err != nil {
				t.Fatal(err)
			}
			if r.TraceHash() != want[i] || r.Now() != w.steps[i].at {
				t.Errorf("restored at step %d (round %d): hash %x at %v, want %x at %v", i, round, r.TraceHash(), r.Now(), want[i], w.steps[i].at)
			}
			rest := w.run(t, r, i, nil)
			for j := i + 1; j < len(w.steps); j++ {
				if rest[j] != want[j] {
					t.Errorf("restored at step %d (round %d): after step %d hash %x, want %x", i, round, j, rest[j], want[j])
				}
			}
			if err := r.Close(); err != nil {
				t.Error(err)
			}
		}
	}

	// A branch: the future redrawn at step 3, in a straight run and
	// after a restore.
	const branchSeed = 0xb7a
	b := w.boot(t, seed)
	branch := w.run(t, b, -1, func(i int) {
		if i == 3 {
			b.Redraw(branchSeed)
		}
	})
	b.Close()
	if branch[len(branch)-1] == want[len(want)-1] {
		t.Fatal("redrawing the future did not change the run")
	}
	r, err := snaps[3].Restore()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.Redraw(branchSeed)
	rest := w.run(t, r, 3, nil)
	if rest[len(rest)-1] != branch[len(branch)-1] {
		t.Errorf("branch from a restored snapshot: hash %x, want %x (the straight run's branch)", rest[len(rest)-1], branch[len(branch)-1])
	}
}

// TestSnapshotRefusesHostActions: a pending host action is a function of
// the caller's, which a snapshot cannot copy; it says so.
func TestSnapshotRefusesHostActions(t *testing.T) {
	requireKVM(t)
	c, err := hv.NewCluster(hv.ClusterConfig{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.At(time.Second, func() {})
	if _, err := c.Snapshot(); err == nil || !strings.Contains(err.Error(), "host actions") {
		t.Fatalf("Snapshot with a pending At = %v, want an error naming host actions", err)
	}
}

// advance takes the steps due in (from, to] and then runs to to.
func (w *snapWorkload) advance(tb testing.TB, c *hv.Cluster, from, to time.Duration) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, s := range w.steps {
		if s.at <= from || s.at > to {
			continue
		}
		if _, err := c.Advance(ctx, s.at, nil); err != nil {
			tb.Fatal(err)
		}
		if s.do != nil {
			s.do(tb, c)
		}
	}
	if _, err := c.Advance(ctx, to, nil); err != nil {
		tb.Fatal(err)
	}
}

// TestSnapshotRebindOutput: a restored process writes to the writers it
// is given, not to its original's.
func TestSnapshotRebindOutput(t *testing.T) {
	requireKVM(t)
	w := newSnapWorkload(t)
	c := w.boot(t, 3)
	defer c.Close()
	var orig strings.Builder
	c.Node("app1").Processes()[0].SetOutput(&orig, &orig)
	w.advance(t, c, -1, 4*time.Second)
	s, err := c.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	before := orig.Len()
	r, err := s.Restore()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out strings.Builder
	r.Node("app1").Processes()[0].SetOutput(&out, &out)
	w.advance(t, r, 4*time.Second, w.end)
	if orig.Len() != before || before == 0 {
		t.Errorf("the original's writer got %d bytes before the snapshot and %d after", before, orig.Len()-before)
	}
	if !strings.Contains(out.String(), "get") {
		t.Errorf("the restored client wrote %q", out.String())
	}
}

// TestSnapshotAllGuests snapshots every guest of testdata/guests (each
// alone in a one-node cluster) at a third and two thirds of its run:
// each restored snapshot finishes with the uninterrupted run's trace hash,
// virtual time and output. The guests cover the system call families
// (files, pipes, epoll, sockets of every kind, signals, timers, futexes,
// shared mappings, disk I/O), so what a snapshot must copy is exercised
// in many states.
func TestSnapshotAllGuests(t *testing.T) {
	requireKVM(t)
	args := map[string][]string{
		"catfile":      {"/etc/hostname"},
		"crashfile":    {"write", "/tmp/crash"},
		"syscallbench": {"100"},
		"sysfam":       {"file"},
		"net":          {"all"},
		"netbench":     {"20"},
	}
	skip := map[string]string{
		"forever":  "never exits",
		"cpubound": "spins without system calls: preempted on host time, not replay-exact",
		"spin":     "spins without system calls",
		"hostile":  "spins without system calls",
	}
	ents, err := os.ReadDir("testdata/guests")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		name := e.Name()
		if why := skip[name]; why != "" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			bin := guest(t, name)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			type run struct {
				c   *hv.Cluster
				p   *hv.Process
				out *strings.Builder
			}
			start := func() run {
				c, err := hv.NewCluster(hv.ClusterConfig{Seed: 7})
				if err != nil {
					t.Fatal(err)
				}
				n, err := c.AddNode(hv.NodeConfig{Name: "n"})
				if err != nil {
					t.Fatal(err)
				}
				out := &strings.Builder{}
				p, err := n.Start(hv.ProcessConfig{Binary: bin, Args: append([]string{name}, args[name]...), Stdout: out, Stderr: io.Discard})
				if err != nil {
					t.Fatal(err)
				}
				return run{c, p, out}
			}
			finish := func(r run, until time.Duration) {
				if _, err := r.c.RunUntil(ctx, until, r.p.Exited); err != nil {
					t.Fatal(err)
				}
			}
			straight := start()
			finish(straight, 24*time.Hour)
			end, hash, out := straight.c.Now(), straight.c.TraceHash(), straight.out.String()
			exited, notExact := straight.p.Exited(), straight.c.NotExact()
			straight.c.Close()
			if !exited || len(notExact) > 0 {
				t.Skipf("the guest did not exit in a day of virtual time, or its run is not exact (%v)", notExact)
			}

			r := start()
			defer r.c.Close()
			var snaps []*hv.Snapshot
			var outAt []int
			for _, at := range []time.Duration{end / 3, 2 * end / 3} {
				finish(r, at)
				if r.p.Exited() {
					break
				}
				s, err := r.c.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				snaps = append(snaps, s)
				outAt = append(outAt, r.out.Len())
			}
			finish(r, 24*time.Hour)
			if r.c.TraceHash() != hash || r.c.Now() != end {
				t.Fatalf("snapshotting changed the run: %x at %v, want %x at %v", r.c.TraceHash(), r.c.Now(), hash, end)
			}
			for i, s := range snaps {
				c, err := s.Restore()
				if err != nil {
					t.Fatal(err)
				}
				p := c.Node("n").Processes()[0]
				rest := &strings.Builder{}
				p.SetOutput(rest, io.Discard)
				rr := run{c, p, rest}
				finish(rr, 24*time.Hour)
				if c.TraceHash() != hash || c.Now() != end || !p.Exited() {
					t.Errorf("restored at %v: %x at %v (exited %v), want %x at %v", s.At(), c.TraceHash(), c.Now(), p.Exited(), hash, end)
				}
				if got := out[:outAt[i]] + rest.String(); got != out {
					t.Errorf("restored at %v: output %q, want %q", s.At(), got, out)
				}
				c.Close()
			}
		})
	}
}
