package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/assertions"
	"github.com/mvrun/multiverse/runner"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	seedA = uint64(0x5eed)
	seedB = uint64(0xbeef)
)

// fixture builds a run outcome with passing, failing and built-in
// properties, a malformed line, a lost counter and an unsupported fault.
func fixture(t *testing.T) *runner.Outcome {
	t.Helper()
	c := assertions.NewCollector()
	assert := func(seed uint64, node string, line string) {
		c.Add(seed, node, "", 1, []byte(line))
	}
	for _, s := range []uint64{seedA, seedB} {
		assert(s, "bank1", `{"antithesis_assert":{"id":"balance never negative","message":"balance never negative","condition":true,"display_type":"Always","hit":true,"must_hit":true,"assert_type":"always","location":{"file":"bank.go","function":"transfer","class":"example.com/bank","begin_line":42,"begin_column":3},"details":null}}`)
		assert(s, "bank1", `{"antithesis_assert":{"id":"leader failover happens","message":"leader failover happens","condition":false,"display_type":"Sometimes","hit":true,"must_hit":true,"assert_type":"sometimes","location":{"file":"raft.go","function":"elect","class":"example.com/bank","begin_line":7,"begin_column":1},"details":null}}`)
		c.Builtin(s, runner.PropNoCrash, assertions.BuiltinAlways, true, nil)
		c.Builtin(s, runner.PropCommandExited("transfer"), assertions.BuiltinSometimes, true, map[string]any{"runs": 3})
	}
	c.Add(seedB, "bank2", "", 9, []byte(`{"antithesis_assert":{"id":"balance never negative","message":"balance never negative","condition":false,"display_type":"Always","hit":true,"must_hit":true,"assert_type":"always","location":{"file":"bank.go","function":"transfer","class":"example.com/bank","begin_line":42,"begin_column":3},"details":{"balance":-5}}}`))
	c.Add(seedA, "bank2", "check", 3, []byte(`{"antithesis_assert":`))
	c.Add(seedA, "bank3", "", 4, []byte(`{"mvrun_sdk_lost":{"count":2,"reason":"output file full"}}`))
	c.SeedDone(seedA)
	c.SeedDone(seedB)
	return &runner.Outcome{
		Test: "bank", SpecFile: "/abs/spec.hcl", Backend: "process", BaseSeed: seedA, OutDir: ".mvrun/runs/x-bank",
		Planned: 3, Cancelled: true, Elapsed: 12300 * time.Millisecond,
		Seeds: []*runner.SeedOutcome{
			{Index: 0, Seed: seedA, Dir: "seed-a", Faults: []string{"1s kill bank1 [ok]", "2s restart bank1 [ok]"}},
			{Index: 1, Seed: seedB, Dir: "seed-b", Faults: []string{"1s clock_jump bank2 +1s [unsupported: clock_jump: not supported on process backend]"},
				Failing: []string{"balance never negative"}, Elapsed: time.Second},
			{Index: 2, Seed: 7, Dir: "seed-c", Err: errors.New("creating the cluster: no space left")},
		},
		Unsupported: []string{"clock_jump: not supported on process backend (1 action in 1 seed)"},
		Result:      c.Result(),
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./runner/report -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file (go test ./runner/report -update to accept):\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}

func TestFormats(t *testing.T) {
	d := FromOutcome(fixture(t), Options{Spec: "examples/bank/spec.hcl", ReplayFlags: []string{"--backend", "process"}})
	if d.Passed || !d.Failed() {
		t.Fatalf("passed = %v, failed = %v; want a failing run", d.Passed, d.Failed())
	}
	tests := []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"report.txt", func(b *bytes.Buffer) error { return WriteText(b, d) }},
		{"report.json", func(b *bytes.Buffer) error { return WriteJSON(b, d) }},
		{"report.junit.xml", func(b *bytes.Buffer) error { return WriteJUnit(b, d) }},
		{"report.html", func(b *bytes.Buffer) error { return htmlPage(t, d, HTMLFile, b) }},
		{"report-seed.html", func(b *bytes.Buffer) error { return htmlPage(t, d, seedPageName("0x000000000000beef"), b) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.write(&b); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, b.Bytes())
		})
	}
}

// htmlPage writes d's HTML report and appends page to b, without the
// style sheet and script every page carries (the browser test covers
// those), so the golden files show the pages' own content.
func htmlPage(t *testing.T, d *Document, page string, b *bytes.Buffer) error {
	dir := t.TempDir()
	if err := WriteHTML(dir, d); err != nil {
		return err
	}
	p, err := os.ReadFile(filepath.Join(dir, page))
	p = inlineAssets.ReplaceAll(p, []byte("<$1>…</$1>"))
	b.Write(p)
	return err
}

var inlineAssets = regexp.MustCompile(`(?s)<(style|script)>.*?</(?:style|script)>`)

func TestDocumentContent(t *testing.T) {
	d := FromOutcome(fixture(t), Options{Spec: "my specs/spec.hcl"})
	var bal *PropertyDoc
	for i := range d.Properties {
		if d.Properties[i].ID == "balance never negative" {
			bal = &d.Properties[i]
		}
	}
	if bal == nil {
		t.Fatal("property missing")
	}
	if bal.Verdict != "fail" || len(bal.FailingSeeds) != 1 || bal.FailingSeeds[0] != "0x000000000000beef" {
		t.Errorf("balance: verdict %s failing %q", bal.Verdict, bal.FailingSeeds)
	}
	if want := "mvrun replay 'my specs/spec.hcl' --seed 0x000000000000beef"; bal.Replay != want {
		t.Errorf("replay = %q, want %q", bal.Replay, want)
	}
	var b bytes.Buffer
	if err := WriteJUnit(&b, d); err != nil {
		t.Fatal(err)
	}
	var suites junitSuites
	if err := xml.Unmarshal(b.Bytes(), &suites); err != nil {
		t.Fatalf("JUnit output does not parse: %v", err)
	}
	if s := suites.Suites[0]; s.Tests != len(d.Properties) || s.Failures == 0 || s.Errors != 1 {
		t.Errorf("suite tests=%d failures=%d errors=%d", s.Tests, s.Failures, s.Errors)
	}
	for _, c := range suites.Suites[0].Cases {
		if c.Failure != nil && !strings.Contains(c.Failure.Message, "mvrun replay") {
			t.Errorf("failure of %q has no replay command: %q", c.Name, c.Failure.Message)
		}
	}
}

func TestStoreFind(t *testing.T) {
	root := t.TempDir()
	d := FromOutcome(fixture(t), Options{})
	replayOnly := t.TempDir()
	for _, run := range []struct {
		root, name string
		replay     bool
	}{
		{root, "20260101-000000-bank", false},
		{root, "20260102-000000-bank", false},
		{root, "20260103-000000-bank-replay-beef", true}, // newest, but a replay
		{replayOnly, "20260103-000000-bank-replay-beef", true},
	} {
		dir := filepath.Join(run.root, run.name)
		os.MkdirAll(dir, 0o755)
		d.Artifacts, d.Replay = dir, run.replay
		if err := Store(dir, d); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		test, seed, skip string
		wantDir          string
		wantErr          error
	}{
		{"bank", "0x000000000000beef", "", "20260102-000000-bank", nil},
		{"bank", "0x000000000000beef", filepath.Join(root, "20260102-000000-bank"), "20260101-000000-bank", nil},
		{"bank", "0x0000000000000007", "", "", ErrNoRecord}, // that seed could not run
		{"other", "0x000000000000beef", "", "", ErrNoRecord},
	}
	for _, tc := range tests {
		doc, sd, err := FindSeed(root, tc.test, tc.seed, tc.skip)
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("FindSeed(%s, %s) error = %v, want %v", tc.test, tc.seed, err, tc.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if filepath.Base(doc.Artifacts) != tc.wantDir || sd.Seed != tc.seed || sd.FaultLogHash != HashFaultLog(sd.FaultLog) {
			t.Errorf("FindSeed(%s, %s) = %s %+v", tc.test, tc.seed, doc.Artifacts, sd)
		}
	}
	if doc, _, err := FindSeed(replayOnly, "bank", "0x000000000000beef", ""); err != nil || !doc.Replay {
		t.Errorf("FindSeed with only a replay recording the seed = %+v, %v; want the replay", doc, err)
	}
	if _, _, err := FindSeed(filepath.Join(root, "missing"), "bank", "0x1", ""); !errors.Is(err, ErrNoRecord) {
		t.Errorf("missing root: %v", err)
	}
}

// TestReplayCommand checks how replay commands call mvrun and quote their
// arguments.
func TestReplayCommand(t *testing.T) {
	tests := []struct {
		program, spec string
		flags         []string
		want          string
	}{
		{"", "spec.hcl", nil, "mvrun replay spec.hcl --seed 0x1"},
		{"./bin/mvrun", "examples/kv/spec.hcl", []string{"--backend", "docker"}, "./bin/mvrun replay examples/kv/spec.hcl --seed 0x1 --backend docker"},
		{"/opt/my tools/mvrun", "a b.hcl", []string{"--test", "it's"}, `'/opt/my tools/mvrun' replay 'a b.hcl' --seed 0x1 --test 'it'\''s'`},
	}
	for _, tt := range tests {
		d := &Document{Program: tt.program, Spec: tt.spec, ReplayFlags: tt.flags}
		if got := d.ReplayCommand("0x1"); got != tt.want {
			t.Errorf("ReplayCommand(program %q) = %q, want %q", tt.program, got, tt.want)
		}
	}
	// A replay of a branch or of edited faults is replayed by its whole id.
	for _, id := range []string{"0x1~d0.2~l3=3.89s", "0x1@2s/3"} {
		d := &Document{Spec: "s.hcl", ReplayID: id}
		if got, want := d.ReplayCommand("0x1"), "mvrun replay s.hcl --seed "+shellQuote(id); got != want {
			t.Errorf("ReplayCommand of the replay of %s = %q, want %q", id, got, want)
		}
		if got, want := d.ReplayCommand("0x2"), "mvrun replay s.hcl --seed 0x2"; got != want {
			t.Errorf("ReplayCommand of another seed = %q, want %q", got, want)
		}
	}
}

// TestMalformedCountsAddUp checks that the listed malformed lines plus
// "more" equal the total, though the document keeps only some examples.
func TestMalformedCountsAddUp(t *testing.T) {
	d := &Document{Test: "t", Backend: "fake", MalformedTotal: 110}
	for i := range 20 {
		d.Malformed = append(d.Malformed, Malformed{Seed: "0x1", Node: "n", LineNo: i + 1, Error: "bad", Text: "x"})
	}
	var b strings.Builder
	if err := WriteText(&b, d); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	listed := strings.Count(out, ": bad: x")
	if listed != maxListed || !strings.Contains(out, fmt.Sprintf("... %d more", 110-maxListed)) {
		t.Errorf("listed %d lines; report:\n%s", listed, out)
	}
}

// TestUndecidedReport checks how an interrupted run shows a property it
// could not decide: not as a failure, with its reason, skipped in JUnit.
func TestUndecidedReport(t *testing.T) {
	d := &Document{Test: "t", Backend: "fake", Cancelled: true, SeedsRun: 1, SeedsPlanned: 2,
		Properties: []PropertyDoc{{ID: "leader elected", Type: "sometimes", DisplayType: "Sometimes", Verdict: "undecided",
			Reason: "not decided (run interrupted): never true in any of 1 seed so far", FailingSeeds: []string{}}}}
	var b strings.Builder
	if err := WriteText(&b, d); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "\nFAIL") || !strings.Contains(out, "Not decided (run interrupted") || !strings.Contains(out, "INCOMPLETE") {
		t.Errorf("report:\n%s", out)
	}
	b.Reset()
	if err := WriteJUnit(&b, d); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `<skipped message="not decided`) || strings.Contains(b.String(), "<failure") {
		t.Errorf("junit:\n%s", b.String())
	}
}

// debugLinkSeed writes an hv-style run with one seed of three timeline
// entries under a temporary directory and returns the seed's page, written
// with the given trace hash ("" for a seed that does not replay exactly),
// and the directory of runs the debug command must name.
func debugLinkSeed(t *testing.T, trace string) (pagePath, runs string) {
	t.Helper()
	root := t.TempDir()
	runDir := filepath.Join(root, "runs", "20261130-kv")
	seedDir := filepath.Join(runDir, "seed-0000000000005eed")
	if err := os.MkdirAll(seedDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var tl bytes.Buffer
	for _, r := range []runner.TimelineRecord{
		{AtNS: 0, Kind: runner.TLPhase, Who: "runner", Text: "phase setup", Phase: "setup"},
		{AtNS: 1_500_000_000, Kind: runner.TLFault, Who: "faults", Text: "kill kv1"},
		{AtNS: 2_250_000_000, Kind: runner.TLNote, Who: "runner", Text: "the end"},
	} {
		j, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		tl.Write(append(j, '\n'))
	}
	if err := os.WriteFile(filepath.Join(seedDir, runner.TimelineJSONFile), tl.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &Document{Test: "kv store", Spec: "examples/kv/spec.hcl", Backend: "hv", Program: "./bin/mvrun", Artifacts: runDir,
		Seeds: []SeedDoc{{Seed: "0x0000000000005eed", Dir: seedDir, TraceHash: trace}}}
	st, err := loadTimeline(seedDir)
	if err != nil || st == nil {
		t.Fatalf("loading %s: %v", seedDir, err)
	}
	out := filepath.Join(root, "html")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeSeedPage(out, d, &d.Seeds[0], st); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(out, seedPageName(d.Seeds[0].Seed)), filepath.Join(root, "runs")
}

// TestDebugLinks checks that an hv seed's page lets every log row open the
// debugger at its timeline entry, that the command finds the run's records
// when they are not in the default directory, and that a seed without a
// trace hash (not replayable exactly) offers no such command.
func TestDebugLinks(t *testing.T) {
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	path, runs := debugLinkSeed(t, "77eda6d321fce931")
	hv := read(path)
	want := `data-go="./bin/mvrun debug examples/kv/spec.hcl --seed 0x0000000000005eed --test &#39;kv store&#39; --runs ` + runs + ` --at event:"`
	if !strings.Contains(hv, want) {
		t.Errorf("the hv seed page has no debug command %s", want)
	}
	for _, e := range []string{`id="L0" data-e="1"`, `id="L1" data-e="2"`, `id="L2" data-e="3"`} {
		if !strings.Contains(hv, e) {
			t.Errorf("the hv seed page has no row %s", e)
		}
	}
	if path, _ := debugLinkSeed(t, ""); strings.Contains(read(path), "data-go=") || strings.Contains(read(path), "data-e=") {
		t.Errorf("a seed without a trace hash offers debug commands")
	}
	d := &Document{Test: "t", Spec: "s.hcl", Artifacts: filepath.Join(".mvrun", "runs", "x")}
	if got, want := d.DebugCommand("0x1", 7), "mvrun debug s.hcl --seed 0x1 --test t --at event:7"; got != want {
		t.Errorf("DebugCommand in the default runs directory = %q, want %q", got, want)
	}
}

// TestLoadRenamesLegacyClockSkew: a result.json written before the clock
// action was renamed (clock_offset, now clock_skew) loads with the current
// spelling and a hash that matches the same faults recorded today, so a
// replay does not report different faults for a rename.
func TestLoadRenamesLegacyClockSkew(t *testing.T) {
	today := []string{"2s clock_skew n1 +3s", "4s kill n2"}
	old := []string{"2s clock_offset n1 +3s", "4s kill n2"}
	d := &Document{Test: "bank", Seeds: []SeedDoc{{Seed: "0x1", FaultLog: old, FaultLogHash: HashFaultLog(old)}}}
	dir := t.TempDir()
	if err := Store(dir, d); err != nil {
		t.Fatal(err)
	}
	got, err := Load(filepath.Join(dir, ResultFile))
	if err != nil {
		t.Fatal(err)
	}
	s := got.Seeds[0]
	if !slices.Equal(s.FaultLog, today) || s.FaultLogHash != HashFaultLog(today) {
		t.Errorf("loaded fault log %q (hash %s), want %q (hash %s)", s.FaultLog, s.FaultLogHash, today, HashFaultLog(today))
	}
}
