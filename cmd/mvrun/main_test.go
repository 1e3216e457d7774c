package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mvrun/multiverse/assertions"
	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/runner/report"
	"github.com/mvrun/multiverse/specs"
)

// fakeBackend runs every node and command in memory: command "ok" exits 0,
// "fail" exits 1; nodes just run.
type fakeBackend struct {
	unavailable error
	prepareErr  error
	closes      atomic.Int32 // calls of Close
}

func (b *fakeBackend) Name() string                                       { return "fake" }
func (b *fakeBackend) Available(context.Context) error                    { return b.unavailable }
func (b *fakeBackend) Supports(faults.ActionKind) error                   { return nil }
func (b *fakeBackend) Sweep(context.Context) error                        { return nil }
func (b *fakeBackend) Prepare(context.Context, *specs.Test, string) error { return b.prepareErr }
func (b *fakeBackend) Close(context.Context) error                        { b.closes.Add(1); return nil }
func (b *fakeBackend) NewCluster(_ context.Context, cfg backend.ClusterConfig) (backend.Cluster, error) {
	return &fakeCluster{cfg: cfg, start: time.Now()}, nil
}

type fakeCluster struct {
	cfg   backend.ClusterConfig
	start time.Time
}

func (c *fakeCluster) Start(_ context.Context, service string) error {
	c.cfg.Events(backend.Event{At: c.Now(), Kind: backend.EventNodeStart, Node: service})
	return nil
}

func (c *fakeCluster) Exec(_ context.Context, req backend.ExecRequest) (backend.ExecResult, error) {
	switch req.Argv[0] {
	case "ok":
		return backend.ExecResult{}, nil
	case "fail":
		return backend.ExecResult{ExitCode: 1}, nil
	case "rare":
		if mix(c.cfg.Seed)>>62 == 0 {
			return backend.ExecResult{}, nil
		}
		return backend.ExecResult{ExitCode: 1}, nil
	case "history":
		read := `"1"`
		if mix(c.cfg.Seed)>>63 == 0 {
			read = `null` // a stale read: not linearizable
		}
		for i, l := range []string{
			`{"mvrun_history":{"history":"register","process":"w","op":0,"type":"invoke","f":"write","key":"x","value":"1","time":10}}`,
			`{"mvrun_history":{"history":"register","process":"w","op":0,"type":"ok","f":"write","key":"x","time":20}}`,
			`{"mvrun_history":{"history":"register","process":"r","op":0,"type":"invoke","f":"read","key":"x","time":30}}`,
			`{"mvrun_history":{"history":"register","process":"r","op":0,"type":"ok","f":"read","key":"x","value":` + read + `,"time":40}}`,
		} {
			c.cfg.Events(backend.Event{At: c.Now(), Kind: backend.EventSDK, Node: req.Service, Proc: req.Name, LineNo: i + 1, Line: []byte(l)})
		}
		return backend.ExecResult{}, nil
	case "badhistory":
		c.cfg.Events(backend.Event{At: c.Now(), Kind: backend.EventSDK, Node: req.Service, Proc: req.Name, LineNo: 1,
			Line: []byte(`{"mvrun_history":{"history":"register","process":"w","op":0,`)})
		return backend.ExecResult{}, nil
	}
	return backend.ExecResult{}, fmt.Errorf("unknown script %q", req.Argv[0])
}

// mix spreads a seed's bits so that its top bits pick outcomes evenly.
func mix(seed uint64) uint64 { return seed * 0x9E3779B97F4A7C15 }

func (c *fakeCluster) Apply(context.Context, faults.Action) error { return nil }
func (c *fakeCluster) Now() time.Duration                         { return time.Since(c.start) }
func (c *fakeCluster) Sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (c *fakeCluster) Close(context.Context) error { return nil }

// useFake returns an env in which every backend name resolves to b, and
// runs the test in a temporary working directory so .mvrun/runs stays
// there.
func useFake(t *testing.T, b *fakeBackend) env {
	t.Helper()
	t.Chdir(t.TempDir())
	return env{backends: func(name string, _ *slog.Logger) (backend.Backend, error) {
		if name == "hv" || name == "docker" {
			return nil, errors.New("not in this build")
		}
		return b, nil
	}}
}

func specPath(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// mvrun runs mvrun with args in the default env (real backends).
func mvrun(args ...string) (code int, stdout, stderr string) {
	return env{}.mvrun(args...)
}

// mvrun runs mvrun with args in e.
func (e env) mvrun(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = e.main(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestExitCodes(t *testing.T) {
	spec := specPath(t, "spec.hcl")
	bad := specPath(t, "bad.hcl")
	tests := []struct {
		name    string
		backend *fakeBackend
		args    []string
		code    int
		stderr  string // substring of stderr
	}{
		{"no command", &fakeBackend{}, nil, exitUsage, "usage: mvrun"},
		{"unknown command", &fakeBackend{}, []string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{"version", &fakeBackend{}, []string{"version"}, exitOK, ""},
		{"help", &fakeBackend{}, []string{"test", "-h"}, exitOK, "usage: mvrun test"},
		{"pass", &fakeBackend{}, []string{"test", spec, "--test", "pass", "--seeds", "2"}, exitOK, "2 seeds from base seed"},
		{"flags before spec", &fakeBackend{}, []string{"test", "--test=pass", "--seed", "0x5eed", spec}, exitOK, "0x0000000000005eed"},
		{"fail", &fakeBackend{}, []string{"test", spec, "--test", "fail"}, exitFailed, ""},
		{"missing spec", &fakeBackend{}, []string{"test"}, exitUsage, "want exactly one spec file"},
		{"two specs", &fakeBackend{}, []string{"test", spec, spec}, exitUsage, "want exactly one spec file"},
		{"unknown flag", &fakeBackend{}, []string{"test", spec, "--frob"}, exitUsage, "flag provided but not defined"},
		{"bad seed", &fakeBackend{}, []string{"test", spec, "--seed", "banana"}, exitUsage, "--seed"},
		{"bad seeds", &fakeBackend{}, []string{"test", spec, "--test", "pass", "--seeds", "-1"}, exitUsage, "must not be negative"},
		{"bad backend", &fakeBackend{}, []string{"test", spec, "--backend", "vmware"}, exitUsage, "want one of auto, hv, process, docker"},
		{"which test", &fakeBackend{}, []string{"test", spec}, exitUsage, "--test NAME"},
		{"no such test", &fakeBackend{}, []string{"test", spec, "--test", "nope"}, exitUsage, `no test "nope"`},
		{"spec error", &fakeBackend{}, []string{"test", bad}, exitUsage, "bad.hcl line 3"},
		{"missing file", &fakeBackend{}, []string{"test", "/nonexistent/spec.hcl"}, exitUsage, "nonexistent"},
		{"backend unavailable", &fakeBackend{unavailable: errors.New("needs root")}, []string{"test", spec, "--test", "pass"}, exitInfra, "needs root"},
		{"backend not built", &fakeBackend{}, []string{"test", spec, "--test", "pass", "--backend", "docker"}, exitInfra, "not in this build"},
		{"prepare fails", &fakeBackend{prepareErr: errors.New("go build failed")}, []string{"test", spec, "--test", "pass"}, exitInfra, "go build failed"},
		{"replay without seed", &fakeBackend{}, []string{"replay", spec, "--test", "pass"}, exitUsage, "--seed is required"},
		{"moment not on hv", &fakeBackend{}, []string{"replay", spec, "--test", "pass", "--seed", "1", "--at", "1s"}, exitUsage, "only the hv backend replays exactly"},
		{"validate ok", &fakeBackend{}, []string{"validate", spec}, exitOK, ""},
		{"validate bad", &fakeBackend{}, []string{"validate", bad}, exitUsage, "bad.hcl"},
		{"validate no args", &fakeBackend{}, []string{"validate"}, exitUsage, "want exactly one spec file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := useFake(t, tc.backend)
			code, _, stderr := e.mvrun(tc.args...)
			if code != tc.code {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Fatalf("stderr does not contain %q:\n%s", tc.stderr, stderr)
			}
		})
	}
}

// TestBackendClosed checks that mvrun test closes the backend it ran on
// once, whether the run passed, failed or could not prepare.
func TestBackendClosed(t *testing.T) {
	spec := specPath(t, "spec.hcl")
	for _, tc := range []struct {
		name string
		b    *fakeBackend
		test string
	}{
		{"pass", &fakeBackend{}, "pass"},
		{"fail", &fakeBackend{}, "fail"},
		{"prepare fails", &fakeBackend{prepareErr: errors.New("go build failed")}, "pass"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := useFake(t, tc.b)
			e.mvrun("test", spec, "--test", tc.test, "--seeds", "1")
			if n := tc.b.closes.Load(); n != 1 {
				t.Errorf("Backend.Close called %d times, want 1", n)
			}
		})
	}
}

func TestJSONAndJUnit(t *testing.T) {
	spec := specPath(t, "spec.hcl")
	e := useFake(t, &fakeBackend{})
	junit := filepath.Join(t.TempDir(), "out", "junit.xml")
	html := filepath.Join(t.TempDir(), "html")
	code, stdout, stderr := e.mvrun("test", spec, "--test", "fail", "--json", "--junit", junit, "--html", html, "--seed", "7")
	if code != exitFailed {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	var doc report.Document
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, stdout)
	}
	if doc.Test != "fail" || doc.SeedsRun != 2 || doc.BaseSeed != "0x0000000000000007" || doc.Passed {
		t.Errorf("doc: test %q seeds %d base %s passed %v", doc.Test, doc.SeedsRun, doc.BaseSeed, doc.Passed)
	}
	var failing *report.PropertyDoc
	for i, p := range doc.Properties {
		if p.Verdict == "fail" {
			failing = &doc.Properties[i]
		}
	}
	if failing == nil || failing.ID != "workload command broken exited 0 at least once" ||
		!strings.Contains(failing.Replay, "mvrun replay "+spec+" --seed 0x") || !strings.Contains(failing.Replay, "--test fail") {
		t.Fatalf("failing property = %+v", failing)
	}
	for _, f := range []string{junit, filepath.Join(html, "index.html"), filepath.Join(doc.Artifacts, report.ResultFile)} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("%v", err)
		}
	}
}

func TestReplayCompares(t *testing.T) {
	spec := specPath(t, "spec.hcl")
	e := useFake(t, &fakeBackend{})
	if code, _, stderr := e.mvrun("test", spec, "--test", "fail", "--seed", "0x5eed", "--seeds", "1"); code != exitFailed {
		t.Fatalf("test exit %d:\n%s", code, stderr)
	}
	code, stdout, stderr := e.mvrun("replay", spec, "--test", "fail", "--seed", "0x5eed")
	if code != exitFailed {
		t.Fatalf("replay exit %d:\n%s", code, stderr)
	}
	for _, want := range []string{"Compared with the run in", "properties: same failures", "fault log: identical"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("replay output lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, _ = e.mvrun("replay", spec, "--test", "fail", "--seed", "0x1234")
	if code != exitFailed || !strings.Contains(stdout, "No earlier run") {
		t.Errorf("replay of an unrecorded seed: exit %d\n%s", code, stdout)
	}
}

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		args []string
		pos  []string
		n    int
	}{
		{[]string{"a", "--n", "3"}, []string{"a"}, 3},
		{[]string{"--n", "3", "a", "b"}, []string{"a", "b"}, 3},
		{[]string{"a", "--", "--n"}, []string{"a", "--n"}, 0},
	}
	for _, tc := range tests {
		fs := newTestFlagSet()
		n := fs.Int("n", 0, "")
		pos, err := parseInterspersed(fs, tc.args)
		if err != nil || strings.Join(pos, " ") != strings.Join(tc.pos, " ") || *n != tc.n {
			t.Errorf("%q: pos %q n %d err %v; want %q %d", tc.args, pos, *n, err, tc.pos, tc.n)
		}
	}
}

func newTestFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func TestInterruptPrintsPartialReport(t *testing.T) {
	spec := specPath(t, "spec.hcl")
	e := useFake(t, &fakeBackend{})
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bytes.Buffer
	done := make(chan int)
	go func() { done <- e.main(ctx, []string{"test", spec, "--test", "long", "--jobs", "2"}, &out, &errb) }()
	time.Sleep(300 * time.Millisecond)
	cancel()
	select {
	case code := <-done:
		if code != exitInfra {
			t.Errorf("exit %d, want %d; stderr:\n%s", code, exitInfra, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("mvrun test did not return after its context was cancelled")
	}
	if !strings.Contains(out.String(), "INTERRUPTED: partial report of 0 of 4 seeds") {
		t.Errorf("no partial report on stdout:\n%s", out.String())
	}
}

// TestInvokedAs checks which program name replay commands use.
func TestInvokedAs(t *testing.T) {
	dir := t.TempDir()
	inPath := filepath.Join(dir, "path", "mvrun")
	other := filepath.Join(dir, "build", "mvrun")
	for _, p := range []string{inPath, other} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", filepath.Dir(inPath))
	tests := []struct{ arg0, want string }{
		{"mvrun", ""},                       // found through PATH
		{inPath, ""},                        // the mvrun PATH finds
		{other, other},                      // another build: call it by its path
		{filepath.Join(dir, "missing"), ""}, // cannot tell: the default
	}
	for _, tt := range tests {
		if got := invokedAs(tt.arg0); got != tt.want {
			t.Errorf("invokedAs(%q) = %q, want %q", tt.arg0, got, tt.want)
		}
	}
}

// sweepBackend records its Sweep calls.
type sweepBackend struct {
	fakeBackend
	name  string
	swept *[]string
}

func (b *sweepBackend) Name() string { return b.name }
func (b *sweepBackend) Sweep(context.Context) error {
	*b.swept = append(*b.swept, b.name)
	return nil
}

// TestSweepOthers checks that a run sweeps the leftovers of the other
// available backends, and not those of its own (the runner does that) or of
// unavailable ones.
func TestSweepOthers(t *testing.T) {
	t.Parallel() // the backend factory is an argument, not package state
	tests := []struct {
		used        string
		unavailable string
		want        []string
	}{
		{"process", "", []string{"docker"}},
		{"docker", "", []string{"process"}},
		{"process", "docker", nil},
		{"hv", "", []string{"process", "docker"}},
	}
	for _, tt := range tests {
		var swept []string
		newBackend := func(name string, _ *slog.Logger) (backend.Backend, error) {
			b := &sweepBackend{name: name, swept: &swept}
			if name == tt.unavailable {
				b.unavailable = errors.New("not here")
			}
			return b, nil
		}
		sweepOthers(context.Background(), newBackend, tt.used, slog.New(slog.DiscardHandler))
		if fmt.Sprint(swept) != fmt.Sprint(tt.want) {
			t.Errorf("used %s, %q unavailable: swept %q, want %q", tt.used, tt.unavailable, swept, tt.want)
		}
	}
}

// TestSplitFailing checks which of a replayed seed's failures count as
// differences from the earlier run.
func TestSplitFailing(t *testing.T) {
	t.Parallel()
	doc := func(props ...report.PropertyDoc) *report.Document { return &report.Document{Properties: props} }
	prop := func(id string, typ assertions.AssertType, display string, verdict assertions.Verdict) report.PropertyDoc {
		return report.PropertyDoc{ID: id, Type: typ, DisplayType: display, Verdict: verdict}
	}
	prev := doc(
		prop("lost writes", "always", "Always", "fail"),
		prop("leader changes", "sometimes", "Sometimes", "pass"),
		prop("suffix discarded", "reachability", "Reachable", "pass"),
		prop("never here", "reachability", "Unreachable", "pass"),
		prop("rare", "sometimes", "Sometimes", "fail"),
	)
	cur := doc(
		prop("lost writes", "always", "Always", "fail"),
		prop("leader changes", "sometimes", "Sometimes", "fail"),
		prop("suffix discarded", "reachability", "Reachable", "fail"),
		prop("never here", "reachability", "Unreachable", "fail"),
		prop("rare", "sometimes", "Sometimes", "fail"),
		prop("new", "sometimes", "Sometimes", "fail"),
	)
	tests := []struct {
		name           string
		then, now      []string
		failing, alone []string
	}{
		{"same", []string{"lost writes"}, []string{"lost writes"}, []string{"lost writes"}, nil},
		{"existential met elsewhere", []string{"lost writes"}, []string{"leader changes", "lost writes", "suffix discarded"},
			[]string{"lost writes"}, []string{"leader changes", "suffix discarded"}},
		{"universal is a difference", []string{"lost writes"}, []string{"lost writes", "never here"}, []string{"lost writes", "never here"}, nil},
		{"failing run-wide then", nil, []string{"rare"}, []string{"rare"}, nil},
		{"unknown then", nil, []string{"new"}, []string{"new"}, nil},
		{"no longer failing", []string{"lost writes"}, nil, nil, nil},
	}
	for _, tt := range tests {
		failing, alone := splitFailing(tt.then, tt.now, prev, cur)
		if fmt.Sprint(failing) != fmt.Sprint(tt.failing) || fmt.Sprint(alone) != fmt.Sprint(tt.alone) {
			t.Errorf("%s: splitFailing = %q, %q; want %q, %q", tt.name, failing, alone, tt.failing, tt.alone)
		}
	}
}
