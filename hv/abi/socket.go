package abi

// Address families (socket(2) domain).
const (
	AfUnspec = 0
	AfUnix   = 1
	AfInet   = 2
	AfInet6  = 10
)

// Socket types and the flags socket(2) and accept4(2) take in the type.
const (
	SockStream    = 1
	SockDgram     = 2
	SockRaw       = 3
	SockSeqpacket = 5
	SockTypeMask  = 0xf
	SockNonblock  = ONonblock
	SockCloexec   = OCloexec
)

// Protocols.
const (
	IpprotoIP   = 0
	IpprotoTCP  = 6
	IpprotoUDP  = 17
	IpprotoIPv6 = 41
)

// Socket option levels besides the protocols.
const SolSocket = 1

// SOL_SOCKET options.
const (
	SoDebug       = 1
	SoReuseaddr   = 2
	SoType        = 3
	SoError       = 4
	SoDontroute   = 5
	SoBroadcast   = 6
	SoSndbuf      = 7
	SoRcvbuf      = 8
	SoKeepalive   = 9
	SoOobinline   = 10
	SoPriority    = 12
	SoLinger      = 13
	SoReuseport   = 15
	SoPasscred    = 16
	SoPeercred    = 17
	SoRcvlowat    = 18
	SoSndlowat    = 19
	SoRcvtimeo    = 20
	SoSndtimeo    = 21
	SoAcceptconn  = 30
	SoSndbufforce = 32
	SoRcvbufforce = 33
	SoProtocol    = 38
	SoDomain      = 39
)

// IPPROTO_TCP options.
const (
	TcpNodelay     = 1
	TcpMaxseg      = 2
	TcpCork        = 3
	TcpKeepidle    = 4
	TcpKeepintvl   = 5
	TcpKeepcnt     = 6
	TcpSyncnt      = 7
	TcpLinger2     = 8
	TcpInfo        = 11
	TcpQuickack    = 12
	TcpCongestion  = 13
	TcpUserTimeout = 18
	TcpFastopen    = 23
)

// IPPROTO_IPV6 options.
const Ipv6V6only = 26

// send/recv flags.
const (
	MsgOob          = 0x1
	MsgPeek         = 0x2
	MsgDontroute    = 0x4
	MsgCtrunc       = 0x8
	MsgTrunc        = 0x20
	MsgDontwait     = 0x40
	MsgEor          = 0x80
	MsgWaitall      = 0x100
	MsgNosignal     = 0x4000
	MsgMore         = 0x8000
	MsgCmsgCloexec  = 0x40000000
	MsgErrqueue     = 0x2000
	MsgConfirm      = 0x800
	MsgFastopen     = 0x20000000
	MsgZerocopy     = 0x4000000
	MsgBatch        = 0x40000
	MsgWaitforone   = 0x10000
	MsgSendpageNotl = 0x20000
)

// shutdown(2) how values.
const (
	ShutRd   = 0
	ShutWr   = 1
	ShutRdwr = 2
)

// Sizes of socket address structures.
const (
	SizeofSockaddrInet4 = 16
	SizeofSockaddrInet6 = 28
	SizeofSockaddrUnix  = 110
	SizeofMsghdr        = 56
	SizeofTCPInfo       = 232
	UnixPathMax         = 108
)

// TCP states as TCP_INFO reports them.
const (
	TcpEstablished = 1
	TcpSynSent     = 2
	TcpClose       = 7
	TcpListen      = 10
)
