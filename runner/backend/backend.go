// Package backend defines the interface between the runner and the things
// that run a compose project's services: the process, docker and hv backends.
//
// A [Backend] is chosen once per run. For every seed the runner asks it for a
// fresh, isolated [Cluster], starts the services' nodes in it, runs workload
// commands in them, applies fault actions, and closes it. Every backend runs
// the exported conformance suite in runner/backendtest.
package backend

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/specs"
)

// ErrUnsupported is wrapped by errors that say a backend cannot do something
// (a fault kind, a compose feature). The runner reports these as report lines,
// never silently. It is [faults.ErrUnsupported], so fault injectors and
// backends share one sentinel.
var ErrUnsupported = faults.ErrUnsupported

// ErrStopped is what a cluster's calls return once its run has reached
// the virtual time it was asked to end at (hv's StoppingAt): the run was
// cut there on purpose, so what did not finish is no failure of the
// system under test.
var ErrStopped = errors.New("the run reached the virtual time it was asked to stop at; the runner stopped there")

// Backend runs compose services as nodes.
type Backend interface {
	// Name is "process", "docker" or "hv".
	Name() string
	// Available returns nil if the backend can run on this host, or an error
	// that says what is missing (root, /dev/kvm, a Docker engine).
	Available(ctx context.Context) error
	// Supports returns nil if the backend carries out actions of kind k, or an
	// error wrapping ErrUnsupported that says why not, e.g.
	// "clock_jump: wall-clock jumps are not supported on the process backend".
	Supports(k faults.ActionKind) error
	// Prepare readies everything the test's services need, once per run:
	// builds Go main packages, checks binaries and images exist. Errors name
	// the service and say what to do.
	Prepare(ctx context.Context, t *specs.Test, workDir string) error
	// Sweep removes what earlier runs that were killed left behind
	// (processes, namespaces, links, containers, networks). It is called once
	// at the start of every run.
	Sweep(ctx context.Context) error
	// NewCluster creates the isolated environment of one seed (its network,
	// its working directories). No node runs until Start. When it fails it
	// returns a nil Cluster, having removed whatever it created itself: the
	// caller has nothing to close.
	NewCluster(ctx context.Context, cfg ClusterConfig) (Cluster, error)
	// Close releases what the backend keeps for the whole run (the docker
	// backend's built images), once the run's last cluster is closed; it
	// reports clusters that are still open as an error. Like
	// [Cluster.Close], it does its work even when ctx is already cancelled.
	Close(ctx context.Context) error
}

// ClusterConfig configures the cluster of one seed.
type ClusterConfig struct {
	Test *specs.Test
	Seed uint64
	// Index is the seed's position in the run (0-based). Backends use it to
	// keep concurrent clusters apart (subnets, names).
	Index int
	// Dir is the seed's artifacts directory. Backends write each node's
	// stdout and stderr there as nodes/<service>.stdout and .stderr (appending
	// across restarts), and may keep per-node working directories under it.
	Dir string
	// Events receives SDK lines and node lifecycle events. It is called from
	// any goroutine and must not block for long.
	Events func(Event)
	Log    *slog.Logger
}

// Cluster is the running environment of one seed.
type Cluster interface {
	// Start boots service's node (its entrypoint and command). It returns
	// once the process is running, not once it is healthy.
	Start(ctx context.Context, service string) error
	// Exec runs a command inside service's node and waits for it to exit.
	// A non-zero exit is a result, not an error; an error means the command
	// could not be run at all or ctx ended.
	Exec(ctx context.Context, req ExecRequest) (ExecResult, error)
	// Apply carries out one fault action. It returns an error wrapping
	// ErrUnsupported for kinds the backend cannot do.
	Apply(ctx context.Context, a faults.Action) error
	// Now is the cluster's time since it was created: wall time on process
	// and docker, virtual time on hv.
	Now() time.Duration
	// Sleep waits d of cluster time, or until ctx ends.
	Sleep(ctx context.Context, d time.Duration) error
	// Close stops every node and removes everything the cluster created.
	// It is safe to call more than once. Close does all of its work even
	// when ctx is cancelled or ends midway: a cluster closed halfway would
	// leave processes, namespaces or containers that only a later run's
	// Sweep removes. Its waits are bounded by the backend's own timeouts;
	// ctx carries values (logging) only.
	Close(ctx context.Context) error
}

// Turns is implemented by clusters whose time is simulated (hv). On such a
// cluster the runner's goroutines of a seed are participants that take
// turns: one runs at a time, and simulated time advances only while every
// one of them waits in a cluster call (Sleep, Exec, Join, Until). Which
// participant runs next is decided by the cluster from the simulation
// alone, so everything the runner does, and the simulated time it does it
// at, is a function of the seed. The goroutine that called NewCluster is
// the first participant.
type Turns interface {
	// Go starts fn as a new participant. It runs once the caller waits in
	// a cluster call; fn must use this cluster's calls to wait, never host
	// channels, locks held across waits or host timers.
	Go(fn func()) Task
	// Join waits until every task has returned.
	Join(tasks ...Task)
	// Until waits until cond is true or ctx ends. cond is evaluated between
	// simulation events, on whatever goroutine runs the simulation, so it
	// may read state that event callbacks write (under their lock).
	Until(ctx context.Context, cond func() bool) error
	// WithTimeout is [context.WithTimeout] on the cluster's clock.
	WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc)
}

// Traced is implemented by clusters that replay exactly (hv): TraceHash
// fingerprints everything the seed did so far, and TraceLog names the file,
// in the seed's artifacts directory, where the cluster logs the trace's
// milestones for replays to compare.
type Traced interface {
	TraceHash() uint64
	TraceLogFile() string
}

// Resumer is implemented by clusters that can resume a run from a
// snapshot of an earlier one (hv): ResumedAt is the virtual time the run
// resumed at, 0 when it ran from the start. What the seed reports does
// not depend on it.
type Resumer interface {
	ResumedAt() time.Duration
}

// Broken is implemented by clusters whose run can stop for a reason of
// the backend's own, not the system under test's (hv: a run resumed from
// a snapshot that does not match its record): Broken returns that reason,
// nil when there is none. The runner makes it the seed's error, so such a
// seed is never reported as the system's failure.
type Broken interface {
	Broken() error
}

// Gaps is implemented by clusters that can tell what their nodes' programs
// asked for and did not get (hv: system calls it does not implement). Each
// entry names the node and the request, e.g. `node kv1: acct`, with the
// number of times in Calls. The runner reports them, so a limit of the
// backend is never silent.
type Gaps interface {
	Gaps() []Gap
}

// TemplateLister is implemented by backends that can list a directory as
// a service's node sees it, once Prepare has run: the runner finds a
// test's test-composer templates ([specs.Templates]) with it. It returns
// the entries of each subdirectory of dir (one per template); an error
// wrapping [fs.ErrNotExist] when the service has no dir.
type TemplateLister interface {
	ListTemplates(ctx context.Context, service, dir string) ([]specs.TemplateFile, error)
}

// Gap is one thing a node's programs asked for that the backend does not do.
type Gap struct {
	What  string // "node kv1: acct"
	Calls int
}

// Task is a participant started by [Turns.Go].
type Task interface {
	// Done reports whether the participant's function has returned.
	Done() bool
}

// ExecRequest is a command to run inside a node.
type ExecRequest struct {
	Service string
	Name    string // workload command name, for artifacts and SDK attribution
	Argv    []string
	Env     map[string]string
	Stdout  io.Writer // may be nil
	Stderr  io.Writer // may be nil
}

// ExecResult is how an executed command ended.
type ExecResult struct {
	ExitCode int
	Signal   string // "killed", "terminated", ... when the command died of a signal
	Duration time.Duration
}

// EventKind names a cluster event.
type EventKind string

// Event kinds.
const (
	EventSDK       EventKind = "sdk"        // Line holds one wire-format JSON line
	EventNodeStart EventKind = "node_start" // a node's service process started
	EventNodeExit  EventKind = "node_exit"  // a node's service process ended
	// EventDiskFault: a disk fault hit one I/O call of a node (or its
	// kill); Line holds the fault log text, as "fsync_error fsync wal
	// off=0 len=4096: EIO, dirty data dropped".
	EventDiskFault EventKind = "disk_fault"
	// EventCoverage: the coverage counters of a node's program were read
	// (hv, programs built with counters); Cover holds the read.
	EventCoverage EventKind = "coverage"
)

// CoverSample is one read of a node's program's coverage counters
// ([EventCoverage]), or, with Without set, the news that the node's
// program has none.
type CoverSample struct {
	// Program names the program (the same name on every node running the
	// same build).
	Program string `json:"program,omitempty"`
	// DueNS is the cluster time the read stands for: a periodic sample's
	// multiple of the period (the read itself happens at the first point
	// between guest events from then on, usually µs later), else the time
	// of the read.
	DueNS int64 `json:"due_ns,omitempty"`
	// Exit is set for a read as a process exited, Final for the read when
	// the cluster closed; otherwise it is a periodic sample.
	Exit  bool `json:"exit,omitempty"`
	Final bool `json:"final,omitempty"`
	// Counters is how many counters were non-zero in this read; Hit how
	// many distinct counters of the program were non-zero on the node at
	// any read of the run so far.
	Counters int `json:"counters"`
	Hit      int `json:"hit"`
	// Fingerprint hashes the read's (counter index, bucket) pairs, counts
	// bucketed as AFL buckets them (1, 2, 3, 4–7, 8–15, …); 0 for none.
	Fingerprint uint64 `json:"fingerprint,omitempty"`
	// New are the (counter index, bucket) pairs this read saw that no
	// earlier read of the program on the node did: features for a search.
	New [][2]uint32 `json:"new,omitempty"`
	// Without says why the node's program has no counters.
	Without string `json:"without,omitempty"`
}

// Event is something that happened in a cluster.
type Event struct {
	At   time.Duration // cluster time
	Kind EventKind
	Node string // service name
	// Proc is who produced it: "" for the service process itself, or the
	// workload command's name.
	Proc string
	Line []byte // EventSDK: one JSON line without the newline
	// LineNo is the 1-based line number in the producing process's SDK
	// output, for error messages about malformed lines.
	LineNo   int
	ExitCode int    // EventNodeExit
	Signal   string // EventNodeExit: the signal that ended it, if any
	// Expected is true for an exit mvrun caused (a kill fault or Close).
	Expected bool
	// Cover is an EventCoverage's read.
	Cover *CoverSample
	// Cut, for EventSDK, is the full length of a line longer than
	// [MaxSDKLine]: Line then holds only its first MaxSDKLine bytes, and
	// the runner reports the line as malformed. 0 otherwise.
	Cut int64
}

// Bounds on the SDK output mvrun takes from one process. A node writing
// without end must not exhaust the runner's memory or disk; what is cut or
// dropped is reported (malformed, lost), never silent.
const (
	// MaxSDKLine is the longest SDK line delivered whole.
	MaxSDKLine = 1 << 20
	// MaxSDKStreamBytes is how many bytes of SDK lines the runner takes
	// from one process (node and workload command) in one seed; later
	// lines are counted as lost.
	MaxSDKStreamBytes = 64 << 20
)
