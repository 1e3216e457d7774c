// Package diskfs is the disk fault file system of the process and docker
// backends: a FUSE file system mounted over a node's data directory that
// passes every call through to a real directory beside it and injects the
// disk faults of internal/diskmodel on the way, with the semantics hv's
// VMM file system gives them.
//
// The file system keeps, per file, an undo log of what changed since the
// file's last successful fsync: the synced size and the synced content of
// every page overwritten or cut off since. That is what the faults need:
// a failed fsync reverts the file to its last synced content (the dirty
// data is dropped, as Linux does since 4.13), and a kill under an armed
// lose_unsynced fault reverts every dirty file whole, or keeps a drawn
// prefix of the change (a torn write). Writes go to the real file at
// once, so reads and other processes see them, and a process crash
// without lose_unsynced loses nothing, as on a real kernel.
//
// Files are opened with FOPEN_DIRECT_IO, so every read and write of a
// program reaches the file system (the kernel's page cache would
// otherwise answer reads the faults must see); shared mappings still work
// through FUSE_DIRECT_IO_ALLOW_MMAP.
//
// A mount's source names the run that made it ("mvrun-<tag>"), so
// [Sweep] can unmount what a killed run left behind.
package diskfs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/mvrun/multiverse/internal/diskmodel"
)

// fsType is the type of every mount ("fuse.mvrun" in /proc/self/mountinfo).
const fsType = "mvrun"

// sourcePrefix starts every mount's source; the tag follows.
const sourcePrefix = "mvrun-"

// Available returns nil when this host can mount the file system, or an
// error saying what is missing: /dev/fuse, and either root (which mounts
// with mount(2)) or fusermount3.
func Available() error {
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("no usable /dev/fuse (%w); install fuse3 and load the fuse module", err)
	}
	f.Close()
	if os.Geteuid() == 0 {
		return nil
	}
	for _, name := range []string{"fusermount3", "fusermount"} {
		if _, err := exec.LookPath(name); err == nil {
			return nil
		}
	}
	return errors.New("neither root nor fusermount3 (install fuse3) to mount a FUSE file system")
}

// BackingDir returns the real directory the file system over dir passes
// through to: a hidden sibling, so it stays in the same place (and file
// system) as dir. After [FS.Unmount] its content is moved back to dir.
func BackingDir(dir string) string {
	return filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".disk")
}

// Config configures a mount.
type Config struct {
	// Dir is the data directory: the file system is mounted over it, and
	// the programs under test use it as before. Its content moves to
	// [BackingDir] for the time of the mount.
	Dir string
	// Tag identifies the run, for [Sweep]: letters, digits, '.', '-'.
	Tag string
	// OnHit is told about every fault hit, on the goroutine serving the
	// call (under the file system's lock: it must not block for long).
	OnHit func(diskmodel.Hit)
	// Log receives the file system's warnings; nil means slog.Default().
	Log *slog.Logger
}

// FS is one mounted disk fault file system: one node's disk.
type FS struct {
	cfg     Config
	backing string
	server  *fuse.Server
	conn    uint32 // the FUSE connection's number, for fusectl
	log     *slog.Logger

	mu    sync.Mutex
	model diskmodel.Disk
	dirty []*node // files with an undo log, in the order they first changed

	unmountOnce sync.Once
	unmountErr  error
}

// Mount moves cfg.Dir's content to its backing directory and mounts the
// file system over cfg.Dir. The caller must [FS.Unmount] it.
func Mount(cfg Config) (*FS, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("diskfs: %w", err)
	}
	cfg.Dir = dir
	d := &FS{cfg: cfg, backing: BackingDir(dir), log: cfg.Log}
	// The data moves aside and an empty directory with the same mode
	// becomes the mount point.
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("diskfs: %w", err)
	}
	if err := os.Rename(dir, d.backing); err != nil {
		return nil, fmt.Errorf("diskfs: moving the data aside: %w", err)
	}
	if err := os.Mkdir(dir, st.Mode().Perm()); err != nil {
		os.Rename(d.backing, dir)
		return nil, fmt.Errorf("diskfs: %w", err)
	}
	if err := d.mount(); err != nil {
		restore(dir, d.backing)
		return nil, err
	}
	return d, nil
}

func (d *FS) mount() error {
	var st syscall.Stat_t
	if err := syscall.Stat(d.backing, &st); err != nil {
		return fmt.Errorf("diskfs: %w", err)
	}
	root := os.Geteuid() == 0 // mount(2) directly, else fusermount3
	lroot := &fs.LoopbackRoot{Path: d.backing, Dev: st.Dev}
	// NewNode is deprecated in favour of NodeWrapChilder, whose WrapChild
	// hands over a *LoopbackNode already made; our node embeds its
	// LoopbackNode by value, and copying one (its Inode holds a mutex)
	// into it would be wrong. NewNode builds ours directly.
	//lint:ignore SA1019 see above
	lroot.NewNode = func(r *fs.LoopbackRoot, parent *fs.Inode, name string, st *syscall.Stat_t) fs.InodeEmbedder {
		return &node{LoopbackNode: fs.LoopbackNode{RootData: r}, d: d}
	}
	//lint:ignore SA1019 see above
	lroot.RootNode = lroot.NewNode(lroot, nil, "", &st)
	// Attributes are never cached: a failed fsync or a crash changes a
	// file's size behind the kernel's back. Entries are, briefly, since
	// names change only through the mount.
	entry, attr := time.Second, time.Duration(0)
	opts := &fs.Options{
		EntryTimeout: &entry, AttrTimeout: &attr, NegativeTimeout: &attr,
		MountOptions: fuse.MountOptions{
			AllowOther:        true, // container users, the daemon
			FsName:            sourcePrefix + d.cfg.Tag,
			Name:              fsType,
			DirectMountStrict: root,
			ExtraCapabilities: fuse.CAP_DIRECT_IO_ALLOW_MMAP,
			MaxWrite:          1 << 20,
		},
	}
	if root {
		// go-fuse opens /dev/fuse for mount(2) without O_CLOEXEC and
		// leaves it so; every program mvrun starts later would hold the
		// connection open, and a node's process exiting after mvrun died
		// would wait forever on the dead server. No fork may happen until
		// the descriptor is fixed (mount(2) itself forks nothing).
		syscall.ForkLock.RLock()
	}
	server, err := fs.Mount(d.cfg.Dir, lroot.RootNode, opts)
	if root {
		closeFUSEOnExec()
		syscall.ForkLock.RUnlock()
	}
	if err != nil {
		return fmt.Errorf("diskfs: mounting FUSE on %s: %w", d.cfg.Dir, err)
	}
	d.server = server
	var mst syscall.Stat_t
	if err := syscall.Stat(d.cfg.Dir, &mst); err == nil {
		d.conn = unix.Minor(mst.Dev)
	}
	return nil
}

// closeFUSEOnExec sets close-on-exec on every descriptor of /dev/fuse this
// process has.
func closeFUSEOnExec() {
	es, _ := os.ReadDir("/proc/self/fd")
	for _, e := range es {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if t, _ := os.Readlink("/proc/self/fd/" + e.Name()); t == "/dev/fuse" {
			syscall.CloseOnExec(fd)
		}
	}
}

// Dir returns the mount point, the node's data directory.
func (d *FS) Dir() string { return d.cfg.Dir }

// unmountWait bounds how long Unmount waits for the kernel to end the
// FUSE connection before it aborts it.
const unmountWait = 5 * time.Second

// Unmount detaches the file system, waits for its server to stop (a node's
// private mount namespace may still hold the mount until its last process
// is gone; after unmountWait the connection is aborted) and moves the data
// back into the data directory. It is safe to call more than once.
func (d *FS) Unmount() error {
	d.unmountOnce.Do(func() {
		if err := detach(d.cfg.Dir); err != nil {
			d.unmountErr = err
			return
		}
		done := make(chan struct{})
		go func() { d.server.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(unmountWait):
			d.log.Warn("diskfs: FUSE connection still in use after unmounting; aborting it", "dir", d.cfg.Dir)
			abort(d.conn)
			select {
			case <-done:
			case <-time.After(unmountWait):
				d.unmountErr = fmt.Errorf("diskfs: the FUSE server of %s did not stop", d.cfg.Dir)
				return
			}
		}
		d.mu.Lock()
		for _, n := range slices.Clone(d.dirty) {
			n.forget()
		}
		d.mu.Unlock()
		d.unmountErr = restore(d.cfg.Dir, d.backing)
	})
	return d.unmountErr
}

// detach unmounts dir lazily: it disappears at once, and the kernel ends
// the connection once nothing uses it.
func detach(dir string) error {
	err := syscall.Unmount(dir, syscall.MNT_DETACH)
	if err == nil || errors.Is(err, syscall.EINVAL) && !mounted(dir) {
		return nil
	}
	if os.Geteuid() != 0 {
		for _, name := range []string{"fusermount3", "fusermount"} {
			if out, ferr := exec.Command(name, "-u", "-z", dir).CombinedOutput(); ferr == nil {
				return nil
			} else if !errors.Is(ferr, exec.ErrNotFound) {
				err = fmt.Errorf("%w; %s: %s", err, name, out)
			}
		}
	}
	return fmt.Errorf("diskfs: unmounting %s: %w", dir, err)
}

// mounted reports whether one of this package's file systems is mounted on
// dir.
func mounted(dir string) bool {
	ms, _ := Mounts()
	return slices.ContainsFunc(ms, func(m Mounted) bool { return m.Dir == dir })
}

// abort aborts FUSE connection conn through fusectl, which fails every
// call still waiting on it with ECONNABORTED.
func abort(conn uint32) {
	const ctl = "/sys/fs/fuse/connections"
	p := filepath.Join(ctl, strconv.FormatUint(uint64(conn), 10), "abort")
	if _, err := os.Stat(p); err != nil {
		syscall.Mount("fusectl", ctl, "fusectl", 0, "")
	}
	os.WriteFile(p, []byte("1"), 0)
}

// restore moves the backing directory's content back to dir, the empty
// former mount point.
func restore(dir, backing string) error {
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("diskfs: removing the mount point %s: %w", dir, err)
	}
	if err := os.Rename(backing, dir); err != nil {
		return fmt.Errorf("diskfs: moving the data back to %s: %w", dir, err)
	}
	return nil
}

// Arm starts fault f: a window of its kind until [FS.Clear], or, for
// lose_unsynced, the behaviour of the next [FS.Crash]. An io_error window
// draws its file from the regular files there are now.
func (d *FS) Arm(f diskmodel.Fault) error {
	files := d.files()
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.model.Arm(f, files)
}

// Clear ends the window of kind k and returns how many calls it hit.
func (d *FS) Clear(k diskmodel.Kind) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.model.Clear(k)
}

// files lists the regular files under the backing directory, relative to
// it.
func (d *FS) files() []string {
	var out []string
	filepath.WalkDir(d.backing, func(p string, e os.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			rel, _ := filepath.Rel(d.backing, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out
}

// decide asks the model about c and reports its hits; d.mu is held.
func (d *FS) decide(c diskmodel.Call) diskmodel.Verdict {
	if !d.model.Active() {
		return diskmodel.Verdict{}
	}
	v := d.model.Decide(c)
	for _, h := range v.Hits {
		d.hit(h)
	}
	return v
}

func (d *FS) hit(h diskmodel.Hit) {
	if d.cfg.OnHit != nil {
		d.cfg.OnHit(h)
	}
}

// Crash is the node's kill, called once its processes are gone. With a
// lose_unsynced fault armed (it is consumed), every file's unsynced change
// is lost whole, or, torn, a drawn prefix of it survives, in the order the
// files first changed; without one nothing happens: a process crash leaves
// a real kernel's dirty pages in place, to be written back later.
func (d *FS) Crash() {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := d.model.TakeCrash()
	if f == nil {
		return
	}
	cut := diskmodel.NewCutter(*f)
	for _, n := range slices.Clone(d.dirty) {
		lo, hi := n.dirtyRange()
		h := diskmodel.Hit{Kind: diskmodel.LoseUnsynced, Op: diskmodel.OpCrash, Path: n.rel(), Off: lo, Len: hi - lo}
		if f.Torn {
			c := cut.Cut(lo, hi)
			n.keepPrefix(c)
			h.Effect = fmt.Sprintf("torn: bytes %d..%d survive, %d..%d back to their synced content", lo, c, c, hi)
		} else {
			h.Effect = fmt.Sprintf("bytes %d..%d back to their synced content", lo, hi)
		}
		if err := n.revert(); err != nil {
			d.log.Warn("diskfs: reverting unsynced data at a kill", "file", h.Path, "err", err)
		}
		d.hit(h)
	}
}

// sleep waits out a slow call's latency.
func sleep(delay time.Duration) {
	if delay > 0 {
		time.Sleep(delay)
	}
}

// errno converts the model's error.
func errno(e diskmodel.Errno) syscall.Errno {
	if e == diskmodel.ENOSPC {
		return syscall.ENOSPC
	}
	return syscall.EIO
}
