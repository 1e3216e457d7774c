package specs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// loadErr loads path and returns its diagnostics as text, failing the test
// when Load does not return a *DiagnosticsError or takes longer than limit.
func loadErr(t *testing.T, path string, limit time.Duration) string {
	t.Helper()
	start := time.Now()
	_, err := Load(context.Background(), path)
	if el := time.Since(start); el > limit {
		t.Errorf("Load(%s) took %v, want under %v", filepath.Base(path), el, limit)
	}
	var de *DiagnosticsError
	if !errors.As(err, &de) {
		t.Fatalf("Load(%s) = %v, want a *DiagnosticsError", filepath.Base(path), err)
	}
	return err.Error()
}

func writeSpec(t *testing.T, src []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "spec.hcl")
	if err := os.WriteFile(path, src, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDeepNesting feeds specs nested 100,000 levels deep in every way the
// HCL parser recurses; each used to overflow the stack and kill mvrun.
func TestDeepNesting(t *testing.T) {
	const n = 100_000
	for name, value := range map[string]string{
		"brackets": strings.Repeat("[", n),
		"braces":   strings.Repeat("{", n),
		"parens":   strings.Repeat("(", n),
		"not":      strings.Repeat("!", n) + "true",
		"minus":    strings.Repeat("-", n) + "1",
		"template": strings.Repeat(`"${`, n/2),
	} {
		t.Run(name, func(t *testing.T) {
			path := writeSpec(t, []byte("test \"a\" {\n  seeds = "+value+"\n}\n"))
			msg := loadErr(t, path, 5*time.Second)
			if !strings.Contains(msg, "spec.hcl:2:") || !strings.Contains(msg, "Nesting too deep") {
				t.Errorf("diagnostics = %q, want a located \"Nesting too deep\"", msg)
			}
		})
	}
}

// TestRefusedFiles checks that what is not a spec is refused with one
// diagnostic that says why, quickly.
func TestRefusedFiles(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 100_000)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	big := []byte("test \"a\" {\n" + strings.Repeat("  # padding comment line\n", 2*MaxSpecBytes/25) + "}\n")
	elf := append([]byte("\x7fELF\x02\x01\x01\x00"), random[:4000]...)
	fifo := filepath.Join(dir, "fifo.hcl")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, path string
		src        []byte
		want       string
	}{
		{name: "missing", path: filepath.Join(dir, "nope.hcl"), want: "nope.hcl does not exist"},
		{name: "directory", path: dir, want: "is a directory"},
		{name: "fifo", path: fifo, want: "is not a regular file"},
		{name: "random", src: random, want: "Not a text file"},
		{name: "elf", src: elf, want: "Not a text file"},
		{name: "big", src: big, want: "Spec file too large"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if tt.src != nil {
				path = writeSpec(t, tt.src)
			}
			msg := loadErr(t, path, 2*time.Second)
			if !strings.Contains(msg, tt.want) || strings.Count(msg, "\n") > 0 {
				t.Errorf("diagnostics = %q, want one line containing %q", msg, tt.want)
			}
		})
	}
}

// TestManyDiagnostics checks that printing stops after
// MaxShownDiagnostics and counts the rest.
func TestManyDiagnostics(t *testing.T) {
	var b strings.Builder
	b.WriteString("test \"a\" {\n")
	for i := range 500 {
		fmt.Fprintf(&b, "  unknown%d = 1\n", i)
	}
	b.WriteString("}\n")
	path := writeSpec(t, []byte(b.String()))
	_, err := Load(context.Background(), path)
	var de *DiagnosticsError
	if !errors.As(err, &de) {
		t.Fatalf("Load = %v, want diagnostics", err)
	}
	var text strings.Builder
	if err := de.WriteText(&text, 0, false); err != nil {
		t.Fatal(err)
	}
	more := len(de.Diags) - MaxShownDiagnostics
	if more <= 0 {
		t.Fatalf("only %d diagnostics; the test needs more than %d", len(de.Diags), MaxShownDiagnostics)
	}
	for _, s := range []string{de.Error(), text.String()} {
		if !strings.Contains(s, "… and ") || strings.Count(s, "error: ") > MaxShownDiagnostics {
			t.Errorf("output lists more than %d diagnostics or does not count the rest:\n%s", MaxShownDiagnostics, s[:min(len(s), 400)])
		}
	}
	if n := strings.Count(de.Error(), "\n") + 1; n != MaxShownDiagnostics+1 {
		t.Errorf("Error() has %d lines, want %d", n, MaxShownDiagnostics+1)
	}
}

// TestComposeErrorsInComposeFile checks that compose problems point at the
// compose file's line, not at the spec.
func TestComposeErrorsInComposeFile(t *testing.T) {
	for _, tt := range []struct{ spec, want string }{
		{"testdata/invalid/compose_broken.hcl", "broken.compose.yaml:4:5:"},
		{"testdata/invalid/compose_services.hcl", "replicas.compose.yaml:6:3:"},
		{"testdata/invalid/consistency.hcl", "undefined.compose.yaml:2:3:"},
	} {
		msg := loadErr(t, tt.spec, 5*time.Second)
		if !strings.Contains(msg, tt.want) {
			t.Errorf("%s: diagnostics %q do not point at %s", tt.spec, msg, tt.want)
		}
	}
}
