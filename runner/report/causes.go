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
)

// CausesFile is the file in a seed's directory where `mvrun shrink`
// records, per failing property, the minimal schedule it found and the
// faults attribution named necessary. The HTML report shows them on the
// property's section, whenever it is written after the shrink.
const CausesFile = "causes.json"

// Causes is what a shrink (and the attribution after it) found for one
// failing property of a seed.
type Causes struct {
	Property string `json:"property"`
	Start    string `json:"start"`   // the id that was shrunk
	Minimal  string `json:"minimal"` // the id of the minimal schedule
	// Faults is how many faults the starting schedule had; Schedule the
	// minimal one's, described ("pause kv3 at 15.502s for 601ms").
	Faults   int      `json:"faults"`
	Schedule []string `json:"schedule"`
	// Causes are the minimal schedule's faults with whether the failure
	// needs each; empty when attribution did not run.
	Causes []Cause `json:"causes,omitempty"`
	// Statistical is set when the backend does not replay exactly and each
	// candidate ran several times.
	Statistical bool `json:"statistical,omitempty"`
	// Record is the shrink's explore.json, every run it made.
	Record string `json:"record,omitempty"`
}

// Cause is one fault of a minimal schedule, as attribution judged it.
type Cause struct {
	What      string `json:"what"` // with what was in effect when it started
	Necessary bool   `json:"necessary"`
	Without   string `json:"without"` // the id of the run without it
	Error     string `json:"error,omitempty"`
}

// Necessary returns the faults the failure needs.
func (c *Causes) Necessary() []Cause {
	var out []Cause
	for _, x := range c.Causes {
		if x.Necessary {
			out = append(out, x)
		}
	}
	return out
}

// ReadCauses reads a seed directory's causes.json; none is no error.
func ReadCauses(seedDir string) ([]Causes, error) {
	b, err := os.ReadFile(filepath.Join(seedDir, CausesFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var cs []Causes
	if err := json.Unmarshal(b, &cs); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(seedDir, CausesFile), err)
	}
	return cs, nil
}

// AddCauses records c in a seed directory's causes.json, replacing an
// earlier record for the same property (a later shrink knows at least as
// much).
func AddCauses(seedDir string, c Causes) error {
	cs, err := ReadCauses(seedDir)
	if err != nil {
		return err
	}
	cs = slices.DeleteFunc(cs, func(x Causes) bool { return x.Property == c.Property })
	cs = append(cs, c)
	slices.SortFunc(cs, func(a, b Causes) int { return strings.Compare(a.Property, b.Property) })
	b, err := json.MarshalIndent(cs, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(seedDir, CausesFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("recording causes: %w", err)
	}
	return nil
}

// propertyCauses returns the first causes recorded for property p in one
// of its failing seeds (in the document's seed order), and that seed.
func (d *Document) propertyCauses(p PropertyDoc) (*Causes, string) {
	for i := range d.Seeds {
		sd := &d.Seeds[i]
		if sd.Dir == "" || !slices.Contains(p.FailingSeeds, sd.Seed) {
			continue
		}
		cs, err := ReadCauses(sd.Dir)
		if err != nil {
			continue // a broken record must not stop the report: it is left out
		}
		for j := range cs {
			if cs[j].Property == p.ID {
				return &cs[j], sd.Seed
			}
		}
	}
	return nil, ""
}
