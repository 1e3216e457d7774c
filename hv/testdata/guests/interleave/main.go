// Command interleave prints the order in which racing goroutines got a
// lock, which depends on scheduling: under hv it depends on the seed.
package main

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

func main() {
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 3; k++ {
				time.Sleep(time.Microsecond)
				mu.Lock()
				order = append(order, fmt.Sprint(i))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Println(strings.Join(order, ""))
}
