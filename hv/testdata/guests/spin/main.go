// Command spin busy-waits on a flag another goroutine sets after a timer,
// so it needs preemption to finish.
package main

import (
	"fmt"
	"sync/atomic"
	"time"
)

func main() {
	var done atomic.Bool
	go func() {
		time.Sleep(time.Millisecond)
		done.Store(true)
	}()
	n := 0
	for !done.Load() {
		n++
	}
	fmt.Println("spun", n > 0)
}
