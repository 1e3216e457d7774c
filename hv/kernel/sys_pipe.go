package kernel

import (
	"github.com/mvrun/multiverse/hv/abi"
)

const pipeCapacity = 64 << 10

// pipeBuf is the buffer two pipe ends share.
type pipeBuf struct {
	data             []byte
	size             int // capacity set with F_SETPIPE_SZ; 0: pipeCapacity
	readers, writers int
	rq               waitQueue // the waiters of both ends (see waiters)
	ino              uint64
	rend, wend       *pipeEnd
}

// pipeEnd is one end of a pipe.
type pipeEnd struct {
	p       *pipeBuf
	k       *Kernel
	isWrite bool
}

func (e *pipeEnd) read(d *desc, b []byte) (int, error) {
	if e.isWrite {
		return 0, abi.EBADF
	}
	p := e.p
	if len(p.data) == 0 {
		if p.writers == 0 {
			return 0, nil
		}
		return 0, abi.EAGAIN
	}
	n := copy(b, p.data)
	p.data = p.data[n:]
	return n, nil
}

func (e *pipeEnd) write(d *desc, b []byte) (int, error) {
	if !e.isWrite {
		return 0, abi.EBADF
	}
	p := e.p
	if p.readers == 0 {
		return 0, abi.EPIPE
	}
	room := p.capacity() - len(p.data)
	if room == 0 {
		return 0, abi.EAGAIN
	}
	n := min(room, len(b))
	p.data = append(p.data, b[:n]...)
	return n, nil
}

func (e *pipeEnd) ready() uint32 {
	p := e.p
	var ev uint32
	if e.isWrite {
		if p.readers == 0 {
			return abi.EpollErr | abi.EpollOut
		}
		if len(p.data) < p.capacity() {
			ev |= abi.EpollOut
		}
		return ev
	}
	if len(p.data) > 0 {
		ev |= abi.EpollIn
	}
	if p.writers == 0 {
		ev |= abi.EpollHup | abi.EpollRdhup
	}
	return ev
}

// Both ends share one wait queue so a change on either side wakes the
// waiters of both (a read makes room for writers, a write feeds readers).
func (e *pipeEnd) waiters() *waitQueue { return &e.p.rq }

func (e *pipeEnd) close() {
	if e.isWrite {
		e.p.writers--
	} else {
		e.p.readers--
	}
	e.p.rq.wakeAll()
	if k := e.k; k != nil {
		k.notify(e.p.rend)
		k.notify(e.p.wend)
	}
}

func (e *pipeEnd) stat() stat {
	return stat{ino: e.p.ino, mode: abi.SIfifo | 0o600, nlink: 1}
}

// sysPipe2 implements Linux syscall pipe2(2).
func sysPipe2(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	flags := int(a[1])
	if flags&^(abi.OCloexec|abi.ONonblock) != 0 {
		return 0, abi.EINVAL
	}
	k.pipeIno++
	p := &pipeBuf{readers: 1, writers: 1, ino: k.pipeIno}
	p.rend, p.wend = &pipeEnd{p: p, k: k}, &pipeEnd{p: p, k: k, isWrite: true}
	nb := flags & abi.ONonblock
	cloexec := flags&abi.OCloexec != 0
	rfd, err := k.files.alloc(&desc{file: p.rend, flags: abi.ORdonly | nb}, 0, cloexec)
	if err != nil {
		return 0, err
	}
	wfd, err := k.files.alloc(&desc{file: p.wend, flags: abi.OWronly | nb}, 0, cloexec)
	if err != nil {
		_ = k.files.close(rfd)
		return 0, err
	}
	b := make(le, 8)
	b.u32(0, uint32(rfd))
	b.u32(4, uint32(wfd))
	if err := k.copyOut(b, a[0]); err != nil {
		_ = k.files.close(rfd)
		_ = k.files.close(wfd)
		return 0, err
	}
	return 0, nil
}

// sysPipe implements Linux syscall pipe(2).
func sysPipe(t *Thread, a *[6]uint64) (uint64, error) {
	return sysPipe2(t, &[6]uint64{a[0], 0})
}

// eventFile is an eventfd counter.
type eventFile struct {
	baseFile
	count     uint64
	semaphore bool
	ino       uint64
}

func (e *eventFile) read(d *desc, b []byte) (int, error) {
	if len(b) < 8 {
		return 0, abi.EINVAL
	}
	if e.count == 0 {
		return 0, abi.EAGAIN
	}
	v := e.count
	if e.semaphore {
		v = 1
	}
	e.count -= v
	le(b).u64(0, v)
	return 8, nil
}

func (e *eventFile) write(d *desc, b []byte) (int, error) {
	if len(b) < 8 {
		return 0, abi.EINVAL
	}
	v := leU64(b, 0)
	if v == ^uint64(0) {
		return 0, abi.EINVAL
	}
	if e.count+v < e.count || e.count+v == ^uint64(0) {
		return 0, abi.EAGAIN
	}
	e.count += v
	return 8, nil
}

func (e *eventFile) ready() uint32 {
	ev := uint32(abi.EpollOut)
	if e.count > 0 {
		ev |= abi.EpollIn
	}
	return ev
}

func (e *eventFile) stat() stat { return stat{ino: e.ino, mode: 0o600, nlink: 1} }

// sysEventfd2 implements Linux syscall eventfd2(2).
func sysEventfd2(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	flags := int(a[1])
	if flags&^(abi.OCloexec|abi.ONonblock|abi.EfdSemaphore) != 0 {
		return 0, abi.EINVAL
	}
	k.pipeIno++
	e := &eventFile{count: uint64(uint32(a[0])), semaphore: flags&abi.EfdSemaphore != 0, ino: k.pipeIno}
	fd, err := k.files.alloc(&desc{file: e, flags: abi.ORdwr | flags&abi.ONonblock}, 0, flags&abi.OCloexec != 0)
	return uint64(fd), err
}
