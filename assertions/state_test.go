package assertions

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestExportImportEqualsOneCollector feeds the same evaluations, seed by
// seed, to one collector and to three "shards" whose exported states (via
// JSON, as they travel between machines) are imported into a fourth: the
// two results must be identical, including Sometimes properties met in one
// shard only, first counterexamples and undecided history checks.
func TestExportImportEqualsOneCollector(t *testing.T) {
	one := NewCollector()
	shards := []*Collector{NewCollector(), NewCollector(), NewCollector()}
	for s := uint64(1); s <= 12; s++ {
		sh := shards[s%3]
		for _, col := range []*Collector{one, sh} {
			feed := rand.New(rand.NewPCG(s, 9)) // same draws for both
			for i, k := range kinds {
				id := fmt.Sprintf("%s property", k.fn)
				if feed.IntN(3) == 0 {
					continue // not reached in this seed
				}
				// Sometimes true only in seed 7 (in one shard).
				cond := feed.IntN(4) != 0 && (k.assertType != "sometimes" || s == 7)
				col.Add(s, "node"+fmt.Sprint(feed.IntN(2)), "", i+1, assertLine(t, k, id, true, cond, map[string]any{"seed": s, "i": i}))
			}
			col.Builtin(s, "no node crashed", BuiltinAlways, s != 5, map[string]any{"seed": s})
			out := CheckPass
			switch s {
			case 4:
				out = CheckUnknown
			case 9:
				out = CheckFail
			}
			col.Check(s, "history ok", out, map[string]any{"seed": s})
			col.Check(s, "history undecided", map[bool]CheckOutcome{true: CheckUnknown, false: CheckPass}[s%4 == 2], map[string]any{"seed": s})
			col.Add(s, "node0", "cmd", 99, []byte(`{"antithesis_assert":`))
			col.AddLost(s, "node1", "", 2, "socket closed")
			col.SeedDone(s)
		}
	}
	merged := NewCollector()
	for _, sh := range shards {
		b, err := json.Marshal(sh.Export())
		if err != nil {
			t.Fatal(err)
		}
		var st State
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		if err := merged.Import(&st); err != nil {
			t.Fatal(err)
		}
	}
	want, got := jsonOf(t, one.Result()), jsonOf(t, merged.Result())
	if want != got {
		t.Errorf("merged result differs from the single collector's:\n got %s\nwant %s", got, want)
	}
	r := merged.Result()
	verdicts := map[string]Verdict{}
	for _, p := range r.Properties {
		verdicts[p.ID] = p.Verdict
	}
	if verdicts["Sometimes property"] != Pass || verdicts["history ok"] != Fail || verdicts["history undecided"] != Unknown {
		t.Errorf("verdicts %v", verdicts)
	}
	if !r.Undecided() {
		t.Error("Undecided() = false with an unknown verdict")
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	// Round-trip so that numbers in details compare the same way.
	var x any
	json.Unmarshal(b, &x)
	b, _ = json.Marshal(x)
	return string(b)
}

func TestImportConflict(t *testing.T) {
	a, b := NewCollector(), NewCollector()
	a.Builtin(1, "p", BuiltinAlways, true, nil)
	b.Builtin(2, "p", BuiltinSometimes, true, nil)
	if err := a.Import(b.Export()); err == nil {
		t.Error("importing a property of another kind did not fail")
	}
}

func TestCheckVerdicts(t *testing.T) {
	c := NewCollector()
	c.SeedDone(1)
	c.Check(2, "never", CheckPass, nil) // only seed 2 checks this one
	c.SeedDone(2)
	r := c.Result()
	for _, p := range r.Properties {
		if p.ID == "never" && (p.Verdict != Pass || p.DisplayType != DisplayLinearizable) {
			t.Errorf("%v", p)
		}
	}
	c2 := NewCollector()
	c2.Builtin(1, "other", BuiltinAlways, true, nil)
	c2.SeedDone(1)
	// A check no seed evaluated does not exist; the runner evaluates every
	// check in every seed, failing those with no history. Here: only unknown.
	c2.Check(1, "slow", CheckUnknown, map[string]any{"timeout": "1s"})
	for _, p := range c2.Result().Properties {
		if p.ID == "slow" && (p.Verdict != Unknown || p.FirstCounterexample == nil || len(p.UnknownSeeds) != 1) {
			t.Errorf("%+v", p)
		}
	}
}
