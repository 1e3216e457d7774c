package network

// Numbers on the shared 2-core dev VM (kernel 6.18, Go 1.26), from
//
//	go test -run '^$' -bench . -benchtime 2s ./runner/network/
//
// on a quiet machine (load < 1):
//
//	BenchmarkRoundTrip/switch-2   150784   15536 ns/op
//	BenchmarkRoundTrip/veth-2     225344   10614 ns/op
//	BenchmarkForward-2            726207    5182 ns/op   158904 frames/s   0.8330 switched/sent
//
// The cost of drawing one frame's fate is BenchmarkDecide in
// internal/linkmodel.
//
// A UDP round trip through the switch costs ~5 µs more than over a veth
// pair, so the switch adds ~2.5 µs per frame on a clean link. One sender
// flooding 64-byte datagrams gets ~150-190k frames/s through; the sender
// outruns the switch and the kernel drops the rest (switched/sent < 1) at
// the TAP device's queue (TxQueueLen), as at a congested link. With the
// machine shared by other jobs (load ~7) the same runs gave 22-31 µs
// (switch) vs 15-22 µs (veth) round trips and 64-112k frames/s.

import (
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

func benchNet(b *testing.B) (*Network, *Node, *Node) {
	b.Helper()
	needRoot(b)
	prefix := testPrefix()
	n, err := New(Config{Prefix: prefix, Subnet: netip.MustParsePrefix("10.77.6.0/24"), Seed: 9})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.Close() })
	a, err := n.AddNode("a")
	if err != nil {
		b.Fatal(err)
	}
	c, err := n.AddNode("b")
	if err != nil {
		b.Fatal(err)
	}
	return n, a, c
}

func udpConn(b *testing.B, nsPath string, self, peer netip.Addr) *net.UDPConn {
	b.Helper()
	var c *net.UDPConn
	err := Do(nsPath, func() (err error) {
		c, err = net.DialUDP("udp4",
			net.UDPAddrFromAddrPort(netip.AddrPortFrom(self, 7002)),
			net.UDPAddrFromAddrPort(netip.AddrPortFrom(peer, 7002)))
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// pingPong measures the round trip of a 64-byte UDP datagram; ns/op is one
// round trip (two one-way frames).
func pingPong(b *testing.B, ca, cb *net.UDPConn) {
	go func() {
		buf := make([]byte, 2048)
		for {
			k, err := cb.Read(buf)
			if err != nil {
				return
			}
			if _, err := cb.Write(buf[:k]); err != nil {
				return
			}
		}
	}()
	msg, buf := make([]byte, 64), make([]byte, 2048)
	ca.SetReadDeadline(time.Now().Add(time.Minute))
	for b.Loop() {
		if _, err := ca.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := ca.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRoundTrip is a UDP ping-pong between two nodes through the
// switch, and the same between two namespaces joined by a veth pair (the
// kernel's own path). Half the difference is the switch's added latency per
// frame.
func BenchmarkRoundTrip(b *testing.B) {
	b.Run("switch", func(b *testing.B) {
		_, a, c := benchNet(b)
		ca := udpConn(b, a.NetnsPath, a.Addr, c.Addr)
		cb := udpConn(b, c.NetnsPath, c.Addr, a.Addr)
		pingPong(b, ca, cb)
	})
	b.Run("veth", func(b *testing.B) {
		needRoot(b)
		prefix := testPrefix()
		var paths [2]string
		for i, side := range []string{"a", "b"} {
			h, err := createNamedNetns(prefix + "-" + side)
			if err != nil {
				b.Fatal(err)
			}
			h.Close()
			paths[i] = filepath.Join(NetnsDir, prefix+"-"+side)
			b.Cleanup(func() { removeNetnsFile(paths[i]) })
		}
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: prefix + "-va"}, PeerName: prefix + "-vb"}
		if err := netlink.LinkAdd(veth); err != nil {
			b.Skipf("veth pairs unavailable: %v", err)
		}
		addrs := []netip.Addr{netip.MustParseAddr("10.77.7.2"), netip.MustParseAddr("10.77.7.3")}
		for i, name := range []string{prefix + "-va", prefix + "-vb"} {
			l, err := netlink.LinkByName(name)
			if err != nil {
				b.Fatal(err)
			}
			ns, err := netns.GetFromPath(paths[i])
			if err != nil {
				b.Fatal(err)
			}
			if err := netlink.LinkSetNsFd(l, int(ns)); err != nil {
				b.Fatal(err)
			}
			h, err := netlink.NewHandleAt(ns)
			ns.Close()
			if err != nil {
				b.Fatal(err)
			}
			l, _ = h.LinkByName(name)
			ipn := &net.IPNet{IP: net.IP(addrs[i].AsSlice()), Mask: net.CIDRMask(24, 32)}
			if err := h.AddrAdd(l, &netlink.Addr{IPNet: ipn}); err != nil {
				b.Fatal(err)
			}
			if err := h.LinkSetUp(l); err != nil {
				b.Fatal(err)
			}
			h.Close()
		}
		ca := udpConn(b, paths[0], addrs[0], addrs[1])
		cb := udpConn(b, paths[1], addrs[1], addrs[0])
		pingPong(b, ca, cb)
	})
}

// BenchmarkForward floods 64-byte UDP datagrams from one node to another
// and reports the frames the switch forwarded per second.
func BenchmarkForward(b *testing.B) {
	n, a, c := benchNet(b)
	ca := udpConn(b, a.NetnsPath, a.Addr, c.Addr)
	cb := udpConn(b, c.NetnsPath, c.Addr, a.Addr)
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, err := cb.Read(buf); err != nil {
				return
			}
		}
	}()
	msg := make([]byte, 64)
	start := time.Now()
	for b.Loop() {
		if _, err := ca.Write(msg); err != nil {
			b.Fatal(err)
		}
	}
	// Let the switch drain what the kernel queued on the device.
	for last := uint64(0); ; {
		time.Sleep(20 * time.Millisecond)
		s := n.Stats()
		if s.Received == last {
			break
		}
		last = s.Received
	}
	s := n.Stats()
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(s.Forwarded)/el, "frames/s")
	b.ReportMetric(float64(s.Received)/float64(b.N), "switched/sent")
}
