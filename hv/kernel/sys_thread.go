package kernel

import (
	"bytes"
	"fmt"

	"github.com/mvrun/multiverse/hv/abi"
)

// sysClone implements Linux syscall clone(2) for threads: the child is a new
// green thread that starts runnable, returning 0 on the stack it was given.
func sysClone(t *Thread, a *[6]uint64) (uint64, error) {
	flags, stack, ptid, ctid, tls := a[0], a[1], a[2], a[3], a[4]
	const need = abi.CloneVM | abi.CloneThread | abi.CloneSighand
	if flags&need != need {
		// fork and vfork: hv runs one process per VM.
		return 0, t.k.unsupported("clone(new process)", abi.EINVAL)
	}
	k := t.k
	c := k.newThread()
	c.Regs = t.Regs
	c.Regs.RAX = 0
	if stack != 0 {
		c.Regs.RSP = stack
	}
	c.FSBase = t.FSBase
	c.comm = t.comm
	if flags&abi.CloneSettls != 0 {
		c.FSBase = tls
	}
	// The child starts with the parent's current extended state.
	if err := k.cpu.GetFP(c.FP); err != nil {
		return 0, abi.ENOMEM
	}
	c.sigMask = t.sigMask
	if flags&abi.CloneParentSettid != 0 {
		if err := k.writeU32(ptid, uint32(c.TID)); err != nil {
			return 0, err
		}
	}
	if flags&abi.CloneChildSettid != 0 {
		_ = k.writeU32(ctid, uint32(c.TID))
	}
	if flags&abi.CloneChildCleartid != 0 {
		c.clearTID = ctid
	}
	c.state = stateRunnable
	k.enqueue(c)
	k.trace.Event('n', uint64(t.TID), uint64(c.TID))
	return uint64(c.TID), nil
}

// sysClone3 answers clone3(2) with ENOSYS, what kernels before 5.3 say:
// the C libraries that try clone3 first (glibc, musl) then create the
// thread with clone, which hv implements. Go never calls clone3.
func sysClone3(t *Thread, a *[6]uint64) (uint64, error) { return 0, abi.ENOSYS }

// sysExit implements Linux syscall exit(2): the calling thread ends.
func sysExit(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	k.exitRobustList(t)
	if t.clearTID != 0 {
		_ = k.writeU32(t.clearTID, 0)
		k.futexWake(t.clearTID, 1, ^uint32(0))
	}
	t.state = stateExited
	delete(k.threads, t.TID)
	delete(k.w.threads, t.TID)
	if k.w.cur == t {
		k.w.cur = nil
	}
	k.trace.Event('e', uint64(t.TID))
	if len(k.threads) == 0 {
		k.exitProcess(int(a[0]&0xff), 0)
	}
	return 0, errExited
}

// sysExitGroup implements Linux syscall exit_group(2).
func sysExitGroup(t *Thread, a *[6]uint64) (uint64, error) {
	t.k.exitProcess(int(a[0]&0xff), 0)
	return 0, errExited
}

// sysGettid implements Linux syscall gettid(2).
func sysGettid(t *Thread, a *[6]uint64) (uint64, error) { return uint64(t.TID), nil }

// sysGetpid implements Linux syscall getpid(2).
func sysGetpid(t *Thread, a *[6]uint64) (uint64, error) { return uint64(t.k.pid), nil }

// sysGetppid implements Linux syscall getppid(2).
func sysGetppid(t *Thread, a *[6]uint64) (uint64, error) { return 1, nil }

// sysZero answers getuid(2) and friends: hv guests run as root.
func sysZero(t *Thread, a *[6]uint64) (uint64, error) { return 0, nil }

// sysSetTidAddress implements Linux syscall set_tid_address(2).
func sysSetTidAddress(t *Thread, a *[6]uint64) (uint64, error) {
	t.clearTID = a[0]
	return uint64(t.TID), nil
}

// sysArchPrctl implements Linux syscall arch_prctl(2).
func sysArchPrctl(t *Thread, a *[6]uint64) (uint64, error) {
	switch a[0] {
	case abi.ArchSetFs:
		if a[1] >= 1<<47 {
			return 0, abi.EPERM
		}
		t.FSBase = a[1]
		return 0, nil
	case abi.ArchGetFs:
		return 0, t.k.writeU64(a[1], t.FSBase)
	}
	return 0, abi.EINVAL
}

// sysSchedYield implements Linux syscall sched_yield(2). It is a scheduling
// point: the caller goes back to the run queue and the next thread to run is
// drawn from the seed (possibly the caller again).
func sysSchedYield(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	if len(k.w.runq) > 0 {
		t.state = stateRunnable
		k.enqueue(t)
		k.w.cur = nil
	}
	return 0, nil
}

// sysSchedGetaffinity implements Linux syscall sched_getaffinity(2).
func sysSchedGetaffinity(t *Thread, a *[6]uint64) (uint64, error) {
	size := a[1]
	if size < 8 || size&7 != 0 {
		return 0, abi.EINVAL
	}
	var mask uint64 = 1<<uint(t.k.cfg.CPUs) - 1
	if err := t.k.writeU64(a[2], mask); err != nil {
		return 0, err
	}
	return 8, nil
}

// sysPrlimit64 implements Linux syscall prlimit64(2) with fixed limits.
func sysPrlimit64(t *Thread, a *[6]uint64) (uint64, error) {
	if a[0] != 0 && int(a[0]) != t.k.pid {
		return 0, abi.ESRCH
	}
	if a[3] != 0 {
		return 0, writeRlimit(t, a[1], a[3])
	}
	return 0, nil
}

// sysGetrlimit implements Linux syscall getrlimit(2).
func sysGetrlimit(t *Thread, a *[6]uint64) (uint64, error) {
	return 0, writeRlimit(t, a[0], a[1])
}

func writeRlimit(t *Thread, res, addr uint64) error {
	cur, max := ^uint64(0), ^uint64(0)
	switch res {
	case 3: // RLIMIT_STACK
		cur = stackSize
	case 7: // RLIMIT_NOFILE
		cur, max = maxFDs, maxFDs
	}
	b := make(le, 16)
	b.u64(0, cur)
	b.u64(8, max)
	return t.k.copyOut(b, addr)
}

// sysPrctl implements Linux syscall prctl(2) for thread names.
func sysPrctl(t *Thread, a *[6]uint64) (uint64, error) {
	switch a[0] {
	case abi.PrSetName:
		b := make([]byte, 16)
		if err := t.k.copyIn(b, a[1]); err != nil {
			return 0, err
		}
		t.comm = cString(b[:15])
		return 0, nil
	case abi.PrGetName:
		b := make([]byte, 16)
		copy(b, t.comm)
		return 0, t.k.copyOut(b, a[1])
	case abi.PrSetVMA:
		// Naming anonymous mappings (Go's runtime does it) fails as on
		// kernels built without CONFIG_ANON_VMA_NAME; callers ignore it.
		return 0, abi.EINVAL
	}
	return 0, t.k.unsupported(fmt.Sprintf("prctl(option %#x)", a[0]), abi.EINVAL)
}

// cString returns b up to its first NUL byte.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// sysUname implements Linux syscall uname(2). The answer is fixed so guests
// see the same kernel on every host; the nodename is the node's host name.
func sysUname(t *Thread, a *[6]uint64) (uint64, error) {
	b := make([]byte, 65*6)
	for i, s := range []string{"Linux", t.k.hostname(), "6.1.0-mvrun-hv", "#1 SMP mvrun", "x86_64", "(none)"} {
		copy(b[65*i:], s)
	}
	return 0, t.k.copyOut(b, a[0])
}

// sysGetcwd implements Linux syscall getcwd(2).
func sysGetcwd(t *Thread, a *[6]uint64) (uint64, error) {
	p := t.k.pathOf(t.k.cwd) + "\x00"
	if uint64(len(p)) > a[1] {
		return 0, abi.ERANGE
	}
	return uint64(len(p)), t.k.copyOut([]byte(p), a[0])
}

// sysChdir implements Linux syscall chdir(2).
func sysChdir(t *Thread, a *[6]uint64) (uint64, error) {
	p, err := t.k.readPath(a[0])
	if err != nil {
		return 0, err
	}
	n, err := t.k.fs.Lookup(t.k.cwd, p, true)
	if err != nil {
		return 0, err
	}
	if !n.IsDir() {
		return 0, abi.ENOTDIR
	}
	t.k.cwd = n
	return 0, nil
}
