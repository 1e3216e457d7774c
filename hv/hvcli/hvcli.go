// Package hvcli implements the `mvrun hv` commands: `mvrun hv run` runs one
// static binary under the deterministic hypervisor, and [Doctor] reports
// whether this host can. cmd/mvrun wires them in.
package hvcli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mvrun/multiverse/hv"
	"github.com/mvrun/multiverse/hv/kernel"
	"github.com/mvrun/multiverse/internal/seeds"
	"golang.org/x/sys/unix"
)

const usage = `usage: mvrun hv run [--seed S] [--fs DIR] [--env K=V]... [--stdin FILE] [--cpus N] [--mem SIZE] [--no-vdso] [-v] ./binary [args...]

Runs a static linux/amd64 binary (Go: CGO_ENABLED=0 GOOS=linux GOARCH=amd64)
under hv, the deterministic hypervisor. The guest's stdout and stderr pass
through and its exit code becomes mvrun's (3 if the VM failed). Its stdin is
empty unless --stdin names a file: input from a terminal would make the run
depend on more than the seed. A summary (seed, trace hash, virtual time,
unimplemented system calls) goes to stderr.
`

type envList []string

func (e *envList) String() string { return strings.Join(*e, ",") }
func (e *envList) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("--env %q: want KEY=VALUE", v)
	}
	*e = append(*e, v)
	return nil
}

// ErrUsage is wrapped by the errors [Main] returns for a bad command line;
// the usage text has then been printed to stderr.
var ErrUsage = errors.New("usage")

// ErrGuestFailed is wrapped by the error [Main] returns when the VMM stopped
// the guest (an hv error, not the guest's exit): the summary says why.
var ErrGuestFailed = errors.New("the VM failed")

// Main implements `mvrun hv <args>`. When the guest ran to its exit it
// returns the guest's exit code and a nil error. Otherwise the error wraps
// [ErrUsage] (a bad command line), [ErrGuestFailed] (the VMM stopped the
// guest) or says why the VM could not run (wrapping [hv.ErrNoKVM] when KVM
// is missing). Exit codes for these are the caller's business (cmd/mvrun).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	if len(args) == 0 || args[0] != "run" {
		say(stderr, "%s", usage)
		return 0, fmt.Errorf("%w: want `mvrun hv run ...`", ErrUsage)
	}
	fs := flag.NewFlagSet("mvrun hv run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { say(stderr, "%s", usage) }
	seedStr := fs.String("seed", "0x5eed", "root seed (decimal or 0x-hex)")
	dir := fs.String("fs", "", "host directory copied into the guest's file system")
	stdinPath := fs.String("stdin", "", "file whose contents are the guest's stdin (default: empty)")
	cpus := fs.Int("cpus", 1, fmt.Sprintf("CPUs the guest sees (1 to %d)", maxCPUs))
	mem := fs.String("mem", "", "guest physical memory, e.g. 8G or 512M (default 32G; host memory is used only as the guest touches it)")
	noVDSO := fs.Bool("no-vdso", false, "give the guest no vDSO: every clock read is a system call (for comparisons)")
	quiet := fs.Bool("q", false, "print no summary")
	verbose := fs.Bool("v", false, "also print SDK messages as they arrive and system call counts")
	var env envList
	fs.Var(&env, "env", "guest environment variable KEY=VALUE (repeatable)")
	if err := fs.Parse(args[1:]); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if fs.NArg() == 0 {
		say(stderr, "%s", usage)
		return 0, fmt.Errorf("%w: no binary given", ErrUsage)
	}
	seed, err := seeds.Parse(*seedStr)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if *cpus < 1 || *cpus > maxCPUs {
		return 0, fmt.Errorf("%w: --cpus %d: want 1 to %d", ErrUsage, *cpus, maxCPUs)
	}
	var memBytes uint64
	if *mem != "" {
		if memBytes, err = parseSize(*mem); err != nil {
			return 0, fmt.Errorf("%w: --mem: %w", ErrUsage, err)
		}
	}
	bin := fs.Arg(0)
	cfg := hv.Config{
		Binary: bin, Args: fs.Args(), Env: env, Seed: seed, FSDir: *dir,
		Stdout: stdout, Stderr: stderr, CPUs: *cpus, NoVDSO: *noVDSO, Memory: memBytes,
	}
	if *stdinPath != "" {
		// Read up front: a guest read never blocks the VMM on the host.
		b, err := os.ReadFile(*stdinPath)
		if err != nil {
			return 0, fmt.Errorf("%w: --stdin: %w", ErrUsage, err)
		}
		cfg.Stdin = bytes.NewReader(b)
	}
	if *verbose {
		cfg.OnMessage = func(m kernel.Message) {
			say(stderr, "hv: sdk at %v tid %d: %s\n", m.Time, m.TID, m.Line)
		}
	}
	res, err := hv.Run(ctx, cfg)
	if err != nil {
		if errors.Is(err, hv.ErrNoKVM) {
			return 0, fmt.Errorf("%w (run `mvrun doctor` to see what is missing)", err)
		}
		return 0, err
	}
	if !*quiet {
		say(stderr, "%s", summary(bin, seed, res))
	}
	if *verbose {
		say(stderr, "%s", calls(res))
	}
	if res.Err != nil {
		return 0, fmt.Errorf("%w: %w", ErrGuestFailed, res.Err)
	}
	return res.ExitCode, nil
}

// say writes a diagnostic to the user's stderr. A failed write is dropped
// on purpose: stderr is where failures are reported, so there is nowhere
// left to report that one, and the guest's outcome does not depend on it.
func say(w io.Writer, format string, a ...any) { _, _ = fmt.Fprintf(w, format, a...) }

// summary is the run summary line(s) for stderr.
func summary(bin string, seed uint64, r *hv.Result) string {
	var w strings.Builder
	fmt.Fprintf(&w, "hv: seed %s  trace %016x  virtual %v  wall %v  syscalls %d  vdso reads %d  demand faults %d  switches %d\n",
		seeds.Format(seed), r.TraceHash, r.VirtualTime, r.Wall.Round(time.Microsecond), r.Syscalls, r.VDSOReads, r.DemandFaults, r.Switches)
	switch {
	case r.Err != nil: // the VMM stopped the guest; its "signal" is ours
		fmt.Fprintf(&w, "hv: run failed: %v\n", r.Err)
	case r.Signal != 0:
		fmt.Fprintf(&w, "hv: guest killed by signal %d (%s)\n", r.Signal, unix.SignalName(syscall.Signal(r.Signal)))
	}
	if r.MemoryExhausted > 0 {
		fmt.Fprintf(&w, "hv: the guest ran out of its %d MiB of memory (%d page allocations refused); raise it with --mem\n",
			r.Memory>>20, r.MemoryExhausted)
	}
	if names := r.UnimplementedNames(); len(names) > 0 {
		var parts []string
		for _, n := range names {
			parts = append(parts, fmt.Sprintf("%s (%d)", n, r.Unimplemented[n]))
		}
		fmt.Fprintf(&w, "hv: %s called unimplemented syscalls (they returned an error): %s\n", bin, strings.Join(parts, ", "))
	}
	if !r.ReplayExact() {
		fmt.Fprintf(&w, "hv: not replay-exact: %s\n", strings.Join(r.NotExact, "; "))
	}
	return w.String()
}

// maxCPUs is the most CPUs a guest can be shown: sched_getaffinity
// reports them as one 64-bit mask.
const maxCPUs = 64

// parseSize parses a memory size: bytes, or a number with K, M, G or T
// (powers of 1024; an optional trailing B or iB is accepted).
func parseSize(s string) (uint64, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "B"), "I")
	shift := 0
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			shift = 10
		case 'M':
			shift = 20
		case 'G':
			shift = 30
		case 'T':
			shift = 40
		}
		if shift > 0 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseUint(t, 10, 64)
	if err != nil || v == 0 || v > (1<<63)>>shift {
		return 0, fmt.Errorf("%q: want a positive size such as 8G or 512M", s)
	}
	return v << shift, nil
}

// calls lists the guest's system calls, the most frequent first.
func calls(r *hv.Result) string {
	var w strings.Builder
	names := make([]string, 0, len(r.Calls))
	for n := range r.Calls {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if r.Calls[names[i]] != r.Calls[names[j]] {
			return r.Calls[names[i]] > r.Calls[names[j]]
		}
		return names[i] < names[j]
	})
	for _, n := range names {
		fmt.Fprintf(&w, "hv: %8d %s\n", r.Calls[n], n)
	}
	return w.String()
}

// Doctor writes hv's host report for `mvrun doctor` to w and reports
// whether hv can run guests here; the error is w's.
func Doctor(w io.Writer) (bool, error) {
	r := hv.Doctor()
	_, err := io.WriteString(w, r.String())
	return r.OK, err
}
