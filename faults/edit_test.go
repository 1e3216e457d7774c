package faults_test

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/mvrun/multiverse/faults"
)

// TestFaultsPairEveryAction checks that every action of generated plans
// belongs to exactly one fault or is clean-up, and that dropping all
// faults leaves a valid plan.
func TestFaultsPairEveryAction(t *testing.T) {
	for name, cfg := range configs() {
		for seed := range uint64(20) {
			p := faults.Schedule(seed, cfg, nodeNames(5), 60*sec)
			fs := faults.Faults(p)
			seen := map[int]bool{}
			for _, f := range fs {
				for _, i := range []int{f.Start, f.End} {
					if i < 0 {
						continue
					}
					if seen[i] {
						t.Fatalf("%s seed %d: action %d in two faults", name, seed, i)
					}
					seen[i] = true
				}
			}
			var all faults.Edits
			for i := range fs {
				all.Drop = append(all.Drop, i)
			}
			q, err := all.Apply(p)
			if err != nil {
				t.Fatalf("%s seed %d: dropping every fault: %v", name, seed, err)
			}
			if n := len(faults.Faults(q)); n != 0 {
				t.Fatalf("%s seed %d: %d faults left after dropping all:\n%v", name, seed, n, q)
			}
		}
	}
}

func TestEditsApplyAndRoundTrip(t *testing.T) {
	cfg := faults.Config{
		Partition: &faults.PartitionConfig{Every: 4 * sec, HealAfter: faults.Range{Min: sec, Max: 4 * sec}},
		Kill:      &faults.KillConfig{Every: 6 * sec, RestartAfter: faults.Range{Min: sec, Max: 3 * sec}},
	}
	p := faults.Schedule(7, cfg, nodeNames(3), 30*sec)
	fs := faults.Faults(p)
	if len(fs) < 3 {
		t.Fatalf("want at least 3 faults, got %d:\n%v", len(fs), p)
	}
	last := len(fs) - 1
	e := faults.Edits{Drop: []int{0}, Length: map[int]time.Duration{1: 500 * time.Millisecond}}
	q, err := e.Apply(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(q.Actions), len(p.Actions)-2; got != want && fs[0].End >= 0 {
		t.Fatalf("dropping a lasting fault left %d actions, want %d", got, want)
	}
	start := p.Actions[fs[1].Start]
	found := false
	for _, a := range q.Actions {
		if a.At == start.At+500*time.Millisecond && (a.Kind == faults.ActHeal || a.Kind == faults.ActRestart) {
			found = true
		}
	}
	if !found {
		t.Fatalf("fault 1 (%s) was not shortened to 500ms:\n%v", faults.Describe(p, fs[1]), q)
	}
	s := e.String()
	if s != "d0~s1=500ms" {
		t.Fatalf("String() = %q", s)
	}
	back, err := faults.ParseEdits(s)
	if err != nil || back.String() != s {
		t.Fatalf("ParseEdits(%q) = %v, %v", s, back, err)
	}
	// Moving the last fault past the end is not a schedule the runner
	// may run.
	if _, err := (faults.Edits{Delay: map[int]time.Duration{last: time.Hour}}).Apply(p); err == nil {
		t.Fatal("a fault moved past the plan's end was accepted")
	}
	if _, err := (faults.Edits{Drop: []int{len(fs)}}).Apply(p); err == nil {
		t.Fatal("dropping a fault the plan does not have was accepted")
	}
	for _, bad := range []string{"x1", "d", "dz", "s1", "l1=-1s", "s1=abc"} {
		if _, err := faults.ParseEdits(bad); err == nil {
			t.Errorf("ParseEdits(%q) accepted", bad)
		}
	}
}

// TestArms checks the arms of a test: per node for kills and pauses.
func TestArms(t *testing.T) {
	cfg := full(true)
	cfg.Pause.Services = []string{"n3", "n1"}
	got := cfg.Arms(cfg.Kinds(), nodeNames(3))
	want := []string{"partition", "link", "kill=n1", "kill=n2", "kill=n3", "pause=n1", "pause=n3", "clock_skew"}
	if !slices.Equal(got, want) {
		t.Fatalf("arms %v, want %v", got, want)
	}
	for _, a := range got {
		if k := faults.ArmKind(a); !slices.Contains(cfg.Kinds(), k) {
			t.Fatalf("arm %s: kind %q", a, k)
		}
	}
}

// TestSplice checks that a spliced plan keeps the past's faults, ends
// them, takes only the chosen kinds (or arms) from the future and validates.
func TestSplice(t *testing.T) {
	cfg := full(true)
	aimed, others := 0, 0 // branches that killed n2 at their moment; faults of other kinds or nodes under that arm
	for seed := range uint64(30) {
		past := faults.Schedule(seed, cfg, nodeNames(5), 60*sec)
		at := 20 * sec
		for _, kinds := range [][]string{nil, {faults.KindKill}, {"kill=n2"}, {"kill=n2", "pause=n4"}} {
			future := faults.ScheduleOn(seed+1000, cfg, nodeNames(5), 60*sec, kinds, at)
			s := faults.Splice(past, at, future, kinds)
			if err := s.Validate(); err != nil {
				t.Fatalf("seed %d kinds %v: %v\n%v", seed, kinds, err, s)
			}
			for _, f := range faults.Faults(s) {
				a := s.Actions[f.Start]
				switch {
				case a.At < at:
					if !slices.ContainsFunc(past.Actions, func(b faults.Action) bool { return b.At == a.At && b.String() == a.String() }) {
						t.Fatalf("seed %d: fault %s before the moment is not the past's", seed, a)
					}
				case len(kinds) == 1 && kinds[0] == faults.KindKill && faults.KindOf(a.Kind) != faults.KindKill:
					t.Fatalf("seed %d: fault %s after the moment under the arm kill", seed, a)
				case len(kinds) == 1 && kinds[0] == "kill=n2":
					if a.Kind == faults.ActKill && slices.Equal(a.Nodes, []string{"n2"}) && a.At < at+250*time.Millisecond {
						aimed++
					} else {
						others++
					}
				}
			}
		}
	}
	if aimed < 10 || others == 0 {
		t.Fatalf("under the arm kill=n2 over 30 seeds: %d branches killed n2 at their moment, %d other faults after it; want at least 10, and some", aimed, others)
	}
}

// TestSpliceRedrawsEnds: a kill, pause or partition in progress at the
// moment ends anew, after the moment and within what the future's range
// for its kind allows given how long it has lasted; a fault that ended
// before the moment keeps its end; the same splice twice is the same plan.
func TestSpliceRedrawsEnds(t *testing.T) {
	cfg := full(true)
	at := 20 * sec
	inProgress, moved := 0, 0
	for seed := range uint64(40) {
		past := faults.Schedule(seed, cfg, nodeNames(5), 60*sec)
		future := faults.Schedule(seed+1000, cfg, nodeNames(5), 60*sec)
		s := faults.Splice(past, at, future, nil)
		if again := faults.Splice(past, at, future, nil); !reflect.DeepEqual(s, again) {
			t.Fatalf("seed %d: the same splice twice differs", seed)
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("seed %d: %v\n%v", seed, err, s)
		}
		ends := map[string]time.Duration{} // a fault's start → its end in s
		for _, f := range faults.Faults(s) {
			if f.End >= 0 {
				ends[fmt.Sprint(s.Actions[f.Start].At, s.Actions[f.Start])] = s.Actions[f.End].At
			}
		}
		for _, f := range faults.Faults(past) {
			start := past.Actions[f.Start]
			if f.End < 0 || start.At >= at {
				continue
			}
			end, ok := ends[fmt.Sprint(start.At, start)]
			if !ok {
				t.Fatalf("seed %d: past fault %s is gone", seed, start)
			}
			rg, redrawn := future.Lengths[faults.KindOf(start.Kind)]
			if was := past.Actions[f.End].At; was <= at || !redrawn {
				if end != was {
					t.Fatalf("seed %d: %s ended at %v before the moment, now at %v", seed, start, was, end)
				}
				continue
			}
			inProgress++
			if end != past.Actions[f.End].At {
				moved++
			}
			lo := max(start.At+rg.Min, at)
			hi := min(max(start.At+rg.Max, at+time.Millisecond), 60*sec)
			if end <= at || end < lo || end > hi {
				t.Fatalf("seed %d: %s in progress at %v ends at %v; want after the moment, within [%v, %v]", seed, start, at, end, lo, hi)
			}
		}
	}
	if inProgress < 10 || 2*moved < inProgress {
		t.Fatalf("%d faults in progress at the moment over 40 seeds, %d of them with a new end; want at least 10, most moved", inProgress, moved)
	}
}
