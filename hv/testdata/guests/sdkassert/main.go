// Command sdkassert uses the mvrun SDK's assertions, which under hv send
// their wire lines over the hypercall channel.
package main

import (
	"fmt"

	"github.com/mvrun/multiverse/sdk/assert"
)

func main() {
	balance := 10
	assert.Always(balance >= 0, "balance never negative", map[string]any{"balance": balance})
	assert.Reachable("main ran", nil)
	fmt.Println("done")
}
