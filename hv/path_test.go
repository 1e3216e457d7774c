package hv_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mvrun/multiverse/hv"
)

// runWhoami runs the whoami guest from host path bin with cfg's Path and
// Args in a cluster of one node, and returns what it printed and the
// trace hash.
func runWhoami(t *testing.T, bin string, cfg hv.ProcessConfig) (string, uint64) {
	t.Helper()
	c, n := oneNode(t, 3)
	var out, errb bytes.Buffer
	cfg.Binary, cfg.Stdout, cfg.Stderr = bin, &out, &errb
	p, err := n.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(context.Background(), time.Second); err != nil {
		t.Fatal(err)
	}
	if !p.Exited() || p.Summary().ExitCode != 0 {
		t.Fatalf("whoami from %s did not exit 0; stderr: %s", bin, errb.String())
	}
	return out.String(), c.TraceHash()
}

// TestProcessPath: a guest sees ProcessConfig.Path, not the host path of
// its binary, as AT_EXECFN, its thread name and (without Args) argv[0];
// so the same binary kept at two host paths of different lengths is the
// same run. Without Path the guest sees the host path, as a native exec
// of that path gives it.
func TestProcessPath(t *testing.T) {
	requireKVM(t)
	built := guest(t, "whoami")
	dir := t.TempDir()
	var bins []string
	for _, d := range []string{"a", "a-much-longer-host-directory"} {
		bin := filepath.Join(dir, d, "whoami")
		if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(built, bin); err != nil {
			t.Fatal(err)
		}
		bins = append(bins, bin)
	}
	const want = "argv0 /usr/bin/whoami\nexecfn /usr/bin/whoami\ncomm whoami\n"
	out0, hash0 := runWhoami(t, bins[0], hv.ProcessConfig{Path: "/usr/bin/whoami"})
	out1, hash1 := runWhoami(t, bins[1], hv.ProcessConfig{Path: "/usr/bin/whoami"})
	if out0 != want || out1 != want {
		t.Errorf("with Path: the guest printed\n%s and\n%swant\n%s", out0, out1, want)
	}
	if hash0 != hash1 {
		t.Errorf("the same binary at two host paths, same Path: trace hash %016x vs %016x", hash0, hash1)
	}
	if out, _ := runWhoami(t, bins[1], hv.ProcessConfig{Path: "/usr/bin/whoami", Args: []string{"who"}}); out != "argv0 who\nexecfn /usr/bin/whoami\ncomm whoami\n" {
		t.Errorf("with Path and Args: the guest printed\n%s", out)
	}
	native := runNative(t, bins[1])
	if out, _ := runWhoami(t, bins[1], hv.ProcessConfig{}); out != native.stdout {
		t.Errorf("without Path: hv printed\n%snatively\n%s", out, native.stdout)
	}
}
