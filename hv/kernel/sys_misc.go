package kernel

import (
	"time"

	"github.com/mvrun/multiverse/hv/abi"
)

func (k *Kernel) fillRandom(b []byte) {
	for i := 0; i < len(b); i += 8 {
		v := k.rng.Uint64()
		for j := i; j < len(b) && j < i+8; j++ {
			b[j] = byte(v)
			v >>= 8
		}
	}
}

// sysGetrandom implements Linux syscall getrandom(2) with bytes drawn from
// the seed.
func sysGetrandom(t *Thread, a *[6]uint64) (uint64, error) {
	if a[2]&^(abi.GrndNonblock|abi.GrndRandom|4) != 0 {
		return 0, abi.EINVAL
	}
	b := make([]byte, min(a[1], 1<<25))
	t.k.fillRandom(b)
	return uint64(len(b)), t.k.copyOut(b, a[0])
}

// sysHypercall implements the mvrun hypercall (system call
// [abi.SysHypercall]): op [abi.HypercallEmit] sends one SDK wire line, which
// reaches the VMM's message stream in order, stamped with virtual time. The
// contract is the SDK's (sdk/hypercall): one trailing newline is stripped,
// an unknown op is EINVAL, an unreadable payload EFAULT, a payload longer
// than [abi.HypercallMaxLen] EMSGSIZE.
func sysHypercall(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	if a[0] != abi.HypercallEmit {
		return 0, abi.EINVAL
	}
	if a[2] > abi.HypercallMaxLen {
		return 0, abi.EMSGSIZE
	}
	b := make([]byte, a[2])
	if err := k.copyIn(b, a[1]); err != nil {
		return 0, err
	}
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	k.trace.Bytes('m', b)
	if k.cfg.OnMessage != nil {
		k.cfg.OnMessage(Message{Time: time.Duration(k.clock.Now()), TID: t.TID, Line: b})
	}
	return 0, nil
}
