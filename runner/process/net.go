package process

import (
	"log/slog"

	"github.com/mvrun/multiverse/faults"
)

// netNode is what the backend needs to know about a node's place in the
// cluster network.
type netNode struct {
	Addr      string // the node's IP address
	NetnsPath string // bind mount of its network namespace
}

// clusterNet is the network of one cluster, implemented by runner/network.
// It is an interface so the backend's tests can check how the backend uses
// it; production code always uses runner/network.
type clusterNet interface {
	AddNode(name string) (netNode, error)
	Hosts() []byte // a whole /etc/hosts: localhost and every node
	Partition(p faults.Partition) error
	Heal() error
	SetLink(l faults.Link) error
	Close() error
}

// netConfig is what a cluster asks its network for.
type netConfig struct {
	Prefix string // names of namespaces and devices start with it
	Index  int    // the seed's index in the run, to keep subnets apart
	Seed   uint64
	Log    *slog.Logger
}
