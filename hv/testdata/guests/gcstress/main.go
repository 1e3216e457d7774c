// Command gcstress allocates and drops a few hundred megabytes across
// goroutines, so the garbage collector, its worker threads and the heap
// scavenger (madvise) all run.
package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
)

func main() {
	var wg sync.WaitGroup
	sums := make([]int, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var keep [][]byte
			for i := 0; i < 2000; i++ {
				b := make([]byte, 64<<10)
				b[i%len(b)] = byte(i)
				sums[g] += int(b[i%len(b)])
				keep = append(keep, b)
				if len(keep) > 50 {
					keep = keep[25:]
				}
			}
		}()
	}
	wg.Wait()
	runtime.GC()
	debug.FreeOSMemory()
	var st runtime.MemStats
	runtime.ReadMemStats(&st)
	fmt.Println("sums", sums, "gc ran:", st.NumGC > 0)
}
