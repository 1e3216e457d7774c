package faults_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/faults"
)

func diskCfg() faults.Config {
	return faults.Config{
		Kill: &faults.KillConfig{Every: 5 * sec, RestartAfter: faults.Range{Max: 2 * sec}, Services: []string{"n1", "n2", "n3"}},
		Disk: &faults.DiskConfig{Every: 2 * sec, Duration: faults.Range{Min: sec, Max: 4 * sec}, Probability: 1,
			Latency: faults.Range{Min: time.Millisecond, Max: 20 * time.Millisecond}, Services: []string{"n1", "n2"}},
	}
}

// TestDiskSchedule checks what a disk block plans: windows of every
// windowed kind on the block's services only, each cleared, each carrying
// its own seed, and a lose_unsynced arming right before every kill of a
// covered node.
func TestDiskSchedule(t *testing.T) {
	cfg := diskCfg()
	kinds := map[faults.DiskKind]int{}
	for seed := range uint64(40) {
		p := faults.Schedule(seed, cfg, nodeNames(4), time.Minute)
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		open := map[string]bool{}
		seedsSeen := map[uint64]bool{}
		for i, a := range p.Actions {
			switch a.Kind {
			case faults.ActDisk:
				n := a.Nodes[0]
				if n != "n1" && n != "n2" {
					t.Fatalf("seed %d: disk fault on %s, outside the block's services", seed, n)
				}
				if a.Disk.Seed == 0 || seedsSeen[a.Disk.Seed] {
					t.Fatalf("seed %d: disk fault without its own seed: %v", seed, a)
				}
				seedsSeen[a.Disk.Seed] = true
				kinds[a.Disk.Kind]++
				if a.Disk.Kind == faults.DiskLoseUnsynced {
					next := p.Actions[i+1:]
					j := slices.IndexFunc(next, func(b faults.Action) bool { return b.Kind == faults.ActKill && slices.Contains(b.Nodes, n) })
					if j < 0 || next[j].At != a.At {
						t.Fatalf("seed %d: lose_unsynced at %v on %s is not followed by its kill", seed, a.At, n)
					}
					continue
				}
				if a.Disk.Kind == faults.DiskSlow && a.Disk.Latency.Max != 20*time.Millisecond {
					t.Fatalf("seed %d: slow latency %v, want the configured one", seed, a.Disk.Latency)
				}
				open[n+"/"+string(a.Disk.Kind)] = true
			case faults.ActDiskClear:
				delete(open, a.Nodes[0]+"/"+string(a.Disk.Kind))
			case faults.ActKill:
				for _, n := range a.Nodes {
					if n == "n1" || n == "n2" {
						if i == 0 || p.Actions[i-1].Kind != faults.ActDisk {
							t.Fatalf("seed %d: kill of %s at %v without lose_unsynced before it", seed, n, a.At)
						}
					}
				}
			}
		}
		if len(open) > 0 {
			t.Fatalf("seed %d: windows left open: %v", seed, open)
		}
	}
	for _, k := range faults.AllDiskKinds {
		if kinds[k] == 0 {
			t.Errorf("no %s fault in 40 seeds", k)
		}
	}
}

// TestDiskSwarm checks that swarm varies the disk kinds per seed and keeps
// the probability within the configured one.
func TestDiskSwarm(t *testing.T) {
	cfg := diskCfg()
	cfg.Swarm = true
	mixes := map[string]bool{}
	for seed := range uint64(60) {
		p := faults.Schedule(seed, cfg, nodeNames(4), time.Minute)
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		if p.Params["disk"] != "on" {
			continue
		}
		mixes[p.Params["disk.kinds"]] = true
		for _, a := range p.Actions {
			if a.Kind == faults.ActDisk && a.Disk.Probability > 1 {
				t.Fatalf("seed %d: probability %v above the configured 1", seed, a.Disk.Probability)
			}
		}
	}
	if len(mixes) < 4 {
		t.Errorf("swarm drew only %d disk kind mixes: %v", len(mixes), mixes)
	}
}

func TestDiskCheck(t *testing.T) {
	for _, c := range []struct {
		cfg  faults.DiskConfig
		kill bool
		want string
	}{
		{faults.DiskConfig{Kinds: []faults.DiskKind{"melt"}, Every: sec, Duration: faults.Range{Max: sec}}, false, `unknown kind "melt"`},
		{faults.DiskConfig{Kinds: []faults.DiskKind{faults.DiskLoseUnsynced}}, false, "no kill fault"},
		{faults.DiskConfig{Kinds: []faults.DiskKind{faults.DiskLoseUnsynced}}, true, ""},
		{faults.DiskConfig{Duration: faults.Range{Max: sec}}, false, "every is not set"},
		{faults.DiskConfig{Every: sec}, false, "duration"},
		{faults.DiskConfig{Every: sec, Duration: faults.Range{Max: sec}, Probability: 2}, false, "probability = 2"},
		{faults.DiskConfig{Every: sec, Duration: faults.Range{Max: sec}, Kinds: []faults.DiskKind{faults.DiskSlow}}, false, "slow needs a latency"},
		{faults.DiskConfig{Every: sec, Duration: faults.Range{Max: sec}, Services: []string{"nope"}}, false, `"nope" is not in the compose project`},
	} {
		cfg := faults.Config{Disk: &c.cfg}
		if c.kill {
			cfg.Kill = &faults.KillConfig{Every: sec}
		}
		err := cfg.Check(nodeNames(3))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: unexpected error %v", c.cfg, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: error %v, want one containing %q", c.cfg, err, c.want)
		}
	}
}

// TestDiskActionJSON round-trips a disk action through its JSON form.
func TestDiskActionJSON(t *testing.T) {
	a := faults.Action{At: 3 * sec, Kind: faults.ActDisk, Nodes: []string{"n1"},
		Disk: &faults.Disk{Kind: faults.DiskSlow, Probability: 0.25, Latency: faults.Range{Min: time.Millisecond, Max: 9 * time.Millisecond}, Seed: 0xabc}}
	b, err := a.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var got faults.Action
	if err := got.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	if got.String() != a.String() || *got.Disk != *a.Disk {
		t.Fatalf("round trip: %s → %+v, want %+v", b, got.Disk, a.Disk)
	}
	if s := a.String(); s != "disk n1 slow p=0.25 latency=1ms..9ms" {
		t.Errorf("String() = %q", s)
	}
}
