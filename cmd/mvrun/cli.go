package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mvrun/multiverse/assertions"
	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/hv/hvcli"
	"github.com/mvrun/multiverse/internal/catalog"
	"github.com/mvrun/multiverse/internal/seeds"
	"github.com/mvrun/multiverse/runner"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/runner/docker"
	"github.com/mvrun/multiverse/runner/hvbackend"
	"github.com/mvrun/multiverse/runner/process"
	"github.com/mvrun/multiverse/runner/report"
	"github.com/mvrun/multiverse/specs"
)

// env is what one run of mvrun takes from outside its arguments. main
// fills it from the process; tests build their own (a fake backend, a
// program name), so no command reads or swaps package state and tests
// that need no shared working directory can run in parallel.
type env struct {
	// program is how the replay commands in reports call mvrun: ""
	// ("mvrun") unless main finds that the mvrun in PATH is not the
	// binary running.
	program string
	// backends makes the backend called name; nil means [newBackend].
	backends backendFactory
	// stdin is what `mvrun debug` reads its commands from; nil means
	// no input.
	stdin io.Reader
}

// backendFactory returns the backend called name, logging to log.
type backendFactory func(name string, log *slog.Logger) (backend.Backend, error)

// newBackend is the factory of the real backends.
func (e env) newBackend(name string, log *slog.Logger) (backend.Backend, error) {
	if e.backends != nil {
		return e.backends(name, log)
	}
	return newBackend(name, log)
}

// invokedAs returns how a replay command should call the binary started as
// arg0: "" (meaning "mvrun") when arg0 was found through PATH or is the
// same file as PATH's mvrun, else arg0 as given (e.g. "./bin/mvrun"), which
// works from the directory the run started in, as the spec path does.
func invokedAs(arg0 string) string {
	if !strings.Contains(arg0, "/") {
		return ""
	}
	self, err := os.Stat(arg0)
	if err != nil {
		return ""
	}
	if p, err := exec.LookPath("mvrun"); err == nil {
		if st, err := os.Stat(p); err == nil && os.SameFile(self, st) {
			return ""
		}
	}
	return arg0
}

// runsDir is where runs keep their artifacts and result.json by default.
const runsDir = ".mvrun/runs"

const usage = `usage: mvrun <command> [arguments]

Commands:
  test spec.hcl [flags]        run a test over many seeds and report the properties
  test spec.hcl --explore      search a tree of branches guided by SDK lines instead of independent seeds (hv)
  test --compose FILE [flags]  run an Antithesis-style harness (test-composer templates) with no spec
  replay spec.hcl --seed S     run one seed again and compare it with the run that found it
                               (hv: --at MOMENT with --dump, --files, --exec, --pcap, --log; --strace)
  explore spec.hcl --seed S    branch a failing seed at moments and count how many futures still fail
  debug spec.hcl --seed S      move through a seed and look at it, at a prompt
  shrink spec.hcl --seed ID    make a failing run's fault schedule minimal and name the faults it needs
  report merge a.json b.json   merge the reports of the shards of one run (test --shard I/N)
  validate spec.hcl            check a spec and the compose project it names
  catalog [flags] packages     generate the SDK assertion catalog of Go main packages
  hv run [flags] ./binary      run one static binary under the deterministic hypervisor
  doctor                       check which backends this host can run
  version                      print mvrun's version

Run 'mvrun <command> -h' for a command's flags.
Exit codes: 0 every property held, 1 a property failed or a history check was
undecided, 2 usage or spec error (or an unreadable history), 3 infrastructure
error (backend unavailable, preparing the services failed, shards missing).
`

// Main runs mvrun with args (without the program name) and returns the exit
// code, with the real backends, no standard input and replay commands that
// call "mvrun". ctx ending is a graceful interrupt.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return env{}.main(ctx, args, stdout, stderr)
}

// main runs mvrun with args in e; see [Main].
func (e env) main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "test":
		if hasFlag(rest, "explore") || hasFlag(rest, "random") {
			return cmdSearch(ctx, rest, stdout, stderr)
		}
		return e.cmdTest(ctx, rest, stdout, stderr, false)
	case "replay":
		return e.cmdTest(ctx, rest, stdout, stderr, true)
	case "explore":
		return cmdExplore(ctx, rest, stdout, stderr)
	case "shrink":
		return e.cmdShrink(ctx, rest, stdout, stderr)
	case "debug":
		stdin := e.stdin
		if stdin == nil {
			stdin = strings.NewReader("")
		}
		return cmdDebug(ctx, rest, stdin, stdout, stderr)
	case "validate":
		return cmdValidate(ctx, rest, stdout, stderr)
	case "report":
		return cmdReport(ctx, rest, stdout, stderr)
	case "catalog":
		return exitCatalog(catalog.Main(ctx, rest, stdout, stderr))
	case "hv":
		code, err := hvcli.Main(ctx, rest, stdout, stderr)
		return exitHV(code, err, stderr)
	case "doctor":
		return e.cmdDoctor(ctx, rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
		return exitOK
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "mvrun: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}

// parseInterspersed parses flags that may come before or after positional
// arguments (`mvrun test spec.hcl --seeds 5`), which package flag alone
// does not allow.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// testFlags are the flags of `mvrun test` and `mvrun replay`.
type testFlags struct {
	test, seed, backend, junit, html, out, runs string
	shard                                       string
	seeds, jobs                                 int
	json, verbose, htmlAll                      bool
	compose                                     bool // the argument is a compose file, not a spec
	moment                                      momentFlags
}

func (e env) cmdTest(ctx context.Context, args []string, stdout, stderr io.Writer, replay bool) int {
	name := "test"
	if replay {
		name = "replay"
	}
	f, specPath, code, done := parseTestFlags(name, args, stderr, replay)
	if done {
		return code
	}
	sel, code := parseSeedSelection(name, &f, replay, stderr)
	if code != exitOK {
		return code
	}
	if code := checkRunFlags(name, f, &sel, stderr); code != exitOK {
		return code
	}
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := checkOutputs(f); err != nil {
		fmt.Fprintf(stderr, "mvrun %s: %v\n", name, err)
		return exitUsage
	}
	spec, t, code := loadTestOrCompose(ctx, name, specPath, f, stderr)
	if t == nil {
		return code
	}
	b, look, code := e.chooseBackend(ctx, name, f, t, sel, log, stderr)
	if code != exitOK {
		return code
	}
	sweepOthers(ctx, e.newBackend, b.Name(), log)
	if ctx.Err() != nil {
		// Nothing has started yet: stop here rather than begin a run.
		fmt.Fprintf(stderr, "mvrun %s: interrupted before the run started\n", name)
		return exitInfra
	}
	opts, code := runOptions(name, f, t, b, &sel, replay, log, stderr)
	if code != exitOK {
		return code
	}
	if look.moment != nil {
		look.moment.OutDir = filepath.Join(opts.OutDir, "moment")
	}

	oc, err := runner.Run(ctx, opts)
	// Backends release what they keep for the whole run (the docker
	// backend's images) once every seed is done, even after an interrupt.
	if cerr := b.Close(context.WithoutCancel(ctx)); cerr != nil {
		log.Warn("closing the backend", "backend", b.Name(), "err", cerr)
	}
	if look.moment != nil && look.moment.Branches() && oc != nil {
		return replayBranched(oc, look.moment, look.capture, f.moment.at, f.runs, t, sel.base, stdout)
	}
	if err != nil && oc == nil {
		fmt.Fprintf(stderr, "mvrun %s: %v\n", name, err)
		if errors.Is(err, runner.ErrInfrastructure) {
			return exitInfra
		}
		return exitUsage
	}
	return e.reportTest(name, specPath, f, spec, t, sel, look, replay, oc, err, stdout, stderr)
}

// parseTestFlags parses the flags of `mvrun test` or `mvrun replay` (name)
// and returns them with the spec (or compose) path. done means the
// command ends here with code (-h, a bad flag, a wrong number of
// arguments).
func parseTestFlags(name string, args []string, stderr io.Writer, replay bool) (f testFlags, path string, code int, done bool) {
	fs := flag.NewFlagSet("mvrun "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.test, "test", "", "name of the test to run, when the spec has several")
	fs.StringVar(&f.backend, "backend", "", "backend: auto, hv, process or docker (default: the spec's, else auto)")
	fs.StringVar(&f.out, "out", "", "artifacts directory of this run (default .mvrun/runs/<time>-<test>)")
	fs.BoolVar(&f.json, "json", false, "print the report as one JSON document on stdout")
	fs.StringVar(&f.junit, "junit", "", "also write a JUnit XML report to `file`")
	fs.StringVar(&f.html, "html", "", "also write an HTML report into `dir`: a run page and a timeline page per failing seed")
	fs.BoolVar(&f.htmlAll, "html-all-seeds", false, "with --html, write a timeline page for every seed, not only failing ones")
	fs.BoolVar(&f.verbose, "v", false, "log what the runner and backend do to stderr")
	fs.IntVar(&f.jobs, "jobs", 0, "seeds to run at once (default one per two cores; one per core on hv)")
	fs.BoolVar(&f.compose, "compose", false, "the argument is a docker compose file to run with no spec: its workload is the test-composer templates in "+specs.DefaultTemplatesDir+" of its services, its faults mvrun's defaults")
	if replay {
		fs.StringVar(&f.seed, "seed", "", "the seed to replay, as printed by `mvrun test` (required)")
		fs.StringVar(&f.runs, "runs", runsDir, "directory of earlier runs to compare with")
		fs.StringVar(&f.moment.at, "at", "", "hv: a moment of the seed to look at: a virtual time (12.5s), first-failure or fail:PROPERTY")
		fs.StringVar(&f.moment.pcap, "pcap", "", "hv, with --at: write every message between nodes up to the moment to `file` as pcapng")
		fs.Var(&f.moment.files, "files", "hv, with --at: copy `SERVICE:/path` from that node as it is at the moment into the replay's artifacts (repeatable)")
		fs.BoolVar(&f.moment.dump, "dump", false, "hv, with --at: a thread dump of every process at the moment (registers, stacks; every goroutine of Go processes, in a branch of the replay)")
		fs.StringVar(&f.moment.exec, "exec", "", "hv, with --at: run the command after -- in node `SERVICE` at the moment, in a branch of the replay, and show its output")
		fs.StringVar(&f.moment.strace, "strace", "", "hv: the system calls of node `SERVICE`'s processes in --window")
		fs.StringVar(&f.moment.window, "window", "", "hv, with --strace: the window of virtual time, `FROM..TO` (e.g. 10s..12.5s)")
		fs.Var(&f.moment.logs, "log", "hv, with --at: show `SERVICE`'s output up to the moment (repeatable)")
		fs.Usage = func() {
			fmt.Fprint(stderr, "usage: mvrun replay spec.hcl --seed S [flags]\n\nRuns one seed again and says whether the same properties failed and the same faults were injected as in the run that recorded it.\n\n")
			fs.PrintDefaults()
		}
	} else {
		fs.StringVar(&f.seed, "seed", "", "base seed: seed 0 of the run; the others derive from it (default: from the clock, printed)")
		fs.IntVar(&f.seeds, "seeds", 0, "how many seeds to run (default: the spec's seeds)")
		fs.StringVar(&f.shard, "shard", "", "run only the `I/N`-th of N disjoint slices of the seeds (1 <= I <= N; needs --seed); merge the shards' --json reports with `mvrun report merge`")
		fs.Usage = func() {
			fmt.Fprint(stderr, "usage: mvrun test spec.hcl [flags]\n\nRuns the test over many seeds and reports every property with the seeds that break it.\n\n")
			fs.PrintDefaults()
		}
	}
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return f, "", exitOK, true
	}
	if err != nil {
		return f, "", exitUsage, true
	}
	if replay && f.moment.exec != "" && len(pos) > 1 {
		pos, f.moment.execArgv = pos[:1], pos[1:]
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "mvrun %s: want exactly one spec file (or, with --compose, one compose file), got %d arguments\n", name, len(pos))
		fs.Usage()
		return f, "", exitUsage, true
	}
	return f, pos[0], exitOK, false
}

// seedSelection is which seeds a test or replay runs: the base seed (set
// when haveSeed; else drawn from the clock by [runOptions]), a branch of
// it or edits of its schedule (replay), or a shard of the seeds.
type seedSelection struct {
	base          uint64
	haveSeed      bool
	branch        *hvbackend.Branch
	edits         faults.Edits
	shard, shards int
}

// parseSeedSelection reads --seed (with a replay's branch id or schedule
// edits). It runs before the spec is loaded: a bad seed is a usage error
// whatever the spec says.
func parseSeedSelection(name string, f *testFlags, replay bool, stderr io.Writer) (seedSelection, int) {
	sel := seedSelection{haveSeed: f.seed != ""}
	var err error
	if replay {
		if f.seed, sel.edits, err = splitEdits(f.seed); err != nil {
			fmt.Fprintf(stderr, "mvrun replay: --seed: %v\n", err)
			return sel, exitUsage
		}
		bs, br, ok, err := hvbackend.ParseBranchID(f.seed)
		if err != nil {
			fmt.Fprintf(stderr, "mvrun replay: --seed: %v\n", err)
			return sel, exitUsage
		}
		if ok {
			sel.base, sel.branch = bs, &br
		}
	}
	switch {
	case sel.branch != nil:
	case sel.haveSeed:
		if sel.base, err = seeds.Parse(f.seed); err != nil {
			fmt.Fprintf(stderr, "mvrun %s: --seed: %v\n", name, err)
			return sel, exitUsage
		}
	case replay:
		fmt.Fprintf(stderr, "mvrun replay: --seed is required (the seed a report printed, e.g. --seed 0x5eed...)\n")
		return sel, exitUsage
	}
	return sel, exitOK
}

// checkRunFlags checks the counts, reads --shard into sel and checks the
// backend name, in that order.
func checkRunFlags(name string, f testFlags, sel *seedSelection, stderr io.Writer) int {
	if f.seeds < 0 || f.jobs < 0 {
		fmt.Fprintf(stderr, "mvrun %s: --seeds and --jobs must not be negative\n", name)
		return exitUsage
	}
	if f.shard != "" {
		var err error
		if sel.shard, sel.shards, err = parseShard(f.shard); err != nil {
			fmt.Fprintf(stderr, "mvrun test: --shard: %v\n", err)
			return exitUsage
		}
		if !sel.haveSeed {
			fmt.Fprintf(stderr, "mvrun test: --shard needs --seed: every shard must slice the same seed list (e.g. --seed 0x5eed, or the CI run's number)\n")
			return exitUsage
		}
	}
	if f.backend != "" && !slices.Contains(backendNames(), f.backend) {
		fmt.Fprintf(stderr, "mvrun %s: --backend %q: want one of %s\n", name, f.backend, strings.Join(backendNames(), ", "))
		return exitUsage
	}
	return exitOK
}

// loadTestOrCompose loads the test to run: from the spec at path, or, with
// --compose, from the compose file at path. On failure it returns a nil
// test and the exit code.
func loadTestOrCompose(ctx context.Context, name, path string, f testFlags, stderr io.Writer) (*specs.Spec, *specs.Test, int) {
	if !f.compose {
		return loadTest(ctx, name, path, f.test, stderr)
	}
	ct, err := specs.FromCompose(ctx, path)
	if err != nil {
		fmt.Fprintf(stderr, "mvrun %s: %v\n", name, err)
		return nil, nil, exitUsage
	}
	spec := &specs.Spec{File: path, Tests: []*specs.Test{ct}}
	t, err := spec.Test(f.test)
	if err != nil {
		fmt.Fprintf(stderr, "mvrun %s: %v\n", name, err)
		return nil, nil, exitUsage
	}
	return spec, t, exitOK
}

// replayLook is what a replay looks at inside the run (hv only): the
// moment and what it captures there. Both are nil for a plain run.
type replayLook struct {
	moment  *hvbackend.Moment
	capture *momentCapture
}

// chooseBackend picks the backend of the run (--backend, else the spec's,
// else auto) and, for a replay that looks at a moment or runs a branch,
// the hv backend set up for that look.
func (e env) chooseBackend(ctx context.Context, name string, f testFlags, t *specs.Test, sel seedSelection, log *slog.Logger, stderr io.Writer) (backend.Backend, replayLook, int) {
	var look replayLook
	want := f.backend
	if want == "" {
		want = t.Backend
	}
	b, why, err := selectBackend(ctx, e.newBackend, want, t, log)
	if err != nil {
		fmt.Fprintf(stderr, "mvrun %s: %v\n", name, err)
		return nil, look, exitInfra
	}
	if f.moment.asked() || sel.branch != nil {
		if b.Name() != "hv" {
			fmt.Fprintf(stderr, "mvrun replay: moments and branches (--at, --pcap, --files, --dump, --exec, --strace, --log, a branch id) look inside a replay, which only the hv backend replays exactly (this run uses %s); add --backend hv\n", b.Name())
			return nil, look, exitUsage
		}
		if f.moment.asked() {
			if sel.branch != nil {
				fmt.Fprintf(stderr, "mvrun replay: looks at a moment (--at …) replay a seed, not a branch of one; replay the branch without them\n")
				return nil, look, exitUsage
			}
			look.moment, look.capture, err = buildMoment(f.moment, t, f.runs, seeds.Format(sel.base))
			if err != nil {
				fmt.Fprintf(stderr, "mvrun replay: %v\n", err)
				return nil, look, exitUsage
			}
		}
		b = hvbackend.New(hvbackend.Options{Log: log, Moment: look.moment, Branch: sel.branch})
	}
	if why != "" {
		fmt.Fprintf(stderr, "mvrun: backend %s (%s)\n", b.Name(), why)
	}
	return b, look, exitOK
}

// runOptions builds the runner's options: the seeds (one for a replay,
// a count from the base seed, or a shard of them), the jobs and the
// artifacts directory. It draws the base seed from the clock when none
// was given, and says on stderr what it runs.
func runOptions(name string, f testFlags, t *specs.Test, b backend.Backend, sel *seedSelection, replay bool, log *slog.Logger, stderr io.Writer) (runner.Options, int) {
	if !sel.haveSeed {
		sel.base = seeds.Derive(uint64(time.Now().UnixNano()), "base")
	}
	jobs := f.jobs
	if jobs == 0 && b.Name() == "hv" {
		// An hv seed is one busy host thread (no services of its own
		// waiting on host time), so one per core keeps the machine busy.
		jobs = runtime.NumCPU()
	}
	opts := runner.Options{Test: t, Backend: b, Jobs: jobs, Log: log, Progress: stderr, OutDir: f.out}
	base := sel.base
	if replay {
		opts.Seeds = []uint64{base}
		if !sel.edits.Empty() {
			opts.EditPlan = sel.edits.Apply
		}
		fmt.Fprintf(stderr, "mvrun: replaying seed %s of test %q\n", seeds.Format(base), t.Name)
	} else {
		opts.BaseSeed, opts.Count = base, f.seeds
		if opts.Count == 0 {
			opts.Count = max(t.Seeds, 1)
		}
		if sel.shards > 0 {
			if n := len(runner.ShardSeeds(opts.Count, sel.shard, sel.shards)); n == 0 {
				fmt.Fprintf(stderr, "mvrun test: --shard %s: shard %d of %d seeds would run no seed; use at most %d shards\n", f.shard, sel.shard, opts.Count, opts.Count)
				return opts, exitUsage
			}
			opts.Shard, opts.Shards = sel.shard, sel.shards
		}
		what := fmt.Sprintf("%d seeds", opts.Count)
		if opts.Count == 1 {
			what = "1 seed"
		}
		fmt.Fprintf(stderr, "mvrun: test %q, %s from base seed %s (--seed %s runs them again)\n",
			t.Name, what, seeds.Format(base), seeds.Format(base))
	}
	if opts.OutDir == "" {
		suffix := ""
		if replay {
			suffix = "-replay-" + fmt.Sprintf("%016x", base)
		}
		var err error
		if sel.branch != nil || !sel.edits.Empty() {
			// Not among the runs: a branch's record must not stand for its seed's.
			opts.OutDir = branchOutDir(t.Name, time.Now())
		} else if opts.OutDir, err = runner.NewOutDir(".", t.Name+suffix, time.Now()); err != nil {
			fmt.Fprintf(stderr, "mvrun %s: %v\n", name, err)
			return opts, exitInfra
		}
	}
	return opts, exitOK
}

// reportTest writes the run's reports, compares a replay with the run it
// replays, shows a moment's captures and returns the exit code: bad
// history input first (2), then a failed property (1), then a report
// that could not be written, an undecided property, infrastructure
// errors and interruptions.
func (e env) reportTest(name, specPath string, f testFlags, spec *specs.Spec, t *specs.Test, sel seedSelection, look replayLook,
	replay bool, oc *runner.Outcome, runErr error, stdout, stderr io.Writer) int {
	var flags []string
	if f.compose {
		flags = append(flags, "--compose")
	}
	if f.backend != "" && f.backend != t.Backend && f.backend != "auto" {
		flags = append(flags, "--backend", f.backend)
	}
	if len(spec.Tests) > 1 {
		flags = append(flags, "--test", t.Name)
	}
	ropts := report.Options{Spec: specPath, ReplayFlags: flags, Program: e.program, Replay: replay, SpecDigest: t.Digest}
	if replay && (sel.branch != nil || !sel.edits.Empty()) {
		ropts.ReplayID = joinID(sel.base, sel.branch, sel.edits)
	}
	if sel.shards > 0 {
		var err error
		if ropts.SpecHash, err = report.HashSpec(t); err != nil {
			fmt.Fprintf(stderr, "mvrun test: %v\n", err)
			return exitUsage
		}
	}
	doc := report.FromOutcome(oc, ropts)
	if serr := report.Store(oc.OutDir, doc); serr != nil {
		fmt.Fprintf(stderr, "mvrun: %v\n", serr)
	}
	code := writeReports(doc, f, stdout, stderr)
	switch {
	case sel.branch != nil || !sel.edits.Empty():
		compareBranch(doc, joinID(sel.base, sel.branch, sel.edits), f.json, stdout, stderr)
	case replay:
		compare(doc, f.runs, oc.OutDir, f.json, stdout, stderr)
	}
	if look.capture != nil {
		fmt.Fprintf(stdout, "\nAt %v (%s):\n", look.moment.At, f.moment.at)
		for _, l := range look.capture.lines {
			fmt.Fprintf(stdout, "  %s\n", l)
		}
		if look.capture.bad {
			return exitUsage
		}
	}
	switch {
	case len(doc.HistoryErrors) > 0:
		// Bad input from the workload: its checks failed for want of a
		// readable history, not because the system broke a property.
		fmt.Fprintf(stderr, "mvrun %s: %d histories could not be checked (bad history lines from the workload); first: %s\n", name, len(doc.HistoryErrors), doc.HistoryErrors[0])
		return exitUsage
	case doc.Failed():
		// A property failure is the news, even if a report file could
		// not be written (that error is on stderr).
		return exitFailed
	case code != exitOK:
		return code
	case doc.Undecided():
		return exitFailed
	case runErr != nil || len(doc.SeedErrors()) > 0:
		if runErr != nil {
			fmt.Fprintf(stderr, "mvrun %s: %v\n", name, runErr)
		}
		return exitInfra
	case oc.Cancelled:
		return exitInfra
	}
	return exitOK
}

// loadTest loads the spec at path for command cmd and picks the test
// named name (the only one when name is empty). Located diagnostics and
// warnings go to stderr; on failure it returns a nil spec and test and the exit
// code: exitUsage for a bad spec or test name, exitInfra when ctx ended
// while loading.
func loadTest(ctx context.Context, cmd, path, name string, stderr io.Writer) (*specs.Spec, *specs.Test, int) {
	spec, err := loadSpec(ctx, path)
	if errors.Is(err, errInterrupted) {
		fmt.Fprintf(stderr, "mvrun %s: interrupted while loading the spec\n", cmd)
		return nil, nil, exitInfra
	}
	if err != nil {
		var de *specs.DiagnosticsError
		if !errors.As(err, &de) || de.WriteText(stderr, 100, false) != nil {
			fmt.Fprintf(stderr, "mvrun %s: %v\n", cmd, err)
		}
		return nil, nil, exitUsage
	}
	if spec.Warnings != nil {
		_ = spec.Warnings.WriteText(stderr, 100, false)
	}
	t, err := spec.Test(name)
	if err != nil {
		fmt.Fprintf(stderr, "mvrun %s: %v; pick one with --test NAME\n", cmd, err)
		return nil, nil, exitUsage
	}
	return spec, t, exitOK
}

// errInterrupted is returned by [loadSpec] when ctx ends first.
var errInterrupted = errors.New("interrupted")

// loadSpec loads the spec at path, returning errInterrupted as soon as ctx
// ends: loading has no side effects to undo, and parts of it (compose-go
// reading an env file) cannot be interrupted, so one Ctrl-C must not wait
// for them.
func loadSpec(ctx context.Context, path string) (*specs.Spec, error) {
	type result struct {
		spec *specs.Spec
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := specs.Load(ctx, path)
		ch <- result{s, err}
	}()
	select {
	case r := <-ch:
		return r.spec, r.err
	case <-ctx.Done():
		return nil, errInterrupted
	}
}

// checkOutputs checks, before a run starts, that the report files asked
// for can be written, so that a bad path is not found after the whole run.
func checkOutputs(f testFlags) error {
	if f.junit != "" {
		// Open for writing without truncating, and remove what the probe
		// created: a run that stops early leaves no empty report behind.
		if dir := filepath.Dir(f.junit); dir != "." {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("--junit: %w", err)
			}
		}
		_, statErr := os.Stat(f.junit)
		fh, err := os.OpenFile(f.junit, os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			return fmt.Errorf("--junit: %w", err)
		}
		fh.Close()
		if statErr != nil {
			os.Remove(f.junit)
		}
	}
	if f.html != "" {
		if err := os.MkdirAll(f.html, 0o755); err != nil {
			return fmt.Errorf("--html: %w", err)
		}
		probe, err := os.CreateTemp(f.html, ".mvrun-probe-*")
		if err != nil {
			return fmt.Errorf("--html: %w", err)
		}
		probe.Close()
		os.Remove(probe.Name())
	}
	return nil
}

// writeReports writes the report in the formats asked for. It returns
// exitInfra if the report could not be written to stdout, exitUsage if a
// file the user named (--junit, --html) could not be written, else exitOK.
func writeReports(doc *report.Document, f testFlags, stdout, stderr io.Writer) int {
	code := exitOK
	var err error
	if f.json {
		err = report.WriteJSON(stdout, doc)
	} else {
		err = report.WriteText(stdout, doc)
	}
	if err != nil {
		fmt.Fprintf(stderr, "mvrun: writing the report: %v\n", err)
		code = exitInfra
	}
	if f.junit != "" {
		if err := writeFile(f.junit, func(w io.Writer) error { return report.WriteJUnit(w, doc) }); err != nil {
			fmt.Fprintf(stderr, "mvrun: --junit: %v\n", err)
			code = exitUsage
		}
	}
	if f.html != "" {
		if err := report.WriteHTMLWith(f.html, doc, report.HTMLOptions{AllSeeds: f.htmlAll}); err != nil {
			fmt.Fprintf(stderr, "mvrun: --html: %v\n", err)
			code = exitUsage
		}
	}
	return code
}

func writeFile(path string, write func(io.Writer) error) error {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(fh); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

// compare tells how a replayed seed compares with the newest earlier run
// that recorded it. It writes to stdout after a text report, to stderr
// when stdout holds the JSON document.
func compare(doc *report.Document, runs, self string, asJSON bool, stdout, stderr io.Writer) {
	w := stdout
	if asJSON {
		w = stderr
	}
	if len(doc.Seeds) != 1 {
		return
	}
	now := doc.Seeds[0]
	if now.Error != "" {
		return
	}
	prev, was, err := report.FindSeed(runs, doc.Test, now.Seed, self)
	fmt.Fprintln(w)
	if err != nil {
		fmt.Fprintf(w, "No earlier run of test %q under %s recorded seed %s.\n", doc.Test, runs, now.Seed)
		if len(now.Failing) == 0 {
			fmt.Fprintln(w, "Replay: every property held in this seed.")
		} else {
			fmt.Fprintf(w, "Replay: failing in this seed: %s\n", quoteList(now.Failing))
		}
		return
	}
	fmt.Fprintf(w, "Compared with the run in %s:\n", prev.Artifacts)
	switch {
	case prev.SpecDigest == "" || doc.SpecDigest == "":
	case prev.SpecDigest != doc.SpecDigest:
		// Stated first: every difference below may come from it.
		fmt.Fprintf(w, "  spec: DIFFERENT: that run used another spec or compose file for test %q (digest then %.12s, now %.12s); differences below need not mean nondeterminism\n",
			doc.Test, prev.SpecDigest, doc.SpecDigest)
	default:
		fmt.Fprintln(w, "  spec: same spec and compose files")
	}
	failing, alone := splitFailing(was.Failing, now.Failing, prev, doc)
	if slices.Equal(was.Failing, failing) {
		if len(failing) == 0 {
			fmt.Fprintln(w, "  properties: same (none failed, then or now)")
		} else {
			fmt.Fprintf(w, "  properties: same failures: %s\n", quoteList(failing))
		}
	} else {
		fmt.Fprintf(w, "  properties: DIFFERENT: then %s, now %s\n", quoteList(was.Failing), quoteList(failing))
	}
	if len(alone) > 0 {
		fmt.Fprintf(w, "  also failing in this seed alone: %s (Sometimes/Reachable properties the earlier run met across its seeds; judged on one seed they fail)\n", quoteList(alone))
	}
	compareTrace(w, was, &now)
	if was.FaultLogHash == now.FaultLogHash {
		fmt.Fprintf(w, "  fault log: identical (%d actions)\n", len(now.FaultLog))
		return
	}
	i := 0
	for i < len(was.FaultLog) && i < len(now.FaultLog) && was.FaultLog[i] == now.FaultLog[i] {
		i++
	}
	at := func(l []string) string {
		if i < len(l) {
			return fmt.Sprintf("%q", l[i])
		}
		return "(end of log)"
	}
	fmt.Fprintf(w, "  fault log: DIFFERENT from action %d: then %s, now %s\n", i+1, at(was.FaultLog), at(now.FaultLog))
}

// compareTrace says whether a replay on a backend that replays exactly
// (hv) reproduced the run bit for bit, and if not, where the two runs'
// trace logs first differ.
func compareTrace(w io.Writer, was, now *report.SeedDoc) {
	switch {
	case now.TraceHash == "":
		return
	case was.TraceHash == "":
		fmt.Fprintf(w, "  trace: %s now; the earlier run recorded none (another backend)\n", now.TraceHash)
		return
	case was.TraceHash == now.TraceHash:
		fmt.Fprintf(w, "  trace: replayed exactly (trace hash %s)\n", now.TraceHash)
		return
	}
	fmt.Fprintf(w, "  trace: DIVERGED: trace hash then %s, now %s\n", was.TraceHash, now.TraceHash)
	a, errA := os.ReadFile(was.TraceLog)
	b, errB := os.ReadFile(now.TraceLog)
	if errA != nil || errB != nil {
		fmt.Fprintf(w, "    (cannot compare the trace logs: %v)\n", errors.Join(errA, errB))
		return
	}
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	i := 0
	for i < len(la) && i < len(lb) && la[i] == lb[i] {
		i++
	}
	line := func(l []string) string {
		if i < len(l) && l[i] != "" {
			return describeTraceLine(l[i])
		}
		return "(end of log)"
	}
	after := "at the start"
	if i > 0 {
		after = "after " + describeTraceLine(la[i-1])
	}
	fmt.Fprintf(w, "    first divergence %s:\n      then %s\n      now  %s\n    (logs: %s, %s)\n", after, line(la), line(lb), was.TraceLog, now.TraceLog)
}

// describeTraceLine renders a trace log line for people.
func describeTraceLine(l string) string {
	f := strings.Fields(l)
	if len(f) != 4 {
		return l
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return l
	}
	kinds := map[string]string{"p": "process start", "x": "process exit", "h": "host action", "m": "SDK message",
		"K": "node kill", "P": "pause or partition", "R": "resume", "O": "clock offset", "H": "heal", "L": "link change"}
	k := kinds[f[2]]
	if k == "" {
		k = "checkpoint"
	}
	if f[1] == "end" {
		k = "end of run"
	}
	return fmt.Sprintf("%s at %v (event %s, hash %s)", k, time.Duration(ns), f[1], f[3])
}

// splitFailing separates, among the properties failing in a replayed seed
// (now), the existential ones (Sometimes, Reachable) that fail only because
// the replay judges them on this one seed, while the earlier run (prev, in
// which this seed failed then) saw them pass in other seeds. They are no
// difference from the earlier run. cur is the replay's document.
func splitFailing(then, now []string, prev, cur *report.Document) (failing, alone []string) {
	verdict := func(d *report.Document, id string) *report.PropertyDoc {
		for i := range d.Properties {
			if d.Properties[i].ID == id {
				return &d.Properties[i]
			}
		}
		return nil
	}
	for _, id := range now {
		p, was := verdict(cur, id), verdict(prev, id)
		existential := p != nil && (p.Type == assertions.TypeSometimes || p.DisplayType == "Reachable")
		if !slices.Contains(then, id) && existential && was != nil && was.Verdict == assertions.Pass {
			alone = append(alone, id)
			continue
		}
		failing = append(failing, id)
	}
	return failing, alone
}

func quoteList(ss []string) string {
	if len(ss) == 0 {
		return "none"
	}
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

func cmdValidate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mvrun validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: mvrun validate spec.hcl\n\nChecks a spec and the compose project it names, and prints a summary of each test.\n")
	}
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "mvrun validate: want exactly one spec file, got %d arguments\n", len(pos))
		return exitUsage
	}
	// Validate only reads files; on an interrupt, return at once rather
	// than wait for a read that may block.
	// It writes to buffers so that a load abandoned here never writes to
	// stdout or stderr later.
	var out, errOut bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- specs.Validate(ctx, pos[0], &out, &errOut) }()
	select {
	case err := <-done:
		errOut.WriteTo(stderr)
		out.WriteTo(stdout)
		if err != nil {
			return exitUsage // the spec or its compose project is wrong
		}
		return exitOK
	case <-ctx.Done():
		fmt.Fprintln(stderr, "mvrun validate: interrupted")
		return exitInfra
	}
}

// versionString describes this build.
func versionString() string {
	v, rev := "(devel)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " " + s.Value[:12]
			}
		}
	}
	return fmt.Sprintf("mvrun %s%s %s %s/%s", v, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// backendNames returns the values --backend accepts.
func backendNames() []string { return []string{"auto", "hv", "process", "docker"} }

// newBackend returns the real backend called name.
func newBackend(name string, log *slog.Logger) (backend.Backend, error) {
	switch name {
	case "process":
		return process.New(process.Options{Log: log}), nil
	case "docker":
		// The CLI owns its process: it, not the backend, sets what
		// testcontainers keeps per process.
		if err := docker.ConfigureProcess(log); err != nil {
			return nil, err
		}
		return docker.New(docker.Options{Log: log}), nil
	case "hv":
		return hvbackend.New(hvbackend.Options{Log: log}), nil
	}
	return nil, fmt.Errorf("unknown backend %q; want one of %s", name, strings.Join(backendNames(), ", "))
}

// sweepOthers runs the Sweep of every backend other than used that is
// available here, so that what a killed run of one backend left behind
// (containers, namespaces, processes) goes with the next run of any
// backend, not only with the next run of the same one. The runner sweeps
// the used backend itself. Sweeps leave live runs alone; failures are
// logged, never fatal.
func sweepOthers(ctx context.Context, newBackend backendFactory, used string, log *slog.Logger) {
	for _, name := range []string{"process", "docker"} {
		if name == used {
			continue
		}
		b, err := newBackend(name, log)
		if err != nil {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if b.Available(sctx) == nil {
			if err := b.Sweep(sctx); err != nil && ctx.Err() == nil {
				log.Warn("cleaning up after earlier runs of another backend", "backend", name, "err", err)
			}
		}
		cancel()
	}
}

// selectBackend resolves a backend name ("auto" included) to an available
// backend. It returns why auto picked what it picked.
func selectBackend(ctx context.Context, newBackend backendFactory, name string, t *specs.Test, log *slog.Logger) (backend.Backend, string, error) {
	if name == "" {
		name = "auto"
	}
	why := ""
	if name == "auto" {
		// hv when /dev/kvm works and hv can run every service, workload
		// command and healthcheck (static binaries, no shell); else process.
		b, err := newBackend("hv", log)
		switch {
		case err != nil:
			why = "auto: hv: " + err.Error()
		case b.Available(ctx) != nil:
			why = "auto: hv unavailable: " + b.Available(ctx).Error()
		case hvbackend.CanRun(t) != nil:
			why = "auto: hv cannot run this test: " + hvbackend.CanRun(t).Error()
		default:
			return b, "auto: hv (/dev/kvm usable, every service a static binary)", nil
		}
		name = "process"
	}
	b, err := newBackend(name, log)
	if err != nil {
		return nil, "", err
	}
	if err := b.Available(ctx); err != nil {
		return nil, "", fmt.Errorf("backend %s is not available here: %w", name, err)
	}
	return b, why, nil
}
