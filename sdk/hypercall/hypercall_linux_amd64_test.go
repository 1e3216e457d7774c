package hypercall

import (
	"syscall"
	"testing"
)

// Natively, the kernel must refuse the number: that is how the SDK notices it
// is not under hv, and it proves Linux has not started using it.
func TestSendNativeIsENOSYS(t *testing.T) {
	for _, p := range [][]byte{nil, []byte(`{"a":1}`)} {
		err := Send(OpEmit, p)
		if err != syscall.ENOSYS {
			t.Fatalf("Send(%q) = %v, want ENOSYS", p, err)
		}
		if !NotUnderHV(err) || NotUnderHV(syscall.EINVAL) || NotUnderHV(nil) {
			t.Errorf("NotUnderHV does not tell ENOSYS from other results")
		}
	}
}
