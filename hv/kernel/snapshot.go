package kernel

import (
	"fmt"
	"io"
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

// SetOutput replaces the writers behind the process's standard output and
// error (wherever the guest has them: dup'ed descriptors share them), for
// a process restored from a snapshot whose original writers belong to
// another run.
func (k *Kernel) SetOutput(stdout, stderr io.Writer) {
	for _, e := range k.files.fds {
		if f, ok := e.d.file.(*streamFile); ok {
			switch f.std {
			case 1:
				f.w = stdout
			case 2:
				f.w = stderr
			}
		}
	}
	k.cfg.Stdout, k.cfg.Stderr = stdout, stderr
}

// SetOnMessage replaces the function that receives the process's SDK
// messages ([Config.OnMessage]).
func (k *Kernel) SetOnMessage(fn func(Message)) { k.cfg.OnMessage = fn }
