package network

import (
	"container/heap"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/mvrun/multiverse/internal/linkmodel"
)

// ReorderHold is the least extra delay of a frame the switch reorders. On
// top of it comes a draw of up to the link's maximum latency, so later
// frames on a busy link overtake the held one. It is the link model's
// (linkmodel.ReorderHold), which hv's network shares.
const ReorderHold = linkmodel.ReorderHold

// frameBuf is large enough for any frame a TAP device without offloads
// hands over (its MTU can be raised up to 64 KiB).
const frameBuf = 1 << 16

// readLoop forwards every frame node p sends until p's device is closed.
func (n *Network) readLoop(p *port) {
	defer n.wg.Done()
	buf := make([]byte, frameBuf)
	for {
		k, err := p.f.Read(buf)
		if err != nil {
			if n.closed.Load() || errors.Is(err, os.ErrClosed) {
				return
			}
			// The device went away under us, for example with the
			// namespace of a container that exited.
			n.log.Warn("switch stopped reading from node", "node", p.node.Name, "err", err)
			return
		}
		n.forward(p, buf[:k])
	}
}

// forward sends a frame from a node to its destinations: the node with the
// destination MAC address, or for broadcast and multicast every other node.
func (n *Network) forward(from *port, frame []byte) {
	n.counters.received.Add(1)
	if len(frame) < 14 {
		n.counters.drop(DropRunt)
		return
	}
	t := n.table.Load()
	pol := n.policy.Load()
	if frame[0]&1 != 0 { // group bit: broadcast or multicast
		for _, to := range t.ports {
			if to != from {
				n.deliver(t, pol, from, to, frame)
			}
		}
		return
	}
	var mac [6]byte
	copy(mac[:], frame)
	to, ok := t.byMAC[mac]
	if !ok || to == from {
		n.counters.drop(DropUnknown)
		return
	}
	n.deliver(t, pol, from, to, frame)
}

// deliver decides the fate of one frame on the link from→to and carries it
// out. The decision (linkmodel.Decide, which takes as many draws whatever
// the link) is drawn before the partition check so that the sender's
// stream advances once per frame and destination, partition or not.
func (n *Network) deliver(t *table, pol *policy, from, to *port, frame []byte) {
	f := linkmodel.Decide(from.rng, pol.between(from, to))
	lc := t.link(from, to)
	c := &n.counters
	if pol.cuts(from, to) {
		c.drop(DropPartition)
		lc.partitioned.Add(1)
		return
	}
	if f.Lost {
		c.drop(DropLoss)
		lc.lost.Add(1)
		return
	}
	if f.Copies > 1 {
		c.duplicated.Add(uint64(f.Copies - 1))
		lc.duplicated.Add(uint64(f.Copies - 1))
	}
	if f.Reordered {
		c.reordered.Add(1)
		lc.reordered.Add(1)
	}
	if f.Delay <= 0 {
		for range f.Copies {
			n.write(to, lc, frame)
		}
		return
	}
	c.delayed.Add(1)
	lc.delayed.Add(1)
	n.queue.push(&item{
		at: time.Now().Add(f.Delay), from: from, to: to, lc: lc,
		frame: append([]byte(nil), frame...), copies: f.Copies,
	})
}

// write hands a frame to a node's device.
func (n *Network) write(to *port, lc *linkCounters, frame []byte) {
	if _, err := to.f.Write(frame); err != nil {
		if n.closed.Load() || errors.Is(err, os.ErrClosed) {
			return
		}
		n.counters.drop(DropWrite)
		return
	}
	n.counters.forwarded.Add(1)
	lc.forwarded.Add(1)
}

// deliverDelayed writes a frame whose delay is over, unless a partition
// installed meanwhile cuts its link: frames in flight are lost too.
func (n *Network) deliverDelayed(it *item) {
	if n.policy.Load().cuts(it.from, it.to) {
		n.counters.drop(DropPartition)
		it.lc.partitioned.Add(1)
		return
	}
	for range it.copies {
		n.write(it.to, it.lc, it.frame)
	}
}

// item is a delayed frame.
type item struct {
	at       time.Time
	seq      uint64 // keeps frames due at the same instant in sending order
	from, to *port
	lc       *linkCounters
	frame    []byte
	copies   int
}

type itemHeap []*item

func (h itemHeap) Len() int { return len(h) }
func (h itemHeap) Less(i, j int) bool {
	if c := h[i].at.Compare(h[j].at); c != 0 {
		return c < 0
	}
	return h[i].seq < h[j].seq
}
func (h itemHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *itemHeap) Push(x any)   { *h = append(*h, x.(*item)) }
func (h *itemHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return it
}

// queue is the switch's timer queue: one goroutine, started with the first
// delayed frame, writes frames out when they are due.
type queue struct {
	n       *Network
	mu      sync.Mutex
	items   itemHeap
	seq     uint64
	started bool
	stopped bool
	wake    chan struct{}
	done    chan struct{}
	exited  chan struct{}
}

func newQueue(n *Network) *queue {
	return &queue{n: n, wake: make(chan struct{}, 1), done: make(chan struct{}), exited: make(chan struct{})}
}

func (q *queue) push(it *item) {
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		return
	}
	if !q.started {
		q.started = true
		go q.run()
	}
	it.seq = q.seq
	q.seq++
	heap.Push(&q.items, it)
	first := q.items[0] == it
	q.mu.Unlock()
	if first {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// stop ends the queue's goroutine and drops what is still queued.
func (q *queue) stop() {
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		return
	}
	q.stopped = true
	started := q.started
	q.items = nil
	q.mu.Unlock()
	close(q.done)
	if started {
		<-q.exited
	}
}

// len returns how many frames are waiting.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

func (q *queue) run() {
	defer close(q.exited)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var due []*item
	for {
		q.mu.Lock()
		now := time.Now()
		due = due[:0]
		for len(q.items) > 0 && !q.items[0].at.After(now) {
			due = append(due, heap.Pop(&q.items).(*item))
		}
		wait := time.Duration(-1)
		if len(q.items) > 0 {
			wait = q.items[0].at.Sub(now)
		}
		q.mu.Unlock()
		if len(due) > 0 {
			for i, it := range due {
				q.n.deliverDelayed(it)
				due[i] = nil
			}
			continue
		}
		if wait >= 0 {
			timer.Reset(wait)
		}
		select {
		case <-q.done:
			timer.Stop()
			return
		case <-q.wake:
			timer.Stop()
		case <-timer.C:
		}
	}
}
