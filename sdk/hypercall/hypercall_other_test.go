//go:build !(linux && amd64)

package hypercall

import (
	"errors"
	"testing"
)

// Elsewhere the hypercall does not exist, and Send says so.
func TestSendUnavailable(t *testing.T) {
	err := Send(OpEmit, []byte("{}"))
	if !errors.Is(err, ErrUnavailable) || !NotUnderHV(err) {
		t.Fatalf("Send = %v, want ErrUnavailable", err)
	}
}
