package hypercall

import (
	"errors"
	"runtime"
	"syscall"
	"testing"
)

// Natively, the kernel must refuse the number: that is how the SDK notices it
// is not under hv, and it proves Linux has not started using it.
func TestSendNativeIsENOSYS(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		if err := Send(OpEmit, []byte("{}")); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Send = %v, want ErrUnavailable", err)
		}
		return
	}
	for _, p := range [][]byte{nil, []byte(`{"a":1}`)} {
		if err := Send(OpEmit, p); err != syscall.ENOSYS {
			t.Fatalf("Send(%q) = %v, want ENOSYS", p, err)
		}
	}
}
