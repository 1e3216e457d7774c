package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// coverageLines is a seed's coverage.jsonl: two nodes of one program read
// every second, a workload command's exit, the read at the end, and a node
// whose program has no counters.
const coverageLines = `{"at_ns":1000000000,"node":"db","without":"x-mvrun.binary is a program mvrun did not build (no go build -cover counters in it): guidance and assertions only","counters":0,"hit":0}
{"at_ns":1000000000,"node":"bank1","program":"bank","due_ns":1000000000,"counters":40,"hit":40,"fingerprint":11,"new":[[3,1],[4,2]]}
{"at_ns":1000000000,"node":"bank2","program":"bank","due_ns":1000000000,"counters":38,"hit":38,"fingerprint":12,"new":[[3,1]]}
{"at_ns":1500000000,"node":"bank2","program":"client","due_ns":1500000000,"exit":true,"counters":12,"hit":12,"fingerprint":13,"new":[[1,1]]}
{"at_ns":2000000000,"node":"bank1","program":"bank","due_ns":2000000000,"counters":41,"hit":41,"fingerprint":14,"new":[[9,1],[3,2]]}
{"at_ns":2000000000,"node":"bank2","program":"bank","due_ns":2000000000,"counters":38,"hit":38,"fingerprint":12}
{"at_ns":2400000000,"node":"bank1","program":"bank","due_ns":2400000000,"final":true,"counters":41,"hit":45,"fingerprint":15,"new":[[20,1]]}
`

// TestCoverageSection renders a seed's coverage over time on its page: a
// chart and a table per node and program, and a line for the node
// without counters (golden: testdata/report-seed-coverage.html, the
// section alone). A seed without coverage.jsonl has no section.
func TestCoverageSection(t *testing.T) {
	oc := fixture(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "coverage.jsonl"), []byte(coverageLines), 0o644); err != nil {
		t.Fatal(err)
	}
	oc.Seeds[1].Dir = dir
	d := FromOutcome(oc, Options{Spec: "examples/bank/spec.hcl"})
	var b bytes.Buffer
	if err := htmlPage(t, d, seedPageName("0x000000000000beef"), &b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	start := strings.Index(page, `<h2 id="coverage">`)
	end := strings.Index(page, `<h2 id="log">`)
	if start < 0 || end < start {
		t.Fatalf("no coverage section on the seed page:\n%s", page)
	}
	golden(t, "report-seed-coverage.html", []byte(page[start:end]))
	var other bytes.Buffer
	if err := htmlPage(t, FromOutcome(fixture(t), Options{Spec: "examples/bank/spec.hcl"}), seedPageName("0x000000000000beef"), &other); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(other.String(), `id="coverage"`) {
		t.Errorf("a seed without coverage.jsonl has a coverage section")
	}
}
