package hv_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/hv"
	"github.com/mvrun/multiverse/hv/kernel"
	"github.com/mvrun/multiverse/hv/sched"
)

// clockCalls returns the clock-reading system calls a run made.
func clockCalls(r *hv.Result) uint64 {
	return r.Calls["clock_gettime"] + r.Calls["gettimeofday"] + r.Calls["time"]
}

// TestVDSOClockReads runs a guest that reads time.Now() 20,000 times
// between sleeps: through the vDSO it makes no clock system call at all,
// the readings are monotonic and advance across sleeps, and the run is
// replay-exact. Without the vDSO every read is an exit; the output and the
// virtual time are the same, because each vDSO read is charged to the
// virtual clock exactly as a clock_gettime exit is.
func TestVDSOClockReads(t *testing.T) {
	requireKVM(t)
	bin := guest(t, "clockloop")
	args := []string{"clockloop", "10", "2000", "10ms"}
	const want = "read the clock 20000 times: monotonic true, moved while reading true, advanced across every 10ms sleep true, total at least 100ms true\n"
	with := runHV(t, hv.Config{Binary: bin, Args: args, Seed: 3})
	if with.stdout != want {
		t.Fatalf("stdout %q, want %q", with.stdout, want)
	}
	if n := clockCalls(with.res); n != 0 {
		t.Errorf("with the vDSO the guest made %d clock system calls (%v)", n, with.res.Calls)
	}
	// time.Now reads the wall and the monotonic clock: two reads each.
	if with.res.VDSOReads < 40_000 {
		t.Errorf("vDSO answered %d clock reads, want at least 40000", with.res.VDSOReads)
	}
	if !with.res.ReplayExact() {
		t.Errorf("not replay-exact: %v", with.res.NotExact)
	}
	without := runHV(t, hv.Config{Binary: bin, Args: args, Seed: 3, NoVDSO: true})
	if without.stdout != want {
		t.Fatalf("without the vDSO: stdout %q", without.stdout)
	}
	if without.res.VDSOReads != 0 || without.res.Calls["clock_gettime"] != with.res.VDSOReads {
		t.Errorf("without the vDSO: %d clock_gettime exits and %d vDSO reads; with it %d vDSO reads",
			without.res.Calls["clock_gettime"], without.res.VDSOReads, with.res.VDSOReads)
	}
	if without.res.VirtualTime != with.res.VirtualTime {
		t.Errorf("virtual time %v with the vDSO, %v without: reads are not charged like system calls",
			with.res.VirtualTime, without.res.VirtualTime)
	}
	t.Logf("exits %d with the vDSO, %d without; wall %v vs %v", with.res.Syscalls, without.res.Syscalls, with.res.Wall, without.res.Wall)
}

// TestVDSODeterminism runs the clock-heavy guest three times with one seed:
// the trace hash, virtual time, output and number of vDSO reads must not
// change (the vvar page changes only while the VMM runs).
func TestVDSODeterminism(t *testing.T) {
	requireKVM(t)
	cfg := hv.Config{Binary: guest(t, "clockloop"), Args: []string{"clockloop", "20", "5000", "3ms"}, Seed: 11}
	first := runHV(t, cfg)
	for i := 2; i <= 3; i++ {
		got := runHV(t, cfg)
		if got.res.TraceHash != first.res.TraceHash || got.res.VirtualTime != first.res.VirtualTime ||
			got.stdout != first.stdout || got.res.VDSOReads != first.res.VDSOReads {
			t.Errorf("run %d: trace %x at %v, %d vDSO reads, %q; run 1: trace %x at %v, %d vDSO reads, %q", i,
				got.res.TraceHash, got.res.VirtualTime, got.res.VDSOReads, got.stdout,
				first.res.TraceHash, first.res.VirtualTime, first.res.VDSOReads, first.stdout)
		}
	}
}

// TestVDSORealtimeOffset checks that the wall-clock offset reaches the
// vDSO: a fixed Config.ClockOffset, and a jump (sched.Clock.SetOffset) made
// while the guest runs, which moves CLOCK_REALTIME by an hour and leaves
// CLOCK_MONOTONIC where it was.
func TestVDSORealtimeOffset(t *testing.T) {
	requireKVM(t)
	fixed := runHV(t, hv.Config{Binary: guest(t, "clock"), Seed: 1, ClockOffset: 90 * time.Minute})
	if fixed.stdout != "2025-01-01T01:30:00Z\n" || clockCalls(fixed.res) != 0 {
		t.Errorf("offset 90m: %q with %d clock system calls, want 2025-01-01T01:30:00Z from the vDSO", fixed.stdout, clockCalls(fixed.res))
	}

	clock := sched.NewClock(sched.DefaultEpoch)
	jump := runHV(t, hv.Config{
		Binary: guest(t, "clockloop"), Args: []string{"clockloop", "skew"}, Seed: 1, Clock: clock,
		OnMessage: func(kernel.Message) { clock.SetOffset(clock.Offset() + time.Hour) },
	})
	if !strings.HasPrefix(jump.stdout, "wall clock moved 1h0m0s, ") || !strings.HasSuffix(jump.stdout, "(forward, under 1ms: true)\n") {
		t.Errorf("after a one-hour jump of the wall clock the guest saw: %q", jump.stdout)
	}
	if n := clockCalls(jump.res); n != 0 {
		t.Errorf("the guest made %d clock system calls: %v", n, jump.res.Calls)
	}
}

// TestVDSOFallback calls the vDSO's functions directly where they must
// make the real system call: a clock the page does not answer
// (CLOCK_PROCESS_CPUTIME_ID), and pointers outside user memory, which get
// EFAULT from the kernel instead of a fault in the vDSO.
func TestVDSOFallback(t *testing.T) {
	requireKVM(t)
	bin := guest(t, "vdsocall")
	cpu := runHV(t, hv.Config{Binary: bin, Args: []string{"vdsocall", "cputime"}, Seed: 1})
	if cpu.stdout != "clock_gettime(PROCESS_CPUTIME_ID): 0 valid: true\n" || cpu.res.Calls["clock_gettime"] != 1 {
		t.Errorf("CPU-time clock through the vDSO: %q with %d clock_gettime calls, want success through one system call",
			cpu.stdout, cpu.res.Calls["clock_gettime"])
	}
	bad := runHV(t, hv.Config{Binary: bin, Args: []string{"vdsocall", "efault"}, Seed: 1})
	const want = "clock_gettime(MONOTONIC, NULL): bad address\n" +
		"clock_gettime(REALTIME, kernel address): bad address\n" +
		"time(kernel address): bad address\n" +
		"clock_getres(MONOTONIC, kernel address): bad address\n"
	if bad.stdout != want {
		t.Errorf("bad pointers: %q, want %q", bad.stdout, want)
	}
	if c := bad.res.Calls; c["clock_gettime"] != 2 || c["time"] != 1 || c["clock_getres"] != 1 {
		t.Errorf("bad pointers should each fall back to one system call: %v", c)
	}
}
