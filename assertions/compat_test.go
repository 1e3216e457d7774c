package assertions

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const (
	antithesisImport = "github.com/antithesishq/antithesis-sdk-go/"
	mvrunImport      = "github.com/mvrun/multiverse/sdk/"
)

// TestCompatProgramsMatch keeps the two compat programs identical apart
// from their import paths and the doc comment naming them.
func TestCompatProgramsMatch(t *testing.T) {
	body := func(dir string) string {
		b, err := os.ReadFile(filepath.Join("testdata", "compat", dir, "main.go"))
		if err != nil {
			t.Fatal(err)
		}
		s := strings.ReplaceAll(string(b), antithesisImport, mvrunImport)
		_, rest, _ := strings.Cut(s, "\n// Run with")
		return rest
	}
	if a, m := body("antithesis"), body("mvrun"); a == "" || a != m {
		t.Fatal("testdata/compat/antithesis/main.go and testdata/compat/mvrun/main.go differ beyond their imports")
	}
}

// TestCompatWithAntithesisSDK runs the same program built with each
// Antithesis Go SDK version under testdata/compat (a module per version,
// sdk-vX.Y.Z, with its go.mod and go.sum) and once with ours, twice each
// (runs "a" and "b" stand for seeds 1 and 2), and requires the same
// verdicts and the same antithesis_assert objects. Building against the
// older versions needs the module proxy, or the versions in the module
// cache.
func TestCompatWithAntithesisSDK(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Go programs; skipped with -short")
	}
	// go test puts its own toolchain's bin directory first in PATH.
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the compat programs: ", err)
	}
	versions, err := filepath.Glob(filepath.Join("testdata", "compat", "sdk-v*"))
	if err != nil || len(versions) < 2 {
		t.Fatalf("want a module per Antithesis SDK version under testdata/compat (v0.8.0 and v0.9.0 at least), found %q (%v)", versions, err)
	}
	dir := t.TempDir()
	build := func(t *testing.T, bin, moduleDir, pkg string) {
		t.Helper()
		cmd := exec.Command(goBin, "build", "-o", bin, pkg)
		cmd.Dir = moduleDir
		// Static, as services in FROM-scratch images are built; the
		// Antithesis SDK then adds its "compiled with CGO" property, which
		// the Collector must turn into a note.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	ourBin := filepath.Join(dir, "mvrun")
	build(t, ourBin, ".", "./testdata/compat/mvrun")
	our := runCompat(t, ourBin, "MVRUN_SDK", "file:")
	for _, vdir := range versions {
		version := strings.TrimPrefix(filepath.Base(vdir), "sdk-")
		t.Run(version, func(t *testing.T) {
			mod := filepath.Join(dir, version)
			if err := os.MkdirAll(mod, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{filepath.Join(vdir, "go.mod"), filepath.Join(vdir, "go.sum"), filepath.Join("testdata", "compat", "antithesis", "main.go")} {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(mod, filepath.Base(f)), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			bin := filepath.Join(mod, "antithesis")
			build(t, bin, mod, ".")
			ant := runCompat(t, bin, "ANTITHESIS_SDK_LOCAL_OUTPUT", "")
			compareCompat(t, ant, our)
		})
	}
}

// compatOutput is what one compat program wrote in its two runs.
type compatOutput struct {
	res   *Result
	lines [2][][]byte // per seed
}

// runCompat runs bin with "a" and "b" (seeds 1 and 2), pointing its SDK at
// a file with env=prefix+file, and collects what it wrote.
func runCompat(t *testing.T, bin, env, prefix string) compatOutput {
	t.Helper()
	var o compatOutput
	c := NewCollector()
	for i, arg := range []string{"a", "b"} {
		seed := uint64(i + 1)
		file := bin + "-" + arg + ".jsonl"
		cmd := exec.Command(bin, arg)
		cmd.Env = append(cleanEnv(), env+"="+prefix+file)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", bin, arg, err, out)
		}
		f, err := os.Open(file)
		if err != nil {
			t.Fatalf("%s %s wrote no output: %v", bin, arg, err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for n := 1; sc.Scan(); n++ {
			line := slices.Clone(sc.Bytes())
			o.lines[i] = append(o.lines[i], line)
			c.Add(seed, "node", "", n, line)
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		c.SeedDone(seed)
	}
	o.res = c.Result()
	return o
}

// compareCompat requires the Antithesis program's output ant and ours to
// give the same verdicts and the same wire objects.
func compareCompat(t *testing.T, ant, our compatOutput) {
	t.Helper()
	for name, o := range map[string]compatOutput{"antithesis": ant, "mvrun": our} {
		if o.res.MalformedTotal != 0 || len(o.res.Lost) != 0 {
			t.Errorf("%s: malformed %v lost %v", name, o.res.Malformed, o.res.Lost)
		}
	}
	if len(ant.res.Notes) != 1 || !strings.Contains(ant.res.Notes[0], "CGO") || len(our.res.Notes) != 0 {
		t.Errorf("notes: antithesis %q, mvrun %q; want only the Antithesis cgo note", ant.res.Notes, our.res.Notes)
	}

	// Verdicts, property by property.
	a, m := byID(ant.res), byID(our.res)
	for _, id := range slices.Sorted(mapsKeys(a, m)) {
		pa, pm := a[id], m[id]
		if pa == nil || pm == nil {
			t.Errorf("%q: antithesis has it %t, mvrun has it %t", id, pa != nil, pm != nil)
			continue
		}
		if ga, gm := comparable(pa), comparable(pm); !reflect.DeepEqual(ga, gm) {
			t.Errorf("%q differs:\nantithesis %v\nmvrun      %v", id, ga, gm)
		}
	}
	// Pin a few verdicts so the test fails if both sides go wrong alike.
	wantVerdicts := map[string][]uint64{ // id -> failing seeds (nil: pass)
		"Always pass":                           nil,
		"Always never":                          {1, 2},
		"Always mixed":                          {2},
		"AlwaysOrUnreachable never":             nil,
		"AlwaysOrUnreachable mixed":             {1},
		"Sometimes mixed":                       nil,
		"Sometimes never":                       {1, 2},
		"Sometimes fail":                        {1, 2},
		"Reachable never":                       {1, 2},
		"Reachable mixed":                       nil,
		"Unreachable never":                     nil,
		"Unreachable mixed":                     {1},
		"AlwaysGreaterThan fail":                {1, 2},
		"SometimesLessThan pass":                nil,
		"AlwaysSome mixed in process":           {1, 2},
		"SometimesAll mixed":                    nil,
		"SometimesAll fail":                     {1, 2},
		"Always mixed in process":               {1, 2},
		"SometimesGreaterThan mixed in process": nil,
	}
	for id, failing := range wantVerdicts {
		if p := m[id]; p == nil || !slices.Equal(p.FailingSeeds, failing) || (p.Verdict == Fail) != (failing != nil) {
			t.Errorf("%q: got %+v, want failing seeds %v", id, p, failing)
		}
	}
	if !reflect.DeepEqual(ant.res.SetupDone, our.res.SetupDone) || len(our.res.SetupDone) != 2 {
		t.Errorf("setup: antithesis %v, mvrun %v", ant.res.SetupDone, our.res.SetupDone)
	}
	if ea, em := events(ant.res), events(our.res); !reflect.DeepEqual(ea, em) || len(em) != 2 {
		t.Errorf("events: antithesis %v, mvrun %v", ea, em)
	}
	// Guidance has no verdict and the SDKs may send it at different rates;
	// the same ids must carry the same type and direction.
	if ga, gm := guidanceKinds(ant.res), guidanceKinds(our.res); !reflect.DeepEqual(ga, gm) {
		t.Errorf("guidance: antithesis %v, mvrun %v", ga, gm)
	}

	// Wire level: the antithesis_assert objects, field by field.
	for i := range 2 {
		wa, wm := asserts(t, ant.lines[i]), asserts(t, our.lines[i])
		for _, k := range slices.Sorted(mapsKeys(wa, wm)) {
			if !reflect.DeepEqual(wa[k], wm[k]) {
				t.Errorf("seed %d, antithesis_assert %s:\nantithesis %v\nmvrun      %v", i+1, k, wa[k], wm[k])
			}
		}
		va, vm := sdkLine(t, ant.lines[i]), sdkLine(t, our.lines[i])
		if va["protocol_version"] != vm["protocol_version"] || !reflect.DeepEqual(va["language"], vm["language"]) ||
			vm["sdk_version"] == nil || len(va) != len(vm) {
			t.Errorf("seed %d antithesis_sdk: antithesis %v, mvrun %v", i+1, va, vm)
		}
	}
}

// cleanEnv is the test's environment without any SDK output setting.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MVRUN_") && !strings.HasPrefix(kv, "ANTITHESIS_") {
			env = append(env, kv)
		}
	}
	return env
}

func byID(r *Result) map[string]*Property {
	m := map[string]*Property{}
	for _, p := range r.Properties {
		m[p.ID] = p
	}
	return m
}

func mapsKeys[V any](ms ...map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		seen := map[string]bool{}
		for _, m := range ms {
			for k := range m {
				if !seen[k] {
					seen[k] = true
					if !yield(k) {
						return
					}
				}
			}
		}
	}
}

// comparable is p without what legitimately differs between the two
// programs: the directory of the source file, and the line number in the
// output (the Antithesis SDK writes one more line first when built without
// cgo).
func comparable(p *Property) compared {
	q := compared{Property: *p}
	q.Location.File = path.Base(q.Location.File)
	q.FirstCounterexample = nil
	if p.FirstCounterexample != nil {
		cx := *p.FirstCounterexample
		cx.Location.File = path.Base(cx.Location.File)
		cx.LineNo = 0
		q.Counterexample = &cx
	}
	return q
}

// compared is a Property with its counterexample inline, so a mismatch
// prints it.
type compared struct {
	Property
	Counterexample *Counterexample
}

func (c compared) String() string {
	s := fmt.Sprintf("%+v", c.Property)
	if c.Counterexample != nil {
		s += fmt.Sprintf(" counterexample %+v", *c.Counterexample)
	}
	return s
}

func events(r *Result) []string {
	var s []string
	for _, e := range r.Events {
		b, _ := json.Marshal(e.Value)
		s = append(s, e.Name+" "+string(b))
	}
	return s
}

func guidanceKinds(r *Result) []string {
	var s []string
	for _, g := range r.Guidance {
		s = append(s, g.ID+" "+g.GuidanceType+" "+map[bool]string{true: "max", false: "min"}[g.Maximize])
	}
	return s
}

// asserts decodes the antithesis_assert objects of lines, keyed by id, hit
// and condition (each SDK sends each such combination once per process),
// with the location's file cut to its base name (the two programs live in
// different directories; their lines and columns must match) and a null
// details key dropped.
func asserts(t *testing.T, lines [][]byte) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, l := range lines {
		var top map[string]map[string]any
		d := json.NewDecoder(bytes.NewReader(l))
		d.UseNumber()
		if err := d.Decode(&top); err != nil {
			continue // plain events need not be objects of objects
		}
		a := top["antithesis_assert"]
		if a == nil || a["id"] == degradedProperty {
			continue
		}
		if loc, ok := a["location"].(map[string]any); ok {
			if f, ok := loc["file"].(string); ok {
				loc["file"] = path.Base(f)
			}
		}
		// No details: v0.8.0 writes "details":null, v0.9.0 and mvrun
		// leave the key out; readers take both as none.
		if d, ok := a["details"]; ok && d == nil {
			delete(a, "details")
		}
		k, _ := json.Marshal([]any{a["id"], a["hit"], a["condition"]})
		if _, dup := out[string(k)]; dup {
			t.Errorf("%s sent twice in one process", k)
		}
		out[string(k)] = a
	}
	return out
}

func sdkLine(t *testing.T, lines [][]byte) map[string]any {
	t.Helper()
	var top map[string]map[string]any
	if len(lines) == 0 || json.Unmarshal(lines[0], &top) != nil || top["antithesis_sdk"] == nil {
		t.Fatalf("first line is not antithesis_sdk: %q", lines)
	}
	return top["antithesis_sdk"]
}
