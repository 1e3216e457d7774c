package sdk_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestStandardLibraryOnly keeps the SDK free of dependencies: services link
// it, and it must pull in nothing but the standard library (and no cgo).
func TestStandardLibraryOnly(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found; cannot list dependencies")
	}
	out, err := exec.Command(gobin, "list", "-deps",
		"-f", "{{if not .Standard}}{{.ImportPath}} cgo={{len .CgoFiles}}{{end}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const self = "github.com/mvrun/multiverse/sdk"
	n := 0
	for _, line := range strings.Fields(strings.ReplaceAll(string(out), " cgo=", "|cgo=")) {
		path, cgo, _ := strings.Cut(line, "|")
		if path != self && !strings.HasPrefix(path, self+"/") {
			t.Errorf("sdk depends on %s, which is not in the standard library", path)
		}
		if cgo != "cgo=0" {
			t.Errorf("%s uses cgo", path)
		}
		n++
	}
	if n < 5 {
		t.Errorf("listed only %d sdk packages; is the test running in sdk/?\n%s", n, out)
	}
}

// TestBuildsEverywhere type-checks the SDK, tests included, for platforms
// unlike the one the tests run on: no hypercall, no Unix errnos (plan9), no
// processes (js), 32-bit ints. Services on any GOOS/GOARCH can link it.
func TestBuildsEverywhere(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the standard library for other platforms; skipped with -short")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found; cannot cross-compile")
	}
	for _, target := range []string{"plan9/amd64", "windows/amd64", "js/wasm", "linux/386"} {
		goos, goarch, _ := strings.Cut(target, "/")
		cmd := exec.Command(gobin, "vet", "./...")
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: go vet: %v\n%s", target, err, out)
		}
	}
}
