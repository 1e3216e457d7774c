// Package compat checks that the mvrun SDK sends the same wire messages as
// the Antithesis Go SDK for the same calls.
package compat

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"

	"benchcmp/compat/env"

	aassert "github.com/antithesishq/antithesis-sdk-go/assert"
	alifecycle "github.com/antithesishq/antithesis-sdk-go/lifecycle"
	massert "github.com/mvrun/multiverse/sdk/assert"
	mlifecycle "github.com/mvrun/multiverse/sdk/lifecycle"
)

func TestMain(m *testing.M) {
	code := m.Run()
	os.RemoveAll(env.Dir)
	os.Exit(code)
}

// calls makes each call through both SDKs, one after the other (so their
// locations differ only in the line, which the comparison ignores).
func calls() {
	err := fmt.Errorf("ctx: %w", errors.New("boom"))
	for _, c := range []bool{true, false, true} {
		aassert.Always(c, "always", map[string]any{"err": err})
		massert.Always(c, "always", map[string]any{"err": err})
		aassert.AlwaysOrUnreachable(c, "aou", nil)
		massert.AlwaysOrUnreachable(c, "aou", nil)
		aassert.Sometimes(c, "sometimes", map[string]any{"n": []any{1, "x"}})
		massert.Sometimes(c, "sometimes", map[string]any{"n": []any{1, "x"}})
	}
	aassert.Reachable("reachable", nil)
	massert.Reachable("reachable", nil)
	aassert.Unreachable("unreachable", map[string]any{"k": 1.5})
	massert.Unreachable("unreachable", map[string]any{"k": 1.5})
	inf := map[string]any{"nan": math.NaN(), "up": math.Inf(1), "down": math.Inf(-1)}
	aassert.Reachable("non-finite", inf)
	massert.Reachable("non-finite", inf)
	for _, v := range []int{3, 9, -4} {
		aassert.AlwaysGreaterThan(v, 0, "gt", nil)
		massert.AlwaysGreaterThan(v, 0, "gt", nil)
		aassert.AlwaysGreaterThanOrEqualTo(uint32(v), 2, "gte", nil)
		massert.AlwaysGreaterThanOrEqualTo(uint32(v), 2, "gte", nil)
		aassert.AlwaysLessThan(float64(v), 5, "lt", nil)
		massert.AlwaysLessThan(float64(v), 5, "lt", nil)
		aassert.AlwaysLessThanOrEqualTo(int8(v), 3, "lte", map[string]any{"d": 1})
		massert.AlwaysLessThanOrEqualTo(int8(v), 3, "lte", map[string]any{"d": 1})
		aassert.SometimesGreaterThan(int64(v), 4, "sgt", nil)
		massert.SometimesGreaterThan(int64(v), 4, "sgt", nil)
		aassert.SometimesGreaterThanOrEqualTo(v, 9, "sgte", nil)
		massert.SometimesGreaterThanOrEqualTo(v, 9, "sgte", nil)
		aassert.SometimesLessThan(v, -4, "slt", nil)
		massert.SometimesLessThan(v, -4, "slt", nil)
		aassert.SometimesLessThanOrEqualTo(uint(v+10), 7, "slte", nil)
		massert.SometimesLessThanOrEqualTo(uint(v+10), 7, "slte", nil)
		ab := []aassert.NamedBool{{First: "pos", Second: v > 0}, {First: "big", Second: v > 5}}
		mb := []massert.NamedBool{{First: "pos", Second: v > 0}, {First: "big", Second: v > 5}}
		aassert.AlwaysSome(ab, "some", nil)
		massert.AlwaysSome(mb, "some", nil)
		aassert.SometimesAll(ab, "all", map[string]any{"v": v})
		massert.SometimesAll(mb, "all", map[string]any{"v": v})
	}
	aassert.AssertRaw(false, "raw", nil, "c", "f", "x.go", 3, 4, false, true, "always", "Always", "raw")
	massert.AssertRaw(false, "raw", nil, "c", "f", "x.go", 3, 4, false, true, "always", "Always", "raw")
	aassert.NumericGuidanceRaw(0, 0, "rawn", "rawn", "c", "f", "x.go", 5, 2, "minimize", false)
	massert.NumericGuidanceRaw(0, 0, "rawn", "rawn", "c", "f", "x.go", 5, 2, "minimize", false)
	aassert.BooleanGuidanceRaw(nil, "rawb", "rawb", "c", "f", "x.go", 6, 3, "none", false)
	massert.BooleanGuidanceRaw(nil, "rawb", "rawb", "c", "f", "x.go", 6, 3, "none", false)
	aassert.AssertRaw(true, "rawhit", map[string]any{}, "c", "f", "x.go", 7, 1, true, true, "always", "Always", "rawhit")
	massert.AssertRaw(true, "rawhit", map[string]any{}, "c", "f", "x.go", 7, 1, true, true, "always", "Always", "rawhit")
	for _, hit := range []bool{false, true} {
		for _, c := range []bool{true, false, false} {
			aassert.RichAssertRaw(c, "rich", map[string]any{"left": "shadowed", "k": err}, map[string]any{"left": 3, "right": 5},
				"c", "f", "x.go", 8, 2, hit, true, "always", "Always", "rich")
			massert.RichAssertRaw(c, "rich", map[string]any{"left": "shadowed", "k": err}, map[string]any{"left": 3, "right": 5},
				"c", "f", "x.go", 8, 2, hit, true, "always", "Always", "rich")
			aassert.RichAssertRaw(c, "rich nil", nil, nil, "c", "f", "x.go", 9, 2, hit, false, "sometimes", "Sometimes", "rich nil")
			massert.RichAssertRaw(c, "rich nil", nil, nil, "c", "f", "x.go", 9, 2, hit, false, "sometimes", "Sometimes", "rich nil")
		}
	}
	alifecycle.SetupComplete(map[string]any{"x": 1})
	mlifecycle.SetupComplete(map[string]any{"x": 1})
	alifecycle.SendEvent("ev", map[string]any{"err": err})
	mlifecycle.SendEvent("ev", map[string]any{"err": err})
	alifecycle.SendEvent("ev nil", nil)
	mlifecycle.SendEvent("ev nil", nil)
	alifecycle.SendEvent("ev nil map", map[string]any(nil))
	mlifecycle.SendEvent("ev nil map", map[string]any(nil))
	alifecycle.SendEvent("ev number", 42)
	mlifecycle.SendEvent("ev number", 42)
	alifecycle.SendEvent("ev list", []any{1, "x"})
	mlifecycle.SendEvent("ev list", []any{1, "x"})
}

// keyed reads a JSONL file into the first line per key. Antithesis sends
// boolean guidance on every call where mvrun sends it on new values only, so
// only the first guidance line per id is compared.
func keyed(t *testing.T, path string) (map[string]any, []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	var order []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var m map[string]map[string]any
		var v any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			json.Unmarshal([]byte(l), &v)
		}
		var key string
		for k, body := range m {
			switch k {
			case "antithesis_sdk":
				continue
			case "antithesis_warning", "antithesis_error":
				// The Antithesis SDK's reports about itself (here: that it
				// replaced non-finite numbers); mvrun's SDK has none, and
				// mvrun shows them as notes when the other SDK sends them.
				continue
			case "antithesis_assert":
				key = fmt.Sprintf("assert/%v/%v/%v", body["id"], body["hit"], body["condition"])
			case "antithesis_guidance":
				key = fmt.Sprintf("guidance/%v/%v", body["id"], body["hit"])
			default:
				key = k
			}
		}
		if key == "" {
			continue
		}
		if _, dup := out[key]; !dup {
			var whole map[string]map[string]any
			json.Unmarshal([]byte(l), &whole)
			for _, body := range whole {
				if loc, ok := body["location"].(map[string]any); ok && body["hit"] == true {
					delete(loc, "begin_line")
				}
			}
			out[key] = whole
			order = append(order, key)
		}
	}
	return out, order
}

func TestSameWireMessages(t *testing.T) {
	calls()
	a, order := keyed(t, env.Antithesis)
	t.Logf("comparing %d distinct lines", len(order))
	m, _ := keyed(t, env.Mvrun)
	if len(a) < 30 {
		t.Fatalf("only %d distinct Antithesis lines: was its local output active?", len(a))
	}
	for _, k := range order {
		if k == "ev" {
			// Antithesis renders an error in event details as {} (the
			// struct has no exported fields); mvrun renders it with %+v,
			// as both SDKs do in assertion details.
			if got := fmt.Sprint(m[k]); got != "map[ev:map[err:ctx: boom]]" {
				t.Errorf("event: %s", got)
			}
			continue
		}
		if !reflect.DeepEqual(a[k], m[k]) {
			aj, _ := json.Marshal(a[k])
			mj, _ := json.Marshal(m[k])
			t.Errorf("%s differs:\nantithesis: %s\nmvrun:      %s", k, aj, mj)
		}
	}
	for k := range m {
		if _, ok := a[k]; !ok {
			mj, _ := json.Marshal(m[k])
			t.Errorf("mvrun sent %s that Antithesis did not: %s", k, mj)
		}
	}
}
