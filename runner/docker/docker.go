// Package docker is the docker backend: every node of a cluster is a Docker
// container created with testcontainers-go, and the containers talk to each
// other only through runner/network's seeded userspace switch.
//
// Each node is a pair of containers, like a Kubernetes pod: a sandbox that
// owns the node's network namespace (network mode "none", running a
// 129-byte program that only waits for signals) and the service container,
// which joins the sandbox's namespace ("container:<sandbox>"). The switch
// attaches a TAP device to each sandbox's namespace, so partitions, loss,
// duplication, delay and reordering act on real packets exactly as on the
// process backend, and a killed and restarted service container finds its
// address, its device and its hostname where it left them.
//
// No image is ever pulled. Services with an image must have it locally;
// build contexts with a Dockerfile are built locally; a build context that
// is a Go main package (or an x-mvrun.binary) becomes a FROM scratch image
// holding the static binary. Everything the backend creates carries the
// labels [LabelRun], [LabelSeed] and [LabelOwner]; [Backend.Sweep] removes
// what runs whose process is gone left behind. The testcontainers reaper
// (Ryuk) must be disabled, because it needs a registry image; testcontainers
// reads that setting once per process, so the program does it by calling
// [ConfigureProcess] at start (cmd/mvrun does), and [Backend.Available] says
// so when it was not done.
package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/internal/procs"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/runner/backend/cluster"
	"github.com/mvrun/multiverse/specs"
)

// Labels every container, network and image of the backend carries.
const (
	// LabelRun is the run's id.
	LabelRun = "mvrun.run"
	// LabelSeed is the seed of the cluster a container belongs to (0x…).
	LabelSeed = "mvrun.seed"
	// LabelOwner is "pid starttime" of the mvrun process that made the
	// object; Sweep removes objects whose owner is gone.
	LabelOwner = "mvrun.owner"
	// LabelService is the compose service a container runs or an image
	// was built for.
	LabelService = "mvrun.service"
	// LabelRole is "sandbox" or "service" on containers, "image" on built
	// images.
	LabelRole = "mvrun.role"
	// LabelSandboxImage marks the shared sandbox image, which is kept.
	LabelSandboxImage = "mvrun.sandbox"
)

// Options configures the docker backend.
type Options struct {
	// Log receives the backend's logs; nil means slog.Default().
	Log *slog.Logger
}

// Backend is the docker backend. It is safe for concurrent use: the
// clusters of concurrent seeds share it.
type Backend struct {
	backend.Base
	log   *slog.Logger
	owner string // LabelOwner value of this process

	cliOnce sync.Once
	cli     *testcontainers.DockerClient
	cliErr  error

	mu      sync.Mutex
	test    *specs.Test
	images  map[string]*image // service → its image, from Prepare
	sandbox string            // sandbox image reference
}

var _ backend.Backend = (*Backend)(nil)

// ryukEnv is the environment variable by which testcontainers' reaper is
// disabled; testcontainers offers no per-client setting.
const ryukEnv = "TESTCONTAINERS_RYUK_DISABLED"

// ConfigureProcess sets what testcontainers keeps per process, for a
// program that uses this backend: it disables the reaper (Ryuk needs a
// registry image, and [Backend.Sweep] does its job) by setting
// TESTCONTAINERS_RYUK_DISABLED=true in the environment, and sends
// testcontainers' package-level logs to log at debug level (nil: dropped).
// Call it at program start, before any testcontainers call: testcontainers
// reads its configuration once. Backends never change process state
// themselves; each passes its own logger to every testcontainers call.
func ConfigureProcess(log *slog.Logger) error {
	if err := os.Setenv(ryukEnv, "true"); err != nil {
		return fmt.Errorf("docker backend: disabling the testcontainers reaper: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tclog.SetDefault(tcLogger{log.With("backend", "docker")})
	return nil
}

// New returns a docker backend. Each Backend is one run: its containers and
// images carry the run's id and this process's identity, which
// [Backend.Sweep] of a later run uses to find what a killed run left behind.
// It changes no process-wide state (see [ConfigureProcess]).
func New(opts Options) *Backend {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	log := opts.Log.With("backend", "docker")
	owner, _ := procs.Identity(os.Getpid())
	return &Backend{Base: backend.NewBase(withDisk(support)), log: log, owner: owner}
}

// tcLogger turns testcontainers' Printf logs into debug logs.
type tcLogger struct{ log *slog.Logger }

func (l tcLogger) Printf(format string, v ...any) {
	l.log.Debug("testcontainers: " + fmt.Sprintf(format, v...))
}

// netPrefix returns the name prefix of the network devices of the cluster
// with the given index (see [backend.NetPrefix]).
func (b *Backend) netPrefix(index int) string {
	return backend.NetPrefix(netPrefixStart, b.RunID(), index)
}

// client returns the Docker client, connecting on first use the way
// testcontainers does (DOCKER_HOST, docker contexts, the default socket).
func (b *Backend) client(ctx context.Context) (*testcontainers.DockerClient, error) {
	b.cliOnce.Do(func() {
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		b.cli, b.cliErr = testcontainers.NewDockerClientWithOpts(cctx)
	})
	return b.cli, b.cliErr
}

// Available reports whether this host can run the docker backend: a Docker
// engine that answers, on this machine (the backend enters containers'
// network namespaces through /proc), and root for that.
func (b *Backend) Available(ctx context.Context) error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("the docker backend needs Linux (this is %s): it wires containers' network namespaces to mvrun's switch", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		return errors.New("the docker backend needs root to attach containers' network namespaces to mvrun's switch; run mvrun as root (e.g. sudo)")
	}
	if os.Getenv(ryukEnv) != "true" {
		return fmt.Errorf("the testcontainers reaper is enabled, and it needs a registry image: call docker.ConfigureProcess at program start, or set %s=true", ryukEnv)
	}
	cli, err := b.client(ctx)
	if err != nil {
		return fmt.Errorf("no Docker engine answers: %w; start one (as root: dockerd &) or point DOCKER_HOST at it", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx, client.PingOptions{}); err != nil {
		return fmt.Errorf("the Docker engine does not answer: %w; start one (as root: dockerd &) or point DOCKER_HOST at it", err)
	}
	return nil
}

// Errors for the fault kinds the docker backend cannot carry out. Their
// texts are fixed: the report groups unsupported actions by them.
var (
	errClockOffset = fmt.Errorf("clock_skew: clock skew is %w on the docker backend (use --backend hv)", backend.ErrUnsupported)
	errClockJump   = fmt.Errorf("clock_jump: clock skew is %w on the docker backend (use --backend hv)", backend.ErrUnsupported)
)

// support is what the docker backend carries out: partitions, link
// faults, kills, restarts, pauses and resumes; clock skew (clock_skew,
// clock_jump) is not supported.
var support = backend.Support{
	Backend: "docker",
	Can:     cluster.Kinds,
	Cannot: map[faults.ActionKind]error{
		faults.ActClockSkew: errClockOffset,
		faults.ActClockJump: errClockJump,
	},
}

// labels returns the labels of an object of this run.
func (b *Backend) labels(kv ...string) map[string]string {
	l := map[string]string{LabelRun: b.RunID(), LabelOwner: b.owner}
	for i := 0; i+1 < len(kv); i += 2 {
		l[kv[i]] = kv[i+1]
	}
	return l
}

// signalName names the signal of a container or exec exit code above 128,
// the way the process backend names signals ("killed" for 137). Docker
// reports a process killed by signal n as 128+n; a program that exits with
// such a code on purpose is indistinguishable.
func signalName(code int) string {
	if code > 128 && code < 128+32 {
		return syscall.Signal(code - 128).String()
	}
	return ""
}
