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

// TestParseWindow reads strace windows and refuses malformed ones.
func TestParseWindow(t *testing.T) {
	from, to, err := parseWindow("10s..12.5s")
	if err != nil || from != 10*time.Second || to != 12500*time.Millisecond {
		t.Errorf("parseWindow: %v, %v, %v", from, to, err)
	}
	for _, bad := range []string{"10s", "12s..10s", "x..1s", "-1s..2s"} {
		if _, _, err := parseWindow(bad); err == nil {
			t.Errorf("parseWindow(%q) accepted", bad)
		}
	}
}

// TestEventMoment takes event:N from a seed's timeline, 1-based, and says
// how many entries there are when N is not one of them.
func TestEventMoment(t *testing.T) {
	dir := t.TempDir()
	tl := `{"at_ns":100,"kind":"phase","who":"runner","text":"setup"}
{"at_ns":2500000000,"kind":"fault","who":"faults","text":"kill kv1"}
`
	if err := os.WriteFile(filepath.Join(dir, "timeline.jsonl"), []byte(tl), 0o644); err != nil {
		t.Fatal(err)
	}
	d, what, err := eventMoment(dir, 2)
	if err != nil || d != 2500*time.Millisecond || !strings.Contains(what, "kill kv1") {
		t.Errorf("event:2 = %v %q %v", d, what, err)
	}
	if _, _, err := eventMoment(dir, 3); err == nil || !strings.Contains(err.Error(), "has 2 entries") {
		t.Errorf("event:3: %v", err)
	}
}

// TestBranchCheck accepts a replay whose trace log matches the seed's up
// to its branch mark and names the first line that does not.
func TestBranchCheck(t *testing.T) {
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed.log")
	os.WriteFile(seed, []byte("1 1 p 00000000000000aa\n5 9 h 00000000000000bb\n9 20 x 00000000000000cc\n"), 0o644)
	good := filepath.Join(dir, "good.log")
	os.WriteFile(good, []byte("1 1 p 00000000000000aa\n5 9 h 00000000000000bb\n7 branch - 00000000000000dd\n8 30 x 00000000000000ee\n"), 0o644)
	bad := filepath.Join(dir, "bad.log")
	os.WriteFile(bad, []byte("1 1 p 00000000000000aa\n5 9 h 0000000000000099\n7 branch - 00000000000000dd\n"), 0o644)
	if line, ok := branchCheck(seed, good); !ok || !strings.Contains(line, "2 trace log lines match") {
		t.Errorf("good replay: %v %s", ok, line)
	}
	if line, ok := branchCheck(seed, bad); ok || !strings.Contains(line, "DIVERGED") {
		t.Errorf("diverged replay: %v %s", ok, line)
	}
}
