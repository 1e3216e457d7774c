package faults

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/mvrun/multiverse/internal/linkmodel"
)

// State is the set of faults in effect on a cluster: the partition, link
// conditions, killed and paused nodes and clock offsets. It is the model
// that [Plan.Validate] checks plans against, that [HealAll] undoes, and that
// fake injectors keep. The zero value is not usable; call [NewState].
type State struct {
	nodes     []string // nil: accept any node name
	partition *Partition
	links     linkmodel.Links
	killed    map[string]bool
	paused    map[string]bool
	offset    map[string]time.Duration // clock_skew: monotonic and wall
	jumped    map[string]time.Duration // clock_jump total since the last offset
	disk      map[string]bool          // "node/kind" of each disk fault window in effect
}

// NewState returns the state of a healthy cluster of nodes. With nodes nil,
// any node name is accepted.
func NewState(nodes []string) *State {
	return &State{
		nodes:  slices.Clone(nodes),
		killed: map[string]bool{},
		paused: map[string]bool{},
		offset: map[string]time.Duration{},
		jumped: map[string]time.Duration{},
		disk:   map[string]bool{},
	}
}

// Errors [State.Apply] returns for actions that make no sense in the current
// state. Each is wrapped with the action and node it is about.
var (
	ErrUnknownNode   = errors.New("unknown node")
	ErrBadAction     = errors.New("malformed action")
	ErrInconsistent  = errors.New("action inconsistent with the faults in effect")
	ErrUnknownAction = fmt.Errorf("unknown action kind: %w", ErrUnsupported)
)

func (s *State) checkNodes(a Action, names []string) error {
	for _, n := range names {
		if n == "" || s.nodes != nil && !slices.Contains(s.nodes, n) {
			return fmt.Errorf("%s: %q: %w", a.Kind, n, ErrUnknownNode)
		}
	}
	return nil
}

// Apply records that a was carried out. It returns an error, and leaves s
// unchanged, if a is malformed, names an unknown node, or is inconsistent
// with what is in effect: a partition while another is in effect, killing
// a killed or paused node, pausing a paused or killed node, restarting a
// node that is not killed, resuming one that is not paused. Healing without
// a partition and restoring clean links are allowed: they are idempotent.
func (s *State) Apply(a Action) error {
	switch a.Kind {
	case ActPartition:
		return s.applyPartition(a)
	case ActHeal:
		s.partition = nil
		return nil
	case ActLink:
		return s.applyLink(a)
	case ActKill, ActRestart, ActPause, ActResume:
		return s.applyNodeState(a)
	case ActClockSkew, ActClockJump:
		return s.applyClock(a)
	case ActDisk, ActDiskClear:
		return s.applyDisk(a)
	}
	return fmt.Errorf("%q: %w", a.Kind, ErrUnknownAction)
}

// applyPartition installs a's partition; one partition at a time.
func (s *State) applyPartition(a Action) error {
	p := a.Partition
	if p == nil {
		return fmt.Errorf("%s without a partition: %w", a.Kind, ErrBadAction)
	}
	if err := s.checkNodes(a, p.Members()); err != nil {
		return err
	}
	if p.OneWay && (len(p.From) == 0 || len(p.To) == 0) {
		return fmt.Errorf("%s: one-way partition needs From and To: %w", a.Kind, ErrBadAction)
	}
	if s.partition != nil {
		return fmt.Errorf("%s while a %s partition is in effect; heal first: %w", a.Kind, s.partition.Kind, ErrInconsistent)
	}
	cp := clonePartition(*p)
	s.partition = &cp
	return nil
}

// applyLink sets the link conditions of a's nodes (all without nodes).
func (s *State) applyLink(a Action) error {
	l := Link{}
	if a.Link != nil {
		l = *a.Link
	}
	if err := checkLink(l); err != nil {
		return fmt.Errorf("%s: %w", a.Kind, err)
	}
	if err := s.checkNodes(a, a.Nodes); err != nil {
		return err
	}
	s.links = s.links.With(a.Nodes, l)
	return nil
}

// applyNodeState kills, restarts, pauses or resumes a's nodes, after
// checking every node is in a state the action makes sense in (so a
// refused action changes nothing).
func (s *State) applyNodeState(a Action) error {
	if len(a.Nodes) == 0 {
		return fmt.Errorf("%s without nodes: %w", a.Kind, ErrBadAction)
	}
	if err := s.checkNodes(a, a.Nodes); err != nil {
		return err
	}
	for _, n := range a.Nodes {
		var bad string
		switch {
		case a.Kind == ActKill && s.killed[n]:
			bad = "already killed"
		case a.Kind == ActKill && s.paused[n]:
			bad = "paused"
		case a.Kind == ActRestart && !s.killed[n]:
			bad = "not killed"
		case a.Kind == ActPause && s.paused[n]:
			bad = "already paused"
		case a.Kind == ActPause && s.killed[n]:
			bad = "killed"
		case a.Kind == ActResume && !s.paused[n]:
			bad = "not paused"
		}
		if bad != "" {
			return fmt.Errorf("%s %s: node is %s: %w", a.Kind, n, bad, ErrInconsistent)
		}
	}
	for _, n := range a.Nodes {
		switch a.Kind {
		case ActKill:
			s.killed[n] = true
		case ActRestart:
			delete(s.killed, n)
		case ActPause:
			s.paused[n] = true
		case ActResume:
			delete(s.paused, n)
		}
	}
	return nil
}

// applyClock sets (clock_skew) or moves (clock_jump) a's nodes' clocks.
func (s *State) applyClock(a Action) error {
	if len(a.Nodes) == 0 {
		return fmt.Errorf("%s without nodes: %w", a.Kind, ErrBadAction)
	}
	if err := s.checkNodes(a, a.Nodes); err != nil {
		return err
	}
	for _, n := range a.Nodes {
		if a.Kind == ActClockSkew {
			delete(s.jumped, n)
			if a.Offset == 0 {
				delete(s.offset, n)
			} else {
				s.offset[n] = a.Offset
			}
		} else if j := s.jumped[n] + a.Offset; j == 0 {
			delete(s.jumped, n)
		} else {
			s.jumped[n] = j
		}
	}
	return nil
}

// applyDisk opens or closes a disk fault window on a's nodes.
func (s *State) applyDisk(a Action) error {
	if len(a.Nodes) == 0 || a.Disk == nil || !a.Disk.Kind.Valid() {
		return fmt.Errorf("%s without nodes or a known disk fault: %w", a.Kind, ErrBadAction)
	}
	if err := s.checkNodes(a, a.Nodes); err != nil {
		return err
	}
	if a.Disk.Kind == DiskLoseUnsynced {
		// Armed for the kill at the same instant, which consumes it.
		return nil
	}
	if a.Kind == ActDisk && !(a.Disk.Probability >= 0 && a.Disk.Probability <= 1) {
		return fmt.Errorf("%s: probability %v outside [0, 1]: %w", a.Kind, a.Disk.Probability, ErrBadAction)
	}
	for _, n := range a.Nodes {
		key := n + "/" + string(a.Disk.Kind)
		if a.Kind == ActDisk {
			if s.disk[key] {
				return fmt.Errorf("%s %s: %s window already in effect: %w", a.Kind, n, a.Disk.Kind, ErrInconsistent)
			}
			s.disk[key] = true
		} else {
			delete(s.disk, key)
		}
	}
	return nil
}

// DiskFaults returns the disk fault windows in effect as "node/kind",
// sorted.
func (s *State) DiskFaults() []string { return slices.Sorted(maps.Keys(s.disk)) }

func checkLink(l Link) error {
	for _, p := range []float64{l.Loss, l.Duplicate, l.Reorder} {
		if !(p >= 0 && p <= 1) {
			return fmt.Errorf("probability %v outside [0, 1]: %w", p, ErrBadAction)
		}
	}
	if l.Latency.Min < 0 || l.Latency.Max < l.Latency.Min {
		return fmt.Errorf("latency %v: want 0 <= min <= max: %w", l.Latency, ErrBadAction)
	}
	return nil
}

func clonePartition(p Partition) Partition {
	c := p
	c.Groups = nil
	for _, g := range p.Groups {
		c.Groups = append(c.Groups, slices.Clone(g))
	}
	c.From, c.To = slices.Clone(p.From), slices.Clone(p.To)
	return c
}

// Partition returns the partition in effect, or nil.
func (s *State) Partition() *Partition {
	if s.partition == nil {
		return nil
	}
	p := clonePartition(*s.partition)
	return &p
}

// Reachable reports whether packets from from reach to: neither is killed
// or paused and no partition cuts them.
func (s *State) Reachable(from, to string) bool {
	if !s.Running(from) || !s.Running(to) || s.paused[from] || s.paused[to] {
		return false
	}
	return s.partition == nil || !s.partition.Cuts(from, to)
}

// Running reports whether n's process exists (a paused node is running).
func (s *State) Running(n string) bool { return !s.killed[n] }

// Paused reports whether n is paused.
func (s *State) Paused(n string) bool { return s.paused[n] }

// Link returns the conditions on packets sent by from to to: the sender's
// if it has its own, else the receiver's, else the cluster-wide ones.
func (s *State) Link(from, to string) Link {
	return s.links.Between(from, to)
}

// Clock returns n's clock offsets: monotonic (set by clock_skew) and wall
// (clock_skew plus the clock_jumps since).
func (s *State) Clock(n string) (monotonic, wall time.Duration) {
	return s.offset[n], s.offset[n] + s.jumped[n]
}

// Down returns the nodes that are killed or paused, sorted.
func (s *State) Down() []string {
	var d []string
	for n := range s.killed {
		d = append(d, n)
	}
	for n := range s.paused {
		d = append(d, n)
	}
	slices.Sort(d)
	return slices.Compact(d)
}

// Healthy reports whether no fault is in effect.
func (s *State) Healthy() bool { return len(s.Recovery()) == 0 }

// Recovery returns the actions that undo every fault in effect, in the
// order to apply them: heal the network, restore links, reset clocks,
// end disk fault windows, resume paused nodes, restart killed ones. Their At is zero.
func (s *State) Recovery() []Action {
	var as []Action
	if s.partition != nil {
		as = append(as, Action{Kind: ActHeal})
	}
	if !s.links.Clean() {
		as = append(as, Action{Kind: ActLink, Link: &Link{}})
	}
	clocks := map[string]bool{}
	for n := range s.offset {
		clocks[n] = true
	}
	for n := range s.jumped {
		clocks[n] = true
	}
	if len(clocks) > 0 {
		as = append(as, Action{Kind: ActClockSkew, Nodes: slices.Sorted(maps.Keys(clocks))})
	}
	for _, key := range slices.Sorted(maps.Keys(s.disk)) {
		n, k, _ := strings.Cut(key, "/")
		as = append(as, Action{Kind: ActDiskClear, Nodes: []string{n}, Disk: &Disk{Kind: DiskKind(k)}})
	}
	if len(s.paused) > 0 {
		as = append(as, Action{Kind: ActResume, Nodes: slices.Sorted(maps.Keys(s.paused))})
	}
	if len(s.killed) > 0 {
		as = append(as, Action{Kind: ActRestart, Nodes: slices.Sorted(maps.Keys(s.killed))})
	}
	return as
}

// Recover returns the actions that bring a cluster back to health after the
// actions of p up to and including time at were applied (all of them when
// at >= p.Duration). The runner uses it when a fault phase is cut short and
// it did not track what was applied; [State.Recovery] is exact when it did.
func Recover(p Plan, at time.Duration) []Action {
	s := NewState(nil)
	for _, a := range p.Actions {
		if a.At > at {
			break
		}
		_ = s.Apply(a) // a plan that fails Validate still gets healed as far as known
	}
	return s.Recovery()
}

// Validate checks that p is self-consistent: actions are in time order
// within [0, Duration] and name only p.Nodes (when set); every action is
// well formed and consistent with the faults in effect (see [State.Apply]);
// each set in KeepUp keeps a node that is neither killed nor paused at
// every instant; and by the end every partition is healed, every link
// clean, every node running and resumed and every clock offset zero.
func (p Plan) Validate() error {
	var nodes []string
	if len(p.Nodes) > 0 {
		nodes = p.Nodes
	}
	s := NewState(nodes)
	var prev time.Duration
	for i, a := range p.Actions {
		if a.At < 0 || a.At > p.Duration {
			return fmt.Errorf("faults: plan %#x: action %d (%s) at %v is outside [0, %v]", p.Seed, i, a, a.At, p.Duration)
		}
		if a.At < prev {
			return fmt.Errorf("faults: plan %#x: action %d (%s) at %v comes after one at %v", p.Seed, i, a, a.At, prev)
		}
		prev = a.At
		if err := s.Apply(a); err != nil {
			return fmt.Errorf("faults: plan %#x: action %d at %v: %w", p.Seed, i, a.At, err)
		}
		if a.Kind == ActPartition && !cutsSomething(*a.Partition) {
			return fmt.Errorf("faults: plan %#x: action %d (%s) at %v cuts no traffic", p.Seed, i, a, a.At)
		}
		for _, set := range p.KeepUp {
			if len(set) == 0 {
				continue
			}
			up := false
			for _, n := range set {
				up = up || !s.killed[n] && !s.paused[n]
			}
			if !up {
				return fmt.Errorf("faults: plan %#x: after action %d (%s) at %v no node of %v is running", p.Seed, i, a, a.At, set)
			}
		}
	}
	if rec := s.Recovery(); len(rec) > 0 {
		return fmt.Errorf("faults: plan %#x: faults still in effect at the end; missing %v", p.Seed, rec)
	}
	return nil
}

func cutsSomething(p Partition) bool {
	m := p.Members()
	for _, a := range m {
		for _, b := range m {
			if p.Cuts(a, b) {
				return true
			}
		}
	}
	return false
}
