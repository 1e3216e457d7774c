// Command app exercises the catalog.
package main

import (
	"os"

	"example.com/catmod/lib"
	. "github.com/mvrun/multiverse/sdk/assert"
)

func main() {
	s := &lib.Store{}
	s.Withdraw(0)
	Always(len(os.Args) > 0, "args present", nil)
	func() {
		Sometimes(false,
			"never true",
			nil)
		if len(os.Args) > 9 {
			func() { Unreachable("nested closure", nil) }()
		}
	}()
	AlwaysSome([]NamedBool{{First: "a", Second: true}}, "some bool", nil)
	if len(os.Args) > 5 {
		lib.Never()
	}
}
