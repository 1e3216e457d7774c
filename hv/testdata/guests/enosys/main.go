// Command enosys calls a system call hv does not implement (acct) and
// prints the error, which is ENOSYS under hv.
package main

import (
	"fmt"
	"syscall"
)

func main() {
	_, _, e := syscall.RawSyscall(syscall.SYS_ACCT, 0, 0, 0)
	fmt.Println("acct:", e == syscall.ENOSYS)
}
