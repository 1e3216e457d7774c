// Package search shrinks, explains and finds failing runs by running a
// test's seed many times with controlled changes: a fault schedule with
// faults dropped, shortened or moved later ([Shrink]), with one fault
// removed at a time ([Attribute]), and a tree of branches whose futures are
// redrawn at moments chosen by a score ([Explore]).
//
// Everything here is a function of its inputs and of the runs' results:
// there is no wall-clock budget and no dependence on which run finishes
// first, so on a backend that replays exactly (hv) the same command gives
// the same answer. Each run a search makes has an id ([Candidate.ID]) that
// `mvrun replay --seed` accepts.
package search

import (
	"fmt"
	"strings"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/internal/seeds"
	"github.com/mvrun/multiverse/runner/hvbackend"
)

// Candidate is one run: a seed, optionally a branch path of it (hv only),
// and edits to the fault plan that run would carry out.
type Candidate struct {
	Seed   uint64
	Branch *hvbackend.Branch
	Edits  faults.Edits
	// From, if set, is the record of an earlier run that this one may
	// resume from where their pasts agree (hv), and Snapshots the virtual
	// times at which this run keeps snapshots in its own record
	// ([Result.Record]) for later candidates to resume from. Neither
	// changes the run nor its id: only what it costs.
	From      *hvbackend.Record
	Snapshots []time.Duration
	// Stop, if positive, ends the run at that virtual time (hv): a probe
	// of where the run goes, cut before its end. The run up to Stop is the
	// id's, so Stop is no part of the id; a cut run's workload and checks
	// do not finish, so it judges no property (see [Result.Cut]).
	Stop time.Duration
}

// ID returns the candidate's id: the seed ("0x…5eed"), a branch path
// ("0x…5eed@2s/1:kill@3s/0") and schedule edits after "~"
// ("0x…5eed~d0.3~s1=500ms").
func (c Candidate) ID() string {
	id := seeds.Format(c.Seed)
	if c.Branch != nil {
		id = c.Branch.ID(c.Seed)
	}
	if !c.Edits.Empty() {
		id += "~" + c.Edits.String()
	}
	return id
}

// ParseID reads what [Candidate.ID] writes; a plain seed in decimal or hex
// is a candidate too.
func ParseID(id string) (Candidate, error) {
	var c Candidate
	base, ed, _ := strings.Cut(id, "~")
	e, err := faults.ParseEdits(ed)
	if err != nil {
		return c, fmt.Errorf("id %q: %w", id, err)
	}
	c.Edits = e
	s, b, ok, err := hvbackend.ParseBranchID(base)
	if err != nil {
		return c, err
	}
	if ok {
		c.Seed, c.Branch = s, &b
		return c, nil
	}
	if c.Seed, err = seeds.Parse(base); err != nil {
		return c, fmt.Errorf("id %q: %w", id, err)
	}
	return c, nil
}
