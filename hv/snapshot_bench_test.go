package hv_test

import (
	"testing"
	"time"

	"github.com/mvrun/multiverse/hv"
)

// The snapshot benchmarks use the three-node workload of
// TestSnapshotContinuesExactly (16 virtual seconds; partition, heal, kill
// and restart of the server) and its moment at 80%, 12.8 s:
//
//	go test ./hv -run '^$' -bench 'Snapshot|Restore|Branch' -benchtime 5x
//
// BenchmarkBranchAt80 compares the two ways to start a branch there:
// replaying the seed from zero, or restoring a snapshot taken at the
// moment during an earlier replay; reach-* stop at the moment, branch-*
// also run the branch's redrawn future to the end.

const benchSeed = 11

func benchMoment(w *snapWorkload) time.Duration { return w.end * 8 / 10 }

// snapshotAt80 replays the workload to 80% and snapshots it there.
func snapshotAt80(b *testing.B, w *snapWorkload) *hv.Snapshot {
	b.Helper()
	c := w.boot(b, benchSeed)
	defer c.Close()
	w.advance(b, c, -1, benchMoment(w))
	s, err := c.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkSnapshot measures taking a snapshot of the three-node cluster.
func BenchmarkSnapshot(b *testing.B) {
	requireKVM(b)
	w := newSnapWorkload(b)
	c := w.boot(b, benchSeed)
	defer c.Close()
	w.advance(b, c, -1, benchMoment(w))
	var size int
	for b.Loop() {
		s, err := c.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		size = s.Bytes()
	}
	b.ReportMetric(float64(size)/(1<<20), "MiB")
}

// BenchmarkRestore measures restoring it (and closing the result).
func BenchmarkRestore(b *testing.B) {
	requireKVM(b)
	w := newSnapWorkload(b)
	s := snapshotAt80(b, w)
	for b.Loop() {
		r, err := s.Restore()
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBranchAt80 compares replaying to the 80% moment with restoring
// a snapshot taken there.
func BenchmarkBranchAt80(b *testing.B) {
	requireKVM(b)
	w := newSnapWorkload(b)
	at := benchMoment(w)
	s := snapshotAt80(b, w)
	reach := map[string]func(b *testing.B) *hv.Cluster{
		"replay": func(b *testing.B) *hv.Cluster {
			c := w.boot(b, benchSeed)
			w.advance(b, c, -1, at)
			return c
		},
		"restore": func(b *testing.B) *hv.Cluster {
			c, err := s.Restore()
			if err != nil {
				b.Fatal(err)
			}
			return c
		},
	}
	for _, how := range []string{"replay", "restore"} {
		b.Run("reach-"+how, func(b *testing.B) {
			for b.Loop() {
				if err := reach[how](b).Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("branch-"+how, func(b *testing.B) {
			n := uint64(0)
			for b.Loop() {
				c := reach[how](b)
				n++
				c.Redraw(n)
				w.advance(b, c, at, w.end)
				if err := c.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
