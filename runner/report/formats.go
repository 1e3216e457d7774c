package report

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/mvrun/multiverse/assertions"
)

// WriteJSON writes d as one indented JSON document.
func WriteJSON(w io.Writer, d *Document) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(d)
}

// JUnit XML shapes, as CI systems (Jenkins, GitLab, GitHub test reporters)
// read them.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  *cdata          `xml:"system-out,omitempty"`
}

type cdata struct {
	Text string `xml:",cdata"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Error     *junitFailure `xml:"error,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
}

// junitSkipped marks a property an interrupted run could not decide.
type junitSkipped struct {
	Message string `xml:"message,attr"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",cdata"`
}

// WriteJUnit writes d as JUnit XML: one testsuite for the test, one
// testcase per property. A failing property's failure message is its reason
// and replay command; the body adds the first counterexample and the
// failing seeds. Seeds that could not run count as errors.
func WriteJUnit(w io.Writer, d *Document) error {
	secs := fmt.Sprintf("%.3f", float64(d.ElapsedMS)/1000)
	s := junitSuite{
		Name: "mvrun." + d.Test, Tests: len(d.Properties), Time: secs,
		Properties: []junitProperty{
			{"backend", d.Backend}, {"base_seed", d.BaseSeed}, {"spec", d.Spec},
			{"seeds_run", fmt.Sprint(d.SeedsRun)}, {"artifacts", d.Artifacts},
		},
	}
	for _, p := range d.Properties {
		c := junitCase{Name: p.ID, Classname: "mvrun." + d.Test + "." + classOf(p), Time: "0"}
		if p.Verdict == assertions.Undecided {
			s.Skipped++
			c.Skipped = &junitSkipped{Message: p.Reason}
		}
		if p.Verdict == assertions.Fail {
			s.Failures++
			msg := p.Reason
			if p.Replay != "" {
				msg += "; replay: " + p.Replay
			}
			var b strings.Builder
			fmt.Fprintf(&b, "%s\n", p.Reason)
			if ce := p.FirstCounterexample; ce != nil {
				var fs []string
				for _, f := range ce.facts() {
					fs = append(fs, f.Label+" "+f.Value)
				}
				fmt.Fprintf(&b, "first counterexample: %s\n", strings.Join(fs, ", "))
				if len(ce.Details) > 0 {
					if j, err := json.Marshal(ce.Details); err == nil {
						fmt.Fprintf(&b, "details: %s\n", j)
					}
				}
			}
			if len(p.FailingSeeds) > 0 {
				fmt.Fprintf(&b, "failing seeds (%d): %s\n", len(p.FailingSeeds), seedList(p.FailingSeeds, 20))
			}
			if p.Replay != "" {
				fmt.Fprintf(&b, "replay: %s\n", p.Replay)
			}
			if p.Visualization != "" {
				fmt.Fprintf(&b, "history visualization: %s\n", p.Visualization)
			}
			c.Failure = &junitFailure{Message: msg, Type: typeText(p), Text: b.String()}
		}
		if p.Verdict == assertions.Unknown {
			// Undecided is not a pass: an error, so CI does not go green.
			s.Errors++
			msg := "undecided: " + p.Reason
			if p.Replay != "" {
				msg += "; replay: " + p.Replay
			}
			text := msg + "\nundecided seeds: " + seedList(p.UnknownSeeds, 20) + "\n"
			c.Error = &junitFailure{Message: msg, Type: typeText(p), Text: text}
		}
		s.Cases = append(s.Cases, c)
	}
	var out strings.Builder
	for _, e := range d.SeedErrors() {
		s.Errors++
		fmt.Fprintf(&out, "seed %s could not run: %s\n", e.Seed, e.Error)
	}
	for _, u := range d.Unsupported {
		fmt.Fprintf(&out, "unsupported fault: %s\n", u)
	}
	if d.MalformedTotal > 0 {
		fmt.Fprintf(&out, "malformed SDK lines: %d\n", d.MalformedTotal)
	}
	if d.Cancelled {
		fmt.Fprintf(&out, "interrupted: %d of %d seeds ran\n", d.SeedsRun, d.SeedsPlanned)
	}
	if out.Len() > 0 {
		s.SystemOut = &cdata{out.String()}
	}
	doc := junitSuites{Name: "mvrun", Tests: s.Tests, Failures: s.Failures, Errors: s.Errors, Time: secs, Suites: []junitSuite{s}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func classOf(p PropertyDoc) string {
	if p.Type == assertions.TypeCheck {
		return "check"
	}
	if p.Builtin {
		return "builtin"
	}
	if p.Type == "" {
		return "property"
	}
	return p.Type.String()
}
