package vfs

import (
	"maps"
	"slices"

	"github.com/mvrun/multiverse/hv/abi"
)

// The crash model. A node's file system outlives its processes; when the
// node is killed it loses what a real disk loses in a power cut:
//
//   - A regular file's bytes (and size) written since its last fsync or
//     fdatasync revert to their content at that sync. [FS.Fsync] records a
//     file as durable; so does a write through an O_SYNC/O_DSYNC descriptor
//     (the kernel calls Fsync after it) and [FS.Sync].
//   - A directory's entries (create, unlink, rename, mkdir, rmdir, link,
//     symlink) survive only once that directory was fsynced (or after
//     Sync). Fsync of a file never persists the entry naming it: a file
//     created and fsynced in a directory that was not is gone after a crash.
//   - A rename changes two entries; each is durable when its directory is
//     fsynced, so a rename between two directories survives whole only
//     once both were.
//
// To stay cheap the durable state is kept only for what changed since the
// last sync: the original bytes of each page of a file written since its
// sync (copied on the first write to that page), and a copy of a
// directory's entry table taken at its first change since its sync.
//
// A volume (mount.go) is one disk that several nodes' trees mount, and
// its record is kept per writer: a node's crash reverts what that node
// changed since it last synced, and leaves other nodes' changes. The
// unit is the file and the directory entry: a directory entry goes back
// to its durable state when the crashed node was the last to change it,
// and a regular file's bytes go back to their last sync when the crashed
// node wrote any of them, together with what other nodes wrote to the
// same file since that sync (the page cache is per file, not per writer).
// An fsync of a file or directory by any node makes it durable for all;
// sync and syncfs make durable what the calling node changed.

// pageSize is the granularity at which a file's durable bytes are kept.
const pageSize = 4096

// diskState is an inode's record of its durable state.
type diskState struct {
	listed bool      // in FS.touched
	undo   *fileUndo // regular file changed since its last sync
	// entries holds a directory's entries at its last sync while dirty.
	entries map[string]*Inode
	dirty   bool
	// In a volume: the nodes that wrote a regular file's bytes since its
	// last sync, and the node that last changed each directory entry.
	writers []*FS
	by      map[string]*FS
}

// fileUndo is a regular file's content at its last sync, kept as the file's
// size then and the original bytes of the pages changed since.
type fileUndo struct {
	size  int64
	pages map[int64][]byte // page index → bytes at the last sync
}

func (f *FS) list(n *Inode) {
	if !n.disk.listed {
		n.disk.listed = true
		f.touched = append(f.touched, n)
	}
}

// dirChanged records dir's entries as durable before its first change since
// its last sync, and in a volume who is changing entry name.
func (f *FS) dirChanged(dir *Inode, name string) {
	if !dir.disk.dirty {
		dir.disk.entries = maps.Clone(dir.children)
		dir.disk.dirty = true
		f.list(dir)
	}
	if f.shared {
		if dir.disk.by == nil {
			dir.disk.by = map[string]*FS{}
		}
		dir.disk.by[name] = f.writer
	}
}

// wrote records, in a volume, that the current writer changed n's bytes.
func (f *FS) wrote(n *Inode) {
	if f.shared && !slices.Contains(n.disk.writers, f.writer) {
		n.disk.writers = append(n.disk.writers, f.writer)
	}
}

// persistEntry makes entry name of dir durable as it is now (host-side
// calls describe the disk the node boots with).
func (f *FS) persistEntry(dir *Inode, name string) {
	if dir == nil || !dir.disk.dirty {
		return
	}
	if n := dir.children[name]; n != nil {
		dir.disk.entries[name] = n
	} else {
		delete(dir.disk.entries, name)
	}
	delete(dir.disk.by, name)
}

// saveRange keeps the durable bytes of every page of n's content that a
// change of bytes [off, end) touches, before the change is made.
func (f *FS) saveRange(n *Inode, off, end int64) {
	u := n.disk.undo
	if u == nil {
		u = &fileUndo{size: int64(len(n.Data)), pages: map[int64][]byte{}}
		n.disk.undo = u
		f.list(n)
	}
	f.wrote(n)
	end = min(end, u.size)
	for p := off / pageSize; p*pageSize < end; p++ {
		if _, ok := u.pages[p]; ok {
			continue
		}
		// Pages not saved yet still hold their durable bytes.
		lo, hi := p*pageSize, min((p+1)*pageSize, u.size)
		u.pages[p] = append([]byte(nil), n.Data[lo:hi]...)
	}
}

// MaxFileSize is the largest regular file size (writes beyond fail with
// EFBIG).
const MaxFileSize = 1 << 30

// WriteAt writes b at offset off of regular file n, extending it with
// zeros if off is past the end.
func (f *FS) WriteAt(n *Inode, b []byte, off int64) (int, error) {
	if err := f.writable(n); err != nil {
		return 0, err
	}
	f = f.on(n)
	end := off + int64(len(b))
	if off < 0 {
		return 0, abi.EINVAL
	}
	if end > MaxFileSize {
		return 0, abi.EFBIG
	}
	if len(b) == 0 {
		return 0, nil
	}
	old := int64(len(n.Data))
	f.saveRange(n, min(off, old), end)
	if end > old {
		f.resize(n, end)
	}
	copy(n.Data[off:], b)
	f.Touch(n)
	if n.OnWrite != nil {
		n.OnWrite(off, int64(len(b)))
	}
	return len(b), nil
}

// Truncate sets regular file n's size, dropping bytes past it or adding
// zeros.
func (f *FS) Truncate(n *Inode, size int64) error {
	if err := f.writable(n); err != nil {
		return err
	}
	f = f.on(n)
	if size < 0 {
		return abi.EINVAL
	}
	if size > MaxFileSize {
		return abi.EFBIG
	}
	old := int64(len(n.Data))
	if size == old {
		return nil
	}
	f.saveRange(n, min(size, old), max(size, old))
	f.resize(n, size)
	f.Touch(n)
	return nil
}

// resize changes len(n.Data), zero-filling growth.
func (f *FS) resize(n *Inode, size int64) {
	if size <= int64(cap(n.Data)) {
		old := len(n.Data)
		n.Data = n.Data[:size]
		clear(n.Data[min(old, int(size)):])
		return
	}
	nd := make([]byte, size, size+size/4)
	copy(nd, n.Data)
	n.Data = nd
}

// Fsync makes n durable as it is now: a regular file's content, or a
// directory's entries. It does not persist the entries that name n.
func (f *FS) Fsync(n *Inode) {
	n.disk.undo, n.disk.writers = nil, nil
	n.disk.entries, n.disk.dirty, n.disk.by = nil, false, nil
}

// Sync makes the whole file system durable as it is now (sync, syncfs),
// and in the volumes it mounts what it changed there.
func (f *FS) Sync() {
	for _, n := range f.touched {
		n.disk = diskState{}
	}
	f.touched = nil
	for _, v := range f.volumes() {
		v.syncWriter(f)
	}
}

// Dirty reports whether n has changes a crash would lose: file bytes
// written, or directory entries changed, since its last sync.
func (n *Inode) Dirty() bool { return n.disk.undo != nil || n.disk.dirty }

// Crash reverts the file system to its durable state, as a power cut
// would: every file's bytes to their last sync, every directory's entries
// to its last sync. Afterwards the tree is exactly the durable state:
// what no durable entry reaches is gone, link counts are recounted, and
// the kernel's per-inode state ([Inode.Shared]) is cleared. In the volumes
// it mounts, what it changed since it last synced is reverted and a tmpfs
// is emptied (mount.go). Call it only once every process of the node has
// stopped.
func (f *FS) Crash() {
	for _, n := range f.touched {
		if u := n.disk.undo; u != nil {
			// In place: pages past the current size were all saved when the
			// file shrank, so growth's zeros are overwritten below.
			f.resize(n, u.size)
			for _, p := range slices.Sorted(maps.Keys(u.pages)) {
				copy(n.Data[p*pageSize:], u.pages[p])
			}
		}
		if n.disk.dirty {
			n.children = n.disk.entries
			if n.children == nil {
				n.children = map[string]*Inode{}
			}
		}
		n.disk = diskState{}
	}
	f.touched = nil
	f.relink(true)
	for _, v := range f.volumes() {
		v.crashWriter(f)
	}
}

// relink recomputes parents and link counts over the tree reachable from
// the root, breadth first in name order. A directory reachable under two
// names (a rename between directories of which only the target was
// fsynced) keeps the first name met and loses the other, since a directory
// has one parent. With clear set the kernel's per-inode state goes too
// (not in a volume, where other nodes' processes may hold it).
func (f *FS) relink(clear bool) {
	seen := map[*Inode]bool{f.root: true}
	f.root.parent, f.root.Nlink = f.root, 2
	if clear {
		f.root.Shared = nil
	}
	queue := []*Inode{f.root}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		for _, name := range d.Names() {
			c := d.children[name]
			switch {
			case c.IsDir() && seen[c]:
				delete(d.children, name)
			case c.IsDir():
				seen[c] = true
				c.parent, c.Nlink = d, 2
				if clear {
					c.Shared = nil
				}
				d.Nlink++
				queue = append(queue, c)
			default:
				if !seen[c] {
					seen[c] = true
					c.Nlink = 0
					if clear {
						c.Shared = nil
					}
				}
				c.Nlink++
			}
		}
	}
}
