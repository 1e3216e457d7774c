package kernel

import (
	"fmt"

	"github.com/mvrun/multiverse/hv/abi"
	"github.com/mvrun/multiverse/hv/netsim"
)

type sockoptKind uint8

const (
	optInt      sockoptKind = iota // an int mapped to a netsim option
	optLinger                      // struct linger
	optTCPInfo                     // struct tcp_info, read-only
	optType                        // SO_TYPE, read-only
	optDomain                      // SO_DOMAIN, read-only
	optProtocol                    // SO_PROTOCOL, read-only
	optTimeval                     // struct timeval kept by the kernel (SO_RCVTIMEO/SO_SNDTIMEO)
)

// sockopt is one supported socket option.
type sockopt struct {
	name     string
	kind     sockoptKind
	opt      netsim.Option
	readOnly bool
}

type optKey struct{ level, name int }

// sockopts are the options hv implements: everything Go's net package,
// gRPC and common servers set or read.
var sockopts = map[optKey]sockopt{
	{abi.SolSocket, abi.SoReuseaddr}:     {"SO_REUSEADDR", optInt, netsim.OptReuseAddr, false},
	{abi.SolSocket, abi.SoReuseport}:     {"SO_REUSEPORT", optInt, netsim.OptReusePort, false},
	{abi.SolSocket, abi.SoKeepalive}:     {"SO_KEEPALIVE", optInt, netsim.OptKeepAlive, false},
	{abi.SolSocket, abi.SoBroadcast}:     {"SO_BROADCAST", optInt, netsim.OptBroadcast, false},
	{abi.SolSocket, abi.SoSndbuf}:        {"SO_SNDBUF", optInt, netsim.OptSndBuf, false},
	{abi.SolSocket, abi.SoRcvbuf}:        {"SO_RCVBUF", optInt, netsim.OptRcvBuf, false},
	{abi.SolSocket, abi.SoSndbufforce}:   {"SO_SNDBUFFORCE", optInt, netsim.OptSndBuf, false},
	{abi.SolSocket, abi.SoRcvbufforce}:   {"SO_RCVBUFFORCE", optInt, netsim.OptRcvBuf, false},
	{abi.SolSocket, abi.SoLinger}:        {"SO_LINGER", optLinger, netsim.OptLinger, false},
	{abi.SolSocket, abi.SoError}:         {"SO_ERROR", optInt, netsim.OptError, true},
	{abi.SolSocket, abi.SoAcceptconn}:    {"SO_ACCEPTCONN", optInt, netsim.OptAcceptConn, true},
	{abi.SolSocket, abi.SoType}:          {"SO_TYPE", optType, 0, true},
	{abi.SolSocket, abi.SoDomain}:        {"SO_DOMAIN", optDomain, 0, true},
	{abi.SolSocket, abi.SoProtocol}:      {"SO_PROTOCOL", optProtocol, 0, true},
	{abi.SolSocket, abi.SoRcvtimeo}:      {"SO_RCVTIMEO", optTimeval, 0, false},
	{abi.SolSocket, abi.SoSndtimeo}:      {"SO_SNDTIMEO", optTimeval, 0, false},
	{abi.IpprotoTCP, abi.TcpNodelay}:     {"TCP_NODELAY", optInt, netsim.OptNoDelay, false},
	{abi.IpprotoTCP, abi.TcpKeepidle}:    {"TCP_KEEPIDLE", optInt, netsim.OptKeepIdle, false},
	{abi.IpprotoTCP, abi.TcpKeepintvl}:   {"TCP_KEEPINTVL", optInt, netsim.OptKeepIntvl, false},
	{abi.IpprotoTCP, abi.TcpKeepcnt}:     {"TCP_KEEPCNT", optInt, netsim.OptKeepCnt, false},
	{abi.IpprotoTCP, abi.TcpUserTimeout}: {"TCP_USER_TIMEOUT", optInt, netsim.OptUserTimeout, false},
	{abi.IpprotoTCP, abi.TcpInfo}:        {"TCP_INFO", optTCPInfo, 0, true},
	{abi.IpprotoIPv6, abi.Ipv6V6only}:    {"IPV6_V6ONLY", optInt, netsim.OptV6Only, false},
}

// sockoptNames name options hv does not implement, for the report.
var sockoptNames = map[optKey]string{
	{abi.SolSocket, abi.SoDebug}:        "SO_DEBUG",
	{abi.SolSocket, abi.SoDontroute}:    "SO_DONTROUTE",
	{abi.SolSocket, abi.SoOobinline}:    "SO_OOBINLINE",
	{abi.SolSocket, abi.SoPriority}:     "SO_PRIORITY",
	{abi.SolSocket, abi.SoPasscred}:     "SO_PASSCRED",
	{abi.SolSocket, abi.SoPeercred}:     "SO_PEERCRED",
	{abi.SolSocket, abi.SoRcvlowat}:     "SO_RCVLOWAT",
	{abi.SolSocket, abi.SoSndlowat}:     "SO_SNDLOWAT",
	{abi.IpprotoTCP, abi.TcpMaxseg}:     "TCP_MAXSEG",
	{abi.IpprotoTCP, abi.TcpCork}:       "TCP_CORK",
	{abi.IpprotoTCP, abi.TcpSyncnt}:     "TCP_SYNCNT",
	{abi.IpprotoTCP, abi.TcpLinger2}:    "TCP_LINGER2",
	{abi.IpprotoTCP, abi.TcpQuickack}:   "TCP_QUICKACK",
	{abi.IpprotoTCP, abi.TcpCongestion}: "TCP_CONGESTION",
	{abi.IpprotoTCP, abi.TcpFastopen}:   "TCP_FASTOPEN",
	{abi.IpprotoIP, 1}:                  "IP_TOS",
	{abi.IpprotoIP, 2}:                  "IP_TTL",
	{abi.IpprotoIPv6, 67}:               "IPV6_TCLASS",
}

func optName(k optKey) string {
	if o, ok := sockopts[k]; ok {
		return o.name
	}
	if n, ok := sockoptNames[k]; ok {
		return n
	}
	return fmt.Sprintf("level %d option %d", k.level, k.name)
}

// levelError is Linux's answer to an option of a level the socket does
// not have (TCP options on UDP, IPv6 options on IPv4 sockets; AF_UNIX has
// only SOL_SOCKET), or 0 when the level applies. Linux's IP layer answers
// ENOPROTOOPT to setsockopt and EOPNOTSUPP to getsockopt.
func levelError(f *sockFile, level int, get bool) abi.Errno {
	if level == abi.SolSocket {
		return 0
	}
	wrong := abi.ENOPROTOOPT
	if get || f.s.Family() == netsim.Unix {
		wrong = abi.EOPNOTSUPP
	}
	if f.s.Family() == netsim.Unix {
		return wrong
	}
	switch level {
	case abi.IpprotoTCP:
		if f.proto != abi.IpprotoTCP {
			return wrong
		}
	case abi.IpprotoIPv6:
		if f.s.Family() != netsim.Inet6 {
			return wrong
		}
	}
	return 0
}

// sysSetsockopt implements Linux syscall setsockopt(2) for the options in
// sockopts; any other is ENOPROTOOPT and reported by name.
func sysSetsockopt(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	_, f, err := k.socketOf(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	key := optKey{int(int32(a[1])), int(int32(a[2]))}
	if e := levelError(f, key.level, false); e != 0 {
		return 0, e
	}
	o, ok := sockopts[key]
	if !ok {
		return 0, k.unsupported("setsockopt("+optName(key)+")", abi.ENOPROTOOPT)
	}
	if o.readOnly {
		return 0, abi.ENOPROTOOPT
	}
	optlen := int(int32(a[4]))
	switch o.kind {
	case optTimeval:
		if optlen < 16 {
			return 0, abi.EINVAL
		}
		b := make(le, 16)
		if err := k.copyIn(b, a[3]); err != nil {
			return 0, err
		}
		sec, usec := int64(leU64(b, 0)), int64(leU64(b, 8))
		if usec < 0 || usec >= 1e6 {
			return 0, abi.EDOM
		}
		ns := max(sec, 0)*1e9 + usec*1e3 // a negative time means no timeout
		if key.name == abi.SoRcvtimeo {
			f.rcvTimeo = ns
		} else {
			f.sndTimeo = ns
		}
		return 0, nil
	case optLinger:
		if optlen < 8 {
			return 0, abi.EINVAL
		}
		b := make(le, 8)
		if err := k.copyIn(b, a[3]); err != nil {
			return 0, err
		}
		v := -1
		if leU32(b, 0) != 0 {
			v = int(max(int32(leU32(b, 4)), 0))
		}
		return 0, f.s.SetOption(o.opt, v)
	default:
		if optlen < 4 {
			return 0, abi.EINVAL
		}
		v, err := k.readU32(a[3])
		if err != nil {
			return 0, err
		}
		return 0, f.s.SetOption(o.opt, int(int32(v)))
	}
}

// sysGetsockopt implements Linux syscall getsockopt(2).
func sysGetsockopt(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	_, f, err := k.socketOf(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	key := optKey{int(int32(a[1])), int(int32(a[2]))}
	if e := levelError(f, key.level, true); e != 0 {
		return 0, e
	}
	o, ok := sockopts[key]
	if !ok {
		return 0, k.unsupported("getsockopt("+optName(key)+")", abi.ENOPROTOOPT)
	}
	l, err := k.readU32(a[4])
	if err != nil {
		return 0, err
	}
	if int32(l) < 0 {
		return 0, abi.EINVAL
	}
	var out le
	switch o.kind {
	case optInt:
		v, err := f.s.Option(o.opt)
		if err != nil {
			return 0, err
		}
		out = make(le, 4)
		out.u32(0, uint32(int32(v)))
	case optType, optDomain, optProtocol:
		v := map[sockoptKind]int{optType: int(f.s.Type()), optDomain: int(f.s.Family()), optProtocol: f.proto}[o.kind]
		out = make(le, 4)
		out.u32(0, uint32(v))
	case optLinger:
		v, err := f.s.Option(o.opt)
		if err != nil {
			return 0, err
		}
		out = make(le, 8)
		if v >= 0 {
			out.u32(0, 1)
			out.u32(4, uint32(v))
		}
	case optTCPInfo:
		out = tcpInfo(f.s.Info())
	case optTimeval:
		ns := f.rcvTimeo
		if key.name == abi.SoSndtimeo {
			ns = f.sndTimeo
		}
		out = make(le, 16)
		out.u64(0, uint64(ns/1e9))
		out.u64(8, uint64(ns%1e9/1e3))
	}
	out = out[:min(int(l), len(out))]
	if err := k.copyOut(out, a[3]); err != nil {
		return 0, err
	}
	return 0, k.writeU32(a[4], uint32(len(out)))
}

// tcpInfo renders struct tcp_info with the fields the model knows; the
// rest (congestion control internals) are zero.
func tcpInfo(in netsim.Info) le {
	b := make(le, abi.SizeofTCPInfo)
	b[0] = in.State
	b[2] = in.Retransmits
	b.u32(8, uint32(in.RTO/1000))  // tcpi_rto, µs
	b.u32(16, 65483)               // tcpi_snd_mss (loopback MTU)
	b.u32(20, 65483)               // tcpi_rcv_mss
	b.u32(68, uint32(in.RTT/1000)) // tcpi_rtt, µs
	b.u32(80, 10)                  // tcpi_snd_cwnd: the initial window
	b.u64(120, in.BytesSent)       // tcpi_bytes_acked
	b.u64(128, in.BytesRecv)       // tcpi_bytes_received
	b.u64(200, in.BytesSent)       // tcpi_bytes_sent
	return b
}

func leU32(b []byte, off int) uint32 {
	return uint32(b[off]) | uint32(b[off+1])<<8 | uint32(b[off+2])<<16 | uint32(b[off+3])<<24
}
