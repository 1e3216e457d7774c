package runner

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/assertions"
	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/internal/seeds"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/specs"
)

func svc(name string, argv ...string) *specs.Service {
	return &specs.Service{Name: name, Command: argv}
}

func cmd(role specs.Role, name, service string, argv ...string) *specs.Command {
	return &specs.Command{Role: role, Name: name, Service: service, Argv: argv}
}

func testSpec(services []*specs.Service, workload ...*specs.Command) *specs.Test {
	return &specs.Test{
		Name: "t", SpecFile: "/x/spec.hcl", Duration: 150 * time.Millisecond, Seeds: 1,
		SeedTimeout: 20 * time.Second,
		Project:     &specs.Project{Name: "p", Services: services},
		Workload:    workload,
	}
}

func run(t *testing.T, ctx context.Context, b *fakeBackend, spec *specs.Test, opts Options) *Outcome {
	t.Helper()
	opts.Test, opts.Backend = spec, b
	if opts.OutDir == "" {
		opts.OutDir = t.TempDir()
	}
	opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	if opts.Count == 0 && len(opts.Seeds) == 0 {
		opts.Seeds = []uint64{0x5eed}
	}
	oc, err := Run(ctx, opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return oc
}

func prop(oc *Outcome, id string) *assertions.Property {
	for _, p := range oc.Result.Properties {
		if p.ID == id {
			return p
		}
	}
	return nil
}

// index returns the position of the first log entry with prefix p, or -1.
func index(log []string, p string) int {
	return slices.IndexFunc(log, func(s string) bool { return strings.HasPrefix(s, p) })
}

func TestPhaseOrder(t *testing.T) {
	a := svc("a", "server")
	a.Healthcheck = &specs.Healthcheck{Test: []string{"health-after", "2"}, Interval: 5 * time.Millisecond, Retries: 5}
	b := svc("b", "server")
	b.DependsOn = []specs.Dependency{{Service: "a", Condition: specs.ServiceHealthy}, {Service: "init", Condition: specs.ServiceCompletedSuccessfully}}
	initSvc := svc("init", "oneshot", "0")
	spec := testSpec([]*specs.Service{a, initSvc, b},
		cmd(specs.RoleFirst, "first1", "a", "ok"),
		cmd(specs.RoleFirst, "first2", "b", "ok"),
		cmd(specs.RoleSingletonDriver, "single", "a", "sleep", "20ms"),
		cmd(specs.RoleParallelDriver, "par", "a", "sleep", "5ms"),
		cmd(specs.RoleSerialDriver, "ser1", "b", "sleep", "5ms"),
		cmd(specs.RoleSerialDriver, "ser2", "b", "sleep", "5ms"),
		cmd(specs.RoleAnytime, "any", "b", "ok"),
		cmd(specs.RoleEventually, "ev", "a", "ok"),
		cmd(specs.RoleFinally, "fin", "b", "ok"),
	)
	// Host time: long enough for every driver to finish a run even on a
	// loaded machine (150 ms was not: ser1 was sometimes cut short on its
	// first run, failing its built-in property).
	spec.Duration = time.Second
	fb := &fakeBackend{}
	oc := run(t, context.Background(), fb, spec, Options{})
	if len(oc.Seeds) != 1 || oc.Cancelled {
		t.Fatalf("seeds = %d, cancelled = %v", len(oc.Seeds), oc.Cancelled)
	}
	if err := oc.Seeds[0].Err; err != nil {
		t.Fatalf("seed error: %v", err)
	}
	log := fb.clusters[0].Log()
	order := []string{
		"start a", "start init", "exec healthcheck a", "start b",
		"exec first1", "exec first2", "exec single", "exec par", "exec ev", "exec fin", "close",
	}
	last := -1
	for _, o := range order {
		i := index(log, o)
		if i < 0 || i < last {
			t.Fatalf("%q at %d, want after %d; log:\n%s", o, i, last, strings.Join(log, "\n"))
		}
		last = i
	}
	// The singleton runs alone: no parallel or serial driver before it ends.
	for _, d := range []string{"exec par", "exec ser"} {
		if index(log, d) < index(log, "exec single") {
			t.Errorf("%s ran before the singleton driver", d)
		}
	}
	for _, name := range []string{"exec ser", "exec any"} {
		if index(log, name) < 0 {
			t.Errorf("%q never ran; log:\n%s", name, strings.Join(log, "\n"))
		}
	}
	if index(log, "exec healthcheck a") > index(log, "start b") {
		t.Errorf("b started before a was healthy")
	}
	for _, p := range oc.Result.Properties {
		if p.Verdict != assertions.Pass {
			t.Errorf("property %q failed: %s", p.ID, p.Reason)
		}
	}
	for _, id := range []string{PropNoCrash, PropSetup, PropTimeout, PropRecovered, PropCommandExited("par")} {
		if prop(oc, id) == nil {
			t.Errorf("built-in %q missing", id)
		}
	}
	for _, f := range []string{EventsFile, FaultsFile, WorkloadFile, TimelineFile, "workload/par.log"} {
		if st, err := os.Stat(filepath.Join(oc.Seeds[0].Dir, f)); err != nil {
			t.Errorf("artifact %s: %v", f, err)
		} else if f != EventsFile && st.Size() == 0 {
			t.Errorf("artifact %s is empty", f)
		}
	}
}

func TestBuiltinFailures(t *testing.T) {
	unhealthy := svc("a", "server")
	unhealthy.Healthcheck = &specs.Healthcheck{Test: []string{"fail"}, Interval: time.Millisecond, Retries: 2}
	depOnFailed := svc("b", "server")
	depOnFailed.DependsOn = []specs.Dependency{{Service: "init", Condition: specs.ServiceCompletedSuccessfully}}
	tests := []struct {
		name     string
		services []*specs.Service
		workload []*specs.Command
		failing  []string
	}{
		{"crash", []*specs.Service{svc("a", "crash", "30ms")}, []*specs.Command{cmd(specs.RoleParallelDriver, "d", "a", "ok")}, []string{PropNoCrash}},
		{"command never exits 0", []*specs.Service{svc("a", "server")}, []*specs.Command{cmd(specs.RoleFirst, "bad", "a", "fail")}, []string{PropCommandExited("bad")}},
		{"sdk without setup", []*specs.Service{svc("a", "sdk-nosetup")}, []*specs.Command{cmd(specs.RoleFirst, "x", "a", "ok")}, []string{PropSetup}},
		{"sdk with setup", []*specs.Service{svc("a", "sdk-setup")}, []*specs.Command{cmd(specs.RoleFirst, "x", "a", "ok")}, nil},
		{"never healthy", []*specs.Service{unhealthy}, []*specs.Command{cmd(specs.RoleFirst, "x", "a", "ok")}, []string{PropSetup, PropCommandExited("x")}},
		{"dependency failed", []*specs.Service{svc("init", "oneshot", "3"), depOnFailed}, []*specs.Command{cmd(specs.RoleFirst, "x", "b", "ok")}, []string{PropNoCrash, PropSetup, PropCommandExited("x")}},
		{"assertion failed", []*specs.Service{svc("a", "server")}, []*specs.Command{cmd(specs.RoleFirst, "x", "a", "emit",
			`{"antithesis_assert":{"id":"m","message":"m","condition":false,"display_type":"Always","hit":true,"must_hit":true,"assert_type":"always","location":{},"details":{"k":1}}}`)}, []string{"m"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			oc := run(t, context.Background(), &fakeBackend{}, testSpec(tc.services, tc.workload...), Options{SetupTimeout: 100 * time.Millisecond})
			if err := oc.Seeds[0].Err; err != nil {
				t.Fatalf("seed error: %v", err)
			}
			var failing []string
			for _, p := range oc.Result.Properties {
				if p.Verdict == assertions.Fail {
					failing = append(failing, p.ID)
				}
			}
			slices.Sort(failing)
			want := slices.Clone(tc.failing)
			slices.Sort(want)
			if !slices.Equal(failing, want) {
				t.Fatalf("failing = %q, want %q", failing, want)
			}
			if got := oc.Seeds[0].Failing; !slices.Equal(got, failing) && !(len(got) == 0 && len(failing) == 0) {
				t.Errorf("seed Failing = %q, want %q", got, failing)
			}
			// A crash's counterexample names the node that crashed, as an
			// SDK line's names the node that sent it.
			if p := prop(oc, PropNoCrash); p != nil && p.Verdict == assertions.Fail {
				if ce := p.FirstCounterexample; ce == nil || ce.Node == "" || ce.Node != ce.Details["node"] {
					t.Errorf("crash counterexample = %+v, want its node named", ce)
				}
			}
		})
	}
}

func TestSeedTimeout(t *testing.T) {
	old := abandonGrace
	abandonGrace = 100 * time.Millisecond
	defer func() { abandonGrace = old }()
	for _, script := range [][]string{{"sleep", "1h"}, {"hang"}} {
		t.Run(script[0], func(t *testing.T) {
			spec := testSpec([]*specs.Service{svc("a", "server")}, cmd(specs.RoleFinally, "stuck", "a", script...))
			spec.SeedTimeout = 400 * time.Millisecond
			fb := &fakeBackend{}
			oc := run(t, context.Background(), fb, spec, Options{})
			if !oc.Seeds[0].TimedOut {
				t.Fatalf("seed not marked timed out")
			}
			if p := prop(oc, PropTimeout); p == nil || p.Verdict != assertions.Fail {
				t.Fatalf("%q = %+v, want a failure", PropTimeout, p)
			}
			if log := fb.clusters[0].Log(); log[len(log)-1] != "close" {
				t.Fatalf("cluster not closed: %q", log)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	spec := testSpec([]*specs.Service{svc("a", "server")}, cmd(specs.RoleParallelDriver, "d", "a", "sleep", "10ms"))
	spec.Duration = time.Hour
	fb := &fakeBackend{}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Cancel once both seeds are in their fault phase.
		for {
			fb.mu.Lock()
			n := len(fb.clusters)
			fb.mu.Unlock()
			if n == 2 && index(fb.clusters[0].Log(), "exec d") >= 0 && index(fb.clusters[1].Log(), "exec d") >= 0 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	oc := run(t, ctx, fb, spec, Options{Count: 5, Jobs: 2, BaseSeed: 1})
	if !oc.Cancelled || len(oc.Seeds) != 0 || oc.Planned != 5 {
		t.Fatalf("cancelled = %v, seeds = %d, planned = %d", oc.Cancelled, len(oc.Seeds), oc.Planned)
	}
	if n := len(oc.Result.Properties); n != 0 {
		t.Errorf("%d properties recorded from seeds that were cut short, want 0", n)
	}
	if len(fb.clusters) != 2 {
		t.Fatalf("%d clusters created after cancel, want 2", len(fb.clusters))
	}
	for i, c := range fb.clusters {
		if log := c.Log(); log[len(log)-1] != "close" {
			t.Errorf("cluster %d not closed", i)
		}
	}
}

func TestSeedsAndFaults(t *testing.T) {
	spec := testSpec([]*specs.Service{svc("a", "server"), svc("b", "server"), svc("c", "server")},
		cmd(specs.RoleSerialDriver, "s1", "a", "sleep", "3ms"),
		cmd(specs.RoleSerialDriver, "s2", "a", "sleep", "3ms"),
		cmd(specs.RoleSerialDriver, "s3", "a", "sleep", "3ms"))
	spec.Duration = 300 * time.Millisecond
	spec.Faults = faults.Config{
		Partition: &faults.PartitionConfig{Every: 30 * time.Millisecond, HealAfter: faults.Range{Min: 10 * time.Millisecond, Max: 20 * time.Millisecond}},
		ClockSkew: &faults.ClockSkewConfig{MaxOffset: time.Second, Jumps: true, Every: 30 * time.Millisecond},
	}
	fb := &fakeBackend{unsupported: map[faults.ActionKind]bool{faults.ActClockJump: true}}
	oc := run(t, context.Background(), fb, spec, Options{Count: 3, BaseSeed: 7, Jobs: 3})
	if len(oc.Seeds) != 3 {
		t.Fatalf("%d seeds", len(oc.Seeds))
	}
	for i, so := range oc.Seeds {
		if want := seeds.Nth(7, i); so.Seed != want {
			t.Errorf("seed %d = %x, want %x", i, so.Seed, want)
		}
		plan := faults.Schedule(so.Seed, spec.Faults, []string{"a", "b", "c"}, spec.Duration)
		if len(so.Faults) < len(plan.Actions) {
			t.Errorf("seed %d: %d faults applied, plan has %d", i, len(so.Faults), len(plan.Actions))
		}
		for j, a := range plan.Actions {
			if j < len(so.Faults) && !strings.HasPrefix(so.Faults[j], a.At.String()+" "+a.String()+" [") {
				t.Errorf("seed %d fault %d = %q, want plan action %v %s", i, j, so.Faults[j], a.At, a)
			}
		}
	}
	if len(oc.Unsupported) == 0 || !strings.Contains(oc.Unsupported[0], "clock_jump") {
		t.Errorf("unsupported = %q, want a clock_jump line", oc.Unsupported)
	}
	if want := "node a: acct (fake): 6 calls in 3 seeds"; len(oc.Unimplemented) != 1 || oc.Unimplemented[0] != want {
		t.Errorf("unimplemented = %q, want [%q]", oc.Unimplemented, want)
	}
	// The serial drivers are picked from the seed: the same seed picks the
	// same sequence. How many picks fit in the duration depends on host
	// load (the fake backend runs on wall time), so the runs are compared
	// on their common prefix, which must be long enough to mean something
	// (three picks of two drivers agree by chance one time in eight).
	picks := func(c *fakeCluster) []string {
		var p []string
		for _, l := range c.Log() {
			if strings.HasPrefix(l, "exec s") {
				p = append(p, l)
			}
		}
		return p
	}
	fb2 := &fakeBackend{unsupported: fb.unsupported}
	run(t, context.Background(), fb2, spec, Options{Seeds: []uint64{oc.Seeds[0].Seed}})
	a, b := picks(fb.clusterFor(oc.Seeds[0].Seed)), picks(fb2.clusters[0])
	n := min(len(a), len(b))
	if n < 3 || !slices.Equal(a[:n], b[:n]) {
		t.Errorf("serial picks differ for the same seed:\n%q\n%q", a, b)
	}
}

func (b *fakeBackend) clusterFor(seed uint64) *fakeCluster {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.clusters {
		if c.cfg.Seed == seed {
			return c
		}
	}
	return nil
}

// BenchmarkSeedOverhead measures what the runner itself costs per seed
// (cluster bookkeeping, artifacts, built-ins, collector) on a fake backend
// whose commands return at once: three services, 100 runs of five
// commands, each writing one SDK line, no fault phase.
func BenchmarkSeedOverhead(b *testing.B) {
	line := `{"antithesis_assert":{"id":"m","message":"m","condition":true,"display_type":"Always","hit":true,"must_hit":true,"assert_type":"always","location":{},"details":null}}`
	var work []*specs.Command
	for i := range 100 {
		work = append(work, cmd(specs.RoleFirst, "emit"+strconv.Itoa(i%5), "a", "emit", line))
	}
	spec := testSpec([]*specs.Service{svc("a", "server"), svc("b", "server"), svc("c", "server")}, work...)
	spec.Duration = 0
	dir := b.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		_, err := Run(context.Background(), Options{
			Test: spec, Backend: &fakeBackend{}, Seeds: []uint64{uint64(i)},
			OutDir: filepath.Join(dir, strconv.Itoa(i)), Log: log,
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func TestProgress(t *testing.T) {
	var buf bytes.Buffer
	spec := testSpec([]*specs.Service{svc("a", "server")}, cmd(specs.RoleFirst, "bad", "a", "fail"))
	spec.Duration = 0
	run(t, context.Background(), &fakeBackend{}, spec, Options{Count: 3, BaseSeed: 1, Jobs: 1, Progress: &buf})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	// Not a terminal: no line per seed, but always the last one.
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "seeds 3/3  failing properties so far: 1 ") || !strings.Contains(last, "eta 0s") {
		t.Errorf("last progress line = %q", last)
	}
	if strings.Contains(buf.String(), "\r") {
		t.Errorf("progress to a non-terminal rewrote lines in place: %q", buf.String())
	}
}

func TestHealthcheckStartPeriod(t *testing.T) {
	tests := []struct {
		name        string
		startPeriod time.Duration
		wantSetup   bool
	}{
		// The check passes on its 4th try, 3 intervals after the start.
		{"failures count", 0, false},
		{"failures in start period do not count", time.Second, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := svc("a", "server")
			a.Healthcheck = &specs.Healthcheck{Test: []string{"health-after", "4"}, Interval: 20 * time.Millisecond, Retries: 2, StartPeriod: tc.startPeriod}
			oc := run(t, context.Background(), &fakeBackend{}, testSpec([]*specs.Service{a}, cmd(specs.RoleFirst, "x", "a", "ok")), Options{})
			p := prop(oc, PropSetup)
			if p == nil || (p.Verdict == assertions.Pass) != tc.wantSetup {
				t.Fatalf("%q = %+v, want pass=%v", PropSetup, p, tc.wantSetup)
			}
		})
	}
}

// TestSDKLossOnStderr: a process whose SDK channel broke says so only on its
// stderr; the loss must still reach the result, attributed to the command.
func TestSDKLossOnStderr(t *testing.T) {
	spec := testSpec([]*specs.Service{svc("a", "server")},
		cmd(specs.RoleFirst, "x", "a", "stderr", sdkLostPrefix+"file:/mvrun/sdk/a.x.jsonl: no such file or directory"),
		cmd(specs.RoleFirst, "y", "a", "stderr", "an ordinary line"))
	oc := run(t, context.Background(), &fakeBackend{}, spec, Options{})
	if err := oc.Seeds[0].Err; err != nil {
		t.Fatalf("seed error: %v", err)
	}
	lost := oc.Result.Lost
	if len(lost) != 1 || lost[0].Node != "a" || lost[0].Proc != "x" || lost[0].Count != 1 ||
		!strings.Contains(lost[0].Reason, "no such file or directory") {
		t.Fatalf("Lost = %+v, want one loss by command x in node a with the SDK's reason", lost)
	}
}

// TestProgressNeverGoesDown checks that the failing count only counts
// failures that can no longer pass while seeds remain: a Sometimes unmet
// after seed 1 and met in seed 2 used to show 1, then 0.
func TestProgressNeverGoesDown(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, 3, time.Now())
	defer p.finish()
	col := assertions.NewCollector()
	line := func(cond bool) []byte {
		return []byte(fmt.Sprintf(`{"antithesis_assert":{"id":"s","message":"s","condition":%t,"display_type":"Sometimes","hit":true,"must_hit":true,"assert_type":"sometimes","location":{}}}`, cond))
	}
	done := func(seed uint64) {
		col.SeedDone(seed)
		p.mu.Lock()
		p.lastLine = time.Time{} // print every seed's line, as on a terminal
		p.mu.Unlock()
		p.seedDone(col)
	}
	col.Add(1, "n", "", 1, line(false))
	done(1)
	col.Add(2, "n", "", 1, line(true))
	done(2)
	done(3)
	prev := -1
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var done, total, failing int
		if _, err := fmt.Sscanf(l, "seeds %d/%d  failing properties so far: %d", &done, &total, &failing); err != nil {
			t.Fatalf("progress line %q: %v", l, err)
		}
		if failing < prev {
			t.Errorf("failing count went down: %q after %d", l, prev)
		}
		prev = failing
	}
	if !strings.Contains(buf.String(), "(1 not met yet)") {
		t.Errorf("the unmet Sometimes is not shown as not met yet:\n%s", buf.String())
	}
}

// TestSDKOutputBounded checks the runner's bounds on SDK output: a line
// over backend.MaxSDKLine is cut and reported as malformed (not copied
// whole into events.jsonl), and past the per-process budget lines are
// dropped and counted as lost.
func TestSDKOutputBounded(t *testing.T) {
	huge := `{"x":"` + strings.Repeat("a", 2*backend.MaxSDKLine) + `"}`
	spec := testSpec([]*specs.Service{svc("a", "server")},
		cmd(specs.RoleFirst, "big", "a", "emit", huge),
		cmd(specs.RoleFirst, "small", "a", "emit", `{"antithesis_setup":{"status":"complete"}}`))
	spec.Duration = 0
	oc := run(t, context.Background(), &fakeBackend{}, spec, Options{})
	r := oc.Result
	if r.MalformedTotal != 1 || len(r.Malformed) != 1 || !strings.Contains(r.Malformed[0].Error, "over the limit") ||
		r.Malformed[0].Proc != "big" || len(r.Malformed[0].Text) > assertions.MaxLineBytes {
		t.Fatalf("malformed = %d %+v", r.MalformedTotal, r.Malformed)
	}
	st, err := os.Stat(filepath.Join(oc.Seeds[0].Dir, EventsFile))
	if err != nil || st.Size() > 64<<10 {
		t.Errorf("events.jsonl: %v, %d bytes; want the oversized line cut", err, st.Size())
	}

	old := sdkStreamLimit
	sdkStreamLimit = 20
	defer func() { sdkStreamLimit = old }()
	oc = run(t, context.Background(), &fakeBackend{}, spec, Options{})
	lost := int64(0)
	for _, l := range oc.Result.Lost {
		if strings.Contains(l.Reason, "limit of 20 bytes") {
			lost += l.Count
		}
	}
	if lost != 2 {
		t.Errorf("lost = %+v, want both lines over the 20-byte budget counted", oc.Result.Lost)
	}
}
