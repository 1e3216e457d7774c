// Command clock prints the guest's wall-clock time at start, for checking
// the fixed epoch and per-VM clock skew.
package main

import (
	"fmt"
	"time"
)

func main() {
	fmt.Println(time.Now().UTC().Truncate(time.Second).Format(time.RFC3339))
}
