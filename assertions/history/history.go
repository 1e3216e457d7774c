// Package history checks operation histories for linearizability.
//
// Workloads record their operations with the SDK's sdk/history package (or
// by writing the same JSON lines from any language): each operation is
// invoked, then completes as ok (it took effect, with a result), fail (it
// certainly did not) or info (unknown). A [Recorder] gathers the lines of one
// seed; [Check] turns a history into operations, partitions them by key and
// checks each partition against a built-in [Model] with porcupine, bounded
// by a timeout. A timeout is an [Unknown] verdict, never a pass.
//
// How outcomes become operations, as in Jepsen and Knossos: an ok operation
// spans [invoke time, completion time]; a failed one is dropped (it did not
// happen); one whose outcome is unknown (info, or never completed before the
// seed ended) may take effect at any time after its invocation, so it spans
// [invoke time, +∞) with an unknown result, except that an unknown read is
// dropped since it changes nothing.
package history

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Key is the top-level key of a history line on the SDK wire.
const Key = "mvrun_history"

// Line types.
const (
	TypeInvoke = "invoke"
	TypeOk     = "ok"
	TypeFail   = "fail"
	TypeInfo   = "info"
)

// Line is one decoded history line.
type Line struct {
	// History names the history the line belongs to; a spec's check block
	// names the history it checks.
	History string
	// Process identifies the client (one operation at a time) within its
	// node; the recorder prefixes the node's name.
	Process string
	// Op numbers the client's operations; an invocation and its completion
	// carry the same number.
	Op   int64
	Type string
	// F is the operation, such as "read" or "write".
	F string
	// Key partitions the history; "" is a single object.
	Key string
	// Value is the input of an invocation or the result of an ok
	// completion, as JSON; nil when absent (which reads as null).
	Value json.RawMessage
	// Error is why an operation failed or has an unknown outcome.
	Error string
	// Time is the client's clock in nanoseconds.
	Time int64
}

// wireLine is the JSON shape of a line's value. Pointers tell missing
// required fields from zero ones.
type wireLine struct {
	History *string         `json:"history"`
	Process json.RawMessage `json:"process"`
	Op      *int64          `json:"op"`
	Type    *string         `json:"type"`
	F       *string         `json:"f"`
	Key     *string         `json:"key"`
	Value   json.RawMessage `json:"value"`
	Error   string          `json:"error"`
	Time    *int64          `json:"time"`
}

// Is reports whether a wire line may be a history line: whether it names
// the history key at all. Lines for which it is false are none of this
// package's business; lines for which it is true must [Parse].
func Is(line []byte) bool { return bytes.Contains(line, []byte(`"`+Key+`"`)) }

// ErrNotHistory is returned by [Parse] for a JSON object without the
// history key.
var ErrNotHistory = errors.New("not a history line")

// Parse decodes one wire line. It returns [ErrNotHistory] when the line is a
// JSON object without a top-level history key, and a descriptive error when
// the line is not JSON or its history value lacks a field or has one of the
// wrong type.
func Parse(line []byte) (Line, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(line, &top); err != nil {
		return Line{}, fmt.Errorf("not valid JSON: %w", err)
	}
	raw, ok := top[Key]
	if !ok {
		return Line{}, ErrNotHistory
	}
	var w wireLine
	if err := json.Unmarshal(raw, &w); err != nil {
		return Line{}, fmt.Errorf("%s: %w", Key, err)
	}
	var missing []string
	for name, absent := range map[string]bool{
		"history": w.History == nil, "process": len(w.Process) == 0, "op": w.Op == nil,
		"type": w.Type == nil, "f": w.F == nil, "time": w.Time == nil,
	} {
		if absent {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return Line{}, fmt.Errorf("%s: missing %s", Key, strings.Join(missing, ", "))
	}
	l := Line{History: *w.History, Op: *w.Op, Type: *w.Type, F: *w.F, Error: w.Error, Time: *w.Time}
	if w.Key != nil {
		l.Key = *w.Key
	}
	// A process id may be a string or a number (Jepsen numbers them).
	var s string
	var n json.Number
	switch {
	case json.Unmarshal(w.Process, &s) == nil:
		l.Process = s
	case json.Unmarshal(w.Process, &n) == nil:
		l.Process = n.String()
	default:
		return Line{}, fmt.Errorf("%s: process must be a string or a number, not %s", Key, w.Process)
	}
	switch l.Type {
	case TypeInvoke, TypeOk, TypeFail, TypeInfo:
	default:
		return Line{}, fmt.Errorf("%s: type %q: want invoke, ok, fail or info", Key, l.Type)
	}
	if l.History == "" || l.F == "" {
		return Line{}, fmt.Errorf("%s: history and f must not be empty", Key)
	}
	if len(w.Value) > 0 && !bytes.Equal(w.Value, []byte("null")) {
		l.Value = w.Value
	}
	return l, nil
}

// Source is where a line came from, for error messages and visualizations.
type Source struct {
	Node, Proc string
	LineNo     int
}

func (s Source) String() string {
	where := s.Node
	if s.Proc != "" {
		where += "/" + s.Proc
	}
	return fmt.Sprintf("%s line %d", where, s.LineNo)
}

// event is a line with its client (node-qualified process) and source.
type event struct {
	Line
	client string
	src    Source
}

// History is the lines of one named history in one seed.
type History struct {
	Name   string
	events []event
}

// Len returns how many lines the history holds.
func (h *History) Len() int { return len(h.events) }

// Recorder gathers the history lines of one seed. The zero value is ready
// to use; it is not safe for concurrent use.
type Recorder struct {
	hists    map[string]*History
	errs     []error
	errTotal int
}

// MaxErrors bounds how many malformed lines a Recorder keeps; it counts
// all of them.
const MaxErrors = 20

// AddLine parses a wire line that [Is] reports as a history line and adds
// it; a malformed line is kept as an error (see [Recorder.Errors]). It
// reports whether the line was a history line.
func (r *Recorder) AddLine(src Source, line []byte) bool {
	l, err := Parse(line)
	if errors.Is(err, ErrNotHistory) {
		return false
	}
	if err != nil {
		r.addErr(fmt.Errorf("%s: %w", src, err))
		return true
	}
	r.Add(src, l)
	return true
}

// Add adds a decoded line from src.
func (r *Recorder) Add(src Source, l Line) {
	if r.hists == nil {
		r.hists = map[string]*History{}
	}
	h := r.hists[l.History]
	if h == nil {
		h = &History{Name: l.History}
		r.hists[l.History] = h
	}
	h.events = append(h.events, event{Line: l, client: src.Node + "/" + l.Process, src: src})
}

func (r *Recorder) addErr(err error) {
	if len(r.errs) < MaxErrors {
		r.errs = append(r.errs, err)
	}
	r.errTotal++
}

// History returns the history called name; an empty one if no line named
// it.
func (r *Recorder) History(name string) *History {
	if h := r.hists[name]; h != nil {
		return h
	}
	return &History{Name: name}
}

// Names returns the names of the histories recorded, sorted.
func (r *Recorder) Names() []string { return slices.Sorted(maps.Keys(r.hists)) }

// Errors returns the first [MaxErrors] malformed lines, in the order they
// were added, and how many there were in all.
func (r *Recorder) Errors() ([]error, int) { return r.errs, r.errTotal }

// op is one operation of a history before it is given to porcupine.
type op struct {
	client   string
	key      string
	f        string
	input    json.RawMessage
	output   json.RawMessage
	known    bool // the outcome is known (ok)
	call     int64
	ret      int64 // math.MaxInt64 when unknown
	invoke   Source
	complete Source
	n        int64
}

// pending identifies an invoked operation awaiting its completion.
type pending struct {
	client string
	n      int64
}

// ops pairs invocations with completions. It returns the operations sorted
// by call time (ties broken by client and number, so the result does not
// depend on the order in which the streams of several processes arrived),
// how many failed (dropped), and an error for a completion without
// invocation or a completion that disagrees with its invocation.
func (h *History) ops() (ops []op, failed int, err error) {
	evs := slices.Clone(h.events)
	// Each stream's lines arrive in order; sort so that an invocation
	// precedes its completion whatever the interleaving of streams.
	slices.SortStableFunc(evs, func(a, b event) int {
		return cmp.Or(cmp.Compare(a.client, b.client), cmp.Compare(a.Op, b.Op), cmp.Compare(rank(a.Type), rank(b.Type)))
	})
	open := map[pending]*op{}
	var done []*op
	for _, e := range evs {
		k := pending{e.client, e.Op}
		if e.Type == TypeInvoke {
			if prev := open[k]; prev != nil {
				// Two invocations with one number: an earlier process with
				// the same id died with this operation open. Its outcome
				// is unknown.
				done = append(done, prev)
			}
			open[k] = &op{client: e.client, key: e.Key, f: e.F, input: e.Value, call: e.Time, ret: infinity, invoke: e.src, n: e.Op}
			continue
		}
		o := open[k]
		if o == nil {
			return nil, 0, fmt.Errorf("%s: %s of operation %d of process %q, which was never invoked", e.src, e.Type, e.Op, e.Process)
		}
		if o.f != e.F || o.key != e.Key {
			return nil, 0, fmt.Errorf("%s: %s of operation %d of process %q is %s(%q), but it was invoked as %s(%q) at %s",
				e.src, e.Type, e.Op, e.Process, e.F, e.Key, o.f, o.key, o.invoke)
		}
		delete(open, k)
		switch e.Type {
		case TypeOk:
			if e.Time < o.call {
				return nil, 0, fmt.Errorf("%s: operation %d of process %q completes at %d, before it was invoked (%d)", e.src, e.Op, e.Process, e.Time, o.call)
			}
			o.known, o.ret, o.output, o.complete = true, e.Time, e.Value, e.src
			done = append(done, o)
		case TypeFail:
			failed++
		case TypeInfo:
			o.complete = e.src
			done = append(done, o)
		}
	}
	for _, o := range open {
		done = append(done, o) // never completed: unknown outcome
	}
	ops = make([]op, len(done))
	for i, o := range done {
		ops[i] = *o
	}
	slices.SortFunc(ops, func(a, b op) int {
		return cmp.Or(cmp.Compare(a.call, b.call), cmp.Compare(a.client, b.client), cmp.Compare(a.n, b.n))
	})
	return ops, failed, nil
}

func rank(typ string) int {
	if typ == TypeInvoke {
		return 0
	}
	return 1
}

// describe renders an operation's source for visualizations.
func (o *op) describe() string {
	s := "invoked at " + o.invoke.String()
	if o.complete.Node != "" {
		s += ", completed at " + o.complete.String()
	}
	if !o.known {
		s += " (outcome unknown)"
	}
	return s + ", client " + o.client + " op " + strconv.FormatInt(o.n, 10)
}
