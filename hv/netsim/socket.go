package netsim

import (
	"net/netip"

	"github.com/mvrun/multiverse/hv/abi"
)

// Family is an address family, with Linux's numbers.
type Family uint16

// Address families.
const (
	Unspec Family = abi.AfUnspec
	Unix   Family = abi.AfUnix
	Inet   Family = abi.AfInet
	Inet6  Family = abi.AfInet6
)

// Type is a socket type, with Linux's numbers.
type Type uint8

// Socket types.
const (
	Stream    Type = abi.SockStream
	Dgram     Type = abi.SockDgram
	Seqpacket Type = abi.SockSeqpacket
)

// Addr is a socket address as the kernel passes it in and out.
type Addr struct {
	Family Family
	// IP is the address and port of an AF_INET or AF_INET6 address. An
	// AF_INET6 socket sees IPv4 peers as IPv4-mapped addresses.
	IP netip.AddrPort
	// Name is an AF_UNIX name: "" for an unnamed socket, a leading NUL for
	// an abstract name, else the path as given to bind.
	Name string
	// Key identifies an AF_UNIX path name for lookup: the kernel sets it to
	// the identity of the socket's file system inode, so relative paths
	// and renames resolve as the file system does. Empty means Name.
	Key string
}

func (a Addr) unixKey() string {
	if a.Key != "" {
		return a.Key
	}
	return a.Name
}

// Stack is the network as one node's kernel sees it: the narrow interface
// between the kernel's socket system calls and this package.
type Stack interface {
	// Hostname is the node's name (uname's nodename).
	Hostname() string
	// Socket creates an unbound socket.
	Socket(fam Family, typ Type) (Socket, error)
	// Pair creates two connected sockets (socketpair(2)).
	Pair(fam Family, typ Type) (Socket, Socket, error)
	// NextEvent and Advance couple the network to the virtual clock: the
	// kernel jumps its clock to NextEvent when every thread is blocked and
	// calls Advance whenever its clock moves.
	NextEvent() (int64, bool)
	Advance(now int64)
}

// RecvFlags modify a receive.
type RecvFlags uint8

// Receive flags.
const (
	// Peek leaves the data queued (MSG_PEEK).
	Peek RecvFlags = 1 << iota
)

// Socket is one socket. Calls never block; see the package comment.
// Errors are [abi.Errno] values.
type Socket interface {
	Family() Family
	Type() Type
	Bind(a Addr) error
	Listen(backlog int) error
	// Accept returns the next connection of a listening socket, or EAGAIN.
	Accept() (Socket, error)
	// Connect starts or continues a connection as Linux's connect(2) does
	// when called again: EINPROGRESS when started, EALREADY while in
	// progress, nil once established (EISCONN after that), or the error
	// that ended the attempt.
	Connect(a Addr) error
	// Send queues b (to addr for an unconnected datagram socket). It
	// returns how many bytes were taken, or EAGAIN when none fit.
	Send(b []byte, to *Addr) (int, error)
	// Recv reads into b. n is the number of bytes copied; size is the full
	// length of the datagram or record read (larger than n if it was
	// truncated); from is the sender of a datagram.
	Recv(b []byte, flags RecvFlags) (n, size int, from Addr, err error)
	Shutdown(how int) error
	// Close releases the socket as close(2) of its last descriptor does.
	Close()
	LocalAddr() Addr
	PeerAddr() (Addr, error)
	SetOption(o Option, v int) error
	Option(o Option) (int, error)
	// Events returns the epoll events that hold now (abi.Epoll*).
	Events() uint32
	// SetNotify sets who is told whenever Events may have changed.
	SetNotify(n Notifier)
	// Info reports connection state for TCP_INFO.
	Info() Info
}

// Info is what TCP_INFO reports about a socket.
type Info struct {
	State       uint8 // abi.Tcp* state
	Retransmits uint8
	RTO         int64 // nanoseconds
	RTT         int64 // nanoseconds
	BytesSent   uint64
	BytesRecv   uint64
}

// Option names a socket option; values are ints as setsockopt passes them
// (booleans 0/1, times in the unit Linux uses).
type Option int

// Socket options.
const (
	OptReuseAddr   Option = iota // SO_REUSEADDR
	OptReusePort                 // SO_REUSEPORT
	OptKeepAlive                 // SO_KEEPALIVE
	OptKeepIdle                  // TCP_KEEPIDLE, seconds
	OptKeepIntvl                 // TCP_KEEPINTVL, seconds
	OptKeepCnt                   // TCP_KEEPCNT
	OptNoDelay                   // TCP_NODELAY (recorded; deliveries are per write anyway)
	OptV6Only                    // IPV6_V6ONLY
	OptSndBuf                    // SO_SNDBUF, bytes as getsockopt reports them
	OptRcvBuf                    // SO_RCVBUF
	OptLinger                    // SO_LINGER: -1 off, else seconds
	OptUserTimeout               // TCP_USER_TIMEOUT, milliseconds
	OptBroadcast                 // SO_BROADCAST
	OptError                     // SO_ERROR, read-only; reading clears it
	OptAcceptConn                // SO_ACCEPTCONN, read-only
	numOptions
)

// Linux defaults and limits.
const (
	tcpSndBufDefault = 16384  // net.ipv4.tcp_wmem[1]
	tcpRcvBufDefault = 131072 // net.ipv4.tcp_rmem[1]
	udpBufDefault    = 212992 // net.core.{r,w}mem_default
	unixBufDefault   = 212992
	bufMax           = 212992 // net.core.{r,w}mem_max
	sndBufMin        = 4608
	rcvBufMin        = 2304
	somaxconn        = 4096
	keepIdleDefault  = 7200 // net.ipv4.tcp_keepalive_time, s
	keepIntvlDefault = 75   // tcp_keepalive_intvl, s
	keepCntDefault   = 9    // tcp_keepalive_probes
	maxKeepIdle      = 32767
)

// options are a socket's option values.
type options struct {
	reuseAddr, reusePort, keepAlive, noDelay, v6only, broadcast bool
	keepIdle, keepIntvl, keepCnt                                int
	sndBuf, rcvBuf                                              int
	linger                                                      int // -1 off
	userTimeout                                                 int // ms
}

func defaultOptions(sndBuf, rcvBuf int) options {
	return options{keepIdle: keepIdleDefault, keepIntvl: keepIntvlDefault, keepCnt: keepCntDefault,
		sndBuf: sndBuf, rcvBuf: rcvBuf, linger: -1}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// set applies the options every socket type shares; it reports false for
// an option it does not handle.
func (o *options) set(opt Option, v int) (bool, error) {
	switch opt {
	case OptReuseAddr:
		o.reuseAddr = v != 0
	case OptReusePort:
		o.reusePort = v != 0
	case OptKeepAlive:
		o.keepAlive = v != 0
	case OptBroadcast:
		o.broadcast = v != 0
	case OptSndBuf:
		// Linux doubles the value for bookkeeping overhead and clamps it.
		o.sndBuf = max(min(v, bufMax)*2, sndBufMin)
	case OptRcvBuf:
		o.rcvBuf = max(min(v, bufMax)*2, rcvBufMin)
	case OptLinger:
		o.linger = v
	case OptError, OptAcceptConn:
		return true, abi.ENOPROTOOPT
	default:
		return false, nil
	}
	return true, nil
}

func (o *options) get(opt Option) (int, bool) {
	switch opt {
	case OptReuseAddr:
		return b2i(o.reuseAddr), true
	case OptReusePort:
		return b2i(o.reusePort), true
	case OptKeepAlive:
		return b2i(o.keepAlive), true
	case OptBroadcast:
		return b2i(o.broadcast), true
	case OptSndBuf:
		return o.sndBuf, true
	case OptRcvBuf:
		return o.rcvBuf, true
	case OptLinger:
		return o.linger, true
	}
	return 0, false
}

// present renders ip (unmapped) as a socket of family fam sees it.
func present(fam Family, ap netip.AddrPort) Addr {
	a := ap.Addr()
	if fam == Inet6 && a.Is4() {
		a = netip.AddrFrom16(a.As16())
	}
	return Addr{Family: fam, IP: netip.AddrPortFrom(a, ap.Port())}
}

// inetAddr checks that a is an address a socket of family fam accepts and
// returns it unmapped, with whether it was IPv4-mapped.
func inetAddr(fam Family, a Addr) (netip.AddrPort, error) {
	if a.Family != fam {
		return netip.AddrPort{}, abi.EAFNOSUPPORT
	}
	ip := a.IP.Addr()
	if !ip.IsValid() {
		return netip.AddrPort{}, abi.EINVAL
	}
	if fam == Inet && !ip.Is4() {
		return netip.AddrPort{}, abi.EAFNOSUPPORT
	}
	return netip.AddrPortFrom(ip.Unmap(), a.IP.Port()), nil
}
