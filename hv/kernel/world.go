package kernel

import (
	"errors"
	"math/rand/v2"
	"sort"

	"github.com/mvrun/multiverse/hv/sched"
)

// EventSource is something besides guest threads that has work due at
// virtual times, such as the simulated network delivering bytes. The world
// jumps the clock to its next event when every thread is blocked and lets
// it run whenever the clock has moved.
type EventSource interface {
	// NextEvent returns the virtual time of the earliest pending event.
	NextEvent() (when int64, ok bool)
	// Advance carries out every event due at or before now.
	Advance(now int64)
}

// World is what every guest process of one simulation shares: the single
// virtual CPU's run queue, the virtual clock, the timer queue, the seeded
// choice of the next thread and the trace hash. One goroutine drives a
// world; processes of every node of a cluster are threads in it, so the
// interleaving across the whole cluster is a function of the seed.
type World struct {
	clock   *sched.Clock
	timers  sched.Timers // thread deadlines
	host    sched.Timers // host actions (World.At)
	watch   sched.Timers `snap:"zero"` // observers (World.Observe): never traced, not in snapshots
	picker  *sched.Picker
	trace   *sched.Trace
	threads map[int]*Thread // every live thread of every process, by tid
	runq    []*Thread       // runnable, not running; sorted by tid
	cur     *Thread
	nextTID int
	events  []EventSource
	callObs CallObserver `snap:"zero"` // sees every system call (inspect.go); nil unless set

	syscalls uint64
	switches uint64
	notExact []string
	// eventsOnlyFrom is when the world last ran out of threads, timers and
	// host actions with only event sources left; -1 while there are others.
	eventsOnlyFrom int64
}

// NewWorld returns an empty world on clock whose thread choices draw from
// pick.
func NewWorld(clock *sched.Clock, pick *rand.Rand) *World {
	return &World{
		clock:   clock,
		picker:  sched.NewPicker(pick),
		trace:   sched.NewTrace(),
		threads: map[int]*Thread{},
		nextTID: 1000,

		eventsOnlyFrom: -1,
	}
}

// Clock returns the world's clock (wall-clock offset zero; nodes fork
// their own).
func (w *World) Clock() *sched.Clock { return w.clock }

// Trace returns the world's trace, which hashes every decision and event
// of every process.
func (w *World) Trace() *sched.Trace { return w.trace }

// AddEventSource registers s; sources are consulted in registration order.
func (w *World) AddEventSource(s EventSource) { w.events = append(w.events, s) }

// At schedules fn to run on the world's goroutine at virtual time when (now
// if it has passed). fn runs between guest events, never in the middle of
// a system call, so it may start, kill or pause processes.
func (w *World) At(when int64, fn func()) *sched.Timer {
	return w.host.AddFunc(max(when, w.clock.Now()), fn)
}

// Observe calls fn once the simulation reaches virtual time when, between
// guest events, without taking part in it: fn must only look (read files,
// copy state), and it enters neither the trace hash nor the clock's jumps,
// so a run observed gives the same trace hash as one not observed. When the
// clock jumps over when (nothing ran in between), fn is called before the
// jump, on the state at when.
func (w *World) Observe(when int64, fn func()) { w.watch.AddFunc(when, fn) }

// ObserveUntil calls the observers due at or before t (the clock is about
// to move there while nothing runs).
func (w *World) ObserveUntil(t int64) { w.observe(t) }

// observe calls the observers due at or before t. It is called when
// nothing will run before t, so the clock may move to each observer's time
// first: the observer sees its moment's time, and the clock reaches t (or
// further) next anyway, with no event in between.
func (w *World) observe(t int64) {
	for {
		tm, ok := w.watch.PopDue(t)
		if !ok {
			return
		}
		w.clock.AdvanceTo(tm.When)
		tm.Fn()
	}
}

// Cancel cancels a host action scheduled with [World.At].
func (w *World) Cancel(t *sched.Timer) { w.host.Cancel(t) }

// Syscalls returns the number of system calls handled in the world.
func (w *World) Syscalls() uint64 { return w.syscalls }

// Switches returns the number of scheduling decisions taken.
func (w *World) Switches() uint64 { return w.switches }

// NotExact returns why the world's run is not a pure function of its seed;
// empty when it is.
func (w *World) NotExact() []string { return append([]string(nil), w.notExact...) }

func (w *World) markNotExact(reason string) {
	for _, r := range w.notExact {
		if r == reason {
			return
		}
	}
	w.notExact = append(w.notExact, reason)
}

func (w *World) newTID() int {
	id := w.nextTID
	w.nextTID++
	return id
}

// enqueue makes t runnable. Threads of a paused process wait aside until
// it resumes.
func (w *World) enqueue(t *Thread) {
	if t.k.paused {
		t.k.frozen = appendThread(t.k.frozen, t)
		return
	}
	i := sort.Search(len(w.runq), func(i int) bool { return w.runq[i].TID >= t.TID })
	if i < len(w.runq) && w.runq[i] == t {
		return
	}
	w.runq = append(w.runq, nil)
	copy(w.runq[i+1:], w.runq[i:])
	w.runq[i] = t
}

func appendThread(ts []*Thread, t *Thread) []*Thread {
	for _, x := range ts {
		if x == t {
			return ts
		}
	}
	return append(ts, t)
}

// dequeueProcess removes k's threads from the run queue.
func (w *World) dequeueProcess(k *Kernel) {
	out := w.runq[:0]
	for _, t := range w.runq {
		if t.k != k {
			out = append(out, t)
		}
	}
	clear(w.runq[len(out):])
	w.runq = out
	if w.cur != nil && w.cur.k == k {
		w.cur = nil
	}
}

// fire carries out the work due now: network and other event sources,
// thread deadlines and, when hostOK is set (between guest events, never in
// the middle of a system call), host actions.
func (w *World) fire(hostOK bool) {
	now := w.clock.Now()
	for {
		for _, s := range w.events {
			s.Advance(now)
		}
		for {
			tm, ok := w.timers.PopDue(now)
			if !ok {
				break
			}
			if t := w.threads[tm.ID]; t != nil && t.wait != nil && t.wait.timer == tm {
				t.wait.timer = nil
				t.timeout()
			}
		}
		if !hostOK {
			return
		}
		tm, ok := w.host.PopDue(now)
		if !ok {
			return
		}
		w.trace.Event('h', uint64(tm.When))
		tm.Fn()
	}
}

// eventIdleLimit bounds how long the clock may run on event sources alone
// (keepalive probes of healthy idle connections never end) while every
// thread is blocked with no timer and no host action pending: past it the
// world is idle. It is longer than any Linux TCP timeout with default
// settings (keepalive gives up after 2 h 11 min).
const eventIdleLimit = int64(3 * 3600 * 1e9)

// next returns the earliest virtual time at which a timer, host action or
// event source has work.
func (w *World) next() (int64, bool) {
	when, ok := w.timers.Next()
	if h, ok2 := w.host.Next(); ok2 && (!ok || h < when) {
		when, ok = h, true
	}
	evWhen, evOK := int64(0), false
	for _, s := range w.events {
		if t, ok2 := s.NextEvent(); ok2 && (!evOK || t < evWhen) {
			evWhen, evOK = t, true
		}
	}
	if !evOK || (ok && when <= evWhen) {
		return when, ok
	}
	if !ok {
		if w.eventsOnlyFrom < 0 {
			w.eventsOnlyFrom = w.clock.Now()
		}
		if evWhen-w.eventsOnlyFrom > eventIdleLimit {
			return 0, false
		}
	}
	return evWhen, true
}

// Schedule is how the machine asks which thread runs next: the running
// thread if it has not blocked, otherwise one drawn from the seed among the
// runnable threads of every process. Host actions due by now run first.
// When nothing is runnable the clock jumps to the next timer or event, but
// not past limit; Schedule returns nil when the clock has reached limit
// (even if threads are runnable: they run on at the next call) or when
// nothing will ever run again (idle reports which).
func (w *World) Schedule(limit int64) (t *Thread, idle bool) {
	for {
		w.observe(w.clock.Now())
		w.fire(true)
		if w.clock.Now() >= limit {
			return nil, false
		}
		if w.cur != nil && w.cur.state == stateRunning && !w.cur.k.exited {
			if !w.cur.k.paused {
				return w.cur, false
			}
			w.cur.state = stateRunnable
			w.enqueue(w.cur)
		}
		w.cur = nil
		if len(w.runq) == 0 {
			when, ok := w.next()
			if !ok {
				return nil, true
			}
			if when > limit {
				w.observe(limit)
				w.clock.AdvanceTo(limit)
				return nil, false
			}
			w.observe(when - 1)
			w.clock.AdvanceTo(when)
			w.trace.Event('j', uint64(when))
			continue
		}
		w.eventsOnlyFrom = -1
		i := w.picker.Pick(len(w.runq))
		t := w.runq[i]
		w.runq = append(w.runq[:i], w.runq[i+1:]...)
		w.trace.Event('s', uint64(t.TID))
		w.switches++
		t.k.switches++
		t.state = stateRunning
		w.cur = t
		if t.restart != nil {
			// The thread was woken to retry a system call that blocked.
			t.k.dispatch(t, t.restart)
		}
	}
}

// Current returns the running thread, or nil.
func (w *World) Current() *Thread { return w.cur }

// Preempt takes the CPU from the running thread (after it ran too long
// without a system call, on host time) and lets the scheduler choose again.
// elapsed is the host time it ran; the virtual clock advances by it. Such
// a run depends on host timing and is marked not replay-exact.
func (w *World) Preempt(elapsed int64) {
	t := w.cur
	if t == nil {
		return
	}
	if _, ok := w.next(); len(w.runq) == 0 && !ok {
		// Nothing else could run or become due: no decision to make.
		return
	}
	const why = "a guest thread ran past the host-time quantum without a system call and was preempted"
	w.markNotExact(why)
	t.k.MarkNotExact(why)
	t.k.chargeClockReads()
	w.clock.Advance(elapsed)
	w.fire(false)
	t.state = stateRunnable
	w.enqueue(t)
	w.cur = nil
}

// ErrIdle is returned by callers of [World.Schedule] that needed progress
// when nothing can run and nothing is pending.
var ErrIdle = errors.New("every thread is blocked and nothing is pending")
