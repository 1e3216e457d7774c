package assert

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mvrun/multiverse/sdk/internal/wire"
)

func TestFirstPassFirstFail(t *testing.T) {
	tests := []struct {
		name  string
		conds []bool
		want  []bool // conditions of the lines sent, in order
	}{
		{"one pass", []bool{true}, []bool{true}},
		{"passes only", []bool{true, true, true}, []bool{true}},
		{"fails only", []bool{false, false}, []bool{false}},
		{"pass then fail", []bool{true, true, false, true, false}, []bool{true, false}},
		{"fail then pass", []bool{false, true, false, true}, []bool{false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, _ := capture(t)
			for _, c := range tt.conds {
				Always(c, "dedup", nil)
			}
			var got []bool
			for _, d := range decode(t, readLines(t, path)) {
				got = append(got, d.Assert.Condition)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("sent conditions %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCatalogRegistrationsAreNotDeduplicated(t *testing.T) {
	path, _ := capture(t)
	for i := 0; i < 2; i++ {
		AssertRaw(false, "m", nil, "c", "f", "x.go", 1, 0, false, true, universalTest, alwaysDisplay, "m")
	}
	Always(true, "m", nil)
	Always(true, "m", nil)
	d := decode(t, readLines(t, path))
	if len(d) != 3 || d[0].Assert.Hit || d[1].Assert.Hit || !d[2].Assert.Hit {
		t.Fatalf("want two registrations and one hit, got %+v", d)
	}
}

func TestLocationAndTypes(t *testing.T) {
	path, _ := capture(t)
	func() { Sometimes(true, "in closure", nil) }()
	(&holder{}).method()
	d := decode(t, readLines(t, path))
	if len(d) != 2 {
		t.Fatalf("got %d lines", len(d))
	}
	const pkg = "github.com/mvrun/multiverse/sdk/assert"
	for i, want := range []string{"TestLocationAndTypes.func1", "(*holder).method"} {
		l := d[i].Assert.Location
		if l.Class != pkg || l.Function != want || filepath.Base(l.File) != "assert_test.go" || l.Line == 0 {
			t.Errorf("line %d location = %+v, want class %s function %s in assert_test.go", i, l, pkg, want)
		}
	}
}

type holder struct{}

func (*holder) method() { Reachable("in method", nil) }

func TestSplitFuncName(t *testing.T) {
	tests := []struct{ in, pkg, fn string }{
		{"main.main", "main", "main"},
		{"example.com/app.run.func1", "example.com/app", "run.func1"},
		{"example.com/a/b.(*T).M", "example.com/a/b", "(*T).M"},
		{"example.com/a.F[example.com/b.T]", "example.com/a", "F[example.com/b.T]"},
		{"", "*class*", "*function*"},
	}
	for _, tt := range tests {
		pkg, fn := splitFuncName(tt.in)
		if pkg != tt.pkg || fn != tt.fn {
			t.Errorf("splitFuncName(%q) = %q, %q; want %q, %q", tt.in, pkg, fn, tt.pkg, tt.fn)
		}
	}
}

func TestConcurrentEvaluations(t *testing.T) {
	path, _ := capture(t)
	const ids, goroutines, calls = 10, 8, 500
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				msg := fmt.Sprintf("id %d", (i+g)%ids)
				Always(i%3 != 0, msg, map[string]any{"g": g})
				AlwaysLessThan(i, 400, msg+" lt", nil)
			}
		}(g)
	}
	wg.Wait()
	seen := map[string]int{}
	guidance := map[string]int{}
	for _, d := range decode(t, readLines(t, path)) {
		if d.Assert != nil {
			seen[fmt.Sprintf("%s/%v", d.Assert.ID, d.Assert.Condition)]++
		} else {
			guidance[d.Guidance.ID]++
		}
	}
	for i := 0; i < ids; i++ {
		for _, c := range []bool{true, false} {
			for _, suffix := range []string{"", " lt"} {
				k := fmt.Sprintf("id %d%s/%v", i, suffix, c)
				if seen[k] != 1 {
					t.Errorf("%s sent %d times, want once", k, seen[k])
				}
			}
		}
	}
	for id, n := range guidance {
		if n < 1 || n > maxGuidanceLines {
			t.Errorf("%s: %d guidance lines, want 1..%d", id, n, maxGuidanceLines)
		}
	}
}

func TestNumericGuidanceImprovesAndIsBounded(t *testing.T) {
	path, _ := capture(t)
	// AlwaysLessThan maximizes left-right: every larger left improves.
	for i := 0; i < 1000; i++ {
		AlwaysLessThan(i, 2000, "counter", nil)
	}
	// A smaller value after a larger one is no improvement.
	AlwaysLessThan(0, 2000, "counter", nil)
	var lefts []float64
	for _, d := range decode(t, readLines(t, path)) {
		if d.Guidance != nil {
			lefts = append(lefts, d.Guidance.Data["left"].(float64))
		}
	}
	if len(lefts) != maxGuidanceLines {
		t.Fatalf("%d guidance lines, want the bound %d", len(lefts), maxGuidanceLines)
	}
	for i, l := range lefts {
		if l != float64(i) {
			t.Fatalf("guidance %d has left %v, want %d", i, l, i)
		}
	}
}

func TestBooleanGuidanceOnNewValues(t *testing.T) {
	path, _ := capture(t)
	calls := [][]NamedBool{
		{{"a", false}, {"b", false}}, // fail: assert + guidance
		{{"a", false}, {"b", false}}, // nothing new
		{{"a", true}, {"b", false}},  // pass: assert + guidance (a true is new)
		{{"a", true}, {"b", false}},  // nothing new
		{{"a", false}, {"b", true}},  // b true is new: guidance
	}
	for _, c := range calls {
		AlwaysSome(c, "some", nil)
	}
	var kinds []string
	for _, d := range decode(t, readLines(t, path)) {
		if d.Assert != nil {
			kinds = append(kinds, fmt.Sprintf("assert:%v", d.Assert.Condition))
		} else {
			kinds = append(kinds, "guidance")
		}
	}
	want := "[assert:false guidance assert:true guidance guidance]"
	if fmt.Sprint(kinds) != want {
		t.Errorf("lines %v, want %s", kinds, want)
	}
}

func TestBadDetailsStillSent(t *testing.T) {
	path, _ := capture(t)
	Always(false, "chan", map[string]any{"c": make(chan int)})
	Always(false, "panics", map[string]any{"p": panicker{}})
	for _, d := range decode(t, readLines(t, path)) {
		if _, ok := d.Assert.Details["mvrun_sdk_error"]; !ok {
			t.Errorf("%s: details %v lack mvrun_sdk_error", d.Assert.ID, d.Assert.Details)
		}
	}
}

type panicker struct{}

func (panicker) MarshalJSON() ([]byte, error) { panic("no") }

func TestNoTransportIsNoop(t *testing.T) {
	resetTable()
	wire.Reset(func(string) string { return "" }, os.Stderr)
	Always(false, "noop", nil)
	AlwaysSome(nil, "noop some", nil)
	if len(*table.Load()) != 0 {
		t.Fatal("a no-op evaluation created tracking state")
	}
}

// The hot path (an outcome already sent) must not allocate, with or without
// a transport.
func TestHotPathDoesNotAllocate(t *testing.T) {
	capture(t)
	Always(true, "hot", nil)
	AlwaysGreaterThan(5, 1, "hot gt", nil)
	AlwaysSome([]NamedBool{{"a", true}}, "hot some", nil)
	named := []NamedBool{{"a", true}}
	tests := []struct {
		name string
		f    func()
	}{
		{"Always", func() { Always(true, "hot", nil) }},
		{"AlwaysGreaterThan", func() { AlwaysGreaterThan(5, 1, "hot gt", nil) }},
		{"AlwaysSome", func() { AlwaysSome(named, "hot some", nil) }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(100, tt.f); n != 0 {
			t.Errorf("%s: %v allocs per call, want 0", tt.name, n)
		}
	}
}

func TestFileRemovedMidRun(t *testing.T) {
	path, stderr := capture(t)
	Always(true, "before", nil)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		Always(true, fmt.Sprintf("after %d", i), nil)
	}
	if got := wire.Lost(); got != 5 {
		t.Errorf("Lost() = %d, want 5", got)
	}
	if s := stderr.String(); strings.Count(s, "\n") != 1 || !strings.HasPrefix(s, "mvrun-sdk: lost an SDK message (later losses are counted, not printed): ") || !strings.Contains(s, "removed") {
		t.Errorf("stderr = %q, want one 'mvrun-sdk: lost an SDK message (later losses are counted, not printed): ...removed...' line", s)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the SDK recreated the removed output file (stat: %v)", err)
	}
}

func TestUnixSocketClosedMidRun(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "sdk.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Skipf("cannot listen on a unix socket here: %v", err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	var conn net.Conn
	accepted := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		conn = c
		close(accepted)
		buf := make([]byte, 4096)
		n, _ := c.Read(buf)
		got <- string(buf[:n])
	}()
	stderr := &lockedBuffer{}
	resetTable()
	wire.Reset(func(k string) string {
		if k == wire.EnvSDK {
			return "unix:" + sock
		}
		return ""
	}, stderr)
	t.Cleanup(func() { wire.Reset(func(string) string { return "" }, os.Stderr); resetTable() })
	<-accepted
	if conn == nil {
		t.Fatal("no connection")
	}
	if first := <-got; !strings.HasPrefix(first, `{"antithesis_sdk":`) {
		t.Fatalf("first bytes on the socket: %q", first)
	}
	conn.Close()
	// The peer is gone: the first writes may still land in the socket
	// buffer, but the channel must break soon and count what it lost.
	for i := 0; i < 50; i++ {
		Always(false, fmt.Sprintf("after close %d", i), nil)
	}
	if wire.Lost() == 0 {
		t.Fatal("no lines counted as lost after the reader closed")
	}
	if !strings.HasPrefix(stderr.String(), "mvrun-sdk: lost an SDK message") {
		t.Errorf("stderr = %q", stderr.String())
	}
}

// TestTooManyIDsAreCountedAsLost checks the bound on distinct messages: a
// program that builds messages at run time neither grows the SDK's table
// past maxIDs nor floods the channel, and the loss reaches the wire.
func TestTooManyIDsAreCountedAsLost(t *testing.T) {
	path, stderr := capture(t)
	const extra = 10
	for i := range maxIDs + extra {
		Always(true, "computed "+strconv.Itoa(i), nil)
	}
	if n := len(*table.Load()); n != maxIDs {
		t.Errorf("table holds %d ids, want %d", n, maxIDs)
	}
	Always(false, "computed 0", nil) // a real send flushes the count
	lines := readLines(t, path)
	asserts, lost := 0, []string{}
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, `{"antithesis_assert":`):
			asserts++
		case strings.HasPrefix(l, `{"mvrun_sdk_lost":`):
			lost = append(lost, l)
		default:
			t.Errorf("unexpected line %s", l)
		}
	}
	if asserts != maxIDs+1 {
		t.Errorf("%d assertion lines, want %d", asserts, maxIDs+1)
	}
	if len(lost) != 2 || !strings.Contains(lost[0], `"count":1,`) || !strings.Contains(lost[1], `"count":9,`) ||
		!strings.Contains(lost[0], "must be constants") {
		t.Errorf("lost lines %q, want counts 1 then 9 naming constant messages", lost)
	}
	if got := wire.Lost(); got != extra {
		t.Errorf("Lost() = %d, want %d", got, extra)
	}
	if strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("stderr = %q, want one line", stderr.String())
	}
}
