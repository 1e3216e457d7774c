package runner

import (
	"context"
	"time"

	"github.com/mvrun/multiverse/runner/backend"
)

// The seed's goroutines, waits and timeouts go through these helpers. On a
// cluster with simulated time ([backend.Turns], hv) they are participants
// that take turns on the cluster's clock, so the runner's actions depend on
// the seed alone; on the others they are plain goroutines, channels and
// host timers.

// spawn runs fn in a new goroutine of the seed and returns a function that
// waits for it to return.
func spawn(cl backend.Cluster, fn func()) (join func()) {
	if t, ok := cl.(backend.Turns); ok {
		task := t.Go(fn)
		return func() { t.Join(task) }
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	return func() { <-done }
}

// joinAll waits for every join function, in order.
func joinAll(joins []func()) {
	for _, j := range joins {
		j()
	}
}

// withTimeout is context.WithTimeout on the cluster's clock.
func withTimeout(cl backend.Cluster, ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if t, ok := cl.(backend.Turns); ok {
		return t.WithTimeout(ctx, d)
	}
	return context.WithTimeout(ctx, d)
}
