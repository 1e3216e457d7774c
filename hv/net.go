package hv

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/mvrun/multiverse/hv/kernel"
	"github.com/mvrun/multiverse/hv/netsim"
	"github.com/mvrun/multiverse/internal/linkmodel"
	"github.com/mvrun/multiverse/internal/seeds"
)

// nodeAddr is the address of the i-th node added to a cluster: 10.89.0.2,
// 10.89.0.3, ... (one private /16 per simulation: it never leaves the VMM).
func nodeAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 89, byte((i + 2) >> 8), byte(i + 2)})
}

// links is the cluster's link model as the network consults it: the
// shared model of every backend (internal/linkmodel), with every draw from
// the cluster's own stream, in the order the network asks.
type links struct {
	part  *linkmodel.Partition
	conds linkmodel.Links
	rng   *rand.Rand
}

func newLinks(seed uint64) *links { return &links{rng: seeds.Stream(seed, "hv/links")} }

// Cut implements [netsim.Links].
func (l *links) Cut(from, to string) bool { return l.part != nil && l.part.Cuts(from, to) }

// StreamDelay implements [netsim.Links]: the base one-way delay plus the
// link's latency and, for each lost transmission, a retransmission
// timeout. A write that would time out altogether is delivered after the
// longest delay Linux would wait; the network itself times connections out
// on cut links and dead hosts.
func (l *links) StreamDelay(from, to string) time.Duration {
	c := l.conds.Between(from, to)
	f := linkmodel.StreamDelay(l.rng, c, linkmodel.RTO(c), linkmodel.MaxRetransmits)
	return netsim.DefaultDelay + f.Delay
}

// Datagram implements [netsim.Links].
func (l *links) Datagram(from, to string) (bool, int, time.Duration) {
	f := linkmodel.Decide(l.rng, l.conds.Between(from, to))
	return f.Lost, f.Copies, netsim.DefaultDelay + f.Delay
}

// newNetwork creates the cluster's network and plugs it into the world:
// its deliveries are events on the virtual clock and enter the trace hash.
func (c *Cluster) newNetwork() {
	c.links = newLinks(c.cfg.Seed)
	c.net = netsim.New(netsim.Config{
		Seed:  seeds.Derive(c.cfg.Seed, "hv/net"),
		Links: c.links,
		Trace: c.netTrace,
	})
	c.world.AddEventSource(c.net)
}

// netTrace puts the network's records into the cluster's trace.
func (c *Cluster) netTrace(kind byte, words ...uint64) {
	c.world.Trace().Event('n', append([]uint64{uint64(kind)}, words...)...)
}

// attachNode gives node n its host on the network and rewrites every
// node's /etc/hosts so all names resolve without DNS.
func (c *Cluster) attachNode(n *Node, addr netip.Addr) error {
	if !addr.IsValid() {
		addr = nodeAddr(len(c.nodes) - 1)
	}
	h, err := c.net.AddHost(n.name, addr)
	if err != nil {
		return fmt.Errorf("hv: node %s: %w", n.name, err)
	}
	n.host = h
	for _, m := range c.nodes {
		if err := kernel.WriteNetworkFiles(m.fs, m.host); err != nil {
			return fmt.Errorf("hv: node %s: %w", m.name, err)
		}
	}
	return nil
}

// Network returns the cluster's simulated network, for inspection
// (connections, an observer of deliveries).
func (c *Cluster) Network() *netsim.Network { return c.net }

// Addr returns the node's address on the cluster's network.
func (n *Node) Addr() netip.Addr { return n.host.Addrs()[0] }

// Partition installs p, replacing any partition: from now on traffic p
// cuts (see [linkmodel.Partition.Cuts]) is not delivered — TCP streams
// stall and retransmit until the partition heals or they time out,
// datagrams are lost. Every node p names must exist.
func (c *Cluster) Partition(p linkmodel.Partition) error {
	for _, name := range p.Members() {
		if c.byName[name] == nil {
			return fmt.Errorf("hv: partition names node %q, which the cluster does not have", name)
		}
	}
	if p.OneWay && (len(p.From) == 0 || len(p.To) == 0) {
		return fmt.Errorf("hv: a one-way partition needs From and To nodes")
	}
	c.world.Trace().Bytes('P', []byte(fmt.Sprint(p.Groups, p.OneWay, p.From, p.To)))
	c.links.part = &p
	return nil
}

// LinkBetween returns the link conditions traffic from node from to node
// to meets now.
func (c *Cluster) LinkBetween(from, to string) linkmodel.Link { return c.links.conds.Between(from, to) }

// Heal removes the partition.
func (c *Cluster) Heal() {
	c.world.Trace().Event('H')
	c.links.part = nil
}

// SetLink sets link conditions (latency, loss, duplication, reordering):
// for every link when nodes is empty, else as the named nodes' own (see
// [linkmodel.Links.With]).
func (c *Cluster) SetLink(nodes []string, l linkmodel.Link) error {
	if err := l.Check(); err != nil {
		return fmt.Errorf("hv: %w", err)
	}
	for _, name := range nodes {
		if c.byName[name] == nil {
			return fmt.Errorf("hv: link conditions name node %q, which the cluster does not have", name)
		}
	}
	c.world.Trace().Bytes('L', []byte(fmt.Sprint(nodes, l)))
	c.links.conds = c.links.conds.With(nodes, l)
	return nil
}
