// Package mvruntest runs an mvrun spec inside a Go test, so that teams that
// run everything with `go test` get mvrun's verdicts there:
//
//	func TestMain(m *testing.M) { mvruntest.Main(m) }
//
//	func TestStore(t *testing.T) {
//		mvruntest.Run(t, "testdata/spec.hcl", mvruntest.Options{})
//	}
//
// [Run] runs the spec's test over its seeds, then makes one subtest per
// property: a violated property fails its subtest with the reason, the first
// counterexample, the failing seeds and the command that replays the seed;
// an undecided history check fails too (undecided is never a pass). It
// honours -short (fewer seeds) and the test's context (an interrupted or
// timed-out `go test` stops the seeds), and skips the test, with the reason,
// when the chosen backend cannot run on this machine (no root for the
// process backend's namespaces, no /dev/kvm for hv, no Docker engine).
//
// TestMain must call [Main] (or process.MaybeRunShim) when the process
// backend may be used: its nodes re-execute the test binary as their init.
package mvruntest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/assertions"
	"github.com/mvrun/multiverse/runner"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/runner/docker"
	"github.com/mvrun/multiverse/runner/hvbackend"
	"github.com/mvrun/multiverse/runner/process"
	"github.com/mvrun/multiverse/runner/report"
	"github.com/mvrun/multiverse/specs"
)

// DefaultBaseSeed is the base seed of a run whose Options set none: a
// `go test` run checks the same seeds every time unless asked otherwise.
const DefaultBaseSeed = 0x5eed

// DefaultShortSeeds is how many seeds run under -short when Options.ShortSeeds
// is 0.
const DefaultShortSeeds = 2

// Options configures [Run]. The zero value runs the spec's only test, on
// the spec's backend, over the spec's seeds from [DefaultBaseSeed].
type Options struct {
	// Test names the test when the spec has several.
	Test string
	// Backend is "auto", "hv", "process" or "docker"; "" means the spec's.
	Backend string
	// Seeds is how many seeds to run; 0 means the spec's. ShortSeeds is how
	// many under -short; 0 means DefaultShortSeeds (never more than Seeds).
	Seeds, ShortSeeds int
	// BaseSeed is seed 0 of the run; 0 means DefaultBaseSeed.
	BaseSeed uint64
	// Duration overrides the spec's fault-phase duration when not 0.
	Duration time.Duration
	// Jobs is how many seeds run at once; 0 means the CLI's default.
	Jobs int
	// OutDir is the artifacts directory; "" means .mvrun/runs/<time>-<test>
	// in the test's working directory (the package directory), where
	// `mvrun replay` run from there finds the seeds.
	OutDir string
	// ExpectFail lists property ids that must fail (a planted bug the test
	// shows mvrun finds): their subtests pass when the property fails and
	// fail when it holds.
	ExpectFail []string
	// CoverageOptional skips, with the reason, rather than fails an unmet
	// Sometimes or Reachable property: for runs with too few seeds to
	// promise coverage. -short implies it.
	CoverageOptional bool
}

// Main is TestMain for packages that use [Run]: it lets the test binary
// serve as the process backend's node init, then runs the tests.
func Main(m *testing.M) {
	process.MaybeRunShim()
	os.Exit(m.Run())
}

// Run runs spec (a path, relative to the package directory) as described
// in the package doc and returns the run's report for further checks. It
// fails the test at once when the spec is invalid or no seed could run.
func Run(t *testing.T, spec string, opts Options) *report.Document {
	t.Helper()
	ctx := t.Context()
	s, err := specs.Load(ctx, spec)
	if err != nil {
		t.Fatalf("mvruntest: %v", err)
	}
	test, err := s.Test(opts.Test)
	if err != nil {
		t.Fatalf("mvruntest: %v; set Options.Test", err)
	}
	if opts.Duration > 0 {
		test.Duration = opts.Duration
		test.SeedTimeout = specs.DefaultSeedTimeout(opts.Duration)
	}
	name := opts.Backend
	if name == "" {
		name = test.Backend
	}
	if !slices.Contains(specs.Backends, name) {
		t.Fatalf("mvruntest: Options.Backend %q: want one of %s", name, strings.Join(specs.Backends, ", "))
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, why := pick(ctx, name, test, log)
	if b == nil {
		t.Skipf("mvruntest: skipping %s: %s", spec, why)
	}
	defer b.Close(context.WithoutCancel(ctx))
	n := opts.Seeds
	if n <= 0 {
		n = max(test.Seeds, 1)
	}
	short := testing.Short()
	if short {
		ss := opts.ShortSeeds
		if ss <= 0 {
			ss = DefaultShortSeeds
		}
		n = min(n, ss)
	}
	base := opts.BaseSeed
	if base == 0 {
		base = DefaultBaseSeed
	}
	out := opts.OutDir
	if out == "" {
		out = runner.DefaultOutDir(".", test.Name, time.Now())
	}
	t.Logf("mvruntest: %s: test %q, %d seeds from base seed %#x on backend %s%s; artifacts in %s",
		spec, test.Name, n, base, b.Name(), whyText(why), out)
	oc, err := runner.Run(ctx, runner.Options{
		Test: test, Backend: b, Count: n, BaseSeed: base, Jobs: opts.Jobs, OutDir: out, Log: log,
	})
	if err != nil {
		t.Fatalf("mvruntest: %v", err)
	}
	var flags []string
	if opts.Backend != "" && opts.Backend != test.Backend && opts.Backend != "auto" {
		flags = append(flags, "--backend", opts.Backend)
	}
	if len(s.Tests) > 1 {
		flags = append(flags, "--test", test.Name)
	}
	doc := report.FromOutcome(oc, report.Options{Spec: spec, ReplayFlags: flags})
	if err := report.Store(oc.OutDir, doc); err != nil {
		t.Logf("mvruntest: %v", err)
	}
	if oc.Cancelled {
		t.Errorf("mvruntest: interrupted after %d of %d seeds: %v", len(oc.Seeds), n, context.Cause(ctx))
	}
	for _, sd := range doc.SeedErrors() {
		t.Errorf("mvruntest: seed %s could not run: %s", sd.Seed, sd.Error)
	}
	for _, e := range doc.HistoryErrors {
		t.Errorf("mvruntest: history could not be checked: %s", e)
	}
	for _, p := range doc.Properties {
		t.Run(p.ID, func(t *testing.T) {
			judge(t, doc, p, slices.Contains(opts.ExpectFail, p.ID), opts.CoverageOptional || short)
		})
	}
	for _, id := range opts.ExpectFail {
		if !slices.ContainsFunc(doc.Properties, func(p report.PropertyDoc) bool { return p.ID == id }) {
			t.Errorf("mvruntest: property %q is expected to fail but the run has no such property", id)
		}
	}
	return doc
}

// tb is the part of *testing.T that judge uses.
type tb interface {
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Skipf(format string, args ...any)
}

// judge passes or fails the subtest of one property.
func judge(t tb, d *report.Document, p report.PropertyDoc, expectFail, coverageOptional bool) {
	switch {
	case expectFail && p.Verdict == assertions.Fail:
		t.Logf("fails, as expected: %s\n%s", p.Reason, counterexample(d, p))
	case expectFail:
		t.Errorf("expected to fail, but the verdict is %s in %d seeds", p.Verdict, d.SeedsRun)
	case p.Verdict == assertions.Pass:
	case p.Verdict == assertions.Fail && coverageOptional && existential(p):
		t.Skipf("not met in %d seeds (coverage is optional in this run): %s", d.SeedsRun, p.Reason)
	case p.Verdict == assertions.Unknown:
		t.Errorf("undecided (never a pass): %s\n%s", p.Reason, counterexample(d, p))
	default:
		t.Errorf("%s %s: %s\n%s", strings.ToUpper(p.Verdict.String()), p.DisplayType, p.Reason, counterexample(d, p))
	}
}

// existential reports whether p is a coverage property: met by one
// evaluation somewhere (Sometimes, Reachable).
func existential(p report.PropertyDoc) bool {
	return p.Type == assertions.TypeSometimes || p.DisplayType == "Reachable"
}

// counterexample renders what a person needs to study a failure.
func counterexample(d *report.Document, p report.PropertyDoc) string {
	var b strings.Builder
	if ce := p.FirstCounterexample; ce != nil {
		fmt.Fprintf(&b, "first counterexample: seed %s", ce.Seed)
		if ce.Node != "" {
			fmt.Fprintf(&b, ", node %s", ce.Node)
		}
		if ce.Proc != "" {
			fmt.Fprintf(&b, ", command %s", ce.Proc)
		}
		b.WriteString("\n")
		if len(ce.Details) > 0 {
			j, _ := json.Marshal(ce.Details)
			fmt.Fprintf(&b, "details: %s\n", j)
		}
	}
	if len(p.FailingSeeds) > 0 {
		fmt.Fprintf(&b, "failing seeds: %s\n", strings.Join(p.FailingSeeds, " "))
	}
	if len(p.UnknownSeeds) > 0 {
		fmt.Fprintf(&b, "undecided seeds: %s\n", strings.Join(p.UnknownSeeds, " "))
	}
	if p.Visualization != "" {
		fmt.Fprintf(&b, "history visualization: %s\n", p.Visualization)
	}
	if p.Replay != "" {
		fmt.Fprintf(&b, "replay: %s\n", p.Replay)
	}
	fmt.Fprintf(&b, "artifacts: %s", d.Artifacts)
	return b.String()
}

func whyText(why string) string {
	if why == "" {
		return ""
	}
	return " (" + why + ")"
}

// pick returns the backend called name ("auto" resolved as the CLI does:
// hv when /dev/kvm is usable and hv can run every service, else process),
// or nil and why it cannot run here.
func pick(ctx context.Context, name string, t *specs.Test, log *slog.Logger) (backend.Backend, string) {
	why := ""
	if name == "" || name == "auto" {
		hv := hvbackend.New(hvbackend.Options{Log: log})
		if err := hv.Available(ctx); err != nil {
			why = "auto: hv unavailable: " + err.Error()
		} else if err := hvbackend.CanRun(t); err != nil {
			why = "auto: hv cannot run this test: " + err.Error()
		} else {
			return hv, "auto: hv"
		}
		name = "process"
	}
	var b backend.Backend
	switch name {
	case "process":
		b = process.New(process.Options{Log: log})
	case "hv":
		b = hvbackend.New(hvbackend.Options{Log: log})
	case "docker":
		b = docker.New(docker.Options{Log: log})
	default:
		return nil, fmt.Sprintf("unknown backend %q; want auto, hv, process or docker", name)
	}
	if err := b.Available(ctx); err != nil {
		if why != "" {
			why += "; "
		}
		return nil, why + fmt.Sprintf("backend %s is not available here: %v", name, err)
	}
	return b, why
}
