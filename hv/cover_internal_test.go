package hv

import (
	"encoding/binary"
	"slices"
	"testing"
)

// TestParseCounters walks a counter region laid out as Go's runtime lays
// it out: zero words (functions that never ran) are skipped, a header's
// counters are read, zero counters left out, and a header that runs past
// the region ends the walk.
func TestParseCounters(t *testing.T) {
	words := []uint32{
		0, 0, 0, 0, // a function that never ran (4 words: 1 counter)
		2, 1, 7, 5, 0, // ran: 2 counters, pkg 1, func 7; counts 5 and 0
		0,
		3, 1, 9, 1, 2, 3, // 3 counters
		9, 1, 2, 4, // a torn header: 9 counters do not fit
	}
	b := make([]byte, 4*len(words))
	for i, w := range words {
		binary.LittleEndian.PutUint32(b[4*i:], w)
	}
	got := parseCounters(b)
	want := []CoverCounter{{7, 5}, {13, 1}, {14, 2}, {15, 3}}
	if !slices.Equal(got, want) {
		t.Fatalf("parseCounters = %v, want %v", got, want)
	}
}
