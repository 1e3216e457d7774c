// Command sdk sends SDK wire lines over hv's hypercall channel when
// MVRUN_SDK=hv, as the mvrun SDK does.
package main

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

const sysHypercall = 0x4d56

func emit(line string) syscall.Errno {
	b := []byte(line)
	_, _, e := syscall.RawSyscall(sysHypercall, 1, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return e
}

func main() {
	if os.Getenv("MVRUN_SDK") != "hv" {
		fmt.Println("not under hv")
		return
	}
	for i := 0; i < 3; i++ {
		if e := emit(fmt.Sprintf(`{"my_event":{"n":%d}}`, i)); e != 0 {
			fmt.Println("emit:", e)
			os.Exit(1)
		}
	}
	_, _, e := syscall.RawSyscall(sysHypercall, 99, 0, 0)
	fmt.Println("bad op:", e)
}
