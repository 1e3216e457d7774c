package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mvrun/multiverse/assertions"
	"github.com/mvrun/multiverse/internal/seeds"
	"github.com/mvrun/multiverse/specs"
)

// historyCmds returns first-role commands that each emit one history line
// "process op type f key value time" of history h.
func historyCmds(h string, lines ...string) []*specs.Command {
	var cs []*specs.Command
	for i, l := range lines {
		f := strings.Fields(l)
		value := ""
		if f[5] != "-" {
			value = `,"value":` + f[5]
		}
		js := fmt.Sprintf(`{"mvrun_history":{"history":%q,"process":%q,"op":%s,"type":%q,"f":%q,"key":%q%s,"time":%s}}`,
			h, f[0], f[1], f[2], f[3], f[4], value, f[6])
		cs = append(cs, cmd(specs.RoleFirst, fmt.Sprintf("h%d", i), "a", "emit", js))
	}
	return cs
}

func TestHistoryChecks(t *testing.T) {
	stale := historyCmds("reg",
		`w 0 invoke write x "1" 10`, `w 0 ok write x - 20`,
		`r 0 invoke read x - 30`, `r 0 ok read x - 40`)
	spec := testSpec([]*specs.Service{svc("a", "server")}, stale...)
	illegal := &specs.Check{Name: "reg", Model: "kv", History: "reg"}
	empty := &specs.Check{Name: "nothing", Model: "set", History: "nothing"}
	spec.Checks = []*specs.Check{illegal, empty}
	oc := run(t, context.Background(), &fakeBackend{}, spec, Options{})
	p := prop(oc, PropHistory(illegal))
	if p == nil || p.Verdict != assertions.Fail || p.DisplayType != assertions.DisplayLinearizable {
		t.Fatalf("illegal history: property %+v", p)
	}
	ce := p.FirstCounterexample
	if ce == nil || ce.Details["verdict"] != "illegal" || ce.Details["key"] != "x" {
		t.Fatalf("counterexample %+v", ce)
	}
	viz, _ := ce.Details["visualization"].(string)
	if viz != filepath.Join(oc.Seeds[0].Dir, HistoryVisualization(illegal)) {
		t.Errorf("visualization %q, want it in the seed's directory", viz)
	}
	if b, err := os.ReadFile(viz); err != nil || !strings.Contains(string(b), "<html") {
		t.Errorf("visualization file: %v", err)
	}
	if p := prop(oc, PropHistory(empty)); p == nil || p.Verdict != assertions.Fail || !strings.Contains(p.Reason, "no history recorded") {
		t.Errorf("empty history: %+v", p)
	}
	if got := oc.Seeds[0].Failing; !slices.Contains(got, PropHistory(illegal)) {
		t.Errorf("seed failing %v", got)
	}

	// The same seed with a linearizable history passes; a broken line
	// fails the check with the reason, never passes it.
	spec.Workload = historyCmds("reg", `w 0 invoke write x "1" 10`, `w 0 ok write x - 20`, `r 0 invoke read x - 30`, `r 0 ok read x "1" 40`)
	spec.Checks = []*specs.Check{illegal}
	oc = run(t, context.Background(), &fakeBackend{}, spec, Options{})
	if p := prop(oc, PropHistory(illegal)); p == nil || p.Verdict != assertions.Pass {
		t.Fatalf("linearizable history: %+v", p)
	}
	spec.Workload = append(spec.Workload, cmd(specs.RoleFirst, "bad", "a", "emit", `{"mvrun_history":{"history":"reg","type":"ok"}}`))
	oc = run(t, context.Background(), &fakeBackend{}, spec, Options{})
	if p := prop(oc, PropHistory(illegal)); p == nil || p.Verdict != assertions.Fail || len(oc.Seeds[0].HistoryErrors) != 1 ||
		!strings.Contains(oc.Seeds[0].HistoryErrors[0], "missing") {
		t.Fatalf("unreadable history: %+v, errors %v", p, oc.Seeds[0].HistoryErrors)
	}
}

func TestShards(t *testing.T) {
	spec := testSpec([]*specs.Service{svc("a", "server")}, cmd(specs.RoleFirst, "ok", "a", "ok"))
	const base, n = 0x5eed, 5
	var union []uint64
	for i := 1; i <= 3; i++ {
		oc := run(t, context.Background(), &fakeBackend{}, spec, Options{Count: n, BaseSeed: base, Shard: i, Shards: 3})
		if oc.Total != n || oc.Shard != i || oc.Shards != 3 {
			t.Errorf("shard %d: total %d shard %d/%d", i, oc.Total, oc.Shard, oc.Shards)
		}
		for _, so := range oc.Seeds {
			if so.Seed != seeds.Nth(base, so.Index) || so.Index%3 != i-1 {
				t.Errorf("shard %d ran seed %#x as index %d", i, so.Seed, so.Index)
			}
			union = append(union, so.Seed)
		}
	}
	slices.Sort(union)
	var want []uint64
	for i := range n {
		want = append(want, seeds.Nth(base, i))
	}
	slices.Sort(want)
	if !slices.Equal(union, want) {
		t.Errorf("shards ran %x, want %x", union, want)
	}
	for _, bad := range [][2]int{{5, 4}, {0, 4}, {1, 0}, {-1, 2}} {
		if err := ValidShard(bad[0], bad[1]); err == nil {
			t.Errorf("ValidShard(%d, %d) = nil", bad[0], bad[1])
		}
	}
	if _, err := Run(context.Background(), Options{Test: spec, Backend: &fakeBackend{}, Count: 2, Shard: 3, Shards: 3, OutDir: t.TempDir()}); err == nil {
		t.Error("an empty shard ran")
	}
}
