package hv_test

import (
	"io"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/mvrun/multiverse/hv"
)

func benchHV(b *testing.B, name string, args ...string) *hv.Result {
	requireKVM(b)
	bin := guest(b, name)
	var res *hv.Result
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := hv.Run(b.Context(), hv.Config{Binary: bin, Args: append([]string{name}, args...), Seed: 1, Stdout: io.Discard, Stderr: io.Discard})
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
func BenchmarkHello(b *testing.B)       { benchHV(b, "hello") }
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

// BenchmarkGCStress runs a GC-heavy guest (4 goroutines churning 500 MiB).
func BenchmarkGCStress(b *testing.B) {
	r := benchHV(b, "gcstress")
	b.ReportMetric(float64(r.Syscalls), "syscalls")
}
func BenchmarkGCStressNative(b *testing.B) { benchNative(b, "gcstress") }
