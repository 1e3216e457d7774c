package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/internal/seeds"
	"github.com/mvrun/multiverse/runner/hvbackend"
	"github.com/mvrun/multiverse/runner/report"
	"github.com/mvrun/multiverse/runner/search"
)

// splitEdits splits an id into the part before "~" (a seed or branch id)
// and the schedule edits after it.
func splitEdits(id string) (string, faults.Edits, error) {
	base, ed, ok := strings.Cut(id, "~")
	if !ok {
		return id, faults.Edits{}, nil
	}
	e, err := faults.ParseEdits(ed)
	if err != nil {
		return "", e, err
	}
	return base, e, nil
}

// joinID is the id of a seed, its branch (or nil) and schedule edits.
func joinID(seed uint64, br *hvbackend.Branch, e faults.Edits) string {
	return search.Candidate{Seed: seed, Branch: br, Edits: e}.ID()
}

// shrinkRecord is shrink.json, and also explore.json of the shrink's
// directory, so `mvrun replay --seed ID` finds every run it made.
type shrinkRecord struct {
	exploreRecord
	Shrink      *search.ShrinkResult `json:"shrink"`
	Attribution *search.Attribution  `json:"attribution,omitempty"`
}

// cmdShrink runs `mvrun shrink`.
func (e env) cmdShrink(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mvrun shrink", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var testName, seedFlag, prop, backendName, runs, htmlDir string
	var jobs, k int
	var asJSON, noAttr, verbose bool
	fs.StringVar(&testName, "test", "", "name of the test, when the spec has several")
	fs.StringVar(&seedFlag, "seed", "", "the failing seed or id to shrink, as a report, explore or an earlier shrink printed it (required)")
	fs.StringVar(&prop, "property", "", "the failing property to keep failing (default: the first the run fails)")
	fs.StringVar(&backendName, "backend", "hv", "backend: hv replays each candidate exactly; process and docker run it --k times")
	fs.IntVar(&k, "k", 5, "process/docker: runs per candidate (a candidate fails when any run fails)")
	fs.IntVar(&jobs, "jobs", 0, "candidates to run at once (default one per core on hv, 1 elsewhere); the result does not depend on it")
	fs.BoolVar(&asJSON, "json", false, "print the result as one JSON document on stdout")
	fs.BoolVar(&noAttr, "no-attribute", false, "do not attribute the minimal schedule's failure to its faults afterwards")
	fs.BoolVar(&verbose, "v", false, "log what the runner and backend do to stderr")
	fs.StringVar(&runs, "runs", runsDir, "where earlier runs are: the seed's record there gets the causes (causes.json), which its HTML report shows")
	fs.StringVar(&htmlDir, "html", "", "also write the HTML report of the run that recorded the seed, with the causes, into `dir`")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: mvrun shrink spec.hcl --seed ID [--property P]\n\nMakes a failing run's fault schedule minimal: drops, shortens and moves its faults, replaying each candidate, until no fault can be dropped and the same property still fails; prints the minimal schedule, its id (which mvrun replay --seed accepts) and which of its faults the failure needs.\n\n")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if len(pos) != 1 || seedFlag == "" || k < 1 {
		fmt.Fprintln(stderr, "mvrun shrink: want one spec file and --seed ID")
		fs.Usage()
		return exitUsage
	}
	start, err := search.ParseID(seedFlag)
	if err != nil {
		fmt.Fprintf(stderr, "mvrun shrink: --seed: %v\n", err)
		return exitUsage
	}
	_, t, code := loadTest(ctx, "shrink", pos[0], testName, stderr)
	if t == nil {
		return code
	}
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	b, _, err := selectBackend(ctx, e.newBackend, backendName, t, log)
	if err != nil {
		fmt.Fprintf(stderr, "mvrun shrink: %v\n", err)
		return exitInfra
	}
	exact := b.Name() == "hv"
	if start.Branch != nil && !exact {
		fmt.Fprintln(stderr, "mvrun shrink: a branch id runs only on hv; add --backend hv")
		return exitUsage
	}
	if jobs <= 0 {
		jobs = 1
		if exact {
			jobs = runtime.NumCPU()
		}
	}
	out := filepath.Join(exploreDir, time.Now().UTC().Format("20060102-150405.000")+"-"+t.Name+"-shrink")
	if err := b.Prepare(ctx, t, filepath.Join(out, "work")); err != nil {
		fmt.Fprintf(stderr, "mvrun shrink: %v\n", err)
		return exitInfra
	}
	run := search.Runs(t, b, out, log)
	if exact {
		// A run on hv is a function of its id: the attribution's first
		// run, the minimal schedule, was the shrink's last kept one.
		run = search.Memo(run)
	} else {
		run = search.Repeat(run, k, prop)
	}
	how := "each candidate replayed exactly on hv"
	if !exact {
		how = fmt.Sprintf("each candidate run %d times on %s: the result is statistical", k, b.Name())
	}
	fmt.Fprintf(stderr, "mvrun shrink: %s of test %q, %s, %d at once; runs in %s\n", start.ID(), t.Name, how, jobs, out)
	began := time.Now()
	res, err := search.Shrink(ctx, run, start, search.ShrinkOptions{Property: prop, Jobs: jobs, Progress: stderr})
	if err != nil {
		fmt.Fprintf(stderr, "mvrun shrink: %v\n", err)
		if ctx.Err() != nil {
			return exitInfra
		}
		return exitFailed
	}
	rec := shrinkRecord{exploreRecord: exploreRecord{Test: t.Name, Spec: pos[0], Seed: start.ID(), Failing: []string{res.Property}}, Shrink: res}
	steps := res.Steps
	if !noAttr {
		min, _ := search.ParseID(res.Minimal)
		fmt.Fprintf(stderr, "mvrun shrink: attribution: the minimal schedule without each of its faults\n")
		a, err := search.Attribute(ctx, run, min, res.Property, jobs, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "mvrun shrink: attribution: %v\n", err)
		} else {
			rec.Attribution = a
			steps = append(steps, a.Steps...)
		}
	}
	for _, st := range steps {
		rec.Branches = append(rec.Branches, branchOutcome{ID: st.ID, Failing: st.Failing, TraceHash: st.TraceHash, Dir: st.Dir, Error: st.Error})
	}
	data, _ := json.MarshalIndent(rec, "", "  ")
	if err := os.WriteFile(filepath.Join(out, "explore.json"), append(data, '\n'), 0o644); err != nil {
		fmt.Fprintf(stderr, "mvrun shrink: %v\n", err)
		return exitInfra
	}
	if code := recordCauses(&rec, start, t.Name, runs, htmlDir, filepath.Join(out, "explore.json"), stderr); code != exitOK {
		return code
	}
	if asJSON {
		stdout.Write(append(data, '\n'))
		return exitFailed
	}
	writeShrink(stdout, pos[0], &rec, len(steps), time.Since(began))
	return exitFailed
}

// writeShrink prints a shrink's result for people.
func writeShrink(w io.Writer, spec string, r *shrinkRecord, runs int, took time.Duration) {
	s := r.Shrink
	fmt.Fprintf(w, "Shrunk %s for %q: %d faults -> %d (%d runs, %v)\n", s.Start, s.Property, s.Faults, s.Kept, runs, took.Round(time.Second))
	if s.Statistical {
		fmt.Fprintln(w, "(statistical: this backend does not replay exactly; a candidate counted as failing when any of its runs failed)")
	}
	fmt.Fprintf(w, "\nMinimal schedule (fault phase time):\n")
	for _, l := range s.Schedule {
		fmt.Fprintf(w, "  %s\n", l)
	}
	if len(s.Schedule) == 0 {
		fmt.Fprintln(w, "  (no faults: the property fails without any)")
	}
	if a := r.Attribution; a != nil {
		fmt.Fprintf(w, "\nCauses (each fault removed alone, replayed once):\n")
		for _, c := range a.Causes {
			fmt.Fprintf(w, "  %s\n", c.Line())
		}
	}
	fmt.Fprintf(w, "\nid: %s\nreplay: mvrun replay %s --backend hv --seed '%s'\n", s.Minimal, spec, s.Minimal)
}

// recordCauses adds a shrink's result to causes.json in the directory of
// the run of `mvrun test` that recorded the seed, so that the run's HTML
// report shows it on the property's section, and writes that report into
// htmlDir when asked. A branch is not its seed's run: nothing is recorded
// for it. A seed no run recorded is only an error when htmlDir asks for
// its report.
func recordCauses(rec *shrinkRecord, start search.Candidate, test, runs, htmlDir, record string, stderr io.Writer) int {
	if start.Branch != nil {
		if htmlDir != "" {
			fmt.Fprintln(stderr, "mvrun shrink: --html: a branch id has no run report of its own; shrink its seed's run for one")
			return exitUsage
		}
		return exitOK
	}
	doc, sd, err := report.FindSeed(runs, test, seeds.Format(start.Seed), "")
	if err != nil {
		if htmlDir != "" {
			fmt.Fprintf(stderr, "mvrun shrink: --html: no run of test %q under %s recorded seed %s\n", test, runs, seeds.Format(start.Seed))
			return exitUsage
		}
		return exitOK
	}
	s := rec.Shrink
	c := report.Causes{Property: s.Property, Start: s.Start, Minimal: s.Minimal, Faults: s.Faults, Schedule: s.Schedule, Statistical: s.Statistical, Record: record}
	if a := rec.Attribution; a != nil {
		for _, x := range a.Causes {
			what := x.What
			if len(x.During) > 0 {
				what += " during " + strings.Join(x.During, " and ")
			}
			c.Causes = append(c.Causes, report.Cause{What: what, Necessary: x.Necessary, Without: x.Without, Error: x.Error})
		}
	}
	if err := report.AddCauses(sd.Dir, c); err != nil {
		fmt.Fprintf(stderr, "mvrun shrink: %v\n", err)
		return exitInfra
	}
	fmt.Fprintf(stderr, "mvrun shrink: causes recorded in %s\n", filepath.Join(sd.Dir, report.CausesFile))
	if htmlDir != "" {
		if err := report.WriteHTML(htmlDir, doc); err != nil {
			fmt.Fprintf(stderr, "mvrun shrink: --html: %v\n", err)
			return exitUsage
		}
		fmt.Fprintf(stderr, "mvrun shrink: the run's report with the causes: %s\n", filepath.Join(htmlDir, report.HTMLFile))
	}
	return exitOK
}
