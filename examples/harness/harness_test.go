// Package harness_test runs examples/harness, an Antithesis-style harness
// (compose volumes shared between services, test-composer templates, the
// Antithesis Go SDK), on the process backend, on hv where /dev/kvm works,
// and, where there is a Docker engine, on the docker backend.
package harness_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/assertions"
	"github.com/mvrun/multiverse/runner"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/runner/docker"
	"github.com/mvrun/multiverse/runner/hvbackend"
	"github.com/mvrun/multiverse/runner/process"
	"github.com/mvrun/multiverse/specs"
)

func TestMain(m *testing.M) {
	process.MaybeRunShim() // node processes re-exec this test binary as their init shim
	if err := docker.ConfigureProcess(nil); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

// buildRoot runs build.sh into a temporary directory laid out as the
// harness's image (bin/harness, the template directory with its commands
// and a helper_ file that must be ignored, a FROM scratch Dockerfile) and
// points HARNESS_ROOT at it, which the compose file interpolates.
func buildRoot(t *testing.T, env ...string) string {
	t.Helper()
	root := t.TempDir()
	cmd := exec.Command("./build.sh")
	cmd.Env = append(append(os.Environ(), "HARNESS_ROOT="+root), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, out)
	}
	t.Setenv("HARNESS_ROOT", root)
	return root
}

// check runs test on b and checks that every property held, that each seed
// ran the template, and that the seeds' writes stayed in the seeds.
func check(t *testing.T, b backend.Backend, test *specs.Test, seeds int) *runner.Outcome {
	t.Helper()
	ctx := context.Background()
	test.Duration = 3 * time.Second
	hostState, err := os.ReadFile(filepath.Join("state", "README"))
	if err != nil {
		t.Fatal(err)
	}
	oc, err := runner.Run(ctx, runner.Options{Test: test, Backend: b, Count: seeds, BaseSeed: 0x5eed, OutDir: t.TempDir(), Jobs: 1})
	if cerr := b.Close(context.WithoutCancel(ctx)); cerr != nil {
		t.Errorf("closing the backend: %v", cerr)
	}
	if err != nil {
		t.Fatalf("runner.Run: %v", err)
	}
	if len(oc.Seeds) != seeds {
		t.Fatalf("%d seeds finished, want %d", len(oc.Seeds), seeds)
	}
	for _, so := range oc.Seeds {
		if so.Err != nil {
			t.Fatalf("seed %#x: %v", so.Seed, so.Err)
		}
		if so.Template != "client:volume" {
			t.Errorf("seed %#x ran template %q, want client:volume", so.Seed, so.Template)
		}
		// The writable bind mount is the seed's copy: the writer's line is
		// there, next to the host file it was copied from.
		got, err := os.ReadFile(filepath.Join(so.Dir, backend.VolumesDir, "bind", strings.TrimPrefix(mustAbs(t, "state"), "/"), "writes"))
		if err != nil || string(got) != "hello from writer\n" {
			t.Errorf("seed %#x: the writer's copy of the state bind mount holds %q (%v)", so.Seed, got, err)
		}
	}
	if _, err := os.Stat(filepath.Join("state", "writes")); err == nil {
		t.Error("a seed wrote through the writable bind mount to the host's state directory")
	}
	if now, _ := os.ReadFile(filepath.Join("state", "README")); string(now) != string(hostState) {
		t.Error("the host's state directory changed")
	}
	want := map[string]bool{
		"the shared volume holds exactly what the writer wrote":   false,
		"the config bind mount is visible":                        false,
		"the read-only config bind mount refuses writes":          false,
		"read_only makes the client's root file system read-only": false,
	}
	for _, p := range oc.Result.Properties {
		if _, ok := want[p.ID]; ok {
			want[p.ID] = true
		}
		if p.Verdict == assertions.Fail {
			t.Errorf("%s %q failed: %s", p.DisplayType, p.ID, p.Reason)
		}
	}
	for id, seen := range want {
		if !seen {
			t.Errorf("property %q was never reported", id)
		}
	}
	return oc
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestHarnessProcess(t *testing.T) {
	b := process.New(process.Options{})
	usable(t, b)
	buildRoot(t)
	check(t, b, loadSpec(t), 2)
	if err := process.Leftovers(b.RunID()); err != nil {
		t.Errorf("left behind: %v", err)
	}
}

// TestHarnessComposeOnly runs the harness as `mvrun test --compose` does:
// no spec, templates found in every service, default faults.
func TestHarnessComposeOnly(t *testing.T) {
	b := process.New(process.Options{})
	usable(t, b)
	buildRoot(t)
	test, err := specs.FromCompose(context.Background(), "docker-compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if test.Templates == nil || test.Templates.Dir != specs.DefaultTemplatesDir || !test.Faults.Swarm {
		t.Fatalf("FromCompose: templates %+v, faults %+v; want the default templates directory and swarm faults", test.Templates, test.Faults)
	}
	// Both services share the build context, so both have the template;
	// the check wants the client's, so name it.
	test.Templates.Service = "client"
	check(t, b, test, 1)
}

func TestHarnessDocker(t *testing.T) {
	b := docker.New(docker.Options{})
	usable(t, b)
	buildRoot(t)
	check(t, b, loadSpec(t), 2)
}

// TestHarnessHV runs the harness inside hv: the named volume and the bind
// mounts are file systems of the VMM that the writer's and the client's
// nodes share. The same seeds run twice must give the same trace hashes.
func TestHarnessHV(t *testing.T) {
	usable(t, hvbackend.New(hvbackend.Options{}))
	buildRoot(t)
	test := loadSpec(t)
	var hashes [2][]uint64
	for i := range hashes {
		oc := check(t, hvbackend.New(hvbackend.Options{}), test, 2)
		for _, so := range oc.Seeds {
			if so.TraceHash == 0 {
				t.Errorf("seed %#x has no trace hash", so.Seed)
			}
			hashes[i] = append(hashes[i], so.TraceHash)
		}
	}
	if fmt.Sprint(hashes[0]) != fmt.Sprint(hashes[1]) {
		t.Errorf("trace hashes differ between two runs of the same seeds: %x, %x", hashes[0], hashes[1])
	}
}

// usable skips the test under -short (it builds and runs the example) and
// where backend b cannot run on this host.
func usable(t *testing.T, b backend.Backend) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping: builds and runs the harness example")
	}
	if err := b.Available(context.Background()); err != nil {
		t.Skipf("skipping: %v", err)
	}
}

// loadSpec loads the example's spec and returns its test.
func loadSpec(t *testing.T) *specs.Test {
	t.Helper()
	spec, err := specs.Load(context.Background(), "spec.hcl")
	if err != nil {
		t.Fatal(err)
	}
	return spec.Tests[0]
}

// requireCgo skips the test when this machine cannot link cgo programs
// statically against glibc.
func requireCgo(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("skipping: no gcc to build cgo programs")
	}
	if _, err := os.Stat("/usr/lib/x86_64-linux-gnu/libc.a"); err != nil {
		t.Skip("skipping: no static glibc (libc6-dev's libc.a)")
	}
}

// TestHarnessHVCgo runs the harness built with cgo, as a harness using the
// Antithesis SDK's cgo build is: linked statically it runs on hv, where the
// SDK finds no libvoidstar and writes to ANTITHESIS_SDK_LOCAL_OUTPUT; built
// as a dynamic executable, hv refuses it before the first seed, naming the
// static build command.
func TestHarnessHVCgo(t *testing.T) {
	usable(t, hvbackend.New(hvbackend.Options{}))
	requireCgo(t)
	t.Run("static", func(t *testing.T) {
		buildRoot(t, "HARNESS_CGO=static")
		check(t, hvbackend.New(hvbackend.Options{}), loadSpec(t), 1)
	})
	t.Run("dynamic", func(t *testing.T) {
		buildRoot(t, "HARNESS_CGO=dynamic")
		b := hvbackend.New(hvbackend.Options{})
		err := b.Prepare(context.Background(), loadSpec(t), t.TempDir())
		if err == nil {
			t.Fatal("hv prepared a dynamically linked cgo harness")
		}
		for _, want := range []string{`service "writer": `, "is dynamically linked; ", "built with " + hvbackend.StaticCgoBuild + " ("} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("the refusal does not say %q:\n%v", want, err)
			}
		}
		if strings.Contains(err.Error(), "%!") {
			t.Errorf("the refusal is misformatted:\n%v", err)
		}
	})
}
