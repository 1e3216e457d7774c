package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFirstFailure reads the moment of a first failure from a seed's
// events: an Always that is false, an Unreachable that is hit, or a named
// property's; passing evaluations and other events are skipped.
func TestFirstFailure(t *testing.T) {
	events := filepath.Join(t.TempDir(), "events.jsonl")
	lines := []string{
		`{"at_ns":100,"event":{"antithesis_sdk":{}}}`,
		`{"at_ns":200,"event":{"antithesis_assert":{"id":"ok","condition":true,"hit":true,"assert_type":"always","display_type":"Always"}}}`,
		`{"at_ns":300,"event":{"antithesis_assert":{"id":"rare","condition":false,"hit":true,"assert_type":"sometimes","display_type":"Sometimes"}}}`,
		`{"at_ns":400,"event":{"antithesis_assert":{"id":"never","condition":true,"hit":true,"assert_type":"always","display_type":"Unreachable"}}}`,
		`{"at_ns":500,"event":{"antithesis_assert":{"id":"ok","condition":false,"hit":true,"assert_type":"always","display_type":"Always"}}}`,
	}
	if err := os.WriteFile(events, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		prop string
		want time.Duration
		err  string
	}{
		{"", 400, ""},
		{"ok", 500, ""},
		{"rare", 0, "never failed"},
	} {
		got, err := firstFailure(events, tc.prop)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("firstFailure(%q) = %v, %v; want error %q", tc.prop, got, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("firstFailure(%q) = %v, %v; want %v", tc.prop, got, err, tc.want)
		}
	}
}
