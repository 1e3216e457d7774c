package netsim

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mvrun/multiverse/hv/abi"
)

// faultLinks is a link model whose datagram fate the test scripts.
type faultLinks struct {
	FixedLinks
	fates []fate // consumed one per datagram
}

type fate struct {
	drop   bool
	copies int
	delay  time.Duration
}

func (l *faultLinks) Datagram(from, to string) (bool, int, time.Duration) {
	f := l.fates[0]
	l.fates = l.fates[1:]
	return f.drop, f.copies, f.delay
}

func boundUDP(t *testing.T, h *Host, ip netip.Addr, port uint16) Socket {
	t.Helper()
	s := mustSock(t, h, Inet, Dgram)
	if err := s.Bind(tcpAddr(ip, port)); err != nil {
		t.Fatal(err)
	}
	return s
}

func recvAll(s Socket) []string {
	var out []string
	buf := make([]byte, 100)
	for {
		n, _, _, err := s.Recv(buf, 0)
		if err != nil {
			return out
		}
		out = append(out, string(buf[:n]))
	}
}

func TestDatagramFaults(t *testing.T) {
	links := &faultLinks{FixedLinks: FixedLinks{time.Millisecond}, fates: []fate{
		{copies: 1, delay: 5 * time.Millisecond}, // "a": slow
		{copies: 1, delay: time.Millisecond},     // "b": overtakes a
		{drop: true},                             // "c": lost
		{copies: 2, delay: 2 * time.Millisecond}, // "d": duplicated
	}}
	n := New(Config{Seed: 1, Links: links})
	a, _ := n.AddHost("a", ipA)
	b, _ := n.AddHost("b", ipB)
	w := &world{t: t, n: n}
	src := boundUDP(t, a, ipA, 1000)
	dst := boundUDP(t, b, ipB, 2000)
	for _, m := range []string{"a", "b", "c", "d"} {
		if k, err := src.Send([]byte(m), &Addr{Family: Inet, IP: netip.AddrPortFrom(ipB, 2000)}); k != 1 || err != nil {
			t.Fatalf("send %s = %d, %v", m, k, err)
		}
	}
	w.runFor(10 * time.Millisecond)
	got := recvAll(dst)
	want := []string{"b", "d", "d", "a"}
	if len(got) != len(want) {
		t.Fatalf("received %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("received %q, want %q (reordered by delay, c dropped, d twice)", got, want)
		}
	}
}

func TestDatagramBoundariesTruncationAndEmpty(t *testing.T) {
	w := newWorld(t, 1)
	src := boundUDP(t, w.a, ipA, 1000)
	dst := boundUDP(t, w.b, ipB, 2000)
	to := &Addr{Family: Inet, IP: netip.AddrPortFrom(ipB, 2000)}
	src.Send([]byte("0123456789"), to)
	src.Send(nil, to)
	w.runFor(time.Millisecond)
	buf := make([]byte, 4)
	n, size, from, err := dst.Recv(buf, Peek)
	if n != 4 || size != 10 || err != nil || from.IP != netip.AddrPortFrom(ipA, 1000) {
		t.Fatalf("peek = %d, %d, %v, %v", n, size, from.IP, err)
	}
	n, size, _, _ = dst.Recv(buf, 0)
	if n != 4 || size != 10 {
		t.Fatalf("short read = %d of %d, want 4 of 10", n, size)
	}
	n, size, _, err = dst.Recv(buf, 0)
	if n != 0 || size != 0 || err != nil {
		t.Fatalf("zero-length datagram = %d, %d, %v", n, size, err)
	}
	if _, _, _, err := dst.Recv(buf, 0); err != abi.EAGAIN {
		t.Fatalf("empty queue = %v, want EAGAIN (the truncated rest is gone)", err)
	}
}

func TestDatagramReceiveBufferOverflowDrops(t *testing.T) {
	w := newWorld(t, 1)
	src := boundUDP(t, w.a, ipA, 1000)
	dst := boundUDP(t, w.b, ipB, 2000)
	dst.SetOption(OptRcvBuf, 4096) // 8192 as Linux doubles it
	to := &Addr{Family: Inet, IP: netip.AddrPortFrom(ipB, 2000)}
	for range 100 {
		src.Send(make([]byte, 1000), to)
	}
	w.runFor(time.Millisecond)
	got := len(recvAll(dst))
	// Accepted while the charged memory (1000+512 each) is within 8192.
	if got != 6 {
		t.Errorf("%d of 100 datagrams kept, want 6", got)
	}
}

func TestConnectedUDPGetsPortUnreachable(t *testing.T) {
	w := newWorld(t, 1)
	c := mustSock(t, w.a, Inet, Dgram)
	if err := c.Connect(tcpAddr(ipB, 53)); err != nil {
		t.Fatal(err)
	}
	u := boundUDP(t, w.a, ipA, 1001) // unconnected
	c.Send([]byte("query"), nil)
	u.Send([]byte("query"), &Addr{Family: Inet, IP: netip.AddrPortFrom(ipB, 53)})
	took := w.until(time.Second, func() bool { return c.Events()&abi.EpollErr != 0 })
	if took != 200*time.Microsecond {
		t.Errorf("ECONNREFUSED after %v, want one RTT", took)
	}
	if _, _, _, err := c.Recv(make([]byte, 10), 0); err != abi.ECONNREFUSED {
		t.Errorf("recv = %v, want ECONNREFUSED", err)
	}
	if _, _, _, err := c.Recv(make([]byte, 10), 0); err != abi.EAGAIN {
		t.Errorf("recv again = %v, want EAGAIN (the error is reported once)", err)
	}
	if u.Events()&abi.EpollErr != 0 {
		t.Errorf("an unconnected socket got the ICMP error")
	}
}

func TestUnixSockets(t *testing.T) {
	w := newWorld(t, 1)
	h := w.a
	l := mustSock(t, h, Unix, Stream)
	if err := l.Bind(Addr{Family: Unix, Name: "/run/s", Key: "inode:7"}); err != nil {
		t.Fatal(err)
	}
	c := mustSock(t, h, Unix, Stream)
	if err := c.Connect(Addr{Family: Unix, Name: "/run/s", Key: "inode:7"}); err != abi.ECONNREFUSED {
		t.Fatalf("connect before listen = %v, want ECONNREFUSED", err)
	}
	l.Listen(1) // holds two, as on Linux
	if err := c.Connect(Addr{Family: Unix, Name: "/run/s", Key: "inode:7"}); err != nil {
		t.Fatal(err)
	}
	if err := mustSock(t, h, Unix, Stream).Connect(Addr{Family: Unix, Name: "/run/s", Key: "inode:7"}); err != nil {
		t.Fatal(err)
	}
	if err := mustSock(t, h, Unix, Stream).Connect(Addr{Family: Unix, Name: "/run/s", Key: "inode:7"}); err != abi.EAGAIN {
		t.Fatalf("connect to a full backlog = %v, want EAGAIN", err)
	}
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := c.PeerAddr(); p.Name != "/run/s" {
		t.Errorf("client's peer %q", p.Name)
	}
	c.Send([]byte("hi"), nil)
	s.Send([]byte("unread"), nil)
	buf := make([]byte, 10)
	if n, _, _, _ := s.Recv(buf, 0); string(buf[:n]) != "hi" {
		t.Errorf("server read %q", buf[:n])
	}
	c.Close() // with "unread" queued: the server is reset
	if _, _, _, err := s.Recv(buf, 0); err != abi.ECONNRESET {
		t.Errorf("read after the peer closed with unread data = %v, want ECONNRESET", err)
	}
	if _, err := s.Send([]byte("x"), nil); err != abi.EPIPE {
		t.Errorf("write to a closed peer = %v, want EPIPE", err)
	}
	// Datagrams to an abstract name; to a name nobody has.
	r := mustSock(t, h, Unix, Dgram)
	r.Bind(Addr{Family: Unix, Name: "\x00abs"})
	snd := mustSock(t, h, Unix, Dgram)
	if _, err := snd.Send([]byte("d"), &Addr{Family: Unix, Name: "\x00abs"}); err != nil {
		t.Fatal(err)
	}
	if _, err := snd.Send([]byte("d"), &Addr{Family: Unix, Name: "\x00none"}); err != abi.ECONNREFUSED {
		t.Errorf("send to an unbound name = %v, want ECONNREFUSED", err)
	}
	for range maxDgramQlen {
		snd.Send([]byte("d"), &Addr{Family: Unix, Name: "\x00abs"})
	}
	if _, err := snd.Send([]byte("d"), &Addr{Family: Unix, Name: "\x00abs"}); err != abi.EAGAIN {
		t.Errorf("send to a full queue = %v, want EAGAIN", err)
	}
	// Autobind gives an abstract name.
	ab := mustSock(t, h, Unix, Dgram)
	ab.Bind(Addr{Family: Unix})
	if nm := ab.LocalAddr().Name; len(nm) != 6 || nm[0] != 0 {
		t.Errorf("autobound name %q, want NUL and five hex digits", nm)
	}
}

func TestObserveAndConnStats(t *testing.T) {
	w := newWorld(t, 1)
	var segs []Segment
	w.n.Observe(func(s Segment) { segs = append(segs, s) })
	l := listen(t, w.b, ipB, 80, 4)
	c, s := w.dial(w.a, l, tcpAddr(ipB, 80))
	c.Send([]byte("12345"), nil)
	c.Send([]byte("678"), nil)
	w.runFor(time.Millisecond)
	readAll(s)
	c.Close()
	w.runFor(time.Millisecond)
	var data int
	for _, sg := range segs {
		if sg.Proto != abi.IpprotoTCP || sg.From.Addr() != ipA || sg.To != netip.AddrPortFrom(ipB, 80) {
			t.Errorf("segment %+v: wrong endpoints", sg)
		}
		data += sg.Len
	}
	if last := segs[len(segs)-1]; last.Flags&FlagFIN == 0 || last.Seq != 8 {
		t.Errorf("last segment %+v, want the FIN at offset 8", last)
	}
	st := w.n.Conns()
	if len(st) != 1 || st[0].Sent != [2]uint64{8, 0} || data != 8 || st[0].ClientHost != "a" {
		t.Errorf("conn stats %+v, observed %d bytes; want 8 bytes client→server", st, data)
	}
}
