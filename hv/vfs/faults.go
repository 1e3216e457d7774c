package vfs

import (
	"maps"
	"path"
	"slices"

	"github.com/mvrun/multiverse/internal/diskmodel"
)

// Disk faults. The node's owner installs a [FaultHook]; the kernel asks it
// about every read, write, fsync and allocation of a regular file and
// carries out its verdict, using [FS.DropDirty] for a failed fsync (the
// dirty data is gone, as on Linux) and [FS.KeepPrefix] before [FS.Crash]
// for a torn write.

// IO is one I/O call on a regular file, as the kernel describes it to the
// fault hook.
type IO struct {
	Op    diskmodel.Op
	Inode *Inode
	Off   int64
	Len   int64 // bytes asked for; for a read, bytes read
	Grows bool  // a write that extends the file
}

// FaultHook decides what goes wrong with one I/O call.
type FaultHook func(io IO) diskmodel.Verdict

// SetFaultHook installs h (nil removes it).
func (f *FS) SetFaultHook(h FaultHook) { f.hook = h }

// FaultHook returns the installed hook, or nil.
func (f *FS) FaultHook() FaultHook { return f.hook }

// DirtyRange returns the bytes of regular file n that changed since its
// last sync: [lo, hi), empty if none. It is page-granular for overwrites
// and exact for growth and shrinking.
func (n *Inode) DirtyRange() (lo, hi int64) {
	u := n.disk.undo
	if u == nil {
		return 0, 0
	}
	cur := int64(len(n.Data))
	lo, hi = -1, 0
	if cur != u.size {
		lo, hi = min(cur, u.size), max(cur, u.size)
	}
	for p, saved := range u.pages {
		s, e := p*pageSize, p*pageSize+int64(len(saved))
		if lo < 0 || s < lo {
			lo = s
		}
		hi = max(hi, e)
	}
	if lo < 0 {
		return 0, 0
	}
	return lo, hi
}

// DropDirty reverts regular file n's bytes and size to its last sync, as
// when the kernel drops pages whose writeback failed: a later fsync has
// nothing left to write and succeeds, the data is lost.
func (f *FS) DropDirty(n *Inode) {
	u := n.disk.undo
	if u == nil {
		return
	}
	f.resize(n, u.size)
	for _, p := range slices.Sorted(maps.Keys(u.pages)) {
		copy(n.Data[p*pageSize:], u.pages[p])
	}
	n.disk.undo = nil
	f.Touch(n)
}

// KeepPrefix makes the first bytes of regular file n's unsynced change
// durable, up to offset cut, as a torn write leaves them: after a crash
// the file holds its new content before cut and its synced content from
// cut on; its size is the new size if cut reaches it, else the synced size
// or cut, whichever is larger, when the file grew. A file that shrank
// keeps its synced size unless cut covers the whole change.
func (f *FS) KeepPrefix(n *Inode, cut int64) {
	u := n.disk.undo
	if u == nil {
		return
	}
	lo, hi := n.DirtyRange()
	if cut <= lo {
		return
	}
	if cut >= hi {
		n.disk.undo = nil // all of it survives, as after fsync
		return
	}
	cur := int64(len(n.Data))
	for p, saved := range u.pages {
		s := p * pageSize
		e := s + int64(len(saved))
		switch {
		case s >= cut:
		case e <= cut && e <= cur:
			delete(u.pages, p) // the page's new bytes are durable
		case s < cur:
			k := min(cut, cur, e) - s
			copy(saved[:k], n.Data[s:s+k])
		}
	}
	if cur > u.size {
		u.size = max(u.size, min(cut, cur))
	}
}

// PathOf returns a path of n relative to dir, searching dir's tree in
// name order; ok is false if n is not under dir.
func (f *FS) PathOf(dir, n *Inode) (p string, ok bool) {
	type item struct {
		d    *Inode
		path string
	}
	queue := []item{{dir, ""}}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		for _, name := range it.d.Names() {
			c := it.d.children[name]
			cp := path.Join(it.path, name)
			if c == n {
				return cp, true
			}
			if c.IsDir() {
				queue = append(queue, item{c, cp})
			}
		}
	}
	return "", false
}

// DirtyFiles returns the regular files with unsynced bytes, in the order
// they were first changed since the last sync.
func (f *FS) DirtyFiles() []*Inode {
	var out []*Inode
	for _, n := range f.touched {
		if n.disk.undo != nil {
			out = append(out, n)
		}
	}
	return out
}
