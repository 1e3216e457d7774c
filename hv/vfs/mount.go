package vfs

import (
	"maps"
	"slices"
	"strings"

	"github.com/mvrun/multiverse/hv/abi"
)

// Mounts and volumes. A node's tree may mount other file systems at its
// directories or files: volumes ([NewVolume]), which several nodes' trees
// mount at once so they see one another's files (compose named volumes and
// bind mounts), and tmpfs ([NewTmpfs]), which one node mounts and which a
// crash of that node empties. Path lookups in the tree cross into a mount
// and ".." leads out of it again; the mounting tree's calls that change a
// volume are made in the volume, which records the tree as their writer so
// that the tree's crash reverts only its own unsynced changes there (see
// disk.go). A mount may be read-only for one tree and writable for
// another: guest calls that would change a read-only mount fail with
// EROFS, as do changes to a tree marked read-only with [FS.SetReadOnly].
// Host-side calls (MkdirAll, WriteFile, SeedFrom, AddDevice) are not
// refused: they describe the disk a node boots with.

// RootDev is the device number (st_dev) of a node's own tree.
const RootDev = 0x803

// mount is one file system mounted in a tree.
type mount struct {
	point    *Inode // in the mounting tree (or in another mount)
	target   *Inode // in vol: its root, or a file of it
	vol      *FS
	readOnly bool
}

// NewVolume returns an empty volume: a file system that nodes' trees mount
// with [FS.Mount] and share. dev is its st_dev, which the caller keeps
// distinct per volume of a cluster (and the same from run to run).
func NewVolume(clock Clock, dev uint64) *FS {
	v := New(clock)
	v.dev, v.shared = dev, true
	return v
}

// NewTmpfs returns an empty tmpfs for one node's tree: everything in it is
// lost when that node crashes.
func NewTmpfs(clock Clock, dev uint64) *FS {
	v := NewVolume(clock, dev)
	v.volatile = true
	return v
}

// Device returns n's st_dev: that of the file system holding it.
func (n *Inode) Device() uint64 {
	if n.fs == nil {
		return RootDev
	}
	return n.fs.dev
}

// SetReadOnly makes guest calls that would change f's own tree fail with
// EROFS (compose read_only: true); its mounts keep their own setting.
func (f *FS) SetReadOnly(ro bool) { f.readOnly = ro }

// Mount mounts target, the root or a regular file of volume vol, at path
// in f, which must exist and be of the same kind (a directory for a
// directory). The mount is read-only for f's guest calls if readOnly is
// set. Mounting over a mount point replaces that mount.
func (f *FS) Mount(path string, vol *FS, target *Inode, readOnly bool) error {
	if vol == nil || vol == f || target == nil || target.fs != vol {
		return abi.EINVAL
	}
	point, err := f.lookupPoint(path)
	if err != nil {
		return err
	}
	if point.IsDir() != target.IsDir() || (!point.IsDir() && point.Type() != target.Type()) {
		return abi.ENOTDIR
	}
	if f.byPoint == nil {
		f.byPoint, f.byTarget, f.volRO = map[*Inode]*mount{}, map[*Inode]*mount{}, map[*FS]bool{}
	}
	if old := f.byPoint[point]; old != nil {
		f.mounts = slices.DeleteFunc(f.mounts, func(m *mount) bool { return m == old })
		delete(f.byTarget, old.target)
	}
	m := &mount{point: point, target: target, vol: vol, readOnly: readOnly}
	f.mounts = append(f.mounts, m)
	f.byPoint[point] = m
	f.byTarget[target] = m
	// A volume mounted both ways is writable: a write through the writable
	// mount could not be told from one through the other.
	f.volRO[vol] = true
	for _, o := range f.mounts {
		if o.vol == vol && !o.readOnly {
			f.volRO[vol] = false
		}
	}
	return nil
}

// lookupPoint resolves path to the inode a new mount covers: the mount
// point itself when path is mounted on already.
func (f *FS) lookupPoint(path string) (*Inode, error) {
	dir, name, err := f.LookupParent(f.root, path)
	if err != nil {
		return nil, err
	}
	n := dir.children[name]
	if n == nil {
		return nil, abi.ENOENT
	}
	return n, nil
}

// cross returns what a lookup that reached n sees: the mounted inode when
// n is a mount point.
func (f *FS) cross(n *Inode) *Inode {
	if m := f.byPoint[n]; m != nil {
		return m.target
	}
	return n
}

// Mounted returns what f's tree shows at n: the inode mounted there when n
// is a mount point, else n. Host-side walks of a tree ([Inode.Child] sees
// the tree's own entries only) call it to descend into mounts.
func (f *FS) Mounted(n *Inode) *Inode {
	if n == nil {
		return nil
	}
	return f.cross(n)
}

// volumes returns the file systems f mounts, each once, in mount order.
func (f *FS) volumes() []*FS {
	var out []*FS
	for _, m := range f.mounts {
		if !slices.Contains(out, m.vol) {
			out = append(out, m.vol)
		}
	}
	return out
}

// on returns the file system that holds n, where a change to n is made;
// a change f's guest makes in a volume is recorded there as f's.
func (f *FS) on(n *Inode) *FS {
	o := n.fs
	if o == nil || o == f {
		return f
	}
	o.writer = f
	return o
}

// ReadOnly reports whether f's guest calls may not change n: it is in
// f's own tree and f is read-only, or in a volume f mounts only
// read-only.
func (f *FS) ReadOnly(n *Inode) bool {
	if n.fs == nil || n.fs == f {
		return f.readOnly
	}
	return f.volRO[n.fs]
}

func (f *FS) writable(n *Inode) error {
	if f.ReadOnly(n) {
		return abi.EROFS
	}
	return nil
}

// Path returns the absolute path of directory n as f's tree shows it,
// across mounts; a directory f cannot reach gives the path from the root
// of the file system holding it.
func (f *FS) Path(n *Inode) string {
	var parts []string
	for n != f.root {
		if m := f.byTarget[n]; m != nil {
			n = m.point
			continue
		}
		p := n.parent
		if p == nil || p == n {
			break
		}
		for _, name := range p.Names() {
			if p.children[name] == n {
				parts = append(parts, name)
				break
			}
		}
		n = p
	}
	slices.Reverse(parts)
	return "/" + strings.Join(parts, "/")
}

// syncWriter makes durable, in volume f, what node tree w changed there.
func (f *FS) syncWriter(w *FS) {
	f.each(w, func(n *Inode) {
		if n.disk.undo != nil && slices.Contains(n.disk.writers, w) {
			n.disk.undo, n.disk.writers = nil, nil
		}
		for _, name := range slices.Sorted(maps.Keys(n.disk.by)) {
			if n.disk.by[name] == w {
				f.persistEntry(n, name)
			}
		}
	})
}

// crashWriter reverts, in volume f, what node tree w changed there since
// it last synced (disk.go says what that is), or empties a tmpfs.
func (f *FS) crashWriter(w *FS) {
	if f.volatile {
		f.root.children = map[string]*Inode{}
		f.touched = nil
		f.relink(true)
		return
	}
	f.each(w, func(n *Inode) {
		if u := n.disk.undo; u != nil && slices.Contains(n.disk.writers, w) {
			f.resize(n, u.size)
			for _, p := range slices.Sorted(maps.Keys(u.pages)) {
				copy(n.Data[p*pageSize:], u.pages[p])
			}
			n.disk.undo, n.disk.writers = nil, nil
		}
		for _, name := range slices.Sorted(maps.Keys(n.disk.by)) {
			if n.disk.by[name] != w {
				continue
			}
			if d := n.disk.entries[name]; d != nil {
				n.children[name] = d
			} else {
				delete(n.children, name)
			}
			delete(n.disk.by, name)
		}
	})
	f.relink(false)
}

// each calls fn for every inode of volume f with unsynced changes, in the
// order they were first changed, then forgets those left clean. A
// directory whose changed entries are all back to (or made) durable is
// clean again.
func (f *FS) each(w *FS, fn func(n *Inode)) {
	keep := f.touched[:0:0]
	for _, n := range f.touched {
		fn(n)
		if n.disk.dirty && len(n.disk.by) == 0 {
			n.disk.entries, n.disk.dirty, n.disk.by = nil, false, nil
		}
		if n.Dirty() {
			keep = append(keep, n)
		} else {
			n.disk = diskState{}
		}
	}
	f.touched = keep
}
