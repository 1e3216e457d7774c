//go:build linux && amd64

package hypercall

import (
	"syscall"
	"unsafe"
)

// Available reports whether this platform can issue the hypercall at all.
// It does not tell whether an hv VMM is listening; only a [Send] does.
const Available = true

// Send issues the hypercall with op and payload p and returns nil or the
// errno the VMM (or, natively, the kernel) answered with, as a
// [syscall.Errno]. It never blocks beyond the system call itself.
func Send(op uintptr, p []byte) error {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(unsafe.SliceData(p))
	}
	_, _, errno := syscall.RawSyscall(Nr, op, uintptr(ptr), uintptr(len(p)))
	if errno != 0 {
		return errno
	}
	return nil
}

// NotUnderHV reports whether err, returned by [Send], means that no hv VMM
// answered: natively the kernel refuses the number with ENOSYS.
func NotUnderHV(err error) bool { return err == syscall.ENOSYS }
