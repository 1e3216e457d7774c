package faults

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mvrun/multiverse/internal/seeds"
)

// Fault kind names, as they appear in spec blocks and as [Plan.Params] key
// prefixes.
const (
	KindPartition = "partition"
	KindLink      = "link"
	KindKill      = "kill"
	KindPause     = "pause"
	KindClockSkew = "clock_skew"
)

// kindOrder is the fixed order in which kinds are considered and drawn.
var kindOrder = []string{KindPartition, KindLink, KindKill, KindPause, KindClockSkew, KindDisk}

// Swarm factors, in quarters: a rate factor of 8 means twice as often.
var (
	swarmRate = []int64{1, 2, 4, 8, 16} // ×¼ … ×4
	swarmDur  = []int64{2, 4, 8}        // ×½ … ×2
	swarmInt  = []int64{1, 2, 4}        // ×¼ … ×1: never beyond the configured maximum
)

// knob is what one seed does with one fault kind.
type knob struct {
	on               bool
	why              string // why it is off
	rate, dur, inten int64  // swarm factors in quarters; 4 is ×1
	kindsOff         []PartitionKind
	diskOff          []DiskKind
	noOneWay, noJump bool
}

func (k knob) every(d time.Duration) time.Duration {
	// At least grain: a zero mean would never move time forward.
	return max(roundGrain(time.Duration(int64(d)*4/k.rate)), grain)
}

func (k knob) span(d time.Duration) time.Duration { return scale(d, k.dur) }

func (k knob) rng(r Range) Range {
	r = sane(r)
	return Range{Min: k.span(r.Min), Max: k.span(r.Max)}
}

// sane clamps r to 0 <= Min <= Max; Config.Check reports ranges that need it.
func sane(r Range) Range {
	r.Min = max(r.Min, 0)
	r.Max = max(r.Max, r.Min)
	return r
}

// p scales a probability by the intensity factor; a power of two, so the
// product is exact.
// Probabilities outside [0, 1] are clamped; Config.Check reports them.
func (k knob) p(p float64) float64 {
	switch {
	case !(p > 0): // also NaN
		return 0
	case p > 1:
		p = 1
	}
	return float64(p * float64(k.inten) / 4)
}

// most scales a configured maximum (latency, clock offset) by the intensity
// factor, so swarm never goes beyond what the spec allows.
func (k knob) most(d time.Duration) time.Duration { return scale(d, k.inten) }

func (k knob) factors(kind string) string {
	q := func(v int64) string {
		switch v {
		case 1:
			return "x1/4"
		case 2:
			return "x1/2"
		}
		return "x" + strconv.FormatInt(v/4, 10)
	}
	if kind == KindLink || kind == KindClockSkew || kind == KindDisk {
		return "rate " + q(k.rate) + ", intensity " + q(k.inten)
	}
	return "rate " + q(k.rate) + ", durations " + q(k.dur)
}

// participants returns the nodes of services that are in nodes, sorted; all
// nodes when services is empty. Names not in nodes are ignored here;
// [Config.Check] reports them.
func participants(services, nodes []string) []string {
	if len(services) == 0 {
		return slices.Clone(nodes)
	}
	var out []string
	for _, s := range services {
		if slices.Contains(nodes, s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

func partitionKinds(c *PartitionConfig) []PartitionKind {
	if len(c.Kinds) == 0 {
		return AllPartitionKinds
	}
	return c.Kinds
}

// feasible returns why kind cannot run at all under cfg over nodes, or "".
func feasible(kind string, cfg Config, nodes []string) string {
	switch kind {
	case KindPartition:
		c := cfg.Partition
		if c == nil {
			return "not configured"
		}
		if c.Every <= 0 {
			return "off (every not set)"
		}
		n := len(participants(c.Services, nodes))
		for _, k := range partitionKinds(c) {
			if m := k.MinNodes(); m > 0 && n >= m {
				return ""
			}
		}
		return "off (too few nodes for the partition kinds)"
	case KindLink:
		if cfg.Link == nil {
			return "not configured"
		}
		if len(participants(cfg.Link.Services, nodes)) == 0 {
			return "off (no nodes)"
		}
	case KindKill:
		if cfg.Kill == nil {
			return "not configured"
		}
		if cfg.Kill.Every <= 0 {
			return "off (every not set)"
		}
		if len(participants(cfg.Kill.Services, nodes)) < 2 {
			return "off (fewer than 2 nodes; one always keeps running)"
		}
	case KindPause:
		if cfg.Pause == nil {
			return "not configured"
		}
		if cfg.Pause.Every <= 0 {
			return "off (every not set)"
		}
		if len(participants(cfg.Pause.Services, nodes)) < 2 {
			return "off (fewer than 2 nodes; one always keeps running)"
		}
	case KindClockSkew:
		if cfg.ClockSkew == nil {
			return "not configured"
		}
		if cfg.ClockSkew.MaxOffset <= 0 {
			return "off (max_offset not set)"
		}
		if len(participants(cfg.ClockSkew.Services, nodes)) == 0 {
			return "off (no nodes)"
		}
	case KindDisk:
		c := cfg.Disk
		if c == nil {
			return "not configured"
		}
		if len(participants(c.Services, nodes)) == 0 {
			return "off (no nodes)"
		}
		usable := diskUsable(c, cfg, nodes)
		if len(usable) == 0 {
			return "off (no usable kinds)"
		}
		if c.Every <= 0 && !slices.Contains(usable, DiskLoseUnsynced) {
			return "off (every not set)"
		}
	}
	return ""
}

// knobs decides, for one seed, which kinds run and how hard (swarm testing).
// Kinds in on are never switched off by swarm testing.
func knobs(seed uint64, cfg Config, nodes []string, on []string) map[string]*knob {
	r := seeds.Stream(seed, "faults")
	ks := map[string]*knob{}
	var candidates []string
	for _, kind := range kindOrder {
		k := &knob{on: true, rate: 4, dur: 4, inten: 4}
		// Draw the same amount for every kind slot whatever the config, so
		// switching one kind on or off does not reshuffle the others.
		off := r.IntN(3) == 0
		rate, dur, inten := swarmRate[r.IntN(len(swarmRate))], swarmDur[r.IntN(len(swarmDur))], swarmInt[r.IntN(len(swarmInt))]
		why := feasible(kind, cfg, nodes)
		if why == "not configured" {
			continue
		}
		ks[kind] = k
		if why != "" {
			k.on, k.why = false, why
			continue
		}
		candidates = append(candidates, kind)
		if !cfg.Swarm {
			continue
		}
		k.rate, k.dur, k.inten = rate, dur, inten
		if off && !slices.ContainsFunc(on, func(arm string) bool { return ArmKind(arm) == kind }) {
			k.on, k.why = false, "off (swarm)"
		}
		sr := seeds.Stream(seed, "faults/swarm/"+kind)
		switch kind {
		case KindPartition:
			var usable []PartitionKind
			n := len(participants(cfg.Partition.Services, nodes))
			for _, pk := range partitionKinds(cfg.Partition) {
				if pk.MinNodes() > 0 && n >= pk.MinNodes() {
					usable = append(usable, pk)
				}
			}
			keep := usable[sr.IntN(len(usable))]
			for _, pk := range usable {
				if pk != keep && sr.IntN(3) == 0 {
					k.kindsOff = append(k.kindsOff, pk)
				}
			}
			k.noOneWay = sr.IntN(3) == 0
		case KindClockSkew:
			k.noJump = sr.IntN(3) == 0
		case KindDisk:
			usable := diskUsable(cfg.Disk, cfg, nodes)
			keep := usable[sr.IntN(len(usable))]
			for _, dk := range usable {
				if dk != keep && sr.IntN(3) == 0 {
					k.diskOff = append(k.diskOff, dk)
				}
			}
		}
	}
	if cfg.Swarm && len(candidates) > 0 {
		any := false
		for _, kind := range candidates {
			any = any || ks[kind].on
		}
		if !any {
			k := ks[candidates[r.IntN(len(candidates))]]
			k.on, k.why = true, ""
		}
	}
	return ks
}

// span is a closed interval of plan time during which a node is down.
type span struct{ from, to time.Duration }

// gen accumulates one plan.
type gen struct {
	start, end time.Duration // fault window: [Quiet, duration]
	nodes      []string
	actions    []Action
	down       map[string][]span // kills and pauses per node
	keepUp     [][]string
	params     map[string]string
	lengths    map[string]Range // see Plan.Lengths
}

// Schedule turns a test's fault settings into the fault schedule of one
// seed: what happens to which of nodes, when, during the first duration of
// the fault phase. It is a pure function: the same arguments give the same
// [Plan] on every machine. Every draw comes from the seed's "faults" stream
// and its "faults/<kind>" and "faults/swarm/<kind>" sub-streams.
//
// With cfg.Swarm, each seed switches some configured kinds off and scales
// the others' rates and durations (swarm testing); Plan.Params records what
// was drawn. Service names that are not among nodes are ignored; call
// [Config.Check] first to report them. The plan satisfies [Plan.Validate]:
// at least one node of each kill and pause fault's services keeps running,
// a node is never killed and paused at once, and every fault is undone by
// duration.
func Schedule(seed uint64, cfg Config, nodes []string, duration time.Duration) Plan {
	return ScheduleOn(seed, cfg, nodes, duration, nil, 0)
}

// ScheduleOn is [Schedule] for a search branch that redraws its future at
// plan time at under the arms on (kinds, or kinds aimed at a node,
// [Config.Arms]). The arms' kinds are never switched off by swarm testing
// (their rates and durations still vary): limited to a kind switched off, a
// branch would have no new faults at all. An aimed arm ("kill=n1") also
// makes the plan start one fault of its kind on its node at at, plus up
// to aimJitter, with a length drawn as the kind's are, where the node can
// go down then: the branch tries the fault it was chosen for, rather than
// leave it to the kind's rate, which swarm testing may have made too slow
// to come at all before the run ends. The kind's other faults are drawn as
// usual. With on empty it is Schedule.
func ScheduleOn(seed uint64, cfg Config, nodes []string, duration time.Duration, on []string, at time.Duration) Plan {
	all := slices.Clone(nodes)
	slices.Sort(all)
	all = slices.Compact(all)
	g := &gen{
		start:   ceilGrain(max(cfg.Quiet, 0)),
		end:     duration,
		nodes:   all,
		down:    map[string][]span{},
		params:  map[string]string{},
		lengths: map[string]Range{},
	}
	if cfg.Swarm {
		g.params["swarm"] = "on"
	} else {
		g.params["swarm"] = "off"
	}
	if cfg.Quiet > 0 {
		g.params["quiet"] = g.start.String()
	}
	ks := knobs(seed, cfg, all, on)
	for _, kind := range kindOrder {
		k := ks[kind]
		if k == nil {
			continue
		}
		if !k.on {
			g.params[kind] = k.why
			continue
		}
		g.params[kind] = "on"
		if cfg.Swarm {
			g.params[kind+".swarm"] = k.factors(kind)
		}
		r := seeds.Stream(seed, "faults/"+kind)
		switch kind {
		case KindPartition:
			g.partitions(r, cfg.Partition, k)
		case KindLink:
			g.links(r, cfg.Link, k)
		case KindKill:
			c := cfg.Kill
			g.params[kind+".every"] = k.every(c.Every).String()
			g.lengths[kind] = k.rng(c.RestartAfter)
			g.params[kind+".restart_after"] = g.lengths[kind].String()
			g.keepUp = append(g.keepUp, participants(c.Services, all))
		case KindPause:
			c := cfg.Pause
			g.params[kind+".every"] = k.every(c.Every).String()
			g.lengths[kind] = k.rng(c.Duration)
			g.params[kind+".duration"] = g.lengths[kind].String()
			g.keepUp = append(g.keepUp, participants(c.Services, all))
		case KindClockSkew:
			g.clocks(r, cfg.ClockSkew, k)
		case KindDisk:
			g.params[kind+".services"] = strings.Join(participants(cfg.Disk.Services, all), ",")
		}
	}
	// An aimed arm's fault comes first, so the drawn outages make way
	// for it; its draws have a stream of their own, so the others are
	// the same as without it.
	aim := seeds.Stream(seed, "faults/aim")
	for _, arm := range on {
		kind, node, aimed := strings.Cut(arm, "=")
		k := ks[kind]
		if !aimed || k == nil || !k.on {
			continue
		}
		t := roundGrain(max(at, g.start) + time.Duration(aim.Int64N(int64(aimJitter))))
		switch kind {
		case KindKill:
			g.outage(ActKill, ActRestart, node, t, drawRange(aim, g.lengths[KindKill]))
		case KindPause:
			g.outage(ActPause, ActResume, node, t, drawRange(aim, g.lengths[KindPause]))
		}
	}
	// Kills and pauses are drawn once every keep-up set is known, kills
	// first, so each new outage is checked against all earlier ones.
	if k := ks[KindKill]; k != nil && k.on {
		c := cfg.Kill
		g.outages(seeds.Stream(seed, "faults/"+KindKill), ActKill, ActRestart,
			participants(c.Services, all), k.every(c.Every), g.lengths[KindKill])
	}
	if k := ks[KindPause]; k != nil && k.on {
		c := cfg.Pause
		g.outages(seeds.Stream(seed, "faults/"+KindPause), ActPause, ActResume,
			participants(c.Services, all), k.every(c.Every), g.lengths[KindPause])
	}
	// Disk faults come last: lose_unsynced is armed at the kills.
	if k := ks[KindDisk]; k != nil && k.on {
		g.disks(seeds.Stream(seed, "faults/"+KindDisk), cfg.Disk, cfg, k)
	}
	sortActions(g.actions)
	return Plan{
		Seed:     seed,
		Duration: duration,
		Nodes:    all,
		KeepUp:   g.keepUp,
		Params:   g.params,
		Actions:  g.actions,
		Lengths:  g.lengths,
	}
}

// undo reports whether k ends a fault; at equal times these sort first, so
// a heal and the next partition at the same instant apply in that order.
func undo(k ActionKind) bool {
	return k == ActHeal || k == ActRestart || k == ActResume
}

// order ranks actions at the same instant: undos first, then the
// lose_unsynced arming of a kill, then everything else.
func order(a Action) int {
	switch {
	case undo(a.Kind) || a.Kind == ActDiskClear:
		return 0
	case a.Kind == ActDisk && a.Disk != nil && a.Disk.Kind == DiskLoseUnsynced:
		return 1
	}
	return 2
}

func sortActions(as []Action) {
	slices.SortStableFunc(as, func(a, b Action) int {
		if a.At != b.At {
			return compare(a.At, b.At)
		}
		return order(a) - order(b)
	})
}

func compare(a, b time.Duration) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// window returns when a fault that starts at t and lasts d ends, and false
// if it cannot fit before the end of the plan. Faults last at least grain,
// so the fault and its undo never share an instant.
func (g *gen) window(t, d time.Duration) (time.Duration, bool) {
	if t+grain > g.end {
		return 0, false
	}
	return min(t+max(d, grain), g.end), true
}

func (g *gen) partitions(r *rand.Rand, c *PartitionConfig, k *knob) {
	nodes := participants(c.Services, g.nodes)
	var kinds []PartitionKind
	for _, pk := range partitionKinds(c) {
		if pk.MinNodes() > 0 && len(nodes) >= pk.MinNodes() && !slices.Contains(k.kindsOff, pk) {
			kinds = append(kinds, pk)
		}
	}
	oneWay := c.OneWay && !k.noOneWay
	every, heal := k.every(c.Every), k.rng(c.HealAfter)
	names := make([]string, len(kinds))
	for i, pk := range kinds {
		names[i] = string(pk)
	}
	g.params[KindPartition+".every"] = every.String()
	g.params[KindPartition+".heal_after"] = heal.String()
	g.lengths[KindPartition] = heal
	g.params[KindPartition+".kinds"] = strings.Join(names, ",")
	g.params[KindPartition+".one_way"] = strconv.FormatBool(oneWay)
	// One partition at a time: the next one arrives an exponential gap
	// after the previous heal.
	for t := g.start; ; {
		t += expDuration(r, every)
		end, ok := g.window(t, drawRange(r, heal))
		if !ok {
			return
		}
		pk := kinds[r.IntN(len(kinds))]
		ow := oneWay && pk.OneWayCapable() && r.IntN(2) == 0
		p := NewPartition(r, pk, nodes, ow)
		g.actions = append(g.actions,
			Action{At: t, Kind: ActPartition, Partition: &p},
			Action{At: end, Kind: ActHeal})
		t = end
	}
}

func (g *gen) links(r *rand.Rand, c *LinkConfig, k *knob) {
	var nodes []string // nil: every link
	if len(c.Services) > 0 {
		nodes = participants(c.Services, g.nodes)
	}
	full := Link{
		Latency:   Range{Min: k.most(sane(c.Latency).Min), Max: k.most(sane(c.Latency).Max)},
		Loss:      k.p(c.Loss),
		Duplicate: k.p(c.Duplicate),
		Reorder:   k.p(c.Reorder),
	}
	f := func(p float64) string { return strconv.FormatFloat(p, 'f', -1, 64) }
	g.params[KindLink+".latency"] = full.Latency.String()
	g.params[KindLink+".loss"] = f(full.Loss)
	g.params[KindLink+".duplicate"] = f(full.Duplicate)
	g.params[KindLink+".reorder"] = f(full.Reorder)
	if g.start >= g.end {
		return
	}
	set := func(t time.Duration, l Link) {
		g.actions = append(g.actions, Action{At: t, Kind: ActLink, Nodes: nodes, Link: &l})
	}
	if c.Every <= 0 {
		g.params[KindLink+".every"] = "constant"
		set(g.start, full)
	} else {
		every := k.every(c.Every)
		g.params[KindLink+".every"] = every.String()
		for t := g.start; t < g.end; t += expDuration(r, every) {
			if r.IntN(4) == 0 {
				set(t, Link{}) // a clean spell
				continue
			}
			lo := drawRange(r, full.Latency)
			set(t, Link{
				Latency:   Range{Min: lo, Max: drawRange(r, Range{Min: lo, Max: full.Latency.Max})},
				Loss:      drawProb(r, full.Loss),
				Duplicate: drawProb(r, full.Duplicate),
				Reorder:   drawProb(r, full.Reorder),
			})
		}
	}
	set(g.end, Link{})
}

func (g *gen) clocks(r *rand.Rand, c *ClockSkewConfig, k *knob) {
	nodes := participants(c.Services, g.nodes)
	maxOff := k.most(c.MaxOffset)
	jumps := c.Jumps && !k.noJump
	g.params[KindClockSkew+".max_offset"] = maxOff.String()
	g.params[KindClockSkew+".jumps"] = strconv.FormatBool(jumps)
	if g.start >= g.end || maxOff < grain {
		return
	}
	offset := func() time.Duration {
		return drawRange(r, Range{Min: -maxOff, Max: maxOff})
	}
	for _, n := range nodes {
		g.actions = append(g.actions, Action{At: g.start, Kind: ActClockSkew, Nodes: []string{n}, Offset: offset()})
	}
	every := time.Duration(0)
	switch {
	case c.Every > 0:
		every = k.every(c.Every)
	case jumps:
		// Jumps without a rate: a handful per run.
		every = k.every(roundGrain((g.end - g.start) / 4))
	}
	if every > 0 {
		g.params[KindClockSkew+".every"] = every.String()
		for t := g.start + expDuration(r, every); t < g.end; t += expDuration(r, every) {
			n := nodes[r.IntN(len(nodes))]
			kind := ActClockSkew
			if jumps && (c.Every <= 0 || r.IntN(2) == 0) {
				kind = ActClockJump
			}
			g.actions = append(g.actions, Action{At: t, Kind: kind, Nodes: []string{n}, Offset: offset()})
		}
	} else {
		g.params[KindClockSkew+".every"] = "constant"
	}
	g.actions = append(g.actions, Action{At: g.end, Kind: ActClockSkew, Nodes: slices.Clone(nodes)})
}

// outages draws kills (or pauses) of services: Poisson arrivals with mean
// every, each taking down a random subset of the services that are up for
// the whole outage, for a duration drawn from length.
func (g *gen) outages(r *rand.Rand, do, undo ActionKind, services []string, every time.Duration, length Range) {
	for t := g.start; ; {
		t += expDuration(r, every)
		end, ok := g.window(t, drawRange(r, length))
		if !ok {
			return
		}
		var free []string
		for _, n := range services {
			if g.freeOver(n, t, end) {
				free = append(free, n)
			}
		}
		if len(free) < 2 {
			continue
		}
		k := 1
		if r.IntN(2) == 0 {
			k = 1 + r.IntN(len(free)-1)
		}
		perm := r.Perm(len(free))
		chosen := make([]string, 0, k)
		for _, i := range perm[:k] {
			chosen = append(chosen, free[i])
		}
		// Drop chosen nodes until every keep-up set keeps a node that is up
		// for the whole outage.
		for len(chosen) > 0 && !g.keepsUp(chosen, t, end) {
			chosen = chosen[:len(chosen)-1]
		}
		if len(chosen) == 0 {
			continue
		}
		slices.Sort(chosen)
		g.down1(do, undo, chosen, t, end)
	}
}

// aimJitter bounds how long after a branch's moment the fault of an
// aimed arm starts: siblings under the same arm do not all hit the node at
// the same instant.
const aimJitter = 250 * time.Millisecond

// outage adds an outage of node from t for length d, if the node is free
// then and every keep-up set keeps a node up.
func (g *gen) outage(do, undo ActionKind, node string, t, d time.Duration) {
	end, ok := g.window(t, d)
	if !ok || !slices.Contains(g.nodes, node) || !g.freeOver(node, t, end) || !g.keepsUp([]string{node}, t, end) {
		return
	}
	g.down1(do, undo, []string{node}, t, end)
}

// down1 records one outage of nodes from t to end: their down spans and
// the actions that start and end it.
func (g *gen) down1(do, undo ActionKind, nodes []string, t, end time.Duration) {
	for _, n := range nodes {
		g.down[n] = append(g.down[n], span{t, end})
	}
	g.actions = append(g.actions,
		Action{At: t, Kind: do, Nodes: nodes},
		Action{At: end, Kind: undo, Nodes: slices.Clone(nodes)})
}

// freeOver reports whether n has no outage touching [from, to]. Touching
// ends count, so a node is never restarted and paused in the same instant.
func (g *gen) freeOver(n string, from, to time.Duration) bool {
	for _, s := range g.down[n] {
		if s.from <= to && from <= s.to {
			return false
		}
	}
	return true
}

func (g *gen) keepsUp(chosen []string, from, to time.Duration) bool {
	for _, set := range g.keepUp {
		ok := false
		for _, n := range set {
			if !slices.Contains(chosen, n) && g.freeOver(n, from, to) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
