package specs

import (
	"math"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
)

// Defaults of an explore block, the same as `mvrun test --explore`'s flags.
const (
	DefaultExploreBurst       = time.Second
	DefaultExploreWidth       = 4
	DefaultExploreExploration = 1.0
	DefaultExploreRarity      = 1.0
	DefaultExploreUnmet       = 2.0
	DefaultExploreGuidance    = 1.0
	DefaultExploreCoverage    = 1.0
)

// Explore is the `explore { ... }` block of a test: how `mvrun test
// --explore` searches a tree of branches on hv. Flags given on the command
// line win over it.
type Explore struct {
	// Budget is the number of bursts of virtual time to spend; 0 means
	// the test's seeds × its length, in bursts.
	Budget int
	// Burst is the virtual time between a node's moment and its
	// children's.
	Burst time.Duration
	// Width is how many nodes each round expands.
	Width int
	// Arms are the fault kinds the bandit may limit a branch's new faults
	// to (besides "all"); nil means every kind the faults block enables.
	Arms []string
	// Probe, if positive, cuts each fresh fault schedule of the search
	// that long (virtual) after its moment: a cheap look at where the
	// schedule goes, whose children run to the end. 0 runs them whole.
	Probe time.Duration
	// Exploration is what a state's score counts for before its branches
	// have run (a pseudo-branch worth Exploration × the score relative to
	// the best open state's); Rarity, Unmet, Guidance and Coverage weigh the score's
	// terms: rare SDK features, Sometimes/Reachable properties no run has
	// met yet, numeric guidance at its best value, and rare coverage
	// features (a counter of a program built with coverage counters, with
	// its count's bucket).
	Exploration, Rarity, Unmet, Guidance, Coverage float64
	DeclRange                                      hcl.Range
}

var exploreSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "budget"},
		{Name: "burst"},
		{Name: "width"},
		{Name: "probe"},
		{Name: "arms"},
		{Name: "exploration"},
		{Name: "rarity"},
		{Name: "unmet"},
		{Name: "guidance"},
		{Name: "coverage"},
	},
}

// DefaultExplore returns the settings `mvrun test --explore` uses for a
// test without an explore block.
func DefaultExplore() *Explore {
	return &Explore{
		Burst: DefaultExploreBurst, Width: DefaultExploreWidth,
		Exploration: DefaultExploreExploration, Rarity: DefaultExploreRarity,
		Unmet: DefaultExploreUnmet, Guidance: DefaultExploreGuidance,
		Coverage: DefaultExploreCoverage,
	}
}

// decodeExploreBlock decodes an explore block of test t, whose duration
// and faults are decoded already: a burst must fit in the test and the
// arms must be fault kinds the test injects.
func decodeExploreBlock(block *hcl.Block, t *Test) (*Explore, hcl.Diagnostics) {
	content, diags := block.Body.Content(exploreSchema)
	e := DefaultExplore()
	e.DeclRange = block.DefRange
	if a := content.Attributes["budget"]; a != nil {
		if n, ok := decodeInt(a, 1, &diags); ok {
			e.Budget = n
		}
	}
	// A burst or a probe as long as the test would branch or cut nothing.
	for _, w := range []struct {
		name, summary, why string
		v                  *time.Duration
		hint               time.Duration
	}{
		{"burst", "Burst too long", "so no run could be branched; use a fraction of it, such as %s.", &e.Burst, t.Duration / 10},
		{"probe", "Probe too long", "so no fresh schedule would be cut; use a few bursts, such as %s, or leave it out to run them whole.", &e.Probe, t.Duration / 4},
	} {
		if a := content.Attributes[w.name]; a != nil {
			if d, ok := decodeDuration(a, true, &diags); ok {
				*w.v = d
				if d >= t.Duration {
					diags = append(diags, diag(a.Expr.Range(), w.summary,
						"%s %s is not shorter than the test's duration %s, "+w.why, w.name, d, t.Duration, w.hint.Round(time.Millisecond)))
				}
			}
		}
	}
	if a := content.Attributes["width"]; a != nil {
		if n, ok := decodeInt(a, 1, &diags); ok {
			e.Width = n
		}
	}
	if a := content.Attributes["arms"]; a != nil {
		if arms, ok := decodeStrings(a, &diags); ok {
			on := t.Faults.Kinds()
			for _, k := range arms {
				if !contains(on, k) {
					diags = append(diags, diag(a.Expr.Range(), "Unknown arm",
						"arms are fault kinds this test's faults block enables (%s); %q is not one.", kindList(on), k))
				}
			}
			if len(arms) == 0 {
				diags = append(diags, diag(a.Expr.Range(), "No arms",
					"arms lists the fault kinds a branch may be limited to; leave it out to use every kind the faults block enables."))
			}
			e.Arms = arms
		}
	}
	for _, w := range []struct {
		name string
		v    *float64
	}{{"exploration", &e.Exploration}, {"rarity", &e.Rarity}, {"unmet", &e.Unmet}, {"guidance", &e.Guidance}, {"coverage", &e.Coverage}} {
		if a := content.Attributes[w.name]; a != nil {
			if v, ok := decodeWeight(a, &diags); ok {
				if w.name == "exploration" && v == 0 {
					// A node never expanded would never be: the tree
					// would be a single greedy path.
					diags = append(diags, diag(a.Expr.Range(), "Invalid weight",
						"exploration must be more than zero, or nodes that scored low once are never expanded again; try 0.1."))
					continue
				}
				*w.v = v
			}
		}
	}
	return e, diags
}

// decodeWeight reads a finite number of at least zero.
func decodeWeight(a *hcl.Attribute, diags *hcl.Diagnostics) (float64, bool) {
	var v float64
	d := gohcl.DecodeExpression(a.Expr, nil, &v)
	*diags = append(*diags, d...)
	if d.HasErrors() {
		return 0, false
	}
	if !(v >= 0) || math.IsInf(v, 0) {
		*diags = append(*diags, diag(a.Expr.Range(), "Invalid weight",
			"%s is a weight of the explore score and must be zero or more; it is %g.", a.Name, v))
		return 0, false
	}
	return v, true
}

func kindList(kinds []string) string {
	if len(kinds) == 0 {
		return "none: the test injects no faults"
	}
	return strings.Join(kinds, ", ")
}
