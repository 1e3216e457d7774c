// Package abi holds the parts of the Linux amd64 user ABI that hv implements:
// system call numbers, errno values, flag bits, signal numbers, auxiliary
// vector keys and the layout of the structures the kernel writes into user
// memory (stat, dirent64, the signal frame).
//
// It has no dependencies, so every hv package (and tests) can use it. Errno
// values are fixed values of type [Errno] compared with ==; they are turned
// into negative return values only at the system call edge.
package abi

//go:generate go run gensysno.go

// SysHypercall is the reserved system call number the mvrun SDK uses inside
// hv to send one wire line to the VMM (rdi = op, rsi = pointer, rdx = length;
// returns 0 or -errno). The SDK's sdk/hypercall package holds the same number.
const SysHypercall = 0x4d56

// HypercallEmit is the hypercall op that emits one SDK wire line.
const HypercallEmit = 1

// HypercallMaxLen is the longest line HypercallEmit accepts (longer ones
// fail with EMSGSIZE).
const HypercallMaxLen = 1 << 20

// SysName returns the Linux name of system call nr, or "syscall_<nr>".
func SysName(nr uint64) string {
	if nr == SysHypercall {
		return "mvrun_hypercall"
	}
	if s, ok := sysNames[nr]; ok {
		return s
	}
	return "syscall_" + utoa(nr)
}

func utoa(v uint64) string {
	if v == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[i:])
}

// PageSize is the size of a guest page.
const PageSize = 4096

// Open flags (open(2)).
const (
	ORdonly    = 0x0
	OWronly    = 0x1
	ORdwr      = 0x2
	OAccmode   = 0x3
	OCreat     = 0x40
	OExcl      = 0x80
	ONoctty    = 0x100
	OTrunc     = 0x200
	OAppend    = 0x400
	ONonblock  = 0x800
	ODirectory = 0x10000
	ONofollow  = 0x20000
	OCloexec   = 0x80000
	OPath      = 0x200000
	ODsync     = 0x1000
	OSync      = 0x101000 // __O_SYNC|O_DSYNC
)

// AtFdcwd is the dirfd meaning "the current directory".
const AtFdcwd = -100

// *at flags.
const (
	AtSymlinkNofollow = 0x100
	AtRemovedir       = 0x200
	AtSymlinkFollow   = 0x400
	AtEmptyPath       = 0x1000
)

// renameat2 flags.
const (
	RenameNoreplace = 0x1
	RenameExchange  = 0x2
	RenameWhiteout  = 0x4
)

// File type bits of st_mode.
const (
	SIfmt   = 0o170000
	SIfifo  = 0o010000
	SIfchr  = 0o020000
	SIfdir  = 0o040000
	SIfreg  = 0o100000
	SIflnk  = 0o120000
	SIfsock = 0o140000
)

// Directory entry types (getdents64).
const (
	DtFifo = 1
	DtChr  = 2
	DtDir  = 4
	DtReg  = 8
	DtLnk  = 10
	DtSock = 12
)

// lseek whence values.
const (
	SeekSet  = 0
	SeekCur  = 1
	SeekEnd  = 2
	SeekData = 3
	SeekHole = 4
)

// fcntl commands and flags.
const (
	FDupfd        = 0
	FGetfd        = 1
	FSetfd        = 2
	FGetfl        = 3
	FSetfl        = 4
	FDupfdCloexec = 1030
	FSetpipeSz    = 1031
	FGetpipeSz    = 1032
	FdCloexec     = 1

	FGetlk     = 5
	FSetlk     = 6
	FSetlkw    = 7
	FOfdGetlk  = 36
	FOfdSetlk  = 37
	FOfdSetlkw = 38

	// l_type of struct flock.
	FRdlck = 0
	FWrlck = 1
	FUnlck = 2
)

// FlockSize is the size of struct flock: l_type (int16), l_whence (int16),
// l_start (int64 at 8), l_len (int64 at 16), l_pid (int32 at 24).
const FlockSize = 32

// flock(2) operations.
const (
	LockSh = 1
	LockEx = 2
	LockNb = 4
	LockUn = 8
)

// fallocate(2) modes.
const (
	FallocFlKeepSize  = 0x1
	FallocFlPunchHole = 0x2
)

// msync(2) flags.
const (
	MsAsync      = 0x1
	MsInvalidate = 0x2
	MsSync       = 0x4
)

// posix_fadvise advice values (POSIX_FADV_NORMAL .. POSIX_FADV_NOREUSE).
const FadvNoreuse = 5

// Ext4SuperMagic is statfs's f_type for ext4, the file system hv's
// in-memory one presents itself as.
const Ext4SuperMagic = 0xEF53

// StatfsSize is the size of struct statfs on amd64.
const StatfsSize = 120

// mmap protection and flags.
const (
	ProtNone  = 0x0
	ProtRead  = 0x1
	ProtWrite = 0x2
	ProtExec  = 0x4

	MapShared         = 0x1
	MapPrivate        = 0x2
	MapFixed          = 0x10
	MapAnonymous      = 0x20
	MapNoreserve      = 0x4000
	MapPopulate       = 0x8000
	MapStack          = 0x20000
	MapFixedNoreplace = 0x100000
)

// madvise advice values hv acts on.
const (
	MadvDontneed = 4
	MadvFree     = 8
)

// clone flags.
const (
	CloneVM            = 0x100
	CloneFs            = 0x200
	CloneFiles         = 0x400
	CloneSighand       = 0x800
	CloneVfork         = 0x4000
	CloneThread        = 0x10000
	CloneSysvsem       = 0x40000
	CloneSettls        = 0x80000
	CloneParentSettid  = 0x100000
	CloneChildCleartid = 0x200000
	CloneChildSettid   = 0x1000000
)

// futex operations.
const (
	FutexWait          = 0
	FutexWake          = 1
	FutexWaitBitset    = 9
	FutexWakeBitset    = 10
	FutexPrivateFlag   = 128
	FutexClockRealtime = 256
	FutexCmdMask       = ^(FutexPrivateFlag | FutexClockRealtime)
)

// Clock ids.
const (
	ClockRealtime         = 0
	ClockMonotonic        = 1
	ClockProcessCputimeID = 2
	ClockThreadCputimeID  = 3
	ClockMonotonicRaw     = 4
	ClockRealtimeCoarse   = 5
	ClockMonotonicCoarse  = 6
	ClockBoottime         = 7
	TimerAbstime          = 1
)

// arch_prctl codes.
const (
	ArchSetGs = 0x1001
	ArchSetFs = 0x1002
	ArchGetFs = 0x1003
	ArchGetGs = 0x1004
)

// epoll constants.
const (
	EpollCtlAdd = 1
	EpollCtlDel = 2
	EpollCtlMod = 3

	EpollIn      = 0x1
	EpollPri     = 0x2
	EpollOut     = 0x4
	EpollErr     = 0x8
	EpollHup     = 0x10
	EpollRdhup   = 0x2000
	EpollEt      = 1 << 31
	EpollOneshot = 1 << 30
)

// eventfd flags.
const (
	EfdSemaphore = 0x1
)

// getrandom flags.
const (
	GrndNonblock = 0x1
	GrndRandom   = 0x2
)

// Auxiliary vector keys.
const (
	AtNull    = 0
	AtPhdr    = 3
	AtPhent   = 4
	AtPhnum   = 5
	AtPagesz  = 6
	AtBase    = 7
	AtFlags   = 8
	AtEntry   = 9
	AtUID     = 11
	AtEUID    = 12
	AtGID     = 13
	AtEGID    = 14
	AtPlatfrm = 15
	AtHwcap   = 16
	AtClktck  = 17
	AtSecure  = 23
	AtRandom  = 25
	AtHwcap2  = 26
	AtExecfn  = 31
	// AtSysinfoEhdr is the address of the vDSO's ELF header.
	AtSysinfoEhdr = 33
)

// prctl options hv answers.
const (
	PrSetName = 15
	PrGetName = 16
	PrSetVMA  = 0x53564d41
)
