package hvbackend

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/hv"
	"github.com/mvrun/multiverse/hv/kernel"
	"github.com/mvrun/multiverse/internal/seeds"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/specs"
)

// cluster is one seed's hv cluster as a [backend.Cluster]. Its methods are
// called by the participant holding the turn (see turns.go), so the
// simulation is never running while they change it; event callbacks run
// on whichever goroutine runs the simulation.
type cluster struct {
	cfg    backend.ClusterConfig
	log    *slog.Logger
	hc     *hv.Cluster
	t      *turns
	nodes  map[string]*node
	order  []*node
	life   context.Context
	stop   context.CancelFunc
	trace  *bufio.Writer // trace.log: the trace's milestones and checkpoints
	traceF *os.File
	mu     sync.Mutex // closed
	closed bool
	// simMu is held while the simulation runs, so Close from outside the
	// participants (an abandoned seed) waits for it to stop.
	simMu sync.Mutex
	// momentPending, while set, reports a Moment the seed has not reached.
	momentPending func()
	// look is a Moment whose looks act (branch.go), until the replay
	// reaches it; branched is set once it has, and the runner's events stop.
	look     *Moment
	branched bool
	// stopAt, if positive, is the virtual time the run ends at
	// ([Backend.StoppingAt]); branched is set once it has.
	stopAt time.Duration
	branch *Branch              // this cluster is an explore branch (branch.go)
	taps   map[*hv.Process]*tap // processes' stderr, for Go dumps in a branch
	// pending are called at Close: looks that the seed's end cut short.
	pending     []func()
	straceBegun bool
	vols        volumes // the seed's compose volumes (volumes.go)
	// rec, while set, records the run for resuming (tape.go); play, while
	// set, answers the runner from a record until its snapshot, where the
	// cluster resumes (resumedAt) and play ends.
	rec       *recorder
	play      *catchUp
	resumedAt time.Duration
	onResume  func() error // what needs the simulation, set up once resumed
	execs     []*execRun   // every Exec call's command, by number
	running   []*execRun   // those not yet recorded as exited (live)
	// failure is why the run could not go on for a reason of hv's or the
	// backend's, not the system under test's ([backend.Broken]).
	failure error

	// cov reads the programs' coverage counters with plan covPlan
	// (cover.go); nil without.
	cov     *coverState
	covPlan *coverPlan
}

var (
	_ backend.Cluster = (*cluster)(nil)
	_ backend.Turns   = (*cluster)(nil)
	_ backend.Traced  = (*cluster)(nil)
	_ backend.Gaps    = (*cluster)(nil)
	_ backend.Resumer = (*cluster)(nil)
	_ backend.Broken  = (*cluster)(nil)
)

// node is a service's node.
type node struct {
	c      *cluster
	svc    *specs.Service
	n      *hv.Node
	prog   string
	path   string
	argv   []string
	proc   *hv.Process // the service process while it runs
	starts int
	killed bool // the service's exit was caused by mvrun (kill fault, Close)
	stdout *os.File
	stderr *os.File
	execN  map[string]int
	sdkN   int    // SDK output files made
	flush  func() // delivers the service process's partial last SDK line
	// sink and sdkPath are the service process's SDK hypercall lines and
	// SDK output file.
	sink    *sink
	sdkPath string
}

// newCluster makes the seed's cluster. programs maps each service to its
// static binary; images holds the services run from an image as the image
// runs them (see [Backend.images]). With snap set the cluster catches up
// from record from until the snapshot, and has no simulation before it
// (tape.go).
func newCluster(ctx context.Context, cfg backend.ClusterConfig, programs map[string]string, images map[string]*specs.Service, log *slog.Logger, from *Record, snap *rsnap) (_ *cluster, err error) {
	var hc *hv.Cluster
	if snap == nil {
		if hc, err = hv.NewCluster(hv.ClusterConfig{Seed: cfg.Seed, Logger: log}); err != nil {
			return nil, err
		}
	}
	life, stop := context.WithCancel(ctx)
	c := &cluster{cfg: cfg, log: log, hc: hc, nodes: map[string]*node{}, life: life, stop: stop, taps: map[*hv.Process]*tap{}}
	if snap != nil {
		c.play = &catchUp{rec: from, snap: snap, began: time.Now()}
	}
	c.t = newTurns(c, life)
	defer func() {
		if err != nil {
			c.abort()
		}
	}()
	if c.traceF, err = os.Create(filepath.Join(cfg.Dir, TraceLog)); err != nil {
		return nil, err
	}
	c.trace = bufio.NewWriter(c.traceF)
	proj := cfg.Test.Project
	for _, s := range proj.Services {
		if img := images[s.Name]; img != nil {
			s = img
		}
		n := &node{c: c, svc: s, prog: programs[s.Name], execN: map[string]int{}}
		c.nodes[s.Name] = n
		c.order = append(c.order, n)
		if n.path, n.argv, err = backend.NodeArgv(s, n.prog, proj.Dir); err != nil {
			return nil, err
		}
		n.argv = guestArgv(n.argv, n.path)
		if n.stdout, err = outFile(cfg.Dir, s.Name+".stdout"); err == nil {
			n.stderr, err = outFile(cfg.Dir, s.Name+".stderr")
		}
		if err != nil {
			return nil, err
		}
	}
	if hc == nil {
		return c, nil
	}
	hc.SetTraceLog(c.traceLine)
	for _, n := range c.order {
		if err := c.addNode(n); err != nil {
			return nil, err
		}
	}
	// container_name: another name of the node, as compose resolves it.
	for _, n := range c.order {
		fs := n.n.FS()
		in, err := fs.Lookup(fs.Root(), "/etc/hosts", true)
		if err == nil {
			err = fs.WriteFile("/etc/hosts", backend.AddAliases(in.Data, proj), 0o644)
		}
		if err != nil {
			return nil, fmt.Errorf("hv backend: node %s: /etc/hosts: %w", n.svc.Name, err)
		}
	}
	return c, nil
}

// addNode makes n's hv node: its file system with the SDK directory, its
// volumes and working directory, and its disk fault hooks.
func (c *cluster) addNode(n *node) error {
	s := n.svc
	hn, err := c.hc.AddNode(hv.NodeConfig{Name: s.Name})
	if err == nil {
		_, err = hn.FS().MkdirAll("/run/mvrun/sdk")
	}
	if err == nil {
		_, err = hn.FS().MkdirAll(coverDir)
	}
	if err != nil {
		return fmt.Errorf("hv backend: node %s: %w", s.Name, err)
	}
	n.n = hn
	if err := c.vols.mount(s, hn.FS(), hn.Clock()); err != nil {
		return fmt.Errorf("hv backend: %w", err)
	}
	if s.WorkingDir != "" {
		if _, err := hn.FS().MkdirAll(s.WorkingDir); err != nil {
			return fmt.Errorf("hv backend: node %s: working_dir %s: %w", s.Name, s.WorkingDir, err)
		}
	}
	c.diskSetup(n)
	return nil
}

// traceLine writes one line of the trace log (and keeps it in the record
// while recording).
func (c *cluster) traceLine(at time.Duration, n uint64, kind byte, sum uint64) {
	line := fmt.Sprintf("%d %d %c %016x\n", at, n, kind, sum)
	c.trace.WriteString(line)
	if c.rec != nil {
		c.rec.rec.lines = append(c.rec.rec.lines, line)
	}
}

// abort releases what a failed newCluster made.
func (c *cluster) abort() {
	c.stop()
	if c.hc != nil {
		_ = c.hc.Close()
	}
	if c.traceF != nil {
		c.traceF.Close()
	}
	for _, n := range c.order {
		n.closeFiles()
	}
}

func (n *node) closeFiles() {
	for _, f := range []*os.File{n.stdout, n.stderr} {
		if f != nil {
			f.Close()
		}
	}
}

// now implements sim: the simulated time, or while catching up the time
// the record has reached.
func (c *cluster) now() time.Duration {
	if c.play != nil {
		return c.play.now
	}
	return c.hc.Now()
}

// advance implements sim.
func (c *cluster) advance(ctx context.Context, limit time.Duration, stop func() bool) (bool, error) {
	c.simMu.Lock()
	defer c.simMu.Unlock()
	if c.isClosed() {
		return false, hv.ErrClosed
	}
	if c.play != nil {
		return c.playRun(ctx, limit, stop)
	}
	return c.advanceLive(ctx, limit, stop)
}

// advanceLive is advance on the simulation, with simMu held.
func (c *cluster) advanceLive(ctx context.Context, limit time.Duration, stop func() bool) (bool, error) {
	run := limit
	if c.look != nil && run > c.look.At {
		run = c.look.At // stop at the moment to branch there
	}
	if c.stopAt > 0 && run > c.stopAt {
		run = c.stopAt
	}
	if c.rec != nil {
		stopped, err := c.snapshotDue(ctx, run, stop)
		if stopped || err != nil {
			c.noteRun(limit, hv.Stopped, err)
			return false, err
		}
	}
	out, err := c.hc.Advance(ctx, run, stop)
	c.noteRun(limit, out, err) // the limit the runner asked for
	if err == nil && c.stopAt > 0 && c.hc.Now() >= c.stopAt {
		if !c.branched {
			fmt.Fprintf(c.trace, "%d stop - %016x\n", c.hc.Now(), c.hc.TraceHash())
			c.branched = true
		}
		return false, backend.ErrStopped // the runner's part ends here
	}
	if m := c.look; err == nil && m != nil && c.hc.Now() >= m.At {
		c.look = nil
		c.branchLooks(ctx, m)
		return false, errBranched
	}
	return out == hv.Idle, err
}

// noteRun records a run of the simulation the runner waited on; a run that
// failed makes the record unusable.
func (c *cluster) noteRun(limit time.Duration, out hv.Outcome, err error) {
	if c.rec == nil {
		return
	}
	if err != nil {
		c.rec.rec.broken = err
	}
	c.noteExits()
	c.note(top{kind: opRun, limit: limit, endAt: c.hc.Now(), out: out, err: errText(err)})
}

// Now implements [backend.Cluster]: simulated time since the cluster was
// created.
func (c *cluster) Now() time.Duration { return c.now() }

// TraceHash implements [backend.Traced].
func (c *cluster) TraceHash() uint64 {
	if c.hc == nil {
		return 0 // closed while catching up: no run
	}
	return c.hc.TraceHash()
}

// Gaps implements [backend.Gaps]: the system calls hv does not implement
// that the seed's programs made, by node.
func (c *cluster) Gaps() []backend.Gap {
	if c.hc == nil {
		return nil
	}
	var out []backend.Gap
	for _, u := range c.hc.Unimplemented() {
		out = append(out, backend.Gap{What: fmt.Sprintf("node %s: %s (%s)", u.Node, u.Name, filepath.Base(u.Binary)), Calls: u.Calls})
	}
	return out
}

// TraceLogFile implements [backend.Traced].
func (c *cluster) TraceLogFile() string { return TraceLog }

// emit sends an event stamped with simulated time.
func (c *cluster) emit(e backend.Event) {
	if c.branched {
		return // no longer the seed's run (branch.go)
	}
	e.At = c.hc.Now()
	c.note(top{kind: opEvent, ev: e})
	if c.cfg.Events != nil {
		c.cfg.Events(e)
	}
}

// sink turns a process's SDK hypercall lines into SDK events, counting
// them (the count is part of what a snapshot keeps, tape.go).
type sink struct {
	c          *cluster
	node, proc string
	n          int
}

func (s *sink) message(m kernel.Message) {
	s.n++
	s.c.emit(backend.Event{Kind: backend.EventSDK, Node: s.node, Proc: s.proc, Line: bytes.TrimRight(bytes.Clone(m.Line), "\n"), LineNo: s.n})
}

// sdkFile creates, in n's file system, the file a process's Antithesis SDK
// writes its lines to (ANTITHESIS_SDK_LOCAL_OUTPUT), and turns each line
// into an SDK event as it is written, so services instrumented with the
// Antithesis SDK report under hv unchanged (mvrun's own SDK uses the
// hypercall channel instead). flush delivers a last line that lacks its
// newline, once the process has ended.
func (c *cluster) sdkFile(n *node, proc string) (path string, flush func(), err error) {
	name := proc
	if name == "" {
		name = "service"
	}
	n.sdkN++
	path = fmt.Sprintf("/run/mvrun/sdk/%s.%d.jsonl", name, n.sdkN)
	if err := n.n.FS().WriteFile(path, nil, 0o666); err != nil {
		return "", nil, fmt.Errorf("service %q: SDK output file: %w", n.svc.Name, err)
	}
	flush, err = c.watchSDK(n, proc, path)
	return path, flush, err
}

// watchSDK turns the lines written to n's SDK output file path from now on
// into SDK events (the lines already in it were sent).
func (c *cluster) watchSDK(n *node, proc, path string) (flush func(), err error) {
	fs := n.n.FS()
	in, err := fs.Lookup(fs.Root(), path, true)
	if err != nil {
		return nil, fmt.Errorf("service %q: SDK output file: %w", n.svc.Name, err)
	}
	off := bytes.LastIndexByte(in.Data, '\n') + 1
	lineNo := bytes.Count(in.Data[:off], []byte("\n"))
	emit := func(line []byte) {
		lineNo++
		c.emit(backend.Event{Kind: backend.EventSDK, Node: n.svc.Name, Proc: proc, Line: bytes.Clone(line), LineNo: lineNo})
	}
	in.OnWrite = func(int64, int64) {
		for off < len(in.Data) {
			i := bytes.IndexByte(in.Data[off:], '\n')
			if i < 0 {
				return
			}
			emit(in.Data[off : off+i])
			off += i + 1
		}
	}
	flush = func() {
		in.OnWrite = nil
		if off < len(in.Data) {
			emit(in.Data[off:])
			off = len(in.Data)
		}
	}
	return flush, nil
}

// guestArgv returns argv as the guest sees it: argv[0] is the program's
// name as the compose file or the workload command wrote it ("/bin/client"),
// never the host path mvrun runs it from (host). The runner puts that path
// in argv[0] for a program nobody named (a service built from a Go main
// package without an entrypoint; [backend.NodeArgv]); the guest gets
// /bin/<its base name> instead. The host path lies under the run's
// artifacts directory, which differs between commands (mvrun test, mvrun
// replay, a search, a Go test), so a guest that writes its argv somewhere
// would make one seed a different run in each: a `go build -cover` program
// writes os.Args into its counter file at exit, and that write's length
// entered the trace hash.
func guestArgv(argv []string, host string) []string {
	out := slices.Clone(argv)
	if len(out) == 0 {
		return []string{"/bin/" + filepath.Base(host)}
	}
	if out[0] == host {
		out[0] = "/bin/" + filepath.Base(host)
	}
	return out
}

// env returns a process's environment: the service's compose environment,
// then mvrun's variables and extra.
func (c *cluster) env(n *node, seed uint64, extra map[string]string) []string {
	m := map[string]string{}
	for k, v := range n.svc.Environment {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	if _, ok := m["GOCOVERDIR"]; !ok {
		// Every process, counters or not, so that the environment never
		// depends on whether this cluster reads them (see coverDir).
		m["GOCOVERDIR"] = coverDir
	}
	m["MVRUN_SEED"] = seeds.Format(seed)
	m["MVRUN_NODE"] = n.svc.Name
	m["MVRUN_SDK"] = "hv"
	return backend.EnvList(m)
}

func (c *cluster) node(service string) (*node, error) {
	n := c.nodes[service]
	if n == nil {
		return nil, fmt.Errorf("hv backend: no service %q in the compose project", service)
	}
	return n, nil
}

// Start implements [backend.Cluster]: the service's process starts at the
// current simulated time.
func (c *cluster) Start(ctx context.Context, service string) error {
	key := "start " + service
	if c.play != nil {
		return c.played(key)
	}
	n, err := c.node(service)
	if err == nil {
		err = n.start()
	}
	c.noteCall(key, err)
	return err
}

// played answers a runner's call that returns only an error from the
// record being caught up with.
func (c *cluster) played(key string) error {
	op, err := c.playTo(key)
	if err != nil {
		return err
	}
	if op.err != "" {
		return errors.New(op.err)
	}
	return nil
}

func (n *node) start() error {
	c := n.c
	if n.proc != nil {
		return nil
	}
	seed := seeds.Derive(c.cfg.Seed, "node/"+n.svc.Name+"/"+strconv.Itoa(n.starts))
	n.starts++
	n.killed = false
	sdkPath, flush, err := c.sdkFile(n, "")
	if err != nil {
		return err
	}
	n.flush, n.sdkPath = flush, sdkPath
	n.sink = &sink{c: c, node: n.svc.Name}
	tp := &tap{w: n.stderr}
	p, err := n.n.Start(hv.ProcessConfig{
		Binary: n.path, Path: n.argv[0], Args: n.argv, Env: c.env(n, seed, map[string]string{"ANTITHESIS_SDK_LOCAL_OUTPUT": sdkPath}), Dir: n.svc.WorkingDir,
		Stdout: n.stdout, Stderr: tp,
		OnMessage: n.sink.message,
		OnExit:    n.exited,
	})
	if err != nil {
		return fmt.Errorf("service %q: %w", n.svc.Name, err)
	}
	n.proc = p
	c.taps[p] = tp
	c.emit(backend.Event{Kind: backend.EventNodeStart, Node: n.svc.Name})
	return nil
}

// exited reports the end of the service's process.
func (n *node) exited(p *hv.Process) {
	delete(n.c.taps, p)
	if n.proc != p {
		return
	}
	n.proc = nil
	if n.flush != nil {
		n.flush()
	}
	s := p.Summary()
	e := backend.Event{Kind: backend.EventNodeExit, Node: n.svc.Name, ExitCode: s.ExitCode, Expected: n.killed}
	if s.Signal != 0 {
		e.Signal = signalName(s.Signal)
	}
	if s.Err != nil {
		fmt.Fprintf(n.stderr, "mvrun hv: the process stopped: %v\n", s.Err)
	}
	for _, u := range s.UnimplementedNames() {
		fmt.Fprintf(n.stderr, "mvrun hv: %s called %s, which hv does not implement (%d times)\n", n.svc.Name, u, s.Unimplemented[u])
	}
	n.c.emit(e)
}

func signalName(sig int) string {
	switch sig {
	case 9:
		return "killed"
	case 15:
		return "terminated"
	case 11:
		return "segmentation fault"
	case 6:
		return "aborted"
	}
	return "signal " + strconv.Itoa(sig)
}

// Exec implements [backend.Cluster]: the command runs as a new process in
// the service's node and Exec waits, in simulated time, for it to exit.
func (c *cluster) Exec(ctx context.Context, req backend.ExecRequest) (backend.ExecResult, error) {
	h, err := c.execBegin(req)
	if err != nil {
		return backend.ExecResult{}, err
	}
	err = c.t.wait(&waiter{ctx: ctx, deadline: -1, cond: h.exited})
	return c.execEnd(h, err)
}

// execBegin starts req's command: the part of Exec before its wait.
func (c *cluster) execBegin(req backend.ExecRequest) (*execRun, error) {
	key := fmt.Sprintf("exec %s %s", req.Service, req.Name)
	h := &execRun{service: req.Service, name: cmp.Or(req.Name, "exec"), k: len(c.execs), stdout: req.Stdout, stderr: req.Stderr, start: c.now()}
	if c.rec != nil {
		if h.stdout != nil {
			h.stdout = &recWriter{c: c, exec: h.k, w: h.stdout}
		}
		if h.stderr != nil {
			h.stderr = &recWriter{c: c, exec: h.k, stderr: true, w: h.stderr}
		}
	}
	h.tap = &tap{w: cmp.Or[io.Writer](h.stderr, io.Discard)}
	if c.play != nil {
		op, err := c.playTo(key)
		if err != nil {
			return nil, err
		}
		if op.err != "" {
			return nil, errors.New(op.err)
		}
		h.pid = op.pid
		c.execs = append(c.execs, h)
		return h, nil
	}
	err := c.execStartChecked(h, req)
	if c.rec != nil {
		c.noteCallOp(top{kind: opCall, key: key, err: errText(err), pid: h.pid})
	}
	if err != nil {
		return nil, err
	}
	c.execs = append(c.execs, h)
	c.running = append(c.running, h)
	return h, nil
}

// execStartChecked checks req and starts its command as h.
func (c *cluster) execStartChecked(h *execRun, req backend.ExecRequest) error {
	n, err := c.node(req.Service)
	if err != nil {
		return err
	}
	if len(req.Argv) == 0 {
		return fmt.Errorf("service %q: empty command", req.Service)
	}
	if c.isClosed() {
		return fmt.Errorf("service %q: cluster is closed", req.Service)
	}
	path, err := backend.ResolveCommand(req.Argv, n.svc, n.prog, c.cfg.Test.Project.Dir)
	if err != nil {
		return err
	}
	return c.execStart(n, req, path, h)
}

// execEnd finishes an Exec call whose wait ended with werr: the command is
// killed if it still runs, and its result returned.
func (c *cluster) execEnd(h *execRun, werr error) (backend.ExecResult, error) {
	key := fmt.Sprintf("exec-end %d", h.k)
	if c.play != nil {
		op, err := c.playTo(key)
		if err != nil {
			return backend.ExecResult{}, err
		}
		if op.err != errText(werr) {
			return backend.ExecResult{}, c.diverged("Exec call %s ended with %q where the record has %q", key, errText(werr), op.err)
		}
		return op.res, werr
	}
	p := h.p
	if !p.Exited() {
		p.Kill()
	}
	h.flush()
	s := p.Summary()
	res := backend.ExecResult{ExitCode: s.ExitCode, Duration: c.hc.Now() - h.start}
	if s.Signal != 0 {
		res.Signal = signalName(s.Signal)
	}
	stderr := cmp.Or[io.Writer](h.stderr, io.Discard)
	if s.Err != nil {
		fmt.Fprintf(stderr, "mvrun hv: the process stopped: %v\n", s.Err)
	}
	for _, u := range s.UnimplementedNames() {
		fmt.Fprintf(stderr, "mvrun hv: %s called %s, which hv does not implement (%d times)\n", h.service, u, s.Unimplemented[u])
	}
	if c.rec != nil {
		c.noteCallOp(top{kind: opCall, key: key, res: res, err: errText(werr)})
	}
	return res, werr
}

// execStart starts req's command (at host path) in n as h: the part of
// Exec that acts on the cluster.
func (c *cluster) execStart(n *node, req backend.ExecRequest, path string, h *execRun) error {
	k := n.execN[h.name]
	n.execN[h.name]++
	seed := seeds.Derive(c.cfg.Seed, "exec/"+req.Service+"/"+h.name+"/"+strconv.Itoa(k))
	if v, ok := req.Env["MVRUN_SEED"]; ok {
		if s, err := seeds.Parse(v); err == nil {
			seed = s
		}
	}
	argv := guestArgv(req.Argv, path)
	sdkPath, flush, err := c.sdkFile(n, h.name)
	if err != nil {
		return err
	}
	h.sdkPath, h.flush = sdkPath, flush
	h.sink = &sink{c: c, node: n.svc.Name, proc: h.name}
	env := map[string]string{"ANTITHESIS_SDK_LOCAL_OUTPUT": sdkPath}
	for k, v := range req.Env {
		env[k] = v
	}
	p, err := n.n.Start(hv.ProcessConfig{
		Binary: path, Path: argv[0], Args: argv, Env: c.env(n, seed, env), Dir: n.svc.WorkingDir,
		Stdout: cmp.Or[io.Writer](h.stdout, io.Discard), Stderr: h.tap, OnMessage: h.sink.message,
		OnExit: c.execExited(h),
	})
	if err != nil {
		return fmt.Errorf("service %q: %w", req.Service, err)
	}
	h.p, h.pid = p, p.Pid()
	c.taps[p] = h.tap
	return nil
}

// execExited is the OnExit of an Exec call's command.
func (c *cluster) execExited(h *execRun) func(*hv.Process) {
	return func(p *hv.Process) { delete(c.taps, p) }
}

// Sleep implements [backend.Cluster]: d of simulated time.
func (c *cluster) Sleep(ctx context.Context, d time.Duration) error {
	return c.t.wait(&waiter{ctx: ctx, deadline: c.now() + max(d, 0)})
}

// Go implements [backend.Turns].
func (c *cluster) Go(fn func()) backend.Task { return c.t.spawn(fn) }

// Join implements [backend.Turns].
func (c *cluster) Join(tasks ...backend.Task) {
	var ps []*part
	for _, k := range tasks {
		if tk, ok := k.(task); ok {
			ps = append(ps, tk.p)
		}
	}
	// The condition runs with turns.mu held: read done directly.
	_ = c.t.wait(&waiter{deadline: -1, cond: func() bool {
		for _, p := range ps {
			if !p.done {
				return false
			}
		}
		return true
	}})
}

// Until implements [backend.Turns].
func (c *cluster) Until(ctx context.Context, cond func() bool) error {
	return c.t.wait(&waiter{ctx: ctx, deadline: -1, cond: cond})
}

// WithTimeout implements [backend.Turns].
func (c *cluster) WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return c.t.withTimeout(ctx, d)
}

// Apply implements [backend.Cluster]: every fault kind is native.
func (c *cluster) Apply(ctx context.Context, a faults.Action) error {
	key := "apply " + a.String()
	if c.play != nil {
		return c.played(key)
	}
	err := c.apply(a)
	c.noteCall(key, err)
	return err
}

func (c *cluster) apply(a faults.Action) error {
	if c.isClosed() {
		return fmt.Errorf("%s: cluster is closed", a.Kind)
	}
	if err := support.Check(a.Kind); err != nil {
		return err
	}
	var errs []error
	switch a.Kind {
	case faults.ActPartition:
		if a.Partition == nil {
			return errors.New("partition action without a partition")
		}
		return c.hc.Partition(a.Partition.Model())
	case faults.ActHeal:
		c.hc.Heal()
		return nil
	case faults.ActLink:
		var l faults.Link
		if a.Link != nil {
			l = *a.Link
		}
		return c.hc.SetLink(a.Nodes, l)
	}
	for _, name := range a.Nodes {
		n, err := c.node(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch a.Kind {
		case faults.ActKill:
			n.killed = true
			n.n.Kill()
		case faults.ActRestart:
			if n.proc == nil {
				errs = append(errs, n.start())
			}
		case faults.ActPause:
			n.n.Pause()
		case faults.ActResume:
			n.n.Resume()
		case faults.ActClockSkew:
			n.n.SetClockOffset(a.Offset)
		case faults.ActClockJump:
			n.n.SetClockOffset(n.n.ClockOffset() + a.Offset)
		case faults.ActDisk, faults.ActDiskClear:
			errs = append(errs, n.applyDisk(a))
		}
	}
	return errors.Join(errs...)
}

func (c *cluster) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Close implements [backend.Cluster]: every process is killed (their exits
// are expected) and the VMs are released. It is safe to call more than
// once, also from outside the participants when a seed is abandoned.
func (c *cluster) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.stop()
	c.simMu.Lock()
	defer c.simMu.Unlock()
	for _, n := range c.order {
		n.killed = true
	}
	if c.hc == nil {
		// Closed while catching up: the run never reached its snapshot.
		for _, n := range c.order {
			n.closeFiles()
		}
		fmt.Fprintf(c.trace, "closed while catching up from record %s, before its snapshot\n", c.play.rec.ID())
		return errors.Join(c.trace.Flush(), c.traceF.Close())
	}
	c.coverSample(c.hc.Now(), true)
	c.finishRecording()
	if c.momentPending != nil {
		c.momentPending()
	}
	for _, fn := range c.pending {
		fn()
	}
	err := c.hc.Close()
	for _, n := range c.order {
		n.closeFiles()
	}
	if verr := c.vols.export(filepath.Join(c.cfg.Dir, backend.VolumesDir)); verr != nil {
		err = errors.Join(err, fmt.Errorf("hv backend: keeping the seed's volumes: %w", verr))
	}
	fmt.Fprintf(c.trace, "%d end - %016x\n", c.hc.Now(), c.hc.TraceHash())
	st := c.hc.Stats()
	head := ""
	if c.resumedAt > 0 {
		head = fmt.Sprintf("resumed from a snapshot at %v: the wall time and VM entries below are from there on\n", c.resumedAt)
	}
	stats := head + fmt.Sprintf("simulated %v in wall %v (%.2f simulated s per wall s)\nVM entries %d: %d system calls, %d exceptions, %d interrupts\nthread switches on a vCPU (FPU state swapped) %d\nwall inside KVM_RUN %v\n",
		c.hc.Now()-c.resumedAt, st.Wall, (c.hc.Now()-c.resumedAt).Seconds()/max(st.Wall.Seconds(), 1e-9), st.Entries, st.Syscalls, st.Exceptions, st.Interrupts, st.FPSwitches, st.GuestWall)
	calls := c.hc.Calls()
	names := slices.SortedFunc(maps.Keys(calls), func(a, b string) int { return cmp.Compare(calls[b], calls[a]) })
	for i, name := range names {
		if i == 12 {
			break
		}
		stats += fmt.Sprintf("  %-16s %d\n", name, calls[name])
	}
	for _, u := range c.hc.Unimplemented() {
		stats += fmt.Sprintf("unimplemented: node %s, %s, %s (%d calls)\n", u.Node, u.Binary, u.Name, u.Calls)
	}
	for _, why := range c.hc.NotExact() {
		stats += "not replay-exact: " + why + "\n"
	}
	werr := os.WriteFile(filepath.Join(c.cfg.Dir, StatsFile), []byte(stats), 0o644)
	return errors.Join(err, c.trace.Flush(), c.traceF.Close(), werr)
}

// TraceLog is the name of the file in a seed's artifacts directory that
// logs its trace: one line per milestone (a process started or exited, a
// host action, an SDK message, a fault) and per [sched.CheckpointEvery]
// events — "<virtual ns> <event count> <kind> <trace hash so far>" — and a
// last line with the final hash. Replays compare it line by line.
const TraceLog = "trace.log"

// StatsFile is the file in a seed's artifacts directory that says where
// the seed's wall time went (VM entries by kind, time inside KVM_RUN), which
// system calls hv did not implement, and whether the run was replay-exact.
const StatsFile = "hv-stats.txt"
