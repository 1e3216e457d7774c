package hvbackend

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/runner/backendtest"
	"github.com/mvrun/multiverse/specs"
)

// travelRun boots the two-node echo cluster on an already prepared
// backend, exchanges a message every 475ms four times, jumps beta's clock
// and sleeps 2s (a look's moment branches the run in that sleep).
func travelRun(t *testing.T, b *Backend, test *specs.Test) (traceLog []string, sleepErr error) {
	t.Helper()
	ctx := context.Background()
	h := backendtest.BootPrepared(t, ctx, b, test)
	h.WaitServing(t, 60*time.Second)
	for i := range 4 {
		if i > 0 {
			if err := h.Cluster.Sleep(ctx, 475*time.Millisecond); err != nil {
				t.Fatal(err)
			}
		}
		h.Dial(t, "tcp", "alpha", "beta", fmt.Sprint("message ", i))
	}
	if err := h.Cluster.Apply(ctx, faults.Action{Kind: faults.ActClockJump, Nodes: []string{"beta"}, Offset: time.Second}); err != nil {
		t.Fatal(err)
	}
	sleepErr = h.Cluster.Sleep(ctx, 2*time.Second)
	lastResumedAt = h.Cluster.(backend.Resumer).ResumedAt()
	if err := h.Cluster.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	return readLines(t, filepath.Join(h.Dir, TraceLog)), sleepErr
}

func readLines(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// dirWords matches host paths of temporary directories in look reports.
var dirWords = regexp.MustCompile(`/tmp/\S*`)

// TestLookFromSnapshot: a replay to a moment with travel on records its
// run with snapshots; a later look at an earlier moment resumes from one
// of them (the runner — here the test's sequence of calls — catching up
// from the record) and has the trace log of the same look replayed from
// zero, line for line (including the branch mark and what the goroutine
// dump's branch did after it), and the same results; so does a look at a
// later moment, which resumes from the first replay's last snapshot.
func TestLookFromSnapshot(t *testing.T) {
	needKVM(t)
	ctx := context.Background()
	test := backendtest.NewTest([]string{"alpha", "beta"})
	b := New(Options{Travel: NewTravel()})
	if err := b.Prepare(ctx, test, t.TempDir()); err != nil {
		t.Fatal(err)
	}

	// The first replay, to 1.9s, records.
	if _, err := travelRun(t, b.WithMoment(&Moment{At: 1900 * time.Millisecond, Stop: true, OutDir: t.TempDir()}), test); !ErrBranched(err) {
		t.Fatalf("the recording replay's sleep returned %v, want the branch error", err)
	}
	if rec, snap := b.travel.nearest(0x5eed, 1900*time.Millisecond); rec == nil {
		t.Fatal("the replay recorded no snapshots")
	} else {
		t.Logf("nearest snapshot before 1.9s: %v", snap.s.At())
	}

	// After the snapshots before 1.6s the runner sends a message and
	// jumps a clock; at 2.5s it sleeps.
	looks := map[string]func(report func(string, bool)) *Moment{
		"dump and files": func(report func(string, bool)) *Moment {
			return &Moment{At: 1600 * time.Millisecond, Dump: true, Files: []string{"alpha:/run"}, Stop: true, OutDir: t.TempDir(), Report: report}
		},
		"exec": func(report func(string, bool)) *Moment {
			return &Moment{At: 1600 * time.Millisecond, OutDir: t.TempDir(), Report: report,
				Exec: &ExecLook{Service: "alpha", Argv: []string{"/bin/alpha", "dial", "beta:7000", "from-a-branch"}}}
		},
		"log, later": func(report func(string, bool)) *Moment {
			return &Moment{At: 2500 * time.Millisecond, Logs: []string{"alpha"}, Stop: true, OutDir: t.TempDir(), Report: report}
		},
	}
	for _, name := range []string{"dump and files", "exec", "log, later"} {
		look := looks[name]
		reportZ, linesZ := collect(t)
		zero := b.WithMoment(look(reportZ))
		zero.travel = nil // a plain replay: no snapshots
		zeroLog, err := travelRun(t, zero, test)
		if !ErrBranched(err) {
			t.Fatalf("%s: the replay's sleep returned %v, want the branch error", name, err)
		}

		reportS, linesS := collect(t)
		began := time.Now()
		snapLog, err := travelRun(t, b.WithMoment(look(reportS)), test)
		if !ErrBranched(err) {
			t.Fatalf("%s: the resumed replay's sleep returned %v, want the branch error", name, err)
		}
		if lastResumedAt == 0 {
			t.Fatalf("%s: the look did not resume from a snapshot", name)
		}
		t.Logf("%s: look resumed at %v in %v", name, lastResumedAt, time.Since(began))
		if !slices.Equal(snapLog, zeroLog) {
			for i := range min(len(snapLog), len(zeroLog)) {
				if snapLog[i] != zeroLog[i] {
					t.Fatalf("%s: trace logs differ at line %d: from a snapshot %q, from zero %q (%d and %d lines)", name, i+1, snapLog[i], zeroLog[i], len(snapLog), len(zeroLog))
				}
			}
			t.Fatalf("%s: trace logs differ in length: from a snapshot %d lines, from zero %d", name, len(snapLog), len(zeroLog))
		}
		if !slices.ContainsFunc(snapLog, func(l string) bool { return strings.Contains(l, " branch ") }) {
			t.Errorf("%s: no branch mark in the trace log", name)
		}
		clean := func(ls []string) []string {
			var out []string
			for _, l := range ls {
				// The looks name their output directories, which differ.
				out = append(out, strings.Join(strings.Fields(dirWords.ReplaceAllString(l, "DIR")), " "))
			}
			return out
		}
		if z, s := clean(linesZ()), clean(linesS()); !slices.Equal(z, s) || len(z) == 0 {
			t.Errorf("%s: looks differ:\nfrom zero:\n%s\nfrom a snapshot:\n%s", name, strings.Join(z, "\n"), strings.Join(s, "\n"))
		}
	}

	// A pcap look needs every packet since the start: it replays from zero.
	if rec, _ := b.resumePointFor(&Moment{At: 2 * time.Second, Pcap: "x.pcap"}); rec != nil {
		t.Error("a pcap look would resume from a snapshot")
	}
}

// resumePointFor is the record a replay to m would resume from.
func (b *Backend) resumePointFor(m *Moment) (*Record, *rsnap) {
	return b.WithMoment(m).resumePoint(0x5eed)
}
