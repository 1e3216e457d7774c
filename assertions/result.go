package assertions

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/mvrun/multiverse/internal/seeds"
)

// Verdict is the outcome of a property over the seeds of a run. Reports
// and the CLI compare verdicts as these values, never as strings.
type Verdict string

// String returns the verdict as reports spell it ("pass", "fail", ...).
func (v Verdict) String() string { return string(v) }

// Verdicts.
const (
	Pass Verdict = "pass"
	Fail Verdict = "fail"
	// Unknown is the verdict of a history check that timed out undecided
	// in some seed and failed in none. It is not a pass.
	Unknown Verdict = "unknown"
	// Undecided is the verdict of a property that an interrupted run
	// cannot judge: it failed only for want of something (a Sometimes
	// never true, a Reachable never reached) that the seeds that did not
	// run might still have shown. See [Result.Interrupted].
	Undecided Verdict = "undecided"
)

// Result is a snapshot of a [Collector], in deterministic order. Treat it as
// read-only: details maps are shared with the Collector.
type Result struct {
	// Properties are sorted failing first, then by ID.
	Properties []*Property
	// SeedsRun counts the seeds passed to [Collector.SeedDone].
	SeedsRun int
	// Malformed holds undecodable lines, sorted by seed, node, process and
	// line; at most [MaxMalformedPerStream] per stream.
	Malformed []Malformed
	// MalformedTotal counts all malformed lines, kept or not.
	MalformedTotal int
	// Lost sums the SDK's mvrun_sdk_lost reports per stream and reason.
	Lost []Lost
	// Events holds plain SDK events (lifecycle.SendEvent and custom JSON
	// lines), at most [MaxEventsPerStream] per stream.
	Events []Named
	// EventsDropped counts events beyond that bound.
	EventsDropped int
	// SetupDone holds the seeds in which antithesis_setup "complete" was seen.
	SetupDone map[uint64]bool
	// Guidance summarizes antithesis_guidance lines per id. They carry no
	// verdict; they are kept so reports can show them.
	Guidance []Guidance
	// SDKs lists the SDK versions that announced themselves, with how many
	// process starts announced each.
	SDKs []SDKCount
	// Notes are one-line remarks about lines that were understood but
	// deliberately not turned into properties.
	Notes []string
}

// Property is the verdict on one assertion id (or one built-in check).
type Property struct {
	ID      string
	Message string
	// Type is the assert_type ([TypeAlways], [TypeSometimes] or
	// [TypeReachability]), or [TypeCheck] for a history check.
	Type AssertType
	// DisplayType is what the SDK calls it ("Always", "AlwaysOrUnreachable",
	// "Sometimes", "Reachable", "Unreachable").
	DisplayType string
	// MustHit is true when never reaching the property fails it.
	MustHit bool
	// Builtin marks properties the runner checks itself.
	Builtin bool
	Verdict Verdict
	// Reason says in one line why the property failed; empty when it passed.
	Reason string
	// HitsTrue and HitsFalse count evaluations seen. The SDK sends only the
	// first passing and first failing evaluation per process, so these count
	// processes and restarts rather than calls.
	HitsTrue, HitsFalse int
	// PassingSeeds are the seeds in which the property, judged on that seed
	// alone, holds. FailingSeeds are the seeds that replay its failure; empty
	// when the property passed. UnknownSeeds are the seeds in which a
	// history check could not decide. All sorted.
	PassingSeeds, FailingSeeds, UnknownSeeds []uint64
	// FirstCounterexample is the failing evaluation with the lowest seed,
	// node, process and line; nil when the failure is that something never
	// happened.
	FirstCounterexample *Counterexample
	// Location is where the assertion is, from the first line naming it.
	Location Location
}

// Counterexample is one evaluation that counts against a property.
type Counterexample struct {
	Seed       uint64
	Node, Proc string
	LineNo     int
	Details    map[string]any
	Location   Location
}

// Malformed is a line that could not be decoded.
type Malformed struct {
	Seed       uint64
	Node, Proc string
	LineNo     int
	Error      string
	// Text is the line, cut to [MaxLineBytes].
	Text string
}

// String renders m for logs and reports.
func (m Malformed) String() string {
	return fmt.Sprintf("seed %s node %q proc %q line %d: %s: %s", seeds.Format(m.Seed), m.Node, m.Proc, m.LineNo, m.Error, m.Text)
}

// Lost is what an SDK reported it could not deliver.
type Lost struct {
	Seed       uint64
	Node, Proc string
	Count      int64
	Reason     string
}

// Named is one plain SDK event: the top-level key of a wire line and its value.
type Named struct {
	Seed       uint64
	Node, Proc string
	LineNo     int
	Name       string
	Value      any
}

// Guidance summarizes the antithesis_guidance lines of one id.
type Guidance struct {
	ID, Message  string
	GuidanceType string
	Maximize     bool
	Hits         int
	Location     Location
}

// SDK is one antithesis_sdk announcement.
type SDK struct {
	Language, LanguageVersion string
	Version, ProtocolVersion  string
}

// SDKCount is an [SDK] with the number of announcements seen.
type SDKCount struct {
	SDK
	Count int
}

// Failed reports whether any property failed.
func (r *Result) Failed() bool {
	for _, p := range r.Properties {
		if p.Verdict == Fail {
			return true
		}
	}
	return false
}

// Undecided reports whether any property's verdict is [Unknown] or
// [Undecided]: neither is a pass.
func (r *Result) Undecided() bool {
	for _, p := range r.Properties {
		if p.Verdict == Unknown || p.Verdict == Undecided {
			return true
		}
	}
	return false
}

// Observed reports whether p's failure is something that happened (an
// Always or AlwaysOrUnreachable evaluated false, an Unreachable reached)
// rather than something that did not (a Sometimes never true, a Reachable
// or must-hit Always never reached). More seeds can turn only the second
// kind into a pass.
func (p *Property) Observed() bool {
	if p.Verdict != Fail {
		return false
	}
	switch p.Type {
	case TypeSometimes:
		return false
	case TypeReachability:
		return !p.MustHit // Unreachable, reached
	}
	return p.HitsFalse > 0
}

// Interrupted turns r into the verdicts of a run that stopped before all
// its seeds finished: a failure that was [Property.Observed] stands, any
// other failure becomes [Undecided] (the missing seeds might have met it),
// with its reason prefixed by "not decided (run interrupted)". Properties
// stay sorted failing first, then undecided, then passing.
func (r *Result) Interrupted() {
	for _, p := range r.Properties {
		if p.Verdict != Fail || p.Observed() {
			continue
		}
		p.Verdict = Undecided
		p.Reason = "not decided (run interrupted): " + p.Reason + " so far"
		p.FailingSeeds = nil
	}
	rank := map[Verdict]int{Fail: 0, Unknown: 1, Undecided: 1, Pass: 2}
	slices.SortStableFunc(r.Properties, func(a, b *Property) int {
		return cmp.Compare(rank[a.Verdict], rank[b.Verdict])
	})
}

// FailingIn returns, sorted, the ids of the properties whose failure seed
// replays. In a Result of a single seed (a replay) that is every property
// that fails judged on that seed alone.
func (r *Result) FailingIn(seed uint64) []string {
	var ids []string
	for _, p := range r.Properties {
		if _, ok := slices.BinarySearch(p.FailingSeeds, seed); ok {
			ids = append(ids, p.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// Result returns a snapshot of everything collected so far.
func (c *Collector) Result() *Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := &Result{
		SeedsRun:       len(c.done),
		MalformedTotal: c.malformedTotal,
		EventsDropped:  c.eventsDropped,
		SetupDone:      maps.Clone(c.setup),
	}
	for _, p := range c.props {
		r.Properties = append(r.Properties, c.verdict(p))
	}
	slices.SortFunc(r.Properties, func(a, b *Property) int {
		if a.Verdict != b.Verdict {
			return cmp.Compare(verdictOrder[a.Verdict], verdictOrder[b.Verdict])
		}
		return cmp.Compare(a.ID, b.ID)
	})
	for _, ms := range c.malformed {
		r.Malformed = append(r.Malformed, ms...)
	}
	slices.SortFunc(r.Malformed, func(a, b Malformed) int {
		return cmp.Or(cmpStream(a.Seed, a.Node, a.Proc, b.Seed, b.Node, b.Proc), cmp.Compare(a.LineNo, b.LineNo), cmp.Compare(a.Error, b.Error))
	})
	for k, n := range c.lost {
		r.Lost = append(r.Lost, Lost{Seed: k.seed, Node: k.node, Proc: k.proc, Count: n, Reason: k.reason})
	}
	slices.SortFunc(r.Lost, func(a, b Lost) int {
		return cmp.Or(cmpStream(a.Seed, a.Node, a.Proc, b.Seed, b.Node, b.Proc), cmp.Compare(a.Reason, b.Reason))
	})
	for _, es := range c.events {
		r.Events = append(r.Events, es...)
	}
	slices.SortFunc(r.Events, func(a, b Named) int {
		return cmp.Or(cmpStream(a.Seed, a.Node, a.Proc, b.Seed, b.Node, b.Proc), cmp.Compare(a.LineNo, b.LineNo), cmp.Compare(a.Name, b.Name))
	})
	for _, g := range c.guidance {
		r.Guidance = append(r.Guidance, *g)
	}
	slices.SortFunc(r.Guidance, func(a, b Guidance) int { return cmp.Compare(a.ID, b.ID) })
	for s, n := range c.sdks {
		r.SDKs = append(r.SDKs, SDKCount{s, n})
	}
	slices.SortFunc(r.SDKs, func(a, b SDKCount) int {
		return cmp.Or(cmp.Compare(a.Language, b.Language), cmp.Compare(a.LanguageVersion, b.LanguageVersion),
			cmp.Compare(a.Version, b.Version), cmp.Compare(a.ProtocolVersion, b.ProtocolVersion))
	})
	r.Notes = slices.Sorted(maps.Keys(c.notes))
	return r
}

// verdictOrder sorts failing properties first, then undecided ones.
var verdictOrder = map[Verdict]int{Fail: 0, Unknown: 1, Pass: 2}

func cmpStream(as uint64, an, ap string, bs uint64, bn, bp string) int {
	return cmp.Or(cmp.Compare(as, bs), cmp.Compare(an, bn), cmp.Compare(ap, bp))
}

// fails applies the verdict table (package doc) to one set of counts, either a single
// seed's or the sum over all seeds.
func (p *prop) fails(st seedStat) bool {
	reached := st.hitsTrue+st.hitsFalse > 0
	switch p.typ {
	case TypeSometimes:
		return st.hitsTrue == 0
	case TypeReachability:
		return reached != p.mustHit
	case TypeCheck:
		return st.hitsFalse > 0 || st.hitsTrue+st.unknown == 0
	default: // always
		return st.hitsFalse > 0 || (p.mustHit && !reached)
	}
}

// verdict builds the public Property of p; c.mu must be held.
func (c *Collector) verdict(p *prop) *Property {
	out := &Property{
		ID: p.id, Message: p.message, Type: p.typ, DisplayType: p.display,
		MustHit: p.mustHit, Builtin: p.builtin, Location: p.loc,
		FirstCounterexample: p.cex,
	}
	// The seeds a property is judged over: every finished seed, plus any
	// seed it reported from (a seed cut short still shows a violation).
	all := maps.Clone(c.done)
	for s := range p.seeds {
		all[s] = true
	}
	var total seedStat
	var failing []uint64
	reachedIn, falseIn := 0, 0
	for _, s := range slices.Sorted(maps.Keys(all)) {
		st := seedStat{}
		if ps := p.seeds[s]; ps != nil {
			st = *ps
		}
		total.hitsTrue += st.hitsTrue
		total.hitsFalse += st.hitsFalse
		if st.hitsTrue+st.hitsFalse > 0 {
			reachedIn++
		}
		if st.hitsFalse > 0 {
			falseIn++
		}
		total.unknown += st.unknown
		switch {
		case p.fails(st):
			failing = append(failing, s)
		case st.unknown > 0:
			out.UnknownSeeds = append(out.UnknownSeeds, s)
		default:
			out.PassingSeeds = append(out.PassingSeeds, s)
		}
	}
	out.HitsTrue, out.HitsFalse = total.hitsTrue, total.hitsFalse
	out.Verdict = Pass
	if !p.fails(total) {
		if total.unknown > 0 {
			out.Verdict = Unknown
			out.FirstCounterexample = p.unk
			n := len(all)
			out.Reason = fmt.Sprintf("undecided in %d of %d %s: the check timed out (first in seed %s); raise its timeout",
				len(out.UnknownSeeds), n, plural(n, "seed"), seeds.Format(p.unk.Seed))
		}
		return out
	}
	out.Verdict = Fail
	out.FailingSeeds = failing
	n := len(all)
	where := ""
	if p.cex != nil {
		where = " (first in seed " + seeds.Format(p.cex.Seed)
		if p.cex.Node != "" {
			where += ", node " + p.cex.Node
		}
		if p.cex.Proc != "" {
			where += ", " + p.cex.Proc
		}
		where += ")"
	}
	reached := total.hitsTrue+total.hitsFalse+total.unknown > 0
	switch {
	case !reached && p.typ == TypeCheck:
		out.Reason = fmt.Sprintf("no history recorded in any of %d %s: nothing was checked", n, plural(n, "seed"))
	case !reached:
		out.Reason = fmt.Sprintf("never reached in any of %d %s", n, plural(n, "seed"))
	case p.typ == TypeSometimes:
		out.Reason = fmt.Sprintf("never true in any of %d %s (false %d %s)", n, plural(n, "seed"), total.hitsFalse, plural(total.hitsFalse, "time"))
	case p.typ == TypeReachability:
		out.Reason = fmt.Sprintf("reached in %d of %d %s%s", reachedIn, n, plural(n, "seed"), where)
	default:
		out.Reason = fmt.Sprintf("false in %d of %d %s%s", falseIn, n, plural(n, "seed"), where)
	}
	return out
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// String renders p as one report line.
func (p *Property) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %q", strings.ToUpper(string(p.Verdict)), p.DisplayType, p.ID)
	if p.Reason != "" {
		fmt.Fprintf(&b, ": %s", p.Reason)
	}
	return b.String()
}
