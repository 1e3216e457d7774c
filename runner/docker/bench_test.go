package docker

import (
	"context"
	"testing"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/runner/backendtest"
)

// BenchmarkExec measures one workload command in a node: docker exec of a
// Go program that exits at once, output streams, SDK file drain.
func BenchmarkExec(b *testing.B) {
	be := needDocker(b)
	ctx := context.Background()
	h := backendtest.Boot(b, ctx, be, backendtest.NewTest([]string{"solo"}))
	for b.Loop() {
		res, err := h.Cluster.Exec(ctx, backend.ExecRequest{Service: "solo", Name: "bench", Argv: []string{"/bin/solo", "exit", "0"}})
		if err != nil || res.ExitCode != 0 {
			b.Fatalf("%v %+v", err, res)
		}
	}
}

// BenchmarkKillRestart measures a kill fault followed by a restart, until
// the service answers again.
func BenchmarkKillRestart(b *testing.B) {
	be := needDocker(b)
	ctx := context.Background()
	h := backendtest.Boot(b, ctx, be, backendtest.NewTest([]string{"solo"}))
	for b.Loop() {
		for _, k := range []faults.ActionKind{faults.ActKill, faults.ActRestart} {
			if err := h.Cluster.Apply(ctx, faults.Action{Kind: k, Nodes: []string{"solo"}}); err != nil {
				b.Fatal(err)
			}
		}
		if !h.Reachable(b, "tcp", "solo", "solo", 30*time.Second) {
			b.Fatal("node did not come back")
		}
	}
}

// BenchmarkCluster measures creating a three-node cluster (six
// containers), starting it and closing it.
func BenchmarkCluster(b *testing.B) {
	be := needDocker(b)
	ctx := context.Background()
	test := backendtest.NewTest(backendtest.Services)
	if err := be.Prepare(ctx, test, b.TempDir()); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	i := 0
	for b.Loop() {
		c, err := be.NewCluster(ctx, backend.ClusterConfig{Test: test, Dir: dir, Index: i})
		i++
		if err != nil {
			b.Fatal(err)
		}
		for _, s := range backendtest.Services {
			if err := c.Start(ctx, s); err != nil {
				b.Fatal(err)
			}
		}
		if err := c.Close(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
