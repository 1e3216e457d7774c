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
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/runner/backend"
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
	opts  Options
	log   *slog.Logger
	runID string

	mu       sync.Mutex
	clusters int // live clusters; the run's state directory exists while > 0
	test     *specs.Test
	programs map[string]string // service → program path, from Prepare
}

var _ backend.Backend = (*Backend)(nil)

// New returns a process backend. Each Backend is one run: its processes,
// namespaces and files carry the run's id, which [Backend.Sweep] of a later
// run uses to find what a killed run left behind.
func New(opts Options) *Backend {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	return &Backend{opts: opts, log: opts.Log.With("backend", "process"), runID: newRunID()}
}

// newRunID returns a short id that is unique on this host among live runs.
// It names the run's state directory and prefixes its network devices, so it
// is short. It is not random in the seed sense: it never affects a run.
func newRunID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(os.Getpid()))
	binary.LittleEndian.PutUint64(b[8:], uint64(time.Now().UnixNano()))
	h := sha256.Sum256(b[:])
	return fmt.Sprintf("%x", h[:3])[:runIDLen]
}

// RunID returns the id of the run this backend belongs to. Every node process
// carries it in its environment as MVRUN_RUN=<run id>.<cluster index>.
func (b *Backend) RunID() string { return b.runID }

// Name returns "process".
func (b *Backend) Name() string { return "process" }

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
	errClockOffset = fmt.Errorf("clock_offset: %w on the process backend: a node's CLOCK_MONOTONIC and CLOCK_BOOTTIME shift only from its next (re)start, and its wall clock does not move (only hv can, and mvrun test cannot use hv yet)", backend.ErrUnsupported)
	errClockJump   = fmt.Errorf("clock_jump: wall-clock jumps are %w on the process backend (only hv can, and mvrun test cannot use hv yet)", backend.ErrUnsupported)
)

// Supports reports whether the backend carries out actions of kind k.
// Partitions, link faults, kills, restarts, pauses and resumes are
// supported. clock_offset is only partly possible (see [Cluster.Apply]) and
// clock_jump not at all; both report errors wrapping
// [backend.ErrUnsupported].
func (b *Backend) Supports(k faults.ActionKind) error {
	switch k {
	case faults.ActPartition, faults.ActHeal, faults.ActLink,
		faults.ActKill, faults.ActRestart, faults.ActPause, faults.ActResume:
		return nil
	case faults.ActClockSet:
		return errClockOffset
	case faults.ActClockJump:
		return errClockJump
	}
	return fmt.Errorf("%s: unknown action kind, %w on the process backend", k, backend.ErrUnsupported)
}
