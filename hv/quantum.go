package hv

import (
	"time"

	"golang.org/x/sys/unix"
)

// runTimer tells the watchdog how long the guest has run in the current
// KVM_RUN, in CPU time of the vCPU thread rather than host wall time. On a
// loaded host the vCPU thread waits for a core; counting that wait would
// preempt guest threads (making the run not replay-exact) for time they
// never ran. Since guest clock reads go through the vDSO, CPU-bound guests
// run long stretches without exits, which made that visible. Without a
// readable thread CPU clock it falls back to wall time.
type runTimer struct {
	clock int32         // the vCPU thread's CPU-time clock id
	start int64         // the machine's runStart it last saw
	base  time.Duration // thread CPU time when that run began (estimated)
}

// newRunTimer returns a timer for host thread tid of this process.
func newRunTimer(tid int) *runTimer {
	// Linux encodes a thread's CPU clock as ^tid<<3 | CPUCLOCK_PERTHREAD
	// (4) | CPUCLOCK_SCHED (2); see clock_getcpuclockid(3).
	return &runTimer{clock: int32(^uint32(tid)<<3 | 6)}
}

// ran returns how long the KVM_RUN entered at host time start (UnixNano,
// the machine's runStart) has run. It is called from one goroutine.
func (r *runTimer) ran(start int64) time.Duration {
	wall := time.Since(time.Unix(0, start))
	var ts unix.Timespec
	if err := unix.ClockGettime(r.clock, &ts); err != nil {
		return wall
	}
	cpu := time.Duration(ts.Nano())
	if start != r.start {
		// First look at this run: count from now. Assuming the thread had
		// been on a core since the run began preempted runs on a loaded
		// host whose vCPU thread had only waited for a core (a watchdog
		// tick late, the whole wait counted as running), which made
		// ordinary seeds not replay-exact. Counting from the first look
		// lets a real spinner run at most one watchdog tick past the
		// quantum instead.
		r.start, r.base = start, cpu
		return 0
	}
	return cpu - r.base
}
