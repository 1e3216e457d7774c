package runner

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/specs"
)

// fakeBackend is an in-memory backend. Services and commands are scripts
// named by their argv:
//
//	ok                 exit 0 at once
//	fail               exit 1 at once
//	sleep D            exit 0 after D, or when ctx ends
//	hang               ignore ctx and never return (until the cluster closes)
//	emit JSON          write one SDK line, exit 0
//	stderr TEXT        write TEXT and a newline to stderr, exit 0
//	health-after N     fail the first N-1 calls in a seed, then pass
//	server             a service that keeps running
//	crash D            a service that exits with code 2 after D
//	sdk-setup          a server that announces the SDK and setup complete
//	sdk-nosetup        a server that announces the SDK only
//	oneshot CODE       a service that exits with CODE at once
type fakeBackend struct {
	unsupported map[faults.ActionKind]bool

	mu       sync.Mutex
	clusters []*fakeCluster
}

func (b *fakeBackend) Name() string                        { return "fake" }
func (b *fakeBackend) Available(ctx context.Context) error { return nil }
func (b *fakeBackend) Supports(k faults.ActionKind) error {
	if b.unsupported[k] {
		return fmt.Errorf("%s: %w on fake backend", k, backend.ErrUnsupported)
	}
	return nil
}
func (b *fakeBackend) Prepare(ctx context.Context, t *specs.Test, dir string) error { return nil }
func (b *fakeBackend) Sweep(ctx context.Context) error                              { return nil }
func (b *fakeBackend) Close(ctx context.Context) error                              { return nil }

func (b *fakeBackend) NewCluster(ctx context.Context, cfg backend.ClusterConfig) (backend.Cluster, error) {
	c := &fakeCluster{b: b, cfg: cfg, start: time.Now(), calls: map[string]int{}, done: make(chan struct{})}
	b.mu.Lock()
	b.clusters = append(b.clusters, c)
	b.mu.Unlock()
	return c, nil
}

type fakeCluster struct {
	b     *fakeBackend
	cfg   backend.ClusterConfig
	start time.Time
	done  chan struct{}

	mu      sync.Mutex
	log     []string
	calls   map[string]int
	running map[string]bool
	closed  bool
	lineNo  int
}

// Gaps implements backend.Gaps: every fake node reports one call it did
// not get, so the runner's aggregation shows up in every run.
func (c *fakeCluster) Gaps() []backend.Gap {
	return []backend.Gap{{What: "node a: acct (fake)", Calls: 2}}
}

func (c *fakeCluster) record(format string, args ...any) {
	c.mu.Lock()
	c.log = append(c.log, fmt.Sprintf(format, args...))
	c.mu.Unlock()
}

func (c *fakeCluster) Log() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.log...)
}

func (c *fakeCluster) emit(node, proc, line string) {
	c.mu.Lock()
	c.lineNo++
	n := c.lineNo
	c.mu.Unlock()
	c.cfg.Events(backend.Event{At: c.Now(), Kind: backend.EventSDK, Node: node, Proc: proc, Line: []byte(line), LineNo: n})
}

func (c *fakeCluster) Start(ctx context.Context, service string) error {
	svc := c.cfg.Test.Project.Service(service)
	if svc == nil {
		return fmt.Errorf("no service %q", service)
	}
	c.record("start %s", service)
	c.mu.Lock()
	if c.running == nil {
		c.running = map[string]bool{}
	}
	c.running[service] = true
	c.mu.Unlock()
	c.cfg.Events(backend.Event{At: c.Now(), Kind: backend.EventNodeStart, Node: service})
	argv := svc.Argv()
	exit := func(code int) {
		c.mu.Lock()
		was := c.running[service]
		c.running[service] = false
		c.mu.Unlock()
		if was {
			c.cfg.Events(backend.Event{At: c.Now(), Kind: backend.EventNodeExit, Node: service, ExitCode: code})
		}
	}
	switch argv[0] {
	case "sdk-setup":
		c.emit(service, "", `{"antithesis_sdk":{"language":{"name":"Go","version":"go1.26"},"protocol_version":"1.1.0","sdk_version":"0.1.0"}}`)
		go func() {
			time.Sleep(20 * time.Millisecond)
			c.emit(service, "", `{"antithesis_setup":{"status":"complete","details":null}}`)
		}()
	case "sdk-nosetup":
		c.emit(service, "", `{"antithesis_sdk":{"language":{"name":"Go","version":"go1.26"},"protocol_version":"1.1.0","sdk_version":"0.1.0"}}`)
	case "crash":
		d, _ := time.ParseDuration(argv[1])
		go func() {
			select {
			case <-time.After(d):
				exit(2)
			case <-c.done:
			}
		}()
	case "oneshot":
		code, _ := strconv.Atoi(argv[1])
		go exit(code)
	}
	return nil
}

func (c *fakeCluster) Exec(ctx context.Context, req backend.ExecRequest) (backend.ExecResult, error) {
	c.mu.Lock()
	c.calls[req.Service+"/"+req.Name]++
	n := c.calls[req.Service+"/"+req.Name]
	c.mu.Unlock()
	c.record("exec %s %s", req.Name, req.Service)
	began := time.Now()
	res := func(code int) (backend.ExecResult, error) {
		return backend.ExecResult{ExitCode: code, Duration: time.Since(began)}, nil
	}
	if req.Stdout != nil {
		fmt.Fprintf(req.Stdout, "run %s seed=%s\n", req.Name, req.Env["MVRUN_SEED"])
	}
	switch req.Argv[0] {
	case "ok":
		return res(0)
	case "fail":
		return res(1)
	case "sleep":
		d, _ := time.ParseDuration(req.Argv[1])
		select {
		case <-time.After(d):
			return res(0)
		case <-ctx.Done():
			return backend.ExecResult{}, ctx.Err()
		}
	case "hang":
		<-c.done
		return backend.ExecResult{}, fmt.Errorf("cluster closed")
	case "emit":
		c.emit(req.Service, req.Name, strings.Join(req.Argv[1:], " "))
		return res(0)
	case "stderr":
		if req.Stderr != nil {
			fmt.Fprintln(req.Stderr, strings.Join(req.Argv[1:], " "))
		}
		return res(0)
	case "health-after":
		want, _ := strconv.Atoi(req.Argv[1])
		if n >= want {
			return res(0)
		}
		return res(1)
	}
	return backend.ExecResult{}, fmt.Errorf("fake: unknown script %q", req.Argv[0])
}

func (c *fakeCluster) Apply(ctx context.Context, a faults.Action) error {
	if err := c.b.Supports(a.Kind); err != nil {
		return err
	}
	c.record("apply %s", a.Kind)
	return nil
}

func (c *fakeCluster) Now() time.Duration { return time.Since(c.start) }

func (c *fakeCluster) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *fakeCluster) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	var up []string
	for s, r := range c.running {
		if r {
			up = append(up, s)
		}
		c.running[s] = false
	}
	c.log = append(c.log, "close")
	c.mu.Unlock()
	for _, s := range up {
		c.cfg.Events(backend.Event{At: c.Now(), Kind: backend.EventNodeExit, Node: s, Signal: "killed", Expected: true})
	}
	return nil
}
