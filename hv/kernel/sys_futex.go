package kernel

import (
	"fmt"

	"github.com/mvrun/multiverse/hv/abi"
)

// sysFutex implements Linux syscall futex(2) for FUTEX_WAIT, FUTEX_WAKE and
// their bitset forms. Waiters are woken in FIFO order; a timed wait uses the
// virtual clock.
func sysFutex(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	addr, op, val, timeout, val3 := a[0], int(a[1]), uint32(a[2]), a[3], uint32(a[5])
	if addr&3 != 0 {
		return 0, abi.EINVAL
	}
	cmd := op & abi.FutexCmdMask
	switch cmd {
	case abi.FutexWait, abi.FutexWaitBitset:
		mask := ^uint32(0)
		if cmd == abi.FutexWaitBitset {
			mask = val3
			if mask == 0 {
				return 0, abi.EINVAL
			}
		}
		cur, err := k.readU32(addr)
		if err != nil {
			return 0, err
		}
		if cur != val {
			return 0, abi.EAGAIN
		}
		deadline := int64(-1)
		if timeout != 0 {
			sec, err := k.readU64(timeout)
			if err != nil {
				return 0, err
			}
			nsec, err := k.readU64(timeout + 8)
			if err != nil {
				return 0, err
			}
			d := int64(sec)*1e9 + int64(nsec)
			if cmd == abi.FutexWaitBitset {
				// Absolute; FUTEX_CLOCK_REALTIME measures on the wall clock.
				if op&abi.FutexClockRealtime != 0 {
					d -= k.clock.Wall() - k.clock.Now()
				}
				deadline = max(d, k.clock.Now())
			} else {
				deadline = k.clock.Now() + d
			}
		}
		q := k.futexes[addr]
		if q == nil {
			q = &waitQueue{}
			k.futexes[addr] = q
		}
		t.futexMask = mask
		return 0, t.block(q, deadline, nil, &timeoutResult{rax: errRet(abi.ETIMEDOUT)})
	case abi.FutexWake, abi.FutexWakeBitset:
		mask := ^uint32(0)
		if cmd == abi.FutexWakeBitset {
			mask = val3
		}
		return uint64(k.futexWake(addr, int(val), mask)), nil
	}
	return 0, k.unsupported(fmt.Sprintf("futex(op %d)", cmd), abi.ENOSYS)
}

// futexWake wakes up to n waiters on addr whose mask intersects mask.
func (k *Kernel) futexWake(addr uint64, n int, mask uint32) int {
	q := k.futexes[addr]
	if q == nil {
		return 0
	}
	woken := 0
	for i := 0; i < len(q.ts) && woken < n; {
		t := q.ts[i]
		if t.futexMask&mask == 0 {
			i++
			continue
		}
		t.wakeup(0, false) // removes t from q
		woken++
	}
	if len(q.ts) == 0 {
		delete(k.futexes, addr)
	}
	return woken
}
