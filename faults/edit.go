package faults

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mvrun/multiverse/internal/seeds"
)

// Fault is one fault of a [Plan]: the action that starts it and, for
// faults that last (a partition, a kill, a pause, a disk fault window),
// the action that ends it. Start and End index Plan.Actions; End is -1
// for a fault that is a single action (a change of link conditions or of
// a clock). Shrinking and attribution work on faults rather than raw
// actions, so that dropping "kill kv1" also drops its restart and every
// edited plan still heals what it breaks.
type Fault struct {
	Start, End int
}

// restoring reports whether a only puts things back (a heal, a restart,
// clean links, a zero clock offset): it belongs to the fault it ends, or
// to the plan's final clean-up, and is never a fault of its own.
func restoring(a Action) bool {
	switch a.Kind {
	case ActHeal, ActRestart, ActResume, ActDiskClear:
		return true
	case ActLink:
		return a.Link == nil || *a.Link == (Link{})
	case ActClockSkew:
		return a.Offset == 0
	}
	return false
}

// Faults lists p's faults in the order of their start. A lasting fault's
// end is the first later action that undoes it: the next heal for a
// partition, the restart (resume) of the same nodes for a kill (pause),
// the disk_clear of the same nodes and kind for a disk window.
func Faults(p Plan) []Fault {
	var fs []Fault
	used := make([]bool, len(p.Actions))
	for i, a := range p.Actions {
		if restoring(a) {
			continue
		}
		f := Fault{Start: i, End: -1}
		if a.Kind == ActDisk && a.Disk != nil && a.Disk.Kind == DiskLoseUnsynced {
			fs = append(fs, f) // armed for the kill at the same instant: no end
			continue
		}
		for j := i + 1; j < len(p.Actions); j++ {
			b := p.Actions[j]
			if used[j] || !ends(a, b) {
				continue
			}
			f.End, used[j] = j, true
			break
		}
		fs = append(fs, f)
	}
	return fs
}

// ends reports whether b undoes the fault a starts.
func ends(a, b Action) bool {
	switch a.Kind {
	case ActPartition:
		return b.Kind == ActHeal
	case ActKill:
		return b.Kind == ActRestart && slices.Equal(a.Nodes, b.Nodes)
	case ActPause:
		return b.Kind == ActResume && slices.Equal(a.Nodes, b.Nodes)
	case ActDisk:
		return b.Kind == ActDiskClear && slices.Equal(a.Nodes, b.Nodes) && a.Disk != nil && b.Disk != nil && a.Disk.Kind == b.Disk.Kind
	}
	return false
}

// Edits change a plan's faults: the faults to drop, new lengths for
// lasting faults (shorten) and delays for faults (move later). Faults are
// numbered as [Faults] lists them for the plan the edits apply to. Edits
// are what `mvrun shrink` produces; [Edits.String] is the form an id
// carries after "~", so an edited schedule replays from its seed alone.
type Edits struct {
	Drop   []int                 // faults to leave out
	Length map[int]time.Duration // lasting faults' new lengths (end − start)
	Delay  map[int]time.Duration // how much later faults start (and end)
}

// Empty reports whether e changes nothing.
func (e Edits) Empty() bool { return len(e.Drop) == 0 && len(e.Length) == 0 && len(e.Delay) == 0 }

// Clone returns a deep copy of e.
func (e Edits) Clone() Edits {
	c := Edits{Drop: slices.Clone(e.Drop)}
	if len(e.Length) > 0 {
		c.Length = map[int]time.Duration{}
		for k, v := range e.Length {
			c.Length[k] = v
		}
	}
	if len(e.Delay) > 0 {
		c.Delay = map[int]time.Duration{}
		for k, v := range e.Delay {
			c.Delay[k] = v
		}
	}
	return c
}

// Dropped reports whether fault i is dropped.
func (e Edits) Dropped(i int) bool { return slices.Contains(e.Drop, i) }

// String renders e as an id suffix: "d1.4.7~s2=500ms~l3=2s" (drop faults
// 1, 4 and 7; fault 2 lasts 500ms; fault 3 starts 2s later). Empty edits
// render as "".
func (e Edits) String() string {
	var parts []string
	if len(e.Drop) > 0 {
		d := slices.Clone(e.Drop)
		slices.Sort(d)
		ns := make([]string, len(d))
		for i, n := range d {
			ns[i] = strconv.Itoa(n)
		}
		parts = append(parts, "d"+strings.Join(ns, "."))
	}
	for _, m := range []struct {
		tag string
		m   map[int]time.Duration
	}{{"s", e.Length}, {"l", e.Delay}} {
		keys := make([]int, 0, len(m.m))
		for k := range m.m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s%d=%v", m.tag, k, m.m[k]))
		}
	}
	return strings.Join(parts, "~")
}

// ParseEdits reads what [Edits.String] writes.
func ParseEdits(s string) (Edits, error) {
	var e Edits
	if s == "" {
		return e, nil
	}
	bad := func(part, why string) (Edits, error) {
		return Edits{}, fmt.Errorf("faults: schedule edit %q: %s (want d1.4, s2=500ms or l3=2s, joined by ~)", part, why)
	}
	for _, part := range strings.Split(s, "~") {
		if len(part) < 2 {
			return bad(part, "too short")
		}
		switch part[0] {
		case 'd':
			for _, n := range strings.Split(part[1:], ".") {
				i, err := strconv.Atoi(n)
				if err != nil || i < 0 {
					return bad(part, "not a fault number")
				}
				if !slices.Contains(e.Drop, i) {
					e.Drop = append(e.Drop, i)
				}
			}
		case 's', 'l':
			k, v, ok := strings.Cut(part[1:], "=")
			i, err := strconv.Atoi(k)
			if !ok || err != nil || i < 0 {
				return bad(part, "not a fault number")
			}
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return bad(part, "not a non-negative duration")
			}
			if part[0] == 's' {
				if e.Length == nil {
					e.Length = map[int]time.Duration{}
				}
				e.Length[i] = d
			} else {
				if e.Delay == nil {
					e.Delay = map[int]time.Duration{}
				}
				e.Delay[i] = d
			}
		default:
			return bad(part, "unknown edit")
		}
	}
	slices.Sort(e.Drop)
	return e, nil
}

// Apply returns p with e carried out. It fails when e names a fault p
// does not have, shortens a fault that does not last, or yields a plan
// that fails [Plan.Validate] (a fault moved onto another one, past the
// end, or leaving no node of a keep-up set running): such a schedule is
// not one the runner may run.
func (e Edits) Apply(p Plan) (Plan, error) {
	fs := Faults(p)
	check := func(i int) error {
		if i >= len(fs) {
			return fmt.Errorf("faults: edit names fault %d, but the plan has %d faults", i, len(fs))
		}
		return nil
	}
	for _, i := range e.Drop {
		if err := check(i); err != nil {
			return p, err
		}
	}
	acts := slices.Clone(p.Actions)
	keep := make([]bool, len(acts))
	for i := range keep {
		keep[i] = true
	}
	for i, f := range fs {
		if e.Dropped(i) {
			keep[f.Start] = false
			if f.End >= 0 {
				keep[f.End] = false
			}
		}
	}
	for i, d := range e.Length {
		if err := check(i); err != nil {
			return p, err
		}
		f := fs[i]
		if f.End < 0 {
			return p, fmt.Errorf("faults: edit shortens fault %d (%s), which does not last", i, acts[f.Start])
		}
		acts[f.End].At = acts[f.Start].At + d
	}
	for i, d := range e.Delay {
		if err := check(i); err != nil {
			return p, err
		}
		f := fs[i]
		acts[f.Start].At += d
		if f.End >= 0 {
			acts[f.End].At += d
		}
	}
	out := p
	out.Actions = nil
	for i, a := range acts {
		if keep[i] {
			out.Actions = append(out.Actions, a)
		}
	}
	sortActions(out.Actions)
	if err := out.Validate(); err != nil {
		return p, fmt.Errorf("faults: the edited schedule %s: %w", e, err)
	}
	return out, nil
}

// Describe renders fault i of p for people: "kill kv1 at 12.3s for 1.2s".
func Describe(p Plan, f Fault) string {
	a := p.Actions[f.Start]
	s := fmt.Sprintf("%s at %v", a, a.At)
	if f.End >= 0 {
		s += fmt.Sprintf(" for %v", p.Actions[f.End].At-a.At)
	}
	return s
}

// During names the lasting faults of p other than f that are in effect
// when f starts: "during partition halves kv1 | kv2,kv3".
func During(p Plan, fs []Fault, f Fault) []string {
	at := p.Actions[f.Start].At
	var out []string
	for _, g := range fs {
		if g == f || g.End < 0 {
			continue
		}
		if p.Actions[g.Start].At <= at && at < p.Actions[g.End].At {
			out = append(out, p.Actions[g.Start].String())
		}
	}
	return out
}

// Splice joins two plans at time at (plan time): the faults of past that
// start before at run their course, and the faults of future that start
// at or after at are added where they are consistent
// with them; a future fault that would collide with one still in effect
// (a second partition, a kill of a node that is down, no node of a
// keep-up set left running) is left out. The plan's final clean-up (clean
// links, zero clock offsets) comes from future. kinds, when not empty,
// is a branch's bandit choice of arms ([Config.Arms]): an unaimed kind
// ("partition") keeps only future faults of that kind; an arm aimed at a
// node ("kill=n1") keeps them all, the fault it aims being future's first
// (see aim). It is how a branch of a run redraws its future, and the end
// of a fault in progress at at is part of that future: a kill, pause or partition of past still in effect ends
// when a length drawn anew from future's range for its kind
// ([Plan.Lengths]), at least what it has lasted by at, says (one that
// has outlasted the range ends just after at). Without that, a branch
// taken while a node is down would inherit the moment it comes back, and
// with it whatever that moment decides (what a restarted replica meets).
func Splice(past Plan, at time.Duration, future Plan, kinds []string) Plan {
	out := past
	out.Actions = nil
	ends := seeds.Stream(future.Seed, "faults/ends")
	for _, f := range Faults(past) {
		start := past.Actions[f.Start]
		if start.At >= at {
			continue
		}
		out.Actions = append(out.Actions, start)
		if f.End < 0 {
			continue
		}
		end := past.Actions[f.End]
		if rg, ok := future.Lengths[KindOf(start.Kind)]; ok && end.At > at {
			lasted := at - start.At + grain
			d := drawRange(ends, Range{Min: max(rg.Min, lasted), Max: max(rg.Max, lasted)})
			end.At = min(start.At+d, max(past.Duration, at))
		}
		out.Actions = append(out.Actions, end)
	}
	// The clean-up actions that end no fault (the last clean link, the
	// clocks set back to zero) come from both plans, so each kind's effects
	// are undone whichever plan started them.
	for _, p := range []Plan{past, future} {
		for _, a := range p.Actions {
			if restoring(a) && a.Kind != ActHeal && a.Kind != ActRestart && a.Kind != ActResume && a.Kind != ActDiskClear && a.At >= at {
				out.Actions = append(out.Actions, a)
			}
		}
	}
	sortActions(out.Actions)
	for _, f := range Faults(future) {
		a := future.Actions[f.Start]
		if a.At < at {
			continue
		}
		var end *Action
		if f.End >= 0 {
			e := future.Actions[f.End]
			end = &e
		}
		if len(kinds) > 0 && !aim(kinds, KindOf(a.Kind)) {
			continue
		}
		try := out
		try.Actions = append(slices.Clone(out.Actions), a)
		if end != nil {
			try.Actions = append(try.Actions, *end)
		}
		sortActions(try.Actions)
		if try.Validate() == nil {
			out = try
		}
	}
	return out
}

// KindOf returns the fault kind (a spec block's name) an action belongs to.
func KindOf(k ActionKind) string {
	switch k {
	case ActPartition, ActHeal:
		return KindPartition
	case ActLink:
		return KindLink
	case ActKill, ActRestart:
		return KindKill
	case ActPause, ActResume:
		return KindPause
	case ActClockSkew, ActClockJump:
		return KindClockSkew
	case ActDisk, ActDiskClear:
		return KindDisk
	}
	return string(k)
}

// Arms returns what a search branch may try, for the fault kinds given (a
// subset of [Config.Kinds]): each kill and pause kind once per node it may
// hit ("kill=n1": the branch kills n1 at its moment, see [Splice]), since
// which node goes down is most of what such a fault decides; every other
// kind as itself (the branch's new faults are of that kind only).
// The order is kinds' order, then the nodes sorted.
func (c Config) Arms(kinds []string, nodes []string) []string {
	var out []string
	for _, k := range kinds {
		var services []string
		switch {
		case k == KindKill && c.Kill != nil:
			services = c.Kill.Services
		case k == KindPause && c.Pause != nil:
			services = c.Pause.Services
		default:
			out = append(out, k)
			continue
		}
		for _, n := range participants(services, nodes) {
			out = append(out, k+"="+n)
		}
	}
	return out
}

// ArmKind returns the fault kind of an arm ([Config.Arms]).
func ArmKind(arm string) string {
	k, _, _ := strings.Cut(arm, "=")
	return k
}

// aim reports whether one of arms lets a fault of kind into a branch's
// future: an arm of that kind, or any arm aimed at a node. An aimed arm
// ("kill=n1") makes the branch try its fault at its moment
// ([ScheduleOn] draws it first); the rest of the branch's future is drawn
// as any seed's, so a chain that needs another fault after that one (a
// kill of the other node later) stays open to it. An unaimed arm
// ("partition") limits the future to its kind.
func aim(arms []string, kind string) bool {
	for _, arm := range arms {
		k, _, aimed := strings.Cut(arm, "=")
		if aimed || k == kind {
			return true
		}
	}
	return false
}

// Kinds returns the fault kinds cfg configures, in the fixed order
// Schedule considers them.
func (c Config) Kinds() []string {
	var out []string
	for _, k := range kindOrder {
		on := false
		switch k {
		case KindPartition:
			on = c.Partition != nil
		case KindLink:
			on = c.Link != nil
		case KindKill:
			on = c.Kill != nil
		case KindPause:
			on = c.Pause != nil
		case KindClockSkew:
			on = c.ClockSkew != nil
		case KindDisk:
			on = c.Disk != nil
		}
		if on {
			out = append(out, k)
		}
	}
	return out
}
