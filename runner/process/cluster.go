package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/internal/procs"
	"github.com/mvrun/multiverse/internal/seeds"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/runner/backend/sdkfile"
	"github.com/mvrun/multiverse/runner/network"
	"github.com/mvrun/multiverse/specs"
)

// stopTimeout bounds how long Close and kill faults wait for a SIGKILLed
// process group's leader to be reaped.
const stopTimeout = 10 * time.Second

// Cluster is the cluster of one seed on the process backend.
type Cluster struct {
	b   *Backend
	cfg backend.ClusterConfig
	log *slog.Logger
	backend.WallClock
	shimExe string
	dir     string // cfg.Dir, absolute
	rtDir   string // RunDir/<run>/c<index>: hosts and pid files
	net     *network.Network
	nodes   map[string]*node

	mu     sync.Mutex
	closed bool
	execN  map[string]int // "<service>.<name>" → execs so far
	execWG sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

var _ backend.Cluster = (*Cluster)(nil)

// node is one service's node.
type node struct {
	c      *Cluster
	svc    *specs.Service
	prog   string // the service's program
	path   string // what the node's process execs
	argv   []string
	dir    string // working directory; survives restarts
	hosts  string // hosts file bind-mounted on /etc/hosts
	netns  string
	sdk    *sdkfile.Tailer
	stdout *os.File
	stderr *os.File

	mu      sync.Mutex
	cmd     *exec.Cmd // nil when not running
	exited  chan struct{}
	expect  bool          // the running process's exit will be one we caused
	starts  int           // how many times the service process started
	mono    time.Duration // clock offset for the next start
	curMono time.Duration // clock offset of the running process and new execs
	execs   map[int]bool  // process groups of running execs
}

// NewCluster creates the network namespaces of every service and the
// working directories under cfg.Dir/nodes; no process runs until Start.
func (b *Backend) NewCluster(ctx context.Context, cfg backend.ClusterConfig) (backend.Cluster, error) {
	return b.newCluster(ctx, cfg)
}

func (b *Backend) newCluster(ctx context.Context, cfg backend.ClusterConfig) (c *Cluster, err error) {
	b.mu.Lock()
	programs, test := b.programs, b.test
	b.mu.Unlock()
	if cfg.Test == nil {
		cfg.Test = test
	}
	if programs == nil || cfg.Test == nil || cfg.Test.Project == nil {
		return nil, errors.New("process backend: NewCluster before a successful Prepare")
	}
	if cfg.Events == nil {
		cfg.Events = func(backend.Event) {}
	}
	if cfg.Log == nil {
		cfg.Log = b.log
	}
	shimExe := b.opts.Shim
	if shimExe == "" {
		if shimExe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("process backend: finding the mvrun executable for the node shim: %w", err)
		}
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{filepath.Join(dir, "nodes"), filepath.Join(dir, "sdk")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("process backend: %w", err)
		}
	}
	runDir, err := b.acquireRunDir()
	if err != nil {
		return nil, err
	}
	c = &Cluster{
		b: b, cfg: cfg, log: cfg.Log.With("backend", "process", "seed", seeds.Format(cfg.Seed)),
		WallClock: backend.NewWallClock(), shimExe: shimExe, dir: dir,
		rtDir: filepath.Join(runDir, "c"+strconv.Itoa(cfg.Index)),
		nodes: make(map[string]*node), execN: make(map[string]int),
	}
	defer func() {
		if err != nil {
			c.Close(context.WithoutCancel(ctx))
		}
	}()
	if err := os.MkdirAll(c.rtDir, 0o700); err != nil {
		return c, fmt.Errorf("process backend: %w", err)
	}
	c.net, err = newNetwork(b.netPrefix(cfg.Index), cfg.Seed, c.log)
	if err != nil {
		return c, fmt.Errorf("process backend: cluster network: %w", err)
	}
	proj := cfg.Test.Project
	for _, s := range proj.Services {
		prog := programs[s.Name]
		if prog == "" {
			return c, fmt.Errorf("service %q: not prepared (Prepare ran on a different test?)", s.Name)
		}
		path, argv, err := nodeArgv(s, prog, proj.Dir)
		if err != nil {
			return c, err
		}
		nn, err := c.net.AddNode(s.Name)
		if err != nil {
			return c, fmt.Errorf("service %q: adding its node to the network: %w", s.Name, err)
		}
		n := &node{c: c, svc: s, prog: prog, path: path, argv: argv, netns: nn.NetnsPath,
			dir:   filepath.Join(dir, "nodes", s.Name),
			hosts: filepath.Join(c.rtDir, s.Name+".hosts"),
			execs: make(map[int]bool)}
		if err := os.MkdirAll(n.dir, 0o755); err != nil {
			return c, fmt.Errorf("service %q: %w", s.Name, err)
		}
		for _, f := range []struct {
			p   *(*os.File)
			ext string
		}{{&n.stdout, ".stdout"}, {&n.stderr, ".stderr"}} {
			if *f.p, err = os.OpenFile(filepath.Join(dir, "nodes", s.Name+f.ext), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
				return c, fmt.Errorf("service %q: %w", s.Name, err)
			}
		}
		c.nodes[s.Name] = n
	}
	// Every node resolves every service name, so hosts files are written
	// once all nodes have addresses.
	hosts := c.net.Hosts() // localhost lines included
	for _, n := range c.nodes {
		if err := os.WriteFile(n.hosts, hosts, 0o644); err != nil {
			return c, fmt.Errorf("service %q: hosts file: %w", n.svc.Name, err)
		}
		n.sdk = sdkfile.Follow(c.sdkPath(n.svc.Name, ""), n.svc.Name, "", c.emit)
	}
	return c, nil
}

// sdkPath returns the SDK output file of a node's service process (name "")
// or of one of its execs.
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

// baseEnv is the environment every process of node n starts from. The
// host's environment is not passed on, apart from PATH, so runs do not
// depend on who started mvrun.
func (n *node) baseEnv() map[string]string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	env := map[string]string{"PATH": path, "HOME": n.dir, "HOSTNAME": n.svc.Name}
	for k, v := range n.svc.Environment {
		env[k] = v
	}
	return env
}

func envList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// sdkEnv points both the mvrun SDK and the Antithesis SDK at file.
func (c *Cluster) sdkEnv(env map[string]string, service, file string) {
	sdkfile.SetEnv(env, service, file)
	env["MVRUN_RUN"] = c.marker()
}

// marker is the cluster's MVRUN_RUN value: "<run id>.<cluster index>".
func (c *Cluster) marker() string {
	return c.b.runID + "." + strconv.Itoa(c.cfg.Index)
}

// Start boots service's node: its program with the service's argv, in the
// node's namespaces and working directory.
func (c *Cluster) Start(ctx context.Context, service string) error {
	n, err := c.node(service)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return fmt.Errorf("service %q: node is already running", service)
	}
	return n.startLocked()
}

// startLocked starts the service process; n.mu is held.
func (n *node) startLocked() error {
	c := n.c
	// Checked under n.mu: Close marks the cluster closed before it takes
	// each node's lock to kill it, so a start either sees that or is killed.
	if c.isClosed() {
		return fmt.Errorf("service %q: cluster is closed", n.svc.Name)
	}
	env := n.baseEnv()
	c.sdkEnv(env, n.svc.Name, n.sdk.Path())
	env["MVRUN_SEED"] = seeds.Format(seeds.Derive(c.cfg.Seed, "node/"+n.svc.Name+"/"+strconv.Itoa(n.starts)))
	// Hold the tailer so none of the new process's SDK lines are delivered
	// before its start event.
	defer n.sdk.Hold()()
	cmd, err := spawn(c.shimExe, spawnSpec{
		shim: shimConfig{Netns: n.netns, Hosts: n.hosts, Hostname: n.svc.Name, Mono: n.mono,
			Path: n.path, Argv: n.argv},
		env: envList(env), dir: n.dir, stdout: n.stdout, stderr: n.stderr,
	})
	if err != nil {
		return fmt.Errorf("service %q: starting %s: %w", n.svc.Name, n.path, err)
	}
	pid := cmd.Process.Pid
	c.writePidfile(pid)
	n.cmd, n.expect, n.curMono = cmd, false, n.mono
	n.starts++
	n.exited = make(chan struct{})
	c.log.Debug("node started", "service", n.svc.Name, "pid", pid, "start", n.starts)
	c.emit(backend.Event{Kind: backend.EventNodeStart, Node: n.svc.Name})
	go n.wait(cmd, n.exited)
	return nil
}

// wait reaps the service process, delivers its last SDK lines and then its
// exit event.
func (n *node) wait(cmd *exec.Cmd, exited chan struct{}) {
	cmd.Wait() // the outcome is in cmd.ProcessState
	pid := cmd.Process.Pid
	n.c.removePidfile(pid)
	code, sig := exitStatus(cmd)
	n.sdk.Poll(true)
	n.mu.Lock()
	expected := n.expect
	n.cmd, n.expect = nil, false
	n.mu.Unlock()
	n.c.log.Debug("node exited", "service", n.svc.Name, "pid", pid, "code", code, "signal", sig, "expected", expected)
	n.c.emit(backend.Event{Kind: backend.EventNodeExit, Node: n.svc.Name, ExitCode: code, Signal: sig, Expected: expected})
	close(exited)
}

// signalLocked sends sig to the service's process group and to those of its
// running execs, as a container runtime does to everything in a container.
func (n *node) signalLocked(sig syscall.Signal) {
	if n.cmd != nil {
		syscall.Kill(-n.cmd.Process.Pid, sig)
	}
	for pg := range n.execs {
		syscall.Kill(-pg, sig)
	}
}

// kill SIGKILLs the node's processes and waits until the service process is
// reaped. Killing a node that is not running does nothing.
func (n *node) kill(ctx context.Context) error {
	n.mu.Lock()
	if n.cmd == nil {
		n.signalLocked(syscall.SIGKILL)
		n.mu.Unlock()
		killTagged(n.c.marker(), n.svc.Name)
		return nil
	}
	n.expect = true
	n.signalLocked(syscall.SIGKILL)
	exited := n.exited
	n.mu.Unlock()
	t := time.NewTimer(stopTimeout)
	defer t.Stop()
	select {
	case <-exited:
		killTagged(n.c.marker(), n.svc.Name)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("service %q: process did not exit %v after SIGKILL", n.svc.Name, stopTimeout)
	}
}

// Exec runs req.Argv in the service's node: in its network namespace, with
// its hosts file, hostname and clock offset, in its working directory, with
// the service's environment plus req.Env. argv[0] is resolved as follows:
// a name that is the service's program (same path, or same base name as the
// program or the service, e.g. "/bin/client" for a service "client" built
// from Go) runs the program; otherwise a file of that path under the
// compose directory; otherwise the host path, or PATH for a bare name.
//
// The command's SDK output goes to sdk/<service>.<name>.<n>.jsonl and is
// delivered as events with Proc = req.Name ("exec" if empty). Its seed,
// MVRUN_SEED, is derived from the cluster's seed and
// "exec/<service>/<name>/<n>" unless req.Env sets it. Commands run whether or
// not the node's service process is running or paused. When ctx ends, the
// command's process group is killed.
func (c *Cluster) Exec(ctx context.Context, req backend.ExecRequest) (backend.ExecResult, error) {
	n, err := c.node(req.Service)
	if err != nil {
		return backend.ExecResult{}, err
	}
	path, err := resolveCommand(req.Argv, n.svc, n.prog, c.cfg.Test.Project.Dir)
	if err != nil {
		return backend.ExecResult{}, err
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

	file := c.sdkPath(req.Service, name+"."+strconv.Itoa(k))
	env := n.baseEnv()
	env["MVRUN_SEED"] = seeds.Format(seeds.Derive(c.cfg.Seed, "exec/"+req.Service+"/"+name+"/"+strconv.Itoa(k)))
	for kk, v := range req.Env {
		env[kk] = v
	}
	c.sdkEnv(env, req.Service, file)
	// Proc is never "" for an exec: that would read as the service itself.
	tail := sdkfile.Follow(file, req.Service, name, c.emit)
	defer tail.Close()
	stdout, stderr := req.Stdout, req.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}

	n.mu.Lock()
	mono := n.curMono
	n.mu.Unlock()
	started := time.Now()
	cmd, err := spawn(c.shimExe, spawnSpec{
		shim: shimConfig{Netns: n.netns, Hosts: n.hosts, Hostname: n.svc.Name, Mono: mono,
			Path: path, Argv: req.Argv},
		env: envList(env), dir: n.dir, stdout: stdout, stderr: stderr,
	})
	if err != nil {
		return backend.ExecResult{}, fmt.Errorf("service %q: exec %q: %w", req.Service, req.Argv[0], err)
	}
	pg := cmd.Process.Pid
	c.writePidfile(pg)
	defer c.removePidfile(pg)
	n.mu.Lock()
	n.execs[pg] = true
	n.mu.Unlock()
	if c.isClosed() {
		// Close may have signalled this node's execs before this one was
		// registered.
		syscall.Kill(-pg, syscall.SIGKILL)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-done:
	case <-ctx.Done():
		syscall.Kill(-pg, syscall.SIGKILL)
		werr = <-done
	}
	// Whatever the command left running in its group goes with it.
	syscall.Kill(-pg, syscall.SIGKILL)
	n.mu.Lock()
	delete(n.execs, pg)
	n.mu.Unlock()
	if cmd.ProcessState == nil {
		return backend.ExecResult{}, fmt.Errorf("service %q: exec %q: %w", req.Service, req.Argv[0], werr)
	}
	// Other Wait errors (output copying cut short by WaitDelay) do not
	// change how the command ended.
	code, sig := exitStatus(cmd)
	res := backend.ExecResult{ExitCode: code, Signal: sig, Duration: time.Since(started)}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

// Apply carries out one fault action. Network actions go to the cluster
// network; kill is SIGKILL to the nodes' process groups (and their execs);
// restart starts a killed node again in the same working directory; pause
// and resume are SIGSTOP and SIGCONT.
//
// clock_offset records the offset, which takes effect as a
// CLOCK_MONOTONIC/CLOCK_BOOTTIME offset (a time namespace) from the node's
// next (re)start, and for execs started after that; a time namespace's
// offsets are fixed once it has a process, and the wall clock cannot be
// moved per node. Because that is not what the action asks for, Apply
// returns an error wrapping [backend.ErrUnsupported] that says so, after
// recording the offset. clock_jump is unsupported. Errors for unsupported
// kinds have fixed texts, one per kind.
func (c *Cluster) Apply(ctx context.Context, a faults.Action) error {
	if c.isClosed() {
		return fmt.Errorf("%s: cluster is closed", a.Kind)
	}
	if ok, err := c.net.Apply(a); ok {
		return err
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
	switch a.Kind {
	case faults.ActKill:
		for _, n := range nodes {
			errs = append(errs, n.kill(ctx))
		}
	case faults.ActRestart:
		for _, n := range nodes {
			n.mu.Lock()
			if n.cmd == nil {
				errs = append(errs, n.startLocked())
			}
			n.mu.Unlock()
		}
	case faults.ActPause, faults.ActResume:
		sig := syscall.SIGSTOP
		if a.Kind == faults.ActResume {
			sig = syscall.SIGCONT
		}
		for _, n := range nodes {
			n.mu.Lock()
			n.signalLocked(sig)
			n.mu.Unlock()
		}
	case faults.ActClockSet:
		for _, n := range nodes {
			n.mu.Lock()
			n.mono = a.Offset
			n.mu.Unlock()
		}
		c.log.Info("clock_offset recorded; it applies from the nodes' next restart, to CLOCK_MONOTONIC and CLOCK_BOOTTIME only",
			"nodes", a.Nodes, "offset", a.Offset)
		// The same text for every such action: the report counts them by it.
		return errClockOffset
	case faults.ActClockJump:
		return errClockJump
	default:
		return c.b.Supports(a.Kind)
	}
	return errors.Join(errs...)
}

// Close kills every process of the cluster, waits for them, closes the
// network and removes the cluster's runtime files. Artifacts under cfg.Dir
// stay. It is safe to call more than once.
func (c *Cluster) Close(ctx context.Context) error {
	c.closeOnce.Do(func() { c.closeErr = c.close(ctx) })
	return c.closeErr
}

func (c *Cluster) close(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	var errs []error
	for _, n := range c.nodes {
		errs = append(errs, n.kill(context.WithoutCancel(ctx)))
	}
	// Whatever escaped the process groups (setsid daemons, execs that
	// raced with the kills) goes too.
	killTagged(c.marker(), "")
	// kill also ended the execs; wait for their Exec calls to return.
	waited := make(chan struct{})
	go func() { c.execWG.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(stopTimeout):
		errs = append(errs, fmt.Errorf("process backend: execs still running %v after SIGKILL", stopTimeout))
	}
	for _, n := range c.nodes {
		if n.sdk != nil {
			n.sdk.Close()
		}
		for _, f := range []*os.File{n.stdout, n.stderr} {
			if f != nil {
				f.Close()
			}
		}
	}
	if c.net != nil {
		if err := c.net.Close(); err != nil {
			errs = append(errs, fmt.Errorf("process backend: closing the cluster network: %w", err))
		}
	}
	if err := os.RemoveAll(c.rtDir); err != nil {
		errs = append(errs, err)
	}
	c.b.releaseRunDir()
	return errors.Join(errs...)
}

// writePidfile records a process group leader of this run, so Sweep can kill
// the group if this run dies without closing the cluster.
func (c *Cluster) writePidfile(pid int) {
	id, err := procs.Identity(pid)
	if err != nil {
		return // already gone
	}
	if err := os.WriteFile(filepath.Join(c.rtDir, strconv.Itoa(pid)+".pid"), []byte(id), 0o600); err != nil {
		c.log.Warn("writing pid file", "err", err)
	}
}

func (c *Cluster) removePidfile(pid int) {
	os.Remove(filepath.Join(c.rtDir, strconv.Itoa(pid)+".pid"))
}
