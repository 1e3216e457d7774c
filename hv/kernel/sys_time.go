package kernel

import (
	"github.com/mvrun/multiverse/hv/abi"
	"github.com/mvrun/multiverse/hv/vdso"
)

// clockNow returns clock id's virtual time in nanoseconds.
func (k *Kernel) clockNow(id uint64) (int64, error) {
	switch int(id) {
	case abi.ClockRealtime, abi.ClockRealtimeCoarse:
		return k.clock.Wall(), nil
	case abi.ClockMonotonic, abi.ClockMonotonicRaw, abi.ClockMonotonicCoarse, abi.ClockBoottime,
		abi.ClockProcessCputimeID, abi.ClockThreadCputimeID:
		return k.clock.Now(), nil
	}
	return 0, abi.EINVAL
}

func (k *Kernel) writeTimespec(va uint64, ns int64) error {
	b := make(le, 16)
	b.u64(0, uint64(ns/1e9))
	b.u64(8, uint64(ns%1e9))
	return k.copyOut(b, va)
}

func (k *Kernel) readTimespec(va uint64) (int64, error) {
	sec, err := k.readU64(va)
	if err != nil {
		return 0, err
	}
	nsec, err := k.readU64(va + 8)
	if err != nil {
		return 0, err
	}
	if int64(sec) < 0 || nsec >= 1e9 {
		return 0, abi.EINVAL
	}
	return int64(sec)*1e9 + int64(nsec), nil
}

// sysClockGettime implements Linux syscall clock_gettime(2) on the virtual
// clock.
func sysClockGettime(t *Thread, a *[6]uint64) (uint64, error) {
	ns, err := t.k.clockNow(a[0])
	if err != nil {
		return 0, err
	}
	return 0, t.k.writeTimespec(a[1], ns)
}

// sysClockGetres implements Linux syscall clock_getres(2).
func sysClockGetres(t *Thread, a *[6]uint64) (uint64, error) {
	if _, err := t.k.clockNow(a[0]); err != nil {
		return 0, err
	}
	if a[1] == 0 {
		return 0, nil
	}
	return 0, t.k.writeTimespec(a[1], vdso.Resolution)
}

// sysGettimeofday implements Linux syscall gettimeofday(2). The time zone,
// if asked for, is UTC without daylight saving time, as on a Linux host
// nobody called settimeofday(2) on.
func sysGettimeofday(t *Thread, a *[6]uint64) (uint64, error) {
	if a[0] != 0 {
		ns := t.k.clock.Wall()
		b := make(le, 16)
		b.u64(0, uint64(ns/1e9))
		b.u64(8, uint64(ns%1e9/1e3))
		if err := t.k.copyOut(b, a[0]); err != nil {
			return 0, err
		}
	}
	if a[1] != 0 {
		return 0, t.k.copyOut(make([]byte, 8), a[1]) // tz_minuteswest, tz_dsttime
	}
	return 0, nil
}

// sysTime implements Linux syscall time(2).
func sysTime(t *Thread, a *[6]uint64) (uint64, error) {
	s := uint64(t.k.clock.Wall() / 1e9)
	if a[0] != 0 {
		if err := t.k.writeU64(a[0], s); err != nil {
			return 0, err
		}
	}
	return s, nil
}

// sleepUntil blocks t until virtual time deadline.
func (t *Thread) sleepUntil(deadline int64) (uint64, error) {
	if deadline <= t.k.clock.Now() {
		return 0, nil
	}
	return 0, t.block(nil, deadline, nil, &timeoutResult{rax: 0})
}

// sysNanosleep implements Linux syscall nanosleep(2) on the virtual clock.
func sysNanosleep(t *Thread, a *[6]uint64) (uint64, error) {
	d, err := t.k.readTimespec(a[0])
	if err != nil {
		return 0, err
	}
	return t.sleepUntil(t.k.clock.Now() + d)
}

// sysClockNanosleep implements Linux syscall clock_nanosleep(2).
func sysClockNanosleep(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	now, err := k.clockNow(a[0])
	if err != nil {
		return 0, err
	}
	d, err := k.readTimespec(a[2])
	if err != nil {
		return 0, err
	}
	if a[1]&abi.TimerAbstime != 0 {
		d -= now
	}
	return t.sleepUntil(k.clock.Now() + d)
}
