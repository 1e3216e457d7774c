package diskfs

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/internal/diskmodel"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/specs"
)

// What the process and docker backends share to offer disk faults through
// this package: which kinds they support, which services a test's faults
// act on, how a fault action reaches a mount and how its hits become
// events.

// WithSupport returns s with the disk fault kinds added when avail (the
// result of [Available]) is nil, and otherwise marked unsupported on the
// named backend with the reason.
func WithSupport(s backend.Support, backendName string, avail error) backend.Support {
	s.Cannot = maps.Clone(s.Cannot)
	if avail != nil {
		e := fmt.Errorf("disk: disk faults are %w on the %s backend here: %v (use --backend hv)", backend.ErrUnsupported, backendName, avail)
		s.Cannot[faults.ActDisk], s.Cannot[faults.ActDiskClear] = e, e
		return s
	}
	s.Can = append(slices.Clone(s.Can), faults.ActDisk, faults.ActDiskClear)
	return s
}

// Covers reports whether t's disk faults act on service.
func Covers(t *specs.Test, service string) bool {
	d := t.Faults.Disk
	return d != nil && (len(d.Services) == 0 || slices.Contains(d.Services, service))
}

// Act carries out a disk fault action on d: faults.ActDisk arms a.Disk,
// faults.ActDiskClear clears its kind.
func (d *FS) Act(a faults.Action) error {
	if a.Disk == nil {
		return fmt.Errorf("%s: action without a disk fault", a.Kind)
	}
	if a.Kind == faults.ActDiskClear {
		d.Clear(a.Disk.Kind)
		return nil
	}
	return d.Arm(*a.Disk)
}

// HitEvents returns a [Config.OnHit] that reports each hit on node's mount
// as a backend.EventDiskFault at the cluster time now returns.
func HitEvents(node string, now func() time.Duration, emit func(backend.Event)) func(diskmodel.Hit) {
	return func(h diskmodel.Hit) {
		emit(backend.Event{At: now(), Kind: backend.EventDiskFault, Node: node, Line: []byte(h.String())})
	}
}
