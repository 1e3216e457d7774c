package linkmodel

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

func TestCuts(t *testing.T) {
	halves := Partition{Groups: [][]string{{"a", "b"}, {"c", "d"}}}
	bridge := Partition{Groups: [][]string{{"a", "b", "x"}, {"c", "d", "x"}}}
	oneWay := Partition{Groups: [][]string{{"a"}, {"b", "c"}}, OneWay: true, From: []string{"a"}, To: []string{"b", "c"}}
	tests := []struct {
		name     string
		p        Partition
		from, to string
		want     bool
	}{
		{"same group", halves, "a", "b", false},
		{"across groups", halves, "a", "c", true},
		{"across groups, back", halves, "d", "b", true},
		{"self", halves, "a", "a", false},
		{"self, unnamed", halves, "z", "z", false},
		{"unnamed sender", halves, "z", "a", false},
		{"unnamed receiver", halves, "a", "z", false},
		{"bridge to left", bridge, "x", "a", false},
		{"right to bridge", bridge, "d", "x", false},
		{"across the bridge", bridge, "a", "d", true},
		{"one-way cut direction", oneWay, "a", "b", true},
		{"one-way other receiver", oneWay, "a", "c", true},
		{"one-way replies flow", oneWay, "b", "a", false},
		{"one-way ignores groups", oneWay, "b", "c", false},
		{"one-way self", Partition{OneWay: true, From: []string{"a"}, To: []string{"a"}}, "a", "a", false},
		{"empty partition", Partition{}, "a", "b", false},
	}
	for _, tt := range tests {
		if got := tt.p.Cuts(tt.from, tt.to); got != tt.want {
			t.Errorf("%s: %+v.Cuts(%s, %s) = %v, want %v", tt.name, tt.p, tt.from, tt.to, got, tt.want)
		}
	}
}

func TestMembers(t *testing.T) {
	p := Partition{Groups: [][]string{{"c", "a"}, {"b", "a"}}, From: []string{"d"}, To: []string{"c", "e"}}
	if got, want := p.Members(), []string{"a", "b", "c", "d", "e"}; !slices.Equal(got, want) {
		t.Errorf("Members() = %v, want %v", got, want)
	}
	if got := (Partition{}).Members(); len(got) != 0 {
		t.Errorf("Members() of an empty partition = %v, want none", got)
	}
}

// TestMatrix checks the compiled form against the reference for every pair,
// including numbers the matrix was not compiled for.
func TestMatrix(t *testing.T) {
	nodes := []string{"a", "b", "c", "d", "x"}
	for _, p := range []Partition{
		{Groups: [][]string{{"a", "b"}, {"c", "d"}}},
		{Groups: [][]string{{"a", "b", "x"}, {"c", "d", "x"}}},
		{Groups: [][]string{{"a", "b"}, {"b", "c"}, {"c", "d"}, {"d", "x"}, {"x", "a"}}}, // a ring
		{OneWay: true, From: []string{"a", "b"}, To: []string{"c", "d", "x"}},
		{},
	} {
		m := Compile(p, nodes)
		cuts := 0
		for i, from := range nodes {
			for j, to := range nodes {
				if got, want := m.Cuts(i, j), p.Cuts(from, to); got != want {
					t.Errorf("%+v: Matrix.Cuts(%d, %d) = %v, Partition.Cuts(%s, %s) = %v", p, i, j, got, from, to, want)
				}
				if m.Cuts(i, j) {
					cuts++
				}
			}
			if m.Cuts(i, len(nodes)) || m.Cuts(len(nodes), i) || m.Cuts(-1, i) || m.Cuts(i, -1) {
				t.Errorf("%+v: a node number outside the matrix is cut", p)
			}
		}
		if len(p.Members()) > 0 && cuts == 0 {
			t.Errorf("%+v: compiled matrix cuts nothing", p)
		}
	}
	var zero Matrix
	if zero.Cuts(0, 1) || zero.Cuts(0, 0) {
		t.Error("the zero Matrix cuts a pair")
	}
}

func TestRange(t *testing.T) {
	tests := []struct {
		in      string
		want    Range
		str     string
		wantErr bool
	}{
		{"5s", Range{5 * time.Second, 5 * time.Second}, "5s", false},
		{" 1s .. 8s ", Range{time.Second, 8 * time.Second}, "1s..8s", false},
		{"0s..1ms", Range{0, time.Millisecond}, "0s..1ms", false},
		{"8s..1s", Range{}, "", true},
		{"-1s", Range{}, "", true},
		{"fast", Range{}, "", true},
		{"1s..", Range{}, "", true},
	}
	for _, tt := range tests {
		got, err := ParseRange(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseRange(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if tt.wantErr {
			continue
		}
		if got != tt.want || got.String() != tt.str {
			t.Errorf("ParseRange(%q) = %v (%s), want %v (%s)", tt.in, got, got, tt.want, tt.str)
		}
	}
}

func TestLinkCheck(t *testing.T) {
	tests := []struct {
		link Link
		ok   bool
	}{
		{Link{}, true},
		{Link{Loss: 1, Duplicate: 1, Reorder: 1}, true},
		{Link{Loss: -0.1}, false},
		{Link{Duplicate: 1.5}, false},
		{Link{Reorder: math.NaN()}, false},
		{Link{Latency: Range{Min: 2, Max: 1}}, false},
		{Link{Latency: Range{Min: -1, Max: 1}}, false},
	}
	for _, tt := range tests {
		if err := tt.link.Check(); (err == nil) != tt.ok {
			t.Errorf("%+v.Check() = %v, want ok=%v", tt.link, err, tt.ok)
		}
	}
}

func TestLinkString(t *testing.T) {
	tests := []struct {
		link Link
		want string
	}{
		{Link{}, "clean"},
		{Link{Latency: Range{time.Millisecond, 5 * time.Millisecond}, Loss: 0.1}, "latency=1ms..5ms loss=0.1 duplicate=0 reorder=0"},
		{Link{Reorder: 0.05}, "latency=0s loss=0 duplicate=0 reorder=0.05"},
	}
	for _, tt := range tests {
		if got := tt.link.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func ExamplePartition_Cuts() {
	p := Partition{Groups: [][]string{{"a", "x"}, {"b", "x"}}} // x bridges a and b
	fmt.Println(p.Cuts("a", "b"), p.Cuts("a", "x"), p.Cuts("x", "b"))
	// Output: true false false
}
