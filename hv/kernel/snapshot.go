package kernel

import (
	"fmt"
)

// Snapshots. A cluster snapshot copies every process's kernel state as a
// plain object graph (hv/internal/deep); what is not data — the machine
// behind the vCPU, views of guest memory, the callbacks the machine set —
// is left out of the copy and set again here once the process's memory
// and machine are restored.

// PendingHostActions returns how many host actions ([World.At]) are
// waiting: a snapshot cannot copy them (they are the caller's functions).
func (w *World) PendingHostActions() int { return w.host.Len() }

// Restored reattaches a process copied from a snapshot, whose guest
// memory has been restored, to its new machine: cpu reaches the new
// vCPU's extended state, the vDSO's data pages are found again in the
// restored memory, and the address space fills lazy pages through the
// kernel again. The caller sets [Kernel.OnExit] again too.
func (k *Kernel) Restored(cpu CPU) error {
	k.cpu = cpu
	if k.exited {
		return nil
	}
	k.Space.SetFiller(k.fillLazy)
	if k.cfg.NoVDSO {
		return nil
	}
	pt := k.Space.PageTable()
	for _, p := range []struct {
		va   uint64
		view *[]byte
	}{{CounterVA, &k.counter}, {VvarVA, &k.vvar}} {
		f, ok := pt.FrameOf(p.va)
		if !ok {
			return fmt.Errorf("restore pid %d: the vDSO page at %#x is not mapped", k.pid, p.va)
		}
		*p.view = k.Phys.Frame(f)
	}
	return nil
}
