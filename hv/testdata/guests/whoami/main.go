// Command whoami prints the names the kernel gave it at exec: argv[0],
// AT_EXECFN (the path execve was given) and its thread name (comm), one
// per line, for the test that a guest sees the path its caller chose for
// it, not where the host keeps the binary.
package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func main() {
	fmt.Println("argv0", os.Args[0])
	fmt.Println("execfn", execfn())
	var comm [16]byte
	if err := unix.Prctl(unix.PR_GET_NAME, uintptr(addr(&comm)), 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "prctl(PR_GET_NAME):", err)
		os.Exit(1)
	}
	fmt.Println("comm", unix.ByteSliceToString(comm[:]))
}
