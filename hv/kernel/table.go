package kernel

import (
	"errors"

	"github.com/mvrun/multiverse/hv/abi"
)

// Support levels of table entries.
const (
	Full    = "full"    // behaves as on Linux for everything Go programs do
	Partial = "partial" // common cases only; see the note
	Stub    = "stub"    // accepted and answered without effect
)

// handler implements one system call. It returns the result, or an
// [abi.Errno], or errBlock after parking the thread.
type handler func(t *Thread, a *[6]uint64) (uint64, error)

// Syscall is one entry of the system call table.
type Syscall struct {
	Name    string
	Support string
	Note    string
	fn      handler
}

// errBlock means the handler parked the thread; the result comes later.
var errBlock = errors.New("blocked")

// errExited means the calling thread or process is gone.
var errExited = errors.New("exited")

// Table returns the system call table: number → entry, for documentation
// and tests.
func Table() map[uint64]Syscall {
	out := map[uint64]Syscall{}
	for nr, e := range table {
		out[nr] = e
	}
	return out
}

// Syscall handles the system call the running thread t trapped with. Its
// registers are in t.Regs; on return the result is in t.Regs.RAX unless t
// blocked or exited.
func (k *Kernel) Syscall(t *Thread) {
	r := &t.Regs
	c := &call{nr: r.RAX, args: [6]uint64{r.RDI, r.RSI, r.RDX, r.R10, r.R8, r.R9}}
	k.chargeClockReads()
	k.syscalls++
	k.counts[c.nr]++
	cost := int64(costSyscall)
	if c.nr == abi.SysClockGettime || c.nr == abi.SysGettimeofday {
		cost = costTimeRead
	}
	k.clock.Advance(cost)
	k.fireTimers()
	k.dispatch(t, c)
}

// dispatch runs the handler of c for t and stores the result unless t blocked.
func (k *Kernel) dispatch(t *Thread, c *call) {
	t.retrying = t.restart == c
	t.restart = nil
	t.call = c
	e, ok := table[c.nr]
	var ret uint64
	var err error
	if !ok || e.fn == nil {
		err = k.unsupported(abi.SysName(c.nr), abi.ENOSYS)
	} else {
		ret, err = e.fn(t, &c.args)
	}
	t.retrying, t.timedOut = false, false
	switch {
	case err == errBlock:
		return
	case err == errExited:
		return
	case err != nil:
		var en abi.Errno
		if !errors.As(err, &en) {
			en = abi.EINVAL
		}
		ret = errRet(en)
	}
	k.trace.Event('c', uint64(t.TID), c.nr, ret)
	if t.state == stateRunning || t.state == stateRunnable {
		t.Regs.RAX = ret
	}
}

// sysRseq implements Linux syscall rseq(2) as a kernel without restartable
// sequences does: ENOSYS, which is an answer, not a gap to report.
func sysRseq(t *Thread, a *[6]uint64) (uint64, error) { return 0, abi.ENOSYS }

// unsupported records that the guest used a system call, or a variant of
// one (what names it, e.g. "futex(op 5)"), that hv does not implement, so
// the run's summary can name it, and returns errno for the guest.
func (k *Kernel) unsupported(what string, errno abi.Errno) abi.Errno {
	k.unimpl[what]++
	if k.unimpl[what] == 1 {
		k.log.Debug("unimplemented syscall", "name", what, "binary", k.cfg.Binary)
	}
	return errno
}

// table is the system call table. Unlisted numbers return ENOSYS and are
// recorded by name in the run summary.
var table = map[uint64]Syscall{
	// Memory (sys_mm.go).
	abi.SysMmap:     {"mmap", Partial, "anonymous mappings; private file mappings are copied", sysMmap},
	abi.SysMunmap:   {"munmap", Full, "", sysMunmap},
	abi.SysMprotect: {"mprotect", Full, "", sysMprotect},
	abi.SysMadvise:  {"madvise", Partial, "MADV_DONTNEED/MADV_FREE zero the pages; other advice is accepted and ignored", sysMadvise},
	abi.SysBrk:      {"brk", Full, "", sysBrk},

	// Threads and process (sys_thread.go).
	abi.SysClone:            {"clone", Partial, "threads only (CLONE_VM|CLONE_THREAD); no new processes", sysClone},
	abi.SysExit:             {"exit", Full, "", sysExit},
	abi.SysExitGroup:        {"exit_group", Full, "", sysExitGroup},
	abi.SysGettid:           {"gettid", Full, "", sysGettid},
	abi.SysGetpid:           {"getpid", Full, "", sysGetpid},
	abi.SysGetppid:          {"getppid", Full, "", sysGetppid},
	abi.SysSetTidAddress:    {"set_tid_address", Full, "", sysSetTidAddress},
	abi.SysArchPrctl:        {"arch_prctl", Partial, "ARCH_SET_FS and ARCH_GET_FS", sysArchPrctl},
	abi.SysSchedYield:       {"sched_yield", Full, "a scheduling point: the next thread is drawn from the seed", sysSchedYield},
	abi.SysSchedGetaffinity: {"sched_getaffinity", Full, "reports the configured number of CPUs", sysSchedGetaffinity},
	abi.SysPrlimit64:        {"prlimit64", Partial, "fixed limits; setting is accepted", sysPrlimit64},
	abi.SysGetrlimit:        {"getrlimit", Partial, "fixed limits", sysGetrlimit},
	abi.SysPrctl:            {"prctl", Partial, "PR_SET_NAME/PR_GET_NAME; PR_SET_VMA fails with EINVAL", sysPrctl},
	abi.SysUname:            {"uname", Full, "", sysUname},
	abi.SysGetuid:           {"getuid", Full, "always 0", sysZero},
	abi.SysGeteuid:          {"geteuid", Full, "always 0", sysZero},
	abi.SysGetgid:           {"getgid", Full, "always 0", sysZero},
	abi.SysGetegid:          {"getegid", Full, "always 0", sysZero},
	abi.SysRseq:             {"rseq", Stub, "ENOSYS, as on kernels without rseq; callers fall back", sysRseq},
	abi.SysGetcwd:           {"getcwd", Full, "", sysGetcwd},
	abi.SysChdir:            {"chdir", Full, "", sysChdir},

	// Futexes (sys_futex.go).
	abi.SysFutex: {"futex", Partial, "WAIT, WAKE and their BITSET forms", sysFutex},

	// Time (sys_time.go).
	abi.SysClockGettime:   {"clock_gettime", Full, "virtual clock", sysClockGettime},
	abi.SysClockGetres:    {"clock_getres", Full, "", sysClockGetres},
	abi.SysGettimeofday:   {"gettimeofday", Full, "virtual clock", sysGettimeofday},
	abi.SysTime:           {"time", Full, "virtual clock", sysTime},
	abi.SysNanosleep:      {"nanosleep", Full, "virtual clock", sysNanosleep},
	abi.SysClockNanosleep: {"clock_nanosleep", Full, "virtual clock", sysClockNanosleep},

	// Signals (sys_signal.go).
	abi.SysRtSigaction:   {"rt_sigaction", Full, "", sysRtSigaction},
	abi.SysRtSigprocmask: {"rt_sigprocmask", Full, "", sysRtSigprocmask},
	abi.SysSigaltstack:   {"sigaltstack", Full, "", sysSigaltstack},
	abi.SysRtSigreturn:   {"rt_sigreturn", Full, "", sysRtSigreturn},
	abi.SysTgkill:        {"tgkill", Full, "", sysTgkill},
	abi.SysTkill:         {"tkill", Full, "", sysTkill},
	abi.SysKill:          {"kill", Partial, "the process itself only", sysKill},

	// Files (sys_file.go).
	abi.SysOpenat:     {"openat", Full, "in-memory file system", sysOpenat},
	abi.SysOpen:       {"open", Full, "in-memory file system", sysOpen},
	abi.SysClose:      {"close", Full, "", sysClose},
	abi.SysRead:       {"read", Full, "", sysRead},
	abi.SysWrite:      {"write", Full, "", sysWrite},
	abi.SysReadv:      {"readv", Full, "", sysReadv},
	abi.SysWritev:     {"writev", Full, "", sysWritev},
	abi.SysPread64:    {"pread64", Full, "", sysPread64},
	abi.SysPwrite64:   {"pwrite64", Full, "", sysPwrite64},
	abi.SysLseek:      {"lseek", Full, "", sysLseek},
	abi.SysFstat:      {"fstat", Full, "", sysFstat},
	abi.SysNewfstatat: {"newfstatat", Full, "", sysNewfstatat},
	abi.SysStat:       {"stat", Full, "", sysStat},
	abi.SysLstat:      {"lstat", Full, "", sysLstat},
	abi.SysGetdents64: {"getdents64", Full, "", sysGetdents64},
	abi.SysMkdirat:    {"mkdirat", Full, "", sysMkdirat},
	abi.SysMkdir:      {"mkdir", Full, "", sysMkdir},
	abi.SysUnlinkat:   {"unlinkat", Full, "", sysUnlinkat},
	abi.SysUnlink:     {"unlink", Full, "", sysUnlink},
	abi.SysRmdir:      {"rmdir", Full, "", sysRmdir},
	abi.SysRenameat:   {"renameat", Full, "", sysRenameat},
	abi.SysRenameat2:  {"renameat2", Partial, "flags must be 0", sysRenameat2},
	abi.SysRename:     {"rename", Full, "", sysRename},
	abi.SysReadlinkat: {"readlinkat", Full, "", sysReadlinkat},
	abi.SysReadlink:   {"readlink", Full, "", sysReadlink},
	abi.SysSymlinkat:  {"symlinkat", Full, "", sysSymlinkat},
	abi.SysFsync:      {"fsync", Full, "", sysFsync},
	abi.SysFdatasync:  {"fdatasync", Full, "", sysFsync},
	abi.SysFtruncate:  {"ftruncate", Full, "", sysFtruncate},
	abi.SysFcntl:      {"fcntl", Partial, "F_DUPFD(_CLOEXEC), F_GETFD/SETFD, F_GETFL/SETFL", sysFcntl},
	abi.SysDup:        {"dup", Full, "", sysDup},
	abi.SysDup2:       {"dup2", Full, "", sysDup2},
	abi.SysDup3:       {"dup3", Full, "", sysDup3},
	abi.SysIoctl:      {"ioctl", Stub, "ENOTTY", sysIoctl},
	abi.SysFaccessat:  {"faccessat", Full, "", sysFaccessat},
	abi.SysFaccessat2: {"faccessat2", Full, "", sysFaccessat},
	abi.SysAccess:     {"access", Full, "", sysAccess},

	// Pipes, eventfd, epoll (sys_pipe.go, sys_epoll.go).
	abi.SysPipe2:        {"pipe2", Full, "", sysPipe2},
	abi.SysPipe:         {"pipe", Full, "", sysPipe},
	abi.SysEventfd2:     {"eventfd2", Full, "", sysEventfd2},
	abi.SysEpollCreate1: {"epoll_create1", Full, "", sysEpollCreate1},
	abi.SysEpollCtl:     {"epoll_ctl", Full, "level-triggered and EPOLLET", sysEpollCtl},
	abi.SysEpollPwait:   {"epoll_pwait", Full, "", sysEpollPwait},
	abi.SysEpollWait:    {"epoll_wait", Full, "", sysEpollWait},

	// Misc (sys_misc.go).
	abi.SysGetrandom: {"getrandom", Full, "bytes from the seed", sysGetrandom},
	abi.SysHypercall: {"mvrun_hypercall", Full, "SDK wire lines to the VMM", sysHypercall},
}
