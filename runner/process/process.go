// Package process is the process backend: every node of a cluster is a host
// process in its own network namespace, wired to the others through
// runner/network's userspace switch.
//
// A node's process is started through a small init shim (the mvrun binary
// re-executed with a hidden first argument, see [MaybeRunShim]) that enters
// the node's network namespace, gives the node a private mount and UTS
// namespace with its own /etc/hosts and hostname, optionally a time namespace
// with a CLOCK_MONOTONIC/CLOCK_BOOTTIME offset, and then execs the program.
// Each node runs in its own process group: a kill fault is SIGKILL to the
// group, a pause SIGSTOP, and a restart runs the program again in the same
// working directory, whose files survive.
//
// The backend needs root (network namespaces, mounts). It determines the
// fault schedule and the workload from the seed, not the scheduling of the
// programs themselves; use the hv backend for that.
package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/runner/backend/cluster"
	"github.com/mvrun/multiverse/specs"
)

// DefaultRunDir is where the backend keeps its per-run state (owner file,
// pid files, hosts files). Sweep looks here for runs that were killed.
const DefaultRunDir = "/run/mvrun"

// Options configures the process backend.
type Options struct {
	// Log receives the backend's logs; nil means slog.Default().
	Log *slog.Logger
	// Shim is the executable that is re-executed as the node init shim; empty
	// means the running executable, which must call [MaybeRunShim] first
	// thing in main.
	Shim string
}

// Backend is the process backend. It is safe for concurrent use: the
// clusters of concurrent seeds share it.
type Backend struct {
	backend.Base
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	clusters int // live clusters; the run's state directory exists while > 0
	test     *specs.Test
	programs map[string]string // service → program path, from Prepare

	cgWarn sync.Once // logs once that nodes get no cgroups here
}

var _ backend.Backend = (*Backend)(nil)

// support is what the process backend carries out. clock_skew is only
// partly possible (see [mechanics.ApplyOther]) and clock_jump not at all;
// New adds the disk kinds, possible where FUSE is ([withDisk]).
var support = backend.Support{
	Backend: "process",
	Can:     cluster.Kinds,
	Cannot: map[faults.ActionKind]error{
		faults.ActClockSkew: errClockOffset,
		faults.ActClockJump: errClockJump,
	},
}

// New returns a process backend. Each Backend is one run: its processes,
// namespaces and files carry the run's id (every node process has
// MVRUN_RUN=<run id>.<cluster index> in its environment), which
// [Backend.Sweep] of a later run uses to find what a killed run left behind.
func New(opts Options) *Backend {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	return &Backend{Base: backend.NewBase(withDisk(support)), opts: opts, log: opts.Log.With("backend", "process")}
}

// netPrefix returns the name prefix of the network devices and namespaces
// of the cluster with the given index (see [backend.NetPrefix]).
func (b *Backend) netPrefix(index int) string {
	return backend.NetPrefix(netPrefixStart, b.RunID(), index)
}

// Close reports clusters of the run that are still open: the process
// backend keeps nothing else for a whole run (each cluster's Close removes
// the run's state directory when it is the last).
func (b *Backend) Close(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.clusters > 0 {
		return fmt.Errorf("process backend: %d clusters of run %s are still open", b.clusters, b.RunID())
	}
	return nil
}

// Available reports whether this host can run the process backend: Linux and
// root, for network, mount and UTS namespaces.
func (b *Backend) Available(ctx context.Context) error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("the process backend needs Linux (this is %s); use --backend docker", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		return errors.New("the process backend needs root to create network namespaces; run mvrun as root (e.g. sudo) or use --backend docker")
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		return fmt.Errorf("the process backend needs network namespaces: %w", err)
	}
	return nil
}

// Errors for the fault kinds the process backend cannot carry out as asked.
var (
	errClockOffset = fmt.Errorf("clock_skew: %w on the process backend: a node's CLOCK_MONOTONIC and CLOCK_BOOTTIME shift only from its next (re)start, and its wall clock does not move (use --backend hv)", backend.ErrUnsupported)
	errClockJump   = fmt.Errorf("clock_jump: wall-clock jumps are %w on the process backend (use --backend hv)", backend.ErrUnsupported)
)
