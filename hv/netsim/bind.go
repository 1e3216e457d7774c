package netsim

import (
	"net/netip"

	"github.com/mvrun/multiverse/hv/abi"
)

// Ephemeral port range (net.ipv4.ip_local_port_range).
const (
	ephemeralLow  = 32768
	ephemeralHigh = 60999
)

// binding is one local address:port in use by a socket (or by a
// connection in TIME_WAIT, whose socket is gone).
type binding struct {
	ip        netip.Addr // unmapped; unspecified for a wildcard
	port      uint16
	v6only    bool // for the IPv6 wildcard: IPv4 not covered
	reuseAddr bool
	reusePort bool
	owner     any    // the socket, or nil in TIME_WAIT
	listens   bool   // a TCP socket's own bind: it listens while its socket is in LISTEN
	gone      *event // TIME_WAIT expiry
}

func (b *binding) isListening() bool {
	s, ok := b.owner.(*tcpSock)
	return ok && b.listens && s.state == tcpListen
}

// covers reports whether b receives traffic for ip (unmapped).
func (b *binding) covers(ip netip.Addr) bool {
	switch {
	case b.ip.IsUnspecified() && b.ip.Is4():
		return ip.Is4()
	case b.ip.IsUnspecified():
		return ip.Is6() || !b.v6only
	}
	return b.ip == ip
}

// overlaps reports whether two bindings of one port share an address.
func (b *binding) overlaps(o *binding) bool {
	switch {
	case b.ip.IsUnspecified() && o.ip.IsUnspecified():
		if b.ip.Is4() == o.ip.Is4() {
			return true
		}
		if b.ip.Is4() {
			return !o.v6only
		}
		return !b.v6only
	case b.ip.IsUnspecified():
		return b.covers(o.ip)
	case o.ip.IsUnspecified():
		return o.covers(b.ip)
	}
	return b.ip == o.ip
}

// portTable is one protocol's bindings on one host.
type portTable struct {
	ports map[uint16][]*binding
}

func newPortTable() *portTable { return &portTable{ports: map[uint16][]*binding{}} }

// conflict reports whether nb may not join the bindings of its port, by
// Linux's rules: two sockets may share an address only if both set
// SO_REUSEPORT, or both set SO_REUSEADDR and the existing one is not
// listening (TCP) — which is what lets a restarted server rebind its port
// while old connections sit in TIME_WAIT.
func (t *portTable) conflict(nb *binding, tcp bool) bool {
	for _, b := range t.ports[nb.port] {
		if b == nb || !b.overlaps(nb) {
			continue
		}
		if b.reusePort && nb.reusePort {
			continue
		}
		if b.reuseAddr && nb.reuseAddr && !(tcp && b.isListening()) {
			continue
		}
		return true
	}
	return false
}

func (t *portTable) add(b *binding) { t.ports[b.port] = append(t.ports[b.port], b) }

func (t *portTable) remove(b *binding) {
	bs := t.ports[b.port]
	for i, x := range bs {
		if x == b {
			bs = append(bs[:i:i], bs[i+1:]...)
			break
		}
	}
	if len(bs) == 0 {
		delete(t.ports, b.port)
	} else {
		t.ports[b.port] = bs
	}
}

// bind adds a binding for ip:port (port 0: an ephemeral port drawn from
// the host's seeded stream).
func (h *Host) bind(t *portTable, tcp bool, b *binding) error {
	if b.port != 0 {
		if t.conflict(b, tcp) {
			return abi.EADDRINUSE
		}
		t.add(b)
		return nil
	}
	p, ok := h.ephemeral(t)
	if !ok {
		return abi.EADDRINUSE
	}
	b.port = p
	t.add(b)
	return nil
}

// ephemeral draws a port nobody on this host uses for the protocol.
func (h *Host) ephemeral(t *portTable) (uint16, bool) {
	const span = ephemeralHigh - ephemeralLow + 1
	for range 64 {
		p := uint16(ephemeralLow + h.ports.IntN(span))
		if len(t.ports[p]) == 0 {
			return p, true
		}
	}
	start := h.ports.IntN(span)
	for i := range span {
		p := uint16(ephemeralLow + (start+i)%span)
		if len(t.ports[p]) == 0 {
			return p, true
		}
	}
	return 0, false
}

// localBindable checks that ip (unmapped) may be bound on h.
func (h *Host) localBindable(ip netip.Addr) error {
	if ip.IsUnspecified() || h.owns(ip) {
		return nil
	}
	return abi.EADDRNOTAVAIL
}

// lookup finds the bindings that receive traffic for ip:port, most
// specific first (an exact address before a wildcard). keep filters them.
func (t *portTable) lookup(ip netip.Addr, port uint16, keep func(*binding) bool) []*binding {
	var exact, wild []*binding
	for _, b := range t.ports[port] {
		if !b.covers(ip) || (keep != nil && !keep(b)) {
			continue
		}
		if b.ip.IsUnspecified() {
			wild = append(wild, b)
		} else {
			exact = append(exact, b)
		}
	}
	if len(exact) > 0 {
		return exact
	}
	return wild
}
