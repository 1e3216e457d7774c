package specs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// Load reads and fully validates a spec file and the compose project each
// of its tests names. On failure the error is a *[DiagnosticsError] listing
// every problem found. Non-fatal findings are in [Spec.Warnings].
//
// Loading goes in stages and stops after the first that fails: parse the
// file, decode every test block, then load each compose project and check
// the spec against it.
func Load(ctx context.Context, path string) (*Spec, error) {
	parser := hclparse.NewParser()
	spec, diags := load(ctx, parser, path)
	sortDiags(diags)
	if diags.HasErrors() {
		return nil, &DiagnosticsError{Diags: diags, Files: parser.Files()}
	}
	if w := warningsOnly(diags); len(w) > 0 {
		spec.Warnings = &DiagnosticsError{Diags: w, Files: parser.Files()}
	}
	return spec, nil
}

// Test returns the test called name. An empty name picks the file's only
// test; the error lists the test names when that is ambiguous or name is
// not there.
func (s *Spec) Test(name string) (*Test, error) {
	names := make([]string, len(s.Tests))
	for i, t := range s.Tests {
		if t.Name == name || (name == "" && len(s.Tests) == 1) {
			return t, nil
		}
		names[i] = fmt.Sprintf("%q", t.Name)
	}
	list := strings.Join(names, ", ")
	if name == "" {
		return nil, fmt.Errorf("%s has %d tests (%s); name the one to run", s.File, len(s.Tests), list)
	}
	return nil, fmt.Errorf("%s has no test %q; its tests are %s", s.File, name, list)
}

func load(ctx context.Context, parser *hclparse.Parser, path string) (*Spec, hcl.Diagnostics) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot resolve spec path", Detail: err.Error()}}
	}
	src, diags := readText(path, "spec", MaxSpecBytes, nil)
	if diags.HasErrors() {
		return nil, diags
	}
	if d := checkNesting(src, path); d.HasErrors() {
		return nil, d
	}
	f, diags := parser.ParseHCL(src, path)
	if diags.HasErrors() {
		return nil, diags
	}
	content, d := f.Body.Content(fileSchema)
	diags = append(diags, d...)
	if len(content.Blocks) == 0 && !diags.HasErrors() {
		start := hcl.Pos{Line: 1, Column: 1}
		diags = append(diags, diag(hcl.Range{Filename: path, Start: start, End: start}, "No tests",
			"A spec needs at least one test \"name\" { ... } block."))
	}

	// Stage 1: decode each test on its own.
	spec := &Spec{File: path}
	var decls []*testDecl
	seen := map[string]hcl.Range{}
	for _, b := range content.Blocks {
		name := b.Labels[0]
		if first, dup := seen[name]; dup {
			diags = append(diags, diag(b.LabelRanges[0], "Duplicate test name",
				"Test %q is already defined at line %d; test names must be unique within a spec.", name, first.Start.Line))
			continue
		}
		seen[name] = b.DefRange
		decl, d := decodeTestBlock(b, abs, filepath.Dir(abs))
		diags = append(diags, d...)
		decls = append(decls, decl)
		spec.Tests = append(spec.Tests, decl.test)
	}
	if diags.HasErrors() {
		return nil, diags
	}

	// Stage 2: check each test against its compose project.
	for _, decl := range decls {
		if err := ctx.Err(); err != nil {
			return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Loading interrupted", Detail: err.Error()})
		}
		diags = append(diags, checkCompose(ctx, decl, path, parser.Files())...)
	}
	if diags.HasErrors() {
		return nil, diags
	}
	for _, decl := range decls {
		h := sha256.New()
		fmt.Fprintf(h, "spec %d\n", len(src))
		h.Write(src)
		fmt.Fprintf(h, "compose %d\n", len(decl.composeSrc))
		h.Write(decl.composeSrc)
		decl.test.Digest = hex.EncodeToString(h.Sum(nil))
	}
	return spec, diags
}

// checkCompose loads decl's compose project into it and checks every
// service the test names against it. specPath is the spec's path as the
// user gave it; compose problems are reported in the compose file, named
// relative to it, whose source is added to files for excerpts.
func checkCompose(ctx context.Context, decl *testDecl, specPath string, files map[string]*hcl.File) hcl.Diagnostics {
	t := decl.test
	rel := t.ComposeFile
	shown := t.ComposeFile
	if r, err := filepath.Rel(t.Dir, t.ComposeFile); err == nil && !strings.HasPrefix(r, "..") {
		rel = r
		shown = filepath.Join(filepath.Dir(specPath), r)
	}
	src, diags := readText(t.ComposeFile, "compose", MaxComposeBytes, &decl.composeRange)
	if diags.HasErrors() {
		return diags
	}
	decl.composeSrc = src
	if _, ok := files[shown]; !ok {
		files[shown] = &hcl.File{Bytes: src}
	}
	p, err := loadCompose(ctx, t.ComposeFile, t.Name)
	if err != nil {
		var ce *composeError
		if !errors.As(err, &ce) || ce.err != nil {
			msg := err.Error()
			return hcl.Diagnostics{diag(composeErrRange(shown, src, msg), "Cannot load compose file",
				"Loading %s (the compose file of test %q) failed: %s", rel, t.Name, msg)}
		}
		var diags hcl.Diagnostics
		for _, s := range ce.services {
			diags = append(diags, diag(yamlKeyRange(shown, src, []string{"services", s.service}), "Unusable compose service",
				"Service %q in %s (the compose file of test %q): %s.", s.service, rel, t.Name, s.msg))
		}
		return diags
	}
	t.Project = p
	diags = nil
	names := p.ServiceNames()
	for _, ref := range decl.refs {
		if p.Service(ref.name) == nil {
			hint := ""
			if s := suggest(ref.name, names); s != "" {
				hint = fmt.Sprintf(" Did you mean %q?", s)
			}
			diags = append(diags, diag(ref.rng, "Unknown service",
				"The %s names service %q, but %s has no such service; it has %s.%s",
				ref.what, ref.name, rel, strings.Join(names, ", "), hint))
		}
	}
	if diags.HasErrors() {
		return diags
	}
	return checkFaultNodes(&t.Faults, names, decl.faultRanges, decl.faultsRange)
}

// sortDiags orders diagnostics by file and position, so output does not
// depend on map iteration inside the HCL decoder; those without a place
// come first.
func sortDiags(diags hcl.Diagnostics) {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		switch {
		case a == nil || b == nil:
			return a == nil && b != nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		}
		return a.Start.Byte < b.Start.Byte
	})
}

// suggest returns the candidate closest to name by edit distance, if it is
// close enough to be a likely typo.
func suggest(name string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := editDistance(name, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
