package kernel

import "github.com/mvrun/multiverse/hv/abi"

// Robust futexes (set_robust_list(2), futex(7)): a thread registers the
// head of a list, in its own memory, of the futex-based locks it holds.
// When the thread ends, the kernel walks the list and marks each lock the
// thread still owns FUTEX_OWNER_DIED, waking one waiter, so a process
// sharing the lock learns that its owner died instead of waiting forever.
// glibc registers a list for every thread (pthread robust mutexes use it).

// Robust list layout and futex word bits (linux/futex.h).
const (
	robustHeadSize  = 24 // struct robust_list_head: next, futex_offset, list_op_pending
	robustListLimit = 2048
	futexWaiters    = 0x80000000
	futexOwnerDied  = 0x40000000
	futexTIDMask    = 0x3fffffff
)

// sysSetRobustList implements Linux syscall set_robust_list(2).
func sysSetRobustList(t *Thread, a *[6]uint64) (uint64, error) {
	if a[1] != robustHeadSize {
		return 0, abi.EINVAL
	}
	t.robustList = a[0]
	return 0, nil
}

// sysGetRobustList implements Linux syscall get_robust_list(2) for the
// threads of the calling process (pid 0 is the caller).
func sysGetRobustList(t *Thread, a *[6]uint64) (uint64, error) {
	target := t
	if a[0] != 0 {
		target = t.k.threads[int(a[0])]
		if target == nil {
			return 0, abi.ESRCH
		}
	}
	if err := t.k.writeU64(a[2], robustHeadSize); err != nil {
		return 0, err
	}
	return 0, t.k.writeU64(a[1], target.robustList)
}

// exitRobustList releases the robust futexes t still holds as it ends: each
// listed futex whose owner is t gets FUTEX_OWNER_DIED (keeping
// FUTEX_WAITERS), and if it had waiters one of them is woken. The list is
// guest memory: a malformed one ends the walk, as in Linux, which also
// stops after robustListLimit entries so a cyclic list cannot hang it.
func (k *Kernel) exitRobustList(t *Thread) {
	head := t.robustList
	if head == 0 {
		return
	}
	t.robustList = 0
	next, err1 := k.readU64(head)
	off, err2 := k.readU64(head + 8)
	pending, err3 := k.readU64(head + 16)
	if err1 != nil || err2 != nil || err3 != nil {
		return
	}
	// The low bit of an entry pointer marks a PI futex; hv has none, so
	// it only has to be masked off.
	pending &^= 1
	for n := 0; n < robustListLimit; n++ {
		entry := next &^ 1
		if entry == head || entry == 0 {
			break
		}
		next, err1 = k.readU64(entry)
		if err1 != nil {
			break
		}
		// The pending entry is handled once, after the list.
		if entry != pending {
			k.ownerDied(entry+off, t.TID)
		}
	}
	if pending != 0 {
		k.ownerDied(pending+off, t.TID)
	}
}

// ownerDied marks the futex word at addr as owned by a dead thread when tid
// holds it, and wakes one waiter if there are any.
func (k *Kernel) ownerDied(addr uint64, tid int) {
	if addr%4 != 0 {
		return
	}
	v, err := k.readU32(addr)
	if err != nil || v&futexTIDMask != uint32(tid) {
		return
	}
	if k.writeU32(addr, v&futexWaiters|futexOwnerDied) != nil {
		return
	}
	k.trace.Event('o', uint64(tid), addr)
	if v&futexWaiters != 0 {
		k.futexWake(addr, 1, ^uint32(0))
	}
}
