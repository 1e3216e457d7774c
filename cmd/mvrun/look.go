package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mvrun/multiverse/runner"
	"github.com/mvrun/multiverse/runner/report"
	"github.com/mvrun/multiverse/specs"
)

// This file holds what replay --at, explore and debug share: finding the
// run that recorded a seed, reading its timeline and events for moments,
// and checking that a replay that branched was the seed's run up to its
// branch.

// recorded returns the artifacts directory and trace log of the newest
// earlier run of test t that recorded seed.
func recorded(runs string, t *specs.Test, seed string) (dir, traceLog string, err error) {
	_, sd, err := report.FindSeed(runs, t.Name, seed, "")
	if err != nil {
		return "", "", fmt.Errorf("no earlier run of test %q under %s recorded seed %s (run mvrun test first, or give a time)", t.Name, runs, seed)
	}
	return sd.Dir, sd.TraceLog, nil
}

// timeline reads a seed's timeline.jsonl.
func timeline(dir string) ([]runner.TimelineRecord, error) {
	f, err := os.Open(filepath.Join(dir, runner.TimelineJSONFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []runner.TimelineRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var r runner.TimelineRecord
		if json.Unmarshal(sc.Bytes(), &r) == nil {
			out = append(out, r)
		}
	}
	return out, sc.Err()
}

// eventMoment returns the time of the seed's timeline entry n (1-based,
// as timeline.txt numbers them from the top: phases, node starts and
// exits, fault actions, commands, SDK lines).
func eventMoment(dir string, n int) (time.Duration, string, error) {
	tl, err := timeline(dir)
	if err != nil {
		return 0, "", err
	}
	if n < 1 || n > len(tl) {
		return 0, "", fmt.Errorf("the seed's timeline has %d entries; event:%d is not one", len(tl), n)
	}
	r := tl[n-1]
	return time.Duration(r.AtNS), r.Who + ": " + r.Text, nil
}

// branchCheck compares a replay that branched at its moment with the run
// that recorded the seed: every trace log line before the branch mark must
// be the recorded run's. It returns a sentence saying so, and false if
// they differ.
func branchCheck(recordedLog, replayLog string) (string, bool) {
	a, errA := os.ReadFile(recordedLog)
	b, errB := os.ReadFile(replayLog)
	if errA != nil || errB != nil {
		return fmt.Sprintf("trace: cannot compare the trace logs (%v, %v)", errA, errB), false
	}
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	mark := -1
	for i, l := range lb {
		if f := strings.Fields(l); len(f) == 4 && f[1] == "branch" {
			mark = i
			break
		}
	}
	if mark < 0 {
		return "trace: the replay did not reach its branch", false
	}
	for i := range mark {
		if i >= len(la) || la[i] != lb[i] {
			why := ""
			if st, err := os.ReadFile(filepath.Join(filepath.Dir(replayLog), "hv-stats.txt")); err == nil {
				for _, l := range strings.Split(string(st), "\n") {
					if strings.HasPrefix(l, "not replay-exact: ") {
						why += "; the replay was " + l + " (a loaded host can do that: try again)"
					}
				}
			}
			return fmt.Sprintf("trace: DIVERGED before the moment, at %s (logs: %s, %s)%s", describeTraceLine(lb[i]), recordedLog, replayLog, why), false
		}
	}
	f := strings.Fields(lb[mark])
	ns, _ := strconv.ParseInt(f[0], 10, 64)
	return fmt.Sprintf("trace: replayed exactly up to the moment (its %d trace log lines match the seed's), then branched at %v with trace hash %s", mark, time.Duration(ns), f[3]), true
}

// printLooks prints what a replay captured at its moment.
func printLooks(w io.Writer, c *momentCapture) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.lines {
		fmt.Fprintf(w, "  %s\n", strings.ReplaceAll(l, "\n", "\n  "))
	}
}
