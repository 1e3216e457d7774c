package kernel

import (
	"encoding/binary"
	"sort"

	"github.com/mvrun/multiverse/hv/abi"
)

// epollEntry is one descriptor registered with an epoll instance.
type epollEntry struct {
	fd      int
	f       file
	events  uint32
	data    uint64
	pending bool // readiness may have changed since last reported (EPOLLET)
	off     bool // EPOLLONESHOT fired
}

// epollEvent is one ready event (struct epoll_event).
type epollEvent struct {
	ev   uint32
	data uint64
}

// epollFile is an epoll instance.
type epollFile struct {
	baseFile
	k       *Kernel
	entries map[int]*epollEntry
	ino     uint64
}

func (e *epollFile) ready() uint32 {
	if len(e.collect(1, false)) > 0 {
		return abi.EpollIn
	}
	return 0
}

func (e *epollFile) stat() stat { return stat{ino: e.ino, mode: 0o600, nlink: 1} }

func (e *epollFile) close() {
	for _, en := range e.entries {
		e.k.unwatch(en.f, e)
	}
}

// collect returns up to max ready entries in descriptor order, consuming
// edge-triggered and one-shot readiness when consume is set.
func (e *epollFile) collect(max int, consume bool) []epollEvent {
	fds := make([]int, 0, len(e.entries))
	for fd := range e.entries {
		fds = append(fds, fd)
	}
	sort.Ints(fds)
	var out []epollEvent
	for _, fd := range fds {
		en := e.entries[fd]
		if en.off {
			continue
		}
		if en.events&abi.EpollEt != 0 && !en.pending {
			continue
		}
		ev := en.f.ready() & (en.events | abi.EpollErr | abi.EpollHup)
		if ev == 0 {
			continue
		}
		out = append(out, epollEvent{ev, en.data})
		if consume {
			en.pending = false
			if en.events&abi.EpollOneshot != 0 {
				en.off = true
			}
		}
		if len(out) == max {
			break
		}
	}
	return out
}

// notify tells everyone waiting on f that its readiness may have changed:
// threads blocked on it and epoll instances watching it.
func (k *Kernel) notify(f file) {
	if f == nil {
		return
	}
	f.waiters().wakeAll()
	for _, ep := range k.watchers[f] {
		for _, en := range ep.entries {
			if en.f == f {
				en.pending = true
			}
		}
		ep.q.wakeAll()
		k.notify(ep) // nested epoll
	}
}

func (k *Kernel) watch(f file, ep *epollFile) {
	if k.watchers == nil {
		k.watchers = map[file][]*epollFile{}
	}
	k.watchers[f] = append(k.watchers[f], ep)
}

func (k *Kernel) unwatch(f file, ep *epollFile) {
	ws := k.watchers[f]
	for i, w := range ws {
		if w == ep {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(k.watchers, f)
	} else {
		k.watchers[f] = ws
	}
}

// sysEpollCreate1 implements Linux syscall epoll_create1(2).
func sysEpollCreate1(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	if a[0]&^abi.OCloexec != 0 {
		return 0, abi.EINVAL
	}
	k.pipeIno++
	ep := &epollFile{k: k, entries: map[int]*epollEntry{}, ino: k.pipeIno}
	fd, err := k.files.alloc(&desc{file: ep, flags: abi.ORdwr}, 0, a[0]&abi.OCloexec != 0)
	return uint64(fd), err
}

// sysEpollCtl implements Linux syscall epoll_ctl(2).
func sysEpollCtl(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	d, err := k.files.get(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	ep, ok := d.file.(*epollFile)
	if !ok {
		return 0, abi.EINVAL
	}
	fd := argFD(a[2])
	td, err := k.files.get(fd)
	if err != nil {
		return 0, err
	}
	switch td.file.(type) {
	case *regularFile, *dirFile:
		return 0, abi.EPERM // as on Linux: regular files are always ready
	}
	if td.file == file(ep) {
		return 0, abi.EINVAL
	}
	var events uint32
	var data uint64
	if a[1] != abi.EpollCtlDel {
		b := make([]byte, 12)
		if err := k.copyIn(b, a[3]); err != nil {
			return 0, err
		}
		events = binary.LittleEndian.Uint32(b)
		data = leU64(b, 4)
	}
	en := ep.entries[fd]
	switch a[1] {
	case abi.EpollCtlAdd:
		if en != nil {
			return 0, abi.EEXIST
		}
		ep.entries[fd] = &epollEntry{fd: fd, f: td.file, events: events, data: data, pending: true}
		k.watch(td.file, ep)
	case abi.EpollCtlMod:
		if en == nil {
			return 0, abi.ENOENT
		}
		en.events, en.data, en.pending, en.off = events, data, true, false
	case abi.EpollCtlDel:
		if en == nil {
			return 0, abi.ENOENT
		}
		delete(ep.entries, fd)
		k.unwatch(td.file, ep)
	default:
		return 0, abi.EINVAL
	}
	k.notify(ep)
	return 0, nil
}

// sysEpollPwait implements Linux syscall epoll_pwait(2). The timeout is
// measured on the virtual clock; the signal mask argument is ignored.
func sysEpollPwait(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	d, err := k.files.get(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	ep, ok := d.file.(*epollFile)
	if !ok {
		return 0, abi.EINVAL
	}
	max := int(int32(a[2]))
	if max <= 0 || max > 1<<16 {
		return 0, abi.EINVAL
	}
	ready := ep.collect(max, true)
	if len(ready) > 0 {
		b := make(le, 12*len(ready))
		for i, r := range ready {
			b.u32(12*i, r.ev)
			b.u64(12*i+4, r.data)
		}
		return uint64(len(ready)), k.copyOut(b, a[1])
	}
	timeout := int64(int32(a[3]))
	if timeout == 0 || t.timedOut {
		return 0, nil
	}
	rel := int64(-1)
	if timeout > 0 {
		rel = timeout * 1e6
	}
	return 0, t.block(&ep.q, t.callDeadline(rel), t.call, nil)
}

// sysEpollWait implements Linux syscall epoll_wait(2).
func sysEpollWait(t *Thread, a *[6]uint64) (uint64, error) {
	return sysEpollPwait(t, &[6]uint64{a[0], a[1], a[2], a[3]})
}
