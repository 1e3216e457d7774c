// Package mm is hv's guest memory: guest physical frames backed by one host
// mapping, the x86-64 four-level page tables the VMM writes for the guest, the
// guest's address space (its mappings, mmap/munmap/mprotect), copies between
// the VMM and guest virtual memory, and the static ELF loader.
//
// Guest page tables are written by the VMM, not by a guest kernel, and KVM
// does not see those writes. On the hosts hv targets (measured, DESIGN.md §8)
// a new translation (not-present → present) takes effect without a flush,
// but a removed or downgraded one stays live in KVM's shadow MMU until KVM is
// made to drop it. This package drops it at the frame: a freed frame is
// discarded with madvise(MADV_DONTNEED) on its host memory and a downgraded
// frame gets an mprotect toggle, and both make the host kernel's MMU notifier
// zap every shadow entry pointing at the frame.
package mm

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// ErrNoMemory is returned when guest physical memory is exhausted.
var ErrNoMemory = errors.New("guest physical memory exhausted")

// Physical is guest physical memory: one host mapping, handed out in 4 KiB
// frames. Host pages are only allocated when touched, so a large size costs
// little.
type Physical struct {
	mem  []byte
	next uint64   // next never-used frame address
	free []uint64 // freed frame addresses; their host pages were discarded
}

// Frames below this guest physical address are never handed out, so a zero
// frame address can mean "none".
const firstFrame = 0x10000

// NewPhysical maps size bytes of host memory (rounded to pages) for guest
// physical memory starting at guest physical address 0.
func NewPhysical(size uint64) (*Physical, error) {
	size = (size + PageSize - 1) &^ (PageSize - 1)
	mem, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("map %d MiB of guest memory: %w", size>>20, err)
	}
	return &Physical{mem: mem, next: firstFrame}, nil
}

// Close unmaps the host memory.
func (p *Physical) Close() error {
	if p.mem == nil {
		return nil
	}
	err := unix.Munmap(p.mem)
	p.mem = nil
	return err
}

// Host returns the host memory backing all of guest physical memory, for
// registering it with KVM.
func (p *Physical) Host() []byte { return p.mem }

// Size returns the size of guest physical memory in bytes.
func (p *Physical) Size() uint64 { return uint64(len(p.mem)) }

// Used returns how many bytes of frames are currently allocated.
func (p *Physical) Used() uint64 { return p.next - firstFrame - uint64(len(p.free))*PageSize }

// Alloc returns the guest physical address of a zeroed frame.
func (p *Physical) Alloc() (uint64, error) {
	if n := len(p.free); n > 0 {
		f := p.free[n-1]
		p.free = p.free[:n-1]
		return f, nil
	}
	if p.next+PageSize > uint64(len(p.mem)) {
		return 0, ErrNoMemory
	}
	f := p.next
	p.next += PageSize
	return f, nil
}

// Free discards frame f: its host page is dropped (so it reads as zero when
// handed out again) and KVM forgets every translation to it.
func (p *Physical) Free(f uint64) {
	_ = unix.Madvise(p.mem[f:f+PageSize], unix.MADV_DONTNEED)
	p.free = append(p.free, f)
}

// Zero discards the contents of frame f in place: it reads as zero
// afterwards, and KVM drops its translations to the old page.
func (p *Physical) Zero(f uint64) {
	_ = unix.Madvise(p.mem[f:f+PageSize], unix.MADV_DONTNEED)
}

// Revoke makes KVM drop every translation to frame f while keeping its
// contents, after a permission downgrade.
func (p *Physical) Revoke(f uint64) {
	b := p.mem[f : f+PageSize]
	_ = unix.Mprotect(b, unix.PROT_READ)
	_ = unix.Mprotect(b, unix.PROT_READ|unix.PROT_WRITE)
}

// Frame returns the host bytes of the frame at guest physical address f.
func (p *Physical) Frame(f uint64) []byte { return p.mem[f : f+PageSize : f+PageSize] }
