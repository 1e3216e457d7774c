package report

import (
	"fmt"
	"html"
	"html/template"
	"strings"
	"time"
)

// CurveFile is the file in a seed's directory where `mvrun explore`
// records, per property the seed fails, its bug-probability curve: from
// moments of the seed, how many branches (futures redrawn there) still
// failed it. The HTML report shows the curve on the property's section,
// whenever it is written after the exploration.
const CurveFile = "curve.json"

// Curve is one property's bug-probability curve over a seed's moments.
type Curve struct {
	Property string       `json:"property"`
	Seed     string       `json:"seed"`
	Points   []CurvePoint `json:"points"`
	// Record is the exploration's explore.json, every branch with its id.
	Record string `json:"record,omitempty"`
}

// CurvePoint is one moment of a curve: Branches futures that ran to the
// end (branches that failed to run are left out), Failing of which still
// failed the property.
type CurvePoint struct {
	AtNS     int64 `json:"at_ns"`
	Branches int   `json:"branches"`
	Failing  int   `json:"failing"`
}

// ReadCurves reads a seed directory's curve.json; none is no error.
func ReadCurves(seedDir string) ([]Curve, error) { return readList[Curve](seedDir, CurveFile) }

// AddCurve records c in a seed directory's curve.json, replacing an
// earlier curve of the same property.
func AddCurve(seedDir string, c Curve) error {
	return addByProperty(seedDir, CurveFile, c, func(x Curve) string { return x.Property })
}

// propertyCurve returns the first curve recorded for property p in one of
// its failing seeds.
func (d *Document) propertyCurve(p PropertyDoc) *Curve {
	c, _ := firstForProperty(d, p, ReadCurves, func(c Curve) string { return c.Property })
	return c
}

// SVG draws the curve: the share of branches still failing (0–100%) at
// each moment, on a time axis from 0 to the last moment.
func (c *Curve) SVG() template.HTML {
	const w, h, pad = 520.0, 180.0, 36.0
	last := int64(1)
	for _, p := range c.Points {
		last = max(last, p.AtNS)
	}
	x := func(at int64) float64 { return pad + (w-2*pad)*float64(at)/float64(last) }
	y := func(p CurvePoint) float64 {
		return h - pad - (h-2*pad)*float64(p.Failing)/float64(max(p.Branches, 1))
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="curve" width="%.0f" height="%.0f" role="img" aria-label="share of branches still failing, by moment">`, w, h)
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#444"/>`, pad, h-pad, w-pad, h-pad)
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#444"/>`, pad, pad, pad, h-pad)
	fmt.Fprintf(&b, `<text x="2" y="%.0f" font-size="11">100%%</text><text x="12" y="%.0f" font-size="11">0%%</text>`, pad+4, h-pad)
	var pts []string
	for _, p := range c.Points {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p.AtNS), y(p)))
	}
	fmt.Fprintf(&b, `<polyline fill="none" stroke="#c33" stroke-width="2" points="%s"/>`, strings.Join(pts, " "))
	for _, p := range c.Points {
		at := time.Duration(p.AtNS).String()
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="#c33"><title>%s: %d of %d branches fail</title></circle>`, x(p.AtNS), y(p), html.EscapeString(at), p.Failing, p.Branches)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" font-size="10" text-anchor="middle">%s</text>`, x(p.AtNS), h-pad+14, html.EscapeString(at))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // numbers and escaped moments only
}
