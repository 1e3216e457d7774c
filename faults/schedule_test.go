package faults_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/faults"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

const sec = time.Second

func nodeNames(n int) []string {
	ns := make([]string, n)
	for i := range ns {
		ns[i] = fmt.Sprintf("n%d", i+1)
	}
	return ns
}

// full enables every kind.
func full(swarm bool) faults.Config {
	return faults.Config{
		Partition: &faults.PartitionConfig{Every: 10 * sec, HealAfter: faults.Range{Min: sec, Max: 8 * sec}, OneWay: true},
		Link:      &faults.LinkConfig{Latency: faults.Range{Min: time.Millisecond, Max: 50 * time.Millisecond}, Loss: 0.1, Duplicate: 0.05, Reorder: 0.1, Every: 20 * sec},
		Kill:      &faults.KillConfig{Every: 20 * sec, RestartAfter: faults.Range{Max: 5 * sec}},
		Pause:     &faults.PauseConfig{Every: 15 * sec, Duration: faults.Range{Min: sec, Max: 4 * sec}},
		ClockSkew: &faults.ClockSkewConfig{MaxOffset: 30 * sec, Jumps: true},
		Swarm:     swarm,
		Quiet:     2 * sec,
	}
}

// configs is a spread of settings every generated plan must satisfy
// Validate under.
func configs() map[string]faults.Config {
	return map[string]faults.Config{
		"full":       full(false),
		"full-swarm": full(true),
		"partitions-only": {Partition: &faults.PartitionConfig{
			Every: 2 * sec, HealAfter: faults.Range{Max: 3 * sec}, OneWay: true,
			Kinds: []faults.PartitionKind{faults.PartitionBridge, faults.PartitionMajorities, faults.PartitionIsolate},
		}},
		"dense-kill-pause": {
			Kill:  &faults.KillConfig{Every: 500 * time.Millisecond, RestartAfter: faults.Range{Min: sec, Max: 10 * sec}, Services: []string{"n1", "n2", "n3"}},
			Pause: &faults.PauseConfig{Every: 300 * time.Millisecond, Duration: faults.Range{Min: sec, Max: 10 * sec}, Services: []string{"n2", "n3", "n4"}},
			Swarm: true,
		},
		"constant-link": {Link: &faults.LinkConfig{Latency: faults.Range{Min: 5 * time.Millisecond, Max: 5 * time.Millisecond}, Loss: 0.3}},
		"clock-every":   {ClockSkew: &faults.ClockSkewConfig{MaxOffset: 2 * time.Hour, Every: sec, Jumps: true, Services: []string{"n1", "n4", "ghost"}}},
		"long-quiet":    {Quiet: 50 * sec, Kill: &faults.KillConfig{Every: sec, RestartAfter: faults.Range{Max: sec}}, Link: &faults.LinkConfig{Loss: 0.5}},
		"disk-all": {
			Kill:  &faults.KillConfig{Every: 5 * sec, RestartAfter: faults.Range{Max: 2 * sec}},
			Disk:  &faults.DiskConfig{Every: 2 * sec, Duration: faults.Range{Min: sec, Max: 5 * sec}, Probability: 1, Latency: faults.Range{Max: 50 * time.Millisecond}},
			Swarm: true,
		},
		"disk-some": {Disk: &faults.DiskConfig{Every: sec, Duration: faults.Range{Max: 3 * sec}, Probability: 0.5,
			Kinds: []faults.DiskKind{faults.DiskFsyncError, faults.DiskCorrupt}, Services: []string{"n2", "n3"}}},
		"zero-ranges": {
			Partition: &faults.PartitionConfig{Every: sec},
			Kill:      &faults.KillConfig{Every: sec},
			Pause:     &faults.PauseConfig{Every: sec},
		},
	}
}

func TestScheduleDeterministic(t *testing.T) {
	for name, cfg := range configs() {
		for seed := range uint64(20) {
			a := faults.Schedule(seed, cfg, nodeNames(5), time.Minute)
			b := faults.Schedule(seed, cfg, []string{"n5", "n3", "n1", "n4", "n2", "n3"}, time.Minute)
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("%s seed %d: two schedules differ:\n%v\n%v", name, seed, a, b)
			}
		}
	}
}

func TestScheduleGolden(t *testing.T) {
	for _, c := range []struct {
		name  string
		seed  uint64
		cfg   faults.Config
		nodes int
	}{
		{"full-1", 1, full(false), 5},
		{"swarm-5eed", 0x5eed, full(true), 5},
		{"swarm-3-nodes", 0xdeadbeef, full(true), 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := faults.Schedule(c.seed, c.cfg, nodeNames(c.nodes), time.Minute)
			got := goldenJSON(t, p)
			path := filepath.Join("testdata", "plan-"+c.name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("plan changed; if that is intended, run go test ./faults -run Golden -update\ngot:\n%s", got)
			}
		})
	}
}

// goldenJSON renders p as JSON with the plan's header on the first line and
// one action per line after it, so that a changed schedule diffs well.
func goldenJSON(t *testing.T, p faults.Plan) []byte {
	t.Helper()
	as := p.Actions
	p.Actions = nil
	head, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.Write(head)
	b.WriteByte('\n')
	for _, a := range as {
		line, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func TestScheduleSeedsDiffer(t *testing.T) {
	for _, swarm := range []bool{false, true} {
		seen := map[string]uint64{}
		for seed := range uint64(100) {
			b, err := json.Marshal(faults.Schedule(seed, full(swarm), nodeNames(4), time.Minute).Actions)
			if err != nil {
				t.Fatal(err)
			}
			if prev, ok := seen[string(b)]; ok {
				t.Errorf("swarm=%v: seeds %d and %d give the same actions", swarm, prev, seed)
			}
			seen[string(b)] = seed
		}
	}
}

func TestSwarmVariety(t *testing.T) {
	kinds := []string{faults.KindPartition, faults.KindLink, faults.KindKill, faults.KindPause, faults.KindClockSkew}
	on, off := map[string]int{}, map[string]int{}
	factors := map[string]map[string]bool{}
	for seed := range uint64(200) {
		p := faults.Schedule(seed, full(true), nodeNames(5), time.Minute)
		n := 0
		for _, k := range kinds {
			switch v := p.Params[k]; v {
			case "on":
				on[k]++
				n++
				if factors[k] == nil {
					factors[k] = map[string]bool{}
				}
				factors[k][p.Params[k+".swarm"]] = true
			case "off (swarm)":
				off[k]++
			default:
				t.Fatalf("seed %d: Params[%q] = %q, want on or off (swarm)", seed, k, v)
			}
		}
		if n == 0 {
			t.Errorf("seed %d: swarm switched every kind off", seed)
		}
	}
	for _, k := range kinds {
		// Off with probability 1/3: expect ~67 of 200.
		if off[k] < 40 || on[k] < 100 {
			t.Errorf("%s: on in %d seeds, off in %d; want roughly 2:1", k, on[k], off[k])
		}
		if len(factors[k]) < 5 {
			t.Errorf("%s: only %d distinct swarm factor sets over 200 seeds: %v", k, len(factors[k]), factors[k])
		}
	}
	// Without swarm every configured kind is on in every seed.
	for seed := range uint64(20) {
		p := faults.Schedule(seed, full(false), nodeNames(5), time.Minute)
		for _, k := range kinds {
			if p.Params[k] != "on" {
				t.Errorf("swarm off, seed %d: Params[%q] = %q, want on", seed, k, p.Params[k])
			}
		}
	}
}

func TestSchedulesValidate(t *testing.T) {
	seedsPer := uint64(150)
	if testing.Short() {
		seedsPer = 20
	}
	for name, cfg := range configs() {
		for n := 1; n <= 7; n++ {
			for seed := range seedsPer {
				for _, d := range []time.Duration{0, 3 * sec, time.Minute} {
					p := faults.Schedule(seed, cfg, nodeNames(n), d)
					if err := p.Validate(); err != nil {
						t.Fatalf("%s, %d nodes, seed %d, %v: %v\n%v", name, n, seed, d, err, p)
					}
					for _, a := range p.Actions {
						if a.At < cfg.Quiet {
							t.Fatalf("%s, %d nodes, seed %d: action %s at %v inside the quiet period %v", name, n, seed, a, a.At, cfg.Quiet)
						}
					}
				}
			}
		}
	}
}

// TestScheduleHasFaults guards against a schedule that validates because it
// does nothing.
func TestScheduleHasFaults(t *testing.T) {
	count := map[faults.ActionKind]int{}
	oneWay, jumpsOrSets := 0, 0
	for seed := range uint64(20) {
		p := faults.Schedule(seed, full(false), nodeNames(5), time.Minute)
		for _, a := range p.Actions {
			count[a.Kind]++
			if a.Kind == faults.ActPartition && a.Partition.OneWay {
				oneWay++
			}
			if a.Kind == faults.ActClockJump || a.Kind == faults.ActClockSkew && a.Offset != 0 {
				jumpsOrSets++
			}
		}
	}
	for _, k := range []faults.ActionKind{faults.ActPartition, faults.ActHeal, faults.ActLink, faults.ActKill, faults.ActRestart, faults.ActPause, faults.ActResume, faults.ActClockSkew, faults.ActClockJump} {
		// 20 seeds of a minute: at least a few of each.
		if count[k] < 10 {
			t.Errorf("%d %s actions in 20 one-minute plans; want more", count[k], k)
		}
	}
	if oneWay == 0 || jumpsOrSets == 0 {
		t.Errorf("one-way partitions: %d, clock changes: %d; want some of each", oneWay, jumpsOrSets)
	}
	if count[faults.ActPartition] != count[faults.ActHeal] || count[faults.ActKill] != count[faults.ActRestart] || count[faults.ActPause] != count[faults.ActResume] {
		t.Errorf("faults and undos do not pair up: %v", count)
	}
}

func TestPartitionShapes(t *testing.T) {
	for n := 2; n <= 7; n++ {
		nodes := nodeNames(n)
		for _, kind := range faults.AllPartitionKinds {
			if n < kind.MinNodes() {
				continue
			}
			for _, oneWay := range []bool{false, true} {
				for seed := range uint64(40) {
					cfg := faults.Config{Partition: &faults.PartitionConfig{Every: sec, HealAfter: faults.Range{Min: sec, Max: sec}, Kinds: []faults.PartitionKind{kind}, OneWay: oneWay}}
					p := faults.Schedule(seed, cfg, nodes, 20*sec)
					for _, a := range p.Actions {
						if a.Kind != faults.ActPartition {
							continue
						}
						if err := checkShape(*a.Partition, nodes); err != nil {
							t.Fatalf("%d nodes, %s: %v: %v", n, kind, a.Partition, err)
						}
					}
				}
			}
		}
	}
}

// checkShape checks p against the definition of its kind.
func checkShape(p faults.Partition, nodes []string) error {
	n := len(nodes)
	reach := func(a, b string) bool { return !p.Cuts(a, b) }
	if !slices.Equal(p.Members(), nodes) {
		return fmt.Errorf("names %v, want every node %v", p.Members(), nodes)
	}
	if p.OneWay {
		if !p.Kind.OneWayCapable() {
			return fmt.Errorf("one-way %s", p.Kind)
		}
		if len(p.From) == 0 || len(p.To) == 0 {
			return fmt.Errorf("one-way without From or To")
		}
		for _, f := range p.From {
			for _, to := range p.To {
				if f == to || reach(f, to) || !reach(to, f) {
					return fmt.Errorf("%s->%s: want cut one way only", f, to)
				}
			}
		}
	}
	switch p.Kind {
	case faults.PartitionHalves, faults.PartitionIsolate:
		if len(p.Groups) != 2 {
			return fmt.Errorf("%d groups", len(p.Groups))
		}
		a, b := p.Groups[0], p.Groups[1]
		if len(a)+len(b) != n || len(a) == 0 || len(b) == 0 {
			return fmt.Errorf("groups %v do not split %d nodes in two", p.Groups, n)
		}
		if p.Kind == faults.PartitionHalves && (len(a) != n/2 || len(b) != n-n/2) {
			return fmt.Errorf("halves of sizes %d and %d", len(a), len(b))
		}
		if p.Kind == faults.PartitionIsolate && len(a) != 1 {
			return fmt.Errorf("isolates %d nodes", len(a))
		}
		if !p.OneWay {
			for _, x := range a {
				for _, y := range b {
					if reach(x, y) || reach(y, x) {
						return fmt.Errorf("%s and %s still reach each other", x, y)
					}
				}
			}
		}
		for _, g := range p.Groups {
			for _, x := range g {
				for _, y := range g {
					if !reach(x, y) {
						return fmt.Errorf("%s cannot reach %s in its own group", x, y)
					}
				}
			}
		}
	case faults.PartitionBridge:
		if len(p.Groups) != 2 {
			return fmt.Errorf("%d groups", len(p.Groups))
		}
		var both []string
		for _, x := range p.Groups[0] {
			if slices.Contains(p.Groups[1], x) {
				both = append(both, x)
			}
		}
		if len(both) != 1 {
			return fmt.Errorf("bridge nodes %v, want one", both)
		}
		for _, x := range nodes {
			if !reach(x, both[0]) || !reach(both[0], x) {
				return fmt.Errorf("bridge %s and %s cut", both[0], x)
			}
		}
		if len(p.Groups[0]) < 2 || len(p.Groups[1]) < 2 {
			return fmt.Errorf("a side of the bridge is empty: %v", p.Groups)
		}
		for _, x := range p.Groups[0] {
			for _, y := range p.Groups[1] {
				if x != both[0] && y != both[0] && reach(x, y) {
					return fmt.Errorf("%s and %s reach each other across the bridge", x, y)
				}
			}
		}
	case faults.PartitionMajorities:
		views := map[string]bool{}
		cut := false
		for _, x := range nodes {
			var view []string
			for _, y := range nodes {
				if reach(x, y) != reach(y, x) {
					return fmt.Errorf("%s, %s: asymmetric", x, y)
				}
				if reach(x, y) {
					view = append(view, y)
				} else {
					cut = true
				}
			}
			if 2*len(view) <= n {
				return fmt.Errorf("%s sees %v, not a majority", x, view)
			}
			views[strings.Join(view, ",")] = true
		}
		if !cut {
			return fmt.Errorf("cuts nothing")
		}
		if len(views) != n {
			return fmt.Errorf("%d distinct majorities for %d nodes", len(views), n)
		}
	default:
		return fmt.Errorf("unknown kind %q", p.Kind)
	}
	return nil
}

func TestScheduleKeepUp(t *testing.T) {
	cfg := configs()["dense-kill-pause"]
	maxDown := 0
	for seed := range uint64(100) {
		p := faults.Schedule(seed, cfg, nodeNames(4), time.Minute)
		want := [][]string{{"n1", "n2", "n3"}, {"n2", "n3", "n4"}}
		if p.Params["kill"] == "on" && p.Params["pause"] == "on" && !reflect.DeepEqual(p.KeepUp, want) {
			t.Fatalf("seed %d: KeepUp = %v, want %v", seed, p.KeepUp, want)
		}
		down := map[string]bool{}
		for _, a := range p.Actions {
			for _, n := range a.Nodes {
				switch a.Kind {
				case faults.ActKill, faults.ActPause:
					down[n] = true
				case faults.ActRestart, faults.ActResume:
					delete(down, n)
				}
			}
			maxDown = max(maxDown, len(down))
		}
	}
	// The sets allow n1 and n4 down with n2 killed or paused... but one of
	// n2, n3 must stay up, so at most 3 of 4 nodes are ever down, and dense
	// settings should reach that.
	if maxDown != 3 {
		t.Errorf("at most %d nodes down at once; want 3", maxDown)
	}
}

func TestQuietAndShortRuns(t *testing.T) {
	for _, c := range []struct {
		quiet, duration time.Duration
		wantNone        bool
	}{
		{0, 0, true},
		{10 * sec, 10 * sec, true},
		{20 * sec, 10 * sec, true},
		{10 * sec, time.Minute, false},
	} {
		cfg := full(false)
		cfg.Quiet = c.quiet
		p := faults.Schedule(3, cfg, nodeNames(3), c.duration)
		if err := p.Validate(); err != nil {
			t.Errorf("quiet %v, duration %v: %v", c.quiet, c.duration, err)
		}
		if (len(p.Actions) == 0) != c.wantNone {
			t.Errorf("quiet %v, duration %v: %d actions", c.quiet, c.duration, len(p.Actions))
		}
		if len(p.Actions) > 0 && p.Actions[0].At != c.quiet {
			t.Errorf("quiet %v: first action at %v; the constant link and clock offsets should start right after it", c.quiet, p.Actions[0].At)
		}
	}
}

func FuzzSchedule(f *testing.F) {
	f.Add(uint64(1), uint8(5), uint16(0xffff), int64(10_000), int64(3000), int64(2000), int64(60_000), 0.1)
	f.Add(uint64(0x5eed), uint8(2), uint16(0x00ff), int64(1), int64(0), int64(0), int64(1), 2.0)
	f.Fuzz(func(t *testing.T, seed uint64, n uint8, flags uint16, everyMs, spanMs, quietMs, durMs int64, prob float64) {
		nodes := nodeNames(int(n%9) + 1)
		ms := func(v int64) time.Duration { return time.Duration(v%(1<<40)) * time.Millisecond }
		every, span := ms(everyMs), ms(spanMs)
		rg := faults.Range{Min: span / 2, Max: span}
		var svc []string
		if flags&(1<<7) != 0 {
			svc = nodes[:len(nodes)/2+1]
		}
		cfg := faults.Config{Swarm: flags&1 != 0, Quiet: ms(quietMs)}
		if flags&(1<<1) != 0 {
			cfg.Partition = &faults.PartitionConfig{Every: every, HealAfter: rg, OneWay: flags&(1<<8) != 0, Services: svc}
		}
		if flags&(1<<2) != 0 {
			cfg.Link = &faults.LinkConfig{Latency: rg, Loss: prob, Duplicate: prob / 2, Reorder: prob / 3, Every: every * time.Duration(flags>>12), Services: svc}
		}
		if flags&(1<<3) != 0 {
			cfg.Kill = &faults.KillConfig{Every: every, RestartAfter: rg, Services: svc}
		}
		if flags&(1<<4) != 0 {
			cfg.Pause = &faults.PauseConfig{Every: every / 2, Duration: rg}
		}
		if flags&(1<<5) != 0 {
			cfg.ClockSkew = &faults.ClockSkewConfig{MaxOffset: span, Jumps: flags&(1<<6) != 0, Every: every * time.Duration(flags>>14), Services: svc}
		}
		d := ms(durMs)
		if d > 24*time.Hour || (every > 0 && every < 10*time.Millisecond && d > time.Minute) {
			t.Skip("too many actions to be a useful fuzz case")
		}
		p := faults.Schedule(seed, cfg, nodes, d)
		if err := p.Validate(); err != nil {
			t.Fatalf("%v\n%v", err, p)
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var back faults.Plan
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		p.Lengths = nil // a drawn plan's, not part of its record
		if !reflect.DeepEqual(p, back) {
			t.Fatalf("JSON round trip changed the plan:\n%v\n%v", p, back)
		}
	})
}

func BenchmarkSchedule(b *testing.B) {
	for _, swarm := range []bool{false, true} {
		b.Run(fmt.Sprintf("swarm=%v", swarm), func(b *testing.B) {
			cfg, nodes := full(swarm), nodeNames(5)
			for i := range b.N {
				faults.Schedule(uint64(i), cfg, nodes, time.Minute)
			}
		})
	}
}

// ScheduleOn keeps the named kinds on in every seed, and changes nothing
// else: where swarm left the kind on anyway, the plan is Schedule's.
func TestScheduleOnKeepsKind(t *testing.T) {
	cfg := full(true)
	nodes := nodeNames(3)
	same, forced := 0, 0
	for seed := uint64(1); seed <= 200; seed++ {
		plain := faults.Schedule(seed, cfg, nodes, 60*sec)
		on := faults.ScheduleOn(seed, cfg, nodes, 60*sec, []string{faults.KindKill}, 0)
		if on.Params[faults.KindKill] != "on" {
			t.Fatalf("seed %d: kill is %q with ScheduleOn(kill)", seed, on.Params[faults.KindKill])
		}
		if err := on.Validate(); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if plain.Params[faults.KindKill] == "on" {
			if !reflect.DeepEqual(plain, on) {
				t.Fatalf("seed %d: kill was on anyway, but the plans differ", seed)
			}
			same++
		} else {
			forced++
		}
	}
	if same == 0 || forced == 0 {
		t.Fatalf("want seeds of both sorts: %d with kill on anyway, %d switched on", same, forced)
	}
}

// An aimed arm starts a fault of its kind on its node at the branch's
// moment (within the jitter), whatever the kind's drawn rate; the plan
// stays valid.
func TestScheduleOnAimed(t *testing.T) {
	cfg := full(true)
	nodes := nodeNames(3)
	at := 30 * sec
	hit := 0
	for seed := uint64(1); seed <= 100; seed++ {
		p := faults.ScheduleOn(seed, cfg, nodes, 60*sec, []string{"kill=n2"}, at)
		if err := p.Validate(); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		for _, a := range p.Actions {
			if a.Kind == faults.ActKill && slices.Equal(a.Nodes, []string{"n2"}) && a.At >= at && a.At < at+250*time.Millisecond {
				hit++
				break
			}
		}
		if again := faults.ScheduleOn(seed, cfg, nodes, 60*sec, []string{"kill=n2"}, at); !reflect.DeepEqual(p, again) {
			t.Fatalf("seed %d: two draws differ", seed)
		}
	}
	// n2 may be down already then (a partition does not stop it; an
	// earlier kill or pause does), so not every seed has it.
	if hit < 80 {
		t.Fatalf("%d of 100 seeds kill n2 at the moment; want nearly all", hit)
	}
}
