package kernel

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/mvrun/multiverse/hv/netsim"
	"github.com/mvrun/multiverse/hv/sched"
	"github.com/mvrun/multiverse/hv/vfs"
)

// TestNetworkDrivesIdleClock checks the coupling of the virtual clock to
// the network while every thread is blocked: the clock jumps to network
// events (a SYN retry), and a network that only ever probes a healthy idle
// connection ends in an idle verdict after eventIdleLimit instead of
// running forever.
func TestNetworkDrivesIdleClock(t *testing.T) {
	nw := netsim.New(netsim.Config{Seed: 1})
	h, err := nw.AddHost("n1", netip.MustParseAddr("10.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	clock := sched.NewClock(sched.DefaultEpoch)
	w := NewWorld(clock, rand.New(rand.NewPCG(1, 2)))
	w.AddEventSource(nw)
	l, _ := h.Socket(netsim.Inet, netsim.Stream)
	l.Bind(netsim.Addr{Family: netsim.Inet, IP: netip.MustParseAddrPort("127.0.0.1:80")})
	l.Listen(8)
	c, _ := h.Socket(netsim.Inet, netsim.Stream)
	c.SetOption(netsim.OptKeepAlive, 1)
	c.Connect(netsim.Addr{Family: netsim.Inet, IP: netip.MustParseAddrPort("127.0.0.1:80")})
	jumps := 0
	for {
		when, ok := w.next()
		if !ok {
			break
		}
		clock.AdvanceTo(when)
		w.fire(false)
		jumps++
		if jumps > 1000 {
			t.Fatal("the clock kept jumping on network events")
		}
	}
	if c.Events()&0x4 == 0 {
		t.Fatal("the connection never completed while the clock followed the network")
	}
	// The clock followed the first keepalive probe (at 2 h) and stopped
	// when the next event lay beyond the limit.
	now := time.Duration(clock.Now())
	if now < 2*time.Hour || now > time.Duration(eventIdleLimit) {
		t.Errorf("gave up at %v, want between the first probe (2h) and %v", now, time.Duration(eventIdleLimit))
	}
}

// TestWriteNetworkFiles checks the resolver files a node gets.
func TestWriteNetworkFiles(t *testing.T) {
	nw := netsim.New(netsim.Config{Seed: 1})
	a, _ := nw.AddHost("db", netip.MustParseAddr("10.0.0.1"))
	nw.AddHost("web", netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("fd00::2"))
	fs := vfs.New(vfs.ClockFunc(func() int64 { return 0 }))
	fs.MkdirAll("/etc")
	fs.WriteFile("/etc/nsswitch.conf", []byte("hosts: files\n"), 0o644)
	if err := WriteNetworkFiles(fs, a); err != nil {
		t.Fatal(err)
	}
	read := func(p string) string {
		n, err := fs.Lookup(fs.Root(), p, true)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		return string(n.Data)
	}
	if got, want := read("/etc/hosts"), "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.0.0.1\tdb\n10.0.0.2\tweb\nfd00::2\tweb\n"; got != want {
		t.Errorf("/etc/hosts:\n%s\nwant:\n%s", got, want)
	}
	if got := read("/etc/hostname"); got != "db\n" {
		t.Errorf("/etc/hostname = %q", got)
	}
	if got := read("/etc/nsswitch.conf"); got != "hosts: files\n" {
		t.Errorf("an existing /etc/nsswitch.conf was replaced: %q", got)
	}
}
