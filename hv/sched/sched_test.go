package sched

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestTimersOrder(t *testing.T) {
	var q Timers
	q.Add(30, 1)
	b := q.Add(10, 2)
	q.Add(10, 3)
	q.Add(20, 4)
	q.Cancel(b)
	var got []int
	for {
		when, ok := q.Next()
		if !ok {
			break
		}
		tm, _ := q.PopDue(when)
		got = append(got, tm.ID)
	}
	want := []int{3, 4, 1}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if _, ok := q.PopDue(1 << 62); ok {
		t.Fatal("empty queue popped a timer")
	}
}

func TestClock(t *testing.T) {
	c := NewClock(DefaultEpoch)
	c.Advance(5)
	c.AdvanceTo(3)
	c.Advance(-7)
	if c.Now() != 5 {
		t.Fatalf("Now = %d, want 5", c.Now())
	}
	c.SetOffset(time.Second)
	if got, want := c.Wall(), DefaultEpoch.UnixNano()+5+int64(time.Second); got != want {
		t.Fatalf("Wall = %d, want %d", got, want)
	}
}

func TestPickerAndTraceDeterministic(t *testing.T) {
	run := func(seed uint64) (uint64, []int) {
		p := NewPicker(rand.New(rand.NewPCG(seed, 0)))
		tr := NewTrace()
		var picks []int
		for i := 0; i < 20; i++ {
			n := p.Pick(4)
			picks = append(picks, n)
			tr.Event('p', uint64(n))
		}
		return tr.Sum(), picks
	}
	h1, p1 := run(1)
	h2, p2 := run(1)
	h3, _ := run(2)
	if h1 != h2 || len(p1) != len(p2) {
		t.Fatalf("same seed gave hashes %x and %x", h1, h2)
	}
	if h1 == h3 {
		t.Fatalf("seeds 1 and 2 gave the same trace hash %x", h1)
	}
	if NewPicker(nil).Pick(1) != 0 {
		t.Fatal("Pick(1) must be 0 without drawing")
	}
}
