package hvbackend

import (
	"sync"
	"time"
)

// Travel makes looks at the moments of a seed fast (mvrun debug). Every
// replay to a moment by a backend with a Travel records its run ([Record])
// with snapshots on the way to the moment; a later replay to a moment
// resumes from the latest snapshot before it that any earlier replay of
// the seed took (see tape.go): the runner catches up from the record, the
// cluster is restored, and the replay goes on live to its moment and its
// looks, with the same trace as a replay from zero (checked as replays
// are). Each replay records the stretch it ran, so looks moving forwards
// and backwards through a seed soon all start near their moment.
//
// A look whose capture needs the seed's whole past — packets since the
// start (pcap) — and a system call window that starts before every
// snapshot replay from zero.
type Travel struct {
	mu   sync.Mutex
	recs map[uint64][]*Record // per seed, in the order they were made
}

// NewTravel returns an empty record.
func NewTravel() *Travel { return &Travel{recs: map[uint64][]*Record{}} }

// snapshotsPerMoment is how many snapshots a replay to a moment takes, at
// even spacing from where it started: a later look costs a restore plus at
// most this fraction of the stretch.
const snapshotsPerMoment = 8

// keep adds a replay's record.
func (t *Travel) keep(r *Record) {
	if len(r.snaps) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.recs[r.seed] = append(t.recs[r.seed], r)
}

// nearest returns the record holding the latest snapshot of seed taken
// before virtual time before, and that snapshot; nil if there is none.
func (t *Travel) nearest(seed uint64, before time.Duration) (*Record, *rsnap) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var rec *Record
	var snap *rsnap
	for _, r := range t.recs[seed] {
		if s, ok := r.resumable(seed, nil, before); ok && (snap == nil || s.s.At() > snap.s.At()) {
			rec, snap = r, s
		}
	}
	return rec, snap
}

// recordOptions returns what a replay to moment m that starts at from
// records: snapshots at even spacing between the two.
func (t *Travel) recordOptions(from time.Duration, m *Moment) *RecordOptions {
	o := &RecordOptions{Keep: t.keep}
	every := max((m.At-from)/snapshotsPerMoment, 10*time.Millisecond)
	for at := from + every; at < m.At; at += every {
		o.Snapshots = append(o.Snapshots, at)
	}
	return o
}

// Travels reports whether a replay to m can resume from a snapshot: its
// captures need only the seed from the snapshot on (not pcap's packets
// since the start).
func (m *Moment) Travels() bool { return m.Pcap == "" }

// resumeBefore is the latest virtual time a replay to m may resume at: its
// moment, or the start of its system call window.
func (m *Moment) resumeBefore() time.Duration {
	if m.Strace != nil {
		return min(m.At, m.Strace.From)
	}
	return m.At
}
