package network

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Sweep removes what networks of killed runs left behind: every namespace
// under NetnsDir and every link in the calling process's namespace whose
// name match accepts. Use it with a match for the prefixes of runs that are
// over (the runner's start with "mv"): it cannot tell a live run's names
// from a dead one's. Processes still running in a swept namespace keep it
// alive but unnamed.
func Sweep(match func(name string) bool) error {
	var errs []error
	entries, err := os.ReadDir(NetnsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("sweep: list %s: %w", NetnsDir, err))
	}
	for _, e := range entries {
		if !match(e.Name()) {
			continue
		}
		if err := removeNetnsFile(filepath.Join(NetnsDir, e.Name())); err != nil {
			errs = append(errs, fmt.Errorf("sweep: %w", err))
		}
	}
	links, err := netlink.LinkList()
	if err != nil {
		errs = append(errs, fmt.Errorf("sweep: list links: %w", err))
	}
	for _, l := range links {
		name := l.Attrs().Name
		if !match(name) {
			continue
		}
		if err := netlink.LinkDel(l); err != nil {
			if errors.Is(err, unix.ENODEV) {
				continue // its peer's removal took it along (veth)
			}
			errs = append(errs, fmt.Errorf("sweep: delete link %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}
