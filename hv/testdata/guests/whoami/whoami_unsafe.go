package main

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// atExecfn is AT_EXECFN, which x/sys/unix does not name.
const atExecfn = 31

// execfn returns the string AT_EXECFN points at, or "" without one.
func execfn() string {
	auxv, err := unix.Auxv()
	if err != nil {
		return ""
	}
	for _, kv := range auxv {
		if kv[0] == atExecfn && kv[1] != 0 {
			// The word is a pointer into the initial stack, which the
			// runtime never moves or frees.
			p := *(*unsafe.Pointer)(unsafe.Pointer(&kv[1]))
			return unix.BytePtrToString((*byte)(p))
		}
	}
	return ""
}

// addr is the address of comm, for prctl.
func addr(comm *[16]byte) unsafe.Pointer { return unsafe.Pointer(comm) }
