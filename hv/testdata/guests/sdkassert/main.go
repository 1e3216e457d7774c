// Command sdkassert uses the mvrun SDK's assertions, which under hv send
// their wire lines over the hypercall channel. Its first argument, if any,
// is the balance it asserts on (it only changes the lines' details).
package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/mvrun/multiverse/sdk/assert"
)

func main() {
	balance := 10
	if len(os.Args) > 1 {
		balance, _ = strconv.Atoi(os.Args[1])
	}
	assert.Always(balance >= 0, "balance never negative", map[string]any{"balance": balance})
	assert.Sometimes(balance > 5, "balance above five", map[string]any{"balance": balance})
	assert.Reachable("main ran", nil)
	fmt.Println("done")
}
