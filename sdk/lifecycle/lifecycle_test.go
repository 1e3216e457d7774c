package lifecycle

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mvrun/multiverse/sdk/internal/wire"
)

func TestLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sdk.jsonl")
	wire.Reset(func(k string) string {
		if k == wire.EnvSDK {
			return "file:" + path
		}
		return ""
	}, os.Stderr)
	t.Cleanup(func() { wire.Reset(func(string) string { return "" }, os.Stderr) })

	SetupComplete(map[string]any{"node": "n1"})
	SetupComplete(nil)
	SetupComplete(map[string]any(nil))
	SetupComplete("ready")
	SendEvent("leader_elected", map[string]any{"term": 3, "err": errors.New("x")})
	SendEvent("quote\"d", []int{1})
	SendEvent("empty", nil)
	SendEvent("empty map", map[string]any{})
	SendEvent("progress", 42)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	want := []string{
		`{"antithesis_setup":{"status":"complete","details":{"node":"n1"}}}`,
		`{"antithesis_setup":{"status":"complete"}}`,
		`{"antithesis_setup":{"status":"complete"}}`,
		`{"antithesis_setup":{"status":"complete","details":{"value":"ready"}}}`,
		`{"leader_elected":{"err":"x","term":3}}`,
		`{"quote\"d":{"value":[1]}}`,
		`{"empty":{}}`,
		`{"empty map":{}}`,
		`{"progress":{"value":42}}`,
	}
	if len(lines) != len(want)+1 || !strings.HasPrefix(lines[0], `{"antithesis_sdk":`) {
		t.Fatalf("lines %q", lines)
	}
	for i, w := range want {
		if lines[i+1] != w {
			t.Errorf("line %d = %s, want %s", i+1, lines[i+1], w)
		}
	}
}
