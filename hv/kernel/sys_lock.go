package kernel

import (
	"math"
	"slices"

	"github.com/mvrun/multiverse/hv/abi"
	"github.com/mvrun/multiverse/hv/vfs"
)

// File locks: flock(2) locks and fcntl(2) record locks, both POSIX
// (owned by the process) and open file description ("OFD") locks. They
// live on the inode (inodeState), so processes of one node see each
// other's locks. A blocking request parks the thread on the inode's lock
// queue and retries when any lock on the inode is released.

// inodeState is the kernel's per-inode state that a node's processes
// share, kept in vfs.Inode.Shared.
type inodeState struct {
	flocks  []flockHold
	records []recordLock // sorted by start, then by age
	lockQ   waitQueue    // threads waiting for a lock on the inode
	maps    []*sharedMap // live MAP_SHARED mappings of the inode (shm.go)
}

// flockHold is one open file description's flock lock.
type flockHold struct {
	owner file // the open file description's file (one per open(2))
	excl  bool
}

// recordLock is one fcntl lock on bytes [start, end) of a file.
type recordLock struct {
	owner any   // *Kernel for a POSIX lock, the description's file for an OFD lock
	pid   int32 // reported by F_GETLK: the owning process, -1 for OFD locks
	write bool
	start int64
	end   int64 // math.MaxInt64: to the end of the file, however it grows
}

// shared returns n's kernel state, creating it.
func shared(n *vfs.Inode) *inodeState {
	if s, ok := n.Shared.(*inodeState); ok {
		return s
	}
	s := &inodeState{}
	n.Shared = s
	return s
}

// peekShared returns n's kernel state, or nil if it has none.
func peekShared(n *vfs.Inode) *inodeState {
	s, _ := n.Shared.(*inodeState)
	return s
}

// sysFlock implements Linux syscall flock(2).
func sysFlock(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	d, err := k.files.get(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	op := int(a[1])
	n := inodeOf(d.file)
	if n == nil {
		return 0, k.unsupported("flock(pipe, socket or stream)", abi.EINVAL)
	}
	r := d.file
	s := shared(n)
	switch op &^ abi.LockNb {
	case abi.LockUn:
		if s.dropFlock(r) {
			s.lockQ.wakeAll()
		}
		return 0, nil
	case abi.LockSh, abi.LockEx:
	default:
		return 0, abi.EINVAL
	}
	excl := op&abi.LockEx != 0
	// Linux converts a held lock by dropping it first, so a conversion that
	// has to wait (or fails with LOCK_NB) has lost the old lock.
	if i := s.flockIndex(r); i >= 0 {
		if s.flocks[i].excl == excl {
			return 0, nil
		}
		s.flocks = slices.Delete(s.flocks, i, i+1)
		s.lockQ.wakeAll()
	}
	for _, h := range s.flocks {
		if excl || h.excl {
			if op&abi.LockNb != 0 {
				return 0, abi.EAGAIN // EWOULDBLOCK
			}
			return 0, t.block(&s.lockQ, -1, t.call, nil)
		}
	}
	s.flocks = append(s.flocks, flockHold{owner: r, excl: excl})
	return 0, nil
}

func (s *inodeState) flockIndex(r file) int {
	return slices.IndexFunc(s.flocks, func(h flockHold) bool { return h.owner == r })
}

func (s *inodeState) dropFlock(r file) bool {
	if i := s.flockIndex(r); i >= 0 {
		s.flocks = slices.Delete(s.flocks, i, i+1)
		return true
	}
	return false
}

// releaseDescLocks drops the flock and OFD locks of the open file
// description whose file is r on n, when its last descriptor is closed.
func releaseDescLocks(n *vfs.Inode, r file) {
	s := peekShared(n)
	if s == nil {
		return
	}
	changed := s.dropFlock(r)
	changed = s.unlockRange(r, 0, math.MaxInt64) || changed
	if changed {
		s.lockQ.wakeAll()
	}
}

// releaseProcessLocks drops k's POSIX record locks on n.
func (k *Kernel) releaseProcessLocks(n *vfs.Inode) {
	if s := peekShared(n); s != nil && s.unlockRange(k, 0, math.MaxInt64) {
		s.lockQ.wakeAll()
	}
}

// recordLock implements fcntl's F_GETLK, F_SETLK, F_SETLKW and their OFD
// forms on descriptor d with the struct flock at va.
func (t *Thread) recordLock(d *desc, cmd int, va uint64) error {
	k := t.k
	b := make(le, abi.FlockSize)
	if err := k.copyIn(b, va); err != nil {
		return err
	}
	typ := int16(uint16(b[0]) | uint16(b[1])<<8)
	whence := int16(uint16(b[2]) | uint16(b[3])<<8)
	start, length := int64(leU64(b, 8)), int64(leU64(b, 16))
	pid := int32(uint32(leU64(b, 24)))
	r, ok := d.file.(*regularFile)
	if !ok {
		return abi.EBADF
	}
	ofd := cmd == abi.FOfdGetlk || cmd == abi.FOfdSetlk || cmd == abi.FOfdSetlkw
	var owner any = k
	ownerPID := int32(k.pid)
	if ofd {
		if pid != 0 {
			return abi.EINVAL
		}
		owner, ownerPID = r, -1
	}
	switch whence {
	case abi.SeekSet:
	case abi.SeekCur:
		start += d.off
	case abi.SeekEnd:
		start += int64(len(r.n.Data))
	default:
		return abi.EINVAL
	}
	end := int64(math.MaxInt64)
	switch {
	case length > 0:
		end = start + length
	case length < 0:
		start, end = start+length, start
	}
	if start < 0 {
		return abi.EINVAL
	}
	s := shared(r.n)
	switch typ {
	case abi.FRdlck, abi.FWrlck, abi.FUnlck:
	default:
		return abi.EINVAL
	}
	write := typ == abi.FWrlck
	if cmd == abi.FGetlk || cmd == abi.FOfdGetlk {
		if typ == abi.FUnlck {
			return abi.EINVAL
		}
		c := s.conflict(owner, write, start, end)
		if c == nil {
			b.u16(0, abi.FUnlck)
			return k.copyOut(b[:2], va)
		}
		l := int64(0)
		if c.end != math.MaxInt64 {
			l = c.end - c.start
		}
		b.u16(0, 0)
		if c.write {
			b.u16(0, abi.FWrlck)
		}
		b.u16(2, abi.SeekSet)
		b.u64(8, uint64(c.start))
		b.u64(16, uint64(l))
		b.u32(24, uint32(c.pid))
		return k.copyOut(b, va)
	}
	if typ == abi.FUnlck {
		if s.unlockRange(owner, start, end) {
			s.lockQ.wakeAll()
		}
		return nil
	}
	acc := d.flags & abi.OAccmode
	if write && acc == abi.ORdonly || !write && acc == abi.OWronly {
		return abi.EBADF
	}
	if s.conflict(owner, write, start, end) != nil {
		if cmd == abi.FSetlk || cmd == abi.FOfdSetlk {
			return abi.EAGAIN
		}
		return t.block(&s.lockQ, -1, t.call, nil)
	}
	// A lock replaces the owner's own locks on the range; turning a write
	// lock into a read lock may let waiters in.
	if s.unlockRange(owner, start, end) {
		s.lockQ.wakeAll()
	}
	s.addRecord(recordLock{owner: owner, pid: ownerPID, write: write, start: start, end: end})
	return nil
}

// conflict returns the first lock of another owner that overlaps [start,
// end) and excludes a lock of the given kind, or nil.
func (s *inodeState) conflict(owner any, write bool, start, end int64) *recordLock {
	for i := range s.records {
		l := &s.records[i]
		if l.owner != owner && l.start < end && start < l.end && (write || l.write) {
			return l
		}
	}
	return nil
}

// unlockRange removes owner's locks on [start, end), splitting locks that
// straddle it. It reports whether anything was removed.
func (s *inodeState) unlockRange(owner any, start, end int64) bool {
	var out []recordLock
	changed := false
	for _, l := range s.records {
		if l.owner != owner || l.end <= start || l.start >= end {
			out = append(out, l)
			continue
		}
		changed = true
		if l.start < start {
			left := l
			left.end = start
			out = append(out, left)
		}
		if l.end > end {
			right := l
			right.start = end
			out = append(out, right)
		}
	}
	s.records = out
	return changed
}

// addRecord inserts l (whose range the owner holds no lock on), merging it
// with the owner's adjacent locks of the same kind, as Linux does.
func (s *inodeState) addRecord(l recordLock) {
	var out []recordLock
	for _, o := range s.records {
		if o.owner == l.owner && o.write == l.write && o.end >= l.start && l.end >= o.start {
			l.start, l.end = min(l.start, o.start), max(l.end, o.end)
			continue
		}
		out = append(out, o)
	}
	i := 0
	for i < len(out) && out[i].start <= l.start {
		i++
	}
	s.records = slices.Insert(out, i, l)
}
