package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/internal/seeds"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/runner/backend/sdkfile"
	"github.com/mvrun/multiverse/runner/network"
	"github.com/mvrun/multiverse/specs"
)

// Container roles, the values of [LabelRole].
const (
	roleSandbox = "sandbox"
	roleService = "service"
	roleImage   = "image"
)

// Paths inside service containers.
const (
	sdkMount = "/mvrun/sdk" // bind mount of <Dir>/sdk
)

// stopTimeout bounds how long kills and Close wait for a container to exit.
const stopTimeout = 20 * time.Second

// subnet is every cluster's node subnet. Each cluster's nodes see only
// their own switch, so clusters never see each other's addresses, and a
// seed gets the same addresses whatever its index.
var subnet = netip.MustParsePrefix("10.77.0.0/24")

// netPrefixStart starts the network device names of the docker backend.
const netPrefixStart = "mvd"

// Cluster is the cluster of one seed on the docker backend.
type Cluster struct {
	b   *Backend
	cfg backend.ClusterConfig
	log *slog.Logger
	cli *testcontainers.DockerClient
	backend.WallClock
	dir   string // cfg.Dir, absolute
	net   *network.Network
	nodes map[string]*node
	order []*node // in compose dependency order

	// bg lives until Close; container waits use it so they outlive the
	// Start call that began them.
	bg       context.Context
	bgCancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	execN  map[string]int // "<service>.<name>" → execs so far
	execWG sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

var _ backend.Cluster = (*Cluster)(nil)

// node is one service's node: its sandbox and service containers.
type node struct {
	c       *Cluster
	svc     *specs.Service
	im      *image
	sandbox testcontainers.Container
	ctr     testcontainers.Container // nil until created
	sdk     *sdkfile.Tailer
	stdout  *os.File
	stderr  *os.File

	mu       sync.Mutex
	running  bool
	exited   chan struct{} // closed when the running container's exit is handled
	expect   bool          // the running container's exit will be one we caused
	paused   bool
	unpaused chan struct{} // closed on resume or exit of a paused container
	starts   int
}

// NewCluster creates the containers of every service of the test, none of
// them started: first each node's sandbox, whose network namespace joins
// the cluster's switch, then the service containers, which share their
// sandbox's namespace and see a hosts file naming every node.
func (b *Backend) NewCluster(ctx context.Context, cfg backend.ClusterConfig) (backend.Cluster, error) {
	return b.newCluster(ctx, cfg)
}

func (b *Backend) newCluster(ctx context.Context, cfg backend.ClusterConfig) (c *Cluster, err error) {
	b.mu.Lock()
	images, test, sandboxRef := b.images, b.test, b.sandbox
	b.mu.Unlock()
	if cfg.Test == nil {
		cfg.Test = test
	}
	if images == nil || cfg.Test == nil || cfg.Test.Project == nil {
		return nil, errors.New("docker backend: NewCluster before a successful Prepare")
	}
	if cfg.Events == nil {
		cfg.Events = func(backend.Event) {}
	}
	if cfg.Log == nil {
		cfg.Log = b.log
	}
	cli, err := b.client(ctx)
	if err != nil {
		return nil, fmt.Errorf("docker backend: %w", err)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{filepath.Join(dir, "nodes"), filepath.Join(dir, "sdk"), filepath.Join(dir, "docker")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("docker backend: %w", err)
		}
	}
	// Containers may run as any user; they all write SDK files here.
	if err := os.Chmod(filepath.Join(dir, "sdk"), 0o777); err != nil {
		return nil, fmt.Errorf("docker backend: %w", err)
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c = &Cluster{
		b: b, cfg: cfg, log: cfg.Log.With("backend", "docker", "seed", seeds.Format(cfg.Seed)),
		cli: cli, WallClock: backend.NewWallClock(), dir: dir, nodes: map[string]*node{},
		bg: bg, bgCancel: cancel, execN: map[string]int{},
	}
	defer func() {
		if err != nil {
			c.Close(context.WithoutCancel(ctx))
		}
	}()
	c.net, err = network.New(network.Config{
		Prefix: b.netPrefix(cfg.Index), Subnet: subnet, Seed: cfg.Seed, Log: c.log,
		Events: func(e network.Event) {
			c.log.Debug("network", "event", e.Kind, "node", e.Node, "from", e.From, "to", e.To,
				"partitioned", e.Partitioned, "lost", e.Lost)
		},
	})
	if err != nil {
		return c, fmt.Errorf("docker backend: cluster network: %w", err)
	}
	proj := cfg.Test.Project
	for _, s := range proj.Services {
		im := images[s.Name]
		if im == nil {
			return c, fmt.Errorf("service %q: not prepared (Prepare ran on a different test?)", s.Name)
		}
		n := &node{c: c, svc: s, im: im}
		for _, f := range []struct {
			p   **os.File
			ext string
		}{{&n.stdout, ".stdout"}, {&n.stderr, ".stderr"}} {
			if *f.p, err = os.OpenFile(filepath.Join(dir, "nodes", s.Name+f.ext), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
				return c, fmt.Errorf("service %q: %w", s.Name, err)
			}
		}
		c.nodes[s.Name] = n
		c.order = append(c.order, n)
	}
	// Sandboxes start in parallel (each takes a few hundred ms), then join
	// the switch one by one in service order, which fixes the addresses.
	if err := c.each(func(n *node) (err error) {
		n.sandbox, err = c.createSandbox(ctx, n, sandboxRef)
		return err
	}); err != nil {
		return c, err
	}
	for _, n := range c.order {
		st, err := n.sandbox.State(ctx)
		if err != nil || st.Pid == 0 {
			return c, fmt.Errorf("service %q: network sandbox is not running: %v", n.svc.Name, err)
		}
		if _, err := c.net.AttachNode(n.svc.Name, "/proc/"+strconv.Itoa(st.Pid)+"/ns/net"); err != nil {
			return c, fmt.Errorf("service %q: attaching its node to the network: %w", n.svc.Name, err)
		}
	}
	hosts := filepath.Join(dir, "docker", "hosts")
	if err := os.WriteFile(hosts, c.net.Hosts(), 0o644); err != nil {
		return c, fmt.Errorf("docker backend: hosts file: %w", err)
	}
	if err := c.each(func(n *node) (err error) {
		n.ctr, err = c.createService(ctx, n, hosts)
		return err
	}); err != nil {
		return c, err
	}
	for _, n := range c.order {
		n.sdk = sdkfile.Follow(c.sdkPath(n.svc.Name, ""), n.svc.Name, "", c.emit)
	}
	return c, nil
}

// each runs fn for every node at once and joins the errors.
func (c *Cluster) each(fn func(n *node) error) error {
	errs := make([]error, len(c.order))
	var wg sync.WaitGroup
	for i, n := range c.order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(n)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// containerName returns the name of a container of the cluster.
func (c *Cluster) containerName(service, suffix string) string {
	return fmt.Sprintf("mvrun-%s-%d-%s%s", c.b.runID, c.cfg.Index, service, suffix)
}

// netPrefix is the name prefix of the network devices of the cluster with
// the given index: "mvd", the run id and the index as two base-36 digits,
// the 10 characters runner/network allows.
func (b *Backend) netPrefix(index int) string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	i := index % (36 * 36)
	return netPrefixStart + b.runID + string(digits[i/36]) + string(digits[i%36])
}

func (c *Cluster) labels(service, role string) map[string]string {
	return c.b.labels(LabelSeed, seeds.Format(c.cfg.Seed), LabelService, service, LabelRole, role)
}

// createSandbox creates and starts node n's sandbox: no network but
// loopback until the switch attaches its device, and the service's name as
// hostname, which the service container shares.
func (c *Cluster) createSandbox(ctx context.Context, n *node, ref string) (testcontainers.Container, error) {
	req := testcontainers.GenericContainerRequest{
		Started: true,
		Logger:  tcLogger{c.log},
		ContainerRequest: testcontainers.ContainerRequest{
			Image:  ref,
			Name:   c.containerName(n.svc.Name, "-net"),
			Labels: c.labels(n.svc.Name, roleSandbox),
			ConfigModifier: func(cfg *container.Config) {
				cfg.Hostname = n.svc.Name
			},
			HostConfigModifier: func(hc *container.HostConfig) {
				hc.NetworkMode = "none"
			},
		},
	}
	ctr, err := testcontainers.GenericContainer(ctx, req)
	if err != nil {
		if ctr != nil {
			ctr.Terminate(context.WithoutCancel(ctx), testcontainers.StopTimeout(0))
		}
		return nil, fmt.Errorf("service %q: creating its network sandbox container: %w", n.svc.Name, err)
	}
	return ctr, nil
}

// createService creates node n's service container, not started.
func (c *Cluster) createService(ctx context.Context, n *node, hosts string) (testcontainers.Container, error) {
	s := n.svc
	env := map[string]string{}
	for k, v := range s.Environment {
		env[k] = v
	}
	// Paths inside the container. Unlike the process backend, containers get
	// no MVRUN_RUN: that is the process backend's sweep marker, and its Sweep
	// kills host processes carrying one of a run it does not know, containers'
	// processes included. Containers are found by their labels instead.
	sdkfile.SetEnv(env, s.Name, sdkMount+"/"+s.Name+".jsonl")
	// The environment is fixed when the container is created, so every
	// start of the node sees this seed (the process backend derives one
	// per start).
	env["MVRUN_SEED"] = strconv.FormatUint(seeds.Derive(c.cfg.Seed, "node/"+s.Name+"/0"), 10)
	sandboxID := n.sandbox.GetContainerID()
	req := testcontainers.GenericContainerRequest{
		Started: false,
		Logger:  tcLogger{c.log},
		ContainerRequest: testcontainers.ContainerRequest{
			Image:      n.im.ref,
			Name:       c.containerName(s.Name, ""),
			Labels:     c.labels(s.Name, roleService),
			Env:        env,
			Entrypoint: n.im.entrypoint,
			Cmd:        n.im.cmd,
			ConfigModifier: func(cfg *container.Config) {
				if s.WorkingDir != "" {
					cfg.WorkingDir = s.WorkingDir
				}
			},
			HostConfigModifier: func(hc *container.HostConfig) {
				hc.NetworkMode = container.NetworkMode("container:" + sandboxID)
				hc.Binds = []string{hosts + ":/etc/hosts:ro", filepath.Join(c.dir, "sdk") + ":" + sdkMount}
			},
		},
	}
	ctr, err := testcontainers.GenericContainer(ctx, req)
	if err != nil {
		if ctr != nil {
			ctr.Terminate(context.WithoutCancel(ctx), testcontainers.StopTimeout(0))
		}
		return nil, fmt.Errorf("service %q: creating its container from image %s: %w", s.Name, n.im.ref, err)
	}
	return ctr, nil
}

// sdkPath returns the host path of the SDK output file of a node's service
// process (name "") or of one of its execs.
func (c *Cluster) sdkPath(service, name string) string { return sdkfile.Path(c.dir, service, name) }

// emit delivers e stamped with the cluster time.
func (c *Cluster) emit(e backend.Event) {
	e.At = c.Now()
	c.cfg.Events(e)
}

func (c *Cluster) node(service string) (*node, error) {
	n := c.nodes[service]
	if n == nil {
		return nil, fmt.Errorf("service %q is not in the compose project (services: %s)", service, strings.Join(c.cfg.Test.Project.ServiceNames(), ", "))
	}
	return n, nil
}

func (c *Cluster) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Start starts service's container. Its stdout and stderr are appended to
// nodes/<service>.stdout and .stderr.
func (c *Cluster) Start(ctx context.Context, service string) error {
	n, err := c.node(service)
	if err != nil {
		return err
	}
	if c.isClosed() {
		return fmt.Errorf("service %q: cluster is closed", service)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running {
		return fmt.Errorf("service %q: node is already running", service)
	}
	return n.startLocked(ctx)
}

// startLocked starts (or restarts) the service container; n.mu is held.
// The container's output is attached before it starts, so none is lost,
// and its exit is awaited from the same moment.
func (n *node) startLocked(ctx context.Context) error {
	c := n.c
	id := n.ctr.GetContainerID()
	// Hold the tailer so none of the new process's SDK lines are delivered
	// before its start event.
	defer n.sdk.Hold()()
	wait := c.cli.ContainerWait(c.bg, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	att, err := c.cli.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return fmt.Errorf("service %q: attaching to its container: %w", n.svc.Name, err)
	}
	if err := n.ctr.Start(ctx); err != nil {
		att.Close()
		return fmt.Errorf("service %q: starting its container (image %s): %w", n.svc.Name, n.im.ref, err)
	}
	n.running, n.expect, n.paused = true, false, false
	n.starts++
	n.exited = make(chan struct{})
	c.log.Debug("node started", "service", n.svc.Name, "container", shortID(id), "start", n.starts)
	c.emit(backend.Event{Kind: backend.EventNodeStart, Node: n.svc.Name})
	go n.wait(att.HijackedResponse, wait, n.exited)
	return nil
}

// wait copies the container's output until it exits, then delivers its
// last SDK lines and its exit event.
func (n *node) wait(att client.HijackedResponse, wait client.ContainerWaitResult, exited chan struct{}) {
	c := n.c
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		stdcopy.StdCopy(n.stdout, n.stderr, att.Reader)
	}()
	code := -1
	select {
	case r := <-wait.Result:
		code = int(r.StatusCode)
	case err := <-wait.Error:
		// The engine connection broke (or Close cancelled it): find out
		// how the container ended by asking.
		code = n.exitCode(err)
	}
	select {
	case <-copied:
	case <-time.After(5 * time.Second):
		c.log.Warn("container output still streaming 5s after it exited", "service", n.svc.Name)
	}
	att.Close()
	n.sdk.Poll(true)
	n.mu.Lock()
	expected := n.expect
	n.running, n.expect = false, false
	if n.paused {
		n.paused = false
		close(n.unpaused)
	}
	n.mu.Unlock()
	sig := signalName(code)
	c.log.Debug("node exited", "service", n.svc.Name, "code", code, "signal", sig, "expected", expected)
	c.emit(backend.Event{Kind: backend.EventNodeExit, Node: n.svc.Name, ExitCode: code, Signal: sig, Expected: expected})
	close(exited)
}

// exitCode polls the container until it is no longer running and returns
// its exit code; -1 if that cannot be found out.
func (n *node) exitCode(waitErr error) int {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	for ctx.Err() == nil {
		st, err := n.ctr.State(ctx)
		if err == nil && !st.Running {
			return st.ExitCode
		}
		time.Sleep(100 * time.Millisecond)
	}
	n.c.log.Warn("lost track of a container", "service", n.svc.Name, "err", waitErr)
	return -1
}

// kill SIGKILLs the service container and waits until its exit is handled.
// Killing a node that is not running does nothing.
func (n *node) kill(ctx context.Context) error {
	n.mu.Lock()
	if !n.running {
		n.mu.Unlock()
		return nil
	}
	n.expect = true
	exited := n.exited
	n.mu.Unlock()
	// The engine thaws a paused container it kills.
	if _, err := n.c.cli.ContainerKill(ctx, n.ctr.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		select {
		case <-exited: // it had exited by itself
			return nil
		default:
		}
		if !strings.Contains(err.Error(), "is not running") {
			return fmt.Errorf("service %q: docker kill: %w", n.svc.Name, err)
		}
	}
	t := time.NewTimer(stopTimeout)
	defer t.Stop()
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("service %q: container did not exit %v after docker kill", n.svc.Name, stopTimeout)
	}
}

// pause freezes the service container (docker pause); a node that is not
// running or already paused is left alone.
func (n *node) pause(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.running || n.paused {
		return nil
	}
	if _, err := n.c.cli.ContainerPause(ctx, n.ctr.GetContainerID(), client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("service %q: docker pause: %w", n.svc.Name, err)
	}
	n.paused = true
	n.unpaused = make(chan struct{})
	return nil
}

// resume thaws a paused service container (docker unpause).
func (n *node) resume(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.paused {
		return nil
	}
	if _, err := n.c.cli.ContainerUnpause(ctx, n.ctr.GetContainerID(), client.ContainerUnpauseOptions{}); err != nil {
		return fmt.Errorf("service %q: docker unpause: %w", n.svc.Name, err)
	}
	n.paused = false
	close(n.unpaused)
	return nil
}

// Exec runs req.Argv inside service's container, as docker exec does: in
// the container's file system, network namespace and hostname, with the
// container's environment plus the SDK variables and req.Env. argv[0] is
// looked up in the container (PATH for a bare name). For services whose
// image mvrun assembled from a Go main package or binary, the program is at
// /bin/<service> and at the paths workload commands name it by.
//
// A command in a paused node waits until the node resumes (the process
// would be frozen too); a node whose container is not running (killed and
// not yet restarted) cannot run commands: that is an error. A program
// missing from the image is an error too. When ctx ends, the command's
// process is SIGKILLed.
//
// The command's SDK output goes to sdk/<service>.<name>.<n>.jsonl and is
// delivered as events with Proc = req.Name. Its seed, MVRUN_SEED, is
// derived from the cluster's seed and "exec/<service>/<name>/<n>" unless
// req.Env sets it.
func (c *Cluster) Exec(ctx context.Context, req backend.ExecRequest) (backend.ExecResult, error) {
	n, err := c.node(req.Service)
	if err != nil {
		return backend.ExecResult{}, err
	}
	if len(req.Argv) == 0 {
		return backend.ExecResult{}, fmt.Errorf("service %q: empty command", req.Service)
	}
	name := req.Name
	if name == "" {
		name = "exec"
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return backend.ExecResult{}, fmt.Errorf("service %q: cluster is closed", req.Service)
	}
	key := req.Service + "." + name
	k := c.execN[key]
	c.execN[key]++
	c.execWG.Add(1)
	c.mu.Unlock()
	defer c.execWG.Done()

	file := name + "." + strconv.Itoa(k)
	env := map[string]string{
		"MVRUN_SEED": strconv.FormatUint(seeds.Derive(c.cfg.Seed, "exec/"+req.Service+"/"+name+"/"+strconv.Itoa(k)), 10),
	}
	for kk, v := range req.Env {
		env[kk] = v
	}
	sdkfile.SetEnv(env, req.Service, sdkMount+"/"+req.Service+"."+file+".jsonl")
	tail := sdkfile.Follow(c.sdkPath(req.Service, file), req.Service, req.Name, c.emit)
	defer tail.Close()
	stdout, stderr := req.Stdout, req.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}

	if err := n.waitRunnable(ctx); err != nil {
		return backend.ExecResult{}, err
	}
	started := time.Now()
	id := n.ctr.GetContainerID()
	ex, err := c.cli.ExecCreate(ctx, id, client.ExecCreateOptions{
		Cmd: req.Argv, Env: envList(env), AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return backend.ExecResult{}, fmt.Errorf("service %q: exec %q: %w", req.Service, req.Argv[0], err)
	}
	att, err := c.cli.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{})
	if err != nil {
		return backend.ExecResult{}, fmt.Errorf("service %q: exec %q: %w", req.Service, req.Argv[0], err)
	}
	defer att.Close()
	// The engine reports a program it could not start on the output
	// stream; keep the start of it for the error.
	var head headWriter
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		stdcopy.StdCopy(io.MultiWriter(stdout, &head), io.MultiWriter(stderr, &head), att.Reader)
	}()
	select {
	case <-copied:
	case <-ctx.Done():
		c.killExec(ex.ID)
		att.Close()
		<-copied
	}
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	var ins client.ExecInspectResult
	for {
		ins, err = c.cli.ExecInspect(ictx, ex.ID, client.ExecInspectOptions{})
		if err != nil || !ins.Running {
			break
		}
		// The streams close a moment before the engine records the exit.
		time.Sleep(10 * time.Millisecond)
	}
	res := backend.ExecResult{ExitCode: ins.ExitCode, Signal: signalName(ins.ExitCode), Duration: time.Since(started)}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if err != nil {
		return res, fmt.Errorf("service %q: exec %q: %w", req.Service, req.Argv[0], err)
	}
	if ins.PID == 0 && (ins.ExitCode == 126 || ins.ExitCode == 127) {
		return res, fmt.Errorf("service %q: cannot run %q in its container (image %s): %s", req.Service, req.Argv[0], n.im.ref, strings.TrimSpace(head.String()))
	}
	return res, nil
}

// killExec SIGKILLs an exec's process. The engine reports its pid in the
// host's pid namespace, where mvrun runs.
func (c *Cluster) killExec(execID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		ins, err := c.cli.ExecInspect(ctx, execID, client.ExecInspectOptions{})
		if err != nil || !ins.Running {
			return
		}
		if ins.PID > 0 {
			syscall.Kill(ins.PID, syscall.SIGKILL)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitRunnable waits until the node can run a command: running and not
// paused.
func (n *node) waitRunnable(ctx context.Context) error {
	for {
		n.mu.Lock()
		running, paused, unpaused := n.running, n.paused, n.unpaused
		n.mu.Unlock()
		if !running {
			return fmt.Errorf("service %q: its container is not running (killed by a fault and not restarted yet, or never started); on the docker backend commands run only in a running container", n.svc.Name)
		}
		if !paused {
			return nil
		}
		select {
		case <-unpaused:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// headWriter keeps the first 512 bytes written to it.
type headWriter struct {
	mu  sync.Mutex
	buf []byte
}

func (h *headWriter) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if room := 512 - len(h.buf); room > 0 {
		h.buf = append(h.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (h *headWriter) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return string(h.buf)
}

func envList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// Apply carries out one fault action. Network actions go to the cluster's
// switch; kill is docker kill (SIGKILL) of the service container, restart
// docker start of the same container (its files survive, and its network
// namespace, held by the sandbox, too); pause and resume are docker pause
// and unpause. Clock skew is unsupported: Apply returns an error wrapping
// [backend.ErrUnsupported] with a fixed text per kind.
func (c *Cluster) Apply(ctx context.Context, a faults.Action) error {
	if c.isClosed() {
		return fmt.Errorf("%s: cluster is closed", a.Kind)
	}
	if ok, err := c.net.Apply(a); ok {
		return err
	}
	switch a.Kind {
	case faults.ActClockSet:
		return errClockOffset
	case faults.ActClockJump:
		return errClockJump
	case faults.ActKill, faults.ActRestart, faults.ActPause, faults.ActResume:
	default:
		return c.b.Supports(a.Kind)
	}
	nodes := make([]*node, 0, len(a.Nodes))
	for _, s := range a.Nodes {
		n, err := c.node(s)
		if err != nil {
			return fmt.Errorf("%s: %w", a.Kind, err)
		}
		nodes = append(nodes, n)
	}
	var errs []error
	for _, n := range nodes {
		switch a.Kind {
		case faults.ActKill:
			errs = append(errs, n.kill(ctx))
		case faults.ActRestart:
			n.mu.Lock()
			if !n.running {
				errs = append(errs, n.startLocked(ctx))
			}
			n.mu.Unlock()
		case faults.ActPause:
			errs = append(errs, n.pause(ctx))
		case faults.ActResume:
			errs = append(errs, n.resume(ctx))
		}
	}
	return errors.Join(errs...)
}

// Close kills every service container, waits for their exits and for
// running execs, detaches the nodes from the switch and removes every
// container of the cluster. Artifacts under cfg.Dir stay. It is safe to
// call more than once.
func (c *Cluster) Close(ctx context.Context) error {
	c.closeOnce.Do(func() { c.closeErr = c.close(context.WithoutCancel(ctx)) })
	return c.closeErr
}

func (c *Cluster) close(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	var errs []error
	var mu sync.Mutex
	c.each(func(n *node) error {
		if n.ctr != nil {
			if err := n.kill(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}
		return nil
	})
	// The kills ended the execs' processes with their containers.
	waited := make(chan struct{})
	go func() { c.execWG.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(stopTimeout):
		errs = append(errs, fmt.Errorf("docker backend: execs still running %v after their containers were killed", stopTimeout))
	}
	for _, n := range c.order {
		if n.sdk != nil {
			n.sdk.Close()
		}
	}
	// Devices go while the sandboxes still hold the namespaces.
	if c.net != nil {
		if err := c.net.Close(); err != nil {
			errs = append(errs, fmt.Errorf("docker backend: closing the cluster network: %w", err))
		}
	}
	c.each(func(n *node) error {
		for _, ctr := range []testcontainers.Container{n.ctr, n.sandbox} {
			if ctr == nil {
				continue
			}
			if err := ctr.Terminate(ctx, testcontainers.StopTimeout(0)); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("service %q: removing container %s: %w", n.svc.Name, shortID(ctr.GetContainerID()), err))
				mu.Unlock()
			}
		}
		return nil
	})
	c.bgCancel()
	for _, n := range c.order {
		for _, f := range []*os.File{n.stdout, n.stderr} {
			if f != nil {
				f.Close()
			}
		}
	}
	return errors.Join(errs...)
}
