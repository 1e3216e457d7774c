package faults

import (
	"math/rand/v2"
	"slices"

	"github.com/mvrun/multiverse/internal/linkmodel"
)

// Model returns p without its Kind: the partition as the link model and
// the backends' networks take it. It shares p's slices.
func (p Partition) Model() linkmodel.Partition {
	return linkmodel.Partition{Groups: p.Groups, OneWay: p.OneWay, From: p.From, To: p.To}
}

// Cuts reports whether p drops packets sent by from to to. It is the
// reference semantics every backend implements: with OneWay, packets from a
// node in From to a node in To are dropped; otherwise packets between two
// nodes that are both named in some group but share none are dropped, both
// ways. A node never cuts itself off from itself. See
// linkmodel.Partition.Cuts, which it calls.
func (p Partition) Cuts(from, to string) bool { return p.Model().Cuts(from, to) }

// Members returns every node p names, sorted and without repeats.
func (p Partition) Members() []string { return p.Model().Members() }

// AllPartitionKinds lists every partition shape in a fixed order.
var AllPartitionKinds = []PartitionKind{PartitionHalves, PartitionIsolate, PartitionBridge, PartitionMajorities}

// MinNodes returns how many nodes shape k needs to cut anything: 2 for
// halves and isolate, 3 for bridge, 4 for majorities; 0 for an unknown kind.
func (k PartitionKind) MinNodes() int {
	switch k {
	case PartitionHalves, PartitionIsolate:
		return 2
	case PartitionBridge:
		return 3
	case PartitionMajorities:
		return 4
	}
	return 0
}

// OneWayCapable reports whether shape k has a one-way (asymmetric) form.
// Halves and isolate do; a bridge or a majorities ring cut one way is not a
// meaningful shape.
func (k PartitionKind) OneWayCapable() bool {
	return k == PartitionHalves || k == PartitionIsolate
}

// NewPartition builds a partition of shape kind over nodes, drawing the
// choice of nodes from r. With oneWay and a shape that has a one-way form,
// the result cuts traffic in one direction only. nodes must be sorted and at
// least kind.MinNodes() long; NewPartition panics otherwise, as that is a bug
// in the caller.
func NewPartition(r *rand.Rand, kind PartitionKind, nodes []string, oneWay bool) Partition {
	n := len(nodes)
	if min := kind.MinNodes(); min == 0 || n < min {
		panic("faults: NewPartition: " + string(kind) + " over too few nodes")
	}
	shuffled := make([]string, n)
	for i, j := range r.Perm(n) {
		shuffled[i] = nodes[j]
	}
	sorted := func(s []string) []string {
		s = slices.Clone(s)
		slices.Sort(s)
		return s
	}
	p := Partition{Kind: kind}
	switch kind {
	case PartitionHalves:
		a, b := sorted(shuffled[:n/2]), sorted(shuffled[n/2:])
		p.Groups = [][]string{a, b}
		if oneWay {
			p.OneWay, p.From, p.To = true, a, b
		}
	case PartitionIsolate:
		x, rest := shuffled[:1], sorted(shuffled[1:])
		p.Groups = [][]string{slices.Clone(x), rest}
		if oneWay {
			p.OneWay = true
			if r.IntN(2) == 0 {
				p.From, p.To = slices.Clone(x), rest // x cannot send
			} else {
				p.From, p.To = rest, slices.Clone(x) // x cannot receive
			}
		}
	case PartitionBridge:
		b, rest := shuffled[0], shuffled[1:]
		m := len(rest) / 2
		p.Groups = [][]string{
			sorted(append([]string{b}, rest[:m]...)),
			sorted(append([]string{b}, rest[m:]...)),
		}
	case PartitionMajorities:
		// Each node sees itself and its k nearest neighbours on each side of
		// a ring: 2k+1 nodes, a strict majority, and a different majority
		// for every node. The groups are the ring's windows of k+1 nodes, so
		// two nodes share a group exactly when they are at most k apart.
		k := (n/2 + 1) / 2
		for i := range n {
			w := make([]string, 0, k+1)
			for j := range k + 1 {
				w = append(w, shuffled[(i+j)%n])
			}
			p.Groups = append(p.Groups, sorted(w))
		}
	}
	return p
}
