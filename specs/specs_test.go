package specs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/mvrun/multiverse/faults"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// sanitize replaces machine-specific paths so goldens are stable.
func sanitize(t *testing.T, s string) string {
	t.Helper()
	abs, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(s, abs, "$TESTDATA")
}

// golden compares got with the file at path, or rewrites it with -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./specs -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the output (run go test ./specs -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func specFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.hcl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no specs in testdata/%s: %v", dir, err)
	}
	return files
}

func TestValid(t *testing.T) {
	for _, path := range specFiles(t, "valid") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			spec, err := Load(context.Background(), path)
			if err != nil {
				var de *DiagnosticsError
				if errors.As(err, &de) {
					var b bytes.Buffer
					de.WriteText(&b, 100, false)
					t.Fatalf("Load: %s", b.String())
				}
				t.Fatalf("Load: %v", err)
			}
			b, err := json.MarshalIndent(dump(spec), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, strings.TrimSuffix(path, ".hcl")+".json", sanitize(t, string(b))+"\n")
		})
	}
}

func TestInvalid(t *testing.T) {
	for _, path := range specFiles(t, "invalid") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			_, err := Load(context.Background(), path)
			var de *DiagnosticsError
			if !errors.As(err, &de) {
				t.Fatalf("Load returned %v, want a *DiagnosticsError", err)
			}
			for _, d := range de.Diags {
				if d.Severity == hcl.DiagError && d.Subject == nil {
					t.Errorf("diagnostic %q has no source range", d.Summary)
				}
			}
			var text bytes.Buffer
			// Width 0: no wrapping, so the goldens do not depend on the length of
			// the checkout's absolute path (replaced by $TESTDATA after rendering).
			if err := de.WriteText(&text, 0, false); err != nil {
				t.Fatal(err)
			}
			got := de.Error() + "\n\n" + text.String()
			golden(t, strings.TrimSuffix(path, ".hcl")+".txt", sanitize(t, got))
		})
	}
}

// dump turns decoded values into JSON-friendly ones: durations and ranges
// as strings, source ranges as file:line:col.
func dump(v any) any { return dumpValue(reflect.ValueOf(v)) }

var (
	durationType = reflect.TypeOf(time.Duration(0))
	rangeType    = reflect.TypeOf(faults.Range{})
	hclRangeType = reflect.TypeOf(hcl.Range{})
	diagErrType  = reflect.TypeOf(&DiagnosticsError{})
)

func dumpValue(v reflect.Value) any {
	switch {
	case !v.IsValid():
		return nil
	case v.Type() == durationType:
		return time.Duration(v.Int()).String()
	case v.Type() == rangeType:
		r := v.Interface().(faults.Range)
		return r.Min.String() + ".." + r.Max.String()
	case v.Type() == hclRangeType:
		r := v.Interface().(hcl.Range)
		return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
	case v.Type() == diagErrType:
		if v.IsNil() {
			return nil
		}
		return strings.Split(v.Interface().(*DiagnosticsError).Error(), "\n")
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return dumpValue(v.Elem())
	case reflect.Struct:
		m := map[string]any{}
		for i := 0; i < v.NumField(); i++ {
			if f := v.Type().Field(i); f.IsExported() {
				m[f.Name] = dumpValue(v.Field(i))
			}
		}
		return m
	case reflect.Slice:
		if v.IsNil() {
			return nil
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = dumpValue(v.Index(i))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		m := map[string]any{}
		for _, k := range v.MapKeys() {
			m[fmt.Sprint(k.Interface())] = dumpValue(v.MapIndex(k))
		}
		return m
	}
	return v.Interface()
}

func TestSpecTest(t *testing.T) {
	spec, err := Load(context.Background(), "testdata/valid/multi.hcl")
	if err != nil {
		t.Fatal(err)
	}
	single, err := Load(context.Background(), "testdata/valid/full.hcl")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		spec    *Spec
		name    string
		want    string // test name, or "" for an error
		wantErr string
	}{
		{spec, "one", "one", ""},
		{spec, "two", "two", ""},
		{spec, "", "", `has 2 tests ("one", "two"); name the one to run`},
		{spec, "three", "", `has no test "three"; its tests are "one", "two"`},
		{single, "", "bank", ""},
		{single, "bank", "bank", ""},
		{single, "other", "", `has no test "other"; its tests are "bank"`},
	}
	for _, tt := range tests {
		got, err := tt.spec.Test(tt.name)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: Test(%q) error = %v, want one containing %q", tt.spec.File, tt.name, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("%s: Test(%q): %v", tt.spec.File, tt.name, err)
		case got.Name != tt.want:
			t.Errorf("%s: Test(%q) = %q, want %q", tt.spec.File, tt.name, got.Name, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		path       string
		fails      bool
		stdout     string // exact
		stderrHas  string
		stderrNone bool
	}{
		{
			path:       "testdata/valid/full.hcl",
			stdout:     "testdata/valid/full.hcl: test \"bank\": 5 services, 7 workload commands, faults: partition, link, kill, pause, clock_skew, disk, history checks: accounts (kv), audit-log (queue)\n",
			stderrNone: true,
		},
		{
			path:       "testdata/valid/multi.hcl",
			stdout:     "testdata/valid/multi.hcl: test \"one\": 3 services, 1 workload command, faults: none\ntestdata/valid/multi.hcl: test \"two\": 3 services, 1 workload command, faults: none\n",
			stderrNone: true,
		},
		{
			path:      "testdata/valid/warnings.hcl",
			stdout:    "testdata/valid/warnings.hcl: test \"warned\": 3 services, 1 workload command, faults: kill\n",
			stderrHas: "warnings.hcl:4:18: warning: Short seed_timeout",
		},
		{
			path:      "testdata/invalid/unknown_service.hcl",
			fails:     true,
			stderrHas: "on testdata/invalid/unknown_service.hcl line 6",
		},
		{
			path:      "testdata/invalid/does-not-exist.hcl",
			fails:     true,
			stderrHas: "does-not-exist.hcl",
		},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		err := Validate(context.Background(), tt.path, &stdout, &stderr)
		if (err != nil) != tt.fails {
			t.Errorf("Validate(%s) = %v, want an error: %t; stderr:\n%s", tt.path, err, tt.fails, stderr.String())
		}
		if stdout.String() != tt.stdout {
			t.Errorf("Validate(%s) stdout = %q, want %q", tt.path, stdout.String(), tt.stdout)
		}
		if tt.stderrNone && stderr.Len() > 0 {
			t.Errorf("Validate(%s) stderr = %q, want nothing", tt.path, stderr.String())
		}
		if !strings.Contains(stderr.String(), tt.stderrHas) {
			t.Errorf("Validate(%s) stderr = %q, want it to contain %q", tt.path, stderr.String(), tt.stderrHas)
		}
	}
}

func TestParseRange(t *testing.T) {
	tests := []struct {
		in      string
		want    faults.Range
		wantErr string
	}{
		{"1s..8s", faults.Range{Min: time.Second, Max: 8 * time.Second}, ""},
		{" 500ms .. 2s ", faults.Range{Min: 500 * time.Millisecond, Max: 2 * time.Second}, ""},
		{"5s", faults.Range{Min: 5 * time.Second, Max: 5 * time.Second}, ""},
		{"0s..0s", faults.Range{}, ""},
		{"8s..1s", faults.Range{}, "lower bound 8s is above the upper bound 1s"},
		{"-1s..1s", faults.Range{}, "cannot be negative"},
		{"1s..", faults.Range{}, "is neither"},
		{"5", faults.Range{}, "is neither"},
		{"", faults.Range{}, "is neither"},
	}
	for _, tt := range tests {
		got, detail := parseRange(tt.in)
		if tt.wantErr != "" {
			if !strings.Contains(detail, tt.wantErr) {
				t.Errorf("parseRange(%q) error = %q, want one containing %q", tt.in, detail, tt.wantErr)
			}
			continue
		}
		if detail != "" || got != tt.want {
			t.Errorf("parseRange(%q) = %v, %q; want %v", tt.in, got, detail, tt.want)
		}
	}
}

func TestIsGoMain(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  bool
	}{
		{"main", map[string]string{"main.go": "package main\nfunc main() {}\n"}, true},
		{"main with tests and an ignored tool", map[string]string{
			"main.go":      "package main\n",
			"main_test.go": "package main_test\n",
			"gen.go":       "//go:build ignore\n\npackage gen\n",
		}, true},
		{"library", map[string]string{"lib.go": "package lib\n"}, false},
		{"mixed", map[string]string{"a.go": "package main\n", "b.go": "package b\n"}, false},
		{"only other OS", map[string]string{"main_windows.go": "package main\n"}, false},
		{"no Go", map[string]string{"Dockerfile": "FROM scratch\n"}, false},
		{"unparsable", map[string]string{"main.go": "packag main\n"}, false},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		for name, body := range tt.files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if got := isGoMain(dir); got != tt.want {
			t.Errorf("%s: isGoMain = %v, want %v", tt.name, got, tt.want)
		}
	}
	if isGoMain(filepath.Join(t.TempDir(), "missing")) {
		t.Error("isGoMain of a missing directory = true")
	}
}

func TestDependencyOrder(t *testing.T) {
	svc := func(name string, deps ...string) *Service {
		s := &Service{Name: name}
		for _, d := range deps {
			s.DependsOn = append(s.DependsOn, Dependency{Service: d, Condition: ServiceStarted})
		}
		return s
	}
	tests := []struct {
		name      string
		services  []*Service
		want      []string
		wantCycle []string
	}{
		{"independent by name", []*Service{svc("c"), svc("a"), svc("b")}, []string{"a", "b", "c"}, nil},
		{"chain", []*Service{svc("a", "b"), svc("b", "c"), svc("c")}, []string{"c", "b", "a"}, nil},
		{"diamond", []*Service{svc("top", "l", "r"), svc("l", "base"), svc("r", "base"), svc("base")}, []string{"base", "l", "r", "top"}, nil},
		{"missing dependency ignored", []*Service{svc("a", "ghost")}, []string{"a"}, nil},
		{"cycle", []*Service{svc("a", "b"), svc("b", "a"), svc("c")}, nil, []string{"a", "b"}},
	}
	for _, tt := range tests {
		m := map[string]*Service{}
		for _, s := range tt.services {
			m[s.Name] = s
		}
		order, cycle := dependencyOrder(m)
		if !reflect.DeepEqual(order, tt.want) || !reflect.DeepEqual(cycle, tt.wantCycle) {
			t.Errorf("%s: dependencyOrder = %v, cycle %v; want %v, cycle %v", tt.name, order, cycle, tt.want, tt.wantCycle)
		}
	}
}

func TestDiagnosticsSorted(t *testing.T) {
	// The HCL decoder reports unknown attributes in map order; Load sorts.
	for i := 0; i < 20; i++ {
		_, err := Load(context.Background(), "testdata/invalid/unknown.hcl")
		var de *DiagnosticsError
		if !errors.As(err, &de) {
			t.Fatalf("Load: %v", err)
		}
		lines := make([]int, len(de.Diags))
		for j, d := range de.Diags {
			lines[j] = d.Subject.Start.Byte
		}
		if !sort.IntsAreSorted(lines) {
			t.Fatalf("diagnostics out of order: %v", de.Error())
		}
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"client", "kv1", "kv2", "kv3"}
	tests := []struct{ in, want string }{
		{"clinet", "client"},
		{"kv4", "kv1"},
		{"KV2", "kv2"},
		{"postgres", ""},
		{"db", ""},
		{"client", "client"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.in, names); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		if _, err := Load(context.Background(), "testdata/valid/full.hcl"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestExamples loads every spec under examples/, so a schema change that
// breaks a shipped example fails here.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../examples/*/*.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skip("no example specs in ../examples")
	}
	for _, path := range files {
		_, err := Load(context.Background(), path)
		if build := filepath.Join(filepath.Dir(path), "build.sh"); err != nil && exists(build) {
			// Its programs come from build.sh (their own tests build
			// them); without them Load rightly refuses.
			t.Logf("%s: not checked: run %s first (%v)", path, build, err)
			continue
		}
		if err != nil {
			t.Errorf("%s:\n%v", path, err)
		}
	}
}

// TestComposeArchiveImage: compose-go accepts image values that name an
// archive (docker-archive:PATH, oci-archive:PATH), and LoadCompose keeps
// them verbatim for the hv backend, which reads PATH relative to
// Project.Dir.
func TestComposeArchiveImage(t *testing.T) {
	dir := t.TempDir()
	compose := "services:\n  a:\n    image: docker-archive:./img.tar\n  b:\n    image: oci-archive:images/oci.tar\n    command: [serve]\n"
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := LoadCompose(context.Background(), filepath.Join(dir, "compose.yaml"), "archives")
	if err != nil {
		t.Fatalf("LoadCompose: %v", err)
	}
	if p.Dir != dir {
		t.Errorf("Dir = %q, want %q", p.Dir, dir)
	}
	for svc, want := range map[string]string{"a": "docker-archive:./img.tar", "b": "oci-archive:images/oci.tar"} {
		s := p.Service(svc)
		if s == nil || s.Image != want || s.Build != nil || s.Binary != "" {
			t.Errorf("service %s = %+v, want image %q and nothing else to run", svc, s, want)
		}
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
