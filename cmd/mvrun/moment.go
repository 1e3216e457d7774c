package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

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
	at    string
	pcap  string
	files listFlag
}

func (m *momentFlags) asked() bool { return m.at != "" || m.pcap != "" || len(m.files) > 0 }

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
	if mf.at == "" {
		return nil, nil, errors.New("--pcap and --files need --at MOMENT (e.g. --at 12.5s or --at first-failure)")
	}
	for _, f := range mf.files {
		svc, _, err := hvbackend.ParseFileSpec(f)
		if err != nil {
			return nil, nil, err
		}
		if t.Project.Service(svc) == nil {
			return nil, nil, fmt.Errorf("--files %q: no service %q in %s", f, svc, t.ComposeFile)
		}
	}
	at, err := resolveMoment(mf.at, t, runs, seed)
	if err != nil {
		return nil, nil, err
	}
	c := &momentCapture{}
	return &hvbackend.Moment{At: at, Pcap: mf.pcap, Files: mf.files, Report: c.report}, c, nil
}

func resolveMoment(at string, t *specs.Test, runs, seed string) (time.Duration, error) {
	if d, err := time.ParseDuration(at); err == nil {
		if d < 0 {
			return 0, fmt.Errorf("--at %s: a moment is a time since the seed started, not negative", at)
		}
		return d, nil
	}
	prop, byName := strings.CutPrefix(at, "fail:")
	if !byName {
		prop = ""
	}
	if at != "first-failure" && !byName {
		return 0, fmt.Errorf("--at %q: want a virtual time (12.5s), first-failure or fail:PROPERTY", at)
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

// firstFailure returns the virtual time of the first failing evaluation in
// a seed's events.jsonl: of property prop, or of any property if prop is
// empty. An assertion fails when an Always-type condition is false or an
// Unreachable one is hit.
func firstFailure(events, prop string) (time.Duration, error) {
	f, err := os.Open(events)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var e struct {
			AtNS  int64 `json:"at_ns"`
			Event struct {
				Assert *struct {
					ID          string `json:"id"`
					Condition   bool   `json:"condition"`
					Hit         bool   `json:"hit"`
					AssertType  string `json:"assert_type"`
					DisplayType string `json:"display_type"`
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
		failed := a.Hit && (a.AssertType == "always" && !a.Condition || a.DisplayType == "Unreachable")
		if failed {
			return time.Duration(e.AtNS), nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if prop != "" {
		return 0, fmt.Errorf("property %q never failed in that seed (%s)", prop, events)
	}
	return 0, fmt.Errorf("no assertion failed in that seed (%s)", events)
}
