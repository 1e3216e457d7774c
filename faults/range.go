package faults

import (
	"fmt"
	"strings"
	"time"
)

// String renders r the way specs write it: "1s..8s", or "5s" when fixed.
func (r Range) String() string {
	if r.Min == r.Max {
		return r.Min.String()
	}
	return r.Min.String() + ".." + r.Max.String()
}

// ParseRange reads a range written "1s..8s" or a single duration "5s".
func ParseRange(s string) (Range, error) {
	lo, hi, two := strings.Cut(strings.TrimSpace(s), "..")
	min, err := time.ParseDuration(strings.TrimSpace(lo))
	if err != nil {
		return Range{}, fmt.Errorf("range %q: want a duration like \"5s\" or a range like \"1s..8s\"", s)
	}
	max := min
	if two {
		if max, err = time.ParseDuration(strings.TrimSpace(hi)); err != nil {
			return Range{}, fmt.Errorf("range %q: want a duration like \"5s\" or a range like \"1s..8s\"", s)
		}
	}
	if min < 0 || max < min {
		return Range{}, fmt.Errorf("range %q: want 0 <= min <= max", s)
	}
	return Range{Min: min, Max: max}, nil
}
