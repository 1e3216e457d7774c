// Package hypercall defines the channel between the mvrun SDK running inside
// an hv guest and the hv virtual machine monitor, and sends messages over it.
//
// The guest learns that it runs under hv from its environment (MVRUN_SDK=hv).
// It then sends each wire line with one system call whose number Linux does
// not use, so the VMM, which handles every guest system call itself, can tell
// it apart from real ones without any device or shared memory:
//
//	rax = Nr (0x4d56)
//	rdi = op       (OpEmit: emit one wire line)
//	rsi = pointer  to the payload bytes
//	rdx = length   of the payload in bytes (at most MaxLen)
//	result in rax: 0 on success, -errno on failure
//
// The OpEmit payload is exactly one JSON object of the wire format (see
// docs/sdk.md), without a trailing newline; a VMM should nevertheless accept
// and strip one trailing '\n'. Defined results:
//
//	0          the VMM took the line (it is in the run's event stream)
//	-ENOSYS    not running under hv: a native Linux kernel answers this way
//	-EINVAL    unknown op
//	-EFAULT    the payload is not readable guest memory
//	-EMSGSIZE  the payload is longer than MaxLen
//
// The SDK treats ENOSYS as a broken channel (every later line is counted as
// lost) and any other error as the loss of that one line. The hv VMM copies
// the constants into hv/abi, and a test in hv/kernel checks the copies
// against this package.
package hypercall

import "errors"

// Nr is the system call number of the hypercall. Linux/amd64 does not assign
// it, so outside hv the kernel answers ENOSYS.
const Nr = 0x4d56

// OpEmit asks the VMM to append one wire line to the run's event stream.
const OpEmit = 1

// MaxLen is the longest payload, in bytes, that the VMM accepts for OpEmit.
const MaxLen = 1 << 20

// ErrUnavailable is returned by [Send] on platforms where the hypercall
// cannot exist (anything but linux/amd64).
var ErrUnavailable = errors.New("hypercall: hv channel is only available on linux/amd64")
