package history

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mvrun/multiverse/sdk/internal/wire"
)

// capture points the SDK at a file for the test and returns a function that
// reads the lines written since, without the version line.
func capture(t *testing.T) func() []string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sdk.jsonl")
	wire.Reset(func(k string) string {
		if k == wire.EnvSDK {
			return "file:" + path
		}
		return ""
	}, os.Stderr)
	t.Cleanup(func() { wire.Reset(func(string) string { return "" }, os.Stderr) })
	clock := int64(1000)
	now = func() int64 { clock += 10; return clock }
	t.Cleanup(func() { now = func() int64 { return 0 } })
	return func() []string {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		if len(lines) == 0 || !strings.HasPrefix(lines[0], `{"antithesis_sdk":`) {
			t.Fatalf("no version line first: %q", lines)
		}
		return lines[1:]
	}
}

func TestLines(t *testing.T) {
	read := capture(t)
	c := NewClientProcess("register", "w1")
	w := c.Invoke("write", "k1", "v1")
	w.Ok(nil)
	w.Info(errors.New("late")) // ignored: already completed
	r := c.Invoke("read", "k1", nil)
	r.Ok("v1")
	x := c.Invoke("cas", "k\"2", []any{"a", "b"})
	x.Info(errors.New("timeout"))
	f := c.Invoke("write", "k1", 3)
	f.Fail(errors.New("not leader"))

	want := []string{
		`{"mvrun_history":{"history":"register","process":"w1","op":0,"type":"invoke","f":"write","key":"k1","value":"v1","time":1010}}`,
		`{"mvrun_history":{"history":"register","process":"w1","op":0,"type":"ok","f":"write","key":"k1","time":1020}}`,
		`{"mvrun_history":{"history":"register","process":"w1","op":1,"type":"invoke","f":"read","key":"k1","time":1030}}`,
		`{"mvrun_history":{"history":"register","process":"w1","op":1,"type":"ok","f":"read","key":"k1","value":"v1","time":1040}}`,
		`{"mvrun_history":{"history":"register","process":"w1","op":2,"type":"invoke","f":"cas","key":"k\"2","value":["a","b"],"time":1050}}`,
		`{"mvrun_history":{"history":"register","process":"w1","op":2,"type":"info","f":"cas","key":"k\"2","error":"timeout","time":1060}}`,
		`{"mvrun_history":{"history":"register","process":"w1","op":3,"type":"invoke","f":"write","key":"k1","value":3,"time":1070}}`,
		`{"mvrun_history":{"history":"register","process":"w1","op":3,"type":"fail","f":"write","key":"k1","error":"not leader","time":1080}}`,
	}
	got := read()
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, got[i], want[i])
		}
		var v map[string]map[string]any
		if err := json.Unmarshal([]byte(got[i]), &v); err != nil {
			t.Errorf("line %d is not JSON: %v", i, err)
		}
	}
}

func TestProcessIDsAreDistinct(t *testing.T) {
	a, b := NewClient("h"), NewClient("h")
	if a.Process() == b.Process() || !strings.HasPrefix(a.Process(), itoa(os.Getpid())+"-") {
		t.Errorf("process ids %q and %q", a.Process(), b.Process())
	}
}

func itoa(n int) string { return jsonInt(n) }

func jsonInt(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestNoopOutsideARun(t *testing.T) {
	wire.Reset(func(string) string { return "" }, os.Stderr)
	c := NewClient("h")
	op := c.Invoke("write", "k", "v")
	op.Ok(nil) // must not panic or block
	var zero *Op
	zero.Ok(nil)
	if n := testing.AllocsPerRun(100, func() { c.Invoke("read", "k", nil).Ok(nil) }); n > 1 {
		t.Errorf("a no-op invoke and completion allocate %v times, want at most 1 (the Op)", n)
	}
}
