package kernel

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mvrun/multiverse/hv/abi"
	"github.com/mvrun/multiverse/hv/mm"
	"github.com/mvrun/multiverse/hv/vfs"
)

// proc is a process created for calling system call handlers directly,
// without a VM: enough to test state that processes of a node share.
type proc struct {
	t       *testing.T
	k       *Kernel
	scratch uint64 // a guest page for path arguments
}

// helloELF builds a static guest binary; the processes never run it.
func helloELF(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "hello")
	cmd := exec.Command("go", "build", "-o", out, "../testdata/guests/hello")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build guest: %v\n%s", err, b)
	}
	return out
}

func newProc(t *testing.T, fs *vfs.FS, bin string) *proc {
	t.Helper()
	phys, err := mm.NewPhysical(64 << 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { phys.Close() })
	space, err := mm.NewSpace(phys)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	k, err := New(phys, space, Config{Seed: 1, Binary: bin, Image: f, Args: []string{"p"}, FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	k.Begin()
	if th, _ := k.w.Schedule(1 << 62); th != k.Main() {
		t.Fatalf("the new process's main thread was not scheduled")
	}
	va, err := space.Map(0, mm.PageSize, mm.ProtRead|mm.ProtWrite, false, false, "scratch")
	if err != nil {
		t.Fatal(err)
	}
	return &proc{t: t, k: k, scratch: va}
}

// call runs system call nr's handler for the process's main thread.
func (p *proc) call(nr uint64, args ...uint64) (uint64, error) {
	var a [6]uint64
	copy(a[:], args)
	th := p.k.Current()
	th.call = &call{nr: nr, args: a}
	return table[nr].fn(th, &a)
}

func (p *proc) must(nr uint64, args ...uint64) uint64 {
	p.t.Helper()
	v, err := p.call(nr, args...)
	if err != nil {
		p.t.Fatalf("system call: %v", err)
	}
	return v
}

func (p *proc) open(path string, flags int) uint64 {
	p.t.Helper()
	if err := p.k.Space.WriteAt(append([]byte(path), 0), p.scratch); err != nil {
		p.t.Fatal(err)
	}
	return p.must(abi.SysOpen, p.scratch, uint64(flags), 0o644)
}

func (p *proc) read(va uint64, n int) string {
	p.t.Helper()
	b := make([]byte, n)
	if err := p.k.Space.ReadAt(b, va); err != nil {
		p.t.Fatal(err)
	}
	return string(b)
}

// TestSharedMappingAcrossProcesses checks coherence between two processes
// of one node (each with its own guest memory): pwrite and truncate in one
// reach the other's read-only mapping at once, stores through a writable
// mapping reach it at msync, and an exiting process's mappings are
// forgotten.
func TestSharedMappingAcrossProcesses(t *testing.T) {
	bin := helloELF(t)
	fs := vfs.New(vfs.ClockFunc(func() int64 { return 0 }))
	if err := fs.WriteFile("/db", bytes.Repeat([]byte("a"), 8192), 0o644); err != nil {
		t.Fatal(err)
	}
	a, b := newProc(t, fs, bin), newProc(t, fs, bin)
	fdA := a.open("/db", abi.ORdonly)
	vaA := a.must(abi.SysMmap, 0, 8192, abi.ProtRead, abi.MapShared, fdA, 0)
	fdB := b.open("/db", abi.ORdwr)

	b.k.Space.WriteAt([]byte("hello"), b.scratch)
	b.must(abi.SysPwrite64, fdB, b.scratch, 5, 100)
	if got := a.read(vaA+100, 5); got != "hello" {
		t.Fatalf("pwrite in B, A's mapping reads %q", got)
	}

	vaB := b.must(abi.SysMmap, 0, 8192, abi.ProtRead|abi.ProtWrite, abi.MapShared, fdB, 0)
	if got := b.read(vaB+100, 5); got != "hello" {
		t.Fatalf("B's new mapping reads %q", got)
	}
	if err := b.k.Space.WriteAt([]byte("store"), vaB+4200); err != nil {
		t.Fatal(err)
	}
	if got := a.read(vaA+4200, 5); got != "aaaaa" {
		t.Fatalf("store reached A before msync: %q", got)
	}
	b.must(abi.SysMsync, vaB, 8192, abi.MsSync)
	if got := a.read(vaA+4200, 5); got != "store" {
		t.Fatalf("after B's msync, A's mapping reads %q", got)
	}
	n, _ := fs.Lookup(fs.Root(), "/db", true)
	if string(n.Data[4200:4205]) != "store" || n.Dirty() {
		t.Fatalf("after msync(MS_SYNC) the file holds %q, dirty %v; want the store, durable", n.Data[4200:4205], n.Dirty())
	}

	b.must(abi.SysFtruncate, fdB, 4096+10)
	if got := a.read(vaA+4096+20, 1); got != "\x00" {
		t.Fatalf("past EOF after shrink, A reads %q", got)
	}
	if got := a.read(vaA+4096+5, 1); got != "a" {
		t.Fatalf("before EOF after shrink, A reads %q", got)
	}

	if got := len(shared(n).maps); got != 2 {
		t.Fatalf("%d shared mappings registered, want 2", got)
	}
	b.k.exitProcess(0, 0)
	if got := len(shared(n).maps); got != 1 {
		t.Fatalf("%d shared mappings after B exited, want 1", got)
	}
	a.must(abi.SysMunmap, vaA+4096, 4096) // partial unmap keeps the rest
	if m := shared(n).maps; len(m) != 1 || m[0].end-m[0].start != 4096 {
		t.Fatalf("after a partial munmap: %d mappings", len(m))
	}
}

// TestFlockAcrossProcesses checks that a blocking flock in one process
// waits for another process's lock and is woken when it is released, and
// that exiting releases a process's locks.
func TestFlockAcrossProcesses(t *testing.T) {
	bin := helloELF(t)
	fs := vfs.New(vfs.ClockFunc(func() int64 { return 0 }))
	if err := fs.WriteFile("/lock", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	a, b := newProc(t, fs, bin), newProc(t, fs, bin)
	fdA, fdB := a.open("/lock", abi.ORdwr), b.open("/lock", abi.ORdwr)
	b.must(abi.SysFlock, fdB, abi.LockEx)
	if _, err := a.call(abi.SysFlock, fdA, abi.LockEx|abi.LockNb); err != abi.EAGAIN {
		t.Fatalf("LOCK_NB against another process's lock: %v, want EAGAIN", err)
	}
	th := a.k.Current()
	if _, err := a.call(abi.SysFlock, fdA, abi.LockEx); err != errBlock || th.state != stateBlocked {
		t.Fatalf("blocking flock: %v, state %v; want the thread parked", err, th.state)
	}
	b.must(abi.SysFlock, fdB, abi.LockUn)
	if th.state != stateRunnable {
		t.Fatalf("after the unlock the waiter is in state %v, want runnable", th.state)
	}
	if got, _ := a.k.w.Schedule(1 << 62); got != th || th.Regs.RAX != 0 {
		t.Fatalf("retried flock: thread %v, result %#x", got, th.Regs.RAX)
	}
	if _, err := b.call(abi.SysFlock, fdB, abi.LockSh|abi.LockNb); err != abi.EAGAIN {
		t.Fatalf("B after A got the lock: %v, want EAGAIN", err)
	}
	a.k.exitProcess(0, 0)
	if _, err := b.call(abi.SysFlock, fdB, abi.LockSh|abi.LockNb); err != nil {
		t.Fatalf("B after A exited: %v, want the lock", err)
	}
}

// TestSyncWritesThroughKernel checks the kernel's side of the crash model:
// a write through an O_SYNC descriptor is durable when it returns, a plain
// write is not until fsync, and a store through another process's writable
// mapping is written back and made durable by fsync of the file.
func TestSyncWritesThroughKernel(t *testing.T) {
	bin := helloELF(t)
	fs := vfs.New(vfs.ClockFunc(func() int64 { return 0 }))
	for _, name := range []string{"/sync", "/plain", "/mapped"} {
		if err := fs.WriteFile(name, []byte("old!"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a, b := newProc(t, fs, bin), newProc(t, fs, bin)
	a.k.Space.WriteAt([]byte("new!"), a.scratch+512)
	fdSync := a.open("/sync", abi.OWronly|abi.OSync)
	a.must(abi.SysWrite, fdSync, a.scratch+512, 4)
	fdPlain := a.open("/plain", abi.OWronly)
	a.must(abi.SysWrite, fdPlain, a.scratch+512, 4)

	fdB := b.open("/mapped", abi.ORdwr)
	va := b.must(abi.SysMmap, 0, 4096, abi.ProtRead|abi.ProtWrite, abi.MapShared, fdB, 0)
	if err := b.k.Space.WriteAt([]byte("MAP!"), va); err != nil {
		t.Fatal(err)
	}
	fdA := a.open("/mapped", abi.ORdonly)
	a.must(abi.SysFsync, fdA) // another process's fsync writes B's stores back

	a.k.exitProcess(0, 0)
	b.k.exitProcess(0, 0)
	fs.Crash()
	for path, want := range map[string]string{"/sync": "new!", "/plain": "old!", "/mapped": "MAP!"} {
		n, err := fs.Lookup(fs.Root(), path, true)
		if err != nil || string(n.Data) != want {
			t.Errorf("%s after the crash: %q (%v), want %q", path, n.Data, err, want)
		}
	}
}

// TestLazySharedMappingAcrossProcesses checks a shared mapping large
// enough to be populated on demand: mapping it gives no page a frame; a
// pwrite from another process reaches a page A has touched at once and an
// untouched one when it is first touched; msync of a writable lazy
// mapping writes back only the pages that were touched (never zeros over
// the rest); MADV_DONTNEED makes the pages read the file again.
func TestLazySharedMappingAcrossProcesses(t *testing.T) {
	bin := helloELF(t)
	fs := vfs.New(vfs.ClockFunc(func() int64 { return 0 }))
	if err := fs.WriteFile("/db", bytes.Repeat([]byte("a"), 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	a, b := newProc(t, fs, bin), newProc(t, fs, bin)
	// far is beyond the group of pages a touch at the start populates.
	const size, far = 1 << 30, 1 << 20
	fdA := a.open("/db", abi.ORdonly)
	vaA := a.must(abi.SysMmap, 0, size, abi.ProtRead, abi.MapShared, fdA, 0)
	for _, off := range []uint64{0, 40 << 10, size - mm.PageSize} {
		if a.k.Space.HasFrame(vaA + off) {
			t.Fatalf("page at offset %#x of a 1 GiB mapping has a frame before any touch", off)
		}
	}
	if got := a.read(vaA+10, 3); got != "aaa" {
		t.Fatalf("first touch reads %q", got)
	}
	if a.k.Space.HasFrame(vaA + far) {
		t.Fatal("a touch populated a page 1 MiB away")
	}
	fdB := b.open("/db", abi.ORdwr)
	b.k.Space.WriteAt([]byte("hello"), b.scratch)
	b.must(abi.SysPwrite64, fdB, b.scratch, 5, 100)     // a page A has touched
	b.must(abi.SysPwrite64, fdB, b.scratch, 5, far+100) // one it has not
	if got := a.read(vaA+100, 5); got != "hello" {
		t.Fatalf("pwrite in B, A's populated page reads %q", got)
	}
	if got := a.read(vaA+far+100, 5); got != "hello" {
		t.Fatalf("pwrite in B, A's page touched afterwards reads %q", got)
	}

	vaB := b.must(abi.SysMmap, 0, size, abi.ProtRead|abi.ProtWrite, abi.MapShared, fdB, 0)
	if err := b.k.Space.WriteAt([]byte("store"), vaB+20<<10); err != nil {
		t.Fatal(err)
	}
	b.must(abi.SysMsync, vaB, size, abi.MsSync)
	n, _ := fs.Lookup(fs.Root(), "/db", true)
	if string(n.Data[20<<10:20<<10+5]) != "store" || string(n.Data[far+100:far+105]) != "hello" || n.Data[3<<19] != 'a' {
		t.Fatalf("after msync the file holds %q, %q, %q; want the store, the other pages kept", n.Data[20<<10:20<<10+5], n.Data[far+100:far+105], n.Data[3<<19])
	}
	if got := a.read(vaA+20<<10, 5); got != "store" {
		t.Fatalf("after B's msync, A's mapping reads %q", got)
	}
	// B stores again and discards: the store is written back first, and
	// the page reads the file afterwards.
	if err := b.k.Space.WriteAt([]byte("again"), vaB+20<<10); err != nil {
		t.Fatal(err)
	}
	b.must(abi.SysMadvise, vaB, 64<<10, abi.MadvDontneed)
	if b.k.Space.HasFrame(vaB + 20<<10) {
		t.Fatal("MADV_DONTNEED left the lazy page its frame")
	}
	if got := b.read(vaB+20<<10, 5); got != "again" {
		t.Fatalf("after MADV_DONTNEED B's page reads %q, want the store through the file", got)
	}
	b.must(abi.SysMunmap, vaB, size)
	a.must(abi.SysMunmap, vaA, size)
	if s := peekShared(n); s != nil && len(s.maps) != 0 {
		t.Fatalf("%d mappings still registered after munmap", len(s.maps))
	}
}
