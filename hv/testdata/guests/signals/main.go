// Command signals recovers from a nil dereference, catches a signal it
// sends itself through os/signal, and lets a tight loop be preempted so a
// second goroutine runs.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

func deref(p *int) (v int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return *p, nil
}

func main() {
	_, err := deref(nil)
	fmt.Println("recovered:", err)
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	syscall.Kill(syscall.Getpid(), syscall.SIGUSR1)
	fmt.Println("got", <-c)
	runtime.GOMAXPROCS(1)
	stop := make(chan bool)
	go func() { stop <- true }()
	x := 0
	for i := 0; i < 3e10; i++ { // ends early once preempted
		x += i
		if i%1e8 == 0 {
			select {
			case <-stop:
				fmt.Println("other goroutine ran")
				return
			default:
			}
		}
	}
	fmt.Println("no preemption")
}
