package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mvrun/multiverse/hv/abi"
	"github.com/mvrun/multiverse/hv/mm"
)

// copyIn reads len(b) bytes of guest memory at va.
func (k *Kernel) copyIn(b []byte, va uint64) error {
	return k.copyErr(k.Space.ReadAt(b, va))
}

// copyOut writes b to guest memory at va.
func (k *Kernel) copyOut(b []byte, va uint64) error {
	return k.copyErr(k.Space.WriteAt(b, va))
}

// copyErr turns a failed copy into EFAULT. A copy can also populate pages
// of a lazy mapping; if guest physical memory runs out doing so the
// process is stopped with the reason, as a demand fault would stop it,
// rather than seeing an EFAULT it did not cause.
func (k *Kernel) copyErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mm.ErrNoMemory):
		k.Fail(fmt.Errorf("populating a lazy mapping for a system call: %w (guest physical memory is %d MiB: raise hv.Config.Memory)", err, k.Phys.Size()>>20))
	}
	return abi.EFAULT
}

func (k *Kernel) readU32(va uint64) (uint32, error) {
	var b [4]byte
	if err := k.copyIn(b[:], va); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

func (k *Kernel) readU64(va uint64) (uint64, error) {
	var b [8]byte
	if err := k.copyIn(b[:], va); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

func (k *Kernel) writeU32(va uint64, v uint32) error {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	return k.copyOut(b[:], va)
}

func (k *Kernel) writeU64(va uint64, v uint64) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	return k.copyOut(b[:], va)
}

// readPath reads a NUL-terminated path argument.
func (k *Kernel) readPath(va uint64) (string, error) {
	s, err := k.Space.ReadString(va, 4096)
	if err != nil {
		return "", k.copyErr(err)
	}
	return s, nil
}

func leU64(b []byte, off int) uint64 { return binary.LittleEndian.Uint64(b[off:]) }

// le is a little-endian builder for structures written to the guest.
type le []byte

func (b le) u16(off int, v uint16) { binary.LittleEndian.PutUint16(b[off:], v) }
func (b le) u32(off int, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }
func (b le) u64(off int, v uint64) { binary.LittleEndian.PutUint64(b[off:], v) }

// errRet returns the system call return value for errno e (-e).
func errRet(e abi.Errno) uint64 { return -uint64(e) }
