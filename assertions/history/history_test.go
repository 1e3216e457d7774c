package history

import (
	"bytes"
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// hist builds a history from compact lines "process op type f key value time".
// value "-" means none.
func hist(t testing.TB, name string, lines ...string) *History {
	t.Helper()
	var r Recorder
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) != 7 {
			t.Fatalf("bad test line %q", l)
		}
		value := ""
		if f[5] != "-" {
			value = `,"value":` + f[5]
		}
		key := ""
		if f[4] != "-" {
			key = `,"key":"` + f[4] + `"`
		}
		wire := fmt.Sprintf(`{"mvrun_history":{"history":%q,"process":%q,"op":%s,"type":%q,"f":%q%s%s,"time":%s}}`,
			name, f[0], f[1], f[2], f[3], key, value, f[6])
		if !Is([]byte(wire)) || !r.AddLine(Source{Node: "client", LineNo: i + 1}, []byte(wire)) {
			t.Fatalf("not a history line: %s", wire)
		}
	}
	if errs, _ := r.Errors(); len(errs) > 0 {
		t.Fatalf("malformed test lines: %v", errs)
	}
	return r.History(name)
}

func check(t *testing.T, m string, h *History) *Result {
	t.Helper()
	model, err := Lookup(m)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Check(h, model, 5*time.Second)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return r
}

func TestModels(t *testing.T) {
	for _, tc := range []struct {
		name, model string
		want        Verdict
		lines       []string
	}{
		{"kv sequential", "kv", Linearizable, []string{
			`a 0 invoke write x "1" 10`, `a 0 ok write x - 20`,
			`a 1 invoke read x - 30`, `a 1 ok read x "1" 40`,
		}},
		{"kv stale read", "kv", Illegal, []string{
			`a 0 invoke write x "1" 10`, `a 0 ok write x - 20`,
			`b 0 invoke read x - 30`, `b 0 ok read x - 40`, // null after an acknowledged write
		}},
		{"kv concurrent read may see either", "kv", Linearizable, []string{
			`a 0 invoke write x "1" 10`, `b 0 invoke read x - 15`, `b 0 ok read x - 16`, `a 0 ok write x - 20`,
		}},
		{"kv keys are independent", "kv", Linearizable, []string{
			`a 0 invoke write x "1" 10`, `a 0 ok write x - 20`,
			`b 0 invoke read y - 30`, `b 0 ok read y - 40`,
		}},
		{"kv unknown write may apply later", "kv", Linearizable, []string{
			`a 0 invoke write x "1" 10`, `a 0 info write x - 20`,
			`b 0 invoke read x - 30`, `b 0 ok read x - 40`,
			`b 1 invoke read x - 50`, `b 1 ok read x "1" 60`,
		}},
		{"kv unknown write cannot undo itself", "kv", Illegal, []string{
			`a 0 invoke write x "1" 10`, `a 0 info write x - 20`,
			`b 0 invoke read x - 30`, `b 0 ok read x "1" 40`,
			`b 1 invoke read x - 50`, `b 1 ok read x - 60`,
		}},
		{"kv failed write never happened", "kv", Illegal, []string{
			`a 0 invoke write x "1" 10`, `a 0 fail write x - 20`,
			`b 0 invoke read x - 30`, `b 0 ok read x "1" 40`,
		}},
		{"kv never completed is unknown", "kv", Linearizable, []string{
			`a 0 invoke write x "1" 10`,
			`b 0 invoke read x - 30`, `b 0 ok read x "1" 40`,
		}},
		{"kv cas", "kv", Linearizable, []string{
			`a 0 invoke write x 1 10`, `a 0 ok write x - 20`,
			`a 1 invoke cas x [1,2] 30`, `a 1 ok cas x - 40`,
			`a 2 invoke read x - 50`, `a 2 ok read x 2 60`,
		}},
		{"kv cas that cannot have matched", "kv", Illegal, []string{
			`a 0 invoke write x 1 10`, `a 0 ok write x - 20`,
			`a 1 invoke cas x [5,2] 30`, `a 1 ok cas x - 40`,
		}},
		{"kv object values compare canonically", "kv", Linearizable, []string{
			`a 0 invoke write x {"b":1,"a":2} 10`, `a 0 ok write x - 20`,
			`a 1 invoke read x - 30`, `a 1 ok read x {"a":2,"b":1} 40`,
		}},
		{"set", "set", Linearizable, []string{
			`a 0 invoke add - 1 10`, `a 0 ok add - - 20`,
			`b 0 invoke add - 2 11`, `b 0 ok add - - 21`,
			`a 1 invoke read - - 30`, `a 1 ok read - [2,1] 40`,
		}},
		{"set lost element", "set", Illegal, []string{
			`a 0 invoke add - 1 10`, `a 0 ok add - - 20`,
			`a 1 invoke read - - 30`, `a 1 ok read - [] 40`,
		}},
		{"queue fifo", "queue", Linearizable, []string{
			`a 0 invoke enqueue - 1 10`, `a 0 ok enqueue - - 20`,
			`a 1 invoke enqueue - 2 30`, `a 1 ok enqueue - - 40`,
			`b 0 invoke dequeue - - 50`, `b 0 ok dequeue - 1 60`,
			`b 1 invoke dequeue - - 70`, `b 1 ok dequeue - 2 80`,
			`b 2 invoke dequeue - - 90`, `b 2 ok dequeue - - 100`,
		}},
		{"queue out of order", "queue", Illegal, []string{
			`a 0 invoke enqueue - 1 10`, `a 0 ok enqueue - - 20`,
			`a 1 invoke enqueue - 2 30`, `a 1 ok enqueue - - 40`,
			`b 0 invoke dequeue - - 50`, `b 0 ok dequeue - 2 60`,
		}},
		{"queue unknown dequeue may have taken the head", "queue", Linearizable, []string{
			`a 0 invoke enqueue - 1 10`, `a 0 ok enqueue - - 20`,
			`a 1 invoke enqueue - 2 30`, `a 1 ok enqueue - - 40`,
			`b 0 invoke dequeue - - 50`, `b 0 info dequeue - - 60`,
			`c 0 invoke dequeue - - 70`, `c 0 ok dequeue - 2 80`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := check(t, tc.model, hist(t, "h", tc.lines...))
			if r.Verdict != tc.want {
				t.Fatalf("verdict %s, want %s: %s", r.Verdict, tc.want, r.Reason())
			}
			if tc.want == Illegal {
				var buf bytes.Buffer
				if err := r.Visualize(&buf, time.Second); err != nil {
					t.Fatalf("Visualize: %v", err)
				}
				if !strings.Contains(buf.String(), "<html") {
					t.Errorf("visualization is not an HTML page: %.200s", buf.String())
				}
			}
		})
	}
}

func TestStreamsInAnyOrder(t *testing.T) {
	// Two clients' lines interleaved differently give the same verdict
	// and counts: the recorder must not depend on arrival order.
	lines := []string{
		`a 0 invoke write x "1" 10`, `a 0 ok write x - 20`,
		`b 0 invoke read x - 30`, `b 0 ok read x - 40`,
	}
	r1 := check(t, "kv", hist(t, "h", lines...))
	r2 := check(t, "kv", hist(t, "h", lines[2], lines[3], lines[0], lines[1]))
	if r1.Verdict != Illegal || r2.Verdict != Illegal || r1.Ops != r2.Ops || r1.Key != r2.Key {
		t.Errorf("%+v vs %+v", r1, r2)
	}
}

func TestBadInput(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{`{"mvrun_history":{"history":"h","process":"a","op":0,"type":"invoke","f":"read"`, "not valid JSON"},
		{`{"mvrun_history":{"history":"h","process":"a","op":0,"type":"done","f":"read","time":1}}`, `type "done"`},
		{`{"mvrun_history":{"history":"h","process":"a","type":"invoke","f":"read"}}`, "missing op, time"},
		{`{"mvrun_history":{"history":"h","process":true,"op":0,"type":"invoke","f":"read","time":1}}`, "process must be"},
	} {
		var r Recorder
		if !r.AddLine(Source{Node: "n", LineNo: 3}, []byte(tc.line)) {
			t.Errorf("%s: not taken as a history line", tc.line)
			continue
		}
		errs, n := r.Errors()
		if n != 1 || !strings.Contains(errs[0].Error(), tc.want) || !strings.Contains(errs[0].Error(), "n line 3") {
			t.Errorf("%s: errors %v, want one mentioning %q and the source", tc.line, errs, tc.want)
		}
	}
	var r Recorder
	if r.AddLine(Source{}, []byte(`{"antithesis_setup":{"status":"complete"}}`)) {
		t.Error("a setup line was taken as a history line")
	}
	if _, err := Lookup("bank"); err == nil || !strings.Contains(err.Error(), "kv, set, queue") {
		t.Errorf("Lookup(bank) = %v", err)
	}
	m, _ := Lookup("kv")
	for _, tc := range []struct {
		lines []string
		want  string
	}{
		{[]string{`a 0 ok write x - 20`}, "never invoked"},
		{[]string{`a 0 invoke enqueue x 1 10`}, `no operation "enqueue"`},
		{[]string{`a 0 invoke cas x 1 10`, `a 0 ok cas x - 20`}, "must be a JSON array"},
		{[]string{`a 0 invoke write x 1 10`, `a 0 ok read x - 20`}, "invoked as write"},
	} {
		if _, err := Check(hist(t, "h", tc.lines...), m, time.Second); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.lines, err, tc.want)
		}
	}
}

func TestTimeoutIsUnknown(t *testing.T) {
	h := randomKV(rand.New(rand.NewPCG(1, 2)), 2000, 4, 1)
	m, _ := Lookup("kv")
	r, err := Check(h, m, time.Nanosecond)
	if err != nil {
		t.Fatal(err)
	}
	if r.Verdict != Unknown || !strings.Contains(r.Reason(), "timeout") {
		t.Fatalf("verdict %s (%s), want unknown", r.Verdict, r.Reason())
	}
	if err := r.Visualize(&bytes.Buffer{}, time.Second); err == nil {
		t.Error("an unknown verdict has a visualization")
	}
}

// randomKV simulates clients against a linearizable register store: each
// operation takes effect at a random point inside its interval, so the
// history it records is linearizable by construction. Some writes end with
// an unknown outcome (whether they applied or not).
func randomKV(rng *rand.Rand, n, clients, keys int) *History {
	var r Recorder
	type pendingOp struct {
		line     Line
		at, end  int64
		apply    bool
		readBack string
	}
	state := map[string]string{}
	now := make([]int64, clients)
	var evs []pendingOp
	for i := range n {
		c := rng.IntN(clients)
		call := now[c] + int64(rng.IntN(50))
		end := call + 1 + int64(rng.IntN(200))
		now[c] = end + 1
		key := fmt.Sprintf("k%d", rng.IntN(keys))
		l := Line{History: "h", Process: fmt.Sprint(c), Op: int64(i), Type: TypeInvoke, Key: key, Time: call}
		if rng.IntN(2) == 0 {
			l.F, l.Value = "write", []byte(fmt.Sprintf(`"%d"`, i))
		} else {
			l.F = "read"
		}
		evs = append(evs, pendingOp{line: l, at: call + rng.Int64N(end-call), end: end, apply: rng.IntN(20) != 0})
	}
	// Apply at the linearization points, in time order.
	order := make([]int, len(evs))
	for i := range order {
		order[i] = i
	}
	sortBy(order, func(i int) int64 { return evs[i].at })
	for _, i := range order {
		e := &evs[i]
		switch e.line.F {
		case "write":
			if e.apply {
				state[e.line.Key] = string(e.line.Value)
			}
		case "read":
			e.readBack = state[e.line.Key]
		}
	}
	for _, e := range evs {
		src := Source{Node: "client"}
		r.Add(src, e.line)
		done := e.line
		done.Time, done.Value = e.end, nil
		switch {
		case e.line.F == "write" && !e.apply:
			done.Type = TypeInfo // it did not apply, but the client cannot tell
		case e.line.F == "read":
			done.Type = TypeOk
			if e.readBack != "" {
				done.Value = []byte(e.readBack)
			}
		default:
			done.Type = TypeOk
		}
		r.Add(src, done)
	}
	return r.History("h")
}

func sortBy(idx []int, key func(int) int64) {
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(key(a), key(b)) })
}

func TestRandomLinearizableHistories(t *testing.T) {
	m, _ := Lookup("kv")
	for seed := range uint64(5) {
		h := randomKV(rand.New(rand.NewPCG(seed, 7)), 400, 5, 3)
		r, err := Check(h, m, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if r.Verdict != Linearizable {
			t.Errorf("seed %d: %s", seed, r.Reason())
		}
	}
}

// BenchmarkCheck10k checks a 10,000-operation kv history (8 clients, 100
// keys) for linearizability; docs/report.md records the result.
func BenchmarkCheck10k(b *testing.B) {
	h := randomKV(rand.New(rand.NewPCG(42, 42)), 10000, 8, 100)
	m, _ := Lookup("kv")
	b.ResetTimer()
	for range b.N {
		r, err := Check(h, m, time.Minute)
		if err != nil || r.Verdict != Linearizable {
			b.Fatalf("%v %v", err, r.Reason())
		}
	}
}

// BenchmarkCheck10kOneKey is the same size on a single key, the hard case:
// every operation is in one partition.
func BenchmarkCheck10kOneKey(b *testing.B) {
	h := randomKV(rand.New(rand.NewPCG(42, 42)), 10000, 8, 1)
	m, _ := Lookup("kv")
	b.ResetTimer()
	for range b.N {
		r, err := Check(h, m, time.Minute)
		if err != nil || r.Verdict != Linearizable {
			b.Fatalf("%v %v", err, r.Reason())
		}
	}
}
