package process

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/internal/diskmodel"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/runner/backendtest"
	"github.com/mvrun/multiverse/runner/diskfs"
)

// TestDiskUnsupportedWithoutFUSE: without FUSE the disk kinds are
// unsupported, with the reason.
func TestDiskUnsupportedWithoutFUSE(t *testing.T) {
	s := withDiskErr(support, errors.New("no usable /dev/fuse"))
	for _, k := range []faults.ActionKind{faults.ActDisk, faults.ActDiskClear} {
		err := s.Check(k)
		if !errors.Is(err, backend.ErrUnsupported) || !strings.Contains(err.Error(), "no usable /dev/fuse") {
			t.Errorf("%s: %v, want ErrUnsupported with the reason", k, err)
		}
	}
	if err := withDiskErr(support, nil).Check(faults.ActDisk); err != nil {
		t.Errorf("with FUSE: %v", err)
	}
}

// TestDiskFaults: a node named by the disk block runs on the fault file
// system; armed faults reach a program run in it, each hit is a
// disk_fault event, a kill under lose_unsynced loses the unsynced record,
// and the data is back in the node directory after Close.
func TestDiskFaults(t *testing.T) {
	needRoot(t)
	if err := diskfs.Available(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "diskio")
	if out, err := exec.Command("go", "build", "-o", bin, "../../hv/testdata/guests/diskio").CombinedOutput(); err != nil {
		t.Fatalf("building diskio: %v\n%s", err, out)
	}
	ctx := context.Background()
	test := backendtest.NewTest([]string{"db", "other"})
	test.Faults.Disk = &faults.DiskConfig{Services: []string{"db"}}
	h := backendtest.Boot(t, ctx, New(Options{}), test)
	run := func(args ...string) string {
		var out, errb bytes.Buffer
		res, err := h.Cluster.Exec(ctx, backend.ExecRequest{Service: "db", Argv: append([]string{bin}, args...), Stdout: &out, Stderr: &errb})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("diskio %v: %v %+v\n%s", args, err, res, errb.String())
		}
		return out.String()
	}
	apply := func(a faults.Action) {
		t.Helper()
		if err := h.Cluster.Apply(ctx, a); err != nil {
			t.Fatalf("%s: %v", a.Kind, err)
		}
	}
	hits := func() []string {
		var out []string
		for _, e := range h.Events.Events(func(e backend.Event) bool { return e.Kind == backend.EventDiskFault }) {
			if e.Node != "db" {
				t.Errorf("disk_fault event on %s", e.Node)
			}
			out = append(out, string(e.Line))
		}
		return out
	}

	full := &faults.Disk{Kind: diskmodel.Full, Seed: 1}
	apply(faults.Action{Kind: faults.ActDisk, Nodes: []string{"db"}, Disk: full})
	out := run("write", "f", "3")
	if n := strings.Count(out, "ENOSPC"); n != 3 || len(hits()) != 3 {
		t.Fatalf("under full: %d ENOSPC, hits %q\n%s", n, hits(), out)
	}
	apply(faults.Action{Kind: faults.ActDiskClear, Nodes: []string{"db"}, Disk: full})

	// Three synced records, then two that are not: a whole loss at the
	// kill takes the two.
	run("write", "g", "5")
	apply(faults.Action{Kind: faults.ActDisk, Nodes: []string{"db"}, Disk: &faults.Disk{Kind: diskmodel.LoseUnsynced, Seed: 2}})
	apply(faults.Action{Kind: faults.ActKill, Nodes: []string{"db"}})
	apply(faults.Action{Kind: faults.ActRestart, Nodes: []string{"db"}})
	if dump := run("dump", "g"); !strings.HasPrefix(dump, "size 300\n") {
		t.Errorf("after the kill: %s, want the 300 synced bytes", dump)
	}
	hs := hits()
	// The overwrites of record 0 were not synced either.
	if len(hs) != 4 || !strings.HasPrefix(hs[3], "lose_unsynced kill g off=0 len=500: bytes 0..500 back") {
		t.Errorf("hits %q, want the loss of g's bytes 0..500 last", hs)
	}
	// A node outside the disk block's services has no disk faults.
	err := h.Cluster.Apply(ctx, faults.Action{Kind: faults.ActDisk, Nodes: []string{"other"}, Disk: full})
	if err == nil || !strings.Contains(err.Error(), "no disk fault file system") {
		t.Errorf("disk fault on a node without one: %v", err)
	}
	if err := h.Cluster.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(h.Dir, "nodes", "db", "g")); err != nil || len(b) != 300 {
		t.Errorf("after Close: %d bytes, %v; want g's 300 bytes in the node directory", len(b), err)
	}
}
