package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mvrun/multiverse/assertions"
	"github.com/mvrun/multiverse/assertions/history"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/specs"
)

// PropHistory returns the id of the property of the spec's check c: "its
// history is linearizable".
func PropHistory(c *specs.Check) string {
	return fmt.Sprintf("history %q is linearizable (%s)", c.Name, c.Model)
}

// HistoryVisualization returns the name, in a seed's directory, of the
// porcupine visualization written when check c found its history illegal.
func HistoryVisualization(c *specs.Check) string {
	return "history-" + sanitize(c.Name) + ".html"
}

// visualizeTimeout bounds the second search that finds the longest partial
// linearizations for a visualization.
const visualizeTimeout = 10 * time.Second

// addHistory hands an SDK line that may be a history line to the seed's
// history recorder.
func (s *seedRun) addHistory(ev backend.Event) {
	if len(s.t.Checks) == 0 || !history.Is(ev.Line) {
		return
	}
	s.histMu.Lock()
	defer s.histMu.Unlock()
	s.hist.AddLine(history.Source{Node: ev.Node, Proc: ev.Proc, LineNo: ev.LineNo}, ev.Line)
}

// checkHistories checks, once the seed has ended, each history the spec's
// check blocks name, and records one evaluation of each check's property:
// pass, fail (not linearizable, or the history could not be read) or
// unknown (the check's timeout ran out). A check whose history is empty in
// this seed is not evaluated; the property fails if no seed recorded one.
// Where a history is not linearizable, porcupine's visualization of the
// offending key goes into the seed's directory.
func (s *seedRun) checkHistories() {
	if len(s.t.Checks) == 0 {
		return
	}
	s.histMu.Lock()
	defer s.histMu.Unlock()
	errs, nerr := s.hist.Errors()
	for _, c := range s.t.Checks {
		id := PropHistory(c)
		if nerr > 0 {
			// A line that cannot be read may belong to any history: no
			// check of this seed can be trusted.
			msg := fmt.Sprintf("%d unreadable history %s in this seed; first: %v", nerr, plural(nerr, "line"), errs[0])
			s.historyError(c, msg)
			continue
		}
		h := s.hist.History(c.History)
		if h.Len() == 0 {
			s.art.note(s.now(), "check", "%s: no history %q recorded in this seed", c.Name, c.History)
			s.rec.Check(s.cfg.seed, id, assertions.CheckEmpty, nil)
			continue
		}
		m, err := history.Lookup(c.Model)
		if err != nil { // specs validated it; kept as a failure, not a panic
			s.historyError(c, err.Error())
			continue
		}
		r, err := history.Check(h, m, c.Timeout)
		if err != nil {
			s.historyError(c, err.Error())
			continue
		}
		d := r.Details()
		s.art.note(s.now(), "check", "%s: %s (%v)", c.Name, r.Reason(), r.Elapsed.Round(time.Millisecond))
		switch r.Verdict {
		case history.Linearizable:
			s.rec.Check(s.cfg.seed, id, assertions.CheckPass, d)
		case history.Unknown:
			s.rec.Check(s.cfg.seed, id, assertions.CheckUnknown, d)
		default:
			d["reason"] = r.Reason()
			if path, err := s.visualize(c, r); err != nil {
				d["visualization_error"] = err.Error()
			} else {
				d["visualization"] = path
			}
			s.rec.Check(s.cfg.seed, id, assertions.CheckFail, d)
		}
	}
}

// historyError fails check c in this seed because its history could not be
// checked, and remembers why for the run's report.
func (s *seedRun) historyError(c *specs.Check, msg string) {
	s.art.note(s.now(), "check", "%s: %s", c.Name, msg)
	s.rec.Check(s.cfg.seed, PropHistory(c), assertions.CheckFail, map[string]any{"history": c.History, "model": c.Model, "error": msg})
	s.so.HistoryErrors = append(s.so.HistoryErrors, fmt.Sprintf("check %q: %s", c.Name, msg))
}

// visualize writes porcupine's visualization of r's offending key.
func (s *seedRun) visualize(c *specs.Check, r *history.Result) (string, error) {
	path := filepath.Join(s.cfg.dir, HistoryVisualization(c))
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("visualization: %w", err)
	}
	err = r.Visualize(f, visualizeTimeout)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("visualization: %w", err)
	}
	return path, nil
}
