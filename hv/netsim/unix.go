package netsim

import (
	"fmt"

	"github.com/mvrun/multiverse/hv/abi"
)

// maxDgramQlen is net.unix.max_dgram_qlen: a datagram socket's receive
// queue holds this many datagrams (plus one) before senders get EAGAIN.
const maxDgramQlen = 10

type unixState uint8

const (
	unixUnconnected unixState = iota
	unixListening
	unixConnected
	unixClosed
)

// unixSock is an AF_UNIX socket. Unix sockets are host-local and
// immediate: a write is in the peer's receive queue when it returns.
type unixSock struct {
	h        *Host
	inc      uint64
	typ      Type
	opts     options
	notifier Notifier

	name, key string // bound name ("" unnamed) and registry key
	state     unixState
	peer      *unixSock // connected peer (stream, seqpacket, connected dgram)
	peerName  string
	err       abi.Errno
	shutRd    bool
	shutWr    bool
	rcv       []unixMsg
	rcvBytes  int
	backlog   int
	acceptq   []*unixSock
	// blocked are sockets that got EAGAIN sending or connecting to this
	// one; they are notified when it makes room.
	blocked []*unixSock
	// sent counts bytes this socket wrote that its peer has not read
	// (Linux charges them to the writer's SO_SNDBUF).
	sent int
}

type unixMsg struct {
	from   *unixSock
	fromNm string
	data   []byte
}

// unixBinding is an entry of a host's AF_UNIX name registry.
type unixBinding struct{ s *unixSock }

func newUnix(h *Host, typ Type) *unixSock {
	return &unixSock{h: h, inc: h.inc, typ: typ, opts: defaultOptions(unixBufDefault, unixBufDefault)}
}

func connectUnixPair(a, b *unixSock) {
	a.peer, b.peer = b, a
	a.state, b.state = unixConnected, unixConnected
}

func (s *unixSock) alive() bool { return s.state != unixClosed && s.h.up && s.h.inc == s.inc }

func (s *unixSock) notify() {
	if s.notifier != nil && s.alive() {
		s.notifier.Notify()
	}
}

func (s *unixSock) wakeBlocked() {
	bs := s.blocked
	s.blocked = nil
	for _, b := range bs {
		b.notify()
	}
}

func (s *unixSock) addBlocked(b *unixSock) {
	for _, x := range s.blocked {
		if x == b {
			return
		}
	}
	s.blocked = append(s.blocked, b)
}

// Family implements [Socket].
func (s *unixSock) Family() Family { return Unix }

// Type implements [Socket].
func (s *unixSock) Type() Type { return s.typ }

// SetNotify implements [Socket].
func (s *unixSock) SetNotify(n Notifier) { s.notifier = n }

// Bind implements [Socket]. An empty name autobinds an abstract name, as
// Linux does.
func (s *unixSock) Bind(a Addr) error {
	if a.Family != Unix {
		return abi.EINVAL
	}
	if s.name != "" {
		return abi.EINVAL
	}
	if a.Name == "" {
		return s.autobind()
	}
	key := a.unixKey()
	if _, ok := s.h.unix[key]; ok {
		return abi.EADDRINUSE
	}
	s.h.unix[key] = unixBinding{s}
	s.name, s.key = a.Name, key
	return nil
}

// autobind picks an unused abstract name of five hex digits, drawn from
// the host's seeded stream.
func (s *unixSock) autobind() error {
	for range 1 << 20 {
		name := fmt.Sprintf("\x00%05x", s.h.ports.IntN(1<<20))
		if _, ok := s.h.unix[name]; !ok {
			s.h.unix[name] = unixBinding{s}
			s.name, s.key = name, name
			return nil
		}
	}
	return abi.ENOSPC
}

// Listen implements [Socket].
func (s *unixSock) Listen(backlog int) error {
	if s.typ == Dgram {
		return abi.EOPNOTSUPP
	}
	switch s.state {
	case unixUnconnected, unixListening:
	default:
		return abi.EINVAL
	}
	if s.name == "" {
		return abi.EINVAL
	}
	s.state = unixListening
	s.backlog = clampBacklog(backlog)
	return nil
}

// Accept implements [Socket].
func (s *unixSock) Accept() (Socket, error) {
	if s.typ == Dgram {
		return nil, abi.EOPNOTSUPP
	}
	if s.state != unixListening {
		return nil, abi.EINVAL
	}
	if len(s.acceptq) == 0 {
		return nil, abi.EAGAIN
	}
	c := s.acceptq[0]
	s.acceptq = s.acceptq[1:]
	s.wakeBlocked()
	return c, nil
}

func (s *unixSock) lookup(a Addr) (*unixSock, error) {
	if a.Family != Unix {
		return nil, abi.EINVAL
	}
	if a.Name == "" {
		return nil, abi.EINVAL
	}
	b, ok := s.h.unix[a.unixKey()]
	if !ok || !b.s.alive() {
		return nil, abi.ECONNREFUSED
	}
	if b.s.typ != s.typ {
		return nil, abi.EPROTOTYPE
	}
	return b.s, nil
}

// Connect implements [Socket]: immediate for AF_UNIX; EAGAIN while the
// listener's queue is full.
func (s *unixSock) Connect(a Addr) error {
	if s.typ == Dgram {
		if a.Family == Unspec {
			s.peer, s.peerName = nil, ""
			s.state = unixUnconnected
			return nil
		}
		p, err := s.lookup(a)
		if err != nil {
			return err
		}
		s.peer, s.peerName = p, p.name
		s.state = unixConnected
		return nil
	}
	switch s.state {
	case unixConnected:
		return abi.EISCONN
	case unixListening:
		return abi.EINVAL
	case unixClosed:
		return abi.EINVAL
	}
	l, err := s.lookup(a)
	if err != nil {
		return err
	}
	if l.state != unixListening {
		return abi.ECONNREFUSED
	}
	if len(l.acceptq) > l.backlog {
		l.addBlocked(s)
		return abi.EAGAIN
	}
	c := newUnix(s.h, s.typ)
	c.opts = l.opts
	c.name = l.name
	connectUnixPair(s, c)
	s.peerName = l.name
	c.peerName = s.name
	l.acceptq = append(l.acceptq, c)
	l.notify()
	return nil
}

// Send implements [Socket].
func (s *unixSock) Send(b []byte, to *Addr) (int, error) {
	if s.typ == Dgram {
		return s.sendDgram(b, to)
	}
	if s.state != unixConnected {
		if s.state == unixListening || s.state == unixUnconnected {
			return 0, abi.ENOTCONN
		}
		return 0, abi.EPIPE
	}
	p := s.peer
	if s.shutWr || p.shutRd || !p.alive() {
		return 0, abi.EPIPE
	}
	if s.typ == Seqpacket && len(b) > s.opts.sndBuf-32 {
		return 0, abi.EMSGSIZE
	}
	free := s.opts.sndBuf - s.sent
	if free <= 0 || (s.typ == Seqpacket && free < len(b)) {
		p.addBlocked(s)
		return 0, abi.EAGAIN
	}
	k := min(free, len(b))
	p.rcv = append(p.rcv, unixMsg{from: s, fromNm: s.name, data: append([]byte(nil), b[:k]...)})
	p.rcvBytes += k
	s.sent += k
	p.notify()
	return k, nil
}

func (s *unixSock) sendDgram(b []byte, to *Addr) (int, error) {
	if s.shutWr {
		return 0, abi.EPIPE
	}
	var r *unixSock
	switch {
	case to != nil:
		p, err := s.lookup(*to)
		if err != nil {
			return 0, err
		}
		r = p
	case s.state == unixConnected:
		r = s.peer
		if !r.alive() {
			return 0, abi.ECONNREFUSED
		}
	default:
		return 0, abi.ENOTCONN
	}
	if len(b) > s.opts.sndBuf-32 {
		return 0, abi.EMSGSIZE
	}
	if r.shutRd {
		return 0, abi.EPIPE
	}
	if len(r.rcv) > maxDgramQlen || s.sent+len(b) > s.opts.sndBuf {
		r.addBlocked(s)
		return 0, abi.EAGAIN
	}
	r.rcv = append(r.rcv, unixMsg{from: s, fromNm: s.name, data: append([]byte(nil), b...)})
	r.rcvBytes += len(b)
	s.sent += len(b)
	r.notify()
	return len(b), nil
}

// Recv implements [Socket]. Stream sockets read across writes; datagram
// and seqpacket sockets read one message, truncated to b.
func (s *unixSock) Recv(b []byte, fl RecvFlags) (int, int, Addr, error) {
	if s.state == unixListening {
		return 0, 0, Addr{}, abi.EINVAL
	}
	if len(s.rcv) > 0 {
		if s.typ != Stream {
			m := s.rcv[0]
			k := copy(b, m.data)
			if fl&Peek == 0 {
				s.rcv = s.rcv[1:]
				s.consumed(m.from, len(m.data))
			}
			return k, len(m.data), Addr{Family: Unix, Name: m.fromNm}, nil
		}
		if len(b) == 0 {
			return 0, 0, Addr{}, nil
		}
		k := 0
		for i := 0; i < len(s.rcv) && k < len(b); i++ {
			m := &s.rcv[i]
			c := copy(b[k:], m.data)
			k += c
		}
		if fl&Peek == 0 {
			left := k
			for left > 0 {
				m := &s.rcv[0]
				c := min(left, len(m.data))
				m.data = m.data[c:]
				left -= c
				s.consumed(m.from, c)
				if len(m.data) == 0 {
					s.rcv = s.rcv[1:]
				}
			}
		}
		return k, k, Addr{}, nil
	}
	if s.err != 0 {
		e := s.err
		s.err = 0
		return 0, 0, Addr{}, e
	}
	if s.shutRd {
		return 0, 0, Addr{}, nil
	}
	if s.typ != Dgram && s.state != unixConnected {
		if s.state == unixUnconnected {
			return 0, 0, Addr{}, abi.EINVAL
		}
		return 0, 0, Addr{}, nil
	}
	return 0, 0, Addr{}, abi.EAGAIN
}

// consumed returns n bytes of from's send allowance and wakes writers
// waiting for room.
func (s *unixSock) consumed(from *unixSock, n int) {
	s.rcvBytes -= n
	if from != nil {
		from.sent -= n
		from.notify()
	}
	s.wakeBlocked()
}

// Shutdown implements [Socket]: for connected stream and seqpacket
// sockets it shuts the peer's other direction too, so the peer reads EOF
// (SHUT_WR) or gets EPIPE writing (SHUT_RD).
func (s *unixSock) Shutdown(how int) error {
	if how < abi.ShutRd || how > abi.ShutRdwr {
		return abi.EINVAL
	}
	if s.state != unixConnected && s.typ != Dgram {
		return abi.ENOTCONN
	}
	rd, wr := how != abi.ShutWr, how != abi.ShutRd
	s.shutRd = s.shutRd || rd
	s.shutWr = s.shutWr || wr
	if p := s.peer; p != nil && s.typ != Dgram {
		p.shutWr = p.shutWr || rd
		p.shutRd = p.shutRd || wr
		p.notify()
	}
	s.wakeBlocked()
	s.notify()
	return nil
}

// Close implements [Socket].
func (s *unixSock) Close() {
	if s.state == unixClosed {
		return
	}
	was := s.state
	s.state = unixClosed
	if s.key != "" && s.h.inc == s.inc {
		if b, ok := s.h.unix[s.key]; ok && b.s == s {
			delete(s.h.unix, s.key)
		}
	}
	if was == unixListening {
		// Connections nobody accepted are reset.
		for _, c := range s.acceptq {
			c.rcv = nil
			c.closeConn(true)
		}
		s.acceptq = nil
	}
	if was == unixConnected && s.typ != Dgram {
		s.closeConn(len(s.rcv) > 0)
	}
	for _, m := range s.rcv {
		if m.from != nil {
			m.from.sent -= len(m.data)
			m.from.notify()
		}
	}
	s.rcv = nil
	s.wakeBlocked()
}

// closeConn tells a connected peer that s is gone: it can no longer write
// and reads EOF after the data, or ECONNRESET if s left data unread.
func (s *unixSock) closeConn(reset bool) {
	s.state = unixClosed
	p := s.peer
	if p == nil || !p.alive() {
		return
	}
	p.shutRd, p.shutWr = true, true
	if reset {
		p.err = abi.ECONNRESET
	}
	p.notify()
}

// LocalAddr implements [Socket].
func (s *unixSock) LocalAddr() Addr { return Addr{Family: Unix, Name: s.name} }

// PeerAddr implements [Socket].
func (s *unixSock) PeerAddr() (Addr, error) {
	if s.state != unixConnected {
		return Addr{}, abi.ENOTCONN
	}
	return Addr{Family: Unix, Name: s.peerName}, nil
}

// Events implements [Socket], as Linux's unix_poll and unix_dgram_poll.
func (s *unixSock) Events() uint32 {
	if s.state == unixListening {
		if len(s.acceptq) > 0 {
			return abi.EpollIn
		}
		return 0
	}
	var ev uint32
	if s.err != 0 {
		ev |= abi.EpollErr
	}
	if s.shutRd && s.shutWr {
		ev |= abi.EpollHup
	}
	if s.shutRd {
		ev |= abi.EpollIn | abi.EpollRdhup
	}
	if len(s.rcv) > 0 {
		ev |= abi.EpollIn
	}
	if s.typ != Dgram && s.state != unixConnected {
		ev |= abi.EpollHup
	}
	writable := 4*s.sent <= s.opts.sndBuf
	if s.typ == Dgram && s.state == unixConnected && s.peer.alive() && len(s.peer.rcv) > maxDgramQlen {
		writable = false
	}
	if writable {
		ev |= abi.EpollOut
	}
	return ev
}

// SetOption implements [Socket].
func (s *unixSock) SetOption(o Option, v int) error {
	ok, err := s.opts.set(o, v)
	if !ok {
		return abi.EOPNOTSUPP
	}
	return err
}

// Option implements [Socket].
func (s *unixSock) Option(o Option) (int, error) {
	switch o {
	case OptError:
		e := s.err
		s.err = 0
		return int(e), nil
	case OptAcceptConn:
		return b2i(s.state == unixListening), nil
	}
	if v, ok := s.opts.get(o); ok {
		return v, nil
	}
	return 0, abi.ENOPROTOOPT
}

// Info implements [Socket]; TCP_INFO does not apply to AF_UNIX.
func (s *unixSock) Info() Info { return Info{} }
