// Package faults defines the fault kinds mvrun injects, turns a test's fault
// settings and a seed into a schedule of timed actions, and defines the
// [Injector] interface backends implement to carry those actions out.
//
// The package knows nothing of HCL or backends: specs decodes a spec into a
// [Config], and each backend applies [Action]s. Same seed and Config give the
// same [Plan] on every machine.
package faults

import (
	"context"
	"time"

	"github.com/mvrun/multiverse/internal/linkmodel"
)

// Range is a closed interval of durations, written "1s..8s" in specs.
// A fixed duration has Min == Max. It is the link model's range, shared
// with the backends' networks.
type Range = linkmodel.Range

// Config holds the fault settings of one test. A nil field means the kind is
// off. It is what specs decodes the `faults` block into.
type Config struct {
	Partition *PartitionConfig
	Link      *LinkConfig
	Kill      *KillConfig
	Pause     *PauseConfig
	ClockSkew *ClockSkewConfig
	Disk      *DiskConfig
	// Swarm, when true (the default), varies each seed's fault parameters:
	// some kinds are switched off for a seed and rates and durations are drawn
	// per seed, so different seeds explore different fault mixes.
	Swarm bool
	// Quiet is a fault-free lead-in at the start of the fault phase.
	Quiet time.Duration
}

// PartitionKind names a partition shape.
type PartitionKind string

// Partition shapes.
const (
	PartitionHalves     PartitionKind = "halves"     // two random halves
	PartitionIsolate    PartitionKind = "isolate"    // one node cut off from all others
	PartitionBridge     PartitionKind = "bridge"     // two halves that both see one bridge node
	PartitionMajorities PartitionKind = "majorities" // ring: each node sees a different majority
)

// PartitionConfig enables network partitions.
type PartitionConfig struct {
	Every     time.Duration   // mean interval between partitions
	Kinds     []PartitionKind // shapes to choose from; empty means all
	HealAfter Range           // how long a partition lasts
	OneWay    bool            // also draw one-way (asymmetric) partitions
	Services  []string        // nodes that take part; empty means all
}

// LinkConfig enables packet-level faults on every link.
type LinkConfig struct {
	Latency   Range         // per-packet one-way delay
	Loss      float64       // drop probability, 0..1
	Duplicate float64       // duplication probability, 0..1
	Reorder   float64       // probability a packet is held back behind later ones, 0..1
	Every     time.Duration // mean interval between changes of link conditions; 0 means constant
	Services  []string
}

// KillConfig enables node kills (SIGKILL or equivalent) and restarts.
type KillConfig struct {
	Services     []string // empty means all
	Every        time.Duration
	RestartAfter Range
}

// PauseConfig enables node pauses (SIGSTOP or equivalent).
type PauseConfig struct {
	Services []string
	Every    time.Duration
	Duration Range
}

// ClockSkewConfig enables per-node clock offsets and jumps.
type ClockSkewConfig struct {
	Services  []string
	MaxOffset time.Duration
	Jumps     bool // also jump clocks (wall clock forwards and backwards) mid-run
	Every     time.Duration
}

// ActionKind names one thing a backend does to the cluster.
type ActionKind string

// Action kinds.
const (
	ActPartition ActionKind = "partition"  // install Partition
	ActHeal      ActionKind = "heal"       // remove all partitions
	ActLink      ActionKind = "link"       // set link conditions (Link); zero Link restores a clean network
	ActKill      ActionKind = "kill"       // kill Nodes
	ActRestart   ActionKind = "restart"    // restart Nodes on their surviving files
	ActPause     ActionKind = "pause"      // stop scheduling Nodes
	ActResume    ActionKind = "resume"     // resume Nodes
	ActClockSkew ActionKind = "clock_skew" // set Nodes' clock offset to Offset (monotonic and wall)
	ActClockJump ActionKind = "clock_jump" // jump Nodes' wall clock by Offset (may be negative)
)

// ActClockSet is the old name of [ActClockSkew], kept so that code written
// against it still compiles; linters report its uses.
//
// Deprecated: use [ActClockSkew], which has the name of the fault kind
// (clock_skew) it belongs to.
const ActClockSet = ActClockSkew

// LegacyClockSkew is how plans and fault logs recorded before the clock
// action took its fault kind's name (clock_skew) spelled [ActClockSkew].
// Decoding an [Action] accepts it; nothing writes it.
const LegacyClockSkew ActionKind = "clock_offset"

// Partition describes who can reach whom. Nodes in the same group reach each
// other. With OneWay set, only traffic From→To is cut; otherwise traffic
// between different groups is cut both ways. Groups may overlap (a bridge
// node is in both halves), and nodes named in no group are not affected.
// [Partition.Cuts] is the reference for what a partition drops; backends
// take the partition without its Kind from [Partition.Model].
type Partition struct {
	Kind   PartitionKind
	Groups [][]string
	OneWay bool
	From   []string // OneWay only: senders whose packets are dropped...
	To     []string // ...when addressed to these nodes
}

// Link describes packet-level conditions: per-packet one-way latency and
// loss, duplication and reordering probabilities. It is the link model's
// Link, so every backend draws a packet's fate from it the same way
// (linkmodel.Decide).
type Link = linkmodel.Link

// Action is one timed step of a [Plan].
type Action struct {
	At        time.Duration // since the start of the fault phase (simulated time)
	Kind      ActionKind
	Nodes     []string      `json:",omitempty"`
	Partition *Partition    `json:",omitempty"`
	Link      *Link         `json:",omitempty"`
	Offset    time.Duration `json:",omitempty"`
	Disk      *Disk         `json:",omitempty"` // ActDisk, ActDiskClear
}

// Plan is the fault schedule of one seed.
type Plan struct {
	Seed     uint64
	Duration time.Duration
	// Nodes are the cluster's nodes the plan was made for, sorted.
	Nodes []string `json:",omitempty"`
	// KeepUp lists sets of nodes of which at least one is always running:
	// neither killed nor paused. Schedule records each kill and pause
	// fault's services here and Validate checks them.
	KeepUp [][]string `json:",omitempty"`
	// Params records the per-seed (swarm) parameters drawn for this seed, for
	// the report: which kinds are on and their rates.
	Params  map[string]string
	Actions []Action
	// Lengths are the ranges the plan drew the lengths of its kills,
	// pauses and partitions from, by kind (swarm testing scales them per
	// seed): a branch redraws the end of a fault in progress at its moment
	// from them ([Splice]). Only a freshly drawn plan needs them: they are
	// not part of its JSON.
	Lengths map[string]Range
}

// Injector carries out fault actions on a running cluster. Backends'
// clusters implement it; faulttest.Run checks an implementation.
type Injector interface {
	// Apply carries out a. It returns an error wrapping an "unsupported"
	// sentinel of the caller's choosing for kinds it cannot do.
	Apply(ctx context.Context, a Action) error
}

// Clock is the time a plan runs in: wall time on process and docker
// backends, virtual time on hv.
type Clock interface {
	Now() time.Duration
	Sleep(ctx context.Context, d time.Duration) error
}
