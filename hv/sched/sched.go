// Package sched holds hv's deterministic scheduling primitives: the virtual
// clock, the timer queue that the clock jumps along when every guest thread
// is blocked, the seeded choice of the next thread to run, and the trace hash
// that fingerprints a run.
//
// Nothing here reads host time or global randomness: every decision is a
// function of the seed and of the order of calls, so the same guest run with
// the same seed makes the same decisions.
package sched

import (
	"container/heap"
	"encoding/binary"
	"hash"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"time"
)

// Clock is a virtual clock in nanoseconds since the simulation booted.
// Monotonic time is Now; wall-clock time is Epoch + Now + Offset, so a
// per-node offset (clock skew) moves only the wall clock. Clocks made with
// [Clock.Fork] share one monotonic time and differ only in their offsets:
// a cluster has one timeline and each node its own wall clock.
type Clock struct {
	now    *int64
	epoch  int64
	offset int64
}

// DefaultEpoch is the wall-clock time at virtual boot: 2025-01-01T00:00:00Z.
// A fixed epoch keeps time.Now() in guests reproducible.
var DefaultEpoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// NewClock returns a clock at zero whose wall clock starts at epoch.
func NewClock(epoch time.Time) *Clock { return &Clock{now: new(int64), epoch: epoch.UnixNano()} }

// Fork returns a clock that shares c's monotonic time (advancing either
// advances both) with its own wall-clock offset, initially c's.
func (c *Clock) Fork() *Clock { return &Clock{now: c.now, epoch: c.epoch, offset: c.offset} }

// Now returns monotonic virtual nanoseconds since boot.
func (c *Clock) Now() int64 { return *c.now }

// Wall returns virtual wall-clock nanoseconds since the Unix epoch.
func (c *Clock) Wall() int64 { return c.epoch + *c.now + c.offset }

// Advance moves the clock forward by d (negative d is ignored).
func (c *Clock) Advance(d int64) {
	if d > 0 {
		*c.now += d
	}
}

// AdvanceTo moves the clock to t if t is later than now.
func (c *Clock) AdvanceTo(t int64) {
	if t > *c.now {
		*c.now = t
	}
}

// SetOffset sets the wall-clock offset (skew) of this VM.
func (c *Clock) SetOffset(d time.Duration) { c.offset = int64(d) }

// Offset returns the wall-clock offset.
func (c *Clock) Offset() time.Duration { return time.Duration(c.offset) }

// Timer is one pending timer in a [Timers] queue.
type Timer struct {
	When int64
	ID   int // the owner's identifier, e.g. a thread id
	// Fn, if set, is called when the timer fires instead of waking ID.
	Fn    func()
	seq   uint64
	index int
}

// Timers is a queue of deadlines ordered by time, then by insertion order,
// so ties break deterministically.
type Timers struct {
	h   timerHeap
	seq uint64
}

// Add schedules a timer for id at virtual time when.
func (q *Timers) Add(when int64, id int) *Timer {
	q.seq++
	t := &Timer{When: when, ID: id, seq: q.seq}
	heap.Push(&q.h, t)
	return t
}

// AddFunc schedules fn to be called at virtual time when.
func (q *Timers) AddFunc(when int64, fn func()) *Timer {
	q.seq++
	t := &Timer{When: when, ID: -1, Fn: fn, seq: q.seq}
	heap.Push(&q.h, t)
	return t
}

// Cancel removes t if it is still pending.
func (q *Timers) Cancel(t *Timer) {
	if t != nil && t.index >= 0 && t.index < len(q.h) && q.h[t.index] == t {
		heap.Remove(&q.h, t.index)
	}
}

// Next returns the earliest pending deadline.
func (q *Timers) Next() (int64, bool) {
	if len(q.h) == 0 {
		return 0, false
	}
	return q.h[0].When, true
}

// Len returns the number of pending timers.
func (q *Timers) Len() int { return len(q.h) }

// PopDue removes and returns the earliest timer if it is due at now.
func (q *Timers) PopDue(now int64) (*Timer, bool) {
	if len(q.h) == 0 || q.h[0].When > now {
		return nil, false
	}
	return heap.Pop(&q.h).(*Timer), true
}

type timerHeap []*Timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].When != h[j].When {
		return h[i].When < h[j].When
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *timerHeap) Push(x any) {
	t := x.(*Timer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*h = old[:len(old)-1]
	return t
}

// Picker chooses among runnable threads with a seeded generator.
type Picker struct{ rng *rand.Rand }

// NewPicker returns a picker drawing from rng.
func NewPicker(rng *rand.Rand) *Picker { return &Picker{rng: rng} }

// Pick returns an index in [0, n); n must be positive. With one candidate it
// draws nothing, so runs that never have a choice consume no randomness.
func (p *Picker) Pick(n int) int {
	if n <= 1 {
		return 0
	}
	return p.rng.IntN(n)
}

// Trace accumulates the trace hash: an FNV-1a 64-bit hash over the ordered
// stream of events a run produced.
type Trace struct {
	h   hash.Hash64
	buf [8]byte
	n   uint64
	// Checkpoint, if set, is called after every event whose kind is in
	// Milestones and after every CheckpointEvery-th event, with the event
	// count, the kind and the hash so far: a coarse log of the run that
	// two runs can be compared by to find where they diverge.
	// A snapshot of the trace leaves both unset (they are the caller's).
	Checkpoint func(n uint64, kind byte, sum uint64) `snap:"zero"`
	Milestones string                                `snap:"zero"`
}

// CheckpointEvery is how many events pass between two periodic checkpoints.
const CheckpointEvery = 1 << 16

// NewTrace returns an empty trace.
func NewTrace() *Trace { return &Trace{h: fnv.New64a()} }

// Event hashes one event: a kind tag and its words.
func (t *Trace) Event(kind byte, words ...uint64) {
	t.n++
	t.h.Write([]byte{kind})
	for _, w := range words {
		binary.LittleEndian.PutUint64(t.buf[:], w)
		t.h.Write(t.buf[:])
	}
	t.check(kind)
}

func (t *Trace) check(kind byte) {
	if t.Checkpoint != nil && (t.n%CheckpointEvery == 0 || strings.IndexByte(t.Milestones, kind) >= 0) {
		t.Checkpoint(t.n, kind, t.h.Sum64())
	}
}

// Bytes hashes an event carrying a byte payload.
func (t *Trace) Bytes(kind byte, b []byte) {
	t.n++
	t.h.Write([]byte{kind})
	binary.LittleEndian.PutUint64(t.buf[:], uint64(len(b)))
	t.h.Write(t.buf[:])
	t.h.Write(b)
	t.check(kind)
}

// Sum returns the hash so far.
func (t *Trace) Sum() uint64 { return t.h.Sum64() }

// Events returns how many events were hashed.
func (t *Trace) Events() uint64 { return t.n }
