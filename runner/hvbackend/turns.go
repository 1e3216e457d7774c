package hvbackend

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/mvrun/multiverse/runner/backend"
)

// The runner's goroutines of a seed take turns (see [backend.Turns]): one
// participant holds the turn and runs; when it waits in a cluster call it
// gives the turn back, and the goroutine giving it back runs the
// simulation until some waiting participant can go on, then hands the turn
// to the first such participant in a fixed order. Host goroutine timing
// therefore decides nothing: which participant runs, and at which
// simulated time, follows from the simulation alone.

// part is one participant.
type part struct {
	id    []int // 0 for the first; a child of p is p.id + [p.spawned]
	wake  chan struct{}
	done  bool
	kids  int
	start bool // spawned, has not run yet
}

// waiter is a participant waiting in a cluster call.
type waiter struct {
	p        *part
	ctx      context.Context
	deadline time.Duration // simulated; < 0 for none
	cond     func() bool   // nil for none
	failed   bool          // woken because the simulation cannot go on
}

// ready reports whether the call can return now, at simulated time now.
// It is called with turns.mu held.
func (w *waiter) ready(now time.Duration) bool {
	if w.failed || w.ctx != nil && w.ctx.Err() != nil {
		return true
	}
	if w.deadline >= 0 && now >= w.deadline {
		return true
	}
	return w.cond != nil && w.cond()
}

// vtimer is a context that a WithTimeout call cancels at a simulated time.
type vtimer struct {
	at     time.Duration
	seq    int
	cancel context.CancelFunc
}

// sim is what turns needs from the simulation.
type sim interface {
	// now is the simulated time.
	now() time.Duration
	// advance runs the simulation until limit, until stop reports true
	// (checked after every event), or until nothing can run any more
	// (idle); then, if idle, it moves the clock on to limit.
	advance(ctx context.Context, limit time.Duration, stop func() bool) (idle bool, err error)
}

// turns schedules the participants of one cluster.
type turns struct {
	sim  sim
	life context.Context // ends when the cluster closes or its seed is abandoned

	mu      sync.Mutex
	holder  *part
	parts   []*part
	waiters []*waiter
	timers  []*vtimer
	seq     int
	failed  error // set when the simulation cannot go on; every wait returns it
}

// errStuck is returned by waits when nothing in the simulation can ever
// make them return.
var errStuck = errors.New("the simulation is idle and nothing it does can end this wait")

// newTurns returns the scheduler; the calling goroutine is the first
// participant and holds the turn.
func newTurns(s sim, life context.Context) *turns {
	p := &part{id: []int{0}, wake: make(chan struct{}, 1)}
	return &turns{sim: s, life: life, holder: p, parts: []*part{p}}
}

// task is a participant as [backend.Task].
type task struct {
	t *turns
	p *part
}

// Done implements [backend.Task].
func (k task) Done() bool {
	k.t.mu.Lock()
	defer k.t.mu.Unlock()
	return k.p.done
}

// spawn starts fn as a child of the holder; it runs when it gets the turn.
func (t *turns) spawn(fn func()) backend.Task {
	t.mu.Lock()
	h := t.holder
	c := &part{id: append(slices.Clone(h.id), h.kids), wake: make(chan struct{}, 1), start: true}
	h.kids++
	t.parts = append(t.parts, c)
	t.mu.Unlock()
	go func() {
		<-c.wake
		defer t.exit(c)
		fn()
	}()
	return task{t, c}
}

// exit ends participant p (the holder) and passes the turn on.
func (t *turns) exit(p *part) {
	t.mu.Lock()
	p.done = true
	t.mu.Unlock()
	t.pass(nil)
}

// wait gives the turn back until w can return; it returns the error that
// ended the wait early (ctx's, or why the simulation cannot go on).
func (t *turns) wait(w *waiter) error {
	t.mu.Lock()
	w.p = t.holder
	r := w.ready(t.sim.now())
	t.mu.Unlock()
	if r {
		// Nothing to wait for: the caller keeps the turn. This also keeps a
		// participant's zero-length sleeps from reordering the others.
		return w.err()
	}
	t.pass(w)
	<-w.p.wake
	if w.ctx != nil && w.ctx.Err() != nil {
		return w.ctx.Err()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failed != nil && !(w.cond != nil && w.cond()) && !(w.deadline >= 0 && t.sim.now() >= w.deadline) {
		return t.failed
	}
	return nil
}

func (w *waiter) err() error {
	if w.ctx != nil {
		return w.ctx.Err()
	}
	return nil
}

// pass gives up the turn (waiting in w, or exiting with w nil), runs the
// simulation until a participant can go on and wakes it.
func (t *turns) pass(w *waiter) {
	t.mu.Lock()
	if w != nil {
		t.waiters = append(t.waiters, w)
	}
	t.holder = nil
	t.mu.Unlock()
	for {
		if p := t.next(); p != nil {
			p.wake <- struct{}{}
			return
		}
		t.mu.Lock()
		live := len(t.waiters) > 0
		failed := t.failed
		t.mu.Unlock()
		if !live {
			return // every participant has ended
		}
		if failed != nil {
			t.wakeAll()
			continue
		}
		limit, ok := t.nextDeadline()
		if !ok {
			limit = time.Duration(1<<63 - 1)
		}
		idle, err := t.sim.advance(t.life, limit, t.anyReady)
		switch {
		case err != nil:
			t.fail(err)
		case idle && !ok && !t.anyReady():
			t.fail(errStuck)
		}
		t.fireTimers()
	}
}

// fail makes every present and future wait return err.
func (t *turns) fail(err error) {
	t.mu.Lock()
	if t.failed == nil {
		t.failed = err
	}
	t.mu.Unlock()
}

// wakeAll marks every waiter ready (the simulation failed).
func (t *turns) wakeAll() {
	t.mu.Lock()
	for _, w := range t.waiters {
		w.failed = true
	}
	t.mu.Unlock()
}

// next removes and returns the first participant, in id order, that can
// go on now — a waiter whose call can return, or a new participant — and
// makes it the holder; nil if none.
func (t *turns) next() *part {
	t.fireTimers()
	now := t.sim.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	var best *part
	bestW := -1
	for _, p := range t.parts {
		if p.start && (best == nil || less(p.id, best.id)) {
			best, bestW = p, -1
		}
	}
	for i, w := range t.waiters {
		if w.ready(now) && (best == nil || less(w.p.id, best.id)) {
			best, bestW = w.p, i
		}
	}
	if best == nil {
		return nil
	}
	if bestW >= 0 {
		t.waiters = slices.Delete(t.waiters, bestW, bestW+1)
	}
	best.start = false
	t.holder = best
	return best
}

// anyReady reports whether some participant could go on now.
func (t *turns) anyReady() bool {
	now := t.sim.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.parts {
		if p.start {
			return true
		}
	}
	for _, w := range t.waiters {
		if w.ready(now) {
			return true
		}
	}
	for _, v := range t.timers {
		if v.at <= now {
			return true
		}
	}
	return false
}

// nextDeadline returns the earliest simulated time a waiter's deadline or a
// timeout falls due.
func (t *turns) nextDeadline() (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var d time.Duration
	ok := false
	for _, w := range t.waiters {
		if w.deadline >= 0 && (!ok || w.deadline < d) {
			d, ok = w.deadline, true
		}
	}
	for _, v := range t.timers {
		if !ok || v.at < d {
			d, ok = v.at, true
		}
	}
	return d, ok
}

// fireTimers cancels the contexts whose simulated timeouts have passed, in
// the order they fall due.
func (t *turns) fireTimers() {
	now := t.sim.now()
	t.mu.Lock()
	var due []*vtimer
	keep := t.timers[:0]
	for _, v := range t.timers {
		if v.at <= now {
			due = append(due, v)
		} else {
			keep = append(keep, v)
		}
	}
	t.timers = keep
	t.mu.Unlock()
	slices.SortFunc(due, func(a, b *vtimer) int {
		if a.at != b.at {
			return int(a.at - b.at)
		}
		return a.seq - b.seq
	})
	for _, v := range due {
		v.cancel()
	}
}

// withTimeout returns a context cancelled at simulated time now+d.
func (t *turns) withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	c, cancel := context.WithCancelCause(ctx)
	t.mu.Lock()
	t.seq++
	v := &vtimer{at: t.sim.now() + d, seq: t.seq, cancel: func() { cancel(context.DeadlineExceeded) }}
	t.timers = append(t.timers, v)
	t.mu.Unlock()
	stop := func() {
		t.mu.Lock()
		if i := slices.Index(t.timers, v); i >= 0 {
			t.timers = slices.Delete(t.timers, i, i+1)
		}
		t.mu.Unlock()
		cancel(context.Canceled)
	}
	return &deadlineCtx{Context: c}, stop
}

// deadlineCtx reports context.DeadlineExceeded, like a context from
// context.WithTimeout, when its simulated timeout cancelled it.
type deadlineCtx struct{ context.Context }

func (c *deadlineCtx) Err() error {
	if c.Context.Err() == nil {
		return nil
	}
	if cause := context.Cause(c.Context); errors.Is(cause, context.DeadlineExceeded) {
		return context.DeadlineExceeded
	}
	return c.Context.Err()
}

// overdue reports whether a waiter's deadline or a timeout fell due before
// now: a participant that should have gone on before it.
func (t *turns) overdue(now time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, w := range t.waiters {
		if w.deadline >= 0 && w.deadline < now {
			return true
		}
	}
	for _, v := range t.timers {
		if v.at < now {
			return true
		}
	}
	return false
}

// less orders participant ids: a parent before its children, children in
// spawn order.
func less(a, b []int) bool {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}
