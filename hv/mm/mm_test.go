package mm

import (
	"bytes"
	"errors"
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
