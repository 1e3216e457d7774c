package specs

import (
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/mvrun/multiverse/faults"
)

// Defaults of the fault blocks, used for attributes a block leaves out.
var (
	DefaultPartitionEvery     = 10 * time.Second
	DefaultPartitionHealAfter = faults.Range{Min: 1 * time.Second, Max: 8 * time.Second}
	DefaultKillEvery          = 20 * time.Second
	DefaultKillRestartAfter   = faults.Range{Min: 0, Max: 5 * time.Second}
	DefaultPauseEvery         = 30 * time.Second
	DefaultPauseDuration      = faults.Range{Min: 1 * time.Second, Max: 4 * time.Second}
	DefaultDiskEvery          = 10 * time.Second
	DefaultDiskDuration       = faults.Range{Min: 1 * time.Second, Max: 5 * time.Second}
	DefaultDiskProbability    = 1.0
	DefaultDiskLatency        = faults.Range{Min: 10 * time.Millisecond, Max: 200 * time.Millisecond}
)

// partitionMinNodes is how many taking-part services each partition shape
// needs to cut anything.
var partitionMinNodes = map[faults.PartitionKind]int{
	faults.PartitionHalves:     2,
	faults.PartitionIsolate:    2,
	faults.PartitionBridge:     3,
	faults.PartitionMajorities: 4,
}

var partitionKindNames = "halves, isolate, bridge, majorities"

var faultsSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "swarm"}, {Name: "quiet"}},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "partition"}, {Type: "link"}, {Type: "kill"}, {Type: "pause"}, {Type: "clock_skew"}, {Type: "disk"},
	},
}

var partitionSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "every"}, {Name: "kinds"}, {Name: "heal_after"}, {Name: "one_way"}, {Name: "services"},
}}

var linkSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "latency"}, {Name: "loss"}, {Name: "duplicate"}, {Name: "reorder"}, {Name: "every"}, {Name: "services"},
}}

var killSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "services"}, {Name: "every"}, {Name: "restart_after"},
}}

var pauseSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "services"}, {Name: "every"}, {Name: "duration"},
}}

var clockSkewSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "services"}, {Name: "max_offset", Required: true}, {Name: "jumps"}, {Name: "every"},
}}

var diskSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "services"}, {Name: "kinds"}, {Name: "every"}, {Name: "duration"}, {Name: "probability"}, {Name: "latency"},
}}

// defaultFaults is the fault config of a test without a faults block: no
// faults, swarm on.
func defaultFaults() faults.Config { return faults.Config{Swarm: true} }

// decodeFaultsBlock decodes a faults block into cfg and records each kind's
// block header in ranges.
func decodeFaultsBlock(block *hcl.Block, cfg *faults.Config, ranges map[string]hcl.Range) ([]serviceRef, hcl.Diagnostics) {
	content, diags := block.Body.Content(faultsSchema)
	if a := content.Attributes["swarm"]; a != nil {
		if b, ok := decodeBool(a, &diags); ok {
			cfg.Swarm = b
		}
	}
	if a := content.Attributes["quiet"]; a != nil {
		if d, ok := decodeDuration(a, false, &diags); ok {
			cfg.Quiet = d
		}
	}
	var refs []serviceRef
	for _, b := range content.Blocks {
		if first, dup := ranges[b.Type]; dup {
			diags = append(diags, diag(b.DefRange, "Duplicate "+b.Type+" block",
				"A faults block has at most one %s block; the first is at line %d. Merge them.", b.Type, first.Start.Line))
			continue
		}
		ranges[b.Type] = b.DefRange
		var (
			r []serviceRef
			d hcl.Diagnostics
		)
		switch b.Type {
		case faults.KindPartition:
			cfg.Partition, r, d = decodePartitionBlock(b)
		case faults.KindLink:
			cfg.Link, r, d = decodeLinkBlock(b)
		case faults.KindKill:
			cfg.Kill, r, d = decodeKillBlock(b)
		case faults.KindPause:
			cfg.Pause, r, d = decodePauseBlock(b)
		case faults.KindClockSkew:
			cfg.ClockSkew, r, d = decodeClockSkewBlock(b)
		case faults.KindDisk:
			cfg.Disk, r, d = decodeDiskBlock(b)
		}
		refs = append(refs, r...)
		diags = append(diags, d...)
	}
	return refs, diags
}

// decodeServices reads a services attribute, remembering where each name
// is written so an unknown one can be pointed at.
func decodeServices(a *hcl.Attribute, what string, diags *hcl.Diagnostics) ([]string, []serviceRef) {
	names, ok := decodeStrings(a, diags)
	if !ok {
		return nil, nil
	}
	if len(names) == 0 {
		*diags = append(*diags, diag(a.Expr.Range(), "Empty services list",
			"An empty services list would leave the %s fault nothing to act on; leave services out to use every service.", what))
		return nil, nil
	}
	rngs := make([]hcl.Range, len(names))
	elems, d := hcl.ExprList(a.Expr)
	for i := range names {
		rngs[i] = a.Expr.Range()
		if !d.HasErrors() && len(elems) == len(names) {
			rngs[i] = elems[i].Range()
		}
	}
	var refs []serviceRef
	seen := map[string]bool{}
	for i, n := range names {
		if seen[n] {
			*diags = append(*diags, diag(rngs[i], "Duplicate service",
				"Service %q is listed twice in services.", n))
			continue
		}
		seen[n] = true
		refs = append(refs, serviceRef{name: n, rng: rngs[i], what: what + " fault"})
	}
	return names, refs
}

// decodePartitionBlock decodes partition { every, kinds, heal_after, one_way, services }.
func decodePartitionBlock(block *hcl.Block) (*faults.PartitionConfig, []serviceRef, hcl.Diagnostics) {
	content, diags := block.Body.Content(partitionSchema)
	c := &faults.PartitionConfig{Every: DefaultPartitionEvery, HealAfter: DefaultPartitionHealAfter}
	var refs []serviceRef
	if a := content.Attributes["every"]; a != nil {
		if d, ok := decodeDuration(a, true, &diags); ok {
			c.Every = d
		}
	}
	if a := content.Attributes["heal_after"]; a != nil {
		if r, ok := decodeRange(a, true, &diags); ok {
			c.HealAfter = r
		}
	}
	if a := content.Attributes["one_way"]; a != nil {
		if b, ok := decodeBool(a, &diags); ok {
			c.OneWay = b
		}
	}
	if a := content.Attributes["kinds"]; a != nil {
		if kinds, ok := decodeStrings(a, &diags); ok {
			if len(kinds) == 0 {
				diags = append(diags, diag(a.Expr.Range(), "Empty kinds list",
					"An empty kinds list allows no partition; leave kinds out to allow every shape (%s).", partitionKindNames))
			}
			for _, k := range kinds {
				pk := faults.PartitionKind(k)
				if partitionMinNodes[pk] == 0 {
					diags = append(diags, diag(a.Expr.Range(), "Unknown partition kind",
						"Partition kinds are %s; %q is not one.", partitionKindNames, k))
					continue
				}
				c.Kinds = append(c.Kinds, pk)
			}
		}
	}
	if a := content.Attributes["services"]; a != nil {
		c.Services, refs = decodeServices(a, faults.KindPartition, &diags)
	}
	return c, refs, diags
}

// decodeLinkBlock decodes link { latency, loss, duplicate, reorder, every, services }.
func decodeLinkBlock(block *hcl.Block) (*faults.LinkConfig, []serviceRef, hcl.Diagnostics) {
	content, diags := block.Body.Content(linkSchema)
	c := &faults.LinkConfig{}
	var refs []serviceRef
	if a := content.Attributes["latency"]; a != nil {
		if r, ok := decodeRange(a, false, &diags); ok {
			c.Latency = r
		}
	}
	probs := []struct {
		name string
		p    *float64
	}{{"loss", &c.Loss}, {"duplicate", &c.Duplicate}, {"reorder", &c.Reorder}}
	for _, pr := range probs {
		if a := content.Attributes[pr.name]; a != nil {
			if v, ok := decodeProbability(a, &diags); ok {
				*pr.p = v
			}
		}
	}
	if a := content.Attributes["every"]; a != nil {
		if d, ok := decodeDuration(a, true, &diags); ok {
			c.Every = d
		}
	}
	if a := content.Attributes["services"]; a != nil {
		c.Services, refs = decodeServices(a, faults.KindLink, &diags)
	}
	if !diags.HasErrors() && c.Latency.Max == 0 && c.Loss == 0 && c.Duplicate == 0 && c.Reorder == 0 {
		diags = append(diags, diag(block.DefRange, "Link fault has no effect",
			"Set at least one of latency, loss, duplicate or reorder, or remove the link block."))
	}
	return c, refs, diags
}

// decodeKillBlock decodes kill { services, every, restart_after }.
func decodeKillBlock(block *hcl.Block) (*faults.KillConfig, []serviceRef, hcl.Diagnostics) {
	content, diags := block.Body.Content(killSchema)
	c := &faults.KillConfig{Every: DefaultKillEvery, RestartAfter: DefaultKillRestartAfter}
	var refs []serviceRef
	if a := content.Attributes["every"]; a != nil {
		if d, ok := decodeDuration(a, true, &diags); ok {
			c.Every = d
		}
	}
	if a := content.Attributes["restart_after"]; a != nil {
		if r, ok := decodeRange(a, false, &diags); ok {
			c.RestartAfter = r
		}
	}
	if a := content.Attributes["services"]; a != nil {
		c.Services, refs = decodeServices(a, faults.KindKill, &diags)
	}
	return c, refs, diags
}

// decodePauseBlock decodes pause { services, every, duration }.
func decodePauseBlock(block *hcl.Block) (*faults.PauseConfig, []serviceRef, hcl.Diagnostics) {
	content, diags := block.Body.Content(pauseSchema)
	c := &faults.PauseConfig{Every: DefaultPauseEvery, Duration: DefaultPauseDuration}
	var refs []serviceRef
	if a := content.Attributes["every"]; a != nil {
		if d, ok := decodeDuration(a, true, &diags); ok {
			c.Every = d
		}
	}
	if a := content.Attributes["duration"]; a != nil {
		if r, ok := decodeRange(a, true, &diags); ok {
			c.Duration = r
		}
	}
	if a := content.Attributes["services"]; a != nil {
		c.Services, refs = decodeServices(a, faults.KindPause, &diags)
	}
	return c, refs, diags
}

// decodeClockSkewBlock decodes clock_skew { services, max_offset, jumps, every }.
func decodeClockSkewBlock(block *hcl.Block) (*faults.ClockSkewConfig, []serviceRef, hcl.Diagnostics) {
	content, diags := block.Body.Content(clockSkewSchema)
	c := &faults.ClockSkewConfig{}
	var refs []serviceRef
	if a := content.Attributes["max_offset"]; a != nil {
		if d, ok := decodeDuration(a, true, &diags); ok {
			c.MaxOffset = d
		}
	}
	if a := content.Attributes["jumps"]; a != nil {
		if b, ok := decodeBool(a, &diags); ok {
			c.Jumps = b
		}
	}
	if a := content.Attributes["every"]; a != nil {
		if d, ok := decodeDuration(a, true, &diags); ok {
			c.Every = d
		}
	}
	if a := content.Attributes["services"]; a != nil {
		c.Services, refs = decodeServices(a, faults.KindClockSkew, &diags)
	}
	return c, refs, diags
}

// decodeDiskBlock decodes disk { services, kinds, every, duration,
// probability, latency }.
func decodeDiskBlock(block *hcl.Block) (*faults.DiskConfig, []serviceRef, hcl.Diagnostics) {
	content, diags := block.Body.Content(diskSchema)
	c := &faults.DiskConfig{Every: DefaultDiskEvery, Duration: DefaultDiskDuration, Probability: DefaultDiskProbability, Latency: DefaultDiskLatency}
	var refs []serviceRef
	if a := content.Attributes["every"]; a != nil {
		if d, ok := decodeDuration(a, true, &diags); ok {
			c.Every = d
		}
	}
	if a := content.Attributes["duration"]; a != nil {
		if r, ok := decodeRange(a, true, &diags); ok {
			c.Duration = r
		}
	}
	if a := content.Attributes["latency"]; a != nil {
		if r, ok := decodeRange(a, true, &diags); ok {
			c.Latency = r
		}
	}
	if a := content.Attributes["probability"]; a != nil {
		if v, ok := decodeProbability(a, &diags); ok {
			c.Probability = v
		}
	}
	if a := content.Attributes["kinds"]; a != nil {
		if kinds, ok := decodeStrings(a, &diags); ok {
			names := make([]string, len(faults.AllDiskKinds))
			for i, k := range faults.AllDiskKinds {
				names[i] = string(k)
			}
			if len(kinds) == 0 {
				diags = append(diags, diag(a.Expr.Range(), "Empty kinds list",
					"An empty kinds list allows no disk fault; leave kinds out to allow every kind (%s).", strings.Join(names, ", ")))
			}
			for _, k := range kinds {
				dk := faults.DiskKind(k)
				if !dk.Valid() {
					diags = append(diags, diag(a.Expr.Range(), "Unknown disk fault kind",
						"Disk fault kinds are %s; %q is not one.", strings.Join(names, ", "), k))
					continue
				}
				c.Kinds = append(c.Kinds, dk)
			}
		}
	}
	if a := content.Attributes["services"]; a != nil {
		c.Services, refs = decodeServices(a, faults.KindDisk, &diags)
	}
	return c, refs, diags
}

// faultKinds returns the enabled fault kinds of cfg in schedule order.
func faultKinds(cfg faults.Config) []string {
	var ks []string
	if cfg.Partition != nil {
		ks = append(ks, faults.KindPartition)
	}
	if cfg.Link != nil {
		ks = append(ks, faults.KindLink)
	}
	if cfg.Kill != nil {
		ks = append(ks, faults.KindKill)
	}
	if cfg.Pause != nil {
		ks = append(ks, faults.KindPause)
	}
	if cfg.ClockSkew != nil {
		ks = append(ks, faults.KindClockSkew)
	}
	if cfg.Disk != nil {
		ks = append(ks, faults.KindDisk)
	}
	return ks
}

// checkFaultNodes reports fault kinds that cannot act on the services they
// cover: the checks that need the compose project. A partition block
// without kinds gets every shape the covered services allow, so the
// decoded config says exactly what will be drawn. faultsRange is the faults
// block header, for problems [faults.Config.Check] finds that the decoder
// did not.
func checkFaultNodes(cfg *faults.Config, all []string, ranges map[string]hcl.Range, faultsRange hcl.Range) hcl.Diagnostics {
	var diags hcl.Diagnostics
	count := func(services []string) int {
		if len(services) == 0 {
			return len(all)
		}
		return len(services)
	}
	if c := cfg.Partition; c != nil {
		n := count(c.Services)
		if len(c.Kinds) == 0 {
			for _, k := range []faults.PartitionKind{faults.PartitionHalves, faults.PartitionIsolate, faults.PartitionBridge, faults.PartitionMajorities} {
				if n >= partitionMinNodes[k] {
					c.Kinds = append(c.Kinds, k)
				}
			}
			if len(c.Kinds) == 0 {
				diags = append(diags, diag(ranges[faults.KindPartition], "Too few services to partition",
					"A partition needs at least 2 services and this one covers %d (%s); add services or remove the partition block.",
					n, strings.Join(coverage(c.Services, all), ", ")))
			}
		} else {
			for _, k := range c.Kinds {
				if m := partitionMinNodes[k]; n < m {
					diags = append(diags, diag(ranges[faults.KindPartition], "Too few services to partition",
						"A %s partition needs at least %d services and this one covers %d (%s); add services or drop the kind.",
						k, m, n, strings.Join(coverage(c.Services, all), ", ")))
				}
			}
		}
	}
	keepUp := func(kind string, services []string) {
		if n := count(services); n < 2 {
			diags = append(diags, diag(ranges[kind], "Too few services to "+kind,
				"mvrun keeps at least one of a %s fault's services running, so it needs at least 2 and this one covers %d (%s).",
				kind, n, strings.Join(coverage(services, all), ", ")))
		}
	}
	if c := cfg.Kill; c != nil {
		keepUp(faults.KindKill, c.Services)
	}
	if c := cfg.Pause; c != nil {
		keepUp(faults.KindPause, c.Services)
	}
	if diags.HasErrors() {
		return diags
	}
	// The faults package has the last word on what it can schedule.
	if err := cfg.Check(all); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			diags = append(diags, diag(faultsRange, "Unusable fault settings", "%s.", strings.TrimSuffix(line, ".")))
		}
	}
	return diags
}

func coverage(services, all []string) []string {
	if len(services) == 0 {
		return all
	}
	return services
}
