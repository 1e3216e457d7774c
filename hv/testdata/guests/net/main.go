// Command net exercises sockets through Go's net package and direct
// system calls, one scenario per argument (echo, halfclose, refused,
// backlog, udp, dualstack, unix, sockopt, all), and prints results only
// (no ports, addresses that vary, or timings), so a run under hv can be
// compared line by line with a native run.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func say(what string, v ...any) { fmt.Println(append([]any{what + ":"}, v...)...) }

func must(err error) {
	if err != nil {
		fmt.Println("fatal:", err)
		os.Exit(1)
	}
}

var scenarios = map[string]func(){
	"echo":       echo,
	"halfclose":  halfclose,
	"refused":    refused,
	"reset":      reset,
	"backlog":    backlog,
	"udp":        udp,
	"dualstack":  dualstack,
	"unix":       unixSockets,
	"socketpair": socketpair,
	"sockopt":    sockopt,
}

// Scenarios left out of "all": their results depend on what hv
// implements (see hv's TestNetUnimplementedReported).
var extra = map[string]func(){
	"unknownopt":  unknownopt,
	"unsupported": unsupported,
	"resolve":     resolve,
}

func main() {
	if len(os.Args) < 2 {
		fmt.Println("usage: net scenario...")
		os.Exit(2)
	}
	names := os.Args[1:]
	if len(names) == 1 && names[0] == "all" {
		names = nil
		for n := range scenarios {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	for _, n := range names {
		f, ok := scenarios[n]
		if !ok {
			f, ok = extra[n]
		}
		if !ok {
			fmt.Println("unknown scenario", n)
			os.Exit(2)
		}
		f()
	}
}

// echo runs a TCP echo server over loopback and talks to it: small
// messages, then a transfer larger than the socket buffers.
func echo() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	must(err)
	say("echo local is loopback", c.LocalAddr().(*net.TCPAddr).IP.IsLoopback())
	say("echo remote matches listener", c.RemoteAddr().String() == ln.Addr().String())
	buf := make([]byte, 64)
	for _, m := range []string{"hello", "multiverse", strings.Repeat("x", 40)} {
		_, err := c.Write([]byte(m))
		must(err)
		_, err = io.ReadFull(c, buf[:len(m)])
		must(err)
		say("echo", string(buf[:len(m)]))
	}
	// 1 MiB each way: more than the send and receive buffers hold, so the
	// writer blocks until the echo server reads.
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(big)
		errc <- err
	}()
	got := make([]byte, len(big))
	_, err = io.ReadFull(c, got)
	must(err)
	must(<-errc)
	say("echo 1MiB intact", bytes.Equal(got, big))
	must(c.(*net.TCPConn).CloseWrite())
	n, err := c.Read(buf)
	say("echo after CloseWrite", n, err)
	c.Close()
	ln.Close()
	<-done
	_, err = ln.Accept()
	say("accept after close", errors.Is(err, net.ErrClosed))
}

func errno(err error) string {
	var e syscall.Errno
	if errors.As(err, &e) {
		return unix.ErrnoName(e)
	}
	if err == nil {
		return "ok"
	}
	if err == io.EOF {
		return "EOF"
	}
	return err.Error()
}

// halfclose: the client shuts down its sending side; the server reads to
// EOF, answers and closes; the client reads the answer to EOF.
func halfclose() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		must(err)
		b, err := io.ReadAll(c)
		must(err)
		fmt.Fprintf(c, "got %d bytes: %s", len(b), b)
		c.Close()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	must(err)
	c.Write([]byte("question one, "))
	c.Write([]byte("question two"))
	must(c.(*net.TCPConn).CloseWrite())
	_, err = c.Write([]byte("more"))
	say("halfclose write after CloseWrite", errno(err))
	b, err := io.ReadAll(c)
	say("halfclose answer", string(b), errno(err))
	c.Close()
}

// refused: connecting to a port nobody listens on.
func refused() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	addr := ln.Addr().String()
	ln.Close()
	_, err = net.Dial("tcp", addr)
	say("refused dial", errno(err))
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	must(err)
	sa := &unix.SockaddrInet4{Port: ln.Addr().(*net.TCPAddr).Port, Addr: [4]byte{127, 0, 0, 1}}
	say("refused blocking connect", errno(unix.Connect(fd, sa)))
	say("refused connect again", errno(unix.Connect(fd, sa)))
	unix.Close(fd)
}

// reset: the server closes with unread data, which sends a RST: the
// client reads ECONNRESET, then EOF, and writing gives EPIPE.
func reset() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	defer ln.Close()
	served := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		must(err)
		// Wait until the data is there (without reading it), then close.
		raw, _ := c.(*net.TCPConn).SyscallConn()
		raw.Read(func(fd uintptr) bool {
			b := make([]byte, 1)
			n, _, err := unix.Recvfrom(int(fd), b, unix.MSG_PEEK|unix.MSG_DONTWAIT)
			return n > 0 || err != unix.EAGAIN
		})
		c.Close()
		close(served)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	must(err)
	c.Write([]byte("unread"))
	<-served
	buf := make([]byte, 10)
	_, err = c.Read(buf)
	say("reset read", errno(err))
	n, err := c.Read(buf)
	say("reset read again", n, errno(err))
	_, err = c.Write([]byte("x"))
	say("reset write", errno(err))
	c.Close()
}

// backlog: with listen(fd, 1) the accept queue holds two connections; a
// third SYN is dropped until a slot frees, then its retry gets in.
func backlog() {
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	must(err)
	must(unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	must(unix.Listen(lfd, 1))
	sa, err := unix.Getsockname(lfd)
	must(err)
	ep, err := unix.EpollCreate1(0)
	must(err)
	var cs []int
	for i := range 3 {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
		must(err)
		say(fmt.Sprint("backlog connect ", i), errno(unix.Connect(fd, sa)))
		must(unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLOUT, Fd: int32(i)}))
		cs = append(cs, fd)
	}
	connected := func(wait int) []int {
		deadline := time.Now().Add(time.Duration(wait) * time.Millisecond)
		var out []int
		seen := map[int]bool{}
		for time.Now().Before(deadline) {
			evs := make([]unix.EpollEvent, 3)
			n, err := unix.EpollWait(ep, evs, int(time.Until(deadline)/time.Millisecond)+1)
			if err == unix.EINTR {
				continue
			}
			must(err)
			for _, e := range evs[:n] {
				if !seen[int(e.Fd)] {
					seen[int(e.Fd)] = true
					out = append(out, int(e.Fd))
					unix.EpollCtl(ep, unix.EPOLL_CTL_DEL, cs[e.Fd], nil)
				}
			}
			if n == 0 {
				break
			}
		}
		sort.Ints(out)
		return out
	}
	first := connected(300)
	say("backlog connected at first", len(first))
	nfd, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK)
	must(err)
	unix.Close(nfd)
	later := connected(3000)
	say("backlog connected after one accept", len(later))
	for _, fd := range cs {
		v, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		_, perr := unix.Getpeername(fd)
		say("backlog client", v, errno(perr))
		unix.Close(fd)
	}
	unix.Close(lfd)
	unix.Close(ep)
}

// udp: datagrams keep their boundaries; a short read truncates (MSG_TRUNC);
// zero-length datagrams arrive; a connected socket learns of a closed port
// (ICMP port unreachable) as ECONNREFUSED.
func udp() {
	a, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	must(err)
	b, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	must(err)
	for _, m := range []string{"one", "", "three three"} {
		_, err := a.WriteToUDP([]byte(m), b.LocalAddr().(*net.UDPAddr))
		must(err)
	}
	buf := make([]byte, 64)
	oob := make([]byte, 64)
	for range 3 {
		n, _, flags, from, err := b.ReadMsgUDP(buf[:5], oob)
		must(err)
		say("udp got", fmt.Sprintf("%q", buf[:n]), "trunc", flags&unix.MSG_TRUNC != 0, "from a", from.Port == a.LocalAddr().(*net.UDPAddr).Port)
	}
	// MSG_TRUNC on the call returns the real length.
	a.WriteToUDP([]byte("0123456789"), b.LocalAddr().(*net.UDPAddr))
	raw, _ := b.SyscallConn()
	raw.Read(func(fd uintptr) bool {
		n, _, err := unix.Recvfrom(int(fd), buf[:4], unix.MSG_TRUNC)
		if err == unix.EAGAIN {
			return false
		}
		say("udp recvfrom MSG_TRUNC", n, errno(err))
		return true
	})
	port := b.LocalAddr().(*net.UDPAddr).Port
	b.Close()
	c, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	must(err)
	_, err = c.Write([]byte("anyone?"))
	say("udp write to closed port", errno(err))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(buf)
	say("udp read after port unreachable", errno(err))
	c.Close()
	// An unconnected socket does not hear about it.
	_, err = a.WriteToUDP([]byte("x"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	say("udp unconnected write to closed port", errno(err))
	a.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, _, err = a.ReadFromUDP(buf)
	say("udp unconnected read times out", os.IsTimeout(err))
	a.Close()
}

// dualstack: Go listens on [::] with IPV6_V6ONLY off; IPv4 clients reach
// it and appear as IPv4 addresses.
func dualstack() {
	ln, err := net.Listen("tcp", ":0")
	must(err)
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	host, _, _ := net.SplitHostPort(ln.Addr().String())
	say("dualstack listener host", host)
	for _, dst := range []string{"127.0.0.1", "::1", "localhost"} {
		c, err := net.Dial("tcp", net.JoinHostPort(dst, fmt.Sprint(port)))
		if err != nil {
			say("dualstack dial "+dst, errno(err))
			continue
		}
		s, err := ln.Accept()
		must(err)
		fmt.Fprint(c, "hi")
		b := make([]byte, 2)
		io.ReadFull(s, b)
		ra := s.RemoteAddr().(*net.TCPAddr)
		if dst == "localhost" {
			// Which address localhost resolves to first depends on the
			// host's /etc/hosts.
			say("dualstack "+dst, string(b), "peer is loopback", ra.IP.IsLoopback())
		} else {
			say("dualstack "+dst, string(b), "peer", ra.IP.String(), "is4", ra.IP.To4() != nil)
		}
		c.Close()
		s.Close()
	}
}

// unixSockets: stream and datagram sockets on a path and an abstract
// name, a connect to a socket nobody listens on, and to no file at all.
func unixSockets() {
	dir, err := os.MkdirTemp("", "netguest")
	must(err)
	defer os.RemoveAll(dir)
	path := dir + "/s.sock"
	ln, err := net.Listen("unix", path)
	must(err)
	fi, err := os.Stat(path)
	must(err)
	say("unix socket file", fi.Mode()&os.ModeSocket != 0)
	go func() {
		c, err := ln.Accept()
		must(err)
		io.Copy(c, c)
		c.Close()
	}()
	c, err := net.Dial("unix", path)
	must(err)
	fmt.Fprint(c, "ping")
	b := make([]byte, 4)
	_, err = io.ReadFull(c, b)
	say("unix stream echo", string(b), errno(err))
	say("unix stream peer is the path", c.RemoteAddr().String() == path, "local unnamed", c.LocalAddr().String() == "")
	c.Close()
	ln.Close()
	_, err = os.Stat(path)
	say("unix listener close removes the file", os.IsNotExist(err))
	_, err = net.Dial("unix", dir+"/missing")
	say("unix dial missing", errno(err))
	// A bound socket that does not listen refuses.
	fd, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	must(unix.Bind(fd, &unix.SockaddrUnix{Name: dir + "/bound"}))
	err = unix.Bind(fd, &unix.SockaddrUnix{Name: dir + "/again"})
	say("unix bind twice", errno(err))
	fd2, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	say("unix connect to non-listening", errno(unix.Connect(fd2, &unix.SockaddrUnix{Name: dir + "/bound"})))
	fd3, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	say("unix bind existing path", errno(unix.Bind(fd3, &unix.SockaddrUnix{Name: dir + "/bound"})))
	unix.Close(fd)
	unix.Close(fd2)
	unix.Close(fd3)
	// Datagrams, abstract names.
	srv, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: "@mvrun-netguest", Net: "unixgram"})
	must(err)
	cli, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: dir + "/cli", Net: "unixgram"})
	must(err)
	for _, m := range []string{"d1", "datagram two"} {
		_, err := cli.WriteToUnix([]byte(m), srv.LocalAddr().(*net.UnixAddr))
		must(err)
	}
	buf := make([]byte, 64)
	for range 2 {
		n, from, err := srv.ReadFromUnix(buf)
		must(err)
		say("unixgram got", string(buf[:n]), "from cli", from.Name == dir+"/cli")
	}
	srv.Close()
	_, err = cli.WriteToUnix([]byte("x"), &net.UnixAddr{Name: "@mvrun-netguest", Net: "unixgram"})
	say("unixgram to closed abstract name", errno(err))
	cli.Close()
}

// socketpair: connected AF_UNIX pairs; SOCK_SEQPACKET keeps boundaries.
func socketpair() {
	for _, typ := range []int{unix.SOCK_STREAM, unix.SOCK_SEQPACKET, unix.SOCK_DGRAM} {
		fds, err := unix.Socketpair(unix.AF_UNIX, typ, 0)
		must(err)
		unix.Write(fds[0], []byte("ab"))
		unix.Write(fds[0], []byte("cd"))
		b := make([]byte, 10)
		n, err := unix.Read(fds[1], b)
		say(fmt.Sprint("socketpair type ", typ, " first read"), string(b[:n]), errno(err))
		unix.Close(fds[0])
		n, err = unix.Read(fds[1], b)
		say(fmt.Sprint("socketpair type ", typ, " after close"), string(b[:n]), errno(err))
		unix.Close(fds[1])
	}
	// A blocking read and a blocking accept park the thread until a peer
	// acts.
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	must(err)
	go func() {
		time.Sleep(20 * time.Millisecond)
		unix.Write(fds[1], []byte("late"))
	}()
	b := make([]byte, 10)
	n, err := unix.Read(fds[0], b)
	say("socketpair blocking read", string(b[:n]), errno(err))
	unix.Close(fds[0])
	unix.Close(fds[1])
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	must(err)
	must(unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	must(unix.Listen(lfd, 8))
	sa, _ := unix.Getsockname(lfd)
	connected := make(chan error, 1)
	go func() {
		time.Sleep(20 * time.Millisecond)
		fd, _ := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		connected <- unix.Connect(fd, sa)
		unix.Write(fd, []byte("hello"))
		unix.Close(fd)
	}()
	nfd, _, err := unix.Accept(lfd)
	say("blocking accept", errno(err))
	say("blocking connect", errno(<-connected))
	n, err = unix.Read(nfd, b)
	say("blocking read", string(b[:n]), errno(err))
	n, err = unix.Read(nfd, b)
	say("blocking read at EOF", n, errno(err))
	unix.Close(nfd)
	unix.Close(lfd)
}

// sockopt: options Go sets, and reading them back.
func sockopt() {
	ln, err := net.Listen("tcp", ":0")
	must(err)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	must(err)
	defer c.Close()
	lraw, _ := ln.(*net.TCPListener).SyscallConn()
	lraw.Control(func(fd uintptr) {
		for _, o := range []struct {
			name         string
			level, name2 int
		}{
			{"SO_TYPE", unix.SOL_SOCKET, unix.SO_TYPE},
			{"SO_DOMAIN", unix.SOL_SOCKET, unix.SO_DOMAIN},
			{"SO_ACCEPTCONN", unix.SOL_SOCKET, unix.SO_ACCEPTCONN},
			{"SO_REUSEADDR", unix.SOL_SOCKET, unix.SO_REUSEADDR},
			{"IPV6_V6ONLY", unix.IPPROTO_IPV6, unix.IPV6_V6ONLY},
		} {
			v, err := unix.GetsockoptInt(int(fd), o.level, o.name2)
			say("listener "+o.name, v, errno(err))
		}
	})
	raw, _ := c.(*net.TCPConn).SyscallConn()
	raw.Control(func(fd uintptr) {
		f := int(fd)
		for _, o := range []struct {
			name         string
			level, name2 int
		}{
			{"TCP_NODELAY", unix.IPPROTO_TCP, unix.TCP_NODELAY},
			{"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE},
			{"TCP_KEEPIDLE", unix.IPPROTO_TCP, unix.TCP_KEEPIDLE},
			{"TCP_KEEPINTVL", unix.IPPROTO_TCP, unix.TCP_KEEPINTVL},
			{"SO_ACCEPTCONN", unix.SOL_SOCKET, unix.SO_ACCEPTCONN},
			{"SO_ERROR", unix.SOL_SOCKET, unix.SO_ERROR},
			{"IPV6_V6ONLY", unix.IPPROTO_IPV6, unix.IPV6_V6ONLY},
			{"SO_PROTOCOL", unix.SOL_SOCKET, unix.SO_PROTOCOL},
		} {
			v, err := unix.GetsockoptInt(f, o.level, o.name2)
			say("conn "+o.name, v, errno(err))
		}
		must(unix.SetsockoptInt(f, unix.SOL_SOCKET, unix.SO_RCVBUF, 65536))
		v, _ := unix.GetsockoptInt(f, unix.SOL_SOCKET, unix.SO_RCVBUF)
		say("conn SO_RCVBUF after setting 65536", v)
		must(unix.SetsockoptInt(f, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, 3000))
		v, _ = unix.GetsockoptInt(f, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
		say("conn TCP_USER_TIMEOUT", v)
		must(unix.SetsockoptLinger(f, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 5}))
		l, err := unix.GetsockoptLinger(f, unix.SOL_SOCKET, unix.SO_LINGER)
		say("conn SO_LINGER", l.Onoff, l.Linger, errno(err))
		say("conn TCP_KEEPCNT 0", errno(unix.SetsockoptInt(f, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 0)))
		info, err := unix.GetsockoptTCPInfo(f, unix.IPPROTO_TCP, unix.TCP_INFO)
		say("conn TCP_INFO state", info.State, errno(err))
	})
	u, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	uraw, _ := u.SyscallConn()
	uraw.Control(func(fd uintptr) {
		v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST)
		say("udp SO_BROADCAST", v, errno(err))
		_, err = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NODELAY)
		say("udp get TCP_NODELAY", errno(err))
		say("udp set TCP_NODELAY", errno(unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)))
	})
	u.Close()
}

// unknownopt sets an option Linux does not know; hv reports it by name.
func unknownopt() {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	must(err)
	say("setsockopt SOL_SOCKET 9999", errno(unix.SetsockoptInt(fd, unix.SOL_SOCKET, 9999, 1)))
	_, err = unix.GetsockoptInt(fd, unix.IPPROTO_TCP, 9999)
	say("getsockopt IPPROTO_TCP 9999", errno(err))
	unix.Close(fd)
}

// unsupported uses socket features hv does not model: a netlink socket
// and passing a descriptor with SCM_RIGHTS. Under hv both fail at once
// and are reported by name.
func unsupported() {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE)
	say("netlink socket", errno(err))
	if err == nil {
		unix.Close(fd)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	must(err)
	err = unix.Sendmsg(fds[0], []byte("x"), unix.UnixRights(fds[1]), nil, 0)
	say("sendmsg SCM_RIGHTS", errno(err))
}

// resolve looks names up with Go's resolver: its own host name and
// localhost come from /etc/hosts; an unknown name fails (under hv at once:
// the nameserver in /etc/resolv.conf refuses).
func resolve() {
	host, err := os.Hostname()
	must(err)
	for _, name := range []string{host, "localhost", "no-such-host.invalid"} {
		addrs, err := net.LookupHost(name)
		if err != nil {
			var dnsErr *net.DNSError
			say("lookup "+name, "fails", errors.As(err, &dnsErr))
			continue
		}
		sort.Strings(addrs)
		say("lookup "+name, strings.Join(addrs, " "))
	}
}
