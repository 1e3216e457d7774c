package kvm

import (
	"fmt"
	"unsafe"

	gokvm "github.com/bobuhiro11/gokvm/kvm"
)

// XSave is the vCPU's extended (x87/SSE/AVX/AVX-512) state, struct kvm_xsave.
type XSave [4096]byte

var (
	ioctlGetXSave = gokvm.IIOR(0xa4, 4096)
	ioctlSetXSave = gokvm.IIOW(0xa5, 4096)
)

// GetXSave reads the extended state into x (KVM_GET_XSAVE).
func (c *VCPU) GetXSave(x *XSave) error {
	if err := retry(func() error { _, e := gokvm.Ioctl(c.fd, ioctlGetXSave, uintptr(unsafe.Pointer(x))); return e }); err != nil {
		return fmt.Errorf("KVM_GET_XSAVE: %w", err)
	}
	return nil
}

// SetXSave loads the extended state from x (KVM_SET_XSAVE).
func (c *VCPU) SetXSave(x *XSave) error {
	if err := retry(func() error { _, e := gokvm.Ioctl(c.fd, ioctlSetXSave, uintptr(unsafe.Pointer(x))); return e }); err != nil {
		return fmt.Errorf("KVM_SET_XSAVE: %w", err)
	}
	return nil
}
