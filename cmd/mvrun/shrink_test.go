package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mvrun/multiverse/runner/report"
	"github.com/mvrun/multiverse/runner/search"
)

// TestShrinkRecordsCauses checks the path from a shrink's result to the
// run's HTML report: the causes land in causes.json of the seed's
// directory in the run that recorded it, and the report written with
// --html shows them on the failing property's section.
func TestShrinkRecordsCauses(t *testing.T) {
	runs := t.TempDir()
	runDir := filepath.Join(runs, "20260101-000000.000-kv")
	seedDir := filepath.Join(runDir, "seed-0000000000005eed")
	if err := os.MkdirAll(seedDir, 0o755); err != nil {
		t.Fatal(err)
	}
	const prop = "acknowledged writes survive failover"
	doc := &report.Document{
		Test: "kv", Spec: "spec.hcl", Backend: "hv", SeedsRun: 1, SeedsPlanned: 1,
		Properties: []report.PropertyDoc{{ID: prop, Message: prop, Type: "always", DisplayType: "Always", Verdict: "fail", FailingSeeds: []string{"0x0000000000005eed"}}},
		Seeds:      []report.SeedDoc{{Seed: "0x0000000000005eed", Dir: seedDir, Failing: []string{prop}}},
	}
	if err := report.Store(runDir, doc); err != nil {
		t.Fatal(err)
	}
	rec := &shrinkRecord{
		Shrink: &search.ShrinkResult{Property: prop, Start: "0x0000000000005eed", Faults: 6, Kept: 1,
			Minimal: "0x0000000000005eed~d0.1.2.4.5", Schedule: []string{"pause kv3 at 11.6s for 601ms"}},
		Attribution: &search.Attribution{Property: prop, Causes: []search.Cause{
			{Fault: 3, What: "pause kv3 at 11.6s for 601ms (cluster time)", Necessary: true, Without: "0x0000000000005eed~d0.1.2.3.4.5"},
		}},
	}
	html := t.TempDir()
	start, _ := search.ParseID("0x5eed")
	if code := recordCauses(rec, start, "kv", runs, html, "shrink/explore.json", io.Discard); code != exitOK {
		t.Fatalf("recordCauses exited %d", code)
	}
	cs, err := report.ReadCauses(seedDir)
	if err != nil || len(cs) != 1 || len(cs[0].Necessary()) != 1 {
		t.Fatalf("causes.json: %+v, %v", cs, err)
	}
	b, err := os.ReadFile(filepath.Join(html, report.HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pause kv3 at 11.6s for 601ms</li>", "<strong>necessary</strong>", "0x0000000000005eed~d0.1.2.4.5"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	// A branch is not its seed's run: --html is refused, nothing recorded.
	br, _ := search.ParseID("0x5eed@2s/1")
	if code := recordCauses(rec, br, "kv", runs, html, "", io.Discard); code != exitUsage {
		t.Errorf("recordCauses of a branch with --html exited %d, want %d", code, exitUsage)
	}
}
