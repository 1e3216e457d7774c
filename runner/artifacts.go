package runner

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/specs"
)

// Artifact file names inside a seed's directory.
const (
	EventsFile   = "events.jsonl" // every SDK line with node, process and time
	FaultsFile   = "faults.log"   // the fault plan, then every applied action
	WorkloadFile = "workload.log" // every workload command start and end
	TimelineFile = "timeline.txt" // all of the above merged, for people
	// TimelineJSONFile holds timeline.txt's entries as [TimelineRecord]s,
	// one JSON object a line, for the HTML report.
	TimelineJSONFile = "timeline.jsonl"
	workloadDir      = "workload" // <name>.log: a command's stdout and stderr
)

// maxTimeline bounds the timeline kept in memory; later entries are counted
// and dropped (events.jsonl still has every SDK line).
const maxTimeline = 200_000

// artifacts writes one seed's artifact files. It is safe for concurrent use
// and ignores writes after close, which a seed abandoned past its timeout
// may still make.
type artifacts struct {
	dir string

	mu       sync.Mutex
	closed   bool
	files    []*os.File
	events   *bufio.Writer
	faults   *bufio.Writer
	workload *bufio.Writer
	coverage *bufio.Writer // coverage.jsonl, opened at the first read (coverage.go)
	timeline []tlEntry
	dropped  int
	faultLog []string          // for SeedOutcome.Faults
	params   map[string]string // the plan's, for SeedOutcome.FaultParams
	cmdOut   map[string]*syncWriter
	err      error // first write error
}

type tlEntry struct {
	at        time.Duration
	seq       int
	who, what string
	rec       TimelineRecord // the structured form; At, Who and Text are filled in at close
}

// Kinds of [TimelineRecord].
const (
	TLPhase    = "phase"     // Phase began
	TLNode     = "node"      // a node started or exited (Event, ExitCode, Signal, Expected)
	TLPlan     = "plan"      // the seed's fault plan was drawn (Params)
	TLFault    = "fault"     // a fault action was applied (Action, Outcome)
	TLCmdStart = "cmd_start" // a workload command run began (Command, Run, Service, Role)
	TLCmdEnd   = "cmd_end"   // it ended (Status, Result, TookNS)
	TLSDK      = "sdk"       // an SDK line (Node, Proc, LineNo, and Assert for assertions)
	TLNote     = "note"      // anything else the runner noted
)

// TimelineRecord is one entry of a seed's timeline as timeline.jsonl stores
// it: its cluster time, who it concerns and its text as timeline.txt shows
// them, plus the facts behind the text by Kind, so that a report can draw
// the seed without parsing text.
type TimelineRecord struct {
	AtNS int64  `json:"at_ns"`
	Kind string `json:"kind"`
	Who  string `json:"who"`
	Text string `json:"text"`
	// Phase is the phase a TLPhase record begins.
	Phase string `json:"phase,omitempty"`
	// Node records: Event is "start" or "exit"; an exit has its code,
	// signal, and whether mvrun caused it (a kill, the end of the seed).
	Event    string `json:"event,omitempty"`
	ExitCode int    `json:"exit_code,omitempty"`
	Signal   string `json:"signal,omitempty"`
	Expected bool   `json:"expected,omitempty"`
	// Params are a TLPlan record's per-seed (swarm) fault parameters.
	Params map[string]string `json:"params,omitempty"`
	// Action is a TLFault record's action; Outcome is "ok",
	// "unsupported: …" or "error: …".
	Action  *faults.Action `json:"action,omitempty"`
	Outcome string         `json:"outcome,omitempty"`
	// Workload command records. Run names the run within the command
	// ("0.3": instance 0, fourth run); Result of a TLCmdEnd is "ok" (exit
	// 0), "fail" (another exit, a signal, a timeout, could not run) or
	// "cut" (stopped because its phase ended); Status says it in words.
	Command string `json:"command,omitempty"`
	Run     string `json:"run,omitempty"`
	Service string `json:"service,omitempty"`
	Role    string `json:"role,omitempty"`
	Status  string `json:"status,omitempty"`
	Result  string `json:"result,omitempty"`
	TookNS  int64  `json:"took_ns,omitempty"`
	// SDK records: the node and workload command that wrote the line, its
	// line number in that stream, and for antithesis_assert lines the
	// assertion as sent.
	Node   string          `json:"node,omitempty"`
	Proc   string          `json:"proc,omitempty"`
	LineNo int             `json:"line_no,omitempty"`
	Assert json.RawMessage `json:"assert,omitempty"`
}

func newArtifacts(dir string) (*artifacts, error) {
	if err := os.MkdirAll(filepath.Join(dir, workloadDir), 0o755); err != nil {
		return nil, fmt.Errorf("creating artifacts directory: %w", err)
	}
	a := &artifacts{dir: dir, cmdOut: map[string]*syncWriter{}}
	open := func(name string) (*bufio.Writer, error) {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("creating artifact: %w", err)
		}
		a.files = append(a.files, f)
		return bufio.NewWriter(f), nil
	}
	var err error
	if a.events, err = open(EventsFile); err == nil {
		if a.faults, err = open(FaultsFile); err == nil {
			a.workload, err = open(WorkloadFile)
		}
	}
	if err != nil {
		for _, f := range a.files {
			f.Close()
		}
		return nil, err
	}
	return a, nil
}

// addLocked appends a timeline entry of kind TLNote; mu must be held.
func (a *artifacts) addLocked(at time.Duration, who, what string) {
	a.addRecLocked(at, who, what, TimelineRecord{Kind: TLNote})
}

// addRecLocked appends a timeline entry with its structured record; mu
// must be held.
func (a *artifacts) addRecLocked(at time.Duration, who, what string, rec TimelineRecord) {
	if len(a.timeline) >= maxTimeline {
		a.dropped++
		return
	}
	a.timeline = append(a.timeline, tlEntry{at, len(a.timeline), who, what, rec})
}

func (a *artifacts) write(w *bufio.Writer, s string) {
	if _, err := w.WriteString(s); err != nil && a.err == nil {
		a.err = err
	}
}

// note adds a free-form timeline entry.
func (a *artifacts) note(at time.Duration, who, format string, args ...any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.addLocked(at, who, fmt.Sprintf(format, args...))
}

// phase marks the start of a seed phase.
func (a *artifacts) phase(at time.Duration, name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.addRecLocked(at, "runner", "== phase "+name, TimelineRecord{Kind: TLPhase, Phase: name})
	a.write(a.workload, fmt.Sprintf("%s phase %s\n", fmtAt(at), name))
}

// sdk records one SDK line.
func (a *artifacts) sdk(ev backend.Event) {
	rec := struct {
		At     string          `json:"at"`
		AtNS   int64           `json:"at_ns"`
		Node   string          `json:"node"`
		Proc   string          `json:"proc,omitempty"`
		LineNo int             `json:"line_no"`
		Event  json.RawMessage `json:"event,omitempty"`
		Raw    string          `json:"raw,omitempty"`
		Cut    int64           `json:"cut_from_bytes,omitempty"`
	}{At: ev.At.String(), AtNS: int64(ev.At), Node: ev.Node, Proc: ev.Proc, LineNo: ev.LineNo, Cut: ev.Cut}
	if ev.Cut > 0 {
		// Only the start of an oversized line is kept, as raw text.
		rec.Raw = string(ev.Line[:min(len(ev.Line), 4096)])
	} else if json.Valid(ev.Line) {
		rec.Event = ev.Line
	} else {
		rec.Raw = string(ev.Line)
	}
	b, _ := json.Marshal(rec)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.write(a.events, string(b)+"\n")
	a.addRecLocked(ev.At, nodeProc(ev.Node, ev.Proc), "sdk "+summarizeSDK(ev.Line), TimelineRecord{
		Kind: TLSDK, Node: ev.Node, Proc: ev.Proc, LineNo: ev.LineNo, Assert: assertOf(ev.Line),
	})
}

// assertOf returns the antithesis_assert object of an SDK line that is a
// hit of an assertion, or nil; catalog entries (hit false) are left out,
// since they are not evaluations.
func assertOf(line []byte) json.RawMessage {
	if !bytes.Contains(line, []byte(`"antithesis_assert"`)) {
		return nil
	}
	var m struct {
		Assert json.RawMessage `json:"antithesis_assert"`
	}
	var hit struct {
		Hit bool `json:"hit"`
	}
	if json.Unmarshal(line, &m) != nil || m.Assert == nil || json.Unmarshal(m.Assert, &hit) != nil || !hit.Hit {
		return nil
	}
	return m.Assert
}

func nodeProc(node, proc string) string {
	if proc == "" {
		return node
	}
	return node + "/" + proc
}

// summarizeSDK renders an SDK line in a few words for the timeline.
func summarizeSDK(line []byte) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(line, &m) == nil && len(m) == 1 {
		if raw, ok := m["antithesis_assert"]; ok {
			var as struct {
				Message     string `json:"message"`
				DisplayType string `json:"display_type"`
				Condition   bool   `json:"condition"`
				Hit         bool   `json:"hit"`
			}
			if json.Unmarshal(raw, &as) == nil {
				if !as.Hit {
					return fmt.Sprintf("catalog %s %q", as.DisplayType, as.Message)
				}
				return fmt.Sprintf("%s %q condition=%t", as.DisplayType, as.Message, as.Condition)
			}
		}
	}
	s := string(line)
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// node records a node lifecycle event.
func (a *artifacts) node(ev backend.Event) {
	what := "started"
	if ev.Kind == backend.EventNodeExit {
		what = fmt.Sprintf("exited code=%d", ev.ExitCode)
		if ev.Signal != "" {
			what += " signal=" + ev.Signal
		}
		if ev.Expected {
			what += " (expected)"
		} else {
			what += " (UNEXPECTED)"
		}
	}
	rec := TimelineRecord{Kind: TLNode, Event: "start"}
	if ev.Kind == backend.EventNodeExit {
		rec = TimelineRecord{Kind: TLNode, Event: "exit", ExitCode: ev.ExitCode, Signal: ev.Signal, Expected: ev.Expected}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.addRecLocked(ev.At, ev.Node, what, rec)
}

// plan writes the fault plan at the top of faults.log.
func (a *artifacts) plan(at time.Duration, p faults.Plan) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.write(a.faults, p.String())
	a.write(a.faults, "applied (cluster time, action, outcome):\n")
	params := make([]string, 0, len(p.Params))
	for _, k := range sortedKeys(p.Params) {
		params = append(params, k+"="+p.Params[k])
	}
	a.params = p.Params
	a.addRecLocked(at, "faults", fmt.Sprintf("plan: %d actions; %s", len(p.Actions), strings.Join(params, " ")),
		TimelineRecord{Kind: TLPlan, Params: p.Params})
}

// faultParams returns the fault plan's parameters, or nil before the plan.
func (a *artifacts) faultParams() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.params)
}

// fault records one applied fault action.
func (a *artifacts) fault(ap faults.Applied) {
	outcome := "ok"
	switch {
	case ap.Unsupported():
		outcome = "unsupported: " + ap.Err.Error()
	case ap.Err != nil:
		outcome = "error: " + ap.Err.Error()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.write(a.faults, fmt.Sprintf("  %s  %s  [%s]\n", fmtAt(ap.At), ap.Action, outcome))
	a.faultLog = append(a.faultLog, fmt.Sprintf("%v %s [%s]", ap.Action.At, ap.Action, outcome))
	act := ap.Action
	a.addRecLocked(ap.At, "faults", fmt.Sprintf("%s [%s]", ap.Action, outcome), TimelineRecord{Kind: TLFault, Action: &act, Outcome: outcome})
}

// diskHit records a disk fault acting on one I/O call: in faults.log and
// the fault log (so replays compare them), and in the timeline.
func (a *artifacts) diskHit(ev backend.Event) {
	line := fmt.Sprintf("disk_hit %s %s", ev.Node, ev.Line)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.write(a.faults, fmt.Sprintf("  %s  %s\n", fmtAt(ev.At), line))
	a.faultLog = append(a.faultLog, fmt.Sprintf("%v %s", ev.At, line))
	a.addLocked(ev.At, "faults", line)
}

// cmdStart and cmdEnd record a workload command run.
func (a *artifacts) cmdStart(at time.Duration, c *specs.Command, run string) {
	line := fmt.Sprintf("start %s#%s (%s) service=%s argv=%q", c.Name, run, c.Role, c.Service, c.Argv)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.write(a.workload, fmtAt(at)+" "+line+"\n")
	a.addRecLocked(at, "workload", line, TimelineRecord{Kind: TLCmdStart, Command: c.Name, Run: run, Service: c.Service, Role: string(c.Role)})
}

// cmdEnd records the end of a run; result is "ok", "fail" or "cut" (see
// [TimelineRecord]).
func (a *artifacts) cmdEnd(at time.Duration, c *specs.Command, run string, took time.Duration, status, result string) {
	line := fmt.Sprintf("end   %s#%s %s after %v", c.Name, run, status, took.Round(time.Millisecond))
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.write(a.workload, fmtAt(at)+" "+line+"\n")
	a.addRecLocked(at, "workload", line, TimelineRecord{
		Kind: TLCmdEnd, Command: c.Name, Run: run, Service: c.Service, Role: string(c.Role),
		Status: status, Result: result, TookNS: int64(took),
	})
}

// cmdOutput returns the writer for command name's stdout and stderr.
func (a *artifacts) cmdOutput(name string) io.Writer {
	a.mu.Lock()
	defer a.mu.Unlock()
	if w := a.cmdOut[name]; w != nil {
		return w
	}
	w := &syncWriter{}
	if a.closed {
		return w
	}
	f, err := os.OpenFile(filepath.Join(a.dir, workloadDir, sanitize(name)+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err == nil {
		w.f = f
		a.files = append(a.files, f)
	}
	a.cmdOut[name] = w
	return w
}

// close flushes everything and writes timeline.txt.
func (a *artifacts) close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	for _, w := range []*bufio.Writer{a.events, a.faults, a.workload, a.coverage} {
		if w == nil {
			continue
		}
		if err := w.Flush(); err != nil && a.err == nil {
			a.err = err
		}
	}
	for _, w := range a.cmdOut {
		w.mu.Lock()
		w.f = nil
		w.mu.Unlock()
	}
	for _, f := range a.files {
		if err := f.Close(); err != nil && a.err == nil {
			a.err = err
		}
	}
	slices.SortStableFunc(a.timeline, func(x, y tlEntry) int {
		if x.at != y.at {
			if x.at < y.at {
				return -1
			}
			return 1
		}
		return x.seq - y.seq
	})
	var b, j bytes.Buffer
	enc := json.NewEncoder(&j)
	enc.SetEscapeHTML(false)
	for _, e := range a.timeline {
		fmt.Fprintf(&b, "%s  %-16s %s\n", fmtAt(e.at), e.who, e.what)
		rec := e.rec
		rec.AtNS, rec.Who, rec.Text = int64(e.at), e.who, e.what
		if err := enc.Encode(rec); err != nil && a.err == nil {
			a.err = err
		}
	}
	if a.dropped > 0 {
		fmt.Fprintf(&b, "(%d later entries dropped; see %s and %s)\n", a.dropped, EventsFile, WorkloadFile)
		enc.Encode(TimelineRecord{Kind: TLNote, Who: "runner", Text: fmt.Sprintf("%d later entries dropped", a.dropped)})
	}
	for name, data := range map[string][]byte{TimelineFile: b.Bytes(), TimelineJSONFile: j.Bytes()} {
		if err := os.WriteFile(filepath.Join(a.dir, name), data, 0o644); err != nil && a.err == nil {
			a.err = err
		}
	}
	a.timeline = nil
	if a.err != nil {
		return fmt.Errorf("writing the artifacts in %s: %w", a.dir, a.err)
	}
	return nil
}

// fmtAt renders a cluster time with millisecond precision, right-aligned.
func fmtAt(d time.Duration) string {
	return fmt.Sprintf("%10.3fs", d.Seconds())
}

// syncWriter serialises writes to a file and drops them once the file is
// closed.
type syncWriter struct {
	mu sync.Mutex
	f  *os.File
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return len(p), nil
	}
	return w.f.Write(p)
}
