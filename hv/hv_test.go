package hv_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mvrun/multiverse/hv"
	"github.com/mvrun/multiverse/hv/kernel"
)

// requireKVM skips the test when this host cannot run hv guests.
func requireKVM(tb testing.TB) {
	tb.Helper()
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		tb.Skipf("hv needs /dev/kvm: %v", err)
	}
	f.Close()
}

var (
	buildDir  string
	buildMu   sync.Mutex
	buildDone = map[string]error{}
)

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "hvguests")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

// guest builds testdata/guests/name as a static binary and returns its path.
func guest(tb testing.TB, name string) string {
	tb.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	out := filepath.Join(buildDir, name)
	err, ok := buildDone[name]
	if !ok {
		cmd := exec.Command("go", "build", "-o", out, "./testdata/guests/"+name)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if b, e := cmd.CombinedOutput(); e != nil {
			err = fmt.Errorf("build %s: %v\n%s", name, e, b)
		}
		buildDone[name] = err
	}
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

type outcome struct {
	stdout, stderr string
	code           int
	res            *hv.Result
}

func runNative(t *testing.T, bin string, args ...string) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("native %s: %v", bin, err)
	}
	return outcome{stdout: o.String(), stderr: e.String(), code: code}
}

func runHV(t testing.TB, cfg hv.Config) outcome {
	t.Helper()
	var o, e bytes.Buffer
	cfg.Stdout, cfg.Stderr = &o, &e
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := hv.Run(ctx, cfg)
	if err != nil {
		t.Fatalf("hv.Run(%s): %v", cfg.Binary, err)
	}
	if res.Err != nil {
		t.Fatalf("hv run of %s failed: %v\nstderr:\n%s", cfg.Binary, res.Err, e.String())
	}
	return outcome{stdout: o.String(), stderr: e.String(), code: res.ExitCode, res: res}
}

// firstLines returns the first n lines of s.
func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// TestCompareNative runs each guest natively and under hv and compares
// stdout, exit code and (where it is deterministic) the start of stderr.
func TestCompareNative(t *testing.T) {
	requireKVM(t)
	tests := []struct {
		guest       string
		args        []string
		stderrLines int // leading stderr lines that must match
	}{
		{guest: "hello"},
		{guest: "hello", args: []string{"7"}},
		{guest: "goroutines"},
		{guest: "timers"},
		{guest: "files"},
		{guest: "stdlib"},
		{guest: "panic", stderrLines: 3},
		{guest: "signals"},
		{guest: "spin"},
		{guest: "memfault"},
		{guest: "lazymap"},
		{guest: "gcstress"},
		{guest: "clockloop"},
		{guest: "vdsocall"},
		// One family of system calls each, called directly (sys_<family>.go).
		{guest: "sysfam", args: []string{"file"}},
		{guest: "sysfam", args: []string{"pipe"}},
		{guest: "sysfam", args: []string{"epoll"}},
		{guest: "sysfam", args: []string{"time"}},
		{guest: "sysfam", args: []string{"mm"}},
		{guest: "sysfam", args: []string{"thread"}},
		{guest: "sysfam", args: []string{"signal"}},
		{guest: "sysfam", args: []string{"misc"}},
		// Sockets on the simulated network (hv/netsim), through Go's net package.
		{guest: "net", args: []string{"echo"}},
		{guest: "net", args: []string{"halfclose"}},
		{guest: "net", args: []string{"refused"}},
		{guest: "net", args: []string{"reset"}},
		{guest: "net", args: []string{"backlog"}},
		{guest: "net", args: []string{"udp"}},
		{guest: "net", args: []string{"dualstack"}},
		{guest: "net", args: []string{"unix"}},
		{guest: "net", args: []string{"socketpair"}},
		{guest: "net", args: []string{"sockopt"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(append([]string{tc.guest}, tc.args...), "_"), func(t *testing.T) {
			bin := guest(t, tc.guest)
			want := runNative(t, bin, tc.args...)
			got := runHV(t, hv.Config{Binary: bin, Args: append([]string{bin}, tc.args...), Seed: 1})
			if got.stdout != want.stdout {
				t.Errorf("stdout under hv (not replay-exact: %v; stderr: %s):\n%s\nnative:\n%s", got.res.NotExact, firstLines(got.stderr, 20), got.stdout, want.stdout)
			}
			if got.code != want.code {
				t.Errorf("exit code under hv %d, native %d (stderr: %s)", got.code, want.code, got.stderr)
			}
			if g, w := firstLines(got.stderr, tc.stderrLines), firstLines(want.stderr, tc.stderrLines); g != w {
				t.Errorf("stderr under hv:\n%s\nnative:\n%s", g, w)
			}
			if n := got.res.UnimplementedNames(); len(n) > 0 {
				t.Errorf("unimplemented syscalls: %v", n)
			}
		})
	}
}

// TestDeterminism checks that a seed fixes output and trace hash, and that
// different seeds explore different interleavings.
func TestDeterminism(t *testing.T) {
	requireKVM(t)
	bin := guest(t, "interleave")
	a := runHV(t, hv.Config{Binary: bin, Seed: 42})
	b := runHV(t, hv.Config{Binary: bin, Seed: 42})
	if a.stdout != b.stdout || a.res.TraceHash != b.res.TraceHash {
		t.Fatalf("seed 42 twice: %q (trace %x) vs %q (trace %x)", a.stdout, a.res.TraceHash, b.stdout, b.res.TraceHash)
	}
	if a.res.VirtualTime != b.res.VirtualTime {
		t.Fatalf("seed 42 twice: virtual time %v vs %v", a.res.VirtualTime, b.res.VirtualTime)
	}
	outputs := map[string]bool{a.stdout: true}
	hashes := map[uint64]bool{a.res.TraceHash: true}
	for seed := uint64(1); seed <= 6; seed++ {
		o := runHV(t, hv.Config{Binary: bin, Seed: seed})
		outputs[o.stdout] = true
		hashes[o.res.TraceHash] = true
	}
	if len(outputs) < 2 || len(hashes) < 2 {
		t.Fatalf("7 seeds gave %d distinct outputs and %d trace hashes; want interleavings to depend on the seed", len(outputs), len(hashes))
	}
}

// TestDemandFaults checks that large mappings are populated by demand
// faults at the same instructions in every run of one seed (same count,
// same trace hash, which records each fault), and that small ones are
// populated at once (no faults).
func TestDemandFaults(t *testing.T) {
	requireKVM(t)
	bin := guest(t, "lazymap")
	a := runHV(t, hv.Config{Binary: bin, Seed: 5})
	b := runHV(t, hv.Config{Binary: bin, Seed: 5})
	if a.res.DemandFaults == 0 {
		t.Fatal("no demand faults in a guest that touches 1 GiB and 10 GiB mappings")
	}
	if a.res.DemandFaults != b.res.DemandFaults || a.res.TraceHash != b.res.TraceHash || a.stdout != b.stdout {
		t.Fatalf("seed 5 twice: %d demand faults, trace %x; then %d, trace %x", a.res.DemandFaults, a.res.TraceHash, b.res.DemandFaults, b.res.TraceHash)
	}
	touch := func(mib string) uint64 {
		o := runHV(t, hv.Config{Binary: bin, Args: []string{"lazymap", "touch", mib}, Seed: 5})
		if o.code != 0 {
			t.Fatalf("touch %s MiB: exit %d: %s", mib, o.code, o.stderr)
		}
		return o.res.DemandFaults
	}
	// Go's runtime itself maps a 32 MiB arena index lazily, so the faults
	// of the touched mapping are counted against a 1 MiB run.
	base, small, large := touch("1"), touch("8"), touch("64")
	if small != base {
		t.Errorf("touching all of an 8 MiB mapping took %d demand faults beyond the runtime's %d; small mappings should be populated at once", small-base, base)
	}
	// 64 MiB written page by page: one fault for the first group, then one
	// per 2 MiB as the access turns out sequential.
	if d := large - base; d < 32 || d > 40 {
		t.Errorf("touching all of a 64 MiB mapping took %d demand faults, want about 33 (one per 2 MiB)", d)
	}
}

func TestSleepHourIsVirtual(t *testing.T) {
	requireKVM(t)
	got := runHV(t, hv.Config{Binary: guest(t, "sleephour"), Seed: 1})
	if got.stdout != "slept 1h0m0s\n" {
		t.Fatalf("stdout %q, want %q", got.stdout, "slept 1h0m0s\n")
	}
	if got.res.VirtualTime < time.Hour {
		t.Fatalf("virtual time %v, want at least an hour", got.res.VirtualTime)
	}
	if !got.res.ReplayExact() {
		t.Fatalf("sleeping run not replay-exact: %v", got.res.NotExact)
	}
}

func TestHypercallMessages(t *testing.T) {
	requireKVM(t)
	var msgs []kernel.Message
	got := runHV(t, hv.Config{Binary: guest(t, "sdk"), Seed: 1, OnMessage: func(m kernel.Message) { msgs = append(msgs, m) }})
	if got.stdout != "bad op: invalid argument\n" {
		t.Fatalf("stdout %q", got.stdout)
	}
	if len(msgs) != 3 {
		t.Fatalf("got %d messages, want 3", len(msgs))
	}
	for i, m := range msgs {
		if want := fmt.Sprintf(`{"my_event":{"n":%d}}`, i); string(m.Line) != want {
			t.Errorf("message %d = %q, want %q", i, m.Line, want)
		}
		if i > 0 && m.Time <= msgs[i-1].Time {
			t.Errorf("message %d at %v, not after %v", i, m.Time, msgs[i-1].Time)
		}
	}
}

func TestUnimplementedReported(t *testing.T) {
	requireKVM(t)
	got := runHV(t, hv.Config{Binary: guest(t, "enosys"), Seed: 1})
	if got.stdout != "acct: true\n" {
		t.Fatalf("stdout %q, want ENOSYS", got.stdout)
	}
	if got.res.Unimplemented["acct"] != 1 {
		t.Fatalf("unimplemented = %v, want acct once", got.res.Unimplemented)
	}
}

// TestNetUnimplementedReported checks that socket options and families
// hv does not implement fail the way Linux fails unknown ones and are
// named in the run's summary.
func TestNetUnimplementedReported(t *testing.T) {
	requireKVM(t)
	bin := guest(t, "net")
	want := runNative(t, bin, "unknownopt")
	got := runHV(t, hv.Config{Binary: bin, Args: []string{"net", "unknownopt"}, Seed: 1})
	if got.stdout != want.stdout {
		t.Errorf("stdout under hv:\n%s\nnative:\n%s", got.stdout, want.stdout)
	}
	for _, name := range []string{"setsockopt(level 1 option 9999)", "getsockopt(level 6 option 9999)"} {
		if got.res.Unimplemented[name] != 1 {
			t.Errorf("unimplemented = %v, want %q once", got.res.Unimplemented, name)
		}
	}
	// Features Linux has and hv does not model fail at once, by name.
	got = runHV(t, hv.Config{Binary: bin, Args: []string{"net", "unsupported"}, Seed: 1})
	if want := "netlink socket: EAFNOSUPPORT\nsendmsg SCM_RIGHTS: ENOTSUP\n"; got.stdout != want {
		t.Errorf("stdout %q, want %q", got.stdout, want)
	}
	for _, name := range []string{"socket(AF_NETLINK)", "sendmsg(control messages)"} {
		if got.res.Unimplemented[name] != 1 {
			t.Errorf("unimplemented = %v, want %q once", got.res.Unimplemented, name)
		}
	}
}

// TestNetResolve checks the network files hv writes: Go's resolver finds
// the host's own name and localhost in /etc/hosts, and an unknown name
// fails at once (the nameserver refuses) instead of hanging the run.
func TestNetResolve(t *testing.T) {
	requireKVM(t)
	got := runHV(t, hv.Config{Binary: guest(t, "net"), Args: []string{"net", "resolve"}, Seed: 1})
	want := "lookup hv: 192.0.2.1\nlookup localhost: 127.0.0.1 ::1\nlookup no-such-host.invalid: fails true\n"
	if got.stdout != want {
		t.Errorf("stdout %q, want %q", got.stdout, want)
	}
	if got.res.VirtualTime > time.Second {
		t.Errorf("lookups took %v of virtual time, want no DNS timeout", got.res.VirtualTime)
	}
	if n := got.res.UnimplementedNames(); len(n) > 0 {
		t.Errorf("unimplemented: %v", n)
	}
}

func TestFSDirAndEnv(t *testing.T) {
	requireKVM(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "greeting"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "motd"), []byte("welcome"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := guest(t, "catfile")
	tests := []struct {
		path, want string
		code       int
	}{
		{"/greeting", "hi!\n", 0},
		{"/etc/motd", "welcome!\n", 0},
		{"/etc/../greeting", "hi!\n", 0},
		{"/missing", "error: open /missing: no such file or directory\n", 1},
	}
	for _, tc := range tests {
		got := runHV(t, hv.Config{Binary: bin, Args: []string{"catfile", tc.path}, Env: []string{"GREETING_SUFFIX=!"}, Seed: 1, FSDir: dir})
		if got.stdout != tc.want || got.code != tc.code {
			t.Errorf("catfile %s: %q exit %d, want %q exit %d", tc.path, got.stdout, got.code, tc.want, tc.code)
		}
	}
}

func TestDoctor(t *testing.T) {
	requireKVM(t)
	r := hv.Doctor()
	if !r.OK || r.Strategy == "" {
		t.Fatalf("Doctor on a KVM host: %+v", r)
	}
}

func TestContextStopsSpinningGuest(t *testing.T) {
	requireKVM(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := hv.Run(ctx, hv.Config{Binary: guest(t, "forever"), Seed: 1, Quantum: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res.Err, context.DeadlineExceeded) {
		t.Fatalf("result error %v, want the context's deadline", res.Err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("run took %v after a 300ms deadline", d)
	}
}

func TestSignalDelivery(t *testing.T) {
	requireKVM(t)
	got := runHV(t, hv.Config{Binary: guest(t, "signals"), Seed: 1})
	for _, sig := range []int{11, 10} { // SIGSEGV (nil dereference), SIGUSR1 (kill)
		if got.res.Signals[sig] == 0 {
			t.Errorf("signal %d never delivered; delivered: %v", sig, got.res.Signals)
		}
	}
	t.Logf("delivered signals: %v", got.res.Signals)
}

func TestClockEpochAndSkew(t *testing.T) {
	requireKVM(t)
	bin := guest(t, "clock")
	tests := []struct {
		offset time.Duration
		want   string
	}{
		{0, "2025-01-01T00:00:00Z\n"},
		{90 * time.Minute, "2025-01-01T01:30:00Z\n"},
		{-24 * time.Hour, "2024-12-31T00:00:00Z\n"},
	}
	for _, tc := range tests {
		got := runHV(t, hv.Config{Binary: bin, Seed: 1, ClockOffset: tc.offset})
		if got.stdout != tc.want {
			t.Errorf("offset %v: guest time %q, want %q", tc.offset, got.stdout, tc.want)
		}
	}
}

// TestSDKAssertions runs a guest built with the real SDK (sdk/assert, which
// uses the hypercall channel because hv sets MVRUN_SDK=hv): its wire lines
// must reach OnMessage in program order, stamped with increasing virtual
// times, and be part of the trace hash.
func TestSDKAssertions(t *testing.T) {
	requireKVM(t)
	bin := guest(t, "sdkassert")
	run := func(balance string) ([]kernel.Message, outcome) {
		var msgs []kernel.Message
		got := runHV(t, hv.Config{Binary: bin, Args: []string{"sdkassert", balance}, Seed: 1, OnMessage: func(m kernel.Message) { msgs = append(msgs, m) }})
		if got.stdout != "done\n" {
			t.Fatalf("stdout %q", got.stdout)
		}
		return msgs, got
	}
	msgs, a := run("7")
	want := []string{`"antithesis_sdk"`, `"balance never negative"`, `"balance above five"`, `"main ran"`}
	if len(msgs) != len(want) {
		t.Fatalf("got %d SDK lines, want %d:\n%v", len(msgs), len(want), msgs)
	}
	for i, m := range msgs {
		if !strings.Contains(string(m.Line), want[i]) {
			t.Errorf("line %d = %s, want it to contain %s", i, m.Line, want[i])
		}
		if i > 0 && m.Time <= msgs[i-1].Time {
			t.Errorf("line %d at virtual %v, not after line %d at %v", i, m.Time, i-1, msgs[i-1].Time)
		}
	}
	if !strings.Contains(string(msgs[1].Line), `"details":{"balance":7}`) {
		t.Errorf("assertion line lacks its details: %s", msgs[1].Line)
	}
	// Same seed, same program path, same system calls; only the details
	// in the lines differ: the trace hash must tell the runs apart.
	_, same := run("7")
	_, other := run("8")
	if same.res.TraceHash != a.res.TraceHash {
		t.Errorf("same input, trace %x then %x", a.res.TraceHash, same.res.TraceHash)
	}
	if other.res.TraceHash == a.res.TraceHash {
		t.Errorf("SDK lines with different details gave the same trace hash %x", a.res.TraceHash)
	}
	if other.res.Syscalls != a.res.Syscalls {
		t.Errorf("balance 8 made %d system calls, balance 7 %d: the runs differ in more than the SDK lines", other.res.Syscalls, a.res.Syscalls)
	}
}

// TestDeterminismAllGuests runs every guest in testdata/guests five times
// with one seed: output, exit code, trace hash and virtual time must not
// change, unless the run says it is not replay-exact (a guest that spins
// without system calls is preempted on host time).
func TestDeterminismAllGuests(t *testing.T) {
	requireKVM(t)
	args := map[string][]string{ // guests that need arguments or a short run
		"catfile":      {"/etc/hostname"},
		"crashfile":    {"write", "/tmp/crash"},
		"cpubound":     {"1000000"},
		"syscallbench": {"100"},
		"sysfam":       {"file"},
		"net":          {"all"},
		"netbench":     {"20"},
		"hostile":      {"7", "2000", "2"},
	}
	ents, err := os.ReadDir("testdata/guests")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		name := e.Name()
		if name == "forever" { // never exits; TestContextStopsSpinningGuest
			continue
		}
		t.Run(name, func(t *testing.T) {
			bin := guest(t, name)
			cfg := hv.Config{Binary: bin, Args: append([]string{name}, args[name]...), Seed: 7}
			first := runHV(t, cfg)
			for i := 1; i < 5; i++ {
				got := runHV(t, cfg)
				if !first.res.ReplayExact() {
					if got.res.ReplayExact() {
						t.Errorf("run 1 not replay-exact (%v), run %d is", first.res.NotExact, i+1)
					}
					continue
				}
				if got.stdout != first.stdout || got.code != first.code {
					t.Errorf("run %d: stdout %q exit %d; run 1: %q exit %d", i+1, got.stdout, got.code, first.stdout, first.code)
				}
				if got.res.TraceHash != first.res.TraceHash || got.res.VirtualTime != first.res.VirtualTime {
					t.Errorf("run %d: trace %x at %v; run 1: trace %x at %v", i+1, got.res.TraceHash, got.res.VirtualTime, first.res.TraceHash, first.res.VirtualTime)
				}
			}
		})
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	return len(ents)
}

// vmSize returns this process's virtual memory size in bytes.
func vmSize(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("cannot read /proc/self/status: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmSize:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb)
			return kb << 10
		}
	}
	t.Skip("no VmSize in /proc/self/status")
	return 0
}

// TestNoLeaks checks that VM and vCPU file descriptors, guest memory (a 32
// GiB host mapping per VM) and the watchdog goroutine are released after a
// run: a clean exit, a guest crash, a binary that fails to load, and a
// context that ends while the guest spins.
func TestNoLeaks(t *testing.T) {
	requireKVM(t)
	notELF := filepath.Join(t.TempDir(), "notelf")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		run  func() error
	}{
		{"exit", func() error {
			_, err := hv.Run(context.Background(), hv.Config{Binary: guest(t, "hello"), Seed: 1, Stdout: io.Discard})
			return err
		}},
		{"guest panic", func() error {
			res, err := hv.Run(context.Background(), hv.Config{Binary: guest(t, "panic"), Seed: 1, Stdout: io.Discard, Stderr: io.Discard})
			if err == nil && res.ExitCode == 0 {
				return errors.New("panicking guest exited 0")
			}
			return err
		}},
		{"load error", func() error {
			if _, err := hv.Run(context.Background(), hv.Config{Binary: notELF, Seed: 1}); err == nil {
				return errors.New("a shell script loaded as an ELF executable")
			}
			return nil
		}},
		{"context ends", func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			res, err := hv.Run(ctx, hv.Config{Binary: guest(t, "forever"), Seed: 1, Quantum: 20 * time.Millisecond})
			if err == nil && !errors.Is(res.Err, context.DeadlineExceeded) {
				return fmt.Errorf("run ended with %v, want the deadline", res.Err)
			}
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); err != nil { // warm up: builds, lazy runtime fds
				t.Fatal(err)
			}
			fds, vm, gs := openFDs(t), vmSize(t), runtime.NumGoroutine()
			for i := 0; i < 3; i++ {
				if err := tc.run(); err != nil {
					t.Fatal(err)
				}
			}
			if n := openFDs(t); n != fds {
				t.Errorf("open file descriptors %d before three runs, %d after", fds, n)
			}
			if d := vmSize(t) - vm; d > 1<<30 {
				t.Errorf("virtual memory grew by %d MiB over three runs: guest memory not unmapped", d>>20)
			}
			deadline := time.Now().Add(time.Second)
			for runtime.NumGoroutine() > gs && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := runtime.NumGoroutine(); n > gs {
				t.Errorf("goroutines %d before three runs, %d after", gs, n)
			}
		})
	}
}

// TestCheckBinary checks that binaries hv cannot run are refused with an
// error naming the file and saying how to rebuild it (no KVM needed).
func TestCheckBinary(t *testing.T) {
	dir := t.TempDir()
	build := func(name string, env []string, args ...string) string {
		out := filepath.Join(dir, name)
		cmd := exec.Command("go", append(append([]string{"build", "-o", out}, args...), "./testdata/guests/hello")...)
		cmd.Env = append(os.Environ(), env...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", name, err, b)
		}
		return out
	}
	script := filepath.Join(dir, "script")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	const fix = "CGO_ENABLED=0 GOOS=linux GOARCH=amd64"
	tests := []struct {
		path string
		want string // in the error; "" for none
	}{
		{guest(t, "hello"), ""},
		{build("arm64", []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64"}), "EM_AARCH64"},
		{build("pie", []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64"}, "-buildmode=pie"), "ET_DYN"},
		{script, "not an ELF executable"},
		{filepath.Join(dir, "missing"), "no such file"},
	}
	for _, tc := range tests {
		err := hv.CheckBinary(tc.path)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckBinary(%s): %v", tc.path, err)
		case tc.want == "":
		case err == nil:
			t.Errorf("CheckBinary(%s) accepted it; want an error about %s", tc.path, tc.want)
		case !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path):
			t.Errorf("CheckBinary(%s) = %v; want it to name the file and %q", tc.path, err, tc.want)
		case tc.want != "no such file" && !strings.Contains(err.Error(), fix):
			t.Errorf("CheckBinary(%s) = %v; want it to say how to rebuild (%s)", tc.path, err, fix)
		}
	}
}
