// Package backendtest is the conformance suite every backend runs, in the
// manner of testing/fstest: a backend's tests call [Run] with a ready
// backend, and the suite boots a three-node cluster of a small Go echo
// service (testdata/echo) and checks name resolution, Exec, SDK events,
// kill and restart, pause and resume, partitions, unsupported fault kinds
// and Close.
package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/specs"
)

// Services are the names of the suite's nodes.
var Services = []string{"alpha", "beta", "gamma"}

// Ports the echo service listens on.
const (
	TCPPort = 7000
	UDPPort = 7001
)

// Options adapts the suite to a backend.
type Options struct {
	// Configure, if set, adjusts the test before Prepare, e.g. to give the
	// services an image for the docker backend.
	Configure func(t *specs.Test)
	// Clean, if set, is called after the cluster closed; it returns an error
	// describing anything the cluster left behind (processes, namespaces,
	// links, containers).
	Clean func(ctx context.Context) error
	// Timeout bounds the whole suite; 0 means 5 minutes.
	Timeout time.Duration
	// Program, if set, returns the argv[0] that runs the echo program inside
	// service's node; the default is "/bin/<service>", which the process
	// backend maps to the service's built program.
	Program func(service string) string
}

// EchoDir returns the absolute path of the echo service's Go main package.
func EchoDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("backendtest: cannot locate its own source")
	}
	return filepath.Join(filepath.Dir(file), "testdata", "echo")
}

// NewTest returns a test whose compose project has one echo node per name,
// each built from [EchoDir] and running "serve" plus args.
func NewTest(names []string, args ...string) *specs.Test {
	dir := EchoDir()
	p := &specs.Project{Name: "backendtest", Dir: filepath.Dir(dir)}
	for _, n := range names {
		p.Services = append(p.Services, &specs.Service{
			Name:        n,
			Command:     append([]string{"serve"}, args...),
			Build:       &specs.Build{Context: dir, GoMain: true},
			Environment: map[string]string{"ECHO_SERVICE": n},
			Ports:       []int{TCPPort, UDPPort},
		})
	}
	return &specs.Test{Name: "backendtest", Dir: p.Dir, Backend: "auto", Seeds: 1, Project: p}
}

// Recorder collects a cluster's events; its Record method is a
// [backend.ClusterConfig] Events function.
type Recorder struct {
	mu     sync.Mutex
	events []backend.Event
}

// Record appends e.
func (r *Recorder) Record(e backend.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// Events returns the events so far that match keep (all if keep is nil).
func (r *Recorder) Events(keep func(backend.Event) bool) []backend.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []backend.Event
	for _, e := range r.events {
		if keep == nil || keep(e) {
			out = append(out, e)
		}
	}
	return out
}

// WaitFor waits until at least n events match keep, or d passes, and
// returns the matching events.
func (r *Recorder) WaitFor(d time.Duration, n int, keep func(backend.Event) bool) []backend.Event {
	deadline := time.Now().Add(d)
	for {
		evs := r.Events(keep)
		if len(evs) >= n || time.Now().After(deadline) {
			return evs
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Kind matches events of kind k on node (any node if node is "").
func Kind(k backend.EventKind, node string) func(backend.Event) bool {
	return func(e backend.Event) bool { return e.Kind == k && (node == "" || e.Node == node) }
}

// Harness runs commands in a booted cluster. Its methods take the test of
// the check that calls them: a command that cannot run fails that check
// only, never its parent.
type Harness struct {
	Backend backend.Backend
	// Ctx bounds every command the harness runs.
	Ctx     context.Context
	Cluster backend.Cluster
	Events  *Recorder
	// Services are the cluster's services, in compose order.
	Services []string
	// Dir is the cluster's artifacts directory (ClusterConfig.Dir).
	Dir string
	// Program returns the argv[0] of the echo program in a node; nil means
	// "/bin/<service>".
	Program func(service string) string
}

func (h *Harness) program(service string) string {
	if h.Program != nil {
		return h.Program(service)
	}
	return "/bin/" + service
}

// Exec runs the echo program's subcommand args in service and returns the
// result, stdout and stderr; it fails t if the command could not run.
func (h *Harness) Exec(t testing.TB, service, name string, env map[string]string, args ...string) (backend.ExecResult, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	res, err := h.Cluster.Exec(h.Ctx, backend.ExecRequest{
		Service: service, Name: name, Env: env,
		Argv:   append([]string{h.program(service)}, args...),
		Stdout: &out, Stderr: &errb,
	})
	if err != nil {
		t.Fatalf("Exec %v in %s: %v", args, service, err)
	}
	return res, out.String(), errb.String()
}

// Dial sends msg from one node to another over proto ("tcp" or "udp") and
// returns the reply, or "" and the command's stderr if there was none.
func (h *Harness) Dial(t testing.TB, proto, from, to, msg string) (reply, stderr string) {
	t.Helper()
	port, cmd := TCPPort, "dial"
	if proto == "udp" {
		port, cmd = UDPPort, "udp"
	}
	res, out, errs := h.Exec(t, from, "dial", nil, cmd, fmt.Sprintf("%s:%d", to, port), msg)
	if res.ExitCode != 0 {
		return "", errs
	}
	return out, ""
}

// Reachable waits up to d until from reaches to over proto, and reports
// whether it did.
func (h *Harness) Reachable(t testing.TB, proto, from, to string, d time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	want := to + ":ping\n"
	for {
		if got, _ := h.Dial(t, proto, from, to, "ping"); got == want {
			return true
		}
		if time.Now().After(deadline) || h.Ctx.Err() != nil {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitServing waits up to d until every node answers on TCP, asked by the
// next node in order, and fails t if one does not.
func (h *Harness) WaitServing(t testing.TB, d time.Duration) {
	t.Helper()
	for i, s := range h.Services {
		from := h.Services[(i+1)%len(h.Services)]
		if !h.Reachable(t, "tcp", from, s, d) {
			t.Fatalf("node %s never answered on TCP %d", s, TCPPort)
		}
	}
}

// Boot prepares b for test, creates a cluster and starts every service of
// test. The cluster is closed when the test ends.
func Boot(t testing.TB, ctx context.Context, b backend.Backend, test *specs.Test) *Harness {
	t.Helper()
	if err := b.Available(ctx); err != nil {
		t.Skipf("backend %s is not available here: %v", b.Name(), err)
	}
	if err := b.Prepare(ctx, test, t.TempDir()); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	return BootPrepared(t, ctx, b, test)
}

// BootPrepared is [Boot] for a backend that has already prepared test,
// for tests that boot many clusters of one test.
func BootPrepared(t testing.TB, ctx context.Context, b backend.Backend, test *specs.Test) *Harness {
	t.Helper()
	rec := &Recorder{}
	dir := t.TempDir()
	c, err := b.NewCluster(ctx, backend.ClusterConfig{
		Test: test, Seed: 0x5eed, Dir: dir, Events: rec.Record,
	})
	if err != nil {
		t.Fatalf("NewCluster: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	services := test.Project.ServiceNames()
	for _, s := range services {
		if err := c.Start(ctx, s); err != nil {
			t.Fatalf("Start %s: %v", s, err)
		}
	}
	return &Harness{Backend: b, Ctx: ctx, Cluster: c, Events: rec, Services: services, Dir: dir}
}

// allKinds are the action kinds the suite asks Supports about.
var allKinds = []faults.ActionKind{
	faults.ActPartition, faults.ActHeal, faults.ActLink, faults.ActKill, faults.ActRestart,
	faults.ActPause, faults.ActResume, faults.ActClockSkew, faults.ActClockJump,
}

// Run runs the conformance suite against b: [CheckSupports], then, on one
// cluster of [Services] booted from [NewTest], every check that needs a
// running cluster in turn, ending with [CheckClose], and last
// [CheckFailedNewCluster]. Each check is a subtest with its own
// *testing.T, so a failure stops that check only. It skips if b.Available
// fails.
func Run(t *testing.T, b backend.Backend, opts Options) {
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
	defer cancel()
	test := NewTest(Services)
	if opts.Configure != nil {
		opts.Configure(test)
	}
	t.Run("Supports", func(t *testing.T) { CheckSupports(t, b) })

	h := Boot(t, ctx, b, test)
	h.Program = opts.Program
	h.WaitServing(t, 60*time.Second)

	for _, c := range []struct {
		name  string
		check func(*testing.T, *Harness)
	}{
		{"StartEvents", CheckStartEvents},
		{"Resolve", CheckResolve},
		{"Exec", CheckExec},
		{"SDK", CheckSDK},
		{"TCPAndUDP", CheckTCPAndUDP},
		{"KillRestart", CheckKillRestart},
		{"PauseResume", CheckPauseResume},
		{"PartitionHeal", CheckPartitionHeal},
		{"LinkLoss", CheckLinkLoss},
		{"Unsupported", CheckUnsupported},
	} {
		t.Run(c.name, func(t *testing.T) { c.check(t, h) })
	}
	t.Run("Close", func(t *testing.T) { CheckClose(t, h, opts.Clean) })
	t.Run("FailedNewCluster", func(t *testing.T) { CheckFailedNewCluster(t, b, test, opts.Clean) })
}

// CheckSupports checks b's answers to Supports: every answer is nil or
// wraps ErrUnsupported, an unknown kind is unsupported, and kill and
// restart, which every backend must do, are supported.
func CheckSupports(t *testing.T, b backend.Backend) {
	if b.Name() == "" {
		t.Errorf("Name() is empty")
	}
	for _, k := range append(allKinds, "no_such_kind") {
		err := b.Supports(k)
		if err != nil && !errors.Is(err, backend.ErrUnsupported) {
			t.Errorf("Supports(%s) = %v, which does not wrap ErrUnsupported", k, err)
		}
		if k == "no_such_kind" && err == nil {
			t.Errorf("Supports(no_such_kind) = nil, want an error wrapping ErrUnsupported")
		}
	}
	for _, k := range []faults.ActionKind{faults.ActKill, faults.ActRestart} {
		if err := b.Supports(k); err != nil {
			t.Errorf("Supports(%s) = %v; every backend must kill and restart nodes", k, err)
		}
	}
}

// CheckStartEvents checks the events of a freshly booted cluster: one
// node_start and no node_exit per node.
func CheckStartEvents(t *testing.T, h *Harness) {
	for _, s := range h.Services {
		if n := len(h.Events.Events(Kind(backend.EventNodeStart, s))); n != 1 {
			t.Errorf("%d node_start events for %s, want 1", n, s)
		}
		if n := len(h.Events.Events(Kind(backend.EventNodeExit, s))); n != 0 {
			t.Errorf("%d node_exit events for %s before any fault, want 0", n, s)
		}
	}
}

// CheckResolve checks that every node resolves every service name, to the
// same address everywhere and to a different address per service.
func CheckResolve(t *testing.T, h *Harness) {
	seen := map[string]string{} // address → name
	for _, name := range h.Services {
		var first string
		for _, from := range h.Services {
			res, out, errs := h.Exec(t, from, "resolve", nil, "resolve", name)
			if res.ExitCode != 0 {
				t.Errorf("resolving %s in %s: exit %d: %s", name, from, res.ExitCode, errs)
				continue
			}
			out = strings.TrimSpace(out)
			if first == "" {
				first = out
			} else if out != first {
				t.Errorf("%s resolves to %q in %s but %q elsewhere", name, out, from, first)
			}
		}
		if other, ok := seen[first]; ok && first != "" {
			t.Errorf("%s and %s both resolve to %s", name, other, first)
		}
		seen[first] = name
	}
}

// CheckExec checks Exec in the cluster's second node (its first if it has
// one): exit codes, signals, output, environment, files shared with the
// node, and the errors for a missing program, an unknown service and an
// ended context.
func CheckExec(t *testing.T, h *Harness) {
	node := h.Services[min(1, len(h.Services)-1)]
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantCode   int
		wantSignal string
		wantOut    string
		wantErr    string
	}{
		{"success", []string{"exit", "0"}, nil, 0, "", "out\n", "err\n"},
		{"failure", []string{"exit", "7"}, nil, 7, "", "out\n", "err\n"},
		{"signal", []string{"kill-self"}, nil, 128 + 9, "killed", "", ""},
		{"env", []string{"env", "GREETING"}, map[string]string{"GREETING": "hi"}, 0, "", "hi\n", ""},
		{"service env", []string{"env", "ECHO_SERVICE"}, nil, 0, "", node + "\n", ""},
		{"node name", []string{"env", "MVRUN_NODE"}, nil, 0, "", node + "\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, out, errs := h.Exec(t, node, "exec", tt.env, tt.args...)
			if res.ExitCode != tt.wantCode || res.Signal != tt.wantSignal {
				t.Errorf("exit %d signal %q, want %d %q", res.ExitCode, res.Signal, tt.wantCode, tt.wantSignal)
			}
			if out != tt.wantOut || errs != tt.wantErr {
				t.Errorf("stdout %q stderr %q, want %q %q", out, errs, tt.wantOut, tt.wantErr)
			}
		})
	}
	t.Run("seed", func(t *testing.T) {
		_, first, _ := h.Exec(t, node, "exec", nil, "env", "MVRUN_SEED")
		_, second, _ := h.Exec(t, node, "exec", nil, "env", "MVRUN_SEED")
		if !strings.HasPrefix(first, "0x") || first == second {
			t.Errorf("MVRUN_SEED of two commands: %q and %q, want two different 0x-hex seeds", first, second)
		}
	})
	t.Run("files shared with the node", func(t *testing.T) {
		h.Exec(t, node, "exec", nil, "write", "note", "kept")
		if _, out, _ := h.Exec(t, node, "exec", nil, "cat", "note"); out != "kept" {
			t.Errorf("file written by one exec reads %q in the next, want %q", out, "kept")
		}
	})
	t.Run("missing command", func(t *testing.T) {
		_, err := h.Cluster.Exec(h.Ctx, backend.ExecRequest{Service: node, Name: "missing", Argv: []string{"/no/such/program-mvrun"}})
		if err == nil {
			t.Errorf("Exec of a missing program succeeded, want an error")
		}
	})
	t.Run("unknown service", func(t *testing.T) {
		_, err := h.Cluster.Exec(h.Ctx, backend.ExecRequest{Service: "no-such-service", Argv: []string{"/bin/true"}})
		if err == nil || !strings.Contains(err.Error(), "no-such-service") {
			t.Errorf("Exec in an unknown service: %v, want an error naming it", err)
		}
	})
	t.Run("context cancel", func(t *testing.T) {
		// On a cluster with simulated time the context's timeout is
		// simulated too (the runner's are); a host timer would let the
		// hour of simulated sleep finish first.
		cctx, ccancel := context.WithTimeout(h.Ctx, 500*time.Millisecond)
		if tt, ok := h.Cluster.(backend.Turns); ok {
			cctx, ccancel = tt.WithTimeout(h.Ctx, 500*time.Millisecond)
		}
		defer ccancel()
		start := time.Now()
		_, err := h.Cluster.Exec(cctx, backend.ExecRequest{Service: node, Name: "sleeper", Argv: []string{h.program(node), "sleep", "1h"}})
		if err == nil {
			t.Errorf("Exec outlived its context without an error")
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("Exec took %v to return after its context ended", d)
		}
	})
}

// CheckSDK checks SDK events: each node's service process announces
// setup, and the lines a command writes (a last one without its newline
// included) arrive in order, numbered, attributed to the command.
func CheckSDK(t *testing.T, h *Harness) {
	for _, s := range h.Services {
		setup := func(e backend.Event) bool {
			return e.Kind == backend.EventSDK && e.Node == s && e.Proc == "" && bytes.Contains(e.Line, []byte("antithesis_setup"))
		}
		if evs := h.Events.WaitFor(10*time.Second, 1, setup); len(evs) == 0 {
			t.Errorf("no antithesis_setup SDK event from node %s's service process", s)
		}
	}
	g := h.Services[len(h.Services)-1]
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"probe", []string{"sdk", "5"}},
		{"partial", []string{"sdk", "5", "partial"}}, // last line without newline
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, _, errs := h.Exec(t, g, tt.name, nil, tt.args...)
			if res.ExitCode != 0 {
				t.Fatalf("%v: exit %d: %s", tt.args, res.ExitCode, errs)
			}
			probe := func(e backend.Event) bool { return e.Kind == backend.EventSDK && e.Proc == tt.name }
			evs := h.Events.WaitFor(10*time.Second, 5, probe)
			if len(evs) != 5 {
				t.Fatalf("%v: %d SDK events, want 5: %v", tt.args, len(evs), evs)
			}
			for i, e := range evs {
				want := fmt.Sprintf(`{"probe":{"i":%d}}`, i+1)
				if e.Node != g || string(e.Line) != want || e.LineNo != i+1 {
					t.Errorf("%v: event %d: node %q line %q lineno %d, want %q %q %d", tt.args, i, e.Node, e.Line, e.LineNo, g, want, i+1)
				}
			}
		})
	}
}

// CheckTCPAndUDP checks that the first node reaches the second over TCP
// and UDP.
func CheckTCPAndUDP(t *testing.T, h *Harness) {
	a, b := needServices(t, h, 2)[0], h.Services[1]
	for _, proto := range []string{"tcp", "udp"} {
		if got, errs := h.Dial(t, proto, a, b, "hello"); got != b+":hello\n" {
			t.Errorf("%s %s→%s: reply %q (%s), want %q", proto, a, b, got, errs, b+":hello\n")
		}
	}
}

// needServices skips t unless h has at least n services, and returns them.
func needServices(t *testing.T, h *Harness, n int) []string {
	t.Helper()
	if len(h.Services) < n {
		t.Skipf("needs %d nodes, the cluster has %d", n, len(h.Services))
	}
	return h.Services
}

// apply carries out act in h's cluster and fails t if that fails.
func apply(t *testing.T, h *Harness, act faults.Action) {
	t.Helper()
	if err := h.Cluster.Apply(h.Ctx, act); err != nil {
		t.Fatalf("Apply(%s %v): %v", act.Kind, act.Nodes, err)
	}
}

// CheckKillRestart kills the last node and restarts it: the kill ends the
// node with an expected node_exit and cuts it off, the restart starts it
// again with its files kept.
func CheckKillRestart(t *testing.T, h *Harness) {
	ss := needServices(t, h, 2)
	a, g := ss[0], ss[len(ss)-1]
	starts0 := len(h.Events.Events(Kind(backend.EventNodeStart, g)))
	exits0 := len(h.Events.Events(Kind(backend.EventNodeExit, g)))
	_, counter0, _ := h.Exec(t, g, "exec", nil, "cat", "starts")
	apply(t, h, faults.Action{Kind: faults.ActKill, Nodes: []string{g}})
	exits := h.Events.WaitFor(10*time.Second, exits0+1, Kind(backend.EventNodeExit, g))
	if len(exits) != exits0+1 || !exits[len(exits)-1].Expected {
		t.Fatalf("node_exit events for killed %s: %+v, want one more, with Expected", g, exits)
	}
	if got, _ := h.Dial(t, "tcp", a, g, "x"); got != "" {
		t.Errorf("killed node %s still answers: %q", g, got)
	}
	apply(t, h, faults.Action{Kind: faults.ActRestart, Nodes: []string{g}})
	if n := len(h.Events.Events(Kind(backend.EventNodeStart, g))); n != starts0+1 {
		t.Errorf("%d node_start events for %s after restart, want %d", n, g, starts0+1)
	}
	if !h.Reachable(t, "tcp", a, g, 30*time.Second) {
		t.Fatalf("restarted node %s does not answer", g)
	}
	n0, err := strconv.Atoi(counter0)
	if err != nil {
		t.Fatalf("start counter file of %s reads %q before the kill", g, counter0)
	}
	if _, out, _ := h.Exec(t, g, "exec", nil, "cat", "starts"); out != strconv.Itoa(n0+1) {
		t.Errorf("restarted node's start counter file reads %q, want %d: files must survive a restart", out, n0+1)
	}
}

// CheckPauseResume pauses the second node: it stops answering without
// exiting, and answers again once resumed.
func CheckPauseResume(t *testing.T, h *Harness) {
	ss := needServices(t, h, 2)
	a, b := ss[0], ss[1]
	exits0 := len(h.Events.Events(Kind(backend.EventNodeExit, b)))
	apply(t, h, faults.Action{Kind: faults.ActPause, Nodes: []string{b}})
	if got, _ := h.Dial(t, "tcp", a, b, "x"); got != "" {
		t.Errorf("paused node %s answered %q", b, got)
	}
	apply(t, h, faults.Action{Kind: faults.ActResume, Nodes: []string{b}})
	if !h.Reachable(t, "tcp", a, b, 30*time.Second) {
		t.Errorf("resumed node %s does not answer", b)
	}
	if n := len(h.Events.Events(Kind(backend.EventNodeExit, b))) - exits0; n != 0 {
		t.Errorf("pause/resume produced %d node_exit events for %s", n, b)
	}
}

// CheckPartitionHeal isolates the first of three nodes from the other two,
// which still talk, and heals.
func CheckPartitionHeal(t *testing.T, h *Harness) {
	if err := h.Backend.Supports(faults.ActPartition); err != nil {
		t.Skipf("partitions unsupported: %v", err)
	}
	ss := needServices(t, h, 3)
	a, b, g := ss[0], ss[1], ss[2]
	apply(t, h, faults.Action{Kind: faults.ActPartition, Partition: &faults.Partition{
		Kind: faults.PartitionIsolate, Groups: [][]string{{a}, {b, g}}}})
	for _, c := range []struct {
		from, to string
		want     bool
	}{{a, b, false}, {g, a, false}, {b, g, true}, {g, b, true}} {
		var got bool
		if c.want {
			got = h.Reachable(t, "tcp", c.from, c.to, 10*time.Second)
		} else {
			r, _ := h.Dial(t, "tcp", c.from, c.to, "x")
			got = r != ""
		}
		if got != c.want {
			t.Errorf("during partition %s→%s reachable=%v, want %v", c.from, c.to, got, c.want)
		}
	}
	apply(t, h, faults.Action{Kind: faults.ActHeal})
	if !h.Reachable(t, "tcp", a, b, 30*time.Second) || !h.Reachable(t, "tcp", g, a, 30*time.Second) {
		t.Errorf("nodes still cut off after heal")
	}
}

// CheckLinkLoss sets 100% loss, under which nothing gets through, and
// clears it.
func CheckLinkLoss(t *testing.T, h *Harness) {
	if err := h.Backend.Supports(faults.ActLink); err != nil {
		t.Skipf("link faults unsupported: %v", err)
	}
	ss := needServices(t, h, 2)
	a, b := ss[0], ss[1]
	apply(t, h, faults.Action{Kind: faults.ActLink, Link: &faults.Link{Loss: 1}})
	if got, _ := h.Dial(t, "udp", a, b, "x"); got != "" {
		t.Errorf("with 100%% loss, %s→%s still answered %q", a, b, got)
	}
	apply(t, h, faults.Action{Kind: faults.ActLink}) // a clean network again
	if !h.Reachable(t, "udp", a, b, 30*time.Second) {
		t.Errorf("nodes unreachable after link conditions were cleared")
	}
}

// CheckUnsupported checks that the cluster refuses every kind the backend
// does not support with an error wrapping ErrUnsupported.
func CheckUnsupported(t *testing.T, h *Harness) {
	for _, k := range append(allKinds, "no_such_kind") {
		if h.Backend.Supports(k) == nil {
			continue
		}
		err := h.Cluster.Apply(h.Ctx, faults.Action{Kind: k, Nodes: []string{h.Services[0]}, Offset: time.Second})
		if !errors.Is(err, backend.ErrUnsupported) {
			t.Errorf("Apply(%s), unsupported by Supports, returned %v; want an error wrapping ErrUnsupported", k, err)
		}
	}
}

// CheckClose closes the cluster twice, checks that every node's last exit
// is an expected one and that nothing starts afterwards, and, if clean is
// set, that it reports nothing left behind.
func CheckClose(t *testing.T, h *Harness, clean func(ctx context.Context) error) {
	if err := h.Cluster.Close(h.Ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := h.Cluster.Close(h.Ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for _, s := range h.Services {
		exits := h.Events.Events(Kind(backend.EventNodeExit, s))
		if len(exits) == 0 || !exits[len(exits)-1].Expected {
			t.Errorf("node %s: last node_exit after Close %+v, want one with Expected", s, exits)
		}
	}
	if err := h.Cluster.Start(h.Ctx, h.Services[0]); err == nil {
		t.Errorf("Start after Close succeeded")
	}
	if clean != nil {
		if err := clean(h.Ctx); err != nil {
			t.Errorf("left behind after Close: %v", err)
		}
	}
}

// CheckFailedNewCluster asks b, prepared for test here, for a cluster of a
// test with one more service that was not prepared: NewCluster must fail
// with an error naming it, return no cluster, and (if clean is set) leave
// nothing behind. Run it when no other cluster of b is open, or clean
// sees theirs.
func CheckFailedNewCluster(t *testing.T, b backend.Backend, test *specs.Test, clean func(ctx context.Context) error) {
	ctx := t.Context()
	if err := b.Prepare(ctx, test, t.TempDir()); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	other := *test
	proj := *test.Project
	proj.Services = append(slices.Clone(proj.Services), &specs.Service{Name: "unprepared"})
	other.Project = &proj
	c, err := b.NewCluster(ctx, backend.ClusterConfig{Test: &other, Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), `"unprepared"`) {
		t.Errorf("NewCluster with an unprepared service: %v, want an error naming it", err)
	}
	if c != nil {
		t.Errorf("a failed NewCluster returned a cluster (%T); it must return nil and clean up itself", c)
		c.Close(ctx)
	}
	if clean != nil {
		if err := clean(ctx); err != nil {
			t.Errorf("a failed NewCluster left behind: %v", err)
		}
	}
}
