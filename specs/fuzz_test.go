package specs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The fuzz targets below run their seed corpus (testdata/fuzz and the
// files added with f.Add) with every `go test`; `make fuzz` runs each for
// a bounded time, and `go test -fuzz FuzzLoadSpec ./specs` for as long as
// wanted. A crash found becomes a file in testdata/fuzz, so it stays a
// regression case.

// fuzzCompose is the compose project fuzzed specs load against.
const fuzzCompose = "services:\n  a:\n    image: example/a\n  b:\n    image: example/b\n"

// fuzzSpec is the spec fuzzed compose files are loaded with.
const fuzzSpec = `test "t" {
  compose = "compose.yaml"
  workload {
    first "init" {
      service = "a"
      command = ["/bin/init"]
    }
  }
  faults {
    kill {
      services = ["a", "b"]
    }
  }
}
`

// fuzzLoadLimit bounds one Load of a fuzzed input: anything slower is a
// resource bug even if it returns.
const fuzzLoadLimit = 10 * time.Second

// checkLoad loads the spec at path and checks the contract Load keeps for
// any input: a spec or a *DiagnosticsError with at least one error, in
// bounded time, never a panic.
func checkLoad(t *testing.T, path string) {
	start := time.Now()
	spec, err := Load(context.Background(), path)
	if el := time.Since(start); el > fuzzLoadLimit {
		t.Errorf("Load took %v", el)
	}
	if err != nil {
		var de *DiagnosticsError
		if !errors.As(err, &de) || !de.Diags.HasErrors() {
			t.Fatalf("Load returned %T %v, want diagnostics", err, err)
		}
		_ = de.WriteText(discard{}, 100, false)
		return
	}
	if spec == nil || len(spec.Tests) == 0 {
		t.Fatalf("Load returned no error and no tests")
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func seedFiles(f *testing.F, pattern string) {
	files, _ := filepath.Glob(pattern)
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
}

func FuzzLoadSpec(f *testing.F) {
	f.Add([]byte(fuzzSpec))
	seedFiles(f, "testdata/valid/*.hcl")
	seedFiles(f, "testdata/invalid/*.hcl")
	f.Fuzz(func(t *testing.T, src []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(fuzzCompose), 0o644); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "spec.hcl")
		if err := os.WriteFile(path, src, 0o644); err != nil {
			t.Fatal(err)
		}
		checkLoad(t, path)
	})
}

func FuzzLoadCompose(f *testing.F) {
	f.Add([]byte(fuzzCompose))
	seedFiles(f, "testdata/valid/*.yaml")
	seedFiles(f, "testdata/invalid/*.yaml")
	f.Fuzz(func(t *testing.T, src []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), src, 0o644); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "spec.hcl")
		if err := os.WriteFile(path, []byte(fuzzSpec), 0o644); err != nil {
			t.Fatal(err)
		}
		checkLoad(t, path)
	})
}
