package gobuild

import (
	"context"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func writeModule(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestBuild(t *testing.T) {
	if _, err := GoCommand(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	const mod = "module example.com/svc\n\ngo 1.22\n"
	tests := []struct {
		name    string
		files   map[string]string
		wantErr []string // substrings of the error; nil means success
	}{
		{
			name: "main package",
			files: map[string]string{
				"go.mod":  mod,
				"main.go": "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello from svc\") }\n",
			},
		},
		{
			name: "compile error names file and line",
			files: map[string]string{
				"go.mod":  mod,
				"main.go": "package main\n\nfunc main() {\n\tundefinedThing()\n}\n",
			},
			wantErr: []string{"main.go:4", "undefined"},
		},
		{
			name: "not a main package",
			files: map[string]string{
				"go.mod": mod,
				"lib.go": "package lib\n\nfunc F() {}\n",
			},
			wantErr: []string{"not a Go main package", "package lib"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeModule(t, tt.files)
			out := filepath.Join(t.TempDir(), "bin", "svc")
			err := Build(context.Background(), Request{Dir: dir, Out: out})
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("Build succeeded, want error containing %q", tt.wantErr)
				}
				var be *Error
				if !errors.As(err, &be) {
					t.Fatalf("error %T is not *Error: %v", err, err)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			got, err := exec.Command(out).Output()
			if err != nil {
				t.Fatalf("running built binary: %v", err)
			}
			if string(got) != "hello from svc\n" {
				t.Errorf("output %q, want %q", got, "hello from svc\n")
			}
			f, err := elf.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("binary has an ELF interpreter; want a static binary (CGO_ENABLED=0)")
				}
			}
		})
	}
}

func TestBuildMissingDir(t *testing.T) {
	err := Build(context.Background(), Request{Dir: filepath.Join(t.TempDir(), "nope"), Out: filepath.Join(t.TempDir(), "x")})
	var be *Error
	if !errors.As(err, &be) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Build of a missing dir: %v, want *Error wrapping os.ErrNotExist", err)
	}
}
