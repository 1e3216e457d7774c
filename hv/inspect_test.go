package hv_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/hv"
	"github.com/mvrun/multiverse/hv/abi"
)

// oneNode returns a cluster of seed with one node, alpha, closed when the
// test ends.
func oneNode(t *testing.T, seed uint64) (*hv.Cluster, *hv.Node) {
	t.Helper()
	c, err := hv.NewCluster(hv.ClusterConfig{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	n, err := c.AddNode(hv.NodeConfig{Name: "alpha"})
	if err != nil {
		t.Fatal(err)
	}
	return c, n
}

// sleeperCluster starts a node running the sleephour guest (a Go program
// in time.Sleep) and returns the cluster, the process and its stderr.
func sleeperCluster(t *testing.T, seed uint64) (*hv.Cluster, *hv.Process, *bytes.Buffer) {
	t.Helper()
	c, n := oneNode(t, seed)
	var stderr bytes.Buffer
	p, err := n.Start(hv.ProcessConfig{Binary: guest(t, "sleephour"), Stderr: &stderr})
	if err != nil {
		t.Fatal(err)
	}
	return c, p, &stderr
}

// TestDumpLooksWithoutChanging dumps a sleeping Go guest's threads at a
// moment: its idle thread's stack, walked along frame pointers and
// symbolized, shows it blocked in the scheduler's netpoll (the sleeping
// goroutine is parked, on no thread), and the observed run has the trace
// hash of the unobserved one. System calls observed in a window also leave
// the hash alone.
func TestDumpLooksWithoutChanging(t *testing.T) {
	requireKVM(t)
	run := func(look bool) (uint64, hv.ProcessDump, int) {
		c, p, _ := sleeperCluster(t, 3)
		var d hv.ProcessDump
		var derr error
		calls := 0
		if look {
			c.Observe(20*time.Millisecond, func() { d, derr = p.Dump() })
			c.Observe(0, func() { c.ObserveCalls(func(hv.Call) { calls++ }) })
			c.Observe(10*time.Millisecond, func() { c.ObserveCalls(nil) })
		}
		if _, err := c.Run(context.Background(), 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if derr != nil {
			t.Fatal(derr)
		}
		return c.TraceHash(), d, calls
	}
	plain, _, _ := run(false)
	hash, d, calls := run(true)
	if hash != plain {
		t.Errorf("observed run: trace hash %016x, unobserved %016x", hash, plain)
	}
	if calls == 0 {
		t.Errorf("no system call observed in the first 10ms")
	}
	if !d.Go || len(d.Threads) == 0 {
		t.Fatalf("dump: Go %v, %d threads", d.Go, len(d.Threads))
	}
	var all strings.Builder
	d.Write(&all)
	t.Logf("dump:\n%s", all.String())
	if !strings.Contains(all.String(), "runtime.netpoll") || !strings.Contains(all.String(), "blocked in") {
		t.Errorf("dump has no thread blocked in the scheduler's netpoll:\n%s", all.String())
	}
}

// TestSignalQuitPrintsGoroutines sends SIGQUIT to a Go guest in a branch:
// the Go runtime prints every goroutine's stack, as on Linux, and exits 2.
func TestSignalQuitPrintsGoroutines(t *testing.T) {
	requireKVM(t)
	c, p, stderr := sleeperCluster(t, 3)
	if _, err := c.Run(context.Background(), 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	p.Signal(abi.SIGQUIT)
	if _, err := c.RunUntil(context.Background(), c.Now()+5*time.Second, p.Exited); err != nil {
		t.Fatal(err)
	}
	out := stderr.String()
	if !p.Exited() || !strings.Contains(out, "SIGQUIT") || !strings.Contains(out, "[sleep]") || !strings.Contains(out, "main.main") {
		t.Errorf("exited %v (code %d); stderr:\n%s", p.Exited(), p.Summary().ExitCode, out)
	}
}

// TestRedrawBranches redraws a run's future at a moment: the same branch
// seed gives the same trace hash, another seed another, and both differ
// from the run without a branch.
func TestRedrawBranches(t *testing.T) {
	requireKVM(t)
	run := func(branch uint64) uint64 {
		c, n := oneNode(t, 5)
		if _, err := n.Start(hv.ProcessConfig{Binary: guest(t, "goroutines")}); err != nil {
			t.Fatal(err)
		}
		if branch != 0 {
			c.At(time.Millisecond, func() { c.Redraw(branch) })
		}
		if _, err := c.Run(context.Background(), time.Minute); err != nil {
			t.Fatal(err)
		}
		return c.TraceHash()
	}
	plain, b1, b1again, b2 := run(0), run(1), run(1), run(2)
	if b1 != b1again {
		t.Errorf("branch 1 twice: %016x, %016x", b1, b1again)
	}
	if b1 == b2 || b1 == plain || b2 == plain {
		t.Errorf("plain %016x, branch 1 %016x, branch 2 %016x: want three different runs", plain, b1, b2)
	}
}

// TestRedrawDraws checks what a branch redraws in the mvrun SDK's
// random.GetRandom, which under hv is a getrandom(2) call: a process
// started before the branch draws the same values up to its moment and
// others after it, a process started after the branch draws others from
// its first value, and the same branch seed gives the same draws and
// trace hash twice.
func TestRedrawDraws(t *testing.T) {
	requireKVM(t)
	type result struct {
		before, after []string
		hash          uint64
	}
	run := func(branch uint64) result {
		c, n := oneNode(t, 5)
		var before, after bytes.Buffer
		// MVRUN_SEED as the runner sets it: under hv the SDK draws from
		// getrandom(2) all the same.
		env := []string{"MVRUN_SEED=0x10"}
		if _, err := n.Start(hv.ProcessConfig{Binary: guest(t, "draws"), Env: env, Stdout: &before}); err != nil {
			t.Fatal(err)
		}
		if branch != 0 {
			c.At(10*time.Millisecond, func() { c.Redraw(branch) })
		}
		c.At(10*time.Millisecond+time.Microsecond, func() {
			if _, err := n.Start(hv.ProcessConfig{Binary: guest(t, "draws"), Env: env, Stdout: &after}); err != nil {
				t.Error(err)
			}
		})
		if _, err := c.Run(context.Background(), time.Minute); err != nil {
			t.Fatal(err)
		}
		return result{strings.Fields(before.String()), strings.Fields(after.String()), c.TraceHash()}
	}
	plain, b1, b1again := run(0), run(1), run(1)
	for _, r := range []result{plain, b1, b1again} {
		if len(r.before) != 3 || len(r.after) != 3 {
			t.Fatalf("draws: %q and %q, want three values each", r.before, r.after)
		}
	}
	if !slices.Equal(b1.before, b1again.before) || !slices.Equal(b1.after, b1again.after) || b1.hash != b1again.hash {
		t.Errorf("branch 1 twice: %v %v %016x, then %v %v %016x", b1.before, b1.after, b1.hash, b1again.before, b1again.after, b1again.hash)
	}
	if plain.before[0] != b1.before[0] {
		t.Errorf("the draw before the branch: %s without it, %s with it", plain.before[0], b1.before[0])
	}
	if plain.before[1] == b1.before[1] || plain.before[2] == b1.before[2] {
		t.Errorf("a live process's draws after the branch: %v without it, %v with it; want the last two to differ", plain.before, b1.before)
	}
	if plain.after[0] == b1.after[0] {
		t.Errorf("a process started after the branch drew %s in both runs", b1.after[0])
	}
}
