package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mvrun/multiverse/faults"
)

// Store writes d as dir/result.json.
func Store(dir string, d *Document) error {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ResultFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("storing the run's record: %w", err)
	}
	return nil
}

// Load reads a result.json.
func Load(path string) (*Document, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d Document
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	d.renameLegacyFaults()
	return &d, nil
}

// renameLegacyFaults rewrites fault log lines recorded before the clock
// action was renamed (clock_offset, now clock_skew) and recomputes their
// hash, so a replay compares an older run's faults by what they did, not
// by how they were spelled.
func (d *Document) renameLegacyFaults() {
	old, now := string(faults.LegacyClockSkew)+" ", string(faults.ActClockSkew)+" "
	for i := range d.Seeds {
		s := &d.Seeds[i]
		renamed := false
		for j, l := range s.FaultLog {
			if strings.Contains(l, old) {
				s.FaultLog[j], renamed = strings.ReplaceAll(l, old, now), true
			}
		}
		if renamed && s.FaultLogHash != "" {
			s.FaultLogHash = HashFaultLog(s.FaultLog)
		}
	}
}

// ErrNoRecord is returned by [FindSeed] when no earlier run recorded the seed.
var ErrNoRecord = errors.New("no earlier run recorded this seed")

// FindSeed looks through the runs under root (each a directory with a
// result.json, as .mvrun/runs holds them) for the newest one of test that
// ran seed, skipping the directory skip (the replay's own). Runs of `mvrun
// test` come first: a replay is only chosen when no test run recorded the
// seed, so repeated replays compare with the run that found the seed. It
// returns the run's document and the seed's record.
func FindSeed(root, test, seed, skip string) (*Document, *SeedDoc, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, ErrNoRecord
	}
	if err != nil {
		return nil, nil, err
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(root, e.Name()))
		}
	}
	// Run directories start with a UTC timestamp: newest last.
	slices.Sort(dirs)
	skipAbs, _ := filepath.Abs(skip)
	var replayDoc *Document
	var replaySeed *SeedDoc
	for _, dir := range slices.Backward(dirs) {
		if abs, _ := filepath.Abs(dir); skip != "" && abs == skipAbs {
			continue
		}
		d, err := Load(filepath.Join(dir, ResultFile))
		if err != nil || d.Test != test {
			continue
		}
		s := d.Seed(seed)
		switch {
		case s == nil || s.Error != "":
		case !d.Replay:
			return d, s, nil
		case replayDoc == nil:
			replayDoc, replaySeed = d, s
		}
	}
	if replayDoc != nil {
		return replayDoc, replaySeed, nil
	}
	return nil, nil, ErrNoRecord
}
