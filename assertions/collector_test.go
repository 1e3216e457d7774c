package assertions

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

// kind is one assertion function of the SDK with the wire fields the
// Antithesis Go SDK v0.8.0 writes for it.
type kind struct {
	fn          string
	assertType  string
	display     string
	mustHit     bool
	fixedCond   *bool // reachability kinds always send the same condition
	extraDetail map[string]any
}

var (
	yes = true
	no  = false
)

var kinds = []kind{
	{fn: "Always", assertType: "always", display: "Always", mustHit: true},
	{fn: "AlwaysGreaterThan", assertType: "always", display: "Always", mustHit: true, extraDetail: map[string]any{"left": 3, "right": 5}},
	{fn: "AlwaysSome", assertType: "always", display: "Always", mustHit: true, extraDetail: map[string]any{"a": false, "b": true}},
	{fn: "AlwaysOrUnreachable", assertType: "always", display: "AlwaysOrUnreachable", mustHit: false},
	{fn: "Sometimes", assertType: "sometimes", display: "Sometimes", mustHit: true},
	{fn: "SometimesLessThan", assertType: "sometimes", display: "Sometimes", mustHit: true, extraDetail: map[string]any{"left": 1, "right": 2}},
	{fn: "SometimesAll", assertType: "sometimes", display: "Sometimes", mustHit: true, extraDetail: map[string]any{"a": true}},
	{fn: "Reachable", assertType: "reachability", display: "Reachable", mustHit: true, fixedCond: &yes},
	{fn: "Unreachable", assertType: "reachability", display: "Unreachable", mustHit: false, fixedCond: &no},
}

// assertLine renders an antithesis_assert line the way the SDK does.
func assertLine(t *testing.T, k kind, id string, hit, cond bool, details map[string]any) []byte {
	t.Helper()
	if k.fixedCond != nil {
		cond = *k.fixedCond
	}
	obj := map[string]any{"antithesis_assert": map[string]any{
		"id": id, "message": id, "condition": cond, "display_type": k.display,
		"hit": hit, "must_hit": k.mustHit, "assert_type": k.assertType,
		"location": map[string]any{"class": "example.com/app", "function": "main", "file": "main.go", "begin_line": 20, "begin_column": 0},
		"details":  details,
	}}
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// family returns the row of the verdict table (package doc) kind k belongs to.
func family(k kind) string {
	switch {
	case k.assertType == "always" && k.mustHit:
		return "Always"
	case k.assertType == "always":
		return "AlwaysOrUnreachable"
	case k.assertType == "sometimes":
		return "Sometimes"
	case k.mustHit:
		return "Reachable"
	}
	return "Unreachable"
}

// scenario gives each of seeds 1 and 2 a string of evaluations: 'T' true,
// 'F' false, empty = never reached there (only the catalog line is seen).
type scenario struct {
	name  string
	evals [2]string
}

var scenarios = []scenario{
	{"never reached", [2]string{"", ""}},
	{"reached true", [2]string{"T", "T"}},
	{"reached false", [2]string{"F", "F"}},
	{"true then false across seeds", [2]string{"T", "F"}},
	{"reached in one seed only", [2]string{"T", ""}},
	{"mixed within a seed", [2]string{"TF", "T"}},
}

type want struct {
	verdict          Verdict
	failing, passing []uint64
	reason           string // substring of Reason
}

// expected[family][scenario] is the verdict table under test.
var expected = map[string]map[string]want{
	"Always": {
		"never reached":                {Fail, []uint64{1, 2}, nil, "never reached in any of 2 seeds"},
		"reached true":                 {Pass, nil, []uint64{1, 2}, ""},
		"reached false":                {Fail, []uint64{1, 2}, nil, "false in 2 of 2 seeds (first in seed 0x0000000000000001, node n1)"},
		"true then false across seeds": {Fail, []uint64{2}, []uint64{1}, "false in 1 of 2 seeds (first in seed 0x0000000000000002"},
		"reached in one seed only":     {Pass, nil, []uint64{1}, ""},
		"mixed within a seed":          {Fail, []uint64{1}, []uint64{2}, "false in 1 of 2 seeds"},
	},
	"AlwaysOrUnreachable": {
		"never reached":                {Pass, nil, []uint64{1, 2}, ""},
		"reached true":                 {Pass, nil, []uint64{1, 2}, ""},
		"reached false":                {Fail, []uint64{1, 2}, nil, "false in 2 of 2 seeds"},
		"true then false across seeds": {Fail, []uint64{2}, []uint64{1}, "false in 1 of 2 seeds"},
		"reached in one seed only":     {Pass, nil, []uint64{1, 2}, ""},
		"mixed within a seed":          {Fail, []uint64{1}, []uint64{2}, "false in 1 of 2 seeds"},
	},
	"Sometimes": {
		"never reached":                {Fail, []uint64{1, 2}, nil, "never reached in any of 2 seeds"},
		"reached true":                 {Pass, nil, []uint64{1, 2}, ""},
		"reached false":                {Fail, []uint64{1, 2}, nil, "never true in any of 2 seeds (false 2 times)"},
		"true then false across seeds": {Pass, nil, []uint64{1}, ""},
		"reached in one seed only":     {Pass, nil, []uint64{1}, ""},
		"mixed within a seed":          {Pass, nil, []uint64{1, 2}, ""},
	},
	"Reachable": {
		"never reached":                {Fail, []uint64{1, 2}, nil, "never reached in any of 2 seeds"},
		"reached true":                 {Pass, nil, []uint64{1, 2}, ""},
		"reached false":                {Pass, nil, []uint64{1, 2}, ""},
		"true then false across seeds": {Pass, nil, []uint64{1, 2}, ""},
		"reached in one seed only":     {Pass, nil, []uint64{1}, ""},
		"mixed within a seed":          {Pass, nil, []uint64{1, 2}, ""},
	},
	"Unreachable": {
		"never reached":                {Pass, nil, []uint64{1, 2}, ""},
		"reached true":                 {Fail, []uint64{1, 2}, nil, "reached in 2 of 2 seeds (first in seed 0x0000000000000001, node n1)"},
		"reached false":                {Fail, []uint64{1, 2}, nil, "reached in 2 of 2 seeds"},
		"true then false across seeds": {Fail, []uint64{1, 2}, nil, "reached in 2 of 2 seeds"},
		"reached in one seed only":     {Fail, []uint64{1}, []uint64{2}, "reached in 1 of 2 seeds"},
		"mixed within a seed":          {Fail, []uint64{1, 2}, nil, "reached in 2 of 2 seeds"},
	},
}

func TestVerdictTable(t *testing.T) {
	for _, k := range kinds {
		for _, sc := range scenarios {
			t.Run(k.fn+"/"+sc.name, func(t *testing.T) {
				w, ok := expected[family(k)][sc.name]
				if !ok {
					t.Fatalf("no expectation for %s/%s", family(k), sc.name)
				}
				c := NewCollector()
				id := "prop " + k.fn
				wantTrue, wantFalse := 0, 0
				for i, ev := range sc.evals {
					seed := uint64(i + 1)
					c.Add(seed, "n1", "", 1, assertLine(t, k, id, false, false, nil))
					for j, e := range ev {
						cond := e == 'T'
						if k.fixedCond != nil {
							cond = *k.fixedCond
						}
						if cond {
							wantTrue++
						} else {
							wantFalse++
						}
						c.Add(seed, "n1", "", 2+j, assertLine(t, k, id, true, e == 'T', k.extraDetail))
					}
					c.SeedDone(seed)
				}
				r := c.Result()
				if len(r.Properties) != 1 {
					t.Fatalf("got %d properties, want 1", len(r.Properties))
				}
				p := r.Properties[0]
				if p.Verdict != w.verdict || !slices.Equal(p.FailingSeeds, w.failing) || !slices.Equal(p.PassingSeeds, w.passing) {
					t.Errorf("verdict %s failing %v passing %v; want %s %v %v (reason %q)",
						p.Verdict, p.FailingSeeds, p.PassingSeeds, w.verdict, w.failing, w.passing, p.Reason)
				}
				if !strings.Contains(p.Reason, w.reason) || (w.verdict == Pass) != (p.Reason == "") {
					t.Errorf("reason %q, want it to contain %q", p.Reason, w.reason)
				}
				if p.HitsTrue != wantTrue || p.HitsFalse != wantFalse {
					t.Errorf("hits %d/%d, want %d/%d", p.HitsTrue, p.HitsFalse, wantTrue, wantFalse)
				}
				if p.Type.String() != k.assertType || p.DisplayType != k.display || p.MustHit != k.mustHit || p.Builtin {
					t.Errorf("type %s/%s/%t builtin %t, want %s/%s/%t", p.Type, p.DisplayType, p.MustHit, p.Builtin, k.assertType, k.display, k.mustHit)
				}
				if p.Location.File != "main.go" || p.Location.Line != 20 {
					t.Errorf("location %+v", p.Location)
				}
				if r.Failed() != (w.verdict == Fail) {
					t.Errorf("Failed() = %t", r.Failed())
				}
				for _, s := range []uint64{1, 2} {
					got := r.FailingIn(s)
					want := slices.Contains(w.failing, s)
					if (len(got) == 1) != want {
						t.Errorf("FailingIn(%d) = %v, want failing %t", s, got, want)
					}
				}
				// A failure caused by an evaluation names it.
				if w.verdict == Fail && (wantFalse > 0 && family(k) != "Sometimes" || family(k) == "Unreachable") {
					cx := p.FirstCounterexample
					if cx == nil || cx.Seed != w.failing[0] || cx.Node != "n1" {
						t.Fatalf("counterexample %+v, want one in seed %d", cx, w.failing[0])
					}
					if k.extraDetail != nil && cx.Details == nil {
						t.Errorf("counterexample lost details")
					}
				}
			})
		}
	}
}

// TestReplayMatchesFailingSeeds checks that every failing seed, fed alone to
// a fresh Collector, fails the property: what "replay this seed" promises.
func TestReplayMatchesFailingSeeds(t *testing.T) {
	for _, k := range kinds {
		for _, sc := range scenarios {
			full := NewCollector()
			single := [2]*Collector{NewCollector(), NewCollector()}
			for i, ev := range sc.evals {
				seed := uint64(i + 1)
				for _, c := range []*Collector{full, single[i]} {
					c.Add(seed, "n", "", 1, assertLine(t, k, "p", false, false, nil))
					for j, e := range ev {
						c.Add(seed, "n", "", 2+j, assertLine(t, k, "p", true, e == 'T', nil))
					}
					c.SeedDone(seed)
				}
			}
			r := full.Result()
			for i, c := range single {
				seed := uint64(i + 1)
				inFull := len(r.FailingIn(seed)) > 0
				alone := c.Result().Failed()
				if inFull && !alone {
					t.Errorf("%s/%s: seed %d listed as failing but passes alone", k.fn, sc.name, seed)
				}
				if r.Failed() && alone && !inFull {
					t.Errorf("%s/%s: seed %d fails alone but is not listed", k.fn, sc.name, seed)
				}
			}
		}
	}
}

func TestCatalogOnlyRegistration(t *testing.T) {
	c := NewCollector()
	c.Add(7, "n1", "", 1, []byte(`{"antithesis_assert":{"id":"leader elected","message":"leader elected","condition":false,"display_type":"Sometimes","hit":false,"must_hit":true,"assert_type":"sometimes","location":{"class":"app","function":"elect","file":"raft.go","begin_line":99,"begin_column":3},"details":null}}`))
	c.Add(7, "n1", "", 2, []byte(`{"antithesis_assert":{"id":"no split brain","message":"no split brain","condition":false,"display_type":"AlwaysOrUnreachable","hit":false,"must_hit":false,"assert_type":"always","location":{},"details":null}}`))
	c.SeedDone(7)
	r := c.Result()
	if r.SeedsRun != 1 || len(r.Properties) != 2 {
		t.Fatalf("seeds %d, properties %v", r.SeedsRun, r.Properties)
	}
	p := r.Properties[0]
	if p.ID != "leader elected" || p.Verdict != Fail || p.Reason != "never reached in any of 1 seed" ||
		p.Location.File != "raft.go" || p.Location.Line != 99 || p.FirstCounterexample != nil || p.HitsTrue+p.HitsFalse != 0 {
		t.Errorf("catalog-only Sometimes: %+v", p)
	}
	if q := r.Properties[1]; q.ID != "no split brain" || q.Verdict != Pass {
		t.Errorf("catalog-only AlwaysOrUnreachable: %+v", q)
	}
	if got := r.FailingIn(7); !slices.Equal(got, []string{"leader elected"}) {
		t.Errorf("FailingIn(7) = %v", got)
	}
}

func TestMalformed(t *testing.T) {
	tests := []struct {
		name, line, err string
	}{
		{"not json", `hello world`, "not a JSON object"},
		{"array", `[1,2]`, "not a JSON object"},
		{"null", `null`, "not a JSON object: null"},
		{"empty object", `{}`, "empty JSON object"},
		{"truncated", `{"antithesis_assert":{"id":"x"`, "not a JSON object"},
		{"assert not object", `{"antithesis_assert":"x"}`, "want a JSON object"},
		{"no id", `{"antithesis_assert":{"assert_type":"always","hit":true,"must_hit":true,"condition":true}}`, `missing "id" and "message"`},
		{"no assert_type", `{"antithesis_assert":{"id":"x","hit":true,"must_hit":true,"condition":true}}`, `missing "assert_type"`},
		{"bad assert_type", `{"antithesis_assert":{"id":"x","assert_type":"never","hit":true,"must_hit":true,"condition":true}}`, `unknown "assert_type" "never"`},
		{"no hit", `{"antithesis_assert":{"id":"x","assert_type":"always","must_hit":true,"condition":true}}`, `missing "hit"`},
		{"no must_hit", `{"antithesis_assert":{"id":"x","assert_type":"always","hit":true,"condition":true}}`, `missing "must_hit"`},
		{"no condition", `{"antithesis_assert":{"id":"x","assert_type":"always","hit":true,"must_hit":true}}`, `missing "condition"`},
		{"hit wrong type", `{"antithesis_assert":{"id":"x","assert_type":"always","hit":"yes","must_hit":true,"condition":true}}`, "cannot unmarshal"},
		{"guidance no type", `{"antithesis_guidance":{"id":"g","hit":true}}`, `missing "guidance_type"`},
		{"sdk no protocol", `{"antithesis_sdk":{"sdk_version":"1"}}`, `missing "protocol_version"`},
		{"setup no status", `{"antithesis_setup":{"details":null}}`, `missing "status"`},
		{"lost negative", `{"mvrun_sdk_lost":{"count":-1}}`, "non-negative"},
		{"lost no count", `{"mvrun_sdk_lost":{"reason":"full"}}`, "non-negative"},
		{"good event, bad assert", `{"my_event":{"n":1},"antithesis_assert":{"id":"x"}}`, `antithesis_assert: missing "assert_type"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCollector()
			c.Add(3, "bank1", "transfer", 42, []byte(tt.line))
			r := c.Result()
			if r.MalformedTotal != 1 || len(r.Malformed) != 1 {
				t.Fatalf("malformed %d %v, want 1", r.MalformedTotal, r.Malformed)
			}
			m := r.Malformed[0]
			if m.Seed != 3 || m.Node != "bank1" || m.Proc != "transfer" || m.LineNo != 42 || m.Text != tt.line {
				t.Errorf("malformed entry %+v", m)
			}
			if !strings.Contains(m.Error, tt.err) {
				t.Errorf("error %q, want it to contain %q", m.Error, tt.err)
			}
			if len(r.Properties)+len(r.Events)+len(r.Lost)+len(r.Guidance)+len(r.SDKs)+len(r.SetupDone) != 0 {
				t.Errorf("a malformed line changed the result: %+v", r)
			}
		})
	}
}

func TestMalformedBounded(t *testing.T) {
	c := NewCollector()
	long := `{"x":` + strings.Repeat("é", MaxLineBytes) // invalid JSON, long, multibyte
	for i := MaxMalformedPerStream + 5; i >= 1; i-- {
		c.Add(1, "n", "", i, []byte(long))
	}
	c.Add(1, "n", "", 1000, []byte("   ")) // blank: not a line at all
	r := c.Result()
	if r.MalformedTotal != MaxMalformedPerStream+5 || len(r.Malformed) != MaxMalformedPerStream {
		t.Fatalf("total %d kept %d", r.MalformedTotal, len(r.Malformed))
	}
	for i, m := range r.Malformed {
		if m.LineNo != i+1 {
			t.Fatalf("kept line %d at %d: want the lowest line numbers in order", m.LineNo, i)
		}
		if len(m.Text) > MaxLineBytes || !strings.HasPrefix(long, m.Text) || !strings.HasSuffix(m.Text, "é") {
			t.Fatalf("text not cut on a rune boundary to %d bytes: %d bytes", MaxLineBytes, len(m.Text))
		}
	}
}

func TestBuiltins(t *testing.T) {
	c := NewCollector()
	c.Builtin(1, "no node crashed unexpectedly", BuiltinAlways, true, nil)
	c.Builtin(2, "no node crashed unexpectedly", BuiltinAlways, false, map[string]any{"node": "bank2", "exit": 137})
	c.Builtin(3, "no node crashed unexpectedly", BuiltinAlways, false, map[string]any{"node": "bank1"})
	c.Builtin(1, "workload command transfer exited 0 at least once", BuiltinSometimes, false, nil)
	c.Builtin(2, "workload command transfer exited 0 at least once", BuiltinSometimes, true, nil)
	c.Builtin(1, "workload command check exited 0 at least once", BuiltinSometimes, false, nil)
	c.Builtin(2, "workload command check exited 0 at least once", BuiltinSometimes, false, nil)
	c.Builtin(1, "setup completed", BuiltinAlways, true, nil)
	for s := uint64(1); s <= 3; s++ {
		c.SeedDone(s)
	}
	r := c.Result()
	got := map[string]*Property{}
	for _, p := range r.Properties {
		got[p.ID] = p
		if !p.Builtin {
			t.Errorf("%s: not marked builtin", p.ID)
		}
	}
	tests := []struct {
		id      string
		verdict Verdict
		failing []uint64
		display string
	}{
		{"no node crashed unexpectedly", Fail, []uint64{2, 3}, "Always"},
		{"workload command transfer exited 0 at least once", Pass, nil, "Sometimes"},
		{"workload command check exited 0 at least once", Fail, []uint64{1, 2, 3}, "Sometimes"},
		// Checked only in seed 1, and true there: reached and never false
		// over the run, so it passes (seeds 2 and 3 are in neither list).
		{"setup completed", Pass, nil, "Always"},
	}
	for _, tt := range tests {
		p := got[tt.id]
		if p == nil {
			t.Errorf("%s: missing", tt.id)
			continue
		}
		if p.Verdict != tt.verdict || !slices.Equal(p.FailingSeeds, tt.failing) || p.DisplayType != tt.display {
			t.Errorf("%s: %s %v %s, want %s %v %s", tt.id, p.Verdict, p.FailingSeeds, p.DisplayType, tt.verdict, tt.failing, tt.display)
		}
	}
	cx := got["no node crashed unexpectedly"].FirstCounterexample
	if cx == nil || cx.Seed != 2 || cx.Details["node"] != "bank2" {
		t.Errorf("counterexample %+v, want seed 2 bank2", cx)
	}
	if r.Properties[0].ID != "no node crashed unexpectedly" || r.Properties[len(r.Properties)-1].Verdict != Pass {
		t.Errorf("order: failing first then by id: %v", r.Properties)
	}
}

func TestConflictingKinds(t *testing.T) {
	k := kinds[0] // Always
	s := kinds[4] // Sometimes
	c := NewCollector()
	c.Add(1, "n", "", 1, assertLine(t, k, "x", true, true, nil))
	c.Add(1, "n", "", 2, assertLine(t, s, "x", true, false, nil))
	c.Builtin(1, "x", BuiltinAlways, false, nil)
	r := c.Result()
	if r.MalformedTotal != 2 {
		t.Fatalf("malformed %v, want 2 conflicts", r.Malformed)
	}
	for _, m := range r.Malformed {
		if !strings.Contains(m.Error, "give them different messages") {
			t.Errorf("conflict error %q", m.Error)
		}
	}
	if p := r.Properties[0]; p.HitsFalse != 0 || p.Verdict != Pass {
		t.Errorf("conflicting lines were counted: %+v", p)
	}
}

func TestLostEventsSetupGuidanceSDK(t *testing.T) {
	c := NewCollector()
	lines := []string{
		`{"antithesis_sdk":{"language":{"name":"Go","version":"go1.26"},"protocol_version":"1.1.0","sdk_version":"0.1.0"}}`,
		`{"mvrun_sdk_lost":{"count":3,"reason":"queue full"}}`,
		`{"mvrun_sdk_lost":{"count":4,"reason":"queue full"}}`,
		`{"mvrun_sdk_lost":{"count":1,"reason":"write failed"}}`,
		`{"antithesis_setup":{"status":"complete","details":null}}`,
		`{"antithesis_setup":{"status":"starting"}}`,
		`{"my_event":{"n":12345678901234567890}}`,
		`{"antithesis_guidance":{"id":"g","message":"g","guidance_type":"numeric","maximize":true,"hit":true,"guidance_data":{"left":3,"right":5},"location":{}}}`,
		`{"antithesis_guidance":{"id":"g","message":"g","guidance_type":"numeric","maximize":true,"hit":true,"guidance_data":{"left":4,"right":5},"location":{}}}`,
		`{"antithesis_assert":{"hit":true,"must_hit":true,"assert_type":"always","display_type":"Always","message":"Go application under test compiled with CGO enabled","id":"Go application under test compiled with CGO enabled","condition":false,"location":{}}}`,
	}
	for i, l := range lines {
		c.Add(5, "bank1", "", i+1, []byte(l))
	}
	c.Add(5, "bank2", "", 1, []byte(lines[0]))
	c.AddLost(5, "bank1", "", 2, "write failed") // seen on stderr: adds to the same entry
	c.AddLost(5, "bank2", "check", 1, "channel broken")
	c.AddLost(5, "bank2", "check", 0, "nothing lost") // ignored
	r := c.Result()
	if r.MalformedTotal != 0 {
		t.Fatalf("malformed: %v", r.Malformed)
	}
	wantLost := []Lost{{5, "bank1", "", 7, "queue full"}, {5, "bank1", "", 3, "write failed"}, {5, "bank2", "check", 1, "channel broken"}}
	if !reflect.DeepEqual(r.Lost, wantLost) {
		t.Errorf("lost %+v, want %+v", r.Lost, wantLost)
	}
	if !reflect.DeepEqual(r.SetupDone, map[uint64]bool{5: true}) {
		t.Errorf("setup %v", r.SetupDone)
	}
	if len(r.Events) != 2 || r.Events[0].Name != "antithesis_setup" || r.Events[1].Name != "my_event" {
		t.Fatalf("events %+v", r.Events)
	}
	if n := r.Events[1].Value.(map[string]any)["n"]; fmt.Sprint(n) != "12345678901234567890" {
		t.Errorf("big number changed: %v", n)
	}
	wantG := []Guidance{{ID: "g", Message: "g", GuidanceType: "numeric", Maximize: true, Hits: 2}}
	if !reflect.DeepEqual(r.Guidance, wantG) {
		t.Errorf("guidance %+v", r.Guidance)
	}
	wantSDK := []SDKCount{{SDK{"Go", "go1.26", "0.1.0", "1.1.0"}, 2}}
	if !reflect.DeepEqual(r.SDKs, wantSDK) {
		t.Errorf("sdks %+v", r.SDKs)
	}
	if len(r.Properties) != 0 || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "cgo") {
		t.Errorf("degraded-mode property: properties %v notes %v", r.Properties, r.Notes)
	}
}

func TestEventsBounded(t *testing.T) {
	c := NewCollector()
	n := MaxEventsPerStream + 10
	for i := n; i >= 1; i-- {
		c.Add(1, "n", "w", i, []byte(`{"tick":{}}`))
	}
	r := c.Result()
	if len(r.Events) != MaxEventsPerStream || r.EventsDropped != 10 {
		t.Fatalf("kept %d dropped %d", len(r.Events), r.EventsDropped)
	}
	if r.Events[0].LineNo != 1 || r.Events[len(r.Events)-1].LineNo != MaxEventsPerStream {
		t.Errorf("kept lines %d..%d, want the lowest", r.Events[0].LineNo, r.Events[len(r.Events)-1].LineNo)
	}
}

// TestUnfinishedSeedCounts: a violation in a seed that never finished (the
// runner gave up on it) still fails the property and names that seed.
func TestUnfinishedSeedCounts(t *testing.T) {
	c := NewCollector()
	c.Add(9, "n", "", 1, assertLine(t, kinds[0], "p", true, false, nil))
	r := c.Result()
	if p := r.Properties[0]; r.SeedsRun != 0 || p.Verdict != Fail || !slices.Equal(p.FailingSeeds, []uint64{9}) {
		t.Errorf("seeds run %d, property %+v", r.SeedsRun, p)
	}
}

// TestDeterministic feeds the same lines in different orders from many
// goroutines and requires identical results.
func TestDeterministic(t *testing.T) {
	type rec struct {
		seed       uint64
		node, proc string
		no         int
		line       []byte
	}
	var recs []rec
	for seed := uint64(1); seed <= 4; seed++ {
		for _, node := range []string{"a", "b", "c"} {
			for i, k := range kinds {
				cond := (int(seed)+i)%3 != 0
				recs = append(recs, rec{seed, node, "", i + 1, assertLine(t, k, k.fn, true, cond, map[string]any{"node": node})})
			}
			recs = append(recs, rec{seed, node, "w", 1, []byte(`{"ev":1}`)}, rec{seed, node, "w", 2, []byte(`oops`)})
		}
	}
	run := func(order int) *Result {
		rs := slices.Clone(recs)
		r := rand.New(rand.NewPCG(uint64(order), 1))
		r.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
		c := NewCollector()
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := w; i < len(rs); i += 4 {
					c.Add(rs[i].seed, rs[i].node, rs[i].proc, rs[i].no, rs[i].line)
				}
			})
		}
		wg.Wait()
		for s := uint64(1); s <= 4; s++ {
			c.SeedDone(s)
		}
		return c.Result()
	}
	first := run(0)
	if !first.Failed() || first.MalformedTotal != 12 {
		t.Fatalf("test data should fail and have 12 malformed lines: %v %d", first.Failed(), first.MalformedTotal)
	}
	for order := 1; order < 5; order++ {
		if got := run(order); !reflect.DeepEqual(got, first) {
			t.Fatalf("order %d gave a different result", order)
		}
	}
}

// TestInterrupted checks the verdicts of a partial run: failures that
// happened stand; failures for want of something become undecided.
func TestInterrupted(t *testing.T) {
	c := NewCollector()
	byFn := map[string]kind{}
	for _, k := range kinds {
		byFn[k.fn] = k
	}
	add := func(fn, id string, hit, cond bool) {
		c.Add(1, "n", "", len(id), assertLine(t, byFn[fn], id, hit, cond, nil))
	}
	add("Always", "always false", true, false)
	add("Always", "always unreached", false, true)
	add("AlwaysOrUnreachable", "aou false", true, false)
	add("Sometimes", "sometimes unmet", true, false)
	add("Sometimes", "sometimes met", true, true)
	add("Reachable", "reachable unreached", false, true)
	add("Unreachable", "unreachable reached", true, false)
	c.Builtin(1, "builtin sometimes", BuiltinSometimes, false, nil)
	c.SeedDone(1)
	r := c.Result()
	r.Interrupted()
	want := map[string]Verdict{
		"always false": Fail, "aou false": Fail, "unreachable reached": Fail,
		"always unreached": Undecided, "sometimes unmet": Undecided, "reachable unreached": Undecided, "builtin sometimes": Undecided,
		"sometimes met": Pass,
	}
	var order []Verdict
	for _, p := range r.Properties {
		order = append(order, p.Verdict)
		if p.Verdict != want[p.ID] {
			t.Errorf("%q: verdict %s, want %s", p.ID, p.Verdict, want[p.ID])
		}
		if p.Verdict == Undecided && (!strings.HasPrefix(p.Reason, "not decided (run interrupted)") || len(p.FailingSeeds) != 0) {
			t.Errorf("%q: reason %q, failing seeds %v", p.ID, p.Reason, p.FailingSeeds)
		}
	}
	if !slices.IsSortedFunc(order, func(a, b Verdict) int {
		rank := map[Verdict]int{Fail: 0, Undecided: 1, Pass: 2}
		return rank[a] - rank[b]
	}) {
		t.Errorf("verdicts not sorted fail, undecided, pass: %v", order)
	}
	if r.FailingIn(1) == nil || slices.Contains(r.FailingIn(1), "sometimes unmet") {
		t.Errorf("FailingIn(1) = %v, want the observed failures only", r.FailingIn(1))
	}
}

// TestSDKDiagnostics checks that the Antithesis SDK's antithesis_error and
// antithesis_warning lines (v0.9.0 on) become notes, once per distinct
// report however many processes send it, and never properties or events;
// one without a message is malformed.
func TestSDKDiagnostics(t *testing.T) {
	c := NewCollector()
	warn := `{"antithesis_warning":{"code":6002,"message":"Go SDK replaced non-finite numbers in details for \"x\"","context":"x"}}`
	for seed := uint64(1); seed <= 2; seed++ {
		c.Add(seed, "n1", "", 1, []byte(warn))
		c.Add(seed, "n2", "", 1, []byte(warn))
		c.SeedDone(seed)
	}
	c.Add(3, "n1", "", 1, []byte(`{"antithesis_error":{"code":6001,"message":"Go SDK failed to serialize details for \"y\": boom","context":"y"}}`))
	c.Add(3, "n1", "", 2, []byte(`{"antithesis_error":{"code":6001,"context":"y"}}`))
	c.SeedDone(3)
	r := c.Result()
	want := []string{
		`the Antithesis SDK reported antithesis_error 6001: Go SDK failed to serialize details for "y": boom`,
		`the Antithesis SDK reported antithesis_warning 6002: Go SDK replaced non-finite numbers in details for "x"`,
	}
	if !reflect.DeepEqual(r.Notes, want) {
		t.Errorf("notes:\n got %q\nwant %q", r.Notes, want)
	}
	if len(r.Properties) != 0 || len(r.Events) != 0 {
		t.Errorf("diagnostics became properties %v or events %v", r.Properties, r.Events)
	}
	if r.MalformedTotal != 1 || !strings.Contains(r.Malformed[0].Error, `missing "message"`) {
		t.Errorf("malformed %+v, want the line without a message", r.Malformed)
	}
}
