// Command mmapshared exercises the file calls embedded databases such as
// bbolt use: a read-only MAP_SHARED mapping kept coherent with pwrite, file
// growth and remapping, a writable shared mapping made visible by msync,
// flock and fcntl record locks, fallocate, statfs, link, renameat2 flags,
// truncate, preadv/pwritev and the sync calls. It prints only what Linux
// fixes, so a run under hv can be compared with a native one.
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"

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
	dir, err := os.MkdirTemp("", "mmapshared")
	must(err)
	defer os.RemoveAll(dir)
	mapping(dir)
	writable(dir)
	flocks(dir)
	records(dir)
	space(dir)
	names(dir)
	syncs(dir)
}

// mapping is bbolt's pattern: pwrite the file, read it through a
// read-only shared mapping, grow the file and map it again.
func mapping(dir string) {
	p := filepath.Join(dir, "db")
	fd, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT, 0o600)
	must(err)
	_, err = unix.Pwrite(fd, bytes.Repeat([]byte{'a'}, 5000), 0)
	must(err)
	m, err := unix.Mmap(fd, 0, 8192, unix.PROT_READ, unix.MAP_SHARED)
	must(err)
	say("mapped", string(m[0:3]), "past EOF in the last page is zero", m[6000] == 0)
	_, err = unix.Pwrite(fd, []byte("hello"), 100)
	must(err)
	say("pwrite seen through the mapping", string(m[100:105]))
	n, err := unix.Write(fd, []byte("W"))
	res("write at offset 0", n, err)
	say("write seen", string(m[0:2]))
	// Grow the file: bytes of the old mapping's last page past the old EOF
	// become file bytes.
	must(unix.Ftruncate(fd, 12288))
	_, err = unix.Pwrite(fd, []byte("grow"), 6000)
	must(err)
	say("growth seen in the old mapping", string(m[6000:6004]))
	_, err = unix.Pwrite(fd, []byte("page2"), 9000)
	must(err)
	must(unix.Munmap(m))
	m, err = unix.Mmap(fd, 0, 12288, unix.PROT_READ, unix.MAP_SHARED)
	must(err)
	say("remapped", string(m[9000:9005]), string(m[100:105]))
	// Shrink: the tail of the last page reads as zero again.
	must(unix.Ftruncate(fd, 4096+10))
	say("after shrink", m[4096+5] == 'a', m[4096+20] == 0)
	// A mapping at a file offset.
	m2, err := unix.Mmap(fd, 4096, 4096, unix.PROT_READ, unix.MAP_SHARED)
	must(err)
	_, err = unix.Pwrite(fd, []byte("off"), 4096+1)
	must(err)
	say("offset mapping", string(m2[1:4]), string(m[4097:4100]))
	must(unix.Munmap(m2))
	must(unix.Munmap(m))
	_, err = unix.Mmap(fd, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	res("writable shared mapping of a read-write fd", 0, err)
	must(unix.Close(fd))
	ro, err := unix.Open(p, unix.O_RDONLY, 0)
	must(err)
	_, err = unix.Mmap(ro, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	res("writable shared mapping of a read-only fd", 0, err)
	must(unix.Close(ro))
}

// writable stores through a writable shared mapping and makes the stores
// reach the file with msync.
func writable(dir string) {
	p := filepath.Join(dir, "w")
	fd, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT, 0o600)
	must(err)
	must(unix.Ftruncate(fd, 8192))
	m, err := unix.Mmap(fd, 0, 8192, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	must(err)
	copy(m[10:], "stored")
	copy(m[4100:], "second page")
	res("msync MS_SYNC", 0, unix.Msync(m, unix.MS_SYNC))
	b := make([]byte, 6)
	_, err = unix.Pread(fd, b, 10)
	must(err)
	say("read after msync", string(b))
	copy(m[20:], "unmapped")
	must(unix.Munmap(m))
	b = make([]byte, 8)
	_, err = unix.Pread(fd, b, 20)
	must(err)
	say("read after munmap", string(b))
	m, err = unix.Mmap(fd, 0, 8192, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	must(err)
	copy(m[30:], "fsynced")
	must(unix.Fsync(fd))
	b = make([]byte, 7)
	_, err = unix.Pread(fd, b, 30)
	must(err)
	say("read after fsync", string(b))
	res("msync bad flags", 0, unix.Msync(m, unix.MS_SYNC|unix.MS_ASYNC))
	must(unix.Munmap(m))
	must(unix.Close(fd))
}

func flocks(dir string) {
	p := filepath.Join(dir, "lock")
	open := func() int {
		fd, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT, 0o600)
		must(err)
		return fd
	}
	a, b := open(), open()
	res("flock a EX|NB", 0, unix.Flock(a, unix.LOCK_EX|unix.LOCK_NB))
	res("flock b SH|NB while a holds EX", 0, unix.Flock(b, unix.LOCK_SH|unix.LOCK_NB))
	d, err := unix.Dup(a)
	must(err)
	res("flock dup of a EX|NB (same description)", 0, unix.Flock(d, unix.LOCK_EX|unix.LOCK_NB))
	must(unix.Close(d))
	res("flock a UN", 0, unix.Flock(a, unix.LOCK_UN))
	res("flock b SH|NB", 0, unix.Flock(b, unix.LOCK_SH|unix.LOCK_NB))
	res("flock a SH|NB (shared with b)", 0, unix.Flock(a, unix.LOCK_SH|unix.LOCK_NB))
	res("flock bad op", 0, unix.Flock(a, 0))
	// A blocking request waits until both shared locks are gone.
	c := open()
	done := make(chan struct{})
	go func() {
		res("flock c EX (blocking) returned", 0, unix.Flock(c, unix.LOCK_EX))
		close(done)
	}()
	time.Sleep(20 * time.Millisecond)
	say("releasing the shared locks")
	must(unix.Flock(a, unix.LOCK_UN))
	must(unix.Close(b)) // closing the last descriptor releases b's lock
	<-done
	res("flock a SH|NB while c holds EX", 0, unix.Flock(a, unix.LOCK_SH|unix.LOCK_NB))
	must(unix.Close(c))
	res("flock a SH|NB after c closed", 0, unix.Flock(a, unix.LOCK_SH|unix.LOCK_NB))
	must(unix.Close(a))
	// Directories can be locked too (a data directory's lock).
	d1, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	must(err)
	d2, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	must(err)
	res("flock dir EX|NB", 0, unix.Flock(d1, unix.LOCK_EX|unix.LOCK_NB))
	res("flock dir again through another open", 0, unix.Flock(d2, unix.LOCK_EX|unix.LOCK_NB))
	must(unix.Close(d1))
	res("flock dir after the holder closed", 0, unix.Flock(d2, unix.LOCK_EX|unix.LOCK_NB))
	must(unix.Close(d2))
}

func getlk(what string, fd, cmd int, typ int16, start, length int64) {
	lk := unix.Flock_t{Type: typ, Whence: 0, Start: start, Len: length}
	if err := unix.FcntlFlock(uintptr(fd), cmd, &lk); err != nil {
		res(what, 0, err)
		return
	}
	names := map[int16]string{unix.F_RDLCK: "F_RDLCK", unix.F_WRLCK: "F_WRLCK", unix.F_UNLCK: "F_UNLCK"}
	if lk.Type == unix.F_UNLCK {
		say(what, names[lk.Type])
		return
	}
	pid := fmt.Sprint(lk.Pid)
	if int(lk.Pid) == os.Getpid() {
		pid = "self"
	}
	say(what, names[lk.Type], lk.Start, lk.Len, "pid", pid)
}

func setlk(what string, fd, cmd int, typ int16, start, length int64) {
	lk := unix.Flock_t{Type: typ, Whence: 0, Start: start, Len: length}
	res(what, 0, unix.FcntlFlock(uintptr(fd), cmd, &lk))
}

func records(dir string) {
	p := filepath.Join(dir, "rec")
	fd1, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT, 0o600)
	must(err)
	fd2, err := unix.Open(p, unix.O_RDWR, 0)
	must(err)
	setlk("OFD write lock fd1 [0,100)", fd1, unix.F_OFD_SETLK, unix.F_WRLCK, 0, 100)
	getlk("OFD getlk fd2 [50,60)", fd2, unix.F_OFD_GETLK, unix.F_WRLCK, 50, 10)
	setlk("OFD lock fd2 [50,60)", fd2, unix.F_OFD_SETLK, unix.F_RDLCK, 50, 10)
	setlk("POSIX lock [50,60) against fd1's OFD lock", fd2, unix.F_SETLK, unix.F_RDLCK, 50, 10)
	setlk("POSIX read lock [200,300)", fd2, unix.F_SETLK, unix.F_RDLCK, 200, 100)
	setlk("POSIX read lock [300,400)", fd2, unix.F_SETLK, unix.F_RDLCK, 300, 100)
	getlk("OFD getlk fd1 write [250,260) sees the merged lock", fd1, unix.F_OFD_GETLK, unix.F_WRLCK, 250, 10)
	getlk("OFD getlk fd1 read [250,260)", fd1, unix.F_OFD_GETLK, unix.F_RDLCK, 250, 10)
	getlk("POSIX getlk own locks do not conflict", fd2, unix.F_GETLK, unix.F_WRLCK, 0, 1000)
	setlk("POSIX unlock [250,260) splits", fd2, unix.F_SETLK, unix.F_UNLCK, 250, 10)
	getlk("OFD getlk fd1 write [255,256)", fd1, unix.F_OFD_GETLK, unix.F_WRLCK, 255, 1)
	getlk("OFD getlk fd1 write [260,270)", fd1, unix.F_OFD_GETLK, unix.F_WRLCK, 260, 10)
	setlk("OFD read lock fd1 whole file", fd1, unix.F_OFD_SETLK, unix.F_RDLCK, 0, 0)
	lk := unix.Flock_t{Type: unix.F_RDLCK, Pid: 7}
	res("OFD lock with l_pid", 0, unix.FcntlFlock(uintptr(fd1), unix.F_OFD_SETLK, &lk))
	// Closing any descriptor of the file drops the process's POSIX locks.
	fd3, err := unix.Open(p, unix.O_RDONLY, 0)
	must(err)
	must(unix.Close(fd3))
	getlk("OFD getlk after closing another fd", fd1, unix.F_OFD_GETLK, unix.F_WRLCK, 200, 200)
	ro, err := unix.Open(p, unix.O_RDONLY, 0)
	must(err)
	setlk("POSIX write lock on read-only fd", ro, unix.F_SETLK, unix.F_WRLCK, 0, 1)
	must(unix.Close(ro))
	// A blocking OFD request waits for the conflicting lock to go away.
	done := make(chan struct{})
	go func() {
		setlk("OFD SETLKW fd2 [0,10) returned", fd2, unix.F_OFD_SETLKW, unix.F_WRLCK, 0, 10)
		close(done)
	}()
	time.Sleep(20 * time.Millisecond)
	say("unlocking fd1")
	// Nothing printed until the waiter is done: it runs as soon as the
	// lock is free.
	lk = unix.Flock_t{Type: unix.F_UNLCK}
	must(unix.FcntlFlock(uintptr(fd1), unix.F_OFD_SETLK, &lk))
	<-done
	getlk("OFD getlk fd1 [0,1)", fd1, unix.F_OFD_GETLK, unix.F_RDLCK, 0, 1)
	must(unix.Close(fd2)) // last descriptor: its OFD locks go
	getlk("OFD getlk after closing fd2", fd1, unix.F_OFD_GETLK, unix.F_WRLCK, 0, 1)
	must(unix.Close(fd1))
}

func space(dir string) {
	p := filepath.Join(dir, "space")
	fd, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT, 0o600)
	must(err)
	size := func() int64 {
		var st unix.Stat_t
		must(unix.Fstat(fd, &st))
		return st.Size
	}
	res("fallocate 0 [0,20000)", 0, unix.Fallocate(fd, 0, 0, 20000))
	say("size", size())
	res("fallocate KEEP_SIZE [0,50000)", 0, unix.Fallocate(fd, unix.FALLOC_FL_KEEP_SIZE, 0, 50000))
	say("size", size())
	res("fallocate 0 inside", 0, unix.Fallocate(fd, 0, 100, 10))
	say("size", size())
	res("fallocate zero length", 0, unix.Fallocate(fd, 0, 0, 0))
	res("fadvise sequential", 0, unix.Fadvise(fd, 0, 0, unix.FADV_SEQUENTIAL))
	res("fadvise bad advice", 0, unix.Fadvise(fd, 0, 0, 99))
	n, err := unix.Pwritev(fd, [][]byte{[]byte("ab"), []byte("cde")}, 10)
	res("pwritev", n, err)
	b1, b2 := make([]byte, 3), make([]byte, 4)
	n, err = unix.Preadv(fd, [][]byte{b1, b2}, 9)
	res("preadv", n, err)
	say("preadv data", fmt.Sprintf("%q %q", b1, b2))
	res("truncate path", 0, unix.Truncate(p, 7))
	say("size", size())
	res("truncate dir", 0, unix.Truncate(dir, 0))
	var sf unix.Statfs_t
	res("fstatfs", 0, unix.Fstatfs(fd, &sf))
	say("fstatfs bsize namelen", sf.Bsize, sf.Namelen, "blocks > 0", sf.Blocks > 0, "bavail <= bfree", sf.Bavail <= sf.Bfree)
	res("statfs", 0, unix.Statfs(dir, &sf))
	res("statfs missing", 0, unix.Statfs(filepath.Join(dir, "missing"), &sf))
	must(unix.Close(fd))
	var pp [2]int
	must(unix.Pipe(pp[:]))
	res("fallocate pipe", 0, unix.Fallocate(pp[1], 0, 0, 10))
	res("fadvise pipe", 0, unix.Fadvise(pp[0], 0, 0, unix.FADV_NORMAL))
	res("fsync pipe", 0, unix.Fsync(pp[1]))
	unix.Close(pp[0])
	unix.Close(pp[1])
}

func names(dir string) {
	a, b := filepath.Join(dir, "na"), filepath.Join(dir, "nb")
	must(os.WriteFile(a, []byte("A"), 0o600))
	must(os.WriteFile(b, []byte("B"), 0o600))
	nlink := func(p string) any {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			return unix.ErrnoName(err.(unix.Errno))
		}
		return st.Nlink
	}
	h := filepath.Join(dir, "hard")
	res("link", 0, unix.Link(a, h))
	say("nlink", nlink(a), nlink(h))
	res("link existing", 0, unix.Link(a, b))
	res("link dir", 0, unix.Link(dir, filepath.Join(dir, "dirlink")))
	res("linkat", 0, unix.Linkat(unix.AT_FDCWD, a, unix.AT_FDCWD, filepath.Join(dir, "hard2"), 0))
	must(unix.Unlink(a))
	say("nlink after unlink", nlink(h))
	res("renameat2 NOREPLACE onto existing", 0, unix.Renameat2(unix.AT_FDCWD, h, unix.AT_FDCWD, b, unix.RENAME_NOREPLACE))
	res("renameat2 NOREPLACE", 0, unix.Renameat2(unix.AT_FDCWD, h, unix.AT_FDCWD, a, unix.RENAME_NOREPLACE))
	res("renameat2 EXCHANGE", 0, unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE))
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	say("after exchange", string(da), string(db))
	res("renameat2 EXCHANGE missing", 0, unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, filepath.Join(dir, "none"), unix.RENAME_EXCHANGE))
	res("renameat2 both flags", 0, unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE|unix.RENAME_NOREPLACE))
	sub := filepath.Join(dir, "sub")
	must(os.Mkdir(sub, 0o755))
	res("renameat2 EXCHANGE file and dir", 0, unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, sub, unix.RENAME_EXCHANGE))
	var st unix.Stat_t
	must(unix.Stat(a, &st))
	say("a is now a dir", st.Mode&unix.S_IFMT == unix.S_IFDIR)
}

func syncs(dir string) {
	p := filepath.Join(dir, "sync")
	fd, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT|unix.O_SYNC, 0o600)
	must(err)
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	res("O_SYNC in F_GETFL", fl&unix.O_SYNC, err)
	n, err := unix.Write(fd, []byte("durable"))
	res("O_SYNC write", n, err)
	must(unix.Close(fd))
	fd, err = unix.Open(p, unix.O_RDWR|unix.O_DSYNC, 0)
	must(err)
	fl, err = unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	res("O_DSYNC in F_GETFL", fl&(unix.O_SYNC|unix.O_DSYNC), err)
	res("fdatasync", 0, unix.Fdatasync(fd))
	res("syncfs", 0, unix.Syncfs(fd))
	unix.Sync()
	say("sync", "done")
	d, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	must(err)
	res("fsync dir", 0, unix.Fsync(d))
	must(unix.Close(d))
	must(unix.Close(fd))
	res("syncfs bad fd", 0, unix.Syncfs(999))
}
