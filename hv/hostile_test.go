package hv_test

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/hv"
)

var hostileCalls = flag.Int("hostile.calls", 20_000, "system calls the hostile guest makes in TestHostileGuest (go test ./hv -run TestHostileGuest -hostile.calls 1000000 -v for the full run)")

// listTree returns every path under dir with its size and mode, to see
// whether a run changed anything there.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, p+" "+strconv.FormatInt(info.Size(), 10)+" "+info.Mode().String()+" "+info.ModTime().String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestHostileGuest runs a guest that makes random system calls with random
// arguments (bad pointers, huge lengths, negative fds, random flags) from
// several threads. Every call must return (the guest counts them and
// exits 0), the VMM must not fail or hang, the same seed must give the
// same run, and no host file may change: not the directory the guest's
// file system is copied from, nor the package directory.
func TestHostileGuest(t *testing.T) {
	requireKVM(t)
	bin := guest(t, "hostile")
	fsDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(fsDir, "data"), []byte("host bytes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fsBefore, pkgBefore := listTree(t, fsDir), listTree(t, ".")
	calls := strconv.Itoa(*hostileCalls)
	run := func() outcome {
		start := time.Now()
		o := runHV(t, hv.Config{Binary: bin, Args: []string{bin, "0x5eed", calls, "4"}, Seed: 0x5eed, FSDir: fsDir})
		if o.code != 0 || !strings.HasPrefix(o.stdout, "hostile: ") {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", o.code, o.stdout, firstLines(o.stderr, 40))
		}
		el := time.Since(start)
		t.Logf("%s; %d system calls in %v wall: %.0f calls/s", strings.TrimSpace(o.stdout), o.res.Syscalls, el.Round(time.Millisecond), float64(o.res.Syscalls)/el.Seconds())
		return o
	}
	a := run()
	if !reflect.DeepEqual(listTree(t, fsDir), fsBefore) || !reflect.DeepEqual(listTree(t, "."), pkgBefore) {
		t.Errorf("the hostile guest changed host files")
	}
	if *hostileCalls > 100_000 {
		return // the replay check is for the bounded run
	}
	b := run()
	if a.res.ReplayExact() && b.res.ReplayExact() && a.res.TraceHash != b.res.TraceHash {
		t.Errorf("same seed, different runs: trace %016x then %016x", a.res.TraceHash, b.res.TraceHash)
	}
}
