// Command catfile prints the file named by its argument and the value of
// $GREETING_SUFFIX.
package main

import (
	"fmt"
	"os"
)

func main() {
	b, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Printf("%s%s\n", b, os.Getenv("GREETING_SUFFIX"))
}
