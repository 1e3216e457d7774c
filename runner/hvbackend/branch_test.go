package hvbackend

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/runner/backendtest"
)

// lookRun boots the two-node echo cluster with backend options opts,
// exchanges a message, sleeps 2s of cluster time and exchanges another;
// it returns the trace hash, the trace log and the error the sleep got
// (a branch at a moment ends the runner's part with errBranched).
func lookRun(t *testing.T, opts Options) (hash uint64, traceLog []string, sleepErr error) {
	t.Helper()
	test := backendtest.NewTest([]string{"alpha", "beta"})
	h := backendtest.Boot(t, context.Background(), New(opts), test)
	h.WaitServing(t, 60*time.Second)
	h.Dial(t, "tcp", "alpha", "beta", "before")
	sleepErr = h.Cluster.Sleep(context.Background(), 2*time.Second)
	if sleepErr == nil {
		h.Dial(t, "tcp", "alpha", "beta", "after")
	}
	c := h.Cluster.(*cluster)
	hash = c.TraceHash()
	if err := h.Cluster.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(h.Dir, TraceLog))
	if err != nil {
		t.Fatal(err)
	}
	return hash, strings.Split(strings.TrimSpace(string(b)), "\n"), sleepErr
}

// collect returns a Moment report function and what it collected.
func collect(t *testing.T) (func(string, bool), func() []string) {
	var mu sync.Mutex
	var lines []string
	return func(l string, failed bool) {
			mu.Lock()
			defer mu.Unlock()
			if failed {
				t.Errorf("look failed: %s", l)
			}
			lines = append(lines, l)
		}, func() []string {
			mu.Lock()
			defer mu.Unlock()
			return lines
		}
}

// TestDumpBranch dumps every process at a moment: the thread dump (an
// observer) and, in a branch, every Go process's goroutines as Go prints
// them on SIGQUIT. The replay up to the branch is the seed's: its trace
// log up to the branch mark is a prefix of the unbranched run's.
func TestDumpBranch(t *testing.T) {
	needKVM(t)
	_, plainLog, err := lookRun(t, Options{})
	if err != nil {
		t.Fatal(err)
	}
	report, lines := collect(t)
	m := &Moment{At: 1500 * time.Millisecond, Dump: true, OutDir: t.TempDir(), Report: report}
	_, log, err := lookRun(t, Options{Moment: m})
	if !ErrBranched(err) {
		t.Fatalf("the runner's sleep past the moment returned %v, want the branch error", err)
	}
	mark := -1
	for i, l := range log {
		if strings.Contains(l, " branch ") {
			mark = i
			break
		}
	}
	if mark < 1 || len(plainLog) < mark {
		t.Fatalf("no branch mark in the replay's trace log (%d lines)", len(log))
	}
	for i := range mark {
		if log[i] != plainLog[i] {
			t.Fatalf("trace log line %d before the branch: %q, unbranched run %q", i, log[i], plainLog[i])
		}
	}
	got := strings.Join(lines(), "\n")
	for _, want := range []string{"threads of 2 processes", "node alpha pid", "goroutines of 2 Go processes", "SIGQUIT", "main.main"} {
		if !strings.Contains(got, want) {
			t.Errorf("dump lacks %q:\n%s", want, got)
		}
	}
}

// TestExecBranch runs a command in a node at a moment: it talks to the
// other node as it is then, and its output is reported.
func TestExecBranch(t *testing.T) {
	needKVM(t)
	report, lines := collect(t)
	m := &Moment{At: 1500 * time.Millisecond, OutDir: t.TempDir(), Report: report,
		Exec: &ExecLook{Service: "alpha", Argv: []string{"/bin/alpha", "dial", "beta:7000", "from-a-branch"}}}
	if _, _, err := lookRun(t, Options{Moment: m}); !ErrBranched(err) {
		t.Fatalf("sleep past the moment: %v, want the branch error", err)
	}
	got := strings.Join(lines(), "\n")
	if !strings.Contains(got, "exit 0") || !strings.Contains(got, "beta:from-a-branch") {
		t.Errorf("exec report:\n%s", got)
	}
}

// TestStraceWindow traces a node's system calls in a window after the
// fact: the calls are listed and the run keeps the seed's trace hash.
func TestStraceWindow(t *testing.T) {
	needKVM(t)
	plain, _, _ := lookRun(t, Options{})
	report, lines := collect(t)
	dir := t.TempDir()
	m := &Moment{At: 1500 * time.Millisecond, OutDir: dir, Report: report,
		Strace: &StraceLook{Service: "beta", From: 0, To: 1500 * time.Millisecond}}
	hash, _, err := lookRun(t, Options{Moment: m})
	if err != nil {
		t.Fatal(err)
	}
	if hash != plain {
		t.Errorf("traced run: trace hash %016x, untraced %016x", hash, plain)
	}
	got := strings.Join(lines(), "\n")
	b, err := os.ReadFile(filepath.Join(dir, "0x0000000000005eed", "strace-beta.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "strace beta 0s..1.5s") || !strings.Contains(string(b), "accept") || !strings.Contains(string(b), `"before\n"`) {
		t.Errorf("report:\n%s\nfile:\n%s", got, b)
	}
}

// TestBranchRedraw runs branches of a seed: a branch is reproducible (the
// same id, the same trace hash), and two branches differ from each other
// and from the seed itself.
func TestBranchRedraw(t *testing.T) {
	needKVM(t)
	plain, plainLog, _ := lookRun(t, Options{})
	b1, log1, _ := lookRun(t, Options{Branch: &Branch{At: time.Second, N: 1}})
	b1again, _, _ := lookRun(t, Options{Branch: &Branch{At: time.Second, N: 1}})
	b2, _, _ := lookRun(t, Options{Branch: &Branch{At: time.Second, N: 2}})
	if b1 != b1again {
		t.Errorf("branch 1 twice: %016x, %016x", b1, b1again)
	}
	if b1 == b2 || b1 == plain || b2 == plain {
		t.Errorf("seed %016x, branch 1 %016x, branch 2 %016x: want three different runs", plain, b1, b2)
	}
	// The past is the seed's: the trace logs agree up to the moment.
	for i, l := range log1 {
		var ns int64
		if _, err := fmtSscan(l, &ns); err != nil || time.Duration(ns) >= time.Second {
			break
		}
		if i >= len(plainLog) || plainLog[i] != l {
			t.Fatalf("branch trace log line %d before the moment: %q, seed's %q", i, l, plainLog[i])
		}
	}
}

func fmtSscan(l string, ns *int64) (int, error) { return fmt.Sscan(strings.Fields(l)[0], ns) }

// TestBranchID round-trips branch ids and refuses malformed ones.
func TestBranchID(t *testing.T) {
	b := Branch{At: 12500 * time.Millisecond, N: 3}
	id := b.ID(0x5eed)
	seed, got, ok, err := ParseBranchID(id)
	if id != "0x0000000000005eed@12.5s/3" || !ok || err != nil || seed != 0x5eed || got.ID(seed) != id {
		t.Errorf("%q parsed as %#x %+v %v %v", id, seed, got, ok, err)
	}
	// A path of branches, with kinds, as mvrun test --explore writes them.
	deep := b.Child(Branch{At: 13 * time.Second, N: 0, Kinds: []string{"kill", "pause"}})
	id = deep.ID(0x5eed)
	seed, got, ok, err = ParseBranchID(id)
	if id != "0x0000000000005eed@12.5s/3@13s/0:kill+pause" || !ok || err != nil || got.ID(seed) != id || got.Depth() != 2 || got.Last().Kinds[1] != "pause" {
		t.Errorf("%q parsed as %#x %+v %v %v", id, seed, got, ok, err)
	}
	if _, _, ok, err := ParseBranchID("0x5eed"); ok || err != nil {
		t.Errorf("a plain seed: ok %v, %v", ok, err)
	}
	for _, bad := range []string{"0x5eed@12s", "0x5eed@2s/1@1s/0", "0x5eed@x/1", "0x5eed@1s/-2", "zz@1s/1"} {
		if _, _, _, err := ParseBranchID(bad); err == nil {
			t.Errorf("ParseBranchID(%q) accepted", bad)
		}
	}
}

// TestReplan keeps a plan's actions before the branch's moment and takes
// the rest from the branch's own draw, the same for the same branch.
func TestReplan(t *testing.T) {
	test := backendtest.NewTest([]string{"alpha", "beta", "gamma"})
	test.Duration = 20 * time.Second
	test.Faults.Kill = &faults.KillConfig{Services: []string{"alpha", "beta", "gamma"}, Every: 2 * time.Second, RestartAfter: faults.Range{Min: time.Second, Max: time.Second}}
	plan := faults.Schedule(1, test.Faults, test.Project.ServiceNames(), test.Duration)
	if len(plan.Actions) < 4 {
		t.Fatalf("plan has %d actions", len(plan.Actions))
	}
	mk := func(n int) faults.Plan {
		c := &cluster{cfg: backend.ClusterConfig{Test: test, Seed: 1}, branch: &Branch{At: 11 * time.Second, N: n}}
		return c.Replan(plan, time.Second)
	}
	a, again, other := mk(0), mk(0), mk(1)
	for _, x := range a.Actions {
		if x.At < 10*time.Second && !slices.ContainsFunc(plan.Actions, func(y faults.Action) bool { return y.String() == x.String() && y.At == x.At }) {
			t.Errorf("action %v before the moment is not the seed's", x)
		}
	}
	if fmt.Sprint(a.Actions) != fmt.Sprint(again.Actions) {
		t.Errorf("the same branch replanned differently")
	}
	if fmt.Sprint(a.Actions) == fmt.Sprint(other.Actions) || fmt.Sprint(a.Actions) == fmt.Sprint(plan.Actions) {
		t.Errorf("branches 0 and 1 and the seed should have different futures")
	}
	if a.Params["kill"] != plan.Params["kill"] || a.Params["branch@11s.kill"] != "on" {
		t.Errorf("the branch's plan should keep the seed's parameters and add its own draw's: %v", a.Params)
	}
	// An arm aimed at a node: the branch's first new fault kills it, and
	// its parameters name the arm.
	c := &cluster{cfg: backend.ClusterConfig{Test: test, Seed: 1}, branch: &Branch{At: 11 * time.Second, N: 0, Kinds: []string{"kill=beta"}}}
	aimed := c.Replan(plan, time.Second)
	var first *faults.Action
	for i, x := range aimed.Actions {
		if x.At >= 10*time.Second && x.Kind != faults.ActRestart && x.Kind != faults.ActHeal && x.Kind != faults.ActResume && first == nil {
			first = &aimed.Actions[i]
		}
	}
	if first == nil || first.Kind != faults.ActKill || !slices.Equal(first.Nodes, []string{"beta"}) || aimed.Params["branch@11s.arm"] != "kill=beta" {
		t.Errorf("arm kill=beta: first new fault %v, parameters %v", first, aimed.Params)
	}
}
