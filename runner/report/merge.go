package report

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/mvrun/multiverse/assertions"
	"github.com/mvrun/multiverse/runner"
	"github.com/mvrun/multiverse/specs"
)

// Shard is what the document of a sharded run carries so that `mvrun
// report merge` can compute the verdicts of the whole run: which slice it
// ran, what identifies the run, and the collector's per-seed state (the
// verdicts alone cannot be merged: a Sometimes false in every seed of one
// shard may be true in another).
type Shard struct {
	// Index is the 1-based shard this document ran (0 for a merge), of
	// Count shards.
	Index int `json:"index,omitempty"`
	Count int `json:"count"`
	// Merged lists the shards a merged document holds; Missing those of
	// 1..Count it lacks (then the run is incomplete).
	Merged  []int `json:"merged,omitempty"`
	Missing []int `json:"missing,omitempty"`
	// SeedsTotal is how many seeds the whole run has.
	SeedsTotal int `json:"seeds_total"`
	// SpecHash identifies the spec and compose files ([HashSpec]); shards
	// of different specs do not merge.
	SpecHash string            `json:"spec_sha256"`
	State    *assertions.State `json:"state"`
	// Unsupported and Unimplemented are the counts behind the document's
	// lines of the same names.
	Unsupported   map[string]runner.Count `json:"unsupported_counts,omitempty"`
	Unimplemented map[string]runner.Count `json:"unimplemented_counts,omitempty"`
}

// shards returns the shard numbers d holds.
func (s *Shard) shards() []int {
	if s.Index > 0 {
		return []int{s.Index}
	}
	return s.Merged
}

// HashSpec returns the hex SHA-256 of what defines test t: its name and the
// contents of its spec and compose files. Shards of one run must agree on
// it.
func HashSpec(t *specs.Test) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "test %q\n", t.Name)
	for _, path := range []string{t.SpecFile, t.ComposeFile} {
		if path == "" {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("hashing the spec: %w", err)
		}
		fmt.Fprintf(h, "%d\n", len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ErrMerge is wrapped by every error of [Merge]: the documents are not
// shards of one run.
var ErrMerge = errors.New("cannot merge")

// Merge combines the documents of the shards of one run (`mvrun test
// --shard I/N`, or earlier merges) into the document the unsharded run
// would have produced: the same seeds, and verdicts, counterexamples and
// failing seeds computed from every shard's per-seed evaluations. Shards
// that are missing are listed in Shard.Missing and make the run not pass.
func Merge(docs []*Document) (*Document, error) {
	if len(docs) == 0 {
		return nil, fmt.Errorf("%w: no documents", ErrMerge)
	}
	first := docs[0]
	seen := map[int]int{}
	for i, d := range docs {
		if d.Shard == nil || d.Shard.State == nil {
			return nil, fmt.Errorf("%w: document %d (test %q) is not from a sharded run; run `mvrun test --shard I/N --json`", ErrMerge, i+1, d.Test)
		}
		s, f := d.Shard, first.Shard
		for _, c := range []struct {
			what      string
			got, want any
		}{
			{"test", d.Test, first.Test},
			{"spec (spec_sha256)", s.SpecHash, f.SpecHash},
			{"base seed", d.BaseSeed, first.BaseSeed},
			{"backend", d.Backend, first.Backend},
			{"shard count", s.Count, f.Count},
			{"seed count", s.SeedsTotal, f.SeedsTotal},
		} {
			if c.got != c.want {
				return nil, fmt.Errorf("%w: document %d has %s %v, document 1 has %v: they are shards of different runs", ErrMerge, i+1, c.what, c.got, c.want)
			}
		}
		for _, n := range s.shards() {
			if j, dup := seen[n]; dup {
				return nil, fmt.Errorf("%w: shard %d/%d is in documents %d and %d", ErrMerge, n, s.Count, j, i+1)
			}
			seen[n] = i + 1
		}
	}
	col := assertions.NewCollector()
	m := &Document{
		Test: first.Test, Spec: first.Spec, Backend: first.Backend, BaseSeed: first.BaseSeed,
		SeedsPlanned: first.Shard.SeedsTotal, ReplayFlags: first.ReplayFlags, Program: first.Program, SpecDigest: first.SpecDigest,
		Unsupported: []string{}, Seeds: []SeedDoc{},
		Shard: &Shard{Count: first.Shard.Count, SeedsTotal: first.Shard.SeedsTotal, SpecHash: first.Shard.SpecHash,
			Unsupported: map[string]runner.Count{}, Unimplemented: map[string]runner.Count{}},
	}
	var artifacts []string
	for _, d := range docs {
		if err := col.Import(d.Shard.State); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMerge, err)
		}
		m.Seeds = append(m.Seeds, d.Seeds...)
		m.Cancelled = m.Cancelled || d.Cancelled
		m.ElapsedMS = max(m.ElapsedMS, d.ElapsedMS)
		m.HistoryErrors = append(m.HistoryErrors, d.HistoryErrors...)
		if d.Artifacts != "" && !slices.Contains(artifacts, d.Artifacts) {
			artifacts = append(artifacts, d.Artifacts)
		}
		addCounts(m.Shard.Unsupported, d.Shard.Unsupported)
		addCounts(m.Shard.Unimplemented, d.Shard.Unimplemented)
	}
	slices.SortFunc(m.Seeds, func(a, b SeedDoc) int { return cmp.Compare(a.Index, b.Index) })
	m.SeedsRun = len(m.Seeds)
	m.Artifacts = strings.Join(artifacts, ", ")
	m.Shard.Merged = slices.Sorted(maps.Keys(seen))
	for n := 1; n <= m.Shard.Count; n++ {
		if _, ok := seen[n]; !ok {
			m.Shard.Missing = append(m.Shard.Missing, n)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(m.Shard.Unsupported)) {
		m.Unsupported = append(m.Unsupported, runner.FormatUnsupported(k, m.Shard.Unsupported[k]))
	}
	m.Unimplemented = []string{}
	for _, k := range slices.Sorted(maps.Keys(m.Shard.Unimplemented)) {
		m.Unimplemented = append(m.Unimplemented, runner.FormatUnimplemented(k, m.Shard.Unimplemented[k]))
	}
	m.Shard.State = col.Export()
	r := col.Result()
	m.setResult(r)
	// Each seed's failing list is judged on that seed alone, as in one run.
	for i := range m.Seeds {
		m.Seeds[i].Failing = m.failingIn(m.Seeds[i].Seed)
	}
	m.Passed = m.passed()
	return m, nil
}

// failingIn returns the ids of the properties whose failing seeds include
// seed, sorted.
func (d *Document) failingIn(seed string) []string {
	ids := []string{}
	for _, p := range d.Properties {
		if slices.Contains(p.FailingSeeds, seed) {
			ids = append(ids, p.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

func addCounts(dst, src map[string]runner.Count) {
	for k, c := range src {
		x := dst[k]
		dst[k] = runner.Count{N: x.N + c.N, Seeds: x.Seeds + c.Seeds}
	}
}
