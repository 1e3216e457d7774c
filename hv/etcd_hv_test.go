package hv_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/hv"
	"github.com/mvrun/multiverse/hv/vfs"
)

// etcdHVArgs are the flags of etcd server name in a static bootstrap of
// the members in initial, inside hv (names resolve through /etc/hosts).
func etcdHVArgs(name string, initial []string) []string {
	return []string{"etcd",
		"--name", name,
		"--data-dir", "/data/" + name + ".etcd",
		"--listen-client-urls", "http://0.0.0.0:2379",
		"--advertise-client-urls", "http://" + name + ":2379",
		"--listen-peer-urls", "http://0.0.0.0:2380",
		"--initial-advertise-peer-urls", "http://" + name + ":2380",
		"--initial-cluster", strings.Join(initial, ","),
		"--initial-cluster-token", "mvrun-etcd",
		"--initial-cluster-state", "new",
	}
}

// etcdHVRun is what one run of the etcd cluster under hv left behind.
type etcdHVRun struct {
	client    string
	clientErr string
	logs      map[string]string
	hash      uint64
	vtime     time.Duration
	wall      time.Duration
	stats     hv.Stats
	unimpl    []hv.Unimplemented
	exact     bool
	done      bool
	files     map[string]string // node → digest of its file system
}

// fsDigest hashes every path, mode and content of a node's file system.
func fsDigest(n *hv.Node) string {
	h := sha256.New()
	var walk func(path string, in *vfs.Inode)
	walk = func(path string, in *vfs.Inode) {
		fmt.Fprintf(h, "%s %o %d\n", path, in.Mode, len(in.Data))
		h.Write(in.Data)
		if in.IsDir() {
			for _, name := range in.Names() {
				walk(path+"/"+name, in.Child(name))
			}
		}
	}
	walk("", n.FS().Root())
	return fmt.Sprintf("%x", h.Sum(nil)[:8])
}

// runEtcdHV boots three unmodified etcd servers on nodes n1..n3 of one
// cluster and runs the clientv3 workload from a fourth node.
func runEtcdHV(t *testing.T, seed uint64, keys int) etcdHVRun {
	t.Helper()
	server, client := buildEtcd(t)
	c, err := hv.NewCluster(hv.ClusterConfig{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	names := []string{"n1", "n2", "n3"}
	var initial, endpoints []string
	for _, n := range names {
		initial = append(initial, n+"=http://"+n+":2380")
		endpoints = append(endpoints, n+":2379")
	}
	r := etcdHVRun{logs: map[string]string{}}
	logs := map[string]*bytes.Buffer{}
	for _, name := range names {
		n, err := c.AddNode(hv.NodeConfig{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.FS().MkdirAll("/data"); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		logs[name] = &buf
		_, err = n.Start(hv.ProcessConfig{
			Binary: server,
			Args:   etcdHVArgs(name, initial),
			Stdout: &buf, Stderr: &buf,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	cn, err := c.AddNode(hv.NodeConfig{Name: "client"})
	if err != nil {
		t.Fatal(err)
	}
	// The client's stdout is its result; its stderr has progress lines
	// (how long it waited for the cluster), kept for a failure's log.
	var cout, cerr bytes.Buffer
	cp, err := cn.Start(hv.ProcessConfig{
		Binary: client,
		Args:   []string{"client", "-endpoints", strings.Join(endpoints, ","), "-keys", fmt.Sprint(keys), "-members", "3", "-timeout", "60s"},
		Stdout: &cout, Stderr: &cerr,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	r.done, err = c.RunUntil(ctx, 2*time.Minute, cp.Exited)
	r.wall = time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	r.client = cout.String()
	r.clientErr = cerr.String()
	for n, b := range logs {
		r.logs[n] = b.String()
	}
	r.hash, r.vtime, r.stats, r.unimpl, r.exact = c.TraceHash(), c.Now(), c.Stats(), c.Unimplemented(), len(c.NotExact()) == 0
	r.files = map[string]string{}
	for _, n := range c.Nodes() {
		r.files[n.Name()] = fsDigest(n)
	}
	if r.done {
		if s := cp.Summary(); s.ExitCode != 0 {
			t.Errorf("client exit %d (%v)", s.ExitCode, s.Err)
		}
	}
	return r
}

// TestEtcdClusterHV: three unmodified etcd v3.5 servers elect a leader
// inside hv and serve a client's writes and linearizable reads.
func TestEtcdClusterHV(t *testing.T) {
	if testing.Short() {
		t.Skip("builds etcd; skipped with -short")
	}
	requireKVM(t)
	r := runEtcdHV(t, 1, 20)
	t.Logf("virtual %v in wall %v; %d VM entries (%d syscalls, %d exceptions, %d interrupts); unimplemented %v; exact %v",
		r.vtime, r.wall, r.stats.Entries, r.stats.Syscalls, r.stats.Exceptions, r.stats.Interrupts, r.unimpl, r.exact)
	if want := etcdSummary([]string{"n1", "n2", "n3"}, 20); r.client != want {
		for n, l := range r.logs {
			t.Logf("%s log tail:\n%s", n, lastBytes(l, 3000))
		}
		t.Fatalf("client output:\n%s\nwant:\n%s\nclient stderr:\n%s", r.client, want, r.clientErr)
	}
	checkEtcdUnimplemented(t, r.unimpl)
	if !r.exact {
		t.Errorf("run not replay-exact")
	}
}

// checkEtcdUnimplemented allows only what etcd tolerates: a netlink socket
// (it looks up the default route to name its host in logs, and goes on
// without it).
func checkEtcdUnimplemented(t *testing.T, us []hv.Unimplemented) {
	t.Helper()
	for _, u := range us {
		if u.Name != "socket(AF_NETLINK)" {
			t.Errorf("node %s called %s %d times, which hv does not implement", u.Node, u.Name, u.Calls)
		}
	}
}

// TestEtcdClusterHVDeterminism runs the etcd cluster five times with one
// seed: the same trace hash, client output, server logs, virtual time and
// final files on every node; another seed runs differently.
func TestEtcdClusterHVDeterminism(t *testing.T) {
	if testing.Short() {
		t.Skip("builds etcd; skipped with -short")
	}
	requireKVM(t)
	first := runEtcdHV(t, 5, 10)
	if !first.done {
		t.Fatalf("client did not finish:\n%s", first.client)
	}
	for i := 1; i < 5; i++ {
		r := runEtcdHV(t, 5, 10)
		if r.hash != first.hash || r.vtime != first.vtime || r.client != first.client {
			t.Errorf("run %d: hash %016x at %v, first %016x at %v\nclient:\n%s\nfirst:\n%s", i, r.hash, r.vtime, first.hash, first.vtime, r.client, first.client)
		}
		for n, l := range first.logs {
			if r.logs[n] != l {
				t.Errorf("run %d: %s's log differs", i, n)
			}
		}
		for n, d := range first.files {
			if r.files[n] != d {
				t.Errorf("run %d: %s's files differ", i, n)
			}
		}
	}
	if other := runEtcdHV(t, 6, 10); other.hash == first.hash {
		t.Errorf("seeds 5 and 6 gave the same trace hash")
	}
}

func lastBytes(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
