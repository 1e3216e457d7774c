package specs

import (
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Roles lists the workload roles in the order a seed runs them.
var Roles = []Role{RoleFirst, RoleParallelDriver, RoleSerialDriver, RoleSingletonDriver, RoleAnytime, RoleEventually, RoleFinally}

// DefaultInstances is how many copies of a parallel_driver run at once when
// the spec does not say.
const DefaultInstances = 2

var workloadSchema = func() *hcl.BodySchema {
	s := &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "templates"}, {Name: "service"}}}
	for _, r := range Roles {
		s.Blocks = append(s.Blocks, hcl.BlockHeaderSchema{Type: string(r), LabelNames: []string{"name"}})
	}
	return s
}()

var commandSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "service", Required: true},
		{Name: "command", Required: true},
		{Name: "env"},
		{Name: "timeout"},
		{Name: "instances"},
	},
}

// decodeWorkloadBlock decodes a workload block into its commands, in the
// order the spec lists them, and its test-composer template source.
func decodeWorkloadBlock(block *hcl.Block) ([]*Command, *Templates, []serviceRef, hcl.Diagnostics) {
	content, diags := block.Body.Content(workloadSchema)
	var (
		cmds []*Command
		refs []serviceRef
		seen = map[string]hcl.Range{}
		tpl  *Templates
	)
	tplAttr, svcAttr := content.Attributes["templates"], content.Attributes["service"]
	if tplAttr != nil {
		if dir, ok := decodeString(tplAttr, &diags); ok {
			if !strings.HasPrefix(dir, "/") {
				diags = append(diags, diag(tplAttr.Expr.Range(), "Relative templates directory",
					"templates is a directory as the service sees it, such as %q; %q is not absolute.", DefaultTemplatesDir, dir))
			}
			tpl = &Templates{Dir: dir, DeclRange: tplAttr.Range}
		}
	}
	if svcAttr != nil {
		if tplAttr == nil {
			diags = append(diags, diag(svcAttr.NameRange, "service without templates",
				"A workload's service attribute names where its templates directory is; set templates too, or move service into a command block."))
		} else if name, ok := decodeString(svcAttr, &diags); ok && tpl != nil {
			tpl.Service = name
			refs = append(refs, serviceRef{name: name, rng: svcAttr.Expr.Range(), what: "workload templates"})
		}
	}
	if tpl != nil && tpl.Service == "" && !diags.HasErrors() {
		diags = append(diags, diag(tplAttr.NameRange, "templates without service",
			"Name the service whose file system holds the templates directory: service = \"client\"."))
	}
	for _, b := range content.Blocks {
		name := b.Labels[0]
		if first, dup := seen[name]; dup {
			diags = append(diags, diag(b.LabelRanges[0], "Duplicate workload name",
				"Workload command names must be unique within a test, as reports refer to them by name; %q is already used at line %d.",
				name, first.Start.Line))
			continue
		}
		seen[name] = b.DefRange
		c, ref, d := decodeCommandBlock(b)
		diags = append(diags, d...)
		if c != nil {
			cmds = append(cmds, c)
			refs = append(refs, ref)
		}
	}
	if len(content.Blocks) == 0 && tpl == nil && !diags.HasErrors() {
		diags = append(diags, diag(block.DefRange, "Empty workload",
			"A workload needs at least one command block (%s) or a templates directory.", roleList()))
	}
	return cmds, tpl, refs, diags
}

func roleList() string {
	s := make([]string, len(Roles))
	for i, r := range Roles {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// decodeCommandBlock decodes one role block such as parallel_driver "x".
// It returns nil when the block is unusable.
func decodeCommandBlock(block *hcl.Block) (*Command, serviceRef, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	role := Role(block.Type)
	name := block.Labels[0]
	if !nameRE.MatchString(name) {
		diags = append(diags, diag(block.LabelRanges[0], "Invalid workload name",
			"Workload names start with a letter or digit and contain only letters, digits, '_', '.' and '-'; %q does not.", name))
	}
	c := &Command{Role: role, Name: name, Instances: 1, DeclRange: block.DefRange}
	if role == RoleParallelDriver {
		c.Instances = DefaultInstances
	}
	content, d := block.Body.Content(commandSchema)
	diags = append(diags, d...)

	var ref serviceRef
	if a := content.Attributes["service"]; a != nil {
		if s, ok := decodeString(a, &diags); ok {
			c.Service = s
			ref = serviceRef{name: s, rng: a.Expr.Range(), what: string(role) + " \"" + name + "\""}
		}
	}
	if a := content.Attributes["command"]; a != nil {
		if argv, ok := decodeStrings(a, &diags); ok {
			if len(argv) == 0 || argv[0] == "" {
				diags = append(diags, diag(a.Expr.Range(), "Empty command",
					"command is the argv to run in the service, program first, as in [\"/bin/client\", \"check\"]."))
			}
			c.Argv = argv
		}
	}
	if a := content.Attributes["env"]; a != nil {
		if m, ok := decodeStringMap(a, &diags); ok {
			for k := range m {
				if k == "" || strings.ContainsAny(k, "=\x00") {
					diags = append(diags, diag(a.Expr.Range(), "Invalid environment variable name",
						"Environment variable names cannot be empty or contain '=' or NUL; %q does.", k))
				}
			}
			c.Environment = m
		}
	}
	if a := content.Attributes["timeout"]; a != nil {
		if t, ok := decodeDuration(a, true, &diags); ok {
			c.Timeout = t
		}
	}
	if a := content.Attributes["instances"]; a != nil {
		if role != RoleParallelDriver {
			diags = append(diags, diag(a.NameRange, "instances only applies to parallel_driver",
				"Only a parallel_driver runs several copies at once; a %s runs one. Remove instances or make this a parallel_driver.", role))
		} else if n, ok := decodeInt(a, 1, &diags); ok {
			c.Instances = n
		}
	}
	if diags.HasErrors() {
		return nil, serviceRef{}, diags
	}
	return c, ref, diags
}
