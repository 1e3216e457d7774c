package hv_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"github.com/mvrun/multiverse/hv"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// etcdNode is one member of a static etcd cluster on loopback.
type etcdNode struct {
	name       string
	clientURL  string
	peerURL    string
	dataDir    string
	logPath    string
	cmd        *exec.Cmd
	exited     chan error // receives cmd.Wait's result, then is closed
	clientAddr string     // host:port of clientURL
}

// freeLoopbackPorts returns n distinct TCP ports on 127.0.0.1 that were free
// a moment ago. All listeners stay open until every port is chosen, so the
// kernel cannot hand out the same port twice.
func freeLoopbackPorts(tb testing.TB, n int) []int {
	tb.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("pick a free port: %v", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// etcdCluster describes a static n-member cluster on 127.0.0.1 with data
// directories under dir.
func etcdCluster(tb testing.TB, n int, dir string) []*etcdNode {
	tb.Helper()
	ports := freeLoopbackPorts(tb, 2*n)
	nodes := make([]*etcdNode, n)
	for i := range nodes {
		name := fmt.Sprintf("n%d", i+1)
		nodes[i] = &etcdNode{
			name:       name,
			clientAddr: fmt.Sprintf("127.0.0.1:%d", ports[2*i]),
			clientURL:  fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]),
			peerURL:    fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]),
			dataDir:    filepath.Join(dir, name+".etcd"),
			logPath:    filepath.Join(dir, name+".log"),
		}
	}
	return nodes
}

// etcdArgs returns the server flags for node in a static bootstrap of nodes.
func etcdArgs(node *etcdNode, nodes []*etcdNode) []string {
	var initial []string
	for _, m := range nodes {
		initial = append(initial, m.name+"="+m.peerURL)
	}
	return []string{
		"--name", node.name,
		"--data-dir", node.dataDir,
		"--listen-client-urls", node.clientURL,
		"--advertise-client-urls", node.clientURL,
		"--listen-peer-urls", node.peerURL,
		"--initial-advertise-peer-urls", node.peerURL,
		"--initial-cluster", strings.Join(initial, ","),
		"--initial-cluster-token", "mvrun-etcd",
		"--initial-cluster-state", "new",
	}
}

// etcdSummary is what the client prints for a healthy cluster of the named
// members after writing and reading keys keys. The digest is computed here
// from the client's documented key and value format, not copied from a run.
func etcdSummary(names []string, keys int) string {
	h := sha256.New()
	for i := range keys {
		fmt.Fprintf(h, "mvrun/key-%04d=value-%04d\n", i, i)
	}
	return fmt.Sprintf("members %d: %s\nleader agreed by all endpoints\nput %d keys\nget %d keys: %d match\nrange mvrun/: %d keys, sha256 %x\nok\n",
		len(names), strings.Join(names, " "), keys, keys, keys, keys, h.Sum(nil)[:8])
}

// tail returns the last n bytes of the file at path, for failure messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// TestEtcdNative runs the etcd target natively: three unmodified etcd v3.5
// servers bootstrap a static cluster on loopback and the clientv3 workload
// writes and reads back keys through all of them. It proves the build
// harness and the client that the hv runs of the same binaries are compared
// against.
func TestEtcdNative(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node etcd cluster; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("the etcd smoke test runs as root only (like the hv tests it prepares)")
	}
	server, client := buildEtcd(t)
	dir := t.TempDir()
	nodes := etcdCluster(t, 3, dir)

	for _, node := range nodes {
		logf, err := os.Create(node.logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(server, etcdArgs(node, nodes)...)
		cmd.Stdout, cmd.Stderr = logf, logf
		// Own process group, and SIGKILL if the test process dies first: no
		// etcd outlives the test, whatever way it ends.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			logf.Close()
			t.Fatalf("start %s: %v", node.name, err)
		}
		logf.Close()
		node.cmd = cmd
		node.exited = make(chan error, 1)
		go func() { node.exited <- cmd.Wait(); close(node.exited) }()
		t.Cleanup(func() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-node.exited
			if t.Failed() {
				t.Logf("%s log (tail):\n%s", node.name, tail(node.logPath, 4000))
			}
		})
	}

	var endpoints []string
	for _, node := range nodes {
		endpoints = append(endpoints, node.clientAddr)
	}
	const keys = 100
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, client, "-endpoints", strings.Join(endpoints, ","), "-keys", fmt.Sprint(keys), "-members", "3", "-timeout", "25s")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("client finished in %v", time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("client: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if got, want := stdout.String(), etcdSummary([]string{"n1", "n2", "n3"}, keys); got != want {
		t.Errorf("client summary:\n%s\nwant:\n%s\nstderr:\n%s", got, want, stderr.String())
	}
	for _, node := range nodes {
		select {
		case err := <-node.exited:
			t.Errorf("%s exited during the run: %v", node.name, err)
		default:
		}
	}
}

// TestEtcdStorageNative runs the storage probe natively: etcd's WAL and
// bbolt backend write, close, reopen and read back their data. Under hv
// the same program is the first etcd milestone that needs no sockets
// (docs/hv-etcd.md lists what it still lacks there).
func TestEtcdStorageNative(t *testing.T) {
	if testing.Short() {
		t.Skip("builds etcd; skipped with -short")
	}
	bin := etcdProgram(t, "storage")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-dir", filepath.Join(t.TempDir(), "s"), "-n", "100")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("storage: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	// The bbolt hash depends on the encoding, not on the run; the probe
	// itself checks that the reopened database hashes the same.
	want := regexp.MustCompile(`^wal: saved 100 entries
wal: read back 100 entries, metadata "mvrun", term 1 vote 1 commit 100
backend: put 100 keys, hash ([0-9a-f]{8})
backend: reopened, 100 keys, hash ([0-9a-f]{8})
ok
$`)
	m := want.FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("storage summary:\n%s\nwant the form:\n%s", stdout.String(), want)
	}
	if m[1] != m[2] || m[1] == "00000000" {
		t.Errorf("backend hash %s after writing, %s after reopening; want equal and non-zero", m[1], m[2])
	}
}

// TestEtcdStorageHV runs the storage probe under hv: etcd's WAL (with
// fdatasync and file locks) and its bbolt backend (a MAP_SHARED mapping
// read while the file is written with pwrite) must give the same summary
// as natively, and the same seed the same trace hash. It runs with bbolt's
// default 10 GiB mapping, which hv populates as it is touched (a demand
// fault per group of pages, counted in the summary), and with the 1 GiB
// mapping etcd makes when --quota-backend-bytes limits the database (bbolt
// maps 1.1 × the quota).
func TestEtcdStorageHV(t *testing.T) {
	if testing.Short() {
		t.Skip("builds etcd; skipped with -short")
	}
	requireKVM(t)
	bin := etcdProgram(t, "storage")
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"default-10GiB-mapping", nil},
		{"1GiB-mapping", []string{"-mmap-size", "1073741824"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			native := exec.CommandContext(ctx, bin, append([]string{"-dir", filepath.Join(t.TempDir(), "s"), "-n", "100"}, tc.args...)...)
			want, err := native.Output()
			if err != nil {
				t.Fatalf("native storage probe: %v", err)
			}
			args := append([]string{"storage", "-dir", "/data/s", "-n", "100"}, tc.args...)
			var hash uint64
			var faults uint64
			for i := 0; i < 2; i++ {
				fsDir := t.TempDir()
				if err := os.Mkdir(filepath.Join(fsDir, "data"), 0o755); err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				o := runHV(t, hv.Config{Binary: bin, Args: args, Seed: 11, FSDir: fsDir})
				t.Logf("run %d: wall %v, demand faults %d", i, time.Since(start).Round(time.Millisecond), o.res.DemandFaults)
				if o.code != 0 || o.stdout != string(want) {
					t.Fatalf("under hv: exit %d\nstdout:\n%s\nstderr:\n%s\nnative stdout:\n%s", o.code, o.stdout, firstLines(o.stderr, 30), want)
				}
				if n := o.res.UnimplementedNames(); len(n) > 0 {
					t.Errorf("unimplemented calls: %v", n)
				}
				if o.res.DemandFaults == 0 {
					t.Errorf("no demand faults: bbolt's mapping was populated eagerly")
				}
				if i > 0 && (o.res.TraceHash != hash || o.res.DemandFaults != faults) {
					t.Errorf("run %d: trace hash %016x, %d demand faults; first run %016x, %d", i, o.res.TraceHash, o.res.DemandFaults, hash, faults)
				}
				hash, faults = o.res.TraceHash, o.res.DemandFaults
			}
		})
	}
}
