package search

import (
	"cmp"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/internal/seeds"
	"github.com/mvrun/multiverse/runner/hvbackend"
)

// ExploreOptions configures [Explore].
type ExploreOptions struct {
	Root  uint64        // the root seed
	Burst time.Duration // virtual time between a node's moment and its children's
	// Grain is the grid a node's children's moment falls on: the first
	// grid point after its run's step (see childrenAt), or after the root's
	// fault phase starts, so that the children keep the new state and
	// redraw what comes next, before the run's next step has happened too.
	// It divides Burst; 0 means Burst/16.
	Grain  time.Duration
	Budget int // bursts of virtual time to spend (never wall time)
	// Width is how many nodes each round expands. Rounds, not Jobs, decide
	// the tree: a round's picks are made before any of its runs, and the
	// runs' results are folded in in pick order, so the tree is the same at
	// any Jobs. Default 4.
	Width int
	Jobs  int
	// Kinds are the bandit's arms: what a branch tries, fault kinds (its
	// new faults of that kind only) or kinds aimed at a node ("kill=n1":
	// that node goes down at its moment, [faults.Config.Arms]); a further
	// arm, "all", changes nothing.
	Kinds []string
	// C is what a state's score counts for before its children have run:
	// a pseudo-child worth C × its score relative to the best open
	// state's (see priority); default 1.
	C float64
	// Weights of the score's terms; nil means [DefaultWeights].
	Weights *Weights
	// Records is how many runs' records (each with one snapshot, at or
	// before its children's moment) are kept at once for children to
	// resume from; the one kept or resumed from least recently goes first.
	// 0 means 16; negative means none, so every run replays its path from
	// time zero.
	Records int
	// Probe, if positive, cuts each fresh schedule (a child of the root)
	// Probe of virtual time after its moment, less hvbackend.SnapshotLead
	// (so that Probe = k bursts costs k): a probe of where the schedule
	// goes. A cut run judges no property (its checks do not run), but its
	// state is scored as any run's, and its children, which run to the
	// end, resume from its snapshots. It makes a state several steps deep
	// cheaper to reach when the first steps come early in the fault phase;
	// a schedule whose failure needs no branching is then found only
	// through a child. 0 runs every fresh schedule to its end.
	Probe time.Duration
	// First stops the search after the round in which a run first failed.
	First    bool
	Progress io.Writer
}

// Weights weigh the terms of a node's score (see [Explore]).
type Weights struct {
	// Rarity × the sum of the surprisals, log2(runs / runs with it), of
	// the SDK features the node's run added to its path (see
	// explorer.score).
	Rarity   float64
	Unmet    float64 // per Sometimes/Reachable property reached, never met
	Guidance float64 // per numeric guidance at the best value seen
	// Coverage × the surprisal of the rarest coverage counter the node's
	// run added to its path: code few other runs ran.
	Coverage float64
}

// DefaultWeights are the weights of the score when none are given.
var DefaultWeights = Weights{Rarity: 1, Unmet: 2, Guidance: 1, Coverage: 1}

// Node is one run of a search tree: a branch path from the root seed.
type Node struct {
	ID     string        `json:"id"`
	Parent int           `json:"parent"` // index in Tree.Nodes; -1 for the root
	Depth  int           `json:"depth"`
	At     time.Duration `json:"at_ns"` // the moment it branched from its parent
	Arm    string        `json:"arm,omitempty"`
	// Failing are the properties the run failed; Cost the bursts it cost:
	// its length after Resumed, the virtual time it resumed at from a
	// snapshot of an ancestor's run (0 when it replayed from time zero).
	Failing []string      `json:"failing,omitempty"`
	Resumed time.Duration `json:"resumed_ns,omitempty"`
	// Cut, if positive, is the virtual time the node's run was cut at: it
	// was a probe (see [ExploreOptions.Probe]), and judged no property.
	Cut time.Duration `json:"cut_ns,omitempty"`
	// ChildrenAt is the moment its children branch at.
	ChildrenAt time.Duration `json:"children_at_ns"`
	TraceHash  string        `json:"trace_hash,omitempty"`
	Cost       int           `json:"cost"`
	Score      float64       `json:"score"`       // its priority when last considered (see pick)
	State      float64       `json:"state_score"` // its state's score then (see score)
	Reward     float64       `json:"reward"`      // what its run earned its parent's arm (see fold)
	Children   int           `json:"children"`
	Error      string        `json:"error,omitempty"`
	Dir        string        `json:"dir,omitempty"`

	// Coverage counts the coverage features of the run up to its
	// children's moment, NewCoverage those of its run after its own
	// moment that no earlier run had.
	Coverage    int `json:"coverage,omitempty"`
	NewCoverage int `json:"new_coverage,omitempty"`
	// New counts the features (SDK and coverage) its run was the first
	// of all runs to show after its own moment.
	New int `json:"new,omitempty"`

	branch *hvbackend.Branch
	end    time.Duration // where its children branch (ChildrenAt)
	last   time.Duration // the end of its fault phase: no branching after
	// gained and cover are what its run added to its path's state: the
	// SDK features and coverage counters it showed after its moment, up
	// to its children's moment, and not before.
	gained  map[string]bool
	cover   map[string]bool
	guide   map[string]float64 // numeric guidance: best value in the prefix
	reached map[string]bool    // Sometimes/Reachable ids evaluated in the prefix
	arms    []arm
	rec     *hvbackend.Record // for children to resume from; nil once dropped
	used    int               // when rec was last kept or resumed from (explorer.tick)
	stepped bool              // its run made a step (see step)
	rewards float64           // the sum of its children's rewards
}

type arm struct {
	name   string
	n      int
	reward float64
}

// Finding is a failing run a search found.
type Finding struct {
	ID       string   `json:"id"`
	Failing  []string `json:"failing"`
	At       int      `json:"spent"` // bursts spent when its run was folded in
	VirtualS float64  `json:"virtual_s"`
}

// Tree is the outcome of [Explore] (and of [Random], with one node per
// seed and no parents).
type Tree struct {
	Root     string    `json:"root"`
	Nodes    []*Node   `json:"nodes"`
	Findings []Finding `json:"findings"`
	Spent    int       `json:"spent_bursts"`
	Budget   int       `json:"budget_bursts"`
	Burst    string    `json:"burst"`
	// Virtual is the virtual time all runs took, and FirstFailure the
	// virtual time spent up to and including the first failing run (0 when
	// none failed): what the docs compare between search and random seeds.
	Virtual      time.Duration `json:"virtual_ns"`
	FirstFailure time.Duration `json:"first_failure_ns"`
	Hash         string        `json:"tree_hash"`
}

// search state shared by the rounds.
type explorer struct {
	opts  ExploreOptions
	run   RunFunc
	tree  *Tree
	count map[string]int  // SDK feature → runs that showed it
	cover map[string]int  // coverage counter → runs that ran it
	runs  int             // runs folded in, for count and cover
	seen  map[string]bool // features of any run, anywhere
	shown map[string]int  // SDK feature or coverage counter → runs that showed it after their moment
	met   map[string]bool // Sometimes/Reachable ids that held somewhere
	best  map[string]float64
	found map[string]bool // properties some run failed
	ran   map[string]bool // coverage counters any run hit
	kinds map[string]arm  // each fault kind's pulls and rewards over the tree
	end   time.Duration   // the root run's length: what a run from zero costs
	start time.Duration   // the start of the root run's fault phase
	last  time.Duration   // the end of the root run's fault phase
	tick  int             // counts records kept and resumed from, for used
	picks int             // picks made so far (every other one is the root's)
}

// Explore grows a tree of runs from a root seed on hv. Each round makes
// Width picks; every other one gives the root a child, and the others
// take the open node of highest priority (see pick, priority and
// docs/exploration.md); each adds a child: the node's run
// branched at its children's moment (see childrenAt), with the future
// (scheduling, network, entropy and faults) redrawn and shaped by an arm
// a UCB1 bandit picks for that node. Open nodes are the
// root and the runs that made a step (see expandable). A node's priority
// weighs what its children found (new SDK features, newly run coverage
// counters, rare steps, new failures) with its state's score: rare
// assertion and guidance features, Sometimes/Reachable properties it
// reached that no run has met yet, numeric guidance at the best value
// seen, rare coverage counters. Each run keeps snapshots before the
// moments its children may branch at, and a child resumes from its
// parent's (or the nearest ancestor's still kept, see
// [ExploreOptions.Records]): it costs the virtual time it runs after that,
// which is what the budget counts.
func Explore(ctx context.Context, run RunFunc, opts ExploreOptions) (*Tree, error) {
	if opts.Width <= 0 {
		opts.Width = 4
	}
	if opts.C == 0 {
		opts.C = 1
	}
	if opts.Weights == nil {
		w := DefaultWeights
		opts.Weights = &w
	}
	if opts.Burst <= 0 || opts.Budget <= 0 {
		return nil, fmt.Errorf("search: explore needs a positive burst and budget")
	}
	if opts.Grain == 0 {
		opts.Grain = opts.Burst / 16
	}
	if opts.Grain <= 0 || opts.Burst%opts.Grain != 0 {
		return nil, fmt.Errorf("search: the grain %v does not divide the burst %v", opts.Grain, opts.Burst)
	}
	e := &explorer{opts: opts, run: run, count: map[string]int{}, cover: map[string]int{}, seen: map[string]bool{}, shown: map[string]int{}, met: map[string]bool{}, best: map[string]float64{}, found: map[string]bool{}, ran: map[string]bool{}, kinds: map[string]arm{},
		tree: &Tree{Root: seeds.Format(opts.Root), Budget: opts.Budget, Burst: opts.Burst.String()}}
	root := &Node{Parent: -1}
	root.ID = Candidate{Seed: opts.Root}.ID()
	r, err := run(ctx, e.candidate(root))
	if err != nil {
		return nil, err
	}
	e.end, e.start, e.last = r.End, r.FaultStart, r.FaultStart+r.Plan.Duration
	e.fold(root, r, nil)
	for e.tree.Spent < opts.Budget && (!opts.First || e.tree.FirstFailure == 0) {
		picks := e.pick()
		if len(picks) == 0 {
			break
		}
		results := make([]*Result, len(picks))
		errs := make([]error, len(picks))
		var wg sync.WaitGroup
		sem := make(chan struct{}, max(opts.Jobs, 1))
		for i, p := range picks {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				results[i], errs[i] = run(ctx, p.cand)
			}()
		}
		wg.Wait()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		for i, p := range picks {
			if errs[i] != nil {
				p.node.Error = errs[i].Error()
				e.tree.Nodes = append(e.tree.Nodes, p.node)
				e.tree.Spent += max(p.est, 1) // an error still costs: keeps the loop finite
				continue
			}
			e.fold(p.node, results[i], p.parent)
		}
	}
	e.tree.Hash = e.hash()
	return e.tree, nil
}

type pick struct {
	node   *Node
	parent *Node
	cand   Candidate
	est    int // bursts it is expected to cost
}

// candidate returns node n's run: its branch path, resuming from the
// nearest ancestor's record still kept, keeping a snapshot for its own
// children.
func (e *explorer) candidate(n *Node) Candidate {
	c := Candidate{Seed: e.opts.Root, Branch: n.branch}
	if e.opts.Probe > 0 && n.Parent == 0 {
		c.Stop = n.At + e.opts.Probe - hvbackend.SnapshotLead
	}
	if e.opts.Records < 0 {
		return c
	}
	// Children branch one burst after the node's moment, or at a grid
	// point after what its run showed first (see childrenAt): a snapshot
	// just before each burst boundary, up to the end of the fault phase
	// (or the probe's stop).
	end := e.last
	if c.Stop > 0 {
		end = min(end, c.Stop)
	}
	c.Snapshots = []time.Duration{n.At + e.opts.Burst - hvbackend.SnapshotLead}
	for at := n.At + 2*e.opts.Burst; n.Parent >= 0 && at < end; at += e.opts.Burst {
		c.Snapshots = append(c.Snapshots, at-hvbackend.SnapshotLead)
	}
	if c.Stop > 0 {
		c.Snapshots = slices.DeleteFunc(c.Snapshots, func(t time.Duration) bool { return t >= c.Stop })
	}
	for p := n.Parent; p >= 0; p = e.tree.Nodes[p].Parent {
		if a := e.tree.Nodes[p]; a.rec != nil {
			c.From = a.rec
			e.tick++
			a.used = e.tick
			break
		}
	}
	// A moment between the parent's snapshots: the run also snapshots at
	// its own moment, for its siblings to resume from (see fold).
	var s []time.Duration
	if c.From != nil {
		s = c.From.Snapshots()
	}
	if n.Parent >= 0 && (len(s) == 0 || s[len(s)-1] < n.At-hvbackend.SnapshotLead) {
		c.Snapshots = append(c.Snapshots, n.At-hvbackend.SnapshotLead)
	}
	return c
}

// estimate is what a candidate is expected to cost in bursts: the root
// run's length (or the probe's stop) after the snapshot it resumes from.
func (e *explorer) estimate(c Candidate) int {
	from := time.Duration(0)
	if c.From != nil {
		if s := c.From.Snapshots(); len(s) > 0 {
			from = s[len(s)-1]
		}
	}
	end := e.end
	if c.Stop > 0 {
		end = min(end, c.Stop)
	}
	return max(int((end-from+e.opts.Burst-1)/e.opts.Burst), 1)
}

// pick chooses a round's nodes to expand and makes their children. Every
// other pick is the root's (see below); the others take the open node of
// highest priority (see priority), the earliest in the tree on a tie. A
// pick counts as a child of its node at once, so a round spreads over
// several states.
func (e *explorer) pick() []pick {
	var out []pick
	planned := 0
	for range e.opts.Width {
		// State scores count features and so differ in scale from test
		// to test: relative to the best open state's, they weigh like a
		// reward.
		top := 0.0
		for _, n := range e.tree.Nodes {
			if e.open(n) {
				n.State = e.score(n)
				top = max(top, n.State)
			}
		}
		var v *Node
		for _, n := range e.tree.Nodes {
			if !e.open(n) {
				continue
			}
			n.Score = e.priority(n, top)
			if v == nil || n.Score > v.Score {
				v = n
			}
		}
		if v == nil {
			break
		}
		// Every other pick samples a fresh fault schedule from the root,
		// whatever the priorities say: the root's state is the poorest,
		// and its children earn little once the tree has seen what fresh
		// schedules show, so by priority alone the whole budget would go
		// to the first subtree that made a step, and whatever that subtree
		// fixed in its past (a kill whose restart leaves no room for the
		// next step) would bind every run.
		if root := e.tree.Nodes[0]; e.picks%2 == 0 && e.open(root) {
			v = root
		}
		a := e.bandit(v)
		kinds := []string(nil)
		if a != "all" {
			kinds = []string{a}
		}
		br := v.branch.Child(hvbackend.Branch{At: v.end, N: v.Children, Kinds: kinds})
		child := &Node{Parent: slices.Index(e.tree.Nodes, v), Depth: v.Depth + 1, At: v.end, Arm: a, branch: br}
		child.ID = Candidate{Seed: e.opts.Root, Branch: br}.ID()
		cand := e.candidate(child)
		est := e.estimate(cand)
		if e.tree.Spent+planned+est > e.opts.Budget && len(out) > 0 {
			break
		}
		v.Children++
		e.picks++
		out = append(out, pick{child, v, cand, est})
		planned += est
	}
	return out
}

// priority is how much expanding node n promises: the mean reward of its
// children, counting besides them one pseudo-child worth C × its state's
// score relative to top, the best open state's (see score), times the
// share of the fault phase left after its children's moment. A state is
// tried on its score first and then on what its children found: one whose
// children keep making rare steps keeps its children coming, one whose
// children find nothing (a resync already over, a write turned away that
// left no hole) falls behind. A rare state reached late leaves its
// children little time for what must follow.
func (e *explorer) priority(n *Node, top float64) float64 {
	left := 1.0
	if phase := n.last - e.start; phase > 0 {
		left = min(1, max(0, float64(n.last-n.end)/float64(phase)))
	}
	prior := 0.0
	if top > 0 {
		prior = n.State / top
	}
	return left * (e.opts.C*prior + n.rewards) / float64(1+n.Children)
}

// bandit picks node n's arm by UCB1 with a prior: an arm's mean reward
// at n counts, besides its pulls at n, one pseudo-pull worth the mean
// reward of its fault kind over the whole tree (from an optimistic 1/2
// before any pull), so what a kind found elsewhere steers nodes that have
// tried few arms — most nodes get few children — while which node to aim
// at is learnt at each node (it depends on
// which one is the primary there). Ties go in an order drawn from the
// node's id, so that no node is always tried first. A pick counts as a
// pull at once; its reward comes when its run is folded in.
func (e *explorer) bandit(n *Node) string {
	total := 0
	for _, a := range n.arms {
		total += a.n
	}
	order := seeds.Stream(seeds.Derive(e.opts.Root, n.ID), "search/arms").Perm(len(n.arms))
	best, bv := 0, math.Inf(-1)
	for _, i := range order {
		a := n.arms[i]
		g := e.kinds[faults.ArmKind(a.name)]
		prior := (g.reward + 0.5) / float64(g.n+1)
		v := (a.reward+prior)/float64(a.n+1) + math.Sqrt(2*math.Log(float64(total+1))/float64(a.n+1))
		if v > bv {
			best, bv = i, v
		}
	}
	n.arms[best].n++
	kind := faults.ArmKind(n.arms[best].name)
	g := e.kinds[kind]
	g.n++
	e.kinds[kind] = g
	return n.arms[best].name
}

// rewardArm credits node n's arm name, and its fault kind over the tree,
// with a child's reward.
func (e *explorer) rewardArm(n *Node, name string, r float64) {
	for i := range n.arms {
		if n.arms[i].name == name {
			n.arms[i].reward += r
		}
	}
	kind := faults.ArmKind(name)
	g := e.kinds[kind]
	g.reward += r
	e.kinds[kind] = g
}

// score is what a node's state offers beyond its parent's: the rare
// features and code its own run added to the path (after its moment, up
// to its children's moment), Sometimes and Reachable properties its
// prefix reached that no run has met, numeric guidance at its best (see
// [Weights]). A feature or counter counts its surprisal, log2(runs / the
// runs that showed it at all): nothing for one every run shows, a bit for
// one half of them show, six for one of 64. The SDK features are summed:
// each is a behaviour the program's author named, and the sum is how
// improbable they are together (as if independent). Coverage counts its
// rarest new counter only: counters come by the hundred and one rare code
// path runs dozens of them. What a node inherited is its ancestors' to
// score: counting it again kept every descendant of one rare state ahead
// of all other states, however little its children found. (The score
// used to sum 1/count over the whole prefix: every state then had the
// same floor of common counters, each a little over 1/runs, and on
// examples/rejoin a state past a rare step scored as a fresh run did.)
// [explorer.priority] weighs the score against the best open state's.
func (e *explorer) score(n *Node) float64 {
	w := e.opts.Weights
	runs := float64(max(e.runs, 1))
	surprisal := func(count int) float64 { return math.Log2(runs / float64(max(count, 1))) }
	// Summed in sorted order: float addition depends on the order, and
	// map order must not reach the tree.
	rare := 0.0
	for _, f := range slices.Sorted(maps.Keys(n.gained)) {
		rare += surprisal(e.count[f])
	}
	unmet, atBest := 0, 0
	for id := range n.reached {
		if !e.met[id] {
			unmet++
		}
	}
	for id, v := range n.guide {
		if v == e.best[id] {
			atBest++
		}
	}
	cov := 0.0
	for f := range n.cover {
		cov = max(cov, surprisal(e.cover[f]))
	}
	return w.Rarity*rare + w.Unmet*float64(unmet) + w.Guidance*float64(atBest) + w.Coverage*cov
}

// childrenAt returns the moment node n's children branch at.
//
// The root's children branch where its fault phase starts (on the grid,
// [ExploreOptions.Grain]): each is a fresh fault schedule, as an
// independent seed is, sharing only the setup and the workload's first
// command. Branching later would tie every run of the tree to what the
// root's first burst did (a kill with a long restart, say).
//
// Another node's children branch at the first grid point after its run's
// *step*: the rarest SDK assertion or guidance feature that the run
// showed after its moment, had not shown before it, and that is not
// common: the runs so far that showed it after their own moments, this
// one counted, are at most half of the runs (features shown within one
// grain after it are the same step, such as a write turned away and the
// resync it met). The children keep the rarest state the run reached and
// redraw everything after it, so each tries anew what the next step of a
// chain needs. (The step used to be the run's first uncommon feature: a
// run that took over and then, half a second later, turned a write away
// had its children branch between the two, and few of them turned one
// away again.) Without such a step: its moment plus
// one burst. A point less than a burst before the end of the fault phase
// is not taken: the children would have next to no faults to redraw.
// step is when the run made its step, -1 if it made none (see step).
func (e *explorer) childrenAt(n *Node, r *Result, step time.Duration) time.Duration {
	at := n.At + e.opts.Burst
	if n.Parent < 0 {
		if r.FaultStart > 0 && n.last-e.grid(n, r.FaultStart) >= e.opts.Burst {
			return e.grid(n, r.FaultStart)
		}
		return at
	}
	if step < 0 {
		return at
	}
	if g := e.grid(n, step); n.last-g >= e.opts.Burst {
		return g
	}
	return at
}

// grid returns the first point of node n's grid (its moment plus a
// multiple of the grain) after t.
func (e *explorer) grid(n *Node, t time.Duration) time.Duration {
	return n.At + e.opts.Grain*((t-n.At)/e.opts.Grain+1)
}

// step returns when node n's run made its step (see childrenAt), -1 if it
// made none, and how rare the step was: the sum over its features that
// other runs have shown of 1 / (1 + the runs that showed it after their
// moments). The step is the run's rarest uncommon feature (the fewest
// runs showed it after their moments; the earliest on a tie) among those
// that leave its children at least a burst of the fault phase, with the
// uncommon features up to one grain after it; the earliest when none
// leaves that room. inherited are the features the run showed before its
// moment. Call it before the run's own features are counted.
func (e *explorer) step(n *Node, r *Result, inherited map[string]bool) (time.Duration, float64) {
	// The first showing of each uncommon feature new to the run's path.
	type first struct {
		at time.Duration
		f  string
	}
	var firsts []first
	listed := map[string]bool{}
	for _, h := range r.Hits {
		if h.At < n.At || h.Kind == "event" {
			continue
		}
		f := feature(h)
		if inherited[f] || listed[f] || 2*e.shown[f] > len(e.tree.Nodes)+1 {
			continue
		}
		listed[f] = true
		firsts = append(firsts, first{h.At, f})
	}
	if len(firsts) == 0 {
		return -1, 0
	}
	pick := 0
	for i, x := range firsts {
		if n.last-e.grid(n, x.at) < e.opts.Burst {
			break // later ones leave less room still
		}
		if i == 0 || e.shown[x.f] < e.shown[firsts[pick].f] {
			pick = i
		}
	}
	at, rare := time.Duration(-1), 0.0
	for _, x := range firsts[pick:] {
		if at >= 0 && x.at-at > e.opts.Grain {
			break
		}
		at = x.at
		if e.shown[x.f] > 0 {
			rare += 1 / float64(1+e.shown[x.f])
		}
	}
	return at, rare
}

// open reports whether node n may be picked: its run had no error and
// it is expandable.
func (e *explorer) open(n *Node) bool {
	return n.Error == "" && e.expandable(n)
}

// expandable reports whether node n may get children: it did not fail,
// at least one burst of its fault phase is left after its children's
// moment (less leaves them next to no faults to redraw), and it is the
// root or its run made a step. A run without a step is in the state its
// parent was in, with less time left: its children would be its parent's,
// later, so its parent gets them instead.
func (e *explorer) expandable(n *Node) bool {
	return len(n.Failing) == 0 && n.last-n.end >= e.opts.Burst && (n.Parent < 0 || n.stepped)
}

// coverStep reports whether node n's run made a step in coverage: a
// counter its run had not run by its moment, run after it, that the runs
// so far that ran it after their own moments, this one counted, are at
// most half of. Coverage is read at intervals, so such a step has no
// time of its own: the children's moment stays one burst on. Call it
// before the run's own counters are counted.
func (e *explorer) coverStep(n *Node, r *Result) bool {
	if e.opts.Weights.Coverage <= 0 {
		return false
	}
	before := map[string]bool{}
	for _, h := range r.Cover {
		if h.At <= n.At {
			before[counter(h.Feature)] = true
		}
	}
	for _, h := range r.Cover {
		if c := counter(h.Feature); h.At > n.At && !before[c] && 2*e.shown[c] <= len(e.tree.Nodes)+1 {
			return true
		}
	}
	return false
}

// counter is the coverage counter of a coverage feature (counter:bucket).
func counter(feature string) string {
	return feature[:strings.LastIndexByte(feature, ':')]
}

// fold adds a finished run to the tree.
func (e *explorer) fold(n *Node, r *Result, parent *Node) {
	t := e.tree
	n.Failing, n.TraceHash, n.Dir, n.Resumed = r.Failing, r.TraceHash, r.Dir, r.Resumed
	if r.Cut {
		n.Cut = r.End
	}
	n.Cost = int((r.End - r.Resumed + e.opts.Burst - 1) / e.opts.Burst)
	n.last = r.FaultStart + r.Plan.Duration
	inherited := map[string]bool{} // the SDK features its run showed before its moment
	for _, h := range r.Hits {
		if h.At < n.At {
			inherited[feature(h)] = true
		}
	}
	step, stepRarity := e.step(n, r, inherited)
	n.stepped = step >= 0 || e.coverStep(n, r)
	n.end = e.childrenAt(n, r, step)
	n.ChildrenAt = n.end
	n.gained, n.guide, n.reached = map[string]bool{}, map[string]float64{}, map[string]bool{}
	hits := map[string]int{}
	shown := map[string]bool{}
	inRun := map[string]bool{}
	newFeats := 0
	for _, h := range r.Hits {
		f := feature(h)
		inRun[f] = true
		if h.At >= n.At && !shown[f] {
			shown[f] = true
			e.shown[f]++
		}
		if h.At >= n.At && !e.seen[f] {
			e.seen[f] = true
			newFeats++
		}
		e.seen[f] = true
		if h.Kind == "assert" && (h.Type == "sometimes" || h.Type == "reachability") && h.Cond {
			e.met[h.ID] = true
		}
		if h.At >= n.end {
			continue
		}
		hits[f]++
		if h.Kind == "assert" && (h.Type == "sometimes" || h.Type == "reachability") {
			n.reached[h.ID] = true
		}
		if h.Kind == "guidance" && h.Type == "numeric" {
			v := h.Value
			if !h.Max {
				v = -v
			}
			if old, ok := n.guide[h.ID]; !ok || v > old {
				n.guide[h.ID] = v
			}
		}
	}
	// A state has a feature or not: how often its prefix hit one grows
	// with the prefix's length, so counting it would make every longer
	// prefix look new.
	for f := range hits {
		if !inherited[f] {
			n.gained[f] = true
		}
	}
	// Coverage features carry their bucket already. A read due at the
	// children's moment is the state they start from.
	n.cover = map[string]bool{}
	inPrefix, ranBefore := map[string]bool{}, map[string]bool{}
	for _, h := range r.Cover {
		if h.At <= n.At {
			ranBefore[counter(h.Feature)] = true
		}
	}
	newCounters := 0
	ranIn, ranAfter := map[string]bool{}, map[string]bool{}
	for _, h := range r.Cover {
		if h.At > n.At && !e.seen[h.Feature] {
			n.NewCoverage++
			newFeats++
		}
		e.seen[h.Feature] = true
		c := counter(h.Feature)
		ranIn[c] = true
		if h.At > n.At && !e.ran[c] {
			newCounters++
		}
		if h.At > n.At && !ranAfter[c] {
			ranAfter[c] = true
			e.shown[c]++
		}
		e.ran[c] = true
		if h.At <= n.end {
			// The counter, not its bucket: buckets grow with time.
			inPrefix[c] = true
			if !ranBefore[c] {
				n.cover[c] = true
			}
		}
	}
	n.Coverage = len(inPrefix)
	n.New = newFeats
	// Rarity counts the runs that showed a feature at all, not the
	// prefixes that have it: prefixes end at different times, and a
	// feature every run shows late would look rare in a long prefix.
	e.runs++
	for f := range inRun {
		e.count[f]++
	}
	for c := range ranIn {
		e.cover[c]++
	}
	for id, v := range n.guide {
		if old, ok := e.best[id]; !ok || v > old {
			e.best[id] = v
		}
	}
	for _, k := range e.opts.Kinds {
		n.arms = append(n.arms, arm{name: k})
	}
	n.arms = append(n.arms, arm{name: "all"})
	newFail := false
	for _, p := range r.Failing {
		if !e.found[p] {
			e.found[p], newFail = true, true
		}
	}
	// A run's reward: 1 for a property no run had failed, else its new SDK
	// features and newly run coverage counters (not new buckets of
	// counters run before: those grow with time), a quarter each, plus how
	// rare its step was (see step), up to 1. So a subtree whose runs keep
	// reaching a rare state (a write turned away during a resync) earns
	// more than one whose runs reach common ones, after the first time.
	novel := n.New - n.NewCoverage
	if e.opts.Weights.Coverage > 0 {
		novel += newCounters
	}
	rw := math.Min(1, float64(novel)/4+stepRarity)
	if newFail {
		rw = 1
	}
	n.Reward = rw
	if parent != nil {
		e.rewardArm(parent, n.Arm, rw)
		parent.rewards += rw
	}
	t.Nodes = append(t.Nodes, n)
	t.Spent += n.Cost
	t.Virtual += r.End - r.Resumed
	if len(r.Failing) > 0 {
		t.Findings = append(t.Findings, Finding{ID: n.ID, Failing: r.Failing, At: t.Spent, VirtualS: t.Virtual.Seconds()})
		if t.FirstFailure == 0 {
			t.FirstFailure = t.Virtual
		}
	}
	e.keep(n, parent, r.Record)
	if e.opts.Progress != nil {
		what := "passes"
		if r.Cut {
			what = fmt.Sprintf("probe, cut at %v", r.End)
		}
		if len(r.Failing) > 0 {
			what = "FAILS " + strings.Join(r.Failing, "; ")
		}
		if n.Resumed > 0 {
			what += fmt.Sprintf(" (resumed at %v)", n.Resumed)
		}
		score := 0.0 // the priority its parent was picked with (0 for the root)
		if parent != nil {
			score = parent.Score
		}
		fmt.Fprintf(e.opts.Progress, "  [%d/%d bursts] %s (parent's priority %.2f, arm %s, coverage %d, +%d new): %s\n", t.Spent, e.opts.Budget, n.ID, score, cmp.Or(n.Arm, "-"), n.Coverage, n.NewCoverage, what)
		if parent == nil && len(r.Uncovered) > 0 {
			fmt.Fprintf(e.opts.Progress, "  no coverage counters on %s: scored by guidance and assertions only\n", strings.Join(r.Uncovered, ", "))
		}
	}
}

// keep holds rec, node n's record, while n may still be expanded, and
// beyond [ExploreOptions.Records] drops the records kept or resumed from
// least recently. When n's run
// snapshotted at its own moment (it branched between its parent's
// snapshots, see candidate), that snapshot becomes the parent's, for n's
// siblings to resume from. What is kept depends only on the tree, so it is
// the same at any Jobs.
func (e *explorer) keep(n, parent *Node, rec *hvbackend.Record) {
	if rec == nil {
		return
	}
	if parent != nil {
		at := n.At - hvbackend.SnapshotLead
		mine := rec.Latest(n.At)
		var had []time.Duration
		if parent.rec != nil {
			had = parent.rec.Snapshots()
		}
		// The snapshot may come a little after the time asked for (the
		// cluster was inside a runner's call then), never at the moment.
		if s := mine.Snapshots(); len(s) == 1 && s[0] >= at && (len(had) == 0 || had[len(had)-1] < at) && e.expandable(parent) {
			e.tick++
			parent.rec, parent.used = mine, e.tick
		}
	}
	// A record without a snapshot of its own run before the children's
	// moment is none: one taken before the node's moment holds its
	// parent's state, which the parent's record holds already (see
	// above); kept here too it would take a second place of the limit.
	// The children resume from the parent's (see candidate) and replay
	// the node's run on to their moment.
	if l := rec.Latest(n.end); e.expandable(n) && len(l.Snapshots()) > 0 && l.Snapshots()[0] > n.At {
		e.tick++
		n.rec, n.used = l, e.tick
	}
	limit := e.opts.Records
	if limit == 0 {
		limit = 16
	}
	// Beyond the limit, the records resumed from (or kept) least recently
	// go: a state whose children keep coming stays, whenever it was run.
	var held []*Node
	for _, m := range e.tree.Nodes {
		if m.rec != nil {
			held = append(held, m)
		}
	}
	if len(held) <= limit {
		return
	}
	slices.SortStableFunc(held, func(a, b *Node) int { return b.used - a.used })
	for _, m := range held[limit:] {
		m.rec = nil
	}
}

// feature names what an SDK line shows, for novelty.
func feature(h Hit) string {
	switch h.Kind {
	case "assert":
		return fmt.Sprintf("a:%s:%t", h.ID, h.Cond)
	case "guidance":
		if h.Type == "numeric" {
			return fmt.Sprintf("g:%s:%s", h.ID, bucket(int(math.Abs(h.Value))))
		}
		return "g:" + h.ID + ":" + h.Data
	}
	return "e:" + h.ID
}

// bucket groups counts as AFL does: 1, 2, 3, 4-7, 8-15, … so that a
// change in how often something happens is novel only when it is large.
func bucket(c int) string {
	if c <= 3 {
		return fmt.Sprint(c)
	}
	b := 4
	for b*2 <= c {
		b *= 2
	}
	return fmt.Sprintf("%d+", b)
}

// hash fingerprints the tree: every node's id, trace hash and failures,
// in order.
func (e *explorer) hash() string {
	h := sha256.New()
	for _, n := range e.tree.Nodes {
		fmt.Fprintf(h, "%s %s %s %s\n", n.ID, n.TraceHash, strings.Join(n.Failing, ","), n.Error)
	}
	return fmt.Sprintf("%x", h.Sum(nil)[:8])
}

// RandomOptions configures [Random].
type RandomOptions struct {
	Root   uint64
	Burst  time.Duration // the unit the budget counts, as [ExploreOptions.Burst]
	Budget int           // bursts of virtual time to spend
	Jobs   int           // runs at once; the tree is the same at any Jobs
	// First stops at the first failing run (and [ExploreOptions.First]
	// after the round that found one): what a comparison of the time to
	// the first failure needs, without spending the rest of the budget.
	First    bool
	Progress io.Writer
}

// Random runs independent seeds from root (seed i is seeds.Nth(root, i),
// as mvrun test runs them) until budget bursts are spent, with the same
// accounting as [Explore]: the baseline a search is compared with. Runs
// are folded in seed order, whatever finished first, so the tree is the
// same at any Jobs (a batch's runs past the budget or a first failure
// are dropped).
func Random(ctx context.Context, run RunFunc, opts RandomOptions) (*Tree, error) {
	t := &Tree{Root: seeds.Format(opts.Root), Budget: opts.Budget, Burst: opts.Burst.String()}
	jobs := max(opts.Jobs, 1)
	for i := 0; t.Spent < opts.Budget && (!opts.First || t.FirstFailure == 0); i += jobs {
		results := make([]*Result, jobs)
		errs := make([]error, jobs)
		var wg sync.WaitGroup
		for j := range jobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[j], errs[j] = run(ctx, Candidate{Seed: seeds.Nth(opts.Root, i+j)})
			}()
		}
		wg.Wait()
		for j, r := range results {
			if t.Spent >= opts.Budget || opts.First && t.FirstFailure > 0 {
				break
			}
			if errs[j] != nil {
				return nil, errs[j]
			}
			id := Candidate{Seed: seeds.Nth(opts.Root, i+j)}.ID()
			n := &Node{ID: id, Parent: -1, Failing: r.Failing, TraceHash: r.TraceHash, Dir: r.Dir, Cost: int((r.End + opts.Burst - 1) / opts.Burst)}
			t.Nodes = append(t.Nodes, n)
			t.Spent += n.Cost
			t.Virtual += r.End
			if len(r.Failing) > 0 {
				t.Findings = append(t.Findings, Finding{ID: n.ID, Failing: r.Failing, At: t.Spent, VirtualS: t.Virtual.Seconds()})
				if t.FirstFailure == 0 {
					t.FirstFailure = t.Virtual
				}
			}
			if opts.Progress != nil {
				fmt.Fprintf(opts.Progress, "  [%d/%d bursts] %s: failing %v\n", t.Spent, opts.Budget, n.ID, n.Failing)
			}
		}
	}
	e := &explorer{tree: t}
	t.Hash = e.hash()
	return t, nil
}
