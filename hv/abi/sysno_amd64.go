// Code generated from the Linux amd64 syscall table (golang.org/x/sys/unix); DO NOT EDIT.

package abi

// Linux amd64 system call numbers.
const (
	SysRead                  = 0
	SysWrite                 = 1
	SysOpen                  = 2
	SysClose                 = 3
	SysStat                  = 4
	SysFstat                 = 5
	SysLstat                 = 6
	SysPoll                  = 7
	SysLseek                 = 8
	SysMmap                  = 9
	SysMprotect              = 10
	SysMunmap                = 11
	SysBrk                   = 12
	SysRtSigaction           = 13
	SysRtSigprocmask         = 14
	SysRtSigreturn           = 15
	SysIoctl                 = 16
	SysPread64               = 17
	SysPwrite64              = 18
	SysReadv                 = 19
	SysWritev                = 20
	SysAccess                = 21
	SysPipe                  = 22
	SysSelect                = 23
	SysSchedYield            = 24
	SysMremap                = 25
	SysMsync                 = 26
	SysMincore               = 27
	SysMadvise               = 28
	SysShmget                = 29
	SysShmat                 = 30
	SysShmctl                = 31
	SysDup                   = 32
	SysDup2                  = 33
	SysPause                 = 34
	SysNanosleep             = 35
	SysGetitimer             = 36
	SysAlarm                 = 37
	SysSetitimer             = 38
	SysGetpid                = 39
	SysSendfile              = 40
	SysSocket                = 41
	SysConnect               = 42
	SysAccept                = 43
	SysSendto                = 44
	SysRecvfrom              = 45
	SysSendmsg               = 46
	SysRecvmsg               = 47
	SysShutdown              = 48
	SysBind                  = 49
	SysListen                = 50
	SysGetsockname           = 51
	SysGetpeername           = 52
	SysSocketpair            = 53
	SysSetsockopt            = 54
	SysGetsockopt            = 55
	SysClone                 = 56
	SysFork                  = 57
	SysVfork                 = 58
	SysExecve                = 59
	SysExit                  = 60
	SysWait4                 = 61
	SysKill                  = 62
	SysUname                 = 63
	SysSemget                = 64
	SysSemop                 = 65
	SysSemctl                = 66
	SysShmdt                 = 67
	SysMsgget                = 68
	SysMsgsnd                = 69
	SysMsgrcv                = 70
	SysMsgctl                = 71
	SysFcntl                 = 72
	SysFlock                 = 73
	SysFsync                 = 74
	SysFdatasync             = 75
	SysTruncate              = 76
	SysFtruncate             = 77
	SysGetdents              = 78
	SysGetcwd                = 79
	SysChdir                 = 80
	SysFchdir                = 81
	SysRename                = 82
	SysMkdir                 = 83
	SysRmdir                 = 84
	SysCreat                 = 85
	SysLink                  = 86
	SysUnlink                = 87
	SysSymlink               = 88
	SysReadlink              = 89
	SysChmod                 = 90
	SysFchmod                = 91
	SysChown                 = 92
	SysFchown                = 93
	SysLchown                = 94
	SysUmask                 = 95
	SysGettimeofday          = 96
	SysGetrlimit             = 97
	SysGetrusage             = 98
	SysSysinfo               = 99
	SysTimes                 = 100
	SysPtrace                = 101
	SysGetuid                = 102
	SysSyslog                = 103
	SysGetgid                = 104
	SysSetuid                = 105
	SysSetgid                = 106
	SysGeteuid               = 107
	SysGetegid               = 108
	SysSetpgid               = 109
	SysGetppid               = 110
	SysGetpgrp               = 111
	SysSetsid                = 112
	SysSetreuid              = 113
	SysSetregid              = 114
	SysGetgroups             = 115
	SysSetgroups             = 116
	SysSetresuid             = 117
	SysGetresuid             = 118
	SysSetresgid             = 119
	SysGetresgid             = 120
	SysGetpgid               = 121
	SysSetfsuid              = 122
	SysSetfsgid              = 123
	SysGetsid                = 124
	SysCapget                = 125
	SysCapset                = 126
	SysRtSigpending          = 127
	SysRtSigtimedwait        = 128
	SysRtSigqueueinfo        = 129
	SysRtSigsuspend          = 130
	SysSigaltstack           = 131
	SysUtime                 = 132
	SysMknod                 = 133
	SysUselib                = 134
	SysPersonality           = 135
	SysUstat                 = 136
	SysStatfs                = 137
	SysFstatfs               = 138
	SysSysfs                 = 139
	SysGetpriority           = 140
	SysSetpriority           = 141
	SysSchedSetparam         = 142
	SysSchedGetparam         = 143
	SysSchedSetscheduler     = 144
	SysSchedGetscheduler     = 145
	SysSchedGetPriorityMax   = 146
	SysSchedGetPriorityMin   = 147
	SysSchedRrGetInterval    = 148
	SysMlock                 = 149
	SysMunlock               = 150
	SysMlockall              = 151
	SysMunlockall            = 152
	SysVhangup               = 153
	SysModifyLdt             = 154
	SysPivotRoot             = 155
	SysSysctl                = 156
	SysPrctl                 = 157
	SysArchPrctl             = 158
	SysAdjtimex              = 159
	SysSetrlimit             = 160
	SysChroot                = 161
	SysSync                  = 162
	SysAcct                  = 163
	SysSettimeofday          = 164
	SysMount                 = 165
	SysUmount2               = 166
	SysSwapon                = 167
	SysSwapoff               = 168
	SysReboot                = 169
	SysSethostname           = 170
	SysSetdomainname         = 171
	SysIopl                  = 172
	SysIoperm                = 173
	SysCreateModule          = 174
	SysInitModule            = 175
	SysDeleteModule          = 176
	SysGetKernelSyms         = 177
	SysQueryModule           = 178
	SysQuotactl              = 179
	SysNfsservctl            = 180
	SysGetpmsg               = 181
	SysPutpmsg               = 182
	SysAfsSyscall            = 183
	SysTuxcall               = 184
	SysSecurity              = 185
	SysGettid                = 186
	SysReadahead             = 187
	SysSetxattr              = 188
	SysLsetxattr             = 189
	SysFsetxattr             = 190
	SysGetxattr              = 191
	SysLgetxattr             = 192
	SysFgetxattr             = 193
	SysListxattr             = 194
	SysLlistxattr            = 195
	SysFlistxattr            = 196
	SysRemovexattr           = 197
	SysLremovexattr          = 198
	SysFremovexattr          = 199
	SysTkill                 = 200
	SysTime                  = 201
	SysFutex                 = 202
	SysSchedSetaffinity      = 203
	SysSchedGetaffinity      = 204
	SysSetThreadArea         = 205
	SysIoSetup               = 206
	SysIoDestroy             = 207
	SysIoGetevents           = 208
	SysIoSubmit              = 209
	SysIoCancel              = 210
	SysGetThreadArea         = 211
	SysLookupDcookie         = 212
	SysEpollCreate           = 213
	SysEpollCtlOld           = 214
	SysEpollWaitOld          = 215
	SysRemapFilePages        = 216
	SysGetdents64            = 217
	SysSetTidAddress         = 218
	SysRestartSyscall        = 219
	SysSemtimedop            = 220
	SysFadvise64             = 221
	SysTimerCreate           = 222
	SysTimerSettime          = 223
	SysTimerGettime          = 224
	SysTimerGetoverrun       = 225
	SysTimerDelete           = 226
	SysClockSettime          = 227
	SysClockGettime          = 228
	SysClockGetres           = 229
	SysClockNanosleep        = 230
	SysExitGroup             = 231
	SysEpollWait             = 232
	SysEpollCtl              = 233
	SysTgkill                = 234
	SysUtimes                = 235
	SysVserver               = 236
	SysMbind                 = 237
	SysSetMempolicy          = 238
	SysGetMempolicy          = 239
	SysMqOpen                = 240
	SysMqUnlink              = 241
	SysMqTimedsend           = 242
	SysMqTimedreceive        = 243
	SysMqNotify              = 244
	SysMqGetsetattr          = 245
	SysKexecLoad             = 246
	SysWaitid                = 247
	SysAddKey                = 248
	SysRequestKey            = 249
	SysKeyctl                = 250
	SysIoprioSet             = 251
	SysIoprioGet             = 252
	SysInotifyInit           = 253
	SysInotifyAddWatch       = 254
	SysInotifyRmWatch        = 255
	SysMigratePages          = 256
	SysOpenat                = 257
	SysMkdirat               = 258
	SysMknodat               = 259
	SysFchownat              = 260
	SysFutimesat             = 261
	SysNewfstatat            = 262
	SysUnlinkat              = 263
	SysRenameat              = 264
	SysLinkat                = 265
	SysSymlinkat             = 266
	SysReadlinkat            = 267
	SysFchmodat              = 268
	SysFaccessat             = 269
	SysPselect6              = 270
	SysPpoll                 = 271
	SysUnshare               = 272
	SysSetRobustList         = 273
	SysGetRobustList         = 274
	SysSplice                = 275
	SysTee                   = 276
	SysSyncFileRange         = 277
	SysVmsplice              = 278
	SysMovePages             = 279
	SysUtimensat             = 280
	SysEpollPwait            = 281
	SysSignalfd              = 282
	SysTimerfdCreate         = 283
	SysEventfd               = 284
	SysFallocate             = 285
	SysTimerfdSettime        = 286
	SysTimerfdGettime        = 287
	SysAccept4               = 288
	SysSignalfd4             = 289
	SysEventfd2              = 290
	SysEpollCreate1          = 291
	SysDup3                  = 292
	SysPipe2                 = 293
	SysInotifyInit1          = 294
	SysPreadv                = 295
	SysPwritev               = 296
	SysRtTgsigqueueinfo      = 297
	SysPerfEventOpen         = 298
	SysRecvmmsg              = 299
	SysFanotifyInit          = 300
	SysFanotifyMark          = 301
	SysPrlimit64             = 302
	SysNameToHandleAt        = 303
	SysOpenByHandleAt        = 304
	SysClockAdjtime          = 305
	SysSyncfs                = 306
	SysSendmmsg              = 307
	SysSetns                 = 308
	SysGetcpu                = 309
	SysProcessVmReadv        = 310
	SysProcessVmWritev       = 311
	SysKcmp                  = 312
	SysFinitModule           = 313
	SysSchedSetattr          = 314
	SysSchedGetattr          = 315
	SysRenameat2             = 316
	SysSeccomp               = 317
	SysGetrandom             = 318
	SysMemfdCreate           = 319
	SysKexecFileLoad         = 320
	SysBpf                   = 321
	SysExecveat              = 322
	SysUserfaultfd           = 323
	SysMembarrier            = 324
	SysMlock2                = 325
	SysCopyFileRange         = 326
	SysPreadv2               = 327
	SysPwritev2              = 328
	SysPkeyMprotect          = 329
	SysPkeyAlloc             = 330
	SysPkeyFree              = 331
	SysStatx                 = 332
	SysIoPgetevents          = 333
	SysRseq                  = 334
	SysUretprobe             = 335
	SysUprobe                = 336
	SysPidfdSendSignal       = 424
	SysIoUringSetup          = 425
	SysIoUringEnter          = 426
	SysIoUringRegister       = 427
	SysOpenTree              = 428
	SysMoveMount             = 429
	SysFsopen                = 430
	SysFsconfig              = 431
	SysFsmount               = 432
	SysFspick                = 433
	SysPidfdOpen             = 434
	SysClone3                = 435
	SysCloseRange            = 436
	SysOpenat2               = 437
	SysPidfdGetfd            = 438
	SysFaccessat2            = 439
	SysProcessMadvise        = 440
	SysEpollPwait2           = 441
	SysMountSetattr          = 442
	SysQuotactlFd            = 443
	SysLandlockCreateRuleset = 444
	SysLandlockAddRule       = 445
	SysLandlockRestrictSelf  = 446
	SysMemfdSecret           = 447
	SysProcessMrelease       = 448
	SysFutexWaitv            = 449
	SysSetMempolicyHomeNode  = 450
	SysCachestat             = 451
	SysFchmodat2             = 452
	SysMapShadowStack        = 453
	SysFutexWake             = 454
	SysFutexWait             = 455
	SysFutexRequeue          = 456
	SysStatmount             = 457
	SysListmount             = 458
	SysLsmGetSelfAttr        = 459
	SysLsmSetSelfAttr        = 460
	SysLsmListModules        = 461
	SysMseal                 = 462
	SysSetxattrat            = 463
	SysGetxattrat            = 464
	SysListxattrat           = 465
	SysRemovexattrat         = 466
	SysOpenTreeAttr          = 467
	SysFileGetattr           = 468
	SysFileSetattr           = 469
	SysListns                = 470
	SysRseqSliceYield        = 471
)

// sysNames maps a system call number to its Linux name.
var sysNames = map[uint64]string{
	0:   "read",
	1:   "write",
	2:   "open",
	3:   "close",
	4:   "stat",
	5:   "fstat",
	6:   "lstat",
	7:   "poll",
	8:   "lseek",
	9:   "mmap",
	10:  "mprotect",
	11:  "munmap",
	12:  "brk",
	13:  "rt_sigaction",
	14:  "rt_sigprocmask",
	15:  "rt_sigreturn",
	16:  "ioctl",
	17:  "pread64",
	18:  "pwrite64",
	19:  "readv",
	20:  "writev",
	21:  "access",
	22:  "pipe",
	23:  "select",
	24:  "sched_yield",
	25:  "mremap",
	26:  "msync",
	27:  "mincore",
	28:  "madvise",
	29:  "shmget",
	30:  "shmat",
	31:  "shmctl",
	32:  "dup",
	33:  "dup2",
	34:  "pause",
	35:  "nanosleep",
	36:  "getitimer",
	37:  "alarm",
	38:  "setitimer",
	39:  "getpid",
	40:  "sendfile",
	41:  "socket",
	42:  "connect",
	43:  "accept",
	44:  "sendto",
	45:  "recvfrom",
	46:  "sendmsg",
	47:  "recvmsg",
	48:  "shutdown",
	49:  "bind",
	50:  "listen",
	51:  "getsockname",
	52:  "getpeername",
	53:  "socketpair",
	54:  "setsockopt",
	55:  "getsockopt",
	56:  "clone",
	57:  "fork",
	58:  "vfork",
	59:  "execve",
	60:  "exit",
	61:  "wait4",
	62:  "kill",
	63:  "uname",
	64:  "semget",
	65:  "semop",
	66:  "semctl",
	67:  "shmdt",
	68:  "msgget",
	69:  "msgsnd",
	70:  "msgrcv",
	71:  "msgctl",
	72:  "fcntl",
	73:  "flock",
	74:  "fsync",
	75:  "fdatasync",
	76:  "truncate",
	77:  "ftruncate",
	78:  "getdents",
	79:  "getcwd",
	80:  "chdir",
	81:  "fchdir",
	82:  "rename",
	83:  "mkdir",
	84:  "rmdir",
	85:  "creat",
	86:  "link",
	87:  "unlink",
	88:  "symlink",
	89:  "readlink",
	90:  "chmod",
	91:  "fchmod",
	92:  "chown",
	93:  "fchown",
	94:  "lchown",
	95:  "umask",
	96:  "gettimeofday",
	97:  "getrlimit",
	98:  "getrusage",
	99:  "sysinfo",
	100: "times",
	101: "ptrace",
	102: "getuid",
	103: "syslog",
	104: "getgid",
	105: "setuid",
	106: "setgid",
	107: "geteuid",
	108: "getegid",
	109: "setpgid",
	110: "getppid",
	111: "getpgrp",
	112: "setsid",
	113: "setreuid",
	114: "setregid",
	115: "getgroups",
	116: "setgroups",
	117: "setresuid",
	118: "getresuid",
	119: "setresgid",
	120: "getresgid",
	121: "getpgid",
	122: "setfsuid",
	123: "setfsgid",
	124: "getsid",
	125: "capget",
	126: "capset",
	127: "rt_sigpending",
	128: "rt_sigtimedwait",
	129: "rt_sigqueueinfo",
	130: "rt_sigsuspend",
	131: "sigaltstack",
	132: "utime",
	133: "mknod",
	134: "uselib",
	135: "personality",
	136: "ustat",
	137: "statfs",
	138: "fstatfs",
	139: "sysfs",
	140: "getpriority",
	141: "setpriority",
	142: "sched_setparam",
	143: "sched_getparam",
	144: "sched_setscheduler",
	145: "sched_getscheduler",
	146: "sched_get_priority_max",
	147: "sched_get_priority_min",
	148: "sched_rr_get_interval",
	149: "mlock",
	150: "munlock",
	151: "mlockall",
	152: "munlockall",
	153: "vhangup",
	154: "modify_ldt",
	155: "pivot_root",
	156: "_sysctl",
	157: "prctl",
	158: "arch_prctl",
	159: "adjtimex",
	160: "setrlimit",
	161: "chroot",
	162: "sync",
	163: "acct",
	164: "settimeofday",
	165: "mount",
	166: "umount2",
	167: "swapon",
	168: "swapoff",
	169: "reboot",
	170: "sethostname",
	171: "setdomainname",
	172: "iopl",
	173: "ioperm",
	174: "create_module",
	175: "init_module",
	176: "delete_module",
	177: "get_kernel_syms",
	178: "query_module",
	179: "quotactl",
	180: "nfsservctl",
	181: "getpmsg",
	182: "putpmsg",
	183: "afs_syscall",
	184: "tuxcall",
	185: "security",
	186: "gettid",
	187: "readahead",
	188: "setxattr",
	189: "lsetxattr",
	190: "fsetxattr",
	191: "getxattr",
	192: "lgetxattr",
	193: "fgetxattr",
	194: "listxattr",
	195: "llistxattr",
	196: "flistxattr",
	197: "removexattr",
	198: "lremovexattr",
	199: "fremovexattr",
	200: "tkill",
	201: "time",
	202: "futex",
	203: "sched_setaffinity",
	204: "sched_getaffinity",
	205: "set_thread_area",
	206: "io_setup",
	207: "io_destroy",
	208: "io_getevents",
	209: "io_submit",
	210: "io_cancel",
	211: "get_thread_area",
	212: "lookup_dcookie",
	213: "epoll_create",
	214: "epoll_ctl_old",
	215: "epoll_wait_old",
	216: "remap_file_pages",
	217: "getdents64",
	218: "set_tid_address",
	219: "restart_syscall",
	220: "semtimedop",
	221: "fadvise64",
	222: "timer_create",
	223: "timer_settime",
	224: "timer_gettime",
	225: "timer_getoverrun",
	226: "timer_delete",
	227: "clock_settime",
	228: "clock_gettime",
	229: "clock_getres",
	230: "clock_nanosleep",
	231: "exit_group",
	232: "epoll_wait",
	233: "epoll_ctl",
	234: "tgkill",
	235: "utimes",
	236: "vserver",
	237: "mbind",
	238: "set_mempolicy",
	239: "get_mempolicy",
	240: "mq_open",
	241: "mq_unlink",
	242: "mq_timedsend",
	243: "mq_timedreceive",
	244: "mq_notify",
	245: "mq_getsetattr",
	246: "kexec_load",
	247: "waitid",
	248: "add_key",
	249: "request_key",
	250: "keyctl",
	251: "ioprio_set",
	252: "ioprio_get",
	253: "inotify_init",
	254: "inotify_add_watch",
	255: "inotify_rm_watch",
	256: "migrate_pages",
	257: "openat",
	258: "mkdirat",
	259: "mknodat",
	260: "fchownat",
	261: "futimesat",
	262: "newfstatat",
	263: "unlinkat",
	264: "renameat",
	265: "linkat",
	266: "symlinkat",
	267: "readlinkat",
	268: "fchmodat",
	269: "faccessat",
	270: "pselect6",
	271: "ppoll",
	272: "unshare",
	273: "set_robust_list",
	274: "get_robust_list",
	275: "splice",
	276: "tee",
	277: "sync_file_range",
	278: "vmsplice",
	279: "move_pages",
	280: "utimensat",
	281: "epoll_pwait",
	282: "signalfd",
	283: "timerfd_create",
	284: "eventfd",
	285: "fallocate",
	286: "timerfd_settime",
	287: "timerfd_gettime",
	288: "accept4",
	289: "signalfd4",
	290: "eventfd2",
	291: "epoll_create1",
	292: "dup3",
	293: "pipe2",
	294: "inotify_init1",
	295: "preadv",
	296: "pwritev",
	297: "rt_tgsigqueueinfo",
	298: "perf_event_open",
	299: "recvmmsg",
	300: "fanotify_init",
	301: "fanotify_mark",
	302: "prlimit64",
	303: "name_to_handle_at",
	304: "open_by_handle_at",
	305: "clock_adjtime",
	306: "syncfs",
	307: "sendmmsg",
	308: "setns",
	309: "getcpu",
	310: "process_vm_readv",
	311: "process_vm_writev",
	312: "kcmp",
	313: "finit_module",
	314: "sched_setattr",
	315: "sched_getattr",
	316: "renameat2",
	317: "seccomp",
	318: "getrandom",
	319: "memfd_create",
	320: "kexec_file_load",
	321: "bpf",
	322: "execveat",
	323: "userfaultfd",
	324: "membarrier",
	325: "mlock2",
	326: "copy_file_range",
	327: "preadv2",
	328: "pwritev2",
	329: "pkey_mprotect",
	330: "pkey_alloc",
	331: "pkey_free",
	332: "statx",
	333: "io_pgetevents",
	334: "rseq",
	335: "uretprobe",
	336: "uprobe",
	424: "pidfd_send_signal",
	425: "io_uring_setup",
	426: "io_uring_enter",
	427: "io_uring_register",
	428: "open_tree",
	429: "move_mount",
	430: "fsopen",
	431: "fsconfig",
	432: "fsmount",
	433: "fspick",
	434: "pidfd_open",
	435: "clone3",
	436: "close_range",
	437: "openat2",
	438: "pidfd_getfd",
	439: "faccessat2",
	440: "process_madvise",
	441: "epoll_pwait2",
	442: "mount_setattr",
	443: "quotactl_fd",
	444: "landlock_create_ruleset",
	445: "landlock_add_rule",
	446: "landlock_restrict_self",
	447: "memfd_secret",
	448: "process_mrelease",
	449: "futex_waitv",
	450: "set_mempolicy_home_node",
	451: "cachestat",
	452: "fchmodat2",
	453: "map_shadow_stack",
	454: "futex_wake",
	455: "futex_wait",
	456: "futex_requeue",
	457: "statmount",
	458: "listmount",
	459: "lsm_get_self_attr",
	460: "lsm_set_self_attr",
	461: "lsm_list_modules",
	462: "mseal",
	463: "setxattrat",
	464: "getxattrat",
	465: "listxattrat",
	466: "removexattrat",
	467: "open_tree_attr",
	468: "file_getattr",
	469: "file_setattr",
	470: "listns",
	471: "rseq_slice_yield",
}
