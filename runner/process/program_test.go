package process

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
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

func TestResolveName(t *testing.T) {
	compose := t.TempDir()
	writeFile(t, filepath.Join(compose, "bin", "tool"), "#!/bin/sh\n", 0o755)
	writeFile(t, filepath.Join(compose, "data.txt"), "x", 0o644)
	const prog = "/work/bin/client"
	svc := &specs.Service{Name: "client"}
	bin := &specs.Service{Name: "db", Binary: "/opt/db/dbd"}
	sh, _ := filepath.EvalSymlinks("/bin/sh")
	tests := []struct {
		name    string
		svc     *specs.Service
		prog    string
		arg     string
		want    string
		wantErr string
	}{
		{"container path of the program", svc, prog, "/bin/client", prog, ""},
		{"bare program name", svc, prog, "client", prog, ""},
		{"service name differs from binary base", bin, "/opt/db/dbd", "/usr/local/bin/db", "/opt/db/dbd", ""},
		{"binary base name", bin, "/opt/db/dbd", "dbd", "/opt/db/dbd", ""},
		{"file under the compose dir", svc, prog, "/bin/tool", filepath.Join(compose, "bin", "tool"), ""},
		{"relative file under the compose dir", svc, prog, "bin/tool", filepath.Join(compose, "bin", "tool"), ""},
		{"non-executable compose file falls through", svc, prog, "/data.txt", "", "not in PATH"},
		{"PATH", svc, prog, "sh", "", ""},
		{"missing", svc, prog, "/bin/no-such-tool-mvrun", "", `command "/bin/no-such-tool-mvrun" is not the service's program`},
		{"empty", svc, prog, "", "", "empty command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveName(tt.arg, tt.svc, tt.prog, compose)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("resolveName(%q) = %q, %v; want error containing %q", tt.arg, got, err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.svc.Name) {
					t.Errorf("error %q does not name the service", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("resolveName(%q): %v", tt.arg, err)
			}
			if tt.name == "PATH" {
				if r, _ := filepath.EvalSymlinks(got); r != sh {
					t.Errorf("resolveName(sh) = %q, want %q", got, sh)
				}
				return
			}
			if got != tt.want {
				t.Errorf("resolveName(%q) = %q, want %q", tt.arg, got, tt.want)
			}
		})
	}
}

func TestNodeArgv(t *testing.T) {
	const prog = "/w/bin/api"
	tests := []struct {
		name       string
		entrypoint []string
		command    []string
		wantPath   string
		wantArgv   []string
	}{
		{"nothing", nil, nil, prog, []string{prog}},
		{"command is arguments", nil, []string{"serve", "-v"}, prog, []string{prog, "serve", "-v"}},
		{"command names the program", nil, []string{"/bin/api", "serve"}, prog, []string{"/bin/api", "serve"}},
		{"entrypoint names the program", []string{"/bin/api"}, []string{"serve"}, prog, []string{"/bin/api", "serve"}},
		{"entrypoint is another program", []string{"sh", "-c"}, []string{"exec api"}, "", []string{"sh", "-c", "exec api"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &specs.Service{Name: "api", Entrypoint: tt.entrypoint, Command: tt.command}
			path, argv, err := nodeArgv(s, prog, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantPath != "" && path != tt.wantPath {
				t.Errorf("path %q, want %q", path, tt.wantPath)
			}
			if tt.wantPath == "" && filepath.Base(path) != "sh" && filepath.Base(path) != "dash" && filepath.Base(path) != "bash" {
				t.Errorf("path %q, want a shell from PATH", path)
			}
			if !reflect.DeepEqual(argv, tt.wantArgv) {
				t.Errorf("argv %q, want %q", argv, tt.wantArgv)
			}
		})
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
