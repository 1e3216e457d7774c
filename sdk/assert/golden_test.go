package assert

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

type myCount int64

// goldenCalls makes one call of every kind. Keep it at the top of this file's
// calls: the golden lines record its line numbers.
func goldenCalls() {
	Always(true, "always passes", nil)
	Always(false, "always fails", map[string]any{"n": 1, "err": fmt.Errorf("wrapped: %w", errors.New("boom"))})
	AlwaysOrUnreachable(false, "always or unreachable", map[string]any{"s": "a\"b\n<c>"})
	Sometimes(true, "sometimes", map[string]any{"f": 0.5, "nan": math.NaN()})
	Reachable("reachable", nil)
	Unreachable("unreachable", map[string]any{"list": []any{1, "x", nil}})
	AlwaysGreaterThan(3, 5, "gt", nil)
	AlwaysGreaterThanOrEqualTo(uint8(5), 5, "gte", map[string]any{"k": true})
	AlwaysLessThan(myCount(-2), 7, "lt", nil)
	AlwaysLessThanOrEqualTo(1.5, 1.25, "lte", nil)
	SometimesGreaterThan(int32(1), 2, "sgt", nil)
	SometimesGreaterThanOrEqualTo(uint64(math.MaxUint64), 0, "sgte", nil)
	SometimesLessThan(int64(math.MinInt64), math.MaxInt64, "slt", nil)
	SometimesLessThanOrEqualTo(float32(0.1), 1, "slte", nil)
	AlwaysSome([]NamedBool{{"a", false}, {"b", true}}, "some", nil)
	SometimesAll([]NamedBool{*NewNamedBool("x", true), *NewNamedBool("y", false)}, "all", map[string]any{"d": 1})
	AssertRaw(false, "raw", nil, "example.com/app", "main", "main.go", 20, 3, false, true, "always", "Always", "raw")
	NumericGuidanceRaw(0, 0, "rawnum", "rawnum", "example.com/app", "main", "main.go", 21, 4, "maximize", false)
	BooleanGuidanceRaw(nil, "rawbool", "rawbool", "example.com/app", "main", "main.go", 22, 5, "all", false)
	RichAssertRaw(false, "rich", map[string]any{"left": "shadowed", "k": 1}, map[string]any{"left": 3, "right": 5},
		"example.com/app", "main", "main.go", 23, 6, true, true, "always", "Always", "rich")
	RichAssertRaw(true, "rich none", nil, nil, "example.com/app", "main", "main.go", 24, 7, true, true, "always", "Always", "rich none")
	RichAssertRaw(false, "rich decl", map[string]any{"k": 1}, nil, "example.com/app", "main", "main.go", 25, 8, false, true, "always", "Always", "rich decl")
	AssertRaw(true, "raw hit", map[string]any{}, "example.com/app", "main", "main.go", 26, 9, true, true, "always", "Always", "raw hit")
}

// TestGolden checks every wire line byte for byte. Run with -update after a
// deliberate change of the wire format.
func TestGolden(t *testing.T) {
	path, _ := capture(t)
	goldenCalls()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, file, _, _ := runtime.Caller(0)
	got := strings.ReplaceAll(string(data), file, "golden_test.go")
	got = strings.ReplaceAll(got, `"version":"`+runtime.Version()+`"`, `"version":"GOVERSION"`)
	golden := filepath.Join("testdata", "wire.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("wire lines differ from %s (rerun with -update if intended)\ngot:\n%s\nwant:\n%s", golden, got, want)
	}
}
