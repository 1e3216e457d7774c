package hvbackend

import (
	"errors"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/hv"
	"github.com/mvrun/multiverse/runner/backend"
)

// Disk faults are native on hv: the node's VMM file system consults the
// disk model on every I/O call of its data directory, the service's
// working directory (the root without one), and reports each hit, which
// becomes a fault log line.

// diskSetup points n's disk faults at its data directory and its hits at
// the event stream.
func (c *cluster) diskSetup(n *node) {
	dir := n.svc.WorkingDir
	if dir == "" {
		dir = "/"
	}
	n.n.SetDataDir(dir)
	c.onDiskHit(n)
}

// onDiskHit sends n's disk fault hits to the event stream.
func (c *cluster) onDiskHit(n *node) {
	name := n.svc.Name
	n.n.OnDiskHit(func(h hv.DiskHit) {
		c.emit(backend.Event{At: h.At, Kind: backend.EventDiskFault, Node: name, Line: []byte(h.Hit.String())})
	})
}

// applyDisk arms or clears a disk fault on n.
func (n *node) applyDisk(a faults.Action) error {
	if a.Disk == nil {
		return errors.New("disk action without a disk fault")
	}
	if a.Kind == faults.ActDiskClear {
		n.n.ClearDisk(a.Disk.Kind)
		return nil
	}
	return n.n.ArmDisk(*a.Disk)
}
