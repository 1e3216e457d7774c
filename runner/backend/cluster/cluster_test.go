package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/runner/backendtest"
	"github.com/mvrun/multiverse/specs"
)

// toy are Mechanics whose service processes are goroutines: a start writes
// one SDK line to the file its environment names and then waits to be
// killed. They record every call, so tests can check what the Core asked
// for and in which order.
type toy struct {
	mu       sync.Mutex
	calls    []string
	procs    map[string]*toyProc
	failKill bool
	execEnv  map[string]string
}

type toyProc struct {
	done chan struct{}
	once sync.Once
}

func (p *toyProc) stop()               { p.once.Do(func() { close(p.done) }) }
func (p *toyProc) Wait() (int, string) { <-p.done; return 137, "killed" }

func (m *toy) record(format string, args ...any) {
	m.mu.Lock()
	m.calls = append(m.calls, fmt.Sprintf(format, args...))
	m.mu.Unlock()
}

func (m *toy) Calls() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.calls)
}

func (m *toy) StartNode(ctx context.Context, n *Node[string], env map[string]string) (Process, error) {
	m.record("start %s seed=%s", n.Name(), env["MVRUN_SEED"])
	file := strings.TrimPrefix(env["MVRUN_SDK"], "file:")
	if err := os.WriteFile(file, []byte(`{"hello":"`+n.Own+`"}`+"\n"), 0o644); err != nil {
		return nil, err
	}
	p := &toyProc{done: make(chan struct{})}
	m.mu.Lock()
	m.procs[n.Name()] = p
	m.mu.Unlock()
	return p, nil
}

func (m *toy) KillNode(ctx context.Context, n *Node[string], running bool) error {
	m.record("kill %s running=%v", n.Name(), running)
	if m.failKill {
		return errors.New("kill failed")
	}
	m.mu.Lock()
	p := m.procs[n.Name()]
	m.mu.Unlock()
	if running {
		p.stop()
	}
	return nil
}

func (m *toy) PauseNode(ctx context.Context, n *Node[string]) error {
	m.record("pause %s", n.Name())
	return nil
}

func (m *toy) ResumeNode(ctx context.Context, n *Node[string]) error {
	m.record("resume %s", n.Name())
	return nil
}

func (m *toy) ExecNode(ctx context.Context, n *Node[string], x ExecSpec) (backend.ExecResult, error) {
	m.record("exec %s %s", n.Name(), x.Name)
	m.mu.Lock()
	m.execEnv = x.Env
	m.mu.Unlock()
	file := strings.TrimPrefix(x.Env["MVRUN_SDK"], "file:")
	if err := os.WriteFile(file, []byte(`{"from":"exec"}`), 0o644); err != nil {
		return backend.ExecResult{}, err
	}
	fmt.Fprint(x.Stdout, "out")
	return backend.ExecResult{}, nil
}

var errToyClock = fmt.Errorf("clock_jump: %w on the toy backend", backend.ErrUnsupported)

func (m *toy) ApplyOther(ctx context.Context, a faults.Action, nodes []*Node[string]) error {
	m.record("other %s %d", a.Kind, len(nodes))
	return errToyClock
}

func (m *toy) Teardown(ctx context.Context) error {
	m.record("teardown ctx-err=%v", ctx.Err())
	return nil
}

// events collects a cluster's events.
type events struct{ backendtest.Recorder }

// wait returns the events once at least n of them match keep, or fails t.
func (e *events) wait(t *testing.T, n int, keep func(backend.Event) bool) []backend.Event {
	t.Helper()
	evs := e.WaitFor(5*time.Second, n, keep)
	if len(evs) < n {
		t.Fatalf("%d matching events after 5s, want %d: %+v", len(evs), n, evs)
	}
	return evs
}

func newToy(t *testing.T, services ...string) (*Core[string], *toy, *events) {
	t.Helper()
	proj := &specs.Project{Name: "toy"}
	for _, s := range services {
		proj.Services = append(proj.Services, &specs.Service{Name: s})
	}
	test := &specs.Test{Name: "toy", Project: proj}
	m := &toy{procs: map[string]*toyProc{}}
	ev := &events{}
	c, err := New(Config{
		Backend: "toy", Prepared: test,
		Cluster: backend.ClusterConfig{Seed: 7, Dir: t.TempDir(), Events: ev.Record},
		Support: backend.Support{Backend: "toy", Can: Kinds,
			Cannot: map[faults.ActionKind]error{faults.ActClockJump: errToyClock}},
		StopTimeout: 5 * time.Second,
		Env:         map[string]string{"TOY_RUN": "r1"},
	}, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range proj.Services {
		if _, err := c.AddNode(s, "own-"+s.Name); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c, m, ev
}

func TestNewNeedsPrepare(t *testing.T) {
	_, err := New[string](Config{Backend: "toy", Cluster: backend.ClusterConfig{Dir: t.TempDir()}}, &toy{})
	if err == nil || !strings.Contains(err.Error(), "before a successful Prepare") {
		t.Errorf("New without a prepared test: %v, want an error saying Prepare must come first", err)
	}
}

func TestStartKillRestart(t *testing.T) {
	ctx := context.Background()
	c, m, ev := newToy(t, "a", "b")
	if err := c.Start(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx, "a"); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Start: %v, want an already-running error", err)
	}
	if err := c.Start(ctx, "zz"); err == nil || !strings.Contains(err.Error(), `"zz"`) || !strings.Contains(err.Error(), "a, b") {
		t.Errorf("Start of an unknown service: %v, want an error naming it and the services", err)
	}
	// The node's SDK line comes after its start event, never before.
	evs := ev.wait(t, 2, func(e backend.Event) bool { return e.Node == "a" })
	if evs[0].Kind != backend.EventNodeStart || evs[1].Kind != backend.EventSDK || string(evs[1].Line) != `{"hello":"own-a"}` || evs[1].Proc != "" {
		t.Errorf("events of a: %+v, want node_start then its SDK line", evs)
	}
	if err := c.Apply(ctx, faults.Action{Kind: faults.ActKill, Nodes: []string{"a", "b"}}); err != nil {
		t.Fatal(err)
	}
	exits := ev.wait(t, 1, func(e backend.Event) bool { return e.Kind == backend.EventNodeExit })
	if len(exits) != 1 || exits[0].Node != "a" || !exits[0].Expected || exits[0].Signal != "killed" {
		t.Errorf("exit events after kill: %+v, want one expected exit of a", exits)
	}
	if err := c.Apply(ctx, faults.Action{Kind: faults.ActRestart, Nodes: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	// Restarting a running node does nothing.
	if err := c.Apply(ctx, faults.Action{Kind: faults.ActRestart, Nodes: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	starts := slices.DeleteFunc(m.Calls(), func(s string) bool { return !strings.HasPrefix(s, "start ") })
	if len(starts) != 2 || starts[0] == starts[1] {
		t.Errorf("starts %q: want two, each with its own seed", starts)
	}
	want := []string{"kill a running=true", "kill b running=false"}
	kills := slices.DeleteFunc(m.Calls(), func(s string) bool { return !strings.HasPrefix(s, "kill ") })
	if !slices.Equal(kills, want) {
		t.Errorf("kills %q, want %q", kills, want)
	}
}

func TestPauseResume(t *testing.T) {
	ctx := context.Background()
	c, m, _ := newToy(t, "a")
	n, _ := c.Node("a")
	// A node that is not running is not paused.
	if err := c.Apply(ctx, faults.Action{Kind: faults.ActPause, Nodes: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []faults.ActionKind{faults.ActPause, faults.ActPause} {
		if err := c.Apply(ctx, faults.Action{Kind: k, Nodes: []string{"a"}}); err != nil {
			t.Fatal(err)
		}
	}
	released := make(chan bool)
	go func() {
		running, err := n.WaitRunnable(ctx)
		released <- running && err == nil
	}()
	select {
	case <-released:
		t.Fatalf("WaitRunnable returned while the node was paused")
	case <-time.After(50 * time.Millisecond):
	}
	for _, k := range []faults.ActionKind{faults.ActResume, faults.ActResume} {
		if err := c.Apply(ctx, faults.Action{Kind: k, Nodes: []string{"a"}}); err != nil {
			t.Fatal(err)
		}
	}
	if ok := <-released; !ok {
		t.Errorf("WaitRunnable after resume did not report a running node")
	}
	got := slices.DeleteFunc(m.Calls(), func(s string) bool { return !strings.HasPrefix(s, "pause") && !strings.HasPrefix(s, "resume") })
	if want := []string{"pause a", "resume a"}; !slices.Equal(got, want) {
		t.Errorf("mechanics calls %q, want %q: pause and resume only when they change something", got, want)
	}
	// A paused node that is killed is no longer paused.
	c.Apply(ctx, faults.Action{Kind: faults.ActPause, Nodes: []string{"a"}})
	c.Apply(ctx, faults.Action{Kind: faults.ActKill, Nodes: []string{"a"}})
	if running, err := n.WaitRunnable(ctx); running || err != nil {
		t.Errorf("WaitRunnable after a kill of a paused node = %v, %v; want false, nil at once", running, err)
	}
}

func TestExec(t *testing.T) {
	ctx := context.Background()
	c, m, ev := newToy(t, "a")
	var out strings.Builder
	for i := range 2 {
		if _, err := c.Exec(ctx, backend.ExecRequest{Service: "a", Argv: []string{"x"}, Env: map[string]string{"K": "v"}, Stdout: &out}); err != nil {
			t.Fatalf("exec %d: %v", i, err)
		}
	}
	if out.String() != "outout" {
		t.Errorf("stdout %q, want the command's output twice", out.String())
	}
	m.mu.Lock()
	env := m.execEnv
	m.mu.Unlock()
	wantFile := filepath.Join(c.Dir(), "sdk", "a.exec.1.jsonl")
	if env["K"] != "v" || env["TOY_RUN"] != "r1" || env["MVRUN_NODE"] != "a" || env["MVRUN_SDK"] != "file:"+wantFile ||
		env["ANTITHESIS_SDK_LOCAL_OUTPUT"] != wantFile || !strings.HasPrefix(env["MVRUN_SEED"], "0x") {
		t.Errorf("second exec's environment %v", env)
	}
	// The last SDK line lacks its newline: it is delivered when the
	// command returns, with Proc "exec" (never "", which is the service).
	sdk := ev.wait(t, 2, func(e backend.Event) bool { return e.Kind == backend.EventSDK })
	for _, e := range sdk {
		if e.Proc != "exec" || string(e.Line) != `{"from":"exec"}` || e.LineNo != 1 {
			t.Errorf("exec SDK event %+v", e)
		}
	}
	if _, err := c.Exec(ctx, backend.ExecRequest{Service: "a"}); err == nil {
		t.Errorf("Exec of an empty command succeeded")
	}
	// A request that sets MVRUN_SEED keeps it.
	c.Exec(ctx, backend.ExecRequest{Service: "a", Name: "w", Argv: []string{"x"}, Env: map[string]string{"MVRUN_SEED": "9"}})
	m.mu.Lock()
	if m.execEnv["MVRUN_SEED"] != "9" {
		t.Errorf("MVRUN_SEED set by the request became %q", m.execEnv["MVRUN_SEED"])
	}
	m.mu.Unlock()
}

func TestApplyDispatch(t *testing.T) {
	ctx := context.Background()
	c, m, _ := newToy(t, "a")
	if err := c.Apply(ctx, faults.Action{Kind: faults.ActClockJump, Nodes: []string{"a"}}); err != errToyClock {
		t.Errorf("clock_jump: %v, want the mechanics' error", err)
	}
	if got := m.Calls(); !slices.Equal(got, []string{"other clock_jump 1"}) {
		t.Errorf("calls %q, want the clock kind handed to ApplyOther", got)
	}
	if err := c.Apply(ctx, faults.Action{Kind: faults.ActKill, Nodes: []string{"nope"}}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("kill of an unknown node: %v", err)
	}
	// Without a network, network kinds fail loudly.
	if err := c.Apply(ctx, faults.Action{Kind: faults.ActHeal}); err == nil {
		t.Errorf("heal without a network succeeded")
	}
	// A kind the backend's Support refuses is refused before the mechanics.
	c.cfg.Support.Can = []faults.ActionKind{faults.ActKill}
	if err := c.Apply(ctx, faults.Action{Kind: faults.ActPause, Nodes: []string{"a"}}); !errors.Is(err, backend.ErrUnsupported) {
		t.Errorf("pause the backend cannot do: %v, want ErrUnsupported", err)
	}
}

func TestClose(t *testing.T) {
	c, m, ev := newToy(t, "a", "b")
	for _, s := range []string{"a", "b"} {
		if err := c.Start(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	// A cancelled context does not stop Close from doing its work.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	exits := ev.wait(t, 2, func(e backend.Event) bool { return e.Kind == backend.EventNodeExit && e.Expected })
	if len(exits) != 2 {
		t.Errorf("expected exits after Close: %+v", exits)
	}
	calls := m.Calls()
	if last := calls[len(calls)-1]; last != "teardown ctx-err=<nil>" {
		t.Errorf("last call %q, want Teardown with a live context", last)
	}
	if n := len(slices.DeleteFunc(calls, func(s string) bool { return s != "teardown ctx-err=<nil>" })); n != 1 {
		t.Errorf("Teardown called %d times, want once", n)
	}
	if err := c.Start(context.Background(), "a"); err == nil {
		t.Errorf("Start after Close succeeded")
	}
	if _, err := c.Exec(context.Background(), backend.ExecRequest{Service: "a", Argv: []string{"x"}}); err == nil {
		t.Errorf("Exec after Close succeeded")
	}
	if err := c.Apply(context.Background(), faults.Action{Kind: faults.ActKill, Nodes: []string{"a"}}); err == nil {
		t.Errorf("Apply after Close succeeded")
	}
}

func TestCloseReportsKillErrors(t *testing.T) {
	c, m, _ := newToy(t, "a")
	m.failKill = true
	err := c.Close(context.Background())
	if err == nil || !strings.Contains(err.Error(), "kill failed") {
		t.Errorf("Close with a failing kill: %v, want the kill's error", err)
	}
	if calls := m.Calls(); calls[len(calls)-1] != "teardown ctx-err=<nil>" {
		t.Errorf("Teardown skipped after a failed kill: %q", calls)
	}
}
