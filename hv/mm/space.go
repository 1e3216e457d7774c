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
}

// Space is one guest process's address space.
type Space struct {
	phys *Physical
	pt   *PageTable
	maps []Mapping // sorted, non-overlapping
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
func (s *Space) Map(addr, length uint64, prot int, fixed, noReplace bool, name string) (uint64, error) {
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
		s.Unmap(addr, length)
	case addr != 0 && addr+length <= UserTop && addr+length > addr && s.free(addr, addr+length):
	default:
		a, ok := s.findFree(length, mmapTop)
		if !ok {
			return 0, ErrNoMemory
		}
		addr = a
	}
	if err := s.populate(addr, addr+length, prot); err != nil {
		s.Unmap(addr, length)
		return 0, err
	}
	s.insert(Mapping{Start: addr, End: addr + length, Prot: prot, Name: name})
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
			s.phys.Free(f)
			return err
		}
	}
	return nil
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
		if m.Start < start {
			out = append(out, Mapping{Start: m.Start, End: start, Prot: m.Prot, Name: m.Name})
		}
		removed = append(removed, Mapping{Start: max(m.Start, start), End: min(m.End, end), Prot: m.Prot, Name: m.Name})
		if m.End > end {
			out = append(out, Mapping{Start: end, End: m.End, Prot: m.Prot, Name: m.Name})
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
	for _, m := range s.carve(addr, end) {
		for va := m.Start; va < m.End; va += PageSize {
			e := s.pt.Lookup(va)
			if e&(PtePresent|pteBacked) == 0 {
				continue
			}
			s.pt.set(va, 0)
			s.phys.Free(e & pteAddr)
		}
	}
	return nil
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
	for _, m := range pieces {
		downgrade := m.Prot&^prot != 0 || (prot&ProtExec == 0 && m.Prot&ProtExec != 0)
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
			if downgrade && e&PtePresent != 0 {
				s.phys.Revoke(f)
			}
		}
		m.Prot = prot
		s.insert(m)
	}
	s.merge()
	return nil
}

// merge joins adjacent mappings with the same protection and name.
func (s *Space) merge() {
	if len(s.maps) < 2 {
		return
	}
	out := s.maps[:1]
	for _, m := range s.maps[1:] {
		l := &out[len(out)-1]
		if l.End == m.Start && l.Prot == m.Prot && l.Name == m.Name {
			l.End = m.End
			continue
		}
		out = append(out, m)
	}
	s.maps = out
}

// Discard zeroes the pages of [addr, addr+length) that have frames, as
// madvise(MADV_DONTNEED) does for private anonymous memory.
func (s *Space) Discard(addr, length uint64) error {
	if addr&(PageSize-1) != 0 {
		return ErrInvalid
	}
	end := addr + pageAlign(length)
	if end > UserTop || end < addr {
		return ErrInvalid
	}
	for va := addr; va < end; va += PageSize {
		if e := s.pt.Lookup(va); e&(PtePresent|pteBacked) != 0 {
			s.phys.Zero(e & pteAddr)
		}
	}
	return nil
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
