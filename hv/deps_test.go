package hv_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies enforces the layering of docs/architecture.md: hv never imports the runner,
// specs or faults, and hv/abi imports nothing.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./...").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		for _, bad := range []string{"/runner", "/specs", "/faults"} {
			if strings.HasPrefix(p, "github.com/mvrun/multiverse"+bad) {
				t.Errorf("hv depends on %s", p)
			}
		}
	}
	out, err = exec.Command("go", "list", "-f", "{{join .Imports \" \"}}", "./abi").Output()
	if err != nil {
		t.Fatal(err)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Errorf("hv/abi imports %s; it must have no dependencies", s)
	}
}
