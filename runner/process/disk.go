package process

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/runner/backend/cluster"
	"github.com/mvrun/multiverse/runner/diskfs"
)

// Disk faults on the process backend act through runner/diskfs: the
// working directory of every node the spec's disk block names is a FUSE
// mount over its real directory for the whole seed, and the fault
// actions arm and clear windows on it. A kill of such a node is a process
// crash (the files keep what was written) unless a lose_unsynced fault is
// armed, which then reverts the unsynced data as a power cut would.

// diskTagPrefix starts the tag of the backend's mounts; the run id follows.
const diskTagPrefix = "process."

// withDisk returns s with the disk kinds possible when this host can mount
// FUSE, and unsupported with the reason when it cannot.
func withDisk(s backend.Support) backend.Support { return withDiskErr(s, diskfs.Available()) }

// withDiskErr is withDisk when FUSE's availability is err.
func withDiskErr(s backend.Support, err error) backend.Support {
	return diskfs.WithSupport(s, "process", err)
}

// mountDisk mounts the fault file system over n's working directory, if
// the test's disk faults act on it and the host can.
func (c *Cluster) mountDisk(n *cluster.Node[*node]) error {
	if !diskfs.Covers(c.Config().Test, n.Name()) || c.b.Supports(faults.ActDisk) != nil {
		return nil
	}
	name := n.Name()
	d, err := diskfs.Mount(diskfs.Config{
		Dir: n.Own.dir, Tag: diskTagPrefix + c.b.RunID(), Log: c.Log(),
		OnHit: diskfs.HitEvents(name, c.Now, c.Config().Events),
	})
	if err != nil {
		return fmt.Errorf("service %q: disk faults: %w", name, err)
	}
	n.Own.disk = d
	return nil
}

// applyDisk arms or clears a disk fault on nodes.
func (c *Cluster) applyDisk(a faults.Action, nodes []*cluster.Node[*node]) error {
	if err := c.b.Supports(a.Kind); err != nil {
		return err
	}
	var errs []error
	for _, n := range nodes {
		if d := n.Own.disk; d == nil {
			errs = append(errs, fmt.Errorf("%s: service %q has no disk fault file system (not in the disk block's services)", a.Kind, n.Name()))
		} else {
			errs = append(errs, d.Act(a))
		}
	}
	return errors.Join(errs...)
}

// CrashNode applies an armed lose_unsynced fault once a killed node's
// processes are gone.
func (m mechanics) CrashNode(n *cluster.Node[*node]) {
	if d := n.Own.disk; d != nil {
		d.Crash()
	}
}

// unmountDisks unmounts every node's fault file system.
func (c *Cluster) unmountDisks() error {
	var errs []error
	for _, n := range c.Nodes() {
		if d := n.Own.disk; d != nil {
			errs = append(errs, d.Unmount())
		}
	}
	return errors.Join(errs...)
}

// sweepDisks unmounts the fault file systems of dead runs.
func (b *Backend) sweepDisks() error {
	return diskfs.Sweep(func(tag string) bool {
		id, ok := strings.CutPrefix(tag, diskTagPrefix)
		return ok && !b.alive(id)
	})
}

var _ cluster.Crasher[*node] = mechanics{}
