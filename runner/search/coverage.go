package search

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mvrun/multiverse/runner"
)

// CoverHit is a coverage feature a run reached: a counter of a program
// built with coverage counters whose count reached a bucket (1, 2, 3, 4–7,
// 8–15, …) on some node, first seen in a read standing for time At.
type CoverHit struct {
	At      time.Duration
	Feature string // "c:<program>:<counter index>:<bucket>"
}

// readCoverage reads the run's coverage features from the seed's
// coverage.jsonl (written on hv for programs with counters; absent
// elsewhere), and counts the nodes it says have no counters.
func readCoverage(dir string, r *Result) error {
	f, err := os.Open(filepath.Join(dir, runner.CoverageFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("search: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var rec runner.CoverageRecord
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			continue
		}
		if rec.Without != "" {
			r.Uncovered = append(r.Uncovered, rec.Node)
			continue
		}
		at := time.Duration(rec.DueNS)
		if rec.DueNS == 0 {
			at = time.Duration(rec.AtNS)
		}
		for _, p := range rec.New {
			r.Cover = append(r.Cover, CoverHit{At: at, Feature: fmt.Sprintf("c:%s:%d:%d", rec.Program, p[0], p[1])})
		}
	}
	return sc.Err()
}
