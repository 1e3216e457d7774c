package runner

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mvrun/multiverse/assertions"
)

// progressEvery is how often progress lines are printed when the progress
// writer is not a terminal.
const progressEvery = 10 * time.Second

// progress prints seeds done/total, failing properties so far and an ETA:
// one line rewritten in place on a terminal, else a line at most every
// progressEvery (and at the end).
type progress struct {
	w     io.Writer
	tty   bool
	total int
	start time.Time

	mu       sync.Mutex
	done     int
	failing  int // failures that can no longer pass
	unmet    int // Sometimes/Reachable properties not met yet
	lastLine time.Time
	printed  bool
	stop     chan struct{}
	finished bool
}

func newProgress(w io.Writer, total int, start time.Time) *progress {
	p := &progress{w: w, tty: isTerminal(w), total: total, start: start, stop: make(chan struct{}), lastLine: start}
	if w != nil {
		go p.tick()
	}
	return p
}

// tick keeps the line fresh while seeds run: every second on a terminal
// (for the elapsed time), every progressEvery otherwise.
func (p *progress) tick() {
	every := progressEvery
	if p.tty {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			p.mu.Lock()
			if !p.finished && (p.tty || now.Sub(p.lastLine) >= progressEvery) {
				p.lastLine = now
				p.printLocked(now)
			}
			p.mu.Unlock()
		}
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// seedDone counts a finished seed and prints progress.
func (p *progress) seedDone(col *assertions.Collector) {
	if p == nil || p.w == nil {
		return
	}
	// While seeds remain, count as failing only what happened (an Always
	// false, an Unreachable reached) and show the rest as not yet met: a
	// Sometimes unmet so far may be met by the next seed, and counting it
	// made the failing count go down. Once every seed is done, every
	// failure is final.
	failing, unmet := 0, 0
	for _, pr := range col.Result().Properties {
		switch {
		case pr.Observed():
			failing++
		case pr.Verdict == assertions.Fail:
			unmet++
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	p.failing, p.unmet = failing, unmet
	if p.done >= p.total {
		p.failing, p.unmet = failing+unmet, 0
	}
	now := time.Now()
	if !p.tty && p.done < p.total && now.Sub(p.lastLine) < progressEvery {
		return
	}
	p.lastLine = now
	p.printLocked(now)
}

func (p *progress) printLocked(now time.Time) {
	el := now.Sub(p.start)
	eta := "?"
	if p.done > 0 && p.done < p.total {
		eta = (el / time.Duration(p.done) * time.Duration(p.total-p.done)).Round(time.Second).String()
	} else if p.done >= p.total {
		eta = "0s"
	}
	unmet := ""
	if p.unmet > 0 {
		unmet = fmt.Sprintf(" (%d not met yet)", p.unmet)
	}
	line := fmt.Sprintf("seeds %d/%d  failing properties so far: %d%s  elapsed %v  eta %s",
		p.done, p.total, p.failing, unmet, el.Round(time.Second), eta)
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
	p.printed = true
}

// finish ends the progress line on a terminal.
func (p *progress) finish() {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return
	}
	p.finished = true
	close(p.stop)
	if p.tty && p.printed {
		fmt.Fprintln(p.w)
	}
}

// sortedKeys returns m's keys in order.
func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	return slices.Sorted(maps.Keys(m))
}
