package hv_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/mvrun/multiverse/hv"
	"github.com/mvrun/multiverse/hv/sched"
	"github.com/mvrun/multiverse/hv/vfs"
)

// TestVolumeCrashPerWriter runs the crash guest in a volume that two
// nodes' trees mount: node a writes, and the guest's reads run in node b.
// A crash of b (which wrote nothing) leaves a's unsynced writes in place,
// so b reads what a native run reads; a crash of a leaves exactly what the
// single-disk crash model leaves. The read-only mount of a third tree
// refuses the same writes with EROFS.
func TestVolumeCrashPerWriter(t *testing.T) {
	requireKVM(t)
	bin := guest(t, "crashfile")
	dir := filepath.Join(t.TempDir(), "db")
	nw := runNative(t, bin, "write", dir)
	nr := runNative(t, bin, "read", dir)
	run := func(crashWriter bool) (outcome, outcome) {
		clock := sched.NewClock(sched.DefaultEpoch)
		vol := vfs.NewVolume(clock, 0x900)
		var trees [2]*vfs.FS
		for i := range trees {
			trees[i] = vfs.New(clock)
			if _, err := trees[i].MkdirAll("/data"); err != nil {
				t.Fatal(err)
			}
			if err := trees[i].Mount("/data", vol, vol.Root(), false); err != nil {
				t.Fatal(err)
			}
		}
		w := runHV(t, hv.Config{Binary: bin, Args: []string{"crashfile", "write", "/data/db"}, Seed: 1, FS: trees[0], Clock: clock})
		if crashWriter {
			trees[0].Crash()
		} else {
			trees[1].Crash()
		}
		r := runHV(t, hv.Config{Binary: bin, Args: []string{"crashfile", "read", "/data/db"}, Seed: 1, FS: trees[1], Clock: clock})
		return w, r
	}
	w, r := run(false)
	if w.stdout != nw.stdout || r.stdout != nr.stdout {
		t.Fatalf("after a crash of the reader, hv:\n%s%s\nnative:\n%s%s", w.stdout, r.stdout, nw.stdout, nr.stdout)
	}
	w, r = run(true)
	if w.stdout != nw.stdout {
		t.Fatalf("write under hv:\n%s\nnative:\n%s", w.stdout, nw.stdout)
	}
	if r.stdout != crashWant {
		t.Fatalf("after a crash of the writer, the other node read:\n%s\nwant:\n%s", r.stdout, crashWant)
	}
	w2, r2 := run(true)
	if w2.res.TraceHash != w.res.TraceHash || r2.res.TraceHash != r.res.TraceHash {
		t.Fatalf("same seed twice: traces %x/%x then %x/%x", w.res.TraceHash, r.res.TraceHash, w2.res.TraceHash, r2.res.TraceHash)
	}

	// Through a read-only mount the writer fails at its first change.
	clock := sched.NewClock(sched.DefaultEpoch)
	vol := vfs.NewVolume(clock, 0x900)
	ro := vfs.New(clock)
	if _, err := ro.MkdirAll("/data"); err != nil {
		t.Fatal(err)
	}
	if err := ro.Mount("/data", vol, vol.Root(), true); err != nil {
		t.Fatal(err)
	}
	got := runHV(t, hv.Config{Binary: bin, Args: []string{"crashfile", "write", "/data/db"}, Seed: 1, FS: ro, Clock: clock})
	if got.code == 0 || len(vol.Root().Names()) != 0 {
		t.Fatalf("write through a read-only mount: exit %d, volume holds %v\n%s%s", got.code, vol.Root().Names(), got.stdout, got.stderr)
	}
	if !strings.Contains(got.stdout+got.stderr, "read-only file system") {
		t.Errorf("write through a read-only mount did not fail with EROFS:\n%s%s", got.stdout, got.stderr)
	}
}
