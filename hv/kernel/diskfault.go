package kernel

import (
	"github.com/mvrun/multiverse/hv/abi"
	"github.com/mvrun/multiverse/hv/vfs"
	"github.com/mvrun/multiverse/internal/diskmodel"
)

// Disk faults: the node's file system may carry a fault hook
// ([vfs.FS.SetFaultHook]); every read, write, allocation and fsync of a
// regular file asks it what goes wrong. An error fails the call before it
// changes anything; a corrupted read returns flipped or zeroed bytes (the
// file keeps its own); a slow call parks the thread for the latency on the
// virtual clock and then runs again, meeting the verdict drawn the first
// time, so the latency costs no extra draws and the run stays a function
// of the seed. Shared file mappings, O_DSYNC writes, msync and sync(2) do
// not consult the hook.

// diskWaits holds, per thread, the verdict of a slow call that is waiting
// out its latency.
type diskWaits map[*Thread]*diskWait

type diskWait struct {
	c    *call
	v    diskmodel.Verdict
	used bool
}

// diskFault asks the fault hook about one call on regular file n and
// carries out its verdict. data is, for a read, the bytes read (corrupted
// in place), for a write the bytes to write. It returns the call's errno,
// errBlock when the thread was parked, or nil.
func (k *Kernel) diskFault(op diskmodel.Op, n *vfs.Inode, off int64, data []byte, grows bool) error {
	hook := k.fs.FaultHook()
	if hook == nil {
		return nil
	}
	length := int64(len(data))
	if op == diskmodel.OpAlloc || op == diskmodel.OpSync {
		length = int64(cap(data))
	}
	t := k.w.Current()
	var v diskmodel.Verdict
	w := k.disk[t]
	switch {
	case w != nil && t.retrying && w.c == t.call && !w.used:
		v, w.used = w.v, true
	case w != nil && t.retrying && w.c == t.call:
		// A second file call inside the same system call (readv): its
		// own verdict, but the call has waited already.
		v = hook(vfs.IO{Op: op, Inode: n, Off: off, Len: length, Grows: grows})
		v.Delay = 0
	default:
		delete(k.disk, t)
		v = hook(vfs.IO{Op: op, Inode: n, Off: off, Len: length, Grows: grows})
		if v.Delay > 0 && t != nil && t.call != nil {
			if k.disk == nil {
				k.disk = diskWaits{}
			}
			k.disk[t] = &diskWait{c: t.call, v: v}
			return t.block(nil, k.clock.Now()+int64(v.Delay), t.call, nil)
		}
	}
	if op == diskmodel.OpRead && v.Corrupts() {
		v.Apply(data)
	}
	return errnoOf(v.Err)
}

// diskSync asks the fault hook about an fsync of regular file n. When it
// fails, the file's dirty data is dropped first (also from the node's
// shared mappings of it), as Linux does since 4.13.
func (k *Kernel) diskSync(n *vfs.Inode) error {
	if k.fs.FaultHook() == nil {
		return nil
	}
	writeBackAll(n)
	lo, hi := n.DirtyRange()
	err := k.diskFault(diskmodel.OpSync, n, lo, make([]byte, 0, hi-lo), false)
	if err == abi.EIO {
		old := int64(len(n.Data))
		k.fs.DropDirty(n)
		k.fileChanged(n, 0, max(old, int64(len(n.Data))))
	}
	return err
}

func errnoOf(e diskmodel.Errno) error {
	switch e {
	case "":
		return nil
	case diskmodel.ENOSPC:
		return abi.ENOSPC
	}
	return abi.EIO
}
