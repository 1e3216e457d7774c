package hvbackend

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/mvrun/multiverse/hv/netsim"
	"github.com/mvrun/multiverse/hv/vfs"
	"github.com/mvrun/multiverse/internal/seeds"
)

// Moment asks a replayed seed to show what it held at a virtual time,
// without changing the run: the capture is an observer (see
// [hv.Cluster.Observe]), so the seed's trace hash stays the same.
type Moment struct {
	// At is the virtual time, since the cluster was created.
	At time.Duration
	// Pcap, if set, is the host file that receives every message between
	// sockets up to At as pcapng ("packets from the past"): TCP and UDP
	// packets synthesized from hv's socket model, stamped with virtual time.
	Pcap string
	// Files are node paths ("service:/path") to copy, as they are at At,
	// under OutDir/<seed>/<service>/<path>.
	Files  []string
	OutDir string
	// Dump asks for a thread dump of every process at At: each thread's
	// registers and stack, symbolized from its binary. Go processes then
	// print every goroutine's stack, as on SIGQUIT, in a branch of the
	// replay (branch.go): the replay stops at At for it.
	Dump bool
	// Exec, if set, runs a command in a node at At, in a branch of the
	// replay, and reports its output.
	Exec *ExecLook
	// Strace, if set, reports the system calls of a node's processes in a
	// window of virtual time (strace.go); it does not change the run.
	Strace *StraceLook
	// Logs are services whose output (stdout and stderr) up to At is copied
	// and its end reported.
	Logs []string
	// Stop ends the replay at At even without a look that acts (mvrun
	// debug: the rest of the seed is not needed to look at a moment).
	Stop bool
	// Report, if set, receives one entry per thing captured (a line, or
	// several for a dump), with failed set when that capture did not
	// happen (an error, a path missing at the moment, a moment after the
	// seed's end); it is called on the simulation's goroutine.
	Report func(line string, failed bool)
}

// ExecLook is a command run in a node at a moment.
type ExecLook struct {
	Service string
	Argv    []string
	Timeout time.Duration // virtual; default one minute
}

// Branches reports whether the replay branches at At (the runner stops
// there): for looks that act, or because Stop asks it to.
func (m *Moment) Branches() bool { return m.Dump || m.Exec != nil || m.Stop }

// report returns m.Report or a function that drops what it gets.
func (m *Moment) report() func(string, bool) {
	if m.Report == nil {
		return func(string, bool) {}
	}
	return m.Report
}

// dir is where the looks of seed's replay write their files.
func (m *Moment) dir(seed uint64) string { return filepath.Join(m.OutDir, seeds.Format(seed)) }

// Services lists the services m's looks name, to check them up front.
func (m *Moment) Services() []string {
	var out []string
	for _, f := range m.Files {
		if svc, _, err := ParseFileSpec(f); err == nil {
			out = append(out, svc)
		}
	}
	if m.Exec != nil {
		out = append(out, m.Exec.Service)
	}
	if m.Strace != nil {
		out = append(out, m.Strace.Service)
	}
	return append(out, m.Logs...)
}

// ParseFileSpec splits "service:/path" and checks its form.
func ParseFileSpec(s string) (service, p string, err error) {
	service, p, ok := strings.Cut(s, ":")
	if !ok || service == "" || !strings.HasPrefix(p, "/") {
		return "", "", fmt.Errorf("--files %q: want SERVICE:/absolute/path", s)
	}
	return service, path.Clean(p), nil
}

// checkMoment checks m against the cluster: its file specs, and that the
// services it names exist.
func (c *cluster) checkMoment(m *Moment) error {
	for _, f := range m.Files {
		if _, _, err := ParseFileSpec(f); err != nil {
			return err
		}
	}
	for _, svc := range m.Services() {
		if c.nodes[svc] == nil {
			return fmt.Errorf("no service %q in the compose project", svc)
		}
	}
	return nil
}

// moment wires m into cluster c: packets are recorded from the start, and
// the capture runs at m.At.
func (c *cluster) moment(m *Moment) error {
	report := m.report()
	if m.Strace != nil {
		c.strace(m, report)
	}
	if m.Branches() {
		c.look = m
	}
	var pcap *pcapWriter
	if m.Pcap != "" {
		var err error
		if pcap, err = newPcapWriter(m.Pcap); err != nil {
			return err
		}
		c.hc.Network().Observe(func(s netsim.Segment) {
			if time.Duration(s.Time) <= m.At {
				pcap.add(s)
			}
		})
	}
	c.momentPending = func() {
		if pcap != nil {
			pcap.close()
		}
		report(fmt.Sprintf("the seed ended at %v, before the moment %v: nothing captured", c.hc.Now(), m.At), true)
	}
	c.hc.Observe(m.At, func() {
		c.momentPending = nil
		at := c.hc.Now()
		if m.Dump {
			c.threadDump(m, report)
		}
		for _, svc := range m.Logs {
			c.logLook(m, svc, report)
		}
		if pcap != nil {
			n, err := pcap.close()
			if err != nil {
				report(fmt.Sprintf("pcap: %v", err), true)
			} else {
				report(fmt.Sprintf("pcap: %d packets up to %v in %s", n, at, m.Pcap), false)
			}
			pcap = nil
		}
		for _, f := range m.Files {
			svc, p, _ := ParseFileSpec(f)
			dir := filepath.Join(m.OutDir, seeds.Format(c.cfg.Seed), svc)
			n, dirty, err := copyOut(c.nodes[svc].n.FS(), p, dir)
			if err != nil {
				report(fmt.Sprintf("files %s: %v", f, err), true)
				continue
			}
			line := fmt.Sprintf("files %s at %v: %d files in %s", f, at, n, filepath.Join(dir, strings.TrimPrefix(p, "/")))
			if len(dirty) > 0 {
				line += fmt.Sprintf("; not yet durable (written or created since their last fsync, lost if the node crashed now): %s", strings.Join(dirty, ", "))
			}
			report(line, false)
		}
	})
	return nil
}

// copyOut copies the tree at p in fs to the host under dir (keeping p's
// path) and returns how many regular files it wrote and which of them hold
// data a crash would lose.
func copyOut(fs *vfs.FS, p, dir string) (files int, dirty []string, err error) {
	in, err := fs.Lookup(fs.Root(), p, false)
	if err != nil {
		return 0, nil, fmt.Errorf("%s does not exist in the node at that moment", p)
	}
	var walk func(p string, in *vfs.Inode) error
	walk = func(p string, in *vfs.Inode) error {
		host := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(p, "/")))
		switch {
		case in.IsDir():
			if err := os.MkdirAll(host, 0o755); err != nil {
				return err
			}
			for _, name := range in.Names() {
				if err := walk(path.Join(p, name), fs.Mounted(in.Child(name))); err != nil {
					return err
				}
			}
		case in.Target != "":
			if err := os.MkdirAll(filepath.Dir(host), 0o755); err != nil {
				return err
			}
			os.Remove(host)
			return os.Symlink(in.Target, host)
		case in.Dev == nil:
			if err := os.MkdirAll(filepath.Dir(host), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(host, in.Data, 0o644); err != nil {
				return err
			}
			files++
			if in.Dirty() {
				dirty = append(dirty, p)
			}
		}
		return nil
	}
	err = walk(p, in)
	slices.Sort(dirty)
	return files, dirty, err
}

// pcapWriter turns socket deliveries into a pcapng file of raw IP packets.
type pcapWriter struct {
	f    *os.File
	w    *pcapgo.NgWriter
	n    int
	err  error
	acks map[uint64][2]uint32 // TCP connection → next sequence number per direction
}

func newPcapWriter(file string) (*pcapWriter, error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("--pcap: %w", err)
	}
	w, err := pcapgo.NewNgWriter(f, layers.LinkTypeRaw)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("--pcap: %w", err)
	}
	return &pcapWriter{f: f, w: w, acks: map[uint64][2]uint32{}}, nil
}

// epoch anchors virtual time in the capture: the simulated wall clock's
// start, so timestamps read as the guests' own clocks.
var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func (p *pcapWriter) add(s netsim.Segment) {
	if p.err != nil {
		return
	}
	src, dst := s.From.Addr().Unmap(), s.To.Addr().Unmap()
	var ip gopacket.SerializableLayer
	var netLayer gopacket.NetworkLayer
	if src.Is4() && dst.Is4() {
		v4 := &layers.IPv4{Version: 4, TTL: 64, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		ip, netLayer = v4, v4
	} else {
		v6 := &layers.IPv6{Version: 6, HopLimit: 64, SrcIP: as16(src), DstIP: as16(dst)}
		ip, netLayer = v6, v6
	}
	var l4 gopacket.SerializableLayer
	switch s.Proto {
	case 17:
		u := &layers.UDP{SrcPort: layers.UDPPort(s.From.Port()), DstPort: layers.UDPPort(s.To.Port())}
		_ = u.SetNetworkLayerForChecksum(netLayer)
		setProto(ip, layers.IPProtocolUDP)
		l4 = u
	default:
		dir := 0
		if s.From.Port() > s.To.Port() { // either way, one side's numbers stay consistent
			dir = 1
		}
		t := &layers.TCP{SrcPort: layers.TCPPort(s.From.Port()), DstPort: layers.TCPPort(s.To.Port()),
			Seq: uint32(s.Seq) + 1, Window: 65535, SYN: s.Flags&netsim.FlagSYN != 0, FIN: s.Flags&netsim.FlagFIN != 0,
			RST: s.Flags&netsim.FlagRST != 0, ACK: s.Flags&netsim.FlagACK != 0 || s.Len > 0, PSH: s.Len > 0}
		if t.SYN {
			t.Seq = 0
		}
		next := p.acks[s.Conn]
		next[dir] = t.Seq + uint32(s.Len)
		p.acks[s.Conn] = next
		t.Ack = next[1-dir]
		_ = t.SetNetworkLayerForChecksum(netLayer)
		setProto(ip, layers.IPProtocolTCP)
		l4 = t
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ip, l4, gopacket.Payload(s.Payload)); err != nil {
		p.err = err
		return
	}
	data := buf.Bytes()
	ci := gopacket.CaptureInfo{Timestamp: epoch.Add(time.Duration(s.Time)), CaptureLength: len(data), Length: len(data)}
	if err := p.w.WritePacket(ci, data); err != nil {
		p.err = err
		return
	}
	p.n++
}

func as16(a netip.Addr) []byte {
	b := a.As16()
	return b[:]
}

func setProto(ip gopacket.SerializableLayer, proto layers.IPProtocol) {
	switch l := ip.(type) {
	case *layers.IPv4:
		l.Protocol = proto
	case *layers.IPv6:
		l.NextHeader = proto
	}
}

// close flushes the capture and returns the number of packets written.
func (p *pcapWriter) close() (int, error) {
	err := p.err
	if ferr := p.w.Flush(); err == nil {
		err = ferr
	}
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return p.n, errors.Join(errors.New("writing the capture"), err)
	}
	return p.n, nil
}
