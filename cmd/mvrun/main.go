// Command mvrun runs deterministic, fault-injecting tests of distributed
// systems described by HCL specs.
//
//	mvrun test spec.hcl [flags]        run a test over many seeds and report
//	mvrun replay spec.hcl --seed S     run one seed again and compare
//	mvrun explore spec.hcl --seed S    branch a failing seed at moments
//	mvrun debug spec.hcl --seed S      look at a seed's moments at a prompt
//	mvrun report merge a.json b.json   merge the reports of a run's shards
//	mvrun validate spec.hcl            check a spec and its compose file
//	mvrun catalog [flags] packages     generate SDK assertion catalogs
//	mvrun hv run [flags] ./binary      run one static binary under hv
//	mvrun doctor                       check what this host can run
//	mvrun version                      print the version
//
// Results go to stdout, logs and progress to stderr. Exit codes (the table
// in exit.go): 0 every property held, 1 a property failed, 2 usage or spec
// error, 3 infrastructure error.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mvrun/multiverse/runner/process"
)

func main() {
	// The process backend re-executes this binary as each node's init shim;
	// that must happen before anything else.
	process.MaybeRunShim()

	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "\nmvrun: interrupted; stopping seeds and closing clusters (interrupt again to exit at once)")
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "mvrun: interrupted twice; exiting without cleaning up (the next run sweeps what is left)")
		os.Exit(130)
	}()
	e := env{program: invokedAs(os.Args[0]), stdin: os.Stdin}
	code := e.main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	cancel()
	os.Exit(code)
}
