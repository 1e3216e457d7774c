package kernel

import (
	"bytes"
	"slices"

	"github.com/mvrun/multiverse/hv/abi"
	"github.com/mvrun/multiverse/hv/mm"
	"github.com/mvrun/multiverse/hv/vfs"
)

// Shared file mappings (MAP_SHARED of a regular file). Each process has its
// own guest physical memory, so a mapping cannot share frames with the file
// the way a page cache does; instead its frames hold a copy of the file
// that is kept coherent by copying:
//
//   - every change of the file's bytes (write, pwrite, truncate, fallocate,
//     from any process of the node) is copied into the frames of every
//     live shared mapping of the inode (inodeState.maps); bytes past the
//     end of the file read as zero;
//   - guest stores through a writable shared mapping reach the file when
//     the process calls msync or munmap, fsyncs the file (any process), or
//     exits: the mapping's frames are compared with the file page by page
//     and the pages that differ are written, which also refreshes the other
//     mappings. Until then read(2) and other mappings do not see them.
//
// Large mappings are populated lazily (sys_mm.go, lazyMin): a page has no
// frame until the guest touches it, so the copying above skips it, and
// when it gets its frame (Space's filler, fillLazy) it is filled from the
// file's bytes at that moment, which is what the copying would have left
// there. Private file mappings are listed too (k.shm, not the inode's
// registry): a lazy one is filled from the file at first touch, and
// madvise(MADV_DONTNEED) refills an eager one from the file, as Linux
// reads the file again; later file changes do not reach their pages.

// sharedMap is one MAP_SHARED mapping of a file in one process.
type sharedMap struct {
	k          *Kernel
	n          *vfs.Inode
	start, end uint64 // guest virtual range
	off        int64  // file offset at start
	write      bool   // was ever writable: stores may need writing back
	lazy       bool   // pages get frames at first touch (Space.MapLazy)
	private    bool   // MAP_PRIVATE: never written back or refreshed
}

func (m *sharedMap) fileEnd() int64 { return m.off + int64(m.end-m.start) }

// fill copies the file's bytes [lo, hi), clipped to the mapping, into its
// frames; past the end of the file (after a shrink) it writes zeros. It
// touches only pages in the range, so a mapping much larger than its file
// costs no host memory beyond the file.
func (m *sharedMap) fill(lo, hi int64) {
	lo, hi = max(lo, m.off), min(hi, m.fileEnd())
	if lo >= hi {
		return
	}
	va := func(off int64) uint64 { return m.start + uint64(off-m.off) }
	size := int64(len(m.n.Data))
	if lo < size {
		m.k.Space.PokeFramed(m.n.Data[lo:min(hi, size)], va(lo))
	}
	var zero [mm.PageSize]byte
	for off := max(lo, size); off < hi; {
		n := min(hi-off, mm.PageSize-int64(va(off)%mm.PageSize))
		m.k.Space.PokeFramed(zero[:n], va(off))
		off += n
	}
}

// load copies the file's bytes into the mapping's pages in the guest range
// [start, end), which were just populated (so they hold zeros: nothing past
// the end of the file needs writing).
func (m *sharedMap) load(start, end uint64) {
	start, end = max(start, m.start), min(end, m.end)
	if start >= end {
		return
	}
	lo := m.off + int64(start-m.start)
	hi := min(m.off+int64(end-m.start), int64(len(m.n.Data)))
	if lo < hi {
		m.k.Space.PokeFramed(m.n.Data[lo:hi], start)
	}
}

// writeBack writes the pages of the mapping that differ from the file (up
// to the end of the file: stores past it are dropped, as on Linux). Pages
// without a frame were never touched and hold nothing to write.
func (m *sharedMap) writeBack() {
	if !m.write || m.private {
		return
	}
	page := make([]byte, mm.PageSize)
	end := min(m.fileEnd(), int64(len(m.n.Data)))
	for off := m.off; off < end; off += mm.PageSize {
		va := m.start + uint64(off-m.off)
		if m.lazy && !m.k.Space.HasFrame(va) {
			continue
		}
		b := page[:min(mm.PageSize, end-off)]
		m.k.Space.Peek(b, va)
		if bytes.Equal(b, m.n.Data[off:off+int64(len(b))]) {
			continue
		}
		if _, err := m.k.fs.WriteAt(m.n, b, off); err == nil {
			m.k.fileChanged(m.n, off, off+int64(len(b)))
		}
	}
}

// fileChanged copies bytes [lo, hi) of n into every shared mapping of it.
func (k *Kernel) fileChanged(n *vfs.Inode, lo, hi int64) {
	if s := peekShared(n); s != nil {
		for _, m := range s.maps {
			m.fill(lo, hi)
		}
	}
}

// writeBackAll writes back every writable shared mapping of n, in every
// process of the node.
func writeBackAll(n *vfs.Inode) {
	if s := peekShared(n); s != nil {
		for _, m := range slices.Clone(s.maps) {
			m.writeBack()
		}
	}
}

// share records [start, end) of the process as a mapping of n from file
// offset off and copies the file into the pages that have frames (none,
// for a lazy mapping). A shared mapping joins n's registry, which keeps it
// coherent with the file.
func (k *Kernel) share(n *vfs.Inode, start, end uint64, off int64, write, lazy, private bool) {
	m := &sharedMap{k: k, n: n, start: start, end: end, off: off, write: write && !private, lazy: lazy, private: private}
	k.shm = append(k.shm, m)
	if !private {
		s := shared(n)
		s.maps = append(s.maps, m)
	}
	if !lazy {
		m.fill(off, min(m.fileEnd(), int64(len(n.Data))))
	}
}

// fillLazy is the address space's filler: pages [start, end) of a lazy
// mapping just got their (zeroed) frames; those of file mappings get the
// file's bytes.
func (k *Kernel) fillLazy(start, end uint64) {
	for _, m := range k.shm {
		if m.lazy && m.end > start && m.start < end {
			m.load(start, end)
		}
	}
}

// discard handles madvise(MADV_DONTNEED) of [addr, end): on Linux the
// pages of file mappings read the file again afterwards, so stores through
// shared mappings are written back first (they live on in the page cache
// there) and the eager mappings' zeroed pages are refilled from the file;
// lazy mappings lose their frames and refill at the next touch.
func (k *Kernel) discard(addr, end uint64) error {
	var hit []*sharedMap
	for _, m := range k.shm {
		if m.end > addr && m.start < end {
			m.writeBack()
			hit = append(hit, m)
		}
	}
	if err := k.Space.Discard(addr, end-addr); err != nil {
		return err
	}
	for _, m := range hit {
		if !m.lazy {
			m.fill(m.off+int64(max(addr, m.start)-m.start), m.off+int64(min(end, m.end)-m.start))
		}
	}
	return nil
}

// unshare writes back and forgets the shared mappings' parts in [addr,
// addr+length), before munmap or a MAP_FIXED mapping replaces them.
func (k *Kernel) unshare(addr, length uint64) {
	end := addr + (length+abi.PageSize-1)&^(abi.PageSize-1)
	var keep []*sharedMap
	for _, m := range k.shm {
		if m.end <= addr || m.start >= end {
			keep = append(keep, m)
			continue
		}
		m.writeBack()
		k.dropMap(m)
		if m.start < addr {
			left := *m
			left.end = addr
			keep = append(keep, k.relist(&left))
		}
		if m.end > end {
			right := *m
			right.off += int64(end - m.start)
			right.start = end
			keep = append(keep, k.relist(&right))
		}
	}
	k.shm = keep
}

// relist records a piece of a split mapping on its inode.
func (k *Kernel) relist(m *sharedMap) *sharedMap {
	if !m.private {
		s := shared(m.n)
		s.maps = append(s.maps, m)
	}
	return m
}

// dropMap removes m from its inode's list.
func (k *Kernel) dropMap(m *sharedMap) {
	if s := peekShared(m.n); s != nil {
		if i := slices.Index(s.maps, m); i >= 0 {
			s.maps = slices.Delete(s.maps, i, i+1)
		}
	}
}

// unshareAll writes back and forgets all of the process's shared mappings,
// when it exits.
func (k *Kernel) unshareAll() {
	for _, m := range k.shm {
		m.writeBack()
		k.dropMap(m)
	}
	k.shm = nil
}

// protectShared is called around mprotect of [addr, end): stores are written
// back before, and the eager mappings are refilled after, since pages that
// were PROT_NONE get their frames only now (a lazy mapping's pages get
// theirs at first touch, filled then).
func (k *Kernel) protectShared(addr, end uint64, prot int, apply func() error) error {
	var hit []*sharedMap
	for _, m := range k.shm {
		if m.end > addr && m.start < end && !m.private {
			m.writeBack()
			hit = append(hit, m)
		}
	}
	if err := apply(); err != nil {
		return err
	}
	for _, m := range hit {
		if prot&abi.ProtWrite != 0 {
			m.write = true
		}
		if m.lazy {
			continue
		}
		lo := m.off + int64(max(addr, m.start)-m.start)
		hi := m.off + int64(min(end, m.end)-m.start)
		m.fill(lo, hi)
	}
	return nil
}

// sysMsync implements Linux syscall msync(2): stores through shared file
// mappings in the range reach the file; with MS_SYNC the file is durable
// too, as msync's fsync of the range makes it on Linux.
func sysMsync(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	addr, length, flags := a[0], a[1], a[2]
	if addr&(abi.PageSize-1) != 0 || flags&^(abi.MsAsync|abi.MsSync|abi.MsInvalidate) != 0 ||
		flags&abi.MsAsync != 0 && flags&abi.MsSync != 0 {
		return 0, abi.EINVAL
	}
	end := addr + (length+abi.PageSize-1)&^(abi.PageSize-1)
	for va := addr; va < end; {
		m, ok := k.Space.Find(va)
		if !ok {
			return 0, abi.ENOMEM
		}
		va = m.End
	}
	for _, m := range slices.Clone(k.shm) {
		if m.end <= addr || m.start >= end || m.private {
			continue
		}
		m.writeBack()
		if flags&abi.MsSync != 0 {
			k.fs.Fsync(m.n)
		}
	}
	return 0, nil
}
