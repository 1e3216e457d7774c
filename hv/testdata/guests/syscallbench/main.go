// Command syscallbench makes N trivial system calls (getpid) and prints
// nothing, for measuring the cost of one system call.
package main

import (
	"os"
	"strconv"
	"syscall"
)

func main() {
	n := 100000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	for i := 0; i < n; i++ {
		syscall.RawSyscall(syscall.SYS_GETPID, 0, 0, 0)
	}
}
