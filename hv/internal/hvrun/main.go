// Command hvrun is a development entry point equivalent to `mvrun hv`, for
// working on hv without the rest of the CLI.
package main

import (
	"context"
	"os"

	"github.com/mvrun/multiverse/hv/hvcli"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "doctor" {
		os.Exit(hvcli.Doctor(os.Stdout))
	}
	os.Exit(hvcli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
