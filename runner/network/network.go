package network

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mvrun/multiverse/internal/seeds"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ErrClosed is returned by methods of a closed [Network].
var ErrClosed = errors.New("network: closed")

// ErrUnknownNode is wrapped by errors about a node name the network does not
// have.
var ErrUnknownNode = errors.New("no such node on the network")

// MaxPrefixLen is the longest [Config.Prefix]: a prefix, a dash and at least
// four characters of the node name must fit a Linux interface name (15).
const MaxPrefixLen = 10

// Device names inside a node's namespace.
const (
	DeviceOwn      = "eth0" // in a namespace made by AddNode
	DeviceAttached = "mv0"  // in an existing namespace, by AttachNode
)

// TxQueueLen is how many frames a node's device queues for the switch
// before the kernel drops them.
const TxQueueLen = 4096

// Config configures a [Network].
type Config struct {
	// Prefix starts the name of every namespace and link the network makes:
	// namespaces are "<Prefix>-<node>". The runner uses prefixes that start
	// with "mv" and are unique per cluster, so [Sweep] can find leftovers.
	// At most MaxPrefixLen characters of [a-zA-Z0-9_-].
	Prefix string
	// Subnet is the nodes' IPv4 subnet; the i-th node added gets the
	// subnet's address + i + 2 (10.77.3.2, 10.77.3.3, ...).
	Subnet netip.Prefix
	// Seed is the run's root seed. The switch's decisions for frames sent by
	// node X draw from seeds.Stream(Seed, "network/X"), one stream per
	// sender, so a node's k-th frame meets the same fate however other
	// nodes' traffic interleaves with it.
	Seed uint64
	// Log receives debug and warning logs; nil means slog.Default().
	Log *slog.Logger
	// Events, if set, is called on partition, heal and link changes and
	// with per-link drop counters. It is called synchronously from the
	// goroutine that made the change and must not call back into the
	// Network.
	Events func(Event)
}

// Node is one node's place on the network.
type Node struct {
	Name      string
	Addr      netip.Addr
	NetnsPath string // the node's network namespace (a bind mount or /proc/<pid>/ns/net)
	Device    string // the switch's device in that namespace: DeviceOwn or DeviceAttached
	MAC       net.HardwareAddr
}

// Network is a set of nodes joined by a seeded userspace switch. Its methods
// are safe for concurrent use.
type Network struct {
	cfg Config
	log *slog.Logger

	// mu serialises changes: adding nodes, partitions, link settings and
	// Close. The forwarding path never takes it: it reads table and policy
	// through atomic pointers to immutable values.
	mu       sync.Mutex
	closed   atomic.Bool
	table    atomic.Pointer[table]
	policy   atomic.Pointer[policy]
	counters counters
	queue    *queue
	wg       sync.WaitGroup // reader goroutines
}

// table is the immutable set of ports; adding a node replaces it.
type table struct {
	ports  []*port
	byMAC  map[[6]byte]*port
	byName map[string]*port
	links  [][]*linkCounters // [from.idx][to.idx]
}

func (t *table) link(from, to *port) *linkCounters { return t.links[from.idx][to.idx] }

// port is the switch's end of one node's device.
type port struct {
	idx       int
	node      Node
	mac       [6]byte
	f         *os.File   // the TAP device
	rng       *rand.Rand // used only by this port's reader goroutine
	ownsNetns bool       // Close removes node.NetnsPath
}

// New makes an empty network. It checks cfg but touches nothing in the
// kernel until the first node is added.
func New(cfg Config) (*Network, error) {
	if err := checkPrefix(cfg.Prefix); err != nil {
		return nil, err
	}
	if !cfg.Subnet.IsValid() || !cfg.Subnet.Addr().Is4() {
		return nil, fmt.Errorf("network %s: subnet %v: want an IPv4 prefix such as 10.77.3.0/24", cfg.Prefix, cfg.Subnet)
	}
	if cfg.Subnet.Bits() > 30 {
		return nil, fmt.Errorf("network %s: subnet %v is too small: want /30 or larger", cfg.Prefix, cfg.Subnet)
	}
	cfg.Subnet = cfg.Subnet.Masked()
	n := &Network{cfg: cfg, log: cfg.Log}
	if n.log == nil {
		n.log = slog.Default()
	}
	n.log = n.log.With("network", cfg.Prefix)
	n.table.Store(&table{byMAC: map[[6]byte]*port{}, byName: map[string]*port{}})
	n.policy.Store(&policy{})
	n.queue = newQueue(n)
	return n, nil
}

func checkPrefix(p string) error {
	if p == "" || len(p) > MaxPrefixLen {
		return fmt.Errorf("network prefix %q: want 1 to %d characters", p, MaxPrefixLen)
	}
	for _, c := range p {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("network prefix %q: only letters, digits, '_' and '-' are allowed", p)
		}
	}
	return nil
}

func checkNodeName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/: \t\n\x00") {
		return fmt.Errorf("node name %q: want a non-empty name without '/', ':' or spaces (a compose service name)", name)
	}
	return nil
}

// Prefix returns the network's name prefix.
func (n *Network) Prefix() string { return n.cfg.Prefix }

// NetnsName returns the name of the namespace AddNode makes for node name.
func (n *Network) NetnsName(name string) string { return n.cfg.Prefix + "-" + name }

// AddNode makes the network namespace "<Prefix>-<name>" (bind-mounted under
// NetnsDir, like `ip netns add`), brings its loopback up, and connects it to
// the switch: a TAP device named DeviceOwn with the node's address and a
// deterministic MAC address, up, and the default route. Nodes get addresses
// in the order they are added.
func (n *Network) AddNode(name string) (*Node, error) {
	return n.add(name, "")
}

// AttachNode connects the existing network namespace at nsPath (for example
// /proc/<pid>/ns/net of a container) to the switch as node name, with a
// device named DeviceAttached. If the namespace already has a default route
// it is kept; the node's subnet is reachable through the device either way.
// Close removes the device but leaves the namespace.
func (n *Network) AttachNode(name, nsPath string) (*Node, error) {
	if nsPath == "" {
		return nil, fmt.Errorf("network %s: attach node %q: empty namespace path", n.cfg.Prefix, name)
	}
	return n.add(name, nsPath)
}

func (n *Network) add(name, nsPath string) (_ *Node, err error) {
	if err := checkNodeName(name); err != nil {
		return nil, fmt.Errorf("network %s: %w", n.cfg.Prefix, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed.Load() {
		return nil, ErrClosed
	}
	old := n.table.Load()
	if _, dup := old.byName[name]; dup {
		return nil, fmt.Errorf("network %s: node %q added twice", n.cfg.Prefix, name)
	}
	idx := len(old.ports)
	addr, err := n.addrOf(idx)
	if err != nil {
		return nil, err
	}
	p := &port{idx: idx, rng: seeds.Stream(n.cfg.Seed, "network/"+name)}
	p.mac = macOf(addr)
	p.node = Node{Name: name, Addr: addr, MAC: net.HardwareAddr(p.mac[:])}

	// Each step that made something registers how to take it back; a
	// failed add takes back everything, newest first.
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
			err = fmt.Errorf("network %s: node %q: %w", n.cfg.Prefix, name, err)
		}
	}()
	ns, err := n.openNamespace(p, nsPath, &undo)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	hostName, err := n.attachTAP(ns, p, &undo)
	if err != nil {
		return nil, err
	}
	if err := n.configure(ns, hostName, p, old.ports); err != nil {
		return nil, err
	}
	// Last, as it cannot be undone cheaply and does not fail the add: the
	// existing nodes learn the new one's MAC address.
	for _, q := range old.ports {
		if err := addNeighbour(q.node.NetnsPath, q.node.Device, p); err != nil {
			n.log.Warn("node will have to resolve a new node's address with ARP", "node", q.node.Name, "new", name, "err", err)
		}
	}

	// Publish the new table; readers pick it up on their next frame.
	t := old.with(p)
	n.table.Store(t)
	pol := n.policy.Load()
	n.policy.Store(newPolicy(t, pol.part, pol.links))

	n.wg.Add(1)
	go n.readLoop(p)
	n.log.Debug("node added", "node", name, "addr", addr, "netns", p.node.NetnsPath, "device", p.node.Device)
	n.emit(Event{Kind: EventNode, Node: name})
	node := p.node
	return &node, nil
}

// openNamespace opens the network namespace of p's node: a new named one
// the network owns (nsPath empty), or the one at nsPath. It records the
// namespace on p.node and, for an owned one, how to remove it in undo.
func (n *Network) openNamespace(p *port, nsPath string, undo *[]func()) (netns.NsHandle, error) {
	if nsPath != "" {
		p.node.NetnsPath = nsPath
		p.node.Device = DeviceAttached
		ns, err := netns.GetFromPath(nsPath)
		if err != nil {
			return ns, fmt.Errorf("open network namespace %s: %w", nsPath, err)
		}
		return ns, nil
	}
	nsName := n.NetnsName(p.node.Name)
	p.node.NetnsPath = filepath.Join(NetnsDir, nsName)
	p.node.Device = DeviceOwn
	if _, err := os.Lstat(p.node.NetnsPath); err == nil {
		return netns.None(), fmt.Errorf("namespace %s already exists (left by a killed run? Sweep removes it)", p.node.NetnsPath)
	}
	ns, err := createNamedNetns(nsName)
	if err != nil {
		return ns, err
	}
	p.ownsNetns = true
	*undo = append(*undo, func() {
		if err := removeNetnsFile(p.node.NetnsPath); err != nil {
			n.log.Warn("cleanup after failed AddNode", "err", err)
		}
	})
	return ns, nil
}

// attachTAP makes p's TAP device in our namespace and moves it into ns
// (the file descriptor keeps working wherever the device goes). It
// returns the device's name and records in undo how to delete it.
func (n *Network) attachTAP(ns netns.NsHandle, p *port, undo *[]func()) (string, error) {
	hostName := n.cfg.Prefix + "-" + p.node.Name
	if len(hostName) > unix.IFNAMSIZ-1 {
		hostName = hostName[:unix.IFNAMSIZ-1]
	}
	var err error
	p.f, err = openTAP(hostName)
	if err != nil {
		return "", err
	}
	// Closing the file deletes the device, wherever it is by then.
	// (A close error cannot keep the device alive: the kernel drops a
	// TAP device with its last descriptor.)
	*undo = append(*undo, func() { _ = p.f.Close() })
	hl, err := netlink.LinkByName(hostName)
	if err != nil {
		return "", fmt.Errorf("find new TAP device %s: %w", hostName, err)
	}
	if err := netlink.LinkSetNsFd(hl, int(ns)); err != nil {
		return "", fmt.Errorf("move TAP device %s into %s: %w", hostName, p.node.NetnsPath, err)
	}
	return hostName, nil
}

// with returns a copy of t with p added as its last port: the lookup
// maps, and the link counters, kept for the pairs that existed and new
// for the pairs with p.
func (t *table) with(p *port) *table {
	idx := len(t.ports)
	nt := &table{
		ports:  append(append([]*port(nil), t.ports...), p),
		byMAC:  make(map[[6]byte]*port, idx+1),
		byName: make(map[string]*port, idx+1),
		links:  make([][]*linkCounters, idx+1),
	}
	for i, q := range nt.ports {
		nt.byMAC[q.mac] = q
		nt.byName[q.node.Name] = q
		nt.links[i] = make([]*linkCounters, idx+1)
		for j := range nt.ports {
			if i < idx && j < idx {
				nt.links[i][j] = t.links[i][j]
			} else {
				nt.links[i][j] = new(linkCounters)
			}
		}
	}
	return nt
}

// configure sets up the moved device (still called hostName) inside ns,
// with permanent neighbour entries for the nodes already on the network.
//
// Every node knows every other node's MAC address from the start, so no ARP
// crosses the switch: ARP frames would draw from the decision streams at
// times that vary from run to run, could be lost to link faults (turning
// loss of one packet into loss of many), and would make a one-way partition
// cut both ways (the cut side could not answer ARP requests).
func (n *Network) configure(ns netns.NsHandle, hostName string, p *port, others []*port) error {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", p.node.NetnsPath, err)
	}
	defer h.Close()
	dev := p.node.Device
	if _, err := h.LinkByName(dev); err == nil {
		return fmt.Errorf("namespace %s already has a device called %s (attached twice?)", p.node.NetnsPath, dev)
	}
	l, err := h.LinkByName(hostName)
	if err != nil {
		return fmt.Errorf("find TAP device %s in %s: %w", hostName, p.node.NetnsPath, err)
	}
	if err := h.LinkSetName(l, dev); err != nil {
		return fmt.Errorf("rename TAP device %s to %s: %w", hostName, dev, err)
	}
	if err := h.LinkSetHardwareAddr(l, p.node.MAC); err != nil {
		return fmt.Errorf("set MAC address of %s: %w", dev, err)
	}
	// IPv6 autoconfiguration would send router solicitations and DAD
	// probes at random times, each drawing from the node's decision
	// stream. The network is IPv4 only, so switch it off on the device.
	if err := doIn(ns, func() error {
		return writeSysctl("net/ipv6/conf/"+dev+"/disable_ipv6", "1")
	}); err != nil && !errors.Is(err, os.ErrNotExist) {
		n.log.Debug("could not disable IPv6 on node device", "node", p.node.Name, "err", err)
	}
	ipn := &net.IPNet{IP: net.IP(p.node.Addr.AsSlice()), Mask: net.CIDRMask(n.cfg.Subnet.Bits(), 32)}
	if err := h.AddrAdd(l, &netlink.Addr{IPNet: ipn}); err != nil {
		return fmt.Errorf("add address %v to %s: %w", ipn, dev, err)
	}
	// A TAP device queues 500 frames for the switch by default; a burst
	// larger than that is dropped by the kernel, outside the seeded
	// decisions. A longer queue absorbs bursts.
	if err := h.LinkSetTxQLen(l, TxQueueLen); err != nil {
		return fmt.Errorf("set queue length of %s: %w", dev, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("bring %s up: %w", dev, err)
	}
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find loopback in %s: %w", p.node.NetnsPath, err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("bring loopback up in %s: %w", p.node.NetnsPath, err)
	}
	def := &netlink.Route{
		LinkIndex: l.Attrs().Index,
		Dst:       &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
		Scope:     netlink.SCOPE_LINK,
	}
	if err := h.RouteAdd(def); err != nil {
		if !errors.Is(err, unix.EEXIST) || p.ownsNetns {
			return fmt.Errorf("add default route via %s: %w", dev, err)
		}
		n.log.Debug("namespace keeps its default route", "node", p.node.Name)
	}
	for _, q := range others {
		if err := h.NeighSet(neighbour(l.Attrs().Index, q)); err != nil {
			return fmt.Errorf("add neighbour entry for %s (%v) on %s: %w", q.node.Name, q.node.Addr, dev, err)
		}
	}
	return nil
}

// neighbour is the permanent neighbour entry for node q on a device.
func neighbour(linkIndex int, q *port) *netlink.Neigh {
	return &netlink.Neigh{
		LinkIndex:    linkIndex,
		Family:       netlink.FAMILY_V4,
		State:        netlink.NUD_PERMANENT,
		IP:           net.IP(q.node.Addr.AsSlice()),
		HardwareAddr: net.HardwareAddr(q.mac[:]),
	}
}

// addNeighbour adds node p's permanent neighbour entry to device dev in the
// namespace at nsPath.
func addNeighbour(nsPath, dev string, p *port) error {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", nsPath, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", nsPath, err)
	}
	defer h.Close()
	l, err := h.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("find %s in %s: %w", dev, nsPath, err)
	}
	if err := h.NeighSet(neighbour(l.Attrs().Index, p)); err != nil {
		return fmt.Errorf("add neighbour entry for %s on %s in %s: %w", p.node.Name, dev, nsPath, err)
	}
	return nil
}

// addrOf returns the address of the idx-th node.
func (n *Network) addrOf(idx int) (netip.Addr, error) {
	size := uint64(1) << (32 - n.cfg.Subnet.Bits())
	// .0 is the network, .1 is left for a gateway, the last is broadcast.
	if uint64(idx)+2 >= size-1 {
		return netip.Addr{}, fmt.Errorf("network %s: subnet %v has room for %d nodes; use a larger subnet", n.cfg.Prefix, n.cfg.Subnet, size-3)
	}
	b := n.cfg.Subnet.Addr().As4()
	v := binary.BigEndian.Uint32(b[:]) + uint32(idx) + 2
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b), nil
}

// macOf derives a node's MAC address from its IPv4 address: locally
// administered, unicast, 02:00:a:b:c:d.
func macOf(a netip.Addr) [6]byte {
	b := a.As4()
	return [6]byte{0x02, 0x00, b[0], b[1], b[2], b[3]}
}

// Nodes returns the network's nodes in the order they were added.
func (n *Network) Nodes() []Node {
	t := n.table.Load()
	out := make([]Node, len(t.ports))
	for i, p := range t.ports {
		out[i] = p.node
	}
	return out
}

// Node returns the node called name.
func (n *Network) Node(name string) (Node, bool) {
	p, ok := n.table.Load().byName[name]
	if !ok {
		return Node{}, false
	}
	return p.node, true
}

// Hosts returns /etc/hosts content for the nodes: the localhost lines, then
// one line per node mapping its name to its address, in the order nodes were
// added.
func (n *Network) Hosts() []byte {
	var b bytes.Buffer
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	for _, p := range n.table.Load().ports {
		fmt.Fprintf(&b, "%s\t%s\n", p.node.Addr, p.node.Name)
	}
	return b.Bytes()
}

// Close stops the switch, removes every device and every namespace the
// network made, and reports the final per-link drop counters as events. It
// is safe to call more than once.
func (n *Network) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed.Swap(true) {
		return nil
	}
	t := n.table.Load()
	var errs []error
	for _, p := range t.ports {
		// Closing the last descriptor of a non-persistent TAP device
		// unregisters it; this also ends the port's reader.
		if err := p.f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close TAP device of %s: %w", p.node.Name, err))
		}
	}
	n.queue.stop()
	n.wg.Wait()
	n.reportDrops() // the switch is still now: these are the final counts
	for _, p := range t.ports {
		if p.ownsNetns {
			if err := removeNetnsFile(p.node.NetnsPath); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if err := removeDevice(p.node.NetnsPath, p.node.Device); err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", p.node.Name, err))
		}
	}
	n.log.Debug("network closed", "nodes", len(t.ports))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("network %s: close: %w", n.cfg.Prefix, err)
	}
	return nil
}

// removeDevice deletes dev in the namespace at nsPath if it is still there.
// A namespace that is gone (its container exited) is not an error.
func removeDevice(nsPath, dev string) error {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("open network namespace %s: %w", nsPath, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", nsPath, err)
	}
	defer h.Close()
	l, err := h.LinkByName(dev)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("look for %s in %s: %w", dev, nsPath, err)
	}
	if err := h.LinkDel(l); err != nil {
		return fmt.Errorf("delete %s in %s: %w", dev, nsPath, err)
	}
	return nil
}
