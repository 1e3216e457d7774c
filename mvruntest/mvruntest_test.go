package mvruntest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/mvrun/multiverse/runner/report"
	"github.com/mvrun/multiverse/specs"
)

// record is a tb that records what judge did.
type record struct{ logs, errs, skips []string }

func (r *record) Logf(f string, a ...any)   { r.logs = append(r.logs, fmt.Sprintf(f, a...)) }
func (r *record) Errorf(f string, a ...any) { r.errs = append(r.errs, fmt.Sprintf(f, a...)) }
func (r *record) Skipf(f string, a ...any)  { r.skips = append(r.skips, fmt.Sprintf(f, a...)) }

func TestJudge(t *testing.T) {
	d := &report.Document{SeedsRun: 3, Artifacts: "/tmp/run"}
	fail := report.PropertyDoc{ID: "acked writes survive", Type: "always", DisplayType: "Always", Verdict: "fail",
		Reason: "false in 1 of 3 seeds", FailingSeeds: []string{"0x1"}, Replay: "mvrun replay spec.hcl --seed 0x1",
		FirstCounterexample: &report.Counterexample{Seed: "0x1", Node: "client", Details: map[string]any{"lost": 2}}}
	sometimes := report.PropertyDoc{ID: "leader changes", Type: "sometimes", DisplayType: "Sometimes", Verdict: "fail", Reason: "never true"}
	unknown := report.PropertyDoc{ID: `history "kv" is linearizable (kv)`, Type: "check", DisplayType: "Linearizable", Verdict: "unknown",
		Reason: "undecided in 1 of 3 seeds", UnknownSeeds: []string{"0x2"}}
	pass := report.PropertyDoc{ID: "ok", Type: "always", Verdict: "pass"}
	for _, tc := range []struct {
		name             string
		p                report.PropertyDoc
		expect, coverage bool
		errs, skips      int
		has              string
	}{
		{"violated", fail, false, false, 1, 0, "replay: mvrun replay spec.hcl --seed 0x1"},
		{"expected failure", fail, true, false, 0, 0, "as expected"},
		{"expected but held", pass, true, false, 1, 0, "expected to fail"},
		{"pass", pass, false, false, 0, 0, ""},
		{"unmet coverage", sometimes, false, false, 1, 0, "never true"},
		{"optional coverage", sometimes, false, true, 0, 1, "coverage is optional"},
		{"undecided is not a pass", unknown, false, true, 1, 0, "undecided seeds: 0x2"},
	} {
		var r record
		judge(&r, d, tc.p, tc.expect, tc.coverage)
		all := strings.Join(append(append(r.logs, r.errs...), r.skips...), "\n")
		if len(r.errs) != tc.errs || len(r.skips) != tc.skips || !strings.Contains(all, tc.has) {
			t.Errorf("%s: errors %q, skips %q, logs %q; want %d errors, %d skips, mentioning %q", tc.name, r.errs, r.skips, r.logs, tc.errs, tc.skips, tc.has)
		}
	}
}

func TestPickSaysWhy(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if b, why := pick(context.Background(), "vmware", &specs.Test{}, log); b != nil || !strings.Contains(why, "unknown backend") {
		t.Errorf("pick(vmware) = %v, %q", b, why)
	}
	// Whichever backends this machine has, pick either returns one or
	// says why not; it never returns neither.
	for _, name := range []string{"process", "docker"} {
		if b, why := pick(context.Background(), name, &specs.Test{}, log); b == nil && why == "" {
			t.Errorf("pick(%s) returned no backend and no reason", name)
		}
	}
}
