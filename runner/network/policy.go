package network

import (
	"errors"
	"fmt"
	"slices"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/internal/linkmodel"
)

// EventKind names what an [Event] reports.
type EventKind string

// Event kinds.
const (
	EventNode      EventKind = "node"      // a node joined the network
	EventPartition EventKind = "partition" // a partition was installed (replacing any other)
	EventHeal      EventKind = "heal"      // the partition was removed
	EventLink      EventKind = "link"      // link conditions changed
	EventDrops     EventKind = "drops"     // frames dropped on one link since the last such event
)

// Event reports a change to the network or what a fault did to one link.
type Event struct {
	Kind      EventKind
	Node      string            // EventNode
	Partition *faults.Partition // EventPartition
	Link      *faults.Link      // EventLink
	Nodes     []string          // EventLink: whose own conditions Link is; empty for every link
	// EventDrops: frames from From to To dropped by the partition and by
	// random loss since the previous EventDrops for the pair. Drop events
	// are sent just before each partition, heal or link change (so they
	// sum up what the previous setting did) and on Close.
	From, To          string
	Partitioned, Lost uint64
}

// policy is the immutable fault state the forwarding path reads.
type policy struct {
	part  *faults.Partition
	cut   linkmodel.Matrix // by port index; the zero Matrix when there is no partition
	links linkmodel.Links
	link  linkmodel.LinkTable // links by port index
}

// newPolicy compiles part and links for the ports of t. A port that joins
// gets a new policy right after the table that holds it (Network.add);
// frames it sends in between fall outside the compiled range, which is
// right too, as nothing can name a node before it is on the network.
func newPolicy(t *table, part *faults.Partition, links linkmodel.Links) *policy {
	names := make([]string, len(t.ports))
	for i, p := range t.ports {
		names[i] = p.node.Name
	}
	pol := &policy{part: part, links: links, link: links.Compile(names)}
	if part != nil {
		pol.cut = linkmodel.Compile(part.Model(), names)
	}
	return pol
}

func (pol *policy) cuts(from, to *port) bool { return pol.cut.Cuts(from.idx, to.idx) }

// between returns the conditions on frames from from to to.
func (pol *policy) between(from, to *port) faults.Link { return pol.link.Between(from.idx, to.idx) }

// Partition installs p, replacing the current partition: from now on the
// switch drops every frame p cuts (see [faults.Partition.Cuts]), also frames
// already waiting in the delay queue. Every node p names must be on the
// network.
func (n *Network) Partition(p faults.Partition) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed.Load() {
		return ErrClosed
	}
	t := n.table.Load()
	for _, name := range p.Members() {
		if _, ok := t.byName[name]; !ok {
			return fmt.Errorf("network %s: partition %s names node %q: %w", n.cfg.Prefix, p.Kind, name, ErrUnknownNode)
		}
	}
	if p.OneWay && (len(p.From) == 0 || len(p.To) == 0) {
		return fmt.Errorf("network %s: one-way partition %s needs both From and To nodes", n.cfg.Prefix, p.Kind)
	}
	p = clonePartition(p)
	n.reportDrops()
	n.policy.Store(newPolicy(t, &p, n.policy.Load().links))
	n.log.Debug("partition", "kind", p.Kind, "groups", p.Groups, "one_way", p.OneWay, "from", p.From, "to", p.To)
	ev := clonePartition(p)
	n.emit(Event{Kind: EventPartition, Partition: &ev})
	return nil
}

// Heal removes the partition. Healing a network without one is not an
// error.
func (n *Network) Heal() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed.Load() {
		return ErrClosed
	}
	n.reportDrops()
	n.policy.Store(newPolicy(n.table.Load(), nil, n.policy.Load().links))
	n.log.Debug("heal")
	n.emit(Event{Kind: EventHeal})
	return nil
}

// SetLink sets the conditions of every link: latency (drawn uniformly per
// frame from the range), loss, duplication and reordering probabilities,
// and drops nodes' own conditions (see [Network.SetNodeLink]). A zero Link
// is a clean network. A reordered frame is held back for an extra
// ReorderHold plus up to the latency range's maximum, so frames sent after it
// overtake it.
func (n *Network) SetLink(l faults.Link) error { return n.setLink(nil, l) }

// SetNodeLink gives nodes their own link conditions, which apply to the
// frames they send and receive: a frame meets its sender's own conditions,
// else its receiver's, else those [Network.SetLink] set (the rule of
// linkmodel.Links and of [faults.State.Link]). A zero Link removes the
// nodes' own conditions. Every node must be on the network.
func (n *Network) SetNodeLink(nodes []string, l faults.Link) error {
	if len(nodes) == 0 {
		return fmt.Errorf("network %s: link conditions for no nodes; use SetLink for every link", n.cfg.Prefix)
	}
	return n.setLink(slices.Clone(nodes), l)
}

func (n *Network) setLink(nodes []string, l faults.Link) error {
	if err := l.Check(); err != nil {
		return fmt.Errorf("network %s: %w", n.cfg.Prefix, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed.Load() {
		return ErrClosed
	}
	t := n.table.Load()
	for _, name := range nodes {
		if _, ok := t.byName[name]; !ok {
			return fmt.Errorf("network %s: link conditions for node %q: %w", n.cfg.Prefix, name, ErrUnknownNode)
		}
	}
	n.reportDrops()
	pol := n.policy.Load()
	n.policy.Store(newPolicy(t, pol.part, pol.links.With(nodes, l)))
	n.log.Debug("link", "nodes", nodes, "latency", fmt.Sprintf("%v..%v", l.Latency.Min, l.Latency.Max),
		"loss", l.Loss, "duplicate", l.Duplicate, "reorder", l.Reorder)
	ev := l
	n.emit(Event{Kind: EventLink, Link: &ev, Nodes: slices.Clone(nodes)})
	return nil
}

// Link returns the conditions of every link that no node's own conditions
// override.
func (n *Network) Link() faults.Link { return n.policy.Load().links.All() }

// LinkBetween returns the conditions on frames from node from to node to.
// Names that are not on the network have no conditions of their own.
func (n *Network) LinkBetween(from, to string) faults.Link {
	return n.policy.Load().links.Between(from, to)
}

// Reachable reports whether the switch currently forwards frames from node
// from to node to (before random loss). Unknown nodes are unreachable; a
// node always reaches itself.
func (n *Network) Reachable(from, to string) bool {
	t := n.table.Load()
	f, ok1 := t.byName[from]
	d, ok2 := t.byName[to]
	if !ok1 || !ok2 {
		return false
	}
	return f == d || !n.policy.Load().cuts(f, d)
}

// Isolated reports whether node can neither send frames to nor receive
// frames from any other node. A node alone on the network, or an unknown
// one, is not isolated.
func (n *Network) Isolated(node string) bool {
	t := n.table.Load()
	p, ok := t.byName[node]
	if !ok || len(t.ports) < 2 {
		return false
	}
	pol := n.policy.Load()
	for _, q := range t.ports {
		if q != p && (!pol.cuts(p, q) || !pol.cuts(q, p)) {
			return false
		}
	}
	return true
}

// reportDrops emits an EventDrops for every link that dropped frames since
// its last report. Callers hold n.mu.
func (n *Network) reportDrops() {
	if n.cfg.Events == nil {
		return
	}
	t := n.table.Load()
	for _, from := range t.ports {
		for _, to := range t.ports {
			if from == to {
				continue
			}
			l := t.link(from, to)
			pt, lo := l.partitioned.Load(), l.lost.Load()
			if pt == l.reportedPartitioned && lo == l.reportedLost {
				continue
			}
			n.emit(Event{Kind: EventDrops, From: from.node.Name, To: to.node.Name,
				Partitioned: pt - l.reportedPartitioned, Lost: lo - l.reportedLost})
			l.reportedPartitioned, l.reportedLost = pt, lo
		}
	}
}

func (n *Network) emit(e Event) {
	if n.cfg.Events != nil {
		n.cfg.Events(e)
	}
}

func clonePartition(p faults.Partition) faults.Partition {
	q := p
	q.Groups = make([][]string, len(p.Groups))
	for i, g := range p.Groups {
		q.Groups[i] = slices.Clone(g)
	}
	q.From = slices.Clone(p.From)
	q.To = slices.Clone(p.To)
	return q
}

// Apply carries out the network actions of a fault plan — partition, heal
// and link — and reports whether a was one of them; other kinds are left to
// the caller (the backend's cluster).
func (n *Network) Apply(a faults.Action) (bool, error) {
	switch a.Kind {
	case faults.ActPartition:
		if a.Partition == nil {
			return true, errors.New("partition action without a partition")
		}
		return true, n.Partition(*a.Partition)
	case faults.ActHeal:
		return true, n.Heal()
	case faults.ActLink:
		var l faults.Link
		if a.Link != nil {
			l = *a.Link
		}
		if len(a.Nodes) > 0 {
			return true, n.SetNodeLink(a.Nodes, l)
		}
		return true, n.SetLink(l)
	}
	return false, nil
}
