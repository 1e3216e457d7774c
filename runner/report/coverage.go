package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"strings"

	"github.com/mvrun/multiverse/runner"
)

// coverView is the seed page's coverage section, from the seed's
// coverage.jsonl: the counters each node's programs hit over time, and
// the nodes whose programs have none.
type coverView struct {
	Chart   template.HTML
	Series  []coverSeries
	Without []coverWithout
}

// coverSeries is one node's program: its counters hit over time.
type coverSeries struct {
	Node, Program string
	Class         string // the line's colour in the chart
	Hit           int    // counters hit by the seed's end
	Features      int    // (counter, bucket) pairs reached
	Reads         int
	LastNew       string // time of the last read that reached a new pair
	points        [][2]int64
}

type coverWithout struct{ Node, Why string }

// maxCoverLines bounds the chart's lines; the table lists every series.
const maxCoverLines = 8

// readCoverView reads dir's coverage.jsonl; nil when the seed has none
// (backends other than hv, or an older mvrun).
func readCoverView(dir string) *coverView {
	f, err := os.Open(filepath.Join(dir, runner.CoverageFile))
	if err != nil {
		return nil
	}
	defer f.Close()
	v := &coverView{}
	byKey := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var r runner.CoverageRecord
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		if r.Without != "" {
			v.Without = append(v.Without, coverWithout{r.Node, r.Without})
			continue
		}
		key := r.Node + "\x00" + r.Program
		i, ok := byKey[key]
		if !ok {
			i = len(v.Series)
			byKey[key] = i
			v.Series = append(v.Series, coverSeries{Node: r.Node, Program: r.Program, Class: fmt.Sprintf("c%d", i%maxCoverLines)})
		}
		s := &v.Series[i]
		s.Reads++
		s.Hit = r.Hit
		s.Features += len(r.New)
		if len(r.New) > 0 {
			s.LastNew = fmtAtNS(r.AtNS)
		}
		s.points = append(s.points, [2]int64{r.AtNS, int64(r.Hit)})
	}
	if len(v.Series) == 0 && len(v.Without) == 0 {
		return nil
	}
	v.Chart = coverChart(v.Series)
	return v
}

// coverChart draws counters hit over virtual time, one step line per node
// and program (the first maxCoverLines of them).
func coverChart(series []coverSeries) template.HTML {
	if len(series) == 0 {
		return ""
	}
	const w, h, left, bottom, top = 720, 160, 44, 18, 6
	var end, most int64 = 1, 1
	for _, s := range series {
		for _, p := range s.points {
			end, most = max(end, p[0]), max(most, p[1])
		}
	}
	x := func(t int64) float64 { return left + float64(w-left-4)*float64(t)/float64(end) }
	y := func(n int64) float64 { return top + float64(h-top)*(1-float64(n)/float64(most)) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="cov" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="coverage counters hit over time">`, w, h+bottom, w, h+bottom)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" class="axis"/>`, left, h, w, h)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" class="axis"/>`, left, top, left, h)
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="lbl" text-anchor="end">%d</text>`, left-4, top+10, most)
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="lbl" text-anchor="end">0</text>`, left-4, h)
	for i, s := range series {
		if i == maxCoverLines {
			break
		}
		var pts strings.Builder
		fmt.Fprintf(&pts, "%.1f,%.1f", x(0), y(0))
		prev := int64(0)
		for _, p := range s.points {
			// A step: the count holds until the read that raised it.
			fmt.Fprintf(&pts, " %.1f,%.1f %.1f,%.1f", x(p[0]), y(prev), x(p[0]), y(p[1]))
			prev = p[1]
		}
		fmt.Fprintf(&b, `<polyline class="line %s" points="%s"><title>%s (%s): %d counters hit</title></polyline>`,
			s.Class, pts.String(), template.HTMLEscapeString(s.Node), template.HTMLEscapeString(s.Program), s.Hit)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="lbl">0s</text>`, left, h+14)
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="lbl" text-anchor="end">%s</text></svg>`, w, h+14, fmtAtNS(end))
	return template.HTML(b.String())
}
