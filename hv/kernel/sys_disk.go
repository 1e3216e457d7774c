package kernel

import (
	"fmt"

	"github.com/mvrun/multiverse/hv/abi"
	"github.com/mvrun/multiverse/hv/vfs"
)

// This file holds the calls that decide what reaches the disk: the sync
// family, which marks files and directories durable in vfs's crash model,
// and fallocate, fadvise64 and statfs.

// fsyncInode makes n durable: stores through writable shared mappings of
// it (in any process of the node) are written back first, as fsync on
// Linux writes the mapping's dirty pages.
func (k *Kernel) fsyncInode(n *vfs.Inode) {
	if n.Type() == abi.SIfreg {
		writeBackAll(n)
	}
	k.fs.Fsync(n)
}

// flushWait parks t for the disk's flush latency (Config.SyncLatency) the
// first time it runs its current call, when there is something to flush,
// and reports whether it did; the call runs again once the latency has
// passed and then completes. A kill meanwhile finds the data not yet
// durable, as a power cut during a real flush would. O_SYNC/O_DSYNC
// writes and msync(MS_SYNC) are not charged.
func (k *Kernel) flushWait(t *Thread, dirty bool) bool {
	if k.cfg.SyncLatency <= 0 || !dirty || t.retrying || t.call == nil {
		return false
	}
	k.flushWaits++
	// block always parks the thread and returns errBlock, which the
	// caller returns when this reports true.
	_ = t.block(nil, k.clock.Now()+int64(k.cfg.SyncLatency), t.call, nil)
	return true
}

// sysFsync implements Linux syscall fsync(2) and fdatasync(2): a regular
// file's bytes or a directory's entries become durable. fsync of a file
// does not persist the directory entry naming it; fsync the directory.
func sysFsync(t *Thread, a *[6]uint64) (uint64, error) {
	d, err := t.k.files.get(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	switch f := d.file.(type) {
	case *regularFile:
		writeBackAll(f.n)
		if t.k.flushWait(t, f.n.Dirty()) {
			return 0, errBlock
		}
		if err := t.k.diskSync(f.n); err != nil {
			return 0, err
		}
		t.k.fsyncInode(f.n)
	case *dirFile:
		if t.k.flushWait(t, f.n.Dirty()) {
			return 0, errBlock
		}
		t.k.fsyncInode(f.n)
	default:
		// Pipes, eventfds, epoll, devices and the standard streams (a pipe
		// or terminal) cannot be synced, as on Linux.
		return 0, abi.EINVAL
	}
	return 0, nil
}

// sysSync implements Linux syscall sync(2): the node's whole file system
// becomes durable.
func sysSync(t *Thread, a *[6]uint64) (uint64, error) {
	if t.k.flushWait(t, true) {
		return 0, errBlock
	}
	t.k.syncAll()
	return 0, nil
}

// sysSyncfs implements Linux syscall syncfs(2); a node has one file system,
// so it is sync.
func sysSyncfs(t *Thread, a *[6]uint64) (uint64, error) {
	if _, err := t.k.files.get(argFD(a[0])); err != nil {
		return 0, err
	}
	if t.k.flushWait(t, true) {
		return 0, errBlock
	}
	t.k.syncAll()
	return 0, nil
}

// syncAll writes back the writable shared mappings of every file in the
// tree, in any process of the node, and makes the file system durable.
func (k *Kernel) syncAll() {
	for _, m := range k.shm { // also files no longer in the tree
		m.writeBack()
	}
	dirs := []*vfs.Inode{k.fs.Root()}
	for len(dirs) > 0 {
		d := dirs[len(dirs)-1]
		dirs = dirs[:len(dirs)-1]
		for _, name := range d.Names() {
			switch c := d.Child(name); c.Type() {
			case abi.SIfdir:
				dirs = append(dirs, c)
			case abi.SIfreg:
				writeBackAll(c)
			}
		}
	}
	k.fs.Sync()
}

// sysFallocate implements Linux syscall fallocate(2) for mode 0 (extend
// the file to cover the range) and FALLOC_FL_KEEP_SIZE (reserve only, which
// an in-memory disk has nothing to do for).
func sysFallocate(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	mode, off, length := a[1], int64(a[2]), int64(a[3])
	d, err := k.files.get(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	if off < 0 || length <= 0 {
		return 0, abi.EINVAL
	}
	if d.flags&abi.OAccmode == abi.ORdonly {
		return 0, abi.EBADF
	}
	r, ok := d.file.(*regularFile)
	switch {
	case inodeOf(d.file) == nil:
		return 0, abi.ESPIPE
	case !ok:
		return 0, abi.ENODEV
	}
	switch mode {
	case 0:
		if end := off + length; end > int64(len(r.n.Data)) {
			if end > vfs.MaxFileSize {
				return 0, abi.EFBIG
			}
			if err := r.truncate(end); err != nil {
				return 0, err
			}
		}
	case abi.FallocFlKeepSize:
	default:
		return 0, k.unsupported(fmt.Sprintf("fallocate(mode %#x)", mode), abi.EOPNOTSUPP)
	}
	if d.flags&abi.ODsync != 0 {
		k.fsyncInode(r.n)
	}
	return 0, nil
}

// sysFadvise64 implements Linux syscall fadvise64(2): advice is checked
// and ignored, since every file is in memory.
func sysFadvise64(t *Thread, a *[6]uint64) (uint64, error) {
	d, err := t.k.files.get(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	if inodeOf(d.file) == nil {
		return 0, abi.ESPIPE
	}
	if a[3] > abi.FadvNoreuse || int64(a[2]) < 0 {
		return 0, abi.EINVAL
	}
	return 0, nil
}

// The numbers statfs reports: an ext4-like file system of 1 TiB in 4 KiB
// blocks, a quarter used, with 64 Mi inodes. They are fixed, so a guest's
// view of free space does not depend on what other nodes store.
const (
	fsBlockSize = 4096
	fsBlocks    = 1 << 40 / fsBlockSize
	fsFree      = fsBlocks / 4 * 3
	fsAvail     = fsFree - fsBlocks/20 // ext4 reserves 5% for root
	fsFiles     = 64 << 20
	fsFreeFiles = fsFiles - 1<<20
	fsNameLen   = 255
	stRelatime  = 0x1000 // ST_RELATIME, as ext4 mounts by default
)

func (k *Kernel) writeStatfs(va uint64) error {
	b := make(le, abi.StatfsSize)
	b.u64(0, abi.Ext4SuperMagic)
	b.u64(8, fsBlockSize)
	b.u64(16, fsBlocks)
	b.u64(24, fsFree)
	b.u64(32, fsAvail)
	b.u64(40, fsFiles)
	b.u64(48, fsFreeFiles)
	b.u32(56, 0x6d76) // f_fsid
	b.u32(60, 0x7275)
	b.u64(64, fsNameLen)
	b.u64(72, fsBlockSize) // f_frsize
	b.u64(80, stRelatime)
	return k.copyOut(b, va)
}

// sysStatfs implements Linux syscall statfs(2) with fixed ext4-like numbers.
func sysStatfs(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	p, err := k.readPath(a[0])
	if err != nil {
		return 0, err
	}
	if _, err := k.fs.Lookup(k.cwd, p, true); err != nil {
		return 0, err
	}
	return 0, k.writeStatfs(a[1])
}

// sysFstatfs implements Linux syscall fstatfs(2) with fixed ext4-like
// numbers.
func sysFstatfs(t *Thread, a *[6]uint64) (uint64, error) {
	if _, err := t.k.files.get(argFD(a[0])); err != nil {
		return 0, err
	}
	return 0, t.k.writeStatfs(a[1])
}
