package abi

// Signal numbers.
const (
	SIGHUP   = 1
	SIGINT   = 2
	SIGQUIT  = 3
	SIGILL   = 4
	SIGTRAP  = 5
	SIGABRT  = 6
	SIGBUS   = 7
	SIGFPE   = 8
	SIGKILL  = 9
	SIGUSR1  = 10
	SIGSEGV  = 11
	SIGUSR2  = 12
	SIGPIPE  = 13
	SIGALRM  = 14
	SIGTERM  = 15
	SIGCHLD  = 17
	SIGCONT  = 18
	SIGSTOP  = 19
	SIGURG   = 23
	SIGPROF  = 27
	SIGWINCH = 28
	SIGSYS   = 31
	NSIG     = 64
)

// sigaction flags.
const (
	SaSiginfo   = 0x4
	SaOnstack   = 0x08000000
	SaRestart   = 0x10000000
	SaNodefer   = 0x40000000
	SaResethand = 0x80000000
	SaRestorer  = 0x04000000
)

// Signal handler sentinels.
const (
	SigDfl = 0
	SigIgn = 1
)

// rt_sigprocmask how values.
const (
	SigBlock   = 0
	SigUnblock = 1
	SigSetmask = 2
)

// sigaltstack flags.
const (
	SsOnstack = 1
	SsDisable = 2
)

// si_code values.
const (
	SiUser     = 0
	SiTkill    = -6
	SegvMaperr = 1
	SegvAccerr = 2
	BusAdrerr  = 2
	FpeIntdiv  = 1
	IllIllopn  = 2
	TrapBrkpt  = 1
)

// Layout of the x86-64 signal frame (struct rt_sigframe in the kernel):
// the return address (sa_restorer), then the ucontext, then the siginfo.
const (
	SigframeUcontext = 8
	UcontextSize     = 304 + 8*64 // ucontext plus room the kernel leaves for fpregs
	SiginfoSize      = 128

	// Offsets inside struct ucontext.
	UcFlags    = 0
	UcLink     = 8
	UcStack    = 16
	UcMcontext = 40
	UcSigmask  = 296

	// Offsets of registers inside struct sigcontext (uc_mcontext).
	McR8      = 0
	McR9      = 8
	McR10     = 16
	McR11     = 24
	McR12     = 32
	McR13     = 40
	McR14     = 48
	McR15     = 56
	McRDI     = 64
	McRSI     = 72
	McRBP     = 80
	McRBX     = 88
	McRDX     = 96
	McRAX     = 104
	McRCX     = 112
	McRSP     = 120
	McRIP     = 128
	McEflags  = 136
	McCSGSFS  = 144
	McErr     = 152
	McTrapno  = 160
	McOldmask = 168
	McCR2     = 176
	McFpstate = 184
)

// Default actions.
const (
	SigActTerminate = iota
	SigActIgnore
	SigActCore
	SigActStop
	SigActContinue
)

// DefaultAction returns what the kernel does with sig when no handler is set.
func DefaultAction(sig int) int {
	switch sig {
	case SIGCHLD, SIGURG, SIGWINCH:
		return SigActIgnore
	case SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGSYS:
		return SigActCore
	case SIGSTOP, 20, 21, 22:
		return SigActStop
	case SIGCONT:
		return SigActContinue
	}
	return SigActTerminate
}
