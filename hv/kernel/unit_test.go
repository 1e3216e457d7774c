package kernel

// Unit tests of the kernel's system calls that need no /dev/kvm: each
// creates a process (guest memory is host memory, no VM) and calls the
// handlers directly as the main thread, the way a trap would. They pin the
// Linux semantics hv promises for the fd table, pipes, futexes and epoll,
// so a host without KVM still tests the kernel.

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/mvrun/multiverse/hv/abi"
	"github.com/mvrun/multiverse/hv/vfs"
)

// unitProc is a process for handler calls, with a second scratch page for
// results (pipe2's fd pair, epoll events).
func unitProc(t *testing.T) *proc {
	t.Helper()
	return newProc(t, vfs.New(vfs.ClockFunc(func() int64 { return 0 })), helloELF(t))
}

// errno runs a call that must fail and returns its errno.
func (p *proc) errno(nr uint64, args ...uint64) abi.Errno {
	p.t.Helper()
	v, err := p.call(nr, args...)
	var en abi.Errno
	if !errors.As(err, &en) {
		p.t.Fatalf("system call %s: got %d, %v; want an errno", abi.SysName(nr), v, err)
	}
	return en
}

func (p *proc) u32(va uint64) uint32 {
	p.t.Helper()
	v, err := p.k.readU32(va)
	if err != nil {
		p.t.Fatal(err)
	}
	return v
}

func (p *proc) poke(va uint64, b []byte) {
	p.t.Helper()
	if err := p.k.Space.WriteAt(b, va); err != nil {
		p.t.Fatal(err)
	}
}

// TestFDTable: new descriptors take the lowest free number, dup3 sets
// close-on-exec only where asked, a closed descriptor is EBADF and its
// number is reused.
func TestFDTable(t *testing.T) {
	p := unitProc(t)
	null := p.open("/dev/null", abi.ORdwr)
	if null != 3 {
		t.Fatalf("first open returned fd %d, want 3 (0-2 are stdio)", null)
	}
	if fd := p.must(abi.SysDup, null); fd != 4 {
		t.Fatalf("dup returned %d, want the lowest free fd 4", fd)
	}
	if fd := p.must(abi.SysDup3, null, 10, abi.OCloexec); fd != 10 {
		t.Fatalf("dup3 to 10 returned %d", fd)
	}
	if got := p.must(abi.SysFcntl, 10, abi.FGetfd); got != abi.FdCloexec {
		t.Errorf("F_GETFD of a dup3(O_CLOEXEC) fd = %d, want FD_CLOEXEC", got)
	}
	if got := p.must(abi.SysFcntl, 4, abi.FGetfd); got != 0 {
		t.Errorf("F_GETFD of a dup fd = %d, want 0 (dup clears close-on-exec)", got)
	}
	if en := p.errno(abi.SysDup3, null, null, 0); en != abi.EINVAL {
		t.Errorf("dup3 onto itself: %v, want EINVAL", en)
	}
	p.must(abi.SysClose, 4)
	if en := p.errno(abi.SysClose, 4); en != abi.EBADF {
		t.Errorf("closing fd 4 twice: %v, want EBADF", en)
	}
	if en := p.errno(abi.SysFcntl, 4, abi.FGetfd); en != abi.EBADF {
		t.Errorf("F_GETFD of a closed fd: %v, want EBADF", en)
	}
	if fd := p.open("/dev/zero", abi.ORdonly); fd != 4 {
		t.Errorf("open after closing fd 4 returned %d, want 4 again", fd)
	}
	if en := p.errno(abi.SysClose, 1<<20); en != abi.EBADF {
		t.Errorf("closing an fd past the table: %v, want EBADF", en)
	}
}

// TestPipe: bytes come out in order, an empty non-blocking pipe is EAGAIN
// while a writer exists and EOF once none does, and writing with no reader
// is EPIPE and raises SIGPIPE.
func TestPipe(t *testing.T) {
	p := unitProc(t)
	res := p.scratch + 2048
	p.must(abi.SysPipe2, res, abi.ONonblock)
	r, w := uint64(p.u32(res)), uint64(p.u32(res+4))
	if r == w || r < 3 || w < 3 {
		t.Fatalf("pipe2 gave fds %d, %d", r, w)
	}
	p.poke(p.scratch, []byte("hello"))
	if n := p.must(abi.SysWrite, w, p.scratch, 5); n != 5 {
		t.Fatalf("write returned %d", n)
	}
	buf := p.scratch + 1024
	if n := p.must(abi.SysRead, r, buf, 3); n != 3 || p.read(buf, 3) != "hel" {
		t.Fatalf("read 3 gave %d %q", n, p.read(buf, int(n)))
	}
	if n := p.must(abi.SysRead, r, buf, 100); n != 2 || p.read(buf, 2) != "lo" {
		t.Fatalf("second read gave %d %q, want the rest in order", n, p.read(buf, int(n)))
	}
	if en := p.errno(abi.SysRead, r, buf, 100); en != abi.EAGAIN {
		t.Errorf("read of an empty non-blocking pipe: %v, want EAGAIN", en)
	}
	if en := p.errno(abi.SysWrite, r, p.scratch, 1); en != abi.EBADF {
		t.Errorf("write to the read end: %v, want EBADF", en)
	}
	p.must(abi.SysClose, w)
	if n := p.must(abi.SysRead, r, buf, 100); n != 0 {
		t.Errorf("read after the writer closed returned %d, want 0 (EOF)", n)
	}

	p.must(abi.SysPipe2, res, abi.ONonblock)
	r, w = uint64(p.u32(res)), uint64(p.u32(res+4))
	p.must(abi.SysClose, r)
	if en := p.errno(abi.SysWrite, w, p.scratch, 1); en != abi.EPIPE {
		t.Errorf("write with no reader: %v, want EPIPE", en)
	}
	if p.k.Main().sigPending&sigBit(abi.SIGPIPE) == 0 {
		t.Errorf("write with no reader raised no SIGPIPE")
	}
	if en := p.errno(abi.SysPipe2, res, 1<<3); en != abi.EINVAL {
		t.Errorf("pipe2 with an unknown flag: %v, want EINVAL", en)
	}
}

// TestFutex: FUTEX_WAIT returns EAGAIN when the word changed, parks the
// thread when it did not, and FUTEX_WAKE wakes exactly the waiters on that
// address (and only those whose bitset matches).
func TestFutex(t *testing.T) {
	p := unitProc(t)
	word := p.scratch + 512
	p.poke(word, binary.LittleEndian.AppendUint32(nil, 7))
	if en := p.errno(abi.SysFutex, word, abi.FutexWait, 8); en != abi.EAGAIN {
		t.Errorf("FUTEX_WAIT with a stale value: %v, want EAGAIN", en)
	}
	if en := p.errno(abi.SysFutex, word+1, abi.FutexWait, 7); en != abi.EINVAL {
		t.Errorf("FUTEX_WAIT on an unaligned word: %v, want EINVAL", en)
	}
	if n := p.must(abi.SysFutex, word, abi.FutexWake, 1); n != 0 {
		t.Errorf("FUTEX_WAKE with no waiters woke %d", n)
	}
	main := p.k.Main()
	if _, err := p.call(abi.SysFutex, word, abi.FutexWaitBitset, 7, 0, 0, 0b01); err != errBlock {
		t.Fatalf("FUTEX_WAIT_BITSET with the current value: %v, want the thread parked", err)
	}
	if main.state != stateBlocked {
		t.Fatalf("waiting thread is in state %v, want blocked", main.state)
	}
	if n := p.k.futexWake(word+4, 1, ^uint32(0)); n != 0 {
		t.Errorf("a wake on another address woke %d", n)
	}
	if n := p.k.futexWake(word, 1, 0b10); n != 0 {
		t.Errorf("a wake with a disjoint bitset woke %d", n)
	}
	if main.state != stateBlocked {
		t.Fatalf("the waiter woke from a wake that did not match it")
	}
	if n := p.k.futexWake(word, 5, 0b11); n != 1 {
		t.Errorf("a matching wake woke %d, want the one waiter", n)
	}
	if main.state == stateBlocked {
		t.Errorf("the waiter is still blocked after a matching wake")
	}
}

// TestEpoll: a registered eventfd is reported only once it is readable,
// with the registered data; a timeout of 0 never blocks; registering twice
// is EEXIST and deleting an unregistered fd ENOENT.
func TestEpoll(t *testing.T) {
	p := unitProc(t)
	ep := p.must(abi.SysEpollCreate1, 0)
	efd := p.must(abi.SysEventfd2, 0, abi.ONonblock)
	ev := p.scratch + 256
	event := binary.LittleEndian.AppendUint32(nil, abi.EpollIn)
	event = binary.LittleEndian.AppendUint64(event, 0xfeedface)
	p.poke(ev, event)
	p.must(abi.SysEpollCtl, ep, abi.EpollCtlAdd, efd, ev)
	if en := p.errno(abi.SysEpollCtl, ep, abi.EpollCtlAdd, efd, ev); en != abi.EEXIST {
		t.Errorf("adding an fd twice: %v, want EEXIST", en)
	}
	if en := p.errno(abi.SysEpollCtl, ep, abi.EpollCtlAdd, ep, ev); en != abi.EINVAL {
		t.Errorf("adding an epoll fd to itself: %v, want EINVAL", en)
	}
	out := p.scratch + 1024
	if n := p.must(abi.SysEpollPwait, ep, out, 8, 0); n != 0 {
		t.Fatalf("epoll_pwait on an unreadable eventfd returned %d events", n)
	}
	p.poke(p.scratch, binary.LittleEndian.AppendUint64(nil, 3))
	p.must(abi.SysWrite, efd, p.scratch, 8)
	if n := p.must(abi.SysEpollPwait, ep, out, 8, 0); n != 1 {
		t.Fatalf("epoll_pwait after the eventfd became readable returned %d events, want 1", n)
	}
	got := make([]byte, 12)
	if err := p.k.Space.ReadAt(got, out); err != nil {
		t.Fatal(err)
	}
	if e, data := binary.LittleEndian.Uint32(got), binary.LittleEndian.Uint64(got[4:]); e&abi.EpollIn == 0 || data != 0xfeedface {
		t.Errorf("event %#x data %#x, want EPOLLIN and 0xfeedface", e, data)
	}
	p.must(abi.SysEpollCtl, ep, abi.EpollCtlDel, efd, 0)
	if en := p.errno(abi.SysEpollCtl, ep, abi.EpollCtlDel, efd, 0); en != abi.ENOENT {
		t.Errorf("deleting an unregistered fd: %v, want ENOENT", en)
	}
	if n := p.must(abi.SysEpollPwait, ep, out, 8, 0); n != 0 {
		t.Errorf("epoll_pwait after deleting the only entry returned %d events", n)
	}
	if en := p.errno(abi.SysEpollPwait, ep, out, 0, 0); en != abi.EINVAL {
		t.Errorf("epoll_pwait with maxevents 0: %v, want EINVAL", en)
	}
}

// TestTableConsistency: every number in the table is a Linux amd64 system
// call of that name (TestTableEntries checks each against abi), no two
// entries share a name, the reserved hypercall number lies past Linux's,
// support levels print as their names, and the calls the other unit tests
// rely on are present.
func TestTableConsistency(t *testing.T) {
	names := map[string]uint64{}
	for nr, e := range Table() {
		if prev, dup := names[e.Name]; dup {
			t.Errorf("%s is in the table twice: numbers %d and %d", e.Name, prev, nr)
		}
		names[e.Name] = nr
		if e.Support.String() != map[Level]string{Full: "full", Partial: "partial", Stub: "stub"}[e.Support] {
			t.Errorf("%s: support level %v does not print as its name", e.Name, e.Support)
		}
	}
	// The hypercall's number must never shadow a Linux system call.
	for nr := range Table() {
		if nr != abi.SysHypercall && nr >= abi.SysHypercall {
			t.Errorf("%s (%d) is at or past the hypercall number %#x", abi.SysName(nr), nr, abi.SysHypercall)
		}
	}
	if abi.SysName(abi.SysHypercall) == "" || abi.SysHypercall <= abi.SysRseqSliceYield {
		t.Errorf("the hypercall number %#x is inside Linux's system call numbers", abi.SysHypercall)
	}
	for _, nr := range []uint64{abi.SysRead, abi.SysWrite, abi.SysFutex, abi.SysEpollPwait, abi.SysPipe2, abi.SysDup3} {
		if _, ok := Table()[nr]; !ok {
			t.Errorf("%s is missing from the table", abi.SysName(nr))
		}
	}
	if Level(0).String() != "Level(0)" {
		t.Errorf("the zero Level prints as %q; it must not look like a level", Level(0).String())
	}
}

// TestRobustList: set_robust_list takes only the real head size; when the
// thread exits, a listed futex it owns gets FUTEX_OWNER_DIED (its waiters
// bit kept), the pending one too, and one owned by another thread is left
// alone; get_robust_list returns the head; clone3 says ENOSYS so C
// libraries fall back to clone.
func TestRobustList(t *testing.T) {
	p := unitProc(t)
	main := p.k.Main()
	tid := uint32(main.TID)
	head := p.scratch + 1024
	e1, e2, pend := p.scratch+1100, p.scratch+1200, p.scratch+1300
	const off = 16 // futex word 16 bytes after each entry
	le := binary.LittleEndian
	// head → e1 → e2 → head; list_op_pending = pend.
	p.poke(head, le.AppendUint64(le.AppendUint64(le.AppendUint64(nil, e1), off), pend))
	p.poke(e1, le.AppendUint64(nil, e2))
	p.poke(e2, le.AppendUint64(nil, head))
	p.poke(e1+off, le.AppendUint32(nil, tid|futexWaiters)) // ours, with waiters
	p.poke(e2+off, le.AppendUint32(nil, tid+1))            // another thread's
	p.poke(pend+off, le.AppendUint32(nil, tid))            // ours, being locked
	if en := p.errno(abi.SysSetRobustList, head, 23); en != abi.EINVAL {
		t.Errorf("set_robust_list with a wrong size: %v, want EINVAL", en)
	}
	p.must(abi.SysSetRobustList, head, robustHeadSize)
	p.must(abi.SysGetRobustList, 0, p.scratch+2000, p.scratch+2008)
	var b [16]byte
	if err := p.k.Space.ReadAt(b[:], p.scratch+2000); err != nil {
		t.Fatal(err)
	}
	if le.Uint64(b[:]) != head || le.Uint64(b[8:]) != robustHeadSize {
		t.Errorf("get_robust_list gave head %#x size %d, want %#x %d", le.Uint64(b[:]), le.Uint64(b[8:]), head, robustHeadSize)
	}
	if en := p.errno(abi.SysGetRobustList, 99999, p.scratch+2000, p.scratch+2008); en != abi.ESRCH {
		t.Errorf("get_robust_list of no such thread: %v, want ESRCH", en)
	}
	p.k.exitRobustList(main)
	if got := p.u32(e1 + off); got != futexWaiters|futexOwnerDied {
		t.Errorf("owned futex with waiters after the owner died: %#x, want WAITERS|OWNER_DIED", got)
	}
	if got := p.u32(e2 + off); got != tid+1 {
		t.Errorf("another thread's futex changed to %#x", got)
	}
	if got := p.u32(pend + off); got != futexOwnerDied {
		t.Errorf("pending futex after the owner died: %#x, want OWNER_DIED", got)
	}
	if en := p.errno(abi.SysClone3, 0, 88); en != abi.ENOSYS {
		t.Errorf("clone3: %v, want ENOSYS", en)
	}
}

// TestRobustListAtExit: a process killed by a signal walks its threads'
// robust lists (an owned futex gets FUTEX_OWNER_DIED); one ended by its
// node's power cut writes nothing.
func TestRobustListAtExit(t *testing.T) {
	for _, c := range []struct {
		name string
		end  func(*Kernel)
		want func(tid uint32) uint32
	}{
		{"kill", (*Kernel).Kill, func(uint32) uint32 { return futexOwnerDied }},
		{"power cut", (*Kernel).PowerOff, func(tid uint32) uint32 { return tid }},
	} {
		p := unitProc(t)
		tid := uint32(p.k.Main().TID)
		head, e1 := p.scratch+1024, p.scratch+1100
		le := binary.LittleEndian
		p.poke(head, le.AppendUint64(le.AppendUint64(le.AppendUint64(nil, e1), 16), 0))
		p.poke(e1, le.AppendUint64(nil, head))
		p.poke(e1+16, le.AppendUint32(nil, tid))
		p.must(abi.SysSetRobustList, head, robustHeadSize)
		c.end(p.k)
		if got, want := p.u32(e1+16), c.want(tid); got != want {
			t.Errorf("%s: futex word %#x after the process ended, want %#x", c.name, got, want)
		}
	}
}
