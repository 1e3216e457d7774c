package backend

import (
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
			got, err := ResolveName(tt.arg, tt.svc, tt.prog, compose)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ResolveName(%q) = %q, %v; want error containing %q", tt.arg, got, err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.svc.Name) {
					t.Errorf("error %q does not name the service", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ResolveName(%q): %v", tt.arg, err)
			}
			if tt.name == "PATH" {
				if r, _ := filepath.EvalSymlinks(got); r != sh {
					t.Errorf("ResolveName(sh) = %q, want %q", got, sh)
				}
				return
			}
			if got != tt.want {
				t.Errorf("ResolveName(%q) = %q, want %q", tt.arg, got, tt.want)
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
			path, argv, err := NodeArgv(s, prog, t.TempDir())
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
