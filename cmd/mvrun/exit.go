package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/mvrun/multiverse/hv/hvcli"
	"github.com/mvrun/multiverse/internal/catalog"
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

// exitCatalog maps what `mvrun catalog` returned (it has reported on
// stderr) to an exit code: exitUsage for a bad command line, patterns
// without a main package or errors in the packages' source (the user's
// input, as a bad spec is), exitInfra when packages could not be loaded
// or a catalog not written.
func exitCatalog(err error) int {
	var serr *catalog.SourceError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, catalog.ErrUsage), errors.Is(err, catalog.ErrNoMain), errors.As(err, &serr):
		return exitUsage
	}
	return exitInfra
}
