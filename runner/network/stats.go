package network

import (
	"cmp"
	"slices"
	"sync/atomic"
)

// DropReason says why the switch dropped a frame.
type DropReason string

// Drop reasons.
const (
	DropPartition DropReason = "partition" // a partition cuts the sender off from the receiver
	DropLoss      DropReason = "loss"      // random loss drawn from the seed
	DropUnknown   DropReason = "unknown"   // no node has the destination MAC address
	DropRunt      DropReason = "runt"      // shorter than an Ethernet header
	DropWrite     DropReason = "write"     // the receiver's device refused it (down or gone)
)

// Stats counts what the switch did with frames since the Network was made.
type Stats struct {
	Received   uint64                // frames read from nodes
	Forwarded  uint64                // frames written to nodes, duplicates included
	Dropped    map[DropReason]uint64 // frames (per destination) dropped, by reason
	Duplicated uint64                // extra copies delivered
	Delayed    uint64                // frames held in the delay queue (latency or reordering)
	Reordered  uint64                // frames held back so that later ones overtake them
	Links      []LinkStats           // per sender and receiver, only pairs that saw traffic, sorted
}

// LinkStats counts frames from one node to another.
type LinkStats struct {
	From, To    string
	Forwarded   uint64 // frames written to To, duplicates included
	Partitioned uint64 // dropped by a partition
	Lost        uint64 // dropped by random loss
	Duplicated  uint64
	Delayed     uint64
	Reordered   uint64
}

// counters are the switch-wide counters, updated lock-free.
type counters struct {
	received, forwarded, duplicated, delayed, reordered atomic.Uint64
	partition, loss, unknown, runt, write               atomic.Uint64
}

func (c *counters) drop(r DropReason) {
	switch r {
	case DropPartition:
		c.partition.Add(1)
	case DropLoss:
		c.loss.Add(1)
	case DropUnknown:
		c.unknown.Add(1)
	case DropRunt:
		c.runt.Add(1)
	case DropWrite:
		c.write.Add(1)
	}
}

// linkCounters count frames over one directed pair of nodes.
type linkCounters struct {
	forwarded, partitioned, lost, duplicated, delayed, reordered atomic.Uint64
	// reported* are the drop counts last sent in an EventDrops.
	reportedPartitioned, reportedLost uint64
}

// Stats returns a snapshot of the switch's counters.
func (n *Network) Stats() Stats {
	c := &n.counters
	s := Stats{
		Received:   c.received.Load(),
		Forwarded:  c.forwarded.Load(),
		Duplicated: c.duplicated.Load(),
		Delayed:    c.delayed.Load(),
		Reordered:  c.reordered.Load(),
		Dropped:    map[DropReason]uint64{},
	}
	for r, v := range map[DropReason]uint64{
		DropPartition: c.partition.Load(),
		DropLoss:      c.loss.Load(),
		DropUnknown:   c.unknown.Load(),
		DropRunt:      c.runt.Load(),
		DropWrite:     c.write.Load(),
	} {
		if v != 0 {
			s.Dropped[r] = v
		}
	}
	t := n.table.Load()
	for _, from := range t.ports {
		for _, to := range t.ports {
			if from == to {
				continue
			}
			l := t.link(from, to)
			ls := LinkStats{
				From: from.node.Name, To: to.node.Name,
				Forwarded:   l.forwarded.Load(),
				Partitioned: l.partitioned.Load(),
				Lost:        l.lost.Load(),
				Duplicated:  l.duplicated.Load(),
				Delayed:     l.delayed.Load(),
				Reordered:   l.reordered.Load(),
			}
			if ls.Forwarded|ls.Partitioned|ls.Lost != 0 {
				s.Links = append(s.Links, ls)
			}
		}
	}
	slices.SortFunc(s.Links, func(a, b LinkStats) int {
		return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To))
	})
	return s
}

// Link returns the counters of the link from one node to another, and
// whether the link saw any traffic (a zero LinkStats otherwise).
func (s Stats) Link(from, to string) (LinkStats, bool) {
	for _, l := range s.Links {
		if l.From == from && l.To == to {
			return l, true
		}
	}
	return LinkStats{From: from, To: to}, false
}
