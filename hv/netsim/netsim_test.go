package netsim

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/mvrun/multiverse/hv/abi"
)

// cutLinks is a link model whose cuts the test sets by hand.
type cutLinks struct {
	FixedLinks
	cut map[[2]string]bool
}

func (l *cutLinks) Cut(from, to string) bool { return l.cut[[2]string{from, to}] }

func (l *cutLinks) partition(a, b string, on bool) {
	l.cut[[2]string{a, b}] = on
	l.cut[[2]string{b, a}] = on
}

type world struct {
	t      *testing.T
	n      *Network
	links  *cutLinks
	a, b   *Host
	events []string
}

var (
	ipA = netip.MustParseAddr("10.0.0.1")
	ipB = netip.MustParseAddr("10.0.0.2")
)

func newWorld(t *testing.T, seed uint64) *world {
	t.Helper()
	w := &world{t: t, links: &cutLinks{FixedLinks: FixedLinks{100 * time.Microsecond}, cut: map[[2]string]bool{}}}
	w.n = New(Config{Seed: seed, Links: w.links, Trace: func(kind byte, words ...uint64) {
		w.events = append(w.events, fmt.Sprintf("%d %c %v", w.n.Now(), kind, words))
	}})
	var err error
	if w.a, err = w.n.AddHost("a", ipA); err != nil {
		t.Fatal(err)
	}
	if w.b, err = w.n.AddHost("b", ipB); err != nil {
		t.Fatal(err)
	}
	return w
}

// runFor advances virtual time by d, event by event.
func (w *world) runFor(d time.Duration) {
	end := w.n.Now() + int64(d)
	for {
		next, ok := w.n.NextEvent()
		if !ok || next > end {
			break
		}
		w.n.Advance(next)
	}
	w.n.Advance(end)
}

// until advances event by event until cond holds or limit passes; it
// returns the virtual time it took.
func (w *world) until(limit time.Duration, cond func() bool) time.Duration {
	w.t.Helper()
	start := w.n.Now()
	end := start + int64(limit)
	for !cond() {
		next, ok := w.n.NextEvent()
		if !ok || next > end {
			w.t.Fatalf("condition not met within %v (now %v)", limit, time.Duration(w.n.Now()-start))
		}
		w.n.Advance(next)
	}
	return time.Duration(w.n.Now() - start)
}

func tcpAddr(ip netip.Addr, port uint16) Addr {
	fam := Inet
	if ip.Is6() {
		fam = Inet6
	}
	return Addr{Family: fam, IP: netip.AddrPortFrom(ip, port)}
}

func mustSock(t *testing.T, h *Host, fam Family, typ Type) Socket {
	t.Helper()
	s, err := h.Socket(fam, typ)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func listen(t *testing.T, h *Host, ip netip.Addr, port uint16, backlog int) Socket {
	t.Helper()
	fam := Inet
	if ip.Is6() {
		fam = Inet6
	}
	l := mustSock(t, h, fam, Stream)
	if err := l.SetOption(OptReuseAddr, 1); err != nil {
		t.Fatal(err)
	}
	if err := l.Bind(tcpAddr(ip, port)); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(backlog); err != nil {
		t.Fatal(err)
	}
	return l
}

// dial connects from h to dst and returns the client and, once accepted,
// the server side.
func (w *world) dial(h *Host, l Socket, dst Addr) (Socket, Socket) {
	w.t.Helper()
	c := mustSock(w.t, h, dst.Family, Stream)
	if err := c.Connect(dst); err != abi.EINPROGRESS {
		w.t.Fatalf("connect = %v, want EINPROGRESS", err)
	}
	w.until(time.Second, func() bool { return c.Events()&abi.EpollOut != 0 })
	if err := c.Connect(dst); err != nil {
		w.t.Fatalf("connect after completion = %v", err)
	}
	var s Socket
	w.until(time.Second, func() bool {
		var err error
		s, err = l.Accept()
		return err == nil
	})
	return c, s
}

func readAll(s Socket) ([]byte, error) {
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, _, _, err := s.Recv(buf, 0)
		if err != nil {
			return out, err
		}
		if n == 0 {
			return out, nil
		}
		out = append(out, buf[:n]...)
	}
}

func TestTCPEchoAcrossHosts(t *testing.T) {
	w := newWorld(t, 1)
	l := listen(t, w.b, ipB, 80, 16)
	c, s := w.dial(w.a, l, tcpAddr(ipB, 80))
	if n, err := c.Send([]byte("hello"), nil); n != 5 || err != nil {
		t.Fatalf("send = %d, %v", n, err)
	}
	buf := make([]byte, 10)
	if _, _, _, err := s.Recv(buf, 0); err != abi.EAGAIN {
		t.Fatalf("recv before the delay = %v, want EAGAIN", err)
	}
	took := w.until(time.Second, func() bool { return s.Events()&abi.EpollIn != 0 })
	if took != 100*time.Microsecond {
		t.Errorf("delivery took %v, want the link's 100µs", took)
	}
	n, _, _, err := s.Recv(buf, 0)
	if string(buf[:n]) != "hello" || err != nil {
		t.Fatalf("recv = %q, %v", buf[:n], err)
	}
	pa, _ := s.PeerAddr()
	if pa.IP.Addr() != ipA || c.LocalAddr().IP != pa.IP {
		t.Errorf("server sees peer %v, client is %v", pa.IP, c.LocalAddr().IP)
	}
	if p := pa.IP.Port(); p < ephemeralLow || p > ephemeralHigh {
		t.Errorf("client port %d outside the ephemeral range", p)
	}
}

func TestConnectRefusedAfterOneRTT(t *testing.T) {
	w := newWorld(t, 1)
	c := mustSock(t, w.a, Inet, Stream)
	if err := c.Connect(tcpAddr(ipB, 81)); err != abi.EINPROGRESS {
		t.Fatalf("connect = %v", err)
	}
	took := w.until(time.Second, func() bool { return c.Events()&abi.EpollErr != 0 })
	if took != 200*time.Microsecond {
		t.Errorf("refusal after %v, want one RTT (200µs)", took)
	}
	if ev := c.Events(); ev&(abi.EpollOut|abi.EpollHup) != abi.EpollOut|abi.EpollHup {
		t.Errorf("events after refusal %#x, want OUT|HUP|ERR", ev)
	}
	if v, _ := c.Option(OptError); abi.Errno(v) != abi.ECONNREFUSED {
		t.Errorf("SO_ERROR = %v, want ECONNREFUSED", abi.Errno(v))
	}
	if v, _ := c.Option(OptError); v != 0 {
		t.Errorf("SO_ERROR read twice = %v, want 0 (reading clears it)", v)
	}
}

func TestSynRetriesThenTimeout(t *testing.T) {
	for _, tc := range []struct {
		name        string
		userTimeout int // ms
		want        time.Duration
	}{
		{"tcp_syn_retries", 0, 127 * time.Second},
		{"TCP_USER_TIMEOUT", 5000, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, 1)
			listen(t, w.b, ipB, 80, 16)
			w.links.partition("a", "b", true)
			c := mustSock(t, w.a, Inet, Stream)
			if tc.userTimeout > 0 {
				if err := c.SetOption(OptUserTimeout, tc.userTimeout); err != nil {
					t.Fatal(err)
				}
			}
			w.events = nil
			c.Connect(tcpAddr(ipB, 80))
			took := w.until(200*time.Second, func() bool { return c.Events()&abi.EpollErr != 0 })
			if took != tc.want {
				t.Errorf("connect failed after %v, want %v", took, tc.want)
			}
			if err := c.Connect(tcpAddr(ipB, 80)); err != abi.ETIMEDOUT {
				t.Errorf("connect again = %v, want ETIMEDOUT", err)
			}
			var lost int
			for _, e := range w.events {
				if bytes.Contains([]byte(e), []byte(" L ")) {
					lost++
				}
			}
			if tc.userTimeout == 0 && lost != 7 {
				t.Errorf("%d SYNs lost, want 7 (1 + 6 retries): %v", lost, w.events)
			}
		})
	}
}

func TestSynRetryGetsThroughAfterHeal(t *testing.T) {
	w := newWorld(t, 1)
	listen(t, w.b, ipB, 80, 16)
	w.links.partition("a", "b", true)
	c := mustSock(t, w.a, Inet, Stream)
	c.Connect(tcpAddr(ipB, 80))
	w.runFor(2 * time.Second) // SYNs at 0 and 1 s are lost
	w.links.partition("a", "b", false)
	took := w.until(10*time.Second, func() bool { return c.Events()&abi.EpollOut != 0 })
	// The next retry is at 3 s; connected one RTT later.
	if want := time.Second + 200*time.Microsecond; took != want {
		t.Errorf("connected %v after the heal, want %v", took, want)
	}
}

func TestBacklogDropsSYNs(t *testing.T) {
	w := newWorld(t, 1)
	l := listen(t, w.b, ipB, 80, 1)
	var cs []Socket
	for range 3 {
		c := mustSock(t, w.a, Inet, Stream)
		c.Connect(tcpAddr(ipB, 80))
		cs = append(cs, c)
	}
	w.runFor(100 * time.Millisecond)
	connected := 0
	for _, c := range cs {
		if c.Events()&abi.EpollOut != 0 {
			connected++
		}
	}
	if connected != 2 {
		t.Fatalf("%d of 3 connected with backlog 1, want 2 (Linux queues backlog+1)", connected)
	}
	if _, err := l.Accept(); err != nil {
		t.Fatal(err)
	}
	took := w.until(5*time.Second, func() bool { return cs[2].Events()&abi.EpollOut != 0 })
	if took < 800*time.Millisecond || took > time.Second {
		t.Errorf("third connected %v later, want at its 1 s SYN retry", took)
	}
}

func TestCloseSendsFINAfterData(t *testing.T) {
	w := newWorld(t, 1)
	l := listen(t, w.b, ipB, 80, 16)
	c, s := w.dial(w.a, l, tcpAddr(ipB, 80))
	c.Send([]byte("last words"), nil)
	c.Close()
	w.runFor(time.Millisecond)
	got, err := readAll(s)
	if string(got) != "last words" || err != nil {
		t.Fatalf("read %q, %v; want the data then EOF", got, err)
	}
	if ev := s.Events(); ev&abi.EpollRdhup == 0 {
		t.Errorf("events %#x lack RDHUP after FIN", ev)
	}
	// Writing to the closed peer draws a RST: ECONNRESET, then EPIPE.
	if _, err := s.Send([]byte("x"), nil); err != nil {
		t.Fatalf("first write after FIN = %v, want success", err)
	}
	w.runFor(time.Millisecond)
	if _, err := s.Send([]byte("x"), nil); err != abi.ECONNRESET {
		t.Fatalf("write after RST = %v, want ECONNRESET", err)
	}
	if _, err := s.Send([]byte("x"), nil); err != abi.EPIPE {
		t.Fatalf("second write after RST = %v, want EPIPE", err)
	}
}

func TestCloseWithUnreadDataResets(t *testing.T) {
	w := newWorld(t, 1)
	l := listen(t, w.b, ipB, 80, 16)
	c, s := w.dial(w.a, l, tcpAddr(ipB, 80))
	s.Send([]byte("reply"), nil)
	c.Send([]byte("request"), nil)
	w.runFor(time.Millisecond)
	c.Close() // "reply" unread
	w.runFor(time.Millisecond)
	buf := make([]byte, 100)
	n, _, _, err := s.Recv(buf, 0)
	if string(buf[:n]) != "request" || err != nil {
		t.Fatalf("read %q, %v: data before the RST is still readable", buf[:n], err)
	}
	if _, _, _, err := s.Recv(buf, 0); err != abi.ECONNRESET {
		t.Fatalf("read after RST = %v, want ECONNRESET", err)
	}
	if n, _, _, err := s.Recv(buf, 0); n != 0 || err != nil {
		t.Fatalf("second read after RST = %d, %v; want EOF", n, err)
	}
}

func TestHalfClose(t *testing.T) {
	w := newWorld(t, 1)
	l := listen(t, w.b, ipB, 80, 16)
	c, s := w.dial(w.a, l, tcpAddr(ipB, 80))
	c.Send([]byte("question"), nil)
	if err := c.Shutdown(abi.ShutWr); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send([]byte("more"), nil); err != abi.EPIPE {
		t.Errorf("write after SHUT_WR = %v, want EPIPE", err)
	}
	w.runFor(time.Millisecond)
	got, err := readAll(s)
	if string(got) != "question" || err != nil {
		t.Fatalf("server read %q, %v", got, err)
	}
	s.Send([]byte("answer"), nil)
	s.Close()
	w.runFor(time.Millisecond)
	got, err = readAll(c)
	if string(got) != "answer" || err != nil {
		t.Fatalf("client read %q, %v after half-close", got, err)
	}
}

func TestBackpressureFromPausedReader(t *testing.T) {
	w := newWorld(t, 1)
	l := listen(t, w.b, ipB, 80, 16)
	c, s := w.dial(w.a, l, tcpAddr(ipB, 80))
	chunk := make([]byte, 4096)
	total := 0
	for i := 0; i < 1000; i++ {
		n, err := c.Send(chunk, nil)
		if err == abi.EAGAIN {
			w.runFor(time.Millisecond)
			if n, err = c.Send(chunk, nil); err == abi.EAGAIN {
				break
			}
		}
		total += n
	}
	want := tcpRcvBufDefault + tcpSndBufDefault
	if total != want {
		t.Fatalf("wrote %d bytes before EAGAIN, want receive+send buffers %d", total, want)
	}
	if c.Events()&abi.EpollOut != 0 {
		t.Errorf("writable with full buffers")
	}
	got := 0
	buf := make([]byte, 64<<10)
	for got < total {
		n, _, _, err := s.Recv(buf, 0)
		if err == abi.EAGAIN {
			w.runFor(time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	if c.Events()&abi.EpollOut == 0 {
		t.Errorf("not writable after the reader drained")
	}
}

func TestRetransmitTimeout(t *testing.T) {
	for _, tc := range []struct {
		name        string
		userTimeout int
		want        time.Duration
	}{
		{"tcp_retries2", 0, 924600 * time.Millisecond},
		{"TCP_USER_TIMEOUT", 10000, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, 1)
			l := listen(t, w.b, ipB, 80, 16)
			c, s := w.dial(w.a, l, tcpAddr(ipB, 80))
			if tc.userTimeout > 0 {
				c.SetOption(OptUserTimeout, tc.userTimeout)
			}
			w.links.partition("a", "b", true)
			c.Send([]byte("lost"), nil)
			took := w.until(2000*time.Second, func() bool { return c.Events()&abi.EpollErr != 0 })
			if took != tc.want {
				t.Errorf("failed after %v, want %v", took, tc.want)
			}
			if _, err := c.Send([]byte("x"), nil); err != abi.ETIMEDOUT {
				t.Errorf("write = %v, want ETIMEDOUT", err)
			}
			if s.Events()&abi.EpollErr != 0 {
				t.Errorf("the peer heard of the timeout")
			}
		})
	}
}

func TestRetransmitAfterHealDelivers(t *testing.T) {
	w := newWorld(t, 1)
	l := listen(t, w.b, ipB, 80, 16)
	c, s := w.dial(w.a, l, tcpAddr(ipB, 80))
	w.links.partition("a", "b", true)
	c.Send([]byte("patience"), nil)
	w.runFor(time.Second) // retransmissions at 0.2 and 0.6 s lost; next at 1.4 s
	w.links.partition("a", "b", false)
	took := w.until(10*time.Second, func() bool { return s.Events()&abi.EpollIn != 0 })
	if want := 400*time.Millisecond + 100*time.Microsecond; took != want {
		t.Errorf("delivered %v after the heal, want %v", took, want)
	}
}

func TestKeepaliveDetectsDeadPeer(t *testing.T) {
	w := newWorld(t, 1)
	l := listen(t, w.b, ipB, 80, 16)
	c, _ := w.dial(w.a, l, tcpAddr(ipB, 80))
	c.SetOption(OptKeepAlive, 1)
	c.SetOption(OptKeepIdle, 15)
	c.SetOption(OptKeepIntvl, 15)
	c.SetOption(OptKeepCnt, 9)
	w.runFor(time.Minute) // healthy: probes answered
	if c.Events()&abi.EpollErr != 0 {
		t.Fatal("keepalive failed a healthy connection")
	}
	w.n.KillHost("b")
	took := w.until(time.Hour, func() bool { return c.Events()&abi.EpollErr != 0 })
	// 15 s idle + 9×15 s unanswered probes = 150 s after the last answer,
	// which came at most one probe interval before the kill.
	if took < 135*time.Second || took > 150*time.Second {
		t.Errorf("dead peer detected %v after the kill, want 150 s after the last answered probe", took)
	}
	if v, _ := c.Option(OptError); abi.Errno(v) != abi.ETIMEDOUT {
		t.Errorf("SO_ERROR = %v, want ETIMEDOUT", abi.Errno(v))
	}
}

func TestKilledHostIsSilentRestartedHostResets(t *testing.T) {
	w := newWorld(t, 1)
	l := listen(t, w.b, ipB, 80, 16)
	c, _ := w.dial(w.a, l, tcpAddr(ipB, 80))
	w.n.KillHost("b")
	c.Send([]byte("anyone?"), nil)
	w.runFor(5 * time.Second)
	if ev := c.Events(); ev&(abi.EpollErr|abi.EpollHup) != 0 {
		t.Fatalf("events %#x: a killed host must be silent", ev)
	}
	w.n.RestartHost("b")
	took := w.until(time.Minute, func() bool { return c.Events()&abi.EpollErr != 0 })
	if took > 7*time.Second {
		t.Errorf("reset %v after restart, want at the next retransmission", took)
	}
	if _, err := c.Send([]byte("x"), nil); err != abi.ECONNRESET {
		t.Errorf("write = %v, want ECONNRESET", err)
	}
	// A connect while the host is down times out like a partition.
	w.n.KillHost("b")
	d := mustSock(t, w.a, Inet, Stream)
	d.Connect(tcpAddr(ipB, 80))
	if took := w.until(200*time.Second, func() bool { return d.Events()&abi.EpollErr != 0 }); took != 127*time.Second {
		t.Errorf("connect to a down host failed after %v, want 127s", took)
	}
}

func TestDualStackListenerSeesMappedPeer(t *testing.T) {
	w := newWorld(t, 1)
	l := mustSock(t, w.b, Inet6, Stream)
	l.Bind(tcpAddr(netip.IPv6Unspecified(), 8080))
	l.Listen(8)
	c, s := w.dial(w.a, l, tcpAddr(ipB, 8080))
	pa, _ := s.PeerAddr()
	if want := netip.AddrFrom16(ipA.As16()); pa.IP.Addr() != want || pa.Family != Inet6 {
		t.Errorf("peer %v (family %d), want %v", pa.IP, pa.Family, want)
	}
	if la := c.LocalAddr(); la.IP.Addr() != ipA {
		t.Errorf("client local %v", la.IP)
	}
	// With IPV6_V6ONLY the same port refuses IPv4.
	v6 := mustSock(t, w.b, Inet6, Stream)
	v6.SetOption(OptV6Only, 1)
	v6.Bind(tcpAddr(netip.IPv6Unspecified(), 8081))
	v6.Listen(8)
	d := mustSock(t, w.a, Inet, Stream)
	d.Connect(tcpAddr(ipB, 8081))
	w.runFor(time.Millisecond)
	if err := d.Connect(tcpAddr(ipB, 8081)); err != abi.ECONNREFUSED {
		t.Errorf("IPv4 connect to a v6only listener = %v, want ECONNREFUSED", err)
	}
}

func TestBindRules(t *testing.T) {
	w := newWorld(t, 1)
	l := listen(t, w.b, netip.IPv4Unspecified(), 80, 8)
	s2 := mustSock(t, w.b, Inet, Stream)
	s2.SetOption(OptReuseAddr, 1)
	if err := s2.Bind(tcpAddr(netip.IPv4Unspecified(), 80)); err != abi.EADDRINUSE {
		t.Errorf("second bind on a listening port = %v, want EADDRINUSE", err)
	}
	if err := mustSock(t, w.b, Inet6, Stream).Bind(tcpAddr(netip.IPv6Unspecified(), 80)); err != abi.EADDRINUSE {
		t.Errorf("dual-stack bind over an IPv4 listener = %v, want EADDRINUSE", err)
	}
	if err := mustSock(t, w.b, Inet, Stream).Bind(tcpAddr(netip.MustParseAddr("10.9.9.9"), 1)); err != abi.EADDRNOTAVAIL {
		t.Errorf("bind to a foreign address = %v, want EADDRNOTAVAIL", err)
	}
	// A server that closes with a connection open leaves it in TIME_WAIT
	// (it closed first); SO_REUSEADDR lets the restarted server rebind.
	c, s := w.dial(w.a, l, tcpAddr(ipB, 80))
	s.Close()
	l.Close()
	w.runFor(time.Millisecond)
	c.Close()
	w.runFor(time.Millisecond)
	if err := mustSock(t, w.b, Inet, Stream).Bind(tcpAddr(netip.IPv4Unspecified(), 80)); err != abi.EADDRINUSE {
		t.Errorf("bind without SO_REUSEADDR during TIME_WAIT = %v, want EADDRINUSE", err)
	}
	listen(t, w.b, netip.IPv4Unspecified(), 80, 8) // with SO_REUSEADDR: fine
	w.runFor(time.Minute)
	if err := mustSock(t, w.b, Inet, Stream).Bind(tcpAddr(netip.IPv4Unspecified(), 81)); err != nil {
		t.Errorf("bind to a free port = %v", err)
	}
}

func TestEphemeralPortsDeterministicAndUnique(t *testing.T) {
	ports := func(seed uint64) []uint16 {
		w := newWorld(t, seed)
		listen(t, w.b, ipB, 80, 100)
		var out []uint16
		seen := map[uint16]bool{}
		for range 50 {
			c := mustSock(t, w.a, Inet, Stream)
			c.Connect(tcpAddr(ipB, 80))
			p := c.LocalAddr().IP.Port()
			if seen[p] {
				t.Fatalf("port %d handed out twice", p)
			}
			seen[p] = true
			out = append(out, p)
		}
		return out
	}
	a, b, c := ports(7), ports(7), ports(8)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("seed 7 twice gave different ports")
	}
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Errorf("seeds 7 and 8 gave the same ports")
	}
}

// TestSameSeedSameEvents runs a busy scenario twice per seed and compares
// the whole trace.
func TestSameSeedSameEvents(t *testing.T) {
	run := func(seed uint64) []string {
		w := newWorld(t, seed)
		l := listen(t, w.b, ipB, 80, 4)
		var cs []Socket
		for i := range 6 {
			c := mustSock(t, w.a, Inet, Stream)
			c.Connect(tcpAddr(ipB, 80))
			c.Send([]byte(fmt.Sprint("msg", i)), nil)
			cs = append(cs, c)
		}
		w.runFor(2 * time.Second)
		for {
			s, err := l.Accept()
			if err != nil {
				break
			}
			s.Send([]byte("ok"), nil)
			s.Close()
		}
		w.links.partition("a", "b", true)
		cs[0].Send([]byte("x"), nil)
		w.runFor(3 * time.Second)
		w.n.KillHost("b")
		w.n.RestartHost("b")
		w.links.partition("a", "b", false)
		w.runFor(30 * time.Second)
		return w.events
	}
	a, b := run(3), run(3)
	if len(a) == 0 || fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("same seed, different events:\n%v\n%v", a, b)
	}
}
