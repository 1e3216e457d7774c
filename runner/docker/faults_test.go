package docker

import (
	"context"
	"testing"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/runner/backendtest"
)

// TestFaultInjector runs faults/faulttest against real docker-backend
// clusters of four echo nodes.
func TestFaultInjector(t *testing.T) {
	b := needDocker(t)
	test := backendtest.NewTest([]string{"n1", "n2", "n3", "n4"})
	backendtest.RunFaults(t, b, test, func(t *testing.T, h *backendtest.Harness) *backendtest.Observer {
		c := h.Cluster.(*Cluster)
		return &backendtest.Observer{
			H: h,
			// The engine's view of the service container.
			State: func(ctx context.Context, node string) (bool, bool, error) {
				n, err := c.Node(node)
				if err != nil {
					return false, false, err
				}
				st, err := n.Own.ctr.State(ctx)
				if err != nil {
					return false, false, err
				}
				return st.Running, st.Paused, nil
			},
			LinkOf: func(from, to string) faults.Link { return c.Network().Link() },
		}
	})
}
