package report

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mvrun/multiverse/assertions"
	"github.com/mvrun/multiverse/runner"
)

// maxListed bounds how many malformed or lost lines the text report lists.
const maxListed = 10

// WriteText writes the terminal report: a table of properties, then for
// each failing property its reason, first counterexample and replay
// command, then unsupported faults, malformed and lost SDK lines, seeds that
// hit infrastructure errors, and a summary line.
func WriteText(w io.Writer, d *Document) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "mvrun: test %q on backend %s, base seed %s\n\n", d.Test, d.Backend, d.BaseSeed)
	writePropertyTable(ew, d)
	for _, p := range d.Properties {
		if p.Verdict == assertions.Fail || p.Verdict == assertions.Unknown {
			writeFailure(ew, d, p)
		}
	}
	writeUndecided(ew, d)
	writeRunProblems(ew, d)
	writeSummary(ew, d)
	return ew.err
}

// writePropertyTable writes one row per property: verdict, hits, failing
// seeds and the seed of the first failure.
func writePropertyTable(ew io.Writer, d *Document) {
	if len(d.Properties) == 0 {
		fmt.Fprintln(ew, "No properties were evaluated.")
	} else {
		tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "PROPERTY\tTYPE\tVERDICT\tHITS T/F\tFAILING SEEDS\tFIRST FAILING SEED")
		for _, p := range d.Properties {
			first := "-"
			if len(p.FailingSeeds) > 0 {
				first = p.FailingSeeds[0]
			}
			if p.FirstCounterexample != nil && p.Verdict == assertions.Fail {
				first = p.FirstCounterexample.Seed
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%d\t%s\n", cut(p.ID, 60), typeText(p), strings.ToUpper(p.Verdict.String()),
				p.Hits.True, p.Hits.False, len(p.FailingSeeds), first)
		}
		tw.Flush()
	}
}

// writeFailure writes what a failed or undecided property needs to be
// understood and replayed: reason, location, first counterexample, seeds,
// replay command, timeline and trace hash.
func writeFailure(ew io.Writer, d *Document, p PropertyDoc) {
	fmt.Fprintf(ew, "\n%s %q (%s)\n", strings.ToUpper(p.Verdict.String()), p.ID, typeText(p))
	if p.Message != "" && p.Message != p.ID {
		fmt.Fprintf(ew, "  message: %s\n", p.Message)
	}
	if p.Reason != "" {
		fmt.Fprintf(ew, "  reason:  %s\n", p.Reason)
	}
	if p.Location != nil {
		fmt.Fprintf(ew, "  at:      %s\n", p.Location)
	}
	if ce := p.FirstCounterexample; ce != nil {
		var fs []string
		for _, f := range ce.facts() {
			fs = append(fs, f.Label+" "+f.Value)
		}
		fmt.Fprintf(ew, "  first counterexample: %s\n", strings.Join(fs, ", "))
		if len(ce.Details) > 0 {
			b, err := json.Marshal(ce.Details)
			if err != nil {
				b = []byte(fmt.Sprint(ce.Details))
			}
			fmt.Fprintf(ew, "    details: %s\n", cut(string(b), 400))
		}
	}
	if n := len(p.FailingSeeds); n > 1 {
		fmt.Fprintf(ew, "  failing seeds: %s\n", seedList(p.FailingSeeds, 5))
	}
	if len(p.UnknownSeeds) > 0 {
		fmt.Fprintf(ew, "  undecided seeds: %s\n", seedList(p.UnknownSeeds, 5))
	}
	if p.Visualization != "" {
		fmt.Fprintf(ew, "  history: %s (porcupine's visualization of the offending key)\n", p.Visualization)
	}
	if p.Replay != "" {
		fmt.Fprintf(ew, "  replay:  %s\n", p.Replay)
	}
	if sd := d.firstFailingSeed(p); sd != nil && sd.Dir != "" {
		fmt.Fprintf(ew, "  timeline: %s\n", filepath.Join(sd.Dir, runner.TimelineFile))
		if sd.TraceHash != "" {
			fmt.Fprintf(ew, "  trace:   %s (a replay of this seed on hv must give the same hash)\n", sd.TraceHash)
		}
	}
}

// writeUndecided lists the properties an interrupted run could not judge.
func writeUndecided(ew io.Writer, d *Document) {
	var undecided []PropertyDoc
	for _, p := range d.Properties {
		if p.Verdict == assertions.Undecided {
			undecided = append(undecided, p)
		}
	}
	if len(undecided) > 0 {
		fmt.Fprintf(ew, "\nNot decided (run interrupted; the seeds that did not run might have met them):\n")
		for _, p := range undecided {
			fmt.Fprintf(ew, "  %q (%s): %s\n", p.ID, typeText(p), strings.TrimPrefix(p.Reason, "not decided (run interrupted): "))
		}
	}

}

// writeRunProblems lists what makes the verdicts less than complete:
// faults a backend could not inject, calls it does not implement,
// malformed and lost SDK lines, unreadable histories, missing shards,
// seeds that could not run.
func writeRunProblems(ew io.Writer, d *Document) {
	if len(d.Unsupported) > 0 {
		fmt.Fprintf(ew, "\nFaults the %s backend could not inject (the seeds ran without them):\n", d.Backend)
		for _, u := range d.Unsupported {
			fmt.Fprintf(ew, "  %s\n", u)
		}
	}
	if len(d.Unimplemented) > 0 {
		fmt.Fprintf(ew, "\nCalls the %s backend does not implement (the programs got an error and went on):\n", d.Backend)
		for _, u := range d.Unimplemented {
			fmt.Fprintf(ew, "  %s\n", u)
		}
	}
	if d.MalformedTotal > 0 {
		fmt.Fprintf(ew, "\nMalformed SDK lines: %d (not counted toward any property)\n", d.MalformedTotal)
		listed := 0
		for _, m := range d.Malformed {
			if listed == maxListed {
				break
			}
			fmt.Fprintf(ew, "  seed %s node %s%s line %d: %s: %s\n", m.Seed, m.Node, procText(m.Proc), m.LineNo, m.Error, cut(m.Text, 120))
			listed++
		}
		// The document keeps only some examples per stream; the total
		// counts every line, so "more" is counted from it.
		if more := d.MalformedTotal - listed; more > 0 {
			fmt.Fprintf(ew, "  ... %d more (every SDK line is in the seeds' %s)\n", more, runner.EventsFile)
		}
	}
	if len(d.Lost) > 0 {
		fmt.Fprintf(ew, "\nSDK messages lost by nodes (verdicts may be incomplete):\n")
		for i, l := range d.Lost {
			if i == maxListed {
				fmt.Fprintf(ew, "  ... %d more\n", len(d.Lost)-maxListed)
				break
			}
			fmt.Fprintf(ew, "  seed %s node %s%s: %d lost: %s\n", l.Seed, l.Node, procText(l.Proc), l.Count, l.Reason)
		}
	}
	if len(d.HistoryErrors) > 0 {
		fmt.Fprintf(ew, "\nHistories that could not be checked (their checks fail):\n")
		for i, e := range d.HistoryErrors {
			if i == maxListed {
				fmt.Fprintf(ew, "  ... %d more\n", len(d.HistoryErrors)-maxListed)
				break
			}
			fmt.Fprintf(ew, "  %s\n", e)
		}
	}
	if d.Shard != nil && len(d.Shard.Missing) > 0 {
		fmt.Fprintf(ew, "\nMissing shards (their seeds are not in this report): %v of %d\n", d.Shard.Missing, d.Shard.Count)
	}
	if errs := d.SeedErrors(); len(errs) > 0 {
		fmt.Fprintf(ew, "\nSeeds that could not run (infrastructure errors):\n")
		for _, s := range errs {
			fmt.Fprintf(ew, "  seed %s: %s\n", s.Seed, s.Error)
		}
	}

}

// writeSummary writes the closing verdict line (PASS, FAIL, UNDECIDED or
// INCOMPLETE) with the counts and the artifacts directory.
func writeSummary(ew io.Writer, d *Document) {
	failed, unknown := 0, 0
	for _, p := range d.Properties {
		switch p.Verdict {
		case assertions.Fail:
			failed++
		case assertions.Unknown:
			unknown++
		}
	}
	fmt.Fprintln(ew)
	if d.Cancelled {
		fmt.Fprintf(ew, "INTERRUPTED: partial report of %d of %d seeds.\n", d.SeedsRun, d.SeedsPlanned)
	}
	verdict := "PASS"
	switch {
	case failed > 0:
		verdict = "FAIL"
	case unknown > 0:
		verdict = "UNDECIDED"
	case d.Cancelled || len(d.SeedErrors()) > 0 || (d.Shard != nil && len(d.Shard.Missing) > 0):
		verdict = "INCOMPLETE"
	}
	und := ""
	if unknown > 0 {
		und = fmt.Sprintf(", %d undecided", unknown)
	}
	fmt.Fprintf(ew, "%s: %s failed%s of %d; %s run in %s; artifacts in %s\n", verdict,
		plural(failed, "property", "properties"), und, len(d.Properties),
		plural(d.SeedsRun, "seed", "seeds"), durationText(time.Duration(d.ElapsedMS)*time.Millisecond), d.Artifacts)
}

// firstFailingSeed returns the record of the seed p's replay command
// names, or nil.
func (d *Document) firstFailingSeed(p PropertyDoc) *SeedDoc {
	switch {
	case p.FirstCounterexample != nil && (p.Verdict == assertions.Fail || p.Verdict == assertions.Unknown):
		return d.Seed(p.FirstCounterexample.Seed)
	case len(p.FailingSeeds) > 0:
		return d.Seed(p.FailingSeeds[0])
	}
	return nil
}

// String renders l as file:line (function).
func (l *Location) String() string {
	s := l.File
	if l.Line > 0 {
		s += fmt.Sprintf(":%d", l.Line)
	}
	if l.Function != "" {
		s += " (" + l.Function + ")"
	}
	return s
}

func typeText(p PropertyDoc) string {
	t := p.DisplayType
	if t == "" {
		t = p.Type.String()
	}
	switch {
	case p.Type == assertions.TypeCheck:
		t += ", history check"
	case p.Builtin:
		t += ", built-in"
	}
	return t
}

func procText(proc string) string {
	if proc == "" {
		return ""
	}
	return " command " + proc
}

func seedList(ss []string, n int) string {
	if len(ss) <= n {
		return strings.Join(ss, " ")
	}
	return strings.Join(ss[:n], " ") + fmt.Sprintf(" (and %d more)", len(ss)-n)
}

// cut shortens s to n runes, marking the cut.
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// errWriter remembers the first write error so report code can write
// without checking each call.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return len(p), nil
	}
	_, e.err = e.w.Write(p)
	return len(p), nil
}
