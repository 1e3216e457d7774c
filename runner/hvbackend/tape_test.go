package hvbackend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/runner/backendtest"
	"github.com/mvrun/multiverse/specs"
)

// tapeRun boots the echo cluster, has alpha dial beta every 400ms five
// times, with a clock jump on beta before the third dial when jump is set,
// and sleeps to 3 s; it returns the trace log and the replies, or the
// first error a cluster call returned.
func tapeRun(t *testing.T, b *Backend, test *specs.Test, jump bool) ([]string, []string, error) {
	t.Helper()
	ctx := context.Background()
	h := backendtest.BootPrepared(t, ctx, b, test)
	h.WaitServing(t, 60*time.Second)
	var replies []string
	for i := range 5 {
		if err := h.Cluster.Sleep(ctx, 400*time.Millisecond); err != nil {
			return nil, nil, err
		}
		if i == 2 && jump {
			if err := h.Cluster.Apply(ctx, faults.Action{Kind: faults.ActClockJump, Nodes: []string{"beta"}, Offset: time.Second}); err != nil {
				return nil, nil, err
			}
		}
		var out bytes.Buffer
		res, err := h.Cluster.Exec(ctx, backend.ExecRequest{Service: "alpha", Name: "dial", Argv: []string{"/bin/alpha", "dial", "beta:7000", fmt.Sprint("hello ", i)}, Stdout: &out})
		if err != nil {
			return nil, nil, err
		}
		if res.ExitCode != 0 {
			t.Fatalf("dial %d: exit %d", i, res.ExitCode)
		}
		replies = append(replies, out.String())
	}
	err := h.Cluster.Sleep(ctx, 3*time.Second-h.Cluster.Now())
	lastResumedAt = h.Cluster.(backend.Resumer).ResumedAt()
	if cerr := h.Cluster.Close(ctx); err == nil {
		err = cerr
	}
	return readLines(t, filepath.Join(h.Dir, TraceLog)), replies, err
}

// lastResumedAt is where tapeRun's last run resumed.
var lastResumedAt time.Duration

// TestResumeAndDiverge: a run resumed from a snapshot of its own record
// (the same calls, so the same run) has the recorded run's trace log and
// sees the same command output; a run whose calls differ from the record's
// before the snapshot fails with errDiverged instead of resuming.
func TestResumeAndDiverge(t *testing.T) {
	needKVM(t)
	ctx := context.Background()
	test := backendtest.NewTest([]string{"alpha", "beta"})
	b := New(Options{})
	if err := b.Prepare(ctx, test, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	var rec *Record
	at := 1500 * time.Millisecond
	log, replies, err := tapeRun(t, b.Recording(RecordOptions{Snapshots: []time.Duration{at}, Keep: func(r *Record) { rec = r }}), test, true)
	if err != nil {
		t.Fatal(err)
	}
	if rec == nil || !slices.Equal(rec.Snapshots(), []time.Duration{at}) {
		t.Fatalf("record %v", rec)
	}
	if len(replies) != 5 || replies[4] == "" {
		t.Fatalf("replies %q", replies)
	}
	rlog, rreplies, err := tapeRun(t, b.ResumingFrom(rec), test, true)
	if err != nil {
		t.Fatal(err)
	}
	if lastResumedAt != at {
		t.Errorf("the run resumed at %v, want the snapshot's %v", lastResumedAt, at)
	}
	if !slices.Equal(log, rlog) {
		t.Errorf("the resumed run's trace log differs:\n%v\nrecorded:\n%v", rlog, log)
	}
	if !slices.Equal(replies, rreplies) {
		t.Errorf("the resumed run's replies %q, recorded %q", rreplies, replies)
	}

	// Without the clock jump the runner calls Exec where the record
	// applied the jump, before the snapshot.
	_, _, err = tapeRun(t, b.ResumingFrom(rec), test, false)
	if !errors.Is(err, errDiverged) {
		t.Fatalf("a run that does not do what the record did: %v, want errDiverged", err)
	}
	t.Logf("diverged: %v", err)
}

// killRun boots the echo cluster; one participant runs a long sleep in
// beta while another kills beta at 1.2s and restarts it, then dials it;
// it returns the trace log and the sleep's result.
func killRun(t *testing.T, b *Backend, test *specs.Test) ([]string, backend.ExecResult, error) {
	t.Helper()
	ctx := context.Background()
	h := backendtest.BootPrepared(t, ctx, b, test)
	h.WaitServing(t, 60*time.Second)
	tu := h.Cluster.(backend.Turns)
	var res backend.ExecResult
	var execErr error
	sleeper := tu.Go(func() {
		res, execErr = h.Cluster.Exec(ctx, backend.ExecRequest{Service: "beta", Name: "sleep", Argv: []string{"/bin/beta", "sleep", "5s"}})
	})
	err := h.Cluster.Sleep(ctx, 1200*time.Millisecond-h.Cluster.Now())
	if err == nil {
		err = h.Cluster.Apply(ctx, faults.Action{Kind: faults.ActKill, Nodes: []string{"beta"}})
	}
	if err == nil {
		// The sleeper wakes here, between calls: its command died with
		// the node.
		err = h.Cluster.Sleep(ctx, 300*time.Millisecond)
	}
	if err == nil {
		err = h.Cluster.Apply(ctx, faults.Action{Kind: faults.ActRestart, Nodes: []string{"beta"}})
	}
	tu.Join(sleeper)
	if err == nil {
		err = execErr
	}
	if err == nil {
		err = h.Cluster.Sleep(ctx, 2*time.Second)
	}
	lastResumedAt = h.Cluster.(backend.Resumer).ResumedAt()
	if cerr := h.Cluster.Close(ctx); err == nil {
		err = cerr
	}
	return readLines(t, filepath.Join(h.Dir, TraceLog)), res, err
}

// TestResumeKillDuringExec: a kill fault ends a command an Exec call is
// waiting on, outside any run of the simulation; a run resumed from a
// snapshot taken while the command ran, and one from a snapshot after the
// kill, are the recorded run.
func TestResumeKillDuringExec(t *testing.T) {
	needKVM(t)
	ctx := context.Background()
	test := backendtest.NewTest([]string{"alpha", "beta"})
	b := New(Options{})
	if err := b.Prepare(ctx, test, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	var rec *Record
	log, res, err := killRun(t, b.Recording(RecordOptions{Snapshots: []time.Duration{1100 * time.Millisecond, 1400 * time.Millisecond}, Keep: func(r *Record) { rec = r }}), test)
	if err != nil {
		t.Fatal(err)
	}
	if res.Signal != "killed" {
		t.Fatalf("the sleep ended %+v, want killed", res)
	}
	for _, before := range []time.Duration{1200 * time.Millisecond, forever} {
		rlog, rres, err := killRun(t, b.ResumingFrom(rec.Before(before)), test)
		if err != nil {
			t.Fatalf("resumed before %v: %v", before, err)
		}
		if lastResumedAt == 0 || lastResumedAt >= before {
			t.Errorf("resumed at %v, want a snapshot before %v", lastResumedAt, before)
		}
		if rres != res || !slices.Equal(rlog, log) {
			t.Errorf("resumed at %v: result %+v, trace log of %d lines; recorded %+v, %d lines", lastResumedAt, rres, len(rlog), res, len(log))
		}
	}
}
