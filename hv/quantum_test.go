package hv

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRunTimerCountsCPUTime checks that the watchdog's timer counts the
// CPU time of the thread it watches: a thread that sleeps (as a vCPU
// thread waiting for a core does) accrues almost nothing, one that spins
// accrues about the wall time.
func TestRunTimerCountsCPUTime(t *testing.T) {
	for _, spin := range []bool{false, true} {
		tidc, stop := make(chan int), make(chan struct{})
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tidc <- unix.Gettid()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if !spin {
					time.Sleep(time.Millisecond)
				}
			}
		}()
		r := newRunTimer(<-tidc)
		start := time.Now().UnixNano()
		first := r.ran(start)
		time.Sleep(300 * time.Millisecond)
		got := r.ran(start) - first
		close(stop)
		wall := time.Since(time.Unix(0, start))
		switch {
		case !spin && got > 100*time.Millisecond:
			t.Errorf("sleeping thread: timer ran %v of %v wall", got, wall)
		case spin && got < 30*time.Millisecond: // a shared, loaded host still gives it some CPU
			t.Errorf("spinning thread: timer ran %v of %v wall", got, wall)
		}
		t.Logf("spin=%v: %v of %v wall", spin, got, wall)
	}
}

// TestRunTimerFirstLookIsNotRunning: when the watchdog first looks at a run
// long after it began (a loaded host: the watchdog waited for a core too),
// the time before that look is not counted as running, so a guest that has
// made no progress is not preempted (which would make the run not
// replay-exact) for time its thread spent waiting.
func TestRunTimerFirstLookIsNotRunning(t *testing.T) {
	r := newRunTimer(unix.Gettid())
	start := time.Now().Add(-10 * time.Second).UnixNano()
	if got := r.ran(start); got != 0 {
		t.Errorf("first look at a run begun 10 s ago: ran %v, want 0", got)
	}
	if got := r.ran(start); got > time.Second {
		t.Errorf("second look: ran %v; want only the CPU time since the first look", got)
	}
}
