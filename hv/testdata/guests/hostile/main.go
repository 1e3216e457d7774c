// Command hostile issues random system calls with random arguments (bad
// pointers, huge lengths, negative fds, random flags) from several
// threads, from a seed, for hv's hostile-input test: every call must come
// back with a result or an errno, never bring the VMM down, hang it or
// touch the host.
//
//	hostile SEED CALLS THREADS
//
// It skips only the calls that would end or corrupt the guest itself
// (exit, exec, clone, unmapping or reprotecting its memory, replacing its
// signal handlers or TLS), since the point is a million calls, not a
// guest that dies at the first. Calls that block forever park their
// thread; the main goroutine replaces parked workers, so the run goes on.
// It exits 0 after CALLS calls, printing how many were made.
package main

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// Linux amd64 system call numbers the guest must not make at random.
var skip = map[uintptr]string{
	11:  "munmap",
	10:  "mprotect",
	25:  "mremap",
	28:  "madvise",
	13:  "rt_sigaction",
	15:  "rt_sigreturn",
	131: "sigaltstack",
	56:  "clone",
	57:  "fork",
	58:  "vfork",
	59:  "execve",
	322: "execveat",
	435: "clone3",
	60:  "exit",
	231: "exit_group",
	62:  "kill",
	200: "tkill",
	234: "tgkill",
	129: "rt_sigqueueinfo",
	297: "rt_tgsigqueueinfo",
	158: "arch_prctl",
	218: "set_tid_address",
	273: "set_robust_list",
	34:  "pause",
	317: "seccomp",
	130: "rt_sigsuspend",
	// shmdt/shmat/mmap at a fixed address could replace the guest's
	// own memory; mmap is made without MAP_FIXED below instead.
	67: "shmdt",
	30: "shmat",
}

const (
	sysMmap  = 9
	sysFutex = 202
	mapFixed = 0x10
	bufSize  = 1 << 20
	maxNR    = 460
	sysHyper = 0x4d56 // hv's reserved SDK hypercall number
	// ownFDs are the descriptors below which the guest's runtime keeps
	// its own (stdio, netpoll's epoll and wakeup fds): not closed or
	// replaced at random.
	ownFDs = 10
	// maxThreads bounds the workers started in all: a worker makes a
	// few thousand calls on average before one parks it for good (a
	// read of an empty pipe it made, a wait with no end).
	maxThreads = 2048
)

type worker struct {
	calls atomic.Uint64
	rng   *rand.Rand
	buf   uintptr // bufSize bytes, then a PROT_NONE guard page
	ts    uintptr // a short timespec
}

func newWorker(seed uint64, id int) *worker {
	mem, err := syscall.Mmap(-1, 0, bufSize+4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hostile: mmap:", err)
		os.Exit(3)
	}
	if err := syscall.Mprotect(mem[bufSize:], syscall.PROT_NONE); err != nil {
		fmt.Fprintln(os.Stderr, "hostile: mprotect:", err)
		os.Exit(3)
	}
	w := &worker{rng: rand.New(rand.NewPCG(seed, uint64(id))), buf: addr(mem)}
	// A timespec of 1µs at the buffer's end, for futex waits.
	binary.LittleEndian.PutUint64(mem[bufSize-8:], 1000)
	w.ts = w.buf + bufSize - 16
	return w
}

// arg draws one argument.
func (w *worker) arg() uintptr {
	r := w.rng
	switch r.IntN(12) {
	case 0:
		return 0
	case 1:
		return uintptr(r.IntN(64)) // small numbers, fds 0..63
	case 2:
		return ^uintptr(0) - uintptr(r.IntN(200)) // -1 .. -200: negative fds, errors
	case 3:
		return w.buf + uintptr(r.IntN(bufSize-64)) // a valid pointer
	case 4:
		return w.buf + bufSize - uintptr(r.IntN(64)) // a pointer running into the guard page
	case 5:
		return []uintptr{0x1000, 0xdead0000, 0x7fffffffe000, 0x800000000000, 0xffff800000000000, 0xffffffffff600000}[r.IntN(6)] // bad pointers
	case 6:
		return uintptr(1) << r.IntN(64) // huge lengths, single flags
	case 7:
		return uintptr(r.Uint32()) // random flags
	case 8:
		return uintptr(r.Uint64())
	case 9:
		return uintptr(r.IntN(4096))
	case 10:
		return 0x7fffffff
	default:
		return uintptr(r.IntN(16)) << 12
	}
}

func (w *worker) run() {
	runtime.LockOSThread() // one guest thread per worker
	for {
		nr := uintptr(w.rng.IntN(maxNR))
		if w.rng.IntN(200) == 0 {
			nr = sysHyper
		}
		if _, bad := skip[nr]; bad {
			continue
		}
		a := [6]uintptr{w.arg(), w.arg(), w.arg(), w.arg(), w.arg(), w.arg()}
		switch nr {
		case 3, 233: // close, epoll_ctl: not the runtime's own fds (epoll, its wakeup)
			if a[0] < ownFDs {
				continue
			}
		case 33, 292: // dup2, dup3: not onto them either
			if a[1] < ownFDs {
				continue
			}
		case 436: // close_range
			continue
		case sysMmap:
			a[3] &^= mapFixed | 0x100000 // no MAP_FIXED, no MAP_FIXED_NOREPLACE
		case sysFutex:
			a[3] = w.ts // waits end
		}
		syscall.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
		w.calls.Add(1)
	}
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: hostile SEED CALLS THREADS")
		os.Exit(2)
	}
	seed, _ := strconv.ParseUint(os.Args[1], 0, 64)
	want, _ := strconv.ParseUint(os.Args[2], 10, 64)
	threads, _ := strconv.Atoi(os.Args[3])
	var workers []*worker
	start := func() {
		w := newWorker(seed, len(workers))
		workers = append(workers, w)
		go w.run()
	}
	for range threads {
		start()
	}
	last := make([]uint64, 0, 64)
	for {
		time.Sleep(10 * time.Millisecond)
		total := uint64(0)
		active := 0
		for i, w := range workers {
			n := w.calls.Load()
			total += n
			if i >= len(last) {
				last = append(last, ^uint64(0))
			}
			if n != last[i] {
				active++
			}
			last[i] = n
		}
		if total >= want {
			fmt.Printf("hostile: %d calls by %d threads\n", total, len(workers))
			os.Exit(0)
		}
		// Workers parked in a call that never returns are replaced.
		for active < threads && len(workers) < maxThreads {
			start()
			active++
		}
		if len(workers) >= maxThreads && active == 0 {
			fmt.Printf("hostile: every thread is parked after %d calls\n", total)
			os.Exit(4)
		}
	}
}
