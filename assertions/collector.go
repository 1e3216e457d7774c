package assertions

import (
	"bytes"
	"cmp"
	"fmt"
	"sync"
	"unicode/utf8"
)

// Bounds on what a Collector keeps. Counts are always exact; only the kept
// examples are bounded, per (seed, node, process) stream, keeping the lowest
// line numbers so the result does not depend on arrival order.
const (
	// MaxEventsPerStream is how many plain events are kept per stream.
	MaxEventsPerStream = 256
	// MaxMalformedPerStream is how many malformed lines are kept per stream.
	MaxMalformedPerStream = 32
	// MaxLineBytes is how much of a malformed line is kept.
	MaxLineBytes = 512
)

// BuiltinKind says which row of the verdict table a built-in property follows.
type BuiltinKind int

const (
	// BuiltinAlways fails when any evaluation is false (or none was made).
	BuiltinAlways BuiltinKind = iota
	// BuiltinSometimes fails when no evaluation is true.
	BuiltinSometimes
)

// String returns the kind's display type.
func (k BuiltinKind) String() string {
	if k == BuiltinSometimes {
		return "Sometimes"
	}
	return "Always"
}

// Collector gathers wire lines and built-in checks from every seed of a run.
// The zero value is not usable; call [NewCollector]. All methods are safe for
// concurrent use.
type Collector struct {
	mu             sync.Mutex
	done           map[uint64]bool
	props          map[string]*prop
	malformed      map[stream][]Malformed
	malformedTotal int
	lost           map[lostKey]int64
	events         map[stream][]Named
	eventsDropped  int
	setup          map[uint64]bool
	guidance       map[string]*Guidance
	sdks           map[SDK]int
	notes          map[string]bool
}

// stream identifies one process's output in one seed.
type stream struct {
	seed       uint64
	node, proc string
}

type lostKey struct {
	stream
	reason string
}

// evalKey orders evaluations independently of arrival order, so "first"
// counterexamples and locations are deterministic.
type evalKey struct {
	stream
	lineNo int
}

func (a evalKey) less(b evalKey) bool {
	return cmp.Or(cmp.Compare(a.seed, b.seed), cmp.Compare(a.node, b.node),
		cmp.Compare(a.proc, b.proc), cmp.Compare(a.lineNo, b.lineNo)) < 0
}

// seedStat counts one property's evaluations in one seed; unknown counts
// history checks that could not decide.
type seedStat struct{ hitsTrue, hitsFalse, unknown int }

// prop is the mutable state behind a [Property].
type prop struct {
	id, message, display string
	typ                  AssertType
	mustHit, builtin     bool
	haveInfo             bool
	infoKey              evalKey // line that set message, display, loc
	loc                  Location
	seeds                map[uint64]*seedStat
	cex                  *Counterexample
	cexKey               evalKey
	unk                  *Counterexample // first undecided history check
	unkKey               evalKey
}

// NewCollector returns an empty Collector.
func NewCollector() *Collector {
	return &Collector{
		done:      map[uint64]bool{},
		props:     map[string]*prop{},
		malformed: map[stream][]Malformed{},
		lost:      map[lostKey]int64{},
		events:    map[stream][]Named{},
		setup:     map[uint64]bool{},
		guidance:  map[string]*Guidance{},
		sdks:      map[SDK]int{},
		notes:     map[string]bool{},
	}
}

// Add records one wire line produced by process proc ("" = the service
// itself, else the workload command name) in node during seed. lineNo is the
// line's 1-based position in that process's output. Blank lines are skipped;
// lines that cannot be decoded are recorded as [Malformed].
func (c *Collector) Add(seed uint64, node, proc string, lineNo int, line []byte) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return
	}
	k := evalKey{stream{seed, node, proc}, lineNo}
	items, err := parseLine(line)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.addMalformed(k, err.Error(), line)
		return
	}
	// Check every assertion first so a conflicting line changes nothing.
	for _, it := range items {
		if it.assert == nil {
			continue
		}
		if msg := c.conflict(it.assert.id, it.assert.assertType, it.assert.mustHit, false); msg != "" {
			c.addMalformed(k, msg, line)
			return
		}
	}
	for _, it := range items {
		c.apply(k, it)
	}
}

func (c *Collector) apply(k evalKey, it item) {
	switch {
	case it.assert != nil:
		a := it.assert
		if a.id == degradedProperty {
			c.notes[fmt.Sprintf("ignored the Antithesis SDK's %q property (first from node %q): "+
				"it only matters on the Antithesis platform, mvrun does not need cgo", a.id, k.node)] = true
			return
		}
		p := c.prop(a.id, a.assertType, a.mustHit, false)
		if !p.haveInfo || k.less(p.infoKey) {
			p.haveInfo, p.infoKey = true, k
			p.message, p.display, p.loc = a.message, a.displayType, a.loc
		}
		st := p.seed(k.seed)
		if !a.hit {
			return // catalog entry: registers the property, evaluates nothing
		}
		c.evaluate(p, st, k, a.condition, a.details, a.loc)
	case it.guidance != nil:
		g := it.guidance
		if old := c.guidance[g.ID]; old != nil {
			old.Hits += g.Hits
		} else {
			c.guidance[g.ID] = g
		}
	case it.sdk != nil:
		c.sdks[*it.sdk]++
	case it.key == keySetup:
		if it.setup == "complete" {
			c.setup[k.seed] = true
		} else {
			c.addEvent(k, it.key, map[string]any{"status": it.setup})
		}
	case it.lost != nil:
		c.lost[lostKey{k.stream, it.lost.Reason}] += *it.lost.Count
	case it.diag != nil:
		// One note per distinct report: the SDK sends each warning once per
		// process, so the same text from every node and seed is one note.
		c.notes[fmt.Sprintf("the Antithesis SDK reported %s %d: %s", it.key, it.diag.Code, it.diag.Message)] = true
	case it.key == keyHistory:
	default:
		c.addEvent(k, it.key, it.event)
	}
}

// evaluate records one hit of p.
func (c *Collector) evaluate(p *prop, st *seedStat, k evalKey, cond bool, details map[string]any, loc Location) {
	if cond {
		st.hitsTrue++
	} else {
		st.hitsFalse++
	}
	if !p.bad(cond, true) {
		return
	}
	if p.cex == nil || k.less(p.cexKey) {
		p.cexKey = k
		p.cex = &Counterexample{Seed: k.seed, Node: k.node, Proc: k.proc, LineNo: k.lineNo, Details: details, Location: loc}
	}
}

// bad reports whether one evaluation counts against the property.
func (p *prop) bad(cond, hit bool) bool {
	if p.typ == TypeReachability && !p.mustHit {
		return hit // Unreachable: any hit is a counterexample
	}
	return hit && !cond
}

func (p *prop) seed(s uint64) *seedStat {
	st := p.seeds[s]
	if st == nil {
		st = &seedStat{}
		p.seeds[s] = st
	}
	return st
}

// conflict returns why id cannot be recorded as (typ, mustHit), or "".
// One id with two kinds has no single verdict: the user must rename one.
func (c *Collector) conflict(id string, typ AssertType, mustHit, builtin bool) string {
	p := c.props[id]
	if p == nil || (p.typ == typ && p.mustHit == mustHit && p.builtin == builtin) {
		return ""
	}
	what := func(b bool) string {
		if b {
			return "a built-in property"
		}
		return "an SDK assertion"
	}
	return fmt.Sprintf("property %q is %s %s here but %s %s elsewhere; give them different messages",
		id, what(builtin), defaultDisplay(typ, mustHit), what(p.builtin), defaultDisplay(p.typ, p.mustHit))
}

func (c *Collector) prop(id string, typ AssertType, mustHit, builtin bool) *prop {
	p := c.props[id]
	if p == nil {
		p = &prop{id: id, message: id, typ: typ, display: defaultDisplay(typ, mustHit),
			mustHit: mustHit, builtin: builtin, seeds: map[uint64]*seedStat{}}
		c.props[id] = p
	}
	return p
}

func (c *Collector) addMalformed(k evalKey, msg string, line []byte) {
	c.malformedTotal++
	text := line
	if len(text) > MaxLineBytes {
		text = text[:MaxLineBytes]
		for len(text) > 0 && !utf8.Valid(text) {
			text = text[:len(text)-1]
		}
	}
	m := Malformed{Seed: k.seed, Node: k.node, Proc: k.proc, LineNo: k.lineNo, Error: msg, Text: string(text)}
	c.malformed[k.stream] = keepLowest(c.malformed[k.stream], m, MaxMalformedPerStream, func(m Malformed) int { return m.LineNo })
}

func (c *Collector) addEvent(k evalKey, name string, v any) {
	n := Named{Seed: k.seed, Node: k.node, Proc: k.proc, LineNo: k.lineNo, Name: name, Value: v}
	s := c.events[k.stream]
	if len(s) >= MaxEventsPerStream {
		c.eventsDropped++
	}
	c.events[k.stream] = keepLowest(s, n, MaxEventsPerStream, func(n Named) int { return n.LineNo })
}

// keepLowest appends v to s, then, above max entries, drops the one with the
// highest line number.
func keepLowest[T any](s []T, v T, max int, line func(T) int) []T {
	if len(s) < max {
		return append(s, v)
	}
	hi := 0
	for i := range s {
		if line(s[i]) > line(s[hi]) {
			hi = i
		}
	}
	if line(v) < line(s[hi]) {
		s[hi] = v
	}
	return s
}

// AddOversized records an SDK line of size bytes that was too long to
// take whole; head is its start. It counts as a malformed line, so the cut
// is reported rather than silent.
func (c *Collector) AddOversized(seed uint64, node, proc string, lineNo int, head []byte, size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addMalformed(evalKey{stream{seed, node, proc}, lineNo},
		fmt.Sprintf("line of %d bytes is over the limit; not decoded", size), head)
}

// AddLost records SDK messages that a process lost where the loss could not
// travel on the wire itself: its channel broke (the output file went away,
// the socket closed), so the SDK said so only on the process's stderr. The
// runner finds those lines; count is a lower bound when the SDK printed
// only its first loss. Losses appear in [Result.Lost] beside those reported
// by mvrun_sdk_lost lines.
func (c *Collector) AddLost(seed uint64, node, proc string, count int64, reason string) {
	if count <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lost[lostKey{stream{seed, node, proc}, reason}] += count
}

// Builtin records one evaluation of a built-in property such as "no node
// crashed unexpectedly" or "setup completed". kind picks the verdict rule;
// details become the counterexample if this evaluation is the first failing
// one.
func (c *Collector) Builtin(seed uint64, id string, kind BuiltinKind, ok bool, details map[string]any) {
	c.BuiltinOn(seed, "", id, kind, ok, details)
}

// BuiltinOn is [Collector.Builtin] for an evaluation about one node, such
// as the node that crashed: a counterexample it becomes names that node,
// as one from an SDK line names the node that sent it.
func (c *Collector) BuiltinOn(seed uint64, node, id string, kind BuiltinKind, ok bool, details map[string]any) {
	typ := TypeAlways
	if kind == BuiltinSometimes {
		typ = TypeSometimes
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := evalKey{stream: stream{seed: seed, node: node}}
	if msg := c.conflict(id, typ, true, true); msg != "" {
		c.addMalformed(k, msg, []byte(id))
		return
	}
	p := c.prop(id, typ, true, true)
	p.display = kind.String()
	c.evaluate(p, p.seed(seed), k, ok, details, Location{})
}

// CheckOutcome is the outcome of one history check in one seed.
type CheckOutcome int

// Outcomes of a history check.
const (
	CheckPass    CheckOutcome = iota // the history is linearizable
	CheckFail                        // it is not, or it could not be read
	CheckUnknown                     // the check timed out undecided
	// CheckEmpty registers the property without evaluating it: the seed
	// recorded no history. A check no seed evaluated fails.
	CheckEmpty
)

// Check records the outcome of history check id in seed. A check property
// fails when any seed failed it or when no seed checked it; otherwise it
// is [Unknown] when any seed was undecided, and passes only when every
// check decided. details describe the seed's history and become the
// counterexample of the first failing (or undecided) seed.
func (c *Collector) Check(seed uint64, id string, outcome CheckOutcome, details map[string]any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := evalKey{stream: stream{seed: seed}}
	if msg := c.conflict(id, TypeCheck, true, true); msg != "" {
		c.addMalformed(k, msg, []byte(id))
		return
	}
	p := c.prop(id, TypeCheck, true, true)
	p.display = DisplayLinearizable
	st := p.seed(seed)
	if outcome == CheckEmpty {
		return
	}
	if outcome != CheckUnknown {
		c.evaluate(p, st, k, outcome == CheckPass, details, Location{})
		return
	}
	st.unknown++
	if p.unk == nil || k.less(p.unkKey) {
		p.unkKey = k
		p.unk = &Counterexample{Seed: seed, Details: details}
	}
}

// SeedDone marks seed as finished: it counts toward the seeds run, and a
// must-hit property not reached in it fails there.
func (c *Collector) SeedDone(seed uint64) {
	c.mu.Lock()
	c.done[seed] = true
	c.mu.Unlock()
}
