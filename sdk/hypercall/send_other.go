//go:build !(linux && amd64)

package hypercall

// Available reports whether this platform can issue the hypercall at all.
const Available = false

// Send always returns [ErrUnavailable] on this platform.
func Send(op uintptr, p []byte) error { return ErrUnavailable }

// NotUnderHV reports whether err, returned by [Send], means that no hv VMM
// answered; on this platform every error does.
func NotUnderHV(err error) bool { return err != nil }
