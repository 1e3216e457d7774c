package sdkfile

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/mvrun/multiverse/runner/backend"
)

type sink struct {
	mu  sync.Mutex
	got []string
	nos []int
}

func (s *sink) emit(e backend.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.Kind != backend.EventSDK || e.Node != "kv1" || e.Proc != "check" {
		panic("wrong event attribution")
	}
	s.got = append(s.got, string(e.Line))
	s.nos = append(s.nos, e.LineNo)
}

func (s *sink) lines() ([]string, []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got), slices.Clone(s.nos)
}

func TestTailer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sdk.jsonl")
	var s sink
	tl := Follow(path, "kv1", "check", s.emit)
	tl.Poll(false) // the file does not exist yet: nothing, no error

	write := func(data string) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(data)
		f.Close()
	}
	write("{\"a\":1}\n\n{\"b\":2}\r\n{\"c\":")
	tl.Poll(false)
	if got, nos := s.lines(); !slices.Equal(got, []string{`{"a":1}`, `{"b":2}`}) || !slices.Equal(nos, []int{1, 3}) {
		t.Fatalf("after first poll: %q at lines %v; want a and b at lines 1 and 3 (blank line 2 skipped, partial line held)", got, nos)
	}

	// Hold keeps lines back until released.
	release := tl.Hold()
	write("3}\n")
	done := make(chan struct{})
	go func() { tl.Poll(false); close(done) }()
	if got, _ := s.lines(); len(got) != 2 {
		t.Fatalf("a line was delivered while held: %q", got)
	}
	release()
	<-done
	if got, _ := s.lines(); len(got) != 3 || got[2] != `{"c":3}` {
		t.Fatalf("after release: %q, want the completed third line", got)
	}

	// A last line without newline is delivered on Close; numbering goes on
	// across a truncation.
	if err := os.WriteFile(path, []byte(`{"d":4}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tl.Close()
	tl.Close()
	got, nos := s.lines()
	if len(got) != 4 || got[3] != `{"d":4}` || nos[3] != 5 {
		t.Fatalf("after truncation and Close: %q at %v, want d at line 5", got, nos)
	}
}

// TestTailerBounded checks that a writer that never ends its line does
// not grow the tailer's buffer past backend.MaxSDKLine: the line is cut,
// its full length reported in Cut, and later lines are delivered normally.
func TestTailerBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sdk.jsonl")
	var mu sync.Mutex
	var got []backend.Event
	tl := Follow(path, "kv1", "", func(e backend.Event) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, e)
	})
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	block := bytes.Repeat([]byte("x"), 1<<20)
	for range 5 {
		f.Write(block)
		tl.Poll(false)
		if n := cap(tl.buf); n > backend.MaxSDKLine+64<<10 {
			t.Fatalf("tailer buffer grew to %d bytes", n)
		}
	}
	f.WriteString("\n{\"a\":1}\n")
	f.Close()
	tl.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0].Cut != 5<<20 || len(got[0].Line) != backend.MaxSDKLine || got[1].Cut != 0 ||
		string(got[1].Line) != `{"a":1}` || got[1].LineNo != 2 {
		t.Fatalf("events: %d, first cut %d len %d", len(got), got[0].Cut, len(got[0].Line))
	}
}
