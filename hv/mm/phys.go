// Package mm is hv's guest memory: guest physical frames backed by one host
// mapping, the x86-64 four-level page tables the VMM writes for the guest, the
// guest's address space (its mappings, mmap/munmap/mprotect), copies between
// the VMM and guest virtual memory, and the static ELF loader.
//
// Guest page tables are written by the VMM, not by a guest kernel, and KVM
// does not see those writes. On the hosts hv targets (measured; docs/hv.md, Memory)
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
	"slices"

	"golang.org/x/sys/unix"
)

// ErrNoMemory is returned when guest physical memory is exhausted.
var ErrNoMemory = errors.New("guest physical memory exhausted")

// ErrHost is wrapped by errors of the host system calls that keep KVM's view
// of guest memory coherent (madvise and mprotect on a frame's host memory).
// After one fails KVM may still translate to a freed frame or through a
// revoked permission, so the guest could read or write memory it no longer
// owns: the process must stop, and the frame is never handed out again.
var ErrHost = errors.New("host memory call failed")

// Physical is guest physical memory: one host mapping, handed out in 4 KiB
// frames. Host pages are only allocated when touched, so a large size costs
// little.
//
// The hypervisor learns about the memory in growing pieces ([Physical.OnGrow])
// rather than all at once, because KVM's bookkeeping for a memory slot
// (its reverse map, 8 bytes per 4 KiB page, zeroed when the slot is
// created) is paid in full for the slot's size: a 32 GiB slot costs 64 MiB
// of host kernel memory and about 16 ms per VM on our hosts, more than a
// Go hello world takes to run. Frames are handed out from the bottom up, so
// only the memory a process actually uses is ever registered.
type Physical struct {
	mem    []byte                    `snap:"zero"` // guest memory is saved apart (Save), never deep-copied
	next   uint64                    // next never-used frame address
	free   []uint64                  // freed frame addresses; their host pages were discarded
	backed uint64                    // frames below this address are known to the hypervisor
	grow   func(lo, hi uint64) error `snap:"zero"`
	// exhausted counts allocations refused for want of memory.
	exhausted uint64
}

// firstPiece is the size of the first piece of guest physical memory
// registered with the hypervisor; each later piece doubles what is
// registered, so a process using n bytes has at most log2(n/firstPiece)+1
// pieces and at most 2n bytes registered.
const firstPiece = 256 << 20

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
	return &Physical{mem: mem, next: firstFrame, backed: uint64(len(mem))}, nil
}

// OnGrow makes frames available only as far as fn has been told: fn is
// called with [lo, hi) before the first frame in it is handed out, the
// first time for [0, min(256 MiB, size)). hv registers each piece as a KVM
// memory slot. It must be called before the first Alloc; without it all of
// the memory is available at once (tests).
func (p *Physical) OnGrow(fn func(lo, hi uint64) error) {
	p.grow, p.backed = fn, 0
}

// extend tells the hypervisor about the next piece of memory.
func (p *Physical) extend() error {
	hi := min(max(2*p.backed, firstPiece), uint64(len(p.mem)))
	if hi <= p.backed {
		return ErrNoMemory
	}
	if err := p.grow(p.backed, hi); err != nil {
		return fmt.Errorf("register guest memory [%#x, %#x): %w", p.backed, hi, err)
	}
	p.backed = hi
	return nil
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

// Exhausted returns how many frame allocations failed because guest
// physical memory was used up, so a summary can name the cause of the
// ENOMEM (or the runtime's "out of memory") a guest saw.
func (p *Physical) Exhausted() uint64 { return p.exhausted }

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
		p.exhausted++
		return 0, ErrNoMemory
	}
	for p.next+PageSize > p.backed {
		if err := p.extend(); err != nil {
			if errors.Is(err, ErrNoMemory) {
				p.exhausted++
			}
			return 0, err
		}
	}
	f := p.next
	p.next += PageSize
	return f, nil
}

// Free discards frame f: its host page is dropped (so it reads as zero when
// handed out again) and KVM forgets every translation to it. If the host
// refuses, the frame is not reused and the error wraps [ErrHost].
func (p *Physical) Free(f uint64) error {
	if err := p.discard(f, f+PageSize); err != nil {
		return err
	}
	p.free = append(p.free, f)
	return nil
}

// FreeAll frees frames fs like Free, discarding each run of adjacent
// frames with one system call (munmap of a large populated range would
// otherwise make one per page). The frames join the free list in the order
// given; if the host refuses, none does.
func (p *Physical) FreeAll(fs []uint64) error {
	if err := p.discardRuns(fs); err != nil {
		return err
	}
	p.free = append(p.free, fs...)
	return nil
}

// ZeroAll zeroes frames fs like Zero, one system call per run of adjacent
// frames.
func (p *Physical) ZeroAll(fs []uint64) error { return p.discardRuns(fs) }

// discardRuns drops the host pages of frames fs (in any order).
func (p *Physical) discardRuns(fs []uint64) error {
	sorted := slices.Clone(fs)
	slices.Sort(sorted)
	for i := 0; i < len(sorted); {
		j := i + 1
		for j < len(sorted) && sorted[j] == sorted[j-1]+PageSize {
			j++
		}
		if err := p.discard(sorted[i], sorted[j-1]+PageSize); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// discard drops the host pages of frames [from, to) with
// madvise(MADV_DONTNEED), which also makes KVM forget its translations.
func (p *Physical) discard(from, to uint64) error {
	if err := unix.Madvise(p.mem[from:to], unix.MADV_DONTNEED); err != nil {
		return fmt.Errorf("%w: madvise(MADV_DONTNEED) of frames %#x-%#x: %w", ErrHost, from, to, err)
	}
	return nil
}

// Zero discards the contents of frame f in place: it reads as zero
// afterwards, and KVM drops its translations to the old page.
func (p *Physical) Zero(f uint64) error { return p.discard(f, f+PageSize) }

// Revoke makes KVM drop every translation to frame f while keeping its
// contents, after a permission downgrade.
func (p *Physical) Revoke(f uint64) error {
	b := p.mem[f : f+PageSize]
	if err := unix.Mprotect(b, unix.PROT_READ); err != nil {
		return fmt.Errorf("%w: mprotect of frame %#x: %w", ErrHost, f, err)
	}
	if err := unix.Mprotect(b, unix.PROT_READ|unix.PROT_WRITE); err != nil {
		return fmt.Errorf("%w: mprotect of frame %#x back to read-write: %w", ErrHost, f, err)
	}
	return nil
}

// Frame returns the host bytes of the frame at guest physical address f.
func (p *Physical) Frame(f uint64) []byte { return p.mem[f : f+PageSize : f+PageSize] }
