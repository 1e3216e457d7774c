package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/mvrun/multiverse/internal/seeds"
	"github.com/mvrun/multiverse/runner"
	"github.com/mvrun/multiverse/runner/hvbackend"
	"github.com/mvrun/multiverse/specs"
)

const debugHelp = `Moving (nothing runs until you look):
  at MOMENT          go to 12.5s, first-failure, fail:PROPERTY or event:N
  back D, forward D  move by a duration (back 2s)
  next fault, prev fault, next fail, prev fail
                     go to the seed's next or previous fault action or failing assertion
  where              the moment and the seed's timeline entries just before it
Looking (each replays the seed up to the moment, exactly, and stops there):
  dump               a thread dump of every process (Go: every goroutine)
  files SVC:/PATH    copy a node's files as they are, naming what is not yet durable
  exec SVC ARGV...   run a command in a node, in a branch
  log SVC            a node's output up to the moment
  pcap FILE          every message between nodes up to the moment, as pcapng
  strace SVC [A..B]  a node's system calls in a window (default: the second before the moment)
  help, quit
`

// cmdDebug runs `mvrun debug`: a prompt that moves through a recorded
// seed and looks at it. Every look is a replay to the moment (exact on
// hv), so going back costs what going forward does.
func cmdDebug(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mvrun debug", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var testName, seedFlag, runs, startAt string
	var verbose bool
	fs.StringVar(&testName, "test", "", "name of the test, when the spec has several")
	fs.StringVar(&seedFlag, "seed", "", "the seed to debug, as a report printed it (required)")
	fs.StringVar(&runs, "runs", runsDir, "directory of earlier runs, where the seed's record is")
	fs.StringVar(&startAt, "at", "", "the moment to start at: 12.5s, first-failure, fail:PROPERTY or event:N (the HTML report's rows give it)")
	fs.BoolVar(&verbose, "v", false, "log what the runner and backend do to stderr")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: mvrun debug spec.hcl --seed S [--at MOMENT]\n\nA prompt to move through a recorded seed on hv and look at it at any moment.\n\n"+debugHelp+"\n")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if len(pos) != 1 || seedFlag == "" {
		fmt.Fprintln(stderr, "mvrun debug: want one spec file and --seed S")
		return exitUsage
	}
	seed, err := seeds.Parse(seedFlag)
	if err != nil {
		fmt.Fprintf(stderr, "mvrun debug: --seed: %v\n", err)
		return exitUsage
	}
	_, t, code := loadTest(ctx, "debug", pos[0], testName, stderr)
	if t == nil {
		return code
	}
	dir, traceLog, err := recorded(runs, t, seeds.Format(seed))
	if err != nil {
		fmt.Fprintf(stderr, "mvrun debug: %v\n", err)
		return exitUsage
	}
	level := slog.LevelError
	if verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	// Travel: each replay to a moment leaves snapshots, and a later look
	// resumes from the nearest one before its moment.
	b := hvbackend.New(hvbackend.Options{Log: log, Travel: hvbackend.NewTravel()})
	if err := b.Available(ctx); err != nil {
		fmt.Fprintf(stderr, "mvrun debug: %v\n", err)
		return exitInfra
	}
	out := filepath.Join(".mvrun", "debug", time.Now().UTC().Format("20060102-150405.000")+"-"+t.Name)
	if err := b.Prepare(ctx, t, filepath.Join(out, "work")); err != nil {
		fmt.Fprintf(stderr, "mvrun debug: %v\n", err)
		return exitInfra
	}
	d := &debugger{ctx: ctx, t: t, seed: seed, dir: dir, traceLog: traceLog, runs: runs, b: b, out: out, log: log, w: stdout}
	d.end = d.seedEnd()
	fmt.Fprintf(stdout, "mvrun debug: seed %s of test %q, recorded in %s; it ran %v. Type help for commands.\n", seeds.Format(seed), t.Name, dir, d.end)
	if startAt != "" {
		if err := d.do("at " + startAt); err != nil {
			fmt.Fprintf(stderr, "mvrun debug: --at: %v\n", err)
			return exitUsage
		}
	}
	sc := bufio.NewScanner(stdin)
	bad := false
	for {
		fmt.Fprintf(stdout, "(at %v) ", d.at)
		if !sc.Scan() {
			fmt.Fprintln(stdout)
			break
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fmt.Fprintln(stdout, line) // echo, so a piped session reads as typed
		if line == "quit" || line == "exit" || line == "q" {
			break
		}
		if err := d.do(line); err != nil {
			fmt.Fprintf(stdout, "error: %v\n", err)
			bad = true
		}
		if ctx.Err() != nil {
			return exitInfra
		}
	}
	if bad {
		return exitUsage
	}
	return exitOK
}

// debugger is the state of a debug session.
type debugger struct {
	ctx      context.Context
	t        *specs.Test
	seed     uint64
	dir      string // the recorded seed's artifacts
	traceLog string // and its trace log
	runs     string
	b        *hvbackend.Backend
	out      string
	log      *slog.Logger
	w        io.Writer
	at       time.Duration
	end      time.Duration // the recorded seed's last virtual time
	looks    int
}

// seedEnd reads the recorded seed's last virtual time from its trace log.
func (d *debugger) seedEnd() time.Duration {
	tl, err := timeline(d.dir)
	if err != nil || len(tl) == 0 {
		return 0
	}
	return time.Duration(tl[len(tl)-1].AtNS)
}

// move goes to a moment, checking it lies within the seed.
func (d *debugger) move(to time.Duration) error {
	if to < 0 {
		to = 0
	}
	if d.end > 0 && to > d.end {
		return fmt.Errorf("%v is past the end of the seed (%v)", to, d.end)
	}
	d.at = to
	return nil
}

func (d *debugger) do(line string) error {
	f := strings.Fields(line)
	cmd, args := f[0], f[1:]
	arg := strings.Join(args, " ")
	switch cmd {
	case "help", "h", "?":
		fmt.Fprint(d.w, debugHelp)
		return nil
	case "at", "goto":
		if arg == "" {
			return errors.New("at MOMENT: want 12.5s, first-failure, fail:PROPERTY or event:N")
		}
		to, err := resolveMoment(arg, d.t, d.runs, seeds.Format(d.seed))
		if err != nil {
			return err
		}
		return d.move(to)
	case "back", "forward", "fwd":
		by, err := time.ParseDuration(arg)
		if err != nil {
			return fmt.Errorf("%s DURATION: %q is not a duration like 2s", cmd, arg)
		}
		if cmd == "back" {
			by = -by
		}
		return d.move(d.at + by)
	case "next", "prev":
		return d.step(cmd == "next", arg)
	case "where":
		return d.where()
	case "dump":
		return d.look(&hvbackend.Moment{Dump: true})
	case "files":
		if len(args) != 1 {
			return errors.New("files SERVICE:/PATH")
		}
		return d.look(&hvbackend.Moment{Files: args})
	case "exec":
		if len(args) < 2 {
			return errors.New("exec SERVICE ARGV…")
		}
		return d.look(&hvbackend.Moment{Exec: &hvbackend.ExecLook{Service: args[0], Argv: args[1:]}})
	case "log":
		if len(args) != 1 {
			return errors.New("log SERVICE")
		}
		return d.look(&hvbackend.Moment{Logs: args})
	case "pcap":
		if len(args) != 1 {
			return errors.New("pcap FILE")
		}
		return d.look(&hvbackend.Moment{Pcap: args[0]})
	case "strace":
		if len(args) < 1 || len(args) > 2 {
			return errors.New("strace SERVICE [FROM..TO]")
		}
		from, to := max(d.at-time.Second, 0), d.at
		if len(args) == 2 {
			var err error
			if from, to, err = parseWindow(args[1]); err != nil {
				return err
			}
			if to > d.at {
				return fmt.Errorf("the window ends at %v, after the moment %v: go there first", to, d.at)
			}
		}
		return d.look(&hvbackend.Moment{Strace: &hvbackend.StraceLook{Service: args[0], From: from, To: to}})
	}
	return fmt.Errorf("unknown command %q (help lists them)", cmd)
}

// step moves to the next or previous fault action or failing assertion.
func (d *debugger) step(forward bool, what string) error {
	var times []time.Duration
	switch what {
	case "fault":
		tl, err := timeline(d.dir)
		if err != nil {
			return err
		}
		for _, r := range tl {
			if r.Kind == runner.TLFault {
				times = append(times, time.Duration(r.AtNS))
			}
		}
	case "fail":
		var err error
		if times, err = failureTimes(filepath.Join(d.dir, "events.jsonl")); err != nil {
			return err
		}
	default:
		return errors.New("next|prev fault|fail")
	}
	if forward {
		for _, at := range times {
			if at > d.at {
				return d.move(at)
			}
		}
	} else {
		for i := len(times) - 1; i >= 0; i-- {
			if times[i] < d.at {
				return d.move(times[i])
			}
		}
	}
	dir := "after"
	if !forward {
		dir = "before"
	}
	return fmt.Errorf("no %s %s %v in the seed", what, dir, d.at)
}

// where prints the moment and the timeline entries just before it.
func (d *debugger) where() error {
	tl, err := timeline(d.dir)
	if err != nil {
		return err
	}
	var before []string
	for i, r := range tl {
		if time.Duration(r.AtNS) > d.at {
			break
		}
		before = append(before, fmt.Sprintf("  event:%d %v %s: %s", i+1, time.Duration(r.AtNS), r.Who, r.Text))
	}
	fmt.Fprintf(d.w, "at %v of %v; the last entries of the timeline up to here:\n", d.at, d.end)
	for _, l := range before[max(len(before)-5, 0):] {
		fmt.Fprintln(d.w, l)
	}
	return nil
}

// look replays the seed to the moment with m's looks, stopping there.
func (d *debugger) look(m *hvbackend.Moment) error {
	for _, svc := range m.Services() {
		if d.t.Project.Service(svc) == nil {
			return fmt.Errorf("no service %q (services: %s)", svc, strings.Join(d.t.Project.ServiceNames(), ", "))
		}
	}
	for _, f := range m.Files {
		if _, _, err := hvbackend.ParseFileSpec(f); err != nil {
			return err
		}
	}
	d.looks++
	dir := filepath.Join(d.out, fmt.Sprintf("look-%d", d.looks))
	c := &momentCapture{}
	m.At, m.Stop, m.OutDir, m.Report = d.at, true, filepath.Join(dir, "moment"), c.report
	began := time.Now()
	oc, err := runner.Run(d.ctx, runner.Options{Test: d.t, Backend: d.b.WithMoment(m), Seeds: []uint64{d.seed}, Jobs: 1, Log: d.log, OutDir: dir})
	if err != nil && oc == nil {
		return err
	}
	if len(oc.Seeds) == 1 {
		so := oc.Seeds[0]
		line, _ := branchCheck(d.traceLog, filepath.Join(so.Dir, so.TraceLog))
		how := "replayed"
		if so.ResumedAt > 0 {
			how = fmt.Sprintf("resumed at %v from a snapshot of an earlier replay,", so.ResumedAt.Round(time.Millisecond))
		}
		fmt.Fprintf(d.w, "%s (%s in %v)\n", line, how, time.Since(began).Round(100*time.Millisecond))
		if so.Err != nil {
			return so.Err
		}
	}
	printLooks(d.w, c)
	if c.bad {
		return errors.New("a look failed")
	}
	return nil
}
