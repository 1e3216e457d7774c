package deep

import (
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"strings"
	"testing"
)

type queue struct{ ts []*node }

type base struct{ q queue }

type node struct {
	base
	name   string
	next   *node
	parent *node
	waitOn *queue // points into another node (its embedded base.q)
	tags   map[string]int
	kids   map[*node]bool
	any    any
	data   []byte
	view   []byte // a view into data
	arr    [3]*node
	addr   netip.Addr
	err    error
	rng    *rand.Rand
	w      io.Writer `snap:"keep"`
	cb     func()    `snap:"zero"`
}

func TestCopyKeepsShape(t *testing.T) {
	shared := map[string]int{"x": 1}
	a := &node{name: "a", tags: shared, data: []byte("hello world"), addr: netip.MustParseAddr("10.0.0.1"), rng: rand.New(rand.NewPCG(1, 2))}
	b := &node{name: "b", parent: a, tags: shared, err: io.EOF, w: io.Discard, cb: func() {}}
	a.next, b.next = b, a // a cycle
	a.view = a.data[6:]
	b.waitOn = &a.q // an interior pointer
	a.q.ts = []*node{a, b}
	a.kids = map[*node]bool{b: true}
	a.any = b
	a.arr[1] = b

	c := New()
	out, err := Copy(c, a)
	if err != nil {
		t.Fatal(err)
	}
	a2 := out[0]
	b2 := a2.next
	switch {
	case a2 == a || b2 == b:
		t.Fatal("not copied")
	case b2.next != a2 || b2.parent != a2:
		t.Error("cycle not kept")
	case b2.waitOn != &a2.q:
		t.Error("interior pointer not translated")
	case len(a2.q.ts) != 2 || a2.q.ts[0] != a2 || a2.q.ts[1] != b2:
		t.Error("slice of pointers not translated")
	case !a2.kids[b2] || len(a2.kids) != 1:
		t.Error("map keyed by pointer not translated")
	case a2.any != any(b2):
		t.Error("interface not translated")
	case a2.arr[1] != b2:
		t.Error("array element not translated")
	case a2.addr != a.addr:
		t.Error("netip.Addr changed")
	case b2.err != io.EOF:
		t.Error("error value not shared")
	case b2.w != io.Discard:
		t.Error("keep field not kept")
	case b2.cb != nil:
		t.Error("zero field not zeroed")
	}
	// Shared map stays shared, and is not the original.
	a2.tags["y"] = 2
	if b2.tags["y"] != 2 || shared["y"] != 0 {
		t.Error("shared map not shared in the copy, or copy aliases the original")
	}
	// Views of one array stay views of one array.
	a2.data[6] = 'W'
	if string(a2.view) != "World" || string(a.view) != "world" {
		t.Errorf("slice views: copy %q original %q", a2.view, a.view)
	}
	// The generator's state is copied: both draw the same from here.
	if x, y := a.rng.Uint64(), a2.rng.Uint64(); x != y {
		t.Error("rng state differs")
	}
	// Copying the copy again works (a snapshot restored twice).
	out2, err := Copy(New(), a2)
	if err != nil {
		t.Fatal(err)
	}
	if out2[0].next.waitOn != &out2[0].q {
		t.Error("second copy lost the interior pointer")
	}
}

func TestCopyFailsOnClosure(t *testing.T) {
	type holder struct {
		inner struct{ fn func() }
	}
	h := &holder{}
	h.inner.fn = func() {}
	_, err := Copy(New(), h)
	if err == nil || !strings.Contains(err.Error(), ".inner.fn") {
		t.Fatalf("err = %v, want one naming .inner.fn", err)
	}
}

func TestPinAndExtern(t *testing.T) {
	type mem struct{ b []byte }
	type owner struct {
		m    *mem
		page []byte
	}
	m := &mem{b: make([]byte, 64)}
	o := &owner{m: m}
	repl := &mem{b: make([]byte, 64)}
	c := New()
	c.Pin(m, repl)
	c.Extern(m.b, "guest memory")
	out, err := Copy(c, o)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].m != repl {
		t.Error("pinned pointer not replaced")
	}
	o.page = m.b[8:16]
	c = New()
	c.Pin(m, repl)
	c.Extern(m.b, "guest memory")
	if _, err := Copy(c, o); err == nil || !strings.Contains(err.Error(), "guest memory") || !strings.Contains(err.Error(), ".page") {
		t.Fatalf("err = %v, want one naming .page and guest memory", err)
	}
}

func TestOverlappingViews(t *testing.T) {
	type two struct{ a, b []int }
	arr := []int{0, 1, 2, 3, 4}
	v := &two{a: arr[:2:2], b: arr[1:]}
	out, err := Copy(New(), v)
	if err != nil {
		t.Fatal(err)
	}
	w := out[0]
	w.a[1] = 100
	if w.b[0] != 100 || arr[1] != 1 {
		t.Errorf("overlapping views: %v %v original %v", w.a, w.b, arr)
	}
}

// TestCopyFailsOnHostFile: a host file's contents are not in the graph, so
// an untagged *os.File (here behind an interface) fails the copy.
func TestCopyFailsOnHostFile(t *testing.T) {
	type volume struct{ backing io.Reader }
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = Copy(New(), &volume{backing: f})
	if err == nil || !strings.Contains(err.Error(), "host file") || !strings.Contains(err.Error(), ".backing") {
		t.Fatalf("err = %v, want one naming .backing and a host file", err)
	}
}
