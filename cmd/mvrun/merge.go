package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/mvrun/multiverse/runner"
	"github.com/mvrun/multiverse/runner/report"
)

// parseShard parses --shard I/N.
func parseShard(s string) (shard, shards int, err error) {
	a, b, ok := strings.Cut(s, "/")
	if ok {
		shard, err = strconv.Atoi(a)
		if err == nil {
			shards, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil {
		return 0, 0, fmt.Errorf("%q: want I/N, e.g. 2/8", s)
	}
	if err := runner.ValidShard(shard, shards); err != nil {
		return 0, 0, err
	}
	return shard, shards, nil
}

func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "merge" {
		fmt.Fprint(stderr, "usage: mvrun report merge shard1.json shard2.json ... [--json] [--junit FILE] [--html DIR]\n")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return exitOK
		}
		return exitUsage
	}
	fs := flag.NewFlagSet("mvrun report merge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f testFlags
	fs.BoolVar(&f.json, "json", false, "print the merged report as one JSON document on stdout")
	fs.StringVar(&f.junit, "junit", "", "also write a JUnit XML report to `file`")
	fs.StringVar(&f.html, "html", "", "also write an HTML report into `dir`")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: mvrun report merge shard1.json shard2.json ... [flags]\n\nMerges the JSON reports of the shards of one run (mvrun test --shard I/N --seed S --json) into the report of the whole run: the verdicts are those of one run over all the shards' seeds. Exit codes as mvrun test.\n\n")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if len(pos) == 0 {
		fmt.Fprint(stderr, "mvrun report merge: name the shards' JSON reports\n")
		fs.Usage()
		return exitUsage
	}
	var docs []*report.Document
	for _, p := range pos {
		d, err := report.Load(p)
		if err != nil {
			fmt.Fprintf(stderr, "mvrun report merge: %v\n", err)
			return exitUsage
		}
		docs = append(docs, d)
	}
	doc, err := report.Merge(docs)
	if err != nil {
		fmt.Fprintf(stderr, "mvrun report merge: %v\n", err)
		return exitUsage
	}
	if code := writeReports(doc, f, stdout, stderr); code != exitOK {
		return code
	}
	if len(doc.Shard.Missing) > 0 {
		fmt.Fprintf(stderr, "mvrun report merge: shards %v of %d are missing; the report covers %d of %d seeds\n", doc.Shard.Missing, doc.Shard.Count, doc.SeedsRun, doc.SeedsPlanned)
	}
	switch {
	case len(doc.HistoryErrors) > 0:
		fmt.Fprintf(stderr, "mvrun report merge: %d histories could not be checked; first: %s\n", len(doc.HistoryErrors), doc.HistoryErrors[0])
		return exitUsage
	case doc.Failed() || doc.Undecided():
		return exitFailed
	case len(doc.Shard.Missing) > 0:
		return exitInfra
	case doc.Cancelled || len(doc.SeedErrors()) > 0:
		return exitInfra
	}
	return exitOK
}
