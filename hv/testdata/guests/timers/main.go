// Command timers exercises time.Sleep, timers, tickers and time.After, and
// prints what it observed in whole milliseconds.
package main

import (
	"fmt"
	"time"
)

func main() {
	start := time.Now()
	time.Sleep(20 * time.Millisecond)
	fmt.Println("slept at least 20ms:", time.Since(start) >= 20*time.Millisecond)
	tk := time.NewTicker(5 * time.Millisecond)
	n := 0
	for range tk.C {
		n++
		if n == 5 {
			break
		}
	}
	tk.Stop()
	fmt.Println("ticks", n)
	select {
	case <-time.After(10 * time.Millisecond):
		fmt.Println("after fired")
	case <-time.After(time.Second):
		fmt.Println("wrong timer")
	}
	done := make(chan string)
	for _, d := range []int{30, 10, 20} {
		go func() {
			time.Sleep(time.Duration(d) * time.Millisecond)
			done <- fmt.Sprint(d)
		}()
	}
	fmt.Println(<-done, <-done, <-done)
	t := time.AfterFunc(time.Hour, func() { fmt.Println("never") })
	fmt.Println("stopped", t.Stop())
}
