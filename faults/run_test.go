package faults_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/faults/faulttest"
)

// scripted is an injector whose answers are set per action kind.
type scripted struct {
	errs    map[faults.ActionKind]error
	applied []faults.Action
	onApply func(faults.Action)
}

func (s *scripted) Apply(_ context.Context, a faults.Action) error {
	s.applied = append(s.applied, a)
	if s.onApply != nil {
		s.onApply(a)
	}
	return s.errs[a.Kind]
}

func TestRun(t *testing.T) {
	p := faults.Schedule(7, full(false), nodeNames(4), time.Minute)
	boom := errors.New("boom")
	inj := &scripted{errs: map[faults.ActionKind]error{
		faults.ActClockJump: fmt.Errorf("hv only: %w", faults.ErrUnsupported),
		faults.ActPause:     boom,
	}}
	clk := &faulttest.InstantClock{}
	if err := clk.Sleep(t.Context(), 5*time.Second); err != nil { // the cluster's clock is not at zero when the fault phase starts
		t.Fatal(err)
	}
	var log []faults.Applied
	if err := faults.Run(t.Context(), p, clk, inj, func(ap faults.Applied) { log = append(log, ap) }); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(log) != len(p.Actions) || len(inj.applied) != len(p.Actions) {
		t.Fatalf("applied %d and logged %d of %d actions; want all, whatever errors there were", len(inj.applied), len(log), len(p.Actions))
	}
	unsupported, failed := 0, 0
	for i, ap := range log {
		if !reflect.DeepEqual(ap.Action, p.Actions[i]) {
			t.Errorf("log[%d] = %v, want %v", i, ap.Action, p.Actions[i])
		}
		if want := 5*time.Second + p.Actions[i].At; ap.At != want {
			t.Errorf("log[%d] (%s) at %v, want %v", i, ap.Action, ap.At, want)
		}
		switch ap.Action.Kind {
		case faults.ActClockJump:
			unsupported++
			if !ap.Unsupported() || !errors.Is(ap.Err, faults.ErrUnsupported) {
				t.Errorf("log[%d] = %v, want unsupported", i, ap)
			}
		case faults.ActPause:
			failed++
			if !errors.Is(ap.Err, boom) || ap.Unsupported() {
				t.Errorf("log[%d] = %v, want the injector's error", i, ap)
			}
		default:
			if ap.Err != nil {
				t.Errorf("log[%d] = %v, want no error", i, ap)
			}
		}
	}
	if unsupported == 0 || failed == 0 {
		t.Errorf("plan had %d clock jumps and %d pauses; the test needs some of each", unsupported, failed)
	}
}

func TestRunCancel(t *testing.T) {
	p := faults.Schedule(7, full(false), nodeNames(4), time.Minute)
	ctx, cancel := context.WithCancel(t.Context())
	stopAt := len(p.Actions) / 3
	inj := &scripted{}
	inj.onApply = func(faults.Action) {
		if len(inj.applied) == stopAt {
			cancel()
		}
	}
	st := faults.NewState(p.Nodes)
	err := faults.Run(ctx, p, &faulttest.InstantClock{}, inj, st.Track(nil))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if len(inj.applied) != stopAt {
		t.Fatalf("applied %d actions after cancelling at %d", len(inj.applied), stopAt)
	}
	// What the tracked state says to undo is what Recover computes from the
	// plan, and HealAll leaves a fake cluster in that state healthy.
	if got, want := st.Recovery(), faults.Recover(p, p.Actions[stopAt-1].At); stopAt < len(p.Actions) && p.Actions[stopAt].At != p.Actions[stopAt-1].At && !reflect.DeepEqual(got, want) {
		t.Errorf("Recovery() = %v, Recover(plan) = %v", got, want)
	}
	fake := faulttest.NewFake(p.Nodes)
	for _, a := range p.Actions[:stopAt] {
		if err := fake.Apply(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	// Link conditions and clock offsets last the whole plan, so a third of
	// the way in some faults are in effect.
	if fake.Healthy() || st.Healthy() {
		t.Fatalf("cut at action %d: fake healthy %v, tracked state healthy %v; want faults in effect", stopAt, fake.Healthy(), st.Healthy())
	}
	var healLog []faults.Applied
	if err := faults.HealAll(t.Context(), &faulttest.InstantClock{}, fake, st, func(ap faults.Applied) { healLog = append(healLog, ap) }); err != nil {
		t.Fatalf("HealAll: %v", err)
	}
	if !fake.Healthy() || !st.Healthy() {
		t.Errorf("after HealAll: fake healthy %v, state healthy %v", fake.Healthy(), st.Healthy())
	}
	if len(healLog) == 0 {
		t.Errorf("HealAll logged nothing; the plan was cut short with faults in effect")
	}
}

func TestHealAllErrors(t *testing.T) {
	st := faults.NewState(nil)
	for _, a := range []faults.Action{
		{Kind: faults.ActPartition, Partition: &faults.Partition{Kind: faults.PartitionIsolate, Groups: [][]string{{"a"}, {"b"}}}},
		{Kind: faults.ActKill, Nodes: []string{"a"}},
		{Kind: faults.ActClockJump, Nodes: []string{"b"}, Offset: time.Second},
	} {
		if err := st.Apply(a); err != nil {
			t.Fatal(err)
		}
	}
	inj := &scripted{errs: map[faults.ActionKind]error{
		faults.ActClockSkew: fmt.Errorf("x: %w", faults.ErrUnsupported),
		faults.ActRestart:   errors.New("no image"),
	}}
	err := faults.HealAll(t.Context(), &faulttest.InstantClock{}, inj, st, nil)
	if err == nil || !strings.Contains(err.Error(), "restart a") || !strings.Contains(err.Error(), "no image") || errors.Is(err, faults.ErrUnsupported) {
		t.Errorf("HealAll = %v, want only the restart's error", err)
	}
	want := []faults.Action{{Kind: faults.ActHeal}, {Kind: faults.ActClockSkew, Nodes: []string{"b"}}, {Kind: faults.ActRestart, Nodes: []string{"a"}}}
	if !reflect.DeepEqual(inj.applied, want) {
		t.Errorf("HealAll applied %v, want %v", inj.applied, want)
	}
	// The partition is healed; the kill and the clock jump are still in effect.
	if got := st.Recovery(); len(got) != 2 {
		t.Errorf("after a partly failed HealAll, Recovery() = %v", got)
	}
}

func TestValidateRejects(t *testing.T) {
	nodes := []string{"a", "b", "c"}
	iso := &faults.Partition{Kind: faults.PartitionIsolate, Groups: [][]string{{"a"}, {"b", "c"}}}
	at := func(d time.Duration, a faults.Action) faults.Action { a.At = d; return a }
	kill := func(n ...string) faults.Action { return faults.Action{Kind: faults.ActKill, Nodes: n} }
	restart := func(n ...string) faults.Action { return faults.Action{Kind: faults.ActRestart, Nodes: n} }
	pause := func(n ...string) faults.Action { return faults.Action{Kind: faults.ActPause, Nodes: n} }
	resume := func(n ...string) faults.Action { return faults.Action{Kind: faults.ActResume, Nodes: n} }
	for _, c := range []struct {
		name    string
		actions []faults.Action
		keepUp  [][]string
		want    string
	}{
		{"ok", []faults.Action{at(1, kill("a")), at(2, restart("a")), at(2, pause("a")), at(3, resume("a"))}, nil, ""},
		{"out of order", []faults.Action{at(2, kill("a")), at(1, restart("a"))}, nil, "comes after"},
		{"past the end", []faults.Action{at(1, kill("a")), at(20, restart("a"))}, nil, "outside"},
		{"not restarted", []faults.Action{at(1, kill("a"))}, nil, "still in effect"},
		{"not healed", []faults.Action{at(1, faults.Action{Kind: faults.ActPartition, Partition: iso})}, nil, "still in effect"},
		{"two partitions", []faults.Action{at(1, faults.Action{Kind: faults.ActPartition, Partition: iso}), at(2, faults.Action{Kind: faults.ActPartition, Partition: iso}), at(3, faults.Action{Kind: faults.ActHeal})}, nil, "heal first"},
		{"cuts nothing", []faults.Action{at(1, faults.Action{Kind: faults.ActPartition, Partition: &faults.Partition{Kind: faults.PartitionHalves, Groups: [][]string{{"a", "b"}}}}), at(2, faults.Action{Kind: faults.ActHeal})}, nil, "cuts no traffic"},
		{"kill paused", []faults.Action{at(1, pause("a")), at(2, kill("a")), at(3, restart("a")), at(3, resume("a"))}, nil, "paused"},
		{"pause killed", []faults.Action{at(1, kill("b")), at(2, pause("b")), at(3, resume("b")), at(3, restart("b"))}, nil, "killed"},
		{"double kill", []faults.Action{at(1, kill("a")), at(2, kill("a")), at(3, restart("a"))}, nil, "already killed"},
		{"resume running", []faults.Action{at(1, resume("a"))}, nil, "not paused"},
		{"unknown node", []faults.Action{at(1, kill("z")), at(2, restart("z"))}, nil, "unknown node"},
		{"no nodes", []faults.Action{at(1, kill())}, nil, "without nodes"},
		{"unknown kind", []faults.Action{at(1, faults.Action{Kind: "reboot"})}, nil, "unknown action kind"},
		{"bad link", []faults.Action{at(1, faults.Action{Kind: faults.ActLink, Link: &faults.Link{Loss: 1.5}}), at(2, faults.Action{Kind: faults.ActLink})}, nil, "outside [0, 1]"},
		{"link left on", []faults.Action{at(1, faults.Action{Kind: faults.ActLink, Nodes: []string{"b"}, Link: &faults.Link{Loss: 0.5}})}, nil, "still in effect"},
		{"clock left on", []faults.Action{at(1, faults.Action{Kind: faults.ActClockJump, Nodes: []string{"c"}, Offset: -time.Second})}, nil, "still in effect"},
		{"all down", []faults.Action{at(1, kill("a")), at(2, pause("b", "c")), at(3, resume("b", "c")), at(3, restart("a"))}, [][]string{{"a", "b", "c"}}, "no node of"},
		{"keep-up ok", []faults.Action{at(1, kill("a")), at(2, pause("b")), at(3, resume("b")), at(3, restart("a"))}, [][]string{{"a", "b", "c"}}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := faults.Plan{Seed: 1, Duration: 10, Nodes: nodes, KeepUp: c.keepUp, Actions: c.actions}
			err := p.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("Validate = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestRecoverEveryPrefix(t *testing.T) {
	for seed := range uint64(30) {
		p := faults.Schedule(seed, full(seed%2 == 0), nodeNames(5), time.Minute)
		for _, cut := range p.Actions {
			fake := faulttest.NewFake(p.Nodes)
			for _, a := range p.Actions {
				if a.At > cut.At {
					break
				}
				if err := fake.Apply(t.Context(), a); err != nil {
					t.Fatal(err)
				}
			}
			for _, a := range faults.Recover(p, cut.At) {
				if err := fake.Apply(t.Context(), a); err != nil {
					t.Fatalf("seed %d, cut at %v: recovery %s: %v", seed, cut.At, a, err)
				}
			}
			if !fake.Healthy() {
				t.Fatalf("seed %d, cut at %v: not healthy after Recover", seed, cut.At)
			}
		}
	}
}

func TestJSON(t *testing.T) {
	for seed := range uint64(20) {
		p := faults.Schedule(seed, full(true), nodeNames(5), time.Minute)
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
			t.Fatalf("seed %d: round trip changed the plan", seed)
		}
	}
	ap := faults.Applied{
		Action: faults.Action{At: 1500 * time.Millisecond, Kind: faults.ActClockJump, Nodes: []string{"a"}, Offset: -2 * time.Second},
		At:     3200 * time.Millisecond,
		Err:    fmt.Errorf("process backend: %w", faults.ErrUnsupported),
	}
	b, err := json.Marshal(ap)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"at":"3.2s","action":{"at":"1.5s","kind":"clock_jump","nodes":["a"],"offset":"-2s"},"error":"process backend: not supported","unsupported":true}`
	if string(b) != want {
		t.Errorf("Applied JSON =\n%s\nwant\n%s", b, want)
	}
	if got, want := ap.String(), "3.2s clock_jump a -2s (unsupported: process backend: not supported)"; got != want {
		t.Errorf("Applied.String() = %q, want %q", got, want)
	}
}

func TestActionString(t *testing.T) {
	for _, c := range []struct {
		a    faults.Action
		want string
	}{
		{faults.Action{Kind: faults.ActKill, Nodes: []string{"a", "b"}}, "kill a,b"},
		{faults.Action{Kind: faults.ActHeal}, "heal"},
		{faults.Action{Kind: faults.ActPartition, Partition: &faults.Partition{Kind: faults.PartitionHalves, Groups: [][]string{{"a"}, {"b", "c"}}}}, "partition halves a | b,c"},
		{faults.Action{Kind: faults.ActPartition, Partition: &faults.Partition{Kind: faults.PartitionIsolate, OneWay: true, From: []string{"a"}, To: []string{"b", "c"}}}, "partition isolate a -> b,c"},
		{faults.Action{Kind: faults.ActLink, Link: &faults.Link{}}, "link all clean"},
		{faults.Action{Kind: faults.ActLink, Nodes: []string{"b"}, Link: &faults.Link{Latency: faults.Range{Min: time.Millisecond, Max: 5 * time.Millisecond}, Loss: 0.1}}, "link b latency=1ms..5ms loss=0.1 duplicate=0 reorder=0"},
		{faults.Action{Kind: faults.ActClockSkew, Nodes: []string{"c"}, Offset: 3 * time.Second}, "clock_skew c +3s"},
	} {
		if got := c.a.String(); got != c.want {
			t.Errorf("String() = %q, want %q", got, c.want)
		}
	}
}

func TestParseRange(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    faults.Range
		wantErr bool
	}{
		{"5s", faults.Range{Min: 5 * time.Second, Max: 5 * time.Second}, false},
		{"1s..8s", faults.Range{Min: time.Second, Max: 8 * time.Second}, false},
		{" 0s .. 500ms ", faults.Range{Max: 500 * time.Millisecond}, false},
		{"8s..1s", faults.Range{}, true},
		{"-1s", faults.Range{}, true},
		{"1s..", faults.Range{}, true},
		{"soon", faults.Range{}, true},
	} {
		got, err := faults.ParseRange(c.in)
		if (err != nil) != c.wantErr || got != c.want {
			t.Errorf("ParseRange(%q) = %v, %v; want %v, error %v", c.in, got, err, c.want, c.wantErr)
		}
		if err == nil {
			if back, _ := faults.ParseRange(got.String()); back != got {
				t.Errorf("ParseRange(%q).String() = %q does not parse back", c.in, got.String())
			}
		}
	}
}

func TestCheck(t *testing.T) {
	nodes := []string{"a", "b", "c"}
	for _, c := range []struct {
		name string
		cfg  faults.Config
		want []string // substrings; none means valid
	}{
		{"full", full(true), nil},
		{"unknown service", faults.Config{Kill: &faults.KillConfig{Every: sec, Services: []string{"a", "zz"}}}, []string{`kill: service "zz" is not in the compose project`, "only 1 node"}},
		{"no every", faults.Config{Partition: &faults.PartitionConfig{HealAfter: faults.Range{Max: sec}}}, []string{"partition: every is not set"}},
		{"bad range", faults.Config{Pause: &faults.PauseConfig{Every: sec, Duration: faults.Range{Min: 2 * sec, Max: sec}}}, []string{"pause: duration = 2s..1s"}},
		{"too small for majorities", faults.Config{Partition: &faults.PartitionConfig{Every: sec, HealAfter: faults.Range{Max: sec}, Kinds: []faults.PartitionKind{"majorities", "ring"}}}, []string{`kind "majorities" needs at least 4 nodes`, `unknown kind "ring"`}},
		{"bad probability", faults.Config{Link: &faults.LinkConfig{Loss: 1.5, Reorder: -0.1}}, []string{"link: loss = 1.5", "link: reorder = -0.1"}},
		{"clock without offset", faults.Config{ClockSkew: &faults.ClockSkewConfig{Jumps: true}}, []string{"clock_skew: max_offset"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Check(nodes)
			if len(c.want) == 0 {
				if err != nil {
					t.Errorf("Check = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check = nil, want errors %q", c.want)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Check = %v\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

// TestDecodeLegacyClockSkew: plans and fault logs recorded when the clock
// action was called clock_offset decode as clock_skew, and encode with
// the current name.
func TestDecodeLegacyClockSkew(t *testing.T) {
	var a faults.Action
	if err := json.Unmarshal([]byte(`{"at":"2s","kind":"clock_offset","nodes":["n1"],"offset":"-3s"}`), &a); err != nil {
		t.Fatal(err)
	}
	if a.Kind != faults.ActClockSkew || a.Offset != -3*time.Second {
		t.Fatalf("decoded %+v, want a clock_skew of -3s", a)
	}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"at":"2s","kind":"clock_skew","nodes":["n1"],"offset":"-3s"}`; string(b) != want {
		t.Errorf("re-encoded %s, want %s", b, want)
	}
}
