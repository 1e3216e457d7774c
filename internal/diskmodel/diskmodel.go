// Package diskmodel is the disk fault model every mvrun backend obeys: hv
// applies it in the VMM's file system, the process and docker backends in
// a FUSE passthrough file system. A [Disk] is one node's disk: the runner
// arms fault windows on it ([Disk.Arm]) and clears them ([Disk.Clear]), and
// the file system asks it, for every I/O call on a data file, what goes
// wrong ([Disk.Decide]). Every decision is drawn from the window's seed in
// the order the calls arrive, so the same calls in the same order meet the
// same faults on every backend, and hv, whose call order is itself a
// function of the seed, replays them exactly.
//
// Like internal/linkmodel it imports only the standard library, since hv
// links it.
package diskmodel

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/mvrun/multiverse/internal/linkmodel"
)

// Kind names a disk fault.
type Kind string

// Disk fault kinds.
const (
	// Full: writes that grow a file, and fallocate, fail with ENOSPC, as on
	// a full disk (overwrites of allocated bytes still succeed).
	Full Kind = "full"
	// FsyncError: fsync and fdatasync fail with EIO and the file's dirty
	// data is dropped, as Linux has done since 4.13: a retried fsync that
	// succeeds has still lost it ("fsyncgate").
	FsyncError Kind = "fsync_error"
	// IOError: reads and writes of one drawn file fail with EIO.
	IOError Kind = "io_error"
	// Corrupt: a read returns its bytes with one bit flipped or one
	// 512-byte sector zeroed. The file itself is not changed.
	Corrupt Kind = "corrupt"
	// LoseUnsynced: at the node's next kill, data not yet fsynced is lost
	// whole, or only a prefix of it survives (a torn write).
	LoseUnsynced Kind = "lose_unsynced"
	// Slow: I/O calls take an extra drawn latency.
	Slow Kind = "slow"
)

// Kinds lists every kind in the fixed order in which [Disk.Decide]
// consults armed windows and schedules draw them.
var Kinds = []Kind{Full, FsyncError, IOError, Corrupt, LoseUnsynced, Slow}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { return slices.Contains(Kinds, k) }

// Windowed reports whether k acts during a window of time (every kind but
// LoseUnsynced, which acts at a kill).
func (k Kind) Windowed() bool { return k.Valid() && k != LoseUnsynced }

// Range is a closed interval of durations (the link model's).
type Range = linkmodel.Range

// Fault is one disk fault as a plan carries it: what kind, how likely each
// call is to be hit, and the seed its per-call draws come from.
type Fault struct {
	Kind Kind
	// Probability is the chance each call the kind applies to is hit
	// (Full ignores it: a full disk refuses every allocation).
	Probability float64
	// Latency is what a Slow call waits extra.
	Latency Range
	// Torn (LoseUnsynced) keeps a drawn prefix of each file's unsynced
	// bytes instead of losing them all.
	Torn bool
	// Seed seeds the window's draws: the file IOError hits, and each
	// call's fate.
	Seed uint64
}

// String renders f compactly: "io_error p=0.5", "slow p=1 latency=10ms..50ms",
// "lose_unsynced torn".
func (f Fault) String() string {
	var b strings.Builder
	b.WriteString(string(f.Kind))
	switch f.Kind {
	case LoseUnsynced:
		if f.Torn {
			b.WriteString(" torn")
		} else {
			b.WriteString(" whole")
		}
		return b.String()
	case Full:
		return b.String()
	}
	fmt.Fprintf(&b, " p=%s", formatProb(f.Probability))
	if f.Kind == Slow {
		fmt.Fprintf(&b, " latency=%s", f.Latency)
	}
	return b.String()
}

func formatProb(p float64) string { return fmt.Sprintf("%g", p) }

// Op is the kind of an I/O call.
type Op uint8

// I/O calls the model knows.
const (
	OpRead  Op = iota + 1 // read, pread, readv, ...
	OpWrite               // write, pwrite, writev, ...
	OpSync                // fsync, fdatasync
	OpAlloc               // fallocate or a truncate that grows the file
	OpCrash               // the node was killed (lose_unsynced)
)

func (o Op) String() string {
	switch o {
	case OpRead:
		return "read"
	case OpWrite:
		return "write"
	case OpSync:
		return "fsync"
	case OpAlloc:
		return "allocate"
	case OpCrash:
		return "kill"
	}
	return fmt.Sprintf("op%d", uint8(o))
}

// Call is one I/O call on a data file.
type Call struct {
	Op   Op
	Path string // the file, relative to the node's data directory
	Off  int64  // where it starts in the file
	Len  int64  // bytes asked for (OpRead: bytes read)
	// Grows is set for a write that extends the file.
	Grows bool
}

// Errno names the error a hit call fails with.
type Errno string

// Errors a fault makes a call fail with.
const (
	EIO    Errno = "EIO"
	ENOSPC Errno = "ENOSPC"
)

// Verdict is what happens to one call.
type Verdict struct {
	// Err, if set, is the error the call fails with, having done nothing;
	// for OpSync with EIO the file's dirty data must also be dropped.
	Err Errno
	// Delay is how long the call takes extra.
	Delay time.Duration
	// Flip and Zero describe a read's corruption, relative to the bytes
	// read: flip bit Flip-1 (Flip > 0), or zero bytes [ZeroFrom, ZeroTo).
	Flip             int64
	ZeroFrom, ZeroTo int64
	// Hits describes, for the fault log, each fault that touched the call.
	Hits []Hit
}

// Corrupts reports whether v changes the bytes of a read.
func (v Verdict) Corrupts() bool { return v.Flip > 0 || v.ZeroTo > v.ZeroFrom }

// Apply corrupts b, the bytes a read returned, as v says.
func (v Verdict) Apply(b []byte) {
	if v.Flip > 0 && (v.Flip-1)/8 < int64(len(b)) {
		b[(v.Flip-1)/8] ^= 1 << ((v.Flip - 1) % 8)
	}
	if v.ZeroTo > v.ZeroFrom {
		clear(b[min(v.ZeroFrom, int64(len(b))):min(v.ZeroTo, int64(len(b)))])
	}
}

// Hit is one fault acting on one call, as the fault log records it.
type Hit struct {
	Kind   Kind
	Op     Op
	Path   string
	Off    int64 // file offset the hit is about
	Len    int64
	Effect string // "EIO", "ENOSPC", "+12ms", "bit 3 of byte 4100 flipped", ...
}

// String renders h as a fault log line without node and time:
// "fsync_error fsync data/wal off=0 len=4096: EIO".
func (h Hit) String() string {
	return fmt.Sprintf("%s %s %s off=%d len=%d: %s", h.Kind, h.Op, h.Path, h.Off, h.Len, h.Effect)
}

// window is one armed fault.
type window struct {
	f      Fault
	rng    *rand.Rand
	target string // IOError: the file it hits; "" until bound
	hits   int
}

// Disk is one node's disk fault state. It is not safe for concurrent use;
// callers serialize (hv runs one call at a time, the FUSE file system
// holds a lock).
type Disk struct {
	wins  []*window // in Kinds order, at most one per kind
	crash *Fault    // armed LoseUnsynced, consumed by the next kill
}

// Arm starts f on the disk, replacing an armed fault of the same kind.
// files lists the node's data files now (in any order); an IOError window
// draws the file it hits from them, or, when there are none, hits the
// first file a call touches. LoseUnsynced is kept for the next [Disk.TakeCrash].
func (d *Disk) Arm(f Fault, files []string) error {
	if !f.Kind.Valid() {
		return fmt.Errorf("diskmodel: unknown fault kind %q", f.Kind)
	}
	if f.Kind == LoseUnsynced {
		c := f
		d.crash = &c
		return nil
	}
	w := &window{f: f, rng: rand.New(rand.NewPCG(f.Seed, uint64(len(f.Kind))<<32|0x6d76))}
	if f.Kind == IOError && len(files) > 0 {
		fs := slices.Clone(files)
		slices.Sort(fs)
		w.target = fs[w.rng.IntN(len(fs))]
	}
	d.Clear(f.Kind)
	d.wins = append(d.wins, w)
	slices.SortStableFunc(d.wins, func(a, b *window) int {
		return slices.Index(Kinds, a.f.Kind) - slices.Index(Kinds, b.f.Kind)
	})
	return nil
}

// Clear ends the window of kind k, if one is armed (for LoseUnsynced:
// disarms it). It returns how many calls the window hit.
func (d *Disk) Clear(k Kind) int {
	if k == LoseUnsynced {
		d.crash = nil
		return 0
	}
	for i, w := range d.wins {
		if w.f.Kind == k {
			d.wins = slices.Delete(d.wins, i, i+1)
			return w.hits
		}
	}
	return 0
}

// Armed reports whether a fault of kind k is armed.
func (d *Disk) Armed(k Kind) bool {
	if k == LoseUnsynced {
		return d.crash != nil
	}
	return slices.ContainsFunc(d.wins, func(w *window) bool { return w.f.Kind == k })
}

// Active reports whether any window is armed, so callers can skip
// building a [Call] on the fast path.
func (d *Disk) Active() bool { return len(d.wins) > 0 }

// Target returns the file an armed IOError window hits ("" if none is
// bound yet).
func (d *Disk) Target() string {
	for _, w := range d.wins {
		if w.f.Kind == IOError {
			return w.target
		}
	}
	return ""
}

// Decide draws what happens to c. Each armed window that applies to c's op
// takes its draws whether or not it hits, so a call's fate depends only on
// the calls before it.
func (d *Disk) Decide(c Call) Verdict {
	var v Verdict
	hit := func(w *window, off, n int64, effect string) {
		w.hits++
		v.Hits = append(v.Hits, Hit{Kind: w.f.Kind, Op: c.Op, Path: c.Path, Off: off, Len: n, Effect: effect})
	}
	for _, w := range d.wins {
		switch w.f.Kind {
		case Full:
			if v.Err == "" && (c.Op == OpAlloc || c.Op == OpWrite && c.Grows) {
				v.Err = ENOSPC
				hit(w, c.Off, c.Len, string(ENOSPC))
			}
		case FsyncError:
			if c.Op != OpSync {
				continue
			}
			if w.draw() && v.Err == "" {
				v.Err = EIO
				hit(w, c.Off, c.Len, "EIO, dirty data dropped")
			}
		case IOError:
			if c.Op != OpRead && c.Op != OpWrite {
				continue
			}
			if w.target == "" {
				w.target = c.Path
			}
			if c.Path != w.target {
				continue
			}
			if w.draw() && v.Err == "" {
				v.Err = EIO
				hit(w, c.Off, c.Len, string(EIO))
			}
		case Corrupt:
			if c.Op != OpRead || c.Len <= 0 {
				continue
			}
			on := w.draw()
			zero := w.rng.IntN(2) == 0
			at := w.rng.Int64N(c.Len * 8)
			if !on || v.Err != "" {
				continue
			}
			if zero {
				// The 512-byte sector of the file holding the drawn byte,
				// clipped to what was read.
				sec := (c.Off + at/8) &^ 511
				v.ZeroFrom, v.ZeroTo = max(sec-c.Off, 0), min(sec+512-c.Off, c.Len)
				hit(w, c.Off+v.ZeroFrom, v.ZeroTo-v.ZeroFrom, fmt.Sprintf("sector at %d zeroed", sec))
			} else {
				v.Flip = at + 1
				hit(w, c.Off+at/8, 1, fmt.Sprintf("bit %d of byte %d flipped", at%8, c.Off+at/8))
			}
		case Slow:
			on := w.draw()
			lat := drawRange(w.rng, w.f.Latency)
			if on && lat > 0 {
				v.Delay += lat
				hit(w, c.Off, c.Len, "+"+lat.String())
			}
		}
	}
	return v
}

// draw takes one uniform draw and reports whether it falls under the
// window's probability.
func (w *window) draw() bool { return w.rng.Float64() < w.f.Probability }

// drawRange draws uniformly from r at microsecond resolution.
func drawRange(r *rand.Rand, rg Range) time.Duration {
	lo, hi := max(rg.Min, 0), max(rg.Max, rg.Min, 0)
	steps := int64((hi - lo) / time.Microsecond)
	return lo + time.Duration(r.Int64N(steps+1))*time.Microsecond
}

// TakeCrash returns and disarms the LoseUnsynced fault armed for this kill,
// or nil (the backend's default crash behaviour then applies).
func (d *Disk) TakeCrash() *Fault {
	c := d.crash
	d.crash = nil
	return c
}

// Cutter draws, for a torn crash, how much of each file's unsynced bytes
// survives. Files must be offered in a fixed order.
type Cutter struct{ rng *rand.Rand }

// NewCutter returns the cutter of crash fault f.
func NewCutter(f Fault) *Cutter {
	return &Cutter{rng: rand.New(rand.NewPCG(f.Seed, 0x746f726e))}
}

// Cut returns where a file's surviving prefix of unsynced bytes ends: the
// file keeps its new content in [lo, cut) and its durable content from cut
// on, for a cut drawn uniformly from [lo, hi]. lo is the first byte that
// changed since the last sync and hi the end of the changed region.
func (c *Cutter) Cut(lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	return lo + c.rng.Int64N(hi-lo+1)
}
