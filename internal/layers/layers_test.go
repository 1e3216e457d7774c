package layers

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/mvrun/multiverse"

// rank orders the layers: a package may import module packages of a lower
// rank, of its own layer, or of the base (internal/, rank 0). cmd/mvrun is
// on top; sdk is linked into users' services and sits at the bottom with
// the base.
func rank(pkg string) (layer string, r int) {
	rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	top, _, _ := strings.Cut(rel, "/")
	switch top {
	case "cmd", "mvruntest":
		return top, 7
	case "runner":
		return top, 6
	case "specs":
		return top, 5
	case "faults":
		return top, 4
	case "assertions":
		return top, 3
	case "hv":
		return top, 2
	case "sdk", "internal":
		return top, 0
	}
	return top, -1 // examples and anything new: not checked here
}

// owners says which layers alone may import a third-party library, so the
// heavy dependencies stay where they belong (docs/architecture.md, Layers: only specs imports hcl).
var owners = map[string][]string{
	"github.com/hashicorp/hcl/v2":                 {"specs"},
	"github.com/compose-spec/compose-go":          {"specs"},
	"github.com/testcontainers/testcontainers-go": {"runner/docker"},
	"github.com/moby/moby":                        {"runner/docker"},
	"github.com/bobuhiro11/gokvm":                 {"hv"},
	"github.com/google/go-containerregistry":      {"runner/hvbackend"},
	"github.com/vishvananda/netlink":              {"runner/network"},
	"github.com/vishvananda/netns":                {"runner/network"},
	"golang.org/x/tools":                          {"internal/catalog"},
	"github.com/google/gopacket":                  {"runner/hvbackend"},
	"github.com/hanwen/go-fuse/v2":                {"runner/diskfs"},
	"github.com/antithesishq/antithesis-sdk-go":   {}, // test-only
	"github.com/anishathalye/porcupine":           {"assertions/history"},
}

// stdOnly lists packages that every backend links, hv included, and that
// must therefore stay free of third-party code: they may import the
// standard library and other internal/ packages only.
var stdOnly = []string{"internal/linkmodel", "internal/seeds", "internal/diskmodel"}

// std reports whether imp is a standard library package: its first path
// element has no dot, unlike a module path's host name.
func std(imp string) bool {
	first, _, _ := strings.Cut(imp, "/")
	return !strings.Contains(first, ".")
}

func TestImportsPointDown(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"/...").Output()
	if err != nil {
		t.Skipf("skipping: go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg, imports := f[0], f[1:]
		layer, r := rank(pkg)
		if r < 0 {
			continue
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
		for _, imp := range imports {
			checked++
			if slices.Contains(stdOnly, rel) && !std(imp) && !strings.HasPrefix(imp, module+"/internal/") {
				t.Errorf("%s imports %s: it may import only the standard library and internal/", pkg, imp)
			}
			if strings.HasPrefix(imp, module+"/") || imp == module {
				il, ir := rank(imp)
				if il != layer && ir != 0 && ir >= r {
					t.Errorf("%s imports %s: %s may only import layers below it (docs/architecture.md, Layers)", pkg, imp, layer)
				}
				if layer == "internal" && ir > 0 {
					t.Errorf("%s imports %s: internal/ is the base layer and imports no other layer", pkg, imp)
				}
				continue
			}
			for lib, allowed := range owners {
				if imp != lib && !strings.HasPrefix(imp, lib+"/") {
					continue
				}
				ok := false
				for _, a := range allowed {
					ok = ok || rel == a || strings.HasPrefix(rel, a+"/")
				}
				if !ok {
					t.Errorf("%s imports %s; only %v may", pkg, imp, allowed)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no imports checked: go list printed nothing usable")
	}
}

// TestRank pins the order so a typo in rank cannot quietly allow an upward
// import.
func TestRank(t *testing.T) {
	order := []string{"cmd/mvrun", "runner/process", "specs", "faults", "assertions", "hv/kernel", "internal/seeds"}
	for i := 1; i < len(order); i++ {
		_, hi := rank(module + "/" + order[i-1])
		_, lo := rank(module + "/" + order[i])
		if hi <= lo {
			t.Errorf("rank(%s) = %d is not above rank(%s) = %d", order[i-1], hi, order[i], lo)
		}
	}
}
