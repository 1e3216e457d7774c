package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	tests := []string{"", "plain", `q"uote`, `back\slash`, "nl\n\r\t", "\x00\x01\x1f", "ünï", "\u2028\u2029", "bad\xffutf8", "<&>"}
	for _, s := range tests {
		got := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("AppendString(%q) = %s: not JSON: %v", s, got, err)
			continue
		}
		want, _ := json.Marshal(s)
		var wantBack string
		json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Errorf("AppendString(%q) decodes to %q, encoding/json to %q", s, back, wantBack)
		}
	}
}

func TestAppendFloat(t *testing.T) {
	tests := []struct {
		f    float64
		want string
	}{
		{0, "0"}, {1.5, "1.5"}, {-2, "-2"}, {1e21, "1e+21"}, {1e-7, "1e-7"}, {123456789, "123456789"},
		{math.NaN(), `"NaN"`}, {math.Inf(1), `"Infinity"`}, {math.Inf(-1), `"-Infinity"`},
	}
	for _, tt := range tests {
		if got := string(AppendFloat(nil, tt.f, 64)); got != tt.want {
			t.Errorf("AppendFloat(%v) = %s, want %s", tt.f, got, tt.want)
		}
		if !math.IsNaN(tt.f) && !math.IsInf(tt.f, 0) {
			j, _ := json.Marshal(tt.f)
			if string(j) != tt.want {
				t.Errorf("encoding/json gives %s for %v, AppendFloat %s", j, tt.f, tt.want)
			}
		}
	}
}

func TestAppendValue(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"nil", nil, "null"},
		{"error uses %+v", map[string]any{"e": plusErr{}}, `{"e":"detailed"}`},
		{"nested", map[string]any{"a": []any{map[string]any{"e": errors.New("x")}}}, `{"a":[{"e":"x"}]}`},
		{"nan", []any{math.NaN(), float32(0.5)}, `["NaN",0.5]`},
		{"struct", struct{ A int }{1}, `{"A":1}`},
		{"func", func() {}, `{"mvrun_sdk_error":"details cannot be encoded as JSON: json: unsupported type: func()"}`},
	}
	for _, tt := range tests {
		if got := string(AppendValue(nil, tt.v)); got != tt.want {
			t.Errorf("%s: AppendValue = %s, want %s", tt.name, got, tt.want)
		}
	}
}

type plusErr struct{}

func (plusErr) Error() string { return "short" }
func (plusErr) Format(s fmt.State, verb rune) {
	if s.Flag('+') {
		s.Write([]byte("detailed"))
		return
	}
	s.Write([]byte("short"))
}

// fakeWriter fails the writes whose index is in fail (transiently, or
// fatally if fatal) and records the rest.
type fakeWriter struct {
	n     int
	fail  map[int]bool
	fatal bool
	lines []string
}

func (w *fakeWriter) write(p []byte) error {
	i := w.n
	w.n++
	if w.fail[i] {
		if w.fatal {
			return &fatalError{reason: "gone"}
		}
		return errors.New("busy")
	}
	w.lines = append(w.lines, string(p))
	return nil
}

func (w *fakeWriter) close() error { return nil }

func TestTransientLossIsReportedOnTheWire(t *testing.T) {
	var stderr bytes.Buffer
	w := &fakeWriter{fail: map[int]bool{1: true, 3: true}}
	c := &channel{desc: "fake", newline: true, w: w, stderr: &stderr}
	for _, l := range []string{"a", "b", "c"} {
		c.send([]byte(l))
	}
	// write 0: a; 1: b fails; 2: lost line for b; 3: c fails; 4: lost line for c.
	want := []string{"a\n", `{"mvrun_sdk_lost":{"count":1,"reason":"fake: busy"}}` + "\n", `{"mvrun_sdk_lost":{"count":1,"reason":"fake: busy"}}` + "\n"}
	if strings.Join(w.lines, "") != strings.Join(want, "") {
		t.Errorf("lines %q, want %q", w.lines, want)
	}
	if c.lostTotal.Load() != 2 {
		t.Errorf("lost %d, want 2", c.lostTotal.Load())
	}
	if stderr.String() != "mvrun-sdk: lost an SDK message (later losses are counted, not printed): fake: busy\n" {
		t.Errorf("stderr %q", stderr.String())
	}
}

func TestFatalLossBreaksTheChannel(t *testing.T) {
	var stderr bytes.Buffer
	w := &fakeWriter{fail: map[int]bool{1: true}, fatal: true}
	c := &channel{desc: "fake", newline: true, w: w, stderr: &stderr}
	for _, l := range []string{"a", "b", "c", "d"} {
		c.send([]byte(l))
	}
	if len(w.lines) != 1 || w.n != 2 {
		t.Errorf("wrote %q in %d attempts; want only a, and nothing tried after the break", w.lines, w.n)
	}
	if c.lostTotal.Load() != 3 {
		t.Errorf("lost %d, want 3", c.lostTotal.Load())
	}
	if stderr.String() != "mvrun-sdk: lost an SDK message (later losses are counted, not printed): fake: gone\n" {
		t.Errorf("stderr %q", stderr.String())
	}
}

func TestTransportSelection(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "out.jsonl")
	tests := []struct {
		name       string
		env        map[string]string
		wantDesc   string
		wantBroken bool
	}{
		{"none", nil, "", false},
		{"file", map[string]string{EnvSDK: "file:" + file}, "file:" + file, false},
		{"antithesis", map[string]string{EnvAntithesisOutput: file}, "file:" + file, false},
		{"mvrun wins", map[string]string{EnvSDK: "file:" + file, EnvAntithesisOutput: "/nonexistent/x"}, "file:" + file, false},
		{"bad spec", map[string]string{EnvSDK: "tcp:1.2.3.4"}, "tcp:1.2.3.4", true},
		{"unopenable file", map[string]string{EnvSDK: "file:" + filepath.Join(dir, "no", "such")}, "file:" + filepath.Join(dir, "no", "such"), true},
		{"no socket", map[string]string{EnvSDK: "unix:" + filepath.Join(dir, "none.sock")}, "unix:" + filepath.Join(dir, "none.sock"), true},
		{"hv natively", map[string]string{EnvSDK: "hv"}, "hv", runtime.GOOS != "linux" || runtime.GOARCH != "amd64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			c := open(func(k string) string { return tt.env[k] }, &stderr)
			if tt.wantDesc == "" {
				if c != nil {
					t.Fatalf("got transport %q, want none", c.desc)
				}
				return
			}
			if c == nil || c.desc != tt.wantDesc || c.broken != tt.wantBroken {
				t.Fatalf("got %+v, want desc %q broken %v", c, tt.wantDesc, tt.wantBroken)
			}
			c.sendVersion()
			if tt.name == "hv natively" && !c.broken {
				// Natively the hypercall answers ENOSYS: the first send breaks it.
				if !strings.Contains(stderr.String(), "not running under hv") {
					t.Errorf("stderr %q", stderr.String())
				}
			}
			if c.broken && (!strings.HasPrefix(stderr.String(), "mvrun-sdk: lost an SDK message (later losses are counted, not printed): ") ||
				!strings.Contains(stderr.String(), tt.wantDesc)) {
				t.Errorf("stderr %q", stderr.String())
			}
			if c.w != nil {
				c.w.close()
			}
		})
	}
	os.Remove(file)
}
