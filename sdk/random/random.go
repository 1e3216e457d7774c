// Package random provides randomness that mvrun controls. The API is that of
// the Antithesis Go SDK's random package.
//
// Where each draw comes from:
//
//   - under hv (MVRUN_SDK=hv), from the getrandom(2) system call, which hv
//     answers from the run's entropy stream. Replaying the seed repeats every
//     draw, and a branch of the run (mvrun explore) redraws the stream at its
//     moment, so the draws after it differ between branches, even in a
//     process started before the moment;
//   - under the other backends, from a generator seeded with the seed the
//     runner gives each process (MVRUN_SEED): replaying the seed repeats
//     every draw made in the same order;
//   - outside a run, from crypto/rand.
//
// Draw a value when a decision is made rather than storing draws or seeding
// another generator with them: that keeps the choices steerable by the seed
// and, under hv, by a branch.
package random

import (
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
	randv2 "math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
)

// EnvSeed is the environment variable with this process's seed, a decimal
// or 0x-prefixed hexadecimal uint64 set by the runner.
const EnvSeed = "MVRUN_SEED"

var (
	once sync.Once
	mu   sync.Mutex
	gen  *randv2.ChaCha8 // nil: draw from crypto/rand
)

func setup() {
	once.Do(func() {
		if os.Getenv("MVRUN_SDK") == "hv" {
			return // getrandom(2), answered by hv (see the package comment)
		}
		gen = newGenerator(os.Getenv(EnvSeed), os.Stderr)
	})
}

// newGenerator returns the seeded generator for the value of MVRUN_SEED, or
// nil (crypto/rand) when it is unset. A malformed seed is reported on stderr
// and also falls back to crypto/rand: the run is then not replayable, and the
// line says so.
func newGenerator(env string, stderr interface{ Write([]byte) (int, error) }) *randv2.ChaCha8 {
	if env == "" {
		return nil
	}
	seed, err := ParseSeed(env)
	if err != nil {
		fmt.Fprintf(stderr, "mvrun-sdk: %s: %v; using crypto/rand, draws will not replay\n", EnvSeed, err)
		return nil
	}
	var msg [8]byte
	binary.LittleEndian.PutUint64(msg[:], seed)
	key := sha256.Sum256(append([]byte("mvrun/sdk/random\x00"), msg[:]...))
	return randv2.NewChaCha8(key)
}

// ParseSeed parses a seed as MVRUN_SEED carries it: decimal, or hexadecimal
// with a 0x prefix.
func ParseSeed(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	var v uint64
	var err error
	if h, ok := strings.CutPrefix(strings.ToLower(t), "0x"); ok {
		v, err = strconv.ParseUint(h, 16, 64)
	} else {
		v, err = strconv.ParseUint(t, 10, 64)
	}
	if err != nil {
		return 0, fmt.Errorf("%q is not a decimal or 0x-hex uint64", s)
	}
	return v, nil
}

// GetRandom returns a random uint64: from the run's seed under a run, from
// crypto/rand otherwise (see the package comment). It is safe for concurrent
// use; under a run, draws replay exactly when the order of the calls does
// (always under hv).
func GetRandom() uint64 {
	setup()
	if gen == nil {
		var b [8]byte
		crand.Read(b[:])
		return binary.LittleEndian.Uint64(b[:])
	}
	mu.Lock()
	v := gen.Uint64()
	mu.Unlock()
	return v
}

// RandomChoice returns one of things chosen with [GetRandom], uniformly, and
// true; for an empty things it returns the zero value and false, so an empty
// list is never mistaken for a real element. (The Antithesis Go SDK's
// signature since v0.9.0; v0.8.0 returned the element alone.)
func RandomChoice[T any](things []T) (T, bool) {
	switch len(things) {
	case 0:
		var zero T
		return zero, false
	case 1:
		return things[0], true
	}
	n := uint64(len(things))
	limit := math.MaxUint64 - math.MaxUint64%n // reject the biased tail
	v := GetRandom()
	for v >= limit {
		v = GetRandom()
	}
	return things[v%n], true
}

// source draws every value with GetRandom; it has no state of its own.
type source struct{}

// Seed does nothing: the seed comes from the run.
func (source) Seed(int64) {}

// Int63 returns a non-negative int64 from GetRandom.
func (source) Int63() int64 { return int64(GetRandom() >> 1) }

// Uint64 returns GetRandom().
func (source) Uint64() uint64 { return GetRandom() }

// Source returns a source of randomness steered by the run's seed. It
// implements both math/rand.Source64 and math/rand/v2.Source, so it works
// with rand.New from either package.
func Source() rand.Source64 { return source{} }

var (
	_ rand.Source64 = source{}
	_ randv2.Source = source{}
)
