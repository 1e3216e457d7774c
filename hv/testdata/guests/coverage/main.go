// Command coverage runs known code a known number of times, for the test
// that reads a -cover build's counters from guest memory: tick runs 20
// times, 10 ms apart, and every third tick also runs third.
package main

import (
	"fmt"
	"os"
	"time"
)

var thirds, ticks int

func third() { thirds++ }

func tick(i int) {
	ticks++
	if i%3 == 0 {
		third()
	}
}

func main() {
	for i := range 20 {
		time.Sleep(10 * time.Millisecond)
		tick(i)
	}
	fmt.Fprintln(os.Stdout, ticks, thirds)
}
