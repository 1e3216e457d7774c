package assertions

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
)

// State is everything a [Collector] holds that a report needs, in a form
// that can be stored as JSON and added to another Collector. Runs sharded
// over machines each export their State; importing every shard's State into
// one Collector gives the same [Result] as one run over all their seeds,
// because nothing a Collector decides depends on the order evaluations
// arrive in.
type State struct {
	// Seeds are the finished seeds ([Collector.SeedDone]).
	Seeds          []uint64        `json:"seeds"`
	Properties     []PropertyState `json:"properties"`
	Malformed      []Malformed     `json:"malformed,omitempty"`
	MalformedTotal int             `json:"malformed_total,omitempty"`
	Lost           []Lost          `json:"lost,omitempty"`
	SetupDone      []uint64        `json:"setup_done,omitempty"`
}

// PropertyState is one property's evaluations, per seed.
type PropertyState struct {
	ID          string      `json:"id"`
	Message     string      `json:"message"`
	Type        AssertType  `json:"type"`
	DisplayType string      `json:"display_type"`
	MustHit     bool        `json:"must_hit"`
	Builtin     bool        `json:"builtin"`
	Info        *LineRef    `json:"info,omitempty"` // the line that set message, display type and location
	Location    Location    `json:"location"`
	Seeds       []SeedState `json:"seeds"`
	// Counterexample is the first failing evaluation and Undecided the
	// first undecided history check, with the lines they came from.
	Counterexample    *Counterexample `json:"counterexample,omitempty"`
	CounterexampleRef *LineRef        `json:"counterexample_ref,omitempty"`
	Undecided         *Counterexample `json:"undecided,omitempty"`
	UndecidedRef      *LineRef        `json:"undecided_ref,omitempty"`
}

// SeedState counts one property's evaluations in one seed.
type SeedState struct {
	Seed    uint64 `json:"seed"`
	True    int    `json:"true,omitempty"`
	False   int    `json:"false,omitempty"`
	Unknown int    `json:"unknown,omitempty"`
}

// LineRef is where an evaluation came from; it orders evaluations the way
// a Collector does to pick "first" ones.
type LineRef struct {
	Seed   uint64 `json:"seed"`
	Node   string `json:"node,omitempty"`
	Proc   string `json:"proc,omitempty"`
	LineNo int    `json:"line_no,omitempty"`
}

func refOf(k evalKey) *LineRef { return &LineRef{k.seed, k.node, k.proc, k.lineNo} }

func (r *LineRef) key() evalKey {
	if r == nil {
		return evalKey{}
	}
	return evalKey{stream{r.Seed, r.Node, r.Proc}, r.LineNo}
}

// Export returns the Collector's state, in deterministic order.
func (c *Collector) Export() *State {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := &State{
		Seeds: slices.Sorted(maps.Keys(c.done)), MalformedTotal: c.malformedTotal,
		SetupDone: slices.Sorted(maps.Keys(c.setup)), Properties: []PropertyState{},
	}
	for _, id := range slices.Sorted(maps.Keys(c.props)) {
		p := c.props[id]
		ps := PropertyState{
			ID: p.id, Message: p.message, Type: p.typ, DisplayType: p.display, MustHit: p.mustHit,
			Builtin: p.builtin, Location: p.loc, Counterexample: p.cex, Undecided: p.unk,
		}
		if p.haveInfo {
			ps.Info = refOf(p.infoKey)
		}
		if p.cex != nil {
			ps.CounterexampleRef = refOf(p.cexKey)
		}
		if p.unk != nil {
			ps.UndecidedRef = refOf(p.unkKey)
		}
		for _, s := range slices.Sorted(maps.Keys(p.seeds)) {
			x := p.seeds[s]
			ps.Seeds = append(ps.Seeds, SeedState{Seed: s, True: x.hitsTrue, False: x.hitsFalse, Unknown: x.unknown})
		}
		st.Properties = append(st.Properties, ps)
	}
	for _, ms := range c.malformed {
		st.Malformed = append(st.Malformed, ms...)
	}
	slices.SortFunc(st.Malformed, func(a, b Malformed) int {
		return cmp.Or(cmpStream(a.Seed, a.Node, a.Proc, b.Seed, b.Node, b.Proc), cmp.Compare(a.LineNo, b.LineNo), cmp.Compare(a.Error, b.Error))
	})
	for k, n := range c.lost {
		st.Lost = append(st.Lost, Lost{Seed: k.seed, Node: k.node, Proc: k.proc, Count: n, Reason: k.reason})
	}
	slices.SortFunc(st.Lost, func(a, b Lost) int {
		return cmp.Or(cmpStream(a.Seed, a.Node, a.Proc, b.Seed, b.Node, b.Proc), cmp.Compare(a.Reason, b.Reason))
	})
	return st
}

// Import adds a state exported by another Collector, as if this one had
// seen the same lines. A property that the two Collectors know with
// different kinds is an error, as it would have been a malformed line in
// one run; nothing is imported then.
func (c *Collector) Import(st *State) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ps := range st.Properties {
		if msg := c.conflict(ps.ID, ps.Type, ps.MustHit, ps.Builtin); msg != "" {
			return fmt.Errorf("%s", msg)
		}
	}
	for _, s := range st.Seeds {
		c.done[s] = true
	}
	for _, s := range st.SetupDone {
		c.setup[s] = true
	}
	for _, ps := range st.Properties {
		p := c.prop(ps.ID, ps.Type, ps.MustHit, ps.Builtin)
		if ps.Builtin {
			p.display = ps.DisplayType
		}
		if ps.Info != nil && (!p.haveInfo || ps.Info.key().less(p.infoKey)) {
			p.haveInfo, p.infoKey = true, ps.Info.key()
			p.message, p.display, p.loc = ps.Message, ps.DisplayType, ps.Location
		}
		for _, s := range ps.Seeds {
			x := p.seed(s.Seed)
			x.hitsTrue += s.True
			x.hitsFalse += s.False
			x.unknown += s.Unknown
		}
		if ps.Counterexample != nil && (p.cex == nil || ps.CounterexampleRef.key().less(p.cexKey)) {
			p.cex, p.cexKey = ps.Counterexample, ps.CounterexampleRef.key()
		}
		if ps.Undecided != nil && (p.unk == nil || ps.UndecidedRef.key().less(p.unkKey)) {
			p.unk, p.unkKey = ps.Undecided, ps.UndecidedRef.key()
		}
	}
	for _, m := range st.Malformed {
		k := stream{m.Seed, m.Node, m.Proc}
		c.malformed[k] = keepLowest(c.malformed[k], m, MaxMalformedPerStream, func(m Malformed) int { return m.LineNo })
	}
	c.malformedTotal += st.MalformedTotal
	for _, l := range st.Lost {
		c.lost[lostKey{stream{l.Seed, l.Node, l.Proc}, l.Reason}] += l.Count
	}
	return nil
}
