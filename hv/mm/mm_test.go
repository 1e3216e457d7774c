package mm

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func newSpace(t *testing.T) *Space {
	t.Helper()
	p, err := NewPhysical(64 << 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	s, err := NewSpace(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMapReadWrite(t *testing.T) {
	s := newSpace(t)
	a, err := s.Map(0, 3*PageSize, ProtRead|ProtWrite, false, false, "")
	if err != nil {
		t.Fatal(err)
	}
	msg := bytes.Repeat([]byte("hv"), PageSize) // spans two pages
	if err := s.WriteAt(msg, a+100); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if err := s.ReadAt(got, a+100); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("ReadAt = %v, round trip equal %v", err, bytes.Equal(got, msg))
	}
	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"write read-only", func() error {
			if err := s.Protect(a, PageSize, ProtRead); err != nil {
				return err
			}
			return s.WriteAt([]byte{1}, a)
		}, ErrFault},
		{"read PROT_NONE", func() error {
			if err := s.Protect(a+PageSize, PageSize, 0); err != nil {
				return err
			}
			return s.ReadAt(make([]byte, 1), a+PageSize)
		}, ErrFault},
		{"contents survive PROT_NONE", func() error {
			if err := s.Protect(a+PageSize, PageSize, ProtRead); err != nil {
				return err
			}
			b := make([]byte, 2)
			if err := s.ReadAt(b, a+PageSize); err != nil {
				return err
			}
			if string(b) != string(msg[PageSize-100:PageSize-98]) {
				return errors.New("contents lost")
			}
			return nil
		}, nil},
		{"read after unmap", func() error {
			if err := s.Unmap(a+2*PageSize, PageSize); err != nil {
				return err
			}
			return s.ReadAt(make([]byte, 1), a+2*PageSize)
		}, ErrFault},
		{"protect unmapped", func() error { return s.Protect(a+2*PageSize, PageSize, ProtRead) }, ErrFault},
		{"VMM pages", func() error { return s.ReadAt(make([]byte, 1), UserTop) }, ErrFault},
		{"fixed noreplace over mapping", func() error {
			_, err := s.Map(a, PageSize, ProtRead, false, true, "")
			return err
		}, ErrExists},
	}
	for _, tc := range tests {
		if err := tc.op(); !errors.Is(err, tc.want) && !(err == nil && tc.want == nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// Both remaining pages ended up read-only, so they merge again.
	if m := s.Mappings(); len(m) != 1 || m[0].End-m[0].Start != 2*PageSize {
		t.Errorf("mappings after protect and unmap: %+v, want one of two pages", m)
	}
}

func TestDiscardZeroesAndUnmapFrees(t *testing.T) {
	s := newSpace(t)
	a, err := s.Map(0x10000000, 2*PageSize, ProtRead|ProtWrite, true, false, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteAt([]byte{7, 7}, a); err != nil {
		t.Fatal(err)
	}
	if err := s.Discard(a, PageSize); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 2)
	if err := s.ReadAt(b, a); err != nil || b[0] != 0 || b[1] != 0 {
		t.Fatalf("after discard: %v %v, want zeroes", b, err)
	}
	used := s.Physical().Used()
	if err := s.Unmap(a, 2*PageSize); err != nil {
		t.Fatal(err)
	}
	if got := s.Physical().Used(); got != used-2*PageSize {
		t.Fatalf("used %d after unmap, want %d", got, used-2*PageSize)
	}
	if err := s.Discard(UserTop, PageSize); err == nil {
		t.Fatal("Discard of VMM pages succeeded")
	}
}

func TestMapHintAndSearch(t *testing.T) {
	s := newSpace(t)
	const hint = 0xc000000000
	a, err := s.Map(hint, PageSize, ProtRead, false, false, "")
	if err != nil || a != hint {
		t.Fatalf("hint: got %#x, %v", a, err)
	}
	b, err := s.Map(hint, PageSize, ProtRead, false, false, "")
	if err != nil || b == hint {
		t.Fatalf("taken hint: got %#x, %v; want another address", b, err)
	}
	if _, err := s.Map(UserTop-PageSize, 2*PageSize, ProtRead, true, false, ""); err == nil {
		t.Fatal("fixed mapping over the VMM pages succeeded")
	}
}

// TestLazyMapping checks a lazily populated mapping: it reserves more than
// guest physical memory without frames, a fault populates the aligned
// chunk around the address (skipping pages that have frames, calling the
// filler for each new run), faults the protection does not allow change
// nothing, and mprotect, madvise(DONTNEED) and munmap handle the partly
// populated range without touching its unpopulated pages.
func TestLazyMapping(t *testing.T) {
	s := newSpace(t) // 64 MiB of guest physical memory
	var filled [][2]uint64
	s.SetFiller(func(start, end uint64) {
		filled = append(filled, [2]uint64{start, end})
		if err := s.Poke([]byte{0xab}, start); err != nil {
			t.Errorf("filler: Poke of a page just populated: %v", err)
		}
	})
	const size = 10 << 30
	base := s.Physical().Used()
	a, err := s.MapLazy(0, size, ProtRead, false, false, "big")
	if err != nil {
		t.Fatalf("MapLazy of 10 GiB in 64 MiB: %v", err)
	}
	if u := s.Physical().Used(); u != base {
		t.Fatalf("MapLazy used %d bytes of frames", u-base)
	}
	const chunk = FaultChunk * PageSize
	va := a + 5*chunk + 3*PageSize + 17 // inside the sixth chunk
	if ok, err := s.Fault(va, true, false); ok || err != nil {
		t.Fatalf("write fault on a read-only lazy mapping: %v %v, want false", ok, err)
	}
	if ok, err := s.Fault(va, false, true); ok || err != nil {
		t.Fatalf("fetch fault on a non-executable lazy mapping: %v %v, want false", ok, err)
	}
	if ok, err := s.Fault(va, false, false); !ok || err != nil {
		t.Fatalf("read fault: %v %v, want true", ok, err)
	}
	if ok, _ := s.Fault(va, false, false); ok {
		t.Fatal("second fault on a populated page reported true")
	}
	lo := a + 5*chunk
	if len(filled) != 1 || filled[0] != [2]uint64{lo, lo + chunk} {
		t.Fatalf("filler calls %#x, want one for [%#x, %#x)", filled, lo, lo+chunk)
	}
	for p := lo; p < lo+chunk; p += PageSize {
		if !s.HasFrame(p) {
			t.Fatalf("page %#x of the faulted chunk has no frame", p)
		}
	}
	if s.HasFrame(lo-PageSize) || s.HasFrame(lo+chunk) {
		t.Fatal("a page outside the faulted chunk got a frame")
	}
	b := make([]byte, 2)
	if err := s.ReadAt(b, lo); err != nil || b[0] != 0xab || b[1] != 0 {
		t.Fatalf("ReadAt of the filled page: %v %v", b, err)
	}
	if err := s.WriteAt([]byte{1}, lo); !errors.Is(err, ErrFault) {
		t.Fatalf("WriteAt to a read-only lazy page: %v, want ErrFault", err)
	}

	// A VMM copy populates like a guest access would; an untouched page
	// reads as zero after its filler ran.
	filled = nil
	far := a + size - PageSize
	if err := s.ReadAt(b, far+100); err != nil || b[0] != 0 || b[1] != 0 {
		t.Fatalf("ReadAt of an untouched page: %v %v", b, err)
	}
	if len(filled) != 1 || filled[0] != [2]uint64{a + size - chunk, a + size} {
		t.Fatalf("filler calls after ReadAt %#x", filled)
	}

	// Make it writable: only populated pages change, untouched ones stay
	// lazy and get the new protection when touched.
	used := s.Physical().Used()
	if err := s.Protect(a, size, ProtRead|ProtWrite); err != nil {
		t.Fatal(err)
	}
	if u := s.Physical().Used(); u != used {
		t.Fatalf("Protect of a lazy mapping allocated %d bytes", u-used)
	}
	if err := s.WriteAt([]byte{9}, lo+1); err != nil {
		t.Fatalf("WriteAt after Protect: %v", err)
	}
	if ok, err := s.Fault(a+2*chunk, true, false); !ok || err != nil {
		t.Fatalf("write fault after Protect: %v %v", ok, err)
	}
	// A chunk with a populated page in the middle fills only the new runs.
	filled = nil
	mid := a + 7*chunk
	if err := s.WriteAt([]byte{5}, mid+4*PageSize); err != nil { // populates all of chunk 7
		t.Fatal(err)
	}
	if err := s.Discard(mid, 4*PageSize); err != nil {
		t.Fatal(err)
	}
	filled = nil
	if ok, err := s.Fault(mid, true, false); !ok || err != nil {
		t.Fatalf("fault after discard: %v %v", ok, err)
	}
	if len(filled) != 1 || filled[0] != [2]uint64{mid, mid + 4*PageSize} {
		t.Fatalf("filler calls for a partly populated chunk %#x, want [%#x, %#x)", filled, mid, mid+4*PageSize)
	}
	if err := s.ReadAt(b[:1], mid+4*PageSize); err != nil || b[0] != 5 {
		t.Fatalf("page kept through the discard of its neighbours: %v %v", b[:1], err)
	}

	// PROT_NONE keeps frames and contents; touching is a real fault.
	if err := s.Protect(lo, chunk, 0); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Fault(lo, false, false); ok {
		t.Fatal("fault on a PROT_NONE page populated it")
	}
	if err := s.Protect(lo, chunk, ProtRead); err != nil {
		t.Fatal(err)
	}
	if err := s.ReadAt(b, lo); err != nil || b[0] != 0xab || b[1] != 9 {
		t.Fatalf("contents after PROT_NONE and back: %v %v", b, err)
	}

	// DONTNEED releases the frames of a lazy mapping; the page refills.
	used = s.Physical().Used()
	if err := s.Discard(lo, chunk); err != nil {
		t.Fatal(err)
	}
	if u := s.Physical().Used(); u != used-chunk {
		t.Fatalf("Discard freed %d bytes, want %d", used-u, chunk)
	}
	filled = nil
	if err := s.ReadAt(b, lo); err != nil || b[0] != 0xab || b[1] != 0 {
		t.Fatalf("ReadAt after discard: %v %v, want the filler's byte and a zero", b, err)
	}

	// munmap of the whole range frees every frame it had.
	if err := s.Unmap(a, size); err != nil {
		t.Fatal(err)
	}
	if s.HasFrame(lo) || s.HasFrame(far) {
		t.Fatal("frames left after Unmap")
	}
	if ok, _ := s.Fault(lo, false, false); ok {
		t.Fatal("fault after Unmap populated a page")
	}
	// Page-table pages stay; data frames are all back.
	if u := s.Physical().Used(); u > base+16*PageSize {
		t.Fatalf("%d bytes still used after Unmap (started with %d)", u, base)
	}
}

// TestLazyFaultStaysInMapping checks that the chunk a fault populates is
// clipped to the mapping, and that eager mappings never fault in.
func TestLazyFaultStaysInMapping(t *testing.T) {
	s := newSpace(t)
	const start = 0x2000_0000 + 3*PageSize // not chunk-aligned
	if _, err := s.MapLazy(start, 5*PageSize, ProtRead|ProtWrite, true, false, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Map(start+5*PageSize, 2*PageSize, 0, true, false, ""); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Fault(start+PageSize, true, false); !ok || err != nil {
		t.Fatalf("fault: %v %v", ok, err)
	}
	for i := uint64(0); i < 5; i++ {
		if !s.HasFrame(start + i*PageSize) {
			t.Errorf("page %d of the lazy mapping has no frame", i)
		}
	}
	if s.HasFrame(start-PageSize) || s.HasFrame(start+5*PageSize) {
		t.Error("the fault populated a page outside its mapping")
	}
	if ok, _ := s.Fault(start+5*PageSize, false, false); ok {
		t.Error("fault on an eager PROT_NONE mapping populated it")
	}
	if ok, _ := s.Fault(start+20*PageSize, false, false); ok {
		t.Error("fault outside any mapping populated a page")
	}
}

// TestPhysicalGrows checks that frames are only handed out from memory the
// hypervisor was told about, in doubling pieces, and that the end of
// memory is ErrNoMemory.
func TestPhysicalGrows(t *testing.T) {
	p, err := NewPhysical(600 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var pieces [][2]uint64
	p.OnGrow(func(lo, hi uint64) error {
		pieces = append(pieces, [2]uint64{lo, hi})
		return nil
	})
	var last uint64
	for {
		f, err := p.Alloc()
		if errors.Is(err, ErrNoMemory) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n := len(pieces); n == 0 || f+PageSize > pieces[n-1][1] {
			t.Fatalf("frame %#x handed out beyond the registered memory %#x", f, pieces)
		}
		last = f
	}
	want := [][2]uint64{{0, 256 << 20}, {256 << 20, 512 << 20}, {512 << 20, 600 << 20}}
	if fmt.Sprint(pieces) != fmt.Sprint(want) {
		t.Errorf("pieces %#x, want %#x", pieces, want)
	}
	if last != 600<<20-PageSize {
		t.Errorf("last frame %#x, want the last page", last)
	}
}

// BenchmarkLazyMapUnmap measures reserving and releasing bbolt's 10 GiB
// mapping with a few pages touched (the eager version populated and then
// discarded 2.6 million pages).
func BenchmarkLazyMapUnmap(b *testing.B) {
	p, err := NewPhysical(64 << 20)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	s, err := NewSpace(p)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		a, err := s.MapLazy(0, 10<<30, ProtRead, false, false, "")
		if err != nil {
			b.Fatal(err)
		}
		for i := uint64(0); i < 8; i++ {
			if _, err := s.Fault(a+i<<30, false, false); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.Unmap(a, 10<<30); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEagerPopulate measures populating 64 MiB eagerly, per page.
func BenchmarkEagerPopulate(b *testing.B) {
	p, err := NewPhysical(256 << 20)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	s, err := NewSpace(p)
	if err != nil {
		b.Fatal(err)
	}
	const size = 64 << 20
	for b.Loop() {
		a, err := s.Map(0, size, ProtRead|ProtWrite, false, false, "")
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := s.Unmap(a, size); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(size/PageSize), "ns/page")
}

// TestLazyFaultSequential checks that a fault next to populated pages
// populates the whole FaultRun group, and an isolated one only its
// FaultChunk group.
func TestLazyFaultSequential(t *testing.T) {
	s := newSpace(t)
	const run = FaultRun * PageSize
	a, err := s.MapLazy(0x4000_0000, 2*run, ProtRead|ProtWrite, true, false, "")
	if err != nil {
		t.Fatal(err)
	}
	frames := func(lo, hi uint64) (n int) {
		for p := lo; p < hi; p += PageSize {
			if s.HasFrame(p) {
				n++
			}
		}
		return n
	}
	if ok, err := s.Fault(a, true, false); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if n := frames(a, a+2*run); n != FaultChunk {
		t.Fatalf("first fault populated %d pages, want %d", n, FaultChunk)
	}
	if ok, err := s.Fault(a+FaultChunk*PageSize, true, false); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if n := frames(a, a+2*run); n != FaultRun {
		t.Fatalf("sequential fault: %d pages populated, want the whole group of %d", n, FaultRun)
	}
	// Backwards works too: the next group up, then one below it.
	if ok, err := s.Fault(a+2*run-PageSize, false, false); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if n := frames(a+run, a+2*run); n != FaultChunk {
		t.Fatalf("isolated fault: %d pages, want %d", n, FaultChunk)
	}
	if ok, err := s.Fault(a+2*run-FaultChunk*PageSize-1, false, false); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if n := frames(a, a+2*run); n != 2*FaultRun {
		t.Fatalf("after a fault below a populated group: %d pages, want %d", n, 2*FaultRun)
	}
}

// TestSaveRestore copies memory with frames in use and freed, and the
// restored memory reads the same and hands out frames as the original
// would.
func TestSaveRestore(t *testing.T) {
	p, err := NewPhysical(1 << 30)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var fs []uint64
	for i := range 8 {
		f, err := p.Alloc()
		if err != nil {
			t.Fatal(err)
		}
		p.Frame(f)[0], p.Frame(f)[PageSize-1] = byte(i+1), byte(i+100)
		fs = append(fs, f)
	}
	if err := p.Free(fs[2]); err != nil {
		t.Fatal(err)
	}
	if err := p.Free(fs[5]); err != nil {
		t.Fatal(err)
	}
	zf, err := p.Alloc() // in use but zero: not kept
	if err != nil {
		t.Fatal(err)
	}
	s := p.Save()
	if s.Bytes() != 6*PageSize {
		t.Errorf("saved %d bytes, want 6 frames", s.Bytes())
	}
	if q, err := Restore(s); err != nil || q.Frame(zf)[0] != 0 {
		t.Fatalf("zero frame: %v", err)
	} else {
		q.Close()
	}
	q, err := Restore(s)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for i, f := range fs {
		want := [2]byte{byte(i + 1), byte(i + 100)}
		if i == 2 || i == 5 {
			want = [2]byte{}
		}
		if got := [2]byte{q.Frame(f)[0], q.Frame(f)[PageSize-1]}; got != want {
			t.Errorf("frame %d reads %v, want %v", i, got, want)
		}
	}
	for range 3 {
		a, err1 := p.Alloc()
		b, err2 := q.Alloc()
		if a != b || err1 != nil || err2 != nil {
			t.Fatalf("allocations differ: %#x %v, %#x %v", a, err1, b, err2)
		}
	}
	var pieces [][2]uint64
	if err := q.Regrow(func(lo, hi uint64) error { pieces = append(pieces, [2]uint64{lo, hi}); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(pieces) == 0 || pieces[0][0] != 0 {
		t.Errorf("regrow pieces %v", pieces)
	}
}
