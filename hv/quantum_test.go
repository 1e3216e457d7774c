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
