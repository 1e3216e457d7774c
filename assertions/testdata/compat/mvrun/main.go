// Command mvrun makes every kind of assertion call with the mvrun
// SDK. testdata/compat/antithesis is the same program on the Antithesis SDK; only
// the import paths differ (compat_test.go checks that).
//
// Run with "a" or "b": the "mixed" properties are true in one and false in
// the other, so two runs stand for two seeds.
package main

import (
	"errors"
	"os"

	"github.com/mvrun/multiverse/sdk/assert"
	"github.com/mvrun/multiverse/sdk/lifecycle"
)

// catalogEntry is what generated catalog code registers at start-up.
type catalogEntry struct {
	message, assertType, display string
	mustHit                      bool
}

var catalog = []catalogEntry{
	{"Always never", "always", "Always", true},
	{"AlwaysOrUnreachable never", "always", "AlwaysOrUnreachable", false},
	{"Sometimes never", "sometimes", "Sometimes", true},
	{"Reachable never", "reachability", "Reachable", true},
	{"Unreachable never", "reachability", "Unreachable", false},
	{"Always pass", "always", "Always", true},
	{"Sometimes fail", "sometimes", "Sometimes", true},
}

func main() {
	b := len(os.Args) > 1 && os.Args[1] == "b"
	for _, c := range catalog {
		assert.AssertRaw(false, c.message, nil, "main", "main", "main.go", 1, 0, false, c.mustHit, c.assertType, c.display, c.message)
	}
	lifecycle.SetupComplete(map[string]any{"nodes": 3})
	details := map[string]any{"err": errors.New("boom"), "n": 7, "s": "x", "nested": map[string]any{"ok": true, "list": []any{1, "two"}}}
	// Evaluate each several times: only the first pass and first fail per
	// property are sent by either SDK.
	for i := range 3 {
		assert.Always(true, "Always pass", details)
		assert.Always(false, "Always fail", details)
		assert.Always(!b, "Always mixed", nil)
		assert.Always(i != 1, "Always mixed in process", map[string]any{"i": i})
		assert.AlwaysOrUnreachable(true, "AlwaysOrUnreachable pass", nil)
		assert.AlwaysOrUnreachable(false, "AlwaysOrUnreachable fail", details)
		assert.AlwaysOrUnreachable(b, "AlwaysOrUnreachable mixed", nil)
		assert.Sometimes(true, "Sometimes pass", nil)
		assert.Sometimes(false, "Sometimes fail", details)
		assert.Sometimes(b, "Sometimes mixed", nil)
		assert.Reachable("Reachable hit", details)
		if !b {
			assert.Reachable("Reachable mixed", nil)
			assert.Unreachable("Unreachable mixed", nil)
		}
		assert.Unreachable("Unreachable hit", details)

		assert.AlwaysGreaterThan(5, 3, "AlwaysGreaterThan pass", nil)
		assert.AlwaysGreaterThan(int64(3), int64(5), "AlwaysGreaterThan fail", details)
		assert.AlwaysGreaterThanOrEqualTo(uint8(3), uint8(3), "AlwaysGreaterThanOrEqualTo pass", nil)
		assert.AlwaysLessThan(1.5, 0.25, "AlwaysLessThan fail", nil)
		assert.AlwaysLessThanOrEqualTo(int32(i), int32(1), "AlwaysLessThanOrEqualTo mixed in process", nil)
		assert.SometimesGreaterThan(uint64(i), uint64(1), "SometimesGreaterThan mixed in process", nil)
		assert.SometimesGreaterThanOrEqualTo(float32(0.5), float32(1), "SometimesGreaterThanOrEqualTo fail", nil)
		assert.SometimesLessThan(-2, -1, "SometimesLessThan pass", nil)
		assert.SometimesLessThanOrEqualTo(i, 0, "SometimesLessThanOrEqualTo mixed in process", nil)

		assert.AlwaysSome([]assert.NamedBool{{First: "x", Second: false}, {First: "y", Second: !b}}, "AlwaysSome mixed", nil)
		assert.AlwaysSome([]assert.NamedBool{{First: "x", Second: false}, {First: "y", Second: i == 0}}, "AlwaysSome mixed in process", details)
		assert.SometimesAll([]assert.NamedBool{{First: "x", Second: true}, {First: "y", Second: b}}, "SometimesAll mixed", nil)
		assert.SometimesAll([]assert.NamedBool{{First: "x", Second: false}}, "SometimesAll fail", nil)
	}
	lifecycle.SendEvent("compat_event", map[string]any{"k": "v", "n": 1})
}
