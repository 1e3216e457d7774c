package assertions

import (
	"fmt"
	"testing"
)

// BenchmarkAdd measures one assertion line through parsing and recording.
func BenchmarkAdd(b *testing.B) {
	lines := make([][]byte, 64)
	for i := range lines {
		lines[i] = fmt.Appendf(nil, `{"antithesis_assert":{"id":"p%d","message":"p%d","condition":%t,"display_type":"Always","hit":true,"must_hit":true,"assert_type":"always","location":{"class":"example.com/app","function":"main","file":"main.go","begin_line":20,"begin_column":0},"details":{"balance":%d}}}`, i, i, i%2 == 0, i)
	}
	c := NewCollector()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.Add(uint64(i%200), "bank1", "", i, lines[i%len(lines)])
		i++
	}
}

// BenchmarkResult measures a snapshot of 200 seeds × 100 properties.
func BenchmarkResult(b *testing.B) {
	c := NewCollector()
	for s := range uint64(200) {
		for p := range 100 {
			c.Add(s, "n", "", p, fmt.Appendf(nil, `{"antithesis_assert":{"id":"p%d","condition":%t,"hit":true,"must_hit":true,"assert_type":"sometimes"}}`, p, (int(s)+p)%7 == 0))
		}
		c.SeedDone(s)
	}
	b.ReportAllocs()
	for b.Loop() {
		c.Result()
	}
}
