// Command sleephour sleeps for one simulated hour and prints how long the
// sleep took on the guest's clock.
package main

import (
	"fmt"
	"time"
)

func main() {
	start := time.Now()
	time.Sleep(time.Hour)
	fmt.Println("slept", time.Since(start).Round(time.Second))
}
