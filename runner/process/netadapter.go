package process

import (
	"net/netip"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/runner/network"
)

// subnet is every cluster's node subnet. Nodes live in their own namespaces
// joined only by their cluster's switch, so clusters never see each other's
// addresses, and a seed gets the same addresses whatever its index, which
// keeps a replay (always index 0) close to the run it replays.
var subnet = netip.MustParsePrefix("10.77.0.0/24")

// newClusterNet creates a cluster's network with runner/network. Tests
// replace it.
var newClusterNet = func(cfg netConfig) (clusterNet, error) {
	log := cfg.Log
	n, err := network.New(network.Config{
		Prefix: cfg.Prefix,
		Subnet: subnet,
		Seed:   cfg.Seed,
		Log:    log,
		Events: func(e network.Event) {
			log.Debug("network", "event", e.Kind, "node", e.Node, "from", e.From, "to", e.To,
				"partitioned", e.Partitioned, "lost", e.Lost)
		},
	})
	if err != nil {
		return nil, err
	}
	return switchNet{n}, nil
}

// sweepNetworks removes network namespaces and devices whose names stale
// reports true for.
var sweepNetworks = network.Sweep

// switchNet adapts *network.Network to clusterNet.
type switchNet struct{ n *network.Network }

func (s switchNet) AddNode(name string) (netNode, error) {
	nd, err := s.n.AddNode(name)
	if err != nil {
		return netNode{}, err
	}
	return netNode{Addr: nd.Addr.String(), NetnsPath: nd.NetnsPath}, nil
}

func (s switchNet) Hosts() []byte                      { return s.n.Hosts() }
func (s switchNet) Partition(p faults.Partition) error { return s.n.Partition(p) }
func (s switchNet) Heal() error                        { return s.n.Heal() }
func (s switchNet) SetLink(l faults.Link) error        { return s.n.SetLink(l) }
func (s switchNet) Close() error                       { return s.n.Close() }
