package faults

import "github.com/mvrun/multiverse/internal/linkmodel"

// ParseRange reads a range written "1s..8s" or a single duration "5s".
func ParseRange(s string) (Range, error) { return linkmodel.ParseRange(s) }
