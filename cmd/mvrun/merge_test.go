package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mvrun/multiverse/assertions"
	"github.com/mvrun/multiverse/runner/report"
)

// comparable strips what differs between two runs of the same seeds
// (artifact paths, times, the shard bookkeeping) from a report.
func comparable(t *testing.T, d *report.Document) *report.Document {
	t.Helper()
	c := *d
	c.Artifacts, c.ElapsedMS, c.Shard = "", 0, nil
	c.Seeds = append([]report.SeedDoc(nil), d.Seeds...)
	for i := range c.Seeds {
		c.Seeds[i].Dir, c.Seeds[i].ElapsedMS = "", 0
	}
	c.Properties = append([]report.PropertyDoc(nil), d.Properties...)
	for i := range c.Properties {
		if ce := c.Properties[i].FirstCounterexample; ce != nil {
			x := *ce
			x.Details = nil // holds the seed's artifact path and check time
			c.Properties[i].FirstCounterexample = &x
		}
		c.Properties[i].Visualization = ""
	}
	return &c
}

func TestShardsMergeToTheUnshardedRun(t *testing.T) {
	spec := specPath(t, "spec.hcl")
	e := useFake(t, &fakeBackend{})
	code, out, errs := e.mvrun("test", spec, "--test", "sharded", "--seed", "0x5eed", "--json")
	if code != exitFailed {
		t.Fatalf("unsharded run: exit %d, want %d\n%s", code, exitFailed, errs)
	}
	var whole report.Document
	if err := json.Unmarshal([]byte(out), &whole); err != nil {
		t.Fatal(err)
	}
	var files []string
	for i := 1; i <= 3; i++ {
		code, out, errs := e.mvrun("test", spec, "--test", "sharded", "--seed", "0x5eed", "--json", "--shard", string(rune('0'+i))+"/3")
		if code != exitOK && code != exitFailed {
			t.Fatalf("shard %d/3: exit %d\n%s", i, code, errs)
		}
		f := filepath.Join(t.TempDir(), "shard.json")
		if err := os.WriteFile(f, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	junit := filepath.Join(t.TempDir(), "merged.xml")
	code, out, errs = e.mvrun(append([]string{"report", "merge", "--json", "--junit", junit, "--html", t.TempDir()}, files...)...)
	if code != exitFailed {
		t.Fatalf("merge: exit %d, want %d\n%s", code, exitFailed, errs)
	}
	var merged report.Document
	if err := json.Unmarshal([]byte(out), &merged); err != nil {
		t.Fatal(err)
	}
	if merged.Shard == nil || len(merged.Shard.Missing) != 0 || len(merged.Shard.Merged) != 3 {
		t.Fatalf("merged shard info %+v", merged.Shard)
	}
	w, m := comparable(t, &whole), comparable(t, &merged)
	if !reflect.DeepEqual(w, m) {
		wj, _ := json.MarshalIndent(w, "", " ")
		mj, _ := json.MarshalIndent(m, "", " ")
		t.Fatalf("merged report differs from the unsharded run's:\nunsharded: %s\nmerged: %s", wj, mj)
	}
	// The run must exercise what merging is about: a Sometimes met in
	// some seeds only, and a history check failing in some seeds.
	verdicts := map[string]assertions.Verdict{}
	for _, p := range merged.Properties {
		verdicts[p.ID] = p.Verdict
	}
	if verdicts[`workload command rare exited 0 at least once`] != assertions.Pass || verdicts[`history "register" is linearizable (kv)`] != assertions.Fail {
		t.Errorf("verdicts %v", verdicts)
	}
	if b, err := os.ReadFile(junit); err != nil || !strings.Contains(string(b), `classname="mvrun.sharded.check"`) {
		t.Errorf("junit: %v\n%s", err, b)
	}

	// Merging one shard twice, shards of another test, or a document that
	// is not a shard's, is an error (exit 2); a missing shard is exit 3.
	code, out, errs = e.mvrun("test", spec, "--test", "pass", "--seed", "0x5eed", "--json", "--shard", "1/3")
	other := filepath.Join(t.TempDir(), "other.json")
	os.WriteFile(other, []byte(out), 0o644)
	_, out, _ = e.mvrun("test", spec, "--test", "pass", "--seed", "0x5eed", "--json", "--shard", "2/3")
	other2 := filepath.Join(t.TempDir(), "other2.json")
	os.WriteFile(other2, []byte(out), 0o644)
	code2, outWhole, _ := e.mvrun("test", spec, "--test", "pass", "--seed", "0x5eed", "--json")
	plain := filepath.Join(t.TempDir(), "plain.json")
	os.WriteFile(plain, []byte(outWhole), 0o644)
	if code != exitOK || code2 != exitOK {
		t.Fatalf("pass runs: %d %d %s", code, code2, errs)
	}
	for _, tc := range []struct {
		files []string
		code  int
		err   string
	}{
		{[]string{files[0], files[0]}, exitUsage, "shard 1/3 is in documents 1 and 2"},
		{[]string{files[0], other}, exitUsage, "shards of different runs"},
		{[]string{plain}, exitUsage, "not from a sharded run"},
		{[]string{filepath.Join(t.TempDir(), "none.json")}, exitUsage, "no such file"},
		{[]string{files[1], files[2]}, exitFailed, "shards [1] of 3 are missing"},
		{[]string{other, other2}, exitInfra, "shards [3] of 3 are missing"},
	} {
		code, _, errs := e.mvrun(append([]string{"report", "merge"}, tc.files...)...)
		if code != tc.code || !strings.Contains(errs, tc.err) {
			t.Errorf("merge %v: exit %d, stderr %q; want %d and %q", tc.files, code, errs, tc.code, tc.err)
		}
	}
}

func TestShardAndHistoryErrors(t *testing.T) {
	spec := specPath(t, "spec.hcl")
	e := useFake(t, &fakeBackend{})
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"--test", "pass", "--seed", "1", "--shard", "5/4"}, exitUsage, "shard 5/4: want I/N with 1 <= I <= N"},
		{[]string{"--test", "pass", "--seed", "1", "--shard", "two"}, exitUsage, `"two": want I/N`},
		{[]string{"--test", "pass", "--shard", "1/2"}, exitUsage, "--shard needs --seed"},
		{[]string{"--test", "pass", "--seed", "1", "--shard", "4/4"}, exitUsage, "would run no seed"},
		{[]string{"--test", "badhistory", "--seed", "1"}, exitUsage, "not valid JSON"},
	} {
		code, _, errs := e.mvrun(append([]string{"test", spec}, tc.args...)...)
		if code != tc.code || !strings.Contains(errs, tc.err) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errs, tc.code, tc.err)
		}
	}
}
