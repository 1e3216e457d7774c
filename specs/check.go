package specs

import (
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/mvrun/multiverse/assertions/history"
)

// Check is one `check "name" { ... }` block: a history that workload
// clients record with sdk/history, checked for linearizability against a
// built-in model after each seed.
type Check struct {
	Name string
	// Model is the sequential specification: "kv" (a register per key),
	// "set" or "queue".
	Model string
	// History is the name clients record under; the check's name unless
	// the block sets history.
	History string
	// Timeout bounds the check of one seed's history; past it the verdict
	// is unknown, never a pass. 0 means history.DefaultTimeout.
	Timeout   time.Duration
	DeclRange hcl.Range
}

var checkSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "model", Required: true},
		{Name: "history"},
		{Name: "timeout"},
	},
}

// decodeCheckBlock decodes one check block.
func decodeCheckBlock(block *hcl.Block) (*Check, hcl.Diagnostics) {
	name := block.Labels[0]
	var diags hcl.Diagnostics
	if !nameRE.MatchString(name) {
		diags = append(diags, diag(block.LabelRanges[0], "Invalid check name",
			"Check names start with a letter or digit and contain only letters, digits, '_', '.' and '-'; %q does not.", name))
	}
	content, d := block.Body.Content(checkSchema)
	diags = append(diags, d...)
	c := &Check{Name: name, History: name, DeclRange: block.DefRange}
	if a := content.Attributes["model"]; a != nil {
		if s, ok := decodeString(a, &diags); ok {
			if _, err := history.Lookup(s); err != nil {
				diags = append(diags, diag(a.Expr.Range(), "Unknown model",
					"model must be one of %s; %q is not.", strings.Join(history.Models(), ", "), s))
			}
			c.Model = s
		}
	}
	if a := content.Attributes["history"]; a != nil {
		if s, ok := decodeString(a, &diags); ok {
			if s == "" {
				diags = append(diags, diag(a.Expr.Range(), "Empty history name",
					"history names what clients record under (history.NewClient(name)); leave it out to use the check's name."))
			}
			c.History = s
		}
	}
	if a := content.Attributes["timeout"]; a != nil {
		if d, ok := decodeDuration(a, true, &diags); ok {
			c.Timeout = d
		}
	}
	return c, diags
}
