package netsim

import (
	"net/netip"
	"time"

	"github.com/mvrun/multiverse/hv/abi"
)

// Linux TCP timing (defaults of net.ipv4.*).
const (
	rtoMin       = int64(200 * time.Millisecond) // TCP_RTO_MIN
	rtoMax       = int64(120 * time.Second)      // TCP_RTO_MAX
	synRTO       = int64(time.Second)            // TCP_TIMEOUT_INIT
	synRetries   = 6                             // tcp_syn_retries
	tcpRetries2  = 15                            // tcp_retries2
	timeWaitLen  = int64(60 * time.Second)       // TCP_TIMEWAIT_LEN
	finTimeout   = int64(60 * time.Second)       // tcp_fin_timeout
	msPerNano    = int64(time.Millisecond)
	secondsNanos = int64(time.Second)
)

type tcpState uint8

const (
	tcpClosed      tcpState = iota // new, or finished (refused, reset, timed out)
	tcpListen                      // listening
	tcpSynSent                     // connect in progress
	tcpEstablished                 // connected, including half-closed
)

// tcpSock is a TCP socket.
type tcpSock struct {
	h        *Host
	inc      uint64 // host incarnation the socket belongs to
	fam      Family
	opts     options
	notifier Notifier

	state      tcpState
	connecting bool // connect started and its outcome not yet reported by connect (Linux's SS_CONNECTING)
	bnd        *binding
	local      netip.AddrPort // unmapped
	remote     netip.AddrPort // unmapped
	err        abi.Errno      // pending error (SO_ERROR)
	shutRd     bool           // RCV_SHUTDOWN: FIN received, SHUT_RD, or the connection ended
	shutWr     bool           // SEND_SHUTDOWN
	userShut   [2]bool        // shutdown(2) called for reading / writing
	appClosed  bool           // the application closed it; it lives on to finish sending
	activeFin  bool           // sent its FIN before receiving the peer's (goes to TIME_WAIT)
	gone       bool           // no longer answers: segments for it draw a RST
	finTimer   *event

	// Listening.
	backlog int
	acceptq []*tcpSock
	pending int // handshakes in progress, counted against the backlog

	// Connecting.
	syn *synAttempt

	// Connected.
	c        *conn
	side     int
	rcvq     []byte
	keep     *event
	probes   int
	lastRecv int64
}

func newTCP(h *Host, fam Family) *tcpSock {
	return &tcpSock{h: h, inc: h.inc, fam: fam, opts: defaultOptions(tcpSndBufDefault, tcpRcvBufDefault)}
}

func (s *tcpSock) alive() bool { return s.h.up && s.h.inc == s.inc }

func (s *tcpSock) notify() {
	if s.notifier != nil && s.alive() {
		s.notifier.Notify()
	}
}

func (s *tcpSock) takeErr() abi.Errno {
	e := s.err
	s.err = 0
	return e
}

// Family implements [Socket].
func (s *tcpSock) Family() Family { return s.fam }

// Type implements [Socket].
func (s *tcpSock) Type() Type { return Stream }

// SetNotify implements [Socket].
func (s *tcpSock) SetNotify(n Notifier) { s.notifier = n }

// Bind implements [Socket].
func (s *tcpSock) Bind(a Addr) error {
	ap, err := inetAddr(s.fam, a)
	if err != nil {
		return err
	}
	if s.bnd != nil || s.state != tcpClosed {
		return abi.EINVAL
	}
	if err := s.h.localBindable(ap.Addr()); err != nil {
		return err
	}
	b := &binding{ip: ap.Addr(), port: ap.Port(), v6only: s.opts.v6only, reuseAddr: s.opts.reuseAddr,
		reusePort: s.opts.reusePort, owner: s, listens: true}
	if err := s.h.bind(s.h.tcp, true, b); err != nil {
		return err
	}
	s.bnd = b
	s.local = netip.AddrPortFrom(b.ip, b.port)
	return nil
}

func (s *tcpSock) release() {
	if s.bnd != nil {
		if s.alive() {
			s.h.tcp.remove(s.bnd)
		}
		s.bnd = nil
	}
	if s.appClosed {
		s.gone = true
	}
	s.keep.cancel()
	s.keep = nil
}

// timeWait keeps the socket's port bound for TIME_WAIT after the socket is
// gone, as Linux's TIME_WAIT mini-socket does.
func (s *tcpSock) timeWait() {
	b := s.bnd
	s.bnd = nil
	s.gone = true
	s.keep.cancel()
	if b == nil || !s.alive() {
		return
	}
	b.owner, b.listens = nil, false
	h := s.h
	b.gone = h.n.at(h.n.now+timeWaitLen, &timeWaitEnd{h: h, inc: s.inc, b: b})
}

// Listen implements [Socket].
func (s *tcpSock) Listen(backlog int) error {
	switch s.state {
	case tcpListen:
		s.backlog = clampBacklog(backlog)
		return nil
	case tcpClosed:
	default:
		return abi.EINVAL
	}
	if s.connecting || s.c != nil {
		return abi.EINVAL
	}
	if s.bnd == nil {
		if err := s.Bind(Addr{Family: s.fam, IP: netip.AddrPortFrom(unspecified(s.fam), 0)}); err != nil {
			return err
		}
	}
	s.state = tcpListen
	if s.h.tcp.conflict(s.bnd, true) {
		s.state = tcpClosed
		return abi.EADDRINUSE
	}
	s.backlog = clampBacklog(backlog)
	return nil
}

func clampBacklog(b int) int {
	if b < 0 || b > somaxconn {
		return somaxconn
	}
	return b
}

func unspecified(fam Family) netip.Addr {
	if fam == Inet {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

// Accept implements [Socket].
func (s *tcpSock) Accept() (Socket, error) {
	if s.state != tcpListen {
		return nil, abi.EINVAL
	}
	if len(s.acceptq) == 0 {
		return nil, abi.EAGAIN
	}
	c := s.acceptq[0]
	s.acceptq = s.acceptq[1:]
	return c, nil
}

// Connect implements [Socket].
func (s *tcpSock) Connect(a Addr) error {
	switch s.state {
	case tcpListen:
		return abi.EISCONN
	case tcpSynSent:
		return abi.EALREADY
	case tcpEstablished:
		if s.connecting {
			s.connecting = false
			return nil
		}
		return abi.EISCONN
	}
	if s.connecting { // the attempt ended badly; report it once
		s.connecting = false
		if e := s.takeErr(); e != 0 {
			return e
		}
		return abi.ECONNABORTED
	}
	if s.c != nil { // a finished connection cannot be reused
		return abi.EISCONN
	}
	if a.Family == Unspec {
		return nil
	}
	dst, err := inetAddr(s.fam, a)
	if err != nil {
		return err
	}
	if s.fam == Inet6 && dst.Addr().Is4() && s.opts.v6only {
		return abi.ENETUNREACH
	}
	peer, src, err := s.h.route(dst.Addr())
	if err != nil {
		return err
	}
	if dst.Addr().IsUnspecified() {
		dst = netip.AddrPortFrom(src, dst.Port())
	}
	if s.bnd == nil {
		b := &binding{ip: netip.IPv4Unspecified(), v6only: true, reuseAddr: s.opts.reuseAddr, owner: s}
		if src.Is6() {
			b.ip = netip.IPv6Unspecified()
		}
		if err := s.h.bind(s.h.tcp, true, b); err != nil {
			return abi.EADDRNOTAVAIL
		}
		s.bnd = b
		s.local = netip.AddrPortFrom(src, b.port)
	} else if s.local.Addr().IsUnspecified() {
		s.local = netip.AddrPortFrom(src, s.local.Port())
	}
	s.remote = dst
	s.state = tcpSynSent
	s.connecting = true
	s.syn = &synAttempt{dst: dst, host: peer, start: s.h.n.now}
	s.sendSyn()
	return abi.EINPROGRESS
}

// synAttempt is a connect in progress.
type synAttempt struct {
	dst   netip.AddrPort
	host  *Host // nil: no host has the address
	start int64
	tries int
	timer *event
}

// sendSyn sends (or resends) the SYN of the current attempt and arms the
// retry timer: Linux retries at 1, 3, 7 … 63 s and gives up at 127 s, or
// at TCP_USER_TIMEOUT if that is earlier.
func (s *tcpSock) sendSyn() {
	a := s.syn
	n := s.h.n
	if n.reachable(s.h, a.host) {
		n.at(n.now+n.delay(s.h, a.host), &synArrival{s: s, a: a})
	} else {
		n.trace(TraceLost, 0, 0, 0)
	}
	next := a.start + synRTO*(int64(1)<<(a.tries+1)-1)
	if ut := int64(s.opts.userTimeout) * msPerNano; ut > 0 {
		next = min(next, a.start+ut)
	}
	a.timer = n.at(next, &synRetry{s: s, a: a})
}

func (s *tcpSock) synTimer(a *synAttempt) {
	if s.syn != a || !s.alive() {
		return
	}
	a.tries++
	ut := int64(s.opts.userTimeout) * msPerNano
	if (ut > 0 && s.h.n.now-a.start >= ut) || a.tries > synRetries {
		s.connectFailed(abi.ETIMEDOUT, 0)
		return
	}
	s.sendSyn()
}

func (s *tcpSock) connectFailed(err abi.Errno, connID uint64) {
	if s.syn != nil {
		s.syn.timer.cancel()
		s.syn = nil
	}
	s.state = tcpClosed
	s.err = err
	s.shutRd, s.shutWr = true, true
	s.release()
	s.h.n.trace(TraceConnect, connID, uint64(err))
	s.notify()
}

// synArrive handles the SYN at the destination host.
func (s *tcpSock) synArrive(a *synAttempt) {
	n := s.h.n
	b := a.host
	if s.syn != a || !s.alive() || !b.up {
		return
	}
	l := b.listener(a.dst, s.local)
	if l == nil {
		// No listener: a RST answers, and connect fails one RTT after it began.
		if n.reachable(b, s.h) {
			n.at(n.now+n.delay(b, s.h), &synRefused{s: s, a: a})
		}
		return
	}
	if len(l.acceptq)+l.pending > l.backlog {
		// A full accept queue drops the SYN; the client retries.
		n.trace(TraceLost, 0, 0, 0)
		return
	}
	if !n.reachable(b, s.h) {
		return // the SYN-ACK is lost: the same as a lost SYN
	}
	child := l.child(a.dst, s.local)
	c := n.newConn(s, child)
	l.pending++
	n.at(n.now+n.delay(b, s.h), &synAckArrival{s: s, a: a, c: c, l: l})
}

// listener finds the socket listening on dst (unmapped) for a SYN from src.
func (h *Host) listener(dst, src netip.AddrPort) *tcpSock {
	bs := h.tcp.lookup(dst.Addr(), dst.Port(), func(b *binding) bool {
		if !b.isListening() {
			return false
		}
		s := b.owner.(*tcpSock)
		return !(dst.Addr().Is4() && s.fam == Inet6 && s.opts.v6only)
	})
	switch len(bs) {
	case 0:
		return nil
	case 1:
		return bs[0].owner.(*tcpSock)
	}
	// SO_REUSEPORT group: Linux hashes the 4-tuple; a seeded choice is as
	// good and deterministic.
	return bs[h.pick.IntN(len(bs))].owner.(*tcpSock)
}

// child creates the server side of a connection to listener l.
func (l *tcpSock) child(local, remote netip.AddrPort) *tcpSock {
	c := &tcpSock{h: l.h, inc: l.h.inc, fam: l.fam, opts: l.opts, state: tcpEstablished, local: local, remote: remote}
	c.bnd = &binding{ip: local.Addr(), port: local.Port(), reuseAddr: l.opts.reuseAddr, reusePort: l.opts.reusePort, owner: c}
	l.h.tcp.add(c.bnd)
	c.lastRecv = l.h.n.now
	return c
}

// synAck handles the SYN-ACK at the client: the connection is established
// there; the final ACK puts it in the listener's accept queue one delay
// later.
func (s *tcpSock) synAck(a *synAttempt, c *conn, l *tcpSock) {
	n := s.h.n
	child := c.ends[1]
	if s.syn != a || !s.alive() {
		// The client gave up or is gone: the handshake dies.
		l.pending--
		c.dead = true
		child.release()
		return
	}
	a.timer.cancel()
	s.syn = nil
	s.state = tcpEstablished
	s.c, s.side = c, 0
	s.lastRecv = n.now
	n.trace(TraceConnect, c.id, 0)
	s.armKeepalive()
	s.notify()
	f := c.flows[0]
	when := n.now + n.delay(s.h, l.h)
	f.lastArrival = when
	n.at(when, &ackArrival{l: l, c: c})
}

// ackArrival is the handshake's final ACK reaching the listener l: the
// server side of c joins its accept queue.
func (l *tcpSock) ackArrival(c *conn) {
	n := c.n
	child := c.ends[1]
	l.pending--
	if !child.alive() {
		return // the server host died; the client finds out by retransmitting
	}
	if l.state != tcpListen || !l.alive() {
		child.abort()
		return
	}
	l.acceptq = append(l.acceptq, child)
	n.trace(TraceAccept, c.id)
	n.observe(Segment{Proto: abi.IpprotoTCP, From: c.addr[0], To: c.addr[1], Conn: c.id, Flags: FlagACK})
	child.armKeepalive()
	l.notify()
}

// conn is one TCP connection: ends[0] is the client, ends[1] the server;
// flows[i] carries the bytes ends[i] writes.
type conn struct {
	n     *Network
	id    uint64
	ends  [2]*tcpSock
	hosts [2]*Host
	inc   [2]uint64
	addr  [2]netip.AddrPort
	flows [2]*flow
	bytes [2]uint64
	dead  bool
}

func (n *Network) newConn(client, server *tcpSock) *conn {
	n.nextConn++
	c := &conn{n: n, id: n.nextConn, ends: [2]*tcpSock{client, server},
		hosts: [2]*Host{client.h, server.h}, inc: [2]uint64{client.inc, server.inc},
		addr: [2]netip.AddrPort{client.local, server.local}}
	server.c, server.side = c, 1
	for i := range c.flows {
		c.flows[i] = &flow{c: c, from: i, rto: rtoMin}
	}
	n.conns = append(n.conns, c)
	return c
}

func (c *conn) alive(side int) bool {
	h := c.hosts[side]
	return h.up && h.inc == c.inc[side]
}

// flow is one direction of a connection.
type flow struct {
	c           *conn
	from        int
	sndq        []byte // written and not yet delivered; the first inflight bytes are on the wire
	inflight    int
	seq         uint64 // stream offset of sndq[0]
	fin         bool   // a FIN follows sndq
	finSent     bool
	finDone     bool
	lastArrival int64 // deliveries of a flow never overtake each other
	epoch       uint64
	rto         int64
	retries     int
	lossStart   int64
	rtx         *event // retransmission timer, armed while data is lost
}

// pump transmits what the receiver has room for as one delivery.
func (f *flow) pump() {
	c := f.c
	n := c.n
	if c.dead || f.rtx != nil || !c.alive(f.from) || c.ends[f.from].state != tcpEstablished {
		return
	}
	to := c.ends[1-f.from]
	unsent := len(f.sndq) - f.inflight
	win := max(to.opts.rcvBuf-len(to.rcvq)-f.inflight, 0)
	sz := min(unsent, win)
	fin := f.fin && !f.finSent && sz == unsent
	if sz == 0 && !fin {
		return
	}
	a, b := c.hosts[f.from], c.hosts[1-f.from]
	sent := n.now
	// Both directions must work: data whose ACKs cannot return is
	// retransmitted just the same.
	if !n.reachable(a, b) || !n.reachable(b, a) {
		n.trace(TraceLost, c.id, uint64(f.from), uint64(sz))
		f.lost(sent)
		return
	}
	data := append([]byte(nil), f.sndq[f.inflight:f.inflight+sz]...)
	seq := f.seq + uint64(f.inflight)
	f.inflight += sz
	if fin {
		f.finSent = true
	}
	when := max(sent+n.delay(a, b), f.lastArrival)
	f.lastArrival = when
	n.at(when, &segmentArrival{f: f, data: data, seq: seq, fin: fin, sent: sent, epoch: f.epoch})
}

// lost records that what was on the wire is gone and arms the
// retransmission timer: RTO 200 ms doubling to 120 s, clamped to
// TCP_USER_TIMEOUT.
func (f *flow) lost(sent int64) {
	f.inflight = 0
	f.finSent = false
	f.epoch++
	if f.rtx != nil {
		return
	}
	n := f.c.n
	if f.retries == 0 {
		f.lossStart = sent
	}
	when := max(sent+f.rto, n.now)
	if ut := int64(f.c.ends[f.from].opts.userTimeout) * msPerNano; ut > 0 {
		when = min(when, max(f.lossStart+ut, n.now))
	}
	f.rtx = n.at(when, &retransmission{f: f})
}

func (f *flow) retransmit() {
	f.rtx = nil
	c := f.c
	if c.dead || !c.alive(f.from) || c.ends[f.from].state != tcpEstablished {
		return
	}
	f.retries++
	s := c.ends[f.from]
	ut := int64(s.opts.userTimeout) * msPerNano
	if (ut > 0 && c.n.now-f.lossStart >= ut) || (ut == 0 && f.retries > tcpRetries2) {
		c.timeout(f.from)
		return
	}
	f.rto = min(2*f.rto, rtoMax)
	f.pump()
}

// arrive delivers one segment at the receiving end.
func (f *flow) arrive(data []byte, seq uint64, fin bool, sent int64, epoch uint64) {
	c := f.c
	n := c.n
	if c.dead || epoch != f.epoch || seq != f.seq {
		return
	}
	ti := 1 - f.from
	b := c.hosts[ti]
	if !b.up { // the receiver died while the segment was on the wire
		n.trace(TraceLost, c.id, uint64(f.from), uint64(len(data)))
		f.lost(sent)
		return
	}
	if b.inc != c.inc[ti] { // restarted: it has never heard of the connection
		c.rstFrom(ti)
		return
	}
	to, from := c.ends[ti], c.ends[f.from]
	switch {
	case to.state != tcpEstablished:
		// A socket that is gone answers anything with a RST.
		c.rstFrom(ti)
		return
	case len(data) > 0 && to.appClosed:
		// Data for a socket that can no longer read draws a RST (RFC 1122;
		// Linux's "abort on data").
		to.state = tcpClosed
		to.release()
		c.rstFrom(ti)
		return
	case len(data) > 0 && to.userShut[0] && to.userShut[1]:
		to.fail(abi.ECONNRESET)
		c.rstFrom(ti)
		return
	}
	to.rcvq = append(to.rcvq, data...)
	f.sndq = f.sndq[len(data):]
	f.inflight -= len(data)
	f.seq += uint64(len(data))
	c.bytes[f.from] += uint64(len(data))
	if f.rtx == nil {
		f.retries, f.rto = 0, rtoMin
	}
	to.lastRecv, from.lastRecv = n.now, n.now
	to.probes, from.probes = 0, 0
	var flags SegFlags = FlagACK
	if fin {
		f.finDone = true
		to.shutRd = true
		flags |= FlagFIN
	}
	n.trace(TraceDeliver, c.id, uint64(f.from), seq, uint64(len(data)), uint64(b2i(fin)))
	n.observe(Segment{Proto: abi.IpprotoTCP, From: c.addr[f.from], To: c.addr[ti], Conn: c.id, Seq: seq, Len: len(data), Flags: flags, Payload: data})
	to.notify()
	from.notify()
	c.settle()
	f.pump()
}

// rstFrom sends a RST from side i (which is closed, gone, or restarted)
// to the other side, which fails with ECONNRESET when it arrives, after
// whatever side i sent before. If the RST is lost, the other side's next
// segment draws another.
func (c *conn) rstFrom(i int) {
	n := c.n
	c.flows[i].rtx.cancel()
	c.flows[i].rtx = nil
	a, b := c.hosts[i], c.hosts[1-i]
	if !n.reachable(a, b) {
		n.trace(TraceLost, c.id, uint64(i), 0)
		return
	}
	when := max(n.now+n.delay(a, b), c.flows[i].lastArrival)
	n.at(when, &rstArrival{c: c, from: i, inc: c.inc[1-i]})
}

// rstArrival is a RST from side i reaching the other side, which was in
// incarnation inc when it was sent.
func (c *conn) rstArrival(i int, inc uint64) {
	n := c.n
	b, to := c.hosts[1-i], c.ends[1-i]
	if c.dead || b.inc != inc || !b.up || to.state != tcpEstablished {
		return
	}
	n.trace(TraceReset, c.id, uint64(1-i), uint64(abi.ECONNRESET))
	n.observe(Segment{Proto: abi.IpprotoTCP, From: c.addr[i], To: c.addr[1-i], Conn: c.id, Flags: FlagRST})
	to.fail(abi.ECONNRESET)
	c.kill()
}

func (c *conn) kill() {
	c.dead = true
	for _, f := range c.flows {
		f.rtx.cancel()
		f.rtx = nil
	}
}

// timeout ends the connection for side i, which gets ETIMEDOUT; the peer
// hears nothing (its next segment draws a RST, if it gets through).
func (c *conn) timeout(i int) {
	c.flows[i].rtx.cancel()
	c.flows[i].rtx = nil
	c.n.trace(TraceTimeout, c.id, uint64(i))
	c.ends[i].fail(abi.ETIMEDOUT)
}

// fail ends s's connection with err (unless the application closed it).
func (s *tcpSock) fail(err abi.Errno) {
	if s.state != tcpEstablished {
		return
	}
	s.state = tcpClosed
	s.shutRd, s.shutWr = true, true
	s.release()
	if !s.appClosed {
		s.err = err
	}
	if c := s.c; c != nil && c.ends[1-s.side].state != tcpEstablished {
		c.kill()
	}
	s.notify()
}

// abort closes s with a RST (close with unread data, SO_LINGER 0, or a
// listener closing with connections in its queue).
func (s *tcpSock) abort() {
	was := s.state
	s.state = tcpClosed
	s.gone = true
	s.release()
	if c := s.c; c != nil && !c.dead && was == tcpEstablished {
		c.rstFrom(s.side)
	}
}

// settle releases the ports of closed sockets whose connection is over:
// the side that closed first keeps its port in TIME_WAIT.
func (c *conn) settle() {
	for i, s := range c.ends {
		if !s.appClosed || s.gone {
			continue
		}
		mine, theirs := c.flows[i].finDone, c.flows[1-i].finDone
		switch {
		case mine && theirs:
			s.finTimer.cancel()
			s.state = tcpClosed
			if s.activeFin {
				s.timeWait()
			} else {
				s.release()
			}
		case mine && s.finTimer == nil:
			// FIN_WAIT2 of an orphan ends after tcp_fin_timeout.
			s.finTimer = c.n.at(c.n.now+finTimeout, &finTimeoutEnd{s: s})
		}
	}
	if c.ends[0].state != tcpEstablished && c.ends[1].state != tcpEstablished {
		c.kill()
	}
}

// Send implements [Socket].
func (s *tcpSock) Send(b []byte, to *Addr) (int, error) {
	switch s.state {
	case tcpSynSent:
		return 0, abi.EAGAIN
	case tcpListen, tcpClosed:
		if e := s.takeErr(); e != 0 {
			return 0, e
		}
		return 0, abi.EPIPE
	}
	if s.err != 0 {
		return 0, s.takeErr()
	}
	if s.shutWr {
		return 0, abi.EPIPE
	}
	f := s.c.flows[s.side]
	free := s.opts.sndBuf - len(f.sndq)
	if free <= 0 {
		return 0, abi.EAGAIN
	}
	k := min(free, len(b))
	f.sndq = append(f.sndq, b[:k]...)
	f.pump()
	return k, nil
}

// Recv implements [Socket].
func (s *tcpSock) Recv(b []byte, fl RecvFlags) (int, int, Addr, error) {
	if s.state == tcpListen {
		return 0, 0, Addr{}, abi.ENOTCONN
	}
	if len(b) == 0 {
		return 0, 0, Addr{}, nil
	}
	if len(s.rcvq) > 0 {
		k := copy(b, s.rcvq)
		if fl&Peek == 0 {
			s.rcvq = s.rcvq[k:]
			if len(s.rcvq) == 0 {
				s.rcvq = nil
			}
			if s.c != nil {
				s.c.flows[1-s.side].pump() // the window opened
			}
		}
		return k, k, Addr{}, nil
	}
	if s.c != nil && s.c.flows[1-s.side].finDone {
		return 0, 0, Addr{}, nil
	}
	if s.err != 0 {
		return 0, 0, Addr{}, s.takeErr()
	}
	if s.shutRd {
		return 0, 0, Addr{}, nil
	}
	if s.state == tcpClosed {
		return 0, 0, Addr{}, abi.ENOTCONN
	}
	return 0, 0, Addr{}, abi.EAGAIN
}

// Shutdown implements [Socket].
func (s *tcpSock) Shutdown(how int) error {
	if how < abi.ShutRd || how > abi.ShutRdwr {
		return abi.EINVAL
	}
	rd, wr := how != abi.ShutWr, how != abi.ShutRd
	switch s.state {
	case tcpClosed:
		s.shutRd = s.shutRd || rd
		s.shutWr = s.shutWr || wr
		s.notify()
		return abi.ENOTCONN
	case tcpListen:
		if rd {
			s.stopListening()
			s.notify()
		}
		return nil
	case tcpSynSent:
		s.syn.timer.cancel()
		s.syn = nil
		s.state = tcpClosed
		s.connecting = false
		s.release()
		s.notify()
		return nil
	}
	if rd {
		s.userShut[0] = true
		s.shutRd = true
	}
	if wr {
		s.userShut[1] = true
		s.sendFin()
	}
	s.notify()
	return nil
}

func (s *tcpSock) sendFin() {
	if s.shutWr {
		return
	}
	s.shutWr = true
	if s.c == nil || s.c.dead {
		return
	}
	f := s.c.flows[s.side]
	s.activeFin = !s.c.flows[1-s.side].finDone
	f.fin = true
	f.pump()
}

func (s *tcpSock) stopListening() {
	for _, c := range s.acceptq {
		c.abort()
	}
	s.acceptq = nil
	s.state = tcpClosed
	s.release()
}

// Close implements [Socket].
func (s *tcpSock) Close() {
	if s.appClosed {
		return
	}
	switch s.state {
	case tcpListen:
		s.appClosed = true
		s.stopListening()
		return
	case tcpSynSent:
		s.syn.timer.cancel()
		s.syn = nil
	case tcpEstablished:
		s.appClosed = true
		if len(s.rcvq) > 0 || s.opts.linger == 0 {
			s.abort()
			return
		}
		s.keep.cancel()
		s.sendFin()
		s.c.settle()
		return
	}
	s.appClosed = true
	s.state = tcpClosed
	s.release()
}

// LocalAddr implements [Socket].
func (s *tcpSock) LocalAddr() Addr {
	if !s.local.IsValid() {
		return present(s.fam, netip.AddrPortFrom(unspecified(s.fam), 0))
	}
	return present(s.fam, s.local)
}

// PeerAddr implements [Socket].
func (s *tcpSock) PeerAddr() (Addr, error) {
	if s.state != tcpEstablished {
		return Addr{}, abi.ENOTCONN
	}
	return present(s.fam, s.remote), nil
}

// Events implements [Socket], as Linux's tcp_poll.
func (s *tcpSock) Events() uint32 {
	if s.state == tcpListen {
		if len(s.acceptq) > 0 {
			return abi.EpollIn
		}
		return 0
	}
	var ev uint32
	if s.err != 0 {
		ev |= abi.EpollErr
	}
	if (s.shutRd && s.shutWr) || s.state == tcpClosed {
		ev |= abi.EpollHup
	}
	if s.shutRd {
		ev |= abi.EpollIn | abi.EpollRdhup
	}
	if s.state != tcpSynSent {
		if len(s.rcvq) > 0 {
			ev |= abi.EpollIn
		}
		if s.shutWr || s.writable() {
			ev |= abi.EpollOut
		}
	}
	return ev
}

// writable is Linux's sk_stream_is_writeable: free space at least half
// of what is queued.
func (s *tcpSock) writable() bool {
	q := 0
	if s.c != nil {
		q = len(s.c.flows[s.side].sndq)
	}
	free := s.opts.sndBuf - q
	return free > 0 && 2*free >= q
}

// SetOption implements [Socket].
func (s *tcpSock) SetOption(o Option, v int) error {
	switch o {
	case OptKeepIdle, OptKeepIntvl:
		if v < 1 || v > maxKeepIdle {
			return abi.EINVAL
		}
		if o == OptKeepIdle {
			s.opts.keepIdle = v
		} else {
			s.opts.keepIntvl = v
		}
		s.armKeepalive()
		return nil
	case OptKeepCnt:
		if v < 1 || v > 127 {
			return abi.EINVAL
		}
		s.opts.keepCnt = v
		return nil
	case OptNoDelay:
		s.opts.noDelay = v != 0
		return nil
	case OptUserTimeout:
		if v < 0 {
			return abi.EINVAL
		}
		s.opts.userTimeout = v
		return nil
	case OptV6Only:
		if s.fam != Inet6 {
			return abi.ENOPROTOOPT
		}
		if s.bnd != nil {
			return abi.EINVAL
		}
		s.opts.v6only = v != 0
		return nil
	}
	ok, err := s.opts.set(o, v)
	if !ok {
		return abi.ENOPROTOOPT
	}
	if o == OptKeepAlive {
		s.armKeepalive()
	}
	return err
}

// Option implements [Socket].
func (s *tcpSock) Option(o Option) (int, error) {
	switch o {
	case OptKeepIdle:
		return s.opts.keepIdle, nil
	case OptKeepIntvl:
		return s.opts.keepIntvl, nil
	case OptKeepCnt:
		return s.opts.keepCnt, nil
	case OptNoDelay:
		return b2i(s.opts.noDelay), nil
	case OptUserTimeout:
		return s.opts.userTimeout, nil
	case OptV6Only:
		if s.fam != Inet6 {
			return 0, abi.ENOPROTOOPT
		}
		return b2i(s.opts.v6only), nil
	case OptError:
		return int(s.takeErr()), nil
	case OptAcceptConn:
		return b2i(s.state == tcpListen), nil
	}
	if v, ok := s.opts.get(o); ok {
		return v, nil
	}
	return 0, abi.ENOPROTOOPT
}

// Info implements [Socket].
func (s *tcpSock) Info() Info {
	in := Info{RTO: rtoMin}
	switch s.state {
	case tcpListen:
		in.State = abi.TcpListen
	case tcpSynSent:
		in.State = abi.TcpSynSent
	case tcpEstablished:
		in.State = abi.TcpEstablished
	default:
		in.State = abi.TcpClose
	}
	if c := s.c; c != nil {
		f := c.flows[s.side]
		in.Retransmits = uint8(min(f.retries, 255))
		in.RTO = f.rto
		in.RTT = c.n.delay(c.hosts[0], c.hosts[1]) + c.n.delay(c.hosts[1], c.hosts[0])
		in.BytesSent, in.BytesRecv = c.bytes[s.side], c.bytes[1-s.side]
	}
	return in
}

// armKeepalive (re)arms the keepalive timer of a connected socket with
// SO_KEEPALIVE.
func (s *tcpSock) armKeepalive() {
	s.keep.cancel()
	s.keep = nil
	if !s.opts.keepAlive || s.state != tcpEstablished || s.c == nil || s.c.dead || s.appClosed {
		return
	}
	n := s.h.n
	s.keep = n.at(s.lastRecv+int64(s.opts.keepIdle)*secondsNanos, &keepaliveTimer{s: s})
}

// keepalive probes an idle connection: after TCP_KEEPIDLE without
// receiving anything, a probe every TCP_KEEPINTVL; TCP_KEEPCNT unanswered
// probes (or TCP_USER_TIMEOUT, if set) end it with ETIMEDOUT, and a peer
// that restarted answers with a RST.
func (s *tcpSock) keepalive() {
	s.keep = nil
	c := s.c
	if c == nil || c.dead || !s.alive() || s.state != tcpEstablished || !s.opts.keepAlive {
		return
	}
	n := s.h.n
	idle := int64(s.opts.keepIdle) * secondsNanos
	f := c.flows[s.side]
	if len(f.sndq) > 0 || f.rtx != nil {
		// Unacknowledged data: retransmission handles a dead peer.
		s.keep = n.at(n.now+idle, &keepaliveTimer{s: s})
		return
	}
	elapsed := n.now - s.lastRecv
	if elapsed < idle {
		s.keep = n.at(s.lastRecv+idle, &keepaliveTimer{s: s})
		return
	}
	ut := int64(s.opts.userTimeout) * msPerNano
	if (ut > 0 && elapsed >= ut && s.probes > 0) || (ut == 0 && s.probes >= s.opts.keepCnt) {
		c.timeout(s.side)
		return
	}
	s.probes++
	a, b := c.hosts[s.side], c.hosts[1-s.side]
	if n.reachable(a, b) && n.reachable(b, a) {
		peer := c.ends[1-s.side]
		back := n.now + n.delay(a, b) + n.delay(b, a)
		if b.inc != c.inc[1-s.side] || peer.state != tcpEstablished {
			n.at(n.now+n.delay(a, b), &probeRst{c: c, from: 1 - s.side})
		} else {
			n.at(back, &probeAck{s: s, c: c})
		}
	}
	s.keep = n.at(n.now+int64(s.opts.keepIntvl)*secondsNanos, &keepaliveTimer{s: s})
}
