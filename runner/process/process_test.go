package process

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/runner/backendtest"
)

// childRunnerEnv makes the test binary act as a runner that boots a cluster
// and waits to be killed (see TestSweepAfterRunnerKilled).
const childRunnerEnv = "MVRUN_PROCESS_TEST_CHILD_RUNNER"

func TestMain(m *testing.M) {
	MaybeRunShim()
	if dir := os.Getenv(childRunnerEnv); dir != "" {
		childRunner(dir)
		return
	}
	os.Exit(m.Run())
}

func needRoot(t testing.TB) {
	t.Helper()
	if err := New(Options{}).Available(context.Background()); err != nil {
		t.Skipf("skipping: %v", err)
	}
}

func TestConformance(t *testing.T) {
	b := New(Options{})
	backendtest.Run(t, b, backendtest.Options{
		Clean: func(ctx context.Context) error { return Leftovers(b.RunID()) },
	})
}

func TestNodeIdentity(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	before, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	h := backendtest.Boot(t, ctx, New(Options{}), backendtest.NewTest([]string{"solo"}))
	if _, out, _ := h.Exec(t, "solo", "hostname", nil, "hostname"); out != "solo\n" {
		t.Errorf("hostname in node: %q, want %q", out, "solo\n")
	}
	if _, out, _ := h.Exec(t, "solo", "resolve", nil, "resolve", "localhost"); !strings.Contains(out, "127.0.0.1") {
		t.Errorf("localhost resolves to %q in the node", out)
	}
	if _, out, _ := h.Exec(t, "solo", "env", nil, "env", "MVRUN_SEED"); !strings.HasPrefix(out, "0x") {
		t.Errorf("MVRUN_SEED is not set in execs")
	}
	after, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(before) {
		t.Errorf("the host's /etc/hosts changed while a node ran: the bind mount leaked out of the node's mount namespace")
	}
	if host, _ := os.Hostname(); host == "solo" {
		t.Errorf("the host's hostname became the node's")
	}
}

func uptime(t *testing.T, h *backendtest.Harness) float64 {
	t.Helper()
	var out strings.Builder
	res, err := h.Cluster.Exec(h.Ctx, backend.ExecRequest{Service: "solo", Name: "uptime", Argv: []string{"cat", "/proc/uptime"}, Stdout: &out})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("cat /proc/uptime: %v %+v", err, res)
	}
	f := strings.Fields(out.String())
	if len(f) == 0 {
		t.Fatalf("cat /proc/uptime printed %q", out.String())
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestClockOffsetAppliesAtRestart(t *testing.T) {
	needRoot(t)
	if _, err := os.Stat("/proc/self/timens_offsets"); err != nil {
		t.Skipf("skipping: no time namespaces on this kernel: %v", err)
	}
	ctx := context.Background()
	h := backendtest.Boot(t, ctx, New(Options{}), backendtest.NewTest([]string{"solo"}))
	u0 := uptime(t, h)
	err := h.Cluster.Apply(ctx, faults.Action{Kind: faults.ActClockSkew, Nodes: []string{"solo"}, Offset: time.Hour})
	if !errors.Is(err, backend.ErrUnsupported) || !strings.Contains(err.Error(), "next (re)start") {
		t.Fatalf("Apply(clock_skew) = %v, want an ErrUnsupported error that says it applies at restart", err)
	}
	if u := uptime(t, h); u > u0+1800 {
		t.Errorf("uptime jumped from %.0f to %.0f before the node restarted", u0, u)
	}
	for _, k := range []faults.ActionKind{faults.ActKill, faults.ActRestart} {
		if err := h.Cluster.Apply(ctx, faults.Action{Kind: k, Nodes: []string{"solo"}}); err != nil {
			t.Fatal(err)
		}
	}
	if u := uptime(t, h); u < u0+3600 || u > u0+3600+600 {
		t.Errorf("uptime after restart with a 1h offset: %.0f, want about %.0f", u, u0+3600)
	}
	if !h.Reachable(t, "tcp", "solo", "solo", 30*time.Second) {
		t.Errorf("node does not serve after restarting in a time namespace")
	}
	// The service process itself, not only execs, runs with the offset.
	out, err := os.ReadFile(filepath.Join(h.Dir, "nodes", "solo.stdout"))
	if err != nil {
		t.Fatal(err)
	}
	var ups []float64
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) == 6 && f[0] == "serving" {
			v, err := strconv.ParseFloat(f[5], 64)
			if err != nil {
				t.Fatalf("node stdout line %q: %v", l, err)
			}
			ups = append(ups, v)
		}
	}
	if len(ups) != 2 || ups[0] > u0+1800 || ups[1] < u0+3600 {
		t.Errorf("service process uptimes at its two starts: %v, want about %.0f then %.0f", ups, u0, u0+3600)
	}
}

func TestShimNotWired(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	b := New(Options{Shim: "/bin/true"})
	test := backendtest.NewTest([]string{"solo"})
	if err := b.Prepare(ctx, test, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	c, err := b.NewCluster(ctx, backend.ClusterConfig{Test: test, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	err = c.Start(ctx, "solo")
	if err == nil || !strings.Contains(err.Error(), "MaybeRunShim") {
		t.Errorf("Start with a binary that is not the shim: %v, want an error that mentions MaybeRunShim", err)
	}
}

// childRunner boots one node whose service leaves a child process that
// has no parent-death signal, prints READY and its run id, and waits to be
// killed.
func childRunner(workDir string) {
	ctx := context.Background()
	b := New(Options{})
	test := backendtest.NewTest([]string{"solo"}, "-spawn")
	test.Faults.Disk = &faults.DiskConfig{} // a disk fault mount for Sweep to find
	fail := func(err error) {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	if err := b.Prepare(ctx, test, filepath.Join(workDir, "work")); err != nil {
		fail(err)
	}
	c, err := b.NewCluster(ctx, backend.ClusterConfig{Test: test, Dir: filepath.Join(workDir, "seed")})
	if err != nil {
		fail(err)
	}
	if err := c.Start(ctx, "solo"); err != nil {
		fail(err)
	}
	for {
		out, _ := os.ReadFile(filepath.Join(workDir, "seed", "nodes", "solo.stdout"))
		if strings.Contains(string(out), "serving") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Println("READY", b.RunID())
	select {}
}

func TestSweepAfterRunnerKilled(t *testing.T) {
	needRoot(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childRunnerEnv+"="+t.TempDir())
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var runID string
	select {
	case l := <-lines:
		id, ok := strings.CutPrefix(l, "READY ")
		if !ok {
			t.Fatalf("child runner: %q", l)
		}
		runID = id
	case <-time.After(2 * time.Minute):
		t.Fatalf("child runner did not get ready")
	}
	if err := Leftovers(runID); err == nil {
		t.Fatalf("the child runner's cluster is not visible to the leftover check; the test would prove nothing")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	killed = true
	// The service process dies with its runner (parent-death signal); its
	// own child and the network namespaces do not.
	time.Sleep(200 * time.Millisecond)
	if err := Leftovers(runID); err == nil || !strings.Contains(err.Error(), "process") {
		t.Logf("after SIGKILL of the runner: %v", err)
		t.Fatalf("nothing of the killed run is left for Sweep to remove; the test would prove nothing")
	}
	if err := New(Options{}).Sweep(context.Background()); err != nil {
		t.Errorf("Sweep: %v", err)
	}
	var left error
	for i := 0; i < 50; i++ {
		if left = Leftovers(runID); left == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if left != nil {
		t.Errorf("after Sweep, the killed run left: %v", left)
	}
}

func TestConcurrentClusters(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	b := New(Options{})
	test := backendtest.NewTest([]string{"alpha", "beta"})
	if err := b.Prepare(ctx, test, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	var hs []*backendtest.Harness
	for i := 0; i < 2; i++ {
		rec := &backendtest.Recorder{}
		c, err := b.NewCluster(ctx, backend.ClusterConfig{Test: test, Seed: uint64(i), Index: i, Dir: t.TempDir(), Events: rec.Record})
		if err != nil {
			t.Fatalf("cluster %d: %v", i, err)
		}
		defer c.Close(ctx)
		for _, s := range []string{"alpha", "beta"} {
			if err := c.Start(ctx, s); err != nil {
				t.Fatalf("cluster %d: %v", i, err)
			}
		}
		hs = append(hs, &backendtest.Harness{Backend: b, Ctx: ctx, Cluster: c, Events: rec, Services: []string{"alpha", "beta"}})
	}
	// A partition in one cluster does not touch the other.
	if err := hs[0].Cluster.Apply(ctx, faults.Action{Kind: faults.ActPartition, Partition: &faults.Partition{
		Kind: faults.PartitionIsolate, Groups: [][]string{{"alpha"}, {"beta"}}}}); err != nil {
		t.Fatal(err)
	}
	if !hs[1].Reachable(t, "tcp", "alpha", "beta", 30*time.Second) {
		t.Errorf("cluster 1 is cut by cluster 0's partition")
	}
	if got, _ := hs[0].Dial(t, "tcp", "alpha", "beta", "x"); got != "" {
		t.Errorf("cluster 0's partition does not hold: %q", got)
	}
	if err := hs[0].Cluster.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if !hs[1].Reachable(t, "tcp", "beta", "alpha", 30*time.Second) {
		t.Errorf("closing cluster 0 broke cluster 1")
	}
	if err := hs[1].Cluster.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := Leftovers(b.RunID()); err != nil {
		t.Errorf("left behind: %v", err)
	}
}

func TestStartErrors(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	dir := t.TempDir()
	script := filepath.Join(dir, "svc")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	test := backendtest.NewTest([]string{"solo"})
	test.Project.Services[0].Build = nil
	test.Project.Services[0].Binary = script
	b := New(Options{})
	if err := b.Prepare(ctx, test, t.TempDir()); err != nil {
		t.Fatal(err)
	}

	t.Run("program gone after Prepare", func(t *testing.T) {
		c, err := b.NewCluster(ctx, backend.ClusterConfig{Test: test, Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		os.Rename(script, script+".moved")
		defer os.Rename(script+".moved", script)
		err = c.Start(ctx, "solo")
		if err == nil || !strings.Contains(err.Error(), `service "solo"`) || !strings.Contains(err.Error(), "no such file") {
			t.Errorf("Start of a missing program: %v, want an error naming the service and the missing file", err)
		}
	})
	t.Run("unknown service", func(t *testing.T) {
		c, err := b.NewCluster(ctx, backend.ClusterConfig{Test: test, Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		if err := c.Start(ctx, "nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
			t.Errorf("Start of an unknown service: %v", err)
		}
		if err := c.Start(ctx, "solo"); err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx, "solo"); err == nil || !strings.Contains(err.Error(), "already running") {
			t.Errorf("second Start: %v, want an already-running error", err)
		}
	})
	t.Run("NewCluster fails cleanly", func(t *testing.T) {
		other := backendtest.NewTest([]string{"solo", "unprepared"})
		other.Project.Services[0] = test.Project.Services[0]
		_, err := b.NewCluster(ctx, backend.ClusterConfig{Test: other, Dir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), `"unprepared"`) {
			t.Fatalf("NewCluster with an unprepared service: %v", err)
		}
		if err := Leftovers(b.RunID()); err != nil {
			t.Errorf("failed NewCluster left behind: %v", err)
		}
	})
	if err := Leftovers(b.RunID()); err != nil {
		t.Errorf("left behind: %v", err)
	}
}

// TestCloseRacesExec closes a cluster while commands are being started in
// it; every process must still be gone afterwards.
func TestCloseRacesExec(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	b := New(Options{})
	test := backendtest.NewTest([]string{"solo"})
	if err := b.Prepare(ctx, test, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	c, err := b.NewCluster(ctx, backend.ClusterConfig{Test: test, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx, "solo"); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	for i := 0; i < 4; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				_, err := c.Exec(ctx, backend.ExecRequest{Service: "solo", Name: "sleeper", Argv: []string{"/bin/solo", "sleep", "1h"}})
				if err != nil {
					return // closed
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if err := c.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
	for i := 0; i < 4; i++ {
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Fatalf("Exec calls still running a minute after Close")
		}
	}
	if err := Leftovers(b.RunID()); err != nil {
		t.Errorf("left behind: %v", err)
	}
}

// TestEscapedProcesses boots a service that leaves a daemon in a session of
// its own: a kill fault and Close must end it anyway.
func TestEscapedProcesses(t *testing.T) {
	t.Run("setsid", func(t *testing.T) { testEscaped(t, "-spawn") })
	// A daemon without the environment markers: only the node's cgroup
	// still holds it.
	t.Run("setsid-noenv", func(t *testing.T) {
		if root, why := cgroupRoot(); root == "" {
			t.Skipf("no cgroup v2 here: %s", why)
		}
		testEscaped(t, "-spawn-noenv")
	})
}

func testEscaped(t *testing.T, mode string) {
	needRoot(t)
	ctx := context.Background()
	b := New(Options{})
	h := backendtest.Boot(t, ctx, b, backendtest.NewTest([]string{"solo"}, mode))
	daemon := func() int {
		out, _ := os.ReadFile(filepath.Join(h.Dir, "nodes", "solo.stdout"))
		pid := 0
		for _, l := range strings.Split(string(out), "\n") {
			if p, ok := strings.CutPrefix(l, "child "); ok {
				pid, _ = strconv.Atoi(p)
			}
		}
		return pid
	}
	alive := func(pid int) bool {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		// A zombie is dead; only its parent has not reaped it yet.
		return err == nil && !strings.Contains(string(st), ") Z ")
	}
	waitDaemon := func() int {
		for i := 0; i < 100; i++ {
			if pid := daemon(); pid != 0 && alive(pid) {
				return pid
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("the service's daemon did not start")
		return 0
	}
	first := waitDaemon()
	for _, k := range []faults.ActionKind{faults.ActKill, faults.ActRestart} {
		if err := h.Cluster.Apply(ctx, faults.Action{Kind: k, Nodes: []string{"solo"}}); err != nil {
			t.Fatal(err)
		}
	}
	if alive(first) {
		t.Errorf("daemon %d of the killed node survived the kill", first)
	}
	var second int
	for i := 0; i < 100 && (second == 0 || second == first); i++ {
		second = waitDaemon()
		time.Sleep(20 * time.Millisecond)
	}
	if err := h.Cluster.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if alive(second) {
		t.Errorf("daemon %d survived Close", second)
	}
	if err := Leftovers(b.RunID()); err != nil {
		t.Errorf("left behind: %v", err)
	}
}
