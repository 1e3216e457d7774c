package backend

import (
	"context"
	"time"
)

// WallClock is the cluster clock of backends whose nodes run in real time
// (process, docker): cluster time is wall time since the clock was made.
// Clusters embed it to get Now and Sleep.
type WallClock struct{ start time.Time }

// NewWallClock returns a clock whose time 0 is now.
func NewWallClock() WallClock { return WallClock{start: time.Now()} }

// Now returns the wall time since the clock was made.
func (w WallClock) Now() time.Duration { return time.Since(w.start) }

// Sleep waits d of wall time, or until ctx ends.
func (w WallClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
