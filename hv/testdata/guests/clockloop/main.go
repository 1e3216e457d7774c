// Command clockloop reads the clock in tight loops, as Go services do all
// the time (time.Now, timers, the scheduler), and checks what it reads: the
// monotonic clock never goes backwards and advances across sleeps. Under hv
// the reads go through the vDSO and cost no VM exit.
//
//	clockloop [batches [reads-per-batch [sleep]]]   loop (default 10 10000 10ms)
//	clockloop skew                                  ask the VMM for a clock jump
//
// In skew mode it sends one hypercall line (hv's test moves the wall clock
// an hour ahead when it arrives) and prints how far each clock moved.
package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

const sysHypercall = 0x4d56

func main() {
	if len(os.Args) > 1 && os.Args[1] == "skew" {
		skew()
		return
	}
	batches, reads, sleep := 10, 10000, 10*time.Millisecond
	if len(os.Args) > 1 {
		batches = atoi(os.Args[1])
	}
	if len(os.Args) > 2 {
		reads = atoi(os.Args[2])
	}
	if len(os.Args) > 3 {
		d, err := time.ParseDuration(os.Args[3])
		if err != nil {
			fmt.Println(err)
			os.Exit(2)
		}
		sleep = d
	}
	monotonic, advanced, moved := true, true, false
	start := time.Now()
	last := start
	for b := 0; b < batches; b++ {
		first := time.Now()
		for i := 0; i < reads; i++ {
			now := time.Now()
			if now.Before(last) {
				monotonic = false
			}
			last = now
		}
		if last.After(first) {
			moved = true
		}
		before := time.Now()
		time.Sleep(sleep)
		if time.Since(before) < sleep {
			advanced = false
		}
	}
	fmt.Printf("read the clock %d times: monotonic %v, moved while reading %v, advanced across every %v sleep %v, total at least %v %v\n",
		batches*reads, monotonic, moved, sleep, advanced, time.Duration(batches)*sleep, time.Since(start) >= time.Duration(batches)*sleep)
}

func skew() {
	t0 := time.Now()
	line := []byte(`{"clockloop":"jump"}`)
	if _, _, e := syscall.RawSyscall(sysHypercall, 1, uintptr(unsafe.Pointer(&line[0])), uintptr(len(line))); e != 0 {
		fmt.Println("hypercall:", e)
		os.Exit(1)
	}
	t1 := time.Now()
	wall := time.Duration(t1.UnixNano() - t0.UnixNano()) // wall clock readings
	mono := t1.Sub(t0)                                   // monotonic readings
	fmt.Printf("wall clock moved %v, monotonic clock moved %v (forward, under 1ms: %v)\n",
		wall.Round(time.Second), mono, mono >= 0 && mono < time.Millisecond)
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	return n
}
