package docker

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/internal/diskmodel"
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
	s.Cannot = maps.Clone(s.Cannot)
	if err := diskfs.Available(); err != nil {
		e := fmt.Errorf("disk: disk faults are %w on the docker backend here: %v (use --backend hv)", backend.ErrUnsupported, err)
		s.Cannot[faults.ActDisk], s.Cannot[faults.ActDiskClear] = e, e
		return s
	}
	s.Can = append(slices.Clone(s.Can), faults.ActDisk, faults.ActDiskClear)
	return s
}

// mountDisk mounts the fault file system for n, if the test's disk faults
// act on it, it has a working_dir and the host can.
func (c *Cluster) mountDisk(n *cluster.Node[*node]) error {
	d := c.Config().Test.Faults.Disk
	if d == nil || len(d.Services) > 0 && !slices.Contains(d.Services, n.Name()) ||
		n.Service.WorkingDir == "" || c.b.Supports(faults.ActDisk) != nil {
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
	name, emit := n.Name(), c.Config().Events
	fs, err := diskfs.Mount(diskfs.Config{
		Dir: dir, Tag: diskTagPrefix + strings.ReplaceAll(c.b.owner, " ", "_"), Log: c.Log(),
		OnHit: func(h diskmodel.Hit) {
			emit(backend.Event{At: c.Now(), Kind: backend.EventDiskFault, Node: name, Line: []byte(h.String())})
		},
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
	if a.Disk == nil {
		return fmt.Errorf("%s: action without a disk fault", a.Kind)
	}
	var errs []error
	for _, n := range nodes {
		d := n.Own.disk
		switch {
		case d == nil && n.Service.WorkingDir == "":
			errs = append(errs, fmt.Errorf("%s: service %q has no working_dir, the data directory disk faults act on in a container", a.Kind, n.Name()))
		case d == nil:
			errs = append(errs, fmt.Errorf("%s: service %q has no disk fault file system (not in the disk block's services)", a.Kind, n.Name()))
		case a.Kind == faults.ActDiskClear:
			d.Clear(a.Disk.Kind)
		default:
			errs = append(errs, d.Arm(*a.Disk))
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
