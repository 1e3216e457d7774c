package mm

import (
	"bytes"
	"fmt"
	"slices"
)

// Saved is a copy of guest physical memory at one moment: the bytes of
// every frame in use that holds any (free frames, frames never handed out
// and zero pages read as zero and are not kept) and the allocator's state, so a snapshot can
// bring a process's memory back in a fresh mapping.
type Saved struct {
	size, next, backed, exhausted uint64
	free                          []uint64
	runs                          []imageRun
	data                          []byte
}

// imageRun is a range of frames in use [start, start+n) kept at data[off:].
type imageRun struct{ start, n, off uint64 }

// Bytes returns how many bytes of frames the image holds.
func (im *Saved) Bytes() int { return len(im.data) }

// Save copies the frames in use. Pages that read as zero are not kept
// (most of a Go process's frames are: heap arenas touched in chunks,
// page tables): restored memory reads zero where nothing was written.
func (p *Physical) Save() *Saved {
	im := &Saved{size: uint64(len(p.mem)), next: p.next, backed: p.backed, exhausted: p.exhausted, free: slices.Clone(p.free)}
	free := slices.Clone(p.free)
	slices.Sort(free)
	var zero [PageSize]byte
	for f, i := uint64(firstFrame), 0; f < p.next; f += PageSize {
		for i < len(free) && free[i] < f {
			i++
		}
		if i < len(free) && free[i] == f {
			continue
		}
		page := p.mem[f : f+PageSize]
		if bytes.Equal(page, zero[:]) {
			continue
		}
		if n := len(im.runs); n > 0 && im.runs[n-1].start+im.runs[n-1].n == f {
			im.runs[n-1].n += PageSize
		} else {
			im.runs = append(im.runs, imageRun{start: f, n: PageSize, off: uint64(len(im.data))})
		}
		im.data = append(im.data, page...)
	}
	return im
}

// Restore maps fresh guest physical memory holding im's frames, with the
// allocator where it was. Like [NewPhysical] all of it is available until
// [Physical.Regrow] says which pieces the hypervisor knows.
func Restore(im *Saved) (*Physical, error) {
	p, err := NewPhysical(im.size)
	if err != nil {
		return nil, err
	}
	if uint64(len(p.mem)) != im.size {
		return nil, fmt.Errorf("restore guest memory: mapped %d bytes, the image has %d", len(p.mem), im.size)
	}
	for _, r := range im.runs {
		copy(p.mem[r.start:r.start+r.n], im.data[r.off:r.off+r.n])
	}
	p.next, p.exhausted = im.next, im.exhausted
	p.free = slices.Clone(im.free)
	p.backed = im.backed
	return p, nil
}

// Regrow is [Physical.OnGrow] for restored memory: fn is told, piece by
// piece as they were first registered, about the memory the image's
// hypervisor knew, and then about later pieces as frames are handed out.
func (p *Physical) Regrow(fn func(lo, hi uint64) error) error {
	p.grow = fn
	for lo := uint64(0); lo < p.backed; {
		hi := min(max(2*lo, firstPiece), uint64(len(p.mem)))
		if err := fn(lo, hi); err != nil {
			return fmt.Errorf("register guest memory [%#x, %#x): %w", lo, hi, err)
		}
		lo = hi
	}
	return nil
}
