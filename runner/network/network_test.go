package network

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/vishvananda/netlink"
)

// needRoot skips tests that make namespaces and TAP devices.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and TAP devices")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("needs /dev/net/tun for TAP devices: %v", err)
	}
}

var prefixSeq atomic.Int32

// testPrefix returns a prefix no other test process on the host uses.
func testPrefix() string {
	return fmt.Sprintf("mvt%04x%x", os.Getpid()&0xffff, prefixSeq.Add(1))
}

// leftovers lists namespaces and host links whose names start with prefix.
func leftovers(t testing.TB, prefix string) []string {
	t.Helper()
	var out []string
	entries, err := os.ReadDir(NetnsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, "netns "+e.Name())
		}
	}
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, prefix) {
			out = append(out, "link "+l.Attrs().Name)
		}
	}
	return out
}

// newTestNet makes a network with the given nodes; cleanup closes it and
// checks that nothing is left.
func newTestNet(t *testing.T, cfg Config, names ...string) (*Network, map[string]*Node) {
	t.Helper()
	needRoot(t)
	if cfg.Prefix == "" {
		cfg.Prefix = testPrefix()
	}
	if !cfg.Subnet.IsValid() {
		cfg.Subnet = netip.MustParsePrefix("10.77.3.0/24")
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if l := leftovers(t, cfg.Prefix); len(l) > 0 {
			t.Errorf("Close left %v", l)
		}
	})
	nodes := map[string]*Node{}
	for _, name := range names {
		nd, err := n.AddNode(name)
		if err != nil {
			t.Fatalf("AddNode(%s): %v", name, err)
		}
		nodes[name] = nd
	}
	return n, nodes
}

// listenTCP starts an echo server on node's address.
func listenTCP(t *testing.T, node *Node) net.Listener {
	t.Helper()
	var ln net.Listener
	err := Do(node.NetnsPath, func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(node.Addr, 7000).String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
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
	return ln
}

// echo dials addr from inside node's namespace and checks one echo.
func echo(from *Node, addr string, timeout time.Duration) error {
	var c net.Conn
	err := Do(from.NetnsPath, func() (err error) {
		c, err = net.DialTimeout("tcp4", addr, timeout)
		return err
	})
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	msg := "hello from " + from.Name + "\n"
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if got != msg {
		return fmt.Errorf("echo returned %q, want %q", got, msg)
	}
	return nil
}

func TestTCPEchoAndHosts(t *testing.T) {
	n, nodes := newTestNet(t, Config{Seed: 1}, "a", "b", "c")
	if got, want := nodes["b"].Addr.String(), "10.77.3.3"; got != want {
		t.Errorf("b's address = %s, want %s", got, want)
	}
	ln := listenTCP(t, nodes["b"])
	for _, from := range []string{"a", "c"} {
		if err := echo(nodes[from], ln.Addr().String(), 5*time.Second); err != nil {
			t.Errorf("echo %s→b: %v", from, err)
		}
	}
	// The node's namespace is its own: it holds loopback and our device,
	// with the node's address and MAC. (Never dial the node from the host
	// namespace: that would send packets out of the host's default route.)
	err := Do(nodes["a"].NetnsPath, func() error {
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		var names []string
		for _, l := range links {
			names = append(names, l.Attrs().Name)
			if l.Attrs().Name == DeviceOwn && l.Attrs().HardwareAddr.String() != nodes["a"].MAC.String() {
				return fmt.Errorf("%s has MAC %v, want %v", DeviceOwn, l.Attrs().HardwareAddr, nodes["a"].MAC)
			}
		}
		if got := strings.Join(names, ","); got != "lo,"+DeviceOwn {
			return fmt.Errorf("links %s, want lo,%s", got, DeviceOwn)
		}
		return nil
	})
	if err != nil {
		t.Errorf("a's namespace: %v", err)
	}
	hosts := string(n.Hosts())
	for _, line := range []string{"127.0.0.1\tlocalhost\n", "10.77.3.2\ta\n", "10.77.3.3\tb\n", "10.77.3.4\tc\n"} {
		if !strings.Contains(hosts, line) {
			t.Errorf("Hosts() lacks %q:\n%s", line, hosts)
		}
	}
	s := n.Stats()
	if ab, _ := s.Link("a", "b"); ab.Forwarded == 0 {
		t.Errorf("no frames forwarded a→b: %+v", s)
	}
	if len(s.Dropped) != 0 {
		t.Errorf("clean network dropped frames: %v", s.Dropped)
	}
}

func TestAddNodeErrors(t *testing.T) {
	n, _ := newTestNet(t, Config{Subnet: netip.MustParsePrefix("10.77.3.0/30")}, "a")
	tests := []struct {
		name, want string
	}{
		{"a", "added twice"},
		{"x/y", "node name"},
		{"", "node name"},
		{"b", "room for 1 nodes"},
	}
	for _, tt := range tests {
		if _, err := n.AddNode(tt.name); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("AddNode(%q) = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
	if _, err := n.AttachNode("z", "/nonexistent/ns"); err == nil {
		t.Errorf("AttachNode with a missing namespace succeeded")
	}
	if err := n.Partition(faults.Partition{Kind: faults.PartitionIsolate, Groups: [][]string{{"a"}, {"nosuch"}}}); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("Partition naming an unknown node: %v, want ErrUnknownNode", err)
	}
	if err := n.SetLink(faults.Link{Loss: 2}); err == nil {
		t.Errorf("SetLink(Loss: 2) succeeded")
	}
}

func TestPartitionAndHeal(t *testing.T) {
	var mu sync.Mutex
	var events []Event
	n, nodes := newTestNet(t, Config{Seed: 2, Events: func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, e)
	}}, "a", "b", "c")
	ln := listenTCP(t, nodes["b"])
	if err := echo(nodes["a"], ln.Addr().String(), 5*time.Second); err != nil {
		t.Fatalf("before partition: %v", err)
	}
	p := faults.Partition{Kind: faults.PartitionIsolate, Groups: [][]string{{"a"}, {"b", "c"}}}
	if err := n.Partition(p); err != nil {
		t.Fatal(err)
	}
	if !n.Isolated("a") || n.Isolated("b") || n.Reachable("a", "b") || !n.Reachable("c", "b") {
		t.Errorf("after isolating a: Isolated(a)=%v Isolated(b)=%v Reachable(a,b)=%v Reachable(c,b)=%v",
			n.Isolated("a"), n.Isolated("b"), n.Reachable("a", "b"), n.Reachable("c", "b"))
	}
	err := echo(nodes["a"], ln.Addr().String(), 500*time.Millisecond)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("a→b during partition: %v, want a timeout", err)
	}
	if err := echo(nodes["c"], ln.Addr().String(), 5*time.Second); err != nil {
		t.Errorf("c→b during partition (same side): %v", err)
	}
	if s := n.Stats(); s.Dropped[DropPartition] == 0 {
		t.Errorf("no partition drops counted: %+v", s)
	}
	if err := n.Heal(); err != nil {
		t.Fatal(err)
	}
	if n.Isolated("a") || !n.Reachable("a", "b") {
		t.Errorf("after heal: a still cut off")
	}
	if err := echo(nodes["a"], ln.Addr().String(), 5*time.Second); err != nil {
		t.Errorf("a→b after heal: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	var kinds []string
	var dropsAB uint64
	for _, e := range events {
		if e.Kind == EventDrops {
			if e.From == "a" && e.To == "b" {
				dropsAB += e.Partitioned
			}
			continue
		}
		kinds = append(kinds, string(e.Kind))
	}
	if got, want := strings.Join(kinds, ","), "node,node,node,partition,heal"; got != want {
		t.Errorf("events %s, want %s", got, want)
	}
	if dropsAB == 0 {
		t.Errorf("no drop event for a→b, events: %+v", events)
	}
}

// udpPair opens a UDP socket on each of two nodes, connected to each other.
func udpPair(t *testing.T, a, b *Node) (ca, cb *net.UDPConn) {
	t.Helper()
	const port = 7001
	open := func(self, peer *Node) *net.UDPConn {
		var c *net.UDPConn
		err := Do(self.NetnsPath, func() (err error) {
			c, err = net.DialUDP("udp4",
				net.UDPAddrFromAddrPort(netip.AddrPortFrom(self.Addr, port)),
				net.UDPAddrFromAddrPort(netip.AddrPortFrom(peer.Addr, port)))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	return open(a, b), open(b, a)
}

// sendCount sends n datagrams on from, paced so that the receiver's socket
// buffer never overflows, and returns how many to received until it was
// quiet for idle.
func sendCount(t *testing.T, from, to *net.UDPConn, n int, idle time.Duration) int {
	t.Helper()
	got := make(chan int)
	go func() {
		buf := make([]byte, 2048)
		k := 0
		for {
			to.SetReadDeadline(time.Now().Add(idle))
			if _, err := to.Read(buf); err != nil {
				got <- k
				return
			}
			k++
		}
	}()
	msg := make([]byte, 64)
	for i := range n {
		msg[0], msg[1] = byte(i), byte(i>>8)
		if _, err := from.Write(msg); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if i%32 == 31 {
			time.Sleep(time.Millisecond)
		}
	}
	return <-got
}

func TestOneWayPartition(t *testing.T) {
	n, nodes := newTestNet(t, Config{Seed: 3}, "a", "b")
	ca, cb := udpPair(t, nodes["a"], nodes["b"])
	if err := n.Partition(faults.Partition{Kind: faults.PartitionHalves, Groups: [][]string{{"a"}, {"b"}},
		OneWay: true, From: []string{"a"}, To: []string{"b"}}); err != nil {
		t.Fatal(err)
	}
	if n.Reachable("a", "b") || !n.Reachable("b", "a") || n.Isolated("a") {
		t.Errorf("Reachable(a,b)=%v Reachable(b,a)=%v Isolated(a)=%v, want false true false",
			n.Reachable("a", "b"), n.Reachable("b", "a"), n.Isolated("a"))
	}
	if got := sendCount(t, ca, cb, 50, 300*time.Millisecond); got != 0 {
		t.Errorf("a→b across a one-way cut: %d of 50 datagrams arrived", got)
	}
	if got := sendCount(t, cb, ca, 50, 300*time.Millisecond); got != 50 {
		t.Errorf("b→a (not cut): %d of 50 datagrams arrived", got)
	}
}

func TestLoss(t *testing.T) {
	const sent, p = 2000, 0.3
	n, nodes := newTestNet(t, Config{Seed: 4}, "a", "b")
	ca, cb := udpPair(t, nodes["a"], nodes["b"])
	if err := n.SetLink(faults.Link{Loss: p}); err != nil {
		t.Fatal(err)
	}
	got := sendCount(t, ca, cb, sent, 300*time.Millisecond)
	want := (1 - p) * sent
	if tol := 0.05 * sent; float64(got) < want-tol || float64(got) > want+tol {
		t.Errorf("received %d of %d datagrams at loss %v, want %.0f±%.0f", got, sent, p, want, tol)
	}
	// Neighbours are static, so the link carried only the datagrams.
	ab, _ := n.Stats().Link("a", "b")
	if ab.Lost+ab.Forwarded != sent || ab.Forwarded != uint64(got) {
		t.Errorf("a→b counters %+v; want Lost+Forwarded = %d and Forwarded = %d received", ab, sent, got)
	}
}

// TestNodeLink checks that a node's own conditions degrade its links and
// no others, the way a link fault limited to some services must.
func TestNodeLink(t *testing.T) {
	var events []Event
	n, nodes := newTestNet(t, Config{Seed: 6, Events: func(e Event) { events = append(events, e) }}, "a", "b", "c", "d")
	ca, cb := udpPair(t, nodes["a"], nodes["b"])
	cc, cd := udpPair(t, nodes["c"], nodes["d"])
	lossy := faults.Link{Loss: 1}
	if err := n.SetNodeLink([]string{"b"}, lossy); err != nil {
		t.Fatal(err)
	}
	if got := sendCount(t, ca, cb, 50, 300*time.Millisecond); got != 0 {
		t.Errorf("a→b with b's own total loss: %d of 50 arrived", got)
	}
	if got := sendCount(t, cb, ca, 50, 300*time.Millisecond); got != 0 {
		t.Errorf("b→a with b's own total loss: %d of 50 arrived", got)
	}
	if got := sendCount(t, cc, cd, 50, 300*time.Millisecond); got != 50 {
		t.Errorf("c→d, neither with own conditions: %d of 50 arrived", got)
	}
	if ab, _ := n.Stats().Link("a", "b"); ab.Lost != 50 {
		t.Errorf("a→b lost %d, want 50", ab.Lost)
	}
	var ev *Event
	for i := range events {
		if events[i].Kind == EventLink {
			ev = &events[i]
		}
	}
	if ev == nil || *ev.Link != lossy || len(ev.Nodes) != 1 || ev.Nodes[0] != "b" {
		t.Errorf("last link event %+v, want one for node b", ev)
	}
	// Conditions for every link drop nodes' own.
	if err := n.SetLink(faults.Link{}); err != nil {
		t.Fatal(err)
	}
	if got := sendCount(t, ca, cb, 50, 300*time.Millisecond); got != 50 {
		t.Errorf("a→b after SetLink(clean): %d of 50 arrived", got)
	}
	if err := n.SetNodeLink(nil, lossy); err == nil {
		t.Error("SetNodeLink without nodes succeeded")
	}
	if err := n.SetNodeLink([]string{"b"}, faults.Link{Loss: 2}); err == nil {
		t.Error("SetNodeLink with loss 2 succeeded")
	}
}

func TestDuplicateDelayReorder(t *testing.T) {
	const sent = 400
	n, nodes := newTestNet(t, Config{Seed: 5}, "a", "b")
	ca, cb := udpPair(t, nodes["a"], nodes["b"])
	tests := []struct {
		name string
		link faults.Link
		// checks on a→b counters of this step
		check func(ls LinkStats, received int) error
	}{
		{"duplicate", faults.Link{Duplicate: 0.5}, func(ls LinkStats, received int) error {
			if ls.Duplicated < sent/4 || ls.Forwarded != sent+ls.Duplicated || received != int(ls.Forwarded) {
				return fmt.Errorf("want about %d duplicated, Forwarded = %d + Duplicated = received", sent/2, sent)
			}
			return nil
		}},
		{"latency", faults.Link{Latency: faults.Range{Min: time.Millisecond, Max: 3 * time.Millisecond}}, func(ls LinkStats, received int) error {
			if ls.Delayed != sent || ls.Forwarded != sent || received != sent {
				return fmt.Errorf("want all %d delayed and delivered", sent)
			}
			return nil
		}},
		{"reorder", faults.Link{Reorder: 0.25}, func(ls LinkStats, received int) error {
			if ls.Reordered < sent/8 || ls.Delayed != ls.Reordered || received != sent {
				return fmt.Errorf("want about %d reordered (and only those delayed), all delivered", sent/4)
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := n.Stats().Link("a", "b")
			if err := n.SetLink(tt.link); err != nil {
				t.Fatal(err)
			}
			received := sendCount(t, ca, cb, sent, 300*time.Millisecond)
			after, _ := n.Stats().Link("a", "b")
			d := LinkStats{
				Forwarded: after.Forwarded - before.Forwarded, Duplicated: after.Duplicated - before.Duplicated,
				Delayed: after.Delayed - before.Delayed, Reordered: after.Reordered - before.Reordered,
				Lost: after.Lost - before.Lost, Partitioned: after.Partitioned - before.Partitioned,
			}
			if err := tt.check(d, received); err != nil {
				t.Errorf("%s: received %d, counters %+v: %v", tt.name, received, d, err)
			}
		})
	}
	if err := n.SetLink(faults.Link{}); err != nil {
		t.Fatal(err)
	}
	if got := sendCount(t, ca, cb, 50, 300*time.Millisecond); got != 50 {
		t.Errorf("clean link after faults: %d of 50 arrived", got)
	}
}

// TestAttachNode attaches an existing namespace (as the docker backend does
// with a container's) and checks Close removes the device but not the
// namespace.
func TestAttachNode(t *testing.T) {
	needRoot(t)
	prefix := testPrefix()
	ext := prefix + "x" // not under the network's prefix-dash names
	h, err := createNamedNetns(ext)
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	extPath := filepath.Join(NetnsDir, ext)
	t.Cleanup(func() { removeNetnsFile(extPath) })

	n, err := New(Config{Prefix: prefix, Subnet: netip.MustParsePrefix("10.77.4.0/24"), Seed: 6})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	a, err := n.AddNode("a")
	if err != nil {
		t.Fatal(err)
	}
	x, err := n.AttachNode("x", extPath)
	if err != nil {
		t.Fatal(err)
	}
	if x.Device != DeviceAttached || x.NetnsPath != extPath {
		t.Errorf("attached node %+v", x)
	}
	if _, err := n.AttachNode("y", extPath); err == nil {
		t.Errorf("attaching the same namespace twice succeeded")
	}
	ln := listenTCP(t, x)
	if err := echo(a, ln.Addr().String(), 5*time.Second); err != nil {
		t.Errorf("a→x: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if l := leftovers(t, prefix+"-"); len(l) > 0 {
		t.Errorf("Close left %v", l)
	}
	if _, err := os.Stat(extPath); err != nil {
		t.Errorf("Close removed the attached namespace: %v", err)
	}
	err = Do(extPath, func() error {
		if _, err := netlink.LinkByName(DeviceAttached); err == nil {
			return errors.New("device still there")
		}
		return nil
	})
	if err != nil {
		t.Errorf("after Close, %s in the attached namespace: %v", DeviceAttached, err)
	}
}

// arrivals sends n numbered datagrams from ca and returns which arrived at
// cb.
func arrivals(t *testing.T, ca, cb *net.UDPConn, n int) []bool {
	t.Helper()
	seen := make([]bool, n)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			cb.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			k, err := cb.Read(buf)
			if err != nil {
				return
			}
			if i := int(buf[0]) | int(buf[1])<<8; k >= 2 && i < n {
				seen[i] = true
			}
		}
	}()
	msg := make([]byte, 64)
	for i := range n {
		msg[0], msg[1] = byte(i), byte(i>>8)
		if _, err := ca.Write(msg); err != nil {
			t.Fatal(err)
		}
		if i%32 == 31 {
			time.Sleep(time.Millisecond)
		}
	}
	<-done
	return seen
}

// TestSeedReplaysLoss checks that the same seed drops the same datagrams:
// with static neighbours and no IPv6 chatter, a node's k-th frame meets the
// same fate in every run.
func TestSeedReplaysLoss(t *testing.T) {
	const sent = 300
	run := func(seed uint64) []bool {
		n, nodes := newTestNet(t, Config{Seed: seed}, "a", "b")
		ca, cb := udpPair(t, nodes["a"], nodes["b"])
		if err := n.SetLink(faults.Link{Loss: 0.5}); err != nil {
			t.Fatal(err)
		}
		seen := arrivals(t, ca, cb, sent)
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		return seen
	}
	first, again, other := run(11), run(11), run(12)
	same := func(x, y []bool) bool {
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	if !same(first, again) {
		t.Errorf("seed 11 dropped different datagrams in two runs:\n%v\n%v", first, again)
	}
	if same(first, other) {
		t.Errorf("seeds 11 and 12 dropped the same %d datagrams", sent)
	}
}

// TestPartitionDropsInFlight checks that frames waiting in the delay queue
// are dropped when a partition cuts their link before they are due.
func TestPartitionDropsInFlight(t *testing.T) {
	const sent = 20
	n, nodes := newTestNet(t, Config{Seed: 7}, "a", "b")
	ca, cb := udpPair(t, nodes["a"], nodes["b"])
	if err := n.SetLink(faults.Link{Latency: faults.Range{Min: 300 * time.Millisecond, Max: 300 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	for range sent {
		if _, err := ca.Write(make([]byte, 64)); err != nil {
			t.Fatal(err)
		}
	}
	// Wait until the switch holds all of them, then cut the link.
	deadline := time.Now().Add(5 * time.Second)
	for n.queue.len() < sent && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := n.Partition(faults.Partition{Kind: faults.PartitionHalves, Groups: [][]string{{"a"}, {"b"}}}); err != nil {
		t.Fatal(err)
	}
	cb.SetReadDeadline(time.Now().Add(time.Second))
	if k, err := cb.Read(make([]byte, 2048)); err == nil {
		t.Errorf("a datagram of %d bytes crossed the partition", k)
	}
	ab, _ := n.Stats().Link("a", "b")
	if ab.Delayed != sent || ab.Partitioned != sent || ab.Forwarded != 0 {
		t.Errorf("a→b counters %+v, want %d delayed and then dropped by the partition", ab, sent)
	}
}

func TestClosedNetwork(t *testing.T) {
	n, _ := newTestNet(t, Config{}, "a", "b")
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for name, err := range map[string]error{
		"AddNode": func() error { _, err := n.AddNode("c"); return err }(),
		"Heal":    n.Heal(),
		"SetLink": n.SetLink(faults.Link{}),
		"Partition": n.Partition(faults.Partition{Kind: faults.PartitionHalves,
			Groups: [][]string{{"a"}, {"b"}}}),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

// TestBroadcast checks that broadcast frames reach every node the sender
// may reach, and only those.
func TestBroadcast(t *testing.T) {
	const sent = 10
	n, nodes := newTestNet(t, Config{Seed: 8}, "a", "b", "c")
	listen := func(node *Node) *net.UDPConn {
		var c *net.UDPConn
		err := Do(node.NetnsPath, func() (err error) {
			c, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 7003})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	lb, lc := listen(nodes["b"]), listen(nodes["c"])
	var ca *net.UDPConn
	err := Do(nodes["a"].NetnsPath, func() (err error) {
		// Go enables SO_BROADCAST on UDP sockets.
		ca, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(10, 77, 3, 255), Port: 7003})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	if err := n.Partition(faults.Partition{Kind: faults.PartitionIsolate, Groups: [][]string{{"c"}, {"a", "b"}}}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	counts := map[string]int{}
	var mu sync.Mutex
	for name, c := range map[string]*net.UDPConn{"b": lb, "c": lc} {
		wg.Go(func() {
			buf := make([]byte, 2048)
			for {
				c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
				if _, err := c.Read(buf); err != nil {
					return
				}
				mu.Lock()
				counts[name]++
				mu.Unlock()
			}
		})
	}
	for range sent {
		if _, err := ca.Write([]byte("hello all")); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if counts["b"] != sent || counts["c"] != 0 {
		t.Errorf("broadcasts received: b %d, c %d; want %d and 0", counts["b"], counts["c"], sent)
	}
	if ac, _ := n.Stats().Link("a", "c"); ac.Partitioned != sent {
		t.Errorf("a→c partitioned %d, want %d", ac.Partitioned, sent)
	}
}

func TestApply(t *testing.T) {
	n, _ := newTestNet(t, Config{Seed: 3}, "a", "b", "c")
	p := faults.Partition{Kind: faults.PartitionIsolate, Groups: [][]string{{"a"}, {"b", "c"}}}
	link := faults.Link{Loss: 0.25, Latency: faults.Range{Min: time.Millisecond, Max: 2 * time.Millisecond}}
	steps := []struct {
		a       faults.Action
		handled bool
		wantErr bool
		check   func() bool
	}{
		{faults.Action{Kind: faults.ActPartition, Partition: &p}, true, false, func() bool { return !n.Reachable("a", "b") && n.Reachable("b", "c") }},
		{faults.Action{Kind: faults.ActHeal}, true, false, func() bool { return n.Reachable("a", "b") }},
		{faults.Action{Kind: faults.ActLink, Link: &link}, true, false, func() bool { return n.Link() == link }},
		{faults.Action{Kind: faults.ActLink}, true, false, func() bool { return n.Link() == faults.Link{} }},
		{faults.Action{Kind: faults.ActLink, Nodes: []string{"b"}, Link: &link}, true, false, func() bool {
			return n.Link() == faults.Link{} && n.LinkBetween("a", "b") == link && n.LinkBetween("b", "c") == link &&
				n.LinkBetween("a", "c") == faults.Link{}
		}},
		{faults.Action{Kind: faults.ActLink, Nodes: []string{"b"}}, true, false, func() bool { return n.LinkBetween("a", "b") == faults.Link{} }},
		{faults.Action{Kind: faults.ActLink, Nodes: []string{"nobody"}, Link: &link}, true, true, nil},
		{faults.Action{Kind: faults.ActPartition}, true, true, nil},
		{faults.Action{Kind: faults.ActKill, Nodes: []string{"a"}}, false, false, nil},
	}
	for i, s := range steps {
		handled, err := n.Apply(s.a)
		if handled != s.handled || (err != nil) != s.wantErr {
			t.Fatalf("step %d: Apply(%s) = %v, %v; want handled %v, error %v", i, s.a.Kind, handled, err, s.handled, s.wantErr)
		}
		if s.check != nil && !s.check() {
			t.Fatalf("step %d: Apply(%s) did not take effect", i, s.a.Kind)
		}
	}
}
