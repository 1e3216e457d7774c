package hv

import (
	"debug/elf"
	"debug/gosym"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/mvrun/multiverse/hv/kernel"
	"github.com/mvrun/multiverse/internal/seeds"
)

// This file looks inside a cluster at a moment (thread dumps, system
// call observation) and redraws its future for a branch. Looking changes
// nothing; Signal and Redraw do, and are for branches of a run.

// Frame is one frame of a guest thread's stack.
type Frame struct {
	PC   uint64
	Func string // symbol from the ELF's symbol table; "?" if none
	Off  uint64 // PC - the symbol's address
	File string // source file and line, for Go binaries (from .gopclntab)
	Line int
}

// String renders the frame as "func+0x12 file:line".
func (f Frame) String() string {
	s := fmt.Sprintf("%#x %s+%#x", f.PC, f.Func, f.Off)
	if f.File != "" {
		s += fmt.Sprintf(" %s:%d", f.File, f.Line)
	}
	return s
}

// ThreadDump is one thread of a [ProcessDump].
type ThreadDump struct {
	kernel.ThreadInfo
	Stack []Frame // innermost first, from a frame-pointer walk
}

// ProcessDump is every thread of a process at a moment.
type ProcessDump struct {
	Node    string
	Pid     int
	Binary  string
	Go      bool // the binary is a Go program (it has a Go pclntab)
	Threads []ThreadDump
}

// maxFrames bounds a stack walk (a corrupt chain must not loop).
const maxFrames = 64

// Dump returns each live thread's registers and its stack, walked along
// the frame pointers (RBP chain: Go on amd64 keeps them, as does C built
// with -fno-omit-frame-pointer) and symbolized from the binary's ELF
// symbol table. A frameless leaf function's caller is not in the chain,
// so it can be missing from the stack. It only reads guest memory, and
// without populating anything, so the run is unchanged.
func (p *Process) Dump() (ProcessDump, error) {
	d := ProcessDump{Node: p.node.name, Pid: p.Pid(), Binary: p.binary}
	if p.done {
		return d, fmt.Errorf("hv: process %d of node %s has exited", d.Pid, d.Node)
	}
	sym, err := symbolsOf(p.binary)
	if err != nil {
		return d, err
	}
	d.Go = sym.lines != nil
	for _, ti := range p.k.Threads() {
		td := ThreadDump{ThreadInfo: ti}
		td.Stack = append(td.Stack, sym.frame(ti.Regs.RIP))
		var b [16]byte
		for fp := ti.Regs.RBP; fp != 0 && fp%8 == 0 && len(td.Stack) < maxFrames; {
			p.k.Peek(b[:], fp)
			next, ret := binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])
			if ret == 0 || !sym.inText(ret) {
				break
			}
			// The return address points after the call; name the call.
			td.Stack = append(td.Stack, sym.frame(ret-1))
			td.Stack[len(td.Stack)-1].PC = ret
			if next <= fp {
				break // the chain must go up the stack
			}
			fp = next
		}
		d.Threads = append(d.Threads, td)
	}
	return d, nil
}

// Write renders the dump for people; the error is w's.
func (d ProcessDump) Write(w io.Writer) error {
	var b strings.Builder
	d.render(&b)
	_, err := io.WriteString(w, b.String())
	return err
}

func (d ProcessDump) render(w *strings.Builder) {
	kind := "binary"
	if d.Go {
		kind = "Go binary"
	}
	fmt.Fprintf(w, "node %s pid %d (%s %s): %d threads\n", d.Node, d.Pid, kind, d.Binary, len(d.Threads))
	for _, t := range d.Threads {
		name := ""
		if t.Name != "" {
			name = " " + t.Name
		}
		r := t.Regs
		fmt.Fprintf(w, "  thread %d%s: %s\n", t.TID, name, t.State)
		fmt.Fprintf(w, "    rip %016x rsp %016x rbp %016x rflags %016x fs %016x\n", r.RIP, r.RSP, r.RBP, r.RFLAGS, t.FSBase)
		fmt.Fprintf(w, "    rax %016x rbx %016x rcx %016x rdx %016x\n", r.RAX, r.RBX, r.RCX, r.RDX)
		fmt.Fprintf(w, "    rsi %016x rdi %016x r8  %016x r9  %016x\n", r.RSI, r.RDI, r.R8, r.R9)
		fmt.Fprintf(w, "    r10 %016x r11 %016x r12 %016x r13 %016x\n", r.R10, r.R11, r.R12, r.R13)
		fmt.Fprintf(w, "    r14 %016x r15 %016x\n", r.R14, r.R15)
		for _, f := range t.Stack {
			fmt.Fprintf(w, "      %s\n", f)
		}
	}
}

// Signal sends sig to the process from the host (kill(2) from outside).
// It changes the run: use it in a branch.
func (p *Process) Signal(sig int) {
	if !p.done {
		p.k.Signal(sig)
	}
}

// Redraw replaces the cluster's seed streams from now on — the
// scheduler's choice of thread, the network's link decisions, every live
// process's entropy and that of the processes started later — with
// streams of seed, so the run's future is
// drawn anew while its past stays the same: a branch of the run. It
// enters the trace, so each branch has its own trace hash, which the
// same seed reproduces.
func (c *Cluster) Redraw(seed uint64) {
	c.world.Trace().Event('B', seed)
	c.branch = seed
	c.world.Redraw(seeds.Stream(seed, "hv/sched"))
	c.links.rng = seeds.Stream(seed, "hv/links")
	for _, n := range c.nodes {
		for i, p := range n.procs {
			p.k.RedrawEntropy(seeds.Stream(seed, fmt.Sprintf("hv/entropy/%s/%d", n.name, i)))
		}
	}
}

// Call is one system call seen by [Cluster.ObserveCalls].
type Call struct {
	Proc    *Process
	TID     int
	Nr      uint64
	Args    [6]uint64
	Ret     uint64 // what the guest gets; -errno for an error
	Blocked bool   // the thread waits; the call is seen again when it retries
	Exited  bool   // the process ended in the call
}

// ObserveCalls makes fn see every system call of the cluster's processes
// as it returns, from now on; nil stops it. fn only looks (it may read
// guest memory with [Process.Peek]), so the run stays the same.
func (c *Cluster) ObserveCalls(fn func(Call)) {
	if fn == nil {
		c.world.SetCallObserver(nil)
		return
	}
	c.world.SetCallObserver(func(t *kernel.Thread, nr uint64, args [6]uint64, ret uint64, blocked, exited bool) {
		p := c.live[t.Process()]
		if p == nil {
			for _, d := range c.dead {
				if d.k == t.Process() {
					p = d
				}
			}
		}
		if p != nil {
			fn(Call{Proc: p, TID: t.TID, Nr: nr, Args: args, Ret: ret, Blocked: blocked, Exited: exited})
		}
	})
}

// Peek reads the process's memory at va into b without effect on it
// (unpopulated pages read as zero).
func (p *Process) Peek(b []byte, va uint64) {
	if p.m != nil {
		p.k.Peek(b, va)
	}
}

// symbols symbolizes addresses of one ELF binary.
type symbols struct {
	funcs  []elf.Symbol // STT_FUNC, by address
	textLo uint64
	textHi uint64
	lines  *gosym.Table // Go's pclntab; nil for other binaries
	// covLo and covHi bound the coverage counter region of a -cover Go
	// binary (runtime.covctrs, runtime.ecovctrs; cover.go); equal without.
	covLo, covHi uint64
}

var (
	symMu    sync.Mutex
	symCache = map[string]*symbols{}
)

// symbolsOf reads (once per path) the symbol table of binary.
func symbolsOf(path string) (*symbols, error) {
	symMu.Lock()
	defer symMu.Unlock()
	if s := symCache[path]; s != nil {
		return s, nil
	}
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("hv: symbols of %s: %w", path, err)
	}
	defer func() { _ = f.Close() }() // opened read-only: closing loses nothing
	s := &symbols{}
	all, _ := f.Symbols() // a stripped binary has none: frames show "?"
	for _, y := range all {
		if elf.ST_TYPE(y.Info) == elf.STT_FUNC && y.Value != 0 {
			s.funcs = append(s.funcs, y)
		}
		switch y.Name {
		case "runtime.covctrs":
			s.covLo = y.Value
		case "runtime.ecovctrs":
			s.covHi = y.Value
		}
	}
	if s.covHi < s.covLo || s.covLo == 0 || s.covHi-s.covLo > maxCoverRegion {
		s.covLo, s.covHi = 0, 0 // not a region we can trust: no coverage
	}
	sort.Slice(s.funcs, func(i, j int) bool { return s.funcs[i].Value < s.funcs[j].Value })
	for _, sec := range f.Sections {
		if sec.Flags&elf.SHF_EXECINSTR != 0 {
			if s.textLo == 0 || sec.Addr < s.textLo {
				s.textLo = sec.Addr
			}
			s.textHi = max(s.textHi, sec.Addr+sec.Size)
		}
	}
	if pcln := f.Section(".gopclntab"); pcln != nil {
		if data, err := pcln.Data(); err == nil {
			text := f.Section(".text")
			if text != nil {
				if t, err := gosym.NewTable(nil, gosym.NewLineTable(data, text.Addr)); err == nil {
					s.lines = t
				}
			}
		}
	}
	symCache[path] = s
	return s, nil
}

func (s *symbols) inText(pc uint64) bool { return pc >= s.textLo && pc < s.textHi }

// frame symbolizes pc.
func (s *symbols) frame(pc uint64) Frame {
	f := Frame{PC: pc, Func: "?"}
	i := sort.Search(len(s.funcs), func(i int) bool { return s.funcs[i].Value > pc }) - 1
	if i >= 0 {
		y := s.funcs[i]
		if y.Size == 0 || pc < y.Value+y.Size {
			f.Func, f.Off = y.Name, pc-y.Value
		}
	}
	if s.lines != nil {
		if file, line, fn := s.lines.PCToLine(pc); fn != nil {
			f.File, f.Line = shortPath(file), line
			if f.Func == "?" {
				f.Func, f.Off = fn.Name, pc-fn.Entry
			}
		}
	}
	return f
}

// shortPath keeps a source path's last three elements.
func shortPath(p string) string {
	parts := strings.Split(p, "/")
	if len(parts) > 3 {
		parts = parts[len(parts)-3:]
	}
	return strings.Join(parts, "/")
}
