// Package cluster is the part of a [backend.Cluster] that the backends whose
// nodes run on the host in real time (process and docker) share: the node
// table and its lifecycle state (running, paused, expected exits, start
// counts), the SDK files of nodes and commands and the events they become,
// node_start and node_exit events, the environment mvrun gives every
// process (MVRUN_SEED, the SDK variables), the Exec bookkeeping, the
// dispatch of fault actions, and the order of Close.
//
// A backend supplies only its mechanics — how a node's service process is
// started, killed, paused and resumed, and how a command runs in a node —
// as a [Mechanics], and embeds the [Core] that drives them.
package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/internal/seeds"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/runner/backend/sdkfile"
	"github.com/mvrun/multiverse/runner/network"
	"github.com/mvrun/multiverse/specs"
)

// Mechanics is what a backend does to its nodes; the [Core] decides when.
// N is the backend's own state of a node ([Node.Own]).
//
// StartNode, KillNode, PauseNode and ResumeNode are called with the node's lifecycle lock
// held, so they never run at the same time for one node, and must not call
// the node's methods that take it ([Node.WaitRunnable]). ExecNode is called
// without it. The method names differ from [backend.Cluster]'s so that one
// type may both embed the Core and implement Mechanics.
type Mechanics[N any] interface {
	// StartNode starts n's service process with env (the mvrun variables of
	// this start: a backend whose nodes' environment is fixed when they are
	// created may ignore it) and returns it once it runs.
	StartNode(ctx context.Context, n *Node[N], env map[string]string) (Process, error)
	// KillNode sends SIGKILL, or the backend's equivalent, to everything
	// running in n: its service process if running is true, and whatever
	// else the backend runs there. It does not wait for the exit.
	KillNode(ctx context.Context, n *Node[N], running bool) error
	// PauseNode freezes n's running service process (and what runs with it).
	PauseNode(ctx context.Context, n *Node[N]) error
	// ResumeNode thaws what PauseNode froze.
	ResumeNode(ctx context.Context, n *Node[N]) error
	// ExecNode runs a command in n and waits for it, as [backend.Cluster.Exec]
	// describes; the Core has already set up its environment, its SDK file
	// and its output writers.
	ExecNode(ctx context.Context, n *Node[N], x ExecSpec) (backend.ExecResult, error)
	// ApplyOther carries out an action of a kind the Core does not (the clock
	// kinds), or returns the backend's error for it.
	ApplyOther(ctx context.Context, a faults.Action, nodes []*Node[N]) error
	// Teardown removes what the backend created for the cluster. Close
	// calls it once every node is killed, the running commands have
	// returned and the network is closed; it runs on a cluster that
	// NewCluster abandoned halfway too, so it must cope with missing parts.
	Teardown(ctx context.Context) error
}

// Crasher is implemented by Mechanics whose nodes' disks react to a kill
// fault (the disk fault file system: lose_unsynced). Apply calls
// CrashNode after a kill fault's node has exited, so no call of its
// processes is still in flight.
type Crasher[N any] interface {
	CrashNode(n *Node[N])
}

// Process is a node's running service process, as Mechanics.StartNode returns
// it.
type Process interface {
	// Wait blocks until the process has exited and returns its exit code
	// and the name of the signal that ended it ("" if none).
	Wait() (code int, signal string)
}

// ExecSpec is a command the Core hands to [Mechanics.ExecNode].
type ExecSpec struct {
	Argv []string
	// Name is the command's name, "exec" if the request had none.
	Name string
	// Env is what mvrun sets for the command: MVRUN_SEED, the request's
	// variables and the SDK variables, in that order of precedence (last
	// wins). The backend adds it on top of the node's own environment.
	Env            map[string]string
	Stdout, Stderr io.Writer // never nil
}

// Kinds are the fault action kinds the Core carries out itself: the
// network kinds, through the cluster's network, and the node kinds, through
// the [Mechanics]. Backends built on the Core list them as possible in
// their [backend.Support].
var Kinds = []faults.ActionKind{
	faults.ActPartition, faults.ActHeal, faults.ActLink,
	faults.ActKill, faults.ActRestart, faults.ActPause, faults.ActResume,
}

// Config configures a [Core].
type Config struct {
	// Backend is the backend's name, for logs and errors.
	Backend string
	// Cluster is the cluster's configuration. New fills in Test (with
	// Prepared), Events and Log (with Log) when they are nil.
	Cluster backend.ClusterConfig
	// Prepared is the test the backend's last successful Prepare readied;
	// nil if there was none, which makes New fail.
	Prepared *specs.Test
	// Log is the backend's logger, for clusters configured without one.
	Log *slog.Logger
	// Support is the backend's answer to Supports: Apply refuses kinds it
	// does not list as possible before anything else happens.
	Support backend.Support
	// StopTimeout bounds how long a kill waits for a node's service
	// process to exit, and Close for running commands to return.
	StopTimeout time.Duration
	// SDKDir is where the node's processes see the seed's sdk directory;
	// "" means at its host path.
	SDKDir string
	// Env holds variables every process of the cluster gets on top of the
	// SDK variables (the process backend's MVRUN_RUN marker).
	Env map[string]string
}

// Core is the shared part of a cluster. Backends embed it: its methods
// Start, Exec, Apply, Close, Now and Sleep are those of [backend.Cluster].
type Core[N any] struct {
	cfg  Config
	mech Mechanics[N]
	log  *slog.Logger
	backend.WallClock
	dir string // cfg.Cluster.Dir, absolute

	nodes map[string]*Node[N]
	order []*Node[N] // in the order they were added
	net   *network.Network

	mu     sync.Mutex
	closed bool
	execN  map[string]int // "<service>.<name>" → execs so far
	execWG sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// Node is one service's node: the state the Core keeps for it and the
// backend's own part.
type Node[N any] struct {
	// Service is the compose service the node runs.
	Service *specs.Service
	// Own is the backend's own state of the node.
	Own N
	// Stdout and Stderr are the node's output files,
	// nodes/<service>.stdout and .stderr, appended to across restarts.
	Stdout, Stderr *os.File
	// SDKFile is the host path of the service process's SDK output file.
	SDKFile string

	c   *Core[N]
	sdk *sdkfile.Tailer

	mu       sync.Mutex // the lifecycle lock
	running  bool
	exited   chan struct{} // closed once the running process's exit is handled
	expect   bool          // the running process's exit will be one mvrun caused
	paused   bool
	unpaused chan struct{} // closed on resume, or on the exit of a paused process
	starts   int
}

// Name is the node's service name.
func (n *Node[N]) Name() string { return n.Service.Name }

// New returns a Core with no nodes. It creates the seed directory's nodes/
// and sdk/ directories. mech is usually the backend's cluster, which embeds
// the Core.
func New[N any](cfg Config, mech Mechanics[N]) (*Core[N], error) {
	if cfg.Cluster.Test == nil {
		cfg.Cluster.Test = cfg.Prepared
	}
	if cfg.Prepared == nil || cfg.Cluster.Test == nil || cfg.Cluster.Test.Project == nil {
		return nil, fmt.Errorf("%s backend: NewCluster before a successful Prepare", cfg.Backend)
	}
	if cfg.Cluster.Events == nil {
		cfg.Cluster.Events = func(backend.Event) {}
	}
	if cfg.Cluster.Log == nil {
		cfg.Cluster.Log = cmp.Or(cfg.Log, slog.Default())
	}
	dir, err := filepath.Abs(cfg.Cluster.Dir)
	if err != nil {
		return nil, fmt.Errorf("%s backend: %w", cfg.Backend, err)
	}
	for _, d := range []string{filepath.Join(dir, "nodes"), filepath.Join(dir, "sdk")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("%s backend: %w", cfg.Backend, err)
		}
	}
	return &Core[N]{
		cfg: cfg, mech: mech, dir: dir, WallClock: backend.NewWallClock(),
		log:   cfg.Cluster.Log.With("backend", cfg.Backend, "seed", seeds.Format(cfg.Cluster.Seed)),
		nodes: map[string]*Node[N]{}, execN: map[string]int{},
	}, nil
}

// Log is the cluster's logger.
func (c *Core[N]) Log() *slog.Logger { return c.log }

// Dir is the seed's artifacts directory, absolute.
func (c *Core[N]) Dir() string { return c.dir }

// Config is the cluster's configuration, with defaults filled in.
func (c *Core[N]) Config() backend.ClusterConfig { return c.cfg.Cluster }

// SetNetwork gives the cluster its network: Apply sends it the network
// actions, and Close closes it before Teardown.
func (c *Core[N]) SetNetwork(net *network.Network) { c.net = net }

// Network is the cluster's network, nil before SetNetwork.
func (c *Core[N]) Network() *network.Network { return c.net }

// AddNode adds service's node with the backend's state own: it opens the
// node's output files and starts following its SDK file.
func (c *Core[N]) AddNode(svc *specs.Service, own N) (*Node[N], error) {
	if _, dup := c.nodes[svc.Name]; dup {
		return nil, fmt.Errorf("service %q: added twice", svc.Name)
	}
	n := &Node[N]{Service: svc, Own: own, c: c, SDKFile: sdkfile.Path(c.dir, svc.Name, "")}
	for _, f := range []struct {
		p   **os.File
		ext string
	}{{&n.Stdout, ".stdout"}, {&n.Stderr, ".stderr"}} {
		var err error
		if *f.p, err = os.OpenFile(filepath.Join(c.dir, "nodes", svc.Name+f.ext), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
			n.closeFiles()
			return nil, fmt.Errorf("service %q: %w", svc.Name, err)
		}
	}
	n.sdk = sdkfile.Follow(n.SDKFile, svc.Name, "", c.emit)
	c.nodes[svc.Name] = n
	c.order = append(c.order, n)
	return n, nil
}

// Nodes returns the nodes in the order they were added.
func (c *Core[N]) Nodes() []*Node[N] { return c.order }

// Node returns service's node, or an error naming the services there are.
func (c *Core[N]) Node(service string) (*Node[N], error) {
	n := c.nodes[service]
	if n == nil {
		return nil, fmt.Errorf("service %q is not in the compose project (services: %s)", service, strings.Join(c.cfg.Cluster.Test.Project.ServiceNames(), ", "))
	}
	return n, nil
}

// Closed reports whether Close has begun.
func (c *Core[N]) Closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// emit delivers e stamped with the cluster time.
func (c *Core[N]) emit(e backend.Event) {
	e.At = c.Now()
	c.cfg.Cluster.Events(e)
}

// sdkEnv points the SDKs of a process of service at its host file and adds
// the backend's variables.
func (c *Core[N]) sdkEnv(env map[string]string, service, file string) {
	if c.cfg.SDKDir != "" {
		file = path.Join(c.cfg.SDKDir, filepath.Base(file))
	}
	sdkfile.SetEnv(env, service, file)
	for k, v := range c.cfg.Env {
		env[k] = v
	}
}

// StartEnv returns the mvrun variables of n's service process at its
// start-th start (0-based): MVRUN_SEED, derived from the cluster's seed and
// "node/<service>/<start>" so every restart gets fresh but replayable
// entropy, and the SDK variables.
func (c *Core[N]) StartEnv(n *Node[N], start int) map[string]string {
	env := map[string]string{
		"MVRUN_SEED": seeds.Format(seeds.Derive(c.cfg.Cluster.Seed, "node/"+n.Name()+"/"+strconv.Itoa(start))),
	}
	c.sdkEnv(env, n.Name(), n.SDKFile)
	return env
}

// Start boots service's node.
func (c *Core[N]) Start(ctx context.Context, service string) error {
	n, err := c.Node(service)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running {
		return fmt.Errorf("service %q: node is already running", service)
	}
	return n.startLocked(ctx)
}

// startLocked starts the service process; n.mu is held.
func (n *Node[N]) startLocked(ctx context.Context) error {
	c := n.c
	// Checked under n.mu: Close marks the cluster closed before it takes
	// each node's lock to kill it, so a start either sees that or is killed.
	if c.Closed() {
		return fmt.Errorf("service %q: cluster is closed", n.Name())
	}
	// Hold the tailer so none of the new process's SDK lines are delivered
	// before its start event.
	defer n.sdk.Hold()()
	p, err := c.mech.StartNode(ctx, n, c.StartEnv(n, n.starts))
	if err != nil {
		return err
	}
	n.running, n.expect = true, false
	n.starts++
	n.exited = make(chan struct{})
	c.log.Debug("node started", "service", n.Name(), "start", n.starts)
	c.emit(backend.Event{Kind: backend.EventNodeStart, Node: n.Name()})
	go n.wait(p, n.exited)
	return nil
}

// wait waits for the service process to exit, delivers its last SDK lines
// and then its exit event.
func (n *Node[N]) wait(p Process, exited chan struct{}) {
	code, sig := p.Wait()
	n.sdk.Poll(true)
	n.mu.Lock()
	expected := n.expect
	n.running, n.expect = false, false
	if n.paused {
		// A process that is gone is not paused; the next start is not.
		n.paused = false
		close(n.unpaused)
	}
	n.mu.Unlock()
	n.c.log.Debug("node exited", "service", n.Name(), "code", code, "signal", sig, "expected", expected)
	n.c.emit(backend.Event{Kind: backend.EventNodeExit, Node: n.Name(), ExitCode: code, Signal: sig, Expected: expected})
	close(exited)
}

// kill kills everything in the node and waits until its service process,
// if it was running, has exited and its exit is handled.
func (n *Node[N]) kill(ctx context.Context) error {
	n.mu.Lock()
	running, exited := n.running, n.exited
	if running {
		n.expect = true
	}
	err := n.c.mech.KillNode(ctx, n, running)
	n.mu.Unlock()
	if err != nil || !running {
		return err
	}
	t := time.NewTimer(n.c.cfg.StopTimeout)
	defer t.Stop()
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("service %q: waiting for the killed process: %w", n.Name(), ctx.Err())
	case <-t.C:
		return fmt.Errorf("service %q: still running %v after it was killed", n.Name(), n.c.cfg.StopTimeout)
	}
}

// pause freezes a running node; a node that is not running, or already
// paused, is left alone.
func (n *Node[N]) pause(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.running || n.paused {
		return nil
	}
	if err := n.c.mech.PauseNode(ctx, n); err != nil {
		return err
	}
	n.paused = true
	n.unpaused = make(chan struct{})
	return nil
}

// resume thaws a paused node.
func (n *Node[N]) resume(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.paused {
		return nil
	}
	if err := n.c.mech.ResumeNode(ctx, n); err != nil {
		return err
	}
	n.paused = false
	close(n.unpaused)
	return nil
}

// restart starts a node that is not running; a running one is left alone.
func (n *Node[N]) restart(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running {
		return nil
	}
	return n.startLocked(ctx)
}

// WaitRunnable waits while the node is paused and reports whether its
// service process is running. Backends whose commands run inside the
// service process's environment (a container) call it before running one.
func (n *Node[N]) WaitRunnable(ctx context.Context) (running bool, err error) {
	for {
		n.mu.Lock()
		running, paused, unpaused := n.running, n.paused, n.unpaused
		n.mu.Unlock()
		if !running || !paused {
			return running, nil
		}
		select {
		case <-unpaused:
		case <-ctx.Done():
			return true, ctx.Err()
		}
	}
}

// Exec runs req in its service's node. Its SDK output goes to
// sdk/<service>.<name>.<n>.jsonl (name "exec" if req.Name is empty, n
// counting that name's commands in the node from 0) and is delivered as
// events with Proc = that name. Its MVRUN_SEED is derived from the cluster's
// seed and "exec/<service>/<name>/<n>" unless req.Env sets it.
func (c *Core[N]) Exec(ctx context.Context, req backend.ExecRequest) (backend.ExecResult, error) {
	n, err := c.Node(req.Service)
	if err != nil {
		return backend.ExecResult{}, err
	}
	if len(req.Argv) == 0 {
		return backend.ExecResult{}, fmt.Errorf("service %q: empty command", req.Service)
	}
	name := req.Name
	if name == "" {
		// Proc is never "" for a command: that would read as the service.
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

	file := sdkfile.Path(c.dir, req.Service, name+"."+strconv.Itoa(k))
	env := map[string]string{
		"MVRUN_SEED": seeds.Format(seeds.Derive(c.cfg.Cluster.Seed, "exec/"+req.Service+"/"+name+"/"+strconv.Itoa(k))),
	}
	for kk, v := range req.Env {
		env[kk] = v
	}
	c.sdkEnv(env, req.Service, file)
	tail := sdkfile.Follow(file, req.Service, name, c.emit)
	defer tail.Close()
	x := ExecSpec{Argv: req.Argv, Name: name, Env: env, Stdout: req.Stdout, Stderr: req.Stderr}
	if x.Stdout == nil {
		x.Stdout = io.Discard
	}
	if x.Stderr == nil {
		x.Stderr = io.Discard
	}
	return c.mech.ExecNode(ctx, n, x)
}

// Apply carries out one fault action: partitions, heals and link
// conditions go to the cluster's network; kill, restart, pause and resume
// to the named nodes through the Mechanics (a kill waits for the exit,
// restart starts only nodes that are not running, pause and resume leave
// nodes already in the asked state alone); every other kind to
// [Mechanics.ApplyOther]. Kinds the backend's Support does not list as possible
// are refused with its error first.
func (c *Core[N]) Apply(ctx context.Context, a faults.Action) error {
	if c.Closed() {
		return fmt.Errorf("%s: cluster is closed", a.Kind)
	}
	own := slices.Contains(Kinds, a.Kind)
	if err := c.cfg.Support.Check(a.Kind); err != nil && own {
		return err
	}
	switch a.Kind {
	case faults.ActPartition, faults.ActHeal, faults.ActLink:
		if c.net == nil {
			return fmt.Errorf("%s: %s backend: the cluster has no network", a.Kind, c.cfg.Backend)
		}
		if ok, err := c.net.Apply(a); ok {
			return err
		}
		return fmt.Errorf("%s: the cluster network does not carry it out: %w", a.Kind, backend.ErrUnsupported)
	}
	nodes := make([]*Node[N], 0, len(a.Nodes))
	for _, s := range a.Nodes {
		n, err := c.Node(s)
		if err != nil {
			return fmt.Errorf("%s: %w", a.Kind, err)
		}
		nodes = append(nodes, n)
	}
	if !own {
		return c.mech.ApplyOther(ctx, a, nodes)
	}
	var errs []error
	for _, n := range nodes {
		var err error
		switch a.Kind {
		case faults.ActKill:
			err = n.kill(ctx)
			if cr, ok := c.mech.(Crasher[N]); ok && err == nil {
				cr.CrashNode(n)
			}
		case faults.ActRestart:
			err = n.restart(ctx)
		case faults.ActPause:
			err = n.pause(ctx)
		case faults.ActResume:
			err = n.resume(ctx)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Close kills every node (all at once), waits for their exits and for the
// commands still running, stops following the SDK files, closes the
// network, calls [Mechanics.Teardown] and closes the nodes' output files.
// Artifacts under the seed directory stay. It is safe to call more than
// once; like every Close in runner/backend, it does all of this even when
// ctx is cancelled, and its waits are bounded by Config.StopTimeout.
func (c *Core[N]) Close(ctx context.Context) error {
	c.closeOnce.Do(func() { c.closeErr = c.close(context.WithoutCancel(ctx)) })
	return c.closeErr
}

func (c *Core[N]) close(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	errs := make([]error, len(c.order))
	var wg sync.WaitGroup
	for i, n := range c.order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = n.kill(ctx)
		}()
	}
	wg.Wait()
	// The kills ended the commands' processes too; wait for their Exec
	// calls to return.
	waited := make(chan struct{})
	go func() { c.execWG.Wait(); close(waited) }()
	t := time.NewTimer(c.cfg.StopTimeout)
	select {
	case <-waited:
	case <-t.C:
		errs = append(errs, fmt.Errorf("%s backend: commands still running %v after their nodes were killed", c.cfg.Backend, c.cfg.StopTimeout))
	}
	t.Stop()
	for _, n := range c.order {
		n.sdk.Close()
	}
	// The network goes first: on docker its devices must be removed while
	// the containers still hold their namespaces.
	if c.net != nil {
		if err := c.net.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s backend: closing the cluster network: %w", c.cfg.Backend, err))
		}
	}
	if err := c.mech.Teardown(ctx); err != nil {
		errs = append(errs, err)
	}
	for _, n := range c.order {
		n.closeFiles()
	}
	return errors.Join(errs...)
}

func (n *Node[N]) closeFiles() {
	for _, f := range []*os.File{n.Stdout, n.Stderr} {
		if f != nil {
			f.Close()
		}
	}
}
