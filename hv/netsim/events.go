package netsim

import (
	"net/netip"

	"github.com/mvrun/multiverse/hv/abi"
)

// The network's pending events are data, not closures: each kind is a
// small struct naming what it acts on, so the event queue (and the whole
// network) is a plain object graph that a cluster snapshot can copy.

// action is what an event does when it comes due.
type action interface{ run() }

// Notifier is told whenever a socket's readiness may have changed
// ([Socket.SetNotify]).
type Notifier interface{ Notify() }

// NotifyFunc adapts a function to [Notifier]. A snapshot of the network
// cannot copy a function; hv's kernel passes its socket files instead.
type NotifyFunc func()

// Notify implements [Notifier].
func (f NotifyFunc) Notify() { f() }

// timeWaitEnd frees a TIME_WAIT binding of host incarnation inc.
type timeWaitEnd struct {
	h   *Host
	inc uint64
	b   *binding
}

func (e *timeWaitEnd) run() {
	if e.h.inc == e.inc {
		e.h.tcp.remove(e.b)
	}
}

// synArrival is a SYN reaching its destination.
type synArrival struct {
	s *tcpSock
	a *synAttempt
}

func (e *synArrival) run() { e.s.synArrive(e.a) }

// synRetry is a connect attempt's retransmission timer.
type synRetry struct {
	s *tcpSock
	a *synAttempt
}

func (e *synRetry) run() { e.s.synTimer(e.a) }

// synRefused is the RST that answers a SYN no one listens for.
type synRefused struct {
	s *tcpSock
	a *synAttempt
}

func (e *synRefused) run() {
	if e.s.syn == e.a && e.s.alive() {
		e.s.connectFailed(abi.ECONNREFUSED, 0)
	}
}

// synAckArrival is the SYN-ACK reaching the client.
type synAckArrival struct {
	s *tcpSock
	a *synAttempt
	c *conn
	l *tcpSock
}

func (e *synAckArrival) run() { e.s.synAck(e.a, e.c, e.l) }

// ackArrival is the handshake's last ACK reaching listener l.
type ackArrival struct {
	l *tcpSock
	c *conn
}

func (e *ackArrival) run() { e.l.ackArrival(e.c) }

// segmentArrival is one delivery of flow f's bytes.
type segmentArrival struct {
	f     *flow
	data  []byte
	seq   uint64
	fin   bool
	sent  int64
	epoch uint64
}

func (e *segmentArrival) run() { e.f.arrive(e.data, e.seq, e.fin, e.sent, e.epoch) }

// retransmission is flow f's retransmission timer.
type retransmission struct{ f *flow }

func (e *retransmission) run() { e.f.retransmit() }

// rstArrival is a RST from side from of c reaching the other side.
type rstArrival struct {
	c    *conn
	from int
	inc  uint64
}

func (e *rstArrival) run() { e.c.rstArrival(e.from, e.inc) }

// finTimeoutEnd ends an orphaned socket's FIN_WAIT2.
type finTimeoutEnd struct{ s *tcpSock }

func (e *finTimeoutEnd) run() {
	if e.s.state == tcpEstablished {
		e.s.state = tcpClosed
		e.s.release()
	}
}

// keepaliveTimer is a socket's keepalive timer.
type keepaliveTimer struct{ s *tcpSock }

func (e *keepaliveTimer) run() { e.s.keepalive() }

// probeRst is the RST a keepalive probe draws from a peer that forgot c.
type probeRst struct {
	c    *conn
	from int
}

func (e *probeRst) run() {
	if !e.c.dead {
		e.c.rstFrom(e.from)
	}
}

// probeAck is the answer to a keepalive probe coming back.
type probeAck struct {
	s *tcpSock
	c *conn
}

func (e *probeAck) run() {
	if !e.c.dead {
		e.s.lastRecv = e.s.h.n.now
		e.s.probes = 0
	}
}

// udpArrival is a datagram (copies times) reaching host to.
type udpArrival struct {
	to        *Host
	sender    *udpSock
	from, dst netip.AddrPort
	data      []byte
	copies    int
}

func (e *udpArrival) run() {
	for range e.copies {
		e.to.deliverUDP(e.sender, e.from, e.dst, e.data)
	}
}

// udpRefused is the ICMP port unreachable answering a datagram to dst.
type udpRefused struct {
	sender *udpSock
	dst    netip.AddrPort
}

func (e *udpRefused) run() {
	s := e.sender
	if s.alive() && s.connected && s.remote == e.dst {
		s.err = abi.ECONNREFUSED
		s.notify()
	}
}
