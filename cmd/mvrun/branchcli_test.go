package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mvrun/multiverse/runner/report"
)

// A replay of a branch is compared with the search's record of it, except
// when the branch was a probe the search cut: its record holds the cut
// run's hash and no verdict, which a whole replay cannot match.
func TestCompareBranchWithProbe(t *testing.T) {
	t.Chdir(t.TempDir())
	rec := exploreRecord{Test: "t", Seed: "0x1", Branches: []branchOutcome{
		{ID: "0x1@1s/0", TraceHash: "aaaa", CutNS: 4_999_000_000},
		{ID: "0x1@1s/1", TraceHash: "bbbb", Failing: []string{"p"}},
	}}
	data, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(exploreDir, "x")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "explore.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	doc := &report.Document{Seeds: []report.SeedDoc{{TraceHash: "cccc", Failing: []string{"p"}}}}
	var out bytes.Buffer
	compareBranch(doc, "0x1@1s/0", false, &out, &out)
	if s := out.String(); !strings.Contains(s, "was a probe") || !strings.Contains(s, "cut at 4.999s") || strings.Contains(s, "DIVERGED") {
		t.Errorf("probe branch: %s", s)
	}
	out.Reset()
	compareBranch(doc, "0x1@1s/1", false, &out, &out)
	if s := out.String(); !strings.Contains(s, "same failures") || !strings.Contains(s, "DIVERGED") {
		t.Errorf("whole branch: %s", s)
	}
}
