// Package diskiotest checks what the diskio test program (hv's
// testdata/guests/diskio) saw under a disk fault against the fault's hits.
// The hv backend's tests (faults in the VMM's file system) and
// runner/diskfs's (faults in a FUSE file system) run the same program
// under the same faults, so they hold it to the same expectations here.
//
// diskio writes 100-byte records and prints a line per call: "w OFF LEN
// RESULT", "r OFF LEN RESULT [bad OFFS]", "s SIZE RESULT", each with
// " slow US" when the call took over a millisecond; after a crash its dump
// prints "size N" and the records left.
package diskiotest

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/internal/diskmodel"
)

// Run is what one diskio run left behind.
type Run struct {
	Out  string          // diskio's output while writing
	Dump string          // its dump of the file after a crash (lose_unsynced only)
	Hits []diskmodel.Hit // the fault's hits, in order
}

// GuestErrors returns the (call, errno) of every failed call diskio
// printed, in order.
func GuestErrors(out string) []string {
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

// HitErrors returns the (call, errno) of every hit that failed its call.
func HitErrors(hits []diskmodel.Hit) []string {
	var errs []string
	for _, h := range hits {
		if e, _, _ := strings.Cut(h.Effect, ","); e == "EIO" || e == "ENOSPC" {
			errs = append(errs, h.Op.String()+" "+e)
		}
	}
	return errs
}

var (
	badRe  = regexp.MustCompile(`(?m)^r 0 \d+ ok bad ([\d,]+)`)
	slowRe = regexp.MustCompile(`slow (\d+)`)
	sizeRe = regexp.MustCompile(`size (\d+)`)
)

// Check checks that r shows what fault f does to diskio's calls: the
// errors it saw are the hits' errors, and each kind's own effect. The
// Slow kind's latency is slowLat per hit; the slow calls may take up to
// slack longer in all (the host's scheduling, or none in simulated time).
func Check(t testing.TB, f diskmodel.Fault, r Run, slowLat, slack time.Duration) {
	t.Helper()
	if g, h := GuestErrors(r.Out), HitErrors(r.Hits); !slices.Equal(g, h) {
		t.Errorf("diskio saw errors %v; the hits were %v\n%s", g, h, r.Out)
	}
	switch f.Kind {
	case diskmodel.Full:
		// A full disk refuses writes that grow the file, never overwrites of
		// bytes it has: follow the file's size through the write lines.
		size := int64(0)
		for _, l := range strings.Split(r.Out, "\n") {
			var off, n int64
			var res string
			if _, err := fmt.Sscanf(l, "w %d %d %s", &off, &n, &res); err != nil {
				continue
			}
			switch {
			case res == "ok":
				size = max(size, off+n)
			case res == "ENOSPC" && off+n <= size:
				t.Errorf("an overwrite of allocated bytes (file size %d) failed: %q\n%s\nhits %v", size, l, r.Out, r.Hits)
			}
		}
		if n := strings.Count(r.Out, "ENOSPC"); n != len(r.Hits) {
			t.Errorf("%d ENOSPC, %d hits", n, len(r.Hits))
		}
	case diskmodel.FsyncError:
		if strings.Count(r.Out, "dropped ") == 0 || strings.Contains(r.Out, " BAD") {
			t.Errorf("want failed fsyncs, each leaving exactly the synced data:\n%s", r.Out)
		}
	case diskmodel.IOError:
		for _, h := range r.Hits {
			if h.Path != "f" {
				t.Errorf("io_error hit %s, want the drawn file f only", h.Path)
			}
		}
	case diskmodel.Corrupt:
		bads := badRe.FindAllStringSubmatch(r.Out, -1)
		if len(bads) != len(r.Hits) {
			t.Fatalf("%d corrupted reads seen, %d hits:\n%v\n%s", len(bads), len(r.Hits), r.Hits, r.Out)
		}
		for i, m := range bads {
			h := r.Hits[i]
			for _, s := range strings.Split(m[1], ",") {
				off, _ := strconv.ParseInt(s, 10, 64)
				if off < h.Off || off >= h.Off+h.Len {
					t.Errorf("read %d: byte %d differs, outside the hit %s", i, off, h)
				}
			}
		}
	case diskmodel.Slow:
		// The slow calls took at least the latency of their hits (a
		// ReadAt past the end is two reads, so two hits).
		var waited time.Duration
		for _, m := range slowRe.FindAllStringSubmatch(r.Out, -1) {
			us, _ := strconv.Atoi(m[1])
			waited += time.Duration(us) * time.Microsecond
		}
		want := time.Duration(len(r.Hits)) * slowLat
		if waited < want || waited > want+slack {
			t.Errorf("diskio waited %v in slow calls; %d hits of %v make %v (up to %v more allowed)\n%s", waited, len(r.Hits), slowLat, want, slack, r.Out)
		}
	case diskmodel.LoseUnsynced:
		// 23 rounds, fsync every third: the last two records
		// (2100..2300) were never synced, nor the overwrites of record 0,
		// which rewrote the same bytes.
		if len(r.Hits) != 1 {
			t.Fatalf("hits %v, want one for the file", r.Hits)
		}
		h := r.Hits[0]
		size := sizeRe.FindStringSubmatch(r.Dump)
		if size == nil {
			t.Fatalf("dump: %s", r.Dump)
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
			t.Errorf("file size after the crash %d, want %d (hit %s)", got, want, h)
		}
		if !strings.Contains(r.Dump, "record 0020 ") {
			t.Errorf("synced records lost:\n%s", r.Dump)
		}
	}
}
