// Package vfs is the in-memory file system of one hv node: a tree of
// directories, regular files, symbolic links and device nodes, seeded from a
// host directory and never written back to it. It outlives the node's
// processes and keeps what a disk would keep through a power cut: [FS.Crash]
// reverts it to what was made durable by fsync and sync (disk.go). A tree
// may mount volumes that other nodes' trees mount too, and tmpfs
// (mount.go); a volume keeps its crash record per writer.
//
// Errors are [abi.Errno] values, so system call handlers return them as is.
package vfs

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mvrun/multiverse/hv/abi"
)

// Device is the behaviour of a character device node such as /dev/null.
type Device interface {
	Read(b []byte) (int, error)
	Write(b []byte) (int, error)
}

// Inode is one file system object.
type Inode struct {
	Ino  uint64
	Mode uint32 // file type and permission bits, as st_mode
	// Data is a regular file's contents. Read it freely; change it only
	// through [FS.WriteAt] and [FS.Truncate], which keep the crash model's
	// record of what is durable.
	Data   []byte
	Target string // symbolic link target
	Dev    Device // character device behaviour
	Mtime  int64  // virtual wall-clock nanoseconds
	Nlink  uint32
	// OnWrite, if set, is called after every write to the file's data,
	// with the offset and length written: the host watches files through
	// it (the SDK output files a node's processes append to).
	OnWrite func(off, n int64) `snap:"keep"` // the host's: shared by snapshots
	// Shared is state the kernel keeps per inode and shares among the
	// node's processes (record locks, shared mappings). vfs never reads it;
	// [FS.Crash] clears it, since a crash ends every process.
	Shared any

	children map[string]*Inode
	parent   *Inode
	disk     diskState // what survives a crash (disk.go)
	fs       *FS       // the file system (node tree or volume) holding n
}

// IsDir reports whether n is a directory.
func (n *Inode) IsDir() bool { return n.Mode&abi.SIfmt == abi.SIfdir }

// Type returns the file type bits of n.
func (n *Inode) Type() uint32 { return n.Mode & abi.SIfmt }

// Names returns the names in directory n in sorted order.
func (n *Inode) Names() []string {
	names := make([]string, 0, len(n.children))
	for k := range n.children {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Child returns the entry name of directory n.
func (n *Inode) Child(name string) *Inode { return n.children[name] }

// Parent returns n's parent directory (the root is its own parent).
func (n *Inode) Parent() *Inode { return n.parent }

// FS is an in-memory file system.
type FS struct {
	root    *Inode
	nextIno uint64
	clock   Clock // the node's clock: modification times
	// touched lists, in the order they were first changed, the inodes with
	// changes since the last sync (disk.go); no map, so Crash and Sync do
	// not depend on iteration order.
	touched []*Inode
	hook    FaultHook `snap:"zero"` // disk faults (faults.go); nil: none; set again on restore

	// Mounts and volumes (mount.go).
	dev      uint64 // st_dev of its inodes
	readOnly bool   // guest calls may not change the tree (compose read_only)
	// shared marks a volume: a file system several nodes' trees mount,
	// whose crash record is kept per writer.
	shared   bool
	volatile bool // a tmpfs: a crash of its node empties it
	writer   *FS  // the node tree whose call is changing this volume now
	mounts   []*mount
	byPoint  map[*Inode]*mount // mount point in this tree → its mount
	byTarget map[*Inode]*mount // mounted inode → its mount
	volRO    map[*FS]bool      // volumes this tree mounts only read-only
}

// Clock supplies the (virtual) wall-clock time, in nanoseconds, stamped on
// modified files. A file system keeps it as data (a node's *sched.Clock),
// so a snapshot of a cluster copies the clock with the file systems that
// read it, volumes included.
type Clock interface{ Wall() int64 }

// ClockFunc adapts a function to [Clock], for file systems that are never
// snapshotted (a snapshot refuses state that holds a function).
type ClockFunc func() int64

// Wall returns f().
func (f ClockFunc) Wall() int64 { return f() }

// New returns a file system holding an empty root directory, whose files
// are stamped with clock's time.
func New(clock Clock) *FS {
	f := &FS{nextIno: 1, clock: clock, dev: RootDev}
	f.root = f.newInode(abi.SIfdir | 0o755)
	f.root.parent = f.root
	return f
}

// now is the time stamped on a file changed now.
func (f *FS) now() int64 { return f.clock.Wall() }

// Root returns the root directory.
func (f *FS) Root() *Inode { return f.root }

func (f *FS) newInode(mode uint32) *Inode {
	n := &Inode{Ino: f.nextIno, Mode: mode, Nlink: 1, Mtime: f.now(), fs: f}
	f.nextIno++
	if mode&abi.SIfmt == abi.SIfdir {
		n.children = map[string]*Inode{}
		n.Nlink = 2
	}
	return n
}

// Touch records a modification of n at the current virtual time.
func (f *FS) Touch(n *Inode) { n.Mtime = f.now() }

// SeedFrom copies the tree under host directory dir into the root. Only
// directories, regular files and symbolic links are copied.
func (f *FS) SeedFrom(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		parent, name, err := f.LookupParent(f.root, "/"+filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		perm := uint32(info.Mode().Perm())
		switch {
		case d.IsDir():
			_, err = f.mkdir(parent, name, perm)
		case d.Type()&fs.ModeSymlink != 0:
			t, err2 := os.Readlink(p)
			if err2 != nil {
				return err2
			}
			_, err = f.symlink(parent, name, t)
		case d.Type().IsRegular():
			data, err2 := os.ReadFile(p)
			if err2 != nil {
				return err2
			}
			var n *Inode
			n, err = f.create(parent, name, perm)
			if err == nil {
				n.Data = data
			}
		}
		if err == abi.EEXIST {
			err = nil
		}
		f.persistEntry(parent, name)
		return err
	})
}

// MkdirAll creates directory path (absolute) and its parents. Like the
// other host-side calls (SeedFrom, AddDevice, WriteFile) its changes are
// durable at once: they describe the disk the node boots with.
func (f *FS) MkdirAll(path string) (*Inode, error) {
	n := f.root
	for _, c := range strings.Split(path, "/") {
		if c == "" {
			continue
		}
		if next := n.children[c]; next != nil {
			n = f.cross(next)
			continue
		}
		parent := n
		var err error
		if n, err = f.mkdir(parent, c, 0o755); err != nil {
			return nil, err
		}
		f.persistEntry(parent, c)
	}
	return n, nil
}

// AddDevice creates character device path (absolute) backed by d.
func (f *FS) AddDevice(path string, d Device) error {
	dir, name, err := f.LookupParent(f.root, path)
	if err != nil {
		return err
	}
	o := f.on(dir)
	n := o.newInode(abi.SIfchr | 0o666)
	n.Dev = d
	if err := o.link(dir, name, n); err != nil {
		return err
	}
	f.persistEntry(dir, name)
	return nil
}

// WriteFile creates or replaces regular file path (absolute); the result is
// durable at once (a host-side call, like SeedFrom).
func (f *FS) WriteFile(path string, data []byte, perm uint32) error {
	dir, name, err := f.LookupParent(f.root, path)
	if err != nil {
		return err
	}
	n := dir.children[name]
	if n == nil {
		if n, err = f.create(dir, name, perm); err != nil {
			return err
		}
		f.persistEntry(dir, name)
	}
	n.Data = append([]byte(nil), data...)
	n.disk.undo, n.disk.writers = nil, nil // the host's content is durable as written
	return nil
}

const maxSymlinks = 40

// Lookup resolves path relative to dir (absolute paths start at the root).
// The last component's symbolic link is followed when follow is set.
func (f *FS) Lookup(dir *Inode, path string, follow bool) (*Inode, error) {
	return f.lookup(dir, path, follow, 0)
}

func (f *FS) lookup(dir *Inode, path string, follow bool, depth int) (*Inode, error) {
	if path == "" {
		return nil, abi.ENOENT
	}
	if strings.HasPrefix(path, "/") {
		dir = f.root
	}
	parts := strings.Split(path, "/")
	n := dir
	for i, c := range parts {
		if c == "" || c == "." {
			if !n.IsDir() {
				return nil, abi.ENOTDIR
			}
			continue
		}
		if !n.IsDir() {
			return nil, abi.ENOTDIR
		}
		if c == ".." {
			if m := f.byTarget[n]; m != nil {
				n = m.point // leave a mounted directory for its mount point's parent
			}
			n = n.parent
			continue
		}
		if len(c) > 255 {
			return nil, abi.ENAMETOOLONG
		}
		next := n.children[c]
		if next == nil {
			return nil, abi.ENOENT
		}
		next = f.cross(next)
		last := i == len(parts)-1
		if next.Type() == abi.SIflnk && (!last || follow) {
			if depth >= maxSymlinks {
				return nil, abi.ELOOP
			}
			var err error
			if next, err = f.lookup(n, next.Target, true, depth+1); err != nil {
				return nil, err
			}
		}
		n = next
	}
	return n, nil
}

// LookupParent resolves all but the last component of path and returns the
// directory and the last component's name.
func (f *FS) LookupParent(dir *Inode, path string) (*Inode, string, error) {
	path = strings.TrimRight(path, "/")
	if path == "" {
		return nil, "", abi.EEXIST // the root itself
	}
	i := strings.LastIndexByte(path, '/')
	name := path[i+1:]
	if i >= 0 {
		p := path[:i]
		if p == "" {
			p = "/"
		}
		var err error
		if dir, err = f.Lookup(dir, p, true); err != nil {
			return nil, "", err
		}
	}
	if !dir.IsDir() {
		return nil, "", abi.ENOTDIR
	}
	if name == "." || name == ".." {
		return nil, "", abi.EINVAL
	}
	if len(name) > 255 {
		return nil, "", abi.ENAMETOOLONG
	}
	return dir, name, nil
}

func (f *FS) link(dir *Inode, name string, n *Inode) error {
	if dir.children[name] != nil {
		return abi.EEXIST
	}
	f.dirChanged(dir, name)
	dir.children[name] = n
	if n.IsDir() {
		n.parent = dir
		dir.Nlink++
	}
	f.Touch(dir)
	return nil
}

// Create makes an empty regular file name in dir.
func (f *FS) Create(dir *Inode, name string, perm uint32) (*Inode, error) {
	if err := f.writable(dir); err != nil {
		return nil, err
	}
	return f.create(dir, name, perm)
}

func (f *FS) create(dir *Inode, name string, perm uint32) (*Inode, error) {
	return f.makeNode(dir, name, abi.SIfreg|perm&0o7777)
}

// makeNode links a new inode of mode (type and permissions) as name in dir,
// in the file system that holds dir (a volume mounted there, or f).
func (f *FS) makeNode(dir *Inode, name string, mode uint32) (*Inode, error) {
	o := f.on(dir)
	n := o.newInode(mode)
	return n, o.link(dir, name, n)
}

// Mksock makes a socket inode name in dir (an AF_UNIX socket bound to a
// path name).
func (f *FS) Mksock(dir *Inode, name string, perm uint32) (*Inode, error) {
	if err := f.writable(dir); err != nil {
		return nil, err
	}
	return f.makeNode(dir, name, abi.SIfsock|perm&0o7777)
}

// Mkdir makes directory name in dir.
func (f *FS) Mkdir(dir *Inode, name string, perm uint32) (*Inode, error) {
	if err := f.writable(dir); err != nil {
		return nil, err
	}
	return f.mkdir(dir, name, perm)
}

func (f *FS) mkdir(dir *Inode, name string, perm uint32) (*Inode, error) {
	return f.makeNode(dir, name, abi.SIfdir|perm&0o7777)
}

// Symlink makes symbolic link name in dir pointing at target.
func (f *FS) Symlink(dir *Inode, name, target string) (*Inode, error) {
	if err := f.writable(dir); err != nil {
		return nil, err
	}
	return f.symlink(dir, name, target)
}

func (f *FS) symlink(dir *Inode, name, target string) (*Inode, error) {
	o := f.on(dir)
	n := o.newInode(abi.SIflnk | 0o777)
	n.Target = target
	return n, o.link(dir, name, n)
}

// Unlink removes entry name from dir. With rmdir set it removes an empty
// directory, otherwise a non-directory.
func (f *FS) Unlink(dir *Inode, name string, rmdir bool) error {
	if err := f.writable(dir); err != nil {
		return err
	}
	n := dir.children[name]
	if n == nil {
		return abi.ENOENT
	}
	if f.byPoint[n] != nil {
		return abi.EBUSY
	}
	if rmdir {
		if !n.IsDir() {
			return abi.ENOTDIR
		}
		if len(n.children) > 0 {
			return abi.ENOTEMPTY
		}
		dir.Nlink--
	} else if n.IsDir() {
		return abi.EISDIR
	}
	o := f.on(dir)
	o.dirChanged(dir, name)
	delete(dir.children, name)
	n.Nlink--
	o.Touch(dir)
	return nil
}

// Rename moves entry oldName of oldDir to newName of newDir, replacing a
// compatible existing entry as rename(2) does. Both must be in the same
// file system (EXDEV across a mount), and neither may be a mount point.
func (f *FS) Rename(oldDir *Inode, oldName string, newDir *Inode, newName string) error {
	if err := f.writable(oldDir); err != nil {
		return err
	}
	if oldDir.fs != newDir.fs {
		return abi.EXDEV
	}
	n := oldDir.children[oldName]
	if n == nil {
		return abi.ENOENT
	}
	if f.byPoint[n] != nil || f.byPoint[newDir.children[newName]] != nil {
		return abi.EBUSY
	}
	o := f.on(oldDir)
	if old := newDir.children[newName]; old != nil {
		if old == n {
			return nil
		}
		switch {
		case old.IsDir() && !n.IsDir():
			return abi.EISDIR
		case !old.IsDir() && n.IsDir():
			return abi.ENOTDIR
		case old.IsDir() && len(old.children) > 0:
			return abi.ENOTEMPTY
		}
		if err := f.Unlink(newDir, newName, old.IsDir()); err != nil {
			return err
		}
	}
	if n.IsDir() {
		// Moving a directory into its own subtree would detach it.
		for d := newDir; ; d = d.parent {
			if d == n {
				return abi.EINVAL
			}
			if d == d.parent {
				break
			}
		}
		oldDir.Nlink--
	}
	o.dirChanged(oldDir, oldName)
	delete(oldDir.children, oldName)
	return o.link(newDir, newName, n)
}

// Link makes name in dir another name of n (a hard link). Directories
// cannot be linked (EPERM), nor files of another file system (EXDEV).
func (f *FS) Link(dir *Inode, name string, n *Inode) error {
	if err := f.writable(dir); err != nil {
		return err
	}
	if n.IsDir() {
		return abi.EPERM
	}
	if n.fs != dir.fs {
		return abi.EXDEV
	}
	if err := f.on(dir).link(dir, name, n); err != nil {
		return err
	}
	n.Nlink++
	return nil
}

// Exchange swaps entries name1 of dir1 and name2 of dir2 atomically, as
// renameat2(RENAME_EXCHANGE) does; both must exist, in one file system.
func (f *FS) Exchange(dir1 *Inode, name1 string, dir2 *Inode, name2 string) error {
	if err := f.writable(dir1); err != nil {
		return err
	}
	if dir1.fs != dir2.fs {
		return abi.EXDEV
	}
	a, b := dir1.children[name1], dir2.children[name2]
	if a == nil || b == nil {
		return abi.ENOENT
	}
	if a == b {
		return nil
	}
	if f.byPoint[a] != nil || f.byPoint[b] != nil {
		return abi.EBUSY
	}
	// Neither may end up inside itself.
	for _, c := range []struct{ n, into *Inode }{{a, dir2}, {b, dir1}} {
		if !c.n.IsDir() {
			continue
		}
		for d := c.into; ; d = d.parent {
			if d == c.n {
				return abi.EINVAL
			}
			if d == d.parent {
				break
			}
		}
	}
	o := f.on(dir1)
	o.dirChanged(dir1, name1)
	o.dirChanged(dir2, name2)
	dir1.children[name1], dir2.children[name2] = b, a
	if a.IsDir() {
		a.parent = dir2
		dir1.Nlink--
		dir2.Nlink++
	}
	if b.IsDir() {
		b.parent = dir1
		dir2.Nlink--
		dir1.Nlink++
	}
	o.Touch(dir1)
	o.Touch(dir2)
	return nil
}
