package assertions

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mvrun/multiverse/sdk/assert"
)

// sdkFuncs is every assertion function of sdk/assert with the wire kind it
// sends and a call that evaluates it with condition c.
var sdkFuncs = []struct {
	kind kind
	call func(c bool, msg string)
}{
	{kinds[0], func(c bool, m string) { assert.Always(c, m, nil) }},
	{kinds[3], func(c bool, m string) { assert.AlwaysOrUnreachable(c, m, nil) }},
	{kinds[4], func(c bool, m string) { assert.Sometimes(c, m, nil) }},
	{kinds[7], func(c bool, m string) { assert.Reachable(m, nil) }},
	{kinds[8], func(c bool, m string) { assert.Unreachable(m, nil) }},
	{kindAs(kinds[0], "AlwaysGreaterThan"), func(c bool, m string) { assert.AlwaysGreaterThan(pick(c, 1, -1), 0, m, nil) }},
	{kindAs(kinds[0], "AlwaysGreaterThanOrEqualTo"), func(c bool, m string) { assert.AlwaysGreaterThanOrEqualTo(pick(c, 0, -1), 0, m, nil) }},
	{kindAs(kinds[0], "AlwaysLessThan"), func(c bool, m string) { assert.AlwaysLessThan(pick(c, -1.5, 1.5), 0, m, nil) }},
	{kindAs(kinds[0], "AlwaysLessThanOrEqualTo"), func(c bool, m string) { assert.AlwaysLessThanOrEqualTo(pick[uint8](c, 0, 1), 0, m, nil) }},
	{kindAs(kinds[4], "SometimesGreaterThan"), func(c bool, m string) { assert.SometimesGreaterThan(pick[int64](c, 1, -1), 0, m, nil) }},
	{kindAs(kinds[4], "SometimesGreaterThanOrEqualTo"), func(c bool, m string) { assert.SometimesGreaterThanOrEqualTo(pick(c, 0, -1), 0, m, nil) }},
	{kindAs(kinds[4], "SometimesLessThan"), func(c bool, m string) { assert.SometimesLessThan(pick[float32](c, -1, 1), 0, m, nil) }},
	{kindAs(kinds[4], "SometimesLessThanOrEqualTo"), func(c bool, m string) { assert.SometimesLessThanOrEqualTo(pick[uint64](c, 0, 1), 0, m, nil) }},
	{kindAs(kinds[0], "AlwaysSome"), func(c bool, m string) {
		assert.AlwaysSome([]assert.NamedBool{{First: "a", Second: false}, {First: "b", Second: c}}, m, nil)
	}},
	{kindAs(kinds[4], "SometimesAll"), func(c bool, m string) {
		assert.SometimesAll([]assert.NamedBool{{First: "a", Second: true}, {First: "b", Second: c}}, m, nil)
	}},
}

func kindAs(k kind, fn string) kind { k.fn = fn; return k }

func pick[T assert.Number](c bool, yes, no T) T {
	if c {
		return yes
	}
	return no
}

// helperEnv makes the test binary act as an instrumented service (see
// TestMain): it evaluates every sdkFuncs × scenarios property as one seed.
const helperEnv = "MVRUN_ASSERTIONS_TEST_SEED"

func TestMain(m *testing.M) {
	if s := os.Getenv(helperEnv); s != "" {
		i, _ := strconv.Atoi(s)
		runService(i)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runService is the service of TestSDKVerdictTable in seed index i: it
// registers every property as the generated catalog does, then makes the
// scenario's evaluations for that seed.
func runService(i int) {
	for _, f := range sdkFuncs {
		for _, sc := range scenarios {
			msg := f.kind.fn + "/" + sc.name
			assert.AssertRaw(f.kind.mustHit && f.kind.assertType == "reachability", msg, nil, "main", "main", "main.go", 1, 0,
				false, f.kind.mustHit, f.kind.assertType, f.kind.display, msg)
			for _, e := range sc.evals[i] {
				f.call(e == 'T', msg)
			}
		}
	}
}

// TestSDKVerdictTable runs every assertion function of the real SDK through
// every scenario (never reached, reached true, reached false, mixed across
// seeds and within one) in two processes standing for two seeds, and checks
// the Collector's verdicts against the verdict table (package doc).
func TestSDKVerdictTable(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Skip("cannot re-run the test binary: ", err)
	}
	c := NewCollector()
	for i := range 2 {
		seed := uint64(i + 1)
		out := filepath.Join(t.TempDir(), "sdk.jsonl")
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(cleanEnv(), helperEnv+"="+strconv.Itoa(i), "MVRUN_SDK=file:"+out)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("service for seed %d: %v\n%s", seed, err, b)
		}
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for n := 1; sc.Scan(); n++ {
			c.Add(seed, "n1", "", n, sc.Bytes())
		}
		f.Close()
		c.SeedDone(seed)
	}
	r := c.Result()
	if r.MalformedTotal != 0 || len(r.Lost) != 0 {
		t.Fatalf("malformed %v, lost %v", r.Malformed, r.Lost)
	}
	got := byID(r)
	if len(got) != len(sdkFuncs)*len(scenarios) {
		t.Errorf("%d properties, want %d", len(got), len(sdkFuncs)*len(scenarios))
	}
	for _, f := range sdkFuncs {
		for _, sc := range scenarios {
			id := f.kind.fn + "/" + sc.name
			w := expected[family(f.kind)][sc.name]
			p := got[id]
			if p == nil {
				t.Errorf("%s: no property", id)
				continue
			}
			if p.Verdict != w.verdict || !slices.Equal(p.FailingSeeds, w.failing) || !slices.Equal(p.PassingSeeds, w.passing) ||
				!strings.Contains(p.Reason, w.reason) {
				t.Errorf("%s: verdict %s failing %v passing %v reason %q; want %s %v %v %q",
					id, p.Verdict, p.FailingSeeds, p.PassingSeeds, p.Reason, w.verdict, w.failing, w.passing, w.reason)
			}
			if p.Type.String() != f.kind.assertType || p.DisplayType != f.kind.display || p.MustHit != f.kind.mustHit {
				t.Errorf("%s: kind %s/%s/%t, want %s/%s/%t", id, p.Type, p.DisplayType, p.MustHit,
					f.kind.assertType, f.kind.display, f.kind.mustHit)
			}
		}
	}
}
