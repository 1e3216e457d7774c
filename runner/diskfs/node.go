package diskfs

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/mvrun/multiverse/internal/diskmodel"
)

// node is one file or directory: go-fuse's loopback node, with the file
// calls the faults act on taken over. Its undo log is guarded by the
// file system's lock.
type node struct {
	fs.LoopbackNode
	d    *FS
	undo *undo
}

var (
	_ fs.NodeOpener          = (*node)(nil)
	_ fs.NodeCreater         = (*node)(nil)
	_ fs.NodeSetattrer       = (*node)(nil)
	_ fs.NodeCopyFileRanger  = (*node)(nil)
	_ fs.FileReader          = (*handle)(nil)
	_ fs.FileWriter          = (*handle)(nil)
	_ fs.FileFsyncer         = (*handle)(nil)
	_ fs.FileAllocater       = (*handle)(nil)
	_ fs.FileGetattrer       = (*handle)(nil)
	_ fs.FileReleaser        = (*handle)(nil)
	_ fs.FileFlusher         = (*handle)(nil)
	_ fs.FileLseeker         = (*handle)(nil)
	_ fs.FilePassthroughFder = (*handle)(nil)
)

// rel returns the node's path relative to the data directory.
func (n *node) rel() string { return n.EmbeddedInode().Path(nil) }

// backingPath returns the node's real path.
func (n *node) backingPath() string { return filepath.Join(n.d.backing, n.rel()) }

// openFlags are the flags a program's open becomes on the real file:
// offsets come from the kernel, so no O_APPEND; no O_DIRECT, whose
// alignment rules FUSE does not pass on.
func openFlags(flags uint32) int {
	return int(flags) &^ (syscall.O_APPEND | syscall.O_DIRECT | fuse.FMODE_EXEC)
}

// Open opens the real file and returns a fault-injecting handle, with
// direct I/O so that every read reaches it.
func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fd, err := syscall.Open(n.backingPath(), openFlags(flags)|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, 0, fs.ToErrno(err)
	}
	return n.newHandle(fd), fuse.FOPEN_DIRECT_IO, 0
}

// Create creates the file through the loopback node and returns a
// fault-injecting handle on it. A new file starts clean and empty: a
// crash reverts it to size 0, not to nonexistence (directory entries are
// not tracked).
func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	ch, fh, _, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	lf, ok := fh.(*fs.LoopbackFile)
	if !ok {
		return nil, nil, 0, syscall.EIO
	}
	fd, _ := lf.PassthroughFd()
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	lf.Release(ctx)
	if err != nil {
		return nil, nil, 0, fs.ToErrno(err)
	}
	child, ok := ch.Operations().(*node)
	if !ok {
		syscall.Close(dup)
		return nil, nil, 0, syscall.EIO
	}
	return ch, child.newHandle(dup), fuse.FOPEN_DIRECT_IO, 0
}

// Setattr carries out a size change itself (a growing truncate is an
// allocation a full disk refuses; a shrinking one is recorded in the undo
// log) and leaves the other attributes to the loopback node.
func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := in.GetSize(); ok {
		fd := -1
		if h, ok := f.(*handle); ok {
			fd = h.fd
		} else {
			var err error
			if fd, err = syscall.Open(n.backingPath(), syscall.O_WRONLY|syscall.O_CLOEXEC, 0); err != nil {
				return fs.ToErrno(err)
			}
			defer syscall.Close(fd)
		}
		if errno := n.truncate(fd, int64(size)); errno != 0 {
			return errno
		}
		in.Valid &^= fuse.FATTR_SIZE
	}
	if h, ok := f.(*handle); ok {
		f = h.lf // for the loopback node's fchmod, utimens, getattr
	}
	return n.LoopbackNode.Setattr(ctx, f, in, out)
}

// CopyFileRange is refused with ENOSYS, so the kernel copies with reads
// and writes, which the faults see.
func (n *node) CopyFileRange(ctx context.Context, fhIn fs.FileHandle, offIn uint64, out *fs.Inode, fhOut fs.FileHandle, offOut uint64, len uint64, flags uint64) (uint32, syscall.Errno) {
	return 0, syscall.ENOSYS
}

// truncate sets the file's size through fd.
func (n *node) truncate(fd int, size int64) syscall.Errno {
	d := n.d
	d.mu.Lock()
	defer d.mu.Unlock()
	old, err := fileSize(fd)
	if err != nil {
		return fs.ToErrno(err)
	}
	if size > old {
		v := d.decide(diskmodel.Call{Op: diskmodel.OpAlloc, Path: n.rel(), Off: old, Len: size - old, Grows: true})
		d.waitLocked(v.Delay)
		if v.Err != "" {
			return errno(v.Err)
		}
		if old, err = fileSize(fd); err != nil {
			return fs.ToErrno(err)
		}
	}
	if err := n.begin(fd, old); err != nil {
		return fs.ToErrno(err)
	}
	if size < old {
		if err := n.save(size, old); err != nil {
			return fs.ToErrno(err)
		}
	}
	return fs.ToErrno(syscall.Ftruncate(fd, size))
}

// waitLocked waits out a slow call's latency without holding d.mu.
func (d *FS) waitLocked(delay time.Duration) {
	if delay > 0 {
		d.mu.Unlock()
		sleep(delay)
		d.mu.Lock()
	}
}

func fileSize(fd int) (int64, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return 0, err
	}
	return st.Size, nil
}

// handle is an open file. Calls the faults do not concern go to go-fuse's
// loopback file on the same descriptor.
type handle struct {
	n  *node
	fd int
	lf *fs.LoopbackFile
}

func (n *node) newHandle(fd int) *handle {
	return &handle{n: n, fd: fd, lf: fs.NewLoopbackFileFromOS(os.NewFile(uintptr(fd), n.backingPath()))}
}

// PassthroughFd declines FUSE passthrough, in which the kernel would read
// and write the real file without asking the file system.
func (h *handle) PassthroughFd() (int, bool) { return 0, false }

// Read reads, then lets the faults fail, slow or corrupt the read.
func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	k, err := syscall.Pread(h.fd, dest, off)
	if err != nil {
		return nil, fs.ToErrno(err)
	}
	k = max(k, 0)
	d := h.n.d
	d.mu.Lock()
	v := d.decide(diskmodel.Call{Op: diskmodel.OpRead, Path: h.n.rel(), Off: off, Len: int64(k)})
	d.mu.Unlock()
	sleep(v.Delay)
	if v.Err != "" {
		return nil, errno(v.Err)
	}
	v.Apply(dest[:k])
	return fuse.ReadResultData(dest[:k]), 0
}

// Write lets the faults refuse or slow the write, records what it
// overwrites in the undo log, and writes.
func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	n, d := h.n, h.n.d
	d.mu.Lock()
	defer d.mu.Unlock()
	size, err := fileSize(h.fd)
	if err != nil {
		return 0, fs.ToErrno(err)
	}
	end := off + int64(len(data))
	v := d.decide(diskmodel.Call{Op: diskmodel.OpWrite, Path: n.rel(), Off: off, Len: int64(len(data)), Grows: end > size})
	d.waitLocked(v.Delay)
	if v.Err != "" {
		return 0, errno(v.Err)
	}
	if size, err = fileSize(h.fd); err != nil {
		return 0, fs.ToErrno(err)
	}
	if err := n.begin(h.fd, size); err != nil {
		return 0, fs.ToErrno(err)
	}
	if err := n.save(off, end); err != nil {
		return 0, fs.ToErrno(err)
	}
	k, err := syscall.Pwrite(h.fd, data, off)
	if err != nil {
		return 0, fs.ToErrno(err)
	}
	return uint32(k), 0
}

// Fsync lets the faults fail or slow the fsync; a failed one drops the
// file's dirty data, a successful one makes it durable and clean.
func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	n, d := h.n, h.n.d
	d.mu.Lock()
	defer d.mu.Unlock()
	lo, hi := n.dirtyRange()
	v := d.decide(diskmodel.Call{Op: diskmodel.OpSync, Path: n.rel(), Off: lo, Len: hi - lo})
	d.waitLocked(v.Delay)
	if v.Err == diskmodel.EIO {
		if err := n.revert(); err != nil {
			d.log.Warn("diskfs: dropping dirty data after a failed fsync", "file", n.rel(), "err", err)
		}
		return syscall.EIO
	}
	if v.Err != "" {
		return errno(v.Err)
	}
	var err error
	if flags&1 != 0 { // FUSE_FSYNC_FDATASYNC
		err = syscall.Fdatasync(h.fd)
	} else {
		err = syscall.Fsync(h.fd)
	}
	if err != nil {
		return fs.ToErrno(err)
	}
	n.forget()
	return 0
}

// Allocate is fallocate: mode 0 growing the file is an allocation a full
// disk refuses; punching or zeroing a range is recorded in the undo log;
// modes that move data (collapse, insert) are refused.
func (h *handle) Allocate(ctx context.Context, off, size uint64, mode uint32) syscall.Errno {
	n, d := h.n, h.n.d
	if mode&(unix.FALLOC_FL_COLLAPSE_RANGE|unix.FALLOC_FL_INSERT_RANGE) != 0 {
		return syscall.EOPNOTSUPP
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	old, err := fileSize(h.fd)
	if err != nil {
		return fs.ToErrno(err)
	}
	end := int64(off + size)
	if mode == 0 && end > old {
		v := d.decide(diskmodel.Call{Op: diskmodel.OpAlloc, Path: n.rel(), Off: old, Len: end - old, Grows: true})
		d.waitLocked(v.Delay)
		if v.Err != "" {
			return errno(v.Err)
		}
		if old, err = fileSize(h.fd); err != nil {
			return fs.ToErrno(err)
		}
	}
	if err := n.begin(h.fd, old); err != nil {
		return fs.ToErrno(err)
	}
	if mode&(unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_ZERO_RANGE) != 0 {
		if err := n.save(int64(off), end); err != nil {
			return fs.ToErrno(err)
		}
	}
	return fs.ToErrno(syscall.Fallocate(h.fd, mode, int64(off), int64(size)))
}

// Getattr, Flush, Lseek and Release are the loopback file's.
func (h *handle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	return h.lf.Getattr(ctx, out)
}

func (h *handle) Flush(ctx context.Context) syscall.Errno { return h.lf.Flush(ctx) }

func (h *handle) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	return h.lf.Lseek(ctx, off, whence)
}

func (h *handle) Release(ctx context.Context) syscall.Errno { return h.lf.Release(ctx) }
