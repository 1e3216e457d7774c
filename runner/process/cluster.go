package process

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/internal/procs"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/runner/backend/cluster"
	"github.com/mvrun/multiverse/runner/diskfs"
)

// stopTimeout bounds how long Close and kill faults wait for a SIGKILLed
// process group's leader to be reaped.
const stopTimeout = 10 * time.Second

// Cluster is the cluster of one seed on the process backend. The node
// table, events, environment and the order of Close are
// [cluster.Core]'s; this type adds the process mechanics: the node shim,
// process groups, pid files and markers.
type Cluster struct {
	*cluster.Core[*node]
	b       *Backend
	shimExe string
	rtDir   string // RunDir/<run>/c<index>: hosts and pid files
	cgDir   string // <cgroup root>/<run>/c<index>, or "" without cgroups
	// marker is the cluster's MVRUN_RUN value, "<run id>.<cluster index>",
	// which every process of the cluster carries.
	marker string
}

var _ backend.Cluster = (*Cluster)(nil)

// node is the process backend's part of one service's node.
type node struct {
	prog  string // the service's program
	path  string // what the node's process execs
	argv  []string
	dir   string // working directory; survives restarts
	hosts string // hosts file bind-mounted on /etc/hosts
	netns string
	// mounts are the node's compose volumes; roRoot is compose read_only
	// and writable what stays writable then.
	mounts   []shimMount
	roRoot   bool
	writable []string
	// cgBase names the node's cgroups, "" without cgroups. Each
	// incarnation of the node (up to a kill) gets a fresh cgroup
	// cgBase.<n>: on some kernels a process cloned into a cgroup that
	// cgroup.kill was once written to is killed at once.
	cgBase string
	cgGen  int
	cgroup string     // the current incarnation's cgroup, made on first use
	disk   *diskfs.FS // the disk fault file system over dir; nil without disk faults

	mu      sync.Mutex
	cmd     *exec.Cmd     // the service process; nil when not running
	mono    time.Duration // clock offset for the next start
	curMono time.Duration // clock offset of the running process and new execs
	execs   map[int]bool  // process groups of running execs
}

// NewCluster creates the network namespaces of every service and the
// working directories under cfg.Dir/nodes; no process runs until Start.
func (b *Backend) NewCluster(ctx context.Context, cfg backend.ClusterConfig) (backend.Cluster, error) {
	c, err := b.newCluster(ctx, cfg)
	if err != nil {
		return nil, err // newCluster closed what it had made
	}
	return c, nil
}

func (b *Backend) newCluster(ctx context.Context, cfg backend.ClusterConfig) (_ *Cluster, err error) {
	b.mu.Lock()
	programs, test := b.programs, b.test
	b.mu.Unlock()
	shimExe := b.opts.Shim
	if shimExe == "" {
		if shimExe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("process backend: finding the mvrun executable for the node shim: %w", err)
		}
	}
	c := &Cluster{b: b, shimExe: shimExe, marker: b.RunID() + "." + strconv.Itoa(cfg.Index)}
	c.Core, err = cluster.New(cluster.Config{
		Backend: "process", Cluster: cfg, Prepared: test, Log: b.log, Support: b.Support(), StopTimeout: stopTimeout,
		Env: map[string]string{"MVRUN_RUN": c.marker},
	}, mechanics{c})
	if err != nil {
		return nil, err
	}
	runDir, err := b.acquireRunDir()
	if err != nil {
		return nil, err
	}
	// From here on Close undoes everything, the run directory included.
	c.rtDir = filepath.Join(runDir, "c"+strconv.Itoa(cfg.Index))
	defer func() {
		if err != nil {
			if cerr := c.Close(ctx); cerr != nil {
				err = fmt.Errorf("%w (closing the half-made cluster: %v)", err, cerr)
			}
		}
	}()
	if err := os.MkdirAll(c.rtDir, 0o700); err != nil {
		return nil, fmt.Errorf("process backend: %w", err)
	}
	if root, why := cgroupRoot(); root != "" {
		c.cgDir = filepath.Join(root, b.RunID(), "c"+strconv.Itoa(cfg.Index))
		if err := os.MkdirAll(c.cgDir, 0o755); err != nil {
			return nil, fmt.Errorf("process backend: cluster cgroup: %w", err)
		}
	} else {
		b.cgWarn.Do(func() {
			b.log.Warn("process backend: nodes get no cgroup, so a process that leaves its process group and clears its environment may outlive its node", "why", why)
		})
	}
	net, err := newNetwork(b.netPrefix(cfg.Index), cfg.Seed, c.Log())
	if err != nil {
		return nil, fmt.Errorf("process backend: cluster network: %w", err)
	}
	c.SetNetwork(net)
	proj := c.Config().Test.Project
	mounts, err := backend.SeedMounts(proj, c.Dir(), 0o755)
	if err != nil {
		return nil, fmt.Errorf("process backend: %w", err)
	}
	for _, s := range proj.Services {
		prog := programs[s.Name]
		if prog == "" {
			return nil, fmt.Errorf("service %q: not prepared (Prepare ran on a different test?)", s.Name)
		}
		path, argv, err := backend.NodeArgv(s, prog, proj.Dir)
		if err != nil {
			return nil, err
		}
		nn, err := net.AddNode(s.Name)
		if err != nil {
			return nil, fmt.Errorf("service %q: adding its node to the network: %w", s.Name, err)
		}
		own := &node{prog: prog, path: path, argv: argv, netns: nn.NetnsPath,
			dir:   filepath.Join(c.Dir(), "nodes", s.Name),
			hosts: filepath.Join(c.rtDir, s.Name+".hosts"),
			execs: make(map[int]bool)}
		if err := os.MkdirAll(own.dir, 0o755); err != nil {
			return nil, fmt.Errorf("service %q: %w", s.Name, err)
		}
		for _, m := range mounts[s.Name] {
			own.mounts = append(own.mounts, shimMount{Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly, Tmpfs: m.Tmpfs, File: m.File})
		}
		if s.ReadOnly {
			own.roRoot = true
			own.writable = []string{own.dir, filepath.Join(c.Dir(), "sdk")}
		}
		if c.cgDir != "" {
			own.cgBase = filepath.Join(c.cgDir, s.Name)
		}
		cn, err := c.AddNode(s, own)
		if err != nil {
			return nil, err
		}
		if err := c.mountDisk(cn); err != nil {
			return nil, err
		}
	}
	// Every node resolves every service name, so hosts files are written
	// once all nodes have addresses.
	hosts := backend.AddAliases(net.Hosts(), proj) // localhost lines included
	for _, n := range c.Nodes() {
		if err := os.WriteFile(n.Own.hosts, hosts, 0o644); err != nil {
			return nil, fmt.Errorf("service %q: hosts file: %w", n.Name(), err)
		}
	}
	return c, nil
}

// baseEnv is the environment every process of node n starts from. The
// host's environment is not passed on, apart from PATH, so runs do not
// depend on who started mvrun.
func baseEnv(n *cluster.Node[*node]) map[string]string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	env := map[string]string{"PATH": path, "HOME": n.Own.dir, "HOSTNAME": n.Service.HostName()}
	for k, v := range n.Service.Environment {
		env[k] = v
	}
	return env
}

// mechanics are the process backend's [cluster.Mechanics].
type mechanics struct{ c *Cluster }

// StartNode runs the service's program with the service's argv, in the
// node's namespaces and working directory.
func (m mechanics) StartNode(ctx context.Context, n *cluster.Node[*node], mvEnv map[string]string) (cluster.Process, error) {
	c, o := m.c, n.Own
	env := baseEnv(n)
	maps.Copy(env, mvEnv)
	o.mu.Lock()
	defer o.mu.Unlock()
	cg, err := o.cgroupLocked()
	if err != nil {
		return nil, fmt.Errorf("service %q: %w", n.Name(), err)
	}
	cmd, err := spawn(c.shimExe, spawnSpec{
		shim: shimConfig{Netns: o.netns, Hosts: o.hosts, Hostname: n.Service.HostName(), Mono: o.mono,
			Mounts: o.mounts, ReadOnlyRoot: o.roRoot, Writable: o.writable,
			Path: o.path, Argv: o.argv},
		env: backend.EnvList(env), dir: o.dir, stdout: n.Stdout, stderr: n.Stderr, cgroup: cg,
	})
	if err != nil {
		return nil, fmt.Errorf("service %q: starting %s: %w", n.Name(), o.path, err)
	}
	c.writePidfile(cmd.Process.Pid)
	o.cmd, o.curMono = cmd, o.mono
	c.Log().Debug("node process", "service", n.Name(), "pid", cmd.Process.Pid)
	return serviceProc{c, o, cmd}, nil
}

// serviceProc is a node's running service process.
type serviceProc struct {
	c   *Cluster
	o   *node
	cmd *exec.Cmd
}

// Wait reaps the process and forgets it, so no later signal can reach a
// process group whose id was reused.
func (p serviceProc) Wait() (int, string) {
	p.cmd.Wait() // the outcome is in cmd.ProcessState
	p.o.mu.Lock()
	if p.o.cmd == p.cmd {
		p.o.cmd = nil
	}
	p.o.mu.Unlock()
	p.c.removePidfile(p.cmd.Process.Pid)
	return exitStatus(p.cmd)
}

// signal sends sig to the service's process group and to those of its
// running execs, as a container runtime does to everything in a container.
func (o *node) signal(sig syscall.Signal) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cmd != nil {
		syscall.Kill(-o.cmd.Process.Pid, sig)
	}
	for pg := range o.execs {
		syscall.Kill(-pg, sig)
	}
}

// KillNode SIGKILLs the node's process groups, its running commands' groups
// and every process that carries the node's markers (daemons that left the
// groups with setsid).
func (m mechanics) KillNode(ctx context.Context, n *cluster.Node[*node], running bool) error {
	n.Own.signal(syscall.SIGKILL)
	killTagged(m.c.marker, n.Name())
	o := n.Own
	o.mu.Lock()
	cg := o.cgroup
	o.cgroup = "" // the next start gets a fresh one
	o.mu.Unlock()
	if cg != "" {
		// Whatever the node started, however it detached, is in here.
		return removeCgroup(cg)
	}
	return nil
}

// cgroupLocked returns the cgroup of the node's current incarnation,
// creating it on first use; "" without cgroups. o.mu must be held.
func (o *node) cgroupLocked() (string, error) {
	if o.cgBase == "" || o.cgroup != "" {
		return o.cgroup, nil
	}
	o.cgGen++
	p := o.cgBase + "." + strconv.Itoa(o.cgGen)
	if err := os.Mkdir(p, 0o755); err != nil {
		return "", fmt.Errorf("node cgroup: %w", err)
	}
	o.cgroup = p
	return p, nil
}

// PauseNode is SIGSTOP to the node's process groups.
func (m mechanics) PauseNode(ctx context.Context, n *cluster.Node[*node]) error {
	n.Own.signal(syscall.SIGSTOP)
	return nil
}

// ResumeNode is SIGCONT to the node's process groups.
func (m mechanics) ResumeNode(ctx context.Context, n *cluster.Node[*node]) error {
	n.Own.signal(syscall.SIGCONT)
	return nil
}

// ExecNode runs a command in the node: in its network namespace, with its
// hosts file, hostname and clock offset, in its working directory, with the
// service's environment plus x.Env. argv[0] is resolved as follows: a name
// that is the service's program (same path, or same base name as the
// program or the service, e.g. "/bin/client" for a service "client" built
// from Go) runs the program; otherwise a file of that path under the
// compose directory; otherwise the host path, or PATH for a bare name.
//
// Commands run whether or not the node's service process is running or
// paused. When ctx ends, the command's process group is killed.
func (m mechanics) ExecNode(ctx context.Context, n *cluster.Node[*node], x cluster.ExecSpec) (backend.ExecResult, error) {
	c, o := m.c, n.Own
	path, err := backend.ResolveCommand(x.Argv, n.Service, o.prog, c.Config().Test.Project.Dir)
	if err != nil {
		return backend.ExecResult{}, err
	}
	env := baseEnv(n)
	maps.Copy(env, x.Env)
	o.mu.Lock()
	mono := o.curMono
	cg, err := o.cgroupLocked()
	o.mu.Unlock()
	if err != nil {
		return backend.ExecResult{}, fmt.Errorf("service %q: %w", n.Name(), err)
	}
	started := time.Now()
	cmd, err := spawn(c.shimExe, spawnSpec{
		shim: shimConfig{Netns: o.netns, Hosts: o.hosts, Hostname: n.Service.HostName(), Mono: mono,
			Mounts: o.mounts, ReadOnlyRoot: o.roRoot, Writable: o.writable,
			Path: path, Argv: x.Argv},
		env: backend.EnvList(env), dir: o.dir, stdout: x.Stdout, stderr: x.Stderr, cgroup: cg,
	})
	if err != nil {
		return backend.ExecResult{}, fmt.Errorf("service %q: exec %q: %w", n.Name(), x.Argv[0], err)
	}
	pg := cmd.Process.Pid
	c.writePidfile(pg)
	defer c.removePidfile(pg)
	o.mu.Lock()
	o.execs[pg] = true
	o.mu.Unlock()
	if c.Closed() {
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
	o.mu.Lock()
	delete(o.execs, pg)
	o.mu.Unlock()
	if cmd.ProcessState == nil {
		return backend.ExecResult{}, fmt.Errorf("service %q: exec %q: %w", n.Name(), x.Argv[0], werr)
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

// ApplyOther handles the clock kinds. clock_skew records the offset,
// which takes effect as a CLOCK_MONOTONIC/CLOCK_BOOTTIME offset (a time
// namespace) from the node's next (re)start, and for execs started after
// that; a time namespace's offsets are fixed once it has a process, and the
// wall clock cannot be moved per node. Because that is not what the action
// asks for, it returns an error wrapping [backend.ErrUnsupported] that says
// so, after recording the offset. clock_jump is unsupported. Errors for
// unsupported kinds have fixed texts, one per kind.
func (m mechanics) ApplyOther(ctx context.Context, a faults.Action, nodes []*cluster.Node[*node]) error {
	if a.Kind == faults.ActDisk || a.Kind == faults.ActDiskClear {
		return m.c.applyDisk(a, nodes)
	}
	if a.Kind != faults.ActClockSkew {
		return m.c.b.Supports(a.Kind)
	}
	for _, n := range nodes {
		n.Own.mu.Lock()
		n.Own.mono = a.Offset
		n.Own.mu.Unlock()
	}
	m.c.Log().Info("clock_skew recorded; it applies from the nodes' next restart, to CLOCK_MONOTONIC and CLOCK_BOOTTIME only",
		"nodes", a.Nodes, "offset", a.Offset)
	// The same text for every such action: the report counts them by it.
	return errClockOffset
}

// Teardown kills whatever escaped the process groups (setsid daemons,
// execs that raced with the kills) and removes the cluster's runtime files.
func (m mechanics) Teardown(ctx context.Context) error {
	c := m.c
	killTagged(c.marker, "")
	var cgErr error
	if c.cgDir != "" {
		cgErr = removeCgroup(c.cgDir)
	}
	err := errors.Join(c.unmountDisks(), os.RemoveAll(c.rtDir))
	c.b.releaseRunDir()
	return errors.Join(cgErr, err)
}

// writePidfile records a process group leader of this run, so Sweep can kill
// the group if this run dies without closing the cluster.
func (c *Cluster) writePidfile(pid int) {
	id, err := procs.Identity(pid)
	if err != nil {
		return // already gone
	}
	if err := os.WriteFile(filepath.Join(c.rtDir, strconv.Itoa(pid)+".pid"), []byte(id), 0o600); err != nil {
		c.Log().Warn("writing pid file", "err", err)
	}
}

func (c *Cluster) removePidfile(pid int) {
	// A pid file left behind names a dead process; Sweep checks liveness
	// before it acts on one, so a failed removal harms nothing.
	_ = os.Remove(filepath.Join(c.rtDir, strconv.Itoa(pid)+".pid"))
}
