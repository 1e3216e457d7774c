package runner

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mvrun/multiverse/runner/backend"
)

// CoverageFile is the file in a seed's directory that holds its coverage
// reads ([backend.EventCoverage]), one [CoverageRecord] a line, in the
// order the cluster made them. Only backends that read coverage counters
// (hv) write it.
const CoverageFile = "coverage.jsonl"

// CoverageRecord is one line of [CoverageFile]: a read of a node's
// program's counters at a cluster time, or a node whose program has none
// (Without set).
type CoverageRecord struct {
	AtNS int64  `json:"at_ns"`
	Node string `json:"node"`
	backend.CoverSample
}

// cover records one coverage read; a node without counters also gets a
// timeline line, so the seed's timeline says what the search cannot see.
func (a *artifacts) cover(ev backend.Event) {
	if ev.Cover == nil {
		return
	}
	b, err := json.Marshal(CoverageRecord{AtNS: int64(ev.At), Node: ev.Node, CoverSample: *ev.Cover})
	if err != nil {
		return // plain data: cannot fail
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	if a.coverage == nil {
		f, err := os.Create(filepath.Join(a.dir, CoverageFile))
		if err != nil {
			if a.err == nil {
				a.err = fmt.Errorf("creating artifact: %w", err)
			}
			return
		}
		a.files = append(a.files, f)
		a.coverage = bufio.NewWriter(f)
	}
	a.write(a.coverage, string(b)+"\n")
	if ev.Cover.Without != "" {
		a.addLocked(ev.At, ev.Node, "coverage: "+ev.Cover.Without)
	}
}
