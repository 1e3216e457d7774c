package diskfs

import (
	"maps"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"
)

// pageSize is the granularity of the undo log, as of hv's file system.
const pageSize = 4096

// undo is what a file held at its last successful fsync, as far as it
// changed since: its size, and the old content of every page that has
// been overwritten or cut off (clipped to that size). Pages of the synced
// size that are not in the log still hold their synced content, because
// each page is saved before its first change.
type undo struct {
	fd    int // the file's own descriptor, kept to revert it after its handles close
	size  int64
	pages map[int64][]byte
}

// begin starts the file's undo log, if it has none, before a change; size
// is the file's size now, which is its synced size. d.mu is held.
func (n *node) begin(fd int, size int64) error {
	if n.undo != nil {
		return nil
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return err
	}
	n.undo = &undo{fd: dup, size: size, pages: map[int64][]byte{}}
	n.d.dirty = append(n.d.dirty, n)
	return nil
}

// save records the synced content of the pages that [lo, hi) touches
// before they change. d.mu is held.
func (n *node) save(lo, hi int64) error {
	u := n.undo
	for p := lo / pageSize; p*pageSize < min(hi, u.size); p++ {
		if _, ok := u.pages[p]; ok {
			continue
		}
		b := make([]byte, min(pageSize, u.size-p*pageSize))
		k, err := syscall.Pread(u.fd, b, p*pageSize)
		if err != nil {
			return err
		}
		u.pages[p] = b[:max(k, 0)]
	}
	return nil
}

// dirtyRange returns the bytes that changed since the last sync: [lo, hi),
// page-granular for overwrites and exact for a size change; empty if none.
// d.mu is held.
func (n *node) dirtyRange() (lo, hi int64) {
	u := n.undo
	if u == nil {
		return 0, 0
	}
	cur, err := fileSize(u.fd)
	if err != nil {
		cur = u.size
	}
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

// keepPrefix makes the change durable up to offset cut, as a torn write
// leaves it: the file keeps its new bytes before cut and gets its synced
// bytes back from cut on (and grows to cut if it grew). A later
// [node.revert] carries it out. d.mu is held.
func (n *node) keepPrefix(cut int64) {
	u := n.undo
	if u == nil {
		return
	}
	lo, hi := n.dirtyRange()
	if cut <= lo {
		return
	}
	if cut >= hi {
		u.size, u.pages = -1, nil // all of it survives
		return
	}
	cur, err := fileSize(u.fd)
	if err != nil {
		return
	}
	for p, saved := range u.pages {
		s := p * pageSize
		e := s + int64(len(saved))
		switch {
		case s >= cut:
		case e <= cut && e <= cur:
			delete(u.pages, p) // the page's new bytes are durable
		case s < cur:
			k := min(cut, cur, e) - s
			if k > 0 {
				syscall.Pread(u.fd, saved[:k], s)
			}
		}
	}
	if cur > u.size {
		u.size = max(u.size, min(cut, cur))
	}
}

// revert puts the file back to what its undo log says is durable and
// forgets the log: the dirty data is gone. d.mu is held.
func (n *node) revert() error {
	u := n.undo
	if u == nil {
		return nil
	}
	defer n.forget()
	if u.size < 0 {
		return nil // keepPrefix kept everything
	}
	old, _ := fileSize(u.fd)
	if err := syscall.Ftruncate(u.fd, u.size); err != nil {
		return err
	}
	for _, p := range slices.Sorted(maps.Keys(u.pages)) {
		if _, err := syscall.Pwrite(u.fd, u.pages[p], p*pageSize); err != nil {
			return err
		}
	}
	// The kernel may hold the new size and pages of mapped files; tell it
	// they changed. Not on this goroutine: it may be serving a call on
	// this very file.
	in := n.EmbeddedInode()
	go in.NotifyContent(0, max(old, u.size))
	return nil
}

// forget drops the file's undo log: its data is durable, or reverted.
// d.mu is held.
func (n *node) forget() {
	if n.undo == nil {
		return
	}
	syscall.Close(n.undo.fd)
	n.undo = nil
	n.d.dirty = slices.DeleteFunc(n.d.dirty, func(m *node) bool { return m == n })
}
