package docker

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/mvrun/multiverse/internal/gobuild"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/runner/backendtest"
	"github.com/mvrun/multiverse/specs"
)

// childRunnerEnv makes the test binary act as a runner that boots a cluster
// and waits to be killed (see TestSweepAfterRunnerKilled).
const childRunnerEnv = "MVRUN_DOCKER_TEST_CHILD_RUNNER"

func TestMain(m *testing.M) {
	if err := ConfigureProcess(nil); err != nil {
		panic(err)
	}
	if dir := os.Getenv(childRunnerEnv); dir != "" {
		childRunner(dir)
		return
	}
	os.Exit(m.Run())
}

// needDocker skips t unless the docker backend can run here: root and a
// Docker engine that answers.
func needDocker(t testing.TB) *Backend {
	t.Helper()
	b := New(Options{})
	if err := b.Available(context.Background()); err != nil {
		t.Skipf("skipping: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(context.Background()); err != nil {
			t.Errorf("Backend.Close: %v", err)
		}
	})
	return b
}

// leftovers describes what run id left behind: containers, networks and
// images labelled with it.
func leftovers(ctx context.Context, b *Backend, id string) error {
	cli, err := b.client(ctx)
	if err != nil {
		return err
	}
	f := make(client.Filters).Add("label", LabelRun+"="+id)
	var found []string
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return err
	}
	for _, c := range cs.Items {
		found = append(found, "container "+strings.Join(c.Names, ","))
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return err
	}
	for _, n := range ns.Items {
		found = append(found, "network "+n.Name)
	}
	if len(found) > 0 {
		return fmt.Errorf("%s", strings.Join(found, ", "))
	}
	return nil
}

func runImages(t testing.TB, b *Backend, id string) []string {
	t.Helper()
	cli, err := b.client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	is, err := cli.ImageList(context.Background(), client.ImageListOptions{Filters: make(client.Filters).Add("label", LabelRun+"="+id)})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, im := range is.Items {
		out = append(out, im.RepoTags...)
	}
	return out
}

func TestConformance(t *testing.T) {
	b := needDocker(t)
	backendtest.Run(t, b, backendtest.Options{
		Clean: func(ctx context.Context) error { return leftovers(ctx, b, b.RunID()) },
	})
	if t.Failed() {
		return
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatalf("Backend.Close: %v", err)
	}
	if imgs := runImages(t, b, b.RunID()); len(imgs) > 0 {
		t.Errorf("images of the run left after Backend.Close: %v", imgs)
	}
}

func TestNodeIdentity(t *testing.T) {
	b := needDocker(t)
	ctx := context.Background()
	before, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	h := backendtest.Boot(t, ctx, b, backendtest.NewTest([]string{"solo", "duo"}))
	for _, tt := range []struct {
		name string
		args []string
		want func(string) bool
	}{
		{"hostname", []string{"hostname"}, func(s string) bool { return s == "solo\n" }},
		{"localhost", []string{"resolve", "localhost"}, func(s string) bool { return strings.Contains(s, "127.0.0.1") }},
		{"peer", []string{"resolve", "duo"}, func(s string) bool { return s == "10.77.0.3\n" }},
		{"seed", []string{"env", "MVRUN_SEED"}, func(s string) bool { return len(s) > 1 && s[0] >= '0' && s[0] <= '9' }},
		{"sdk", []string{"env", "ANTITHESIS_SDK_LOCAL_OUTPUT"}, func(s string) bool { return s == "/mvrun/sdk/solo.exec.4.jsonl\n" }},
		// MVRUN_RUN marks process-backend nodes, whose Sweep kills
		// processes with unknown marks; containers must not carry it.
		{"no process-backend marker", []string{"env", "MVRUN_RUN"}, func(s string) bool { return s == "\n" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, out, errs := h.Exec(t, "solo", "exec", nil, tt.args...); !tt.want(out) {
				t.Errorf("%v in node: %q (stderr %q)", tt.args, out, errs)
			}
		})
	}
	after, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(before) {
		t.Errorf("the host's /etc/hosts changed while a node ran")
	}
}

// TestExecWhileStopped checks that a command in a killed node is an error
// that says why, and that a command in a paused node waits for the resume.
func TestExecWhileStopped(t *testing.T) {
	b := needDocker(t)
	ctx := context.Background()
	h := backendtest.Boot(t, ctx, b, backendtest.NewTest([]string{"solo"}))
	if err := h.Cluster.Apply(ctx, pauseAction("solo")); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		h.Cluster.Apply(ctx, resumeAction("solo"))
	}()
	start := time.Now()
	if res, out, _ := h.Exec(t, "solo", "exec", nil, "exit", "0"); res.ExitCode != 0 || out != "out\n" {
		t.Errorf("exec in a paused node: exit %d, stdout %q", res.ExitCode, out)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("exec in a paused node ran before the resume (after %v)", d)
	}
	if err := h.Cluster.Apply(ctx, killAction("solo")); err != nil {
		t.Fatal(err)
	}
	_, err := h.Cluster.Exec(ctx, backend.ExecRequest{Service: "solo", Argv: []string{"/bin/solo", "exit", "0"}})
	if err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("exec in a killed node: %v, want an error saying it is not running", err)
	}
}

// TestPrepareErrors checks that what cannot run fails in Prepare with an
// error naming the service and saying what to do.
func TestPrepareErrors(t *testing.T) {
	b := needDocker(t)
	ctx := context.Background()
	fromMissing := t.TempDir()
	os.WriteFile(filepath.Join(fromMissing, "Dockerfile"), []byte("FROM mvrun-no-such-base:1 AS base\nFROM base\n"), 0o644)
	noDockerfile := t.TempDir()
	os.WriteFile(filepath.Join(noDockerfile, "README"), []byte("nothing to build"), 0o644)
	tests := []struct {
		name  string
		svc   specs.Service
		argv  []string
		wants []string
	}{
		{"missing image", specs.Service{Name: "db", Image: "mvrun-no-such-image:404"},
			nil, []string{`service "db"`, "mvrun-no-such-image:404", "never pulls", "docker build -t"}},
		{"missing base image", specs.Service{Name: "api", Build: &specs.Build{Context: fromMissing, Dockerfile: "Dockerfile"}},
			nil, []string{`service "api"`, "Dockerfile:1", "mvrun-no-such-base:1", "never pulls"}},
		{"no Dockerfile", specs.Service{Name: "web", Build: &specs.Build{Context: noDockerfile}},
			nil, []string{`service "web"`, "no Dockerfile", "not a Go main package"}},
		{"command not in the program image", specs.Service{Name: "alpha", Build: &specs.Build{Context: backendtest.EchoDir(), GoMain: true}},
			[]string{"/usr/bin/checker"}, []string{`service "alpha"`, `"/usr/bin/checker"`, "/bin/alpha", "/bin/echo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := tt.svc
			test := &specs.Test{Name: "errors", Project: &specs.Project{Name: "errors", Services: []*specs.Service{&svc}}}
			if tt.argv != nil {
				test.Workload = []*specs.Command{{Role: specs.RoleFirst, Name: "check", Service: svc.Name, Argv: tt.argv}}
			}
			err := b.Prepare(ctx, test, t.TempDir())
			if err == nil {
				t.Fatalf("Prepare succeeded, want an error")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestDockerfileImages builds a service from a Dockerfile twice: once
// unnamed (a run image, removed by Close) and once with a compose image:
// name (kept).
func TestDockerfileImages(t *testing.T) {
	b := needDocker(t)
	ctx := context.Background()
	dir := t.TempDir()
	if err := gobuild.Build(ctx, gobuild.Request{Dir: backendtest.EchoDir(), Out: filepath.Join(dir, "echo")}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY echo /usr/local/bin/echo\nENTRYPOINT [\"/usr/local/bin/echo\"]\nCMD [\"serve\"]\n"), 0o644)
	const named = "mvrun-test-named:1"
	t.Cleanup(func() {
		cli, _ := b.client(ctx)
		cli.ImageRemove(ctx, named, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	})
	test := &specs.Test{Name: "df", Project: &specs.Project{Name: "df", Services: []*specs.Service{
		{Name: "anon", Build: &specs.Build{Context: dir, Dockerfile: "Dockerfile"}},
		{Name: "named", Image: named, Build: &specs.Build{Context: dir, Dockerfile: "Dockerfile"}},
	}}}
	h := backendtest.Boot(t, ctx, b, test)
	h.Program = func(string) string { return "/usr/local/bin/echo" }
	if !h.Reachable(t, "tcp", "anon", "named", 30*time.Second) {
		t.Fatalf("services built from a Dockerfile do not talk")
	}
	if imgs := runImages(t, b, b.RunID()); len(imgs) != 1 || !strings.Contains(imgs[0], "df-anon") {
		t.Errorf("run images %v, want one for service anon", imgs)
	}
	if err := h.Cluster.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if imgs := runImages(t, b, b.RunID()); len(imgs) != 0 {
		t.Errorf("run images left after Close: %v", imgs)
	}
	if ok, err := imageExists(ctx, b.cli, named); !ok || err != nil {
		t.Errorf("the compose-named image %s is gone after Close (%v); it must be kept", named, err)
	}
}

// childRunner is the body of the runner process TestSweepAfterRunnerKilled
// kills: it boots a two-node cluster, prints the run id and waits.
func childRunner(dir string) {
	ctx := context.Background()
	b := New(Options{})
	test := backendtest.NewTest([]string{"alpha", "beta"})
	if err := b.Prepare(ctx, test, filepath.Join(dir, "work")); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	c, err := b.NewCluster(ctx, backend.ClusterConfig{Test: test, Seed: 7, Dir: filepath.Join(dir, "seed")})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for _, s := range []string{"alpha", "beta"} {
		if err := c.Start(ctx, s); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
	}
	fmt.Println("ready", b.RunID())
	time.Sleep(time.Hour)
}

// TestSweepAfterRunnerKilled SIGKILLs a runner with a live cluster and
// checks that Sweep of the next run removes its containers and images, and
// that Sweep leaves a live run's alone.
func TestSweepAfterRunnerKilled(t *testing.T) {
	b := needDocker(t)
	ctx := context.Background()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childRunnerEnv+"="+t.TempDir())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	line, _ := bufio.NewReader(out).ReadString('\n')
	id, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if !ok {
		t.Fatalf("child runner: %q", line)
	}
	if leftovers(ctx, b, id) == nil {
		t.Fatalf("the child run %s has no containers to sweep", id)
	}
	// A live run is not swept.
	if err := b.Sweep(ctx); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if leftovers(ctx, b, id) == nil {
		t.Fatalf("Sweep removed the containers of a live run")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	killed = true
	if err := New(Options{}).Sweep(ctx); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if err := leftovers(ctx, b, id); err != nil {
		t.Errorf("left after Sweep: %v", err)
	}
	if imgs := runImages(t, b, id); len(imgs) > 0 {
		t.Errorf("images left after Sweep: %v", imgs)
	}
	// Nothing of the killed run is visible to docker's own listing either.
	for _, args := range [][]string{{"ps", "-a"}, {"network", "ls"}, {"images"}} {
		full := append(args, "--filter", "label="+LabelRun+"="+id, "-q")
		o, err := exec.Command("docker", full...).Output()
		if err != nil {
			t.Logf("docker %v: %v (docker CLI not usable; the API check above stands)", full, err)
			continue
		}
		if s := strings.TrimSpace(string(o)); s != "" {
			t.Errorf("docker %s still lists: %s", strings.Join(full, " "), s)
		}
	}
}
