package catalog

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// copyModule copies testdata/<name> into a temporary directory (the catalog
// writes into it) and points its replace directive at this repository's sdk.
func copyModule(t *testing.T, name string) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not found; go/packages needs it")
	}
	src := filepath.Join("testdata", name)
	dst := filepath.Join(t.TempDir(), name)
	sdk, err := filepath.Abs(filepath.Join("..", "..", "sdk"))
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if d.Name() == "go.mod" {
			data = bytes.ReplaceAll(data, []byte("../../../../sdk"), []byte(sdk))
		}
		return os.WriteFile(out, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = Main(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), err
}

func TestGenerate(t *testing.T) {
	dir := copyModule(t, "mod")
	_, stderr, err := run(t, "-C", dir, "./...")
	if err != nil {
		t.Fatalf("%v, stderr:\n%s", err, stderr)
	}
	gen := filepath.Join(dir, "cmd", "app", DefaultOutput)
	data, err := os.ReadFile(gen)
	if err != nil {
		t.Fatalf("no catalog for cmd/app: %v (stderr %s)", err, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "cmd", "tool", DefaultOutput)); !os.IsNotExist(err) {
		t.Errorf("a catalog was written for cmd/tool, which has no assertions (stat: %v)", err)
	}
	got := strings.ReplaceAll(string(data), dir, "$MOD")
	golden := filepath.Join("testdata", "app.golden")
	if *update {
		os.WriteFile(golden, []byte(got), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("generated catalog differs from %s (rerun with -update if intended)\ngot:\n%s", golden, got)
	}

	// Running it again over its own output gives the same file.
	if _, stderr, err := run(t, "-C", dir); err != nil {
		t.Fatalf("second run: %v\n%s", err, stderr)
	}
	again, _ := os.ReadFile(gen)
	if !bytes.Equal(again, data) {
		t.Errorf("second run changed the catalog")
	}
}

// TestRegistrationsReachTheWire builds the program with its catalog and
// checks that every call site is registered at startup, hit=false, with the
// location the runtime reports when the assertion is evaluated.
func TestRegistrationsReachTheWire(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	dir := copyModule(t, "mod")
	if _, stderr, err := run(t, "-C", dir, "./..."); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	out := filepath.Join(t.TempDir(), "sdk.jsonl")
	cmd := exec.Command("go", "run", "./cmd/app")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "MVRUN_SDK=file:"+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run: %v\n%s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	registered := map[string]string{} // message → location of the registration
	evaluated := map[string]string{}
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, `{"antithesis_assert"`) {
			continue
		}
		msg := between(l, `"message":"`, `"`)
		loc := between(l, `"location":{`, `}`)
		loc = loc[:strings.Index(loc, `,"begin_column"`)]
		if strings.Contains(l, `"hit":false`) {
			registered[msg] = loc
		} else {
			evaluated[msg] = loc
		}
	}
	for _, msg := range []string{"lib: balance never negative", "lib: never called", "args present", "never true", "nested closure", "some bool"} {
		if _, ok := registered[msg]; !ok {
			t.Errorf("%q not registered; lines:\n%s", msg, data)
		}
	}
	if len(evaluated) == 0 {
		t.Fatal("no evaluations")
	}
	for msg, loc := range evaluated {
		if registered[msg] != loc {
			t.Errorf("%q: registered at %s, evaluated at %s", msg, registered[msg], loc)
		}
	}
}

func between(s, start, end string) string {
	i := strings.Index(s, start)
	if i < 0 {
		return ""
	}
	s = s[i+len(start):]
	if j := strings.Index(s, end); j >= 0 {
		return s[:j]
	}
	return s
}

func TestNonConstantMessage(t *testing.T) {
	dir := copyModule(t, "bad")
	_, stderr, err := run(t, "-C", dir, "./...")
	var serr *SourceError
	if !errors.As(err, &serr) {
		t.Fatalf("got %v, want a *SourceError; stderr:\n%s", err, stderr)
	}
	want := filepath.Join(dir, "cmd", "bad", "main.go") + ":13:22: assert.Always: the message must be a constant string"
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr = %q, want it to contain %q", stderr, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "cmd", "bad", DefaultOutput)); !os.IsNotExist(err) {
		t.Errorf("a catalog was written despite the error")
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want error
	}{
		{"unknown flag", []string{"-x"}, ErrUsage},
		{"help", []string{"-h"}, flag.ErrHelp},
	}
	for _, tt := range tests {
		if _, _, err := run(t, tt.args...); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestNoMainPackage(t *testing.T) {
	dir := copyModule(t, "mod")
	_, stderr, err := run(t, "-C", dir, "./lib")
	if !errors.Is(err, ErrNoMain) || !strings.Contains(stderr, "no main package") {
		t.Errorf("%v, stderr %q; want ErrNoMain and 'no main package'", err, stderr)
	}
}

// TestAntithesisGuidanceSignature checks that registrations for the
// Antithesis SDK's guidance functions follow the version in the build:
// v0.9.0 added a column argument after the line; mvrun's SDK has it.
func TestAntithesisGuidanceSignature(t *testing.T) {
	for _, tt := range []struct {
		version string
		want    bool
	}{{"v0.8.0", false}, {"v0.7.2", false}, {"v0.9.0", true}, {"v0.10.1", true}, {"", true}, {"(devel)", true}} {
		if got := guidanceColumn(tt.version); got != tt.want {
			t.Errorf("guidanceColumn(%q) = %t, want %t", tt.version, got, tt.want)
		}
	}
	sites := []Site{
		{AssertPkg: AntithesisAssert, Func: "AlwaysLessThan", Message: "a", Class: "main", Function: "main", File: "m.go", Line: 7, Col: 3},
		{AssertPkg: SDKAssert, Func: "SometimesAll", Message: "m", Class: "main", Function: "main", File: "m.go", Line: 9, Col: 4},
	}
	for _, col := range []bool{false, true} {
		src, err := render(sites, col)
		if err != nil {
			t.Fatal(err)
		}
		wantA := `antithesisassert.NumericGuidanceRaw(0, 0, "a", "a", "main", "main", "m.go", 7, "maximize", false)`
		if col {
			wantA = `antithesisassert.NumericGuidanceRaw(0, 0, "a", "a", "main", "main", "m.go", 7, 3, "maximize", false)`
		}
		wantM := `mvrunassert.BooleanGuidanceRaw(nil, "m", "m", "main", "main", "m.go", 9, 4, "all", false)`
		if !strings.Contains(string(src), wantA) || !strings.Contains(string(src), wantM) {
			t.Errorf("column %t: want %s and %s in:\n%s", col, wantA, wantM, src)
		}
	}
}

// TestRenderWithoutColumn: programs linking an Antithesis SDK whose
// AssertRaw has no column parameter (before v0.5, as etcd v3.7's harness
// does) are registered without one, so the generated file compiles.
func TestRenderWithoutColumn(t *testing.T) {
	site := Site{AssertPkg: AntithesisAssert, Func: "Unreachable", Message: "m", Class: "main", Function: "f", File: "main.go", Line: 7, Col: 3}
	for _, c := range []struct {
		noColumn bool
		want     string
	}{
		{false, `antithesisassert.AssertRaw(false, "m", nil, "main", "f", "main.go", 7, 3, false, false, "reachability", "Unreachable", "m")`},
		{true, `antithesisassert.AssertRaw(false, "m", nil, "main", "f", "main.go", 7, false, false, "reachability", "Unreachable", "m")`},
	} {
		site.noColumn = c.noColumn
		src, err := render([]Site{site}, true)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(src), c.want) {
			t.Errorf("noColumn %v: generated\n%s\nwant a line %s", c.noColumn, src, c.want)
		}
	}
}
