package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
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
	"github.com/mvrun/multiverse/runner/backend/cluster"
	"github.com/mvrun/multiverse/runner/diskfs"
	"github.com/mvrun/multiverse/runner/network"
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

// Cluster is the cluster of one seed on the docker backend. The node
// table, events, environment and the order of Close are
// [cluster.Core]'s; this type adds the container mechanics.
type Cluster struct {
	*cluster.Core[*node]
	b   *Backend
	cli *testcontainers.DockerClient

	// bg lives until Close; container waits use it so they outlive the
	// Start call that began them.
	bg       context.Context
	bgCancel context.CancelFunc
}

var _ backend.Cluster = (*Cluster)(nil)

// node is the docker backend's part of one service's node: its sandbox and
// service containers.
type node struct {
	im      *image
	sandbox testcontainers.Container
	ctr     testcontainers.Container // nil until created
	mounts  []backend.HostMount      // compose volumes, sources made for the seed
	disk    *diskfs.FS               // the disk fault file system bound at the working_dir; nil without
}

// NewCluster creates the containers of every service of the test, none of
// them started: first each node's sandbox, whose network namespace joins
// the cluster's switch, then the service containers, which share their
// sandbox's namespace and see a hosts file naming every node.
func (b *Backend) NewCluster(ctx context.Context, cfg backend.ClusterConfig) (backend.Cluster, error) {
	c, err := b.newCluster(ctx, cfg)
	if err != nil {
		return nil, err // newCluster closed what it had made
	}
	return c, nil
}

func (b *Backend) newCluster(ctx context.Context, cfg backend.ClusterConfig) (_ *Cluster, err error) {
	b.mu.Lock()
	images, test, sandboxRef := b.images, b.test, b.sandbox
	b.mu.Unlock()
	cli, err := b.client(ctx)
	if err != nil {
		return nil, fmt.Errorf("docker backend: %w", err)
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c := &Cluster{b: b, cli: cli, bg: bg, bgCancel: cancel}
	c.Core, err = cluster.New(cluster.Config{
		Backend: "docker", Cluster: cfg, Prepared: test, Log: b.log, Support: b.Support(),
		StopTimeout: stopTimeout, SDKDir: sdkMount,
	}, mechanics{c})
	if err != nil {
		cancel()
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Close(ctx))
		}
	}()
	dir := c.Dir()
	if err := os.MkdirAll(filepath.Join(dir, "docker"), 0o755); err != nil {
		return nil, fmt.Errorf("docker backend: %w", err)
	}
	// Containers may run as any user; they all write SDK files here.
	if err := os.Chmod(filepath.Join(dir, "sdk"), 0o777); err != nil {
		return nil, fmt.Errorf("docker backend: %w", err)
	}
	log := c.Log()
	net, err := network.New(network.Config{
		Prefix: b.netPrefix(cfg.Index), Subnet: subnet, Seed: cfg.Seed, Log: log,
		Events: func(e network.Event) {
			log.Debug("network", "event", e.Kind, "node", e.Node, "from", e.From, "to", e.To,
				"partitioned", e.Partitioned, "lost", e.Lost)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("docker backend: cluster network: %w", err)
	}
	c.SetNetwork(net)
	// Containers may run as any user, so volumes are open to all.
	mounts, err := backend.SeedMounts(c.Config().Test.Project, dir, 0o777)
	if err != nil {
		return nil, fmt.Errorf("docker backend: %w", err)
	}
	for _, s := range c.Config().Test.Project.Services {
		im := images[s.Name]
		if im == nil {
			return nil, fmt.Errorf("service %q: not prepared (Prepare ran on a different test?)", s.Name)
		}
		cn, err := c.AddNode(s, &node{im: im, mounts: mounts[s.Name]})
		if err != nil {
			return nil, err
		}
		if err := c.mountDisk(cn); err != nil {
			return nil, err
		}
	}
	// Sandboxes start in parallel (each takes a few hundred ms), then join
	// the switch one by one in service order, which fixes the addresses.
	if err := c.each(func(n *cluster.Node[*node]) (err error) {
		n.Own.sandbox, err = c.createSandbox(ctx, n, sandboxRef)
		return err
	}); err != nil {
		return nil, err
	}
	for _, n := range c.Nodes() {
		st, err := n.Own.sandbox.State(ctx)
		if err != nil || st.Pid == 0 {
			return nil, fmt.Errorf("service %q: network sandbox is not running: %v", n.Name(), err)
		}
		if _, err := net.AttachNode(n.Name(), "/proc/"+strconv.Itoa(st.Pid)+"/ns/net"); err != nil {
			return nil, fmt.Errorf("service %q: attaching its node to the network: %w", n.Name(), err)
		}
	}
	hosts := filepath.Join(dir, "docker", "hosts")
	if err := os.WriteFile(hosts, backend.AddAliases(net.Hosts(), c.Config().Test.Project), 0o644); err != nil {
		return nil, fmt.Errorf("docker backend: hosts file: %w", err)
	}
	if err := c.each(func(n *cluster.Node[*node]) (err error) {
		n.Own.ctr, err = c.createService(ctx, n, hosts)
		return err
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// each runs fn for every node at once and joins the errors.
func (c *Cluster) each(fn func(n *cluster.Node[*node]) error) error {
	nodes := c.Nodes()
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
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
	return fmt.Sprintf("mvrun-%s-%d-%s%s", c.b.RunID(), c.Config().Index, service, suffix)
}

func (c *Cluster) labels(service, role string) map[string]string {
	return c.b.labels(LabelSeed, seeds.Format(c.Config().Seed), LabelService, service, LabelRole, role)
}

// createSandbox creates and starts node n's sandbox: no network but
// loopback until the switch attaches its device, and the service's name as
// hostname, which the service container shares.
func (c *Cluster) createSandbox(ctx context.Context, n *cluster.Node[*node], ref string) (testcontainers.Container, error) {
	req := testcontainers.GenericContainerRequest{
		Started: true,
		Logger:  tcLogger{c.Log()},
		ContainerRequest: testcontainers.ContainerRequest{
			Image:  ref,
			Name:   c.containerName(n.Name(), "-net"),
			Labels: c.labels(n.Name(), roleSandbox),
			ConfigModifier: func(cfg *container.Config) {
				cfg.Hostname = n.Service.HostName()
			},
			HostConfigModifier: func(hc *container.HostConfig) {
				hc.NetworkMode = "none"
			},
		},
	}
	ctr, err := testcontainers.GenericContainer(ctx, req)
	if err != nil {
		err = fmt.Errorf("service %q: creating its network sandbox container: %w", n.Name(), err)
		if ctr != nil {
			err = errors.Join(err, ctr.Terminate(context.WithoutCancel(ctx), testcontainers.StopTimeout(0)))
		}
		return nil, err
	}
	return ctr, nil
}

// createService creates node n's service container, not started. Its
// environment is fixed here, so every start of the node sees the seed of
// the first (the process backend derives one per start).
func (c *Cluster) createService(ctx context.Context, n *cluster.Node[*node], hosts string) (testcontainers.Container, error) {
	s, o := n.Service, n.Own
	env := maps.Clone(s.Environment)
	if env == nil {
		env = map[string]string{}
	}
	// Unlike the process backend, containers get no MVRUN_RUN: that is the
	// process backend's sweep marker, and its Sweep kills host processes
	// carrying one of a run it does not know, containers' processes
	// included. Containers are found by their labels instead.
	maps.Copy(env, c.StartEnv(n, 0))
	sandboxID := o.sandbox.GetContainerID()
	req := testcontainers.GenericContainerRequest{
		Started: false,
		Logger:  tcLogger{c.Log()},
		ContainerRequest: testcontainers.ContainerRequest{
			Image:      o.im.ref,
			Name:       c.containerName(s.Name, ""),
			Labels:     c.labels(s.Name, roleService),
			Env:        env,
			Entrypoint: o.im.entrypoint,
			Cmd:        o.im.cmd,
			ConfigModifier: func(cfg *container.Config) {
				if s.WorkingDir != "" {
					cfg.WorkingDir = s.WorkingDir
				}
				cfg.User = numericRoot(s.User)
			},
			HostConfigModifier: func(hc *container.HostConfig) {
				hc.NetworkMode = container.NetworkMode("container:" + sandboxID)
				hc.Binds = []string{hosts + ":/etc/hosts:ro", filepath.Join(c.Dir(), "sdk") + ":" + sdkMount}
				for _, m := range o.mounts {
					if m.Tmpfs {
						if hc.Tmpfs == nil {
							hc.Tmpfs = map[string]string{}
						}
						hc.Tmpfs[m.Target] = ""
						continue
					}
					b := m.Source + ":" + m.Target
					if m.ReadOnly {
						b += ":ro"
					}
					hc.Binds = append(hc.Binds, b)
				}
				hc.ReadonlyRootfs = s.ReadOnly
				for _, g := range s.GroupAdd {
					hc.GroupAdd = append(hc.GroupAdd, numericRoot(g))
				}
				if o.disk != nil {
					hc.Binds = append(hc.Binds, o.disk.Dir()+":"+s.WorkingDir)
				}
			},
		},
	}
	ctr, err := testcontainers.GenericContainer(ctx, req)
	if err != nil {
		err = fmt.Errorf("service %q: creating its container from image %s: %w", s.Name, o.im.ref, err)
		if ctr != nil {
			err = errors.Join(err, ctr.Terminate(context.WithoutCancel(ctx), testcontainers.StopTimeout(0)))
		}
		return nil, err
	}
	return ctr, nil
}

// mechanics are the docker backend's [cluster.Mechanics].
type mechanics struct{ c *Cluster }

// StartNode starts (or restarts) the service container. The container's
// output is attached before it starts, so none is lost, and its exit is
// awaited from the same moment. Its environment was fixed when it was
// created.
func (m mechanics) StartNode(ctx context.Context, n *cluster.Node[*node], _ map[string]string) (cluster.Process, error) {
	c, o := m.c, n.Own
	id := o.ctr.GetContainerID()
	wait := c.cli.ContainerWait(c.bg, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	att, err := c.cli.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return nil, fmt.Errorf("service %q: attaching to its container: %w", n.Name(), err)
	}
	if err := o.ctr.Start(ctx); err != nil {
		att.Close()
		return nil, fmt.Errorf("service %q: starting its container (image %s): %w", n.Name(), o.im.ref, err)
	}
	c.Log().Debug("node container", "service", n.Name(), "container", shortID(id))
	return &serviceCtr{n: n, log: c.Log(), att: att.HijackedResponse, wait: wait}, nil
}

// serviceCtr is a node's running service container.
type serviceCtr struct {
	n    *cluster.Node[*node]
	log  *slog.Logger
	att  client.HijackedResponse
	wait client.ContainerWaitResult
}

// Wait copies the container's output to the node's files until it exits.
func (p *serviceCtr) Wait() (int, string) {
	n := p.n
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		// The stream ends when the container does; a copy error (the
		// attach connection torn down by a kill) only cuts the node's
		// log short, and the exit status comes from the engine.
		_, _ = stdcopy.StdCopy(n.Stdout, n.Stderr, p.att.Reader)
	}()
	code := -1
	select {
	case r := <-p.wait.Result:
		code = int(r.StatusCode)
	case err := <-p.wait.Error:
		// The engine connection broke (or Close cancelled it): find out
		// how the container ended by asking.
		code = exitCode(n, p.log, err)
	}
	select {
	case <-copied:
	case <-time.After(5 * time.Second):
		p.log.Warn("container output still streaming 5s after it exited", "service", n.Name())
	}
	p.att.Close()
	return code, signalName(code)
}

// exitCode polls the container until it is no longer running and returns
// its exit code; -1 if that cannot be found out.
func exitCode(n *cluster.Node[*node], log *slog.Logger, waitErr error) int {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	for ctx.Err() == nil {
		st, err := n.Own.ctr.State(ctx)
		if err == nil && !st.Running {
			return st.ExitCode
		}
		time.Sleep(100 * time.Millisecond)
	}
	log.Warn("lost track of a container", "service", n.Name(), "err", waitErr)
	return -1
}

// KillNode is docker kill (SIGKILL) of a running service container; the
// engine thaws a paused container it kills. A node that is not running has
// nothing to kill: commands run only in a running container.
func (m mechanics) KillNode(ctx context.Context, n *cluster.Node[*node], running bool) error {
	if !running {
		return nil
	}
	if _, err := m.c.cli.ContainerKill(ctx, n.Own.ctr.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		// A container that exited by itself a moment ago is not an error.
		if !strings.Contains(err.Error(), "is not running") {
			return fmt.Errorf("service %q: docker kill: %w", n.Name(), err)
		}
	}
	return nil
}

// PauseNode freezes the service container (docker pause).
func (m mechanics) PauseNode(ctx context.Context, n *cluster.Node[*node]) error {
	if _, err := m.c.cli.ContainerPause(ctx, n.Own.ctr.GetContainerID(), client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("service %q: docker pause: %w", n.Name(), err)
	}
	return nil
}

// ResumeNode thaws a paused service container (docker unpause).
func (m mechanics) ResumeNode(ctx context.Context, n *cluster.Node[*node]) error {
	if _, err := m.c.cli.ContainerUnpause(ctx, n.Own.ctr.GetContainerID(), client.ContainerUnpauseOptions{}); err != nil {
		return fmt.Errorf("service %q: docker unpause: %w", n.Name(), err)
	}
	return nil
}

// ExecNode runs a command inside the node's service container, as docker
// exec does: in the container's file system, network namespace and
// hostname, with the container's environment plus x.Env. argv[0] is looked
// up in the container (PATH for a bare name). For services whose image
// mvrun assembled from a Go main package or binary, the program is at
// /bin/<service> and at the paths workload commands name it by.
//
// A command in a paused node waits until the node resumes (the process
// would be frozen too); a node whose container is not running (killed and
// not yet restarted) cannot run commands: that is an error. A program
// missing from the image is an error too. When ctx ends, the command's
// process is SIGKILLed.
func (m mechanics) ExecNode(ctx context.Context, n *cluster.Node[*node], x cluster.ExecSpec) (backend.ExecResult, error) {
	c := m.c
	running, err := n.WaitRunnable(ctx)
	if err != nil {
		return backend.ExecResult{}, err
	}
	if !running {
		return backend.ExecResult{}, fmt.Errorf("service %q: its container is not running (killed by a fault and not restarted yet, or never started); on the docker backend commands run only in a running container", n.Name())
	}
	started := time.Now()
	id := n.Own.ctr.GetContainerID()
	ex, err := c.cli.ExecCreate(ctx, id, client.ExecCreateOptions{
		Cmd: x.Argv, Env: backend.EnvList(x.Env), AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return backend.ExecResult{}, fmt.Errorf("service %q: exec %q: %w", n.Name(), x.Argv[0], err)
	}
	att, err := c.cli.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{})
	if err != nil {
		return backend.ExecResult{}, fmt.Errorf("service %q: exec %q: %w", n.Name(), x.Argv[0], err)
	}
	defer att.Close()
	// The engine reports a program it could not start on the output
	// stream; keep the start of it for the error.
	var head headWriter
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		// As in serviceCtr.Wait: an error only cuts the output short; the
		// exit status comes from the engine.
		_, _ = stdcopy.StdCopy(io.MultiWriter(x.Stdout, &head), io.MultiWriter(x.Stderr, &head), att.Reader)
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
		return res, fmt.Errorf("service %q: exec %q: %w", n.Name(), x.Argv[0], err)
	}
	if ins.PID == 0 && (ins.ExitCode == 126 || ins.ExitCode == 127) {
		return res, fmt.Errorf("service %q: cannot run %q in its container (image %s): %s", n.Name(), x.Argv[0], n.Own.im.ref, strings.TrimSpace(head.String()))
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

// ApplyOther carries out the disk kinds and refuses the clock kinds,
// which the docker backend cannot carry out, with the fixed error of each
// (see [Backend.Supports]).
func (m mechanics) ApplyOther(ctx context.Context, a faults.Action, nodes []*cluster.Node[*node]) error {
	if a.Kind == faults.ActDisk || a.Kind == faults.ActDiskClear {
		return m.c.applyDisk(a, nodes)
	}
	return m.c.b.Supports(a.Kind)
}

// Teardown removes every container of the cluster, once the Core has
// killed the service containers, waited for their exits and for running
// commands, and removed the switch's devices while the sandboxes still held
// the namespaces.
func (m mechanics) Teardown(ctx context.Context) error {
	c := m.c
	err := c.each(func(n *cluster.Node[*node]) error {
		var errs []error
		for _, ctr := range []testcontainers.Container{n.Own.ctr, n.Own.sandbox} {
			if ctr == nil {
				continue
			}
			if err := ctr.Terminate(ctx, testcontainers.StopTimeout(0)); err != nil {
				errs = append(errs, fmt.Errorf("service %q: removing container %s: %w", n.Name(), shortID(ctr.GetContainerID()), err))
			}
		}
		return errors.Join(errs...)
	})
	// The containers held binds of the disk mounts; they are gone now.
	err = errors.Join(err, c.unmountDisks())
	c.bgCancel()
	return err
}

// numericRoot writes the name root as 0 in a compose user ("user[:group]")
// or group: root is uid and gid 0 everywhere, and images without an
// /etc/passwd (FROM scratch) cannot resolve the name.
func numericRoot(id string) string {
	u, g, hasGroup := strings.Cut(id, ":")
	if u == "root" {
		u = "0"
	}
	if g == "root" {
		g = "0"
	}
	if hasGroup {
		return u + ":" + g
	}
	return u
}
