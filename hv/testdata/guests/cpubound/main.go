// Command cpubound runs a CPU-bound loop for benchmarking hv against
// native execution.
package main

import (
	"fmt"
	"os"
	"strconv"
)

func main() {
	n := 200_000_000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	x := uint64(1)
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
		x ^= x >> 17
	}
	fmt.Println(x)
}
