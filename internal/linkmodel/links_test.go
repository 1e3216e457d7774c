package linkmodel

import (
	"slices"
	"testing"
	"time"
)

func TestLinks(t *testing.T) {
	slow := Link{Latency: Range{Min: 10 * time.Millisecond, Max: 20 * time.Millisecond}}
	lossy := Link{Loss: 0.3}
	dup := Link{Duplicate: 0.5}
	var clean Links
	if !clean.Clean() || clean.Between("a", "b") != (Link{}) || len(clean.Nodes()) != 0 {
		t.Fatalf("zero Links is not a clean network: %+v", clean)
	}
	all := clean.With(nil, slow)
	perNode := all.With([]string{"a", "c"}, lossy).With([]string{"b"}, dup)
	tests := []struct {
		name     string
		ls       Links
		from, to string
		want     Link
	}{
		{"every link", all, "a", "b", slow},
		{"sender's own", perNode, "a", "b", lossy},
		{"sender's own wins over receiver's", perNode, "b", "a", dup},
		{"receiver's own", perNode, "d", "c", lossy},
		{"neither has its own", perNode, "d", "e", slow},
		{"own removed by a clean link", perNode.With([]string{"a"}, Link{}), "a", "d", slow},
		{"cluster-wide action drops own", perNode.With(nil, dup), "a", "c", dup},
		{"clean cluster-wide action", perNode.With(nil, Link{}), "b", "a", Link{}},
	}
	for _, tt := range tests {
		if got := tt.ls.Between(tt.from, tt.to); got != tt.want {
			t.Errorf("%s: Between(%s, %s) = %v, want %v", tt.name, tt.from, tt.to, got, tt.want)
		}
	}
	if got := perNode.Nodes(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("Nodes() = %v, want [a b c]", got)
	}
	// With never changes its receiver: readers share Links values.
	if l, ok := all.Own("a"); ok || l != (Link{}) {
		t.Errorf("With changed the Links it was called on: a has %v", l)
	}
	if perNode.With([]string{"a", "b", "c"}, Link{}).With(nil, Link{}).Clean() != true {
		t.Error("removing every node's own and the cluster-wide conditions does not give a clean network")
	}
	if perNode.Clean() || all.Clean() {
		t.Error("a degraded network reports itself clean")
	}
}

func TestLinkTable(t *testing.T) {
	nodes := []string{"a", "b", "c", "d"}
	ls := Links{}.With(nil, Link{Loss: 0.1}).With([]string{"b"}, Link{Loss: 0.2}).With([]string{"d"}, Link{Loss: 0.4})
	tab := ls.Compile(nodes)
	for i, from := range nodes {
		for j, to := range nodes {
			if got, want := tab.Between(i, j), ls.Between(from, to); got != want {
				t.Errorf("LinkTable.Between(%d, %d) = %v, Links.Between(%s, %s) = %v", i, j, got, from, to, want)
			}
		}
		// A node numbered after compiling has no conditions of its own.
		if got, want := tab.Between(len(nodes), i), ls.Between("new", nodes[i]); got != want {
			t.Errorf("from a new node to %s: %v, want %v", nodes[i], got, want)
		}
		if got, want := tab.Between(i, -1), ls.Between(nodes[i], "new"); got != want {
			t.Errorf("from %s to a new node: %v, want %v", nodes[i], got, want)
		}
	}
	if got := (LinkTable{}).Between(0, 1); got != (Link{}) {
		t.Errorf("zero LinkTable: %v, want a clean link", got)
	}
}
