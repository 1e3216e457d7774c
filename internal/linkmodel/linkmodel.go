// Package linkmodel is the network fault model every mvrun backend obeys:
// link conditions ([Link]: latency, loss, duplication, reordering), which
// of them a packet meets ([Links]), partitions ([Partition]) and the seeded
// draws that turn them into the fate of one packet ([Decide]) or the delay
// of one write on a byte stream ([StreamDelay]). [Matrix] and [LinkTable]
// are compiled forms for per-packet lookups by node number.
//
// It lives in the base layer so that the process and docker backends'
// userspace switch (runner/network), the fault schedule (faults, which
// re-exports [Link] and [Range]) and hv's simulated network, which may not
// import faults or runner, share one definition instead of three copies
// that drift apart. It imports only the standard library.
package linkmodel

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Range is a closed interval of durations, written "1s..8s" in specs.
// A fixed duration has Min == Max.
type Range struct {
	Min, Max time.Duration
}

// String renders r the way specs write it: "1s..8s", or "5s" when fixed.
func (r Range) String() string {
	if r.Min == r.Max {
		return r.Min.String()
	}
	return r.Min.String() + ".." + r.Max.String()
}

// ParseRange reads a range written "1s..8s" or a single duration "5s".
func ParseRange(s string) (Range, error) {
	lo, hi, two := strings.Cut(strings.TrimSpace(s), "..")
	min, err := time.ParseDuration(strings.TrimSpace(lo))
	if err != nil {
		return Range{}, fmt.Errorf("range %q: want a duration like \"5s\" or a range like \"1s..8s\"", s)
	}
	max := min
	if two {
		if max, err = time.ParseDuration(strings.TrimSpace(hi)); err != nil {
			return Range{}, fmt.Errorf("range %q: want a duration like \"5s\" or a range like \"1s..8s\"", s)
		}
	}
	if min < 0 || max < min {
		return Range{}, fmt.Errorf("range %q: want 0 <= min <= max", s)
	}
	return Range{Min: min, Max: max}, nil
}

// Link describes the conditions on one direction of a link: a one-way
// latency drawn uniformly from Latency per packet (or per write on a byte
// stream), and the probabilities that a packet is lost, duplicated or held
// back behind later ones. The zero Link is a clean network.
type Link struct {
	Latency   Range
	Loss      float64
	Duplicate float64
	Reorder   float64
}

// Check reports what makes l unusable: a probability outside [0, 1] (or
// NaN) or a latency range with a negative minimum or Max < Min.
func (l Link) Check() error {
	for _, pr := range []struct {
		name string
		v    float64
	}{{"loss", l.Loss}, {"duplicate", l.Duplicate}, {"reorder", l.Reorder}} {
		if !(pr.v >= 0 && pr.v <= 1) {
			return fmt.Errorf("link %s probability %v: want a number from 0 to 1", pr.name, pr.v)
		}
	}
	if l.Latency.Min < 0 || l.Latency.Max < l.Latency.Min {
		return fmt.Errorf("link latency %v..%v: want 0 <= min <= max", l.Latency.Min, l.Latency.Max)
	}
	return nil
}

// String renders l: "clean" or "latency=1ms..5ms loss=0.1 duplicate=0 reorder=0.05".
func (l Link) String() string {
	if l == (Link{}) {
		return "clean"
	}
	f := func(p float64) string { return strconv.FormatFloat(p, 'f', -1, 64) }
	return "latency=" + l.Latency.String() + " loss=" + f(l.Loss) + " duplicate=" + f(l.Duplicate) + " reorder=" + f(l.Reorder)
}

// Partition describes who can reach whom. Nodes in the same group reach
// each other. With OneWay set, only traffic From→To is cut; otherwise
// traffic between different groups is cut both ways. Groups may overlap (a
// bridge node is in both halves), and nodes named in no group are not
// affected. [Partition.Cuts] is the reference for what a partition drops.
type Partition struct {
	Groups [][]string
	OneWay bool
	From   []string // OneWay only: senders whose packets are dropped...
	To     []string // ...when addressed to these nodes
}

// Cuts reports whether p drops packets sent by from to to. It is the
// reference semantics every backend implements: with OneWay, packets from a
// node in From to a node in To are dropped; otherwise packets between two
// nodes that are both named in some group but share none are dropped, both
// ways. A node never cuts itself off from itself.
func (p Partition) Cuts(from, to string) bool {
	if from == to {
		return false
	}
	if p.OneWay {
		return slices.Contains(p.From, from) && slices.Contains(p.To, to)
	}
	inFrom, inTo := false, false
	for _, g := range p.Groups {
		f, t := slices.Contains(g, from), slices.Contains(g, to)
		if f && t {
			return false
		}
		inFrom = inFrom || f
		inTo = inTo || t
	}
	return inFrom && inTo
}

// Members returns every node p names, sorted and without repeats.
func (p Partition) Members() []string {
	var all []string
	for _, g := range p.Groups {
		all = append(all, g...)
	}
	all = append(all, p.From...)
	all = append(all, p.To...)
	slices.Sort(all)
	return slices.Compact(all)
}

// Matrix is a partition compiled for a fixed numbering of nodes, so that a
// per-packet check is one index instead of a scan of the groups. The zero
// Matrix cuts nothing, which is what a network without a partition needs.
type Matrix struct {
	n   int
	cut []bool // [from*n+to]
}

// Compile numbers nodes by their position in nodes and records, for every
// ordered pair, whether p cuts it (by [Partition.Cuts]).
func Compile(p Partition, nodes []string) Matrix {
	m := Matrix{n: len(nodes), cut: make([]bool, len(nodes)*len(nodes))}
	for i, from := range nodes {
		for j, to := range nodes {
			m.cut[i*m.n+j] = p.Cuts(from, to)
		}
	}
	return m
}

// Cuts reports whether packets from node number from to node number to are
// dropped. Numbers outside the compiled range are never cut, so compile
// over every node the partition names; a node that joins later is named in
// no group and is rightly left alone.
func (m Matrix) Cuts(from, to int) bool {
	return from >= 0 && to >= 0 && from < m.n && to < m.n && m.cut[from*m.n+to]
}
