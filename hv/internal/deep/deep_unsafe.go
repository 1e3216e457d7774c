// Package deep copies object graphs for hv's snapshots: every object
// reachable from the roots is copied once, and the copy keeps the graph's
// shape — two pointers to one object point to one copy, a pointer into the
// middle of an object (a field, an array element, a slice of a larger
// array) points into the middle of its copy, maps and slices shared by two
// owners stay shared.
//
// The copy follows unexported fields, which is why it uses package unsafe
// (reflect.NewAt on field addresses). What cannot be copied makes Copy fail
// with the path to it (Cluster.nodes[2].fs.root…), instead of a copy that
// silently shares or drops state: a function value (a closure's captured
// variables are invisible to reflection), a channel, an unsafe.Pointer, a
// host file (*os.File: its contents are not in the graph), or a pointer
// into memory registered with [Copier.Extern] (guest memory).
//
// A struct field tagged `snap:"keep"` is shared by the copy as it is (a
// host-side attachment: a logger, a writer, a callback given by the
// caller); one tagged `snap:"zero"` is left zero in the copy (host
// resources the restorer re-creates, caches, observers). Values of a few
// types are immutable or interned and always shared: error values,
// netip.Addr, time.Time and *time.Location, the unique package's handles
// and *slog.Logger.
package deep

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Copier copies one graph. Use a fresh Copier for each copy.
type Copier struct {
	spans    []span
	seenPtr  map[ptrKey]struct{}
	seenSl   map[ptrKey]uintptr // slice data+elem type → elements walked (bytes)
	seenMap  map[unsafe.Pointer]struct{}
	pins     map[uintptr]pin
	externs  []extern
	path     []string
	roots    []root
	newMaps  map[unsafe.Pointer]reflect.Value
	keepLive []reflect.Value // new memory, reachable from the copy only once fixed up
	// Objects and Bytes count what the last Copy copied.
	Objects, Bytes int
}

type ptrKey struct {
	p uintptr
	t reflect.Type
}

type pin struct {
	t   reflect.Type
	new unsafe.Pointer
}

type extern struct {
	lo, hi uintptr
	name   string
}

// span is one object (or array) reached during discovery.
type span struct {
	base   unsafe.Pointer // the object's first byte
	lo, hi uintptr        // base and its end, for ordering
	t      reflect.Type   // pointee type, or element type for a slice
	slice  bool
	live   uintptr // slice: bytes from lo that hold live elements
	pinned unsafe.Pointer
}

// root is a span that no other span contains: one allocation of the copy.
type root struct {
	span
	new unsafe.Pointer
	// views are the byte ranges [from, to) of a slice root that some view
	// (a slice, a pointer) reaches: only they were discovered, so only
	// they are copied.
	views [][2]uintptr
}

// New returns an empty copier.
func New() *Copier {
	return &Copier{
		seenPtr: map[ptrKey]struct{}{},
		seenSl:  map[ptrKey]uintptr{},
		seenMap: map[unsafe.Pointer]struct{}{},
		pins:    map[uintptr]pin{},
		newMaps: map[unsafe.Pointer]reflect.Value{},
	}
}

// Pin makes the copy use replacement wherever the graph points to old
// (both pointers to one type): old is not copied, and pointers into it
// point into replacement at the same offset. The caller fills replacement.
func (c *Copier) Pin(old, replacement any) {
	ov, nv := reflect.ValueOf(old), reflect.ValueOf(replacement)
	if ov.Kind() != reflect.Pointer || ov.Type() != nv.Type() || ov.IsNil() || nv.IsNil() {
		panic(fmt.Sprintf("deep: Pin(%T, %T): want two non-nil pointers of one type", old, replacement))
	}
	c.pins[uintptr(ov.UnsafePointer())] = pin{t: ov.Type().Elem(), new: nv.UnsafePointer()}
}

// Extern registers memory the graph must not point into (b's bytes): a
// pointer or slice into it fails the copy, naming it name.
func (c *Copier) Extern(b []byte, name string) {
	if len(b) == 0 {
		return
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	c.externs = append(c.externs, extern{lo: lo, hi: lo + uintptr(len(b)), name: name})
}

// Copy copies the graphs reachable from roots (each a non-nil pointer) and
// returns the copies of the roots, in order.
func Copy[T any](c *Copier, roots ...*T) ([]*T, error) {
	vals := make([]any, len(roots))
	for i, r := range roots {
		vals[i] = r
	}
	out, err := c.CopyAll(vals...)
	if err != nil {
		return nil, err
	}
	res := make([]*T, len(out))
	for i, o := range out {
		res[i] = o.(*T)
	}
	return res, nil
}

// CopyAll is [Copy] for roots of different types.
func (c *Copier) CopyAll(roots ...any) (_ []any, err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(copyError); ok {
				err = e
				return
			}
			panic(r)
		}
	}()
	for _, r := range roots {
		v := reflect.ValueOf(r)
		if v.Kind() != reflect.Pointer || v.IsNil() {
			return nil, fmt.Errorf("deep: root %T is not a non-nil pointer", r)
		}
		c.path = append(c.path[:0], v.Type().Elem().String())
		c.visitPtr(v.UnsafePointer(), v.Type().Elem())
	}
	c.path = c.path[:0]
	if err := c.allocate(); err != nil {
		return nil, err
	}
	for i := range c.roots {
		c.fill(&c.roots[i])
	}
	out := make([]any, len(roots))
	for i, r := range roots {
		v := reflect.ValueOf(r)
		out[i] = reflect.NewAt(v.Type().Elem(), c.translate(v.UnsafePointer())).Interface()
	}
	c.keepLive = nil
	return out, nil
}

type copyError struct{ msg string }

func (e copyError) Error() string { return e.msg }

func (c *Copier) fail(format string, args ...any) {
	panic(copyError{msg: "deep: " + strings.Join(c.path, "") + ": " + fmt.Sprintf(format, args...)})
}

// Type classification.

type mode uint8

const (
	modeDeep mode = iota
	modeKeep
	modeZero
)

type fieldInfo struct {
	off  uintptr
	t    reflect.Type
	name string
	mode mode
}

type typeInfo struct {
	// ptrs: values of the type hold something the copy must translate
	// (or zero).
	ptrs   bool
	fields []fieldInfo // struct: the fields that need work
}

var (
	infoMu    sync.Mutex
	infos     = map[reflect.Type]*typeInfo{}
	errorType = reflect.TypeFor[error]()
)

// shared reports whether values of t are shared by the copy as they are.
func shared(t reflect.Type) bool {
	switch t {
	case reflect.TypeFor[netip.Addr](), reflect.TypeFor[time.Time](), reflect.TypeFor[time.Location](),
		reflect.TypeFor[slog.Logger](), errorType:
		return true
	}
	return t.PkgPath() == "unique"
}

func info(t reflect.Type) *typeInfo {
	infoMu.Lock()
	defer infoMu.Unlock()
	return infoLocked(t)
}

func infoLocked(t reflect.Type) *typeInfo {
	if in := infos[t]; in != nil {
		return in
	}
	in := &typeInfo{}
	infos[t] = in // recursive types: a pointer back to t needs no fields of t
	if shared(t) {
		return in
	}
	switch t.Kind() {
	case reflect.Pointer:
		in.ptrs = !shared(t.Elem())
	case reflect.Slice, reflect.Map, reflect.Interface, reflect.Func, reflect.Chan, reflect.UnsafePointer:
		in.ptrs = true
	case reflect.Array:
		in.ptrs = t.Len() > 0 && infoLocked(t.Elem()).ptrs
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			fi := fieldInfo{off: f.Offset, t: f.Type, name: f.Name}
			switch tag := f.Tag.Get("snap"); tag {
			case "keep":
				continue
			case "zero":
				fi.mode = modeZero
			case "":
				if !infoLocked(f.Type).ptrs {
					continue
				}
			default:
				panic(fmt.Sprintf("deep: %v.%s: unknown snap tag %q", t, f.Name, tag))
			}
			in.fields = append(in.fields, fi)
		}
		in.ptrs = len(in.fields) > 0
	}
	return in
}

// Discovery: every object reachable, with its type and extent.

func (c *Copier) checkExtern(p unsafe.Pointer) {
	for _, e := range c.externs {
		if u := uintptr(p); u >= e.lo && u < e.hi {
			c.fail("points into %s, which cannot be copied", e.name)
		}
	}
}

func (c *Copier) visitPtr(p unsafe.Pointer, t reflect.Type) {
	if t.Size() == 0 {
		return
	}
	k := ptrKey{uintptr(p), t}
	if _, ok := c.seenPtr[k]; ok {
		return
	}
	c.seenPtr[k] = struct{}{}
	c.checkExtern(p)
	if t == reflect.TypeFor[os.File]() {
		c.fail("a host file (%s) cannot be copied: its contents live outside the graph; tag the field snap:\"keep\" if sharing it is right", (*os.File)(p).Name())
	}
	if pn, ok := c.pins[uintptr(p)]; ok && pn.t == t {
		c.spans = append(c.spans, span{base: p, lo: uintptr(p), hi: uintptr(p) + t.Size(), t: t, pinned: pn.new})
		return
	}
	c.spans = append(c.spans, span{base: p, lo: uintptr(p), hi: uintptr(p) + t.Size(), t: t})
	if info(t).ptrs {
		c.walk(p, t)
	}
}

func (c *Copier) visitSlice(data unsafe.Pointer, n, cp int, e reflect.Type) {
	if cp == 0 || e.Size() == 0 {
		return
	}
	c.checkExtern(data)
	es := e.Size()
	c.spans = append(c.spans, span{base: data, lo: uintptr(data), hi: uintptr(data) + uintptr(cp)*es, t: e, slice: true, live: uintptr(n) * es})
	if !info(e).ptrs {
		return
	}
	k := ptrKey{uintptr(data), e}
	done := c.seenSl[k]
	if uintptr(n)*es <= done {
		return
	}
	c.seenSl[k] = uintptr(n) * es
	for i := done / es; i < uintptr(n); i++ {
		c.path = append(c.path, fmt.Sprintf("[%d]", i))
		c.walk(unsafe.Add(data, i*es), e)
		c.path = c.path[:len(c.path)-1]
	}
}

// walk discovers what the value of type t at p points to.
func (c *Copier) walk(p unsafe.Pointer, t reflect.Type) {
	in := info(t)
	if !in.ptrs {
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if q := *(*unsafe.Pointer)(p); q != nil {
			c.visitPtr(q, t.Elem())
		}
	case reflect.Slice:
		h := (*sliceHeader)(p)
		if h.data != nil {
			c.visitSlice(h.data, h.len, h.cap, t.Elem())
		}
	case reflect.Struct:
		for _, f := range in.fields {
			if f.mode == modeZero {
				continue
			}
			c.path = append(c.path, "."+f.name)
			c.walk(unsafe.Add(p, f.off), f.t)
			c.path = c.path[:len(c.path)-1]
		}
	case reflect.Array:
		es := t.Elem().Size()
		for i := range uintptr(t.Len()) {
			c.path = append(c.path, fmt.Sprintf("[%d]", i))
			c.walk(unsafe.Add(p, i*es), t.Elem())
			c.path = c.path[:len(c.path)-1]
		}
	case reflect.Map:
		m := reflect.NewAt(t, p).Elem()
		if m.IsNil() {
			return
		}
		if _, ok := c.seenMap[m.UnsafePointer()]; ok {
			return
		}
		c.seenMap[m.UnsafePointer()] = struct{}{}
		kp, vp := info(t.Key()).ptrs, info(t.Elem()).ptrs
		if !kp && !vp {
			return
		}
		it := m.MapRange()
		for it.Next() {
			c.path = append(c.path, "[key]")
			if kp {
				c.walkValue(it.Key())
			}
			c.path[len(c.path)-1] = "[value]"
			if vp {
				c.walkValue(it.Value())
			}
			c.path = c.path[:len(c.path)-1]
		}
	case reflect.Interface:
		v := reflect.NewAt(t, p).Elem()
		if v.IsNil() {
			return
		}
		e := v.Elem()
		c.path = append(c.path, "("+e.Type().String()+")")
		c.walkValue(e)
		c.path = c.path[:len(c.path)-1]
	case reflect.Func:
		if *(*unsafe.Pointer)(p) != nil {
			c.fail("a function value (%v) cannot be copied: make it data, or tag the field snap:\"keep\" or snap:\"zero\"", t)
		}
	case reflect.Chan, reflect.UnsafePointer:
		if *(*unsafe.Pointer)(p) != nil {
			c.fail("a %v cannot be copied", t)
		}
	}
}

// walkValue discovers what a (not addressable) value points to.
func (c *Copier) walkValue(v reflect.Value) {
	t := v.Type()
	if !info(t).ptrs {
		return
	}
	if t.Kind() == reflect.Pointer {
		if !v.IsNil() {
			c.visitPtr(v.UnsafePointer(), t.Elem())
		}
		return
	}
	tmp := reflect.New(t).Elem()
	tmp.Set(v)
	c.walk(tmp.Addr().UnsafePointer(), t)
}

type sliceHeader struct {
	data     unsafe.Pointer
	len, cap int
}

// Allocation: one new object per root.

func (c *Copier) allocate() error {
	sp := c.spans
	slices.SortFunc(sp, func(a, b span) int {
		switch {
		case a.lo != b.lo:
			return cmpUintptr(a.lo, b.lo)
		case a.hi != b.hi:
			return cmpUintptr(b.hi, a.hi) // the larger first: it contains the other
		case a.pinned != b.pinned:
			if a.pinned != nil {
				return -1
			}
			return 1
		case a.slice != b.slice:
			if !a.slice {
				return -1 // a typed object before an array view of it
			}
			return 1
		}
		return cmpUintptr(b.live, a.live)
	})
	for _, s := range sp {
		if n := len(c.roots); n > 0 && s.lo < c.roots[n-1].hi {
			r := &c.roots[n-1]
			if err := r.absorb(s); err != nil {
				return err
			}
			continue
		}
		c.roots = append(c.roots, root{span: s})
		if s.slice {
			r := &c.roots[len(c.roots)-1]
			r.views = append(r.views, [2]uintptr{0, s.live})
		}
	}
	for i := range c.roots {
		r := &c.roots[i]
		switch {
		case r.pinned != nil:
			r.new = r.pinned
		case r.slice:
			n := int((r.hi - r.lo) / r.t.Size())
			v := reflect.MakeSlice(reflect.SliceOf(r.t), n, n)
			c.keepLive = append(c.keepLive, v)
			r.new = v.UnsafePointer()
		default:
			v := reflect.New(r.t)
			c.keepLive = append(c.keepLive, v)
			r.new = v.UnsafePointer()
		}
	}
	c.Objects = len(c.roots)
	return nil
}

// absorb merges span s, which starts inside r, into r.
func (r *root) absorb(s span) error {
	if s.hi > r.hi {
		// Two views of one array that overlap partly (a[:2:2] and a[1:]).
		if !r.slice || !s.slice || r.t != s.t || r.pinned != nil {
			return fmt.Errorf("deep: a %v at %#x overlaps a %v at %#x partly", s.t, s.lo, r.t, r.lo)
		}
		r.hi = s.hi
	}
	if r.slice {
		// What another view reaches is live too.
		end := s.hi
		if s.slice {
			end = s.lo + s.live
		}
		es := r.t.Size()
		from, to := (s.lo-r.lo)/es*es, (end-r.lo+es-1)/es*es
		if to > r.live {
			r.live = to
		}
		if from < to {
			r.views = append(r.views, [2]uintptr{from, to})
		}
	}
	return nil
}

func cmpUintptr(a, b uintptr) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// translate returns where old pointer p (to an object of non-zero size)
// points in the copy.
func (c *Copier) translate(p unsafe.Pointer) unsafe.Pointer {
	u := uintptr(p)
	i, found := slices.BinarySearchFunc(c.roots, u, func(r root, u uintptr) int { return cmpUintptr(r.lo, u) })
	if !found {
		i--
	}
	if i < 0 || u >= c.roots[i].hi {
		// Discovery saw every pointer the copy holds; one it did not see
		// would be shared with the original silently.
		panic(copyError{msg: fmt.Sprintf("deep: internal error: pointer %#x was not discovered", u)})
	}
	r := &c.roots[i]
	return unsafe.Add(r.new, u-r.lo)
}

// Filling: copy each root, then point everything in it at the copy.

func (c *Copier) fill(r *root) {
	if r.pinned != nil {
		return
	}
	if !r.slice {
		dst := reflect.NewAt(r.t, r.new).Elem()
		dst.Set(reflect.NewAt(r.t, r.base).Elem())
		c.Bytes += int(r.t.Size())
		c.fix(r.new, r.t)
		return
	}
	es := r.t.Size()
	st := reflect.SliceOf(r.t)
	ptrs := info(r.t).ptrs
	slices.SortFunc(r.views, func(a, b [2]uintptr) int { return cmpUintptr(a[0], b[0]) })
	done := uintptr(0) // bytes copied from the start of the root
	for _, v := range r.views {
		from, to := max(v[0], done), v[1]
		if from >= to {
			continue
		}
		n := int((to - from) / es)
		src := sliceHeader{data: unsafe.Add(r.base, from), len: n, cap: n}
		dst := sliceHeader{data: unsafe.Add(r.new, from), len: n, cap: n}
		reflect.Copy(reflect.NewAt(st, unsafe.Pointer(&dst)).Elem(), reflect.NewAt(st, unsafe.Pointer(&src)).Elem())
		c.Bytes += int(to - from)
		if ptrs {
			for off := from; off < to; off += es {
				c.fix(unsafe.Add(r.new, off), r.t)
			}
		}
		done = to
	}
}

// fix rewrites the value of type t at p (in the copy, still holding the
// original's pointers) to point into the copy.
func (c *Copier) fix(at unsafe.Pointer, t reflect.Type) {
	in := info(t)
	if !in.ptrs {
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		q := (*unsafe.Pointer)(at)
		if *q != nil && t.Elem().Size() > 0 {
			*q = c.translate(*q)
		}
	case reflect.Slice:
		h := (*sliceHeader)(at)
		if h.data != nil && h.cap > 0 && t.Elem().Size() > 0 {
			h.data = c.translate(h.data)
		}
	case reflect.Struct:
		for _, f := range in.fields {
			if f.mode == modeZero {
				reflect.NewAt(f.t, unsafe.Add(at, f.off)).Elem().SetZero()
				continue
			}
			c.fix(unsafe.Add(at, f.off), f.t)
		}
	case reflect.Array:
		es := t.Elem().Size()
		for i := range uintptr(t.Len()) {
			c.fix(unsafe.Add(at, i*es), t.Elem())
		}
	case reflect.Map:
		slot := reflect.NewAt(t, at).Elem()
		if slot.IsNil() {
			return
		}
		old := slot.UnsafePointer()
		if nm, ok := c.newMaps[old]; ok {
			slot.Set(nm)
			return
		}
		nm := reflect.MakeMapWithSize(t, slot.Len())
		c.newMaps[old] = nm
		it := slot.MapRange()
		for it.Next() {
			nm.SetMapIndex(c.fixValue(it.Key()), c.fixValue(it.Value()))
		}
		slot.Set(nm)
	case reflect.Interface:
		slot := reflect.NewAt(t, at).Elem()
		if slot.IsNil() {
			return
		}
		slot.Set(c.fixValue(slot.Elem()))
	}
}

// fixValue returns the copy's version of a (not addressable) value.
func (c *Copier) fixValue(v reflect.Value) reflect.Value {
	t := v.Type()
	if !info(t).ptrs {
		return v
	}
	if t.Kind() == reflect.Pointer {
		if v.IsNil() || t.Elem().Size() == 0 {
			return v
		}
		return reflect.NewAt(t.Elem(), c.translate(v.UnsafePointer())).Convert(t)
	}
	tmp := reflect.New(t).Elem()
	tmp.Set(v)
	c.fix(tmp.Addr().UnsafePointer(), t)
	return tmp
}
