//go:build !(linux && amd64)

package hypercall

// Available reports whether this platform can issue the hypercall at all.
const Available = false

// Send always returns [ErrUnavailable] on this platform.
func Send(op uintptr, p []byte) error { return ErrUnavailable }
