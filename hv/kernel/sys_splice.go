package kernel

import (
	"github.com/mvrun/multiverse/hv/abi"
)

// spliceNonblock is SPLICE_F_NONBLOCK: pipe operations do not block.
const spliceNonblock = 2

// pipeMaxSize is /proc/sys/fs/pipe-max-size.
const pipeMaxSize = 1 << 20

func (p *pipeBuf) capacity() int {
	if p.size > 0 {
		return p.size
	}
	return pipeCapacity
}

// pipeSize implements fcntl F_SETPIPE_SZ and F_GETPIPE_SZ: the size is
// rounded up to a power-of-two number of pages, as Linux does.
func pipeSize(d *desc, cmd, arg uint64) (uint64, error) {
	e, ok := d.file.(*pipeEnd)
	if !ok {
		return 0, abi.EBADF
	}
	p := e.p
	if cmd == abi.FGetpipeSz {
		return uint64(p.capacity()), nil
	}
	if int64(arg) < 0 || arg > 1<<31 {
		return 0, abi.EINVAL
	}
	size := abi.PageSize
	for size < int(arg) {
		size <<= 1
	}
	if size > pipeMaxSize {
		return 0, abi.EPERM
	}
	if size < len(p.data) {
		return 0, abi.EBUSY
	}
	p.size = size
	return uint64(size), nil
}

// sysSplice implements Linux syscall splice(2) between a pipe and a
// socket, a regular file or another pipe: it moves at most what the
// destination can take, so nothing is read that cannot be written.
func sysSplice(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	in, err := k.readable(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	out, err := k.writable(argFD(a[2]))
	if err != nil {
		return 0, err
	}
	length, flags := min(a[4], maxIO), a[5]
	pin, inPipe := in.file.(*pipeEnd)
	pout, outPipe := out.file.(*pipeEnd)
	if !inPipe && !outPipe {
		return 0, abi.EINVAL
	}
	if (inPipe && a[1] != 0) || (outPipe && a[3] != 0) {
		return 0, abi.ESPIPE
	}
	if length == 0 {
		return 0, nil
	}
	// wait blocks on f unless the side that would wait is non-blocking.
	wait := func(d *desc, pipe bool) (uint64, error) {
		if (pipe && flags&spliceNonblock != 0) || (!pipe && d.flags&abi.ONonblock != 0) {
			return 0, abi.EAGAIN
		}
		return 0, t.block(d.file.waiters(), -1, t.call, nil)
	}
	if inPipe {
		p := pin.p
		if len(p.data) == 0 {
			if p.writers == 0 {
				return 0, nil
			}
			return wait(in, true)
		}
		chunk := p.data[:min(uint64(len(p.data)), length)]
		var n int
		switch {
		case outPipe:
			n, err = pout.write(out, chunk)
		default:
			if rf, ok := out.file.(*regularFile); ok && a[3] != 0 {
				n, err = k.spliceAt(out, rf, chunk, a[3])
			} else {
				n, err = out.file.write(out, chunk)
			}
		}
		if n > 0 {
			p.data = p.data[n:]
			k.notify(in.file)
			k.notify(out.file)
			return uint64(n), nil
		}
		if err == abi.EAGAIN {
			return wait(out, outPipe)
		}
		if err == abi.EPIPE {
			k.sendSignal(t, abi.SIGPIPE, sigInfo{code: abi.SiUser, pid: int32(k.pid)})
		}
		return 0, err
	}
	// Into a pipe from a socket or a file: read only what fits.
	p := pout.p
	if p.readers == 0 {
		k.sendSignal(t, abi.SIGPIPE, sigInfo{code: abi.SiUser, pid: int32(k.pid)})
		return 0, abi.EPIPE
	}
	room := p.capacity() - len(p.data)
	if room == 0 {
		return wait(out, true)
	}
	buf := make([]byte, min(uint64(room), length))
	var n int
	if rf, ok := in.file.(*regularFile); ok && a[1] != 0 {
		off, err := k.readU64(a[1])
		if err != nil {
			return 0, err
		}
		if n, err = rf.pread(buf, int64(off)); err == nil {
			err = k.writeU64(a[1], off+uint64(n))
		}
		if err != nil {
			return 0, err
		}
	} else if n, err = in.file.read(in, buf); err != nil {
		if err == abi.EAGAIN {
			return wait(in, false)
		}
		return 0, err
	}
	if n > 0 {
		p.data = append(p.data, buf[:n]...)
		k.notify(in.file)
		k.notify(out.file)
	}
	return uint64(n), nil
}

// spliceAt writes b to a regular file at the offset stored at offVA and
// advances it.
func (k *Kernel) spliceAt(d *desc, rf *regularFile, b []byte, offVA uint64) (int, error) {
	off, err := k.readU64(offVA)
	if err != nil {
		return 0, err
	}
	n, err := rf.pwrite(d, b, int64(off))
	if err != nil {
		return 0, err
	}
	return n, k.writeU64(offVA, off+uint64(n))
}

// sysSendfile implements Linux syscall sendfile(2) from a regular file to
// any writable file (a socket, usually).
func sysSendfile(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	out, err := k.writable(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	in, err := k.readable(argFD(a[1]))
	if err != nil {
		return 0, err
	}
	rf, ok := in.file.(*regularFile)
	if !ok {
		return 0, abi.EINVAL
	}
	off := in.off
	if a[2] != 0 {
		v, err := k.readU64(a[2])
		if err != nil {
			return 0, err
		}
		off = int64(v)
	}
	buf := make([]byte, min(a[3], maxIO))
	n, err := rf.pread(buf, off)
	if err != nil || n == 0 {
		return 0, err
	}
	w, err := out.file.write(out, buf[:n])
	if err == abi.EAGAIN && out.flags&abi.ONonblock == 0 {
		return 0, t.block(out.file.waiters(), -1, t.call, nil)
	}
	if err == abi.EPIPE {
		k.sendSignal(t, abi.SIGPIPE, sigInfo{code: abi.SiUser, pid: int32(k.pid)})
	}
	if err != nil {
		return 0, err
	}
	k.notify(out.file)
	if a[2] != 0 {
		return uint64(w), k.writeU64(a[2], uint64(off)+uint64(w))
	}
	in.off = off + int64(w)
	return uint64(w), nil
}
