package hv

import (
	"encoding/binary"
	"fmt"
)

// Coverage counters of Go programs built with `go build -cover`. The linker
// gathers every instrumented function's counter array into one region of
// the data segment, between the symbols runtime.covctrs and
// runtime.ecovctrs, and the program increments them in place. Reading that
// region from guest memory between guest events tells what code ran,
// without the program's help (it writes its counters out only at exit, and
// only with GOCOVERDIR set) and without changing the run.
//
// The region is a sequence of uint32 words. A function that has run has,
// at its counter array's start, a header of three words written on its
// first execution — the number of counters n, the package id and the
// function id — followed by its n counters; a function that never ran is
// all zeros. This is the layout Go's own runtime walks when it writes a
// counter file (internal/coverage/cfile, VisitFuncs; the offsets are
// internal/coverage's NumCtrsOffset, PkgIdOffset, FuncIdOffset and
// FirstCtrOffset).

// CoverCounter is a counter of a -cover Go program that is not zero.
type CoverCounter struct {
	// Index is the counter's position in the program's counter region,
	// in uint32 words from runtime.covctrs: the same counter has the same
	// index in every process of one binary.
	Index uint32
	// Count is how many times its code block ran (-covermode=count; 1 for
	// any number in set mode).
	Count uint32
}

// coverHeader is the size, in words, of a function's header in the region.
const coverHeader = 3

// maxCoverRegion bounds the region read from one process (64 MiB of
// counters is some 16 million basic blocks, far beyond any service); a
// larger one means the symbols are not what they seem.
const maxCoverRegion = 64 << 20

// CoverRegion returns the size in bytes of binary's coverage counter region,
// 0 when binary was not built with -cover.
func CoverRegion(binary string) (int, error) {
	s, err := symbolsOf(binary)
	if err != nil {
		return 0, err
	}
	return int(s.covHi - s.covLo), nil
}

// Coverage returns the process's non-zero coverage counters in index order,
// read from its memory; ok is false when its binary has no counter region
// (it was not built with -cover). It only reads, so the run is unchanged;
// call it between guest events (from an observer, [Cluster.Observe], or
// [Cluster.ObserveExits]).
func (p *Process) Coverage() (ctrs []CoverCounter, ok bool, err error) {
	s, err := symbolsOf(p.binary)
	if err != nil {
		return nil, false, err
	}
	if s.covHi == s.covLo {
		return nil, false, nil
	}
	if p.m == nil {
		return nil, true, fmt.Errorf("hv: coverage of node %s pid %d: its memory is released", p.node.name, p.Pid())
	}
	buf := make([]byte, s.covHi-s.covLo)
	p.k.Peek(buf, s.covLo)
	return parseCounters(buf), true, nil
}

// parseCounters walks a counter region (little-endian uint32 words) as Go's
// runtime does and returns its non-zero counters. A header whose counter
// array would run past the region ends the walk: it can only be a torn
// region, and what lies beyond cannot be told from padding.
func parseCounters(b []byte) []CoverCounter {
	words := len(b) / 4
	w := func(i int) uint32 { return binary.LittleEndian.Uint32(b[4*i:]) }
	var out []CoverCounter
	for i := 0; i < words; i++ {
		n := w(i)
		if n == 0 {
			continue // a function that never ran, or padding
		}
		first := i + coverHeader
		if uint64(first)+uint64(n) > uint64(words) {
			break
		}
		for j := first; j < first+int(n); j++ {
			if c := w(j); c != 0 {
				out = append(out, CoverCounter{Index: uint32(j), Count: c})
			}
		}
		i = first + int(n) - 1
	}
	return out
}

// ObserveExits makes fn see every process of the cluster that has exited
// (returned, was killed, or went with its node's power), once, on the run
// loop, after its last guest event and while its memory can still be read
// ([Process.Coverage], [Process.Peek]); nil stops it. Like the other looks
// it must not change the run, and snapshots drop it: a restored cluster
// sets it again.
func (c *Cluster) ObserveExits(fn func(*Process)) { c.exitObs = fn }
