// Package seeds derives independent, named random streams from one root seed.
//
// Every consumer of randomness in a run (the fault schedule, the workload,
// each node's entropy, the hv scheduler) draws from its own stream, split from
// the root seed by name, so adding a consumer never shifts another's draws.
// Streams use ChaCha8 from math/rand/v2, whose output is fixed by the Go
// project across platforms and releases.
package seeds

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Key returns the 32-byte ChaCha8 key of the stream called name under root.
func Key(root uint64, name string) [32]byte {
	h := sha256.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], root)
	h.Write([]byte("mvrun-seed-v1\x00"))
	h.Write(b[:])
	h.Write([]byte(name))
	var k [32]byte
	copy(k[:], h.Sum(nil))
	return k
}

// Stream returns a deterministic generator for the stream called name under root.
// Names are paths by convention: "faults", "workload", "node/bank1/entropy".
func Stream(root uint64, name string) *rand.Rand {
	return rand.New(rand.NewChaCha8(Key(root, name)))
}

// Derive returns a child seed for the stream called name, for consumers that
// take a plain uint64 seed (for example a node's MVRUN_SEED).
func Derive(root uint64, name string) uint64 {
	k := Key(root, name)
	return binary.LittleEndian.Uint64(k[:8])
}

// Nth returns the root seed of the i-th seed of a run started from base.
// Seed 0 of a run is base itself, so `--seed S` replays what a run printed.
func Nth(base uint64, i int) uint64 {
	if i == 0 {
		return base
	}
	return Derive(base, "seed/"+strconv.Itoa(i))
}

// Format renders a seed the way reports print it and Parse reads it back.
func Format(s uint64) string { return fmt.Sprintf("0x%016x", s) }

// Parse reads a seed written in decimal or as 0x-prefixed hex.
func Parse(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		return 0, fmt.Errorf("seed %q: want a decimal or 0x-prefixed hex unsigned 64-bit number", s)
	}
	return v, nil
}
