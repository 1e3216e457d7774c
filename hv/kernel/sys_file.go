package kernel

import (
	"fmt"

	"github.com/mvrun/multiverse/hv/abi"
	"github.com/mvrun/multiverse/hv/vfs"
)

// dirAt returns the directory a *at call's path is relative to.
func (k *Kernel) dirAt(dirfd int) (*vfs.Inode, error) {
	if dirfd == abi.AtFdcwd {
		return k.cwd, nil
	}
	d, err := k.files.get(dirfd)
	if err != nil {
		return nil, err
	}
	df, ok := d.file.(*dirFile)
	if !ok {
		return nil, abi.ENOTDIR
	}
	return df.n, nil
}

// pathAt reads a path argument and the directory it is relative to.
func (k *Kernel) pathAt(dirfd int, va uint64) (*vfs.Inode, string, error) {
	p, err := k.readPath(va)
	if err != nil {
		return nil, "", err
	}
	if p == "" {
		return nil, "", abi.ENOENT
	}
	dir, err := k.dirAt(dirfd)
	return dir, p, err
}

func argFD(v uint64) int { return int(int32(v)) }

// sysOpenat implements Linux syscall openat(2).
func sysOpenat(t *Thread, a *[6]uint64) (uint64, error) {
	return t.k.open(argFD(a[0]), a[1], int(a[2]), uint32(a[3]))
}

// sysOpen implements Linux syscall open(2).
func sysOpen(t *Thread, a *[6]uint64) (uint64, error) {
	return t.k.open(abi.AtFdcwd, a[0], int(a[1]), uint32(a[2]))
}

func (k *Kernel) open(dirfd int, pathVA uint64, flags int, mode uint32) (uint64, error) {
	dir, p, err := k.pathAt(dirfd, pathVA)
	if err != nil {
		return 0, err
	}
	n, err := k.fs.Lookup(dir, p, flags&abi.ONofollow == 0)
	switch {
	case err == abi.ENOENT && flags&abi.OCreat != 0:
		parent, name, err := k.fs.LookupParent(dir, p)
		if err != nil {
			return 0, err
		}
		if n, err = k.fs.Create(parent, name, mode&^0o022); err != nil {
			return 0, err
		}
	case err != nil:
		return 0, err
	case flags&(abi.OCreat|abi.OExcl) == abi.OCreat|abi.OExcl:
		return 0, abi.EEXIST
	}
	acc := flags & abi.OAccmode
	if n.Type() == abi.SIfreg && (acc != abi.ORdonly || flags&abi.OTrunc != 0) && k.fs.ReadOnly(n) {
		return 0, abi.EROFS // a read-only mount or a read_only node
	}
	var f file
	switch n.Type() {
	case abi.SIfdir:
		if acc != abi.ORdonly {
			return 0, abi.EISDIR
		}
		f = &dirFile{n: n}
	case abi.SIfreg:
		if flags&abi.ODirectory != 0 {
			return 0, abi.ENOTDIR
		}
		rf := &regularFile{k: k, n: n}
		if flags&abi.OTrunc != 0 && acc != abi.ORdonly {
			if err := rf.truncate(0); err != nil {
				return 0, err
			}
			if flags&abi.ODsync != 0 {
				k.fsyncInode(n)
			}
		}
		f = rf
	case abi.SIfchr:
		f = &deviceFile{n: n}
	case abi.SIflnk:
		return 0, abi.ELOOP
	default:
		return 0, abi.ENXIO
	}
	d := &desc{file: f, flags: flags & (abi.OAccmode | abi.OAppend | abi.ONonblock | abi.OSync)}
	fd, err := k.files.alloc(d, 0, flags&abi.OCloexec != 0)
	return uint64(fd), err
}

// sysClose implements Linux syscall close(2).
func sysClose(t *Thread, a *[6]uint64) (uint64, error) {
	return 0, t.k.files.close(argFD(a[0]))
}

// blockIO parks t on d's file until it may be ready, when a non-blocking
// operation on a blocking descriptor returned EAGAIN.
func (t *Thread) blockIO(d *desc, n int, err error) (uint64, error) {
	if err == abi.EAGAIN && d.flags&abi.ONonblock == 0 {
		return 0, t.block(d.file.waiters(), -1, t.call, nil)
	}
	if err != nil {
		return 0, err
	}
	return uint64(n), nil
}

func (k *Kernel) readable(fd int) (*desc, error) {
	d, err := k.files.get(fd)
	if err != nil {
		return nil, err
	}
	if d.flags&abi.OAccmode == abi.OWronly {
		return nil, abi.EBADF
	}
	return d, nil
}

func (k *Kernel) writable(fd int) (*desc, error) {
	d, err := k.files.get(fd)
	if err != nil {
		return nil, err
	}
	if d.flags&abi.OAccmode == abi.ORdonly {
		return nil, abi.EBADF
	}
	return d, nil
}

const maxIO = 1 << 20 // largest single transfer; callers loop like on Linux

// sysRead implements Linux syscall read(2).
func sysRead(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	d, err := k.readable(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	buf := make([]byte, min(a[2], maxIO))
	n, err := d.file.read(d, buf)
	if err == nil && n > 0 {
		if err := k.copyOut(buf[:n], a[1]); err != nil {
			return 0, err
		}
		k.notify(d.file)
	}
	return t.blockIO(d, n, err)
}

// sysWrite implements Linux syscall write(2).
func sysWrite(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	d, err := k.writable(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	buf := make([]byte, min(a[2], maxIO))
	if err := k.copyIn(buf, a[1]); err != nil {
		return 0, err
	}
	n, err := d.file.write(d, buf)
	if n > 0 {
		k.notify(d.file)
	}
	if err == abi.EPIPE {
		k.sendSignal(t, abi.SIGPIPE, sigInfo{code: abi.SiUser, pid: int32(k.pid)})
	}
	return t.blockIO(d, n, err)
}

// iovecs reads an iovec array.
func (k *Kernel) iovecs(va, n uint64) ([][2]uint64, error) {
	if n > 1024 {
		return nil, abi.EINVAL
	}
	b := make([]byte, 16*n)
	if err := k.copyIn(b, va); err != nil {
		return nil, err
	}
	out := make([][2]uint64, n)
	for i := range out {
		out[i] = [2]uint64{leU64(b, 16*i), leU64(b, 16*i+8)}
	}
	return out, nil
}

// sysReadv implements Linux syscall readv(2).
func sysReadv(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	d, err := k.readable(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	iov, err := k.iovecs(a[1], a[2])
	if err != nil {
		return 0, err
	}
	if sf, ok := d.file.(*sockFile); ok {
		return sf.readv(t, d, iov) // one receive, so datagrams stay whole
	}
	var total uint64
	for _, v := range iov {
		buf := make([]byte, min(v[1], maxIO))
		n, err := d.file.read(d, buf)
		if err != nil {
			if err == errBlock {
				// A slow disk parked the thread: the call runs again
				// from the start once the latency has passed.
				d.off -= int64(total)
				return 0, errBlock
			}
			if total > 0 {
				break
			}
			return t.blockIO(d, 0, err)
		}
		if err := k.copyOut(buf[:n], v[0]); err != nil {
			return 0, err
		}
		total += uint64(n)
		if n < len(buf) {
			break
		}
	}
	if total > 0 {
		k.notify(d.file)
	}
	return total, nil
}

// sysWritev implements Linux syscall writev(2).
func sysWritev(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	d, err := k.writable(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	iov, err := k.iovecs(a[1], a[2])
	if err != nil {
		return 0, err
	}
	var buf []byte
	for _, v := range iov {
		b := make([]byte, min(v[1], maxIO))
		if err := k.copyIn(b, v[0]); err != nil {
			return 0, err
		}
		buf = append(buf, b...)
	}
	n, err := d.file.write(d, buf)
	if n > 0 {
		k.notify(d.file)
	}
	return t.blockIO(d, n, err)
}

func (k *Kernel) regular(fd int) (*desc, *regularFile, error) {
	d, err := k.files.get(fd)
	if err != nil {
		return nil, nil, err
	}
	r, ok := d.file.(*regularFile)
	if !ok {
		return nil, nil, abi.ESPIPE
	}
	return d, r, nil
}

// sysPread64 implements Linux syscall pread64(2).
func sysPread64(t *Thread, a *[6]uint64) (uint64, error) {
	d, r, err := t.k.regular(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	if d.flags&abi.OAccmode == abi.OWronly {
		return 0, abi.EBADF
	}
	if int64(a[3]) < 0 {
		return 0, abi.EINVAL
	}
	buf := make([]byte, min(a[2], maxIO))
	n, err := r.pread(buf, int64(a[3]))
	if err != nil {
		return 0, err
	}
	return uint64(n), t.k.copyOut(buf[:n], a[1])
}

// sysPwrite64 implements Linux syscall pwrite64(2).
func sysPwrite64(t *Thread, a *[6]uint64) (uint64, error) {
	d, r, err := t.k.regular(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	if d.flags&abi.OAccmode == abi.ORdonly {
		return 0, abi.EBADF
	}
	if int64(a[3]) < 0 {
		return 0, abi.EINVAL
	}
	buf := make([]byte, min(a[2], maxIO))
	if err := t.k.copyIn(buf, a[1]); err != nil {
		return 0, err
	}
	n, err := r.pwrite(d, buf, int64(a[3]))
	return uint64(n), err
}

// sysPreadv implements Linux syscall preadv(2) (the offset's high half,
// a[4], is unused on 64-bit).
func sysPreadv(t *Thread, a *[6]uint64) (uint64, error) {
	return t.preadv(a[0], a[1], a[2], a[3])
}

// sysPreadv2 implements Linux syscall preadv2(2); an offset of -1 reads at
// the file offset, and RWF_* flags are not supported.
func sysPreadv2(t *Thread, a *[6]uint64) (uint64, error) {
	if a[5] != 0 {
		return 0, t.k.unsupported("preadv2(flags)", abi.EOPNOTSUPP)
	}
	if int64(a[3]) == -1 {
		return sysReadv(t, a)
	}
	return t.preadv(a[0], a[1], a[2], a[3])
}

// positionedIO checks what preadv and pwritev check before any I/O: fd is
// a regular file open for the access (deny is the access mode that
// forbids it: EBADF), off is not negative (EINVAL), and the iovec array
// is readable. It returns the descriptor, its file and the iovecs.
func (k *Kernel) positionedIO(fd, iovVA, iovCnt, off uint64, deny int) (*desc, *regularFile, [][2]uint64, error) {
	d, r, err := k.regular(argFD(fd))
	if err != nil {
		return nil, nil, nil, err
	}
	if d.flags&abi.OAccmode == deny {
		return nil, nil, nil, abi.EBADF
	}
	if int64(off) < 0 {
		return nil, nil, nil, abi.EINVAL
	}
	iov, err := k.iovecs(iovVA, iovCnt)
	return d, r, iov, err
}

func (t *Thread) preadv(fd, iovVA, iovCnt, off uint64) (uint64, error) {
	k := t.k
	_, r, iov, err := k.positionedIO(fd, iovVA, iovCnt, off, abi.OWronly)
	if err != nil {
		return 0, err
	}
	var total uint64
	for _, v := range iov {
		buf := make([]byte, min(v[1], maxIO))
		n, err := r.pread(buf, int64(off+total))
		if err != nil {
			if total > 0 && err != errBlock {
				break
			}
			return 0, err
		}
		if err := k.copyOut(buf[:n], v[0]); err != nil {
			return 0, err
		}
		total += uint64(n)
		if n < len(buf) {
			break
		}
	}
	return total, nil
}

// sysPwritev implements Linux syscall pwritev(2).
func sysPwritev(t *Thread, a *[6]uint64) (uint64, error) {
	return t.pwritev(a[0], a[1], a[2], a[3])
}

// sysPwritev2 implements Linux syscall pwritev2(2); an offset of -1 writes
// at the file offset, and RWF_* flags are not supported.
func sysPwritev2(t *Thread, a *[6]uint64) (uint64, error) {
	if a[5] != 0 {
		return 0, t.k.unsupported("pwritev2(flags)", abi.EOPNOTSUPP)
	}
	if int64(a[3]) == -1 {
		return sysWritev(t, a)
	}
	return t.pwritev(a[0], a[1], a[2], a[3])
}

func (t *Thread) pwritev(fd, iovVA, iovCnt, off uint64) (uint64, error) {
	k := t.k
	d, r, iov, err := k.positionedIO(fd, iovVA, iovCnt, off, abi.ORdonly)
	if err != nil {
		return 0, err
	}
	var buf []byte
	for _, v := range iov {
		b := make([]byte, min(v[1], maxIO))
		if err := k.copyIn(b, v[0]); err != nil {
			return 0, err
		}
		buf = append(buf, b...)
	}
	n, err := r.pwrite(d, buf, int64(off))
	return uint64(n), err
}

// sysLseek implements Linux syscall lseek(2).
func sysLseek(t *Thread, a *[6]uint64) (uint64, error) {
	d, err := t.k.files.get(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	off := int64(a[1])
	switch f := d.file.(type) {
	case *regularFile:
		switch a[2] {
		case abi.SeekSet:
		case abi.SeekCur:
			off += d.off
		case abi.SeekEnd:
			off += int64(len(f.n.Data))
		default:
			return 0, abi.EINVAL
		}
	case *dirFile:
		if a[2] != abi.SeekSet || off != 0 {
			return 0, abi.EINVAL
		}
		f.list, f.pos = nil, 0
	case *deviceFile:
		return 0, nil
	default:
		return 0, abi.ESPIPE
	}
	if off < 0 {
		return 0, abi.EINVAL
	}
	d.off = off
	return uint64(off), nil
}

func (k *Kernel) writeStat(va uint64, s stat) error {
	b := make(le, 144)
	dev := s.dev
	if dev == 0 {
		dev = vfs.RootDev
	}
	b.u64(0, dev)
	b.u64(8, s.ino)
	b.u64(16, uint64(s.nlink))
	b.u32(24, s.mode)
	b.u64(40, s.rdev)
	b.u64(48, uint64(s.size))
	b.u64(56, 4096)
	b.u64(64, uint64((s.size+511)/512))
	for _, off := range []int{72, 88, 104} {
		b.u64(off, uint64(s.mtime/1e9))
		b.u64(off+8, uint64(s.mtime%1e9))
	}
	return k.copyOut(b, va)
}

// sysFstat implements Linux syscall fstat(2).
func sysFstat(t *Thread, a *[6]uint64) (uint64, error) {
	d, err := t.k.files.get(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	return 0, t.k.writeStat(a[1], d.file.stat())
}

// sysNewfstatat implements Linux syscall newfstatat(2).
func sysNewfstatat(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	p, err := k.readPath(a[1])
	if err != nil {
		return 0, err
	}
	if p == "" && a[3]&abi.AtEmptyPath != 0 {
		return sysFstat(t, &[6]uint64{a[0], a[2]})
	}
	dir, err := k.dirAt(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	return k.statPath(dir, p, a[3]&abi.AtSymlinkNofollow == 0, a[2])
}

func (k *Kernel) statPath(dir *vfs.Inode, p string, follow bool, va uint64) (uint64, error) {
	n, err := k.fs.Lookup(dir, p, follow)
	if err != nil {
		return 0, err
	}
	return 0, k.writeStat(va, inodeStat(n))
}

// sysStat implements Linux syscall stat(2).
func sysStat(t *Thread, a *[6]uint64) (uint64, error) {
	p, err := t.k.readPath(a[0])
	if err != nil {
		return 0, err
	}
	return t.k.statPath(t.k.cwd, p, true, a[1])
}

// sysLstat implements Linux syscall lstat(2).
func sysLstat(t *Thread, a *[6]uint64) (uint64, error) {
	p, err := t.k.readPath(a[0])
	if err != nil {
		return 0, err
	}
	return t.k.statPath(t.k.cwd, p, false, a[1])
}

// sysGetdents64 implements Linux syscall getdents64(2).
func sysGetdents64(t *Thread, a *[6]uint64) (uint64, error) {
	d, err := t.k.files.get(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	f, ok := d.file.(*dirFile)
	if !ok {
		return 0, abi.ENOTDIR
	}
	if f.list == nil {
		f.list = append([]string{".", ".."}, f.n.Names()...)
	}
	var out []byte
	for f.pos < len(f.list) {
		name := f.list[f.pos]
		var n *vfs.Inode
		switch name {
		case ".":
			n = f.n
		case "..":
			n = f.n.Parent()
		default:
			if n = f.n.Child(name); n == nil {
				f.pos++ // removed since the snapshot
				continue
			}
		}
		reclen := (19 + len(name) + 1 + 7) &^ 7
		if uint64(len(out)+reclen) > a[2] {
			if len(out) == 0 {
				return 0, abi.EINVAL
			}
			break
		}
		e := make(le, reclen)
		e.u64(0, n.Ino)
		e.u64(8, uint64(f.pos+1))
		e.u16(16, uint16(reclen))
		e[18] = dirType(n)
		copy(e[19:], name)
		out = append(out, e...)
		f.pos++
	}
	return uint64(len(out)), t.k.copyOut(out, a[1])
}

func dirType(n *vfs.Inode) byte {
	switch n.Type() {
	case abi.SIfdir:
		return abi.DtDir
	case abi.SIfreg:
		return abi.DtReg
	case abi.SIflnk:
		return abi.DtLnk
	case abi.SIfchr:
		return abi.DtChr
	case abi.SIfsock:
		return abi.DtSock
	}
	return 0
}

// sysMkdirat implements Linux syscall mkdirat(2).
func sysMkdirat(t *Thread, a *[6]uint64) (uint64, error) {
	return t.k.mkdir(argFD(a[0]), a[1], uint32(a[2]))
}

// sysMkdir implements Linux syscall mkdir(2).
func sysMkdir(t *Thread, a *[6]uint64) (uint64, error) {
	return t.k.mkdir(abi.AtFdcwd, a[0], uint32(a[1]))
}

func (k *Kernel) mkdir(dirfd int, va uint64, mode uint32) (uint64, error) {
	dir, p, err := k.pathAt(dirfd, va)
	if err != nil {
		return 0, err
	}
	parent, name, err := k.fs.LookupParent(dir, p)
	if err != nil {
		return 0, err
	}
	_, err = k.fs.Mkdir(parent, name, mode&^0o022)
	return 0, err
}

// sysUnlinkat implements Linux syscall unlinkat(2).
func sysUnlinkat(t *Thread, a *[6]uint64) (uint64, error) {
	return t.k.unlink(argFD(a[0]), a[1], a[2]&abi.AtRemovedir != 0)
}

// sysUnlink implements Linux syscall unlink(2).
func sysUnlink(t *Thread, a *[6]uint64) (uint64, error) {
	return t.k.unlink(abi.AtFdcwd, a[0], false)
}

// sysRmdir implements Linux syscall rmdir(2).
func sysRmdir(t *Thread, a *[6]uint64) (uint64, error) {
	return t.k.unlink(abi.AtFdcwd, a[0], true)
}

func (k *Kernel) unlink(dirfd int, va uint64, rmdir bool) (uint64, error) {
	dir, p, err := k.pathAt(dirfd, va)
	if err != nil {
		return 0, err
	}
	parent, name, err := k.fs.LookupParent(dir, p)
	if err != nil {
		return 0, err
	}
	return 0, k.fs.Unlink(parent, name, rmdir)
}

// sysRenameat implements Linux syscall renameat(2).
func sysRenameat(t *Thread, a *[6]uint64) (uint64, error) {
	return t.k.rename(argFD(a[0]), a[1], argFD(a[2]), a[3])
}

// sysRenameat2 implements Linux syscall renameat2(2) with RENAME_NOREPLACE
// and RENAME_EXCHANGE.
func sysRenameat2(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	flags := a[4]
	switch {
	case flags&^(abi.RenameNoreplace|abi.RenameExchange|abi.RenameWhiteout) != 0:
		return 0, abi.EINVAL
	case flags&abi.RenameWhiteout != 0:
		return 0, k.unsupported("renameat2(RENAME_WHITEOUT)", abi.EINVAL)
	case flags == abi.RenameNoreplace|abi.RenameExchange:
		return 0, abi.EINVAL
	case flags == 0:
		return k.rename(argFD(a[0]), a[1], argFD(a[2]), a[3])
	}
	opar, oname, npar, nname, err := k.renamePaths(argFD(a[0]), a[1], argFD(a[2]), a[3])
	if err != nil {
		return 0, err
	}
	if opar.Child(oname) == nil {
		return 0, abi.ENOENT
	}
	if flags == abi.RenameExchange {
		return 0, k.fs.Exchange(opar, oname, npar, nname)
	}
	if npar.Child(nname) != nil {
		return 0, abi.EEXIST
	}
	return 0, k.fs.Rename(opar, oname, npar, nname)
}

// sysRename implements Linux syscall rename(2).
func sysRename(t *Thread, a *[6]uint64) (uint64, error) {
	return t.k.rename(abi.AtFdcwd, a[0], abi.AtFdcwd, a[1])
}

func (k *Kernel) rename(olddirfd int, oldva uint64, newdirfd int, newva uint64) (uint64, error) {
	opar, oname, npar, nname, err := k.renamePaths(olddirfd, oldva, newdirfd, newva)
	if err != nil {
		return 0, err
	}
	return 0, k.fs.Rename(opar, oname, npar, nname)
}

// renamePaths resolves the parent directories and last names of a
// rename's two paths.
func (k *Kernel) renamePaths(olddirfd int, oldva uint64, newdirfd int, newva uint64) (opar *vfs.Inode, oname string, npar *vfs.Inode, nname string, err error) {
	od, op, err := k.pathAt(olddirfd, oldva)
	if err != nil {
		return nil, "", nil, "", err
	}
	nd, np, err := k.pathAt(newdirfd, newva)
	if err != nil {
		return nil, "", nil, "", err
	}
	if opar, oname, err = k.fs.LookupParent(od, op); err != nil {
		return nil, "", nil, "", err
	}
	if npar, nname, err = k.fs.LookupParent(nd, np); err != nil {
		return nil, "", nil, "", err
	}
	return opar, oname, npar, nname, nil
}

// sysLinkat implements Linux syscall linkat(2).
func sysLinkat(t *Thread, a *[6]uint64) (uint64, error) {
	if a[4]&^(abi.AtSymlinkFollow|abi.AtEmptyPath) != 0 {
		return 0, abi.EINVAL
	}
	return t.k.link(argFD(a[0]), a[1], argFD(a[2]), a[3], a[4])
}

// sysLink implements Linux syscall link(2).
func sysLink(t *Thread, a *[6]uint64) (uint64, error) {
	return t.k.link(abi.AtFdcwd, a[0], abi.AtFdcwd, a[1], 0)
}

func (k *Kernel) link(olddirfd int, oldva uint64, newdirfd int, newva uint64, flags uint64) (uint64, error) {
	var n *vfs.Inode
	p, err := k.readPath(oldva)
	if err != nil {
		return 0, err
	}
	if p == "" && flags&abi.AtEmptyPath != 0 {
		d, err := k.files.get(olddirfd)
		if err != nil {
			return 0, err
		}
		if n = inodeOf(d.file); n == nil {
			return 0, abi.ENOENT
		}
	} else {
		od, err := k.dirAt(olddirfd)
		if err != nil {
			return 0, err
		}
		if p == "" {
			return 0, abi.ENOENT
		}
		if n, err = k.fs.Lookup(od, p, flags&abi.AtSymlinkFollow != 0); err != nil {
			return 0, err
		}
	}
	nd, np, err := k.pathAt(newdirfd, newva)
	if err != nil {
		return 0, err
	}
	npar, nname, err := k.fs.LookupParent(nd, np)
	if err != nil {
		return 0, err
	}
	return 0, k.fs.Link(npar, nname, n)
}

// inodeOf returns the file system inode behind an open file, or nil for
// pipes, eventfds, epoll instances and standard streams.
func inodeOf(f file) *vfs.Inode {
	switch f := f.(type) {
	case *regularFile:
		return f.n
	case *dirFile:
		return f.n
	case *deviceFile:
		return f.n
	}
	return nil
}

// sysReadlinkat implements Linux syscall readlinkat(2).
func sysReadlinkat(t *Thread, a *[6]uint64) (uint64, error) {
	return t.k.readlink(argFD(a[0]), a[1], a[2], a[3])
}

// sysReadlink implements Linux syscall readlink(2).
func sysReadlink(t *Thread, a *[6]uint64) (uint64, error) {
	return t.k.readlink(abi.AtFdcwd, a[0], a[1], a[2])
}

func (k *Kernel) readlink(dirfd int, va, buf, size uint64) (uint64, error) {
	dir, p, err := k.pathAt(dirfd, va)
	if err != nil {
		return 0, err
	}
	n, err := k.fs.Lookup(dir, p, false)
	if err != nil {
		return 0, err
	}
	if n.Type() != abi.SIflnk {
		return 0, abi.EINVAL
	}
	b := []byte(n.Target)
	b = b[:min(uint64(len(b)), size)]
	return uint64(len(b)), k.copyOut(b, buf)
}

// sysSymlinkat implements Linux syscall symlinkat(2).
func sysSymlinkat(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	target, err := k.readPath(a[0])
	if err != nil {
		return 0, err
	}
	dir, p, err := k.pathAt(argFD(a[1]), a[2])
	if err != nil {
		return 0, err
	}
	parent, name, err := k.fs.LookupParent(dir, p)
	if err != nil {
		return 0, err
	}
	_, err = k.fs.Symlink(parent, name, target)
	return 0, err
}

// sysFtruncate implements Linux syscall ftruncate(2).
func sysFtruncate(t *Thread, a *[6]uint64) (uint64, error) {
	d, r, err := t.k.regular(argFD(a[0]))
	if err == abi.ESPIPE {
		return 0, abi.EINVAL
	}
	if err != nil {
		return 0, err
	}
	if d.flags&abi.OAccmode == abi.ORdonly {
		return 0, abi.EINVAL
	}
	if int64(a[1]) < 0 {
		return 0, abi.EINVAL
	}
	if err := r.truncate(int64(a[1])); err != nil {
		return 0, err
	}
	if d.flags&abi.ODsync != 0 {
		t.k.fsyncInode(r.n)
	}
	return 0, nil
}

// sysTruncate implements Linux syscall truncate(2).
func sysTruncate(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	p, err := k.readPath(a[0])
	if err != nil {
		return 0, err
	}
	n, err := k.fs.Lookup(k.cwd, p, true)
	if err != nil {
		return 0, err
	}
	switch {
	case n.IsDir():
		return 0, abi.EISDIR
	case n.Type() != abi.SIfreg:
		return 0, abi.EINVAL
	case int64(a[1]) < 0:
		return 0, abi.EINVAL
	}
	return 0, (&regularFile{k: k, n: n}).truncate(int64(a[1]))
}

// sysFcntl implements Linux syscall fcntl(2).
func sysFcntl(t *Thread, a *[6]uint64) (uint64, error) {
	k := t.k
	fd := argFD(a[0])
	e, ok := k.files.fds[fd]
	if !ok {
		return 0, abi.EBADF
	}
	switch a[1] {
	case abi.FDupfd, abi.FDupfdCloexec:
		n, err := k.files.alloc(e.d, int(a[2]), a[1] == abi.FDupfdCloexec)
		return uint64(n), err
	case abi.FGetfd:
		if e.cloexec {
			return abi.FdCloexec, nil
		}
		return 0, nil
	case abi.FSetfd:
		e.cloexec = a[2]&abi.FdCloexec != 0
		k.files.fds[fd] = e
		return 0, nil
	case abi.FGetfl:
		return uint64(e.d.flags), nil
	case abi.FSetfl:
		// Like Linux, F_SETFL leaves O_SYNC and O_DSYNC as they were.
		keep := abi.OAccmode | abi.OSync
		e.d.flags = e.d.flags&keep | int(a[2])&(abi.OAppend|abi.ONonblock)
		return 0, nil
	case abi.FGetlk, abi.FSetlk, abi.FSetlkw, abi.FOfdGetlk, abi.FOfdSetlk, abi.FOfdSetlkw:
		return 0, t.recordLock(e.d, int(a[1]), a[2])
	case abi.FSetpipeSz, abi.FGetpipeSz:
		return pipeSize(e.d, a[1], a[2]) // sys_splice.go
	}
	return 0, k.unsupported(fmt.Sprintf("fcntl(cmd %d)", a[1]), abi.EINVAL)
}

// sysDup implements Linux syscall dup(2).
func sysDup(t *Thread, a *[6]uint64) (uint64, error) {
	d, err := t.k.files.get(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	n, err := t.k.files.alloc(d, 0, false)
	return uint64(n), err
}

// sysDup2 implements Linux syscall dup2(2).
func sysDup2(t *Thread, a *[6]uint64) (uint64, error) {
	d, err := t.k.files.get(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	if a[0] == a[1] {
		return a[1], nil
	}
	return dupTo(t.k, d, argFD(a[1]), false)
}

// sysDup3 implements Linux syscall dup3(2).
func sysDup3(t *Thread, a *[6]uint64) (uint64, error) {
	d, err := t.k.files.get(argFD(a[0]))
	if err != nil {
		return 0, err
	}
	if a[0] == a[1] || a[2]&^abi.OCloexec != 0 {
		return 0, abi.EINVAL
	}
	return dupTo(t.k, d, argFD(a[1]), a[2]&abi.OCloexec != 0)
}

func dupTo(k *Kernel, d *desc, fd int, cloexec bool) (uint64, error) {
	if fd < 0 || fd >= maxFDs {
		return 0, abi.EBADF
	}
	k.files.install(fd, d, cloexec)
	return uint64(fd), nil
}

// sysIoctl implements Linux syscall ioctl(2): no device supports any
// request, so terminals look like plain files (ENOTTY).
func sysIoctl(t *Thread, a *[6]uint64) (uint64, error) {
	if _, err := t.k.files.get(argFD(a[0])); err != nil {
		return 0, err
	}
	return 0, abi.ENOTTY
}

// sysFaccessat implements Linux syscall faccessat(2): guests run as root, so
// existence decides.
func sysFaccessat(t *Thread, a *[6]uint64) (uint64, error) {
	dir, p, err := t.k.pathAt(argFD(a[0]), a[1])
	if err != nil {
		return 0, err
	}
	_, err = t.k.fs.Lookup(dir, p, true)
	return 0, err
}

// sysAccess implements Linux syscall access(2).
func sysAccess(t *Thread, a *[6]uint64) (uint64, error) {
	dir := int32(abi.AtFdcwd)
	return sysFaccessat(t, &[6]uint64{uint64(uint32(dir)), a[0], a[1]})
}
