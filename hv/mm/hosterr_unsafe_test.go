package mm

import (
	"errors"
	"slices"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestHostErrorsPropagate: when the host refuses the madvise or mprotect
// that makes KVM forget a frame's translations, Free, FreeAll, Zero and
// Revoke say so with ErrHost, and the frame is never handed out again
// (its old contents, and KVM's stale translations to it, must stay
// unreachable).
func TestHostErrorsPropagate(t *testing.T) {
	p, err := NewPhysical(64 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	f, err := p.Alloc()
	if err != nil {
		t.Fatal(err)
	}
	// Unmapping the frame's host page makes every later madvise and
	// mprotect of it fail with ENOMEM, as a host bug would.
	// (unix.Munmap only takes whole mappings, hence the raw call.)
	page := p.Host()[f : f+PageSize]
	if _, _, e := unix.Syscall(unix.SYS_MUNMAP, uintptr(unsafe.Pointer(&page[0])), PageSize, 0); e != 0 {
		t.Fatal(e)
	}
	for name, call := range map[string]func() error{
		"Free":    func() error { return p.Free(f) },
		"FreeAll": func() error { return p.FreeAll([]uint64{f}) },
		"Zero":    func() error { return p.Zero(f) },
		"ZeroAll": func() error { return p.ZeroAll([]uint64{f}) },
		"Revoke":  func() error { return p.Revoke(f) },
	} {
		if err := call(); !errors.Is(err, ErrHost) || !errors.Is(err, unix.ENOMEM) {
			t.Errorf("%s of an unmapped frame: %v, want ErrHost wrapping ENOMEM", name, err)
		}
	}
	if slices.Contains(p.free, f) {
		t.Errorf("frame %#x joined the free list although discarding it failed", f)
	}
	g, err := p.Alloc()
	if err != nil {
		t.Fatal(err)
	}
	if g == f {
		t.Errorf("Alloc handed out frame %#x again after a failed Free", f)
	}
}
