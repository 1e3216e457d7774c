package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mvrun/multiverse/assertions"
	"github.com/mvrun/multiverse/runner/hvbackend"
	"github.com/mvrun/multiverse/runner/report"
	"github.com/mvrun/multiverse/specs"
)

// listFlag is a flag that may be given several times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// momentFlags are replay's flags that look at a moment of the seed.
type momentFlags struct {
	at       string
	pcap     string
	files    listFlag
	dump     bool
	exec     string   // service; its command is the arguments after "--"
	execArgv []string // filled from the positional arguments
	strace   string   // service
	window   string   // "A..B" of virtual time
	logs     listFlag
}

func (m *momentFlags) asked() bool {
	return m.at != "" || m.pcap != "" || len(m.files) > 0 || m.dump || m.exec != "" || m.strace != "" || len(m.logs) > 0
}

// parseWindow parses "10s..12.5s".
func parseWindow(w string) (from, to time.Duration, err error) {
	a, b, ok := strings.Cut(w, "..")
	if ok {
		from, err = time.ParseDuration(a)
		if err == nil {
			to, err = time.ParseDuration(b)
		}
	}
	if !ok || err != nil || from < 0 || to < from {
		return 0, 0, fmt.Errorf("--window %q: want FROM..TO of virtual time, e.g. 10s..12.5s", w)
	}
	return from, to, nil
}

// momentCapture collects what a replay captured at its moment.
type momentCapture struct {
	mu    sync.Mutex
	lines []string
	bad   bool // a capture failed or the moment was not reached
}

func (c *momentCapture) report(line string, failed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, line)
	c.bad = c.bad || failed
}

// buildMoment checks the moment flags against test t and resolves the
// moment: a duration ("12.5s"), "first-failure" (the first failing
// assertion of the earlier run of this seed), or "fail:PROPERTY" (that
// property's first failing evaluation). runs and seed locate the earlier
// run's artifacts.
func buildMoment(mf momentFlags, t *specs.Test, runs, seed string) (*hvbackend.Moment, *momentCapture, error) {
	m := &hvbackend.Moment{Pcap: mf.pcap, Files: mf.files, Dump: mf.dump, Logs: mf.logs}
	if mf.strace != "" {
		if mf.window == "" {
			return nil, nil, errors.New("--strace SERVICE needs --window FROM..TO (e.g. --window 10s..12.5s)")
		}
		from, to, err := parseWindow(mf.window)
		if err != nil {
			return nil, nil, err
		}
		m.Strace = &hvbackend.StraceLook{Service: mf.strace, From: from, To: to}
		if mf.at == "" {
			mf.at = to.String()
		}
	}
	if mf.exec != "" {
		if len(mf.execArgv) == 0 {
			return nil, nil, errors.New("--exec SERVICE needs the command after --, e.g. --exec client -- /bin/client check")
		}
		if mf.dump {
			return nil, nil, errors.New("--dump and --exec each branch the replay at the moment; ask for them in separate replays (or use mvrun debug)")
		}
		m.Exec = &hvbackend.ExecLook{Service: mf.exec, Argv: mf.execArgv}
	}
	if mf.at == "" {
		return nil, nil, errors.New("--pcap, --files, --dump, --exec and --log need --at MOMENT (e.g. --at 12.5s or --at first-failure)")
	}
	for _, f := range mf.files {
		if _, _, err := hvbackend.ParseFileSpec(f); err != nil {
			return nil, nil, err
		}
	}
	for _, svc := range m.Services() {
		if t.Project.Service(svc) == nil {
			return nil, nil, fmt.Errorf("no service %q in %s (services: %s)", svc, t.ComposeFile, strings.Join(t.Project.ServiceNames(), ", "))
		}
	}
	at, err := resolveMoment(mf.at, t, runs, seed)
	if err != nil {
		return nil, nil, err
	}
	c := &momentCapture{}
	m.At, m.Report = at, c.report
	return m, c, nil
}

func resolveMoment(at string, t *specs.Test, runs, seed string) (time.Duration, error) {
	if d, err := time.ParseDuration(at); err == nil {
		if d < 0 {
			return 0, fmt.Errorf("--at %s: a moment is a time since the seed started, not negative", at)
		}
		return d, nil
	}
	if n, ok := strings.CutPrefix(at, "event:"); ok {
		k, err := strconv.Atoi(n)
		if err != nil {
			return 0, fmt.Errorf("--at %s: want event:N, N a line number of the seed's timeline", at)
		}
		dir, _, err := recorded(runs, t, seed)
		if err != nil {
			return 0, fmt.Errorf("--at %s: %w", at, err)
		}
		d, _, err := eventMoment(dir, k)
		if err != nil {
			return 0, fmt.Errorf("--at %s: %w", at, err)
		}
		return d, nil
	}
	prop, byName := strings.CutPrefix(at, "fail:")
	if !byName {
		prop = ""
	}
	if at != "first-failure" && !byName {
		return 0, fmt.Errorf("--at %q: want a virtual time (12.5s), first-failure, fail:PROPERTY or event:N", at)
	}
	_, sd, err := report.FindSeed(runs, t.Name, seed, "")
	if err != nil {
		return 0, fmt.Errorf("--at %s: no earlier run of test %q under %s recorded seed %s to take the failure's time from; give a time instead", at, t.Name, runs, seed)
	}
	d, err := firstFailure(filepath.Join(sd.Dir, "events.jsonl"), prop)
	if err != nil {
		return 0, fmt.Errorf("--at %s: %w", at, err)
	}
	return d, nil
}

// failureTimes returns the virtual times of every failing evaluation in a
// seed's events.jsonl, in order.
func failureTimes(events string) ([]time.Duration, error) {
	var out []time.Duration
	err := scanFailures(events, "", func(d time.Duration) bool { out = append(out, d); return true })
	return out, err
}

// firstFailure returns the virtual time of the first failing evaluation in
// a seed's events.jsonl: of property prop, or of any property if prop is
// empty. An assertion fails when an Always-type condition is false or an
// Unreachable one is hit.
func firstFailure(events, prop string) (time.Duration, error) {
	var first time.Duration
	found := false
	if err := scanFailures(events, prop, func(d time.Duration) bool { first, found = d, true; return false }); err != nil {
		return 0, err
	}
	if found {
		return first, nil
	}
	if prop != "" {
		return 0, fmt.Errorf("property %q never failed in that seed (%s)", prop, events)
	}
	return 0, fmt.Errorf("no assertion failed in that seed (%s)", events)
}

// scanFailures calls fn with the time of each failing evaluation (of
// prop, or of any property if prop is empty) until fn returns false.
func scanFailures(events, prop string, fn func(time.Duration) bool) error {
	f, err := os.Open(events)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var e struct {
			AtNS  int64 `json:"at_ns"`
			Event struct {
				Assert *struct {
					ID          string                `json:"id"`
					Condition   bool                  `json:"condition"`
					Hit         bool                  `json:"hit"`
					AssertType  assertions.AssertType `json:"assert_type"`
					DisplayType string                `json:"display_type"`
				} `json:"antithesis_assert"`
			} `json:"event"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Event.Assert == nil {
			continue
		}
		a := e.Event.Assert
		if prop != "" && a.ID != prop {
			continue
		}
		failed := a.Hit && (a.AssertType == assertions.TypeAlways && !a.Condition || a.DisplayType == "Unreachable")
		if failed && !fn(time.Duration(e.AtNS)) {
			return nil
		}
	}
	return sc.Err()
}
