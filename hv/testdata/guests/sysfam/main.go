// Command sysfam calls the system calls of one family directly (its first
// argument: file, pipe, epoll, time, mm, thread, signal, misc) and prints
// each result or errno, so a run under hv can be compared line by line with
// a native run. It prints only what Linux fixes (no addresses, inode
// numbers, times or host facts such as the CPU count).
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func say(what string, v ...any) {
	fmt.Println(append([]any{what + ":"}, v...)...)
}

// res prints a call's result: the value, or the errno's name.
func res(what string, n int, err error) {
	if err != nil {
		say(what, "err", unix.ErrnoName(err.(unix.Errno)))
		return
	}
	say(what, n)
}

func must(err error) {
	if err != nil {
		fmt.Println("fatal:", err)
		os.Exit(1)
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Println("usage: sysfam file|pipe|epoll|time|mm|thread|signal|misc")
		os.Exit(2)
	}
	fams := map[string]func(){
		"file": file, "pipe": pipe, "epoll": epoll, "time": clock,
		"mm": mm, "thread": thread, "signal": signal, "misc": misc,
	}
	f, ok := fams[os.Args[1]]
	if !ok {
		fmt.Println("unknown family", os.Args[1])
		os.Exit(2)
	}
	f()
}

func file() {
	dir, err := os.MkdirTemp("", "sysfam")
	must(err)
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "f")
	fd, err := unix.Openat(unix.AT_FDCWD, p, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o640)
	must(err)
	_, err = unix.Openat(unix.AT_FDCWD, p, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o640)
	res("openat O_EXCL on existing", 0, err)
	n, err := unix.Write(fd, []byte("0123456789"))
	res("write", n, err)
	n, err = unix.Pwrite(fd, []byte("AB"), 3)
	res("pwrite at 3", n, err)
	off, err := unix.Seek(fd, 0, unix.SEEK_CUR)
	res("lseek cur (pwrite keeps offset)", int(off), err)
	b := make([]byte, 4)
	n, err = unix.Pread(fd, b, 2)
	res("pread at 2", n, err)
	say("pread data", string(b[:n]))
	off, err = unix.Seek(fd, -3, unix.SEEK_END)
	res("lseek end-3", int(off), err)
	_, err = unix.Seek(fd, -100, unix.SEEK_SET)
	res("lseek negative", 0, err)
	n, err = unix.Readv(fd, [][]byte{make([]byte, 1), make([]byte, 5)})
	res("readv past end", n, err)
	n, err = unix.Writev(fd, [][]byte{[]byte("xy"), []byte("z")})
	res("writev", n, err)
	var st unix.Stat_t
	must(unix.Fstat(fd, &st))
	say("fstat size mode", st.Size, fmt.Sprintf("%o", st.Mode), st.Nlink)
	must(unix.Ftruncate(fd, 4))
	must(unix.Fstat(fd, &st))
	say("size after ftruncate", st.Size)
	res("fsync", 0, unix.Fsync(fd))
	res("fdatasync", 0, unix.Fdatasync(fd))

	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	res("fcntl getfl accmode", fl&unix.O_ACCMODE, err)
	_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
	res("fcntl setfd", 0, err)
	v, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	res("fcntl getfd", v, err)
	d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD, 100)
	res("fcntl dupfd >= 100", d, err)
	must(unix.Dup3(fd, 120, 0))
	res("dup3 same fd", 0, unix.Dup3(fd, fd, 0))
	res("dup3 bad flags", 0, unix.Dup3(fd, 121, 0x1))
	v, err = unix.FcntlInt(120, unix.F_GETFD, 0)
	res("dup3 target cloexec cleared", v, err)
	must(unix.Close(120))
	res("close closed fd", 0, unix.Close(120))
	_, err = unix.Write(999, []byte("x"))
	res("write bad fd", 0, err)
	must(unix.Close(d))
	must(unix.Close(fd))

	res("mkdirat", 0, unix.Mkdirat(unix.AT_FDCWD, filepath.Join(dir, "d"), 0o755))
	res("mkdirat again", 0, unix.Mkdirat(unix.AT_FDCWD, filepath.Join(dir, "d"), 0o755))
	res("mkdirat under file", 0, unix.Mkdirat(unix.AT_FDCWD, filepath.Join(p, "x"), 0o755))
	_, err = unix.Openat(unix.AT_FDCWD, filepath.Join(dir, "d"), unix.O_WRONLY, 0)
	res("open dir for writing", 0, err)
	_, err = unix.Openat(unix.AT_FDCWD, filepath.Join(dir, "nope"), unix.O_RDONLY, 0)
	res("open missing", 0, err)
	res("symlinkat", 0, unix.Symlinkat("f", unix.AT_FDCWD, filepath.Join(dir, "l")))
	lb := make([]byte, 64)
	n, err = unix.Readlinkat(unix.AT_FDCWD, filepath.Join(dir, "l"), lb)
	res("readlinkat", n, err)
	say("link target", string(lb[:n]))
	must(unix.Fstatat(unix.AT_FDCWD, filepath.Join(dir, "l"), &st, unix.AT_SYMLINK_NOFOLLOW))
	say("lstat is link", st.Mode&unix.S_IFMT == unix.S_IFLNK)
	must(unix.Fstatat(unix.AT_FDCWD, filepath.Join(dir, "l"), &st, 0))
	say("stat follows link, size", st.Size)
	res("faccessat exists", 0, unix.Faccessat(unix.AT_FDCWD, p, unix.F_OK, 0))
	res("faccessat missing", 0, unix.Faccessat(unix.AT_FDCWD, p+"x", unix.F_OK, 0))
	res("renameat", 0, unix.Renameat(unix.AT_FDCWD, p, unix.AT_FDCWD, filepath.Join(dir, "d", "g")))
	res("renameat missing", 0, unix.Renameat(unix.AT_FDCWD, p, unix.AT_FDCWD, filepath.Join(dir, "h")))

	dfd, err := unix.Openat(unix.AT_FDCWD, dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	must(err)
	buf := make([]byte, 4096)
	var names []string
	for {
		n, err := unix.Getdents(dfd, buf)
		must(err)
		if n == 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	sort.Strings(names)
	say("getdents64", names)
	res("unlinkat dir without flag", 0, unix.Unlinkat(dfd, "d", 0))
	res("unlinkat non-empty dir", 0, unix.Unlinkat(dfd, "d", unix.AT_REMOVEDIR))
	res("unlinkat file", 0, unix.Unlinkat(dfd, "d/g", 0))
	res("unlinkat empty dir", 0, unix.Unlinkat(dfd, "d", unix.AT_REMOVEDIR))
	res("unlinkat missing", 0, unix.Unlinkat(dfd, "d", unix.AT_REMOVEDIR))
	must(unix.Close(dfd))
}

func pipe() {
	var p [2]int
	must(unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC))
	_, err := unix.Read(p[0], make([]byte, 8))
	res("read empty nonblocking pipe", 0, err)
	n, err := unix.Write(p[1], []byte("hello"))
	res("write", n, err)
	b := make([]byte, 3)
	n, err = unix.Read(p[0], b)
	res("short read", n, err)
	say("data", string(b[:n]))
	_, err = unix.Write(p[0], []byte("x"))
	res("write to read end", 0, err)
	n, err = unix.Read(p[0], b)
	res("read the rest", n, err)
	// Linux accounts a pipe in page-sized slots, so fill an empty one with
	// whole pages: the capacity is then 16 pages on both sides.
	total := 0
	chunk := bytes.Repeat([]byte("z"), 4096)
	for {
		n, err := unix.Write(p[1], chunk)
		if err != nil {
			res("write to full pipe", 0, err)
			break
		}
		total += n
	}
	say("pipe capacity", total)
	must(unix.Close(p[1]))
	drained := 0
	for {
		n, err := unix.Read(p[0], make([]byte, 8192))
		if err != nil {
			res("read", 0, err)
			break
		}
		if n == 0 {
			say("eof after", drained)
			break
		}
		drained += n
	}
	must(unix.Close(p[0]))

	must(unix.Pipe2(p[:], 0))
	must(unix.Close(p[0]))
	_, err = unix.Write(p[1], []byte("x")) // SIGPIPE is ignored by Go for non-std fds
	res("write without reader", 0, err)
	must(unix.Close(p[1]))
}

func epoll() {
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	must(err)
	b := make([]byte, 8)
	_, err = unix.Read(efd, b)
	res("read zero eventfd", 0, err)
	_, err = unix.Write(efd, []byte{1, 2})
	res("short eventfd write", 0, err)
	for _, v := range []uint64{3, 4} {
		*(*uint64)(unsafe.Pointer(&b[0])) = v
		n, err := unix.Write(efd, b)
		res("eventfd add", n, err)
	}
	n, err := unix.Read(efd, b)
	res("eventfd read", n, err)
	say("eventfd counter", *(*uint64)(unsafe.Pointer(&b[0])))
	sem, err := unix.Eventfd(2, unix.EFD_SEMAPHORE|unix.EFD_NONBLOCK)
	must(err)
	for i := 0; i < 3; i++ {
		_, err := unix.Read(sem, b)
		if err != nil {
			res("semaphore read", 0, err)
			continue
		}
		say("semaphore read", *(*uint64)(unsafe.Pointer(&b[0])))
	}

	var p [2]int
	must(unix.Pipe2(p[:], unix.O_NONBLOCK))
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	must(err)
	must(unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, p[0], &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(p[0])}))
	must(unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, efd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(efd)}))
	res("ctl add twice", 0, unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, efd, &unix.EpollEvent{Events: unix.EPOLLIN}))
	res("ctl mod missing", 0, unix.EpollCtl(ep, unix.EPOLL_CTL_MOD, p[1], &unix.EpollEvent{Events: unix.EPOLLOUT}))
	res("ctl add self", 0, unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, ep, &unix.EpollEvent{Events: unix.EPOLLIN}))
	evs := make([]unix.EpollEvent, 8)
	show := func(what string) {
		n, err := unix.EpollWait(ep, evs, 0)
		if err != nil {
			res(what, 0, err)
			return
		}
		var out []string
		for _, e := range evs[:n] {
			name := "eventfd"
			if e.Fd == int32(p[0]) {
				name = "pipe"
			}
			out = append(out, fmt.Sprintf("%s=%#x", name, e.Events))
		}
		sort.Strings(out)
		say(what, n, out)
	}
	show("nothing ready")
	must2(unix.Write(p[1], []byte("ab")))
	show("pipe readable")
	show("level-triggered again")
	*(*uint64)(unsafe.Pointer(&b[0])) = 1
	must2(unix.Write(efd, b))
	show("eventfd edge")
	show("edge consumed")
	must2(unix.Read(p[0], make([]byte, 2)))
	show("pipe drained")
	must(unix.Close(p[1]))
	show("writer closed")
	must(unix.EpollCtl(ep, unix.EPOLL_CTL_DEL, p[0], nil))
	show("after del")
	must(unix.Close(p[0]))
	must(unix.Close(ep))
	must(unix.Close(efd))
	must(unix.Close(sem))
}

func must2(_ int, err error) { must(err) }

func clock() {
	for _, c := range []struct {
		name string
		id   int32
	}{{"realtime", unix.CLOCK_REALTIME}, {"monotonic", unix.CLOCK_MONOTONIC}, {"boottime", unix.CLOCK_BOOTTIME}} {
		var ts unix.Timespec
		res("clock_getres "+c.name, 0, unix.ClockGetres(c.id, &ts))
		say("resolution "+c.name, ts.Nano())
	}
	var ts unix.Timespec
	res("clock_gettime bad clock", 0, unix.ClockGettime(99, &ts))
	var a, b unix.Timespec
	must(unix.ClockGettime(unix.CLOCK_MONOTONIC, &a))
	req := unix.NsecToTimespec(int64(20 * time.Millisecond))
	res("nanosleep", 0, unix.Nanosleep(&req, nil))
	must(unix.ClockGettime(unix.CLOCK_MONOTONIC, &b))
	say("monotonic advanced by the sleep", b.Nano()-a.Nano() >= int64(20*time.Millisecond))
	bad := unix.Timespec{Sec: 0, Nsec: 2e9}
	res("nanosleep bad timespec", 0, unix.Nanosleep(&bad, nil))
	abs := unix.NsecToTimespec(b.Nano() + int64(5*time.Millisecond))
	res("clock_nanosleep abstime", 0, unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &abs, nil))
	must(unix.ClockGettime(unix.CLOCK_MONOTONIC, &a))
	say("reached abstime", a.Nano() >= abs.Nano())
	var tv unix.Timeval
	must(unix.Gettimeofday(&tv))
	var rt unix.Timespec
	must(unix.ClockGettime(unix.CLOCK_REALTIME, &rt))
	say("gettimeofday agrees with realtime", rt.Sec-tv.Sec <= 1)
	tt, err := unix.Time(nil)
	must(err)
	say("time agrees with realtime", int64(tt)-rt.Sec <= 1)
}

func mm() {
	const page = 4096
	_, err := unix.Mmap(-1, 0, 0, unix.PROT_READ, unix.MAP_ANON|unix.MAP_PRIVATE)
	res("mmap length 0", 0, err)
	b, err := unix.Mmap(-1, 0, 3*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	must(err)
	say("fresh anonymous memory is zero", bytes.Count(b, []byte{0}) == len(b))
	b[0], b[page], b[2*page] = 1, 2, 3
	res("mprotect unaligned", 0, unix.Mprotect(b[1:page+1], unix.PROT_READ))
	res("madvise dontneed", 0, unix.Madvise(b[page:2*page], unix.MADV_DONTNEED))
	say("after MADV_DONTNEED", b[0], b[page], b[2*page])
	_, _, e := unix.Syscall(unix.SYS_MUNMAP, uintptr(unsafe.Pointer(&b[0]))+1, page, 0)
	res("munmap unaligned", 0, errOrNil(e))
	_, _, e = unix.Syscall(unix.SYS_MUNMAP, uintptr(unsafe.Pointer(&b[page])), page, 0)
	res("munmap middle page", 0, errOrNil(e))
	_, _, e = unix.Syscall(unix.SYS_MUNMAP, uintptr(unsafe.Pointer(&b[page])), page, 0)
	res("munmap it again", 0, errOrNil(e))
	say("neighbours survive", b[0], b[2*page])
	_, _, e = unix.Syscall(unix.SYS_MUNMAP, uintptr(unsafe.Pointer(&b[0])), 3*page, 0)
	res("munmap the rest", 0, errOrNil(e))
	cur, _, _ := unix.Syscall(unix.SYS_BRK, 0, 0, 0)
	next, _, _ := unix.Syscall(unix.SYS_BRK, cur+page, 0, 0)
	say("brk grows", next == cur+page)
	back, _, _ := unix.Syscall(unix.SYS_BRK, cur, 0, 0)
	say("brk shrinks", back == cur)
}

// sys makes a raw system call and returns its errno, or nil.
func sys(nr, a, b, c uintptr) error {
	_, _, e := unix.Syscall(nr, a, b, c)
	return errOrNil(e)
}

func errOrNil(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func thread() {
	say("main thread tid == pid", unix.Gettid() == unix.Getpid())
	res("sched_yield", 0, sys(unix.SYS_SCHED_YIELD, 0, 0, 0))
	var set unix.CPUSet
	res("sched_getaffinity", 0, unix.SchedGetaffinity(0, &set))
	say("at least one cpu", set.Count() >= 1)
	res("arch_prctl bad code", 0, sys(unix.SYS_ARCH_PRCTL, 0x9999, 0, 0))
	res("prctl set name", 0, unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&[]byte("sysfam\x00")[0])), 0, 0, 0))
	name := make([]byte, 16)
	res("prctl get name", 0, unix.Prctl(unix.PR_GET_NAME, uintptr(unsafe.Pointer(&name[0])), 0, 0, 0))
	say("name", string(bytes.TrimRight(name, "\x00")))
	var rl unix.Rlimit
	res("getrlimit nofile", 0, unix.Getrlimit(unix.RLIMIT_NOFILE, &rl))
	say("nofile soft <= hard", rl.Cur <= rl.Max)
	done := make(chan int)
	go func() { done <- unix.Gettid() }()
	say("goroutine ran", <-done > 0)
}

func signal() {
	var old, set unix.Sigset_t
	res("sigprocmask query", 0, unix.PthreadSigmask(unix.SIG_BLOCK, nil, &old))
	set.Val[0] = 1 << (unix.SIGUSR2 - 1)
	res("block SIGUSR2", 0, unix.PthreadSigmask(unix.SIG_BLOCK, &set, nil))
	var now unix.Sigset_t
	must(unix.PthreadSigmask(unix.SIG_BLOCK, nil, &now))
	say("SIGUSR2 blocked", now.Val[0]&(1<<(unix.SIGUSR2-1)) != 0)
	res("unblock", 0, unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil))
	res("sigprocmask bad how", 0, unix.PthreadSigmask(99, &set, nil))
	res("kill signal 0", 0, unix.Kill(unix.Getpid(), 0))
	res("kill bad signal", 0, unix.Kill(unix.Getpid(), 200))
	res("tgkill bad signal", 0, unix.Tgkill(unix.Getpid(), unix.Gettid(), 200))
}

func misc() {
	var u unix.Utsname
	must(unix.Uname(&u))
	say("uname sysname machine", unix.ByteSliceToString(u.Sysname[:]), unix.ByteSliceToString(u.Machine[:]))
	b := make([]byte, 64)
	n, err := unix.Getrandom(b, 0)
	res("getrandom", n, err)
	say("random bytes not all zero", bytes.Count(b, []byte{0}) < len(b))
	_, err = unix.Getrandom(b, 0x100)
	res("getrandom bad flags", 0, err)
	f, err := os.Open("/dev/urandom")
	must(err)
	n, err = f.Read(b)
	res("read /dev/urandom", n, err)
	f.Close()
	res("ioctl TCGETS on a file", 0, sys(unix.SYS_IOCTL, uintptr(must1(unix.Open("/dev/null", unix.O_RDONLY, 0))), unix.TCGETS, uintptr(unsafe.Pointer(&b[0]))))
}

func must1(v int, err error) int {
	must(err)
	return v
}
