// Command memfault touches memory after munmap and after an mprotect
// downgrade, checking that both fault (stale translations are flushed).
package main

import (
	"fmt"
	"runtime/debug"
	"syscall"
)

func try(name string, f func()) {
	defer func() {
		fmt.Println(name, "faulted:", recover() != nil)
	}()
	f()
}

func main() {
	debug.SetPanicOnFault(true)
	b, err := syscall.Mmap(-1, 0, 2*4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		panic(err)
	}
	b[0], b[4096] = 1, 2
	try("write before", func() { b[1] = 3 })
	if err := syscall.Mprotect(b[:4096], syscall.PROT_READ); err != nil {
		panic(err)
	}
	fmt.Println("read after mprotect:", b[0])
	try("write after mprotect", func() { b[2] = 4 })
	if err := syscall.Munmap(b); err != nil {
		panic(err)
	}
	try("read after munmap", func() { fmt.Println(b[4096]) })
	try("write after munmap", func() { b[4097] = 5 })
}
