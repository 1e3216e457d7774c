package assert

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mvrun/multiverse/sdk/internal/wire"
)

// lockedBuffer is a goroutine-safe stderr for the SDK under test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// capture points the SDK at a fresh file transport and forgets every
// assertion seen so far. It returns the file path and the SDK's stderr.
func capture(t testing.TB) (string, *lockedBuffer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sdk.jsonl")
	stderr := &lockedBuffer{}
	resetTable()
	wire.Reset(func(k string) string {
		if k == wire.EnvSDK {
			return "file:" + path
		}
		return ""
	}, stderr)
	t.Cleanup(func() {
		wire.Reset(func(string) string { return "" }, os.Stderr)
		resetTable()
	})
	return path, stderr
}

// readLines returns the lines written to path, without the version line
// (checked to be first).
func readLines(t testing.TB, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], `{"antithesis_sdk":`) {
		t.Fatalf("first line is not the version line: %q", lines)
	}
	return lines[1:]
}

// decoded is the subset of a wire line the tests look at.
type decoded struct {
	Assert *struct {
		ID          string         `json:"id"`
		Message     string         `json:"message"`
		Condition   bool           `json:"condition"`
		DisplayType string         `json:"display_type"`
		Hit         bool           `json:"hit"`
		MustHit     bool           `json:"must_hit"`
		AssertType  string         `json:"assert_type"`
		Details     map[string]any `json:"details"`
		Location    struct {
			File     string `json:"file"`
			Function string `json:"function"`
			Class    string `json:"class"`
			Line     int    `json:"begin_line"`
		} `json:"location"`
	} `json:"antithesis_assert"`
	Guidance *struct {
		ID           string         `json:"id"`
		GuidanceType string         `json:"guidance_type"`
		Maximize     bool           `json:"maximize"`
		Hit          bool           `json:"hit"`
		Data         map[string]any `json:"guidance_data"`
	} `json:"antithesis_guidance"`
}

func decode(t testing.TB, lines []string) []decoded {
	t.Helper()
	out := make([]decoded, len(lines))
	for i, l := range lines {
		if err := json.Unmarshal([]byte(l), &out[i]); err != nil {
			t.Fatalf("line %d %q: %v", i, l, err)
		}
	}
	return out
}
