package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mvrun/multiverse/runner"
)

// TestPartialRunVerdicts interrupts a run after some seeds: a Sometimes
// property no finished seed met is not decided, not failed, and the exit
// code says the run is incomplete (3), not that a property failed (1).
func TestPartialRunVerdicts(t *testing.T) {
	spec := specPath(t, "spec.hcl")
	e := useFake(t, &fakeBackend{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb bytes.Buffer
	done := make(chan int)
	go func() {
		done <- e.main(ctx, []string{"test", spec, "--test", "partial", "--jobs", "1"}, &out, &errb)
	}()
	// Cancel once the first seed is done, which the run directory shows.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m, _ := filepath.Glob(".mvrun/runs/*/seed-*/" + runner.TimelineFile); len(m) > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	var code int
	select {
	case code = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("mvrun test did not return after its context was cancelled")
	}
	if code != exitInfra {
		t.Errorf("exit %d, want %d (incomplete); stdout:\n%s", code, exitInfra, out.String())
	}
	if strings.Contains(out.String(), "\nFAIL") || !strings.Contains(out.String(), "Not decided (run interrupted") ||
		!strings.Contains(out.String(), "workload command broken exited 0 at least once") {
		t.Errorf("partial report:\n%s", out.String())
	}
}

// TestInterruptWhileLoading interrupts validate and test while the
// compose loader blocks reading an env file (a FIFO nobody writes): one
// interrupt must be enough.
func TestInterruptWhileLoading(t *testing.T) {
	src, err := os.ReadFile(specPath(t, "spec.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	compose, err := os.ReadFile(specPath(t, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	e := useFake(t, &fakeBackend{})
	dir := t.TempDir()
	spec := filepath.Join(dir, "spec.hcl")
	if err := errorsJoin(os.WriteFile(spec, src, 0o644), os.WriteFile(filepath.Join(dir, "compose.yaml"), compose, 0o644),
		syscall.Mkfifo(filepath.Join(dir, ".env"), 0o644)); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"validate", spec}, {"test", spec, "--test", "pass"}} {
		ctx, cancel := context.WithCancel(context.Background())
		var out, errb bytes.Buffer
		done := make(chan int)
		go func() { done <- e.main(ctx, args, &out, &errb) }()
		time.Sleep(300 * time.Millisecond)
		cancel()
		select {
		case code := <-done:
			if code != exitInfra || !strings.Contains(errb.String(), "interrupted") {
				t.Errorf("%s: exit %d, stderr %q", args[0], code, errb.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s did not return after one interrupt", args[0])
		}
	}
}

func errorsJoin(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// TestRunDirsUnique checks that runs started at the same moment get
// distinct directories.
func TestRunDirsUnique(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	seen := map[string]bool{}
	for range 20 {
		p, err := runner.NewOutDir(dir, "bank", now)
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("NewOutDir returned %s twice", p)
		}
		seen[p] = true
		if st, err := os.Stat(p); err != nil || !st.IsDir() {
			t.Fatalf("%s not created: %v", p, err)
		}
	}
}

// TestConcurrentRunsOneDirectory starts two runs together in one
// directory: each must keep its own artifacts and result.json.
func TestConcurrentRunsOneDirectory(t *testing.T) {
	spec := specPath(t, "spec.hcl")
	e := useFake(t, &fakeBackend{})
	codes := make(chan int, 2)
	for _, seed := range []string{"1", "2"} {
		go func() {
			code, _, _ := e.mvrun("test", spec, "--test", "pass", "--seeds", "1", "--seed", seed)
			codes <- code
		}()
	}
	for range 2 {
		if c := <-codes; c != exitOK {
			t.Fatalf("exit %d", c)
		}
	}
	results, _ := filepath.Glob(".mvrun/runs/*/result.json")
	if len(results) != 2 {
		t.Errorf("result files %v, want one per run", results)
	}
}

// TestReplayOtherSpec replays a seed with a spec that differs from the
// one of the recorded run but has the same test name: the replay must say
// so before any difference.
func TestReplayOtherSpec(t *testing.T) {
	spec := specPath(t, "spec.hcl")
	composeFile := specPath(t, "compose.yaml")
	e := useFake(t, &fakeBackend{})
	if code, _, stderr := e.mvrun("test", spec, "--test", "fail", "--seed", "0x5eed", "--seeds", "1"); code != exitFailed {
		t.Fatalf("test exit %d:\n%s", code, stderr)
	}
	// The same replay with the same spec: same spec.
	_, stdout, _ := e.mvrun("replay", spec, "--test", "fail", "--seed", "0x5eed")
	if !strings.Contains(stdout, "spec: same") {
		t.Errorf("replay with the same spec:\n%s", stdout)
	}
	other := t.TempDir()
	src, _ := os.ReadFile(spec)
	compose, _ := os.ReadFile(composeFile)
	changed := strings.Replace(string(src), `command = ["fail"]`, `command = ["ok"]`, 1)
	if err := errorsJoin(os.WriteFile(filepath.Join(other, "spec.hcl"), []byte(changed), 0o644),
		os.WriteFile(filepath.Join(other, "compose.yaml"), compose, 0o644)); err != nil {
		t.Fatal(err)
	}
	_, stdout, stderr := e.mvrun("replay", filepath.Join(other, "spec.hcl"), "--test", "fail", "--seed", "0x5eed")
	i, j := strings.Index(stdout, "spec: DIFFERENT"), strings.Index(stdout, "properties:")
	if i < 0 || j < 0 || i > j {
		t.Errorf("replay against another spec does not say so first:\n%s\n%s", stdout, stderr)
	}
}

// TestReportPathsCheckedFirst checks that an unwritable --html or --junit
// path is refused before the run, not after it.
func TestReportPathsCheckedFirst(t *testing.T) {
	spec := specPath(t, "spec.hcl")
	e := useFake(t, &fakeBackend{})
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"--html", "--junit"} {
		code, _, stderr := e.mvrun("test", spec, "--test", "fail", flag, filepath.Join(file, "sub", "x"))
		if code != exitUsage || !strings.Contains(stderr, flag) {
			t.Errorf("%s under a file: exit %d, stderr %q", flag, code, stderr)
		}
	}
	if runs, _ := filepath.Glob(".mvrun/runs/*"); len(runs) != 0 {
		t.Errorf("runs started despite a bad report path: %v", runs)
	}
}
