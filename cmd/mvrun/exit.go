package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/mvrun/multiverse/hv/hvcli"
)

// Exit codes. Only this command decides them: the packages it calls
// return errors (typed where the kind matters), and the command maps each
// outcome to one of these.
const (
	exitOK     = 0
	exitFailed = 1 // a property failed
	exitUsage  = 2 // usage or spec error
	exitInfra  = 3 // infrastructure error
)

// exitHV maps what `mvrun hv` returned to an exit code: the guest's own
// when it ran to its exit, exitUsage for a bad command line, exitInfra when
// the VM could not run or the VMM stopped the guest.
func exitHV(guest int, err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return guest
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	}
	fmt.Fprintf(stderr, "mvrun hv run: %v\n", err)
	if errors.Is(err, hvcli.ErrUsage) {
		return exitUsage
	}
	return exitInfra
}
