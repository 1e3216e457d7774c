package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCausesOnPropertySection records a shrink's causes in the failing
// seed's directory, as mvrun shrink does, and checks that the HTML report
// shows them on the failing property's section and nowhere else.
func TestCausesOnPropertySection(t *testing.T) {
	oc := fixture(t)
	seedDir := t.TempDir()
	oc.Seeds[1].Dir = seedDir // seed 0xbeef fails "balance never negative"
	d := FromOutcome(oc, Options{Spec: "spec.hcl"})
	c := Causes{
		Property: "balance never negative", Start: "0x000000000000beef", Minimal: "0x000000000000beef~d0.2",
		Faults: 3, Schedule: []string{"kill bank1 at 1s for 1s"},
		Causes: []Cause{{What: "kill bank1 at 1s for 1s (cluster time)", Necessary: true, Without: "0x000000000000beef~d0.1.2"}},
	}
	if err := AddCauses(seedDir, Causes{Property: c.Property, Minimal: "an earlier shrink"}); err != nil {
		t.Fatal(err)
	}
	if err := AddCauses(seedDir, c); err != nil {
		t.Fatal(err)
	}
	if err := AddCauses(seedDir, Causes{Property: "another property", Minimal: "0x1"}); err != nil {
		t.Fatal(err)
	}
	cs, err := ReadCauses(seedDir)
	if err != nil || len(cs) != 2 || cs[1].Minimal != c.Minimal {
		t.Fatalf("causes.json holds %+v (%v); want the later record of the property and the other one", cs, err)
	}
	if n := len(cs[1].Necessary()); n != 1 {
		t.Fatalf("%d necessary causes, want 1", n)
	}

	dir := t.TempDir()
	if err := WriteHTML(dir, d); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	start := strings.Index(page, `id="`+propAnchor(c.Property)+`"`)
	if start < 0 {
		t.Fatal("no section for the failing property")
	}
	section := page[start:]
	section = section[:strings.Index(section, "</section>")]
	for _, want := range []string{
		"kept 1 of 3 faults",
		"kill bank1 at 1s for 1s</li>",
		"<strong>necessary</strong>",
		"0x000000000000beef~d0.1.2",
		"mvrun replay spec.hcl --seed &#39;0x000000000000beef~d0.2&#39;",
	} {
		if !strings.Contains(section, want) {
			t.Errorf("the property's section lacks %q:\n%s", want, section)
		}
	}
	if strings.Count(page, `class="causes"`) != 1 {
		t.Errorf("causes shown %d times, want once (only the failing property recorded)", strings.Count(page, `class="causes"`))
	}
}

// TestCurveOnPropertySection records an exploration's curve in the failing
// seed's directory, as mvrun explore does, and checks that the HTML report
// draws it on the failing property's section: a point per moment at its
// share of failing branches.
func TestCurveOnPropertySection(t *testing.T) {
	oc := fixture(t)
	seedDir := t.TempDir()
	oc.Seeds[1].Dir = seedDir // seed 0xbeef fails "balance never negative"
	d := FromOutcome(oc, Options{Spec: "spec.hcl"})
	c := Curve{Property: "balance never negative", Seed: "0x000000000000beef", Record: "/x/explore.json", Points: []CurvePoint{
		{AtNS: 0, Branches: 10, Failing: 1}, {AtNS: 2e9, Branches: 10, Failing: 9}, {AtNS: 4e9, Branches: 9, Failing: 9},
	}}
	if err := AddCurve(seedDir, Curve{Property: c.Property, Seed: "an earlier exploration"}); err != nil {
		t.Fatal(err)
	}
	if err := AddCurve(seedDir, c); err != nil {
		t.Fatal(err)
	}
	cs, err := ReadCurves(seedDir)
	if err != nil || len(cs) != 1 || len(cs[0].Points) != 3 {
		t.Fatalf("curve.json holds %+v (%v); want the later curve only", cs, err)
	}
	dir := t.TempDir()
	if err := WriteHTML(dir, d); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	start := strings.Index(page, `id="`+propAnchor(c.Property)+`"`)
	if start < 0 {
		t.Fatal("no section for the failing property")
	}
	section := page[start:]
	section = section[:strings.Index(section, "</section>")]
	// The SVG is 520×180 with a 36 px margin: x = 36 + 448·at/4s, y = 144 − 108·share.
	for _, want := range []string{
		"Bug probability over time",
		`points="36.0,133.2 260.0,46.8 484.0,36.0"`,
		"<title>2s: 9 of 10 branches fail</title>",
		"<td>4s</td><td>9 of 9</td>",
		"/x/explore.json",
	} {
		if !strings.Contains(section, want) {
			t.Errorf("the property's section lacks %q:\n%s", want, section)
		}
	}
	if strings.Count(page, "Bug probability over time") != 1 {
		t.Errorf("the curve is shown %d times, want once", strings.Count(page, "Bug probability over time"))
	}
}
