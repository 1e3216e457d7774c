// Command panic dereferences a nil pointer, so the Go runtime turns the
// SIGSEGV into its normal panic and exits with code 2.
package main

import "fmt"

type node struct{ next *node }

func main() {
	var n *node
	defer fmt.Println("deferred runs")
	fmt.Println(n.next)
}
