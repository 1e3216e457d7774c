package kernel

import (
	"fmt"
	"io"
	"sort"

	"github.com/mvrun/multiverse/hv/abi"
	"github.com/mvrun/multiverse/hv/vfs"
	"github.com/mvrun/multiverse/internal/diskmodel"
)

const maxFDs = 4096

// file is an open file's behaviour. Reads and writes never block: they
// return EAGAIN, and the system call layer parks the thread on the file's
// wait queue unless the descriptor is non-blocking.
type file interface {
	read(d *desc, b []byte) (int, error)
	write(d *desc, b []byte) (int, error)
	stat() stat
	// ready returns the epoll events that are ready now.
	ready() uint32
	// waiters is the queue woken whenever ready() may have changed.
	waiters() *waitQueue
	close()
}

// stat is the part of struct stat hv reports.
type stat struct {
	ino   uint64
	mode  uint32
	nlink uint32
	size  int64
	rdev  uint64
	mtime int64
	dev   uint64 // st_dev; 0 means the node's own tree (vfs.RootDev)
}

// desc is an open file description: dup'ed descriptors share it.
type desc struct {
	file  file
	flags int // O_ACCMODE, O_APPEND, O_NONBLOCK, O_DSYNC, O_SYNC
	off   int64
	refs  int
}

type fdEntry struct {
	d       *desc
	cloexec bool
}

type fdTable struct {
	k   *Kernel
	fds map[int]fdEntry
}

func newFDTable(k *Kernel, stdin io.Reader, stdout, stderr io.Writer) *fdTable {
	t := &fdTable{k: k, fds: map[int]fdEntry{}}
	t.install(0, &desc{file: &streamFile{r: stdin}, flags: abi.ORdonly}, false)
	t.install(1, &desc{file: &streamFile{w: stdout, std: 1}, flags: abi.OWronly}, false)
	t.install(2, &desc{file: &streamFile{w: stderr, std: 2}, flags: abi.OWronly}, false)
	return t
}

func (t *fdTable) install(fd int, d *desc, cloexec bool) {
	if old, ok := t.fds[fd]; ok {
		t.release(old.d)
	}
	d.refs++
	t.fds[fd] = fdEntry{d: d, cloexec: cloexec}
}

func (t *fdTable) release(d *desc) {
	// Closing any descriptor of a file drops the process's POSIX record
	// locks on it, as on Linux (fcntl(2), "the locks are lost when any file
	// descriptor referring to the file is closed").
	if n := inodeOf(d.file); n != nil {
		t.k.releaseProcessLocks(n)
	}
	d.refs--
	if d.refs == 0 {
		d.file.close()
	}
}

// alloc installs d at the lowest free descriptor ≥ min.
func (t *fdTable) alloc(d *desc, min int, cloexec bool) (int, error) {
	for fd := min; fd < maxFDs; fd++ {
		if _, ok := t.fds[fd]; !ok {
			t.install(fd, d, cloexec)
			return fd, nil
		}
	}
	return 0, abi.EMFILE
}

func (t *fdTable) get(fd int) (*desc, error) {
	e, ok := t.fds[fd]
	if !ok {
		return nil, abi.EBADF
	}
	return e.d, nil
}

func (t *fdTable) close(fd int) error {
	e, ok := t.fds[fd]
	if !ok {
		return abi.EBADF
	}
	delete(t.fds, fd)
	t.release(e.d)
	return nil
}

func (t *fdTable) closeAll() {
	fds := make([]int, 0, len(t.fds))
	for fd := range t.fds {
		fds = append(fds, fd)
	}
	sort.Ints(fds)
	for _, fd := range fds {
		_ = t.close(fd)
	}
}

// baseFile supplies defaults for files that are not readable, writable or
// pollable.
type baseFile struct{ q waitQueue }

func (*baseFile) read(*desc, []byte) (int, error)  { return 0, abi.EINVAL }
func (*baseFile) write(*desc, []byte) (int, error) { return 0, abi.EINVAL }
func (*baseFile) ready() uint32                    { return abi.EpollIn | abi.EpollOut }
func (f *baseFile) waiters() *waitQueue            { return &f.q }
func (*baseFile) close()                           {}

// streamFile is a standard stream connected to the host (stdin, stdout,
// stderr of the run).
type streamFile struct {
	baseFile
	r   io.Reader `snap:"keep"` // the caller's: snapshots share them
	w   io.Writer `snap:"keep"`
	std int       // the standard stream it was opened as: 0, 1 or 2
}

func (f *streamFile) read(d *desc, b []byte) (int, error) {
	if f.r == nil {
		return 0, nil
	}
	n, err := f.r.Read(b)
	if err != nil && err != io.EOF {
		return n, abi.EIO
	}
	return n, nil
}

func (f *streamFile) write(d *desc, b []byte) (int, error) {
	if f.w == nil {
		return 0, abi.EBADF
	}
	n, err := f.w.Write(b)
	if err != nil {
		return n, abi.EIO
	}
	return n, nil
}

func (f *streamFile) stat() stat {
	return stat{ino: 1, mode: abi.SIfchr | 0o620, nlink: 1, rdev: 0x8800}
}

// regularFile is an open regular file of the in-memory file system. Every
// change of its bytes goes through vfs (which keeps what a crash would
// lose) and then to the node's shared mappings of the inode (shm.go).
type regularFile struct {
	baseFile
	k *Kernel
	n *vfs.Inode
}

func (f *regularFile) read(d *desc, b []byte) (int, error) {
	n, err := f.pread(b, d.off)
	d.off += int64(n)
	return n, err
}

func (f *regularFile) pread(b []byte, off int64) (int, error) {
	n := 0
	if off < int64(len(f.n.Data)) {
		n = copy(b, f.n.Data[off:])
	}
	if err := f.k.diskFault(diskmodel.OpRead, f.n, off, b[:n], false); err != nil {
		return 0, err
	}
	return n, nil
}

func (f *regularFile) write(d *desc, b []byte) (int, error) {
	if d.flags&abi.OAppend != 0 {
		d.off = int64(len(f.n.Data))
	}
	n, err := f.pwrite(d, b, d.off)
	d.off += int64(n)
	return n, err
}

// pwrite writes b at off; through an O_SYNC or O_DSYNC descriptor the file
// is durable when it returns, as after fdatasync.
func (f *regularFile) pwrite(d *desc, b []byte, off int64) (int, error) {
	grows := off+int64(len(b)) > int64(len(f.n.Data))
	if err := f.k.diskFault(diskmodel.OpWrite, f.n, off, b, grows); err != nil {
		return 0, err
	}
	n, err := f.k.fs.WriteAt(f.n, b, off)
	if n > 0 {
		f.k.fileChanged(f.n, off, off+int64(n))
		if d.flags&abi.ODsync != 0 {
			f.k.fsyncInode(f.n)
		}
	}
	return n, err
}

// truncate sets the file's size.
func (f *regularFile) truncate(size int64) error {
	old := int64(len(f.n.Data))
	if size > old {
		if err := f.k.diskFault(diskmodel.OpAlloc, f.n, old, make([]byte, 0, size-old), true); err != nil {
			return err
		}
	}
	if err := f.k.fs.Truncate(f.n, size); err != nil {
		return err
	}
	f.k.fileChanged(f.n, min(old, size), max(old, size))
	return nil
}

// close drops the flock and open file description locks the description
// held (it is called when the last descriptor for it is closed).
func (f *regularFile) close() { releaseDescLocks(f.n, f) }

func (f *regularFile) stat() stat { return inodeStat(f.n) }

func inodeStat(n *vfs.Inode) stat {
	s := stat{ino: n.Ino, mode: n.Mode, nlink: n.Nlink, size: int64(len(n.Data)), mtime: n.Mtime, dev: n.Device()}
	switch n.Type() {
	case abi.SIfdir:
		s.size = 4096
	case abi.SIflnk:
		s.size = int64(len(n.Target))
	}
	return s
}

// dirFile is an open directory.
type dirFile struct {
	baseFile
	n    *vfs.Inode
	list []string // snapshot of names taken at the first getdents64
	pos  int
}

func (f *dirFile) read(*desc, []byte) (int, error) { return 0, abi.EISDIR }
func (f *dirFile) stat() stat                      { return inodeStat(f.n) }
func (f *dirFile) close()                          { releaseDescLocks(f.n, f) }

// deviceFile is an open character device.
type deviceFile struct {
	baseFile
	n *vfs.Inode
}

func (f *deviceFile) read(d *desc, b []byte) (int, error)  { return f.n.Dev.Read(b) }
func (f *deviceFile) write(d *desc, b []byte) (int, error) { return f.n.Dev.Write(b) }
func (f *deviceFile) stat() stat                           { return inodeStat(f.n) }
func (f *deviceFile) close()                               { releaseDescLocks(f.n, f) }

// Devices every node has.
type nullDev struct{}

func (nullDev) Read(b []byte) (int, error)  { return 0, nil }
func (nullDev) Write(b []byte) (int, error) { return len(b), nil }

type zeroDev struct{}

func (zeroDev) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}
func (zeroDev) Write(b []byte) (int, error) { return len(b), nil }

type randomDev struct{ k *Kernel }

func (r randomDev) Read(b []byte) (int, error) {
	r.k.fillRandom(b)
	return len(b), nil
}
func (randomDev) Write(b []byte) (int, error) { return len(b), nil }

// setupDevices gives the file system /dev (null, zero, urandom, random) and
// /tmp, unless an earlier process of the node did. It fails when the seeded
// file system is in the way (a /dev that is not a directory), naming what.
func (k *Kernel) setupDevices() error {
	if _, err := k.fs.Lookup(k.fs.Root(), "/dev/null", false); err == nil {
		return nil // shared file system already set up
	}
	for _, dir := range []string{"/dev", "/tmp"} {
		if _, err := k.fs.MkdirAll(dir); err != nil {
			return fmt.Errorf("node file system: creating %s: %w", dir, err)
		}
	}
	for _, d := range []struct {
		path string
		dev  vfs.Device
	}{
		{"/dev/null", nullDev{}},
		{"/dev/zero", zeroDev{}},
		{"/dev/urandom", randomDev{k}},
		{"/dev/random", randomDev{k}},
	} {
		if err := k.fs.AddDevice(d.path, d.dev); err != nil {
			return fmt.Errorf("node file system: creating %s: %w", d.path, err)
		}
	}
	return nil
}

// pathOf returns the absolute path of directory n, across the node's
// mounts.
func (k *Kernel) pathOf(n *vfs.Inode) string { return k.fs.Path(n) }
