package mm

import (
	"errors"
	"fmt"
	"sort"
)

// Protection bits, the same values as PROT_* in mmap(2).
const (
	ProtRead  = 0x1
	ProtWrite = 0x2
	ProtExec  = 0x4
)

// Address space layout.
const (
	// UserTop is the end of the guest's user address space. The VMM keeps
	// the pages above it (up to the canonical limit) for its syscall stub.
	UserTop = 0x7fff_f000_0000
	// mmapTop is where mmap without a hint starts searching downwards.
	mmapTop = 0x7f00_0000_0000
	// mmapBottom is the lowest address mmap hands out without a hint.
	mmapBottom = 0x1000_0000
)

// Errors returned by address space operations; the kernel layer maps them
// to errno values.
var (
	ErrInvalid = errors.New("invalid address range")
	ErrFault   = errors.New("bad guest address")
	ErrExists  = errors.New("range already mapped")
)

// Mapping is one contiguous guest virtual memory area with one protection.
type Mapping struct {
	Start, End uint64
	Prot       int
	Name       string
	// Lazy mappings get frames page by page as the guest touches them
	// ([Space.MapLazy]); the others have all of theirs (PROT_NONE pages
	// excepted) from the start.
	Lazy bool
}

// Space is one guest process's address space.
type Space struct {
	phys *Physical
	pt   *PageTable
	maps []Mapping               // sorted, non-overlapping
	fill func(start, end uint64) `snap:"zero"` // the kernel's; set again on restore
}

// NewSpace creates an empty address space with its own page table.
func NewSpace(p *Physical) (*Space, error) {
	pt, err := NewPageTable(p)
	if err != nil {
		return nil, err
	}
	return &Space{phys: p, pt: pt}, nil
}

// PageTable returns the space's page table.
func (s *Space) PageTable() *PageTable { return s.pt }

// Physical returns the physical memory the space allocates from.
func (s *Space) Physical() *Physical { return s.phys }

// Mappings returns a copy of the current mappings in address order.
func (s *Space) Mappings() []Mapping { return append([]Mapping(nil), s.maps...) }

func pteFlags(prot int) uint64 {
	if prot == 0 {
		return 0
	}
	f := uint64(PtePresent | PteUser)
	if prot&ProtWrite != 0 {
		f |= PteWrite
	}
	if prot&ProtExec == 0 {
		f |= PteNX
	}
	return f
}

func pageAlign(v uint64) uint64 { return (v + PageSize - 1) &^ (PageSize - 1) }

// free reports whether [start, end) overlaps no mapping.
func (s *Space) free(start, end uint64) bool {
	i := sort.Search(len(s.maps), func(i int) bool { return s.maps[i].End > start })
	return i == len(s.maps) || s.maps[i].Start >= end
}

// findFree returns the highest free range of length n below top.
func (s *Space) findFree(n, top uint64) (uint64, bool) {
	end := top
	for i := len(s.maps) - 1; i >= -1; i-- {
		lo := uint64(mmapBottom)
		if i >= 0 {
			m := s.maps[i]
			if m.Start >= end {
				continue
			}
			lo = max(lo, m.End)
		}
		if end >= lo+n {
			return end - n, true
		}
		if i >= 0 {
			end = min(end, s.maps[i].Start)
		}
	}
	return 0, false
}

// Map creates a zero-filled anonymous mapping. With fixed set, addr is used
// as is and anything mapped there before is removed; otherwise addr is a hint
// and a free range is chosen if it is taken. It returns the mapping's start.
// Every page gets its frame and translation now (see [Space.MapLazy]).
func (s *Space) Map(addr, length uint64, prot int, fixed, noReplace bool, name string) (uint64, error) {
	return s.mapRange(addr, length, prot, fixed, noReplace, name, false)
}

// MapLazy is Map without populating: the range is reserved, and a page
// gets its frame and translation at the guest's first access to it
// ([Space.Fault]) or when the VMM copies to or from it (ReadAt, WriteAt).
// A fresh page reads as zero unless the filler ([Space.SetFiller]) fills it.
func (s *Space) MapLazy(addr, length uint64, prot int, fixed, noReplace bool, name string) (uint64, error) {
	return s.mapRange(addr, length, prot, fixed, noReplace, name, true)
}

func (s *Space) mapRange(addr, length uint64, prot int, fixed, noReplace bool, name string, lazy bool) (uint64, error) {
	if length == 0 || addr&(PageSize-1) != 0 {
		return 0, ErrInvalid
	}
	length = pageAlign(length)
	if length > UserTop {
		return 0, ErrNoMemory
	}
	switch {
	case fixed || noReplace:
		if addr+length > UserTop || addr+length < addr || addr == 0 {
			return 0, ErrInvalid
		}
		if noReplace && !s.free(addr, addr+length) {
			return 0, ErrExists
		}
		if err := s.Unmap(addr, length); err != nil {
			return 0, err
		}
	case addr != 0 && addr+length <= UserTop && addr+length > addr && s.free(addr, addr+length):
	default:
		a, ok := s.findFree(length, mmapTop)
		if !ok {
			return 0, ErrNoMemory
		}
		addr = a
	}
	if !lazy {
		if err := s.populate(addr, addr+length, prot); err != nil {
			return 0, errors.Join(err, s.Unmap(addr, length))
		}
	}
	s.insert(Mapping{Start: addr, End: addr + length, Prot: prot, Name: name, Lazy: lazy})
	return addr, nil
}

// populate gives every page of [start, end) a fresh zeroed frame with the
// translation prot allows (none for PROT_NONE, keeping the frame).
func (s *Space) populate(start, end uint64, prot int) error {
	if prot == 0 {
		// PROT_NONE pages get their frames when they become accessible.
		return nil
	}
	flags := pteFlags(prot)
	for va := start; va < end; va += PageSize {
		f, err := s.phys.Alloc()
		if err != nil {
			return err
		}
		if err := s.pt.Map(va, f, flags); err != nil {
			return errors.Join(err, s.phys.Free(f))
		}
	}
	return nil
}

// FaultChunk is how many pages a demand fault populates: the aligned group
// of FaultChunk pages around the faulting one, within its mapping. When a
// neighbouring page already has a frame the access looks sequential and
// the fault populates the aligned group of FaultRun pages instead, so
// walking through a large mapping costs one fault per 2 MiB. A fault is a
// VM exit, about 30 µs more than the page's first touch costs anyway on
// our hosts (where that touch is a shadow-paging fault inside KVM, about
// 5 µs per page, eager or not), while giving a page a frame costs the VMM
// about 15 ns and no host memory until the guest writes it. Measured with
// the lazymap guest writing every page of 256 MiB: eager 380 ms, 16-page
// groups alone 490 ms (4,099 faults), with FaultRun 360-420 ms (132).
const (
	FaultChunk = 16
	FaultRun   = 512
)

// SetFiller sets the function called with each run [start, end) of pages
// that were just populated in a lazy mapping (by a fault or a VMM copy),
// before the guest can see them: the kernel copies file contents into
// pages of file mappings there. The pages' frames are zero when it runs.
func (s *Space) SetFiller(fn func(start, end uint64)) { s.fill = fn }

// Fault handles a guest access to va that found no translation: if va lies
// in a lazily populated mapping whose protection allows the access (a
// store when write is set, an instruction fetch when exec is set) and its
// page has no frame yet, the page and the rest of its FaultChunk group get
// frames and translations and Fault reports true; the access can then be
// retried. Otherwise it changes nothing and reports false (the access is
// a real fault). It fails only when guest physical memory is exhausted.
func (s *Space) Fault(va uint64, write, exec bool) (bool, error) {
	m, ok := s.Find(va)
	if !ok || !m.Lazy || m.Prot == 0 || write && m.Prot&ProtWrite == 0 || exec && m.Prot&ProtExec == 0 {
		return false, nil
	}
	if s.pt.Lookup(va) != 0 {
		return false, nil
	}
	const chunk, run = FaultChunk * PageSize, FaultRun * PageSize
	lo, hi := max(va&^(chunk-1), m.Start), min(va&^(chunk-1)+chunk, m.End)
	if lo > m.Start && s.HasFrame(lo-PageSize) || hi < m.End && s.HasFrame(hi) {
		lo, hi = max(va&^(run-1), m.Start), min(va&^(run-1)+run, m.End)
	}
	flags := pteFlags(m.Prot)
	runStart := uint64(0)
	flush := func(end uint64) {
		if runStart != 0 && s.fill != nil {
			s.fill(runStart, end)
		}
		runStart = 0
	}
	for p := lo; p < hi; p += PageSize {
		if s.pt.Lookup(p) != 0 {
			flush(p)
			continue
		}
		f, err := s.phys.Alloc()
		if err != nil {
			flush(p)
			return false, err
		}
		if err := s.pt.Map(p, f, flags); err != nil {
			flush(p)
			return false, errors.Join(err, s.phys.Free(f))
		}
		if runStart == 0 {
			runStart = p
		}
	}
	flush(hi)
	return true, nil
}

func (s *Space) insert(m Mapping) {
	i := sort.Search(len(s.maps), func(i int) bool { return s.maps[i].Start >= m.Start })
	s.maps = append(s.maps, Mapping{})
	copy(s.maps[i+1:], s.maps[i:])
	s.maps[i] = m
}

// carve removes [start, end) from the mapping list, splitting mappings that
// straddle it, and returns the removed pieces.
func (s *Space) carve(start, end uint64) []Mapping {
	var out, removed []Mapping
	for _, m := range s.maps {
		if m.End <= start || m.Start >= end {
			out = append(out, m)
			continue
		}
		piece := func(lo, hi uint64) Mapping {
			p := m
			p.Start, p.End = lo, hi
			return p
		}
		if m.Start < start {
			out = append(out, piece(m.Start, start))
		}
		removed = append(removed, piece(max(m.Start, start), min(m.End, end)))
		if m.End > end {
			out = append(out, piece(end, m.End))
		}
	}
	s.maps = out
	return removed
}

// Unmap removes [addr, addr+length) and frees its frames.
func (s *Space) Unmap(addr, length uint64) error {
	if addr&(PageSize-1) != 0 || length == 0 {
		return ErrInvalid
	}
	end := addr + pageAlign(length)
	var frames []uint64
	for _, m := range s.carve(addr, end) {
		s.pt.walk(m.Start, m.End, func(va, a, e uint64) {
			if e&(PtePresent|pteBacked) == 0 {
				return
			}
			s.pt.setAt(a, 0)
			frames = append(frames, e&pteAddr)
		})
	}
	return s.phys.FreeAll(frames)
}

// Protect changes the protection of [addr, addr+length), which must be
// mapped entirely.
func (s *Space) Protect(addr, length uint64, prot int) error {
	if addr&(PageSize-1) != 0 {
		return ErrInvalid
	}
	end := addr + pageAlign(length)
	// Every page must be mapped, as Linux requires (ENOMEM otherwise).
	covered := addr
	for _, m := range s.maps {
		if m.End <= covered || m.Start >= end {
			continue
		}
		if m.Start > covered {
			return ErrFault
		}
		covered = m.End
	}
	if covered < end {
		return ErrFault
	}
	pieces := s.carve(addr, end)
	flags := pteFlags(prot)
	var revokeErr error // the first failed revocation; Protect then fails
	for _, m := range pieces {
		downgrade := m.Prot&^prot != 0 || (prot&ProtExec == 0 && m.Prot&ProtExec != 0)
		if m.Lazy {
			// Only pages that have frames change; the others stay
			// unpopulated and get prot's translation when touched.
			s.pt.walk(m.Start, m.End, func(va, a, e uint64) {
				if e&(PtePresent|pteBacked) == 0 {
					return
				}
				f := e & pteAddr
				if prot == 0 {
					s.pt.setAt(a, f|pteBacked)
				} else {
					s.pt.setAt(a, f|flags|PtePresent|PteAccessed|PteDirty)
				}
				if downgrade && e&PtePresent != 0 && revokeErr == nil {
					revokeErr = s.phys.Revoke(f)
				}
			})
			m.Prot = prot
			s.insert(m)
			continue
		}
		for va := m.Start; va < m.End; va += PageSize {
			e := s.pt.Lookup(va)
			var f uint64
			if e&(PtePresent|pteBacked) != 0 {
				f = e & pteAddr
			} else if prot != 0 {
				var err error
				if f, err = s.phys.Alloc(); err != nil {
					return err
				}
			} else {
				continue
			}
			if prot == 0 {
				s.pt.set(va, f|pteBacked)
			} else if err := s.pt.Map(va, f, flags); err != nil {
				return err
			}
			if downgrade && e&PtePresent != 0 && revokeErr == nil {
				revokeErr = s.phys.Revoke(f)
			}
		}
		m.Prot = prot
		s.insert(m)
	}
	s.merge()
	return revokeErr
}

// merge joins adjacent mappings with the same protection and name.
func (s *Space) merge() {
	if len(s.maps) < 2 {
		return
	}
	out := s.maps[:1]
	for _, m := range s.maps[1:] {
		l := &out[len(out)-1]
		if l.End == m.Start && l.Prot == m.Prot && l.Name == m.Name && l.Lazy == m.Lazy {
			l.End = m.End
			continue
		}
		out = append(out, m)
	}
	s.maps = out
}

// Discard zeroes the pages of [addr, addr+length) that have frames, as
// madvise(MADV_DONTNEED) does for private anonymous memory. Pages of lazy
// mappings lose their frames instead, so the memory is released and the
// next access populates them afresh (zero, or filled by the filler).
func (s *Space) Discard(addr, length uint64) error {
	if addr&(PageSize-1) != 0 {
		return ErrInvalid
	}
	end := addr + pageAlign(length)
	if end > UserTop || end < addr {
		return ErrInvalid
	}
	var zero, free []uint64
	for _, m := range s.maps {
		if m.End <= addr || m.Start >= end {
			continue
		}
		s.pt.walk(max(m.Start, addr), min(m.End, end), func(va, a, e uint64) {
			if e&(PtePresent|pteBacked) == 0 {
				return
			}
			if m.Lazy {
				s.pt.setAt(a, 0)
				free = append(free, e&pteAddr)
			} else {
				zero = append(zero, e&pteAddr)
			}
		})
	}
	return errors.Join(s.phys.ZeroAll(zero), s.phys.FreeAll(free))
}

// HasFrame reports whether the page at va has a frame (its contents are
// the VMM's to read with Peek), which a page of a lazy mapping lacks until
// it is first touched.
func (s *Space) HasFrame(va uint64) bool {
	return s.pt.Lookup(va)&(PtePresent|pteBacked) != 0 && va < UserTop
}

// Find returns the mapping containing va.
func (s *Space) Find(va uint64) (Mapping, bool) {
	i := sort.Search(len(s.maps), func(i int) bool { return s.maps[i].End > va })
	if i < len(s.maps) && s.maps[i].Start <= va {
		return s.maps[i], true
	}
	return Mapping{}, false
}

// translate returns the host bytes from va to the end of its page, checking
// that the guest may read it (and write it, if write is set).
func (s *Space) translate(va uint64, write bool) ([]byte, error) {
	e := s.pt.Lookup(va)
	if e == 0 && va < UserTop {
		// An unpopulated page of a lazy mapping is populated as the
		// guest's own access would.
		ok, err := s.Fault(va, write, false)
		if err != nil {
			return nil, err
		}
		if ok {
			e = s.pt.Lookup(va)
		}
	}
	if e&PtePresent == 0 || e&PteUser == 0 || (write && e&PteWrite == 0) || va >= UserTop ||
		e&pteAddr >= s.phys.Size() {
		return nil, fmt.Errorf("%w: %#x", ErrFault, va)
	}
	f := s.phys.Frame(e & pteAddr)
	return f[va&(PageSize-1):], nil
}

// ReadAt copies guest memory at va into b.
func (s *Space) ReadAt(b []byte, va uint64) error {
	for len(b) > 0 {
		h, err := s.translate(va, false)
		if err != nil {
			return err
		}
		n := copy(b, h)
		b, va = b[n:], va+uint64(n)
	}
	return nil
}

// WriteAt copies b into guest memory at va.
func (s *Space) WriteAt(b []byte, va uint64) error {
	for len(b) > 0 {
		h, err := s.translate(va, true)
		if err != nil {
			return err
		}
		n := copy(h, b)
		b, va = b[n:], va+uint64(n)
	}
	return nil
}

// Poke writes b at va even if the page is read-only for the guest (the ELF
// loader uses it to fill text pages).
func (s *Space) Poke(b []byte, va uint64) error {
	for len(b) > 0 {
		e := s.pt.Lookup(va)
		if e&(PtePresent|pteBacked) == 0 || va >= UserTop {
			return fmt.Errorf("%w: %#x", ErrFault, va)
		}
		n := copy(s.phys.Frame(e & pteAddr)[va&(PageSize-1):], b)
		b, va = b[n:], va+uint64(n)
	}
	return nil
}

// Peek reads guest memory at va into b even if the guest may not read it
// (PROT_NONE pages that keep their frames). Pages without a frame read as
// zero.
func (s *Space) Peek(b []byte, va uint64) {
	for len(b) > 0 {
		n := min(uint64(len(b)), PageSize-va&(PageSize-1))
		e := s.pt.Lookup(va)
		if e&(PtePresent|pteBacked) == 0 || va >= UserTop {
			clear(b[:n])
		} else {
			copy(b[:n], s.phys.Frame(e & pteAddr)[va&(PageSize-1):])
		}
		b, va = b[n:], va+n
	}
}

// PokeFramed writes b at va like Poke, skipping pages that have no frame
// (PROT_NONE pages never made accessible) instead of failing.
func (s *Space) PokeFramed(b []byte, va uint64) {
	for len(b) > 0 {
		n := min(uint64(len(b)), PageSize-va&(PageSize-1))
		e := s.pt.Lookup(va)
		if e&(PtePresent|pteBacked) != 0 && va < UserTop {
			copy(s.phys.Frame(e & pteAddr)[va&(PageSize-1):], b[:n])
		}
		b, va = b[n:], va+n
	}
}

// ReadString reads a NUL-terminated string of at most max bytes at va.
func (s *Space) ReadString(va uint64, max int) (string, error) {
	var out []byte
	for len(out) < max {
		h, err := s.translate(va, false)
		if err != nil {
			return "", err
		}
		for i, c := range h {
			if c == 0 {
				return string(append(out, h[:i]...)), nil
			}
			if len(out)+i >= max {
				break
			}
		}
		out = append(out, h...)
		va += uint64(len(h))
	}
	return "", ErrInvalid
}
