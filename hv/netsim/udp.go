package netsim

import (
	"net/netip"

	"github.com/mvrun/multiverse/hv/abi"
)

// udpOverhead approximates the per-datagram memory Linux charges to a
// receive buffer (the skb's truesize beyond the payload), so small
// datagrams fill SO_RCVBUF after a few hundred, as they do on Linux.
const udpOverhead = 512

// Largest UDP payloads.
const (
	maxUDP4 = 65507
	maxUDP6 = 65527
)

// udpSock is a UDP socket.
type udpSock struct {
	h        *Host
	inc      uint64
	fam      Family
	opts     options
	notifier Notifier

	bnd       *binding
	local     netip.AddrPort // unmapped
	remote    netip.AddrPort // unmapped, if connected
	connected bool
	err       abi.Errno
	shutRd    bool
	shutWr    bool
	closed    bool
	rcvq      []datagram
	rcvBytes  int
}

type datagram struct {
	from netip.AddrPort // unmapped
	data []byte
}

func newUDP(h *Host, fam Family) *udpSock {
	return &udpSock{h: h, inc: h.inc, fam: fam, opts: defaultOptions(udpBufDefault, udpBufDefault)}
}

func (s *udpSock) alive() bool { return !s.closed && s.h.up && s.h.inc == s.inc }

func (s *udpSock) notify() {
	if s.notifier != nil && s.alive() {
		s.notifier.Notify()
	}
}

// Family implements [Socket].
func (s *udpSock) Family() Family { return s.fam }

// Type implements [Socket].
func (s *udpSock) Type() Type { return Dgram }

// SetNotify implements [Socket].
func (s *udpSock) SetNotify(n Notifier) { s.notifier = n }

// Bind implements [Socket].
func (s *udpSock) Bind(a Addr) error {
	ap, err := inetAddr(s.fam, a)
	if err != nil {
		return err
	}
	if s.bnd != nil {
		return abi.EINVAL
	}
	if err := s.h.localBindable(ap.Addr()); err != nil {
		return err
	}
	return s.bindTo(ap.Addr(), ap.Port())
}

func (s *udpSock) bindTo(ip netip.Addr, port uint16) error {
	b := &binding{ip: ip, port: port, v6only: s.opts.v6only || s.fam == Inet, reuseAddr: s.opts.reuseAddr,
		reusePort: s.opts.reusePort, owner: s}
	if err := s.h.bind(s.h.udp, false, b); err != nil {
		return err
	}
	s.bnd = b
	s.local = netip.AddrPortFrom(b.ip, b.port)
	return nil
}

// Listen implements [Socket]: not for datagram sockets.
func (s *udpSock) Listen(int) error { return abi.EOPNOTSUPP }

// Accept implements [Socket]: not for datagram sockets.
func (s *udpSock) Accept() (Socket, error) { return nil, abi.EOPNOTSUPP }

// Connect implements [Socket]: it sets the default destination and the
// only source datagrams are accepted from; AF_UNSPEC dissolves it.
func (s *udpSock) Connect(a Addr) error {
	if a.Family == Unspec {
		s.connected = false
		s.remote = netip.AddrPort{}
		return nil
	}
	dst, err := inetAddr(s.fam, a)
	if err != nil {
		return err
	}
	if s.fam == Inet6 && dst.Addr().Is4() && s.opts.v6only {
		return abi.ENETUNREACH
	}
	_, src, err := s.h.route(dst.Addr())
	if err != nil {
		return err
	}
	if dst.Addr().IsUnspecified() {
		dst = netip.AddrPortFrom(src, dst.Port())
	}
	if s.bnd == nil {
		if err := s.bindTo(unspecified(s.fam), 0); err != nil {
			return abi.EAGAIN // Linux: no ephemeral port left
		}
	}
	if s.local.Addr().IsUnspecified() {
		s.local = netip.AddrPortFrom(src, s.local.Port())
	}
	s.remote = dst
	s.connected = true
	return nil
}

// Send implements [Socket].
func (s *udpSock) Send(b []byte, to *Addr) (int, error) {
	if s.err != 0 {
		e := s.err
		s.err = 0
		return 0, e
	}
	if s.shutWr {
		return 0, abi.EPIPE
	}
	var dst netip.AddrPort
	switch {
	case to != nil:
		d, err := inetAddr(s.fam, *to)
		if err != nil {
			return 0, err
		}
		dst = d
	case s.connected:
		dst = s.remote
	default:
		return 0, abi.EDESTADDRREQ
	}
	if (dst.Addr().Is4() && len(b) > maxUDP4) || len(b) > maxUDP6 {
		return 0, abi.EMSGSIZE
	}
	if dst.Addr() == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		if !s.opts.broadcast {
			return 0, abi.EACCES
		}
		return 0, abi.ENETUNREACH // broadcast is not simulated
	}
	if s.fam == Inet6 && dst.Addr().Is4() && s.opts.v6only {
		return 0, abi.ENETUNREACH
	}
	peer, src, err := s.h.route(dst.Addr())
	if err != nil {
		return 0, err
	}
	if dst.Addr().IsUnspecified() {
		dst = netip.AddrPortFrom(src, dst.Port())
	}
	if s.bnd == nil {
		if err := s.bindTo(unspecified(s.fam), 0); err != nil {
			return 0, abi.EAGAIN
		}
	}
	from := s.local
	if from.Addr().IsUnspecified() {
		from = netip.AddrPortFrom(src, from.Port())
	}
	n := s.h.n
	copies, delay := 1, n.delay(s.h, peer)
	switch {
	case peer == s.h:
	case !n.reachable(s.h, peer):
		copies = 0
	default:
		drop, c, d := n.links.Datagram(s.h.name, peer.name)
		copies, delay = max(c, 1), int64(d)
		if drop {
			copies = 0
		}
	}
	toIdx := uint64(1<<63 - 1)
	if peer != nil {
		toIdx = uint64(peer.idx)
	}
	if copies == 0 {
		n.trace(TraceDatagram, uint64(s.h.idx), toIdx, uint64(dst.Port()), uint64(len(b)), 0)
		return len(b), nil
	}
	data := append([]byte(nil), b...)
	n.at(n.now+delay, &udpArrival{to: peer, sender: s, from: from, dst: dst, data: data, copies: copies})
	return len(b), nil
}

// deliverUDP hands a datagram to the socket bound to dst on h, or answers
// with ICMP port unreachable, which a connected sender sees as
// ECONNREFUSED.
func (h *Host) deliverUDP(sender *udpSock, from, dst netip.AddrPort, data []byte) {
	n := h.n
	trace := func(delivered uint64) {
		n.trace(TraceDatagram, uint64(sender.h.idx), uint64(h.idx), uint64(dst.Port()), uint64(len(data)), delivered)
	}
	if !h.up {
		trace(0)
		return
	}
	bs := h.udp.lookup(dst.Addr(), dst.Port(), func(b *binding) bool {
		r := b.owner.(*udpSock)
		if r.fam == Inet6 && dst.Addr().Is4() && r.opts.v6only {
			return false
		}
		return !r.connected || r.remote == from
	})
	if len(bs) == 0 {
		trace(0)
		if n.reachable(h, sender.h) {
			n.at(n.now+n.delay(h, sender.h), &udpRefused{sender: sender, dst: dst})
		}
		return
	}
	r := bs[0].owner.(*udpSock)
	if len(bs) > 1 {
		r = bs[h.pick.IntN(len(bs))].owner.(*udpSock)
	}
	if r.rcvBytes > r.opts.rcvBuf || r.shutRd {
		trace(0) // receive buffer overflow: dropped
		return
	}
	r.rcvq = append(r.rcvq, datagram{from: from, data: data})
	r.rcvBytes += len(data) + udpOverhead
	trace(1)
	n.observe(Segment{Proto: abi.IpprotoUDP, From: from, To: dst, Len: len(data), Payload: data})
	r.notify()
}

// Recv implements [Socket]: one datagram per call, truncated to b.
func (s *udpSock) Recv(b []byte, fl RecvFlags) (int, int, Addr, error) {
	if len(s.rcvq) > 0 {
		d := s.rcvq[0]
		k := copy(b, d.data)
		if fl&Peek == 0 {
			s.rcvq[0] = datagram{}
			s.rcvq = s.rcvq[1:]
			s.rcvBytes -= len(d.data) + udpOverhead
		}
		return k, len(d.data), present(s.fam, d.from), nil
	}
	if s.err != 0 {
		e := s.err
		s.err = 0
		return 0, 0, Addr{}, e
	}
	if s.shutRd {
		return 0, 0, Addr{}, nil
	}
	return 0, 0, Addr{}, abi.EAGAIN
}

// Shutdown implements [Socket].
func (s *udpSock) Shutdown(how int) error {
	if how < abi.ShutRd || how > abi.ShutRdwr {
		return abi.EINVAL
	}
	s.shutRd = s.shutRd || how != abi.ShutWr
	s.shutWr = s.shutWr || how != abi.ShutRd
	s.notify()
	if !s.connected {
		return abi.ENOTCONN
	}
	return nil
}

// Close implements [Socket].
func (s *udpSock) Close() {
	if s.bnd != nil && s.h.inc == s.inc {
		s.h.udp.remove(s.bnd)
	}
	s.bnd = nil
	s.closed = true
	s.rcvq = nil
}

// LocalAddr implements [Socket].
func (s *udpSock) LocalAddr() Addr {
	if !s.local.IsValid() {
		return present(s.fam, netip.AddrPortFrom(unspecified(s.fam), 0))
	}
	return present(s.fam, s.local)
}

// PeerAddr implements [Socket].
func (s *udpSock) PeerAddr() (Addr, error) {
	if !s.connected {
		return Addr{}, abi.ENOTCONN
	}
	return present(s.fam, s.remote), nil
}

// Events implements [Socket], as Linux's datagram_poll.
func (s *udpSock) Events() uint32 {
	ev := uint32(abi.EpollOut)
	if s.err != 0 {
		ev |= abi.EpollErr
	}
	if s.shutRd && s.shutWr {
		ev |= abi.EpollHup
	}
	if s.shutRd {
		ev |= abi.EpollIn | abi.EpollRdhup
	}
	if len(s.rcvq) > 0 {
		ev |= abi.EpollIn
	}
	return ev
}

// SetOption implements [Socket].
func (s *udpSock) SetOption(o Option, v int) error {
	if o == OptV6Only {
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
	return err
}

// Option implements [Socket].
func (s *udpSock) Option(o Option) (int, error) {
	switch o {
	case OptV6Only:
		if s.fam != Inet6 {
			return 0, abi.ENOPROTOOPT
		}
		return b2i(s.opts.v6only), nil
	case OptError:
		e := s.err
		s.err = 0
		return int(e), nil
	case OptAcceptConn:
		return 0, nil
	}
	if v, ok := s.opts.get(o); ok {
		return v, nil
	}
	return 0, abi.ENOPROTOOPT
}

// Info implements [Socket]; TCP_INFO does not apply to UDP.
func (s *udpSock) Info() Info { return Info{} }
