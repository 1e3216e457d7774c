package hv_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/hv"
	"github.com/mvrun/multiverse/internal/linkmodel"
)

// netRun is one run of the two-node HTTP scenario.
type netRun struct {
	client, server string
	hash           uint64
	vtime          time.Duration
	unimpl         []hv.Unimplemented
}

// runHTTPCluster runs an HTTP key-value server on node db and a client on
// node app that reaches it by name, once a second for 30 virtual seconds,
// while script changes the network or the server's node.
func runHTTPCluster(t *testing.T, seed uint64, script func(c *hv.Cluster, db *hv.Node, restart func())) netRun {
	t.Helper()
	bin := guest(t, "httpkv")
	c, err := hv.NewCluster(hv.ClusterConfig{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	db, err := c.AddNode(hv.NodeConfig{Name: "db"})
	if err != nil {
		t.Fatal(err)
	}
	app, err := c.AddNode(hv.NodeConfig{Name: "app"})
	if err != nil {
		t.Fatal(err)
	}
	var sout, cout bytes.Buffer
	startServer := func() {
		if _, err := db.Start(hv.ProcessConfig{Binary: bin, Args: []string{"httpkv", "server", ":8080"}, Stdout: &sout, Stderr: &sout}); err != nil {
			t.Error(err)
		}
	}
	startServer()
	// Start the client once the server listens, as a harness waits for a
	// service to be ready: started together, the client's first request
	// can reach the node before the server has bound its port.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := c.RunUntil(ctx, time.Second, func() bool { return strings.Contains(sout.String(), "listening on") }); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sout.String(), "listening on") {
		t.Fatalf("the server did not listen within a second:\n%s", sout.String())
	}
	cl, err := app.Start(hv.ProcessConfig{Binary: bin, Args: []string{"httpkv", "client", "http://db:8080", "30", "1s", "2s"}, Stdout: &cout, Stderr: &cout})
	if err != nil {
		t.Fatal(err)
	}
	if script != nil {
		script(c, db, startServer)
	}
	if _, err := c.RunUntil(ctx, 10*time.Minute, cl.Exited); err != nil {
		t.Fatal(err)
	}
	if !cl.Exited() {
		t.Fatalf("client still running at %v:\n%s", c.Now(), cout.String())
	}
	if s := cl.Summary(); s.ExitCode != 0 || s.Err != nil {
		t.Fatalf("client exit %d (%v):\n%s", s.ExitCode, s.Err, cout.String())
	}
	return netRun{client: cout.String(), server: sout.String(), hash: c.TraceHash(), vtime: c.Now(), unimpl: c.Unimplemented()}
}

// TestClusterHTTP runs the scenario on a healthy network: every request
// succeeds, names resolve through /etc/hosts, and the run is exact.
func TestClusterHTTP(t *testing.T) {
	requireKVM(t)
	r := runHTTPCluster(t, 1, nil)
	if n := strings.Count(r.client, `get "200 v`); n != 30 {
		t.Errorf("%d of 30 rounds succeeded:\n%s", n, r.client)
	}
	if !strings.Contains(r.client, `"200 stored on db, 30 keys"`) {
		t.Errorf("the server did not answer as db:\n%s", r.client)
	}
	if len(r.unimpl) > 0 {
		t.Errorf("unimplemented calls: %v", r.unimpl)
	}
}

// TestClusterHTTPFaults partitions the nodes, then kills the server's node
// and restarts it: requests time out during the partition and succeed
// after the heal; a killed node answers nothing, so the request in flight
// times out and new connections wait in SYN retries until the server is
// back; the restarted server starts empty.
func TestClusterHTTPFaults(t *testing.T) {
	requireKVM(t)
	script := func(c *hv.Cluster, db *hv.Node, restart func()) {
		c.At(5*time.Second, func() {
			if err := c.Partition(linkmodel.Partition{Groups: [][]string{{"db"}, {"app"}}}); err != nil {
				t.Error(err)
			}
		})
		c.At(12*time.Second, c.Heal)
		c.At(20*time.Second, db.Kill)
		c.At(24*time.Second, restart)
	}
	r := runHTTPCluster(t, 2, script)
	lines := strings.Split(strings.TrimSpace(r.client), "\n")
	if len(lines) != 30 {
		t.Fatalf("%d rounds, want 30:\n%s", len(lines), r.client)
	}
	failedAt := map[string]bool{}
	for _, l := range lines {
		if i := strings.Index(l, " at "); i >= 0 && strings.Contains(l, ": put ") && !strings.Contains(l, `put "200`) {
			at, _, _ := strings.Cut(l[i+4:], ":")
			failedAt[at] = true
		}
	}
	if !failedAt["5s"] {
		t.Errorf("the request sent as the partition began did not fail:\n%s", r.client)
	}
	if !failedAt["20s"] {
		t.Errorf("the request in flight when the server's node was killed did not fail:\n%s", r.client)
	}
	for at := range failedAt {
		if d, _ := time.ParseDuration(at); d < 5*time.Second || (d > 12*time.Second && d < 20*time.Second) || d >= 24*time.Second {
			t.Errorf("a request failed at %s, outside the partition and the node's downtime:\n%s", at, r.client)
		}
	}
	if !strings.Contains(lines[len(lines)-1], `get "200 v29"`) {
		t.Errorf("the last round did not succeed after the restart:\n%s", r.client)
	}
	if !strings.Contains(r.client, `"200 stored on db, 1 keys"`) {
		t.Errorf("the restarted server did not start empty:\n%s", r.client)
	}
	if strings.Count(r.server, "listening on") != 2 {
		t.Errorf("server output:\n%s\nwant two starts", r.server)
	}
}

// TestClusterHTTPDeterminism runs the fault scenario three times with one
// seed: identical client output, server output, trace hash and end time.
func TestClusterHTTPDeterminism(t *testing.T) {
	requireKVM(t)
	script := func(c *hv.Cluster, db *hv.Node, restart func()) {
		c.At(3*time.Second, func() {
			_ = c.SetLink(nil, linkmodel.Link{Latency: linkmodel.Range{Min: time.Millisecond, Max: 20 * time.Millisecond}, Loss: 0.2})
		})
		c.At(8*time.Second, func() { _ = c.Partition(linkmodel.Partition{Groups: [][]string{{"db"}, {"app"}}}) })
		c.At(11*time.Second, c.Heal)
		c.At(15*time.Second, db.Kill)
		c.At(17*time.Second, restart)
	}
	first := runHTTPCluster(t, 9, script)
	for i := 1; i < 3; i++ {
		r := runHTTPCluster(t, 9, script)
		if r.hash != first.hash || r.client != first.client || r.server != first.server || r.vtime != first.vtime {
			t.Errorf("run %d differs: hash %016x vs %016x, end %v vs %v\nclient:\n%s\nfirst:\n%s",
				i, r.hash, first.hash, r.vtime, first.vtime, r.client, first.client)
		}
	}
}
