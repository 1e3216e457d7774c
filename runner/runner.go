// Package runner runs an mvrun test: it fans a test out over seeds, runs the
// phases of each seed on a [backend.Backend] (start services, wait for setup,
// first commands, the fault phase with drivers and anytime commands, heal,
// eventually and finally commands), feeds everything the nodes say into an
// assertions collector, and writes each seed's artifacts.
//
// [Run] is the entry point; cmd/mvrun turns its [Outcome] into a report with
// runner/report.
package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/mvrun/multiverse/assertions"
	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/internal/gobuild"
	"github.com/mvrun/multiverse/internal/seeds"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/specs"
)

// ErrInfrastructure is wrapped by errors that mean the run could not be
// carried out at all: the backend is unavailable, Prepare failed, or no seed
// could create its cluster. The CLI exits 3 on it.
var ErrInfrastructure = errors.New("infrastructure error")

// Built-in property ids the runner evaluates in every seed.
const (
	PropNoCrash    = "no node crashed unexpectedly"
	PropSetup      = "setup completed"
	PropTimeout    = "seed finished within timeout"
	PropRecovered  = "services healthy after faults healed"
	propCmdExitFmt = "workload command %s exited 0 at least once"
)

// PropCommandExited returns the id of the built-in property "workload command
// name exited 0 at least once".
func PropCommandExited(name string) string { return fmt.Sprintf(propCmdExitFmt, name) }

// Options configures [Run].
type Options struct {
	Test    *specs.Test
	Backend backend.Backend
	// Seeds lists the root seeds to run. When empty, Count seeds are run,
	// seed i being seeds.Nth(BaseSeed, i).
	Seeds    []uint64
	Count    int
	BaseSeed uint64
	// Shard and Shards run the Shard-th (1-based) of Shards disjoint slices
	// of the seed list: the seeds whose index i has i%Shards == Shard-1.
	// The slices of 1..Shards together are exactly the unsharded run's
	// seeds. Shards 0 means no sharding; see [ValidShard].
	Shard, Shards int
	// Jobs is how many seeds run at once; 0 means one per two cores, at
	// least one.
	Jobs int
	// OutDir is the artifacts root; "" means a new directory made by
	// [NewOutDir].
	OutDir string
	// Progress receives progress lines (normally stderr); nil means none.
	Progress io.Writer
	// Log receives logs; nil means slog.Default().
	Log *slog.Logger
	// Collector receives every SDK line and built-in evaluation; nil means
	// a new one.
	Collector *assertions.Collector
	// SetupTimeout bounds the wait for antithesis_setup "complete" once the
	// services are healthy; 0 means 30s (capped by the seed's timeout).
	SetupTimeout time.Duration
	// EditPlan, when set, changes each seed's fault plan before it runs
	// (after a backend's [backend.Replanner]): how shrinking runs a seed
	// with an edited schedule. It must be a pure function of the plan, so
	// the run stays a function of its seed and the edit. An error ends the
	// seed as an infrastructure error: the edit does not fit the plan.
	EditPlan func(faults.Plan) (faults.Plan, error)
}

// Outcome is what a run produced.
type Outcome struct {
	Test     string
	SpecFile string
	Backend  string
	BaseSeed uint64
	OutDir   string
	// Planned is how many seeds the run was asked for; Seeds holds the ones
	// that finished (in seed index order).
	Planned int
	Seeds   []*SeedOutcome
	Result  *assertions.Result
	// Shard and Shards say which slice of the seed list a sharded run ran
	// (Options.Shard, Options.Shards; 0 when not sharded), and Total how many
	// seeds the whole, unsharded run has.
	Shard, Shards, Total int
	// UnsupportedCounts and UnimplementedCounts are the counts behind
	// Unsupported and Unimplemented, by line key, so that shards merge.
	UnsupportedCounts, UnimplementedCounts map[string]Count
	// State is the collector's state of a sharded run, for merging with
	// the other shards; nil when the run is not sharded.
	State *assertions.State
	// Unsupported lists one line per fault kind the backend could not carry
	// out, e.g. "clock_jump: not supported on process backend (3 actions in 2 seeds)".
	Unsupported []string
	// Unimplemented lists what the seeds' programs asked of the backend
	// that it does not implement (hv: system calls, by node), with how
	// often and in how many seeds; the guests got an error and went on.
	Unimplemented []string
	// Cancelled is true when ctx ended before every seed finished.
	Cancelled bool
	Elapsed   time.Duration
}

// SeedOutcome is what one seed produced.
type SeedOutcome struct {
	Index int
	Seed  uint64
	Dir   string
	// Err is an infrastructure error that cut the seed short (a cluster
	// that could not be created or a service that could not start); nil
	// otherwise. Property failures are not errors.
	Err      error
	TimedOut bool
	// Faults is the fault log: every applied action with its outcome,
	// without times, in order. Replays compare it.
	Faults []string
	// FaultParams are the per-seed (swarm) parameters of the seed's fault
	// plan: which fault kinds were on and their rates; nil when the seed
	// did not reach its fault phase.
	FaultParams map[string]string
	// Failing lists the ids of the properties that failed in this seed.
	Failing []string
	// TraceHash fingerprints the whole seed on backends that replay
	// exactly (hv; [backend.Traced]), and TraceLog is the file in Dir that
	// logs the trace's milestones; zero and empty elsewhere.
	TraceHash uint64
	TraceLog  string
	// ResumedAt is the virtual time at which the run resumed from a
	// snapshot of an earlier run sharing its past ([backend.Resumer]); 0
	// when it ran from the start. The outcome is the same either way.
	ResumedAt time.Duration
	// Template is the test-composer template the seed ran, as
	// "service:name"; "" when the test has none.
	Template string
	Elapsed  time.Duration
	// HistoryErrors says, per check, why a history of this seed could not be
	// checked (an unreadable line, an operation the model does not know).
	HistoryErrors []string
	// unsupported counts unsupported actions by kind and error text.
	unsupported map[string]int
	// gaps counts, by what, the requests of the seed's programs the
	// backend does not implement ([backend.Gaps]).
	gaps map[string]int
}

// Count is how often something happened and in how many seeds.
type Count struct {
	N     int `json:"n"`
	Seeds int `json:"seeds"`
}

// FormatUnsupported renders one line of [Outcome.Unsupported].
func FormatUnsupported(key string, c Count) string {
	return fmt.Sprintf("%s (%s in %s)", key, plural(c.N, "action"), plural(c.Seeds, "seed"))
}

// FormatUnimplemented renders one line of [Outcome.Unimplemented].
func FormatUnimplemented(key string, c Count) string {
	return fmt.Sprintf("%s: %s in %s", key, plural(c.N, "call"), plural(c.Seeds, "seed"))
}

// ValidShard checks a shard selection: 1 <= shard <= shards, or both 0.
func ValidShard(shard, shards int) error {
	if shard == 0 && shards == 0 {
		return nil
	}
	if shards < 1 || shard < 1 || shard > shards {
		return fmt.Errorf("shard %d/%d: want I/N with 1 <= I <= N", shard, shards)
	}
	return nil
}

// ShardSeeds returns the indices, into a run's seed list of n seeds, of the
// shard-th (1-based) of shards slices; all of them when shards is 0.
func ShardSeeds(n, shard, shards int) []int {
	var idx []int
	for i := range n {
		if shards == 0 || i%shards == shard-1 {
			idx = append(idx, i)
		}
	}
	return idx
}

// DefaultJobs returns the default number of concurrent seeds: one per two
// cores, at least one.
func DefaultJobs() int { return max(1, runtime.NumCPU()/2) }

// DefaultOutDir returns .mvrun/runs/<UTC timestamp>-<name> under dir. The
// timestamp comes first so that directory names sort by time.
func DefaultOutDir(dir, name string, now time.Time) string {
	return filepath.Join(dir, ".mvrun", "runs", now.UTC().Format("20060102-150405.000")+"-"+sanitize(name))
}

// NewOutDir creates and returns a new run directory
// .mvrun/runs/<UTC timestamp>-<name>-<random> under dir. The directory is
// created exclusively, with a random suffix, so that two runs started in
// the same millisecond never share artifacts, result.json or work/.
func NewOutDir(dir, name string, now time.Time) (string, error) {
	base := DefaultOutDir(dir, name, now)
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		return "", fmt.Errorf("runner: artifacts directory: %w", err)
	}
	for range 100 {
		var b [3]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("runner: artifacts directory: %w", err)
		}
		p := base + "-" + hex.EncodeToString(b[:])
		err := os.Mkdir(p, 0o755)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("runner: artifacts directory: %w", err)
		}
	}
	return "", fmt.Errorf("runner: artifacts directory: no free name for %s", base)
}

// plural returns "1 seed", "2 seeds".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}

// Run runs opts.Test over its seeds. It calls Backend.Sweep and
// Backend.Prepare once, then runs the seeds, up to opts.Jobs at a time. A
// seed that hangs past the test's seed timeout is a failure of the built-in
// property "seed finished within timeout", never a hung run. When ctx ends,
// Run stops every seed, closes their clusters, and returns the partial
// outcome of the seeds that finished with Cancelled set and a nil error.
//
// Run returns an error wrapping [ErrInfrastructure] when the backend is
// unusable (the outcome is then nil) or when no seed could run (the outcome
// then holds the seeds and their errors).
func Run(ctx context.Context, opts Options) (*Outcome, error) {
	start := time.Now()
	t, b := opts.Test, opts.Backend
	if t == nil || b == nil {
		return nil, errors.New("runner: Options.Test and Options.Backend are required")
	}
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	col := opts.Collector
	if col == nil {
		col = assertions.NewCollector()
	}
	list, runIndex, total, err := seedList(opts)
	if err != nil {
		return nil, err
	}
	jobs := opts.Jobs
	if jobs <= 0 {
		jobs = DefaultJobs()
	}
	jobs = min(jobs, len(list))
	out, err := outDir(opts.OutDir, t.Name, start)
	if err != nil {
		return nil, err
	}
	tpls, err := prepareBackend(ctx, b, t, out, log)
	if err != nil {
		return nil, err
	}

	prog := newProgress(opts.Progress, len(list), start)
	defer prog.finish()
	oc := &Outcome{
		Test: t.Name, SpecFile: t.SpecFile, Backend: b.Name(), BaseSeed: opts.BaseSeed,
		OutDir: out, Planned: len(list), Shard: opts.Shard, Shards: opts.Shards, Total: total,
	}
	if len(opts.Seeds) > 0 {
		oc.BaseSeed = opts.Seeds[0]
	}
	results := runSeeds(ctx, jobs, len(list), prog, col, func(i int) seedConfig {
		return seedConfig{
			test: t, backend: b, index: i, runIndex: runIndex[i], seed: list[i], col: col, log: log,
			dir: filepath.Join(out, "seed-"+fmt.Sprintf("%016x", list[i])), setupTimeout: opts.SetupTimeout,
			templates: tpls, editPlan: opts.EditPlan,
		}
	})
	infra := oc.collect(results)
	oc.Result = col.Result()
	if opts.Shards > 0 {
		oc.State = col.Export()
	}
	if oc.Cancelled {
		// Seeds that never ran might have met a Sometimes or Reachable:
		// only failures that happened are verdicts.
		oc.Result.Interrupted()
	}
	for _, so := range oc.Seeds {
		so.Failing = oc.Result.FailingIn(so.Seed)
	}
	oc.Elapsed = time.Since(start)
	if len(oc.Seeds) > 0 && infra == len(oc.Seeds) {
		return oc, fmt.Errorf("%w: no seed could run; seed %s: %w", ErrInfrastructure, seeds.Format(oc.Seeds[0].Seed), oc.Seeds[0].Err)
	}
	return oc, nil
}

// seedList returns the seeds this run runs (opts.Seeds, else Count seeds
// from BaseSeed, cut to the shard), each one's index in the whole run's
// list, and the length of that list.
func seedList(opts Options) (list []uint64, runIndex []int, total int, err error) {
	if err := ValidShard(opts.Shard, opts.Shards); err != nil {
		return nil, nil, 0, fmt.Errorf("runner: %w", err)
	}
	list = opts.Seeds
	if len(list) == 0 {
		n := opts.Count
		if n <= 0 {
			n = max(opts.Test.Seeds, 1)
		}
		list = make([]uint64, n)
		for i := range list {
			list[i] = seeds.Nth(opts.BaseSeed, i)
		}
	}
	total = len(list)
	runIndex = ShardSeeds(total, opts.Shard, opts.Shards)
	if opts.Shards > 0 {
		shard := make([]uint64, len(runIndex))
		for i, j := range runIndex {
			shard[i] = list[j]
		}
		list = shard
		if len(list) == 0 {
			return nil, nil, 0, fmt.Errorf("runner: shard %d/%d of %d seeds has no seed; run fewer shards or more seeds", opts.Shard, opts.Shards, total)
		}
	}
	return list, runIndex, total, nil
}

// outDir creates the run's artifacts directory (out, else a new one named
// after the test and start) and returns its absolute path.
func outDir(out, test string, start time.Time) (string, error) {
	if out == "" {
		var err error
		if out, err = NewOutDir(".", test, start); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", fmt.Errorf("runner: artifacts directory: %w", err)
	}
	if abs, err := filepath.Abs(out); err == nil {
		out = abs
	}
	return out, nil
}

// prepareBackend checks b is available, sweeps what killed runs left,
// prepares the test (builds, images) in out/work and finds the workload
// templates. Every error is an ErrInfrastructure.
func prepareBackend(ctx context.Context, b backend.Backend, t *specs.Test, out string, log *slog.Logger) ([]*specs.Template, error) {
	if err := b.Available(ctx); err != nil {
		return nil, fmt.Errorf("%w: backend %s is not available: %w", ErrInfrastructure, b.Name(), err)
	}
	if err := b.Sweep(ctx); err != nil {
		return nil, fmt.Errorf("%w: backend %s: cleaning up after earlier runs: %w", ErrInfrastructure, b.Name(), err)
	}
	// Catalog directories of builds killed before their cleanup ran
	// belong to no backend; every run sweeps them.
	if err := gobuild.SweepTemp(); err != nil {
		log.Warn("removing catalog directories left by killed builds", "err", err)
	}
	if err := b.Prepare(ctx, t, filepath.Join(out, "work")); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: interrupted while preparing: %w", ErrInfrastructure, ctx.Err())
		}
		return nil, fmt.Errorf("%w: backend %s: preparing test %q: %w", ErrInfrastructure, b.Name(), t.Name, err)
	}
	tpls, err := findTemplates(ctx, b, t, log)
	if err != nil {
		return nil, fmt.Errorf("%w: backend %s: test %q: %w", ErrInfrastructure, b.Name(), t.Name, err)
	}
	return tpls, nil
}

// runSeeds runs seeds 0..n-1 on jobs goroutines, seed i with config(i),
// until all ran or ctx ends; a seed that did not run (or was cancelled
// before it finished) has a nil result.
func runSeeds(ctx context.Context, jobs, n int, prog *progress, col *assertions.Collector, config func(i int) seedConfig) []*SeedOutcome {
	results := make([]*SeedOutcome, n)
	idx := make(chan int)
	var wg sync.WaitGroup
	for range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				so := runSeed(ctx, config(i))
				if so == nil { // cancelled before it finished
					continue
				}
				results[i] = so
				prog.seedDone(col)
			}
		}()
	}
feed:
	for i := range n {
		select {
		case idx <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(idx)
	wg.Wait()
	return results
}

// collect adds the seeds that ran to oc, in seed order, with the counts of
// unsupported faults and unimplemented calls summed over them, and returns
// how many hit an infrastructure error.
func (oc *Outcome) collect(results []*SeedOutcome) (infra int) {
	unsupported := map[string]int{}
	unsupportedSeeds := map[string]int{}
	gaps, gapSeeds := map[string]int{}, map[string]int{}
	for _, so := range results {
		if so == nil {
			continue
		}
		oc.Seeds = append(oc.Seeds, so)
		for k, n := range so.unsupported {
			unsupported[k] += n
			unsupportedSeeds[k]++
		}
		for k, n := range so.gaps {
			gaps[k] += n
			gapSeeds[k]++
		}
		if so.Err != nil {
			infra++
		}
	}
	oc.Cancelled = len(oc.Seeds) < len(results)
	oc.UnsupportedCounts, oc.UnimplementedCounts = map[string]Count{}, map[string]Count{}
	for _, k := range sortedKeys(unsupported) {
		c := Count{unsupported[k], unsupportedSeeds[k]}
		oc.UnsupportedCounts[k] = c
		oc.Unsupported = append(oc.Unsupported, FormatUnsupported(k, c))
	}
	for _, k := range sortedKeys(gaps) {
		c := Count{gaps[k], gapSeeds[k]}
		oc.UnimplementedCounts[k] = c
		oc.Unimplemented = append(oc.Unimplemented, FormatUnimplemented(k, c))
	}
	return infra
}
