package specs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Defaults of a test block.
const (
	DefaultBackend  = "auto"
	DefaultDuration = 30 * time.Second
	DefaultSeeds    = 20
)

// DefaultSeedTimeout returns the seed_timeout used when a test sets none:
// four times its duration plus a minute for booting and the final checks.
func DefaultSeedTimeout(duration time.Duration) time.Duration {
	return 4*duration + 60*time.Second
}

// Backends lists the values backend may take.
var Backends = []string{"auto", "hv", "process", "docker"}

// defaultComposeFiles are tried, in order, when a test names no compose
// file; they are the names docker compose itself looks for.
var defaultComposeFiles = []string{"compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"}

// nameRE is what test and workload names must look like: they appear in
// reports, file names and command lines.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

var fileSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{{Type: "test", LabelNames: []string{"name"}}},
}

var testSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "compose"},
		{Name: "backend"},
		{Name: "duration"},
		{Name: "seeds"},
		{Name: "seed_timeout"},
	},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "workload"},
		{Type: "faults"},
		{Type: "check", LabelNames: []string{"name"}},
		{Type: "explore"},
	},
}

// serviceRef is a place in the spec that names a compose service; they are
// checked once the compose project is loaded.
type serviceRef struct {
	name string
	rng  hcl.Range
	what string // who refers to it, for the message
}

// testDecl is a decoded test block plus what later stages need to check it
// against its compose project.
type testDecl struct {
	test         *Test
	composeRange hcl.Range // the compose attribute's value, or the block header
	refs         []serviceRef
	faultRanges  map[string]hcl.Range // fault kind -> its block header
	faultsRange  hcl.Range            // the faults block header
	composeSrc   []byte               // the compose file, once read
}

// decodeTestBlock decodes one test block. It checks everything that needs
// no compose project; dir is the spec file's directory.
func decodeTestBlock(block *hcl.Block, specFile, dir string) (*testDecl, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	name := block.Labels[0]
	if !nameRE.MatchString(name) {
		diags = append(diags, diag(block.LabelRanges[0], "Invalid test name",
			"Test names start with a letter or digit and contain only letters, digits, '_', '.' and '-'; %q does not.", name))
	}
	t := &Test{
		Name:      name,
		SpecFile:  specFile,
		Dir:       dir,
		Backend:   DefaultBackend,
		Duration:  DefaultDuration,
		Seeds:     DefaultSeeds,
		Faults:    defaultFaults(),
		DeclRange: block.DefRange,
	}
	decl := &testDecl{test: t, composeRange: block.DefRange, faultRanges: map[string]hcl.Range{}}

	content, d := block.Body.Content(testSchema)
	diags = append(diags, d...)
	decl.decodeCompose(block, content, dir, &diags)
	decodeTestSettings(t, content, &diags)
	workload, faultsBlock, exploreBlock := decodeTestBlocks(t, content, &diags)
	decl.decodeWorkloadAndFaults(block, workload, faultsBlock, exploreBlock, &diags)
	return decl, diags
}

// decodeCompose sets the test's compose file: the compose attribute,
// relative to the spec's directory, or the first default compose file
// next to the spec.
func (decl *testDecl) decodeCompose(block *hcl.Block, content *hcl.BodyContent, dir string, diags *hcl.Diagnostics) {
	t, name := decl.test, block.Labels[0]
	if a := content.Attributes["compose"]; a != nil {
		decl.composeRange = a.Expr.Range()
		if s, ok := decodeString(a, diags); ok {
			if strings.TrimSpace(s) == "" {
				*diags = append(*diags, diag(a.Expr.Range(), "Empty compose path",
					"compose names the docker compose file of the test, relative to %s.", dir))
			} else {
				p := s
				if !filepath.IsAbs(p) {
					p = filepath.Join(dir, p)
				}
				t.ComposeFile = filepath.Clean(p)
				if fi, err := os.Stat(t.ComposeFile); err != nil || fi.IsDir() {
					*diags = append(*diags, diag(a.Expr.Range(), "Compose file not found",
						"There is no compose file at %s; compose paths are relative to the spec's directory.", t.ComposeFile))
				}
			}
		}
	} else {
		for _, n := range defaultComposeFiles {
			p := filepath.Join(dir, n)
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				t.ComposeFile = p
				break
			}
		}
		if t.ComposeFile == "" {
			*diags = append(*diags, diag(block.DefRange, "Missing compose file",
				"Test %q sets no compose attribute and none of %s exists next to the spec; add compose = \"path/to/compose.yaml\".",
				name, strings.Join(defaultComposeFiles, ", ")))
		}
	}

}

// decodeTestSettings decodes the test's attributes besides compose:
// backend, duration, seeds and seed_timeout (whose default follows the
// duration).
func decodeTestSettings(t *Test, content *hcl.BodyContent, diags *hcl.Diagnostics) {
	if a := content.Attributes["backend"]; a != nil {
		if s, ok := decodeString(a, diags); ok {
			if !contains(Backends, s) {
				*diags = append(*diags, diag(a.Expr.Range(), "Unknown backend",
					"backend must be one of %s; %q is not.", strings.Join(Backends, ", "), s))
			} else {
				t.Backend = s
			}
		}
	}
	if a := content.Attributes["duration"]; a != nil {
		if d, ok := decodeDuration(a, true, diags); ok {
			t.Duration = d
		}
	}
	if a := content.Attributes["seeds"]; a != nil {
		if n, ok := decodeInt(a, 1, diags); ok {
			t.Seeds = n
		}
	}
	t.SeedTimeout = DefaultSeedTimeout(t.Duration)
	if a := content.Attributes["seed_timeout"]; a != nil {
		if d, ok := decodeDuration(a, true, diags); ok {
			t.SeedTimeout = d
			if d <= t.Duration {
				*diags = append(*diags, warn(a.Expr.Range(), "Short seed_timeout",
					"seed_timeout %s is not longer than duration %s; on the process and docker backends every seed will time out.", d, t.Duration))
			}
		}
	}
}

// decodeTestBlocks decodes the check blocks into t and returns the
// workload, faults and explore blocks, at most one each.
func decodeTestBlocks(t *Test, content *hcl.BodyContent, diags *hcl.Diagnostics) (workload, faultsBlock, exploreBlock *hcl.Block) {
	checks := map[string]hcl.Range{}
	for _, b := range content.Blocks {
		if b.Type == "check" {
			if first, dup := checks[b.Labels[0]]; dup {
				*diags = append(*diags, diag(b.LabelRanges[0], "Duplicate check name",
					"Check names must be unique within a test, as reports refer to them by name; %q is already used at line %d.",
					b.Labels[0], first.Start.Line))
				continue
			}
			checks[b.Labels[0]] = b.DefRange
			c, d := decodeCheckBlock(b)
			*diags = append(*diags, d...)
			t.Checks = append(t.Checks, c)
			continue
		}
		prev := &workload
		switch b.Type {
		case "faults":
			prev = &faultsBlock
		case "explore":
			prev = &exploreBlock
		}
		if *prev != nil {
			*diags = append(*diags, diag(b.DefRange, "Duplicate "+b.Type+" block",
				"A test has at most one %s block; the first is at line %d. Merge them.", b.Type, (*prev).DefRange.Start.Line))
			continue
		}
		*prev = b
	}
	return workload, faultsBlock, exploreBlock
}

// decodeWorkloadAndFaults decodes the workload block (which a test must
// have), the faults block and the explore block, collecting the service
// references the first two make for the later check against the compose
// project.
func (decl *testDecl) decodeWorkloadAndFaults(block *hcl.Block, workload, faultsBlock, exploreBlock *hcl.Block, diags *hcl.Diagnostics) {
	t, name := decl.test, block.Labels[0]
	if workload == nil {
		*diags = append(*diags, diag(block.DefRange, "Test has no workload",
			"Test %q needs a workload block with at least one command (first, parallel_driver, ..., finally) to drive the system.", name))
	} else {
		cmds, tpl, refs, d := decodeWorkloadBlock(workload)
		*diags = append(*diags, d...)
		t.Workload = cmds
		t.Templates = tpl
		decl.refs = append(decl.refs, refs...)
	}
	if faultsBlock != nil {
		decl.faultsRange = faultsBlock.DefRange
		refs, d := decodeFaultsBlock(faultsBlock, &t.Faults, decl.faultRanges)
		*diags = append(*diags, d...)
		decl.refs = append(decl.refs, refs...)
		if t.Faults.Quiet >= t.Duration {
			*diags = append(*diags, warn(faultsBlock.DefRange, "No time for faults",
				"quiet %s is not shorter than duration %s, so no fault is ever injected.", t.Faults.Quiet, t.Duration))
		}
	}
	if exploreBlock != nil {
		// After the faults block: the bandit's arms must be its kinds.
		e, d := decodeExploreBlock(exploreBlock, t)
		*diags = append(*diags, d...)
		t.Explore = e
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
