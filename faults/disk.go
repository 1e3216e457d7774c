package faults

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mvrun/multiverse/internal/diskmodel"
)

// KindDisk is the disk fault block's name.
const KindDisk = "disk"

// DiskKind names a disk fault: full, fsync_error, io_error, corrupt,
// lose_unsynced or slow (see internal/diskmodel for what each does).
type DiskKind = diskmodel.Kind

// Disk fault kinds.
const (
	DiskFull         = diskmodel.Full
	DiskFsyncError   = diskmodel.FsyncError
	DiskIOError      = diskmodel.IOError
	DiskCorrupt      = diskmodel.Corrupt
	DiskLoseUnsynced = diskmodel.LoseUnsynced
	DiskSlow         = diskmodel.Slow
)

// AllDiskKinds lists every disk fault kind in a fixed order.
var AllDiskKinds = diskmodel.Kinds

// Disk is one disk fault as an action carries it: kind, per-call
// probability, latency and the seed its per-call draws come from. It is
// the disk model's Fault, so every backend draws a call's fate from it the
// same way.
type Disk = diskmodel.Fault

// DiskConfig enables disk faults on services' data directories.
type DiskConfig struct {
	Services []string
	// Kinds to draw from; empty means every kind.
	Kinds []DiskKind
	// Every is the mean interval between fault windows (all kinds but
	// lose_unsynced, which acts at kills).
	Every time.Duration
	// Duration is how long a window lasts.
	Duration Range
	// Probability is the chance each call a window covers is hit; the
	// spec's default is 1.
	Probability float64
	// Latency is the extra time a slow call takes.
	Latency Range
}

// Disk fault action kinds.
const (
	// ActDisk arms Disk on Nodes: a window of its kind starts, or, for
	// lose_unsynced, the node's next kill (at the same instant) loses its
	// unsynced data as Disk says.
	ActDisk ActionKind = "disk"
	// ActDiskClear ends the window of Disk.Kind on Nodes.
	ActDiskClear ActionKind = "disk_clear"
)

func diskKinds(c *DiskConfig) []DiskKind {
	if len(c.Kinds) == 0 {
		return AllDiskKinds
	}
	return c.Kinds
}

// diskUsable returns the kinds of c that can act: lose_unsynced only with
// kills of c's services.
func diskUsable(c *DiskConfig, cfg Config, nodes []string) []DiskKind {
	var out []DiskKind
	for _, k := range diskKinds(c) {
		if k == DiskLoseUnsynced && (cfg.Kill == nil || !overlaps(participants(c.Services, nodes), participants(cfg.Kill.Services, nodes))) {
			continue
		}
		if k.Valid() {
			out = append(out, k)
		}
	}
	return out
}

func overlaps(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// disks draws the disk fault windows, one at a time per node and kind,
// and arms lose_unsynced before each kill of a covered node. It runs after
// the kills are drawn.
func (g *gen) disks(r *rand.Rand, c *DiskConfig, cfg Config, k *knob) {
	nodes := participants(c.Services, g.nodes)
	var kinds, windowed []DiskKind
	for _, dk := range diskUsable(c, cfg, g.nodes) {
		if slices.Contains(k.diskOff, dk) {
			continue
		}
		kinds = append(kinds, dk)
		if dk.Windowed() {
			windowed = append(windowed, dk)
		}
	}
	names := make([]string, len(kinds))
	for i, dk := range kinds {
		names[i] = string(dk)
	}
	p := k.p(c.Probability)
	lat := Range{Min: k.most(sane(c.Latency).Min), Max: k.most(sane(c.Latency).Max)}
	g.params[KindDisk+".kinds"] = strings.Join(names, ",")
	g.params[KindDisk+".probability"] = strconv.FormatFloat(p, 'f', -1, 64)
	if slices.Contains(kinds, DiskSlow) {
		g.params[KindDisk+".latency"] = lat.String()
	}
	if len(windowed) > 0 && c.Every > 0 {
		every, dur := k.every(c.Every), k.rng(c.Duration)
		g.params[KindDisk+".every"] = every.String()
		g.params[KindDisk+".duration"] = dur.String()
		busy := map[string]time.Duration{} // node/kind → end of its last window
		for t := g.start; ; {
			t += expDuration(r, every)
			end, ok := g.window(t, drawRange(r, dur))
			if !ok {
				break
			}
			dk := windowed[r.IntN(len(windowed))]
			n := nodes[r.IntN(len(nodes))]
			seed := r.Uint64()
			key := n + "/" + string(dk)
			if busy[key] >= t {
				continue
			}
			busy[key] = end
			d := Disk{Kind: dk, Probability: p, Seed: seed}
			if dk == DiskSlow {
				d.Latency = lat
			}
			g.actions = append(g.actions,
				Action{At: t, Kind: ActDisk, Nodes: []string{n}, Disk: &d},
				Action{At: end, Kind: ActDiskClear, Nodes: []string{n}, Disk: &Disk{Kind: dk}})
		}
	}
	if !slices.Contains(kinds, DiskLoseUnsynced) {
		return
	}
	// Every kill of a covered node loses its unsynced data, whole or torn.
	var kills []Action
	for _, a := range g.actions {
		if a.Kind == ActKill {
			kills = append(kills, a)
		}
	}
	for _, a := range kills {
		for _, n := range a.Nodes {
			if !slices.Contains(nodes, n) {
				continue
			}
			d := Disk{Kind: DiskLoseUnsynced, Torn: r.IntN(2) == 0, Seed: r.Uint64()}
			g.actions = append(g.actions, Action{At: a.At, Kind: ActDisk, Nodes: []string{n}, Disk: &d})
		}
	}
}

// checkDisk adds the disk block's problems to bad.
func checkDisk(c *DiskConfig, cfg Config, nodes []string, bad func(kind, format string, args ...any)) {
	for _, k := range c.Kinds {
		if !k.Valid() {
			bad(KindDisk, "unknown kind %q; use %s", k, diskKindNames())
		}
	}
	if slices.Contains(c.Kinds, DiskLoseUnsynced) && len(diskUsable(&DiskConfig{Kinds: []DiskKind{DiskLoseUnsynced}, Services: c.Services}, cfg, nodes)) == 0 {
		bad(KindDisk, "lose_unsynced acts when a node is killed, and no kill fault covers the disk fault's services; add a kill block or drop the kind")
	}
	windowed := false
	for _, k := range diskKinds(c) {
		windowed = windowed || k.Windowed()
	}
	if windowed {
		switch {
		case c.Every < 0:
			bad(KindDisk, "every = %v is negative; use a positive mean interval like \"10s\"", c.Every)
		case c.Every == 0:
			bad(KindDisk, "every is not set; give a mean interval between fault windows like \"10s\"")
		}
		if r := c.Duration; r.Min < 0 || r.Max < r.Min || r.Max <= 0 {
			bad(KindDisk, "duration = %v: want 0 <= min <= max and max > 0, like \"1s..5s\"", r)
		}
	}
	if !(c.Probability >= 0 && c.Probability <= 1) {
		bad(KindDisk, "probability = %v: want a probability between 0 and 1", c.Probability)
	}
	if r := c.Latency; r.Min < 0 || r.Max < r.Min {
		bad(KindDisk, "latency = %v: want 0 <= min <= max, like \"10ms..200ms\"", r)
	}
	if slices.Contains(c.Kinds, DiskSlow) && c.Latency.Max <= 0 {
		bad(KindDisk, "slow needs a latency, like \"10ms..200ms\"")
	}
}

func diskKindNames() string {
	names := make([]string, len(AllDiskKinds))
	for i, k := range AllDiskKinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}
