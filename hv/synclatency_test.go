package hv_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/hv"
)

// TestSyncLatency: an fsync with data to flush parks its thread for the
// disk's flush latency on the virtual clock. The diskio guest fsyncs every
// third of 30 appends: with a 5 ms latency each of those waits, the run
// takes at least that long in simulated time, and the same seed gives the
// same trace; with flushes made free nothing waits.
func TestSyncLatency(t *testing.T) {
	requireKVM(t)
	bin := guest(t, "diskio")
	run := func(lat time.Duration) outcome {
		return runHV(t, hv.Config{Binary: bin, Args: []string{"diskio", "write", "/f", "30"}, Seed: 7, SyncLatency: lat})
	}
	slow := run(5 * time.Millisecond)
	syncs := 0
	for _, l := range strings.Split(slow.stdout, "\n") {
		if strings.HasPrefix(l, "s ") {
			syncs++
			var off, us int
			if _, err := fmt.Sscanf(l, "s %d ok slow %d", &off, &us); err != nil || us < 5000 || us > 5100 {
				t.Errorf("fsync line %q: want ok after 5 ms (and the clock reads around it)", l)
			}
		}
	}
	// One more: the guest fsyncs the directory after creating the file.
	if syncs < 5 || slow.res.FlushWaits != uint64(syncs)+1 {
		t.Fatalf("%d file fsyncs printed, %d flush waits; want one more (the directory's) and at least 5\n%s", syncs, slow.res.FlushWaits, slow.stdout)
	}
	if min := time.Duration(syncs+1) * 5 * time.Millisecond; slow.res.VirtualTime < min || slow.res.VirtualTime > min+time.Second {
		t.Errorf("simulated time %v with %d flushes of 5 ms", slow.res.VirtualTime, syncs)
	}
	if again := run(5 * time.Millisecond); again.res.TraceHash != slow.res.TraceHash || again.stdout != slow.stdout {
		t.Errorf("same seed: trace %016x, then %016x", slow.res.TraceHash, again.res.TraceHash)
	}
	free := run(-1)
	if free.res.FlushWaits != 0 || free.res.VirtualTime >= time.Duration(syncs)*5*time.Millisecond {
		t.Errorf("free flushes: %d waits, simulated time %v", free.res.FlushWaits, free.res.VirtualTime)
	}
}
