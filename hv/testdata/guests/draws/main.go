// Command draws prints three values of the mvrun SDK's random.GetRandom,
// 20 ms of virtual time apart, one per line.
package main

import (
	"fmt"
	"time"

	"github.com/mvrun/multiverse/sdk/random"
)

func main() {
	for i := range 3 {
		if i > 0 {
			time.Sleep(20 * time.Millisecond)
		}
		fmt.Printf("%016x\n", random.GetRandom())
	}
}
