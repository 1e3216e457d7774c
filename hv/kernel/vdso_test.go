package kernel

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/mvrun/multiverse/hv/mm"
	"github.com/mvrun/multiverse/hv/sched"
	"github.com/mvrun/multiverse/hv/vdso"
)

// newVDSOKernel returns a kernel with just an address space and a clock,
// enough to map the vDSO without KVM.
func newVDSOKernel(t *testing.T) *Kernel {
	t.Helper()
	phys, err := mm.NewPhysical(16 << 20)
	if err != nil {
		t.Skipf("guest memory: %v", err)
	}
	t.Cleanup(func() { phys.Close() })
	space, err := mm.NewSpace(phys)
	if err != nil {
		t.Fatal(err)
	}
	k := &Kernel{Phys: phys, Space: space, clock: sched.NewClock(sched.DefaultEpoch), trace: sched.NewTrace()}
	if err := k.mapVDSO(); err != nil {
		t.Fatal(err)
	}
	return k
}

// TestVDSOMapping checks the pages' permissions (the counter page alone is
// writable, only the image executable, all user-accessible), that the image
// is there, and that guest mmap cannot replace any of them.
func TestVDSOMapping(t *testing.T) {
	k := newVDSOKernel(t)
	pt := k.Space.PageTable()
	img, err := vdso.Image()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		name      string
		va        uint64
		write, nx bool
	}{
		{"counter", CounterVA, true, true},
		{"vvar", VvarVA, false, true},
		{"image", VDSOVA, false, false},
	} {
		e := pt.Lookup(p.va)
		if e&mm.PtePresent == 0 || e&mm.PteUser == 0 || (e&mm.PteWrite != 0) != p.write || (e&mm.PteNX != 0) != p.nx {
			t.Errorf("%s page at %#x: entry %#x, want present, user, write %v, no-exec %v", p.name, p.va, e, p.write, p.nx)
		}
	}
	got := make([]byte, 0, len(img))
	for off := 0; off < len(img); off += mm.PageSize {
		f := k.Phys.Frame(pt.Lookup(VDSOVA+uint64(off)) & 0x000f_ffff_ffff_f000)
		got = append(got, f[:min(mm.PageSize, len(img)-off)]...)
	}
	if !bytes.Equal(got, img) {
		t.Error("the mapped image differs from vdso.Image()")
	}
	for _, va := range []uint64{CounterVA, VvarVA, VDSOVA} {
		if _, err := k.Space.Map(va, mm.PageSize, mm.ProtRead|mm.ProtWrite, true, false, "clobber"); err == nil {
			t.Errorf("MAP_FIXED at %#x succeeded over the vDSO", va)
		}
	}
}

// TestSyncTimePageAndCharge checks what the vDSO reads: monotonic time and
// a wall-clock base that moves with the offset alone; and that reads it
// counted are charged to the clock at the next exit, bounded.
func TestSyncTimePageAndCharge(t *testing.T) {
	k := newVDSOKernel(t)
	le := binary.LittleEndian
	k.clock.Advance(5000)
	k.clock.SetOffset(time.Hour)
	k.SyncTimePage()
	if mono := int64(le.Uint64(k.vvar[vdso.VvarMono:])); mono != 5000 {
		t.Errorf("monotonic %d, want 5000", mono)
	}
	if base := int64(le.Uint64(k.vvar[vdso.VvarWallBase:])); base != sched.DefaultEpoch.UnixNano()+int64(time.Hour) {
		t.Errorf("wall base %d, want epoch + 1h", base)
	}
	if c := le.Uint64(k.vvar[vdso.VvarReadCost:]); c != costTimeRead {
		t.Errorf("read cost %d, want %d", c, costTimeRead)
	}

	le.PutUint64(k.counter[vdso.CounterReads:], 7)
	k.chargeClockReads()
	if now := k.clock.Now(); now != 5000+7*costTimeRead {
		t.Errorf("after 7 reads the clock is at %d, want %d", now, 5000+7*costTimeRead)
	}
	if n := le.Uint64(k.counter[vdso.CounterReads:]); n != 0 || k.vdsoReads != 7 {
		t.Errorf("counter %d and %d reads counted after charging, want 0 and 7", n, k.vdsoReads)
	}
	before := k.clock.Now()
	le.PutUint64(k.counter[vdso.CounterReads:], 1<<63) // a wild store
	k.chargeClockReads()
	if d := k.clock.Now() - before; d != maxChargedReads*costTimeRead {
		t.Errorf("a wild counter moved the clock by %d, want the bound %d", d, int64(maxChargedReads*costTimeRead))
	}
}
