package kernel

import (
	"encoding/binary"
	"fmt"

	"github.com/mvrun/multiverse/hv/mm"
	"github.com/mvrun/multiverse/hv/vdso"
)

// Guest addresses of the vDSO (package vdso) and its data pages. They lie
// above mm.UserTop, in the range the VMM keeps for itself (hv's system call
// stub sits at UserTop), so no mmap, MAP_FIXED or munmap of the guest
// reaches them and the guest cannot lose its clock; system calls that take
// a pointer there get EFAULT like any VMM page.
const (
	// CounterVA is the counter page: the guest's vDSO counts its clock
	// reads there (vdso.CounterReads); read+write, no exec.
	CounterVA = mm.UserTop + 0x10_0000
	// VvarVA is the vvar page: read-only for the guest, written by
	// [Kernel.SyncTimePage].
	VvarVA = CounterVA + mm.PageSize
	// VDSOVA is the ELF image, read+exec, whose address AT_SYSINFO_EHDR
	// gives. The code finds its data pages right below it.
	VDSOVA = VvarVA + mm.PageSize
	// VDSOEnd is the end of the range reserved for the image.
	VDSOEnd = VDSOVA + 2*mm.PageSize
)

// maxChargedReads bounds what one exit charges for vDSO clock reads: the
// counter page is guest-writable, and a wild store there must not wrap the
// virtual clock. 2^32 reads at 100 ns is seven minutes of virtual time,
// far more than a guest reads between two exits within a 100 ms quantum.
const maxChargedReads = 1 << 32

// mapVDSO maps the counter page, the vvar page and the vDSO image into the
// address space and fills the vvar page, as Linux does for every process
// it execs.
func (k *Kernel) mapVDSO() error {
	img, err := vdso.Image()
	if err != nil {
		return err
	}
	if VDSOVA+uint64(len(img)) > VDSOEnd || VDSOVA-CounterVA != vdso.DataPages*mm.PageSize {
		return fmt.Errorf("vdso image of %d bytes and %d data pages do not fit the reserved range", len(img), vdso.DataPages)
	}
	pt := k.Space.PageTable()
	page := func(va, flags uint64) ([]byte, error) {
		f, err := k.Phys.Alloc()
		if err != nil {
			return nil, err
		}
		if err := pt.Map(va, f, flags); err != nil {
			return nil, err
		}
		return k.Phys.Frame(f), nil
	}
	if k.counter, err = page(CounterVA, mm.PteUser|mm.PteWrite|mm.PteNX); err != nil {
		return err
	}
	if k.vvar, err = page(VvarVA, mm.PteUser|mm.PteNX); err != nil {
		return err
	}
	for off := 0; off < len(img); off += mm.PageSize {
		p, err := page(VDSOVA+uint64(off), mm.PteUser)
		if err != nil {
			return err
		}
		copy(p, img[off:])
	}
	binary.LittleEndian.PutUint64(k.vvar[vdso.VvarReadCost:], costTimeRead)
	k.SyncTimePage()
	return nil
}

// SyncTimePage writes the virtual clock to the vvar page the vDSO reads:
// monotonic nanoseconds since boot and the wall-clock base (epoch plus the
// clock offset), so clock_gettime and gettimeofday in the guest cost no VM
// exit. The machine calls it before every entry into the guest; the clock
// only moves while the VMM runs, so what the guest reads is as
// deterministic as a system call would be. Without a vDSO it does nothing.
func (k *Kernel) SyncTimePage() {
	if k.vvar == nil {
		return
	}
	now := k.clock.Now()
	binary.LittleEndian.PutUint64(k.vvar[vdso.VvarMono:], uint64(now))
	binary.LittleEndian.PutUint64(k.vvar[vdso.VvarWallBase:], uint64(k.clock.Wall()-now))
}

// chargeClockReads advances the virtual clock by the clock reads the vDSO
// answered since the last exit, costTimeRead each, as if each had been a
// clock_gettime system call, and zeroes the counter. Every entry from the
// guest into the kernel (system call, exception, preemption) calls it
// first, so handlers see the time the guest last read.
func (k *Kernel) chargeClockReads() {
	if k.counter == nil {
		return
	}
	n := binary.LittleEndian.Uint64(k.counter[vdso.CounterReads:])
	if n == 0 {
		return
	}
	binary.LittleEndian.PutUint64(k.counter[vdso.CounterReads:], 0)
	n = min(n, maxChargedReads)
	k.vdsoReads += n
	k.clock.Advance(int64(n) * costTimeRead)
	k.trace.Event('r', n)
}
