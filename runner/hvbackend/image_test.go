package hvbackend

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/mvrun/multiverse/internal/gobuild"
	"github.com/mvrun/multiverse/runner/backendtest"
	"github.com/mvrun/multiverse/specs"
)

// staticEcho builds the conformance suite's echo program as a static
// linux/amd64 binary and returns its bytes.
func staticEcho(t testing.TB) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "echo")
	if err := gobuild.Build(context.Background(), gobuild.Request{Dir: backendtest.EchoDir(), Out: out, GOOS: "linux", GOARCH: "amd64", NoCatalog: true}); err != nil {
		if errors.Is(err, gobuild.ErrNoToolchain) {
			t.Skipf("skipping: %v", err)
		}
		t.Fatalf("building echo: %v", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dynamicBinary returns the host's /bin/sh, a dynamically linked program
// hv cannot run; it skips if the host's is static.
func dynamicBinary(t testing.TB) []byte {
	t.Helper()
	f, err := elf.Open("/bin/sh")
	if err != nil {
		t.Skipf("skipping: no ELF /bin/sh on this host: %v", err)
	}
	interp := f.Section(".interp")
	f.Close()
	if interp == nil {
		t.Skip("skipping: the host's /bin/sh is static")
	}
	b, err := os.ReadFile("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// entry is one tar entry of a test layer.
type entry struct {
	name string
	typ  byte
	mode int64
	data []byte
	link string
}

// layer makes an image layer holding entries, in order.
func layer(t testing.TB, entries ...entry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, Size: int64(len(e.data)), Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// image makes a linux/amd64 image of layers (lowest first) with config c.
func image(t testing.TB, c v1.Config, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Config = "linux", "amd64", c
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// echoImage is an image of two layers. The first holds the static echo
// program at /bin/app, a symlink /usr/local/bin/server to it, and a
// dynamically linked /opt/bin/server that comes first in the image's PATH;
// the second whites that one out. So the entrypoint "server" runs echo
// only if the lookup honours both the whiteout and the symlink.
func echoImage(t testing.TB) v1.Image {
	t.Helper()
	echo := staticEcho(t)
	base := layer(t,
		entry{name: "bin/", typ: tar.TypeDir, mode: 0o755},
		entry{name: "bin/app", typ: tar.TypeReg, mode: 0o755, data: echo},
		entry{name: "opt/bin/", typ: tar.TypeDir, mode: 0o755},
		entry{name: "opt/bin/server", typ: tar.TypeReg, mode: 0o755, data: dynamicBinary(t)},
		entry{name: "usr/local/bin/", typ: tar.TypeDir, mode: 0o755},
		entry{name: "usr/local/bin/server", typ: tar.TypeSymlink, mode: 0o777, link: "../../../bin/app"},
		entry{name: "srv/", typ: tar.TypeDir, mode: 0o755},
	)
	top := layer(t, entry{name: "opt/bin/.wh.server", typ: tar.TypeReg, mode: 0o644})
	return image(t, v1.Config{
		Entrypoint: []string{"server"},
		Cmd:        []string{"serve"},
		Env:        []string{"PATH=/opt/bin:/usr/local/bin:/bin", "ECHO_SERVICE=from-image", "IMAGE_ONLY=yes"},
		WorkingDir: "/srv",
	}, base, top)
}

// writeDockerArchive writes img as a docker save archive.
func writeDockerArchive(t testing.TB, img v1.Image, file string) {
	t.Helper()
	tag, err := name.NewTag("mvrun.test/echo:latest")
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(file, tag, img); err != nil {
		t.Fatal(err)
	}
}

// writeOCIArchive writes img as a tarred OCI image layout.
func writeOCIArchive(t testing.TB, img v1.Image, file string) {
	t.Helper()
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"})); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// imageTest is a test of one echo node per name, each running image.
func imageTest(dir, image string, names ...string) *specs.Test {
	p := &specs.Project{Name: "imagetest", Dir: dir}
	for _, n := range names {
		p.Services = append(p.Services, &specs.Service{
			Name:        n,
			Image:       image,
			Environment: map[string]string{"ECHO_SERVICE": n},
		})
	}
	return &specs.Test{Name: "imagetest", Dir: dir, ComposeFile: filepath.Join(dir, "compose.yaml"), Backend: "hv", Seeds: 1, Project: p}
}

// TestImageArchive runs services from docker and OCI archives of
// echoImage: the program found through PATH, whiteout and symlink runs,
// with the image's environment and working directory under the compose
// file's environment.
func TestImageArchive(t *testing.T) {
	img := echoImage(t)
	for _, format := range []string{"docker-archive", "oci-archive"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			if format == "docker-archive" {
				writeDockerArchive(t, img, filepath.Join(dir, "img.tar"))
			} else {
				writeOCIArchive(t, img, filepath.Join(dir, "img.tar"))
			}
			test := imageTest(dir, format+":img.tar", "a", "b")
			if err := CanRun(test); err != nil {
				t.Fatalf("CanRun: %v", err)
			}
			needKVM(t)
			b := New(Options{})
			work := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := b.Prepare(ctx, test, work); err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			prog := filepath.Join(work, "bin", "hv", "a", "server")
			st, err := os.Stat(prog)
			if err != nil {
				t.Fatalf("the program was not extracted: %v", err)
			}
			if st.Mode().Perm() != 0o755 {
				t.Errorf("%s has mode %v, want 0755", prog, st.Mode().Perm())
			}
			h := backendtest.BootPrepared(t, ctx, b, test)
			h.Program = func(string) string { return "/usr/local/bin/server" }
			h.WaitServing(t, 30*time.Second)
			for _, c := range []struct{ args, want string }{
				{"env ECHO_SERVICE", "a"}, // the compose file's value wins
				{"env IMAGE_ONLY", "yes"},
				{"hostname", "a"},
			} {
				res, out, errs := h.Exec(t, "a", "probe", nil, strings.Fields(c.args)...)
				if res.ExitCode != 0 || strings.TrimSpace(out) != c.want {
					t.Errorf("%s: exit %d, stdout %q, stderr %q; want %q", c.args, res.ExitCode, out, errs, c.want)
				}
			}
			// A relative path lands in the image's working directory.
			if res, _, errs := h.Exec(t, "b", "write", nil, "write", "note", "hi"); res.ExitCode != 0 {
				t.Fatalf("write: exit %d: %s", res.ExitCode, errs)
			}
			if res, out, errs := h.Exec(t, "b", "cat", nil, "cat", "/srv/note"); res.ExitCode != 0 || out != "hi" {
				t.Errorf("cat /srv/note: exit %d, stdout %q, stderr %q; want hi", res.ExitCode, out, errs)
			}
		})
	}
}

// TestImageDynamic: an image whose entrypoint is dynamically linked is
// refused by Prepare and CanRun, naming the service, the image and the fix.
func TestImageDynamic(t *testing.T) {
	img := image(t, v1.Config{Entrypoint: []string{"/bin/sh"}},
		layer(t, entry{name: "bin/sh", typ: tar.TypeReg, mode: 0o755, data: dynamicBinary(t)}))
	dir := t.TempDir()
	writeDockerArchive(t, img, filepath.Join(dir, "sh.tar"))
	test := imageTest(dir, "docker-archive:sh.tar", "shell")
	err := New(Options{}).Prepare(context.Background(), test, t.TempDir())
	if err == nil {
		t.Fatal("Prepare accepted a dynamically linked entrypoint")
	}
	for _, want := range []string{`service "shell"`, "docker-archive:sh.tar", "/bin/sh", "dynamically linked", "CGO_ENABLED=0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Prepare error lacks %q: %v", want, err)
		}
	}
	if err := CanRun(test); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("CanRun = %v, want a dynamically linked error", err)
	}
}

// TestImageErrors: images hv cannot take a program from fail Prepare with
// the service named and a reason.
func TestImageErrors(t *testing.T) {
	echo := staticEcho(t)
	app := entry{name: "bin/app", typ: tar.TypeReg, mode: 0o755, data: echo}
	for _, c := range []struct {
		name string
		img  v1.Image
		want string
	}{
		{"whited out", image(t, v1.Config{Entrypoint: []string{"/bin/app"}}, layer(t, app), layer(t, entry{name: "bin/.wh.app", typ: tar.TypeReg})), "/bin/app is not in the image"},
		{"opaque dir", image(t, v1.Config{Entrypoint: []string{"/bin/app"}}, layer(t, app), layer(t, entry{name: "bin/.wh..wh..opq", typ: tar.TypeReg})), "/bin/app is not in the image"},
		{"no program", image(t, v1.Config{}, layer(t, app)), "names a program"},
		{"not in PATH", image(t, v1.Config{Cmd: []string{"app"}, Env: []string{"PATH=/usr/bin"}}, layer(t, app)), "not in the image's PATH"},
		{"not executable", image(t, v1.Config{Entrypoint: []string{"/bin/app"}}, layer(t, entry{name: "bin/app", typ: tar.TypeReg, mode: 0o644, data: echo})), "not executable"},
		{"symlink loop", image(t, v1.Config{Entrypoint: []string{"/bin/a"}}, layer(t,
			entry{name: "bin/a", typ: tar.TypeSymlink, link: "b"}, entry{name: "bin/b", typ: tar.TypeSymlink, link: "a"})), "too many symbolic links"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeDockerArchive(t, c.img, filepath.Join(dir, "img.tar"))
			test := imageTest(dir, "docker-archive:img.tar", "svc")
			err := New(Options{}).Prepare(context.Background(), test, t.TempDir())
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `service "svc"`) {
				t.Errorf("Prepare = %v, want an error naming the service and saying %q", err, c.want)
			}
		})
	}
	t.Run("missing archive", func(t *testing.T) {
		test := imageTest(t.TempDir(), "oci-archive:nothere.tar", "svc")
		err := New(Options{}).Prepare(context.Background(), test, t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "nothere.tar") || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Prepare = %v, want a not-exist error naming the archive", err)
		}
	})
}

// TestImageService pins Docker's rules for combining an image's config
// with the compose service.
func TestImageService(t *testing.T) {
	c := v1.Config{Entrypoint: []string{"/bin/app", "-v"}, Cmd: []string{"serve"}, Env: []string{"A=image", "B=image"}, WorkingDir: "/w"}
	for _, tc := range []struct {
		name     string
		svc      specs.Service
		wantArgv string
		wantDir  string
	}{
		{"image only", specs.Service{}, "/bin/app -v serve", "/w"},
		{"compose command", specs.Service{Command: []string{"dial", "x"}}, "/bin/app -v dial x", "/w"},
		{"compose entrypoint drops CMD", specs.Service{Entrypoint: []string{"/bin/other"}}, "/bin/other", "/w"},
		{"compose both", specs.Service{Entrypoint: []string{"/bin/other"}, Command: []string{"x"}, WorkingDir: "/c"}, "/bin/other x", "/c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.svc
			s.Environment = map[string]string{"B": "compose"}
			e := imageService(&s, c)
			if got := strings.Join(e.Argv(), " "); got != tc.wantArgv {
				t.Errorf("argv %q, want %q", got, tc.wantArgv)
			}
			if e.WorkingDir != tc.wantDir {
				t.Errorf("working dir %q, want %q", e.WorkingDir, tc.wantDir)
			}
			if e.Environment["A"] != "image" || e.Environment["B"] != "compose" {
				t.Errorf("environment %v, want A=image B=compose", e.Environment)
			}
			if s.Environment["A"] != "" {
				t.Error("imageService changed the compose service")
			}
		})
	}
}

// TestImageResolve pins symlink resolution inside an image.
func TestImageResolve(t *testing.T) {
	fsys := imageFS{
		"bin":            {typ: tar.TypeSymlink, link: "usr/bin"},
		"usr/bin/app":    {typ: tar.TypeReg, mode: 0o755},
		"usr/bin/rel":    {typ: tar.TypeSymlink, link: "../../../../usr/bin/app"},
		"usr/bin/hard":   {typ: tar.TypeLink, link: "usr/bin/app"},
		"opt/up":         {typ: tar.TypeSymlink, link: "/bin"},
		"usr/bin/nonexe": {typ: tar.TypeReg, mode: 0o644},
	}
	for in, want := range map[string]string{
		"/bin/app":        "/usr/bin/app",
		"/usr/bin/rel":    "/usr/bin/app", // ".." stops at the root
		"/bin/hard":       "/usr/bin/app",
		"/opt/up/app":     "/usr/bin/app",
		"/opt/../bin/app": "/usr/bin/app",
	} {
		got, err := fsys.executable(in)
		if err != nil || got != want {
			t.Errorf("executable(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"/usr/bin", "/bin/nonexe", "/bin/none"} {
		if got, err := fsys.executable(in); err == nil {
			t.Errorf("executable(%q) = %q, want an error", in, got)
		}
	}
}

// TestCanRunDaemonImage: auto never asks the Docker engine, so CanRun
// declines an image that is not an archive and says what to do.
func TestCanRunDaemonImage(t *testing.T) {
	err := CanRun(imageTest(t.TempDir(), "example.com/app:1", "svc"))
	if err == nil || !strings.Contains(err.Error(), "auto does not inspect") || !strings.Contains(err.Error(), "--backend hv") {
		t.Errorf("CanRun = %v, want it to decline an engine image and name --backend hv", err)
	}
}

// needDocker skips unless a Docker engine answers.
func needDocker(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Skipf("skipping: no Docker engine answers (docker info: %v: %s)", err, bytes.TrimSpace(out))
	}
}

// TestImageDaemon builds a FROM scratch image with docker build (nothing
// is pulled) and runs its program on hv; an image the engine lacks fails
// Prepare with the fix.
func TestImageDaemon(t *testing.T) {
	needDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app"), staticEcho(t), 0o755); err != nil {
		t.Fatal(err)
	}
	dockerfile := "FROM scratch\nCOPY app /bin/app\nENV IMAGE_ONLY=yes\nENTRYPOINT [\"/bin/app\"]\nCMD [\"serve\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	// The process id keeps concurrent test runs apart.
	tag := fmt.Sprintf("mvrun-hvtest-%d:latest", os.Getpid())
	if out, err := exec.CommandContext(ctx, "docker", "build", "-q", "-t", tag, dir).CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })

	t.Run("missing", func(t *testing.T) {
		missing := fmt.Sprintf("mvrun-hvtest-absent-%d:none", os.Getpid())
		err := New(Options{}).Prepare(ctx, imageTest(dir, missing, "svc"), t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "never pulls") || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), `service "svc"`) {
			t.Errorf("Prepare = %v, want an error naming the service and image, saying mvrun never pulls", err)
		}
	})

	needKVM(t)
	test := imageTest(dir, tag, "a", "b")
	b := New(Options{})
	start := time.Now()
	if err := b.Prepare(ctx, test, t.TempDir()); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	t.Logf("Prepare read %s from the engine for 2 services in %v", tag, time.Since(start))
	h := backendtest.BootPrepared(t, ctx, b, test)
	h.Program = func(string) string { return "/bin/app" }
	h.WaitServing(t, 30*time.Second)
	if res, out, errs := h.Exec(t, "b", "env", nil, "env", "IMAGE_ONLY"); res.ExitCode != 0 || strings.TrimSpace(out) != "yes" {
		t.Errorf("env IMAGE_ONLY: exit %d, stdout %q, stderr %q; want yes", res.ExitCode, out, errs)
	}
}

// TestImageDaemonUnreachable: with no engine to read an image from,
// Prepare fails naming the service and image and saying what to do.
func TestImageDaemonUnreachable(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(dir, "no-engine.sock"))
	err := New(Options{}).Prepare(context.Background(), imageTest(dir, "example.com/app:1", "svc"), t.TempDir())
	for _, want := range []string{`service "svc"`, "example.com/app:1", "Docker engine", "docker-archive:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Prepare = %v, want an error containing %q", err, want)
		}
	}
}
