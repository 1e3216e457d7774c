package docker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/runner/backend/cluster"
	"github.com/mvrun/multiverse/runner/diskfs"
)

// Disk faults on the docker backend act through runner/diskfs: for every
// service the spec's disk block names, the host directory
// nodes/<service> of the seed is a FUSE mount over its real directory,
// bind-mounted into the service container at the service's working_dir,
// and the fault actions arm and clear windows on it. A kill is a
// container kill, which loses nothing unless a lose_unsynced fault is
// armed; that then reverts the unsynced data once the container has
// exited. A service without a working_dir has no data directory to mount,
// and disk actions on it fail saying so.

// diskTagPrefix starts the tag of the backend's mounts; the owner
// identity follows, with '_' for its space.
const diskTagPrefix = "docker."

// withDisk returns s with the disk kinds possible when this host can mount
// FUSE, and unsupported with the reason when it cannot.
func withDisk(s backend.Support) backend.Support {
	return diskfs.WithSupport(s, "docker", diskfs.Available())
}

// mountDisk mounts the fault file system for n, if the test's disk faults
// act on it, it has a working_dir and the host can.
func (c *Cluster) mountDisk(n *cluster.Node[*node]) error {
	if !diskfs.Covers(c.Config().Test, n.Name()) || n.Service.WorkingDir == "" || c.b.Supports(faults.ActDisk) != nil {
		return nil
	}
	dir := filepath.Join(c.Dir(), "nodes", n.Name())
	// Containers may run as any user.
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return fmt.Errorf("service %q: %w", n.Name(), err)
	}
	if err := os.Chmod(dir, 0o777); err != nil { // MkdirAll's mode went through the umask
		return fmt.Errorf("service %q: %w", n.Name(), err)
	}
	name := n.Name()
	fs, err := diskfs.Mount(diskfs.Config{
		Dir: dir, Tag: diskTagPrefix + strings.ReplaceAll(c.b.owner, " ", "_"), Log: c.Log(),
		OnHit: diskfs.HitEvents(name, c.Now, c.Config().Events),
	})
	if err != nil {
		return fmt.Errorf("service %q: disk faults: %w", name, err)
	}
	n.Own.disk = fs
	return nil
}

// applyDisk arms or clears a disk fault on nodes.
func (c *Cluster) applyDisk(a faults.Action, nodes []*cluster.Node[*node]) error {
	if err := c.b.Supports(a.Kind); err != nil {
		return err
	}
	var errs []error
	for _, n := range nodes {
		switch d := n.Own.disk; {
		case d == nil && n.Service.WorkingDir == "":
			errs = append(errs, fmt.Errorf("%s: service %q has no working_dir, the data directory disk faults act on in a container", a.Kind, n.Name()))
		case d == nil:
			errs = append(errs, fmt.Errorf("%s: service %q has no disk fault file system (not in the disk block's services)", a.Kind, n.Name()))
		default:
			errs = append(errs, d.Act(a))
		}
	}
	return errors.Join(errs...)
}

// CrashNode applies an armed lose_unsynced fault once a killed node's
// container has exited.
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

// sweepDisks unmounts the fault file systems of runs whose owner is gone.
func sweepDisks(alive func(owner string) bool) error {
	return diskfs.Sweep(func(tag string) bool {
		o, ok := strings.CutPrefix(tag, diskTagPrefix)
		return ok && !alive(strings.ReplaceAll(o, "_", " "))
	})
}

var _ cluster.Crasher[*node] = mechanics{}
