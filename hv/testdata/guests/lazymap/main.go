// Command lazymap maps regions larger than hv populates eagerly — an
// anonymous one and a 10 GiB shared mapping of a small file, as bbolt
// makes — touches a few pages, reads bytes written with pwrite after the
// mapping was made, checks that untouched pages read zero, and exercises
// mprotect, madvise(MADV_DONTNEED), munmap and a private file mapping on
// the partly populated ranges. It prints only what Linux fixes, so a run
// under hv can be compared with a native one. With the argument "touch N"
// it instead writes one byte to every page of an N MiB anonymous mapping
// (for measuring demand faults).
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

func must(err error) {
	if err != nil {
		fmt.Println("fatal:", err)
		os.Exit(1)
	}
}

// faults reports whether f faults (SIGSEGV, turned into a panic).
func faults(f func()) (faulted bool) {
	defer func() { faulted = recover() != nil }()
	f()
	return false
}

const page = 4096

func main() {
	debug.SetPanicOnFault(true)
	if len(os.Args) == 3 && os.Args[1] == "touch" {
		mib, err := strconv.Atoi(os.Args[2])
		must(err)
		touch(mib)
		return
	}
	anonymous()
	dir, err := os.MkdirTemp("", "lazymap")
	must(err)
	defer os.RemoveAll(dir)
	shared(dir)
	private(dir)
}

func touch(mib int) {
	m, err := unix.Mmap(-1, 0, mib<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	must(err)
	for i := 0; i < len(m); i += page {
		m[i] = byte(i / page)
	}
	sum := 0
	for i := 0; i < len(m); i += page {
		sum += int(m[i])
	}
	fmt.Println("touched", len(m)/page, "pages, sum", sum)
	must(unix.Munmap(m))
}

// sink keeps reads the compiler would otherwise drop.
var sink byte

// munmap unmaps b, which may be part of a mapping (unix.Munmap accepts
// only whole mappings it made).
func munmap(b []byte) {
	_, _, e := unix.Syscall(unix.SYS_MUNMAP, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0)
	if e != 0 {
		must(e)
	}
}

// zero reports whether every byte of b is zero.
func zero(b []byte) bool { return len(bytes.Trim(b, "\x00")) == 0 }

func anonymous() {
	const size = 1 << 30
	m, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	must(err)
	offs := []int{0, 5 * page, 123*page + 7, size / 2, size - 1}
	for i, o := range offs {
		m[o] = byte(i + 1)
	}
	for i, o := range offs {
		if m[o] != byte(i+1) {
			fmt.Println("anon: byte at", o, "is", m[o])
		}
	}
	fmt.Println("anon: untouched pages read zero:", zero(m[7*page:8*page]), zero(m[size/4:size/4+page]), zero(m[size-2*page:size-page]))
	// A system call writing into an untouched page (read(2) into it).
	r, w, err := os.Pipe()
	must(err)
	_, err = w.Write([]byte("through a pipe"))
	must(err)
	n, err := unix.Read(int(r.Fd()), m[size/3:size/3+64])
	must(err)
	fmt.Println("anon: read(2) into an untouched page:", string(m[size/3:size/3+n]))
	r.Close()
	w.Close()
	// Read-only: touched and untouched pages read, writes fault.
	must(unix.Mprotect(m[:size/2], unix.PROT_READ))
	fmt.Println("anon: after mprotect(PROT_READ):", m[0], m[5*page], zero(m[9*page:10*page]))
	fmt.Println("anon: write to a touched read-only page faults:", faults(func() { m[1] = 9 }))
	fmt.Println("anon: write to an untouched read-only page faults:", faults(func() { m[11*page] = 9 }))
	must(unix.Mprotect(m[:size/2], unix.PROT_NONE))
	fmt.Println("anon: read of an untouched PROT_NONE page faults:", faults(func() { sink = m[13*page] }))
	must(unix.Mprotect(m[:size/2], unix.PROT_READ|unix.PROT_WRITE))
	fmt.Println("anon: contents kept through PROT_NONE:", m[0], m[5*page], m[123*page+7])
	m[13*page] = 42
	// MADV_DONTNEED: private anonymous pages read zero afterwards.
	must(unix.Madvise(m[:16*page], unix.MADV_DONTNEED))
	fmt.Println("anon: after MADV_DONTNEED:", m[0], m[5*page], m[13*page], "kept beyond:", m[123*page+7])
	// Unmap a piece in the middle (partly touched), then the rest.
	munmap(m[size/2-page : size/2+page])
	fmt.Println("anon: unmapped piece faults:", faults(func() { sink = m[size/2] }), "neighbours:", m[size/2-2*page], m[size-1])
	munmap(m[:size/2-page])
	munmap(m[size/2+page:])
	// MAP_POPULATE on a large mapping.
	p, err := unix.Mmap(-1, 0, 64<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE|unix.MAP_POPULATE)
	must(err)
	p[len(p)-1] = 1
	fmt.Println("anon: MAP_POPULATE mapping:", zero(p[:len(p)-1]), p[len(p)-1])
	must(unix.Munmap(p))
}

// shared is bbolt's pattern with its default 10 GiB mapping: pwrite the
// file, map far more than its size read-only, keep writing with pwrite.
func shared(dir string) {
	p := filepath.Join(dir, "db")
	fd, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT, 0o600)
	must(err)
	_, err = unix.Pwrite(fd, bytes.Repeat([]byte{'a'}, 3*page), 0)
	must(err)
	_, err = unix.Pwrite(fd, []byte("tail"), 64*page)
	must(err)
	const size = 10 << 30
	m, err := unix.Mmap(fd, 0, size, unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
	must(err)
	fmt.Println("shared: first bytes", string(m[:3]), "tail", string(m[64*page:64*page+4]))
	fmt.Println("shared: a hole in the file reads zero:", zero(m[10*page:11*page]))
	// Written after the mapping was made: a page already touched, one
	// never touched, and one beyond the old end of the file.
	_, err = unix.Pwrite(fd, []byte("early"), 100)
	must(err)
	_, err = unix.Pwrite(fd, []byte("untouched"), 40*page+5)
	must(err)
	_, err = unix.Pwrite(fd, []byte("grown"), 300*page+9)
	must(err)
	fmt.Println("shared: pwrite seen:", string(m[100:105]), string(m[40*page+5:40*page+14]), string(m[300*page+9:300*page+14]))
	fmt.Println("shared: rest of the grown page is zero:", zero(m[300*page+14:301*page]))
	// bbolt's remap after growth: munmap, mmap again.
	must(unix.Munmap(m))
	m, err = unix.Mmap(fd, 0, size, unix.PROT_READ, unix.MAP_SHARED)
	must(err)
	fmt.Println("shared: remapped:", string(m[100:105]), string(m[300*page+9:300*page+14]))
	// A writable shared mapping of a large range: stores reach the file
	// at msync; untouched pages are not written back as zeros.
	w, err := unix.Mmap(fd, 0, 1<<30, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	must(err)
	copy(w[2*page+10:], "stored")
	must(unix.Msync(w, unix.MS_SYNC))
	b := make([]byte, 6)
	_, err = unix.Pread(fd, b, 2*page+10)
	must(err)
	fmt.Println("shared: pread after msync:", string(b), "seen read-only:", string(m[2*page+10:2*page+16]))
	b = make([]byte, 5)
	_, err = unix.Pread(fd, b, 300*page+9)
	must(err)
	fmt.Println("shared: untouched page kept in the file:", string(b))
	// MADV_DONTNEED on a shared mapping: the pages read the file again.
	must(unix.Madvise(w[:4*page], unix.MADV_DONTNEED))
	fmt.Println("shared: after MADV_DONTNEED:", string(w[2*page+10:2*page+16]), string(w[100:105]))
	must(unix.Munmap(w))
	must(unix.Munmap(m))
	var st unix.Stat_t
	must(unix.Fstat(fd, &st))
	fmt.Println("shared: file size", st.Size)
	must(unix.Close(fd))
}

// private maps a file privately over a large range: pages show the file,
// stores stay in the process.
func private(dir string) {
	p := filepath.Join(dir, "priv")
	must(os.WriteFile(p, append(bytes.Repeat([]byte("0123456789abcdef"), 2*page), "end"...), 0o600))
	fd, err := unix.Open(p, unix.O_RDONLY, 0)
	must(err)
	m, err := unix.Mmap(fd, 0, 64<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE)
	must(err)
	fmt.Println("private:", string(m[16:32]), string(m[page+3:page+8]))
	copy(m[16:], "PRIVATE")
	b := make([]byte, 7)
	_, err = unix.Pread(fd, b, 16)
	must(err)
	fmt.Println("private: store stays private:", string(m[16:23]), "file:", string(b))
	fmt.Println("private: last page:", string(m[32*page:32*page+3]), "zero past the end of the file:", zero(m[32*page+3:33*page]))
	must(unix.Madvise(m[:page], unix.MADV_DONTNEED))
	fmt.Println("private: after MADV_DONTNEED:", string(m[16:23]))
	must(unix.Munmap(m))
	must(unix.Close(fd))
}
