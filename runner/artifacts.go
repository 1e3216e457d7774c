package runner

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
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
	workloadDir  = "workload"     // <name>.log: a command's stdout and stderr
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
	timeline []tlEntry
	dropped  int
	faultLog []string // for SeedOutcome.Faults
	cmdOut   map[string]*syncWriter
	err      error // first write error
}

type tlEntry struct {
	at        time.Duration
	seq       int
	who, what string
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

// add appends a timeline entry; mu must be held.
func (a *artifacts) addLocked(at time.Duration, who, what string) {
	if len(a.timeline) >= maxTimeline {
		a.dropped++
		return
	}
	a.timeline = append(a.timeline, tlEntry{at, len(a.timeline), who, what})
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
	a.addLocked(at, "runner", "== phase "+name)
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
	a.addLocked(ev.At, nodeProc(ev.Node, ev.Proc), "sdk "+summarizeSDK(ev.Line))
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
	a.note(ev.At, ev.Node, "%s", what)
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
	a.addLocked(at, "faults", fmt.Sprintf("plan: %d actions; %s", len(p.Actions), strings.Join(params, " ")))
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
	a.addLocked(ap.At, "faults", fmt.Sprintf("%s [%s]", ap.Action, outcome))
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
	a.addLocked(at, "workload", line)
}

func (a *artifacts) cmdEnd(at time.Duration, c *specs.Command, run string, took time.Duration, status string) {
	line := fmt.Sprintf("end   %s#%s %s after %v", c.Name, run, status, took.Round(time.Millisecond))
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.write(a.workload, fmtAt(at)+" "+line+"\n")
	a.addLocked(at, "workload", line)
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
	for _, w := range []*bufio.Writer{a.events, a.faults, a.workload} {
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
	var b strings.Builder
	for _, e := range a.timeline {
		fmt.Fprintf(&b, "%s  %-16s %s\n", fmtAt(e.at), e.who, e.what)
	}
	if a.dropped > 0 {
		fmt.Fprintf(&b, "(%d later entries dropped; see %s and %s)\n", a.dropped, EventsFile, WorkloadFile)
	}
	if err := os.WriteFile(filepath.Join(a.dir, TimelineFile), []byte(b.String()), 0o644); err != nil && a.err == nil {
		a.err = err
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
