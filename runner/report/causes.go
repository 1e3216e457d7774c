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
func ReadCauses(seedDir string) ([]Causes, error) { return readList[Causes](seedDir, CausesFile) }

// AddCauses records c in a seed directory's causes.json, replacing an
// earlier record for the same property (a later shrink knows at least as
// much).
func AddCauses(seedDir string, c Causes) error {
	return addByProperty(seedDir, CausesFile, c, func(x Causes) string { return x.Property })
}

// readList reads a JSON list a command keeps in a seed directory; a
// missing file is an empty list.
func readList[T any](seedDir, file string) ([]T, error) {
	b, err := os.ReadFile(filepath.Join(seedDir, file))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var xs []T
	if err := json.Unmarshal(b, &xs); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(seedDir, file), err)
	}
	return xs, nil
}

// addByProperty adds x to the list in seedDir/file, replacing an entry for
// the same property, and keeps the list in property order.
func addByProperty[T any](seedDir, file string, x T, prop func(T) string) error {
	xs, err := readList[T](seedDir, file)
	if err != nil {
		return err
	}
	xs = slices.DeleteFunc(xs, func(y T) bool { return prop(y) == prop(x) })
	xs = append(xs, x)
	slices.SortFunc(xs, func(a, b T) int { return strings.Compare(prop(a), prop(b)) })
	b, err := json.MarshalIndent(xs, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(seedDir, file), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("recording %s: %w", file, err)
	}
	return nil
}

// propertyCauses returns the first causes recorded for property p in one
// of its failing seeds (in the document's seed order), and that seed.
func (d *Document) propertyCauses(p PropertyDoc) (*Causes, string) {
	return firstForProperty(d, p, ReadCauses, func(c Causes) string { return c.Property })
}

// firstForProperty returns the first entry for property p that read finds
// in one of p's failing seeds' directories (in the document's seed order),
// and that seed.
func firstForProperty[T any](d *Document, p PropertyDoc, read func(string) ([]T, error), prop func(T) string) (*T, string) {
	for i := range d.Seeds {
		sd := &d.Seeds[i]
		if sd.Dir == "" || !slices.Contains(p.FailingSeeds, sd.Seed) {
			continue
		}
		xs, err := read(sd.Dir)
		if err != nil {
			continue // a broken record must not stop the report: it is left out
		}
		for j := range xs {
			if prop(xs[j]) == p.ID {
				return &xs[j], sd.Seed
			}
		}
	}
	return nil, ""
}
