// Package report renders the outcome of an mvrun run: a terminal table, a
// stable JSON document, JUnit XML (one testcase per property) and a static
// HTML page. It also stores and finds each run's result.json, which
// `mvrun replay` compares a replayed seed against.
package report

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mvrun/multiverse/assertions"
	"github.com/mvrun/multiverse/internal/seeds"
	"github.com/mvrun/multiverse/runner"
)

// ResultFile is the name of the record each run stores in its artifacts
// directory.
const ResultFile = "result.json"

// Document is the JSON form of a run's report: what `mvrun test --json`
// prints and what result.json holds. Field names are stable; new fields may
// be added.
type Document struct {
	Test           string        `json:"test"`
	Spec           string        `json:"spec"`
	Backend        string        `json:"backend"`
	BaseSeed       string        `json:"base_seed"`
	SeedsRun       int           `json:"seeds_run"`
	SeedsPlanned   int           `json:"seeds_planned"`
	Cancelled      bool          `json:"cancelled"`
	Passed         bool          `json:"passed"`
	Artifacts      string        `json:"artifacts"`
	Properties     []PropertyDoc `json:"properties"`
	Unsupported    []string      `json:"unsupported"`
	Unimplemented  []string      `json:"unimplemented"`
	Malformed      []Malformed   `json:"malformed"`
	MalformedTotal int           `json:"malformed_total"`
	Lost           []Lost        `json:"lost"`
	Seeds          []SeedDoc     `json:"seeds"`
	ElapsedMS      int64         `json:"elapsed_ms"`
	// ReplayFlags are the flags every replay command of this run carries
	// besides --seed, e.g. ["--backend", "process"].
	ReplayFlags []string `json:"replay_flags,omitempty"`
	// Program is how replay commands call mvrun when that is not "mvrun"
	// (e.g. "./bin/mvrun" when no mvrun is in PATH); "" means "mvrun".
	Program string `json:"program,omitempty"`
	// Replay is true for the document of `mvrun replay`.
	Replay bool `json:"replay,omitempty"`
	// HistoryErrors lists histories that could not be checked (an
	// unreadable line, an operation the model does not know), one line per
	// seed and check. Their checks fail; the CLI exits 2, as for bad input.
	HistoryErrors []string `json:"history_errors,omitempty"`
	// Shard is set on the document of a sharded run (`mvrun test --shard`)
	// and of a merge of such documents; it holds what `mvrun report merge`
	// needs to compute the verdicts of the whole run.
	Shard *Shard `json:"shard,omitempty"`
	// SpecDigest fingerprints the spec and compose files the run used
	// (the Digest of the spec's specs.Test), so a replay can tell it is comparing with a
	// run of a different spec that has the same test name.
	SpecDigest string `json:"spec_digest,omitempty"`
	// ReplayID is the id a replay ran when it is more than a seed (a
	// branch, SEED@T/N, or edited faults, SEED~edits); replay commands for
	// that seed give it whole.
	ReplayID string `json:"replay_id,omitempty"`
}

// PropertyDoc is one property's verdict.
type PropertyDoc struct {
	ID                  string                `json:"id"`
	Message             string                `json:"message"`
	Type                assertions.AssertType `json:"type"`
	DisplayType         string                `json:"display_type"`
	Builtin             bool                  `json:"builtin"`
	Verdict             assertions.Verdict    `json:"verdict"`
	Reason              string                `json:"reason,omitempty"`
	Hits                Hits                  `json:"hits"`
	FailingSeeds        []string              `json:"failing_seeds"`
	PassingSeeds        int                   `json:"passing_seeds"`
	FirstCounterexample *Counterexample       `json:"first_counterexample"`
	Location            *Location             `json:"location,omitempty"`
	Replay              string                `json:"replay,omitempty"`
	// UnknownSeeds are the seeds in which a history check timed out
	// undecided (verdict "unknown").
	UnknownSeeds []string `json:"unknown_seeds,omitempty"`
	// Visualization is porcupine's page for the first counterexample of
	// a history check, in that seed's artifacts.
	Visualization string `json:"visualization,omitempty"`
}

// Hits counts a property's evaluations.
type Hits struct {
	True  int `json:"true"`
	False int `json:"false"`
}

// Counterexample is the first failing evaluation of a property.
type Counterexample struct {
	Seed     string         `json:"seed"`
	Node     string         `json:"node"`
	Proc     string         `json:"proc,omitempty"`
	LineNo   int            `json:"line_no,omitempty"`
	Details  map[string]any `json:"details,omitempty"`
	Location *Location      `json:"location,omitempty"`
	// At is the cluster time of the evaluation ("12.345s"), from the
	// seed's timeline; "" when the seed recorded none.
	At string `json:"at,omitempty"`
}

// fact is one labelled fact of a report, e.g. {"node", "kv1"}.
type fact struct{ Label, Value string }

// facts lists what the reports say about ce, in order: the terminal joins
// them on one line, the HTML page lists them, so both carry the same facts.
func (ce *Counterexample) facts() []fact {
	f := []fact{{"seed", ce.Seed}}
	if ce.Node != "" {
		f = append(f, fact{"node", ce.Node})
	}
	if ce.Proc != "" {
		f = append(f, fact{"command", ce.Proc})
	}
	if ce.LineNo > 0 {
		f = append(f, fact{"SDK line", fmt.Sprint(ce.LineNo)})
	}
	if ce.At != "" {
		f = append(f, fact{"at", ce.At})
	}
	return f
}

// Location is where an assertion is in the source.
type Location struct {
	File     string `json:"file"`
	Function string `json:"function,omitempty"`
	Class    string `json:"class,omitempty"`
	Line     int    `json:"line,omitempty"`
}

// Malformed is an SDK line that could not be decoded.
type Malformed struct {
	Seed   string `json:"seed"`
	Node   string `json:"node"`
	Proc   string `json:"proc,omitempty"`
	LineNo int    `json:"line_no"`
	Error  string `json:"error"`
	Text   string `json:"text"`
}

// Lost is a count of SDK messages a node reported it could not deliver.
type Lost struct {
	Seed   string `json:"seed"`
	Node   string `json:"node"`
	Proc   string `json:"proc,omitempty"`
	Count  int64  `json:"count"`
	Reason string `json:"reason"`
}

// SeedDoc is what one seed produced.
type SeedDoc struct {
	Seed     string   `json:"seed"`
	Index    int      `json:"index"`
	Dir      string   `json:"dir"`
	Failing  []string `json:"failing"`
	TimedOut bool     `json:"timed_out,omitempty"`
	Error    string   `json:"error,omitempty"`
	// FaultLog is every applied fault action (planned time, action,
	// outcome), and FaultLogHash its SHA-256; replays compare them.
	FaultLog     []string `json:"fault_log"`
	FaultLogHash string   `json:"fault_log_sha256"`
	// TraceHash fingerprints the whole seed where the backend replays
	// exactly (hv): the same hash means the same run, bit for bit.
	// TraceLog is the file logging the trace's milestones.
	TraceHash string `json:"trace_hash,omitempty"`
	TraceLog  string `json:"trace_log,omitempty"`
	ElapsedMS int64  `json:"elapsed_ms"`
	// FaultParams are the seed's swarm parameters: which fault kinds were
	// on ("kill": "on") and their drawn rates and durations.
	FaultParams map[string]string `json:"fault_params,omitempty"`
}

// ReplayCommand returns the command that replays seed.
func (d *Document) ReplayCommand(seed string) string {
	prog := "mvrun"
	if d.Program != "" {
		prog = shellQuote(d.Program)
	}
	if d.ReplayID != "" && strings.HasPrefix(d.ReplayID, seed) {
		seed = shellQuote(d.ReplayID)
	}
	parts := []string{prog, "replay", shellQuote(d.Spec), "--seed", seed}
	for _, f := range d.ReplayFlags {
		parts = append(parts, shellQuote(f))
	}
	return strings.Join(parts, " ")
}

// DebugCommand is the command that opens `mvrun debug` on seed at entry n
// (1-based) of its timeline, the moment `--at event:N` names.
func (d *Document) DebugCommand(seed string, n int) string {
	return d.debugPrefix(seed) + strconv.Itoa(n)
}

// debugPrefix is [Document.DebugCommand] up to the entry number. It names
// the directory of earlier runs when this run's artifacts are not in the
// default one, so the debugger finds the seed's record.
func (d *Document) debugPrefix(seed string) string {
	prog := "mvrun"
	if d.Program != "" {
		prog = shellQuote(d.Program)
	}
	parts := []string{prog, "debug", shellQuote(d.Spec), "--seed", seed, "--test", shellQuote(d.Test)}
	if d.Artifacts != "" {
		if runs := filepath.Dir(filepath.Clean(d.Artifacts)); runs != filepath.Join(".mvrun", "runs") {
			parts = append(parts, "--runs", shellQuote(runs))
		}
	}
	return strings.Join(append(parts, "--at", "event:"), " ")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,+@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Options says how the run was asked for, for replay commands.
type Options struct {
	// Spec is the spec path as the user gave it.
	Spec string
	// ReplayFlags are extra flags for replay commands, e.g. --backend
	// process when the user did not pick auto, --test NAME when the spec has
	// several tests.
	ReplayFlags []string
	// Program is how replay commands call mvrun; "" means "mvrun".
	Program string
	// Replay marks the run of `mvrun replay`.
	Replay bool
	// SpecHash identifies the spec (see [HashSpec]); required for the
	// document of a sharded run.
	SpecHash string
	// SpecDigest is the digest of the spec and compose files.
	SpecDigest string
	// ReplayID is the branch or edited-schedule id a replay ran, if any
	// ([Document.ReplayID]).
	ReplayID string
}

// FromOutcome builds the document of a run.
func FromOutcome(oc *runner.Outcome, opts Options) *Document {
	d := &Document{
		Test: oc.Test, Spec: opts.Spec, Backend: oc.Backend, BaseSeed: seeds.Format(oc.BaseSeed),
		SeedsRun: len(oc.Seeds), SeedsPlanned: oc.Planned, Cancelled: oc.Cancelled,
		Artifacts: oc.OutDir, ReplayFlags: opts.ReplayFlags, Program: opts.Program, Replay: opts.Replay, SpecDigest: opts.SpecDigest, ReplayID: opts.ReplayID, ElapsedMS: oc.Elapsed.Milliseconds(),
		Properties: []PropertyDoc{}, Unsupported: []string{}, Malformed: []Malformed{}, Lost: []Lost{}, Seeds: []SeedDoc{},
	}
	if d.Spec == "" {
		d.Spec = oc.SpecFile
	}
	d.Unsupported = append(d.Unsupported, oc.Unsupported...)
	d.Unimplemented = append([]string{}, oc.Unimplemented...)
	d.setResult(oc.Result)
	for _, so := range oc.Seeds {
		sd := SeedDoc{
			Seed: seeds.Format(so.Seed), Index: so.Index, Dir: so.Dir, Failing: append([]string{}, so.Failing...),
			TimedOut: so.TimedOut, FaultLog: append([]string{}, so.Faults...), FaultLogHash: HashFaultLog(so.Faults),
			ElapsedMS: so.Elapsed.Milliseconds(), FaultParams: so.FaultParams,
		}
		if so.TraceLog != "" {
			sd.TraceHash = fmt.Sprintf("%016x", so.TraceHash)
			sd.TraceLog = filepath.Join(so.Dir, so.TraceLog)
		}
		if so.Err != nil {
			sd.Error = so.Err.Error()
		}
		d.Seeds = append(d.Seeds, sd)
		for _, e := range so.HistoryErrors {
			d.HistoryErrors = append(d.HistoryErrors, "seed "+sd.Seed+": "+e)
		}
	}
	if oc.Shards > 0 {
		d.Shard = &Shard{
			Index: oc.Shard, Count: oc.Shards, SeedsTotal: oc.Total, SpecHash: opts.SpecHash, State: oc.State,
			Unsupported: oc.UnsupportedCounts, Unimplemented: oc.UnimplementedCounts,
		}
	}
	d.Passed = d.passed()
	d.timeCounterexamples()
	return d
}

// passed reports whether the run passed: every property held (none
// failed or stayed undecided), every seed ran, every history was readable.
func (d *Document) passed() bool {
	return !d.Failed() && !d.Undecided() && !d.Cancelled && len(d.SeedErrors()) == 0 &&
		len(d.HistoryErrors) == 0 && (d.Shard == nil || len(d.Shard.Missing) == 0)
}

// timeCounterexamples fills in the cluster time of each failing property's
// first counterexample from its seed's timeline.jsonl.
func (d *Document) timeCounterexamples() {
	loaded := map[string]*seedTimeline{}
	for i := range d.Properties {
		p := &d.Properties[i]
		ce := p.FirstCounterexample
		if ce == nil || p.Verdict != assertions.Fail {
			continue
		}
		sd := d.Seed(ce.Seed)
		if sd == nil || sd.Dir == "" {
			continue
		}
		st, ok := loaded[sd.Dir]
		if !ok {
			st, _ = loadTimeline(sd.Dir) // without a timeline, no time: not an error
			loaded[sd.Dir] = st
		}
		if j := st.counterexample(p.ID, ce); j >= 0 {
			ce.At = fmtAtNS(st.recs[j].AtNS)
		}
	}
}

// setResult fills in what d shows of the collected verdicts.
func (d *Document) setResult(r *assertions.Result) {
	d.Properties, d.Malformed, d.Lost, d.MalformedTotal = []PropertyDoc{}, []Malformed{}, []Lost{}, 0
	if r == nil {
		return
	}
	for _, p := range r.Properties {
		d.Properties = append(d.Properties, d.property(p))
	}
	for _, m := range r.Malformed {
		d.Malformed = append(d.Malformed, Malformed{Seed: seeds.Format(m.Seed), Node: m.Node, Proc: m.Proc, LineNo: m.LineNo, Error: m.Error, Text: m.Text})
	}
	d.MalformedTotal = max(r.MalformedTotal, len(r.Malformed))
	for _, l := range r.Lost {
		d.Lost = append(d.Lost, Lost{Seed: seeds.Format(l.Seed), Node: l.Node, Proc: l.Proc, Count: l.Count, Reason: l.Reason})
	}
}

func (d *Document) property(p *assertions.Property) PropertyDoc {
	pd := PropertyDoc{
		ID: p.ID, Message: p.Message, Type: p.Type, DisplayType: p.DisplayType, Builtin: p.Builtin,
		Verdict: p.Verdict, Reason: p.Reason, Hits: Hits{p.HitsTrue, p.HitsFalse},
		FailingSeeds: []string{}, PassingSeeds: len(p.PassingSeeds), Location: location(p.Location),
	}
	for _, s := range p.FailingSeeds {
		pd.FailingSeeds = append(pd.FailingSeeds, seeds.Format(s))
	}
	for _, s := range p.UnknownSeeds {
		pd.UnknownSeeds = append(pd.UnknownSeeds, seeds.Format(s))
	}
	if ce := p.FirstCounterexample; ce != nil {
		pd.FirstCounterexample = &Counterexample{
			Seed: seeds.Format(ce.Seed), Node: ce.Node, Proc: ce.Proc, LineNo: ce.LineNo,
			Details: ce.Details, Location: location(ce.Location),
		}
	}
	if pd.FirstCounterexample != nil {
		pd.Visualization, _ = pd.FirstCounterexample.Details["visualization"].(string)
	}
	if p.Verdict == assertions.Fail || p.Verdict == assertions.Unknown {
		switch {
		case pd.FirstCounterexample != nil:
			pd.Replay = d.ReplayCommand(pd.FirstCounterexample.Seed)
		case len(pd.FailingSeeds) > 0:
			pd.Replay = d.ReplayCommand(pd.FailingSeeds[0])
		}
	}
	return pd
}

func location(l assertions.Location) *Location {
	if l.File == "" && l.Function == "" {
		return nil
	}
	return &Location{File: l.File, Function: l.Function, Class: l.Class, Line: l.Line}
}

// Failed reports whether any property failed.
func (d *Document) Failed() bool {
	for _, p := range d.Properties {
		if p.Verdict == assertions.Fail {
			return true
		}
	}
	return false
}

// Undecided reports whether any property's verdict is unknown: a history
// check that timed out. It is never a pass.
func (d *Document) Undecided() bool {
	for _, p := range d.Properties {
		if p.Verdict == assertions.Unknown {
			return true
		}
	}
	return false
}

// SeedErrors returns the seeds that hit an infrastructure error.
func (d *Document) SeedErrors() []SeedDoc {
	var out []SeedDoc
	for _, s := range d.Seeds {
		if s.Error != "" {
			out = append(out, s)
		}
	}
	return out
}

// Seed returns the record of seed s (formatted with seeds.Format), or nil.
func (d *Document) Seed(s string) *SeedDoc {
	for i := range d.Seeds {
		if d.Seeds[i].Seed == s {
			return &d.Seeds[i]
		}
	}
	return nil
}

// HashFaultLog returns the hex SHA-256 of a fault log.
func HashFaultLog(log []string) string {
	h := sha256.New()
	for _, l := range log {
		h.Write([]byte(l))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// durationText renders an elapsed time for people.
func durationText(d time.Duration) string {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
