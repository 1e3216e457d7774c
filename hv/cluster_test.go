package hv_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/hv"
	"github.com/mvrun/multiverse/hv/sched"
)

// clusterRun is what one run of the scripted cluster left behind.
type clusterRun struct {
	hash   uint64
	out    map[string]string // process label → stdout
	exits  map[string]string // process label → "code/signal@time"
	files  map[string]string // node → contents of /log
	errs   []string
	exact  bool
	vtime  time.Duration
	starts int
}

// runScriptedCluster runs two nodes with several ticker processes and a
// script of host actions at fixed virtual times: a process started later,
// a node paused and resumed, a node killed and restarted, a clock offset.
func runScriptedCluster(t *testing.T, seed uint64) clusterRun {
	return runScriptedClusterObserved(t, seed, nil)
}

// runScriptedClusterObserved is runScriptedCluster with observe called on
// the cluster before it runs, to add observers.
func runScriptedClusterObserved(t *testing.T, seed uint64, observe func(*hv.Cluster)) clusterRun {
	t.Helper()
	bin := guest(t, "ticker")
	c, err := hv.NewCluster(hv.ClusterConfig{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a, err := c.AddNode(hv.NodeConfig{Name: "alpha"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.AddNode(hv.NodeConfig{Name: "beta", ClockOffset: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r := clusterRun{out: map[string]string{}, exits: map[string]string{}, files: map[string]string{}}
	bufs := map[string]*bytes.Buffer{}
	start := func(n *hv.Node, label string, count int, every time.Duration, extra ...string) {
		var buf bytes.Buffer
		bufs[label] = &buf
		file := "/log"
		if len(extra) > 0 {
			file = "/synced.log"
		}
		_, err := n.Start(hv.ProcessConfig{
			Binary: bin,
			Args:   append([]string{"ticker", label, strconv.Itoa(count), every.String(), file}, extra...),
			Stdout: &buf, Stderr: &buf,
			OnExit: func(p *hv.Process) {
				s := p.Summary()
				r.exits[label] = fmt.Sprintf("%d/%d@%v", s.ExitCode, s.Signal, p.Ended().Round(time.Millisecond))
				if s.Err != nil {
					r.errs = append(r.errs, fmt.Sprintf("%s: %v", label, s.Err))
				}
			},
		})
		if err != nil {
			r.errs = append(r.errs, fmt.Sprintf("start %s: %v", label, err))
		}
		r.starts++
	}
	start(a, "a1", 30, 10*time.Millisecond, "fsync")
	start(a, "a2", 30, 7*time.Millisecond)
	start(b, "b1", 40, 5*time.Millisecond)
	c.At(30*time.Millisecond, func() { start(a, "a3", 5, 3*time.Millisecond) })
	c.At(50*time.Millisecond, b.Pause)
	c.At(120*time.Millisecond, b.Resume)
	c.At(150*time.Millisecond, a.Kill)
	c.At(170*time.Millisecond, func() { start(a, "a4", 3, 10*time.Millisecond) })
	c.At(160*time.Millisecond, func() { b.SetClockOffset(2 * time.Hour) })
	if observe != nil {
		observe(c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	idle, err := c.Run(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !idle {
		t.Fatalf("cluster still busy at %v", c.Now())
	}
	for label, buf := range bufs {
		r.out[label] = buf.String()
	}
	for _, n := range c.Nodes() {
		for _, name := range []string{"/log", "/synced.log"} {
			if f, err := n.FS().Lookup(n.FS().Root(), name, true); err == nil {
				r.files[n.Name()+name] = string(f.Data)
			}
		}
	}
	r.hash, r.exact, r.vtime = c.TraceHash(), len(c.NotExact()) == 0, c.Now()
	return r
}

// TestClusterScript checks what the host actions do: pause, kill, restart,
// clock offsets, hostnames, and exit statuses.
func TestClusterScript(t *testing.T) {
	requireKVM(t)
	r := runScriptedCluster(t, 1)
	if len(r.errs) > 0 {
		t.Fatalf("errors: %v", r.errs)
	}
	if got, want := len(r.exits), r.starts; got != want {
		t.Fatalf("%d of %d processes reported an exit: %v", got, want, r.exits)
	}
	// a1 and a2 die with the node at 150ms; a3 finished before; a4 runs to
	// completion after the restart.
	for _, label := range []string{"a1", "a2"} {
		if want := "137/9@150ms"; r.exits[label] != want {
			t.Errorf("%s exit %q, want %q (killed with its node)", label, r.exits[label], want)
		}
	}
	for _, label := range []string{"a3", "a4", "b1"} {
		if !strings.HasPrefix(r.exits[label], "0/0@") {
			t.Errorf("%s exit %q, want a clean exit", label, r.exits[label])
		}
	}
	if n := strings.Count(r.out["a4"], "\n"); n != 3 {
		t.Errorf("a4 printed %d lines, want 3:\n%s", n, r.out["a4"])
	}
	// The node's file system outlives its processes, as a disk does: a1
	// fsynced its file and directory after every line, so all its lines
	// survive the kill; /log was never synced, so the kill took it, with
	// a2's and a3's lines, and a4 made it anew.
	// a1 prints a line after fsyncing it, so every line it printed is
	// durable, and at most one more (fsynced, the kill before the print).
	printed := strings.Count(r.out["a1"], "a1@alpha ")
	if printed < 12 {
		t.Errorf("a1 printed %d lines before the kill at 150ms, want at least 12 (one per 10ms):\n%s", printed, r.out["a1"])
	}
	if synced := r.files["alpha/synced.log"]; !strings.HasPrefix(synced, r.out["a1"]) || strings.Count(synced, "a1@alpha ") > printed+1 {
		t.Errorf("alpha's /synced.log after the kill:\n%s\nwant the %d lines a1 printed (and at most one more):\n%s", synced, printed, r.out["a1"])
	}
	if got := r.files["alpha/log"]; strings.Count(got, "a4@alpha ") != 3 || strings.Count(got, "\n") != 3 {
		t.Errorf("alpha's /log after the kill and restart:\n%s\nwant a4's 3 lines only", got)
	}
	if !strings.Contains(r.files["beta/log"], "b1@beta ") || strings.Contains(r.files["beta/log"], "@alpha") {
		t.Errorf("beta's /log:\n%s\nwant b1's lines only", r.files["beta/log"])
	}
	// beta was paused from 50ms to 120ms: b1, ticking every 5ms, shows a
	// gap of at least 70ms between two consecutive lines.
	re := regexp.MustCompile(`mono=(\d+) wall=(\d+)`)
	var prev, gap int64
	var walls []int64
	for _, m := range re.FindAllStringSubmatch(r.out["b1"], -1) {
		mono, _ := strconv.ParseInt(m[1], 10, 64)
		wall, _ := strconv.ParseInt(m[2], 10, 64)
		gap = max(gap, mono-prev)
		prev = mono
		walls = append(walls, wall)
	}
	if gap < 70_000 {
		t.Errorf("largest gap between b1's ticks %dµs, want ≥ 70ms (the pause)\n%s", gap, r.out["b1"])
	}
	// beta's wall clock runs an hour ahead of alpha's, then two.
	aw := re.FindStringSubmatch(r.out["a1"])
	if aw == nil || len(walls) == 0 {
		t.Fatalf("no ticks: a1 %q b1 %q", r.out["a1"], r.out["b1"])
	}
	alphaWall, _ := strconv.ParseInt(aw[2], 10, 64)
	if d := walls[0] - alphaWall; d < 3599 || d > 3601 {
		t.Errorf("beta's first wall time is %ds after alpha's, want an hour", d)
	}
	if d := walls[len(walls)-1] - alphaWall; d < 7199 || d > 7201 {
		t.Errorf("beta's last wall time is %ds after alpha's first, want two hours", d)
	}
	if !r.exact {
		t.Errorf("run not replay-exact")
	}
}

// TestClusterDeterminism runs the scripted cluster five times with one seed
// and compares everything: trace hash, every process's output and exit,
// every node's files. Another seed must interleave differently.
func TestClusterDeterminism(t *testing.T) {
	requireKVM(t)
	runs := 5
	if testing.Short() {
		runs = 3
	}
	first := runScriptedCluster(t, 7)
	for i := 1; i < runs; i++ {
		r := runScriptedCluster(t, 7)
		if r.hash != first.hash {
			t.Errorf("run %d: trace hash %016x, first run %016x", i, r.hash, first.hash)
		}
		for _, m := range []struct {
			what      string
			got, want map[string]string
		}{{"stdout", r.out, first.out}, {"exit", r.exits, first.exits}, {"file", r.files, first.files}} {
			for k, v := range m.want {
				if m.got[k] != v {
					t.Errorf("run %d: %s of %s differs:\n%s\nfirst run:\n%s", i, m.what, k, m.got[k], v)
				}
			}
		}
		if r.vtime != first.vtime {
			t.Errorf("run %d ended at %v, first at %v", i, r.vtime, first.vtime)
		}
	}
	other := runScriptedCluster(t, 8)
	if other.hash == first.hash {
		t.Errorf("seeds 7 and 8 gave the same trace hash %016x", first.hash)
	}
	if other.out["a2"] == first.out["a2"] && other.hash == first.hash {
		t.Errorf("seeds 7 and 8 ran identically")
	}
}

// TestClusterUnimplementedNamesNode checks that a guest calling something hv
// does not implement finishes and is reported with its node and binary.
func TestClusterUnimplementedNamesNode(t *testing.T) {
	requireKVM(t)
	c, err := hv.NewCluster(hv.ClusterConfig{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.AddNode(hv.NodeConfig{Name: "quiet"}); err != nil {
		t.Fatal(err)
	}
	n, err := c.AddNode(hv.NodeConfig{Name: "caller"})
	if err != nil {
		t.Fatal(err)
	}
	bin := guest(t, "enosys")
	p, err := n.Start(hv.ProcessConfig{Binary: bin})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if !p.Exited() {
		t.Fatal("guest did not finish")
	}
	got := c.Unimplemented()
	want := []hv.Unimplemented{{Node: "caller", Binary: bin, Name: "acct", Calls: 1}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Unimplemented() = %v, want %v", got, want)
	}
}

// TestClusterObserve checks that observers see the cluster at their moment
// and leave the run alone: the same trace hash and outputs as without them.
func TestClusterObserve(t *testing.T) {
	requireKVM(t)
	plain := runScriptedCluster(t, 4)
	var at100, at155 string
	var now100 time.Duration
	observed := runScriptedClusterObserved(t, 4, func(c *hv.Cluster) {
		read := func() string {
			fs := c.Node("alpha").FS()
			f, err := fs.Lookup(fs.Root(), "/synced.log", true)
			if err != nil {
				return ""
			}
			return string(f.Data)
		}
		c.Observe(100*time.Millisecond, func() { at100, now100 = read(), c.Now() })
		c.Observe(155*time.Millisecond, func() { at155 = read() })
	})
	if observed.hash != plain.hash {
		t.Errorf("observed run: trace hash %016x, unobserved %016x", observed.hash, plain.hash)
	}
	for k, v := range plain.out {
		if observed.out[k] != v {
			t.Errorf("observed run: output of %s differs", k)
		}
	}
	if now100 < 100*time.Millisecond || now100 > 101*time.Millisecond {
		t.Errorf("the observer for 100ms ran at %v", now100)
	}
	// a1 fsyncs a line every 10ms until the kill at 150ms: about 9 lines by
	// 100ms (its first tick is at 10ms plus start-up), and after the kill
	// what the run ends with.
	if n := strings.Count(at100, "\n"); n < 8 || n > 10 {
		t.Errorf("/synced.log at 100ms has %d lines, want about 9:\n%s", n, at100)
	}
	if want := plain.files["alpha/synced.log"]; at155 != want {
		t.Errorf("/synced.log at 155ms (after the kill):\n%s\nat the end of the run:\n%s", at155, want)
	}
}

// TestRunWithCallerClock checks that a run on a clock the caller supplies
// (to drive skew itself) still has its network: the world and the network
// are built on that clock, not replaced after the fact.
func TestRunWithCallerClock(t *testing.T) {
	requireKVM(t)
	bin := guest(t, "net")
	want := runHV(t, hv.Config{Binary: bin, Args: []string{bin, "echo"}, Seed: 1})
	clock := sched.NewClock(sched.DefaultEpoch)
	got := runHV(t, hv.Config{Binary: bin, Args: []string{bin, "echo"}, Seed: 1, Clock: clock})
	if got.stdout != want.stdout || got.code != want.code {
		t.Errorf("with the caller's clock: exit %d\n%s\nwithout: exit %d\n%s", got.code, got.stdout, want.code, want.stdout)
	}
	if clock.Now() == 0 {
		t.Errorf("the caller's clock did not move")
	}
}
