// Command oom allocates and touches memory until it runs out, for the
// test that hv's summary names a guest out of memory.
package main

import "fmt"

func main() {
	var keep [][]byte
	for i := 0; ; i++ {
		b := make([]byte, 32<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = byte(i)
		}
		keep = append(keep, b)
		if i%8 == 0 {
			fmt.Println("allocated MiB:", (i+1)*32)
		}
	}
}
