package hv_test

import (
	"testing"
	"time"

	"github.com/mvrun/multiverse/hv"
	"github.com/mvrun/multiverse/hv/kernel"
)

// TestSyscallCost: every system call moves the virtual clock by the
// configured cost, so a guest making 20,000 getpid calls takes at least
// that many times the cost in simulated time; the default is
// kernel.DefaultSyscallCost; the same cost and seed give the same trace,
// and a negative cost is refused.
func TestSyscallCost(t *testing.T) {
	requireKVM(t)
	bin := guest(t, "syscallbench")
	run := func(cost time.Duration) outcome {
		return runHV(t, hv.Config{Binary: bin, Args: []string{"syscallbench", "20000"}, Seed: 3, SyscallCost: cost})
	}
	for _, cost := range []time.Duration{time.Microsecond, 30 * time.Microsecond} {
		o := run(cost)
		if o.code != 0 {
			t.Fatalf("cost %v: exit %d: %s", cost, o.code, o.stderr)
		}
		calls := o.res.Syscalls
		if calls < 20000 {
			t.Fatalf("cost %v: %d system calls, want at least the guest's 20000", cost, calls)
		}
		// Clock reads add 100ns each, timers may add sleeps: the call cost is
		// a lower bound, and the run must not take much more than it.
		low := time.Duration(calls) * cost
		if o.res.VirtualTime < low || o.res.VirtualTime > low+low/2+50*time.Millisecond {
			t.Errorf("cost %v: %d calls took %v of simulated time, want about %v", cost, calls, o.res.VirtualTime, low)
		}
		if again := run(cost); again.res.TraceHash != o.res.TraceHash || again.res.VirtualTime != o.res.VirtualTime {
			t.Errorf("cost %v, same seed: trace %016x at %v, then %016x at %v", cost, o.res.TraceHash, o.res.VirtualTime, again.res.TraceHash, again.res.VirtualTime)
		}
	}
	def := run(0)
	if low := time.Duration(def.res.Syscalls) * kernel.DefaultSyscallCost; def.res.VirtualTime < low {
		t.Errorf("default cost: %d calls took %v, want at least %v (%v each)", def.res.Syscalls, def.res.VirtualTime, low, kernel.DefaultSyscallCost)
	}
	if _, err := hv.NewCluster(hv.ClusterConfig{SyscallCost: -time.Microsecond}); err == nil {
		t.Errorf("a negative SyscallCost was accepted")
	}
}
