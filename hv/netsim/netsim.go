// Package netsim is hv's simulated network: TCP, UDP and AF_UNIX sockets
// as VMM objects with Linux's semantics, on virtual time.
//
// # Model
//
// Byte streams, not packets (chosen after comparing gVisor's netstack,
// turmoil, Shadow and FoundationDB's Sim2Conn). A TCP connection is two
// ordered byte streams with bounded buffers: each transmission of queued
// bytes becomes one delivery after [Links.StreamDelay], and deliveries of
// one direction never overtake each other. Loss is extra delay: a segment
// sent over a cut link or to a down host is retransmitted with Linux's
// timers (RTO 200 ms doubling to 120 s; SYN retries at 1, 2, 4 … 32 s), and
// the connection fails with ETIMEDOUT where Linux's would (tcp_syn_retries,
// tcp_retries2, TCP_USER_TIMEOUT, keepalive). UDP datagrams keep their
// boundaries and are dropped, duplicated or delayed as [Links.Datagram]
// says. AF_UNIX sockets are host-local and immediate.
//
// # Time
//
// The network never reads host time. It keeps an event queue on virtual
// nanoseconds; whoever owns the clock calls [Network.NextEvent] to learn
// when something is due and [Network.Advance] to process everything due by
// then. Ties break by insertion order, and every random choice (ephemeral
// ports, SO_REUSEPORT balancing) comes from streams split from
// [Config.Seed], so a run is a function of the seed and of the order of
// calls.
//
// # Interface to the kernel
//
// A node's kernel sees the network only through [Stack] (one per node: a
// [*Host]) and [Socket] (one per socket). Both are small and speak in
// [Addr] values and [abi.Errno] errors, so a packet-level stack could
// replace this package behind them. No call blocks: an operation that
// would wait returns EAGAIN (or EINPROGRESS / EALREADY for connect), and the
// kernel parks the thread until the socket's notify callback
// ([Socket.SetNotify]) says its readiness ([Socket.Events]) may have
// changed.
//
// # Records
//
// Every delivery, connect outcome and reset reaches [Config.Trace] (for the
// cluster's trace hash); [Network.Observe] registers a hook that sees each
// delivery as a [Segment] (enough to synthesize a packet capture later), and
// [Network.Conns] reports per-connection byte counts.
package netsim

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/mvrun/multiverse/hv/abi"
	"github.com/mvrun/multiverse/internal/seeds"
)

// Links is the link model the network consults: the cluster implements it
// (partitions, delays, datagram faults). Host names identify the ends.
type Links interface {
	// Cut reports whether traffic from host from to host to is lost now.
	Cut(from, to string) bool
	// StreamDelay is the one-way delay of a stream delivery sent now.
	StreamDelay(from, to string) time.Duration
	// Datagram decides the fate of one datagram sent now: dropped, or
	// delivered copies times (duplicates) after delay.
	Datagram(from, to string) (drop bool, copies int, delay time.Duration)
}

// FixedLinks is the default link model: every link up, a fixed one-way
// delay, no datagram faults.
type FixedLinks struct{ Delay time.Duration }

// DefaultDelay is the one-way delay between hosts of [FixedLinks] when
// none is configured: a LAN-like 75 µs.
const DefaultDelay = 75 * time.Microsecond

// Cut implements [Links]: never.
func (FixedLinks) Cut(from, to string) bool { return false }

// StreamDelay implements [Links].
func (l FixedLinks) StreamDelay(from, to string) time.Duration { return l.Delay }

// Datagram implements [Links]: always one copy after the fixed delay.
func (l FixedLinks) Datagram(from, to string) (bool, int, time.Duration) { return false, 1, l.Delay }

// Config configures a [Network].
type Config struct {
	// Seed is the root seed; each host draws its ephemeral ports from its
	// own stream split from it.
	Seed uint64
	// Links is the link model; nil means FixedLinks{DefaultDelay}.
	Links Links
	// LoopbackDelay is the one-way delay of traffic that stays on one host
	// (loopback and the host's own addresses); the default 0 makes it
	// visible at the next event processing, as on Linux where loopback
	// delivery happens before the sending call returns.
	LoopbackDelay time.Duration
	// Trace, if set, receives every delivery, connect outcome, reset,
	// timeout and datagram fate, in order (see the Trace* kinds).
	// A snapshot of the network leaves it unset: the restorer sets it
	// again ([Network.SetTrace]).
	Trace func(kind byte, words ...uint64) `snap:"zero"`
}

// Trace kinds passed to [Config.Trace]. Words follow each kind as listed.
const (
	TraceDeliver  = 'D' // conn id, direction (0 client→server), stream offset, length, FIN (0/1)
	TraceConnect  = 'C' // conn id (0 if none was made), errno (0: connected)
	TraceAccept   = 'A' // conn id: the server side entered the accept queue
	TraceReset    = 'R' // conn id, side that received the reset, errno it gets
	TraceTimeout  = 'T' // conn id, side that timed out
	TraceLost     = 'L' // conn id, direction, length: a segment was lost (retransmitted later)
	TraceDatagram = 'U' // from host, to host, to port, length, copies delivered (0: dropped)
	TraceHost     = 'H' // host index, 0 killed / 1 restarted
)

// Network is a simulated network of hosts. It is not safe for concurrent
// use: one goroutine (the cluster's scheduler) drives it.
type Network struct {
	cfg       Config
	links     Links
	now       int64
	q         eventQueue
	seq       uint64
	hosts     []*Host
	byName    map[string]*Host
	byAddr    map[netip.Addr]*Host
	observers []func(Segment) `snap:"zero"` // looks: not in snapshots
	conns     []*conn         // every TCP connection made, by id order
	nextConn  uint64
}

// New returns an empty network.
func New(cfg Config) *Network {
	l := cfg.Links
	if l == nil {
		l = FixedLinks{DefaultDelay}
	}
	return &Network{cfg: cfg, links: l, byName: map[string]*Host{}, byAddr: map[netip.Addr]*Host{}}
}

// Now returns the network's virtual time: the latest time it was advanced
// to.
func (n *Network) Now() int64 { return n.now }

// AddHost adds a host with the given addresses (besides its own loopback
// 127.0.0.1/8 and ::1). Names and addresses must be unique.
func (n *Network) AddHost(name string, addrs ...netip.Addr) (*Host, error) {
	if name == "" {
		return nil, fmt.Errorf("netsim: empty host name")
	}
	if n.byName[name] != nil {
		return nil, fmt.Errorf("netsim: host %q added twice", name)
	}
	h := &Host{n: n, name: name, idx: len(n.hosts), up: true,
		ports: seeds.Stream(n.cfg.Seed, "netsim/ports/"+name),
		pick:  seeds.Stream(n.cfg.Seed, "netsim/reuseport/"+name)}
	for _, a := range addrs {
		a = a.Unmap()
		if !a.IsValid() || a.IsUnspecified() || a.IsLoopback() {
			return nil, fmt.Errorf("netsim: host %q: address %v is not a unicast host address", name, a)
		}
		if o := n.byAddr[a]; o != nil {
			return nil, fmt.Errorf("netsim: address %v of host %q already belongs to %q", a, name, o.name)
		}
		n.byAddr[a] = h
		h.addrs = append(h.addrs, a)
	}
	h.reset()
	n.hosts = append(n.hosts, h)
	n.byName[name] = h
	return h, nil
}

// Host returns the host called name, or nil.
func (n *Network) Host(name string) *Host { return n.byName[name] }

// Hosts returns the hosts in the order they were added.
func (n *Network) Hosts() []*Host { return append([]*Host(nil), n.hosts...) }

// KillHost makes host name vanish: its sockets are gone without a FIN or
// RST, and segments sent to it are lost until it restarts.
func (n *Network) KillHost(name string) error {
	h := n.byName[name]
	if h == nil {
		return fmt.Errorf("netsim: no host %q", name)
	}
	if !h.up {
		return nil
	}
	h.up = false
	h.inc++
	h.reset()
	n.trace(TraceHost, uint64(h.idx), 0)
	return nil
}

// RestartHost brings a killed host back with no sockets: segments that
// reach it for a connection of its previous life draw a RST.
func (n *Network) RestartHost(name string) error {
	h := n.byName[name]
	if h == nil {
		return fmt.Errorf("netsim: no host %q", name)
	}
	if h.up {
		return nil
	}
	h.up = true
	n.trace(TraceHost, uint64(h.idx), 1)
	return nil
}

// SetTrace replaces [Config.Trace].
func (n *Network) SetTrace(fn func(kind byte, words ...uint64)) { n.cfg.Trace = fn }

// Observe registers fn to see every delivery (TCP segment or datagram) as
// it happens.
func (n *Network) Observe(fn func(Segment)) { n.observers = append(n.observers, fn) }

// Segment describes one delivery, for observers.
type Segment struct {
	Time     int64 // virtual time of the delivery
	Proto    int   // abi.IpprotoTCP or abi.IpprotoUDP
	From, To netip.AddrPort
	Conn     uint64 // TCP connection id (0 for UDP)
	Seq      uint64 // stream offset of the first byte (TCP)
	Len      int
	Flags    SegFlags
	// Payload is the bytes delivered; it is valid only during the
	// observer's call (copy what you keep).
	Payload []byte
}

// SegFlags are the TCP flags a delivery stands for.
type SegFlags uint8

// Segment flags.
const (
	FlagSYN SegFlags = 1 << iota
	FlagACK
	FlagFIN
	FlagRST
)

// ConnStat is one TCP connection's byte counts.
type ConnStat struct {
	ID                     uint64
	Client, Server         netip.AddrPort
	ClientHost, ServerHost string
	Sent                   [2]uint64 // bytes delivered client→server, server→client
}

// Conns returns the byte counts of every connection made so far, by id.
func (n *Network) Conns() []ConnStat {
	out := make([]ConnStat, 0, len(n.conns))
	for _, c := range n.conns {
		out = append(out, ConnStat{ID: c.id, Client: c.addr[0], Server: c.addr[1],
			ClientHost: c.hosts[0].name, ServerHost: c.hosts[1].name, Sent: c.bytes})
	}
	return out
}

func (n *Network) trace(kind byte, words ...uint64) {
	if n.cfg.Trace != nil {
		n.cfg.Trace(kind, words...)
	}
}

func (n *Network) observe(s Segment) {
	s.Time = n.now
	for _, fn := range n.observers {
		fn(s)
	}
}

// NextEvent returns the virtual time of the earliest pending event.
func (n *Network) NextEvent() (int64, bool) {
	for len(n.q) > 0 && n.q[0].cancelled {
		heap.Pop(&n.q)
	}
	if len(n.q) == 0 {
		return 0, false
	}
	return n.q[0].when, true
}

// Advance processes every event due at or before now, in time order (ties
// in insertion order), and moves the network's time to now.
func (n *Network) Advance(now int64) {
	for len(n.q) > 0 && n.q[0].when <= now {
		ev := heap.Pop(&n.q).(*event)
		if ev.cancelled {
			continue
		}
		if ev.when > n.now {
			n.now = ev.when
		}
		ev.do.run()
	}
	if now > n.now {
		n.now = now
	}
}

// at schedules a at virtual time when (not before now).
func (n *Network) at(when int64, a action) *event {
	if when < n.now {
		when = n.now
	}
	n.seq++
	ev := &event{when: when, seq: n.seq, do: a}
	heap.Push(&n.q, ev)
	return ev
}

// delay returns the one-way delay from a to b.
func (n *Network) delay(a, b *Host) int64 {
	if a == b {
		return int64(n.cfg.LoopbackDelay)
	}
	return int64(n.links.StreamDelay(a.name, b.name))
}

// reachable reports whether a segment from a can reach b now: b is up and
// the link is not cut. Same-host traffic is never cut.
func (n *Network) reachable(a, b *Host) bool {
	if b == nil || !b.up || !a.up {
		return false
	}
	return a == b || !n.links.Cut(a.name, b.name)
}

type event struct {
	when      int64
	seq       uint64
	do        action
	cancelled bool
	index     int
}

func (e *event) cancel() {
	if e != nil {
		e.cancelled = true
	}
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].when != q[j].when {
		return q[i].when < q[j].when
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i]; q[i].index = i; q[j].index = j }
func (q *eventQueue) Push(x any)   { e := x.(*event); e.index = len(*q); *q = append(*q, e) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}

// Host is one node's network endpoint: its addresses, port tables and
// sockets. It implements [Stack].
type Host struct {
	n     *Network
	name  string
	idx   int
	addrs []netip.Addr
	up    bool
	inc   uint64 // incarnation: bumped when the host is killed
	ports *rand.Rand
	pick  *rand.Rand
	tcp   *portTable
	udp   *portTable
	unix  map[string]unixBinding
}

var _ Stack = (*Host)(nil)

func (h *Host) reset() {
	h.tcp = newPortTable()
	h.udp = newPortTable()
	h.unix = map[string]unixBinding{}
}

// Name returns the host's name.
func (h *Host) Name() string { return h.name }

// Hostname implements [Stack]: the host's name.
func (h *Host) Hostname() string { return h.name }

// Addrs returns the host's own addresses (not loopback).
func (h *Host) Addrs() []netip.Addr { return append([]netip.Addr(nil), h.addrs...) }

// Up reports whether the host is running (not killed).
func (h *Host) Up() bool { return h.up }

// Network returns the network the host belongs to.
func (h *Host) Network() *Network { return h.n }

// NextEvent implements [Stack]; it is the network's.
func (h *Host) NextEvent() (int64, bool) { return h.n.NextEvent() }

// Advance implements [Stack]; it advances the whole network.
func (h *Host) Advance(now int64) { h.n.Advance(now) }

// Socket implements [Stack].
func (h *Host) Socket(fam Family, typ Type) (Socket, error) {
	switch fam {
	case Inet, Inet6:
		switch typ {
		case Stream:
			return newTCP(h, fam), nil
		case Dgram:
			return newUDP(h, fam), nil
		}
		return nil, abi.ESOCKTNOSUPPORT
	case Unix:
		switch typ {
		case Stream, Dgram, Seqpacket:
			return newUnix(h, typ), nil
		}
		return nil, abi.ESOCKTNOSUPPORT
	}
	return nil, abi.EAFNOSUPPORT
}

// Pair implements [Stack]: socketpair(2), AF_UNIX only.
func (h *Host) Pair(fam Family, typ Type) (Socket, Socket, error) {
	if fam != Unix {
		return nil, nil, abi.EOPNOTSUPP
	}
	switch typ {
	case Stream, Dgram, Seqpacket:
	default:
		return nil, nil, abi.ESOCKTNOSUPPORT
	}
	a, b := newUnix(h, typ), newUnix(h, typ)
	connectUnixPair(a, b)
	return a, b, nil
}

// owns reports whether ip (unmapped) is one of h's own addresses,
// loopback included.
func (h *Host) owns(ip netip.Addr) bool {
	if ip.IsLoopback() {
		return true
	}
	for _, a := range h.addrs {
		if a == ip {
			return true
		}
	}
	return false
}

// route finds where dst (unmapped) lives as seen from h, and the source
// address h uses to reach it. The host is nil for an address nobody owns:
// segments to it are lost, as on a real network.
func (h *Host) route(dst netip.Addr) (*Host, netip.Addr, error) {
	switch {
	case dst.IsUnspecified() || dst.IsLoopback():
		if dst.Is4() {
			return h, netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil
		}
		return h, netip.IPv6Loopback(), nil
	case h.owns(dst):
		return h, dst, nil
	}
	var src netip.Addr
	for _, a := range h.addrs {
		if a.Is4() == dst.Is4() {
			src = a
			break
		}
	}
	if !src.IsValid() {
		return nil, src, abi.ENETUNREACH
	}
	return h.n.byAddr[dst], src, nil
}
