package hv_test

import (
	"path/filepath"
	"testing"

	"github.com/mvrun/multiverse/hv"
	"github.com/mvrun/multiverse/hv/sched"
	"github.com/mvrun/multiverse/hv/vfs"
)

// TestMmapSharedCompareNative runs the guest that uses what embedded
// databases need (shared file mappings coherent with pwrite, locks,
// fallocate, statfs, link, renameat2, the sync calls) natively and under hv
// with three seeds; the outputs must match.
func TestMmapSharedCompareNative(t *testing.T) {
	requireKVM(t)
	bin := guest(t, "mmapshared")
	want := runNative(t, bin)
	if want.code != 0 {
		t.Fatalf("native run failed (exit %d): %s%s", want.code, want.stdout, want.stderr)
	}
	for seed := uint64(1); seed <= 3; seed++ {
		got := runHV(t, hv.Config{Binary: bin, Seed: seed})
		if got.stdout != want.stdout || got.code != want.code {
			t.Errorf("seed %d: under hv (exit %d):\n%s\nnative (exit %d):\n%s", seed, got.code, got.stdout, want.code, want.stdout)
		}
		if n := got.res.UnimplementedNames(); len(n) > 0 {
			t.Errorf("unimplemented syscalls: %v", n)
		}
	}
}

// crashWant is what `crashfile read` prints after `crashfile write` and a
// crash of the node's disk, by the rules in docs/hv.md ("Disks").
const crashWant = `a.txt: "alpha"
b.txt: missing
c.txt: missing
cur2.txt: "v1"
d.txt: "delta"
e.txt: "echo"
m.txt: "MAP1"
r/cur.txt: "v2"
r/tmp.txt: missing
t.txt: "truncate me"
tmp2.txt: missing
`

// crashRun runs `crashfile write` and `crashfile read` under hv on one
// node's file system, crashing it in between if crash is set, and returns
// the two outcomes.
func crashRun(t *testing.T, bin string, seed uint64, crash bool) (outcome, outcome) {
	t.Helper()
	clock := sched.NewClock(sched.DefaultEpoch)
	fs := vfs.New(clock)
	// The node's disk has /data (host-made, so durable); the guest creates
	// /data/db and fsyncs /data for it, as it must.
	if _, err := fs.MkdirAll("/data"); err != nil {
		t.Fatal(err)
	}
	const dir = "/data/db"
	w := runHV(t, hv.Config{Binary: bin, Args: []string{"crashfile", "write", dir}, Seed: seed, FS: fs, Clock: clock})
	if crash {
		fs.Crash()
	}
	r := runHV(t, hv.Config{Binary: bin, Args: []string{"crashfile", "read", dir}, Seed: seed, FS: fs, Clock: clock})
	return w, r
}

// TestCrashFile checks the crash model through the kernel: without a crash
// hv matches a native run; after vfs.FS.Crash only what was made durable
// is left, exactly as documented; and the same seed gives the same trace
// hashes.
func TestCrashFile(t *testing.T) {
	requireKVM(t)
	bin := guest(t, "crashfile")
	dir := filepath.Join(t.TempDir(), "db")
	nw := runNative(t, bin, "write", dir)
	nr := runNative(t, bin, "read", dir)
	w, r := crashRun(t, bin, 1, false)
	if w.stdout != nw.stdout || r.stdout != nr.stdout {
		t.Fatalf("without a crash, hv:\n%s%s\nnative:\n%s%s", w.stdout, r.stdout, nw.stdout, nr.stdout)
	}
	cw, cr := crashRun(t, bin, 1, true)
	if cw.stdout != nw.stdout {
		t.Fatalf("write under hv:\n%s\nnative:\n%s", cw.stdout, nw.stdout)
	}
	if cr.stdout != crashWant {
		t.Fatalf("after the crash, read printed:\n%s\nwant:\n%s", cr.stdout, crashWant)
	}
	// Same seed, same run: trace hashes and virtual times of both phases.
	cw2, cr2 := crashRun(t, bin, 1, true)
	if cw2.res.TraceHash != cw.res.TraceHash || cr2.res.TraceHash != cr.res.TraceHash ||
		cr2.res.VirtualTime != cr.res.VirtualTime || cr2.stdout != cr.stdout {
		t.Fatalf("seed 1 twice: traces %x/%x then %x/%x", cw.res.TraceHash, cr.res.TraceHash, cw2.res.TraceHash, cr2.res.TraceHash)
	}
}

// TestMmapSharedSameTrace runs the locking and mapping guest five times with
// one seed: output, trace hash and virtual time must not change.
func TestMmapSharedSameTrace(t *testing.T) {
	requireKVM(t)
	cfg := hv.Config{Binary: guest(t, "mmapshared"), Seed: 11}
	first := runHV(t, cfg)
	if !first.res.ReplayExact() {
		t.Fatalf("run not replay-exact: %v", first.res.NotExact)
	}
	for i := 1; i < 5; i++ {
		got := runHV(t, cfg)
		if got.stdout != first.stdout || got.res.TraceHash != first.res.TraceHash || got.res.VirtualTime != first.res.VirtualTime {
			t.Fatalf("run %d: trace %x at %v; run 1: trace %x at %v", i+1, got.res.TraceHash, got.res.VirtualTime, first.res.TraceHash, first.res.VirtualTime)
		}
	}
}
