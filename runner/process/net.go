package process

import (
	"log/slog"
	"net/netip"

	"github.com/mvrun/multiverse/runner/network"
)

// subnet is every cluster's node subnet. Nodes live in their own namespaces
// joined only by their cluster's switch, so clusters never see each other's
// addresses, and a seed gets the same addresses whatever its index, which
// keeps a replay (always index 0) close to the run it replays.
var subnet = netip.MustParsePrefix("10.77.0.0/24")

// newNetwork creates a cluster's network: namespaces named after prefix,
// joined by a switch whose packet decisions draw from seed.
func newNetwork(prefix string, seed uint64, log *slog.Logger) (*network.Network, error) {
	return network.New(network.Config{
		Prefix: prefix,
		Subnet: subnet,
		Seed:   seed,
		Log:    log,
		Events: func(e network.Event) {
			log.Debug("network", "event", e.Kind, "node", e.Node, "from", e.From, "to", e.To,
				"partitioned", e.Partitioned, "lost", e.Lost)
		},
	})
}
