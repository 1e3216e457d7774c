package gobuild

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"github.com/mvrun/multiverse/internal/procs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/assertions"
)

func writeModule(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestBuild(t *testing.T) {
	if _, err := GoCommand(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	const mod = "module example.com/svc\n\ngo 1.22\n"
	tests := []struct {
		name    string
		files   map[string]string
		wantErr []string // substrings of the error; nil means success
	}{
		{
			name: "main package",
			files: map[string]string{
				"go.mod":  mod,
				"main.go": "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello from svc\") }\n",
			},
		},
		{
			name: "compile error names file and line",
			files: map[string]string{
				"go.mod":  mod,
				"main.go": "package main\n\nfunc main() {\n\tundefinedThing()\n}\n",
			},
			wantErr: []string{"main.go:4", "undefined"},
		},
		{
			name: "not a main package",
			files: map[string]string{
				"go.mod": mod,
				"lib.go": "package lib\n\nfunc F() {}\n",
			},
			wantErr: []string{"not a Go main package", "package lib"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeModule(t, tt.files)
			out := filepath.Join(t.TempDir(), "bin", "svc")
			err := Build(context.Background(), Request{Dir: dir, Out: out})
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("Build succeeded, want error containing %q", tt.wantErr)
				}
				var be *Error
				if !errors.As(err, &be) {
					t.Fatalf("error %T is not *Error: %v", err, err)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			got, err := exec.Command(out).Output()
			if err != nil {
				t.Fatalf("running built binary: %v", err)
			}
			if string(got) != "hello from svc\n" {
				t.Errorf("output %q, want %q", got, "hello from svc\n")
			}
			f, err := elf.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("binary has an ELF interpreter; want a static binary (CGO_ENABLED=0)")
				}
			}
		})
	}
}

func TestBuildMissingDir(t *testing.T) {
	err := Build(context.Background(), Request{Dir: filepath.Join(t.TempDir(), "nope"), Out: filepath.Join(t.TempDir(), "x")})
	var be *Error
	if !errors.As(err, &be) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Build of a missing dir: %v, want *Error wrapping os.ErrNotExist", err)
	}
}

// sdkModule writes a main package using the mvrun SDK into a new module and
// returns its directory; the SDK comes from this repository.
func sdkModule(t *testing.T, files map[string]string) string {
	t.Helper()
	sdk, err := filepath.Abs(filepath.Join("..", "..", "sdk"))
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]string{"go.mod": "module example.com/svc\n\ngo 1.23\n\n" +
		"require github.com/mvrun/multiverse/sdk v0.0.0\n\n" +
		"replace github.com/mvrun/multiverse/sdk => " + sdk + "\n"}
	for k, v := range files {
		all[k] = v
	}
	return writeModule(t, all)
}

// listTree returns every path under dir with its size, to tell whether a
// build wrote into it.
func listTree(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		out[p] = fi.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

const neverReached = `package main

import (
	"os"

	"github.com/mvrun/multiverse/sdk/assert"
)

func main() {
	assert.Always(true, "main ran", nil)
	if len(os.Args) > 99 {
		assert.Sometimes(true, "never reached", nil)
	}
}
`

// TestCatalogInjected builds a service whose assert.Sometimes is never
// reached and checks that the catalog gobuild adds registers it, so the
// property fails in the verdicts, without a file written into the source.
func TestCatalogInjected(t *testing.T) {
	if _, err := GoCommand(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	if testing.Short() {
		t.Skip("builds programs; skipped with -short")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the overlay goes; must be empty afterwards
	tests := []struct {
		name      string
		files     map[string]string
		noCatalog bool
		cover     bool   // built with coverage counters
		wantReg   bool   // the never-reached Sometimes is registered
		wantLog   string // substring of the build's log
	}{
		{name: "generated", files: map[string]string{"main.go": neverReached}, wantReg: true},
		{name: "disabled", files: map[string]string{"main.go": neverReached}, noCatalog: true},
		// The cover tool ignores -overlay (golang/go#73802): the catalog
		// must reach it all the same.
		{name: "generated, with coverage counters", files: map[string]string{"main.go": neverReached}, cover: true, wantReg: true},
		{
			name: "own catalog kept",
			files: map[string]string{"main.go": neverReached,
				// A hand-made catalog that registers nothing: gobuild must
				// not add its own next to it.
				"mvrun_catalog_gen.go": "// Code generated by mvrun catalog. DO NOT EDIT.\n\npackage main\n"},
			wantLog: "has its own assertion catalog",
		},
		{
			name: "name taken by a user file",
			files: map[string]string{"main.go": neverReached,
				"mvrun_catalog_gen.go": "//go:build never\n\npackage main\n"},
			wantReg: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := sdkModule(t, tt.files)
			before := listTree(t, dir)
			var logs bytes.Buffer
			bin := filepath.Join(t.TempDir(), "svc")
			err := Build(context.Background(), Request{Dir: dir, Out: bin, NoCatalog: tt.noCatalog, Cover: tt.cover,
				Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log %q does not contain %q", logs.String(), tt.wantLog)
			}
			if after := listTree(t, dir); !reflect.DeepEqual(before, after) {
				t.Errorf("the build changed the source tree:\nbefore %v\nafter  %v", before, after)
			}
			if got := hasCounters(t, bin); got != tt.cover {
				t.Errorf("counter region in the binary: %t, want %t", got, tt.cover)
			}
			if left, _ := filepath.Glob(filepath.Join(tmp, "mvrun-catalog-*")); len(left) > 0 {
				t.Errorf("temporary files left behind: %v", left)
			}

			sdkOut := filepath.Join(t.TempDir(), "sdk.jsonl")
			cmd := exec.Command(bin)
			cmd.Env = []string{"MVRUN_SDK=file:" + sdkOut}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("running the service: %v\n%s", err, out)
			}
			data, err := os.ReadFile(sdkOut)
			if err != nil {
				t.Fatal(err)
			}
			c := assertions.NewCollector()
			registered := false
			for i, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
				var top struct {
					A *struct {
						Message string
						Hit     bool
					} `json:"antithesis_assert"`
				}
				if json.Unmarshal(line, &top) == nil && top.A != nil && top.A.Message == "never reached" && !top.A.Hit {
					registered = true
				}
				c.Add(1, "svc", "", i+1, line)
			}
			c.SeedDone(1)
			if registered != tt.wantReg {
				t.Fatalf("catalog line for the never-reached Sometimes: %t, want %t; lines:\n%s", registered, tt.wantReg, data)
			}
			var p *assertions.Property
			for _, q := range c.Result().Properties {
				if q.ID == "never reached" {
					p = q
				}
			}
			if !tt.wantReg {
				if p != nil {
					t.Errorf("property %v reported without a catalog", p)
				}
				return
			}
			if p == nil || p.Verdict != assertions.Fail || !strings.Contains(p.Reason, "never reached") {
				t.Errorf("property = %v, want it to fail as never reached", p)
			}
		})
	}
}

// TestCatalogError checks that an assertion the catalog cannot register (a
// computed message) stops the build with an error naming its file:line, and
// that a type error is still reported by the compiler.
func TestCatalogError(t *testing.T) {
	if _, err := GoCommand(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	const head = "package main\n\nimport (\n\t\"os\"\n\n\t\"github.com/mvrun/multiverse/sdk/assert\"\n)\n\nfunc main() {\n"
	tests := []struct {
		name, body string
		want       []string // substrings of the error; "$DIR" is the module
	}{
		{"computed message", "\tassert.Always(true, \"args: \"+os.Args[0], nil)\n}\n",
			[]string{"$DIR/main.go:10:22", "must be a constant string", "cannot register the program's assertions"}},
		{"type error", "\tassert.Always(os.Args, \"m\", nil)\n}\n",
			[]string{"main.go:10:16", "cannot use os.Args", "exit status 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := sdkModule(t, map[string]string{"main.go": head + tt.body})
			err := Build(context.Background(), Request{Dir: dir, Out: filepath.Join(t.TempDir(), "svc")})
			var be *Error
			if !errors.As(err, &be) {
				t.Fatalf("Build = %v, want *Error", err)
			}
			t.Log(err)
			for _, want := range tt.want {
				if want = strings.ReplaceAll(want, "$DIR", dir); !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

// TestSweepTemp checks that SweepTemp removes the catalog directories of
// builds that were killed (dead owner, or no owner file and old) and
// keeps those of live builds and fresh unowned ones.
func TestSweepTemp(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	mk := func(name, owner string, age time.Duration) string {
		d := filepath.Join(tmp, catalogTempPrefix+name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if owner != "" {
			if err := os.WriteFile(filepath.Join(d, ownerFile), []byte(owner), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		old := time.Now().Add(-age)
		os.Chtimes(d, old, old)
		return d
	}
	self, err := procs.Identity(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	live := mk("live", self, 2*time.Hour)
	dead := mk("dead", "999999999 1", 0)
	oldUnowned := mk("old", "", 2*time.Hour)
	fresh := mk("fresh", "", 0)
	if err := SweepTemp(); err != nil {
		t.Fatal(err)
	}
	for d, want := range map[string]bool{live: true, dead: false, oldUnowned: false, fresh: true} {
		if _, err := os.Stat(d); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", filepath.Base(d), err == nil, want)
		}
	}
}

// TestBuildCover builds with coverage counters: the program's own
// module's linked packages are instrumented (the linker's counter region
// is there), a package of the module that the program does not link is
// not among them, and a build without Cover has no counter region.
func TestBuildCover(t *testing.T) {
	if _, err := GoCommand(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	dir := writeModule(t, map[string]string{
		"go.mod":         "module example.com/svc\n\ngo 1.22\n",
		"main.go":        "package main\n\nimport \"example.com/svc/lib\"\n\nfunc main() { println(lib.Twice(2)) }\n",
		"lib/lib.go":     "package lib\n\nfunc Twice(n int) int { return 2 * n }\n",
		"other/other.go": "package other\n\nfunc Unused() {}\n",
	})
	pkgs, err := coverPackages(func(args ...string) (string, error) {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"example.com/svc/lib", "example.com/svc"}; !reflect.DeepEqual(pkgs, want) {
		t.Errorf("coverPackages = %q, want %q", pkgs, want)
	}
	for _, cover := range []bool{true, false} {
		out := filepath.Join(t.TempDir(), "svc")
		if err := Build(context.Background(), Request{Dir: dir, Out: out, GOOS: "linux", GOARCH: "amd64", Cover: cover, NoCatalog: true}); err != nil {
			t.Fatal(err)
		}
		if got := hasCounters(t, out); got != cover {
			t.Errorf("Cover %t: counter region present %t", cover, got)
		}
	}
}

// hasCounters reports whether bin has a coverage counter region (the
// linker's runtime.covctrs..runtime.ecovctrs).
func hasCounters(t *testing.T, bin string) bool {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, _ := f.Symbols()
	var lo, hi uint64
	for _, s := range syms {
		switch s.Name {
		case "runtime.covctrs":
			lo = s.Value
		case "runtime.ecovctrs":
			hi = s.Value
		}
	}
	return lo != 0 && hi > lo
}
