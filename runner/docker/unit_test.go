package docker

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/specs"
)

func killAction(n string) faults.Action {
	return faults.Action{Kind: faults.ActKill, Nodes: []string{n}}
}
func pauseAction(n string) faults.Action {
	return faults.Action{Kind: faults.ActPause, Nodes: []string{n}}
}
func resumeAction(n string) faults.Action {
	return faults.Action{Kind: faults.ActResume, Nodes: []string{n}}
}

// TestSandboxProgram runs the hand-assembled sandbox program natively: it
// must start, stay up, and die only of SIGKILL.
func TestSandboxProgram(t *testing.T) {
	if runtime.GOARCH != "amd64" || runtime.GOOS != "linux" {
		if _, err := sandboxProgram(); err == nil {
			t.Fatalf("sandboxProgram on %s/%s returned a program", runtime.GOOS, runtime.GOARCH)
		}
		t.Skipf("the sandbox program is linux/amd64 code")
	}
	prog, err := sandboxProgram()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pause")
	if err := os.WriteFile(path, prog, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path)
	if err := cmd.Start(); err != nil {
		t.Fatalf("the sandbox program does not start: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// pause(2) returns after a handled signal only; an ignored one must not
	// end it, so it survives SIGCHLD-like noise and SIGURG.
	cmd.Process.Signal(syscall.SIGURG)
	select {
	case err := <-done:
		t.Fatalf("the sandbox program exited on its own: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	cmd.Process.Kill()
	err = <-done
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("the sandbox program ended with %v, want SIGKILL", err)
	}
}

func TestSandboxContext(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the sandbox program is amd64 code")
	}
	a, refA, err := sandboxContext()
	if err != nil {
		t.Fatal(err)
	}
	b, refB, _ := sandboxContext()
	if refA != refB || string(a) != string(b) || !strings.HasPrefix(refA, "mvrun-sandbox:") {
		t.Errorf("sandbox context is not stable: %s vs %s", refA, refB)
	}
}

func TestProgramPaths(t *testing.T) {
	cmd := func(svc string, argv ...string) *specs.Command {
		return &specs.Command{Name: "c", Service: svc, Argv: argv}
	}
	tests := []struct {
		name     string
		svc      specs.Service
		workload []*specs.Command
		want     []string
		wantErr  string
	}{
		{"plain", specs.Service{Name: "kv1"}, nil, []string{"/bin/kv1", "/bin/kvnode"}, ""},
		{"workload path", specs.Service{Name: "client"}, []*specs.Command{cmd("client", "/bin/client", "write"), cmd("client", "/usr/local/bin/client")},
			[]string{"/bin/client", "/bin/kvnode", "/usr/local/bin/client"}, ""},
		{"bare name", specs.Service{Name: "client"}, []*specs.Command{cmd("client", "kvnode", "x")}, []string{"/bin/client", "/bin/kvnode"}, ""},
		{"other service's command", specs.Service{Name: "kv1"}, []*specs.Command{cmd("client", "/opt/x")}, []string{"/bin/kv1", "/bin/kvnode"}, ""},
		{"entrypoint", specs.Service{Name: "kv1", Entrypoint: []string{"/app/kvnode", "-v"}}, nil, []string{"/bin/kv1", "/bin/kvnode", "/app/kvnode"}, ""},
		{"command names program", specs.Service{Name: "kv1", Command: []string{"/srv/kv1", "serve"}}, nil, []string{"/bin/kv1", "/bin/kvnode", "/srv/kv1"}, ""},
		{"command argument", specs.Service{Name: "kv1", Command: []string{"/data", "serve"}}, nil, []string{"/bin/kv1", "/bin/kvnode"}, ""},
		{"shell healthcheck", specs.Service{Name: "kv1", Healthcheck: &specs.Healthcheck{Test: []string{"/bin/sh", "-c", "true"}}}, nil,
			nil, `its healthcheck runs "/bin/sh"`},
		{"relative", specs.Service{Name: "kv1"}, []*specs.Command{cmd("kv1", "./kvnode")}, nil, `runs "./kvnode"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			test := &specs.Test{Workload: tt.workload}
			got, err := programPaths(test, &tt.svc, "kvnode")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), `service "kv1"`) {
					t.Errorf("error %v, want one naming the service and containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("programPaths = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestScratchDockerfile(t *testing.T) {
	got := string(scratchDockerfile([]string{"/bin/kv1", "/bin/kvnode"}))
	want := "FROM scratch\nCOPY program /bin/kv1\nCOPY program /bin/kvnode\nENTRYPOINT [\"/bin/kv1\"]\n"
	if got != want {
		t.Errorf("scratchDockerfile:\n%s\nwant:\n%s", got, want)
	}
}

func TestFromImages(t *testing.T) {
	tests := []struct {
		name, df string
		want     []fromImage
	}{
		{"scratch", "FROM scratch\nCOPY x /x\n", nil},
		{"one", "# base\nFROM debian:12\nRUN true\n", []fromImage{{"debian:12", 2}}},
		{"stages", "FROM golang:1.26 AS build\nRUN go build\nFROM build AS test\nfrom alpine\nCOPY --from=build /x /x\n",
			[]fromImage{{"golang:1.26", 1}, {"alpine", 4}}},
		{"platform and args", "ARG BASE=debian\nFROM --platform=linux/amd64 $BASE\nFROM --platform=linux/amd64 busybox:1\n",
			[]fromImage{{"busybox:1", 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fromImages([]byte(tt.df)); !slices.Equal(got, tt.want) {
				t.Errorf("fromImages = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSplitAndSanitizeRef(t *testing.T) {
	for _, tt := range []struct{ ref, repo, tag string }{
		{"redis", "redis", "latest"},
		{"redis:7", "redis", "7"},
		{"localhost:5000/app", "localhost:5000/app", "latest"},
		{"localhost:5000/app:v2", "localhost:5000/app", "v2"},
	} {
		if r, tg := splitRef(tt.ref); r != tt.repo || tg != tt.tag {
			t.Errorf("splitRef(%q) = %q %q, want %q %q", tt.ref, r, tg, tt.repo, tt.tag)
		}
	}
	for in, want := range map[string]string{"KVStore": "kvstore", "my app_1": "my-app_1", "-x-": "x"} {
		if got := sanitizeRef(in); got != want {
			t.Errorf("sanitizeRef(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSignalName(t *testing.T) {
	for code, want := range map[int]string{0: "", 1: "", 128: "", 137: "killed", 143: "terminated", 255: ""} {
		if got := signalName(code); got != want {
			t.Errorf("signalName(%d) = %q, want %q", code, got, want)
		}
	}
}

func TestSupports(t *testing.T) {
	b := New(Options{})
	for _, k := range []faults.ActionKind{faults.ActPartition, faults.ActHeal, faults.ActLink, faults.ActKill, faults.ActRestart, faults.ActPause, faults.ActResume} {
		if err := b.Supports(k); err != nil {
			t.Errorf("Supports(%s) = %v", k, err)
		}
	}
	for _, k := range []faults.ActionKind{faults.ActClockSkew, faults.ActClockJump, "bogus"} {
		err := b.Supports(k)
		if !errors.Is(err, backend.ErrUnsupported) {
			t.Errorf("Supports(%s) = %v, want ErrUnsupported", k, err)
		}
		if k != "bogus" && !strings.Contains(err.Error(), "clock skew is not supported on the docker backend") {
			t.Errorf("Supports(%s) = %q, want it to say clock skew is not supported on the docker backend", k, err)
		}
	}
}

func TestNetPrefix(t *testing.T) {
	b := New(Options{})
	seen := map[string]bool{}
	for i := range 40 {
		p := b.netPrefix(i)
		if len(p) != 10 || !strings.HasPrefix(p, "mvd"+b.RunID()) || seen[p] {
			t.Fatalf("netPrefix(%d) = %q: want 10 unique characters starting mvd<run>", i, p)
		}
		seen[p] = true
	}
}

func TestProgramServiceImage(t *testing.T) {
	paths := []string{"/bin/kv1", "/bin/kvnode", "/srv/kvnode"}
	tests := []struct {
		name           string
		svc            specs.Service
		wantEntrypoint []string
		wantCmd        []string
	}{
		{"no command", specs.Service{Name: "kv1"}, []string{"/bin/kv1"}, []string{}},
		{"arguments", specs.Service{Name: "kv1", Command: []string{"serve", "-v"}}, []string{"/bin/kv1"}, []string{"serve", "-v"}},
		{"command names the program", specs.Service{Name: "kv1", Command: []string{"/srv/kvnode", "serve"}}, []string{"/srv/kvnode"}, []string{"serve"}},
		{"bare program name is an argument", specs.Service{Name: "kv1", Command: []string{"kvnode"}}, []string{"/bin/kv1"}, []string{"kvnode"}},
		{"entrypoint", specs.Service{Name: "kv1", Entrypoint: []string{"/bin/kvnode", "-x"}, Command: []string{"y"}}, []string{"/bin/kvnode", "-x"}, []string{"y"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			im := programServiceImage("ref", paths, &tt.svc)
			if !slices.Equal(im.entrypoint, tt.wantEntrypoint) || !slices.Equal(im.cmd, tt.wantCmd) || (im.cmd == nil) != (tt.wantCmd == nil) {
				t.Errorf("entrypoint %q cmd %q, want %q %q", im.entrypoint, im.cmd, tt.wantEntrypoint, tt.wantCmd)
			}
		})
	}
}

// TestProgramBinary checks the x-mvrun.binary cases of program: a binary is
// used as is, and a missing one or a directory is an error naming the
// service and the compose file.
func TestProgramBinary(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "server")
	if err := os.WriteFile(bin, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	compose := filepath.Join(dir, "compose.yaml")
	tests := []struct {
		name   string
		binary string
		want   []string // substrings of the error; nil: success
	}{
		{"present", bin, nil},
		{"missing", filepath.Join(dir, "nope"), []string{`service "api" in ` + compose, "does not exist", "build it first"}},
		{"directory", dir, []string{`service "api" in ` + compose, "not a regular file"}},
	}
	b := New(Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &specs.Service{Name: "api", Binary: tt.binary}
			prog, name, err := b.program(t.Context(), s, compose, t.TempDir(), map[string]string{})
			if tt.want == nil {
				if err != nil || prog != bin || name != "server" {
					t.Fatalf("program = %q, %q, %v; want %q, %q, nil", prog, name, err, bin, "server")
				}
				return
			}
			if err == nil {
				t.Fatalf("program succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
