package hvbackend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/hv"
	"github.com/mvrun/multiverse/hv/abi"
	"github.com/mvrun/multiverse/internal/seeds"
	"github.com/mvrun/multiverse/runner/backend"
)

// A branch of a seed is the seed replayed exactly up to a moment and then
// run on differently. Two kinds exist:
//
//   - a look that acts (a Go goroutine dump, which makes each Go process
//     print its stacks and exit; a command run in a node): the replay stops
//     at the moment, the runner acts no more, and the nodes alone run on
//     for the look (see [cluster.branchLooks]);
//   - an explore branch ([Branch]): at the moment the future is redrawn —
//     the scheduler's, the network's and the guests' entropy streams, and
//     the fault plan's actions after the moment — and the run goes on to
//     its end under the runner as usual, so its properties can be judged.
//
// The original run is never changed: a branch is another run.

// Branch makes a cluster a branch of its seed: replayed exactly up to At,
// with its future redrawn from there by the branch's own seed, which comes
// from the run's seed, At and N. The same branch is the same run (the
// same trace hash), which is what its id ([Branch.ID]) reproduces.
//
// Branches nest: Next, if set, is a branch of this branch at a later
// moment (a path in a search tree, mvrun test --explore), drawn from this
// branch's seed. Kinds, if set, are the search's bandit choice of arms
// ([faults.Splice]): a kind limits the faults the branch's new plan may
// start after its moment to that kind; a kind aimed at a node ("kill=n1")
// makes that node go down at the moment.
type Branch struct {
	At    time.Duration // virtual time since the cluster was created
	N     int           // the branch's number at that moment
	Kinds []string      // the arms the future is drawn under; empty means none
	Next  *Branch       // a branch of this branch, at a later moment
}

// ID returns the branch's id for seed: "SEED@AT/N", e.g.
// "0x0000000000005eed@12.5s/3", with ":KIND+KIND" after a level that
// limits kinds and one "@AT/N" per nested level
// ("0x…5eed@2s/1:kill@3s/0"), which `mvrun replay --seed` accepts.
func (b Branch) ID(seed uint64) string {
	var s strings.Builder
	s.WriteString(seeds.Format(seed))
	for l := &b; l != nil; l = l.Next {
		fmt.Fprintf(&s, "@%v/%d", l.At, l.N)
		if len(l.Kinds) > 0 {
			s.WriteString(":" + strings.Join(l.Kinds, "+"))
		}
	}
	return s.String()
}

// seed returns the seed the branch's future is drawn from, under parent
// (the run's seed for the first level, the enclosing branch's below).
func (b Branch) seed(parent uint64) uint64 {
	return seeds.Derive(parent, fmt.Sprintf("branch/%d/%d", b.At.Nanoseconds(), b.N))
}

// Depth returns how many levels b has.
func (b Branch) Depth() int {
	n := 0
	for l := &b; l != nil; l = l.Next {
		n++
	}
	return n
}

// Last returns b's deepest level.
func (b *Branch) Last() *Branch {
	for b.Next != nil {
		b = b.Next
	}
	return b
}

// Child returns a copy of b with c appended as its deepest level.
func (b *Branch) Child(c Branch) *Branch {
	if b == nil {
		return &c
	}
	cp := *b
	cp.Next = cp.Next.Child(c)
	return &cp
}

// ParseBranchID splits a branch id ("SEED@AT/N", levels and kinds as
// [Branch.ID] writes them) into its seed and branch; ok is false for a
// plain seed (no "@").
func ParseBranchID(id string) (seed uint64, b Branch, ok bool, err error) {
	s, rest, ok := strings.Cut(id, "@")
	if !ok {
		return 0, Branch{}, false, nil
	}
	if seed, err = seeds.Parse(s); err != nil {
		return 0, Branch{}, true, fmt.Errorf("branch id %q: %w", id, err)
	}
	var levels []Branch
	for _, lv := range strings.Split(rest, "@") {
		var l Branch
		at, n, found := strings.Cut(lv, "/")
		if !found {
			return 0, Branch{}, true, fmt.Errorf("branch id %q: want SEED@TIME/N, e.g. 0x5eed@12.5s/3", id)
		}
		n, kinds, _ := strings.Cut(n, ":")
		if l.At, err = time.ParseDuration(at); err != nil || l.At < 0 {
			return 0, Branch{}, true, fmt.Errorf("branch id %q: the moment %q is not a virtual time like 12.5s", id, at)
		}
		if l.N, err = strconv.Atoi(n); err != nil || l.N < 0 {
			return 0, Branch{}, true, fmt.Errorf("branch id %q: the branch number %q is not a number", id, n)
		}
		if kinds != "" {
			l.Kinds = strings.Split(kinds, "+")
		}
		if len(levels) > 0 && l.At < levels[len(levels)-1].At {
			return 0, Branch{}, true, fmt.Errorf("branch id %q: a nested branch's moment %v is before its parent's", id, l.At)
		}
		levels = append(levels, l)
	}
	for i := len(levels) - 1; i > 0; i-- {
		levels[i-1].Next = &levels[i]
	}
	return seed, levels[0], true, nil
}

// setBranch makes c the branch br of its seed: at each level's moment (an
// observer, so the past is exactly the seed's) the cluster's streams are
// redrawn.
func (c *cluster) setBranch(br *Branch) {
	c.branch = br
	if c.hc == nil {
		return // catching up: redrawn when it resumes (tape.go)
	}
	parent := c.cfg.Seed
	for l := br; l != nil; l = l.Next {
		s := l.seed(parent)
		c.hc.Observe(l.At, func() { c.hc.Redraw(s) })
		parent = s
	}
}

// Replan implements [backend.Replanner]: at each level's moment a branch
// keeps the faults that started before it (a kill, pause or partition
// still in effect ends anew, its length redrawn from the new plan's range)
// and takes the faults that start after it from a plan drawn with the
// level's seed, leaving out those that would collide with faults still in effect
// and, when the level names kinds, those of other kinds
// ([faults.Splice]). With swarm testing on, the new plan's switched-off
// kinds are drawn anew too, except that the kinds a level names are never
// switched off ([faults.ScheduleOn]).
func (c *cluster) Replan(p faults.Plan, start time.Duration) faults.Plan {
	if c.branch == nil {
		return p
	}
	t := c.cfg.Test
	parent := c.cfg.Seed
	for l := c.branch; l != nil; l = l.Next {
		s := l.seed(parent)
		// A level that names kinds keeps them on in its swarm draw: the
		// kind is what the branch was chosen to try.
		fresh := faults.ScheduleOn(s, t.Faults, t.Project.ServiceNames(), t.Duration, l.Kinds, l.At-start)
		p = faults.Splice(p, l.At-start, fresh, l.Kinds)
		// The timeline's plan line and faults.log say what the branch drew
		// (its swarm parameters and arm), next to the seed's own.
		p.Params = maps.Clone(p.Params)
		for k, v := range fresh.Params {
			p.Params[fmt.Sprintf("branch@%v.%s", l.At, k)] = v
		}
		if len(l.Kinds) > 0 {
			p.Params[fmt.Sprintf("branch@%v.arm", l.At)] = strings.Join(l.Kinds, "+")
		}
		parent = s
	}
	return p
}

// errBranched ends the runner's part of a replay that branched at its
// moment for a look that acts: what the runner would do next belongs to
// the seed, which the branch no longer is.
var errBranched = errors.New("the replay branched at its moment for a look that changes the run; the runner stopped there")

// ErrBranched reports whether err is the error a replay's runner sees
// after the replay branched for a look.
func ErrBranched(err error) bool { return errors.Is(err, errBranched) }

// goDumpBudget is how much virtual time Go processes get to print their
// goroutines after SIGQUIT, and execBudget how long a command run at a
// moment may take, before the branch gives up on them.
const (
	goDumpBudget = 10 * time.Second
	execBudget   = 60 * time.Second
)

// branchLooks carries out the looks of m that act, on the simulation's
// goroutine, once the replay has reached m.At: the runner's participants
// all wait, so nothing but the nodes runs on. It marks the trace log, so a
// replay's log up to the mark can be compared with the seed's.
func (c *cluster) branchLooks(ctx context.Context, m *Moment) {
	fmt.Fprintf(c.trace, "%d branch - %016x\n", c.hc.Now(), c.hc.TraceHash())
	c.branched = true
	report := m.report()
	if m.Dump {
		c.goroutineDumps(ctx, m, report)
	}
	if m.Exec != nil {
		c.execLook(ctx, m, report)
	}
}

// goroutineDumps makes every live Go process print its goroutines, as Go
// does on SIGQUIT, and reports what each printed.
func (c *cluster) goroutineDumps(ctx context.Context, m *Moment, report func(string, bool)) {
	type target struct {
		svc string
		p   *hv.Process
		out *bytes.Buffer
	}
	var ts []target
	for _, n := range c.order {
		for _, p := range n.n.Processes() {
			d, err := p.Dump()
			tp := c.taps[p]
			if err != nil || !d.Go || tp == nil {
				continue
			}
			tp.buf = &bytes.Buffer{}
			ts = append(ts, target{n.svc.Name, p, tp.buf})
			p.Signal(abi.SIGQUIT)
		}
	}
	if len(ts) == 0 {
		report("goroutines: no Go process is running at the moment", false)
		return
	}
	start := c.hc.Now()
	done := func() bool {
		for _, t := range ts {
			if !t.p.Exited() {
				return false
			}
		}
		return true
	}
	if _, err := c.hc.RunUntil(ctx, start+goDumpBudget, done); err != nil {
		report(fmt.Sprintf("goroutines: the branch stopped: %v", err), true)
	}
	var all strings.Builder
	for _, t := range ts {
		fmt.Fprintf(&all, "=== goroutines of node %s pid %d (%s), as Go printed them on SIGQUIT in a branch of the replay\n", t.svc, t.p.Pid(), filepath.Base(t.p.Binary()))
		if !t.p.Exited() {
			fmt.Fprintf(&all, "(it did not exit within %v of SIGQUIT: it may handle the signal itself)\n", goDumpBudget)
		}
		all.Write(t.out.Bytes())
		all.WriteString("\n")
	}
	file := filepath.Join(m.dir(c.cfg.Seed), "goroutines.txt")
	if err := writeLook(file, all.String()); err != nil {
		report(fmt.Sprintf("goroutines: %v", err), true)
		return
	}
	report(fmt.Sprintf("goroutines of %d Go processes (in %s):\n%s", len(ts), file, strings.TrimRight(all.String(), "\n")), false)
}

// execLook runs m.Exec in its node and reports its output and exit.
func (c *cluster) execLook(ctx context.Context, m *Moment, report func(string, bool)) {
	x := m.Exec
	n := c.nodes[x.Service]
	what := fmt.Sprintf("exec %s %s", x.Service, strings.Join(x.Argv, " "))
	path, err := backend.ResolveCommand(x.Argv, n.svc, n.prog, c.cfg.Test.Project.Dir)
	if err != nil {
		report(fmt.Sprintf("%s: %v", what, err), true)
		return
	}
	var stdout, stderr bytes.Buffer
	seed := seeds.Derive(c.cfg.Seed, "branch/exec/"+x.Service)
	start := c.hc.Now()
	argv := guestArgv(x.Argv, path)
	p, err := n.n.Start(hv.ProcessConfig{
		Binary: path, Path: argv[0], Args: argv, Env: c.env(n, seed, nil), Dir: n.svc.WorkingDir,
		Stdout: &stdout, Stderr: &stderr,
	})
	if err != nil {
		report(fmt.Sprintf("%s: %v", what, err), true)
		return
	}
	budget := x.Timeout
	if budget <= 0 {
		budget = execBudget
	}
	if _, err := c.hc.RunUntil(ctx, start+budget, p.Exited); err != nil {
		report(fmt.Sprintf("%s: the branch stopped: %v", what, err), true)
		return
	}
	var b strings.Builder
	if !p.Exited() {
		fmt.Fprintf(&b, "%s: still running after %v of virtual time; killed\n", what, budget)
		p.Kill()
	} else {
		s := p.Summary()
		fmt.Fprintf(&b, "%s: exit %d after %v (virtual)", what, s.ExitCode, p.Ended()-start)
		if s.Signal != 0 {
			fmt.Fprintf(&b, ", %s", signalName(s.Signal))
		}
		b.WriteString("\n")
	}
	for _, o := range []struct {
		name string
		buf  *bytes.Buffer
	}{{"stdout", &stdout}, {"stderr", &stderr}} {
		if o.buf.Len() > 0 {
			fmt.Fprintf(&b, "--- %s\n%s", o.name, o.buf.String())
			if !bytes.HasSuffix(o.buf.Bytes(), []byte("\n")) {
				b.WriteString("\n")
			}
		}
	}
	report(strings.TrimRight(b.String(), "\n"), false)
}

// tap passes a process's output on and, while buf is set, keeps a copy:
// how a branch collects what a Go process prints on SIGQUIT.
type tap struct {
	w   io.Writer
	buf *bytes.Buffer
}

func (t *tap) Write(b []byte) (int, error) {
	if t.buf != nil {
		t.buf.Write(b)
	}
	return t.w.Write(b)
}

// writeLook writes a look's text to file.
func writeLook(file, text string) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	return os.WriteFile(file, []byte(text), 0o644)
}

// threadDump reports every live process's threads: registers and stacks.
// It only reads, so it runs as an observer at the moment itself.
func (c *cluster) threadDump(m *Moment, report func(string, bool)) {
	var all strings.Builder
	procs := 0
	for _, n := range c.order {
		for _, p := range n.n.Processes() {
			d, err := p.Dump()
			if err != nil {
				fmt.Fprintf(&all, "node %s pid %d: %v\n", n.svc.Name, p.Pid(), err)
				continue
			}
			d.Write(&all)
			procs++
		}
	}
	file := filepath.Join(m.dir(c.cfg.Seed), "threads.txt")
	if err := writeLook(file, all.String()); err != nil {
		report(fmt.Sprintf("threads: %v", err), true)
		return
	}
	report(fmt.Sprintf("threads of %d processes at %v (in %s):\n%s", procs, c.hc.Now(), file, strings.TrimRight(all.String(), "\n")), false)
}

// logTail is how many lines of a node's output a log look shows.
const logTail = 20

// logLook copies a service's output up to the moment and reports its end.
func (c *cluster) logLook(m *Moment, svc string, report func(string, bool)) {
	var b strings.Builder
	for _, stream := range []string{"stdout", "stderr"} {
		data, err := os.ReadFile(filepath.Join(c.cfg.Dir, "nodes", svc+"."+stream))
		if err != nil {
			report(fmt.Sprintf("log %s: %v", svc, err), true)
			return
		}
		file := filepath.Join(m.dir(c.cfg.Seed), svc+"."+stream)
		if err := writeLook(file, string(data)); err != nil {
			report(fmt.Sprintf("log %s: %v", svc, err), true)
			return
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(data) == 0 {
			lines = nil
		}
		fmt.Fprintf(&b, "log %s %s up to %v: %d lines in %s", svc, stream, c.hc.Now(), len(lines), file)
		if len(lines) > logTail {
			fmt.Fprintf(&b, "; the last %d:", logTail)
			lines = lines[len(lines)-logTail:]
		}
		b.WriteString("\n")
		for _, l := range lines {
			b.WriteString("  " + l + "\n")
		}
	}
	report(strings.TrimRight(b.String(), "\n"), false)
}
