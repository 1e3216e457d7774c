package process

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mvrun/multiverse/specs"
)

func writeFile(t *testing.T, path, body string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
}

func TestPrepareErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "noexec"), "x", 0o644)
	writeFile(t, filepath.Join(dir, "broken", "go.mod"), "module example.com/broken\n\ngo 1.22\n", 0o644)
	writeFile(t, filepath.Join(dir, "broken", "main.go"), "package main\n\nfunc main() {\n\tnope()\n}\n", 0o644)
	tests := []struct {
		name    string
		svc     specs.Service
		want    []string
		builds  bool
		command []string
	}{
		{name: "image only", svc: specs.Service{Name: "db", Image: "postgres:16"},
			want: []string{`service "db"`, "image-only services need the docker backend (--backend docker), or add x-mvrun: {binary: ...}"}},
		{name: "missing binary", svc: specs.Service{Name: "db", Binary: filepath.Join(dir, "nope")},
			want: []string{`service "db" in ` + filepath.Join(dir, "compose.yaml"), "x-mvrun.binary", "does not exist", "build it first"}},
		{name: "binary not executable", svc: specs.Service{Name: "db", Binary: filepath.Join(dir, "noexec")},
			want: []string{`service "db"`, "not executable", "chmod +x"}},
		{name: "non-Go build", svc: specs.Service{Name: "web", Build: &specs.Build{Context: dir, Dockerfile: "Dockerfile"}},
			want: []string{`service "web"`, "not a Go main package", "--backend docker"}},
		{name: "nothing to run", svc: specs.Service{Name: "x"}, want: []string{`service "x"`, "nothing to run"}},
		{name: "compile error", svc: specs.Service{Name: "api", Build: &specs.Build{Context: filepath.Join(dir, "broken"), GoMain: true}},
			want: []string{`service "api"`, "main.go:4", "undefined: nope"}, builds: true},
		{name: "workload command not found", svc: specs.Service{Name: "api", Binary: "/bin/sh"},
			command: []string{"/bin/no-such-client-mvrun"},
			want:    []string{`workload command "check"`, `command "/bin/no-such-client-mvrun"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.builds && testing.Short() {
				t.Skip("builds a Go program; skipped in -short mode")
			}
			svc := tt.svc
			test := &specs.Test{ComposeFile: filepath.Join(dir, "compose.yaml"), Project: &specs.Project{Name: "p", Dir: dir, Services: []*specs.Service{&svc}}}
			if tt.command != nil {
				test.Workload = []*specs.Command{{Role: specs.RoleFinally, Name: "check", Service: svc.Name, Argv: tt.command}}
			}
			err := New(Options{}).Prepare(context.Background(), test, t.TempDir())
			if err == nil {
				t.Fatalf("Prepare succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
