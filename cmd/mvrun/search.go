package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/mvrun/multiverse/internal/seeds"
	"github.com/mvrun/multiverse/runner/hvbackend"
	"github.com/mvrun/multiverse/runner/search"
	"github.com/mvrun/multiverse/specs"
)

// hasFlag reports whether args hold --name or -name (optionally =value).
func hasFlag(args []string, name string) bool {
	return slices.ContainsFunc(args, func(a string) bool {
		a = strings.TrimLeft(a, "-")
		return a == name || strings.HasPrefix(a, name+"=")
	})
}

// searchRecord is explore.json of a guided search: the tree, and its nodes
// as branches so that `mvrun replay --seed ID` compares a finding's replay.
type searchRecord struct {
	exploreRecord
	Strategy string       `json:"strategy"`
	Tree     *search.Tree `json:"tree"`
}

// cmdSearch runs `mvrun test spec.hcl --explore`: a guided search over a
// tree of branches on hv instead of independent seeds.
func cmdSearch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mvrun test --explore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var testName, seedFlag, burstFlag, probeFlag string
	var budget, width, jobs, records int
	var explore, random, first, asJSON, verbose bool
	fs.BoolVar(&explore, "explore", true, "search a tree of branches guided by the runs' SDK lines (hv)")
	fs.BoolVar(&random, "random", false, "instead, run independent seeds with the same budget accounting (the baseline a search is compared with)")
	fs.StringVar(&testName, "test", "", "name of the test, when the spec has several")
	fs.StringVar(&seedFlag, "seed", "", "root seed (default: from the clock, printed)")
	fs.StringVar(&burstFlag, "burst", "1s", "virtual time between a node's moment and its children's (default: the spec's explore block, else 1s)")
	fs.StringVar(&probeFlag, "probe", "0s", "cut each fresh fault schedule this long (virtual) after its moment, and run only its branches to the end (default: the spec's explore block, else 0: run them whole)")
	fs.IntVar(&budget, "budget", 0, "bursts of virtual time to spend (default: the spec's explore block, else its seeds × its length, in bursts)")
	fs.IntVar(&width, "width", 4, "nodes expanded per round (default: the spec's explore block, else 4); with the root seed and budget it fixes the tree (--jobs does not)")
	fs.IntVar(&jobs, "jobs", 0, "runs at once (default one per core)")
	fs.IntVar(&records, "snapshots", 16, "runs whose snapshot is kept at once for their children to resume from; -1 replays every run from time zero")
	fs.BoolVar(&first, "first", false, "stop at the first failing run (explore: after its round) instead of spending the whole budget")
	fs.BoolVar(&asJSON, "json", false, "print the tree as one JSON document on stdout")
	fs.BoolVar(&verbose, "v", false, "log what the runner and backend do to stderr")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: mvrun test spec.hcl --explore [--seed ROOT] [--budget BURSTS] [--burst 1s]\n\nGrows a tree of runs on hv from a root seed: each round expands the best-scoring nodes (rare assertion and guidance features, unmet Sometimes/Reachable properties, numeric guidance at its best, rarely expanded nodes) by branching their run just after what it showed first (or one burst on) with the future redrawn, and the new faults limited to an arm a UCB1 bandit picks per node (a fault kind; kills and pauses per node they hit). A branch resumes from a snapshot of its parent's run and costs the virtual time it runs after it, in bursts. Every finding has an id mvrun replay accepts.\n\n")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	burst, err := time.ParseDuration(burstFlag)
	probe, perr := time.ParseDuration(probeFlag)
	if len(pos) != 1 || err != nil || perr != nil || burst <= 0 || probe < 0 || budget < 0 || width < 1 {
		fmt.Fprintln(stderr, "mvrun test --explore: want one spec file, a positive --burst and --width, and a --probe of zero or more")
		fs.Usage()
		return exitUsage
	}
	_, t, code := loadTest(ctx, "test", pos[0], testName, stderr)
	if t == nil {
		return code
	}
	// The spec's explore block, where no flag says otherwise.
	cfg := t.Explore
	if cfg == nil {
		cfg = specs.DefaultExplore()
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["burst"] {
		burst = cfg.Burst
	}
	if !set["budget"] {
		budget = cfg.Budget
	}
	if !set["width"] {
		width = cfg.Width
	}
	if !set["probe"] {
		probe = cfg.Probe
	}
	arms := cfg.Arms
	if arms == nil {
		arms = t.Faults.Kinds()
	}
	// Kills and pauses get an arm per node they may hit.
	arms = t.Faults.Arms(arms, t.Project.ServiceNames())
	root := seeds.Derive(uint64(time.Now().UnixNano()), "base")
	if seedFlag != "" {
		if root, err = seeds.Parse(seedFlag); err != nil {
			fmt.Fprintf(stderr, "mvrun test: --seed: %v\n", err)
			return exitUsage
		}
	}
	if budget == 0 {
		budget = max(t.Seeds, 1) * int((t.Duration+burst-1)/burst)
	}
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	// Coverage is read at every burst boundary: the state a node's
	// children start from.
	b := hvbackend.New(hvbackend.Options{Log: log, Cover: hvbackend.Cover{Period: burst}})
	if err := b.Available(ctx); err != nil {
		fmt.Fprintf(stderr, "mvrun test --explore: the search branches runs, which needs hv: %v\n", err)
		return exitInfra
	}
	strategy := "explore"
	if random {
		strategy = "random"
	}
	out := filepath.Join(exploreDir, time.Now().UTC().Format("20060102-150405.000")+"-"+t.Name+"-"+strategy)
	if err := b.Prepare(ctx, t, filepath.Join(out, "work")); err != nil {
		fmt.Fprintf(stderr, "mvrun test --explore: %v\n", err)
		return exitInfra
	}
	if jobs <= 0 {
		jobs = runtime.NumCPU()
	}
	run := search.Runs(t, b, out, log)
	fmt.Fprintf(stderr, "mvrun test: %s of test %q from root seed %s, budget %d bursts of %v, %d at once; runs in %s\n", strategy, t.Name, seeds.Format(root), budget, burst, jobs, out)
	began := time.Now()
	var tree *search.Tree
	if random {
		tree, err = search.Random(ctx, run, search.RandomOptions{Root: root, Burst: burst, Budget: budget, Jobs: jobs, First: first, Progress: stderr})
	} else {
		tree, err = search.Explore(ctx, run, search.ExploreOptions{Root: root, Burst: burst, Budget: budget, Width: width, Jobs: jobs, Kinds: arms, C: cfg.Exploration, Records: records, First: first, Probe: probe,
			Weights: &search.Weights{Rarity: cfg.Rarity, Unmet: cfg.Unmet, Guidance: cfg.Guidance, Coverage: cfg.Coverage}, Progress: stderr})
	}
	if err != nil {
		fmt.Fprintf(stderr, "mvrun test: %v\n", err)
		return exitInfra
	}
	rec := searchRecord{exploreRecord: exploreRecord{Test: t.Name, Spec: pos[0], Seed: seeds.Format(root)}, Strategy: strategy, Tree: tree}
	for _, n := range tree.Nodes {
		rec.Branches = append(rec.Branches, branchOutcome{ID: n.ID, AtNS: int64(n.At), Failing: n.Failing, TraceHash: n.TraceHash, Dir: n.Dir, Error: n.Error, CutNS: int64(n.Cut)})
	}
	data, _ := json.MarshalIndent(rec, "", "  ")
	if err := os.WriteFile(filepath.Join(out, "explore.json"), append(data, '\n'), 0o644); err != nil {
		fmt.Fprintf(stderr, "mvrun test: %v\n", err)
		return exitInfra
	}
	code = exitOK
	if len(tree.Findings) > 0 {
		code = exitFailed
	}
	if asJSON {
		stdout.Write(append(data, '\n'))
		return code
	}
	depth := 0
	for _, n := range tree.Nodes {
		depth = max(depth, n.Depth)
	}
	fmt.Fprintf(stdout, "%s of test %q from root seed %s: %d runs (depth %d), %d of %d bursts of %v, %v virtual, %v wall\n", strategy, t.Name, seeds.Format(root), len(tree.Nodes), depth, tree.Spent, tree.Budget, burst, tree.Virtual.Round(time.Millisecond), time.Since(began).Round(time.Second))
	fmt.Fprintf(stdout, "tree hash %s\n", tree.Hash)
	if tree.FirstFailure > 0 {
		fmt.Fprintf(stdout, "first failure after %v of virtual time\n", tree.FirstFailure.Round(time.Millisecond))
	}
	fmt.Fprintf(stdout, "\n%d findings:\n", len(tree.Findings))
	for _, f := range tree.Findings {
		fmt.Fprintf(stdout, "  %s: %s\n", f.ID, quoteList(f.Failing))
	}
	if len(tree.Findings) > 0 {
		f := tree.Findings[0]
		fmt.Fprintf(stdout, "\nreplay: mvrun replay %s --backend hv --seed '%s'\nshrink: mvrun shrink %s --seed '%s'\n", pos[0], f.ID, pos[0], f.ID)
	}
	return code
}
