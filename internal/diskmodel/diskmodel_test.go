package diskmodel

import (
	"reflect"
	"testing"
	"time"
)

// calls is a fixed mix of I/O calls on two files.
func calls() []Call {
	var cs []Call
	for i := range int64(50) {
		p := []string{"a", "b"}[i%2]
		cs = append(cs,
			Call{Op: OpWrite, Path: p, Off: i * 100, Len: 100, Grows: i%3 == 0},
			Call{Op: OpRead, Path: p, Off: i * 10, Len: 1000},
			Call{Op: OpSync, Path: p},
		)
	}
	return cs
}

func run(fs []Fault, files []string) []Verdict {
	var d Disk
	for _, f := range fs {
		if err := d.Arm(f, files); err != nil {
			panic(err)
		}
	}
	var out []Verdict
	for _, c := range calls() {
		out = append(out, d.Decide(c))
	}
	return out
}

// TestDecideDeterministic: the same armed faults and calls give the same
// verdicts, and a different seed different ones.
func TestDecideDeterministic(t *testing.T) {
	fs := []Fault{
		{Kind: FsyncError, Probability: 0.5, Seed: 1},
		{Kind: Corrupt, Probability: 0.5, Seed: 2},
		{Kind: Slow, Probability: 0.5, Latency: Range{Min: time.Millisecond, Max: 9 * time.Millisecond}, Seed: 3},
		{Kind: IOError, Probability: 0.5, Seed: 4},
	}
	a, b := run(fs, []string{"b", "a"}), run(fs, []string{"a", "b"})
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same faults and calls gave different verdicts")
	}
	fs[1].Seed = 99
	if reflect.DeepEqual(a, run(fs, []string{"a", "b"})) {
		t.Fatal("a different corrupt seed changed nothing")
	}
}

// TestKinds checks what each kind does to which calls.
func TestKinds(t *testing.T) {
	cs := calls()
	for _, c := range []struct {
		f     Fault
		check func(Call, Verdict) string
	}{
		{Fault{Kind: Full, Seed: 1}, func(c Call, v Verdict) string {
			if want := c.Op == OpWrite && c.Grows; (v.Err == ENOSPC) != want {
				return "ENOSPC exactly on growing writes"
			}
			return ""
		}},
		{Fault{Kind: FsyncError, Probability: 1, Seed: 1}, func(c Call, v Verdict) string {
			if (v.Err == EIO) != (c.Op == OpSync) {
				return "EIO exactly on fsyncs"
			}
			return ""
		}},
		{Fault{Kind: IOError, Probability: 1, Seed: 1}, func(c Call, v Verdict) string {
			if want := c.Op != OpSync && c.Path == "b"; (v.Err == EIO) != want { // "b" is drawn from [a b] by seed 1
				return "EIO exactly on reads and writes of the drawn file"
			}
			return ""
		}},
		{Fault{Kind: Corrupt, Probability: 1, Seed: 1}, func(c Call, v Verdict) string {
			if v.Corrupts() != (c.Op == OpRead) || v.Err != "" {
				return "every read corrupted, nothing else"
			}
			return ""
		}},
		{Fault{Kind: Slow, Probability: 1, Latency: Range{Min: time.Millisecond, Max: 2 * time.Millisecond}, Seed: 1}, func(c Call, v Verdict) string {
			if v.Delay < time.Millisecond || v.Delay > 2*time.Millisecond || v.Err != "" {
				return "every call delayed within the latency"
			}
			return ""
		}},
	} {
		var d Disk
		if err := d.Arm(c.f, []string{"a", "b"}); err != nil {
			t.Fatal(err)
		}
		if c.f.Kind == IOError && d.Target() != "b" {
			t.Fatalf("io_error drew %q; the test expects b", d.Target())
		}
		for _, call := range cs {
			v := d.Decide(call)
			if msg := c.check(call, v); msg != "" {
				t.Fatalf("%s on %+v: got %+v; want %s", c.f, call, v, msg)
			}
			if (v.Err != "" || v.Delay > 0 || v.Corrupts()) != (len(v.Hits) > 0) {
				t.Fatalf("%s on %+v: verdict %+v does not match its hits", c.f, call, v)
			}
		}
		if n := d.Clear(c.f.Kind); n == 0 || d.Active() {
			t.Fatalf("%s: Clear reported %d hits, active after = %v", c.f, n, d.Active())
		}
	}
}

func TestCorruptApply(t *testing.T) {
	b := make([]byte, 1024)
	for i := range b {
		b[i] = 0xff
	}
	Verdict{ZeroFrom: 100, ZeroTo: 612}.Apply(b)
	if b[99] != 0xff || b[100] != 0 || b[611] != 0 || b[612] != 0xff {
		t.Fatal("zeroed the wrong bytes")
	}
	Verdict{Flip: 8*700 + 3 + 1}.Apply(b)
	if b[700] != 0xff^8 {
		t.Fatalf("byte 700 = %#x after flipping bit 3", b[700])
	}
}

func TestLoseUnsynced(t *testing.T) {
	var d Disk
	if d.TakeCrash() != nil {
		t.Fatal("crash fault without arming")
	}
	if err := d.Arm(Fault{Kind: LoseUnsynced, Torn: true, Seed: 7}, nil); err != nil {
		t.Fatal(err)
	}
	f := d.TakeCrash()
	if f == nil || !f.Torn || d.TakeCrash() != nil {
		t.Fatal("TakeCrash does not return the armed fault once")
	}
	c1, c2 := NewCutter(*f), NewCutter(*f)
	for range 20 {
		a, b := c1.Cut(100, 5000), c2.Cut(100, 5000)
		if a != b || a < 100 || a > 5000 {
			t.Fatalf("cuts %d, %d: want equal and within [100, 5000]", a, b)
		}
	}
}
