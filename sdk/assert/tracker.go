package assert

import (
	"math"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/mvrun/multiverse/sdk/internal/wire"
)

// maxIDs bounds the number of distinct assertion ids a process tracks.
// Messages are meant to be constants, so a program has a fixed set of them;
// one that builds messages at run time would otherwise grow the table (and
// the output) without bound. Evaluations of further ids are not sent and are
// counted as lost, which the report shows.
const maxIDs = 4096

// maxGuidanceLines bounds the guidance lines one assertion id sends per
// process. Guidance is advice for exploration, not a verdict, and a counter
// that grows on every call would otherwise send a line per call.
const maxGuidanceLines = 64

// gapKind says how an entry's numeric gap key was computed; keys of
// different kinds do not compare.
type gapKind uint8

const (
	gapNone gapKind = iota
	gapInt
	gapFloat
)

// entry is what this process remembers about one assertion id: whether the
// passing and the failing evaluation were sent, the best numeric gap seen,
// and which values each named bool has taken.
type entry struct {
	pass, fail atomic.Bool

	kind     gapKind // fixed at creation
	maximize bool    // fixed at creation
	gap      atomic.Int64
	guidance atomic.Int32 // guidance lines sent

	seenTrue, seenFalse atomic.Uint64 // bit i: named bool i was true / false
}

// sent reports whether the evaluation with this outcome was already sent.
func (e *entry) sent(condition bool) bool {
	if condition {
		return e.pass.Load()
	}
	return e.fail.Load()
}

// claim marks the evaluation with this outcome as sent and reports whether
// this caller is the one that must send it; a nil entry (over maxIDs) never
// sends.
func (e *entry) claim(condition bool) bool {
	if e == nil {
		return false
	}
	if condition {
		return !e.pass.Load() && e.pass.CompareAndSwap(false, true)
	}
	return !e.fail.Load() && e.fail.CompareAndSwap(false, true)
}

// wouldImprove reports, without changing anything, whether key beats the
// best gap so far and guidance may still be sent.
func (e *entry) wouldImprove(kind gapKind, key int64) bool {
	if e == nil || e.kind != kind || e.guidance.Load() >= maxGuidanceLines {
		return false
	}
	cur := e.gap.Load()
	if e.maximize {
		return key > cur
	}
	return key < cur
}

// improve records key if it beats the best gap so far and reports whether
// this caller must send a guidance line for it.
func (e *entry) improve(kind gapKind, key int64) bool {
	for e.wouldImprove(kind, key) {
		cur := e.gap.Load()
		if e.maximize && key <= cur || !e.maximize && key >= cur {
			return false
		}
		if e.gap.CompareAndSwap(cur, key) {
			return e.guidance.Add(1) <= maxGuidanceLines
		}
	}
	return false
}

// boolBits returns the bits of the named bools that are true and false; only
// the first 64 names are tracked.
func boolBits(named []NamedBool) (t, f uint64) {
	for i, nb := range named {
		if i == 64 {
			break
		}
		if nb.Second {
			t |= 1 << i
		} else {
			f |= 1 << i
		}
	}
	return t, f
}

// newBools reports, without changing anything, whether some named bool takes
// a value it never had at this id and guidance may still be sent.
func (e *entry) newBools(t, f uint64) bool {
	if e.guidance.Load() >= maxGuidanceLines {
		return false
	}
	return e.seenTrue.Load()&t != t || e.seenFalse.Load()&f != f
}

// recordBools records the values and reports whether this caller must send a
// guidance line for them.
func (e *entry) recordBools(t, f uint64) bool {
	if e == nil {
		return false
	}
	oldT := e.seenTrue.Or(t)
	oldF := e.seenFalse.Or(f)
	if oldT&t == t && oldF&f == f {
		return false
	}
	return e.guidance.Add(1) <= maxGuidanceLines
}

// The table of entries is copy-on-write: readers (every evaluation) do one
// atomic load and one map lookup, with no lock and no allocation; writers
// (the first evaluation of each id) copy it under a mutex. The table grows
// only with the number of distinct ids in the program.
var (
	table   atomic.Pointer[map[string]*entry]
	tableMu sync.Mutex
)

func init() { resetTable() }

func resetTable() {
	m := map[string]*entry{}
	table.Store(&m)
}

// lookup returns the entry for id or nil.
func lookup(id string) *entry {
	return (*table.Load())[id]
}

// entryFor returns the entry for id, creating it with the given gap kind and
// direction if it does not exist yet. Past maxIDs ids it counts the
// evaluation as lost and returns nil, which claims and improves nothing.
func entryFor(id string, kind gapKind, maximize bool) *entry {
	if e := lookup(id); e != nil {
		return e
	}
	tableMu.Lock()
	defer tableMu.Unlock()
	old := *table.Load()
	if e := old[id]; e != nil {
		return e
	}
	if len(old) >= maxIDs {
		wire.Drop("more than " + strconv.Itoa(maxIDs) + " distinct assertion messages in one process; " +
			"messages name properties and must be constants (put variable data in details)")
		return nil
	}
	e := &entry{kind: kind, maximize: maximize}
	if maximize {
		e.gap.Store(math.MinInt64)
	} else {
		e.gap.Store(math.MaxInt64)
	}
	m := make(map[string]*entry, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[id] = e
	table.Store(&m)
	return e
}
