// Command bad has a non-constant message.
package main

import (
	"fmt"
	"os"

	"github.com/mvrun/multiverse/sdk/assert"
)

func main() {
	msg := fmt.Sprint("computed ", len(os.Args))
	assert.Always(true, msg, nil)
	assert.Always(true, "fine", nil)
}
