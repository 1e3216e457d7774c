package hvbackend

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/hv/vfs"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/runner/backendtest"
	"github.com/mvrun/multiverse/specs"
)

// volumeTest is three echo nodes sharing named volume "v": w1 and w2 mount
// it writable, r read-only; r also has a tmpfs and a bind mount of src.
func volumeTest(src string) *specs.Test {
	test := backendtest.NewTest([]string{"w1", "w2", "r"})
	for _, s := range test.Project.Services {
		m := specs.Mount{Type: specs.MountVolume, Source: "v", Target: "/v", ReadOnly: s.Name == "r"}
		s.Mounts = append(s.Mounts, m)
	}
	r := test.Project.Service("r")
	r.Mounts = append(r.Mounts,
		specs.Mount{Type: specs.MountTmpfs, Target: "/scratch"},
		specs.Mount{Type: specs.MountBind, Source: src, Target: "/host"})
	return test
}

// TestVolumesKill: what one node writes into a shared volume the others
// read at once; a kill reverts the killed node's unsynced writes there and
// no one else's; a read-only mount refuses writes with EROFS; a tmpfs is
// emptied by its node's kill; a bind mount starts as its host source and
// never writes back; and the same seed gives the same trace hash.
func TestVolumesKill(t *testing.T) {
	needKVM(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "seed.txt"), []byte("from the host"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func() uint64 {
		ctx := context.Background()
		test := volumeTest(src)
		h := backendtest.Boot(t, ctx, New(Options{}), test)
		exec := func(service string, args ...string) (int, string) {
			t.Helper()
			res, out, errs := h.Exec(t, service, "probe", nil, args...)
			return res.ExitCode, out + errs
		}
		if code, out := exec("w1", "write", "/v/a", "A"); code != 0 {
			t.Fatalf("w1 write: %s", out)
		}
		if code, out := exec("w2", "write", "/v/b", "B"); code != 0 {
			t.Fatalf("w2 write: %s", out)
		}
		if code, out := exec("r", "cat", "/v/a"); code != 0 || out != "A" {
			t.Errorf("r reads w1's file before the kill: exit %d, %q", code, out)
		}
		if code, out := exec("r", "write", "/v/c", "C"); code == 0 || !strings.Contains(out, "read-only file system") {
			t.Errorf("r writes through its read-only mount: exit %d, %q", code, out)
		}
		if code, out := exec("r", "cat", "/host/seed.txt"); code != 0 || out != "from the host" {
			t.Errorf("r reads the bind mount: exit %d, %q", code, out)
		}
		if code, out := exec("r", "write", "/host/seed.txt", "changed"); code != 0 {
			t.Errorf("r writes into the bind mount: %s", out)
		}
		if code, out := exec("r", "write", "/scratch/t", "T"); code != 0 {
			t.Errorf("r writes into its tmpfs: %s", out)
		}
		for _, node := range []string{"w1", "r"} {
			if err := h.Cluster.Apply(ctx, faults.Action{Kind: faults.ActKill, Nodes: []string{node}}); err != nil {
				t.Fatal(err)
			}
			if err := h.Cluster.Apply(ctx, faults.Action{Kind: faults.ActRestart, Nodes: []string{node}}); err != nil {
				t.Fatal(err)
			}
		}
		if code, out := exec("w2", "cat", "/v/a"); code == 0 {
			t.Errorf("w1's unsynced file survived w1's kill: %q", out)
		}
		if code, out := exec("r", "cat", "/v/b"); code != 0 || out != "B" {
			t.Errorf("w2's unsynced file after w1's kill: exit %d, %q", code, out)
		}
		if code, out := exec("r", "cat", "/scratch/t"); code == 0 {
			t.Errorf("r's tmpfs file survived r's kill: %q", out)
		}
		tr, ok := h.Cluster.(backend.Traced)
		if !ok {
			t.Fatal("the hv cluster has no trace hash")
		}
		return tr.TraceHash()
	}
	a, b := run(), run()
	if a != b {
		t.Errorf("same seed, trace hashes %016x and %016x", a, b)
	}
	if got, _ := os.ReadFile(filepath.Join(src, "seed.txt")); string(got) != "from the host" {
		t.Errorf("the bind mount's host source was written: %q", got)
	}
}

// TestCopyOutCrossesMounts: a look at a node's files (mvrun replay --dump)
// copies what the node sees, volumes included.
func TestCopyOutCrossesMounts(t *testing.T) {
	now := vfs.ClockFunc(func() int64 { return 0 })
	node, vol := vfs.New(now), vfs.NewVolume(now, volumeDev)
	if err := vol.WriteFile("/f", []byte("in the volume"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := node.MkdirAll("/v"); err != nil {
		t.Fatal(err)
	}
	if err := node.Mount("/v", vol, vol.Root(), true); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, _, err := copyOut(node, "/", dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "v", "f"))
	if files != 1 || err != nil || string(got) != "in the volume" {
		t.Errorf("copied %d files; v/f holds %q (%v)", files, got, err)
	}
}
