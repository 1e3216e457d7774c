package assertions

import (
	"go/build"
	"strings"
	"testing"
)

// TestDependencies: assertions sits below the runner (the layering in docs/architecture.md) and must not
// pull in the runner, backends, specs, faults or third-party modules.
func TestDependencies(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if strings.Contains(imp, ".") && imp != "github.com/mvrun/multiverse/internal/seeds" {
			t.Errorf("assertions imports %s; only the standard library and internal/seeds are allowed", imp)
		}
	}
}
