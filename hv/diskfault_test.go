package hv_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/hv"
	"github.com/mvrun/multiverse/internal/diskmodel"
	"github.com/mvrun/multiverse/internal/diskmodel/diskiotest"
)

// diskRun is one run of the diskio guest under a disk fault.
type diskRun struct {
	out  string   // the writer's stdout
	dump string   // the dump after the kill (lose_unsynced only)
	hits []string // the fault log: every hit, in order
	raw  []hv.DiskHit
	hash uint64
}

// runDiskGuest runs `diskio write /data/f ROUNDS` on a node whose data
// directory is /data with fault f armed from the start; for lose_unsynced
// it then kills the node and dumps the file.
func runDiskGuest(t *testing.T, seed uint64, f diskmodel.Fault, rounds int) diskRun {
	t.Helper()
	bin := guest(t, "diskio")
	c, err := hv.NewCluster(hv.ClusterConfig{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n, err := c.AddNode(hv.NodeConfig{Name: "db"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.FS().MkdirAll("/data"); err != nil {
		t.Fatal(err)
	}
	var r diskRun
	n.SetDataDir("/data")
	n.OnDiskHit(func(h hv.DiskHit) {
		r.hits = append(r.hits, fmt.Sprintf("%v %s", h.At, h))
		r.raw = append(r.raw, h)
	})
	if err := n.ArmDisk(f); err != nil {
		t.Fatal(err)
	}
	var out, dump, errb bytes.Buffer
	start := func(buf *bytes.Buffer, args ...string) {
		if _, err := n.Start(hv.ProcessConfig{Binary: bin, Args: args, Stdout: buf, Stderr: &errb}); err != nil {
			t.Fatal(err)
		}
	}
	start(&out, "diskio", "write", "/data/f", strconv.Itoa(rounds))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := c.Run(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if f.Kind == diskmodel.LoseUnsynced {
		n.Kill()
		start(&dump, "diskio", "dump", "/data/f")
		if _, err := c.Run(ctx, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if errb.Len() > 0 {
		t.Fatalf("guest stderr: %s", errb.String())
	}
	r.out, r.dump, r.hash = out.String(), dump.String(), c.TraceHash()
	return r
}

// TestDiskFaultsSeen runs a program that writes, fsyncs and reads under
// each disk fault kind and checks that it sees exactly the faults the
// fault log records, and that a seed replays them: same hits, same output,
// same trace hash.
func TestDiskFaultsSeen(t *testing.T) {
	requireKVM(t)
	const rounds = 24
	slowLat := 5 * time.Millisecond
	for _, f := range []diskmodel.Fault{
		{Kind: diskmodel.Full},
		{Kind: diskmodel.FsyncError, Probability: 0.5},
		{Kind: diskmodel.IOError, Probability: 0.5},
		{Kind: diskmodel.Corrupt, Probability: 0.5},
		{Kind: diskmodel.Slow, Probability: 0.5, Latency: diskmodel.Range{Min: slowLat, Max: slowLat}},
		{Kind: diskmodel.LoseUnsynced, Torn: true},
		{Kind: diskmodel.LoseUnsynced},
	} {
		name := string(f.Kind)
		if f.Torn {
			name += "-torn"
		}
		t.Run(name, func(t *testing.T) {
			f.Seed = 0x5eed
			rounds := rounds
			if f.Kind == diskmodel.LoseUnsynced {
				rounds-- // the last round's record stays unsynced
			}
			a := runDiskGuest(t, 3, f, rounds)
			b := runDiskGuest(t, 3, f, rounds)
			if a.hash != b.hash || a.out != b.out || !slices.Equal(a.hits, b.hits) || a.dump != b.dump {
				t.Fatalf("replay differs: hash %016x vs %016x\n%s\nvs\n%s\nhits %v\nvs %v", a.hash, b.hash, a.out, b.out, a.hits, b.hits)
			}
			if len(a.hits) == 0 {
				t.Fatalf("no fault hit:\n%s", a.out)
			}
			t.Logf("fault log:\n%s", strings.Join(a.hits[:min(len(a.hits), 4)], "\n"))
			if f.Kind != diskmodel.Full && f.Kind != diskmodel.LoseUnsynced {
				f2 := f
				f2.Seed++
				if c := runDiskGuest(t, 3, f2, rounds); slices.Equal(c.hits, a.hits) {
					t.Errorf("another fault seed hit the same calls: %v", c.hits)
				}
			}
			hits := make([]diskmodel.Hit, len(a.raw))
			for i, h := range a.raw {
				hits[i] = h.Hit
			}
			// Simulated time: a slow call takes its hit's latency plus the
			// virtual cost of its system calls, well under a millisecond.
			diskiotest.Check(t, f, diskiotest.Run{Out: a.out, Dump: a.dump, Hits: hits}, slowLat, time.Duration(len(hits))*time.Millisecond)
		})
	}
}
