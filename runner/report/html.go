package report

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mvrun/multiverse/assertions"
	"github.com/mvrun/multiverse/runner"
)

// HTMLFile is the run page [WriteHTML] writes; each seed that has a page
// gets seed-<16 hex digits>.html beside it.
const HTMLFile = "index.html"

// The pages' templates, style sheet and script. Each page carries the style
// and script inline, so a page works on its own: from file://, from a CI
// artifact viewer that serves single files, and with no network.
//
//go:embed assets
var assets embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	// upper takes strings and typed values alike (a Verdict prints
	// through its String method).
	"upper": func(v any) string { return strings.ToUpper(fmt.Sprint(v)) },
	"type":  typeText,
	"json": func(v any) string {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	},
	"seeds": func(ss []string) string { return seedList(ss, 20) },
	"dur":   func(ns int64) string { return time.Duration(ns).String() },
	"css":   func() template.CSS { return template.CSS(asset("assets/report.css")) },
	"js":    func() template.JS { return template.JS(asset("assets/report.js")) },
}).ParseFS(assets, "assets/*.tmpl"))

func asset(name string) string {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(err) // embedded at build time: cannot happen
	}
	return string(b)
}

// HTMLOptions says what [WriteHTMLWith] writes.
type HTMLOptions struct {
	// AllSeeds writes a page for every seed; by default only seeds where a
	// property failed, that timed out, or that could not run get one.
	AllSeeds bool
}

// WriteHTML writes d as static pages in dir: index.html for the run and a
// page per failing seed. Links to the seeds' artifacts are relative, so dir
// and the artifacts can be zipped together and opened anywhere.
func WriteHTML(dir string, d *Document) error {
	return WriteHTMLWith(dir, d, HTMLOptions{})
}

// WriteHTMLWith is [WriteHTML] with options.
func WriteHTMLWith(dir string, d *Document, o HTMLOptions) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	rp := &runPage{Doc: d}
	for i, p := range d.Properties {
		rp.Props = append(rp.Props, propRow{N: i + 1, P: p, Anchor: propAnchor(p.ID)})
	}
	failingIn := map[string]map[string]bool{} // property id -> failing seeds
	for _, p := range d.Properties {
		m := map[string]bool{}
		for _, s := range p.FailingSeeds {
			m[s] = true
		}
		failingIn[p.ID] = m
	}
	var hist []failureAt
	for i := range d.Seeds {
		sd := &d.Seeds[i]
		st, lerr := loadTimeline(sd.Dir)
		if lerr != nil {
			st = nil
		}
		page := o.AllSeeds || len(sd.Failing) > 0 || sd.Error != "" || sd.TimedOut
		row := seedRow{S: sd, Artifacts: relLink(absDir, sd.Dir, "")}
		if page {
			row.Page = seedPageName(sd.Seed)
		}
		row.Kinds, row.Params = swarmText(sd.FaultParams, st)
		reached := st.reached()
		for _, pr := range rp.Props {
			c := cell{Title: pr.P.ID}
			switch {
			case sd.Error != "":
				c.Class, c.Sym, c.Title = "na", "–", "seed could not run"
			case failingIn[pr.P.ID][sd.Seed]:
				c.Class, c.Sym = "fail", "✗"
				if !pr.P.Builtin && !reached[pr.P.ID] {
					c.Sym = "∅"
					c.Title += ": failing, never reached in this seed"
				} else {
					c.Title += ": failing in this seed"
				}
				if row.Page != "" {
					c.Href = row.Page + "#" + pr.Anchor
				}
				if j := st.firstFailure(pr.P.ID); j >= 0 {
					hist = append(hist, failureAt{st.recs[j].AtNS, pr.P.ID, sd.Seed})
				}
			case pr.P.Builtin || reached[pr.P.ID]:
				c.Class, c.Sym = "pass", "✓"
				c.Title += ": holds in this seed"
			case st == nil:
				c.Class, c.Sym = "pass", "✓"
				c.Title += ": holds in this seed (no timeline recorded to tell whether it was reached)"
			default:
				c.Class, c.Sym = "nr", "·"
				c.Title += ": not reached in this seed"
			}
			row.Cells = append(row.Cells, c)
		}
		rp.Seeds = append(rp.Seeds, row)
		if page {
			if err := writeSeedPage(absDir, d, sd, st); err != nil {
				return err
			}
		}
	}
	for i := range rp.Props {
		pr := &rp.Props[i]
		if sd := d.firstFailingSeed(pr.P); sd != nil && pr.P.Verdict == assertions.Fail {
			pr.SeedPage = seedPageName(sd.Seed) + "#" + pr.Anchor
			pr.Timeline = relLink(absDir, sd.Dir, runner.TimelineFile)
		}
		if ce := pr.P.FirstCounterexample; ce != nil {
			pr.Facts = ce.facts()
		}
		if pr.P.Verdict == "fail" {
			if pr.Causes, pr.CausesSeed = d.propertyCauses(pr.P); pr.Causes != nil {
				pr.CausesReplay = d.ReplayCommand(shellQuote(pr.Causes.Minimal))
			}
			pr.Curve = d.propertyCurve(pr.P)
		}
	}
	rp.Hist, rp.HistNote = histogram(hist, d)
	return writePage(filepath.Join(absDir, HTMLFile), "run.html.tmpl", rp)
}

func writePage(path, tmpl string, data any) error {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, tmpl, data); err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	return nil
}

// runPage is what run.html.tmpl shows.
type runPage struct {
	Doc      *Document
	Props    []propRow
	Seeds    []seedRow
	Hist     template.HTML
	HistNote string
}

type propRow struct {
	N        int
	P        PropertyDoc
	Anchor   string
	SeedPage string // the first failing seed's page at the failure
	Timeline string // its timeline.txt
	Facts    []fact
	// Causes is what `mvrun shrink` recorded for the property in
	// CausesSeed, and CausesReplay the command replaying its minimal id.
	Causes       *Causes
	CausesSeed   string
	CausesReplay string
	// Curve is the bug-probability curve `mvrun explore` recorded for the
	// property in one of its failing seeds.
	Curve *Curve
}

type seedRow struct {
	S         *SeedDoc
	Page      string
	Artifacts string
	Kinds     []kindOn
	Params    string
	Cells     []cell
}

type kindOn struct {
	Kind string
	On   bool
}

type cell struct {
	Class, Sym, Href, Title string
}

// swarmText returns which fault kinds a seed had on, and all its fault
// parameters as one line, from its record or else its timeline.
func swarmText(params map[string]string, st *seedTimeline) ([]kindOn, string) {
	if params == nil {
		params = st.params()
	}
	var kinds []kindOn
	var all []string
	for _, k := range slices.Sorted(maps.Keys(params)) {
		all = append(all, k+" = "+params[k])
		// A kind's own key is "on" or says why it is off ("off (swarm)").
		if !strings.Contains(k, ".") && k != "swarm" && k != "quiet" {
			kinds = append(kinds, kindOn{k, params[k] == "on"})
		}
	}
	return kinds, strings.Join(all, "\n")
}

// relLink returns a relative URL from dir to target/name, or a file URL
// when there is no relative path (another volume).
func relLink(dir, target, name string) string {
	if target == "" {
		return ""
	}
	if name != "" {
		target = filepath.Join(target, name)
	}
	rel, err := filepath.Rel(dir, target)
	if err != nil {
		return (&url.URL{Scheme: "file", Path: filepath.ToSlash(target)}).String()
	}
	parts := strings.Split(filepath.ToSlash(rel), "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// failureAt is a property's first failing evaluation in a seed.
type failureAt struct {
	at         int64
	prop, seed string
}

// histBins is how many bars the failures-over-time histogram has.
const histBins = 24

// histogram draws, as inline SVG, when in their seeds the properties first
// failed: one bar per slice of cluster time, counting (seed, property)
// pairs. The note counts failures with no time (never reached, or judged at
// the end of the seed).
func histogram(fs []failureAt, d *Document) (template.HTML, string) {
	total := 0
	for _, p := range d.Properties {
		total += len(p.FailingSeeds)
	}
	note := ""
	if n := total - len(fs); n > 0 {
		note = fmt.Sprintf("%d failing (seed, property) pairs have no time (never reached, or judged when the seed ended) and are not shown.", n)
	}
	if len(fs) == 0 {
		return "", note
	}
	var end int64
	for _, f := range fs {
		end = max(end, f.at)
	}
	end = max(end, int64(time.Second))
	var bins [histBins][]failureAt
	for _, f := range fs {
		i := min(int(f.at*histBins/(end+1)), histBins-1)
		bins[i] = append(bins[i], f)
	}
	top := 1
	for _, b := range bins {
		top = max(top, len(b))
	}
	const w, h, left, bottom = 720, 120, 30, 20
	bw := float64(w-left) / histBins
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="hist" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="failures over time">`, w, h+bottom, w, h+bottom)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" class="axis"/>`, left, h, w, h)
	fmt.Fprintf(&b, `<text x="%d" y="12" class="lbl" text-anchor="end">%d</text>`, left-4, top)
	for i, bin := range bins {
		from, to := end*int64(i)/histBins, end*int64(i+1)/histBins
		if len(bin) > 0 {
			bh := float64(h-16) * float64(len(bin)) / float64(top)
			var tip strings.Builder
			fmt.Fprintf(&tip, "%d failing from %s to %s:", len(bin), fmtAtNS(from), fmtAtNS(to))
			for j, f := range bin {
				if j == 10 {
					fmt.Fprintf(&tip, "\n… %d more", len(bin)-10)
					break
				}
				fmt.Fprintf(&tip, "\n%s in seed %s", f.prop, f.seed)
			}
			fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s</title></rect>`,
				float64(left)+float64(i)*bw+1, float64(h)-bh, bw-2, bh, template.HTMLEscapeString(tip.String()))
		}
		if i%6 == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="lbl">%s</text>`, float64(left)+float64(i)*bw, h+14, fmtAtNS(from))
		}
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="lbl" text-anchor="end">%s</text></svg>`, w, h+14, fmtAtNS(end))
	return template.HTML(b.String()), note
}

// seedPage is what seed.html.tmpl shows.
type seedPage struct {
	Doc    *Document
	S      *SeedDoc
	Replay string
	// Go is `mvrun debug … --at event:` for hv seeds, which replay
	// exactly: each log row completes it with its entry number.
	Go       string
	Axis     string
	Failing  []failingProp
	Kinds    []kindOn
	Params   string
	Links    []link
	Rows     []logRow
	Dropped  int
	NodesF   []string // filter choices
	KindsF   []string
	Outputs  []nodeOutput
	Data     template.JS
	NoRecord bool
	Cover    *coverView // coverage counters over time (coverage.go); nil without
}

type failingProp struct {
	ID, Anchor, Row, At string
	P                   *PropertyDoc
}

type link struct{ Name, Href, Note string }

type logRow struct {
	ID, At, Kind, Who, Node, Text, Class string
	AtMS                                 float64
	Anchors                              []string
	Event                                int // 1-based entry of timeline.jsonl; 0 for the report's own notes
}

type nodeOutput struct {
	Name, Href string
	Lines      []outLine
	Skipped    int
}

type outLine struct{ ID, Text string }

// Bounds that keep a seed page quick to load; the files they cut stay
// linked.
const (
	maxLogRows    = 20_000
	maxOutLines   = 300 // per node output file: the last ones
	maxOutLineLen = 2000
)

func writeSeedPage(dir string, d *Document, sd *SeedDoc, st *seedTimeline) error {
	sp := &seedPage{Doc: d, S: sd, Replay: d.ReplayCommand(sd.Seed), NoRecord: st == nil}
	sp.Axis = "wall-clock time since the cluster was created"
	if sd.TraceHash != "" || d.Backend == "hv" {
		sp.Axis = "virtual time (hv): the same on every replay of the seed"
	}
	if sd.TraceHash != "" {
		sp.Go = d.debugPrefix(sd.Seed)
	}
	sp.Kinds, sp.Params = swarmText(sd.FaultParams, st)
	anchors := map[int][]string{}
	failing := map[int]bool{}
	for _, id := range sd.Failing {
		fp := failingProp{ID: id, Anchor: propAnchor(id)}
		for i := range d.Properties {
			if d.Properties[i].ID == id {
				fp.P = &d.Properties[i]
			}
		}
		if j := st.firstFailure(id); j >= 0 && j < maxLogRows {
			fp.Row, fp.At = rowAnchor(j), fmtAtNS(st.recs[j].AtNS)
			anchors[j] = append(anchors[j], fp.Anchor)
			failing[j] = true
			fp.Anchor = "" // the log row carries it
		}
		sp.Failing = append(sp.Failing, fp)
	}
	nodes, kinds := map[string]bool{}, map[string]bool{}
	if st != nil {
		for i, r := range st.recs {
			if i == maxLogRows {
				sp.Dropped = len(st.recs) - maxLogRows
				break
			}
			node := r.Node
			if node == "" {
				node = r.Who
				if r.Kind == runner.TLNote || r.Kind == runner.TLPhase {
					node = "runner"
				}
				if r.Kind == runner.TLCmdStart || r.Kind == runner.TLCmdEnd {
					node = r.Service
				}
				if r.Kind == runner.TLFault || r.Kind == runner.TLPlan {
					node = "faults"
				}
			}
			kind := r.Kind
			if kind == runner.TLCmdStart || kind == runner.TLCmdEnd {
				kind = "workload"
			}
			cls := ""
			switch {
			case failing[i]:
				cls = "bad first"
			case st.asserts[i] != nil && st.asserts[i].bad() && st.asserts[i].AssertType != assertions.TypeSometimes:
				cls = "bad"
			case r.Kind == runner.TLNode && r.Event == "exit" && !r.Expected:
				cls = "bad"
			case r.Kind == runner.TLCmdEnd && r.Result == "fail":
				cls = "bad"
			case r.Kind == runner.TLFault && r.Outcome != "ok":
				cls = "warn"
			}
			text := r.Text
			if a := st.asserts[i]; a != nil {
				text = strings.ReplaceAll(assertText(a, r, r.AtNS), "\n", " · ")
			}
			nodes[node], kinds[kind] = true, true
			ev := i + 1
			if i == st.cut {
				ev = 0
			}
			sp.Rows = append(sp.Rows, logRow{ID: rowAnchor(i), At: fmtAtNS(r.AtNS), AtMS: ms(r.AtNS), Kind: kind, Who: r.Who, Node: node,
				Text: cut(text, 4000), Class: cls, Anchors: anchors[i], Event: ev})
		}
	}
	sp.NodesF = slices.Sorted(maps.Keys(nodes))
	sp.KindsF = slices.Sorted(maps.Keys(kinds))
	data := buildTimeline(st, sp.Axis, func(i int) bool { return i < maxLogRows }, failing)
	j, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	sp.Data = template.JS(j)
	sp.Links, sp.Outputs = artifactLinks(dir, sd)
	sp.Cover = readCoverView(sd.Dir)
	return writePage(filepath.Join(dir, seedPageName(sd.Seed)), "seed.html.tmpl", sp)
}

// artifactLinks lists a seed's artifact files, relative to dir, and reads
// the tail of each node's output.
func artifactLinks(dir string, sd *SeedDoc) ([]link, []nodeOutput) {
	var links []link
	add := func(rel, note string) {
		if fi, err := os.Stat(filepath.Join(sd.Dir, rel)); err == nil && !fi.IsDir() {
			links = append(links, link{rel, relLink(dir, sd.Dir, rel), note + fmt.Sprintf(" (%s)", size(fi.Size()))})
		}
	}
	add(runner.TimelineFile, "everything, merged in time order")
	add(runner.FaultsFile, "the fault plan and applied actions")
	add(runner.WorkloadFile, "workload command starts and ends")
	add(runner.EventsFile, "every SDK line")
	add(runner.TimelineJSONFile, "the timeline as JSON")
	add(runner.CoverageFile, "coverage counter reads (hv)")
	if sd.TraceLog != "" {
		if rel, err := filepath.Rel(sd.Dir, sd.TraceLog); err == nil {
			add(rel, "hv trace milestones")
		}
	}
	for _, sub := range []string{"workload", "sdk"} {
		ents, _ := os.ReadDir(filepath.Join(sd.Dir, sub))
		for _, e := range ents {
			if !e.IsDir() {
				add(sub+"/"+e.Name(), map[string]string{"workload": "a command's stdout and stderr", "sdk": "raw SDK output"}[sub])
			}
		}
	}
	var outs []nodeOutput
	ents, _ := os.ReadDir(filepath.Join(sd.Dir, "nodes"))
	for _, e := range ents {
		if e.IsDir() || !(strings.HasSuffix(e.Name(), ".stdout") || strings.HasSuffix(e.Name(), ".stderr")) {
			continue
		}
		rel := "nodes/" + e.Name()
		add(rel, "node output")
		lines, skipped := tail(filepath.Join(sd.Dir, rel), maxOutLines)
		if len(lines) == 0 {
			continue
		}
		no := nodeOutput{Name: e.Name(), Href: relLink(dir, sd.Dir, rel), Skipped: skipped}
		base := strings.NewReplacer(".", "-").Replace(e.Name())
		for i, l := range lines {
			no.Lines = append(no.Lines, outLine{fmt.Sprintf("O-%s-%d", base, skipped+i+1), cut(l, maxOutLineLen)})
		}
		outs = append(outs, no)
	}
	return links, outs
}

// tail returns the last n lines of a file and how many came before them.
func tail(path string, n int) ([]string, int) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var ring []string
	total := 0
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			total++
			ring = append(ring, strings.TrimRight(line, "\r\n"))
			if len(ring) > n {
				ring = ring[1:]
			}
		}
		if err == io.EOF || err != nil {
			break
		}
	}
	return ring, total - len(ring)
}

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
