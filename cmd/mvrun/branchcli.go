package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mvrun/multiverse/internal/seeds"
	"github.com/mvrun/multiverse/runner"
	"github.com/mvrun/multiverse/runner/hvbackend"
	"github.com/mvrun/multiverse/runner/report"
	"github.com/mvrun/multiverse/specs"
)

// exploreDir holds the records of mvrun explore (one directory per
// exploration) and branchDir the replays of single branches: apart from
// .mvrun/runs, so that a branch's record never stands for its seed's.
const (
	exploreDir = ".mvrun/explore"
	branchDir  = ".mvrun/branches"
)

func branchOutDir(test string, now time.Time) string {
	return filepath.Join(branchDir, now.UTC().Format("20060102-150405.000")+"-"+test)
}

// replayBranched finishes a replay that branched at its moment for a look
// that acts (--dump, --exec): the runner stopped at the moment, so there
// is no property report; what it shows is that the replay was the seed's
// run up to the moment, and the looks.
func replayBranched(oc *runner.Outcome, m *hvbackend.Moment, c *momentCapture, at, runs string, t *specs.Test, seed uint64, stdout io.Writer) int {
	code := exitOK
	if len(oc.Seeds) == 1 {
		so := oc.Seeds[0]
		if _, log, err := recorded(runs, t, seeds.Format(seed)); err != nil {
			fmt.Fprintf(stdout, "%v: the replay's trace cannot be checked against it\n", err)
		} else if line, ok := branchCheck(log, filepath.Join(so.Dir, so.TraceLog)); ok {
			fmt.Fprintln(stdout, line)
		} else {
			fmt.Fprintln(stdout, line)
			code = exitFailed
		}
	}
	fmt.Fprintf(stdout, "\nAt %v (%s), in a branch of the replay (artifacts in %s):\n", m.At, at, oc.OutDir)
	printLooks(stdout, c)
	if c.bad {
		return exitUsage
	}
	return code
}

// exploreRecord is explore.json: every branch of an exploration with its
// outcome, which replays of a branch compare with.
type exploreRecord struct {
	Test     string          `json:"test"`
	Spec     string          `json:"spec"`
	Seed     string          `json:"seed"`
	Failing  []string        `json:"failing"` // properties failing in the seed itself
	Moments  []momentRecord  `json:"moments"`
	Branches []branchOutcome `json:"branches"`
	// Trunk is the replay of the seed that snapshotted it at the moments,
	// and SnapshotMiB what its snapshots hold; empty when none was made.
	Trunk       string `json:"trunk,omitempty"`
	SnapshotMiB int    `json:"snapshot_mib,omitempty"`
}

// momentRecord is one moment of an exploration: how many of its branches
// still fail each of the seed's failing properties.
type momentRecord struct {
	At       string         `json:"at"`
	AtNS     int64          `json:"at_ns"`
	Branches int            `json:"branches"`
	Failing  map[string]int `json:"failing"` // property → branches failing it
	Errors   int            `json:"errors,omitempty"`
}

// branchOutcome is one branch's result.
type branchOutcome struct {
	ID        string   `json:"id"`
	AtNS      int64    `json:"at_ns"`
	Failing   []string `json:"failing"`
	TraceHash string   `json:"trace_hash"`
	Dir       string   `json:"dir"`
	Error     string   `json:"error,omitempty"`
	// ResumedNS is the virtual time the branch resumed at from a snapshot
	// of the seed's recorded replay; 0 if it replayed from time zero.
	ResumedNS int64 `json:"resumed_ns,omitempty"`
	// CutNS, if positive, is the virtual time a search's probe was cut
	// at: its failures and trace hash are those of its run up to then.
	CutNS int64 `json:"cut_ns,omitempty"`
}

// findBranch returns the newest exploration's record of branch id.
func findBranch(id string) (*branchOutcome, string, error) {
	dirs, _ := filepath.Glob(filepath.Join(exploreDir, "*", "explore.json"))
	slices.Sort(dirs)
	for _, f := range slices.Backward(dirs) {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var r exploreRecord
		if json.Unmarshal(b, &r) != nil {
			continue
		}
		for i := range r.Branches {
			if r.Branches[i].ID == id {
				return &r.Branches[i], f, nil
			}
		}
	}
	return nil, "", fmt.Errorf("no exploration under %s recorded branch %s", exploreDir, id)
}

// compareBranch says whether a replayed branch is the run explore made.
func compareBranch(doc *report.Document, id string, asJSON bool, stdout, stderr io.Writer) {
	w := stdout
	if asJSON {
		w = stderr
	}
	if len(doc.Seeds) != 1 {
		return
	}
	now := doc.Seeds[0]
	fmt.Fprintln(w)
	was, file, err := findBranch(id)
	if err != nil {
		fmt.Fprintf(w, "Branch %s: trace hash %s; %v.\n", id, now.TraceHash, err)
		return
	}
	if was.CutNS > 0 {
		fmt.Fprintf(w, "Branch %s was a probe of the search recorded in %s: its run was cut at %v (trace hash %s then) and judged no property, so this whole replay has nothing to be compared with.\n", id, file, time.Duration(was.CutNS), was.TraceHash)
		return
	}
	fmt.Fprintf(w, "Compared with branch %s as recorded in %s:\n", id, file)
	if slices.Equal(was.Failing, now.Failing) {
		fmt.Fprintf(w, "  properties: same failures: %s\n", quoteList(now.Failing))
	} else {
		fmt.Fprintf(w, "  properties: DIFFERENT: then %s, now %s\n", quoteList(was.Failing), quoteList(now.Failing))
	}
	if was.TraceHash == now.TraceHash {
		fmt.Fprintf(w, "  trace: replayed exactly (trace hash %s)\n", now.TraceHash)
	} else {
		fmt.Fprintf(w, "  trace: DIVERGED: trace hash then %s, now %s\n", was.TraceHash, now.TraceHash)
		if st, err := os.ReadFile(filepath.Join(filepath.Dir(now.TraceLog), "hv-stats.txt")); err == nil {
			for _, l := range strings.Split(string(st), "\n") {
				if strings.HasPrefix(l, "not replay-exact: ") {
					fmt.Fprintf(w, "    this replay was %s (a loaded host can do that: try again)\n", l)
				}
			}
		}
	}
}
