package hv_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/hv"
)

// etcdBenchCluster boots three etcd servers and a client node and waits
// until the client has written and read keys keys (a leader is elected and
// serving).
func etcdBenchCluster(b *testing.B, seed uint64, keys int) (*hv.Cluster, *hv.Node) {
	b.Helper()
	server, client := buildEtcd(b)
	c, err := hv.NewCluster(hv.ClusterConfig{Seed: seed})
	if err != nil {
		b.Fatal(err)
	}
	names := []string{"n1", "n2", "n3"}
	var initial, endpoints []string
	for _, n := range names {
		initial = append(initial, n+"=http://"+n+":2380")
		endpoints = append(endpoints, n+":2379")
	}
	for _, name := range names {
		n, err := c.AddNode(hv.NodeConfig{Name: name})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := n.FS().MkdirAll("/data"); err != nil {
			b.Fatal(err)
		}
		if _, err := n.Start(hv.ProcessConfig{Binary: server, Args: etcdHVArgs(name, initial)}); err != nil {
			b.Fatal(err)
		}
	}
	cn, err := c.AddNode(hv.NodeConfig{Name: "client"})
	if err != nil {
		b.Fatal(err)
	}
	var out bytes.Buffer
	cp, err := cn.Start(hv.ProcessConfig{Binary: client, Stdout: &out, Stderr: &out,
		Args: []string{"client", "-endpoints", strings.Join(endpoints, ","), "-keys", strconv.Itoa(keys), "-members", "3", "-timeout", "60s"}})
	if err != nil {
		b.Fatal(err)
	}
	if ok, err := c.RunUntil(context.Background(), 5*time.Minute, cp.Exited); err != nil || !ok || cp.Summary().ExitCode != 0 {
		b.Fatalf("client: done %v, err %v:\n%s", ok, err, out.String())
	}
	return c, cn
}

// peakRSS returns the process's peak resident set size in bytes.
func peakRSS(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkEtcdIdle measures an idle 3-node etcd cluster under hv (after a
// leader was elected and a client wrote 10 keys): simulated seconds per
// wall second, and VM exits per simulated second per node.
//
//	go test ./hv/ -run XXX -bench EtcdIdle -benchtime 1x -count 3
func BenchmarkEtcdIdle(b *testing.B) {
	requireKVM(b)
	const idle = 30 * time.Second
	for i := 0; i < b.N; i++ {
		c, _ := etcdBenchCluster(b, uint64(i)+1, 10)
		before := c.Stats()
		start := time.Now()
		if _, err := c.Run(context.Background(), c.Now()+idle); err != nil {
			b.Fatal(err)
		}
		wall := time.Since(start)
		after := c.Stats()
		b.ReportMetric(idle.Seconds()/wall.Seconds(), "sim-s/wall-s")
		b.ReportMetric(float64(after.Entries-before.Entries)/idle.Seconds()/3, "exits/sim-s/node")
		b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak-RSS-MiB")
		c.Close()
	}
}

// BenchmarkEtcdWrites measures the cluster under a client write load: the
// client writes and reads back 500 keys (each put waits for a quorum).
// It reports the simulated/wall ratio and where the wall time goes.
//
//	go test ./hv/ -run XXX -bench EtcdWrites -benchtime 1x -count 3
func BenchmarkEtcdWrites(b *testing.B) {
	requireKVM(b)
	for i := 0; i < b.N; i++ {
		c, cn := etcdBenchCluster(b, uint64(i)+1, 10)
		server, client := buildEtcd(b)
		_ = server
		before, vstart := c.Stats(), c.Now()
		var out bytes.Buffer
		cp, err := cn.Start(hv.ProcessConfig{Binary: client, Stdout: &out, Stderr: &out,
			Args: []string{"client", "-endpoints", "n1:2379,n2:2379,n3:2379", "-keys", "500", "-members", "3", "-timeout", "120s"}})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if ok, err := c.RunUntil(context.Background(), c.Now()+10*time.Minute, cp.Exited); err != nil || !ok {
			b.Fatalf("client: done %v, err %v:\n%s", ok, err, out.String())
		}
		wall := time.Since(start)
		after, sim := c.Stats(), c.Now()-vstart
		d := func(a, b uint64) float64 { return float64(a - b) }
		b.ReportMetric(sim.Seconds()/wall.Seconds(), "sim-s/wall-s")
		b.ReportMetric(sim.Seconds()*1000/500, "sim-ms/put+get")
		b.ReportMetric(d(after.Syscalls, before.Syscalls)/500, "syscall-exits/key")
		b.ReportMetric(d(after.Exceptions, before.Exceptions)/500, "exception-exits/key")
		b.ReportMetric((after.GuestWall-before.GuestWall).Seconds()/wall.Seconds()*100, "%wall-in-KVM_RUN")
		b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak-RSS-MiB")
		if !strings.Contains(out.String(), "ok\n") {
			b.Fatalf("client output:\n%s", out.String())
		}
		c.Close()
		fmt.Fprint(os.Stderr, "")
	}
}
