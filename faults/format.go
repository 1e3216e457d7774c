package faults

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/mvrun/multiverse/internal/seeds"
)

// String renders p compactly: "halves a,b | c", "isolate a -> b,c" for
// one-way partitions.
func (p Partition) String() string {
	if p.OneWay {
		return fmt.Sprintf("%s %s -> %s", p.Kind, strings.Join(p.From, ","), strings.Join(p.To, ","))
	}
	gs := make([]string, len(p.Groups))
	for i, g := range p.Groups {
		gs[i] = strings.Join(g, ",")
	}
	return string(p.Kind) + " " + strings.Join(gs, " | ")
}

// String renders a on one line without its time: "kill a,b",
// "partition halves a | b,c", "link all clean", "clock_jump c -2s".
func (a Action) String() string {
	nodes := strings.Join(a.Nodes, ",")
	switch a.Kind {
	case ActPartition:
		if a.Partition == nil {
			return string(a.Kind)
		}
		return string(a.Kind) + " " + a.Partition.String()
	case ActHeal:
		return string(a.Kind)
	case ActLink:
		l := Link{}
		if a.Link != nil {
			l = *a.Link
		}
		if nodes == "" {
			nodes = "all"
		}
		return string(a.Kind) + " " + nodes + " " + l.String()
	case ActClockSkew, ActClockJump:
		sign := ""
		if a.Offset >= 0 {
			sign = "+"
		}
		return string(a.Kind) + " " + nodes + " " + sign + a.Offset.String()
	case ActDisk:
		if a.Disk != nil {
			return string(a.Kind) + " " + nodes + " " + a.Disk.String()
		}
	case ActDiskClear:
		if a.Disk != nil {
			return string(a.Kind) + " " + nodes + " " + string(a.Disk.Kind)
		}
	}
	return strings.TrimSpace(string(a.Kind) + " " + nodes)
}

// String renders p for people: a header with the seed and the drawn
// parameters, then one line per action with its time.
func (p Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "fault plan seed=%s duration=%v nodes=%s\n", seeds.Format(p.Seed), p.Duration, strings.Join(p.Nodes, ","))
	for _, k := range slices.Sorted(maps.Keys(p.Params)) {
		fmt.Fprintf(&b, "  %s = %s\n", k, p.Params[k])
	}
	for _, a := range p.Actions {
		fmt.Fprintf(&b, "  %10v  %s\n", a.At, a)
	}
	return b.String()
}

// The JSON forms below are what fault logs and reports store: lower-case
// keys, durations as Go duration strings ("1.5s"), seeds as hex.

type partitionJSON struct {
	Kind   PartitionKind `json:"kind"`
	Groups [][]string    `json:"groups,omitempty"`
	OneWay bool          `json:"one_way,omitempty"`
	From   []string      `json:"from,omitempty"`
	To     []string      `json:"to,omitempty"`
}

type linkJSON struct {
	Latency   string  `json:"latency,omitempty"`
	Loss      float64 `json:"loss,omitempty"`
	Duplicate float64 `json:"duplicate,omitempty"`
	Reorder   float64 `json:"reorder,omitempty"`
}

type diskJSON struct {
	Kind        DiskKind `json:"kind"`
	Probability float64  `json:"probability,omitempty"`
	Latency     string   `json:"latency,omitempty"`
	Torn        bool     `json:"torn,omitempty"`
	Seed        string   `json:"seed,omitempty"`
}

type actionJSON struct {
	At        string         `json:"at"`
	Kind      ActionKind     `json:"kind"`
	Nodes     []string       `json:"nodes,omitempty"`
	Partition *partitionJSON `json:"partition,omitempty"`
	Link      *linkJSON      `json:"link,omitempty"`
	Offset    string         `json:"offset,omitempty"`
	Disk      *diskJSON      `json:"disk,omitempty"`
}

// MarshalJSON encodes a as {"at":"1.5s","kind":"kill","nodes":["a"]}.
func (a Action) MarshalJSON() ([]byte, error) {
	j := actionJSON{At: a.At.String(), Kind: a.Kind, Nodes: a.Nodes}
	if p := a.Partition; p != nil {
		j.Partition = &partitionJSON{p.Kind, p.Groups, p.OneWay, p.From, p.To}
	}
	if l := a.Link; l != nil {
		j.Link = &linkJSON{Loss: l.Loss, Duplicate: l.Duplicate, Reorder: l.Reorder}
		if l.Latency != (Range{}) {
			j.Link.Latency = l.Latency.String()
		}
	}
	if a.Offset != 0 {
		j.Offset = a.Offset.String()
	}
	if d := a.Disk; d != nil {
		j.Disk = &diskJSON{Kind: d.Kind, Probability: d.Probability, Torn: d.Torn}
		if d.Latency != (Range{}) {
			j.Disk.Latency = d.Latency.String()
		}
		if d.Seed != 0 {
			j.Disk.Seed = seeds.Format(d.Seed)
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes the form MarshalJSON writes.
func (a *Action) UnmarshalJSON(b []byte) error {
	var j actionJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	at, err := time.ParseDuration(j.At)
	if err != nil {
		return fmt.Errorf("faults: action at %q: %w", j.At, err)
	}
	if j.Kind == LegacyClockSkew {
		j.Kind = ActClockSkew // a record from before the rename
	}
	*a = Action{At: at, Kind: j.Kind, Nodes: j.Nodes}
	if p := j.Partition; p != nil {
		a.Partition = &Partition{p.Kind, p.Groups, p.OneWay, p.From, p.To}
	}
	if l := j.Link; l != nil {
		a.Link = &Link{Loss: l.Loss, Duplicate: l.Duplicate, Reorder: l.Reorder}
		if l.Latency != "" {
			if a.Link.Latency, err = ParseRange(l.Latency); err != nil {
				return fmt.Errorf("faults: link latency: %w", err)
			}
		}
	}
	if j.Offset != "" {
		if a.Offset, err = time.ParseDuration(j.Offset); err != nil {
			return fmt.Errorf("faults: action offset %q: %w", j.Offset, err)
		}
	}
	if d := j.Disk; d != nil {
		a.Disk = &Disk{Kind: d.Kind, Probability: d.Probability, Torn: d.Torn}
		if d.Latency != "" {
			if a.Disk.Latency, err = ParseRange(d.Latency); err != nil {
				return fmt.Errorf("faults: disk latency: %w", err)
			}
		}
		if d.Seed != "" {
			if a.Disk.Seed, err = seeds.Parse(d.Seed); err != nil {
				return fmt.Errorf("faults: disk seed: %w", err)
			}
		}
	}
	return nil
}

type planJSON struct {
	Seed     string            `json:"seed"`
	Duration string            `json:"duration"`
	Nodes    []string          `json:"nodes,omitempty"`
	KeepUp   [][]string        `json:"keep_up,omitempty"`
	Params   map[string]string `json:"params,omitempty"`
	Actions  []Action          `json:"actions"`
}

// MarshalJSON encodes p compactly, with its seed in hex and durations as
// strings; map keys are sorted, so equal plans encode to equal bytes.
func (p Plan) MarshalJSON() ([]byte, error) {
	as := p.Actions
	if as == nil {
		as = []Action{}
	}
	return json.Marshal(planJSON{seeds.Format(p.Seed), p.Duration.String(), p.Nodes, p.KeepUp, p.Params, as})
}

// UnmarshalJSON decodes the form MarshalJSON writes.
func (p *Plan) UnmarshalJSON(b []byte) error {
	var j planJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	seed, err := seeds.Parse(j.Seed)
	if err != nil {
		return fmt.Errorf("faults: plan: %w", err)
	}
	d, err := time.ParseDuration(j.Duration)
	if err != nil {
		return fmt.Errorf("faults: plan duration %q: %w", j.Duration, err)
	}
	*p = Plan{Seed: seed, Duration: d, Nodes: j.Nodes, KeepUp: j.KeepUp, Params: j.Params, Actions: j.Actions}
	if len(p.Actions) == 0 {
		p.Actions = nil
	}
	return nil
}

type appliedJSON struct {
	At          string `json:"at"`
	Action      Action `json:"action"`
	Error       string `json:"error,omitempty"`
	Unsupported bool   `json:"unsupported,omitempty"`
}

// MarshalJSON encodes one fault log entry:
// {"at":"3.2s","action":{…},"error":"…","unsupported":true}.
func (ap Applied) MarshalJSON() ([]byte, error) {
	j := appliedJSON{At: ap.At.String(), Action: ap.Action, Unsupported: ap.Unsupported()}
	if ap.Err != nil {
		j.Error = ap.Err.Error()
	}
	return json.Marshal(j)
}

// String renders ap as a fault log line: "3.2s kill a" with " (unsupported: …)"
// or " (error: …)" appended when it did not take effect.
func (ap Applied) String() string {
	s := fmt.Sprintf("%v %s", ap.At, ap.Action)
	switch {
	case ap.Unsupported():
		s += " (unsupported: " + ap.Err.Error() + ")"
	case ap.Err != nil:
		s += " (error: " + ap.Err.Error() + ")"
	}
	return s
}
