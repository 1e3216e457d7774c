package hv_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/mvrun/multiverse/hv"
	"github.com/mvrun/multiverse/hv/vfs"
)

// TestSnapshotVolume: a snapshot holds a volume that two nodes mount, once,
// with its per-writer crash record. Node a writes a database into the
// shared volume; the run is snapshotted halfway, and a restore of it runs
// to the same trace hash; then a kill of the writer on the restored
// cluster leaves in the volume, as seen from node b, exactly what the same
// kill leaves in the straight run.
func TestSnapshotVolume(t *testing.T) {
	requireKVM(t)
	bin := guest(t, "crashfile")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var vol *vfs.FS // the last boot's volume
	boot := func() (*hv.Cluster, *hv.Process) {
		vol = nil
		c, err := hv.NewCluster(hv.ClusterConfig{Seed: 5})
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"a", "b"} {
			n, err := c.AddNode(hv.NodeConfig{Name: name})
			if err != nil {
				t.Fatal(err)
			}
			if vol == nil {
				vol = vfs.NewVolume(n.Clock(), 0x900)
			}
			if _, err := n.FS().MkdirAll("/data"); err != nil {
				t.Fatal(err)
			}
			if err := n.FS().Mount("/data", vol, vol.Root(), false); err != nil {
				t.Fatal(err)
			}
		}
		p, err := c.Node("a").Start(hv.ProcessConfig{Binary: bin, Args: []string{"crashfile", "write", "/data/db"}, Stdout: io.Discard, Stderr: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		return c, p
	}
	// listing is what node b sees in the volume: names and sizes.
	listing := func(c *hv.Cluster) map[string]int {
		fs := c.Node("b").FS()
		dir, err := fs.Lookup(fs.Root(), "/data", true)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, name := range dir.Names() {
			f, err := fs.Lookup(dir, name, true)
			if err != nil {
				t.Fatal(err)
			}
			out[name] = len(f.Data)
		}
		return out
	}
	finishAndKill := func(c *hv.Cluster, p *hv.Process) (uint64, map[string]int) {
		if _, err := c.RunUntil(ctx, time.Hour, p.Exited); err != nil {
			t.Fatal(err)
		}
		c.Node("a").Kill()
		return c.TraceHash(), listing(c)
	}

	straight, p := boot()
	hash, files := finishAndKill(straight, p)
	end := straight.Now()
	straight.Close()
	if len(files) == 0 {
		t.Fatalf("the writer left nothing in the volume")
	}

	c, p := boot()
	defer c.Close()
	if _, err := c.RunUntil(ctx, end/2, p.Exited); err != nil {
		t.Fatal(err)
	}
	if p.Exited() {
		t.Fatalf("the writer finished before half its run")
	}
	// The volume rides along as the caller's data (SnapshotWith), as the
	// hv backend keeps its compose volumes to write them out at the end.
	s, err := c.SnapshotWith(&vol)
	if err != nil {
		t.Fatalf("snapshot of a cluster with a shared volume: %v", err)
	}
	r, extra, err := s.RestoreWith()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if st := r.Stats(); st.Entries != 0 || st.Wall != 0 {
		t.Errorf("a restored cluster's host stats start at %+v, want zero", st)
	}
	rvol := *extra.(**vfs.FS)
	if rvol == vol {
		t.Fatal("RestoreWith returned the original volume, not the restored cluster's")
	}
	var rp *hv.Process
	for _, q := range r.Node("a").Processes() {
		rp = q
	}
	if rp == nil {
		t.Fatal("the restored node a has no process")
	}
	if ohash, _ := finishAndKill(c, p); ohash != hash {
		t.Errorf("the snapshotted run: trace %016x, straight run %016x", ohash, hash)
	}
	rhash, rfiles := finishAndKill(r, rp)
	if rhash != hash {
		t.Errorf("restored run: trace %016x, straight run %016x", rhash, hash)
	}
	// The restored extra is the volume the restored nodes mount: what b
	// sees in /data is what the extra holds.
	if names := rvol.Root().Names(); len(names) != len(rfiles) {
		t.Errorf("the restored extra volume holds %v, node b sees %v", names, rfiles)
	}
	for name, n := range rfiles {
		if f := rvol.Root().Child(name); f == nil || len(f.Data) != n {
			t.Errorf("the restored extra volume is not the one node b mounts: %s differs", name)
		}
	}
	if len(rfiles) != len(files) {
		t.Errorf("after the writer's kill, b sees %v in the restored volume, %v in the straight run", rfiles, files)
	}
	for name, n := range files {
		if rfiles[name] != n {
			t.Errorf("after the writer's kill, b sees %v in the restored volume, %v in the straight run", rfiles, files)
			break
		}
	}
}
