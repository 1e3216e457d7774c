package backendtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/faults/faulttest"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/specs"
)

// ProbeWait is how long [Observer.Reachable] waits for a probe to show in
// the receiving node's output before it calls the pair unreachable.
var ProbeWait = 500 * time.Millisecond

// Observer lets faults/faulttest watch a cluster booted by [Boot]: it is a
// [faulttest.Observer] and a [faulttest.LinkObserver]. Reachability is
// observed with real packets: the sending node runs "echo send", one-way
// UDP datagrams, and the receiving node's echo service logs what arrives
// on its stdout (nodes/<service>.stdout in the seed directory), so a
// one-way partition shows in one direction only. Whether a node runs or is
// paused is the backend's to say, from outside the node.
type Observer struct {
	H *Harness
	// State reports whether node's service process exists and whether it
	// is frozen, as the host sees it (the process table, the container
	// engine); a paused process is running.
	State func(ctx context.Context, node string) (running, paused bool, err error)
	// LinkOf returns the link conditions the cluster's switch applies to
	// frames from one node to another.
	LinkOf func(from, to string) faults.Link

	probes atomic.Uint64
}

var (
	_ faulttest.Observer     = (*Observer)(nil)
	_ faulttest.LinkObserver = (*Observer)(nil)
)

// Nodes returns the cluster's services.
func (o *Observer) Nodes() []string { return slices.Clone(o.H.Services) }

// Reachable sends a probe from one node to another and reports whether it
// arrived within [ProbeWait].
func (o *Observer) Reachable(ctx context.Context, from, to string) (bool, error) {
	msg := fmt.Sprintf("probe-%s-%s-%d", from, to, o.probes.Add(1))
	var errb bytes.Buffer
	res, err := o.H.Cluster.Exec(ctx, backend.ExecRequest{
		Service: from, Name: "probe", Stderr: &errb,
		Argv: []string{o.H.program(from), "send", fmt.Sprintf("%s:%d", to, UDPPort), msg},
	})
	if err != nil {
		return false, err
	}
	if res.ExitCode != 0 {
		return false, fmt.Errorf("probe from %s: exit %d: %s", from, res.ExitCode, bytes.TrimSpace(errb.Bytes()))
	}
	want := []byte("heard " + msg + "\n")
	out := filepath.Join(o.H.Dir, "nodes", to+".stdout")
	// Wait on the cluster's clock: wall time on process and docker,
	// simulated time on hv, which runs only while the test waits in it.
	cl := o.H.Cluster
	deadline := cl.Now() + ProbeWait
	for {
		if b, err := os.ReadFile(out); err == nil && bytes.Contains(b, want) {
			return true, nil
		}
		if cl.Now() >= deadline {
			return false, nil
		}
		if err := cl.Sleep(ctx, 20*time.Millisecond); err != nil {
			return false, err
		}
	}
}

// Running reports whether node's service process exists.
func (o *Observer) Running(ctx context.Context, node string) (bool, error) {
	running, _, err := o.State(ctx, node)
	return running, err
}

// Paused reports whether node's service process is frozen.
func (o *Observer) Paused(ctx context.Context, node string) (bool, error) {
	_, paused, err := o.State(ctx, node)
	return paused, err
}

// Link returns the link conditions between two nodes.
func (o *Observer) Link(ctx context.Context, from, to string) (faults.Link, error) {
	for _, n := range []string{from, to} {
		if !slices.Contains(o.H.Services, n) {
			return faults.Link{}, fmt.Errorf("no node %q", n)
		}
	}
	return o.LinkOf(from, to), nil
}

// RunFaults runs the fault injector suite, faults/faulttest, against
// clusters of b: every subtest of the suite gets a fresh cluster of test
// (prepared here once; at least four services for every partition shape),
// booted with [BootPrepared] and serving, whose Apply is the injector.
// observe returns the backend's way of seeing a node's state and the
// switch's link conditions for that cluster. It skips if b.Available fails.
func RunFaults(t *testing.T, b backend.Backend, test *specs.Test, observe func(t *testing.T, h *Harness) *Observer) {
	ctx := t.Context()
	if err := b.Available(ctx); err != nil {
		t.Skipf("backend %s is not available here: %v", b.Name(), err)
	}
	if err := b.Prepare(ctx, test, t.TempDir()); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	faulttest.Run(t, func(t *testing.T) (faults.Injector, faulttest.Observer) {
		h := BootPrepared(t, context.Background(), b, test)
		h.WaitServing(t, 60*time.Second)
		return h.Cluster, observe(t, h)
	})
}
