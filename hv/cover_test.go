package hv_test

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mvrun/multiverse/hv"
)

// coverGuest builds the coverage guest with counters (go build -cover,
// count mode) and returns its path.
func coverGuest(t *testing.T) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	out := filepath.Join(buildDir, "coverage-cover")
	if err, ok := buildDone[out]; ok {
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	cmd := exec.Command("go", "build", "-cover", "-covermode=count", "-o", out, "./testdata/guests/coverage")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -cover: %v\n%s", err, b)
	}
	buildDone[out] = nil
	return out
}

// coverRun is what one run of the coverage guest showed.
type coverRun struct {
	hash   uint64
	mid    []hv.CoverCounter // read at 55 ms
	atExit []hv.CoverCounter // read as it exited
	stdout string
}

func runCoverGuest(t *testing.T, bin string, seed uint64, look bool) coverRun {
	t.Helper()
	c, err := hv.NewCluster(hv.ClusterConfig{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n, err := c.AddNode(hv.NodeConfig{Name: "alpha"})
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	p, err := n.Start(hv.ProcessConfig{Binary: bin, Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatal(err)
	}
	var r coverRun
	var lookErr error
	if look {
		c.Observe(55*time.Millisecond, func() {
			var ok bool
			r.mid, ok, lookErr = p.Coverage()
			if !ok && lookErr == nil {
				t.Errorf("the -cover guest has no counter region")
			}
		})
		c.ObserveExits(func(q *hv.Process) {
			if q == p {
				r.atExit, _, lookErr = q.Coverage()
			}
		})
	}
	if _, err := c.Run(context.Background(), time.Second); err != nil {
		t.Fatal(err)
	}
	if lookErr != nil {
		t.Fatal(lookErr)
	}
	if !p.Exited() {
		t.Fatalf("the guest did not exit; stderr: %s", errb.String())
	}
	r.hash, r.stdout = c.TraceHash(), out.String()
	return r
}

// TestCoverageCounters reads a -cover guest's counters from its memory on
// hv, mid-run and as it exits: the counts are the guest's own (tick ran 20
// times, third 7), they only grow, the same seed gives the same counts
// twice, and reading them leaves the trace hash alone.
func TestCoverageCounters(t *testing.T) {
	requireKVM(t)
	bin := coverGuest(t)
	if size, err := hv.CoverRegion(bin); err != nil || size == 0 {
		t.Fatalf("CoverRegion of a -cover build: %d bytes, %v", size, err)
	}
	if size, err := hv.CoverRegion(guest(t, "coverage")); err != nil || size != 0 {
		t.Fatalf("CoverRegion of a build without -cover: %d bytes, %v; want 0", size, err)
	}
	a := runCoverGuest(t, bin, 7, true)
	if a.stdout != "20 7\n" {
		t.Fatalf("guest printed %q, want \"20 7\"", a.stdout)
	}
	counts := func(cs []hv.CoverCounter) []uint32 {
		var out []uint32
		for _, c := range cs {
			out = append(out, c.Count)
		}
		return out
	}
	if got := counts(a.atExit); !slices.Contains(got, 20) || !slices.Contains(got, 7) {
		t.Errorf("counts at exit %v: want a block that ran 20 times (tick) and one 7 times (third)", got)
	}
	if len(a.mid) == 0 || len(a.mid) > len(a.atExit) {
		t.Fatalf("%d counters hit at 55ms, %d at exit", len(a.mid), len(a.atExit))
	}
	end := map[uint32]uint32{}
	for _, c := range a.atExit {
		end[c.Index] = c.Count
	}
	for _, c := range a.mid {
		if end[c.Index] < c.Count {
			t.Errorf("counter %d went from %d (55ms) down to %d (exit)", c.Index, c.Count, end[c.Index])
		}
	}
	if got := counts(a.mid); !slices.Contains(got, 5) {
		t.Errorf("counts at 55ms %v: want tick's block at 5 (ticks at 10..50ms)", got)
	}
	b := runCoverGuest(t, bin, 7, true)
	if b.hash != a.hash || !slices.Equal(b.mid, a.mid) || !slices.Equal(b.atExit, a.atExit) {
		t.Errorf("same seed twice: hash %016x vs %016x, counters equal mid %t exit %t", a.hash, b.hash, slices.Equal(b.mid, a.mid), slices.Equal(b.atExit, a.atExit))
	}
	if plain := runCoverGuest(t, bin, 7, false); plain.hash != a.hash {
		t.Errorf("reading counters changed the run: trace hash %016x, unobserved %016x", a.hash, plain.hash)
	}
}
