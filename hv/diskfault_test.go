package hv_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/hv"
	"github.com/mvrun/multiverse/internal/diskmodel"
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

// guestErrors returns the (call, errno) of every failed call the guest
// printed, in order.
func guestErrors(out string) []string {
	var errs []string
	for _, l := range strings.Split(out, "\n") {
		fs := strings.Fields(l)
		var e string
		switch {
		case len(fs) >= 4 && (fs[0] == "w" || fs[0] == "r"):
			e = fs[3]
		case len(fs) >= 3 && fs[0] == "s":
			e = fs[2]
		default:
			continue
		}
		if e != "ok" {
			op := map[string]string{"w": "write", "r": "read", "s": "fsync"}[fs[0]]
			errs = append(errs, op+" "+e)
		}
	}
	return errs
}

// hitErrors returns the (call, errno) of every hit that failed its call.
func hitErrors(hits []hv.DiskHit) []string {
	var errs []string
	for _, h := range hits {
		if e, _, _ := strings.Cut(h.Effect, ","); e == "EIO" || e == "ENOSPC" {
			errs = append(errs, h.Op.String()+" "+e)
		}
	}
	return errs
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
			if g, h := guestErrors(a.out), hitErrors(a.raw); !slices.Equal(g, h) {
				t.Errorf("the guest saw errors %v; the fault log has %v\n%s", g, h, a.out)
			}
			checkDiskKind(t, f, a, slowLat)
		})
	}
}

var badRe = regexp.MustCompile(`(?m)^r 0 \d+ ok bad ([\d,]+)`)

func checkDiskKind(t *testing.T, f diskmodel.Fault, r diskRun, slowLat time.Duration) {
	switch f.Kind {
	case diskmodel.Full:
		for _, l := range strings.Split(r.out, "\n") {
			if strings.HasPrefix(l, "w 0 100 ENOSPC") && !strings.HasPrefix(r.out, l) {
				t.Errorf("an overwrite of allocated bytes failed: %q", l)
			}
		}
		if strings.Count(r.out, "ENOSPC") != len(r.hits) {
			t.Errorf("%d ENOSPC, %d hits", strings.Count(r.out, "ENOSPC"), len(r.hits))
		}
	case diskmodel.FsyncError:
		failed := strings.Count(r.out, "dropped ")
		if failed == 0 || strings.Contains(r.out, " BAD") {
			t.Errorf("want failed fsyncs, each leaving exactly the synced data:\n%s", r.out)
		}
	case diskmodel.IOError:
		for _, h := range r.raw {
			if h.Path != "f" {
				t.Errorf("io_error hit %s, want the drawn file f only", h.Path)
			}
		}
	case diskmodel.Corrupt:
		bads := badRe.FindAllStringSubmatch(r.out, -1)
		if len(bads) != len(r.raw) {
			t.Fatalf("%d corrupted reads seen, %d hits:\n%v\n%s", len(bads), len(r.raw), r.hits, r.out)
		}
		for i, m := range bads {
			h := r.raw[i]
			for _, s := range strings.Split(m[1], ",") {
				off, _ := strconv.ParseInt(s, 10, 64)
				if off < h.Off || off >= h.Off+h.Len {
					t.Errorf("read %d: byte %d differs, outside the hit %s", i, off, h)
				}
			}
		}
	case diskmodel.Slow:
		var waited time.Duration
		for _, m := range regexp.MustCompile(`slow (\d+)`).FindAllStringSubmatch(r.out, -1) {
			us, _ := strconv.Atoi(m[1])
			waited += time.Duration(us) * time.Microsecond
		}
		want := time.Duration(len(r.raw)) * slowLat
		if waited < want || waited > want+time.Duration(len(r.raw))*time.Millisecond {
			t.Errorf("the guest waited %v in slow calls; %d hits of %v make %v", waited, len(r.raw), slowLat, want)
		}
	case diskmodel.LoseUnsynced:
		// 23 rounds, fsync every third: the last two records
		// (2100..2300) were never synced, nor the overwrites of record 0,
		// which rewrote the same bytes.
		if len(r.raw) != 1 {
			t.Fatalf("hits %v, want one for the file", r.hits)
		}
		h := r.raw[0]
		size := regexp.MustCompile(`size (\d+)`).FindStringSubmatch(r.dump)
		if size == nil {
			t.Fatalf("dump: %s", r.dump)
		}
		got, _ := strconv.ParseInt(size[1], 10, 64)
		var want int64 = 2100
		if f.Torn {
			var lo, cut int64
			if _, err := fmt.Sscanf(h.Effect, "torn: bytes %d..%d", &lo, &cut); err != nil {
				t.Fatalf("hit %s: %v", h, err)
			}
			want = max(2100, cut)
		}
		if got != want {
			t.Errorf("file size after the kill %d, want %d (hit %s)", got, want, h)
		}
		if !strings.Contains(r.dump, "record 0020 ") {
			t.Errorf("synced records lost:\n%s", r.dump)
		}
	}
}
