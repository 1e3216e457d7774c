package linkmodel

import (
	"maps"
	"slices"
)

// Links is the link conditions of a whole network: those of every link,
// and nodes' own, which apply to the packets a node sends and receives. A
// packet meets its sender's own conditions if the sender has them, else
// its receiver's, else those of every link ([Links.Between]); that is how a
// link fault limited to some services degrades only their links. The zero
// Links is a clean network. A Links is never changed in place ([Links.With]
// returns a new one), so readers may share it without locks.
type Links struct {
	all Link
	own map[string]Link // nil when no node has its own
}

// With returns ls after a link action for nodes. With no nodes, l becomes
// the conditions of every link and nodes' own are dropped. With nodes, l
// becomes each one's own; a zero l removes them instead, so the node
// follows the conditions of every link again.
func (ls Links) With(nodes []string, l Link) Links {
	if len(nodes) == 0 {
		return Links{all: l}
	}
	own := maps.Clone(ls.own)
	if own == nil {
		own = map[string]Link{}
	}
	for _, n := range nodes {
		if l == (Link{}) {
			delete(own, n)
		} else {
			own[n] = l
		}
	}
	if len(own) == 0 {
		own = nil
	}
	return Links{all: ls.all, own: own}
}

// Between returns the conditions on packets sent by from to to.
func (ls Links) Between(from, to string) Link {
	if l, ok := ls.own[from]; ok {
		return l
	}
	if l, ok := ls.own[to]; ok {
		return l
	}
	return ls.all
}

// All returns the conditions of every link that neither end overrides.
func (ls Links) All() Link { return ls.all }

// Own returns node's own conditions and whether it has any.
func (ls Links) Own(node string) (Link, bool) {
	l, ok := ls.own[node]
	return l, ok
}

// Nodes returns the nodes that have their own conditions, sorted.
func (ls Links) Nodes() []string { return slices.Sorted(maps.Keys(ls.own)) }

// Clean reports whether every link is clean.
func (ls Links) Clean() bool { return ls.all == (Link{}) && len(ls.own) == 0 }

// LinkTable is a [Links] compiled for a fixed numbering of nodes, so that
// the per-packet lookup indexes a slice instead of hashing names.
type LinkTable struct {
	all Link
	own []Link
	has []bool
}

// Compile numbers nodes by their position in nodes and records each one's
// own conditions.
func (ls Links) Compile(nodes []string) LinkTable {
	t := LinkTable{all: ls.all, own: make([]Link, len(nodes)), has: make([]bool, len(nodes))}
	for i, n := range nodes {
		t.own[i], t.has[i] = ls.Own(n)
	}
	return t
}

// Between returns the conditions on packets sent by node number from to
// node number to, as [Links.Between] does. A number outside the compiled
// range has no conditions of its own.
func (t LinkTable) Between(from, to int) Link {
	if from >= 0 && from < len(t.has) && t.has[from] {
		return t.own[from]
	}
	if to >= 0 && to < len(t.has) && t.has[to] {
		return t.own[to]
	}
	return t.all
}
