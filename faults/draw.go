package faults

import (
	"math"
	"math/rand/v2"
	"time"
)

// Every draw a schedule makes goes through these helpers. They use integer
// arithmetic where they can, and where they need floating point they round
// each operation explicitly (a float64 conversion forbids fused
// multiply-add) and avoid math.Exp and math.Log, whose assembly versions
// differ between architectures. That keeps plans identical on every machine.

// grain is the resolution of every time in a generated plan.
const grain = time.Millisecond

// ln2 is the float64 nearest to the natural logarithm of 2.
const ln2 = 0.693147180559945309417232121458176568

// logDet returns the natural logarithm of x, for 0 < x <= 1, computed the
// same way on every architecture.
func logDet(x float64) float64 {
	frac, exp := math.Frexp(x) // x = frac·2^exp, frac in [0.5, 1): exact
	// ln(frac) = 2·atanh(s) = 2·(s + s³/3 + s⁵/5 + …) with |s| <= 1/3.
	s := float64((frac - 1) / (frac + 1))
	s2 := float64(s * s)
	sum, term := 0.0, s
	for k := 1.0; k < 48; k += 2 {
		sum = float64(sum + float64(term/k))
		term = float64(term * s2)
	}
	return float64(float64(2*sum) + float64(float64(exp)*ln2))
}

// expDuration draws an exponentially distributed duration with the given
// mean, rounded to grain.
func expDuration(r *rand.Rand, mean time.Duration) time.Duration {
	u := 1 - r.Float64() // (0, 1]
	x := -logDet(u)      // [0, ~37]
	return roundGrain(time.Duration(float64(x * float64(mean))))
}

// drawRange draws a duration uniformly from rg at grain resolution.
func drawRange(r *rand.Rand, rg Range) time.Duration {
	lo, hi := ceilGrain(rg.Min), rg.Max.Truncate(grain)
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(r.Int64N(int64((hi-lo)/grain)+1))*grain
}

// drawProb draws a probability uniformly from [0, max] in steps of 1/1000.
func drawProb(r *rand.Rand, max float64) float64 {
	pm := permille(max)
	return float64(r.IntN(pm+1)) / 1000
}

// permille converts a probability to thousandths, clamped to [0, 1000].
func permille(p float64) int {
	switch {
	case !(p > 0): // also NaN
		return 0
	case p >= 1:
		return 1000
	}
	return int(math.Round(p * 1000))
}

func roundGrain(d time.Duration) time.Duration { return d.Round(grain) }

func ceilGrain(d time.Duration) time.Duration {
	t := d.Truncate(grain)
	if t < d {
		t += grain
	}
	return t
}

// scale multiplies d by q/4, the fixed-point form of swarm factors.
func scale(d time.Duration, q int64) time.Duration {
	return roundGrain(time.Duration(int64(d) / 4 * q))
}
