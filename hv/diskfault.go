package hv

import (
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/mvrun/multiverse/hv/abi"
	"github.com/mvrun/multiverse/hv/vfs"
	"github.com/mvrun/multiverse/internal/diskmodel"
)

// Disk faults act on a node's data directory: the regular files under it
// (except mvrun's own, under /run/mvrun). The per-call decisions come from
// internal/diskmodel, drawn in the order the node's programs make their
// calls, which the scheduler fixes from the seed; so a seed replays the
// same faults at the same calls (the same trace hash).

// DiskHit is one disk fault acting on one call of a node's programs (or on
// a kill), for the fault log.
type DiskHit struct {
	At   time.Duration // cluster time
	Node string
	diskmodel.Hit
}

// String renders h as "kv1: fsync_error fsync wal off=0 len=4096: EIO, ...".
func (h DiskHit) String() string { return h.Node + ": " + h.Hit.String() }

// diskTrace tags disk fault events in the trace: arming, clearing, and
// each hit.
const diskTrace = 'F'

// nodeDisk is a node's disk fault state.
type nodeDisk struct {
	n     *Node
	model diskmodel.Disk
	dir   string        // data directory, absolute in the node's file system
	log   func(DiskHit) `snap:"keep"` // the caller's: shared by snapshots
}

func (n *Node) diskState() *nodeDisk {
	if n.disk == nil {
		n.disk = &nodeDisk{n: n, dir: "/"}
		n.fs.SetFaultHook(n.disk.hook)
	}
	return n.disk
}

// SetDataDir sets the directory disk faults act on (default "/"); paths in
// [DiskHit]s are relative to it.
func (n *Node) SetDataDir(dir string) { n.diskState().dir = path.Clean("/" + dir) }

// OnDiskHit sets the function told about every disk fault hit on the node
// (called on the run loop).
func (n *Node) OnDiskHit(fn func(DiskHit)) { n.diskState().log = fn }

// ArmDisk starts disk fault f on the node: a window of its kind until
// [Node.ClearDisk], or, for lose_unsynced, the behaviour of the node's next
// kill. An io_error window draws its file from the data files there now.
func (n *Node) ArmDisk(f diskmodel.Fault) error {
	d := n.diskState()
	n.c.world.Trace().Bytes(diskTrace, fmt.Appendf(nil, "arm %s %s %d", n.name, f, f.Seed))
	return d.model.Arm(f, d.files())
}

// ClearDisk ends the node's disk fault window of kind k and returns how
// many calls it hit.
func (n *Node) ClearDisk(k diskmodel.Kind) int {
	n.c.world.Trace().Bytes(diskTrace, fmt.Appendf(nil, "clear %s %s", n.name, k))
	return n.diskState().model.Clear(k)
}

// files lists the regular data files, relative to the data directory.
func (d *nodeDisk) files() []string {
	fs := d.n.fs
	dir, err := fs.Lookup(fs.Root(), d.dir, true)
	if err != nil || !dir.IsDir() {
		return nil
	}
	var out []string
	var walk func(in *vfs.Inode, rel string)
	walk = func(in *vfs.Inode, rel string) {
		for _, name := range in.Names() {
			c, p := in.Child(name), path.Join(rel, name)
			switch {
			case d.excluded(p):
			case c.IsDir():
				walk(c, p)
			case c.Type() == abi.SIfreg:
				out = append(out, p)
			}
		}
	}
	walk(dir, "")
	return out
}

// excluded reports whether rel (relative to the data directory) is one of
// mvrun's own files, which faults never touch.
func (d *nodeDisk) excluded(rel string) bool {
	abs := path.Join(d.dir, rel)
	return abs == "/run/mvrun" || strings.HasPrefix(abs, "/run/mvrun/")
}

// rel returns in's path relative to the data directory, if it is a data file.
func (d *nodeDisk) rel(in *vfs.Inode) (string, bool) {
	fs := d.n.fs
	dir, err := fs.Lookup(fs.Root(), d.dir, true)
	if err != nil {
		return "", false
	}
	p, ok := fs.PathOf(dir, in)
	if !ok || d.excluded(p) {
		return "", false
	}
	return p, true
}

// hook is the node file system's fault hook.
func (d *nodeDisk) hook(io vfs.IO) diskmodel.Verdict {
	if !d.model.Active() {
		return diskmodel.Verdict{}
	}
	p, ok := d.rel(io.Inode)
	if !ok {
		return diskmodel.Verdict{}
	}
	v := d.model.Decide(diskmodel.Call{Op: io.Op, Path: p, Off: io.Off, Len: io.Len, Grows: io.Grows})
	for _, h := range v.Hits {
		d.hit(h)
	}
	return v
}

func (d *nodeDisk) hit(h diskmodel.Hit) {
	d.n.c.world.Trace().Bytes(diskTrace, []byte(d.n.name+" "+h.String()))
	if d.log != nil {
		d.log(DiskHit{At: d.n.c.Now(), Node: d.n.name, Hit: h})
	}
}

// crashDisk reverts the node's file system to what a power cut leaves.
// Without an armed lose_unsynced fault that is everything synced and
// nothing else; with one, each data file's unsynced bytes are lost whole
// or, when torn, a drawn prefix of them survives.
func (n *Node) crashDisk() {
	if d := n.disk; d != nil {
		if f := d.model.TakeCrash(); f != nil {
			cut := diskmodel.NewCutter(*f)
			for _, in := range n.fs.DirtyFiles() {
				p, ok := d.rel(in)
				if !ok {
					continue
				}
				lo, hi := in.DirtyRange()
				h := diskmodel.Hit{Kind: diskmodel.LoseUnsynced, Op: diskmodel.OpCrash, Path: p, Off: lo, Len: hi - lo}
				if f.Torn {
					c := cut.Cut(lo, hi)
					n.fs.KeepPrefix(in, c)
					h.Effect = fmt.Sprintf("torn: bytes %d..%d survive, %d..%d back to their synced content", lo, c, c, hi)
				} else {
					h.Effect = fmt.Sprintf("bytes %d..%d back to their synced content", lo, hi)
				}
				d.hit(h)
			}
		}
	}
	n.fs.Crash()
}
