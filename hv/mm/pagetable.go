package mm

import "encoding/binary"

// PageSize is the guest page size.
const PageSize = 4096

// Page table entry bits.
const (
	PtePresent  = 1 << 0
	PteWrite    = 1 << 1
	PteUser     = 1 << 2
	PteAccessed = 1 << 5
	PteDirty    = 1 << 6
	PteLarge    = 1 << 7
	// pteBacked marks a not-present entry that still owns its frame (a
	// PROT_NONE page whose contents must survive mprotect). The CPU ignores
	// all other bits of a not-present entry.
	pteBacked = 1 << 9
	PteNX     = 1 << 63

	pteAddr = 0x000f_ffff_ffff_f000
)

// PageTable is a four-level x86-64 page table in guest physical memory.
type PageTable struct {
	phys *Physical
	root uint64
}

// NewPageTable allocates an empty PML4.
func NewPageTable(p *Physical) (*PageTable, error) {
	r, err := p.Alloc()
	if err != nil {
		return nil, err
	}
	return &PageTable{phys: p, root: r}, nil
}

// Root returns the guest physical address of the PML4, the value for CR3.
func (t *PageTable) Root() uint64 { return t.root }

func (t *PageTable) entry(table uint64, i uint64) uint64 {
	return binary.LittleEndian.Uint64(t.phys.mem[table+8*i:])
}

func (t *PageTable) setEntry(table uint64, i uint64, v uint64) {
	binary.LittleEndian.PutUint64(t.phys.mem[table+8*i:], v)
}

// leaf returns the guest physical address of the last-level entry for va,
// allocating intermediate tables when create is set. It returns 0 if a table
// is missing and create is false.
func (t *PageTable) leaf(va uint64, create bool) (uint64, error) {
	table := t.root
	for shift := uint(39); shift > 12; shift -= 9 {
		i := (va >> shift) & 511
		e := t.entry(table, i)
		if e&PtePresent == 0 {
			if !create {
				return 0, nil
			}
			n, err := t.phys.Alloc()
			if err != nil {
				return 0, err
			}
			// Upper levels allow everything; the leaf decides.
			e = n | PtePresent | PteWrite | PteUser | PteAccessed
			t.setEntry(table, i, e)
		}
		table = e & pteAddr
	}
	return table + 8*((va>>12)&511), nil
}

// Lookup returns the leaf entry for va, or 0.
func (t *PageTable) Lookup(va uint64) uint64 {
	a, _ := t.leaf(va, false)
	if a == 0 {
		return 0
	}
	return binary.LittleEndian.Uint64(t.phys.mem[a:])
}

// FrameOf returns the frame va's page is mapped to, if it is present.
func (t *PageTable) FrameOf(va uint64) (uint64, bool) {
	e := t.Lookup(va)
	if e&PtePresent == 0 {
		return 0, false
	}
	return e & pteAddr, true
}

// Map sets the leaf entry of va to frame f with flags (PtePresent is added).
func (t *PageTable) Map(va, f, flags uint64) error {
	a, err := t.leaf(va, true)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint64(t.phys.mem[a:], f|flags|PtePresent|PteAccessed|PteDirty)
	return nil
}

// set overwrites the leaf entry for va if its table exists.
func (t *PageTable) set(va, e uint64) {
	a, _ := t.leaf(va, false)
	if a != 0 {
		binary.LittleEndian.PutUint64(t.phys.mem[a:], e)
	}
}

// walk calls fn for every non-zero leaf entry of [start, end) in address
// order, with the entry's guest physical address so fn can rewrite it
// (setAt). Subtrees whose tables were never allocated are skipped whole,
// so walking a large, sparsely populated range costs only what is there.
func (t *PageTable) walk(start, end uint64, fn func(va, a, e uint64)) {
	t.walkTable(t.root, 39, start, end, fn)
}

func (t *PageTable) walkTable(table uint64, shift uint, start, end uint64, fn func(va, a, e uint64)) {
	span := uint64(1) << shift
	for va := start; va < end; {
		next := min(va&^(span-1)+span, end)
		i := (va >> shift) & 511
		e := t.entry(table, i)
		switch {
		case shift == 12:
			if e != 0 {
				fn(va, table+8*i, e)
			}
		case e&PtePresent != 0:
			t.walkTable(e&pteAddr, shift-9, va, next, fn)
		}
		va = next
	}
}

// setAt writes leaf entry a (an address walk reported).
func (t *PageTable) setAt(a, e uint64) { binary.LittleEndian.PutUint64(t.phys.mem[a:], e) }
