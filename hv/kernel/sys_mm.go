package kernel

import (
	"errors"

	"github.com/mvrun/multiverse/hv/abi"
	"github.com/mvrun/multiverse/hv/mm"
)

func mmErrno(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mm.ErrHost):
		return err // not the guest's doing: dispatch stops the process
	case errors.Is(err, mm.ErrNoMemory):
		return abi.ENOMEM
	case errors.Is(err, mm.ErrExists):
		return abi.EEXIST
	case errors.Is(err, mm.ErrFault):
		return abi.ENOMEM
	}
	return abi.EINVAL
}

// lazyMin is the length from which mmap only reserves a mapping's range:
// its pages get frames at the guest's first touch (a #PF the kernel
// resolves, Kernel.Fault), or when a system call copies to or from them.
// Smaller mappings are populated at once. A demand fault is a VM exit,
// about 30 µs on our hosts beyond what the page's first touch costs
// anyway, while populating a page eagerly costs the VMM about 15 ns, so
// eager wins for memory that is mostly touched soon, which is what small
// mappings are: Go's runtime grows its heap in 4 MiB mmaps it then fills.
// Large mappings are where eager population hurts: bbolt maps 10 GiB of a
// database file that is mostly absent (more than a guest's memory), and Go
// maps a 32 MiB arena index of which it touches a page. The same rule
// holds for file mappings, whose small ones are copied in at once.
// MAP_POPULATE does not change it: a large mapping is still populated as
// it is touched (the guest sees the same bytes, only later).
const lazyMin = 16 << 20

// sysMmap implements Linux syscall mmap(2).
func sysMmap(t *Thread, a *[6]uint64) (uint64, error) {
	addr, length, prot, flags, fd, off := a[0], a[1], int(a[2]), a[3], int(int32(a[4])), a[5]
	if length == 0 || addr&(abi.PageSize-1) != 0 || off&(abi.PageSize-1) != 0 {
		return 0, abi.EINVAL
	}
	if flags&(abi.MapShared|abi.MapPrivate) == 0 {
		return 0, abi.EINVAL
	}
	var file *regularFile
	private := flags&abi.MapShared == 0
	if flags&abi.MapAnonymous == 0 {
		d, err := t.k.files.get(fd)
		if err != nil {
			return 0, err
		}
		r, ok := d.file.(*regularFile)
		if !ok {
			return 0, abi.ENODEV
		}
		acc := d.flags & abi.OAccmode
		if acc == abi.OWronly {
			return 0, abi.EACCES
		}
		if !private && prot&abi.ProtWrite != 0 && acc != abi.ORdwr {
			return 0, abi.EACCES
		}
		file = r
	}
	fixed := flags&abi.MapFixed != 0
	noReplace := flags&abi.MapFixedNoreplace != 0
	if fixed && !noReplace {
		t.k.unshare(addr, length) // Map replaces what is there
	}
	lazy := length >= lazyMin
	mapRange := t.k.Space.Map
	if lazy {
		mapRange = t.k.Space.MapLazy
	}
	got, err := mapRange(addr, length, prot&7, fixed, noReplace, "")
	if err != nil {
		return 0, mmErrno(err)
	}
	if file != nil {
		end := got + (length+abi.PageSize-1)&^(abi.PageSize-1)
		t.k.share(file.n, got, end, int64(off), prot&abi.ProtWrite != 0, lazy, private)
	}
	return got, nil
}

// sysMunmap implements Linux syscall munmap(2).
func sysMunmap(t *Thread, a *[6]uint64) (uint64, error) {
	if a[0]&(abi.PageSize-1) == 0 && a[1] != 0 {
		t.k.unshare(a[0], a[1])
	}
	return 0, mmErrno(t.k.Space.Unmap(a[0], a[1]))
}

// sysMprotect implements Linux syscall mprotect(2).
func sysMprotect(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	prot := int(a[2]) & 7
	end := a[0] + (a[1]+abi.PageSize-1)&^(abi.PageSize-1)
	return 0, mmErrno(k.protectShared(a[0], end, prot, func() error {
		return k.Space.Protect(a[0], a[1], prot)
	}))
}

// sysMadvise implements Linux syscall madvise(2).
func sysMadvise(t *Thread, a *[6]uint64) (uint64, error) {
	if a[0]&(abi.PageSize-1) != 0 {
		return 0, abi.EINVAL
	}
	switch a[2] {
	case abi.MadvDontneed, abi.MadvFree:
		end := a[0] + (a[1]+abi.PageSize-1)&^(abi.PageSize-1)
		if end < a[0] || end > mm.UserTop {
			return 0, abi.EINVAL
		}
		return 0, mmErrno(t.k.discard(a[0], end))
	}
	return 0, nil
}

// sysBrk implements Linux syscall brk(2).
func sysBrk(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	want := (a[0] + abi.PageSize - 1) &^ (abi.PageSize - 1)
	if want <= k.brk || want > k.brkMin+(1<<30) {
		if want >= k.brkMin && want < k.brk {
			// want is page-aligned and below brk, so only the host can
			// make this fail (mm.ErrHost), and dispatch stops the process.
			if err := k.Space.Unmap(want, k.brk-want); err != nil {
				return 0, err
			}
			k.brk = want
		}
		return k.brk, nil
	}
	if _, err := k.Space.Map(k.brk, want-k.brk, mm.ProtRead|mm.ProtWrite, false, true, "brk"); err != nil {
		return k.brk, nil
	}
	k.brk = want
	return k.brk, nil
}
