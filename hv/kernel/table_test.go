package kernel

import (
	"testing"

	"github.com/mvrun/multiverse/hv/abi"
)

func TestTableEntries(t *testing.T) {
	for nr, e := range Table() {
		if e.Name != abi.SysName(nr) {
			t.Errorf("syscall %d is named %q in the table, %q in abi", nr, e.Name, abi.SysName(nr))
		}
		if e.fn == nil {
			t.Errorf("%s: no handler; leave unimplemented calls out of the table so they are reported", e.Name)
		}
		switch e.Support {
		case Full, Partial, Stub:
		default:
			t.Errorf("%s: unknown support level %q", e.Name, e.Support)
		}
		if e.Support == Partial && e.Note == "" {
			t.Errorf("%s: partial support needs a note saying what is missing", e.Name)
		}
	}
}
