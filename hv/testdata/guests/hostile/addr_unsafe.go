package main

import "unsafe"

// addr is the address of b's first byte, to pass as a system call
// argument.
func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }
