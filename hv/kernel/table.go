package kernel

import (
	"errors"
	"fmt"

	"github.com/mvrun/multiverse/hv/abi"
	"github.com/mvrun/multiverse/hv/mm"
)

//go:generate go run golang.org/x/tools/cmd/stringer -type=Level -linecomment

// Level is how completely hv implements a system call. It prints as the
// word docs and reports use ("full", "partial", "stub").
type Level uint8

// Support levels of table entries. The zero Level is no level, so an entry
// that forgets its level is caught by the table test.
const (
	_       Level = iota
	Full          // full
	Partial       // partial
	Stub          // stub
)

// What the levels promise: Full behaves as on Linux for everything Go
// programs do; Partial handles the common cases only, and the entry's note
// says what is missing; Stub accepts the call and answers without effect.

// handler implements one system call. It returns the result, or an
// [abi.Errno], or errBlock after parking the thread.
type handler func(t *Thread, a *[6]uint64) (uint64, error)

// Syscall is one entry of the system call table.
type Syscall struct {
	Name    string
	Support Level
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
	k.w.syscalls++
	k.counts[c.nr]++
	cost := k.syscallCost
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
		ret, err = k.call(e, t, c)
	}
	t.retrying, t.timedOut = false, false
	k.w.observeCall(t, c, ret, err)
	switch {
	case err == errBlock:
		return
	case err == errExited:
		return
	case errors.Is(err, mm.ErrHost):
		// The host refused to keep guest memory coherent with KVM; going
		// on could let the guest see memory it no longer owns.
		k.Fail(fmt.Errorf("%s: %w", abi.SysName(c.nr), err))
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

// call runs e's handler. A panic in it is a bug in hv, not in the guest:
// the process is stopped with an error that names the call, and the rest
// of the simulation goes on.
func (k *Kernel) call(e Syscall, t *Thread, c *call) (ret uint64, err error) {
	defer func() {
		if r := recover(); r != nil {
			k.Fail(fmt.Errorf("hv internal error in %s(%#x, %#x, %#x): %v", e.Name, c.args[0], c.args[1], c.args[2], r))
			ret, err = 0, errExited
		}
	}()
	return e.fn(t, &c.args)
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
	abi.SysMmap:     {"mmap", Partial, "anonymous mappings; private file mappings are copied; shared file mappings are kept coherent by copying (shm.go): stores reach the file at msync/munmap/fsync/exit; pages past EOF read as zero instead of SIGBUS", sysMmap},
	abi.SysMsync:    {"msync", Full, "writes back shared file mappings; MS_SYNC also makes the file durable", sysMsync},
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
	abi.SysSetRobustList:    {"set_robust_list", Full, "the list is walked when the thread exits (exit(2))", sysSetRobustList},
	abi.SysGetRobustList:    {"get_robust_list", Partial, "threads of the calling process only", sysGetRobustList},
	abi.SysClone3:           {"clone3", Partial, "answers ENOSYS, as Linux before 5.3 does: glibc and musl then use clone", sysClone3},
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
	abi.SysRenameat2:  {"renameat2", Partial, "RENAME_NOREPLACE and RENAME_EXCHANGE; RENAME_WHITEOUT fails with EINVAL", sysRenameat2},
	abi.SysRename:     {"rename", Full, "", sysRename},
	abi.SysReadlinkat: {"readlinkat", Full, "", sysReadlinkat},
	abi.SysReadlink:   {"readlink", Full, "", sysReadlink},
	abi.SysSymlinkat:  {"symlinkat", Full, "", sysSymlinkat},
	abi.SysFtruncate:  {"ftruncate", Full, "", sysFtruncate},
	abi.SysTruncate:   {"truncate", Full, "", sysTruncate},
	abi.SysLinkat:     {"linkat", Full, "", sysLinkat},
	abi.SysLink:       {"link", Full, "", sysLink},
	abi.SysPreadv:     {"preadv", Full, "", sysPreadv},
	abi.SysPwritev:    {"pwritev", Full, "", sysPwritev},
	abi.SysPreadv2:    {"preadv2", Partial, "RWF_* flags fail with EOPNOTSUPP", sysPreadv2},
	abi.SysPwritev2:   {"pwritev2", Partial, "RWF_* flags fail with EOPNOTSUPP", sysPwritev2},
	abi.SysFcntl:      {"fcntl", Partial, "F_DUPFD(_CLOEXEC), F_GETFD/SETFD, F_GETFL/SETFL, F_SETPIPE_SZ/F_GETPIPE_SZ, record locks F_GETLK/SETLK/SETLKW and F_OFD_* (no EDEADLK detection)", sysFcntl},
	abi.SysDup:        {"dup", Full, "", sysDup},
	abi.SysDup2:       {"dup2", Full, "", sysDup2},
	abi.SysDup3:       {"dup3", Full, "", sysDup3},
	abi.SysIoctl:      {"ioctl", Stub, "ENOTTY", sysIoctl},
	abi.SysFaccessat:  {"faccessat", Full, "", sysFaccessat},
	abi.SysFaccessat2: {"faccessat2", Full, "", sysFaccessat},
	abi.SysAccess:     {"access", Full, "", sysAccess},

	// Durability, locks, space (sys_disk.go, sys_lock.go): what reaches the
	// disk decides what survives a node's crash (vfs.FS.Crash).
	abi.SysFsync:     {"fsync", Full, "file bytes or directory entries become durable; not the entry naming a file", sysFsync},
	abi.SysFdatasync: {"fdatasync", Full, "as fsync", sysFsync},
	abi.SysSync:      {"sync", Full, "the node's whole file system becomes durable", sysSync},
	abi.SysSyncfs:    {"syncfs", Full, "as sync: a node has one file system", sysSyncfs},
	abi.SysFlock:     {"flock", Partial, "files, directories and devices; shared across the node's processes; pipes fail with EINVAL", sysFlock},
	abi.SysFallocate: {"fallocate", Partial, "mode 0 and FALLOC_FL_KEEP_SIZE; other modes fail with EOPNOTSUPP", sysFallocate},
	abi.SysFadvise64: {"fadvise64", Stub, "advice is checked and ignored: files are in memory", sysFadvise64},
	abi.SysStatfs:    {"statfs", Full, "fixed numbers of a 1 TiB ext4-like file system", sysStatfs},
	abi.SysFstatfs:   {"fstatfs", Full, "fixed numbers of a 1 TiB ext4-like file system", sysFstatfs},

	// Pipes, eventfd, epoll (sys_pipe.go, sys_epoll.go).
	abi.SysPipe2:        {"pipe2", Full, "", sysPipe2},
	abi.SysPipe:         {"pipe", Full, "", sysPipe},
	abi.SysEventfd2:     {"eventfd2", Full, "", sysEventfd2},
	abi.SysEpollCreate1: {"epoll_create1", Full, "", sysEpollCreate1},
	abi.SysEpollCtl:     {"epoll_ctl", Full, "level-triggered and EPOLLET", sysEpollCtl},
	abi.SysEpollPwait:   {"epoll_pwait", Full, "", sysEpollPwait},
	abi.SysEpollWait:    {"epoll_wait", Full, "", sysEpollWait},
	abi.SysSplice:       {"splice", Partial, "between a pipe and a socket, regular file or pipe (what Go's io.Copy between connections uses)", sysSplice},
	abi.SysSendfile:     {"sendfile", Full, "from a regular file", sysSendfile},

	// Sockets (sys_socket.go, sys_sockopt.go), on the simulated network of hv/netsim.
	abi.SysSocket:      {"socket", Partial, "AF_INET, AF_INET6 (TCP, UDP) and AF_UNIX (stream, datagram, seqpacket); IPPROTO_MPTCP is EPROTONOSUPPORT as on kernels without MPTCP; other families are reported", sysSocket},
	abi.SysSocketpair:  {"socketpair", Full, "AF_UNIX", sysSocketpair},
	abi.SysBind:        {"bind", Full, "Linux's SO_REUSEADDR/SO_REUSEPORT and TIME_WAIT rules; AF_UNIX paths become socket inodes", sysBind},
	abi.SysListen:      {"listen", Full, "backlog clamped to 4096; a full queue drops SYNs", sysListen},
	abi.SysAccept:      {"accept", Full, "", sysAccept},
	abi.SysAccept4:     {"accept4", Full, "", sysAccept4},
	abi.SysConnect:     {"connect", Full, "blocking and non-blocking (EINPROGRESS, then SO_ERROR)", sysConnect},
	abi.SysGetsockname: {"getsockname", Full, "", sysGetsockname},
	abi.SysGetpeername: {"getpeername", Full, "", sysGetpeername},
	abi.SysSendto:      {"sendto", Partial, "MSG_DONTWAIT, MSG_NOSIGNAL, MSG_MORE; MSG_OOB and others are reported", sysSendto},
	abi.SysRecvfrom:    {"recvfrom", Partial, "MSG_DONTWAIT, MSG_PEEK, MSG_TRUNC; MSG_WAITALL, MSG_OOB and others are reported", sysRecvfrom},
	abi.SysSendmsg:     {"sendmsg", Partial, "no control messages (reported)", sysSendmsg},
	abi.SysRecvmsg:     {"recvmsg", Partial, "never returns control messages", sysRecvmsg},
	abi.SysShutdown:    {"shutdown", Full, "", sysShutdown},
	abi.SysSetsockopt:  {"setsockopt", Partial, "the options Go and gRPC set (sys_sockopt.go); others are ENOPROTOOPT and reported by name", sysSetsockopt},
	abi.SysGetsockopt:  {"getsockopt", Partial, "as setsockopt, plus SO_ERROR, SO_TYPE, SO_DOMAIN, SO_PROTOCOL, SO_ACCEPTCONN, TCP_INFO", sysGetsockopt},

	// Misc (sys_misc.go).
	abi.SysGetrandom: {"getrandom", Full, "bytes from the seed", sysGetrandom},
	abi.SysHypercall: {"mvrun_hypercall", Full, "SDK wire lines to the VMM", sysHypercall},
}
