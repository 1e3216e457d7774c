package kernel

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/mvrun/multiverse/hv/abi"
	"github.com/mvrun/multiverse/hv/netsim"
	"github.com/mvrun/multiverse/hv/vfs"
)

// ipprotoMPTCP is IPPROTO_MPTCP. Go probes for Multipath TCP with it; hv,
// like a kernel built without MPTCP, answers EPROTONOSUPPORT.
const ipprotoMPTCP = 262

// netGlue is the kernel's per-process socket state.
type netGlue struct {
	sockIno uint64
}

// hostname is the node's name as uname reports it.
func (k *Kernel) hostname() string {
	switch {
	case k.cfg.Net != nil:
		return k.cfg.Net.Hostname()
	case k.cfg.Hostname != "":
		return k.cfg.Hostname
	}
	return "hv"
}

// sockFile is an open socket.
type sockFile struct {
	baseFile
	k     *Kernel
	s     netsim.Socket
	ino   uint64
	proto int
	// rcvTimeo and sndTimeo are SO_RCVTIMEO and SO_SNDTIMEO in virtual
	// nanoseconds (0: wait forever), honoured by accept, recv* and send*.
	rcvTimeo, sndTimeo int64
}

// wait parks t until f's readiness changes or, with a socket timeout
// (SO_RCVTIMEO/SO_SNDTIMEO), until it passes, when the call fails with
// EAGAIN as on Linux.
func (f *sockFile) wait(t *Thread, timeo int64) error {
	if t.timedOut {
		return abi.EAGAIN
	}
	deadline := int64(-1)
	if timeo > 0 {
		deadline = t.callDeadline(timeo)
	}
	return t.block(f.waiters(), deadline, t.call, nil)
}

// Notify implements [netsim.Notifier]: the socket's readiness may have
// changed, so its waiters retry and epoll sets watching it look again.
func (f *sockFile) Notify() { f.k.notify(f) }

func (f *sockFile) read(d *desc, b []byte) (int, error) {
	n, _, _, err := f.s.Recv(b, 0)
	return n, err
}

func (f *sockFile) write(d *desc, b []byte) (int, error) { return f.s.Send(b, nil) }
func (f *sockFile) ready() uint32                        { return f.s.Events() }
func (f *sockFile) close()                               { f.s.Close() }
func (f *sockFile) stat() stat {
	return stat{ino: f.ino, mode: abi.SIfsock | 0o777, nlink: 1}
}

// newSocketFD wraps s in a descriptor.
func (k *Kernel) newSocketFD(s netsim.Socket, proto, flags int) (int, error) {
	k.net.sockIno++
	f := &sockFile{k: k, s: s, ino: 1<<32 + k.net.sockIno, proto: proto}
	s.SetNotify(f)
	return k.files.alloc(&desc{file: f, flags: abi.ORdwr | flags&abi.ONonblock}, 0, flags&abi.OCloexec != 0)
}

// socketOf returns the socket behind fd.
func (k *Kernel) socketOf(fd int) (*desc, *sockFile, error) {
	d, err := k.files.get(fd)
	if err != nil {
		return nil, nil, err
	}
	f, ok := d.file.(*sockFile)
	if !ok {
		return nil, nil, abi.ENOTSOCK
	}
	return d, f, nil
}

// sysSocket implements Linux syscall socket(2).
func sysSocket(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	fam, typ, flags := int(a[0]), int(a[1])&abi.SockTypeMask, int(a[1])&^abi.SockTypeMask
	proto := int(int32(a[2]))
	if flags&^(abi.SockNonblock|abi.SockCloexec) != 0 {
		return 0, abi.EINVAL
	}
	if k.cfg.Net == nil {
		return 0, k.unsupported("socket(no network)", abi.EAFNOSUPPORT)
	}
	switch fam {
	case abi.AfInet, abi.AfInet6:
		switch {
		case typ == abi.SockStream && proto == ipprotoMPTCP:
			return 0, abi.EPROTONOSUPPORT
		case typ == abi.SockStream && (proto == 0 || proto == abi.IpprotoTCP):
			proto = abi.IpprotoTCP
		case typ == abi.SockDgram && (proto == 0 || proto == abi.IpprotoUDP):
			proto = abi.IpprotoUDP
		case typ == abi.SockStream || typ == abi.SockDgram:
			return 0, abi.EPROTONOSUPPORT
		case typ == abi.SockRaw:
			return 0, k.unsupported("socket(SOCK_RAW)", abi.EPROTONOSUPPORT)
		default:
			return 0, abi.ESOCKTNOSUPPORT
		}
	case abi.AfUnix:
		if proto != 0 && proto != abi.AfUnix {
			return 0, abi.EPROTONOSUPPORT
		}
		proto = 0
		if typ != abi.SockStream && typ != abi.SockDgram && typ != abi.SockSeqpacket {
			return 0, abi.ESOCKTNOSUPPORT
		}
	default:
		return 0, k.unsupported("socket("+familyName(fam)+")", abi.EAFNOSUPPORT)
	}
	s, err := k.cfg.Net.Socket(netsim.Family(fam), netsim.Type(typ))
	if err != nil {
		return 0, err
	}
	fd, err := k.newSocketFD(s, proto, flags)
	if err != nil {
		s.Close()
	}
	return uint64(fd), err
}

// sysSocketpair implements Linux syscall socketpair(2): AF_UNIX only, as
// on Linux.
func sysSocketpair(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	fam, typ, flags := int(a[0]), int(a[1])&abi.SockTypeMask, int(a[1])&^abi.SockTypeMask
	if flags&^(abi.SockNonblock|abi.SockCloexec) != 0 {
		return 0, abi.EINVAL
	}
	if k.cfg.Net == nil {
		return 0, k.unsupported("socketpair(no network)", abi.EAFNOSUPPORT)
	}
	switch fam {
	case abi.AfUnix:
		if p := int(int32(a[2])); p != 0 && p != abi.AfUnix {
			return 0, abi.EPROTONOSUPPORT
		}
	case abi.AfInet, abi.AfInet6:
		return 0, abi.EOPNOTSUPP
	default:
		return 0, k.unsupported(fmt.Sprintf("socketpair(family %d)", fam), abi.EAFNOSUPPORT)
	}
	x, y, err := k.cfg.Net.Pair(netsim.Family(fam), netsim.Type(typ))
	if err != nil {
		return 0, err
	}
	fx, err := k.newSocketFD(x, 0, flags)
	if err != nil {
		x.Close()
		y.Close()
		return 0, err
	}
	fy, err := k.newSocketFD(y, 0, flags)
	if err != nil {
		_ = k.files.close(fx)
		y.Close()
		return 0, err
	}
	b := make(le, 8)
	b.u32(0, uint32(fx))
	b.u32(4, uint32(fy))
	if err := k.copyOut(b, a[3]); err != nil {
		_ = k.files.close(fx)
		_ = k.files.close(fy)
		return 0, err
	}
	return 0, nil
}

// readSockaddr reads a socket address argument.
func (k *Kernel) readSockaddr(va, n uint64) (netsim.Addr, error) {
	if int64(n) < 0 || n > 128 {
		return netsim.Addr{}, abi.EINVAL
	}
	if n < 2 {
		return netsim.Addr{}, abi.EINVAL
	}
	b := make([]byte, n)
	if err := k.copyIn(b, va); err != nil {
		return netsim.Addr{}, err
	}
	fam := binary.LittleEndian.Uint16(b)
	var port uint16
	if len(b) >= 4 {
		port = binary.BigEndian.Uint16(b[2:4])
	}
	switch fam {
	case abi.AfInet:
		if n < abi.SizeofSockaddrInet4 {
			return netsim.Addr{}, abi.EINVAL
		}
		ip := netip.AddrFrom4([4]byte(b[4:8]))
		return netsim.Addr{Family: netsim.Inet, IP: netip.AddrPortFrom(ip, port)}, nil
	case abi.AfInet6:
		if n < 24 {
			return netsim.Addr{}, abi.EINVAL
		}
		ip := netip.AddrFrom16([16]byte(b[8:24]))
		return netsim.Addr{Family: netsim.Inet6, IP: netip.AddrPortFrom(ip, port)}, nil
	case abi.AfUnix:
		p := b[2:]
		if len(p) > 0 && p[0] == 0 {
			return netsim.Addr{Family: netsim.Unix, Name: string(p)}, nil
		}
		for i, c := range p {
			if c == 0 {
				p = p[:i]
				break
			}
		}
		return netsim.Addr{Family: netsim.Unix, Name: string(p)}, nil
	case abi.AfUnspec:
		return netsim.Addr{Family: netsim.Unspec}, nil
	}
	return netsim.Addr{Family: netsim.Family(fam)}, abi.EAFNOSUPPORT
}

// encodeSockaddr renders a as struct sockaddr_*; nil for no address.
func encodeSockaddr(a netsim.Addr) []byte {
	switch a.Family {
	case netsim.Inet:
		b := make(le, abi.SizeofSockaddrInet4)
		b.u16(0, abi.AfInet)
		binary.BigEndian.PutUint16(b[2:], a.IP.Port())
		ip := a.IP.Addr().Unmap().As4()
		copy(b[4:], ip[:])
		return b
	case netsim.Inet6:
		b := make(le, abi.SizeofSockaddrInet6)
		b.u16(0, abi.AfInet6)
		binary.BigEndian.PutUint16(b[2:], a.IP.Port())
		ip := a.IP.Addr().As16()
		copy(b[8:], ip[:])
		return b
	case netsim.Unix:
		b := make(le, 2, 2+len(a.Name)+1)
		b.u16(0, abi.AfUnix)
		switch {
		case a.Name == "":
		case a.Name[0] == 0:
			b = append(b, a.Name...)
		default:
			b = append(append(b, a.Name...), 0)
		}
		return b
	}
	return nil
}

// writeSockaddr stores a at va for a caller whose buffer size is at lenVA,
// truncating as Linux does and storing the full length back. A zero va
// means the caller does not want the address.
func (k *Kernel) writeSockaddr(a netsim.Addr, va, lenVA uint64) error {
	if va == 0 || lenVA == 0 {
		return nil
	}
	l, err := k.readU32(lenVA)
	if err != nil {
		return err
	}
	if int32(l) < 0 {
		return abi.EINVAL
	}
	b := encodeSockaddr(a)
	if err := k.copyOut(b[:min(int(l), len(b))], va); err != nil {
		return err
	}
	return k.writeU32(lenVA, uint32(len(b)))
}

// unixAddr resolves an AF_UNIX path name through the file system: the
// socket's inode identifies it. With create set (bind) the inode is made,
// and an existing file is EADDRINUSE.
func (k *Kernel) unixAddr(a netsim.Addr, create bool) (netsim.Addr, error) {
	if a.Family != netsim.Unix || a.Name == "" || a.Name[0] == 0 {
		return a, nil
	}
	if len(a.Name) >= abi.UnixPathMax {
		return a, abi.EINVAL
	}
	var n *vfs.Inode
	if create {
		dir, name, err := k.fs.LookupParent(k.cwd, a.Name)
		if err != nil {
			return a, err
		}
		if dir.Child(name) != nil {
			return a, abi.EADDRINUSE
		}
		if n, err = k.fs.Mksock(dir, name, 0o755); err != nil {
			return a, err
		}
	} else {
		var err error
		if n, err = k.fs.Lookup(k.cwd, a.Name, true); err != nil {
			return a, err
		}
		if n.Type() != abi.SIfsock {
			return a, abi.ECONNREFUSED
		}
	}
	a.Key = fmt.Sprintf("inode:%d", n.Ino)
	return a, nil
}

// sysBind implements Linux syscall bind(2).
func sysBind(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	_, f, err := k.socketOf(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	addr, err := k.readSockaddr(a[1], a[2])
	if err != nil {
		return 0, err
	}
	if addr.Family == netsim.Unix && f.s.Family() != netsim.Unix || addr.Family != netsim.Unix && f.s.Family() == netsim.Unix {
		return 0, abi.EINVAL
	}
	if f.s.Family() == netsim.Unix && f.s.LocalAddr().Name != "" {
		return 0, abi.EINVAL
	}
	if addr, err = k.unixAddr(addr, true); err != nil {
		return 0, err
	}
	return 0, f.s.Bind(addr)
}

// sysListen implements Linux syscall listen(2).
func sysListen(t *Thread, a *[6]uint64) (uint64, error) {
	_, f, err := t.k.socketOf(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	return 0, f.s.Listen(int(int32(a[1])))
}

// nonblocking reports whether an operation on d with flags must not block.
func nonblocking(d *desc, flags uint64) bool {
	return d.flags&abi.ONonblock != 0 || flags&abi.MsgDontwait != 0
}

// sysAccept4 implements Linux syscall accept4(2).
func sysAccept4(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	flags := int(a[3])
	if flags&^(abi.SockNonblock|abi.SockCloexec) != 0 {
		return 0, abi.EINVAL
	}
	d, f, err := k.socketOf(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	c, err := f.s.Accept()
	if err == abi.EAGAIN && d.flags&abi.ONonblock == 0 {
		return 0, f.wait(t, f.rcvTimeo)
	}
	if err != nil {
		return 0, err
	}
	fd, err := k.newSocketFD(c, f.proto, flags)
	if err != nil {
		c.Close()
		return 0, err
	}
	peer, _ := c.PeerAddr()
	if peer.Family == netsim.Unspec {
		peer.Family = c.Family()
	}
	if err := k.writeSockaddr(peer, a[1], a[2]); err != nil {
		return uint64(fd), nil // Linux: the connection is accepted anyway
	}
	return uint64(fd), nil
}

// sysAccept implements Linux syscall accept(2).
func sysAccept(t *Thread, a *[6]uint64) (uint64, error) {
	return sysAccept4(t, &[6]uint64{a[0], a[1], a[2], 0})
}

// sysConnect implements Linux syscall connect(2). A blocking connect parks
// the thread until the attempt ends, then reports it.
func sysConnect(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	d, f, err := k.socketOf(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	addr, err := k.readSockaddr(a[1], a[2])
	if err != nil {
		return 0, err
	}
	if addr, err = k.unixAddr(addr, false); err != nil {
		return 0, err
	}
	err = f.s.Connect(addr)
	if d.flags&abi.ONonblock == 0 {
		if err == abi.EINPROGRESS || err == abi.EAGAIN || (err == abi.EALREADY && t.retrying) {
			return 0, t.block(f.waiters(), -1, t.call, nil)
		}
	}
	return 0, err
}

// sysGetsockname implements Linux syscall getsockname(2).
func sysGetsockname(t *Thread, a *[6]uint64) (uint64, error) {
	_, f, err := t.k.socketOf(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	return 0, t.k.writeSockaddr(f.s.LocalAddr(), a[1], a[2])
}

// sysGetpeername implements Linux syscall getpeername(2).
func sysGetpeername(t *Thread, a *[6]uint64) (uint64, error) {
	_, f, err := t.k.socketOf(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	p, err := f.s.PeerAddr()
	if err != nil {
		return 0, err
	}
	return 0, t.k.writeSockaddr(p, a[1], a[2])
}

// Flags send and receive calls accept; others are reported by name.
const (
	sendFlags = abi.MsgDontwait | abi.MsgNosignal | abi.MsgMore | abi.MsgEor | abi.MsgConfirm | abi.MsgDontroute
	recvFlags = abi.MsgDontwait | abi.MsgPeek | abi.MsgTrunc | abi.MsgCmsgCloexec
)

func (k *Kernel) checkFlags(call string, flags, ok uint64) error {
	bad := flags &^ ok
	if bad == 0 {
		return nil
	}
	names := map[uint64]string{abi.MsgOob: "MSG_OOB", abi.MsgWaitall: "MSG_WAITALL", abi.MsgErrqueue: "MSG_ERRQUEUE",
		abi.MsgFastopen: "MSG_FASTOPEN", abi.MsgZerocopy: "MSG_ZEROCOPY", abi.MsgWaitforone: "MSG_WAITFORONE"}
	for bit := uint64(1); bit != 0; bit <<= 1 {
		if bad&bit != 0 {
			name, ok := names[bit]
			if !ok {
				name = fmt.Sprintf("flag %#x", bit)
			}
			return k.unsupported(fmt.Sprintf("%s(%s)", call, name), abi.EOPNOTSUPP)
		}
	}
	return nil
}

// send is the common part of sendto and sendmsg.
func (t *Thread) send(d *desc, f *sockFile, buf []byte, to *netsim.Addr, flags uint64) (uint64, error) {
	k := t.k
	if to != nil && f.s.Type() == netsim.Stream && f.s.Family() != netsim.Unix {
		to = nil // TCP ignores the address, as Linux does
	}
	n, err := f.s.Send(buf, to)
	if err == abi.EAGAIN && !nonblocking(d, flags) {
		return 0, f.wait(t, f.sndTimeo)
	}
	if err == abi.EPIPE && flags&abi.MsgNosignal == 0 {
		k.sendSignal(t, abi.SIGPIPE, sigInfo{code: abi.SiUser, pid: int32(k.pid)})
	}
	return uint64(n), err
}

// destination reads the optional address of sendto/sendmsg.
func (k *Kernel) destination(va, n uint64) (*netsim.Addr, error) {
	if va == 0 || n == 0 {
		return nil, nil
	}
	a, err := k.readSockaddr(va, n)
	if err != nil {
		return nil, err
	}
	if a, err = k.unixAddr(a, false); err != nil {
		return nil, err
	}
	return &a, nil
}

// sysSendto implements Linux syscall sendto(2).
func sysSendto(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	d, f, err := k.socketOf(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	if err := k.checkFlags("sendto", a[3], sendFlags); err != nil {
		return 0, err
	}
	to, err := k.destination(a[4], a[5])
	if err != nil {
		return 0, err
	}
	buf := make([]byte, min(a[2], maxIO))
	if err := k.copyIn(buf, a[1]); err != nil {
		return 0, err
	}
	return t.send(d, f, buf, to, a[3])
}

// recv is the common part of recvfrom and recvmsg: it returns the bytes
// read, the full size of the datagram and its sender.
func (t *Thread) recv(d *desc, f *sockFile, size uint64, flags uint64) ([]byte, int, netsim.Addr, error) {
	buf := make([]byte, min(size, maxIO))
	var fl netsim.RecvFlags
	if flags&abi.MsgPeek != 0 {
		fl |= netsim.Peek
	}
	n, full, from, err := f.s.Recv(buf, fl)
	if err == abi.EAGAIN && !nonblocking(d, flags) {
		return nil, 0, from, f.wait(t, f.rcvTimeo)
	}
	if err != nil {
		return nil, 0, from, err
	}
	if f.s.Type() == netsim.Stream && f.s.Family() != netsim.Unix {
		from = netsim.Addr{} // TCP reports no address
	}
	return buf[:n], full, from, nil
}

// sysRecvfrom implements Linux syscall recvfrom(2).
func sysRecvfrom(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	d, f, err := k.socketOf(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	if err := k.checkFlags("recvfrom", a[3], recvFlags); err != nil {
		return 0, err
	}
	b, full, from, err := t.recv(d, f, a[2], a[3])
	if err != nil {
		return 0, err
	}
	if err := k.copyOut(b, a[1]); err != nil {
		return 0, err
	}
	if err := k.writeSockaddrOrEmpty(from, a[4], a[5]); err != nil {
		return 0, err
	}
	if a[3]&abi.MsgTrunc != 0 && f.s.Type() != netsim.Stream {
		return uint64(full), nil
	}
	return uint64(len(b)), nil
}

// writeSockaddrOrEmpty is writeSockaddr, storing length 0 for no address.
func (k *Kernel) writeSockaddrOrEmpty(a netsim.Addr, va, lenVA uint64) error {
	if a.Family == netsim.Unspec || (a.Family == netsim.Unix && a.Name == "") {
		if va == 0 || lenVA == 0 {
			return nil
		}
		return k.writeU32(lenVA, 0)
	}
	return k.writeSockaddr(a, va, lenVA)
}

// msghdr is struct msghdr.
type msghdr struct {
	name, namelen, iov, iovlen, control, controllen uint64
	flags                                           uint32
}

func (k *Kernel) readMsghdr(va uint64) (msghdr, error) {
	b := make([]byte, abi.SizeofMsghdr)
	if err := k.copyIn(b, va); err != nil {
		return msghdr{}, err
	}
	return msghdr{name: leU64(b, 0), namelen: uint64(binary.LittleEndian.Uint32(b[8:])), iov: leU64(b, 16),
		iovlen: leU64(b, 24), control: leU64(b, 32), controllen: leU64(b, 40), flags: binary.LittleEndian.Uint32(b[48:])}, nil
}

// sysSendmsg implements Linux syscall sendmsg(2) without control messages
// (SCM_RIGHTS and the like), which are reported by name.
func sysSendmsg(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	d, f, err := k.socketOf(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	if err := k.checkFlags("sendmsg", a[2], sendFlags); err != nil {
		return 0, err
	}
	m, err := k.readMsghdr(a[1])
	if err != nil {
		return 0, err
	}
	if m.controllen > 0 {
		return 0, k.unsupported("sendmsg(control messages)", abi.EOPNOTSUPP)
	}
	to, err := k.destination(m.name, m.namelen)
	if err != nil {
		return 0, err
	}
	iov, err := k.iovecs(m.iov, m.iovlen)
	if err != nil {
		return 0, err
	}
	var buf []byte
	for _, v := range iov {
		b := make([]byte, min(v[1], maxIO))
		if err := k.copyIn(b, v[0]); err != nil {
			return 0, err
		}
		buf = append(buf, b...)
	}
	return t.send(d, f, buf, to, a[2])
}

// sysRecvmsg implements Linux syscall recvmsg(2); no control messages are
// ever received.
func sysRecvmsg(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	d, f, err := k.socketOf(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	if err := k.checkFlags("recvmsg", a[2], recvFlags); err != nil {
		return 0, err
	}
	m, err := k.readMsghdr(a[1])
	if err != nil {
		return 0, err
	}
	iov, err := k.iovecs(m.iov, m.iovlen)
	if err != nil {
		return 0, err
	}
	var total uint64
	for _, v := range iov {
		total += v[1]
	}
	b, full, from, err := t.recv(d, f, total, a[2])
	if err != nil {
		return 0, err
	}
	rest := b
	for _, v := range iov {
		if len(rest) == 0 {
			break
		}
		c := min(uint64(len(rest)), v[1])
		if err := k.copyOut(rest[:c], v[0]); err != nil {
			return 0, err
		}
		rest = rest[c:]
	}
	var flags uint32
	if full > len(b) && f.s.Type() != netsim.Stream {
		flags |= abi.MsgTrunc
	}
	out := make(le, abi.SizeofMsghdr)
	if err := k.copyIn(out, a[1]); err != nil {
		return 0, err
	}
	namelen := uint32(0)
	if m.name != 0 && from.Family != netsim.Unspec && !(from.Family == netsim.Unix && from.Name == "") {
		enc := encodeSockaddr(from)
		if err := k.copyOut(enc[:min(len(enc), int(m.namelen))], m.name); err != nil {
			return 0, err
		}
		namelen = uint32(len(enc))
	}
	out.u32(8, namelen)
	out.u64(40, 0) // msg_controllen: nothing received
	out.u32(48, flags)
	if err := k.copyOut(out, a[1]); err != nil {
		return 0, err
	}
	if a[2]&abi.MsgTrunc != 0 && f.s.Type() != netsim.Stream {
		return uint64(full), nil
	}
	return uint64(len(b)), nil
}

// sysShutdown implements Linux syscall shutdown(2).
func sysShutdown(t *Thread, a *[6]uint64) (uint64, error) {
	_, f, err := t.k.socketOf(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	return 0, f.s.Shutdown(int(int32(a[1])))
}

// readv reads a socket into several buffers with one receive, so a
// datagram is not split across calls.
func (f *sockFile) readv(t *Thread, d *desc, iov [][2]uint64) (uint64, error) {
	var total uint64
	for _, v := range iov {
		total += v[1]
	}
	b, _, _, err := t.recv(d, f, total, 0)
	if err != nil {
		return 0, err
	}
	rest := b
	for _, v := range iov {
		c := min(uint64(len(rest)), v[1])
		if err := t.k.copyOut(rest[:c], v[0]); err != nil {
			return 0, err
		}
		rest = rest[c:]
	}
	return uint64(len(b)), nil
}

// familyName names an address family for reports.
func familyName(fam int) string {
	switch fam {
	case 16:
		return "AF_NETLINK"
	case 17:
		return "AF_PACKET"
	case 4:
		return "AF_IPX"
	case 5:
		return "AF_APPLETALK"
	case 9:
		return "AF_X25"
	case 38:
		return "AF_ALG"
	case 40:
		return "AF_VSOCK"
	}
	return fmt.Sprintf("family %d", fam)
}
