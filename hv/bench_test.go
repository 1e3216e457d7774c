package hv_test

import (
	"io"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/mvrun/multiverse/hv"
	"golang.org/x/sys/unix"
)

func benchHV(b *testing.B, name string, args ...string) *hv.Result {
	return benchHVConfig(b, hv.Config{}, name, args...)
}

// benchHVConfig runs guest name under hv b.N times with cfg's options and
// returns the last result.
func benchHVConfig(b *testing.B, cfg hv.Config, name string, args ...string) *hv.Result {
	requireKVM(b)
	cfg.Binary, cfg.Args, cfg.Seed = guest(b, name), append([]string{name}, args...), 1
	cfg.Stdout, cfg.Stderr = io.Discard, io.Discard
	var res *hv.Result
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := hv.Run(b.Context(), cfg)
		if err != nil || r.Err != nil {
			b.Fatalf("run: %v %v", err, r.Err)
		}
		res = r
	}
	return res
}

func benchNative(b *testing.B, name string, args ...string) {
	bin := guest(b, name)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := exec.Command(bin, args...).Run(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHello measures a static Go hello world from VM creation to exit.
func BenchmarkHello(b *testing.B) {
	r := benchHV(b, "hello")
	b.ReportMetric(float64(r.DemandFaults), "demand-faults")
}

// BenchmarkLazyTouch writes one byte to every page of a 256 MiB anonymous
// mapping, which hv populates on demand (docs/hv.md, Memory).
func BenchmarkLazyTouch(b *testing.B) {
	r := benchHV(b, "lazymap", "touch", "256")
	b.ReportMetric(float64(r.DemandFaults), "demand-faults")
}

func BenchmarkHelloNative(b *testing.B) { benchNative(b, "hello") }

// BenchmarkSleepHour measures time.Sleep(time.Hour) under the virtual clock.
func BenchmarkSleepHour(b *testing.B) {
	r := benchHV(b, "sleephour")
	b.ReportMetric(float64(r.Syscalls), "syscalls")
}

// BenchmarkCPUBound runs a CPU-bound loop (no system calls) under hv;
// compare with BenchmarkCPUBoundNative.
func BenchmarkCPUBound(b *testing.B)       { benchHV(b, "cpubound", "300000000") }
func BenchmarkCPUBoundNative(b *testing.B) { benchNative(b, "cpubound", "300000000") }

// BenchmarkCPUBoundRatio runs the CPU-bound loop natively and under hv
// alternately and reports hv's CPU time over native's for the loop alone
// (each side's start-up, measured with the hello guest in the same
// iteration, is subtracted). CPU time rather than wall time, because the
// shared hosts' load swings wall time by more than the 5% being measured;
// a KVM guest's time is accounted to the vCPU thread, so hv's side is this
// process's CPU time, which also includes the VMM's own work. It runs with
// the default quantum (the loop is preempted on host time) and with one
// long enough that it never is.
func BenchmarkCPUBoundRatio(b *testing.B) {
	requireKVM(b)
	cpu, hello := guest(b, "cpubound"), guest(b, "hello")
	const n = "300000000"
	for _, quantum := range []time.Duration{0, 10 * time.Second} {
		name := "quantum=default"
		if quantum != 0 {
			name = "quantum=" + quantum.String()
		}
		b.Run(name, func(b *testing.B) {
			native := func(bin string, args ...string) time.Duration {
				cmd := exec.Command(bin, args...)
				if err := cmd.Run(); err != nil {
					b.Fatal(err)
				}
				return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			}
			inHV := func(bin string, args ...string) time.Duration {
				before := cpuTime(b)
				r, err := hv.Run(b.Context(), hv.Config{Binary: bin, Args: append([]string{bin}, args...), Seed: 1, Stdout: io.Discard, Stderr: io.Discard, Quantum: quantum})
				if err != nil || r.Err != nil {
					b.Fatalf("run: %v %v", err, r.Err)
				}
				return cpuTime(b) - before
			}
			var hvLoop, nativeLoop time.Duration
			for i := 0; i < b.N; i++ {
				nativeLoop += native(cpu, n) - native(hello)
				hvLoop += inHV(cpu, n) - inHV(hello)
			}
			b.ReportMetric(float64(hvLoop)/float64(nativeLoop), "hv/native")
		})
	}
}

// cpuTime returns this process's user plus system CPU time.
func cpuTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSyscall reports the cost of one trivial system call (getpid)
// under hv as ns/syscall; BenchmarkSyscallNative is the native cost.
func BenchmarkSyscall(b *testing.B) {
	const n = 20000
	requireKVM(b)
	bin := guest(b, "syscallbench")
	run := func(count int) time.Duration {
		start := time.Now()
		r, err := hv.Run(b.Context(), hv.Config{Binary: bin, Args: []string{"s", strconv.Itoa(count)}, Seed: 1, Stdout: io.Discard, Stderr: io.Discard})
		if err != nil || r.Err != nil {
			b.Fatalf("run: %v %v", err, r.Err)
		}
		return time.Since(start)
	}
	b.ResetTimer()
	var per time.Duration
	for i := 0; i < b.N; i++ {
		per = (run(n) - run(0)) / n
	}
	b.ReportMetric(float64(per.Nanoseconds()), "ns/syscall")
}

func BenchmarkSyscallNative(b *testing.B) {
	const n = 2000000
	bin := guest(b, "syscallbench")
	run := func(count int) time.Duration {
		start := time.Now()
		if err := exec.Command(bin, strconv.Itoa(count)).Run(); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	b.ResetTimer()
	var per time.Duration
	for i := 0; i < b.N; i++ {
		per = (run(n) - run(0)) / n
	}
	b.ReportMetric(float64(per.Nanoseconds()), "ns/syscall")
}

// BenchmarkGCStress runs a GC-heavy guest (4 goroutines churning 500 MiB)
// seeing one CPU, then two (Config.CPUs). "preempted" is 1 when the last
// run was preempted on host time (not replay-exact).
func BenchmarkGCStress(b *testing.B) {
	for _, cpus := range []int{1, 2} {
		b.Run("cpus="+strconv.Itoa(cpus), func(b *testing.B) {
			r := benchHVConfig(b, hv.Config{CPUs: cpus}, "gcstress")
			b.ReportMetric(float64(r.Syscalls), "syscalls")
			b.ReportMetric(float64(r.VDSOReads), "vdso-reads")
			b.ReportMetric(float64(r.DemandFaults), "demand-faults")
			preempted := 0.0
			if !r.ReplayExact() {
				preempted = 1
			}
			b.ReportMetric(preempted, "preempted")
		})
	}
}

// BenchmarkClockReads runs a clock-heavy guest, 100 rounds of 200
// time.Now() calls and a 10 ms sleep (about one simulated second), with
// the vDSO and without it (every clock read a VM exit), and reports the
// VM exits (system calls) per run and per simulated second.
func BenchmarkClockReads(b *testing.B) {
	for _, noVDSO := range []bool{false, true} {
		name := "vdso"
		if noVDSO {
			name = "no-vdso"
		}
		b.Run(name, func(b *testing.B) {
			r := benchHVConfig(b, hv.Config{NoVDSO: noVDSO}, "clockloop", "100", "200", "10ms")
			b.ReportMetric(float64(r.Syscalls), "exits/op")
			b.ReportMetric(float64(r.Syscalls)/r.VirtualTime.Seconds(), "exits/sim-s")
			b.ReportMetric(float64(r.VDSOReads), "vdso-reads/op")
		})
	}
}
func BenchmarkGCStressNative(b *testing.B) { benchNative(b, "gcstress") }

// BenchmarkTCPRoundTrip measures one 64-byte request/response round trip
// over a loopback TCP connection under hv (the netbench guest with 2000
// round trips minus the same guest with none). It reports the system
// calls per round trip; every system call is a VM exit here (there is no
// vDSO), so exits per round trip equal system calls per round trip plus the
// rare page fault, reported separately as total exits.
func BenchmarkTCPRoundTrip(b *testing.B) {
	requireKVM(b)
	bin := guest(b, "netbench")
	const n = 2000
	run := func(rts int) (*hv.Result, time.Duration) {
		start := time.Now()
		r, err := hv.Run(b.Context(), hv.Config{Binary: bin, Args: []string{"netbench", strconv.Itoa(rts)}, Seed: 1, Stdout: io.Discard, Stderr: io.Discard})
		if err != nil || r.Err != nil {
			b.Fatalf("run: %v %v", err, r.Err)
		}
		return r, time.Since(start)
	}
	var perRT, sysPerRT float64
	for i := 0; i < b.N; i++ {
		base, t0 := run(0)
		full, t1 := run(n)
		perRT = float64(t1-t0) / n
		sysPerRT = float64(full.Syscalls-base.Syscalls) / n
	}
	b.ReportMetric(perRT/1e3, "µs/roundtrip")
	b.ReportMetric(sysPerRT, "syscalls/roundtrip")
}

// BenchmarkTCPRoundTripNative is the same measurement on the host kernel.
func BenchmarkTCPRoundTripNative(b *testing.B) {
	bin := guest(b, "netbench")
	const n = 2000
	run := func(rts int) time.Duration {
		start := time.Now()
		if err := exec.Command(bin, strconv.Itoa(rts)).Run(); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var perRT float64
	for i := 0; i < b.N; i++ {
		t0 := run(0)
		t1 := run(n)
		perRT = float64(t1-t0) / n
	}
	b.ReportMetric(perRT/1e3, "µs/roundtrip")
}
