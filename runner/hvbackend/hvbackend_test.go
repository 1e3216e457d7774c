package hvbackend

import (
	"context"
	"testing"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/runner/backendtest"
)

func needKVM(t testing.TB) {
	t.Helper()
	if err := New(Options{}).Available(context.Background()); err != nil {
		t.Skipf("skipping: %v", err)
	}
}

// TestConformance runs the backend conformance suite on hv.
func TestConformance(t *testing.T) {
	needKVM(t)
	backendtest.Run(t, New(Options{}), backendtest.Options{})
}

// TestFaultInjector runs faults/faulttest against real hv clusters of four
// echo nodes: partitions and links checked with probes over hv's network,
// kills, restarts and pauses through the cluster's own view of its nodes.
func TestFaultInjector(t *testing.T) {
	needKVM(t)
	b := New(Options{})
	test := backendtest.NewTest([]string{"n1", "n2", "n3", "n4"})
	backendtest.RunFaults(t, b, test, func(t *testing.T, h *backendtest.Harness) *backendtest.Observer {
		c := h.Cluster.(*cluster)
		return &backendtest.Observer{
			H: h,
			State: func(ctx context.Context, node string) (bool, bool, error) {
				n, err := c.node(node)
				if err != nil {
					return false, false, err
				}
				return n.proc != nil, n.proc != nil && n.n.Paused(), nil
			},
			LinkOf: func(from, to string) faults.Link { return c.hc.LinkBetween(from, to) },
		}
	})
}
