package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/mvrun/multiverse/internal/seeds"
	"github.com/mvrun/multiverse/runner"
	"github.com/mvrun/multiverse/runner/hvbackend"
	"github.com/mvrun/multiverse/runner/report"
	"github.com/mvrun/multiverse/specs"
)

// cmdExplore runs `mvrun explore`: from moments of a failing seed, many
// branches whose future is redrawn, and how many of them still fail.
func cmdExplore(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mvrun explore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var testName, seedFlag, atFlag, runs, htmlDir string
	var branches, moments, jobs int
	var asJSON, verbose, snapshots bool
	fs.StringVar(&testName, "test", "", "name of the test, when the spec has several")
	fs.StringVar(&seedFlag, "seed", "", "the seed to explore, as a report printed it (required)")
	fs.IntVar(&branches, "branches", 10, "branches per moment")
	fs.StringVar(&atFlag, "at", "", "moments to branch at, comma-separated (12.5s, first-failure, fail:PROPERTY, event:N); default --moments evenly spaced up to the first failure")
	fs.IntVar(&moments, "moments", 5, "how many moments when --at is not given")
	fs.IntVar(&jobs, "jobs", 0, "branches to run at once (default one per core)")
	fs.StringVar(&runs, "runs", runsDir, "directory of earlier runs, to find the seed's first failure")
	fs.BoolVar(&asJSON, "json", false, "print the exploration as one JSON document on stdout")
	fs.StringVar(&htmlDir, "html", "", "also write a chart of the failure rate over the moments into `dir`, with the seed's run report showing it on each failing property")
	fs.BoolVar(&snapshots, "snapshots", true, "replay the seed once with a snapshot before each moment and resume the branches from them; false replays every branch from time zero")
	fs.BoolVar(&verbose, "v", false, "log what the runner and backend do to stderr")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: mvrun explore spec.hcl --seed S [--branches N] [--at M1,M2,…]\n\nReplays a seed on hv up to moments of it and from each runs branches whose future (scheduling, network, entropy, fault timing) is drawn anew, and reports per moment how many branches still fail each of the seed's failing properties. Every branch has an id that mvrun replay --seed accepts.\n\n")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if len(pos) != 1 || seedFlag == "" || branches < 1 || moments < 1 {
		fmt.Fprintln(stderr, "mvrun explore: want one spec file, --seed S, and positive --branches and --moments")
		fs.Usage()
		return exitUsage
	}
	seed, err := seeds.Parse(seedFlag)
	if err != nil {
		fmt.Fprintf(stderr, "mvrun explore: --seed: %v\n", err)
		return exitUsage
	}
	_, t, code := loadTest(ctx, "explore", pos[0], testName, stderr)
	if t == nil {
		return code
	}
	doc, sd, err := report.FindSeed(runs, t.Name, seeds.Format(seed), "")
	if err != nil {
		fmt.Fprintf(stderr, "mvrun explore: no earlier run of test %q under %s recorded seed %s; run mvrun test first\n", t.Name, runs, seeds.Format(seed))
		return exitUsage
	}
	var ats []time.Duration
	if atFlag != "" {
		for _, a := range strings.Split(atFlag, ",") {
			d, err := resolveMoment(strings.TrimSpace(a), t, runs, seeds.Format(seed))
			if err != nil {
				fmt.Fprintf(stderr, "mvrun explore: %v\n", err)
				return exitUsage
			}
			ats = append(ats, d)
		}
	} else {
		end, err := firstFailure(filepath.Join(sd.Dir, "events.jsonl"), "")
		if err != nil {
			fmt.Fprintf(stderr, "mvrun explore: %v; give the moments with --at\n", err)
			return exitUsage
		}
		for i := range moments {
			ats = append(ats, (end * time.Duration(i) / time.Duration(moments)).Round(time.Millisecond))
		}
	}
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	b := hvbackend.New(hvbackend.Options{Log: log})
	if err := b.Available(ctx); err != nil {
		fmt.Fprintf(stderr, "mvrun explore: %v\n", err)
		return exitInfra
	}
	out := filepath.Join(exploreDir, time.Now().UTC().Format("20060102-150405.000")+"-"+t.Name)
	if err := b.Prepare(ctx, t, filepath.Join(out, "work")); err != nil {
		fmt.Fprintf(stderr, "mvrun explore: %v\n", err)
		return exitInfra
	}
	rec := exploreRecord{Test: t.Name, Spec: pos[0], Seed: seeds.Format(seed), Failing: sd.Failing}
	// One replay of the seed, snapshotting it just before each moment:
	// the branches resume from there rather than replaying the prefix.
	var trunk *hvbackend.Record
	if snapshots {
		if trunk, err = exploreTrunk(ctx, b, t, seed, sd.TraceHash, ats, filepath.Join(out, "trunk"), log, stderr); err != nil {
			fmt.Fprintf(stderr, "mvrun explore: %v\n", err)
			return exitInfra
		}
	}
	bb := b
	if trunk != nil {
		bb = b.ResumingFrom(trunk)
		rec.Trunk, rec.SnapshotMiB = filepath.Join(out, "trunk"), trunk.Bytes()>>20
	}
	type job struct {
		at time.Duration
		n  int
	}
	var list []job
	for _, at := range ats {
		for n := range branches {
			list = append(list, job{at, n})
		}
	}
	rec.Branches = make([]branchOutcome, len(list))
	if jobs <= 0 {
		jobs = runtime.NumCPU()
	}
	fmt.Fprintf(stderr, "mvrun explore: seed %s of test %q, %d moments × %d branches, %d at once; artifacts in %s\n", seeds.Format(seed), t.Name, len(ats), branches, jobs, out)
	var wg sync.WaitGroup
	var mu sync.Mutex
	next, done := 0, 0
	began := time.Now()
	for range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next == len(list) || ctx.Err() != nil {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				j := list[i]
				br := &hvbackend.Branch{At: j.at, N: j.n}
				id := br.ID(seed)
				bo := branchOutcome{ID: id, AtNS: int64(j.at), Dir: filepath.Join(out, fmt.Sprintf("%d-%d", j.at.Milliseconds(), j.n))}
				oc, err := runner.Run(ctx, runner.Options{Test: t, Backend: bb.WithBranch(br), Seeds: []uint64{seed}, Jobs: 1, Log: log, OutDir: bo.Dir})
				switch {
				case err != nil && oc == nil:
					bo.Error = err.Error()
				case len(oc.Seeds) != 1:
					bo.Error = "the branch did not run"
				case oc.Seeds[0].Err != nil:
					bo.Error = oc.Seeds[0].Err.Error()
				default:
					so := oc.Seeds[0]
					bo.Failing, bo.TraceHash, bo.ResumedNS = so.Failing, fmt.Sprintf("%016x", so.TraceHash), int64(so.ResumedAt)
				}
				mu.Lock()
				rec.Branches[i] = bo
				done++
				what := "fails " + quoteList(bo.Failing)
				if bo.Error != "" {
					what = "error: " + bo.Error
				}
				if bo.ResumedNS > 0 {
					what += fmt.Sprintf(" (resumed at %v)", time.Duration(bo.ResumedNS))
				}
				fmt.Fprintf(stderr, "  [%d/%d %v] branch %s: %s\n", done, len(list), time.Since(began).Round(time.Second), id, what)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "mvrun explore: interrupted")
		return exitInfra
	}
	for _, at := range ats {
		m := momentRecord{At: at.String(), AtNS: int64(at), Failing: map[string]int{}}
		for _, bo := range rec.Branches {
			if bo.AtNS != int64(at) {
				continue
			}
			m.Branches++
			if bo.Error != "" {
				m.Errors++
				continue
			}
			for _, p := range rec.Failing {
				if slices.Contains(bo.Failing, p) {
					m.Failing[p]++
				}
			}
		}
		rec.Moments = append(rec.Moments, m)
	}
	data, _ := json.MarshalIndent(rec, "", "  ")
	if err := os.WriteFile(filepath.Join(out, "explore.json"), append(data, '\n'), 0o644); err != nil {
		fmt.Fprintf(stderr, "mvrun explore: %v\n", err)
		return exitInfra
	}
	// The seed's run report shows each curve on its property's section.
	for _, p := range rec.Failing {
		c := report.Curve{Property: p, Seed: rec.Seed, Record: filepath.Join(out, "explore.json")}
		for _, m := range rec.Moments {
			c.Points = append(c.Points, report.CurvePoint{AtNS: m.AtNS, Branches: m.Branches - m.Errors, Failing: m.Failing[p]})
		}
		if err := report.AddCurve(sd.Dir, c); err != nil {
			fmt.Fprintf(stderr, "mvrun explore: %v\n", err)
			return exitInfra
		}
	}
	if asJSON {
		stdout.Write(append(data, '\n'))
	} else {
		writeExploreTable(stdout, &rec)
		fmt.Fprintf(stdout, "\nBranches and their ids in %s; replay one with: mvrun replay %s --backend hv --seed %s\n", filepath.Join(out, "explore.json"), pos[0], rec.Branches[len(rec.Branches)-1].ID)
	}
	if htmlDir != "" {
		if err := writeExploreHTML(htmlDir, &rec); err != nil {
			fmt.Fprintf(stderr, "mvrun explore: %v\n", err)
			return exitInfra
		}
		if err := report.WriteHTML(htmlDir, doc); err != nil {
			fmt.Fprintf(stderr, "mvrun explore: --html: %v\n", err)
			return exitInfra
		}
		fmt.Fprintf(stderr, "mvrun explore: chart in %s; the seed's run report with the curve on each failing property: %s\n", filepath.Join(htmlDir, "explore.html"), filepath.Join(htmlDir, report.HTMLFile))
	}
	return exitOK
}

// exploreTrunk replays the seed once, recording, with a snapshot just
// before each moment, and returns the record (nil when no moment is late
// enough to gain from one). The replay must be the seed's: its trace hash
// is checked against the one the seed's run recorded (want), if any.
func exploreTrunk(ctx context.Context, b *hvbackend.Backend, t *specs.Test, seed uint64, want string, ats []time.Duration, dir string, log *slog.Logger, stderr io.Writer) (*hvbackend.Record, error) {
	var snaps []time.Duration
	for _, at := range ats {
		if at > hvbackend.SnapshotLead {
			snaps = append(snaps, at-hvbackend.SnapshotLead)
		}
	}
	if len(snaps) == 0 {
		return nil, nil
	}
	began := time.Now()
	var trunk *hvbackend.Record
	oc, err := runner.Run(ctx, runner.Options{Test: t, Backend: b.Recording(hvbackend.RecordOptions{Snapshots: snaps, Keep: func(r *hvbackend.Record) { trunk = r }}), Seeds: []uint64{seed}, Jobs: 1, Log: log, OutDir: dir})
	switch {
	case err != nil && oc == nil:
		return nil, fmt.Errorf("replaying the seed to snapshot it: %w", err)
	case len(oc.Seeds) != 1 || oc.Seeds[0].Err != nil:
		return nil, fmt.Errorf("replaying the seed to snapshot it: %v", oc.Seeds[0].Err)
	case trunk == nil:
		return nil, errors.New("replaying the seed to snapshot it: the replay kept no record")
	case want != "" && fmt.Sprintf("%016x", oc.Seeds[0].TraceHash) != want:
		return nil, fmt.Errorf("replaying the seed to snapshot it: trace hash %016x, but the seed's run recorded %s: the binaries or the spec changed since; record it again with mvrun test --seed %s --seeds 1", oc.Seeds[0].TraceHash, want, seeds.Format(seed))
	}
	fmt.Fprintf(stderr, "mvrun explore: replayed the seed once in %v, with %d snapshots (%d MiB) for the branches to resume from\n", time.Since(began).Round(time.Second), len(trunk.Snapshots()), trunk.Bytes()>>20)
	return trunk, nil
}

// writeExploreTable prints the failure rate of each property per moment.
func writeExploreTable(w io.Writer, r *exploreRecord) {
	fmt.Fprintf(w, "Seed %s of test %q: branches that still fail, per moment\n\n", r.Seed, r.Test)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "MOMENT\tBRANCHES")
	for _, p := range r.Failing {
		fmt.Fprintf(tw, "\t%s", p)
	}
	fmt.Fprintln(tw)
	for _, m := range r.Moments {
		fmt.Fprintf(tw, "%s\t%d", m.At, m.Branches)
		if m.Errors > 0 {
			fmt.Fprintf(tw, " (%d errors)", m.Errors)
		}
		for _, p := range r.Failing {
			ok := m.Branches - m.Errors
			fmt.Fprintf(tw, "\t%d/%d (%.0f%%)", m.Failing[p], ok, 100*float64(m.Failing[p])/float64(max(ok, 1)))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	if len(r.Failing) == 0 {
		fmt.Fprintln(w, "(no property failed in the seed itself: nothing to count)")
	}
}

// writeExploreHTML writes an SVG chart of each property's failure rate
// over the moments: the bug-probability-over-time curve.
func writeExploreHTML(dir string, r *exploreRecord) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	const w, h, pad = 640.0, 280.0, 40.0
	last := int64(1)
	for _, m := range r.Moments {
		last = max(last, m.AtNS)
	}
	type series struct {
		Name   string
		Color  string
		Points string
		Dots   []struct{ X, Y float64 }
	}
	colors := []string{"#c0392b", "#2471a3", "#1e8449", "#b9770e", "#7d3c98"}
	var ss []series
	for i, p := range r.Failing {
		s := series{Name: p, Color: colors[i%len(colors)]}
		var pts []string
		for _, m := range r.Moments {
			ok := max(m.Branches-m.Errors, 1)
			x := pad + (w-2*pad)*float64(m.AtNS)/float64(last)
			y := h - pad - (h-2*pad)*float64(m.Failing[p])/float64(ok)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
			s.Dots = append(s.Dots, struct{ X, Y float64 }{x, y})
		}
		s.Points = strings.Join(pts, " ")
		ss = append(ss, s)
	}
	type tick struct {
		X     float64
		Label string
	}
	var ticks []tick
	for _, m := range r.Moments {
		ticks = append(ticks, tick{pad + (w-2*pad)*float64(m.AtNS)/float64(last), m.At})
	}
	f, err := os.Create(filepath.Join(dir, "explore.html"))
	if err != nil {
		return err
	}
	err = exploreTmpl.Execute(f, map[string]any{"R": r, "S": ss, "Ticks": ticks, "W": w, "H": h, "Pad": pad, "Bottom": h - pad, "Right": w - pad, "Top": pad})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

var exploreTmpl = template.Must(template.New("explore").Parse(`<!doctype html>
<meta charset="utf-8"><title>mvrun explore: seed {{.R.Seed}}</title>
<style>body{font-family:sans-serif;margin:2em} td,th{padding:2px 8px;text-align:left}</style>
<h1>Seed {{.R.Seed}} of test {{.R.Test}}</h1>
<p>Share of branches that still fail, by the moment their future was redrawn. A sharp rise is the moment of no return.</p>
<svg width="{{.W}}" height="{{.H}}" role="img" aria-label="failure rate over moments">
<line x1="{{.Pad}}" y1="{{.Bottom}}" x2="{{.Right}}" y2="{{.Bottom}}" stroke="#444"/>
<line x1="{{.Pad}}" y1="{{.Top}}" x2="{{.Pad}}" y2="{{.Bottom}}" stroke="#444"/>
<text x="4" y="{{.Top}}" font-size="11">100%</text><text x="14" y="{{.Bottom}}" font-size="11">0%</text>
{{range .Ticks}}<text x="{{.X}}" y="{{$.H}}" font-size="11" text-anchor="middle" dy="-20">{{.Label}}</text>{{end}}
{{range .S}}<polyline fill="none" stroke="{{.Color}}" stroke-width="2" points="{{.Points}}"/>{{$c := .Color}}{{range .Dots}}<circle cx="{{.X}}" cy="{{.Y}}" r="3" fill="{{$c}}"/>{{end}}{{end}}
</svg>
<table><tr><th>property</th></tr>{{range .S}}<tr><td style="color:{{.Color}}">{{.Name}}</td></tr>{{end}}</table>
<table><tr><th>moment</th><th>branches</th><th>failing</th></tr>{{range .R.Moments}}<tr><td>{{.At}}</td><td>{{.Branches}}</td><td>{{range $p, $n := .Failing}}{{$p}}: {{$n}} {{end}}</td></tr>{{end}}</table>
`))
